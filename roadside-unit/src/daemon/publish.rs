//! The QUIC publisher: accepts subscribers (mutual TLS, per-address rate
//! limit, Retry), serves their control streams (`protocol::Request`) and
//! delivers messages: MAP and RSI on one unidirectional stream each, SPaT and
//! object lists as datagrams.
//!
//! Each message is encoded and signed once per cycle and then handed to every
//! subscriber that wants it.  Datagrams go through quinn's `send_datagram`,
//! which drops the oldest queued datagram when the connection's (small) send
//! buffer is full: a slow or stalled subscriber loses only its own stale
//! messages and the loop never waits for it.  Reliable messages go through a
//! bounded per-subscriber queue drained by that subscriber's own task; a
//! subscriber that lets it fill up is disconnected (it can reconnect and is
//! sent MAP again) rather than silently losing a MAP or an event.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use map_encoder::geo::LocalFrame;
use tokio::sync::{mpsc, watch};

use super::metrics::Metrics;
use crate::protocol::{
    encode_control, Header, LocalFence, MessageType, Request, Response, SubscriptionInfo, MAX_CONTROL_BYTES,
};

/// One encoded message ready to send (header + signed SPDU), shared by all subscribers.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The bytes.
    pub bytes: Bytes,
    /// Its type.
    pub message_type: MessageType,
    /// Positions (local metres) of the objects in it; empty for messages about the whole intersection.
    pub positions: Vec<[f64; 2]>,
    /// The data time in its header (µs since the UNIX epoch), for the latency histogram.
    pub data_time_unix_us: i64,
}

/// Settings of the publisher.
#[derive(Clone)]
pub struct PublishSettings {
    /// The RSU's 1609.2 signing identity (MAP is signed per delivery).
    pub identity: v2x_security::SigningIdentity,
    /// The RSU's id.
    pub rsu_id: String,
    /// MAP region and node id.
    pub intersection: [u16; 2],
    /// The intersection's local frame.
    pub frame: LocalFrame,
    /// Centre and radius (local metres) of the area the intersection's messages concern.
    pub extent: ([f64; 2], f64),
    /// The RSU's periodic rate, Hz.
    pub rate_hz: f64,
    /// Most subscribers.
    pub max_subscribers: usize,
    /// Reliable messages queued per subscriber.
    pub reliable_queue: usize,
    /// New connections per second per source address.
    pub connections_per_s: u32,
    /// Burst of new connections per source address.
    pub connection_burst: u32,
    /// Ask for address validation (Retry) before accepting.
    pub retry: bool,
}

#[derive(Debug, Clone)]
struct Subscription {
    types: BTreeSet<MessageType>,
    fence: LocalFence,
    /// Send every n-th periodic cycle.
    every: u32,
    wants_intersection: bool,
}

impl Subscription {
    /// Whether messages of type `t` about this intersection concern the subscriber.
    fn takes(&self, t: MessageType) -> bool {
        self.types.contains(&t) && self.wants_intersection
    }

    /// Whether a message about objects at `positions` (none: about the whole intersection) falls in
    /// the geofence: at least one of its objects is inside.
    fn covers(&self, positions: &[[f64; 2]]) -> bool {
        positions.is_empty() || positions.iter().any(|p| self.fence.contains(*p))
    }
}

struct Subscriber {
    connection: quinn::Connection,
    subscription: Mutex<Option<Arc<Subscription>>>,
    reliable: mpsc::Sender<Bytes>,
}

impl Subscriber {
    /// The current subscription, if any.
    fn subscription(&self) -> Option<Arc<Subscription>> {
        self.subscription.lock().ok().and_then(|g| g.clone())
    }
}

/// The publisher, shared by the accept loop and the daemon's cycle.
pub struct Publisher {
    settings: PublishSettings,
    subscribers: RwLock<HashMap<u64, Arc<Subscriber>>>,
    next_id: AtomicU64,
    map: RwLock<Option<(u32, Vec<u8>)>>,
    announcement: RwLock<Option<String>>,
    metrics: Arc<Metrics>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Publisher {
    /// A publisher with no subscribers yet.
    pub fn new(settings: PublishSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        let per_s = NonZeroU32::new(settings.connections_per_s.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.connection_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Arc::new(Publisher {
            limiter: RateLimiter::keyed(Quota::per_second(per_s).allow_burst(burst)),
            settings,
            subscribers: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            map: RwLock::new(None),
            announcement: RwLock::new(None),
            metrics,
        })
    }

    /// Subscribers connected now.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.read().map(|s| s.len()).unwrap_or(0)
    }

    fn snapshot(&self) -> Vec<Arc<Subscriber>> {
        self.subscribers.read().map(|s| s.values().cloned().collect()).unwrap_or_default()
    }

    /// Whether any subscriber wants messages of this type now (nothing is built for nobody).
    pub fn wanted(&self, t: MessageType) -> bool {
        self.snapshot().iter().any(|s| s.subscription().is_some_and(|x| x.takes(t)))
    }

    /// The current MAP revision.
    pub fn map_revision(&self) -> u32 {
        self.map.read().ok().and_then(|m| m.as_ref().map(|(r, _)| *r)).unwrap_or(0)
    }

    /// A new MAP revision (the UPER MessageFrame): kept for new subscribers and sent to every
    /// subscriber of MAP now.
    pub fn set_map(&self, revision: u32, uper: Vec<u8>) {
        let Some(message) = self.map_message(revision, &uper) else { return };
        if let Ok(mut m) = self.map.write() {
            *m = Some((revision, uper));
        }
        self.metrics.published.with_label_values(&["map"]).inc();
        for s in self.snapshot() {
            if s.subscription().is_some_and(|x| x.takes(MessageType::Map)) {
                self.enqueue_reliable(&s, message.clone(), MessageType::Map);
            }
        }
    }

    /// The MAP as a message, signed now (with the certificate): each subscriber gets a fresh
    /// signature, so a MAP delivered long after the revision passes the freshness check, and a
    /// vehicle re-subscribing is never handed a copy its replay window already holds.
    fn map_message(&self, revision: u32, uper: &[u8]) -> Option<Bytes> {
        let now = crate::clock::now_unix_us();
        match self.settings.identity.sign(v2x_security::psid::MAP, uper, now, true) {
            Ok(spdu) => {
                let header =
                    Header { message_type: MessageType::Map, part: 0, parts: 1, seq: revision, data_time_unix_us: now };
                Some(message(header, &spdu))
            }
            Err(e) => {
                tracing::error!(error = %e, "MAP not signed; not sent");
                None
            }
        }
    }

    /// The certificate announcement handed to each new subscription (refreshed every second).
    pub fn set_announcement(&self, spdu: &[u8]) {
        use base64::Engine;
        if let Ok(mut a) = self.announcement.write() {
            *a = Some(base64::engine::general_purpose::STANDARD.encode(spdu));
        }
    }

    fn enqueue_reliable(&self, s: &Subscriber, message: Bytes, t: MessageType) {
        match s.reliable.try_send(message) {
            Ok(()) => self.metrics.sent.with_label_values(&[t.name()]).inc(),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.subscriber_drops.with_label_values(&["slow_reliable"]).inc();
                s.connection.close(quinn::VarInt::from_u32(2), b"too slow: reliable queue full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Publish one cycle's datagram messages of one type (`cycle` counts the periodic cycles).
    /// Each subscriber gets the parts with at least one object inside its geofence (messages without
    /// objects: when its geofence reaches the intersection).  Never waits.
    pub fn publish_datagrams(&self, parts: &[Outgoing], cycle: u64) {
        let Some(first) = parts.first() else { return };
        let t = first.message_type;
        self.metrics.published.with_label_values(&[t.name()]).inc_by(parts.len() as u64);
        let now = crate::clock::now_unix_us();
        let sent = self.metrics.sent.with_label_values(&[t.name()]);
        let full = self.metrics.subscriber_drops.with_label_values(&["buffer_full"]);
        let failed = self.metrics.subscriber_drops.with_label_values(&["send_error"]);
        let mut any_sent = false;
        for s in self.snapshot() {
            let Some(sub) = s.subscription() else { continue };
            if !sub.takes(t) || !cycle.is_multiple_of(u64::from(sub.every)) {
                continue;
            }
            for part in parts {
                if !sub.covers(&part.positions) {
                    continue;
                }
                if s.connection.datagram_send_buffer_space() < part.bytes.len() {
                    full.inc();
                }
                match s.connection.send_datagram(part.bytes.clone()) {
                    Ok(()) => {
                        sent.inc();
                        any_sent = true;
                    }
                    Err(e) => {
                        failed.inc();
                        tracing::debug!(error = %e, bytes = part.bytes.len(), "datagram not sent");
                    }
                }
            }
        }
        if any_sent {
            let l = self.metrics.latency_seconds.with_label_values(&[t.name()]);
            for part in parts {
                l.observe((now - part.data_time_unix_us).max(0) as f64 / 1e6);
            }
        }
    }

    /// Publish a reliable message (RSI) to every subscriber of its type whose geofence holds one of its
    /// positions (or reaches the intersection when it has none).
    pub fn publish_reliable(&self, message: &Outgoing) {
        self.metrics.published.with_label_values(&[message.message_type.name()]).inc();
        for s in self.snapshot() {
            let Some(sub) = s.subscription() else { continue };
            if !sub.takes(message.message_type) || !sub.covers(&message.positions) {
                continue;
            }
            self.enqueue_reliable(&s, message.bytes.clone(), message.message_type);
        }
    }

    /// Accept subscribers on `endpoint` until `shutdown`.
    pub async fn serve(self: Arc<Self>, endpoint: quinn::Endpoint, mut shutdown: watch::Receiver<bool>) {
        loop {
            let incoming = tokio::select! {
                i = endpoint.accept() => match i { Some(i) => i, None => return },
                _ = super::stopped(&mut shutdown) => {
                    endpoint.close(quinn::VarInt::from_u32(0), b"rsu shutting down");
                    return;
                }
            };
            let ip = incoming.remote_address().ip();
            if self.settings.retry && !incoming.remote_address_validated() {
                // stateless: proves the address before anything is kept
                if incoming.retry().is_err() {
                    self.metrics.refused.with_label_values(&["retry"]).inc();
                }
                continue;
            }
            if self.limiter.check_key(&ip).is_err() {
                self.metrics.refused.with_label_values(&["rate_limit"]).inc();
                tracing::debug!(%ip, "connection refused: rate limit");
                incoming.refuse();
                continue;
            }
            if self.subscriber_count() >= self.settings.max_subscribers {
                self.metrics.refused.with_label_values(&["capacity"]).inc();
                incoming.refuse();
                continue;
            }
            let me = self.clone();
            let sd = shutdown.clone();
            tokio::spawn(async move {
                let from = incoming.remote_address();
                match incoming.await {
                    Ok(conn) => me.handle(conn, sd).await,
                    Err(e) => {
                        me.metrics.refused.with_label_values(&["tls"]).inc();
                        tracing::debug!(%from, error = %e, "subscriber handshake failed");
                    }
                }
            });
            if self.limiter.len() > 100_000 {
                self.limiter.retain_recent();
            }
        }
    }

    async fn handle(self: Arc<Self>, conn: quinn::Connection, mut shutdown: watch::Receiver<bool>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel::<Bytes>(self.settings.reliable_queue);
        let sub = Arc::new(Subscriber { connection: conn.clone(), subscription: Mutex::new(None), reliable: tx });
        if let Ok(mut s) = self.subscribers.write() {
            s.insert(id, sub.clone());
        }
        self.metrics.subscribers.set(self.subscriber_count() as i64);
        tracing::debug!(id, peer = %conn.remote_address(), "subscriber connected");
        // the subscriber's own writer for reliable messages: one uni stream per message
        let writer_conn = conn.clone();
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let Ok(mut stream) = writer_conn.open_uni().await else { return };
                let _ = stream.set_priority(-1);
                if stream.write_all(&msg).await.is_err() || stream.finish().is_err() {
                    return;
                }
            }
        });
        loop {
            tokio::select! {
                r = conn.accept_bi() => match r {
                    Ok((send, recv)) => {
                        let me = self.clone();
                        let sub = sub.clone();
                        tokio::spawn(async move { me.control(sub, send, recv).await });
                    }
                    Err(_) => break,
                },
                _ = super::stopped(&mut shutdown) => {
                    conn.close(quinn::VarInt::from_u32(0), b"rsu shutting down");
                    break;
                }
            }
        }
        writer.abort();
        if let Ok(mut s) = self.subscribers.write() {
            s.remove(&id);
        }
        self.metrics.subscribers.set(self.subscriber_count() as i64);
        tracing::debug!(id, "subscriber gone");
    }

    async fn control(self: Arc<Self>, sub: Arc<Subscriber>, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
        loop {
            let mut len = [0u8; 4];
            if recv.read_exact(&mut len).await.is_err() {
                return;
            }
            let n = u32::from_be_bytes(len) as usize;
            if n > MAX_CONTROL_BYTES {
                let r = Response {
                    id: 0,
                    ok: false,
                    error: Some(format!("control frame of {n} bytes exceeds {MAX_CONTROL_BYTES}")),
                    info: None,
                };
                let _ = send.write_all(&encode_control(&r)).await;
                let _ = send.finish();
                return;
            }
            let mut body = vec![0u8; n];
            if recv.read_exact(&mut body).await.is_err() {
                return;
            }
            let response = match serde_json::from_slice::<Request>(&body) {
                Ok(req) => self.apply(&sub, req),
                Err(e) => Response { id: 0, ok: false, error: Some(format!("not a valid request: {e}")), info: None },
            };
            if send.write_all(&encode_control(&response)).await.is_err() {
                return;
            }
        }
    }

    fn info(&self, sub: &Subscriber, rate_hz: f64) -> SubscriptionInfo {
        SubscriptionInfo {
            rsu_id: self.settings.rsu_id.clone(),
            intersection: self.settings.intersection,
            map_revision: self.map_revision(),
            rate_hz,
            max_datagram_bytes: sub.connection.max_datagram_size().unwrap_or(0),
            time_unix_us: crate::clock::now_unix_us(),
            certificate_spdu: self.announcement.read().ok().and_then(|a| a.clone()),
        }
    }

    fn apply(&self, sub: &Subscriber, req: Request) -> Response {
        match req {
            Request::Subscribe { id, types, geofence, rate_hz, have_map_revision } => {
                if types.is_empty() {
                    return Response { id, ok: false, error: Some("types is empty".into()), info: None };
                }
                let fence = match &geofence {
                    Some(g) => match g.validate() {
                        Ok(()) => g.to_local(&self.settings.frame),
                        Err(e) => return Response { id, ok: false, error: Some(e), info: None },
                    },
                    None => LocalFence::All,
                };
                let rsu_rate = self.settings.rate_hz;
                let wanted = rate_hz.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(rsu_rate).min(rsu_rate);
                let every = (rsu_rate / wanted).round().max(1.0) as u32;
                let (c, r) = self.settings.extent;
                let wants_intersection = fence.touches_disc(c, r);
                let types: BTreeSet<MessageType> = types.into_iter().collect();
                let wants_map = types.contains(&MessageType::Map) && wants_intersection;
                if let Ok(mut g) = sub.subscription.lock() {
                    *g = Some(Arc::new(Subscription { types, fence, every, wants_intersection }));
                }
                if wants_map {
                    let map = self.map.read().ok().and_then(|m| m.clone());
                    if let Some((rev, uper)) = map {
                        if have_map_revision != Some(rev) {
                            if let Some(m) = self.map_message(rev, &uper) {
                                self.enqueue_reliable(sub, m, MessageType::Map);
                            }
                        }
                    }
                }
                Response { id, ok: true, error: None, info: Some(self.info(sub, rsu_rate / f64::from(every))) }
            }
            Request::Unsubscribe { id } => {
                if let Ok(mut g) = sub.subscription.lock() {
                    *g = None;
                }
                Response { id, ok: true, error: None, info: None }
            }
            Request::Ping { id } => Response { id, ok: true, error: None, info: Some(self.info(sub, 0.0)) },
        }
    }
}

/// Encode one message: header then body.
pub fn message(header: Header, body: &[u8]) -> Bytes {
    Bytes::from(header.to_message(body))
}

/// Bind the publisher's endpoint.
pub fn endpoint(config: quinn::ServerConfig, listen: SocketAddr) -> std::io::Result<quinn::Endpoint> {
    crate::tls::endpoint(listen, Some(config), 4 << 20)
}
