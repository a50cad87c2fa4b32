//! Sensor ingest over the network: ZSI/1 frames on UDP (one per datagram) and
//! TCP (each preceded by its `u32` little-endian length), decoded and placed in
//! one bounded queue per sensor.  A full queue drops that sensor's oldest frame
//! (sensor data is latest-wins), so a flooding sensor only loses its own
//! frames and never starves the others; the fusion loop drains the queues
//! round-robin.  Malformed input is counted and logged, never fatal.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{watch, Notify, Semaphore};

use super::metrics::Metrics;
use crate::clock::now_unix_us;
use crate::ingest::{decode_frame, SensorFrame, MAX_FRAME_BYTES};

/// A frame and when it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The decoded frame.
    pub frame: SensorFrame,
    /// Arrival time, µs since the UNIX epoch (RSU clock).
    pub received_unix_us: i64,
}

/// One bounded queue per configured sensor.
pub struct SensorQueues {
    queues: HashMap<u32, Mutex<VecDeque<Arrival>>>,
    order: Vec<u32>,
    capacity: usize,
    /// Signalled when a frame was queued.
    pub notify: Notify,
    metrics: Arc<Metrics>,
}

impl SensorQueues {
    /// Queues for these sensor ids, `capacity` frames each.
    pub fn new(sensor_ids: &[u32], capacity: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(SensorQueues {
            queues: sensor_ids.iter().map(|id| (*id, Mutex::new(VecDeque::with_capacity(capacity)))).collect(),
            order: sensor_ids.to_vec(),
            capacity,
            notify: Notify::new(),
            metrics,
        })
    }

    /// Decode and queue one frame's bytes from `from`.
    pub fn offer(&self, bytes: &[u8], from: SocketAddr) {
        let frame = match decode_frame(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.metrics.dropped.with_label_values(&["decode"]).inc();
                tracing::debug!(%from, error = %e, "malformed sensor frame dropped");
                return;
            }
        };
        let Some(q) = self.queues.get(&frame.sensor_id) else {
            self.metrics.dropped.with_label_values(&["unknown_sensor"]).inc();
            tracing::debug!(%from, sensor = frame.sensor_id, "frame from an unconfigured sensor dropped");
            return;
        };
        let id = frame.sensor_id.to_string();
        self.metrics.frames.with_label_values(&[&id]).inc();
        self.metrics.detections.with_label_values(&[&id]).inc_by(frame.detections.len() as u64);
        let arrival = Arrival { frame, received_unix_us: now_unix_us() };
        {
            let Ok(mut q) = q.lock() else { return };
            if q.len() >= self.capacity {
                q.pop_front();
                self.metrics.dropped.with_label_values(&["queue_full"]).inc();
            }
            q.push_back(arrival);
        }
        self.notify.notify_one();
    }

    /// Take up to `per_sensor` frames from each queue, visiting sensors in turn.
    pub fn drain(&self, per_sensor: usize) -> Vec<Arrival> {
        let mut out = Vec::new();
        for id in &self.order {
            if let Some(q) = self.queues.get(id) {
                if let Ok(mut q) = q.lock() {
                    let n = q.len().min(per_sensor);
                    out.extend(q.drain(..n));
                }
            }
        }
        out
    }
}

/// Receive UDP frames until shutdown.
pub async fn udp(socket: UdpSocket, queues: Arc<SensorQueues>, mut shutdown: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_FRAME_BYTES + 1];
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => queues.offer(&buf[..n], from),
                Err(e) => tracing::debug!(error = %e, "UDP ingest receive error"),
            },
            _ = super::stopped(&mut shutdown) => return,
        }
    }
}

/// Accept TCP sensor connections until shutdown (at most `max_connections` at once).
pub async fn tcp(
    listener: TcpListener,
    queues: Arc<SensorQueues>,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        queues.metrics.dropped.with_label_values(&["tcp_connection_limit"]).inc();
                        tracing::warn!(%from, "sensor TCP connection refused: connection limit reached");
                        continue;
                    };
                    let q = queues.clone();
                    let sd = for_connections.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        tcp_connection(stream, from, q, sd).await;
                    });
                }
                Err(e) => tracing::debug!(error = %e, "TCP ingest accept error"),
            },
            _ = super::stopped(&mut shutdown) => return,
        }
    }
}

async fn tcp_connection(
    mut stream: tokio::net::TcpStream,
    from: SocketAddr,
    queues: Arc<SensorQueues>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    loop {
        let mut len = [0u8; 4];
        tokio::select! {
            r = stream.read_exact(&mut len) => if r.is_err() { return },
            _ = super::stopped(&mut shutdown) => return,
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_FRAME_BYTES {
            queues.metrics.dropped.with_label_values(&["decode"]).inc();
            tracing::warn!(%from, length = n, "sensor TCP stream closed: frame length exceeds {MAX_FRAME_BYTES} bytes");
            return;
        }
        if stream.read_exact(&mut buf[..n]).await.is_err() {
            return;
        }
        queues.offer(&buf[..n], from);
    }
}
