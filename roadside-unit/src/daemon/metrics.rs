//! The daemon's Prometheus metrics (one registry per daemon, so tests can run
//! several daemons in one process) and the HTTP endpoint serving them.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tokio::sync::watch;

/// Every metric the daemon exports.
pub struct Metrics {
    /// The registry.
    pub registry: Registry,
    /// Frames received per sensor.
    pub frames: IntCounterVec,
    /// Detections received per sensor.
    pub detections: IntCounterVec,
    /// Inputs dropped, by reason (`decode`, `unknown_sensor`, `queue_full`, `stale`, `too_early`, ...).
    pub dropped: IntCounterVec,
    /// Sensors currently silent.
    pub silent_sensors: IntGauge,
    /// Fusion cycle time.
    pub fusion_seconds: Histogram,
    /// Tracks by class.
    pub tracks: IntGaugeVec,
    /// Messages published, by type (counted once per message, not per subscriber).
    pub published: IntCounterVec,
    /// Messages sent to subscribers, by type.
    pub sent: IntCounterVec,
    /// Subscribers connected.
    pub subscribers: IntGauge,
    /// Messages a subscriber lost, by reason (`buffer_full`: a stale datagram overwritten,
    /// `send_error`, `slow_reliable`: disconnected for not reading MAP/RSI).
    pub subscriber_drops: IntCounterVec,
    /// Connections refused, by reason (`rate_limit`, `capacity`, `tls`).
    pub refused: IntCounterVec,
    /// Sensor capture to datagram sent, seconds, by type.
    pub latency_seconds: HistogramVec,
    /// Uplink state: 1 connected, 0 not.
    pub uplink_connected: IntGauge,
    /// Records waiting for the cloud's acknowledgement.
    pub uplink_spooled: IntGauge,
    /// Records dropped because the spool was full, by kind.
    pub uplink_spool_dropped: IntCounterVec,
    /// Records acknowledged by the cloud.
    pub uplink_acked: IntCounter,
    /// Signal plan source in use: 1 for the active one (`cloud`, `local`).
    pub plan_source: IntGaugeVec,
    /// Seconds since the controller's last state (SPaT is marked invalid when it exceeds the timeout).
    pub controller_state_age_seconds: prometheus::Gauge,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

impl Metrics {
    /// A fresh registry with every metric.
    // The names and labels are constants: registration cannot fail at run time.
    #[allow(clippy::expect_used)]
    pub fn new() -> Arc<Self> {
        let r = Registry::new();
        let lat_buckets = vec![0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
        let fusion_seconds = Histogram::with_opts(
            HistogramOpts::new("rsu_fusion_cycle_seconds", "Time of one fusion and publishing cycle.")
                .buckets(lat_buckets.clone()),
        )
        .expect("valid metric");
        r.register(Box::new(fusion_seconds.clone())).expect("unique metric");
        let latency_seconds = HistogramVec::new(
            HistogramOpts::new(
                "rsu_end_to_end_latency_seconds",
                "From the data time of a message to the datagram handed to QUIC: for object lists the sensor \
                 capture of the newest frame fused into them, for SPaT the controller state's time.",
            )
            .buckets(lat_buckets),
            &["type"],
        )
        .expect("valid metric");
        r.register(Box::new(latency_seconds.clone())).expect("unique metric");
        let tracks =
            IntGaugeVec::new(Opts::new("rsu_tracks", "Confirmed tracks by class."), &["class"]).expect("valid metric");
        r.register(Box::new(tracks.clone())).expect("unique metric");
        let plan_source = IntGaugeVec::new(
            Opts::new("rsu_signal_plan_source", "1 for the signal plan source in use (cloud or local)."),
            &["source"],
        )
        .expect("valid metric");
        r.register(Box::new(plan_source.clone())).expect("unique metric");
        let age = prometheus::Gauge::new(
            "rsu_controller_state_age_seconds",
            "Seconds since the signal controller's last state.",
        )
        .expect("valid metric");
        r.register(Box::new(age.clone())).expect("unique metric");
        let m = Arc::new(Metrics {
            frames: counter_vec(&r, "rsu_sensor_frames_total", "Sensor frames received.", &["sensor"]),
            detections: counter_vec(&r, "rsu_sensor_detections_total", "Detections received.", &["sensor"]),
            dropped: counter_vec(&r, "rsu_inputs_dropped_total", "Sensor inputs dropped, by reason.", &["reason"]),
            silent_sensors: gauge(&r, "rsu_silent_sensors", "Sensors silent for longer than their timeout."),
            fusion_seconds,
            tracks,
            published: counter_vec(&r, "rsu_messages_published_total", "Messages published, by type.", &["type"]),
            sent: counter_vec(&r, "rsu_messages_sent_total", "Messages sent to subscribers, by type.", &["type"]),
            subscribers: gauge(&r, "rsu_subscribers", "QUIC subscribers connected."),
            subscriber_drops: counter_vec(
                &r,
                "rsu_subscriber_drops_total",
                "Messages subscribers lost, by reason.",
                &["reason"],
            ),
            refused: counter_vec(&r, "rsu_connections_refused_total", "Connections refused, by reason.", &["reason"]),
            latency_seconds,
            uplink_connected: gauge(&r, "rsu_uplink_connected", "1 when the cloud uplink is connected."),
            uplink_spooled: gauge(&r, "rsu_uplink_spooled_records", "Records waiting for the cloud."),
            uplink_spool_dropped: counter_vec(
                &r,
                "rsu_uplink_spool_dropped_total",
                "Records dropped from a full spool, by kind.",
                &["kind"],
            ),
            uplink_acked: {
                let c = IntCounter::new("rsu_uplink_acked_records_total", "Records the cloud acknowledged.")
                    .expect("valid metric");
                r.register(Box::new(c.clone())).expect("unique metric");
                c
            },
            plan_source,
            controller_state_age_seconds: age,
            registry: r,
        });
        // every known label exists from the start (at 0), so that rates and alerts see the first event
        for reason in [
            "decode",
            "unknown_sensor",
            "queue_full",
            "tcp_connection_limit",
            "from_the_future",
            "too_old",
            "late",
            "flood",
            "invalid",
        ] {
            m.dropped.with_label_values(&[reason]);
        }
        for reason in ["retry", "rate_limit", "capacity", "tls"] {
            m.refused.with_label_values(&[reason]);
        }
        for reason in ["buffer_full", "send_error", "slow_reliable"] {
            m.subscriber_drops.with_label_values(&[reason]);
        }
        for kind in ["tracks", "lane_counts", "health", "event"] {
            m.uplink_spool_dropped.with_label_values(&[kind]);
        }
        for t in crate::protocol::MessageType::ALL {
            m.published.with_label_values(&[t.name()]);
            m.sent.with_label_values(&[t.name()]);
        }
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Serve `GET /metrics` on `listen` until `shutdown` turns true.
pub async fn serve(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { ([("content-type", "text/plain; version=0.0.4")], m.render()) }
        }),
    );
    tokio::spawn(async move {
        let stop = async move {
            let _ = super::stopped(&mut shutdown).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(addr)
}
