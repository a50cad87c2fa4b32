//! The RSU's cloud uplink (`zhilu-uplink/1`, see the `uplink` crate): a QUIC
//! client that registers the RSU, sends the spooled records and heartbeats,
//! receives acknowledgements, map revisions and signal plans, and reconnects
//! with exponential backoff.  Records are made by the daemon through
//! [`UplinkHandle::record`] whether or not the cloud is reachable; they stay
//! in the on-disk spool until acknowledged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use uplink::{Down, FrameReader, IntersectionRef, RecordBody, Up};

use super::metrics::Metrics;
use super::spool::Spool;

/// Where the uplink connects and who it says it is.
#[derive(Clone)]
pub struct UplinkSettings {
    /// cloud-control's address.
    pub address: SocketAddr,
    /// The name on its certificate.
    pub server_name: String,
    /// The QUIC client configuration (mutual TLS with the RSU's certificate).
    pub client: quinn::ClientConfig,
    /// The RSU id.
    pub rsu_id: String,
    /// The intersection.
    pub intersection: IntersectionRef,
    /// Longest backoff.
    pub max_backoff: Duration,
}

/// The daemon's handle: make records, watch the link.
#[derive(Clone)]
pub struct UplinkHandle {
    spool: Arc<Mutex<Spool>>,
    new_record: Arc<Notify>,
    metrics: Arc<Metrics>,
    map_revision: Arc<std::sync::atomic::AtomicU32>,
}

impl UplinkHandle {
    /// Keep a record for the cloud.  Never blocks on the network.
    pub fn record(&self, time_unix_ms: i64, body: RecordBody) {
        let Ok(mut s) = self.spool.lock() else { return };
        let before: Vec<(&str, u64)> = s.dropped.clone();
        if let Err(e) = s.append(time_unix_ms, body) {
            tracing::error!(error = %e, "uplink spool write failed: the record is kept in memory only and is lost if the RSU restarts before the cloud acknowledges it");
        }
        for (k, n) in s.dropped.iter().skip(before.len()) {
            self.metrics.uplink_spool_dropped.with_label_values(&[k]).inc_by(*n);
        }
        self.metrics.uplink_spooled.set(s.len() as i64);
        drop(s);
        self.new_record.notify_one();
    }

    /// Records waiting for acknowledgement.
    pub fn spooled(&self) -> usize {
        self.spool.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Tell the uplink which MAP revision is published (sent at the next registration).
    pub fn set_map_revision(&self, revision: u32) {
        self.map_revision.store(revision, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Start the uplink: returns the handle and the receiver of what the cloud sends down
/// (map revisions, signal plans).
pub fn start(
    settings: UplinkSettings,
    spool: Spool,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(UplinkHandle, mpsc::Receiver<Down>)> {
    let handle = UplinkHandle {
        spool: Arc::new(Mutex::new(spool)),
        new_record: Arc::new(Notify::new()),
        metrics,
        map_revision: Arc::new(std::sync::atomic::AtomicU32::new(0)),
    };
    let (down_tx, down_rx) = mpsc::channel(16);
    let bind: SocketAddr =
        if settings.address.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(std::io::Error::other)?;
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(settings.client.clone());
    let h = handle.clone();
    tokio::spawn(run(settings, endpoint, h, down_tx, shutdown));
    Ok((handle, down_rx))
}

async fn run(
    settings: UplinkSettings,
    endpoint: quinn::Endpoint,
    h: UplinkHandle,
    down: mpsc::Sender<Down>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let attempt = session(&settings, &endpoint, &h, &down, &mut shutdown).await;
        let was_registered = h.metrics.uplink_connected.get() == 1;
        h.metrics.uplink_connected.set(0);
        let stopping = *shutdown.borrow();
        if stopping {
            endpoint.close(quinn::VarInt::from_u32(0), b"rsu shutting down");
            return;
        }
        if was_registered {
            // a session that worked starts the backoff over
            backoff = Duration::from_millis(250);
        }
        if let Err(e) = attempt {
            tracing::debug!(error = %e, address = %settings.address, "uplink: no session");
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = super::stopped(&mut shutdown) => { endpoint.close(quinn::VarInt::from_u32(0), b"rsu shutting down"); return; }
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

async fn session(
    settings: &UplinkSettings,
    endpoint: &quinn::Endpoint,
    h: &UplinkHandle,
    down: &mpsc::Sender<Down>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let conn = endpoint
        .connect(settings.address, &settings.server_name)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let register = Up::Register {
        rsu_id: settings.rsu_id.clone(),
        intersection: settings.intersection.clone(),
        map_revision: h.map_revision.load(std::sync::atomic::Ordering::Relaxed),
        software: format!("rsu {}", env!("CARGO_PKG_VERSION")),
    };
    write(&mut send, &register).await?;
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    // wait for Registered
    let acked = loop {
        if let Some(m) = reader.next_message::<Down>().map_err(|e| e.to_string())? {
            match m {
                Down::Registered { acked_seq } => break acked_seq,
                Down::Refused { reason } => {
                    tracing::error!(%reason, "cloud-control refused this RSU");
                    return Err(format!("refused: {reason}"));
                }
                other => tracing::debug!(?other, "uplink: message before registration ignored"),
            }
            continue;
        }
        match recv.read(&mut buf).await.map_err(|e| e.to_string())? {
            Some(n) => reader.feed(&buf[..n]),
            None => return Err("cloud closed the stream before registering".into()),
        }
    };
    if let Ok(mut s) = h.spool.lock() {
        s.ensure_after(acked);
    }
    ack(h, acked);
    h.metrics.uplink_connected.set(1);
    tracing::info!(address = %settings.address, acked, "uplink registered");
    let mut sent_upto = acked;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(5));
    loop {
        // send what waits (in order, beyond what was sent on this connection)
        let pending: Vec<_> =
            h.spool.lock().map(|s| s.after(sent_upto).take(256).cloned().collect()).unwrap_or_default();
        if let Some(last) = pending.last() {
            let last = last.seq;
            for r in pending {
                write(&mut send, &Up::Record(r)).await?;
            }
            sent_upto = last;
            continue;
        }
        tokio::select! {
            _ = h.new_record.notified() => {}
            _ = heartbeat.tick() => {
                let t = crate::clock::now_unix_us() / 1000;
                write(&mut send, &Up::Heartbeat { time_unix_ms: t }).await?;
            }
            r = recv.read(&mut buf) => match r.map_err(|e| e.to_string())? {
                Some(n) => {
                    reader.feed(&buf[..n]);
                    while let Some(m) = reader.next_message::<Down>().map_err(|e| e.to_string())? {
                        match m {
                            Down::Ack { upto_seq } => ack(h, upto_seq),
                            Down::Refused { reason } => return Err(format!("refused: {reason}")),
                            Down::Registered { .. } => {}
                            other => { let _ = down.send(other).await; }
                        }
                    }
                }
                None => return Err("cloud closed the uplink stream".into()),
            },
            _ = super::stopped(shutdown) => {
                let _ = send.finish();
                conn.close(quinn::VarInt::from_u32(0), b"rsu shutting down");
                return Ok(());
            }
        }
    }
}

fn ack(h: &UplinkHandle, seq: u64) {
    if let Ok(mut s) = h.spool.lock() {
        match s.ack(seq) {
            Ok(n) => h.metrics.uplink_acked.inc_by(n as u64),
            Err(e) => tracing::error!(error = %e, "uplink spool: acknowledgement not persisted"),
        }
        h.metrics.uplink_spooled.set(s.len() as i64);
    }
}

async fn write(send: &mut quinn::SendStream, m: &Up) -> Result<(), String> {
    let bytes = uplink::encode(m).map_err(|e| e.to_string())?;
    send.write_all(&bytes).await.map_err(|e| e.to_string())
}
