//! The `rsu` daemon's configuration file (TOML), documented in `docs/rsu.md`.
//!
//! Parsing and checking only: [`RsuConfig::load`] reads the file, resolves
//! relative paths against the file's directory, and [`RsuConfig::check`]
//! loads everything it names (intersection, sensors, plan, certificates) so
//! that `rsu --check-config` finds every mistake before the daemon starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use signal_core::Plan;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsuConfig {
    /// Must be `zhilu-rsu/1`.
    pub format: String,
    /// The RSU's id (names it in logs, uplink and subscription responses).
    pub rsu_id: String,
    /// The intersection served.
    pub intersection: IntersectionConfig,
    /// Sensor ingest.
    pub sensors: SensorsConfig,
    /// QUIC publishing.
    pub publish: PublishConfig,
    /// Certificates and keys.
    pub security: SecurityConfig,
    /// Signal controller link.
    pub signal: SignalConfig,
    /// Cloud uplink (absent: none).
    #[serde(default)]
    pub cloud: Option<CloudConfig>,
    /// Prometheus endpoint (absent: none).
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// RSI event codes (`RTEData.eventType`) per event kind; default: the local 9xx block of `docs/rsu.md`.
    #[serde(default)]
    pub event_codes: crate::output::EventCodes,
    /// The directory relative paths are resolved against (the file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[intersection]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntersectionConfig {
    /// An intersection file or any map `mapenc import` reads.
    pub map: PathBuf,
    /// Which intersection of the map (its node id); default: the first.
    #[serde(default)]
    pub id: Option<u16>,
    /// `[lat, lon]` origin for map formats in local metres that do not carry one.
    #[serde(default)]
    pub origin: Option<[f64; 2]>,
}

/// `[sensors]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorsConfig {
    /// A `zhilu-sensors/1` file.
    pub file: PathBuf,
    /// UDP ingest address (one ZSI/1 frame per datagram).
    #[serde(default)]
    pub udp: Option<SocketAddr>,
    /// TCP ingest address (length-prefixed ZSI/1 frames).
    #[serde(default)]
    pub tcp: Option<SocketAddr>,
    /// Frames queued per sensor before the oldest is dropped.
    #[serde(default = "default_queue")]
    pub queue_frames: usize,
    /// Most TCP sensor connections at once.
    #[serde(default = "default_tcp_connections")]
    pub max_tcp_connections: usize,
}

fn default_queue() -> usize {
    8
}
fn default_tcp_connections() -> usize {
    64
}

/// `[publish]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// RSM/SSM and SPaT rate, Hz.
    #[serde(default = "default_rate")]
    pub rate_hz: f64,
    /// quinn's datagram send buffer per subscriber, bytes (its default of 1 MiB holds seconds of stale data).
    #[serde(default = "default_dgram_buffer")]
    pub datagram_send_buffer_bytes: usize,
    /// Keep-alive interval, seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: f64,
    /// Idle timeout, seconds: a vehicle silent this long is gone.
    #[serde(default = "default_idle")]
    pub idle_timeout_s: f64,
    /// Most subscribers at once.
    #[serde(default = "default_max_subscribers")]
    pub max_subscribers: usize,
    /// New connections per second allowed per source address (sustained).
    #[serde(default = "default_conn_rate")]
    pub connections_per_s_per_address: u32,
    /// Burst of new connections allowed per source address.
    #[serde(default = "default_conn_burst")]
    pub connection_burst_per_address: u32,
    /// Ask every new connection to prove its address with a Retry (costs one round trip).
    #[serde(default = "default_true")]
    pub retry: bool,
    /// Reliable messages (MAP, RSI) queued per subscriber before it is disconnected as too slow.
    #[serde(default = "default_reliable_queue")]
    pub reliable_queue: usize,
    /// Participants per SSM part (the RSM allows 16).
    #[serde(default = "default_ssm_part")]
    pub ssm_participants_per_part: usize,
}

fn default_rate() -> f64 {
    10.0
}
fn default_dgram_buffer() -> usize {
    64 * 1024
}
fn default_keep_alive() -> f64 {
    2.0
}
fn default_idle() -> f64 {
    10.0
}
fn default_max_subscribers() -> usize {
    5000
}
fn default_conn_rate() -> u32 {
    20
}
fn default_conn_burst() -> u32 {
    50
}
fn default_true() -> bool {
    true
}
fn default_reliable_queue() -> usize {
    32
}
fn default_ssm_part() -> usize {
    20
}

/// `[security]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// The RSU's TLS certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// Its private key (PEM).
    pub tls_key: PathBuf,
    /// The CA that issues subscriber (vehicle, fleet) certificates (PEM); only its clients are accepted.
    pub subscriber_ca: PathBuf,
    /// The RSU's 1609.2 signing identity (key and certificate, PEM as written by `rsu certs`).
    pub signing_identity: PathBuf,
    /// Create development certificates (`rsu certs`) where the files are missing.  Never in production.
    #[serde(default)]
    pub create_dev_certificates: bool,
}

/// `[signal]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// `internal`: the RSU runs the plan itself (a virtual controller, e.g. where the controller has no
    /// link); `tcp`: an external controller speaking `zhilu-signal/1` at `address`.
    pub controller: ControllerKind,
    /// The controller's address for `tcp`.
    #[serde(default)]
    pub address: Option<SocketAddr>,
    /// A cloud plan command holds for the validity it carries, at most this long (and this long when it
    /// carries none) unless renewed; then the local fallback plan takes over.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_s: f64,
    /// The external controller runs traffic-dependent (actuated, adaptive) timing: SPaT then says
    /// `trafficDependentOperation` instead of `fixedTimeOperation`.
    #[serde(default)]
    pub traffic_dependent: bool,
    /// A controller state older than this is published as SPaT marked invalid
    /// (`noValidSPATisAvailableAtThisTime`, lights `unavailable`).
    #[serde(default = "default_state_timeout")]
    pub state_timeout_s: f64,
    /// The local fallback plan.
    pub fallback_plan: Plan,
}

fn default_command_timeout() -> f64 {
    30.0
}
fn default_state_timeout() -> f64 {
    1.0
}

/// The kind of signal controller link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControllerKind {
    /// In-process plan runner.
    Internal,
    /// `zhilu-signal/1` over TCP.
    Tcp,
}

/// `[cloud]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// cloud-control's uplink address.
    pub address: SocketAddr,
    /// The name on cloud-control's certificate.
    pub server_name: String,
    /// The CA that issued cloud-control's certificate (PEM).
    pub ca: PathBuf,
    /// Where records wait for acknowledgement (created if missing).
    pub spool_dir: PathBuf,
    /// Most records kept while the cloud is unreachable; beyond it the oldest track summaries, then the
    /// oldest counts, then the oldest events are dropped (each drop counted).
    #[serde(default = "default_spool_records")]
    pub spool_max_records: usize,
    /// Lane counts every this many seconds.
    #[serde(default = "default_counts_every")]
    pub counts_every_s: f64,
    /// Track summaries every this many seconds.
    #[serde(default = "default_tracks_every")]
    pub tracks_every_s: f64,
    /// Longest wait between reconnection attempts, seconds.
    #[serde(default = "default_backoff")]
    pub max_backoff_s: f64,
}

fn default_spool_records() -> usize {
    100_000
}
fn default_counts_every() -> f64 {
    10.0
}
fn default_tracks_every() -> f64 {
    1.0
}
fn default_backoff() -> f64 {
    10.0
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// HTTP address serving `/metrics`.
    pub listen: SocketAddr,
}

/// A configuration mistake.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax or an unknown/missing key.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said (with line and column).
        message: String,
    },
    /// A value out of range or inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What to fix.
        message: String,
    },
}

impl RsuConfig {
    /// Read and parse a configuration file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, path, &base)
    }

    /// Parse configuration text (`path` names it in errors; `base` resolves relative paths).
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let mut c: RsuConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax { path: path.to_path_buf(), message: e.to_string() })?;
        c.base_dir = base.to_path_buf();
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        if c.format != "zhilu-rsu/1" {
            return Err(invalid(format!("format is {:?}; expected \"zhilu-rsu/1\"", c.format)));
        }
        if c.rsu_id.trim().is_empty() || c.rsu_id.len() > 64 {
            return Err(invalid("rsu_id must be 1 to 64 characters".into()));
        }
        let p = &c.publish;
        if !(p.rate_hz.is_finite() && (0.1..=50.0).contains(&p.rate_hz)) {
            return Err(invalid(format!("publish.rate_hz {} must be between 0.1 and 50", p.rate_hz)));
        }
        if !(4096..=16 << 20).contains(&p.datagram_send_buffer_bytes) {
            return Err(invalid("publish.datagram_send_buffer_bytes must be between 4096 and 16 MiB".into()));
        }
        if !(p.keep_alive_s > 0.0 && p.idle_timeout_s > p.keep_alive_s && p.idle_timeout_s <= 600.0) {
            return Err(invalid(format!(
                "publish.keep_alive_s ({}) must be positive and below publish.idle_timeout_s ({}, at most 600)",
                p.keep_alive_s, p.idle_timeout_s
            )));
        }
        if p.max_subscribers == 0 || p.reliable_queue == 0 || p.connections_per_s_per_address == 0 {
            return Err(invalid("publish limits must be positive".into()));
        }
        if !(1..=512).contains(&p.ssm_participants_per_part) {
            return Err(invalid("publish.ssm_participants_per_part must be 1 to 512".into()));
        }
        let s = &c.sensors;
        if s.udp.is_none() && s.tcp.is_none() {
            return Err(invalid("sensors needs a udp or tcp address (or both)".into()));
        }
        if !(1..=1024).contains(&s.queue_frames) {
            return Err(invalid("sensors.queue_frames must be 1 to 1024".into()));
        }
        let g = &c.signal;
        if g.controller == ControllerKind::Tcp && g.address.is_none() {
            return Err(invalid("signal.controller = \"tcp\" needs signal.address".into()));
        }
        if !(g.command_timeout_s > 0.0 && g.state_timeout_s > 0.0) {
            return Err(invalid("signal timeouts must be positive".into()));
        }
        g.fallback_plan.validate().map_err(|e| invalid(format!("signal.fallback_plan: {e}")))?;
        if let Some(cl) = &c.cloud {
            if cl.spool_max_records < 10 {
                return Err(invalid("cloud.spool_max_records must be at least 10".into()));
            }
            if !(cl.counts_every_s > 0.0 && cl.tracks_every_s > 0.0 && cl.max_backoff_s >= 0.1) {
                return Err(invalid("cloud periods must be positive (max_backoff_s at least 0.1)".into()));
            }
        }
        Ok(c)
    }

    /// A path from the file, resolved against its directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/rsu.toml");

    #[test]
    fn the_example_parses() {
        let c = RsuConfig::parse(EXAMPLE, Path::new("rsu.toml"), Path::new("/x")).unwrap();
        assert_eq!(c.publish.rate_hz, 10.0);
        assert_eq!(c.resolve(Path::new("a.toml")), PathBuf::from("/x/a.toml"));
    }

    #[test]
    fn mistakes_are_named() {
        let bad = EXAMPLE.replace("rate_hz = 10.0", "rate_hz = 500.0");
        let e = RsuConfig::parse(&bad, Path::new("rsu.toml"), Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("publish.rate_hz 500"), "{e}");
        let bad = EXAMPLE.replace("[publish]", "[publish]\nlisten_typo = 1");
        let e = RsuConfig::parse(&bad, Path::new("rsu.toml"), Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("rsu.toml") && e.contains("listen_typo"), "{e}");
    }
}
