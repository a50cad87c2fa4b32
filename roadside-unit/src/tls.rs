//! TLS 1.3 and QUIC transport settings shared by the RSU's publisher, its
//! cloud uplink client and the vehicle-side client library: certificate
//! loading (PEM), mutual TLS, ALPN, keep-alive and idle timeouts, datagram
//! buffers.  Congestion control stays quinn's default (Cubic): its BBR is
//! experimental and lost half the datagrams at saturation in our measurements.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What was missing.
        what: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io { path: path.display().to_string(), source })
}

/// All certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut bytes.as_slice()).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::Pem { path: path.display().to_string(), what: "no CERTIFICATE block".into() });
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::Pem { path: path.display().to_string(), what: "no PRIVATE KEY block".into() })
}

fn roots(ca: &[CertificateDer<'static>]) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for c in ca {
        store.add(c.clone()).map_err(|e| TlsError::Rustls(format!("trust anchor: {e}")))?;
    }
    Ok(store)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Transport limits for one side.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Keep-alive interval (None: off).
    pub keep_alive: Option<Duration>,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Datagram send buffer, bytes.
    pub datagram_send_buffer: usize,
    /// Datagram receive buffer, bytes (None: the peer may not send datagrams).
    pub datagram_receive_buffer: Option<usize>,
    /// Bidirectional streams the peer may open.
    pub max_bi_streams: u32,
    /// Unidirectional streams the peer may open.
    pub max_uni_streams: u32,
}

impl Transport {
    fn build(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        t.keep_alive_interval(self.keep_alive);
        if let Ok(idle) = quinn::IdleTimeout::try_from(self.idle_timeout) {
            t.max_idle_timeout(Some(idle));
        }
        t.datagram_send_buffer_size(self.datagram_send_buffer);
        t.datagram_receive_buffer_size(self.datagram_receive_buffer);
        t.max_concurrent_bidi_streams(self.max_bi_streams.into());
        t.max_concurrent_uni_streams(self.max_uni_streams.into());
        t
    }
}

/// A QUIC server configuration: `cert`/`key` for the server, clients must present a certificate issued
/// by one of `client_ca` (mutual TLS), ALPN `alpn`.
pub fn server_config(
    cert: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: &[CertificateDer<'static>],
    alpn: &[u8],
    transport: &Transport,
) -> Result<quinn::ServerConfig, TlsError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(client_ca)?), provider())
        .build()
        .map_err(|e| TlsError::Rustls(format!("client verifier: {e}")))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert, key)
        .map_err(|e| TlsError::Rustls(format!("server certificate: {e}")))?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    // 0-RTT: accepted by the TLS layer.  Every request of zhilu-v2x/1 (subscribe, unsubscribe, ping) is
    // idempotent, so replaying one is harmless; a future non-idempotent request must check that the
    // handshake has completed before acting on it.
    tls.max_early_data_size = u32::MAX;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Rustls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport.build()));
    Ok(config)
}

/// A QUIC client configuration trusting `server_ca`, presenting `cert`/`key`, offering `alpn`,
/// with session resumption and 0-RTT enabled.
pub fn client_config(
    server_ca: &[CertificateDer<'static>],
    cert: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[u8],
    transport: &Transport,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots(server_ca)?)
        .with_client_auth_cert(cert, key)
        .map_err(|e| TlsError::Rustls(format!("client certificate: {e}")))?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.enable_early_data = true;
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Rustls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport.build()));
    Ok(config)
}

/// A UDP socket for a QUIC endpoint with large kernel buffers (capped by the kernel's
/// `net.core.rmem_max`/`wmem_max`): a burst of handshakes, e.g. a thousand vehicles connecting at once,
/// must not overflow the default ~200 KiB receive buffer and lose Initial packets.
pub fn udp_socket(addr: std::net::SocketAddr, buffer_bytes: usize) -> std::io::Result<std::net::UdpSocket> {
    let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(buffer_bytes);
    let _ = s.set_send_buffer_size(buffer_bytes);
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// A QUIC endpoint on [`udp_socket`]: a server when `server` is given, else a client.
pub fn endpoint(
    addr: std::net::SocketAddr,
    server: Option<quinn::ServerConfig>,
    buffer_bytes: usize,
) -> std::io::Result<quinn::Endpoint> {
    let socket = udp_socket(addr, buffer_bytes)?;
    let runtime =
        quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime for the QUIC endpoint"))?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), server, socket, runtime)
}
