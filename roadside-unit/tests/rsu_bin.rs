//! The real `rsu` binary: `--check-config`, `certs`, `subscribe`, graceful SIGTERM, and a restart
//! while vehicles are subscribed (they reconnect and get MAP again).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use roadside_unit::client::Client;
use roadside_unit::protocol::MessageType;
use support::*;

fn rsu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rsu"))
}

/// Start the daemon; returns the child and its ready line.
fn spawn(config: &std::path::Path) -> (Child, serde_json::Value) {
    let mut child = rsu()
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(ready["event"], "ready");
    (child, ready)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("rsu did not stop within 5 s of SIGTERM");
}

#[test]
fn check_config_accepts_the_example_and_names_mistakes() {
    let out = rsu()
        .arg("--config")
        .arg(root().join("roadside-unit/examples/rsu.toml"))
        .arg("--check-config")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok: intersection 1001") && stdout.contains("8 sensors"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &Options::default());
    let text = std::fs::read_to_string(&path).unwrap();
    // a fallback plan naming a signal group the intersection does not have
    std::fs::write(&path, text.replacen("groups = [1, 5]", "groups = [1, 77]", 1)).unwrap();
    let out = rsu().arg("--config").arg(&path).arg("--check-config").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signal group 77"), "{err}");
    // a TOML mistake names the file and the line
    std::fs::write(&path, text.replacen("rate_hz = 10.0", "rate_hz = ten", 1)).unwrap();
    let out = rsu().arg("--config").arg(&path).arg("--check-config").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rsu.toml") && err.contains("line"), "{err}");
}

#[test]
fn certs_writes_a_working_set_and_issues_more_clients() {
    let dir = tempfile::tempdir().unwrap();
    let out = rsu().args(["certs", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    for f in roadside_unit::daemon::certs::FILES {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let out = rsu().args(["certs", "--out"]).arg(dir.path()).args(["--client", "bus-42"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("bus-42.pem").exists() && dir.path().join("bus-42.key").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_reconnect_and_get_map_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().port();
    let config = write_config(dir.path(), &Options { quic_port: port, ..Options::default() });
    let (mut child, ready) = spawn(&config);
    let quic: std::net::SocketAddr = ready["quic"].as_str().unwrap().parse().unwrap();
    assert_eq!(quic.port(), port);
    let certs = dir.path().join("certs");
    let mut c = subscriber(&certs, quic, &["map", "spat"]).await;
    let m = c.next_within(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(m.header.message_type, MessageType::Map);
    // `rsu subscribe` prints verified messages as JSON lines with the decoded message
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rsu"))
        .args(["subscribe", "--to", &quic.to_string(), "--certs"])
        .arg(&certs)
        .args(["--types", "map,spat", "--count", "3", "--seconds", "10", "--circle", "23.129,113.264,500"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["type"], "map");
    assert!(lines[0]["message"]["mapFrame"]["nodes"].is_array(), "{}", lines[0]);
    assert!(lines.iter().any(|l| l["type"] == "spat" && l["message"]["spatFrame"].is_object()));
    // graceful stop: exit status 0, subscribers are told
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let closed =
        tokio::time::timeout(Duration::from_secs(5), async { while c.next().await.ok().flatten().is_some() {} }).await;
    assert!(closed.is_ok(), "the subscriber notices the RSU went away");
    // the RSU comes back on the same address; the vehicle reconnects and gets MAP again
    let (mut child, _) = spawn(&config);
    let mut attempts = 0;
    let r = loop {
        attempts += 1;
        match c.reconnect().await {
            Ok(r) => break r,
            Err(e) if attempts < 20 => {
                eprintln!("reconnect: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(r.ok);
    let m = loop {
        let m = c.next_within(Duration::from_secs(5)).await.unwrap().expect("a message after reconnecting");
        if m.header.message_type == MessageType::Map {
            break m;
        }
    };
    assert_eq!(m.header.seq, 1, "a restarted RSU starts its revisions again");
    // reconnecting to the same process resumes the TLS session: the re-subscribe goes as 0-RTT data
    let r = c.reconnect().await.unwrap();
    assert!(r.ok);
    assert!(c.zero_rtt, "the re-subscribe travels in 0-RTT");
    let m = c.next_within(Duration::from_secs(5)).await.unwrap().expect("messages after the 0-RTT re-subscribe");
    assert!(matches!(m.header.message_type, MessageType::Map | MessageType::Spat));
    // a second reconnect resumes the TLS session and may send the subscribe as 0-RTT
    let c2 = Client::connect(client_settings(&certs, quic)).await.unwrap();
    c2.close().await;
    assert!(terminate(&mut child).success());
}
