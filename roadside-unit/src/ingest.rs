//! The sensor ingest protocol, version 1 (ZSI/1): how camera and radar units
//! deliver their detections to the roadside unit.  Owns the wire types
//! ([`SensorFrame`], [`Detection`], [`Measurement`]) and their binary encoding;
//! the byte layout is specified in `docs/sensor-ingest.md`.
//!
//! Pure: no sockets here.  One frame is one UDP datagram, or on TCP one frame
//! preceded by its length (`u32`, little-endian).  The decoder never panics and
//! never allocates more than the input can describe; every error names the
//! byte offset and the field.

use bytes::{Buf, BufMut};

/// The 2-byte magic that starts every frame: `ZS`.
pub const MAGIC: [u8; 2] = *b"ZS";
/// The protocol version this module speaks.
pub const VERSION: u8 = 1;
/// Bytes of the frame header.
pub const HEADER_BYTES: usize = 24;
/// Largest frame accepted (a UDP datagram's payload; TCP frames too).
pub const MAX_FRAME_BYTES: usize = 65_507;
/// Largest number of objects in one frame.
pub const MAX_OBJECTS: usize = 4096;

/// Object class as sensors report it (the CSAE participant types plus cars/trucks/buses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectClass {
    /// Passenger car or van.
    Car,
    /// Truck.
    Truck,
    /// Bus.
    Bus,
    /// Bicycle with rider.
    Bike,
    /// Motorcycle or moped.
    Motorcycle,
    /// Pedestrian.
    Pedestrian,
}

impl ObjectClass {
    /// All classes, in wire-code order (code = index + 1).
    pub const ALL: [ObjectClass; 6] =
        [Self::Car, Self::Truck, Self::Bus, Self::Bike, Self::Motorcycle, Self::Pedestrian];

    /// Wire code (1..=6; 0 means "no class").
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|c| *c == self).map_or(0, |i| i as u8 + 1)
    }

    /// Class of a wire code; `None` for 0 (unknown) and undefined codes.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// Lower-case name, as in JSON (`car`, `truck`, `bus`, `bike`, `motorcycle`, `pedestrian`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Car => "car",
            Self::Truck => "truck",
            Self::Bus => "bus",
            Self::Bike => "bike",
            Self::Motorcycle => "motorcycle",
            Self::Pedestrian => "pedestrian",
        }
    }

    /// Whether the class drives in vehicle lanes.
    pub fn is_vehicle(self) -> bool {
        matches!(self, Self::Car | Self::Truck | Self::Bus | Self::Motorcycle)
    }

    /// Whether the class is a vulnerable road user (pedestrian or cyclist).
    pub fn is_vulnerable(self) -> bool {
        matches!(self, Self::Pedestrian | Self::Bike)
    }
}

/// What a sensor measured of one object, in the sensor's own ground-plane frame:
/// x forward along the boresight, y to the left, origin at the sensor's foot point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measurement {
    /// A ground-plane position with its covariance (camera perception boxes, lidar).
    Position {
        /// Forward, metres.
        x_m: f64,
        /// Left, metres.
        y_m: f64,
        /// Covariance `[var_x, cov_xy, var_y]` in m².
        cov_m2: [f64; 3],
    },
    /// A polar radar measurement.
    Polar {
        /// Range, metres.
        range_m: f64,
        /// Azimuth, radians, counter-clockwise from the boresight (left positive).
        azimuth_rad: f64,
        /// Radial (Doppler) speed, m/s, positive moving away from the sensor.
        radial_speed_mps: f64,
    },
}

/// One detected object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The sensor's own object id (its tracker's), 0 when it has none.
    pub sensor_object_id: u32,
    /// What was measured.
    pub measurement: Measurement,
    /// Class and confidence (0..=1), when the sensor classifies.
    pub class: Option<(ObjectClass, f64)>,
    /// Length and width in metres, when the sensor measures them.
    pub size_m: Option<[f64; 2]>,
}

/// One frame of one sensor: everything it saw at one capture instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorFrame {
    /// The sensor's id (as configured on the RSU).
    pub sensor_id: u32,
    /// Frame counter of the sensor (wraps).
    pub sequence: u32,
    /// Capture instant on the sensor's clock, microseconds since the UNIX epoch.
    pub capture_time_us: i64,
    /// The detections.
    pub detections: Vec<Detection>,
}

/// Why bytes are not a valid ZSI/1 frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// The input ends before the field.
    #[error("byte {offset}: frame ends inside {field} (needs {needed} more byte(s))")]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// Which field.
        field: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// Not a ZSI frame.
    #[error("byte 0: not a ZSI frame (magic 0x{:02x} 0x{:02x}, expected \"ZS\" = 0x5a 0x53)", found[0], found[1])]
    Magic {
        /// The first two bytes.
        found: [u8; 2],
    },
    /// A version this RSU does not speak.
    #[error("byte 2: protocol version {0} is not supported (this RSU speaks version 1)")]
    Version(u8),
    /// A field holds an impossible value.
    #[error("byte {offset}: {field}: {message}")]
    Invalid {
        /// Where the field starts.
        offset: usize,
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Bytes left over after the last object.
    #[error("byte {offset}: {extra} byte(s) after the last object")]
    Trailing {
        /// Where the extra bytes start.
        offset: usize,
        /// How many.
        extra: usize,
    },
    /// The frame is larger than any frame may be.
    #[error("frame of {0} bytes is larger than the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
}

const KIND_POSITION: u8 = 1;
const KIND_POLAR: u8 = 2;
const FLAG_SIZE: u8 = 1;

/// Bytes one detection takes on the wire.
pub fn detection_bytes(d: &Detection) -> usize {
    8 + match d.measurement {
        Measurement::Position { .. } => 20,
        Measurement::Polar { .. } => 12,
    } + if d.size_m.is_some() { 8 } else { 0 }
}

/// Bytes a frame takes on the wire.
pub fn frame_bytes(f: &SensorFrame) -> usize {
    HEADER_BYTES + f.detections.iter().map(detection_bytes).sum::<usize>()
}

/// Append the frame's bytes to `out`.  Values are written as IEEE 754 binary32
/// (a sensor's precision is far coarser); class confidence in percent.
pub fn encode_frame(f: &SensorFrame, out: &mut impl BufMut) {
    out.put_slice(&MAGIC);
    out.put_u8(VERSION);
    out.put_u8(0);
    out.put_u32_le(f.sensor_id);
    out.put_u32_le(f.sequence);
    out.put_i64_le(f.capture_time_us);
    out.put_u16_le(f.detections.len().min(u16::MAX as usize) as u16);
    out.put_u16_le(0);
    for d in f.detections.iter().take(u16::MAX as usize) {
        let kind = match d.measurement {
            Measurement::Position { .. } => KIND_POSITION,
            Measurement::Polar { .. } => KIND_POLAR,
        };
        out.put_u8(kind);
        let (code, conf) = d.class.map_or((0, 0), |(c, p)| (c.code(), (p.clamp(0.0, 1.0) * 100.0).round() as u8));
        out.put_u8(code);
        out.put_u8(conf);
        out.put_u8(if d.size_m.is_some() { FLAG_SIZE } else { 0 });
        out.put_u32_le(d.sensor_object_id);
        match d.measurement {
            Measurement::Position { x_m, y_m, cov_m2 } => {
                for v in [x_m, y_m, cov_m2[0], cov_m2[1], cov_m2[2]] {
                    out.put_f32_le(v as f32);
                }
            }
            Measurement::Polar { range_m, azimuth_rad, radial_speed_mps } => {
                for v in [range_m, azimuth_rad, radial_speed_mps] {
                    out.put_f32_le(v as f32);
                }
            }
        }
        if let Some([l, w]) = d.size_m {
            out.put_f32_le(l as f32);
            out.put_f32_le(w as f32);
        }
    }
}

/// Encode a frame into a new vector.
pub fn to_bytes(f: &SensorFrame) -> Vec<u8> {
    let mut v = Vec::with_capacity(frame_bytes(f));
    encode_frame(f, &mut v);
    v
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn need(&self, n: usize, field: &'static str) -> Result<(), IngestError> {
        let left = self.buf.len() - self.at;
        if left < n {
            return Err(IngestError::Truncated { offset: self.at, field, needed: n - left });
        }
        Ok(())
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, IngestError> {
        self.need(1, field)?;
        let v = self.buf[self.at];
        self.at += 1;
        Ok(v)
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, IngestError> {
        self.need(2, field)?;
        let v = (&self.buf[self.at..]).get_u16_le();
        self.at += 2;
        Ok(v)
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, IngestError> {
        self.need(4, field)?;
        let v = (&self.buf[self.at..]).get_u32_le();
        self.at += 4;
        Ok(v)
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, IngestError> {
        self.need(8, field)?;
        let v = (&self.buf[self.at..]).get_i64_le();
        self.at += 8;
        Ok(v)
    }
    /// A finite binary32 inside `range`.
    fn f32(&mut self, field: &'static str, range: std::ops::RangeInclusive<f64>) -> Result<f64, IngestError> {
        self.need(4, field)?;
        let offset = self.at;
        let v = f64::from((&self.buf[self.at..]).get_f32_le());
        self.at += 4;
        if !v.is_finite() || !range.contains(&v) {
            return Err(IngestError::Invalid {
                offset,
                field,
                message: format!("{v} is outside {}..={}", range.start(), range.end()),
            });
        }
        Ok(v)
    }
}

/// Longest range any roadside sensor reports, metres.
pub const MAX_RANGE_M: f64 = 2_000.0;
/// Fastest radial speed accepted, m/s (about 360 km/h).
pub const MAX_SPEED_MPS: f64 = 100.0;

/// Decode one frame (a whole UDP datagram, or a TCP frame without its length prefix).
/// Values are checked for the physically possible: finite, ranges within
/// [`MAX_RANGE_M`], variances positive, covariance positive definite.
pub fn decode_frame(bytes: &[u8]) -> Result<SensorFrame, IngestError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(IngestError::TooLarge(bytes.len()));
    }
    let mut r = Reader { buf: bytes, at: 0 };
    r.need(2, "magic")?;
    let magic = [bytes[0], bytes[1]];
    if magic != MAGIC {
        return Err(IngestError::Magic { found: magic });
    }
    r.at = 2;
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(IngestError::Version(version));
    }
    let _flags = r.u8("flags")?;
    let sensor_id = r.u32("sensor_id")?;
    let sequence = r.u32("sequence")?;
    let capture_time_us = r.i64("capture_time_us")?;
    let count_at = r.at;
    let count = usize::from(r.u16("object_count")?);
    let _reserved = r.u16("reserved")?;
    // every object takes at least 20 bytes: refuse counts the input cannot hold before allocating
    if count > MAX_OBJECTS || count * 20 > bytes.len() - r.at {
        return Err(IngestError::Invalid {
            offset: count_at,
            field: "object_count",
            message: format!("{count} objects cannot fit in the {} byte(s) left", bytes.len() - r.at),
        });
    }
    let mut detections = Vec::with_capacity(count);
    for _ in 0..count {
        let kind_at = r.at;
        let kind = r.u8("object.kind")?;
        let class_at = r.at;
        let code = r.u8("object.class")?;
        let conf = r.u8("object.confidence")?;
        let flags = r.u8("object.flags")?;
        let sensor_object_id = r.u32("object.sensor_object_id")?;
        let class = match (code, ObjectClass::from_code(code)) {
            (0, _) => None,
            (_, Some(c)) if conf <= 100 => Some((c, f64::from(conf) / 100.0)),
            (_, Some(_)) => {
                return Err(IngestError::Invalid {
                    offset: class_at + 1,
                    field: "object.confidence",
                    message: format!("{conf} is not a percentage"),
                })
            }
            (_, None) => {
                return Err(IngestError::Invalid {
                    offset: class_at,
                    field: "object.class",
                    message: format!("class code {code} is not defined (0..=6)"),
                })
            }
        };
        let measurement = match kind {
            KIND_POSITION => {
                let x_m = r.f32("object.x_m", -MAX_RANGE_M..=MAX_RANGE_M)?;
                let y_m = r.f32("object.y_m", -MAX_RANGE_M..=MAX_RANGE_M)?;
                let cov_at = r.at;
                let vx = r.f32("object.var_x_m2", 0.0..=1.0e4)?;
                let cxy = r.f32("object.cov_xy_m2", -1.0e4..=1.0e4)?;
                let vy = r.f32("object.var_y_m2", 0.0..=1.0e4)?;
                if !(vx > 0.0 && vy > 0.0 && vx * vy - cxy * cxy > 0.0) {
                    return Err(IngestError::Invalid {
                        offset: cov_at,
                        field: "object.covariance",
                        message: format!("[{vx}, {cxy}, {vy}] is not positive definite"),
                    });
                }
                Measurement::Position { x_m, y_m, cov_m2: [vx, cxy, vy] }
            }
            KIND_POLAR => {
                let range_m = r.f32("object.range_m", 0.0..=MAX_RANGE_M)?;
                // up to the binary32 nearest to pi (just above pi in binary64), so that a sender's
                // `f32::consts::PI` is accepted
                let pi32 = f64::from(std::f32::consts::PI);
                let azimuth_rad = r.f32("object.azimuth_rad", -pi32..=pi32)?;
                let radial_speed_mps = r.f32("object.radial_speed_mps", -MAX_SPEED_MPS..=MAX_SPEED_MPS)?;
                Measurement::Polar { range_m, azimuth_rad, radial_speed_mps }
            }
            other => {
                return Err(IngestError::Invalid {
                    offset: kind_at,
                    field: "object.kind",
                    message: format!("{other} is neither 1 (position) nor 2 (polar)"),
                })
            }
        };
        let size_m = if flags & FLAG_SIZE != 0 {
            Some([r.f32("object.length_m", 0.0..=50.0)?, r.f32("object.width_m", 0.0..=10.0)?])
        } else {
            None
        };
        detections.push(Detection { sensor_object_id, measurement, class, size_m });
    }
    if r.at != bytes.len() {
        return Err(IngestError::Trailing { offset: r.at, extra: bytes.len() - r.at });
    }
    Ok(SensorFrame { sensor_id, sequence, capture_time_us, detections })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn class_names_are_the_json_names() {
        for c in ObjectClass::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
    }

    fn sample() -> SensorFrame {
        SensorFrame {
            sensor_id: 7,
            sequence: 42,
            capture_time_us: 1_600_000_000_123_456,
            detections: vec![
                Detection {
                    sensor_object_id: 3,
                    measurement: Measurement::Position { x_m: 12.5, y_m: -3.25, cov_m2: [0.09, 0.01, 0.16] },
                    class: Some((ObjectClass::Car, 0.87)),
                    size_m: Some([4.5, 1.75]),
                },
                Detection {
                    sensor_object_id: 0,
                    measurement: Measurement::Polar { range_m: 48.0, azimuth_rad: 0.125, radial_speed_mps: -8.5 },
                    class: None,
                    size_m: None,
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let f = sample();
        let b = to_bytes(&f);
        assert_eq!(b.len(), frame_bytes(&f));
        assert_eq!(b.len(), 24 + 36 + 20);
        assert_eq!(&b[..4], &[b'Z', b'S', 1, 0]);
        assert_eq!(&b[4..8], &7u32.to_le_bytes());
        let g = decode_frame(&b).unwrap();
        assert_eq!(g.sensor_id, 7);
        assert_eq!(g.capture_time_us, f.capture_time_us);
        assert_eq!(g.detections.len(), 2);
        assert_eq!(g.detections[0].class, Some((ObjectClass::Car, 0.87)));
        match g.detections[1].measurement {
            Measurement::Polar { range_m, azimuth_rad, radial_speed_mps } => {
                assert_eq!((range_m, azimuth_rad, radial_speed_mps), (48.0, 0.125, -8.5));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_offset_and_field() {
        let b = to_bytes(&sample());
        assert_eq!(decode_frame(b"XS"), Err(IngestError::Magic { found: *b"XS" }));
        let mut v = b.clone();
        v[2] = 9;
        assert_eq!(decode_frame(&v), Err(IngestError::Version(9)));
        let e = decode_frame(&b[..30]).unwrap_err().to_string();
        assert!(e.contains("object_count") || e.contains("frame ends"), "{e}");
        // NaN x of the first object (bytes 32..36)
        let mut v = b.clone();
        v[32..36].copy_from_slice(&f32::NAN.to_le_bytes());
        let e = decode_frame(&v).unwrap_err();
        assert!(matches!(e, IngestError::Invalid { offset: 32, field: "object.x_m", .. }), "{e}");
        // a negative variance
        let mut v = b.clone();
        v[40..44].copy_from_slice(&(-1.0f32).to_le_bytes());
        assert!(decode_frame(&v).unwrap_err().to_string().contains("var_x"));
        // trailing garbage
        let mut v = b.clone();
        v.push(0);
        assert_eq!(decode_frame(&v), Err(IngestError::Trailing { offset: b.len(), extra: 1 }));
        // an object count the bytes cannot hold is refused before allocating
        let mut v = b[..24].to_vec();
        v[20..22].copy_from_slice(&4000u16.to_le_bytes());
        assert!(decode_frame(&v).unwrap_err().to_string().contains("cannot fit"));
    }

    fn arb_detection() -> impl Strategy<Value = Detection> {
        let pos = (-500.0f32..500.0, -500.0f32..500.0, 0.01f32..4.0, 0.01f32..4.0).prop_map(|(x, y, a, b)| {
            Measurement::Position { x_m: x.into(), y_m: y.into(), cov_m2: [a.into(), 0.0, b.into()] }
        });
        let polar = (0.0f32..500.0, -3.0f32..3.0, -50.0f32..50.0).prop_map(|(r, a, v)| Measurement::Polar {
            range_m: r.into(),
            azimuth_rad: a.into(),
            radial_speed_mps: v.into(),
        });
        (
            any::<u32>(),
            prop_oneof![pos, polar],
            proptest::option::of((0usize..6, 0u8..=100)),
            proptest::option::of((0.1f32..20.0, 0.1f32..4.0)),
        )
            .prop_map(|(id, m, c, s)| Detection {
                sensor_object_id: id,
                measurement: m,
                class: c.map(|(k, p)| (ObjectClass::ALL[k], f64::from(p) / 100.0)),
                size_m: s.map(|(l, w)| [l.into(), w.into()]),
            })
    }

    proptest! {
        /// Values representable in binary32 survive the round trip exactly.
        #[test]
        fn any_frame_round_trips(id in any::<u32>(), seq in any::<u32>(), t in any::<i64>(),
                                 dets in proptest::collection::vec(arb_detection(), 0..40)) {
            let f = SensorFrame { sensor_id: id, sequence: seq, capture_time_us: t, detections: dets };
            let g = decode_frame(&to_bytes(&f)).unwrap();
            prop_assert_eq!(g, f);
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_frame(&b);
        }
    }
}
