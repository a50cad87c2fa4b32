//! Sensor configuration (the `zhilu-sensors/1` TOML file): where each camera
//! and radar stands, what it sees and how well.  The RSU uses it to place
//! measurements in the intersection's frame and to weigh them; the sim's
//! sensor models use the very same file to generate what those sensors would
//! report.  Documented in `docs/sensor-ingest.md`.
//!
//! Owns parsing and pose resolution (a pose may be given relative to an
//! approach of the intersection, so one rig file serves every 4-leg
//! intersection).  No I/O: callers pass text.

use map_encoder::model::{Direction, Intersection};
use serde::Deserialize;
use std::collections::BTreeSet;

/// The file's format tag.
pub const FORMAT: &str = "zhilu-sensors/1";

/// A whole sensor file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorFile {
    /// Must be [`FORMAT`].
    pub format: String,
    /// The sensors.
    #[serde(rename = "sensor", default)]
    pub sensors: Vec<SensorConfig>,
}

/// Camera or radar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Delivers ground-plane positions with covariance, class and size.
    Camera,
    /// Delivers range, azimuth and radial speed; no class.
    Radar,
}

/// Where a sensor stands and which way it looks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PoseConfig {
    /// In the intersection's local frame (metres east/north of the reference point).
    Local {
        /// East, metres.
        x_m: f64,
        /// North, metres.
        y_m: f64,
        /// Boresight heading, degrees clockwise from north (0 = looking north, 90 = east).
        heading_deg: f64,
    },
    /// Relative to an approach: `distance_m` out along the approach from the
    /// junction centre (negative: across the junction, on the far side),
    /// `offset_m` to the right of the approach's axis (looking outwards),
    /// looking `look` (`in` towards the junction, `out` along the approach away
    /// from it), turned by `turn_deg` clockwise.
    Approach {
        /// The approach id (e.g. `north`), or `#n` for the n-th approach clockwise from north.
        approach: String,
        /// Metres from the junction centre along the approach.
        distance_m: f64,
        /// Metres to the right of the approach axis (looking outwards); negative = left.
        #[serde(default)]
        offset_m: f64,
        /// `in` (default) or `out`.
        #[serde(default)]
        look: Look,
        /// Extra clockwise rotation of the boresight, degrees.
        #[serde(default)]
        turn_deg: f64,
    },
}

/// Which way an approach-relative sensor looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Look {
    /// Towards the junction (covers the approach's near part and the box).
    #[default]
    In,
    /// Away from the junction, along the approach.
    Out,
}

/// Measurement noise (standard deviations).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// Camera: lateral (across the line of sight) position σ, metres.
    #[serde(default = "d_03")]
    pub lateral_m: f64,
    /// Camera: longitudinal (along the line of sight) position σ at the sensor, metres.
    #[serde(default = "d_03")]
    pub longitudinal_m: f64,
    /// Camera: longitudinal σ growth per metre of range (0.02 = 2% of range).
    #[serde(default)]
    pub longitudinal_per_m: f64,
    /// Radar: range σ, metres.
    #[serde(default = "d_025")]
    pub range_m: f64,
    /// Radar: azimuth σ, degrees.
    #[serde(default = "d_05")]
    pub azimuth_deg: f64,
    /// Radar: radial speed σ, m/s.
    #[serde(default = "d_01")]
    pub radial_speed_mps: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            lateral_m: 0.3,
            longitudinal_m: 0.3,
            longitudinal_per_m: 0.0,
            range_m: 0.25,
            azimuth_deg: 0.5,
            radial_speed_mps: 0.1,
        }
    }
}

fn d_03() -> f64 {
    0.3
}
fn d_025() -> f64 {
    0.25
}
fn d_05() -> f64 {
    0.5
}
fn d_01() -> f64 {
    0.1
}
fn d_one() -> f64 {
    1.0
}

/// How the sensor misses and invents things (what the sim's sensor model draws; the
/// RSU uses detection probability to judge how long a missed track may coast).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorModel {
    /// Probability of detecting a vehicle in view.
    #[serde(default = "d_one")]
    pub detection_probability: f64,
    /// Probability of detecting a pedestrian (or cyclist) in view; defaults to `detection_probability`.
    #[serde(default)]
    pub pedestrian_detection_probability: Option<f64>,
    /// Mean false alarms (camera) or clutter points (radar) per frame, Poisson.
    #[serde(default)]
    pub false_alarms_per_frame: f64,
    /// Probability that a camera reports another class than the true one.
    #[serde(default)]
    pub class_confusion: f64,
    /// Whether objects hidden behind a larger object on the same line of sight are missed.
    #[serde(default)]
    pub occlusion: bool,
}

impl Default for ErrorModel {
    fn default() -> Self {
        ErrorModel {
            detection_probability: 1.0,
            pedestrian_detection_probability: None,
            false_alarms_per_frame: 0.0,
            class_confusion: 0.0,
            occlusion: false,
        }
    }
}

/// One sensor as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// The id its frames carry.
    pub id: u32,
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
    /// Camera or radar.
    pub kind: SensorKind,
    /// Where it stands.
    pub pose: PoseConfig,
    /// Mounting height, metres (cameras: range-dependent error; informational for radars).
    #[serde(default)]
    pub height_m: Option<f64>,
    /// Horizontal field of view, degrees (centred on the boresight).
    pub fov_deg: f64,
    /// Maximum range, metres.
    pub range_m: f64,
    /// Expected frame rate, Hz.
    pub rate_hz: f64,
    /// Expected delay from capture to arrival at the RSU, milliseconds.
    #[serde(default)]
    pub latency_ms: f64,
    /// The sensor clock minus the RSU clock, milliseconds (configured; the RSU may also estimate it).
    #[serde(default)]
    pub clock_offset_ms: f64,
    /// Let the RSU estimate the clock offset from how the sensor's detections lead or lag the fused
    /// tracks, instead of trusting `clock_offset_ms` (which the sim still uses as the true offset).
    #[serde(default)]
    pub estimate_clock_offset: bool,
    /// Measurement noise.
    #[serde(default)]
    pub noise: NoiseConfig,
    /// Misses, false alarms, class confusion.
    #[serde(default)]
    pub errors: ErrorModel,
}

/// A sensor with its pose resolved into the intersection's local frame.
#[derive(Debug, Clone)]
pub struct Sensor {
    /// Its configuration.
    pub config: SensorConfig,
    /// Position in the local frame, metres east/north.
    pub position_m: [f64; 2],
    /// Boresight as a mathematical angle: radians counter-clockwise from east.
    pub yaw_rad: f64,
}

impl Sensor {
    /// A point in the sensor's ground frame (x forward, y left) → local frame.
    pub fn to_local(&self, x_m: f64, y_m: f64) -> [f64; 2] {
        let (s, c) = self.yaw_rad.sin_cos();
        [self.position_m[0] + c * x_m - s * y_m, self.position_m[1] + s * x_m + c * y_m]
    }

    /// A local point → the sensor's ground frame.
    pub fn to_sensor(&self, p: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.yaw_rad.sin_cos();
        let (dx, dy) = (p[0] - self.position_m[0], p[1] - self.position_m[1]);
        [c * dx + s * dy, -s * dx + c * dy]
    }

    /// Whether a local point lies within the field of view and range (plus `margin_m`; a negative
    /// margin asks for that far inside).
    pub fn sees(&self, p: [f64; 2], margin_m: f64) -> bool {
        self.field_of_view().inside(p) >= -margin_m
    }

    /// The field of view with its trigonometry computed once (for many tests in a row).
    pub fn field_of_view(&self) -> FieldOfView {
        let half = (self.config.fov_deg / 2.0).to_radians();
        FieldOfView {
            position: self.position_m,
            cos_yaw: self.yaw_rad.cos(),
            sin_yaw: self.yaw_rad.sin(),
            range: self.config.range_m,
            half,
            cos_half: half.cos(),
            sin_half: half.sin(),
        }
    }

    /// The clock offset in microseconds (sensor clock − RSU clock).
    pub fn clock_offset_us(&self) -> i64 {
        (self.config.clock_offset_ms * 1000.0).round() as i64
    }
}

/// A sensor's field of view: a sector of `range` around the boresight, `half` to each side.
#[derive(Debug, Clone, Copy)]
pub struct FieldOfView {
    position: [f64; 2],
    cos_yaw: f64,
    sin_yaw: f64,
    range: f64,
    half: f64,
    cos_half: f64,
    sin_half: f64,
}

impl FieldOfView {
    /// How far inside the field of view a local point lies, metres (negative: outside, by about
    /// that much): the smaller of the distances to the range limit and to the sector's edges.
    /// A point on an edge counts as inside whatever the rounding.
    pub fn inside(&self, p: [f64; 2]) -> f64 {
        let (dx, dy) = (p[0] - self.position[0], p[1] - self.position[1]);
        let (x, y) = (self.cos_yaw * dx + self.sin_yaw * dy, -self.sin_yaw * dx + self.cos_yaw * dy);
        let r = (x * x + y * y).sqrt();
        let by_range = self.range - r;
        let by_edge = if self.half >= std::f64::consts::PI {
            f64::INFINITY
        } else if self.half >= std::f64::consts::FRAC_PI_2 {
            // wide sectors: inside when the angle is within `half`, else the distance to the edge
            let az = y.atan2(x).abs();
            if az <= self.half {
                r * (self.half - az).sin().max(0.0)
            } else {
                -r * (az - self.half).sin()
            }
        } else {
            let d = x * self.sin_half - y.abs() * self.cos_half + 1e-9;
            if d < 0.0 && x * self.cos_half + y.abs() * self.sin_half < 0.0 {
                // behind the sensor: the distance to the apex
                -r
            } else {
                d
            }
        };
        by_range.min(by_edge)
    }
}

/// Why a sensor file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SensorConfigError {
    /// TOML syntax or a field of the wrong type.
    #[error("{file}: {message}")]
    Parse {
        /// File name.
        file: String,
        /// What the TOML parser said (with line and column).
        message: String,
    },
    /// A value that cannot be right.
    #[error("{file}: sensor {id}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// The sensor's id.
        id: u32,
        /// What is wrong.
        message: String,
    },
}

/// Parse a sensor file (TOML) and check every value.
pub fn parse_sensor_file(file: &str, text: &str) -> Result<SensorFile, SensorConfigError> {
    let f: SensorFile =
        toml::from_str(text).map_err(|e| SensorConfigError::Parse { file: file.into(), message: e.to_string() })?;
    if f.format != FORMAT {
        return Err(SensorConfigError::Parse {
            file: file.into(),
            message: format!("format is `{}`, expected `{FORMAT}`", f.format),
        });
    }
    if !f.sensors.is_empty() && f.sensors.iter().all(|s| s.estimate_clock_offset) {
        return Err(SensorConfigError::Parse {
            file: file.into(),
            message:
                "every sensor has estimate_clock_offset = true: at least one must keep a configured clock_offset_ms \
                      as the time reference (only offsets relative to it can be estimated)"
                    .into(),
        });
    }
    let mut ids = BTreeSet::new();
    for s in &f.sensors {
        let bad = |message: String| SensorConfigError::Invalid { file: file.into(), id: s.id, message };
        if !ids.insert(s.id) {
            return Err(bad("id used twice".into()));
        }
        let positive = [("fov_deg", s.fov_deg), ("range_m", s.range_m), ("rate_hz", s.rate_hz)];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(format!("{name} must be a positive number, not {v}")));
            }
        }
        if s.fov_deg > 360.0 {
            return Err(bad(format!("fov_deg {} is more than a full circle", s.fov_deg)));
        }
        if !(s.latency_ms.is_finite() && (0.0..=10_000.0).contains(&s.latency_ms)) {
            return Err(bad(format!("latency_ms {} must be within 0..=10000", s.latency_ms)));
        }
        if !(s.clock_offset_ms.is_finite() && s.clock_offset_ms.abs() <= 60_000.0) {
            return Err(bad(format!("clock_offset_ms {} must be within ±60000", s.clock_offset_ms)));
        }
        let n = &s.noise;
        for (name, v) in [
            ("noise.lateral_m", n.lateral_m),
            ("noise.longitudinal_m", n.longitudinal_m),
            ("noise.range_m", n.range_m),
            ("noise.azimuth_deg", n.azimuth_deg),
            ("noise.radial_speed_mps", n.radial_speed_mps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(format!("{name} must be a positive number, not {v}")));
            }
        }
        if !(n.longitudinal_per_m.is_finite() && n.longitudinal_per_m >= 0.0) {
            return Err(bad("noise.longitudinal_per_m must be >= 0".into()));
        }
        let e = &s.errors;
        for (name, v) in [
            ("errors.detection_probability", e.detection_probability),
            ("errors.pedestrian_detection_probability", e.pedestrian_detection_probability.unwrap_or(0.5)),
            ("errors.class_confusion", e.class_confusion),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("{name} {v} is not a probability")));
            }
        }
        if !(e.false_alarms_per_frame.is_finite() && e.false_alarms_per_frame >= 0.0) {
            return Err(bad("errors.false_alarms_per_frame must be >= 0".into()));
        }
    }
    Ok(f)
}

/// Where an intersection's lanes meet (local metres; see `map_encoder::geometry::junction_centre`), or
/// the reference point when no lane says.
pub fn junction_centre(x: &Intersection) -> [f64; 2] {
    map_encoder::geometry::junction_centre(&map_encoder::geometry::frame(x), x, 1).map_or([0.0, 0.0], |c| [c.x, c.y])
}

/// Outward unit vector of an approach: from the junction centre towards the far ends of its lanes.
pub fn approach_axis(x: &Intersection, approach: &str) -> Option<[f64; 2]> {
    let frame = map_encoder::geometry::frame(x);
    let c = junction_centre(x);
    let (mut sx, mut sy) = (0.0, 0.0);
    for l in x.lanes.iter().filter(|l| l.approach == approach && l.lane_type.is_travel_lane()) {
        let pts = map_encoder::geometry::centreline(&frame, l);
        let far = match l.direction {
            Direction::Ingress => pts.first(),
            Direction::Egress => pts.last(),
            Direction::Both => None,
        };
        if let Some(p) = far {
            let (dx, dy) = (p.x - c[0], p.y - c[1]);
            let d = dx.hypot(dy);
            if d > 1e-6 {
                sx += dx / d;
                sy += dy / d;
            }
        }
    }
    let n = sx.hypot(sy);
    (n > 1e-6).then(|| [sx / n, sy / n])
}

/// The approaches ordered clockwise by the bearing of their axis, starting at north-west (so that a
/// leg pointing a few degrees west of north still comes first).
pub fn approaches_clockwise(x: &Intersection) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = x
        .approaches
        .iter()
        .filter_map(|a| {
            approach_axis(x, &a.id)
                .map(|u| (a.id.clone(), (u[0].atan2(u[1]).to_degrees() + 45.0).rem_euclid(360.0) - 45.0))
        })
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v
}

/// `#n` names the n-th approach clockwise from north-west (1-based), so one rig file fits any 4-leg
/// intersection whatever its approaches are called; anything else is an approach id.
fn approach_by_ref<'a>(x: &'a Intersection, r: &str) -> Option<&'a str> {
    let n: usize = r.strip_prefix('#')?.parse().ok()?;
    let order = approaches_clockwise(x);
    let (id, _) = order.get(n.checked_sub(1)?)?;
    x.approaches.iter().find(|a| &a.id == id).map(|a| a.id.as_str())
}

/// Resolve every sensor's pose against an intersection.
pub fn resolve(file: &str, f: &SensorFile, x: &Intersection) -> Result<Vec<Sensor>, SensorConfigError> {
    f.sensors
        .iter()
        .map(|s| {
            let (position_m, yaw_rad) = match &s.pose {
                PoseConfig::Local { x_m, y_m, heading_deg } => ([*x_m, *y_m], (90.0 - heading_deg).to_radians()),
                PoseConfig::Approach { approach, distance_m, offset_m, look, turn_deg } => {
                    let id = approach_by_ref(x, approach).unwrap_or(approach.as_str());
                    let u = approach_axis(x, id).ok_or_else(|| SensorConfigError::Invalid {
                        file: file.into(),
                        id: s.id,
                        message: format!(
                            "approach `{approach}` is not in intersection {} (it has: {})",
                            x.id,
                            x.approaches.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    })?;
                    let c = junction_centre(x);
                    // right of the axis looking outwards: rotate u by -90°
                    let right = [u[1], -u[0]];
                    let p = [
                        c[0] + distance_m * u[0] + offset_m * right[0],
                        c[1] + distance_m * u[1] + offset_m * right[1],
                    ];
                    let base = match look {
                        Look::In => (-u[1]).atan2(-u[0]),
                        Look::Out => u[1].atan2(u[0]),
                    };
                    (p, base - turn_deg.to_radians())
                }
            };
            Ok(Sensor { config: s.clone(), position_m, yaw_rad })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIG: &str = r#"
format = "zhilu-sensors/1"

[[sensor]]
id = 1
kind = "camera"
pose = { approach = "north", distance_m = 40.0, offset_m = 6.0 }
fov_deg = 90.0
range_m = 120.0
rate_hz = 10.0
latency_ms = 80.0
noise = { lateral_m = 0.3, longitudinal_m = 0.3, longitudinal_per_m = 0.02 }
errors = { detection_probability = 0.9, false_alarms_per_frame = 0.5, class_confusion = 0.05 }

[[sensor]]
id = 2
kind = "radar"
pose = { x_m = 10.0, y_m = -5.0, heading_deg = 90.0 }
fov_deg = 60.0
range_m = 150.0
rate_hz = 20.0
clock_offset_ms = -12.0
"#;

    use crate::test_support::four_leg;

    #[test]
    fn approach_relative_pose_looks_at_the_junction() {
        let f = parse_sensor_file("rig.toml", RIG).unwrap();
        let x = four_leg();
        let s = resolve("rig.toml", &f, &x).unwrap();
        let c = junction_centre(&x);
        // camera 1 stands north of the centre and sees the centre straight ahead
        assert!(s[0].position_m[1] > c[1] + 30.0, "{:?}", s[0].position_m);
        let ahead = s[0].to_sensor(c);
        assert!(ahead[0] > 30.0 && ahead[1].abs() < 8.0, "{ahead:?}");
        assert!(s[0].sees(c, 0.0));
        // offset to the right of the outward axis (north): east
        assert!(s[0].position_m[0] > c[0] + 3.0);
        // radar 2 looks east: a point 20 m east of it is straight ahead
        let p = [30.0, -5.0];
        let q = s[1].to_sensor(p);
        assert!((q[0] - 20.0).abs() < 1e-9 && q[1].abs() < 1e-9, "{q:?}");
        assert_eq!(s[1].clock_offset_us(), -12_000);
        // round trip through the sensor frame
        let l = s[1].to_local(q[0], q[1]);
        assert!((l[0] - p[0]).abs() < 1e-9 && (l[1] - p[1]).abs() < 1e-9);
        assert!(!s[1].sees([-30.0, -5.0], 0.0), "behind the radar");
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse_sensor_file("rig.toml", &RIG.replace("rate_hz = 20.0", "rate_hz = -1.0")).unwrap_err();
        assert_eq!(e.to_string(), "rig.toml: sensor 2: rate_hz must be a positive number, not -1");
        let all = RIG
            .replace("rate_hz = 10.0", "rate_hz = 10.0\nestimate_clock_offset = true")
            .replace("clock_offset_ms = -12.0", "clock_offset_ms = -12.0\nestimate_clock_offset = true");
        let e = parse_sensor_file("rig.toml", &all).unwrap_err();
        assert!(e.to_string().contains("time reference"), "{e}");
        let e = parse_sensor_file("rig.toml", &RIG.replace("id = 2", "id = 1")).unwrap_err();
        assert!(e.to_string().contains("id used twice"), "{e}");
        // `#1` is the first approach clockwise from north: in the 4-leg example, `north`
        let f1 = parse_sensor_file("rig.toml", &RIG.replace("\"north\"", "\"#1\"")).unwrap();
        let s1 = resolve("rig.toml", &f1, &four_leg()).unwrap();
        let s0 = resolve("rig.toml", &parse_sensor_file("rig.toml", RIG).unwrap(), &four_leg()).unwrap();
        assert_eq!(s1[0].position_m, s0[0].position_m);
        let f = parse_sensor_file("rig.toml", &RIG.replace("\"north\"", "\"up\"")).unwrap();
        let e = resolve("rig.toml", &f, &four_leg()).unwrap_err();
        assert!(e.to_string().contains("approach `up` is not in intersection"), "{e}");
        let e = parse_sensor_file("rig.toml", &RIG.replace("fov_deg = 60.0", "fov_deg = 60.0\nzoom = 2")).unwrap_err();
        assert!(e.to_string().contains("zoom"), "{e}");
    }
}
