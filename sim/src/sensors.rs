//! Sensor models: what a configured camera or radar would report about the
//! true road users, frame by frame, with its noise, misses, false alarms,
//! class confusion, occlusion, frame rate, latency and clock offset.  The
//! sensor file is the RSU's own (`roadside_unit::sensors`), so the
//! simulated rig and the RSU's view of it can never disagree by accident.
//!
//! Deterministic: every draw comes from a seeded ChaCha generator per sensor.
//! No I/O.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};
use roadside_unit::ingest::{Detection, Measurement, ObjectClass, SensorFrame};
use roadside_unit::sensors::{Sensor, SensorKind};

/// A true road user at one instant, in the intersection's local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrueObject {
    /// Ground-truth id.
    pub id: u64,
    /// Its class.
    pub class: ObjectClass,
    /// Position, metres.
    pub position_m: [f64; 2],
    /// Velocity, m/s.
    pub velocity_mps: [f64; 2],
    /// Length and width, metres.
    pub size_m: [f64; 2],
}

/// A frame as it will reach the RSU.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// When it arrives (true time, microseconds).
    pub arrival_us: i64,
    /// The frame (capture time on the sensor's clock).
    pub frame: SensorFrame,
    /// For scoring: which detection came from which true object (`None` = false alarm / clutter).
    pub truth: Vec<Option<u64>>,
}

/// One simulated sensor.
#[derive(Debug, Clone)]
pub struct SensorModel {
    /// The sensor (pose resolved).
    pub sensor: Sensor,
    rng: ChaCha8Rng,
    sequence: u32,
    next_capture_us: i64,
    period_us: i64,
}

/// An angle brought into -π..π.
fn wrap(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    Normal::new(0.0, 1.0).map(|n| n.sample(rng)).unwrap_or(0.0)
}

impl SensorModel {
    /// A model of `sensor` starting at `start_us` with a random phase within one frame period.
    pub fn new(sensor: Sensor, seed: u64, start_us: i64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (u64::from(sensor.config.id) << 32));
        let period_us = (1e6 / sensor.config.rate_hz).round().max(1.0) as i64;
        let phase = rng.random_range(0..period_us);
        SensorModel { sensor, rng, sequence: 0, next_capture_us: start_us + phase, period_us }
    }

    /// True time of the next capture.
    pub fn next_capture_us(&self) -> i64 {
        self.next_capture_us
    }

    /// Capture the scene at the next capture time (the caller passes the true objects at that
    /// time) and advance to the following one.
    pub fn capture(&mut self, objects: &[TrueObject]) -> Delivery {
        let t_us = self.next_capture_us;
        self.next_capture_us += self.period_us;
        self.sequence = self.sequence.wrapping_add(1);
        let cfg = self.sensor.config.clone();
        let mut detections = Vec::new();
        let mut truth = Vec::new();
        for o in objects {
            if !self.sensor.sees(o.position_m, 0.0) {
                continue;
            }
            if cfg.errors.occlusion && self.occluded(o, objects) {
                continue;
            }
            let pd = if o.class.is_vulnerable() {
                cfg.errors.pedestrian_detection_probability.unwrap_or(cfg.errors.detection_probability)
            } else {
                cfg.errors.detection_probability
            };
            if self.rng.random::<f64>() >= pd {
                continue;
            }
            let d = match cfg.kind {
                SensorKind::Camera => self.camera_detection(o),
                SensorKind::Radar => self.radar_detection(o.position_m, o.velocity_mps),
            };
            detections.push(d);
            truth.push(Some(o.id));
            // long vehicles give a radar a second return from their other end
            if cfg.kind == SensorKind::Radar && o.size_m[0] > 6.0 && self.rng.random::<f64>() < 0.5 {
                let speed = o.velocity_mps[0].hypot(o.velocity_mps[1]);
                let (ux, uy) =
                    if speed > 0.5 { (o.velocity_mps[0] / speed, o.velocity_mps[1] / speed) } else { (1.0, 0.0) };
                let back = o.size_m[0] * 0.4;
                let p = [o.position_m[0] - ux * back, o.position_m[1] - uy * back];
                detections.push(self.radar_detection(p, o.velocity_mps));
                truth.push(Some(o.id));
            }
        }
        // false alarms (camera) / clutter (radar), uniform over the field of view
        let lambda = cfg.errors.false_alarms_per_frame;
        let n =
            if lambda > 0.0 { Poisson::new(lambda).map(|p| p.sample(&mut self.rng) as usize).unwrap_or(0) } else { 0 };
        for _ in 0..n {
            let r = cfg.range_m * self.rng.random::<f64>().sqrt();
            let half = (cfg.fov_deg / 2.0).to_radians();
            let az = self.rng.random_range(-half..=half);
            let p = self.sensor.to_local(r * az.cos(), r * az.sin());
            let d = match cfg.kind {
                SensorKind::Camera => {
                    let class = ObjectClass::ALL[self.rng.random_range(0..ObjectClass::ALL.len())];
                    let fake = TrueObject { id: 0, class, position_m: p, velocity_mps: [0.0, 0.0], size_m: [4.0, 1.8] };
                    let mut d = self.camera_detection(&fake);
                    d.class = Some((class, self.rng.random_range(0.3..0.7)));
                    d
                }
                SensorKind::Radar => {
                    let v = 0.3 * standard_normal(&mut self.rng);
                    let mut d = self.radar_detection(p, [0.0, 0.0]);
                    if let Measurement::Polar { radial_speed_mps, .. } = &mut d.measurement {
                        *radial_speed_mps += v;
                    }
                    d
                }
            };
            detections.push(d);
            truth.push(None);
        }
        // latency with a little jitter, never negative
        let jitter = (standard_normal(&mut self.rng) * 0.05 * cfg.latency_ms).abs();
        let arrival_us = t_us + ((cfg.latency_ms + jitter) * 1000.0).round() as i64;
        let frame = SensorFrame {
            sensor_id: cfg.id,
            sequence: self.sequence,
            capture_time_us: t_us + self.sensor.clock_offset_us(),
            detections,
        };
        Delivery { arrival_us, frame, truth }
    }

    /// Hidden behind a larger object closer on the same line of sight.
    fn occluded(&self, o: &TrueObject, all: &[TrueObject]) -> bool {
        let q = self.sensor.to_sensor(o.position_m);
        let (r, az) = (q[0].hypot(q[1]), q[1].atan2(q[0]));
        all.iter().any(|b| {
            if b.id == o.id || b.size_m[0] * b.size_m[1] <= o.size_m[0] * o.size_m[1] {
                return false;
            }
            let qb = self.sensor.to_sensor(b.position_m);
            let rb = qb[0].hypot(qb[1]);
            if rb >= r || rb < 1.0 {
                return false;
            }
            let half = (b.size_m[1].max(b.size_m[0] * 0.5) / 2.0 / rb).atan();
            let d = wrap(qb[1].atan2(qb[0]) - az);
            d.abs() < half
        })
    }

    fn camera_detection(&mut self, o: &TrueObject) -> Detection {
        let n = self.sensor.config.noise;
        let q = self.sensor.to_sensor(o.position_m);
        let r = q[0].hypot(q[1]);
        let (s_lon, s_lat) = (n.longitudinal_m + n.longitudinal_per_m * r, n.lateral_m);
        // along / across the line of sight, then into the sensor frame
        let (c, s) = if r > 1e-6 { (q[0] / r, q[1] / r) } else { (1.0, 0.0) };
        let (e_lon, e_lat) = (s_lon * standard_normal(&mut self.rng), s_lat * standard_normal(&mut self.rng));
        let x = q[0] + c * e_lon - s * e_lat;
        let y = q[1] + s * e_lon + c * e_lat;
        let (vl, vt) = (s_lon * s_lon, s_lat * s_lat);
        let cov = [c * c * vl + s * s * vt, c * s * (vl - vt), s * s * vl + c * c * vt];
        let confusion = self.sensor.config.errors.class_confusion;
        let class = if self.rng.random::<f64>() < confusion {
            let others: Vec<ObjectClass> = ObjectClass::ALL.iter().copied().filter(|k| *k != o.class).collect();
            (others[self.rng.random_range(0..others.len())], self.rng.random_range(0.4..0.8))
        } else {
            (o.class, self.rng.random_range(0.7..0.99))
        };
        let size = [
            (o.size_m[0] * (1.0 + 0.05 * standard_normal(&mut self.rng))).max(0.2),
            (o.size_m[1] * (1.0 + 0.05 * standard_normal(&mut self.rng))).max(0.2),
        ];
        Detection {
            sensor_object_id: 0,
            measurement: Measurement::Position { x_m: x, y_m: y, cov_m2: cov },
            class: Some(class),
            size_m: Some(size),
        }
    }

    fn radar_detection(&mut self, p: [f64; 2], v: [f64; 2]) -> Detection {
        let n = self.sensor.config.noise;
        let (dx, dy) = (p[0] - self.sensor.position_m[0], p[1] - self.sensor.position_m[1]);
        let r = dx.hypot(dy).max(1e-3);
        let az = wrap(dy.atan2(dx) - self.sensor.yaw_rad);
        let rdot = (dx * v[0] + dy * v[1]) / r;
        let range_m = (r + n.range_m * standard_normal(&mut self.rng)).max(0.0);
        let azimuth_rad = wrap(az + n.azimuth_deg.to_radians() * standard_normal(&mut self.rng));
        Detection {
            sensor_object_id: 0,
            measurement: Measurement::Polar {
                range_m,
                azimuth_rad,
                radial_speed_mps: rdot + n.radial_speed_mps * standard_normal(&mut self.rng),
            },
            class: None,
            size_m: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roadside_unit::sensors::{parse_sensor_file, PoseConfig};

    fn sensor(kind: &str, extra: &str) -> Sensor {
        let text = format!(
            "format = \"zhilu-sensors/1\"\n[[sensor]]\nid = 3\nkind = \"{kind}\"\npose = {{ x_m = 0.0, y_m = 0.0, heading_deg = 90.0 }}\n\
             fov_deg = 90.0\nrange_m = 100.0\nrate_hz = 10.0\nlatency_ms = 80.0\nclock_offset_ms = 15.0\n{extra}"
        );
        let f = parse_sensor_file("t", &text).unwrap();
        let c = f.sensors[0].clone();
        let PoseConfig::Local { x_m, y_m, heading_deg } = c.pose else { unreachable!() };
        Sensor { config: c, position_m: [x_m, y_m], yaw_rad: (90.0 - heading_deg).to_radians() }
    }

    fn car(id: u64, x: f64, y: f64) -> TrueObject {
        TrueObject { id, class: ObjectClass::Car, position_m: [x, y], velocity_mps: [-10.0, 0.0], size_m: [4.5, 1.8] }
    }

    #[test]
    fn camera_noise_grows_with_range_and_timing_is_as_configured() {
        let s = sensor("camera", "noise = { lateral_m = 0.3, longitudinal_m = 0.3, longitudinal_per_m = 0.02 }");
        let mut m = SensorModel::new(s, 7, 0);
        let (mut near, mut far) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let t = m.next_capture_us();
            let d = m.capture(&[car(1, 10.0, 0.0), car(2, 90.0, 0.0)]);
            assert_eq!(d.frame.capture_time_us, t + 15_000);
            assert!(d.arrival_us >= t + 80_000 && d.arrival_us < t + 100_000);
            for (det, id) in d.frame.detections.iter().zip(&d.truth) {
                if let Measurement::Position { x_m, .. } = det.measurement {
                    match id {
                        Some(1) => near.push(x_m - 10.0),
                        Some(2) => far.push(x_m - 90.0),
                        _ => {}
                    }
                }
            }
        }
        let sd = |v: &[f64]| (v.iter().map(|e| e * e).sum::<f64>() / v.len() as f64).sqrt();
        // sigma along the line of sight: 0.3 + 0.02 r
        assert!((sd(&near) - 0.5).abs() < 0.05, "{}", sd(&near));
        assert!((sd(&far) - 2.1).abs() < 0.2, "{}", sd(&far));
    }

    #[test]
    fn misses_false_alarms_and_occlusion() {
        let s = sensor(
            "camera",
            "errors = { detection_probability = 0.9, false_alarms_per_frame = 0.5, class_confusion = 0.05, occlusion = true }",
        );
        let mut m = SensorModel::new(s, 1, 0);
        let truck = TrueObject {
            id: 9,
            class: ObjectClass::Truck,
            position_m: [20.0, 0.0],
            velocity_mps: [0.0; 2],
            size_m: [10.0, 2.5],
        };
        let (mut seen, mut fa, mut behind, mut wrong) = (0, 0, 0, 0);
        let frames = 4000;
        for _ in 0..frames {
            let d = m.capture(&[car(1, 50.0, 30.0), car(2, 40.0, 0.0), truck]);
            for (det, id) in d.frame.detections.iter().zip(&d.truth) {
                match id {
                    Some(1) => {
                        seen += 1;
                        wrong += usize::from(det.class.is_some_and(|c| c.0 != ObjectClass::Car));
                    }
                    Some(2) => behind += 1,
                    None => fa += 1,
                    _ => {}
                }
            }
        }
        let pd = seen as f64 / frames as f64;
        assert!((pd - 0.9).abs() < 0.02, "{pd}");
        assert!(((fa as f64 / frames as f64) - 0.5).abs() < 0.05, "{fa}");
        assert_eq!(behind, 0, "car 2 stands behind the truck");
        assert!(((wrong as f64 / seen as f64) - 0.05).abs() < 0.015, "{wrong}");
    }

    #[test]
    fn radar_measures_range_azimuth_and_doppler() {
        let s = sensor("radar", "");
        let mut m = SensorModel::new(s, 2, 0);
        let d = m.capture(&[car(1, 30.0, 20.0)]);
        let Measurement::Polar { range_m, azimuth_rad, radial_speed_mps } = d.frame.detections[0].measurement else {
            panic!()
        };
        let r = 30f64.hypot(20.0);
        assert!((range_m - r).abs() < 1.5);
        assert!((azimuth_rad - 20f64.atan2(30.0)).abs() < 0.05);
        // moving west at 10 m/s, it closes at 10 * 30 / r
        assert!((radial_speed_mps + 10.0 * 30.0 / r).abs() < 0.5);
        assert!(d.frame.detections[0].class.is_none());
    }
}
