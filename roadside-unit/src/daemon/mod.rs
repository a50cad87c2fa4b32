//! The `rsu` daemon: the thin async shell (tokio) around the pure cores.
//!
//! Tasks: sensor ingest (UDP, TCP) into per-sensor queues; the cycle (fusion,
//! events, message building, signing, publishing) driven by frame arrivals and
//! a timer at the publishing rate; the QUIC publisher's accept loop and one
//! task per subscriber; the signal-controller link; the cloud uplink; the
//! metrics endpoint.  Shutdown: one `watch` flag every task selects on.
//!
//! Invariants: nothing here panics on input; no task waits on a subscriber;
//! records for the cloud go to the spool before anything else happens to them.

pub mod certs;
pub mod config;
pub mod ingest_net;
pub mod metrics;
pub mod publish;
pub mod signal;
pub mod spool;
pub mod uplink_client;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use map_encoder::csae::{encode_frame, MessageFrame, MessageFrameExt};
use map_encoder::geo::LocalFrame;
use map_encoder::model::{Intersection, MapFile};
use tokio::sync::{mpsc, watch};
use v2x_security::{psid, SigningIdentity};

use self::config::{ControllerKind, RsuConfig};
use self::ingest_net::SensorQueues;
use self::metrics::Metrics;
use self::publish::{Outgoing, PublishSettings, Publisher};
use self::signal::{ControllerLink, InternalController, PlanArbiter, StateUpdate, TcpLink};
use crate::clock::now_unix_us;
use crate::events::{EventChange, EventConfig, EventDetector, SignalShows};
use crate::fusion::{Fusion, FusionConfig, TrackOutput, TrackStatus};
use crate::output::{build_event_rsi, build_rsms, build_spat, build_ssms, EventCodes};
use crate::protocol::{Header, MessageType, HEADER_BYTES};
use crate::sensors::Sensor;
use crate::MapRevisions;

/// The largest message (header + signed SPDU) sent as one datagram: fits the ~1160 bytes quinn
/// carries at the start of a connection, before MTU discovery.
pub const DATAGRAM_BUDGET: usize = 1150;

/// The most a 1609.2 signature adds to a payload (certificate-signed; see `v2x_security`): 236 bytes for
/// a 600-byte payload with an 8-character RSU name; each further name character adds one (ids have at
/// most 64), a longer payload length prefix two more.
const MAX_SIGNING_OVERHEAD: usize = 300;

/// Why the daemon cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A file the configuration names.
    #[error("{0}")]
    Load(String),
    /// Binding a socket.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// Address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Everything loaded from the configuration, checked.
pub struct Loaded {
    /// The configuration.
    pub config: RsuConfig,
    /// The map file (whole).
    pub model: MapFile,
    /// Index of the served intersection in `model.intersections`.
    pub index: usize,
    /// Resolved sensors.
    pub sensors: Vec<Sensor>,
    /// TLS certificate chain and key.
    pub tls: (Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>),
    /// The subscriber CA.
    pub subscriber_ca: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The 1609.2 signing identity.
    pub identity: SigningIdentity,
    /// Warnings found while loading (map import).
    pub warnings: Vec<String>,
}

impl Loaded {
    /// The served intersection.
    pub fn intersection(&self) -> &Intersection {
        &self.model.intersections[self.index]
    }
}

fn load_err(what: impl std::fmt::Display) -> DaemonError {
    DaemonError::Load(what.to_string())
}

/// Load and check everything the configuration names.  With `create_certificates`, missing development
/// certificates are created when the configuration allows it.
pub fn load(config: RsuConfig, create_certificates: bool) -> Result<Loaded, DaemonError> {
    let map_path = config.resolve(&config.intersection.map);
    let name = map_path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let bytes =
        std::fs::read(&map_path).map_err(|e| load_err(format!("intersection.map {}: {e}", map_path.display())))?;
    let (model, warnings) = map_encoder::import::load_map(&name, &bytes, config.intersection.origin)
        .map_err(|e| load_err(format!("intersection.map {}: {e}", map_path.display())))?;
    let index = match config.intersection.id {
        Some(id) => model.intersections.iter().position(|x| x.id == id).ok_or_else(|| {
            let ids: Vec<String> = model.intersections.iter().map(|x| x.id.to_string()).collect();
            load_err(format!("{}: no intersection {id} (it has {})", map_path.display(), ids.join(", ")))
        })?,
        None if model.intersections.is_empty() => {
            return Err(load_err(format!("{}: no intersection", map_path.display())))
        }
        None => 0,
    };
    let x = &model.intersections[index];
    let sensors_path = config.resolve(&config.sensors.file);
    let text = std::fs::read_to_string(&sensors_path)
        .map_err(|e| load_err(format!("sensors.file {}: {e}", sensors_path.display())))?;
    let sname = sensors_path.display().to_string();
    let file = crate::sensors::parse_sensor_file(&sname, &text).map_err(load_err)?;
    let sensors = crate::sensors::resolve(&sname, &file, x).map_err(load_err)?;
    // the fallback plan must only name signal groups of the intersection
    let groups: std::collections::BTreeSet<u8> = x.connections.iter().filter_map(|c| c.signal_group).collect();
    let crossings: std::collections::BTreeSet<u8> = x.lanes.iter().filter_map(|l| l.signal_group).collect();
    if let Some(g) =
        config.signal.fallback_plan.groups().into_iter().find(|g| !groups.contains(g) && !crossings.contains(g))
    {
        return Err(load_err(format!(
            "signal.fallback_plan names signal group {g}, which intersection {} does not have",
            x.id
        )));
    }
    let sec = &config.security;
    let mut paths = [&sec.tls_cert, &sec.tls_key, &sec.subscriber_ca, &sec.signing_identity].map(|p| config.resolve(p));
    let mut warnings = warnings;
    let mut scratch = None;
    let missing: Vec<String> = paths.iter().filter(|p| !p.exists()).map(|p| p.display().to_string()).collect();
    if !missing.is_empty() && missing.len() < paths.len() && sec.create_dev_certificates {
        return Err(load_err(format!(
            "security: {} missing while the other certificate files exist; development certificates are only \
             created when none of them exists (run `rsu certs` or restore the files)",
            missing.join(", ")
        )));
    }
    if missing.len() == paths.len() && sec.create_dev_certificates {
        if create_certificates {
            let dir = paths[0].parent().unwrap_or(Path::new("."));
            tracing::warn!(dir = %dir.display(), "creating development certificates (security.create_dev_certificates)");
            certs::create_dev_certificates(dir, &config.rsu_id).map_err(load_err)?;
        } else {
            // checking only: prove that certificates can be made and used, without writing beside the config
            let dir = std::env::temp_dir().join(format!("zhilu-rsu-check-{}", std::process::id()));
            certs::create_dev_certificates(&dir, &config.rsu_id).map_err(load_err)?;
            warnings.push(format!(
                "security: certificate files are missing; development certificates will be created at the first start in {}",
                paths[0].parent().unwrap_or(Path::new(".")).display()
            ));
            let names = ["rsu.pem", "rsu.key", "subscriber-ca.pem", "rsu-signing.pem"];
            for (p, n) in paths.iter_mut().zip(names) {
                *p = dir.join(n);
            }
            scratch = Some(dir);
        }
    }
    let cert = crate::tls::load_certs(&paths[0]).map_err(load_err)?;
    let key = crate::tls::load_key(&paths[1]).map_err(load_err)?;
    let subscriber_ca = crate::tls::load_certs(&paths[2]).map_err(load_err)?;
    let identity_text =
        std::fs::read_to_string(&paths[3]).map_err(|e| load_err(format!("{}: {e}", paths[3].display())))?;
    let identity = SigningIdentity::from_pem(&identity_text)
        .map_err(|e| load_err(format!("security.signing_identity {}: {e}", paths[3].display())))?;
    if let Some(c) = &config.cloud {
        let mut ca = config.resolve(&c.ca);
        if let (false, Some(d)) = (ca.exists(), &scratch) {
            // the development CA will be created with the other certificates
            ca = d.join("ca.pem");
        }
        crate::tls::load_certs(&ca).map_err(|e| load_err(format!("cloud.ca: {e}")))?;
    }
    if let Some(d) = scratch {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(Loaded { config, model, index, sensors, tls: (cert, key), subscriber_ca, identity, warnings })
}

/// A started daemon: its bound addresses and the handle to stop it.
pub struct Running {
    /// QUIC publishing address.
    pub quic: SocketAddr,
    /// UDP ingest.
    pub udp: Option<SocketAddr>,
    /// TCP ingest.
    pub tcp: Option<SocketAddr>,
    /// Metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// The metrics (for in-process benches and tests).
    pub registry: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    cycle: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop every task and wait for the cycle to end (subscribers are told the RSU is shutting down).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.cycle.await;
        // give QUIC a moment to send the close frames
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Start the daemon.
pub async fn start(loaded: Loaded) -> Result<Running, DaemonError> {
    let metrics = Metrics::new();
    let (shutdown_tx, shutdown) = watch::channel(false);
    let c = loaded.config.clone();
    let x = loaded.intersection().clone();
    let frame = map_encoder::geometry::frame(&x);
    // ingest
    let ids: Vec<u32> = loaded.sensors.iter().map(|s| s.config.id).collect();
    let queues = SensorQueues::new(&ids, c.sensors.queue_frames, metrics.clone());
    let udp = match c.sensors.udp {
        Some(a) => {
            let sock =
                tokio::net::UdpSocket::bind(a).await.map_err(|source| DaemonError::Bind { address: a, source })?;
            let bound = sock.local_addr().ok();
            tokio::spawn(ingest_net::udp(sock, queues.clone(), shutdown.clone()));
            bound
        }
        None => None,
    };
    let tcp = match c.sensors.tcp {
        Some(a) => {
            let l =
                tokio::net::TcpListener::bind(a).await.map_err(|source| DaemonError::Bind { address: a, source })?;
            let bound = l.local_addr().ok();
            tokio::spawn(ingest_net::tcp(l, queues.clone(), c.sensors.max_tcp_connections, shutdown.clone()));
            bound
        }
        None => None,
    };
    // publisher
    let transport = crate::tls::Transport {
        keep_alive: Some(Duration::from_secs_f64(c.publish.keep_alive_s)),
        idle_timeout: Duration::from_secs_f64(c.publish.idle_timeout_s),
        datagram_send_buffer: c.publish.datagram_send_buffer_bytes,
        // quinn refuses to *send* datagrams when receiving them is disabled (None); subscribers have
        // nothing to send, so a small buffer that is never read suffices
        datagram_receive_buffer: Some(4096),
        max_bi_streams: 4,
        max_uni_streams: 0,
    };
    let (cert, key) = (loaded.tls.0.clone(), loaded.tls.1.clone_key());
    let server = crate::tls::server_config(
        cert.clone(),
        key.clone_key(),
        &loaded.subscriber_ca,
        crate::protocol::ALPN,
        &transport,
    )
    .map_err(load_err)?;
    let endpoint = publish::endpoint(server, c.publish.listen)
        .map_err(|source| DaemonError::Bind { address: c.publish.listen, source })?;
    let quic = endpoint.local_addr().map_err(|source| DaemonError::Bind { address: c.publish.listen, source })?;
    let extent = intersection_extent(&x);
    let publisher = Publisher::new(
        PublishSettings {
            identity: loaded.identity.clone(),
            rsu_id: c.rsu_id.clone(),
            intersection: [x.region.unwrap_or(0), x.id],
            frame,
            extent,
            rate_hz: c.publish.rate_hz,
            max_subscribers: c.publish.max_subscribers,
            reliable_queue: c.publish.reliable_queue,
            connections_per_s: c.publish.connections_per_s_per_address,
            connection_burst: c.publish.connection_burst_per_address,
            retry: c.publish.retry,
        },
        metrics.clone(),
    );
    tokio::spawn(publisher.clone().serve(endpoint, shutdown.clone()));
    // metrics endpoint
    let metrics_addr = match &c.metrics {
        Some(m) => Some(
            metrics::serve(m.listen, metrics.clone(), shutdown.clone())
                .await
                .map_err(|source| DaemonError::Bind { address: m.listen, source })?,
        ),
        None => None,
    };
    // signal controller
    let (state_tx, state_rx) = watch::channel::<Option<StateUpdate>>(None);
    let (cmd_tx, cmd_rx) = mpsc::channel(8);
    let link: Box<dyn ControllerLink> = match c.signal.controller {
        ControllerKind::Internal => Box::new(InternalController { initial: c.signal.fallback_plan.clone() }),
        ControllerKind::Tcp => Box::new(TcpLink {
            address: c.signal.address.ok_or_else(|| load_err("signal.address missing"))?,
            fixed_time: !c.signal.traffic_dependent,
        }),
    };
    let fixed_time = link.fixed_time();
    if c.signal.controller == ControllerKind::Tcp {
        // the external controller starts on the RSU's local plan
        let _ = cmd_tx.try_send(c.signal.fallback_plan.clone());
    }
    tokio::spawn(link.run(state_tx, cmd_rx, shutdown.clone()));
    // uplink
    let (uplink, down_rx) = match &c.cloud {
        Some(cl) => {
            let ca = crate::tls::load_certs(&c.resolve(&cl.ca)).map_err(load_err)?;
            let client = crate::tls::client_config(
                &ca,
                cert,
                key,
                uplink::ALPN,
                &crate::tls::Transport {
                    keep_alive: Some(Duration::from_secs(2)),
                    idle_timeout: Duration::from_secs(10),
                    datagram_send_buffer: 64 * 1024,
                    datagram_receive_buffer: None,
                    max_bi_streams: 0,
                    max_uni_streams: 0,
                },
            )
            .map_err(load_err)?;
            let spool_dir = c.resolve(&cl.spool_dir);
            let spool = spool::Spool::open(&spool_dir, cl.spool_max_records)
                .map_err(|e| load_err(format!("cloud.spool_dir: {e}")))?;
            let settings = uplink_client::UplinkSettings {
                address: cl.address,
                server_name: cl.server_name.clone(),
                client,
                rsu_id: c.rsu_id.clone(),
                intersection: uplink::IntersectionRef {
                    region: x.region.unwrap_or(0),
                    id: x.id,
                    name: x.name.clone().unwrap_or_default(),
                },
                max_backoff: Duration::from_secs_f64(cl.max_backoff_s),
            };
            let (h, rx) = uplink_client::start(settings, spool, metrics.clone(), shutdown.clone())
                .map_err(|e| load_err(format!("uplink: {e}")))?;
            (Some(h), rx)
        }
        None => (None, mpsc::channel(1).1),
    };
    let cycle = Cycle::new(&loaded, x, frame, metrics.clone(), publisher, state_rx, cmd_tx, uplink, fixed_time)?;
    let join = tokio::spawn(cycle.run(queues, down_rx, shutdown));
    Ok(Running { quic, udp, tcp, metrics: metrics_addr, registry: metrics, shutdown: shutdown_tx, cycle: join })
}

/// Centre and radius of the area an intersection's messages concern: every lane point.
pub fn intersection_extent(x: &Intersection) -> ([f64; 2], f64) {
    let c = crate::sensors::junction_centre(x);
    let frame = map_encoder::geometry::frame(x);
    let r = x
        .lanes
        .iter()
        .flat_map(|l| map_encoder::geometry::centreline(&frame, l))
        .map(|p| (p.x - c[0]).hypot(p.y - c[1]))
        .fold(50.0_f64, f64::max);
    (c, r)
}

/// Builds one object-list message from a chunk of tracks and a message count.
type BuildPart = dyn Fn(&Cycle, &[TrackOutput], u8) -> Option<MessageFrame>;

/// The periodic work: fusion, events, messages.
struct Cycle {
    rsu_id: [u8; 8],
    x: Intersection,
    /// Where the lanes of `x` meet (the pivot of the spatial ordering of objects).
    centre: [f64; 2],
    frame: LocalFrame,
    fusion: Fusion,
    events: EventDetector,
    maps: MapRevisions,
    model: MapFile,
    index: usize,
    metrics: Arc<Metrics>,
    publisher: Arc<Publisher>,
    identity: SigningIdentity,
    state_rx: watch::Receiver<Option<StateUpdate>>,
    cmd_tx: mpsc::Sender<signal_core::Plan>,
    arbiter: PlanArbiter,
    uplink: Option<uplink_client::UplinkHandle>,
    fixed_time: bool,
    period: Duration,
    state_timeout_s: f64,
    command_timeout_s: f64,
    ssm_per_part: usize,
    codes: EventCodes,
    newest_capture_us: i64,
    last_certificate: HashMap<MessageType, Instant>,
    clock_offsets_us: HashMap<u32, i64>,
    cycle: u64,
    spat_cycle: u64,
    seq: HashMap<MessageType, u32>,
    msg_cnt: u8,
    counts_every: Duration,
    tracks_every: Duration,
}

impl Cycle {
    #[allow(clippy::too_many_arguments)]
    fn new(
        loaded: &Loaded,
        x: Intersection,
        frame: LocalFrame,
        metrics: Arc<Metrics>,
        publisher: Arc<Publisher>,
        state_rx: watch::Receiver<Option<StateUpdate>>,
        cmd_tx: mpsc::Sender<signal_core::Plan>,
        uplink: Option<uplink_client::UplinkHandle>,
        fixed_time: bool,
    ) -> Result<Self, DaemonError> {
        let c = &loaded.config;
        let mut rsu_id = [b' '; 8];
        for (d, s) in rsu_id.iter_mut().zip(c.rsu_id.bytes().rev().take(8).collect::<Vec<_>>().into_iter().rev()) {
            *d = s;
        }
        let mut me = Cycle {
            rsu_id,
            events: EventDetector::new(&x, EventConfig::default()),
            centre: crate::sensors::junction_centre(&x),
            x,
            frame,
            fusion: Fusion::new(FusionConfig::default(), loaded.sensors.clone()),
            maps: MapRevisions::default(),
            model: loaded.model.clone(),
            index: loaded.index,
            metrics,
            publisher,
            identity: loaded.identity.clone(),
            state_rx,
            cmd_tx,
            arbiter: PlanArbiter::new(c.signal.fallback_plan.clone()),
            uplink,
            fixed_time,
            period: Duration::from_secs_f64(1.0 / c.publish.rate_hz),
            state_timeout_s: c.signal.state_timeout_s,
            command_timeout_s: c.signal.command_timeout_s,
            ssm_per_part: c.publish.ssm_participants_per_part,
            codes: c.event_codes.clone(),
            newest_capture_us: 0,
            last_certificate: HashMap::new(),
            clock_offsets_us: loaded.sensors.iter().map(|s| (s.config.id, s.clock_offset_us())).collect(),
            cycle: 0,
            spat_cycle: 0,
            seq: HashMap::new(),
            msg_cnt: 0,
            counts_every: Duration::from_secs_f64(c.cloud.as_ref().map_or(10.0, |cl| cl.counts_every_s)),
            tracks_every: Duration::from_secs_f64(c.cloud.as_ref().map_or(1.0, |cl| cl.tracks_every_s)),
        };
        let model = me.model.clone();
        me.publish_map(&model).map_err(load_err)?;
        me.announce();
        me.metrics.plan_source.with_label_values(&["local"]).set(1);
        me.metrics.plan_source.with_label_values(&["cloud"]).set(0);
        Ok(me)
    }

    fn next_seq(&mut self, t: MessageType) -> u32 {
        let s = self.seq.entry(t).or_insert(0);
        *s = s.wrapping_add(1);
        *s
    }

    fn next_cnt(&mut self) -> u8 {
        self.msg_cnt = (self.msg_cnt + 1) % 128;
        self.msg_cnt
    }

    fn sign(&self, psid: u64, payload: &[u8], include_certificate: bool) -> Option<Vec<u8>> {
        match self.identity.sign(psid, payload, now_unix_us(), include_certificate) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "signing failed; message not sent");
                None
            }
        }
    }

    fn publish_map(&mut self, model: &MapFile) -> Result<(), String> {
        let one = MapFile { intersections: vec![model.intersections[self.index].clone()], ..model.clone() };
        match self.maps.offer(&one) {
            Ok(Some(rev)) => {
                self.publisher.set_map(rev.revision, rev.bytes.clone());
                if let Some(u) = &self.uplink {
                    u.set_map_revision(rev.revision);
                }
                tracing::info!(revision = rev.revision, bytes = rev.bytes.len(), "MAP revision published");
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn announce(&self) {
        if let Some(spdu) = self.sign(psid::SPAT, &[], true) {
            self.publisher.set_announcement(&spdu);
        }
    }

    async fn run(
        mut self,
        queues: Arc<SensorQueues>,
        mut down: mpsc::Receiver<uplink::Down>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut last_publish = Instant::now() - self.period;
        let (mut last_counts, mut last_tracks) = (Instant::now(), Instant::now());
        let slack = self.period.mul_f64(0.9);
        let idle_after = self.period.mul_f64(1.5);
        let mut tick = tokio::time::interval(self.period / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // SPaT keeps its own clock: exactly the configured rate, whatever the sensors do
        let mut spat_tick = tokio::time::interval(self.period);
        spat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = spat_tick.tick() => self.publish_spat(),
                _ = queues.notify.notified() => {
                    self.ingest(&queues);
                    if last_publish.elapsed() >= slack {
                        last_publish = Instant::now();
                        self.cycle();
                    }
                }
                _ = tick.tick() => {
                    // sensor frames drive the object lists (lowest latency); the timer keeps them
                    // going when frames stop (coasting tracks)
                    self.ingest(&queues);
                    if last_publish.elapsed() >= idle_after {
                        last_publish = Instant::now();
                        self.cycle();
                    }
                }
                Some(d) = down.recv() => self.down(d),
                _ = second.tick() => {
                    let now_s = crate::clock::now_unix_s();
                    self.announce();
                    if let Some(plan) = self.arbiter.tick(now_s) {
                        tracing::warn!(plan = plan.id, "cloud plan commands stopped: local fallback plan takes over");
                        let _ = self.cmd_tx.try_send(plan);
                        self.plan_source_metric();
                    }
                    self.metrics.silent_sensors.set(self.fusion.silent_sensors().len() as i64);
                    if let Some(s) = self.state_rx.borrow().as_ref() {
                        self.metrics.controller_state_age_seconds.set(now_s - s.received_s);
                    }
                    if last_counts.elapsed() >= self.counts_every {
                        last_counts = Instant::now();
                        self.record_counts();
                    }
                    if last_tracks.elapsed() >= self.tracks_every {
                        last_tracks = Instant::now();
                        self.record_tracks();
                    }
                }
                _ = stopped(&mut shutdown) => {
                    tracing::info!("cycle stopped");
                    return;
                }
            }
        }
    }

    fn plan_source_metric(&self) {
        let s = self.arbiter.source().name();
        for k in ["local", "cloud"] {
            self.metrics.plan_source.with_label_values(&[k]).set(i64::from(k == s));
        }
    }

    fn down(&mut self, d: uplink::Down) {
        match d {
            uplink::Down::SignalPlan { plan, valid_for_s } => {
                if let Err(e) = plan.validate() {
                    tracing::warn!(plan = plan.id, error = %e, "cloud plan refused");
                    return;
                }
                // a command holds for its own validity, at most command_timeout_s (the default when it gives none)
                let hold =
                    if valid_for_s > 0.0 { valid_for_s.min(self.command_timeout_s) } else { self.command_timeout_s };
                if let Some(p) = self.arbiter.cloud_command(plan, hold, crate::clock::now_unix_s()) {
                    tracing::info!(plan = p.id, "cloud plan commanded");
                    let _ = self.cmd_tx.try_send(p);
                }
                self.plan_source_metric();
            }
            uplink::Down::MapRevision { version, intersection_toml } => {
                match map_encoder::model::parse("cloud map", &intersection_toml, map_encoder::model::Syntax::Toml) {
                    Ok((model, _)) => {
                        let Some(i) = model.intersections.iter().position(|i| i.id == self.x.id) else {
                            tracing::warn!(version, "cloud map revision does not contain this intersection; ignored");
                            return;
                        };
                        let old_index = self.index;
                        self.index = i;
                        match self.publish_map(&model) {
                            Ok(()) => {
                                self.x = model.intersections[i].clone();
                                self.centre = crate::sensors::junction_centre(&self.x);
                                let next = self.events.next_event_id();
                                self.events = EventDetector::new(&self.x, EventConfig::default());
                                self.events.set_next_event_id(next);
                                self.model = model;
                            }
                            Err(e) => {
                                self.index = old_index;
                                tracing::warn!(version, error = %e, "cloud map revision refused");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(version, error = %e, "cloud map revision does not parse; ignored"),
                }
            }
            _ => {}
        }
    }

    fn ingest(&mut self, queues: &SensorQueues) {
        loop {
            let batch = queues.drain(4);
            if batch.is_empty() {
                return;
            }
            for a in batch {
                // the RSU clock: the sensor's configured offset removed
                let capture =
                    a.frame.capture_time_us - self.clock_offsets_us.get(&a.frame.sensor_id).copied().unwrap_or(0);
                match self.fusion.push(a.frame, a.received_unix_us) {
                    Ok(()) => self.newest_capture_us = self.newest_capture_us.max(capture),
                    Err(r) => self.metrics.dropped.with_label_values(&[r.as_str()]).inc(),
                }
            }
        }
    }

    fn signals(&self) -> HashMap<u8, SignalShows> {
        let mut out = HashMap::new();
        if let Some(s) = self.state_rx.borrow().as_ref() {
            if crate::clock::now_unix_s() - s.received_s <= self.state_timeout_s {
                for g in &s.state.groups {
                    out.insert(g.group, SignalShows::from_phase_name(g.light.movement_phase_name()));
                }
            }
        }
        out
    }

    fn cycle(&mut self) {
        let t0 = Instant::now();
        let now = now_unix_us();
        self.fusion.advance(now);
        let mut tracks = self.fusion.output(now);
        self.cycle += 1;
        let data_time = if self.newest_capture_us > 0 { self.newest_capture_us } else { now };
        // objects close to each other travel together: a subscriber's geofence then selects few parts
        let c = self.centre;
        tracks.sort_by_key(|t| {
            let (dx, dy) = (t.position_m[0] - c[0], t.position_m[1] - c[1]);
            let sector = ((dy.atan2(dx) + std::f64::consts::PI) / (std::f64::consts::PI / 4.0)) as i64;
            (sector, (dx.hypot(dy) * 10.0) as i64)
        });
        self.publish_rsms(&tracks, now, data_time);
        self.publish_ssms(&tracks, now, data_time);
        let signals = self.signals();
        let changes = self.events.update(now, &tracks, &signals);
        for ch in changes {
            self.publish_event(ch, now);
        }
        self.metrics.fusion_seconds.observe(t0.elapsed().as_secs_f64());
        let mut by_class: HashMap<&str, i64> = HashMap::new();
        for t in tracks.iter().filter(|t| t.status == TrackStatus::Confirmed) {
            *by_class.entry(class_name(t)).or_default() += 1;
        }
        for k in ["car", "truck", "bus", "bike", "motorcycle", "pedestrian", "unknown"] {
            self.metrics.tracks.with_label_values(&[k]).set(by_class.get(k).copied().unwrap_or(0));
        }
    }

    /// Build and encode the parts (splitting any that could not fit a datagram once signed), sign them,
    /// then hand them to every subscriber, all parts of one subscriber together.
    fn publish_parts(
        &mut self,
        t: MessageType,
        chunks: Vec<Vec<TrackOutput>>,
        build: &BuildPart,
        data_time: i64,
        include_cert: bool,
    ) {
        let p = match t {
            MessageType::Ssm => psid::SSM,
            _ => psid::RSM,
        };
        let mut ready: Vec<(Vec<u8>, Vec<[f64; 2]>)> = Vec::new();
        let mut todo: Vec<Vec<TrackOutput>> = chunks.into_iter().rev().collect();
        while let Some(chunk) = todo.pop() {
            let cnt = self.next_cnt();
            let Some(f) = build(self, &chunk, cnt) else { continue };
            let Ok(uper) = encode_frame(&f) else {
                tracing::error!(?t, "object list does not encode; part skipped");
                continue;
            };
            if HEADER_BYTES + uper.len() + MAX_SIGNING_OVERHEAD > DATAGRAM_BUDGET && chunk.len() > 1 {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                todo.push(b.to_vec());
                todo.push(a.to_vec());
                continue;
            }
            ready.push((uper, chunk.iter().map(|t| t.position_m).collect()));
        }
        let seq = self.next_seq(t);
        let parts = ready.len().min(255) as u8;
        let mut outs = Vec::with_capacity(ready.len());
        for (i, (uper, positions)) in ready.into_iter().take(255).enumerate() {
            let Some(spdu) = self.sign(p, &uper, include_cert) else { continue };
            outs.push(Outgoing {
                bytes: publish::message(
                    Header { message_type: t, part: i as u8, parts, seq, data_time_unix_us: data_time },
                    &spdu,
                ),
                message_type: t,
                positions,
                data_time_unix_us: data_time,
            });
        }
        // subscriber by subscriber, all parts at once: each connection then sends its parts in one
        // batch (GSO) instead of waking once per part
        self.publisher.publish_datagrams(&outs, self.cycle);
    }

    fn publish_rsms(&mut self, tracks: &[TrackOutput], now: i64, data_time: i64) {
        if tracks.is_empty() || !self.publisher.wanted(MessageType::Rsm) {
            return;
        }
        let include_cert = self.certificate_due(MessageType::Rsm);
        let chunks: Vec<Vec<TrackOutput>> =
            tracks.chunks(crate::output::PARTICIPANTS_PER_RSM).map(<[TrackOutput]>::to_vec).collect();
        let build = move |me: &Self, chunk: &[TrackOutput], cnt: u8| {
            let rsm = build_rsms(&me.x, &me.frame, chunk, now / 1000, cnt, me.rsu_id).into_iter().next()?;
            Some(MessageFrame::RsmFrame(rsm))
        };
        self.publish_parts(MessageType::Rsm, chunks, &build, data_time, include_cert);
    }

    fn publish_ssms(&mut self, tracks: &[TrackOutput], now: i64, data_time: i64) {
        if tracks.is_empty() || !self.publisher.wanted(MessageType::Ssm) {
            return;
        }
        let include_cert = self.certificate_due(MessageType::Ssm);
        let chunks: Vec<Vec<TrackOutput>> = tracks.chunks(self.ssm_per_part).map(<[TrackOutput]>::to_vec).collect();
        let build = move |me: &Self, chunk: &[TrackOutput], cnt: u8| {
            let ssm =
                build_ssms(&me.x, &me.frame, chunk, now / 1000, cnt, me.rsu_id, chunk.len()).into_iter().next()?;
            Some(MessageFrame::MsgFrameExt(MessageFrameExt::SensorSharingMsg(ssm)))
        };
        self.publish_parts(MessageType::Ssm, chunks, &build, data_time, include_cert);
    }

    /// Whether this message of type `t` carries the full certificate: at least once a second per type
    /// (1609.2 practice); the others name it by digest.
    fn certificate_due(&mut self, t: MessageType) -> bool {
        let now = Instant::now();
        let last = self.last_certificate.entry(t).or_insert(now - Duration::from_secs(2));
        if now.duration_since(*last) >= Duration::from_secs(1) {
            *last = now;
            true
        } else {
            false
        }
    }

    fn publish_spat(&mut self) {
        if !self.publisher.wanted(MessageType::Spat) {
            return;
        }

        let Some(update) = self.state_rx.borrow().clone() else { return };
        let include_cert = self.certificate_due(MessageType::Spat);
        self.spat_cycle += 1;
        let now_s = crate::clock::now_unix_s();
        let cnt = self.next_cnt();
        let spat = build_spat(&self.x, &update.state, 0.0, now_s, cnt, self.fixed_time, self.state_timeout_s);
        let Ok(uper) = encode_frame(&MessageFrame::SpatFrame(spat)) else {
            tracing::error!("SPaT does not encode");
            return;
        };
        let Some(spdu) = self.sign(psid::SPAT, &uper, include_cert) else { return };
        let seq = self.next_seq(MessageType::Spat);
        let data_time = (update.state.time_s * 1e6) as i64;
        let out = Outgoing {
            bytes: publish::message(
                Header { message_type: MessageType::Spat, part: 0, parts: 1, seq, data_time_unix_us: data_time },
                &spdu,
            ),
            message_type: MessageType::Spat,
            positions: Vec::new(),
            data_time_unix_us: data_time,
        };
        // SPaT's own cycle count: a subscriber at a reduced rate gets evenly spaced SPaTs
        self.publisher.publish_datagrams(&[out], self.spat_cycle);
    }

    fn publish_event(&mut self, change: EventChange, now: i64) {
        let (event, ended, phase) = match change {
            EventChange::Started(e) => (e, false, uplink::EventPhase::Started),
            EventChange::Updated(e) => (e, false, uplink::EventPhase::Updated),
            EventChange::Ended(e) => (e, true, uplink::EventPhase::Ended),
        };
        let cnt = self.next_cnt();
        let rsi = build_event_rsi(&self.x, &self.frame, &event, ended, &self.codes, cnt, self.rsu_id, now);
        if let Ok(uper) = encode_frame(&MessageFrame::RsiFrame(rsi)) {
            if let Some(spdu) = self.sign(psid::RSI, &uper, true) {
                let seq = self.next_seq(MessageType::Rsi);
                let out = Outgoing {
                    bytes: publish::message(
                        Header { message_type: MessageType::Rsi, part: 0, parts: 1, seq, data_time_unix_us: now },
                        &spdu,
                    ),
                    message_type: MessageType::Rsi,
                    positions: vec![event.position_m],
                    data_time_unix_us: now,
                };
                self.publisher.publish_reliable(&out);
            }
        } else {
            tracing::error!(event = event.id, "event RSI does not encode");
        }
        if let Some(u) = &self.uplink {
            let g = self.frame.en_to_geodetic(event.position_m[0], event.position_m[1]);
            u.record(
                now / 1000,
                uplink::RecordBody::Event(uplink::EventRecord {
                    id: event.id,
                    event: event.kind.name().to_string(),
                    phase,
                    started_unix_ms: event.start_us / 1000,
                    ended_unix_ms: event.end_us.map(|e| e / 1000),
                    lat: g.lat_deg,
                    lon: g.lon_deg,
                    lane: event.lane,
                    approach: event.approach.clone(),
                    objects: event.objects.clone(),
                    confidence: event.confidence,
                }),
            );
        }
    }

    fn record_counts(&mut self) {
        let Some(u) = &self.uplink else { return };
        let lanes = self
            .events
            .lane_stats()
            .into_iter()
            .map(|s| uplink::LaneCount {
                lane: s.lane,
                departures: s.departures as u32,
                arrivals: s.arrivals as u32,
                arrival_rate_vph: s.arrival_rate_vph,
                occupancy: s.occupancy,
                queue_m: s.queue_m,
                queued: s.queued as u32,
            })
            .collect();
        let now_ms = now_unix_us() / 1000;
        u.record(now_ms, uplink::RecordBody::LaneCounts { window_s: EventConfig::default().stats_window_s, lanes });
        u.record(
            now_ms,
            uplink::RecordBody::Health {
                silent_sensors: self.fusion.silent_sensors(),
                subscribers: self.publisher.subscriber_count() as u32,
                plan_source: self.arbiter.source().name().into(),
            },
        );
    }

    fn record_tracks(&mut self) {
        let Some(u) = &self.uplink else { return };
        let now = now_unix_us();
        let lanes = self.events.lanes();
        let tracks = self
            .fusion
            .output(now)
            .into_iter()
            .filter(|t| t.status == TrackStatus::Confirmed)
            .map(|t| {
                let g = self.frame.en_to_geodetic(t.position_m[0], t.position_m[1]);
                let m = lanes.locate(t.position_m, Some(t.heading_rad), true);
                uplink::TrackSummary {
                    id: t.id,
                    class: t.class.map(|(c, _)| c.name().to_string()),
                    lat: g.lat_deg,
                    lon: g.lon_deg,
                    speed_mps: t.velocity_mps[0].hypot(t.velocity_mps[1]),
                    heading_deg: (90.0 - t.heading_rad.to_degrees()).rem_euclid(360.0),
                    lane: m.lane.map(|i| lanes.lanes()[i].id),
                }
            })
            .collect();
        u.record(now / 1000, uplink::RecordBody::Tracks { tracks });
    }
}

fn class_name(t: &TrackOutput) -> &'static str {
    t.class.map_or("unknown", |(c, _)| c.name())
}

/// Resolves when the shutdown flag turns true (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
