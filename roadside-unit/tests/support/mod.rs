//! Shared pieces of the daemon's end-to-end tests: a configuration in a temporary directory (random
//! ports, fresh development certificates, a one-camera rig), sensor frames of a car driving north,
//! a subscriber, and an in-repo stand-in for cloud-control's uplink server.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roadside_unit::client::{Client, ClientSettings};
use roadside_unit::daemon::{self, config::RsuConfig, Running};
use roadside_unit::ingest::{Detection, Measurement, ObjectClass, SensorFrame};
use tokio::sync::mpsc;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A one-camera rig at the reference point looking north, and one more camera (id 2) looking south.
pub const SENSORS: &str = r#"format = "zhilu-sensors/1"
[[sensor]]
id = 1
kind = "camera"
pose = { x_m = 0.0, y_m = 0.0, heading_deg = 0.0 }
fov_deg = 180.0
range_m = 250.0
rate_hz = 10.0
[[sensor]]
id = 2
kind = "camera"
pose = { x_m = 0.0, y_m = 0.0, heading_deg = 180.0 }
fov_deg = 180.0
range_m = 250.0
rate_hz = 10.0
"#;

/// Options of a test configuration.
#[derive(Clone)]
pub struct Options {
    pub cloud: Option<SocketAddr>,
    pub counts_every_s: f64,
    pub connections_per_s: u32,
    pub burst: u32,
    pub quic_port: u16,
    pub retry: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { cloud: None, counts_every_s: 10.0, connections_per_s: 20, burst: 50, quic_port: 0, retry: true }
    }
}

/// Write a configuration (and certificates, sensors) into `dir`; returns the config path.
pub fn write_config(dir: &Path, o: &Options) -> PathBuf {
    let certs = dir.join("certs");
    if !certs.join("rsu.pem").exists() {
        roadside_unit::daemon::certs::create_dev_certificates(&certs, "rsu-test-1").unwrap();
    }
    std::fs::write(dir.join("sensors.toml"), SENSORS).unwrap();
    let example = std::fs::read_to_string(root().join("roadside-unit/examples/rsu.toml")).unwrap();
    let plan = &example[example.find("[signal.fallback_plan]").unwrap()..example.find("[cloud]").unwrap()];
    let cloud = match o.cloud {
        Some(a) => format!(
            "[cloud]\naddress = \"{a}\"\nserver_name = \"cloud.local\"\nca = \"certs/ca.pem\"\nspool_dir = \"spool\"\n\
             counts_every_s = {}\ntracks_every_s = {}\nmax_backoff_s = 0.5\n",
            o.counts_every_s, o.counts_every_s
        ),
        None => String::new(),
    };
    let text = format!(
        r#"format = "zhilu-rsu/1"
rsu_id = "rsu-test-1"
[intersection]
map = "{map}"
[sensors]
file = "sensors.toml"
udp = "127.0.0.1:0"
tcp = "127.0.0.1:0"
queue_frames = 8
[publish]
listen = "127.0.0.1:{port}"
rate_hz = 10.0
keep_alive_s = 1.0
idle_timeout_s = 5.0
connections_per_s_per_address = {cps}
connection_burst_per_address = {burst}
retry = {retry}
[security]
tls_cert = "certs/rsu.pem"
tls_key = "certs/rsu.key"
subscriber_ca = "certs/subscriber-ca.pem"
signing_identity = "certs/rsu-signing.pem"
[signal]
controller = "internal"
command_timeout_s = 2.0
{plan}
{cloud}
[metrics]
listen = "127.0.0.1:0"
"#,
        map = root().join("examples/4leg.toml").display(),
        port = o.quic_port,
        cps = o.connections_per_s,
        burst = o.burst,
        retry = o.retry,
    );
    let path = dir.join("rsu.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn client_settings(certs: &Path, server: SocketAddr) -> ClientSettings {
    ClientSettings::from_files(
        server,
        "localhost",
        &certs.join("ca.pem"),
        &certs.join("client.pem"),
        &certs.join("client.key"),
        &certs.join("signing-root.cert"),
    )
    .unwrap()
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Camera `sensor`'s frame of cars at local positions `(east, north)`; camera 1 looks north (x forward =
/// north, y left = west), camera 2 south.
pub fn frame(sensor: u32, sequence: u32, cars: &[[f64; 2]]) -> SensorFrame {
    let detections = cars
        .iter()
        .map(|p| {
            let (x, y) = if sensor == 2 { (-p[1], p[0]) } else { (p[1], -p[0]) };
            Detection {
                measurement: Measurement::Position { x_m: x, y_m: y, cov_m2: [0.04, 0.0, 0.04] },
                sensor_object_id: 0,
                class: Some((ObjectClass::Car, 0.9)),
                size_m: Some([4.5, 1.8]),
            }
        })
        .collect();
    SensorFrame { sensor_id: sensor, sequence, capture_time_us: now_us(), detections }
}

/// Send frames of a car driving north at 10 m/s on x = 5.25 from 5 m north of the reference point (and
/// `extra` cars beside and behind it) at 10 Hz for `seconds`, from camera 1 (looking north) over UDP.
pub async fn drive(udp: SocketAddr, seconds: f64, extra: usize) {
    drive_on(udp, 5.25, 5.0, seconds, extra).await
}

/// Like [`drive`], the car on `x` starting at `y0` (north of the reference point, driving north).
pub async fn drive_on(udp: SocketAddr, x: f64, y0: f64, seconds: f64, extra: usize) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let n = (seconds * 10.0) as u32;
    for k in 0..n {
        let y = y0 + k as f64;
        let mut cars = vec![[x, y]];
        for e in 0..extra {
            cars.push([5.25 + 3.5 * (1 + e % 6) as f64 - 12.0, y + 8.0 * (e / 6) as f64]);
        }
        let f = frame(1, k, &cars);
        sock.send_to(&roadside_unit::ingest::to_bytes(&f), udp).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Connect and subscribe.
pub async fn subscriber(certs: &Path, server: SocketAddr, types: &[&str]) -> Client {
    let mut c = Client::connect(client_settings(certs, server)).await.unwrap();
    let types = types.iter().map(|t| serde_json::from_value(serde_json::json!(t)).unwrap()).collect();
    c.subscribe(roadside_unit::protocol::Request::Subscribe {
        id: 0,
        types,
        geofence: None,
        rate_hz: None,
        have_map_revision: None,
    })
    .await
    .unwrap();
    c
}

/// What the stand-in stored.
#[derive(Default)]
pub struct Store {
    /// Records per RSU id, by sequence number.
    pub records: BTreeMap<String, BTreeMap<u64, uplink::Record>>,
    pub registrations: usize,
    pub duplicates: usize,
}

/// A stand-in for cloud-control's uplink server: registers RSUs, stores records once, acknowledges
/// them, and can send plans or map revisions down.
pub struct StandIn {
    pub address: SocketAddr,
    pub store: Arc<Mutex<Store>>,
    pub down: mpsc::Sender<uplink::Down>,
    endpoint: quinn::Endpoint,
}

impl StandIn {
    pub fn start(certs: &Path, address: SocketAddr, store: Arc<Mutex<Store>>) -> StandIn {
        let t = roadside_unit::tls::Transport {
            keep_alive: Some(Duration::from_secs(1)),
            idle_timeout: Duration::from_secs(5),
            datagram_send_buffer: 65536,
            datagram_receive_buffer: None,
            max_bi_streams: 4,
            max_uni_streams: 0,
        };
        let cfg = roadside_unit::tls::server_config(
            roadside_unit::tls::load_certs(&certs.join("cloud.pem")).unwrap(),
            roadside_unit::tls::load_key(&certs.join("cloud.key")).unwrap(),
            &roadside_unit::tls::load_certs(&certs.join("ca.pem")).unwrap(),
            uplink::ALPN,
            &t,
        )
        .unwrap();
        let endpoint = quinn::Endpoint::server(cfg, address).unwrap();
        let address = endpoint.local_addr().unwrap();
        let (down, mut down_rx) = mpsc::channel::<uplink::Down>(16);
        let ep = endpoint.clone();
        let st = store.clone();
        tokio::spawn(async move {
            let downs: Arc<tokio::sync::Mutex<Option<mpsc::Sender<uplink::Down>>>> = Default::default();
            let d2 = downs.clone();
            tokio::spawn(async move {
                while let Some(m) = down_rx.recv().await {
                    if let Some(tx) = d2.lock().await.as_ref() {
                        let _ = tx.send(m).await;
                    }
                }
            });
            while let Some(inc) = ep.accept().await {
                let Ok(conn) = inc.await else { continue };
                let st = st.clone();
                let (tx, rx) = mpsc::channel(16);
                *downs.lock().await = Some(tx);
                tokio::spawn(serve(conn, st, rx));
            }
        });
        StandIn { address, store, down, endpoint }
    }

    pub async fn stop(self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"stand-in stopping");
        self.endpoint.wait_idle().await;
    }
}

async fn serve(conn: quinn::Connection, store: Arc<Mutex<Store>>, mut down: mpsc::Receiver<uplink::Down>) {
    let Ok((mut send, mut recv)) = conn.accept_bi().await else { return };
    let mut reader = uplink::FrameReader::new();
    let mut buf = vec![0u8; 65536];
    let mut rsu = String::new();
    loop {
        tokio::select! {
            r = recv.read(&mut buf) => {
                let Ok(Some(n)) = r else { return };
                reader.feed(&buf[..n]);
                let mut ack = None;
                while let Ok(Some(m)) = reader.next_message::<uplink::Up>() {
                    match m {
                        uplink::Up::Register { rsu_id, .. } => {
                            let acked = {
                                let mut s = store.lock().unwrap();
                                s.registrations += 1;
                                s.records.entry(rsu_id.clone()).or_default().keys().last().copied().unwrap_or(0)
                            };
                            rsu = rsu_id;
                            let b = uplink::encode(&uplink::Down::Registered { acked_seq: acked }).unwrap();
                            if send.write_all(&b).await.is_err() { return; }
                        }
                        uplink::Up::Record(r) => {
                            let mut s = store.lock().unwrap();
                            let seq = r.seq;
                            let last = s.records.entry(rsu.clone()).or_default().keys().last().copied().unwrap_or(0);
                            if seq <= last {
                                s.duplicates += 1;
                            } else {
                                s.records.entry(rsu.clone()).or_default().insert(seq, r);
                            }
                            ack = Some(seq.max(last));
                        }
                        uplink::Up::Heartbeat { .. } => {}
                    }
                }
                if let Some(a) = ack {
                    let b = uplink::encode(&uplink::Down::Ack { upto_seq: a }).unwrap();
                    if send.write_all(&b).await.is_err() { return; }
                }
            }
            Some(m) = down.recv() => {
                let b = uplink::encode(&m).unwrap();
                if send.write_all(&b).await.is_err() { return; }
            }
        }
    }
}

/// Write a configuration into `dir` and start the daemon in-process.
pub async fn start_daemon(dir: &Path, o: &Options) -> Running {
    let path = write_config(dir, o);
    let loaded = daemon::load(RsuConfig::load(&path).unwrap(), true).unwrap();
    daemon::start(loaded).await.unwrap()
}

/// The sum of a metric's samples (those with the label, when given) from the daemon's registry.
pub fn metric(r: &Running, name: &str, label: Option<(&str, &str)>) -> f64 {
    r.registry
        .render()
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| label.is_none_or(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `$ZHILU_PYTHON` when it can import `module`; otherwise `None` and a SKIPPED message (scripts/test.sh
/// sets the variable and installs the modules, so CI never skips).
pub fn python_with(module: &str) -> Option<PathBuf> {
    let Some(p) = std::env::var_os("ZHILU_PYTHON") else {
        eprintln!("SKIPPED: ZHILU_PYTHON is not set (scripts/test.sh sets it and installs {module})");
        return None;
    };
    let p = PathBuf::from(p);
    let ok = std::process::Command::new(&p)
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: {} cannot import {module} (scripts/test.sh installs it)", p.display());
        return None;
    }
    Some(p)
}

/// A loopback UDP address no one listens on now (to start a server on later).
pub fn free_port() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}
