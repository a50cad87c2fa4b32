//! The subscription protocol `zhilu-v2x/1` between an RSU and the vehicles
//! subscribing to it over QUIC (specified in `docs/protocol.md`): the message
//! header that prefixes every published message, the control requests and
//! responses, and geofences.
//!
//! Pure: encoding and decoding only; the QUIC shells are in `daemon::publish`
//! (server) and `client` (vehicle side).  Decoding untrusted bytes never panics.

use map_encoder::geo::{LatLon, LocalFrame};
use serde::{Deserialize, Serialize};

/// ALPN id of the subscription protocol, version 1.
pub const ALPN: &[u8] = b"zhilu-v2x/1";

/// Header version carried in byte 0 of every message.
pub const HEADER_VERSION: u8 = 1;

/// Bytes of the message header.
pub const HEADER_BYTES: usize = 16;

/// The largest control frame (request or response) either side accepts.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;

/// The message types an RSU publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// MapData: on a unidirectional stream, once per revision.
    Map = 1,
    /// SPaT: datagrams at the configured rate.
    Spat = 2,
    /// Roadside safety message (CSAE 53 RSM, ≤ 16 participants each): datagrams.
    Rsm = 3,
    /// Sensor-sharing message (CSAE 157 SSM): datagrams.
    Ssm = 4,
    /// Roadside information (events): on a unidirectional stream per change.
    Rsi = 5,
}

impl MessageType {
    /// All types.
    pub const ALL: [MessageType; 5] = [Self::Map, Self::Spat, Self::Rsm, Self::Ssm, Self::Rsi];

    /// From the header byte.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| *t as u8 == code)
    }

    /// Whether it travels as a datagram (latest wins) rather than on a stream (must arrive).
    pub fn is_datagram(self) -> bool {
        matches!(self, Self::Spat | Self::Rsm | Self::Ssm)
    }

    /// Lower-case name, as in requests and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Map => "map",
            Self::Spat => "spat",
            Self::Rsm => "rsm",
            Self::Ssm => "ssm",
            Self::Rsi => "rsi",
        }
    }
}

/// The 16-byte header before every published message's body (a signed SPDU, see `docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message type.
    pub message_type: MessageType,
    /// Part index (0-based) of a message split over several datagrams.
    pub part: u8,
    /// Number of parts of this message (1 when whole).
    pub parts: u8,
    /// Sequence number per message type; every part of one message has the same.
    /// For MAP: the map revision.
    pub seq: u32,
    /// The time of the data in the message, µs since the UNIX epoch: for object lists the capture time
    /// of the newest sensor frame fused into them, for SPaT the controller state's time, otherwise the
    /// generation time.  Used to measure latency end to end.
    pub data_time_unix_us: i64,
}

/// What is wrong with a received message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than [`HEADER_BYTES`] bytes.
    #[error("message of {0} bytes is shorter than the {HEADER_BYTES}-byte header")]
    Short(usize),
    /// Unknown header version.
    #[error("header version {0} is not supported (expected {HEADER_VERSION})")]
    Version(u8),
    /// Unknown message type code.
    #[error("unknown message type code {0}")]
    Type(u8),
    /// Part index not below the part count.
    #[error("part {part} of {parts} is out of range")]
    Part {
        /// index
        part: u8,
        /// count
        parts: u8,
    },
}

impl Header {
    /// Write the header followed by `body`.
    pub fn to_message(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
        out.push(HEADER_VERSION);
        out.push(self.message_type as u8);
        out.push(self.part);
        out.push(self.parts);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.data_time_unix_us.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Split a message into its header and body.
    pub fn parse(message: &[u8]) -> Result<(Header, &[u8]), HeaderError> {
        if message.len() < HEADER_BYTES {
            return Err(HeaderError::Short(message.len()));
        }
        if message[0] != HEADER_VERSION {
            return Err(HeaderError::Version(message[0]));
        }
        let message_type = MessageType::from_code(message[1]).ok_or(HeaderError::Type(message[1]))?;
        let (part, parts) = (message[2], message[3]);
        if part >= parts {
            return Err(HeaderError::Part { part, parts });
        }
        let seq = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&message[8..16]);
        let header = Header { message_type, part, parts, seq, data_time_unix_us: i64::from_be_bytes(t) };
        Ok((header, &message[HEADER_BYTES..]))
    }
}

/// An area of interest, WGS84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Geofence {
    /// A circle.
    Circle {
        /// Centre latitude, degrees.
        lat: f64,
        /// Centre longitude, degrees.
        lon: f64,
        /// Radius, metres.
        radius_m: f64,
    },
    /// A simple polygon of `[lat, lon]` vertices (at least 3; closed implicitly).
    Polygon(Vec<[f64; 2]>),
}

/// A geofence in the intersection's local frame (metres).
#[derive(Debug, Clone, PartialEq)]
pub enum LocalFence {
    /// Everything.
    All,
    /// Centre and radius.
    Circle([f64; 2], f64),
    /// Vertices.
    Polygon(Vec<[f64; 2]>),
}

impl Geofence {
    /// Check the values: finite coordinates in range, positive radius, 3..=256 polygon vertices.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |lat: f64, lon: f64| lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
        match self {
            Geofence::Circle { lat, lon, radius_m } => {
                if !ok(*lat, *lon) {
                    return Err(format!("geofence circle centre ({lat}, {lon}) is not a WGS84 position"));
                }
                if !(radius_m.is_finite() && *radius_m > 0.0 && *radius_m <= 100_000.0) {
                    return Err(format!("geofence radius {radius_m} m must be in (0, 100000]"));
                }
            }
            Geofence::Polygon(v) => {
                if !(3..=256).contains(&v.len()) {
                    return Err(format!("geofence polygon has {} vertices; 3 to 256 expected", v.len()));
                }
                if let Some(p) = v.iter().find(|p| !ok(p[0], p[1])) {
                    return Err(format!("geofence polygon vertex {p:?} is not a WGS84 [lat, lon]"));
                }
            }
        }
        Ok(())
    }

    /// Into the local frame.
    pub fn to_local(&self, frame: &LocalFrame) -> LocalFence {
        let h = frame.origin().elevation_m;
        let local = |lat: f64, lon: f64| {
            let v = frame.to_local(LatLon { lat_deg: lat, lon_deg: lon, elevation_m: h });
            [v.x, v.y]
        };
        match self {
            Geofence::Circle { lat, lon, radius_m } => LocalFence::Circle(local(*lat, *lon), *radius_m),
            Geofence::Polygon(v) => LocalFence::Polygon(v.iter().map(|p| local(p[0], p[1])).collect()),
        }
    }
}

impl LocalFence {
    /// Whether a point (local metres) is inside.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        match self {
            LocalFence::All => true,
            LocalFence::Circle(c, r) => (p[0] - c[0]).hypot(p[1] - c[1]) <= *r,
            LocalFence::Polygon(v) => {
                // even-odd rule
                let mut inside = false;
                let mut j = v.len() - 1;
                for i in 0..v.len() {
                    let (a, b) = (v[i], v[j]);
                    if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
                        inside = !inside;
                    }
                    j = i;
                }
                inside
            }
        }
    }

    /// Whether the fence reaches a disc (centre, radius) at all: decides if an intersection's MAP and SPaT
    /// concern the subscriber.
    pub fn touches_disc(&self, c: [f64; 2], r: f64) -> bool {
        match self {
            LocalFence::All => true,
            LocalFence::Circle(o, rr) => (o[0] - c[0]).hypot(o[1] - c[1]) <= r + rr,
            LocalFence::Polygon(v) => {
                if self.contains(c) {
                    return true;
                }
                (0..v.len()).any(|i| segment_distance(c, v[i], v[(i + 1) % v.len()]) <= r)
            }
        }
    }
}

fn segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
    (p[0] - a[0] - t * dx).hypot(p[1] - a[1] - t * dy)
}

/// A control request from the subscriber (JSON on the control stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Subscribe (or replace the subscription: idempotent, so it may be sent as 0-RTT data).
    Subscribe {
        /// Request id, echoed in the response.
        id: u32,
        /// The message types wanted.
        types: Vec<MessageType>,
        /// Only objects inside, and only if the intersection is within; none: everything.
        #[serde(default)]
        geofence: Option<Geofence>,
        /// Rates for the periodic types in Hz (capped by the RSU's configured rate); none: the RSU's rate.
        #[serde(default)]
        rate_hz: Option<f64>,
        /// The MAP revision the subscriber already holds (then it is not sent again unless it changed).
        #[serde(default)]
        have_map_revision: Option<u32>,
    },
    /// Stop receiving messages (the connection stays open).
    Unsubscribe {
        /// Request id.
        id: u32,
    },
    /// Liveness check; answered with the RSU's time.
    Ping {
        /// Request id.
        id: u32,
    },
}

/// A response on the control stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id (0 when the request could not be parsed).
    pub id: u32,
    /// Whether the request was carried out.
    pub ok: bool,
    /// What was wrong, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Details of an accepted subscription or a ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<SubscriptionInfo>,
}

/// What an accepted request tells the subscriber.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionInfo {
    /// The RSU's id.
    pub rsu_id: String,
    /// MAP region and node id of the intersection.
    pub intersection: [u16; 2],
    /// Current MAP revision.
    pub map_revision: u32,
    /// The periodic rate granted, Hz.
    pub rate_hz: f64,
    /// The largest datagram the connection carries now, bytes.
    pub max_datagram_bytes: usize,
    /// RSU wall clock, µs since the UNIX epoch.
    pub time_unix_us: i64,
    /// A fresh SPDU signed with the full signing certificate (empty payload), base64: lets the
    /// subscriber learn and validate the RSU's certificate before the first digest-signed datagram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_spdu: Option<String>,
}

/// Frame a control message: `u32` big-endian length, then JSON.
pub fn encode_control<T: Serialize>(m: &T) -> Vec<u8> {
    let body = serde_json::to_vec(m).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trips_and_rejects_garbage() {
        let h = Header { message_type: MessageType::Rsm, part: 2, parts: 13, seq: 77, data_time_unix_us: -5 };
        let m = h.to_message(b"body");
        assert_eq!(m.len(), HEADER_BYTES + 4);
        assert_eq!(Header::parse(&m).unwrap(), (h, &b"body"[..]));
        assert_eq!(Header::parse(&m[..10]), Err(HeaderError::Short(10)));
        let mut bad = m.clone();
        bad[0] = 9;
        assert_eq!(Header::parse(&bad), Err(HeaderError::Version(9)));
        bad = m.clone();
        bad[1] = 42;
        assert_eq!(Header::parse(&bad), Err(HeaderError::Type(42)));
        bad = m;
        bad[2] = 13;
        assert!(matches!(Header::parse(&bad), Err(HeaderError::Part { .. })));
    }

    #[test]
    fn requests_have_the_documented_json_shape() {
        let r: Request = serde_json::from_str(
            r#"{"op":"subscribe","id":1,"types":["map","rsm","spat"],
                "geofence":{"circle":{"lat":31.2,"lon":121.4,"radius_m":300}}}"#,
        )
        .unwrap();
        match r {
            Request::Subscribe { id, types, geofence, rate_hz, have_map_revision } => {
                assert_eq!(id, 1);
                assert_eq!(types, vec![MessageType::Map, MessageType::Rsm, MessageType::Spat]);
                assert_eq!(geofence, Some(Geofence::Circle { lat: 31.2, lon: 121.4, radius_m: 300.0 }));
                assert_eq!((rate_hz, have_map_revision), (None, None));
            }
            other => panic!("{other:?}"),
        }
        let p: Request = serde_json::from_str(
            r#"{"op":"subscribe","id":2,"types":["rsi"],
            "geofence":{"polygon":[[1,2],[1,3],[2,3]]}}"#,
        )
        .unwrap();
        assert!(matches!(p, Request::Subscribe { geofence: Some(Geofence::Polygon(_)), .. }));
        assert!(serde_json::from_str::<Request>(r#"{"op":"subscribe","id":1,"types":["tim"]}"#).is_err());
    }

    #[test]
    fn fences_contain_what_they_should() {
        let sq = LocalFence::Polygon(vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]);
        assert!(sq.contains([5.0, 5.0]));
        assert!(!sq.contains([15.0, 5.0]));
        assert!(sq.touches_disc([12.0, 5.0], 3.0));
        assert!(!sq.touches_disc([20.0, 5.0], 3.0));
        let c = LocalFence::Circle([0.0, 0.0], 5.0);
        assert!(c.contains([3.0, 4.0]));
        assert!(!c.contains([3.0, 4.1]));
        assert!(c.touches_disc([10.0, 0.0], 5.0));
        assert!(Geofence::Circle { lat: 0.0, lon: 0.0, radius_m: -1.0 }.validate().is_err());
        assert!(Geofence::Polygon(vec![[0.0, 0.0]]).validate().is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Header::parse(&bytes);
        }
    }
}
