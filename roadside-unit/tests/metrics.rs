//! The metrics endpoint as Prometheus sees it: the daemon runs in-process with a car driving past and
//! one subscriber, `GET /metrics` is fetched with plain HTTP/1.1 over TCP, and the body is parsed by
//! the reference Python parser (`prometheus_client.parser.text_string_to_metric_families`).  When
//! `promtool` is installed, `promtool check metrics` must accept the body too.
//!
//! Needs `$ZHILU_PYTHON` with prometheus_client (scripts/test.sh installs it); skipped, with a message,
//! only when `$ZHILU_PYTHON` is unset or cannot import prometheus_client.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use roadside_unit::protocol::MessageType;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parses the exposition text from stdin and prints every family with its samples as JSON, and how
/// many samples it found (to compare with the sample lines of the text: nothing may be skipped).
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
families = []
for f in text_string_to_metric_families(text):
    families.append({
        "name": f.name,
        "type": f.type,
        "documentation": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
    })
print(json.dumps(families))
"#;

/// A response: status code, headers (lower-case names), body.
struct HttpResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// `GET path` with HTTP/1.1 over a plain TCP connection (closed by the server after the response).
async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .expect("the metrics endpoint answers")
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    } else if let Some(n) = headers.get("content-length") {
        assert_eq!(body.len(), n.parse::<usize>().unwrap(), "the whole body arrives");
    }
    HttpResponse { status, headers, body: String::from_utf8(body).expect("the exposition text is UTF-8") }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size_text = std::str::from_utf8(&b[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Run the Prometheus reference parser on `text`.
async fn parse(python: &Path, text: &str) -> Vec<Value> {
    let mut child = tokio::process::Command::new(python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refuses the exposition text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

/// The samples named `sample` carrying every label of `labels`.
fn samples<'a>(families: &'a [Value], sample: &str, labels: &[(&str, &str)]) -> Vec<&'a Value> {
    families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .filter(|s| s["name"] == sample)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

/// The one value of `sample` with `labels`; panics when there is none or several.
fn value(families: &[Value], sample: &str, labels: &[(&str, &str)]) -> f64 {
    let s = samples(families, sample, labels);
    assert_eq!(s.len(), 1, "exactly one sample {sample} {labels:?}: {s:?}");
    s[0]["value"].as_f64().unwrap()
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no family {name}"))
}

/// A histogram's buckets (with `labels`) are cumulative, end in `+Inf` equal to `_count`; returns the count.
fn histogram_count(families: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    assert_eq!(family(families, name)["type"], "histogram", "{name} is a histogram");
    let count = value(families, &format!("{name}_count"), labels);
    let sum = value(families, &format!("{name}_sum"), labels);
    let buckets = samples(families, &format!("{name}_bucket"), labels);
    assert!(buckets.len() >= 2, "{name} has buckets");
    let mut bounds: Vec<(f64, f64)> = buckets
        .iter()
        .map(|b| {
            let le = b["labels"]["le"].as_str().unwrap();
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
            (le, b["value"].as_f64().unwrap())
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(bounds.windows(2).all(|w| w[0].1 <= w[1].1), "{name} buckets are cumulative: {bounds:?}");
    assert_eq!(bounds.last().unwrap(), &(f64::INFINITY, count), "{name}: the +Inf bucket is the count");
    assert!(sum >= 0.0 && (count == 0.0 || sum.is_finite()), "{name}_sum {sum}");
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_serves_what_prometheus_parses() {
    let Some(python) = python_with("prometheus_client.parser") else { return };
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let addr = rsu.metrics.expect("the configuration has a metrics address");
    let mut sub = subscriber(&dir.path().join("certs"), rsu.quic, &["map", "spat", "rsm"]).await;
    tokio::spawn(drive(rsu.udp.unwrap(), 3.0, 0));
    // receive until RSMs with the car have arrived (so RSMs were published and sent), 60 s at most
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut rsms = 0;
    while rsms < 5 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "RSMs reach the subscriber: {rsms} in 60 s");
        match sub.next_within(left).await {
            Ok(Some(m)) if m.header.message_type == MessageType::Rsm => rsms += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the subscriber was disconnected"),
            Err(e) => panic!("a message does not verify: {e}"),
        }
    }

    let r = http_get(addr, "/metrics").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let content_type = r.headers.get("content-type").expect("a Content-Type").to_ascii_lowercase();
    let media: Vec<&str> = content_type.split(';').map(str::trim).collect();
    assert_eq!(media[0], "text/plain", "{content_type}");
    assert!(media.contains(&"version=0.0.4"), "the text format version: {content_type}");
    let text = r.body;

    let families = parse(&python, &text).await;
    // nothing was skipped: one parsed sample per sample line
    let sample_lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
    let parsed: usize = families.iter().map(|f| f["samples"].as_array().unwrap().len()).sum();
    assert_eq!(parsed, sample_lines, "every sample line is parsed:\n{text}");
    for f in &families {
        assert!(!f["documentation"].as_str().unwrap_or("").is_empty(), "{} has HELP", f["name"]);
    }

    assert_eq!(family(&families, "rsu_sensor_frames")["type"], "counter");
    let frames = value(&families, "rsu_sensor_frames_total", &[("sensor", "1")]);
    assert!(frames > 0.0, "camera 1's frames are counted: {frames}");
    assert_eq!(family(&families, "rsu_messages_published")["type"], "counter");
    let rsm = value(&families, "rsu_messages_published_total", &[("type", "rsm")]);
    assert!(rsm >= rsms as f64, "RSMs published: {rsm}, {rsms} received");
    assert_eq!(family(&families, "rsu_subscribers")["type"], "gauge");
    assert_eq!(value(&families, "rsu_subscribers", &[]), 1.0, "one subscriber connected");
    let cycles = histogram_count(&families, "rsu_fusion_cycle_seconds", &[]);
    assert!(cycles > 0.0, "fusion cycles are timed: {cycles}");
    let latencies = histogram_count(&families, "rsu_end_to_end_latency_seconds", &[("type", "rsm")]);
    assert!(latencies > 0.0, "RSM latency is observed: {latencies}");
    assert_eq!(family(&families, "rsu_uplink_connected")["type"], "gauge");
    assert_eq!(value(&families, "rsu_uplink_connected", &[]), 0.0, "no cloud is configured");

    // Prometheus's own linter, when this machine has it (optional: not installed by scripts/test.sh)
    if let Ok(mut child) = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
        drop(stdin);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("promtool is not installed: `promtool check metrics` not run");
    }

    drop(sub);
    rsu.stop().await;
}
