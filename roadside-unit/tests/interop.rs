//! Interoperability with an independent QUIC stack: `tests/interop/aioquic_subscriber.py` subscribes to the
//! in-process daemon with aioquic (Python; shares no code with quinn or rustls), unwraps the 1609.2 SPDUs
//! with `tools/spdu.py` and decodes MAP, RSM and SPaT with asn1tools built from the official CSAE ASN.1
//! modules.  The same script offering another ALPN must be refused.
//!
//! Needs `$ZHILU_PYTHON` with aioquic and asn1tools (scripts/test.sh installs both); skipped, with a
//! message, only when `$ZHILU_PYTHON` is unset or cannot import aioquic.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use map_encoder::csae::MessageFrame;
use roadside_unit::daemon::Running;
use roadside_unit::protocol::MessageType;
use serde_json::Value;
use support::*;

/// Run the subscriber script; returns its exit code, the JSON it printed and its stderr.
async fn subscriber_script(
    python: &Path,
    certs: &Path,
    rsu: &Running,
    alpn: &str,
    seconds: f64,
) -> (i32, Value, String) {
    let root = root();
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(root.join("roadside-unit/tests/interop/aioquic_subscriber.py"))
        .args(["--host", &rsu.quic.ip().to_string(), "--port", &rsu.quic.port().to_string()])
        .arg("--cafile")
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join("client.pem"))
        .arg("--key")
        .arg(certs.join("client.key"))
        .args(["--server-name", "localhost", "--alpn", alpn, "--seconds", &seconds.to_string()])
        .args(["--min-rsm", "10", "--min-spat", "10"])
        .arg("--asn1-dir")
        .arg(root.join("map-encoder/asn1/csae157"))
        .arg("--spdu-module")
        .arg(root.join("tools/spdu.py"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("run the aioquic subscriber");
    // the script bounds itself (its --seconds plus a minute at most); this is the last resort
    let out = tokio::time::timeout(Duration::from_secs_f64(seconds + 120.0), child.wait_with_output())
        .await
        .expect("the aioquic subscriber finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| panic!("no JSON from the script\nstdout: {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// Node ids (`[region, id]`), links and lanes of a MAP decoded by Zhilu's own codec.
fn map_shape(frame: &MessageFrame) -> (Value, usize, usize) {
    let MessageFrame::MapFrame(m) = frame else { panic!("not a MAP: {frame:?}") };
    let mut links = 0;
    let mut lanes = 0;
    for n in &m.nodes {
        for l in n.in_links.iter().flatten() {
            links += 1;
            lanes += l.lanes.len();
        }
        for l in n.in_links_ex.iter().flatten() {
            links += 1;
            lanes += l.sections.iter().map(|s| s.lanes.len()).sum::<usize>();
        }
    }
    let ids = m.nodes.iter().map(|n| serde_json::json!([n.id.region, n.id.id])).collect();
    (Value::Array(ids), links, lanes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aioquic_subscriber_decodes_map_rsm_and_spat_with_the_official_asn1() {
    let Some(python) = python_with("aioquic") else { return };
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let certs = dir.path().join("certs");

    // Zhilu's own client, for reference: what the MAP holds according to our codec
    let mut own = subscriber(&certs, rsu.quic, &["map"]).await;
    let reference = loop {
        let m = own.next_within(Duration::from_secs(30)).await.unwrap().expect("Zhilu's client receives the MAP");
        if m.header.message_type == MessageType::Map {
            break m;
        }
    };
    let (nodes, links, lanes) = map_shape(&reference.frame);
    drop(own);

    // a car drives through the camera's view while the script connects (Python start-up and compiling
    // the ASN.1 take a few seconds on a loaded machine) and collects; the script stops as soon as it has
    // everything, the drive is cut short then
    let driving = tokio::spawn(drive(rsu.udp.unwrap(), 20.0, 0));
    let (code, out, stderr) = subscriber_script(&python, &certs, &rsu, "zhilu-v2x/1", 30.0).await;
    driving.abort();
    eprintln!("aioquic subscriber: {out:#}");
    assert_eq!(code, 0, "the aioquic subscriber succeeds: {out}\n{stderr}");
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["alpn"], "zhilu-v2x/1");
    assert_eq!(out["errors"], serde_json::json!([]), "every message parses and decodes");

    // the response on the control stream
    let response = &out["response"];
    assert_eq!(response["ok"], true, "{response}");
    assert_eq!(response["id"], 7);
    let info = &response["info"];
    assert_eq!(info["rsu_id"], "rsu-test-1");
    assert_eq!(info["intersection"], serde_json::json!([4401, 1001]), "region and node of examples/4leg.toml");
    assert_eq!(info["map_revision"].as_u64(), Some(u64::from(reference.header.seq)));
    assert_eq!(info["rate_hz"].as_f64(), Some(10.0));
    assert!(info["max_datagram_bytes"].as_u64().unwrap() >= 1000, "aioquic accepts datagrams: {info}");
    assert_eq!(
        out["announcement"]["signer"],
        serde_json::json!(["certificate"]),
        "the announcement carries the certificate"
    );

    // MAP: on a unidirectional stream, decoded by asn1tools to the same shape as by Zhilu's codec
    let map = &out["map"];
    assert_eq!(map["decoded"], true, "{map}");
    assert_eq!(map["revision"].as_u64(), Some(u64::from(reference.header.seq)));
    assert_eq!(map["node_ids"][0], serde_json::json!([4401, 1001]), "the intersection comes first: {map}");
    assert_eq!(
        (&map["node_ids"], map["links"].as_u64(), map["lanes"].as_u64()),
        (&nodes, Some(links as u64), Some(lanes as u64)),
        "asn1tools and Zhilu agree on the MAP: {map}"
    );
    assert!(lanes >= 8, "a 4-leg intersection has lanes: {lanes}");
    assert_eq!(map["psid"].as_u64(), Some(v2x_security::psid::MAP));
    assert!(out["uni_streams"].as_u64().unwrap() >= 1);

    // RSM and SPaT: datagrams
    let rsm = &out["rsm"];
    assert!(rsm["with_participants"].as_u64().unwrap() >= 10, "{rsm}");
    assert_eq!(rsm["max_participants"], 1, "one car: {rsm}");
    assert_eq!(rsm["psid"], serde_json::json!([v2x_security::psid::RSM]));
    // the car drives north at 10 m/s: speed in 0.02 m/s units
    let speed = rsm["last_participant"]["speed"].as_f64().unwrap() * 0.02;
    assert!((speed - 10.0).abs() < 2.0, "speed {speed} m/s: {rsm}");
    let spat = &out["spat"];
    assert!(spat["count"].as_u64().unwrap() >= 10, "{spat}");
    assert_eq!(spat["intersections"], 1);
    assert_eq!(spat["psid"], serde_json::json!([v2x_security::psid::SPAT]));
    assert!(out["datagrams"].as_u64().unwrap() >= 20);

    // the same script offering another ALPN is refused in the handshake
    let refused_before = metric(&rsu, "rsu_connections_refused_total", Some(("reason", "tls")));
    let (code, out, stderr) = subscriber_script(&python, &certs, &rsu, "zhilu-v2x/0", 10.0).await;
    eprintln!("aioquic subscriber with ALPN zhilu-v2x/0: {out}");
    assert_ne!(code, 0, "a wrong ALPN must fail: {out}\n{stderr}");
    assert_eq!(code, 2, "it fails connecting, not later: {out}\n{stderr}");
    assert_eq!(out["ok"], false);
    assert_eq!(out["stage"], "connect", "{out}");
    assert!(out["response"].is_null(), "no subscription without the ALPN: {out}");
    // CONNECTION_CLOSE with CRYPTO_ERROR 0x100 + TLS alert 120 (no_application_protocol): refused for the
    // ALPN, not for anything else
    assert_eq!(out["close"]["error_code"].as_u64(), Some(0x100 + 120), "{out}");
    // the daemon counts it as a failed handshake
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&rsu, "rsu_connections_refused_total", Some(("reason", "tls"))) <= refused_before
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric(&rsu, "rsu_connections_refused_total", Some(("reason", "tls"))) > refused_before);
    rsu.stop().await;
}
