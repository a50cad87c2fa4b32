//! End-to-end latency of the `rsu` daemon on loopback: a camera frame with 200 objects goes in over
//! UDP (ZSI/1) at 10 Hz; the daemon fuses, builds 13 RSMs (16 participants each), signs each
//! (1609.2, ECDSA P-256) and sends them as QUIC datagrams to every subscriber.  Measured per frame
//! and subscriber: from the frame's capture (= send) time to the arrival of the last RSM part that
//! carries its objects.  Runs with 1, 100 and 1000 subscribers; also messages per second delivered and
//! the daemon's memory per subscriber (its RSS, the daemon runs in a child process).
//!
//! `cargo bench -p zhilu-benches --bench rsu_e2e` (`-- --seconds N` to change the measuring time,
//! `-- --subscribers 1,100` to choose the counts).  The figures are in docs/benchmarks.md.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roadside_unit::clock::now_unix_us;
use roadside_unit::daemon::{self, config::RsuConfig};
use roadside_unit::ingest::{Detection, Measurement, ObjectClass, SensorFrame};
use roadside_unit::protocol::{encode_control, Header, MessageType, Request};

const SENSORS: &str = r#"format = "zhilu-sensors/1"
[[sensor]]
id = 1
kind = "camera"
pose = { x_m = 0.0, y_m = 0.0, heading_deg = 0.0 }
fov_deg = 180.0
range_m = 300.0
rate_hz = 10.0
"#;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    daemon::certs::create_dev_certificates(&dir.join("certs"), "rsu-bench").expect("certificates");
    std::fs::write(dir.join("sensors.toml"), SENSORS).expect("sensors");
    let example = std::fs::read_to_string(root.join("roadside-unit/examples/rsu.toml")).expect("example");
    let plan = &example[example.find("[signal.fallback_plan]").unwrap_or(0)..example.find("[cloud]").unwrap_or(0)];
    let text = format!(
        r#"format = "zhilu-rsu/1"
rsu_id = "rsu-bench"
[intersection]
map = "{}"
[sensors]
file = "sensors.toml"
udp = "127.0.0.1:0"
queue_frames = 8
[publish]
listen = "127.0.0.1:0"
rate_hz = 10.0
connections_per_s_per_address = 100000
connection_burst_per_address = 100000
datagram_send_buffer_bytes = 65536
[security]
tls_cert = "certs/rsu.pem"
tls_key = "certs/rsu.key"
subscriber_ca = "certs/subscriber-ca.pem"
signing_identity = "certs/rsu-signing.pem"
[signal]
controller = "internal"
{plan}
"#,
        root.join("examples/4leg.toml").display()
    );
    let path = dir.join("rsu.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// Child mode: run the daemon until standard input closes.
fn serve(config: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let loaded = daemon::load(RsuConfig::load(config).expect("config"), true).expect("load");
        let running = daemon::start(loaded).await.expect("start");
        println!("{} {}", running.quic, running.udp.expect("udp"));
        let _ = std::io::stdout().flush();
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        running.stop().await;
    });
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// 200 cars on a grid north of the camera, all driving north at 10 m/s.
fn frame(seq: u32, t_s: f64) -> SensorFrame {
    let detections = (0..200)
        .map(|i| {
            let east = -40.0 + 4.0 * (i % 20) as f64;
            let north = 10.0 + 12.0 * (i / 20) as f64 + 10.0 * t_s;
            Detection {
                measurement: Measurement::Position { x_m: north, y_m: -east, cov_m2: [0.04, 0.0, 0.04] },
                sensor_object_id: 0,
                class: Some((ObjectClass::Car, 0.9)),
                size_m: Some([4.5, 1.8]),
            }
        })
        .collect();
    SensorFrame { sensor_id: 1, sequence: seq, capture_time_us: now_unix_us(), detections }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<i64>,
    datagrams: u64,
}

async fn run(n: usize, quic: SocketAddr, udp: SocketAddr, certs: &Path, seconds: f64, child_pid: u32) -> String {
    let s = roadside_unit::client::ClientSettings::from_files(
        quic,
        "localhost",
        &certs.join("ca.pem"),
        &certs.join("client.pem"),
        &certs.join("client.key"),
        &certs.join("signing-root.cert"),
    )
    .expect("client settings");
    let endpoints: Vec<quinn::Endpoint> = (0..n.div_ceil(125))
        .map(|_| {
            let mut e =
                roadside_unit::tls::endpoint("127.0.0.1:0".parse().expect("addr"), None, 4 << 20).expect("endpoint");
            e.set_default_client_config(s.quic.clone());
            e
        })
        .collect();
    let rss_before = rss_kib(child_pid);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut conns = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let e = endpoints[i % endpoints.len()].clone();
        let conn = loop {
            match e.connect(quic, "localhost").expect("connect").await {
                Ok(c) => break c,
                Err(err) => eprintln!("retrying a connection: {err}"),
            }
        };
        let (mut send, recv) = conn.open_bi().await.expect("control stream");
        let req = Request::Subscribe {
            id: 1,
            types: vec![MessageType::Rsm],
            geofence: None,
            rate_hz: None,
            have_map_revision: None,
        };
        send.write_all(&encode_control(&req)).await.expect("subscribe");
        let c = conn.clone();
        let tally = tally.clone();
        let measuring = measuring.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = (send, recv);
            // seq -> (parts seen, parts expected, data time); each frame (data time) counts once: the
            // first complete message carrying it (timer-driven republishing of coasting tracks after
            // the frames stop reuses the data time and is not a delivery of a new frame)
            let mut open: HashMap<u32, (u8, u8, i64)> = HashMap::new();
            let mut done: std::collections::HashSet<i64> = std::collections::HashSet::new();
            let mut local = Tally::default();
            while let Ok(d) = c.read_datagram().await {
                let t = now_unix_us();
                let Ok((h, _)) = Header::parse(&d) else { continue };
                if !measuring.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                local.datagrams += 1;
                let e = open.entry(h.seq).or_insert((0, h.parts, h.data_time_unix_us));
                e.0 += 1;
                if e.0 == e.1 {
                    if done.insert(e.2) {
                        local.latencies_us.push(t - e.2);
                    }
                    open.remove(&h.seq);
                }
            }
            let mut g = tally.lock().expect("tally");
            g.latencies_us.extend(local.latencies_us);
            g.datagrams += local.datagrams;
        }));
        conns.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(child_pid);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let frames = (seconds * 10.0) as u32;
    let warmup = 10;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for k in 0..frames + warmup {
        tick.tick().await;
        if k == warmup {
            measuring.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let f = frame(k, k as f64 * 0.1);
        let _ = sock.send_to(&roadside_unit::ingest::to_bytes(&f), udp).await;
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    for c in &conns {
        c.close(quinn::VarInt::from_u32(0), b"done");
    }
    for t in tasks {
        let _ = t.await;
    }
    for e in endpoints {
        e.wait_idle().await;
    }
    let mut g = tally.lock().expect("tally");
    g.latencies_us.sort_unstable();
    let l = &g.latencies_us;
    let pct = |p: f64| l.get(((l.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0) as f64 / 1000.0;
    let expected = frames as usize * n;
    let per_sub_kib = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;
    format!(
        "| {n} | {:.2} | {:.2} | {:.2} | {:.1}% | {:.0} | {:.1} |",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        100.0 * l.len() as f64 / expected.max(1) as f64,
        g.datagrams as f64 / seconds,
        per_sub_kib
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(Path::new(&args[i + 1]));
        return;
    }
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let seconds: f64 = value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let counts: Vec<usize> = value("--subscribers")
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 100, 1000]);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .arg("--serve")
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("daemon");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready");
    let mut parts = line.split_whitespace();
    let quic: SocketAddr = parts.next().and_then(|s| s.parse().ok()).expect("quic address");
    let udp: SocketAddr = parts.next().and_then(|s| s.parse().ok()).expect("udp address");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("rsu end to end: 200 objects per frame at 10 Hz -> 13 signed RSM datagrams per frame and subscriber");
    println!("| subscribers | p50 ms | p99 ms | max ms | frames complete | datagrams/s delivered | daemon RSS KiB per subscriber |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in counts {
        let row = rt.block_on(run(n, quic, udp, &dir.path().join("certs"), seconds, child.id()));
        println!("{row}");
    }
    drop(child.stdin.take());
    let _ = child.wait();
}
