//! # uplink — the RSU ↔ cloud-control protocol (`zhilu-uplink/1`)
//!
//! The messages a roadside unit and the cloud-control service exchange, and
//! their framing.  Both sides depend on this crate; it depends on neither of
//! them (only on `signal-core` for the plan type) and does no I/O: the RSU's
//! QUIC client and the cloud's QUIC server are the shells around it.
//!
//! ## Wire format
//! One QUIC connection (ALPN [`ALPN`], mutual TLS: the RSU presents its
//! certificate) and on it one bidirectional stream, opened by the RSU.  Each
//! direction carries frames: a `u32` big-endian length, then that many bytes
//! of one JSON object ([`Up`] from the RSU, [`Down`] from the cloud).  A frame
//! longer than [`MAX_FRAME_BYTES`] is a protocol error: the receiver closes the
//! connection.
//!
//! ## Delivery guarantee
//! Everything the RSU must not lose is a [`Record`] with a sequence number
//! that grows by one per record and never repeats for an RSU id, across
//! restarts (the RSU keeps it on disk).  The cloud acknowledges with
//! [`Down::Ack`] once a record is stored; the RSU keeps every record until it
//! is acknowledged and sends the unacknowledged ones again after a reconnect,
//! starting after the `acked_seq` the cloud reports in [`Down::Registered`].
//! The cloud therefore sees each record at least once, and drops a record
//! whose `seq` is not above the last one it stored (exactly-once storage).
//!
//! Invariants: no I/O, no clock; decoding untrusted bytes never panics.

use serde::{Deserialize, Serialize};
use signal_core::Plan;

/// The ALPN id of the uplink, version 1.
pub const ALPN: &[u8] = b"zhilu-uplink/1";

/// The largest frame either side accepts (a map revision in TOML is the largest payload).
pub const MAX_FRAME_BYTES: usize = 4 << 20;

/// The intersection an RSU serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntersectionRef {
    /// Region id of the MAP node.
    pub region: u16,
    /// Node id within the region.
    pub id: u16,
    /// Name, for people.
    pub name: String,
}

/// RSU → cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Up {
    /// First frame of every connection.
    Register {
        /// The RSU's id (the subject of its certificate).
        rsu_id: String,
        /// The intersection it serves.
        intersection: IntersectionRef,
        /// The MAP revision it publishes now.
        map_revision: u32,
        /// Software name and version.
        software: String,
    },
    /// Something the cloud must receive (kept on disk until acknowledged).
    Record(Record),
    /// Sent every few seconds while nothing else is: proves the link is alive.
    Heartbeat {
        /// RSU wall clock, ms since the UNIX epoch.
        time_unix_ms: i64,
    },
}

/// A record the RSU keeps until the cloud acknowledges it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number: one more than the previous record of this RSU.
    pub seq: u64,
    /// When it was produced, ms since the UNIX epoch.
    pub time_unix_ms: i64,
    /// What it says.
    pub body: RecordBody,
}

/// The kinds of record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    /// Per-lane figures over the last period (signal control, congestion analysis).
    LaneCounts {
        /// Length of the statistics window, seconds.
        window_s: f64,
        /// One entry per ingress lane.
        lanes: Vec<LaneCount>,
    },
    /// An event started, changed or ended.
    Event(EventRecord),
    /// The confirmed tracks at one instant (a periodic summary, not every cycle).
    Tracks {
        /// The tracks.
        tracks: Vec<TrackSummary>,
    },
    /// Sensor and publishing health.
    Health {
        /// Sensors that delivered nothing for longer than their silence timeout.
        silent_sensors: Vec<u32>,
        /// QUIC subscribers connected.
        subscribers: u32,
        /// The signal plan source in use (`cloud`, `local`).
        plan_source: String,
    },
}

/// Per-lane figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneCount {
    /// Lane id.
    pub lane: u8,
    /// Vehicles that crossed the stop line in the window.
    pub departures: u32,
    /// Vehicles that arrived in the window.
    pub arrivals: u32,
    /// Arrivals per hour.
    pub arrival_rate_vph: f64,
    /// Share of time the zone before the stop line was occupied (0..1).
    pub occupancy: f64,
    /// Queue length from the stop line, metres.
    pub queue_m: f64,
    /// Vehicles queued.
    pub queued: u32,
}

/// The phase of an event's life a record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPhase {
    /// It began.
    Started,
    /// It changed.
    Updated,
    /// It is over.
    Ended,
}

/// An event as the cloud stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Event id, unique per RSU run (with `started_unix_ms` unique per RSU).
    pub id: u64,
    /// Kind (`stopped_vehicle`, `wrong_way`, `pedestrian_in_roadway`, `red_light_running`, `speeding`,
    /// `queue_spillback`, `congestion`).
    pub event: String,
    /// Started, updated or ended.
    pub phase: EventPhase,
    /// When it started, ms since the UNIX epoch.
    pub started_unix_ms: i64,
    /// When it ended.
    pub ended_unix_ms: Option<i64>,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// Lane id, when on a lane.
    pub lane: Option<u8>,
    /// Approach name, for approach-level events.
    pub approach: Option<String>,
    /// Track ids involved.
    pub objects: Vec<u32>,
    /// Confidence 0..1.
    pub confidence: f64,
}

/// One confirmed track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    /// Track id.
    pub id: u32,
    /// Class name, when classified (`car`, `truck`, `bus`, `bike`, `motorcycle`, `pedestrian`).
    pub class: Option<String>,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// Speed, m/s.
    pub speed_mps: f64,
    /// Heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// Lane id, when on a lane.
    pub lane: Option<u8>,
}

/// Cloud → RSU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Down {
    /// Answer to [`Up::Register`]: the last record sequence number the cloud has stored for this RSU.
    Registered {
        /// Records up to and including this one are stored; resend from the next.
        acked_seq: u64,
    },
    /// Records up to and including `upto_seq` are stored.
    Ack {
        /// The highest stored sequence number.
        upto_seq: u64,
    },
    /// A new revision of the intersection file (TOML) to publish as MAP.
    MapRevision {
        /// The cloud's version number of the file.
        version: u32,
        /// The intersection file.
        intersection_toml: String,
    },
    /// A signal plan to run; it expires unless renewed before `valid_for_s` passes.
    SignalPlan {
        /// The plan.
        plan: Plan,
        /// Seconds the command holds; the RSU's local fallback plan takes over after it.
        valid_for_s: f64,
    },
    /// The cloud refuses the RSU (unknown id, wrong intersection); it closes the connection after this.
    Refused {
        /// What to fix.
        reason: String,
    },
}

/// What can be wrong with a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix exceeds [`MAX_FRAME_BYTES`].
    #[error("uplink frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES} bytes")]
    TooLarge(usize),
    /// The body is not the expected JSON message.
    #[error("uplink frame is not a valid message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Frame one message: length then JSON.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(message)?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reassembles frames from a byte stream (sans-IO: feed it what the stream delivered).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes received from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if one has arrived.  An error is fatal for the stream.
    pub fn next_message<T: for<'de> Deserialize<'de>>(&mut self) -> Result<Option<T>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let message = serde_json::from_slice(&self.buf[4..4 + len]);
        self.buf.drain(..4 + len);
        Ok(Some(message?))
    }

    /// Bytes buffered but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<Up> {
        vec![
            Up::Register {
                rsu_id: "rsu-k733".into(),
                intersection: IntersectionRef { region: 1, id: 733, name: "K733".into() },
                map_revision: 3,
                software: "rsu 0.1.0".into(),
            },
            Up::Record(Record {
                seq: 7,
                time_unix_ms: 1_700_000_000_000,
                body: RecordBody::Event(EventRecord {
                    id: 4,
                    event: "wrong_way".into(),
                    phase: EventPhase::Started,
                    started_unix_ms: 1_700_000_000_000,
                    ended_unix_ms: None,
                    lat: 50.7,
                    lon: 6.1,
                    lane: Some(3),
                    approach: None,
                    objects: vec![12],
                    confidence: 0.8,
                }),
            }),
            Up::Heartbeat { time_unix_ms: 5 },
        ]
    }

    #[test]
    fn frames_round_trip_across_arbitrary_splits() {
        let mut bytes = Vec::new();
        for m in sample() {
            bytes.extend(encode(&m).unwrap());
        }
        for split in [1, 3, 4, 5, 17, bytes.len()] {
            let mut r = FrameReader::new();
            let mut got = Vec::new();
            for chunk in bytes.chunks(split) {
                r.feed(chunk);
                while let Some(m) = r.next_message::<Up>().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, sample(), "split {split}");
            assert_eq!(r.pending(), 0);
        }
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let mut r = FrameReader::new();
        r.feed(&(MAX_FRAME_BYTES as u32 + 1).to_be_bytes());
        assert!(matches!(r.next_message::<Up>(), Err(FrameError::TooLarge(_))));
        let mut r = FrameReader::new();
        r.feed(&3u32.to_be_bytes());
        r.feed(b"{x}");
        let e = r.next_message::<Up>().unwrap_err();
        assert!(e.to_string().contains("not a valid message"), "{e}");
    }

    #[test]
    fn down_messages_have_a_stable_json_shape() {
        let m = Down::Ack { upto_seq: 9 };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"ack","upto_seq":9}"#);
        let r: Down = serde_json::from_str(r#"{"type":"registered","acked_seq":4}"#).unwrap();
        assert_eq!(r, Down::Registered { acked_seq: 4 });
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut r = FrameReader::new();
            r.feed(&bytes);
            for _ in 0..4 {
                match r.next_message::<Down>() { Ok(Some(_)) => {}, _ => break }
            }
        }
    }
}
