//! The vehicle-side client of `zhilu-v2x/1`: connects to an RSU over QUIC with
//! a client certificate, subscribes, and yields every received message
//! verified (1609.2 signature, certificate chain to a trusted root, PSID,
//! freshness, replay) and decoded (UPER CSAE MessageFrame), with its receive
//! latency.  Messages that fail verification are returned as errors, never
//! as messages, so a caller cannot use a forged one by mistake.
//!
//! Reconnecting reuses the endpoint's TLS session cache: the re-subscribe then
//! travels as 0-RTT data (it is idempotent, so replaying it is harmless).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use map_encoder::csae::{decode_frame, MessageFrame};
use tokio::sync::mpsc;
use v2x_security::{psid, Certificate, Verified, Verifier, VerifierConfig};

use crate::clock::now_unix_us;
use crate::protocol::{encode_control, Header, MessageType, Request, Response, ALPN, MAX_CONTROL_BYTES};

/// Everything a client needs to connect.
#[derive(Clone)]
pub struct ClientSettings {
    /// The RSU's QUIC address.
    pub server: SocketAddr,
    /// The name on the RSU's certificate.
    pub server_name: String,
    /// QUIC client configuration (trusted CA, client certificate).
    pub quic: quinn::ClientConfig,
    /// 1609.2 trust anchors (signing roots).
    pub trust_anchors: Vec<Certificate>,
    /// Verifier limits.
    pub verifier: VerifierConfig,
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Files or TLS set-up.
    #[error("{0}")]
    Setup(String),
    /// Connecting failed.
    #[error("connecting to {address}: {message}")]
    Connect {
        /// Where.
        address: SocketAddr,
        /// Why.
        message: String,
    },
    /// The RSU refused a request.
    #[error("the RSU refused the request: {0}")]
    Refused(String),
    /// The control stream broke.
    #[error("control stream: {0}")]
    Control(String),
    /// The connection ended.
    #[error("connection closed: {0}")]
    Closed(String),
}

/// Why a received message was rejected.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The header is malformed.
    #[error("header: {0}")]
    Header(#[from] crate::protocol::HeaderError),
    /// Signature, certificate, PSID, freshness or replay check failed.
    #[error("verification: {0}")]
    Verify(#[from] v2x_security::VerifyError),
    /// The PSID does not belong to the message type of the header.
    #[error("PSID {psid} does not match message type {message_type:?}")]
    Psid {
        /// The SPDU's PSID.
        psid: u64,
        /// The header's type.
        message_type: MessageType,
    },
    /// The payload is not a valid MessageFrame.
    #[error("payload does not decode: {0}")]
    Decode(String),
    /// The payload is another message than the header says.
    #[error("header says {0:?} but the payload is another message")]
    Mismatch(MessageType),
}

/// How a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A QUIC datagram.
    Datagram,
    /// A unidirectional stream.
    Stream,
}

/// A verified, decoded message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its header.
    pub header: Header,
    /// What the signature check established.
    pub verified: Verified,
    /// The decoded MessageFrame.
    pub frame: MessageFrame,
    /// How it arrived.
    pub via: Via,
    /// When it arrived, µs since the UNIX epoch.
    pub received_unix_us: i64,
    /// Arrival minus the header's data time, µs (sensor capture to arrival for object lists).
    pub latency_us: i64,
    /// The message as received (header + SPDU), e.g. to relay it.
    pub raw: Bytes,
}

/// The PSID a message type must carry.
pub fn psid_of(t: MessageType) -> u64 {
    match t {
        MessageType::Map => psid::MAP,
        MessageType::Spat => psid::SPAT,
        MessageType::Rsm => psid::RSM,
        MessageType::Ssm => psid::SSM,
        MessageType::Rsi => psid::RSI,
    }
}

impl ClientSettings {
    /// From PEM files: the CA that issued the RSU's TLS certificate, the client's certificate and key,
    /// and the 1609.2 signing root(s).
    pub fn from_files(
        server: SocketAddr,
        server_name: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
        signing_roots: &Path,
    ) -> Result<Self, ClientError> {
        let s = |e: &dyn std::fmt::Display| ClientError::Setup(e.to_string());
        let ca = crate::tls::load_certs(ca).map_err(|e| s(&e))?;
        let cert = crate::tls::load_certs(cert).map_err(|e| s(&e))?;
        let key = crate::tls::load_key(key).map_err(|e| s(&e))?;
        let quic = crate::tls::client_config(&ca, cert, key, ALPN, &client_transport()).map_err(|e| s(&e))?;
        let text = std::fs::read_to_string(signing_roots)
            .map_err(|e| ClientError::Setup(format!("{}: {e}", signing_roots.display())))?;
        let trust_anchors = Certificate::all_from_pem(&text)
            .map_err(|e| ClientError::Setup(format!("{}: {e}", signing_roots.display())))?;
        if trust_anchors.is_empty() {
            return Err(ClientError::Setup(format!("{}: no 1609.2 certificate", signing_roots.display())));
        }
        Ok(ClientSettings {
            server,
            server_name: server_name.into(),
            quic,
            trust_anchors,
            verifier: VerifierConfig::default(),
        })
    }
}

/// The transport a vehicle uses: keep-alive 2 s, idle timeout 10 s (vehicles pass through), enough
/// unidirectional streams for MAP and RSI bursts.
pub fn client_transport() -> crate::tls::Transport {
    crate::tls::Transport {
        keep_alive: Some(Duration::from_secs(2)),
        idle_timeout: Duration::from_secs(10),
        datagram_send_buffer: 16 * 1024,
        datagram_receive_buffer: Some(1 << 20),
        max_bi_streams: 0,
        max_uni_streams: 64,
    }
}

/// A connected, subscribing client.
pub struct Client {
    endpoint: quinn::Endpoint,
    settings: ClientSettings,
    connection: quinn::Connection,
    control: (quinn::SendStream, quinn::RecvStream),
    incoming: mpsc::Receiver<(Bytes, Via, i64)>,
    verifier: Verifier,
    next_id: u32,
    last_subscribe: Option<Request>,
    /// Whether the last connection's subscribe went as 0-RTT data.
    pub zero_rtt: bool,
}

impl Client {
    /// Connect (a fresh endpoint on an ephemeral port).
    pub async fn connect(settings: ClientSettings) -> Result<Self, ClientError> {
        let bind: SocketAddr = if settings.server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }
            .parse()
            .map_err(|e: std::net::AddrParseError| ClientError::Setup(e.to_string()))?;
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| ClientError::Setup(e.to_string()))?;
        endpoint.set_default_client_config(settings.quic.clone());
        let (connection, _) = dial(&endpoint, &settings, false).await?;
        Self::attach(endpoint, settings, connection, false).await
    }

    async fn attach(
        endpoint: quinn::Endpoint,
        settings: ClientSettings,
        connection: quinn::Connection,
        zero_rtt: bool,
    ) -> Result<Self, ClientError> {
        let control = connection.open_bi().await.map_err(|e| ClientError::Closed(e.to_string()))?;
        let (tx, rx) = mpsc::channel(4096);
        spawn_readers(connection.clone(), tx);
        let verifier = Verifier::new(settings.trust_anchors.clone(), settings.verifier);
        Ok(Client {
            endpoint,
            settings,
            connection,
            control,
            incoming: rx,
            verifier,
            next_id: 1,
            last_subscribe: None,
            zero_rtt,
        })
    }

    /// The QUIC connection (statistics, RTT).
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Send a request and wait for its response.
    pub async fn request(&mut self, mut req: Request) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        match &mut req {
            Request::Subscribe { id: i, .. } | Request::Unsubscribe { id: i } | Request::Ping { id: i } => *i = id,
        }
        if matches!(req, Request::Subscribe { .. }) {
            self.last_subscribe = Some(req.clone());
        }
        let (send, recv) = &mut self.control;
        send.write_all(&encode_control(&req)).await.map_err(|e| ClientError::Control(e.to_string()))?;
        let mut len = [0u8; 4];
        recv.read_exact(&mut len).await.map_err(|e| ClientError::Control(e.to_string()))?;
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_CONTROL_BYTES {
            return Err(ClientError::Control(format!("response of {n} bytes")));
        }
        let mut body = vec![0u8; n];
        recv.read_exact(&mut body).await.map_err(|e| ClientError::Control(e.to_string()))?;
        let r: Response = serde_json::from_slice(&body).map_err(|e| ClientError::Control(e.to_string()))?;
        if !r.ok {
            return Err(ClientError::Refused(r.error.unwrap_or_default()));
        }
        if let Some(a) = r.info.as_ref().and_then(|i| i.certificate_spdu.as_ref()) {
            use base64::Engine;
            // learn the RSU's signing certificate; it is validated like any signed message
            if let Ok(spdu) = base64::engine::general_purpose::STANDARD.decode(a) {
                if let Err(e) = self.verifier.verify(&spdu, now_unix_us()) {
                    tracing::debug!(error = %e, "certificate announcement not accepted");
                }
            }
        }
        Ok(r)
    }

    /// Subscribe (see [`Request::Subscribe`]).
    pub async fn subscribe(&mut self, req: Request) -> Result<Response, ClientError> {
        self.request(req).await
    }

    /// The next message: `Ok(Some)` a verified one, `Err` one that failed a check (the caller decides
    /// whether to log it), `Ok(None)` when the connection has ended.
    pub async fn next(&mut self) -> Result<Option<Received>, MessageError> {
        let Some((bytes, via, received_unix_us)) = self.incoming.recv().await else { return Ok(None) };
        self.check(&bytes, via, received_unix_us).map(Some)
    }

    /// Like [`Client::next`] with a deadline: `Ok(None)` also when nothing arrived in time.
    pub async fn next_within(&mut self, d: Duration) -> Result<Option<Received>, MessageError> {
        match tokio::time::timeout(d, self.next()).await {
            Ok(r) => r,
            Err(_) => Ok(None),
        }
    }

    /// Verify and decode raw message bytes as received.
    pub fn check(&mut self, bytes: &[u8], via: Via, received_unix_us: i64) -> Result<Received, MessageError> {
        let (header, spdu) = Header::parse(bytes)?;
        let verified = self.verifier.verify(spdu, received_unix_us)?;
        if verified.psid != psid_of(header.message_type) {
            return Err(MessageError::Psid { psid: verified.psid, message_type: header.message_type });
        }
        let frame = decode_frame(&verified.payload).map_err(|e| MessageError::Decode(e.to_string()))?;
        let matches = matches!(
            (&frame, header.message_type),
            (MessageFrame::MapFrame(_), MessageType::Map)
                | (MessageFrame::SpatFrame(_), MessageType::Spat)
                | (MessageFrame::RsmFrame(_), MessageType::Rsm)
                | (MessageFrame::RsiFrame(_), MessageType::Rsi)
                | (
                    MessageFrame::MsgFrameExt(map_encoder::csae::MessageFrameExt::SensorSharingMsg(_)),
                    MessageType::Ssm
                )
        );
        if !matches {
            return Err(MessageError::Mismatch(header.message_type));
        }
        Ok(Received {
            header,
            verified,
            frame,
            via,
            received_unix_us,
            latency_us: received_unix_us - header.data_time_unix_us,
            raw: Bytes::copy_from_slice(bytes),
        })
    }

    /// Reconnect to the same RSU and send the last subscription again, as 0-RTT data when the TLS
    /// session allows it.  The verifier (its certificate cache and replay window) is kept.
    pub async fn reconnect(&mut self) -> Result<Response, ClientError> {
        let (connection, accepted) = dial(&self.endpoint, &self.settings, true).await?;
        let control = connection.open_bi().await.map_err(|e| ClientError::Closed(e.to_string()))?;
        let (tx, rx) = mpsc::channel(4096);
        spawn_readers(connection.clone(), tx);
        self.connection = connection;
        self.control = control;
        self.incoming = rx;
        self.zero_rtt = accepted.is_some();
        let req = self.last_subscribe.clone().unwrap_or(Request::Ping { id: 0 });
        let first = self.request(req.clone()).await;
        let Err(e) = first else { return first };
        let rejected = match accepted {
            Some(a) => !a.await,
            None => false,
        };
        if !rejected {
            return Err(e);
        }
        // the server refused the early data (e.g. it restarted and lost its session tickets): the
        // connection went on in 1-RTT, the request must be sent again
        self.zero_rtt = false;
        self.control = self.connection.open_bi().await.map_err(|e| ClientError::Closed(e.to_string()))?;
        self.request(req).await
    }

    /// Close the connection politely.
    pub async fn close(self) {
        self.connection.close(quinn::VarInt::from_u32(0), b"bye");
        self.endpoint.wait_idle().await;
    }
}

/// Connect; with `try_0rtt` and a resumable session, the connection is usable at once (0-RTT) and the
/// second value resolves to whether the server accepted the early data.
async fn dial(
    endpoint: &quinn::Endpoint,
    settings: &ClientSettings,
    try_0rtt: bool,
) -> Result<(quinn::Connection, Option<quinn::ZeroRttAccepted>), ClientError> {
    let err = |m: String| ClientError::Connect { address: settings.server, message: m };
    let connecting = endpoint.connect(settings.server, &settings.server_name).map_err(|e| err(e.to_string()))?;
    if try_0rtt {
        match connecting.into_0rtt() {
            Ok((conn, accepted)) => return Ok((conn, Some(accepted))),
            Err(connecting) => return connecting.await.map(|c| (c, None)).map_err(|e| err(e.to_string())),
        }
    }
    connecting.await.map(|c| (c, None)).map_err(|e| err(e.to_string()))
}

fn spawn_readers(conn: quinn::Connection, tx: mpsc::Sender<(Bytes, Via, i64)>) {
    let c = conn.clone();
    let t = tx.clone();
    tokio::spawn(async move {
        while let Ok(d) = c.read_datagram().await {
            // a full queue means the application does not keep up: drop the newest (it is periodic)
            let _ = t.try_send((d, Via::Datagram, now_unix_us()));
        }
    });
    tokio::spawn(async move {
        while let Ok(mut s) = conn.accept_uni().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(b) = s.read_to_end(1 << 20).await {
                    let _ = tx.send((Bytes::from(b), Via::Stream, now_unix_us())).await;
                }
            });
        }
    });
}
