//! `rsu`: the Zhilu roadside-unit daemon, its certificate tool and a
//! subscriber for people (`rsu subscribe`).  See `docs/rsu.md`.
//!
//! Exit status: 0 success, 1 the configuration or a file it names is wrong,
//! 2 a runtime failure (a port in use, a connection refused).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use roadside_unit::client::{Client, ClientSettings};
use roadside_unit::daemon::{self, config::RsuConfig};
use roadside_unit::protocol::{Geofence, MessageType, Request};

#[derive(Parser)]
#[command(
    name = "rsu",
    version,
    about = "The Zhilu roadside-unit daemon: fuses camera and radar detections and publishes MAP, SPaT, RSM/SSM \
             and RSI over QUIC.",
    long_about = "rsu: the Zhilu roadside-unit daemon.\n\n\
With --config it runs the intersection's roadside unit: sensor frames (ZSI/1, docs/sensor-ingest.md) arrive \
on UDP and TCP, are fused into tracks and events, and MAP, SPaT, RSM/SSM and RSI are published, signed \
(IEEE 1609.2, ECDSA P-256), to subscribers over QUIC with mutual TLS (protocol zhilu-v2x/1, docs/protocol.md). \
Counts, events and track summaries go to cloud-control over the uplink and wait on disk while it is \
unreachable. SIGTERM or Ctrl-C stop it gracefully. Logs go to standard error (RUST_LOG sets the level); one \
JSON line on standard output says where it listens once it is ready.\n\n\
The configuration (TOML) is documented in docs/rsu.md; roadside-unit/examples/rsu.toml runs out of the box.",
    after_help = "Examples:\n  rsu --config roadside-unit/examples/rsu.toml\n  \
rsu --config rsu.toml --check-config\n  \
rsu certs --out certs/ --rsu-id rsu-1001\n  \
rsu subscribe --to 127.0.0.1:47300 --certs roadside-unit/examples/certs --types map,spat,rsm --count 20",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// The daemon's configuration file (TOML, format zhilu-rsu/1).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Load and check the configuration and everything it names, then exit (0: valid, 1: not).
    #[arg(long, requires = "config")]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create development certificates: a TLS CA with RSU and cloud certificates, a subscriber CA with
    /// a vehicle client certificate, and a 1609.2 signing root with the RSU's signing identity.
    Certs {
        /// Directory to write them to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The RSU id the certificates name.
        #[arg(long, default_value = "rsu-example-1001")]
        rsu_id: String,
        /// Only issue another subscriber client certificate NAME.pem/NAME.key from DIR's subscriber CA.
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
    },
    /// Connect to an RSU, subscribe, verify every message and print it as a JSON line (JER of the
    /// MessageFrame, with header, signer and receive latency).
    Subscribe {
        /// The RSU's QUIC address.
        #[arg(long, value_name = "HOST:PORT")]
        to: SocketAddr,
        /// The name on the RSU's TLS certificate.
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// Directory with ca.pem, client.pem, client.key and signing-root.cert (as `rsu certs` writes them).
        #[arg(long, value_name = "DIR")]
        certs: PathBuf,
        /// Message types: map, spat, rsm, ssm, rsi (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "map,spat,rsm,rsi")]
        types: Vec<String>,
        /// Geofence circle LAT,LON,RADIUS_M (default: everything).
        #[arg(long, value_name = "LAT,LON,RADIUS_M", value_delimiter = ',', allow_negative_numbers = true)]
        circle: Option<Vec<f64>>,
        /// Periodic rate wanted, Hz (default: the RSU's).
        #[arg(long)]
        rate_hz: Option<f64>,
        /// Stop after this many verified messages.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Print only header, signer and latency, not the decoded message.
        #[arg(long)]
        brief: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rsu: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Certs { out, rsu_id, client }) => certs(&out, &rsu_id, client.as_deref()),
        Some(Command::Subscribe { to, server_name, certs, types, circle, rate_hz, count, seconds, brief }) => {
            rt.block_on(subscribe(to, &server_name, &certs, &types, circle, rate_hz, count, seconds, brief))
        }
        None => match cli.config {
            Some(path) => rt.block_on(run(&path, cli.check_config)),
            None => {
                eprintln!("rsu: give --config FILE to run the daemon, or a subcommand (see rsu --help)");
                ExitCode::from(2)
            }
        },
    }
}

fn certs(out: &std::path::Path, rsu_id: &str, client: Option<&str>) -> ExitCode {
    let r = match client {
        Some(name) => daemon::certs::issue_client(out, name).map(|(c, k)| {
            println!("wrote {} and {}", c.display(), k.display());
        }),
        None => daemon::certs::create_dev_certificates(out, rsu_id).map(|()| {
            println!(
                "wrote {} files to {}: {}",
                daemon::certs::FILES.len(),
                out.display(),
                daemon::certs::FILES.join(" ")
            );
        }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rsu certs: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(path: &std::path::Path, check_only: bool) -> ExitCode {
    let config = match RsuConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsu: {e}");
            return ExitCode::from(1);
        }
    };
    let loaded = match daemon::load(config, !check_only) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rsu: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "configuration");
    }
    if check_only {
        let x = loaded.intersection();
        println!(
            "{}: ok: intersection {} ({} lanes), {} sensors, fallback plan {} ({} stages, cycle {:.0} s)",
            path.display(),
            x.id,
            x.lanes.len(),
            loaded.sensors.len(),
            loaded.config.signal.fallback_plan.id,
            loaded.config.signal.fallback_plan.stages.len(),
            loaded.config.signal.fallback_plan.cycle_s()
        );
        return ExitCode::SUCCESS;
    }
    let running = match daemon::start(loaded).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rsu: {e}");
            return ExitCode::from(2);
        }
    };
    let ready = serde_json::json!({
        "event": "ready",
        "quic": running.quic.to_string(),
        "udp": running.udp.map(|a| a.to_string()),
        "tcp": running.tcp.map(|a| a.to_string()),
        "metrics": running.metrics.map(|a| a.to_string()),
    });
    println!("{ready}");
    tracing::info!(quic = %running.quic, "rsu running");
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn subscribe(
    to: SocketAddr,
    server_name: &str,
    dir: &std::path::Path,
    types: &[String],
    circle: Option<Vec<f64>>,
    rate_hz: Option<f64>,
    count: Option<usize>,
    seconds: Option<f64>,
    brief: bool,
) -> ExitCode {
    let mut wanted = Vec::new();
    for t in types {
        match serde_json::from_value::<MessageType>(serde_json::Value::String(t.trim().to_ascii_lowercase())) {
            Ok(m) => wanted.push(m),
            Err(_) => {
                eprintln!("rsu subscribe: unknown message type {t:?} (map, spat, rsm, ssm, rsi)");
                return ExitCode::from(1);
            }
        }
    }
    let settings = match ClientSettings::from_files(
        to,
        server_name,
        &dir.join("ca.pem"),
        &dir.join("client.pem"),
        &dir.join("client.key"),
        &dir.join("signing-root.cert"),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rsu subscribe: {e}");
            return ExitCode::from(1);
        }
    };
    let mut client = match Client::connect(settings).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsu subscribe: {e}");
            return ExitCode::from(2);
        }
    };
    let geofence = match circle.as_deref() {
        None => None,
        Some([lat, lon, radius_m]) => Some(Geofence::Circle { lat: *lat, lon: *lon, radius_m: *radius_m }),
        Some(other) => {
            eprintln!("rsu subscribe: --circle takes LAT,LON,RADIUS_M (three numbers), got {} number(s)", other.len());
            return ExitCode::from(1);
        }
    };
    let req = Request::Subscribe { id: 0, types: wanted, geofence, rate_hz, have_map_revision: None };
    match client.subscribe(req).await {
        Ok(r) => eprintln!("subscribed: {}", serde_json::to_string(&r.info).unwrap_or_default()),
        Err(e) => {
            eprintln!("rsu subscribe: {e}");
            return ExitCode::from(2);
        }
    }
    let deadline = seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
    let mut n = 0usize;
    let mut rejected = 0usize;
    loop {
        if count.is_some_and(|c| n >= c) {
            break;
        }
        let wait =
            deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(tokio::time::Instant::now()));
        if wait.is_zero() {
            break;
        }
        match client.next_within(wait).await {
            Ok(Some(m)) => {
                n += 1;
                let mut line = serde_json::json!({
                    "type": m.header.message_type.name(),
                    "seq": m.header.seq,
                    "part": m.header.part,
                    "parts": m.header.parts,
                    "via": format!("{:?}", m.via).to_lowercase(),
                    "bytes": m.raw.len(),
                    "signer": m.verified.subject,
                    "latency_ms": m.latency_us as f64 / 1000.0,
                });
                if !brief {
                    let jer: serde_json::Value =
                        serde_json::from_str(&map_encoder::csae::Message::MessageFrame(m.frame.clone()).to_jer())
                            .unwrap_or_default();
                    line["message"] = jer;
                }
                println!("{line}");
            }
            Ok(None) => {
                if client.connection().close_reason().is_some() {
                    eprintln!("rsu subscribe: connection closed: {:?}", client.connection().close_reason());
                    return ExitCode::from(2);
                }
                break;
            }
            Err(e) => {
                rejected += 1;
                eprintln!("rsu subscribe: message rejected: {e}");
            }
        }
    }
    eprintln!("{n} messages verified, {rejected} rejected");
    client.close().await;
    ExitCode::SUCCESS
}
