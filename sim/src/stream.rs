//! The frames of a live run, in the order they reach the RSU: `sim stream`'s pure core.
//!
//! Every sensor of the rig captures the scene at its own instants ([`SensorModel`]); a
//! [`FrameSchedule`] merges their frames by arrival time (capture time plus latency), asking the
//! scene for the true road users at each capture instant in increasing time.  Times are
//! *simulated* microseconds from the start of the run; the caller maps them to the wall clock by a
//! fixed offset (add it to the arrival time to know when to send, and to the frame's capture time
//! to stamp it), so the content is deterministic for a seed.  No I/O.

use crate::replay::GroundTruth;
use crate::sensors::{Delivery, SensorModel, TrueObject};
use crate::traffic::SyntheticTraffic;
use roadside_unit::sensors::Sensor;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What the sensors look at: the true road users at an instant (asked in non-decreasing time).
pub trait Scene {
    /// The road users at `t_us` (simulated microseconds from the start of the run).
    fn objects_at(&mut self, t_us: i64) -> Vec<TrueObject>;
}

impl Scene for SyntheticTraffic {
    fn objects_at(&mut self, t_us: i64) -> Vec<TrueObject> {
        SyntheticTraffic::objects_at(self, t_us)
    }
}

/// Recorded trajectories played from their first sample on: simulated time 0 is the recording's
/// first instant.
pub struct Recorded {
    truth: GroundTruth,
    first_us: i64,
    duration_us: i64,
}

impl Recorded {
    /// The recording, starting at its first sample.
    pub fn new(truth: GroundTruth) -> Self {
        let (first_us, last_us) = truth.span_us().unwrap_or((0, 0));
        Recorded { truth, first_us, duration_us: last_us - first_us }
    }

    /// From the first sample to the last, microseconds.
    pub fn duration_us(&self) -> i64 {
        self.duration_us
    }

    /// The number of tracks.
    pub fn tracks(&self) -> usize {
        self.truth.len()
    }
}

impl Scene for Recorded {
    fn objects_at(&mut self, t_us: i64) -> Vec<TrueObject> {
        self.truth.objects_at(t_us.saturating_add(self.first_us))
    }
}

/// A frame waiting for its arrival, ordered by (arrival, sensor id, capture order).
struct Pending {
    key: (i64, u32, u64),
    delivery: Delivery,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The frames of every sensor, in arrival order: an iterator of [`Delivery`] (simulated times).
pub struct FrameSchedule<S> {
    scene: S,
    models: Vec<SensorModel>,
    pending: BinaryHeap<Reverse<Pending>>,
    captured: u64,
    end_us: Option<i64>,
}

impl<S: Scene> FrameSchedule<S> {
    /// Every sensor of `sensors` looking at `scene` from simulated time 0 (each with a random
    /// phase within its frame period, seeded), capturing before `end_us` (for ever without).
    pub fn new(scene: S, sensors: Vec<Sensor>, seed: u64, end_us: Option<i64>) -> Self {
        let models = sensors.into_iter().map(|s| SensorModel::new(s, seed, 0)).collect();
        FrameSchedule { scene, models, pending: BinaryHeap::new(), captured: 0, end_us }
    }

    /// The scene.
    pub fn scene(&self) -> &S {
        &self.scene
    }
}

impl<S: Scene> Iterator for FrameSchedule<S> {
    type Item = Delivery;

    fn next(&mut self) -> Option<Delivery> {
        loop {
            // the sensor that captures next (ties: the first in the rig)
            let next = self
                .models
                .iter()
                .enumerate()
                .filter(|(_, m)| self.end_us.is_none_or(|end| m.next_capture_us() < end))
                .min_by_key(|(i, m)| (m.next_capture_us(), *i))
                .map(|(i, m)| (i, m.next_capture_us()));
            let first_arrival = self.pending.peek().map(|p| p.0.key.0);
            match (next, first_arrival) {
                // a frame arrives no earlier than its capture, so nothing captured later can
                // overtake one that arrives before the next capture
                (Some((i, t)), arrival) if arrival.is_none_or(|a| t <= a) => {
                    let objects = self.scene.objects_at(t);
                    let delivery = self.models[i].capture(&objects);
                    self.captured += 1;
                    let key = (delivery.arrival_us, delivery.frame.sensor_id, self.captured);
                    self.pending.push(Reverse(Pending { key, delivery }));
                }
                _ => return self.pending.pop().map(|p| p.0.delivery),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::TrafficConfig;
    use map_encoder::model::{parse, Syntax};
    use roadside_unit::sensors::{parse_sensor_file, resolve};

    fn rig() -> (map_encoder::model::Intersection, Vec<Sensor>) {
        let (m, _) = parse("4leg", include_str!("../../examples/4leg.toml"), Syntax::Toml).unwrap();
        let x = m.intersections[0].clone();
        let f = parse_sensor_file("rig", include_str!("../examples/sensors-4cam-4radar.toml")).unwrap();
        let sensors = resolve("rig", &f, &x).unwrap();
        (x, sensors)
    }

    fn schedule(seed: u64) -> FrameSchedule<SyntheticTraffic> {
        let (x, sensors) = rig();
        let config =
            TrafficConfig { vehicles_per_hour_per_lane: 300.0, pedestrians_per_hour_per_crosswalk: 60.0, seed };
        FrameSchedule::new(SyntheticTraffic::new(&x, &config), sensors, seed, Some(5_000_000))
    }

    #[test]
    fn frames_come_in_arrival_order_at_every_sensors_rate() {
        let all: Vec<Delivery> = schedule(1).collect();
        assert!(all.windows(2).all(|w| w[0].arrival_us <= w[1].arrival_us));
        let count = |id: u32| all.iter().filter(|d| d.frame.sensor_id == id).count();
        for id in [11, 12, 13, 14] {
            assert_eq!(count(id), 50, "camera {id}: 10 Hz for 5 s");
        }
        for id in [21, 22, 23, 24] {
            assert_eq!(count(id), 100, "radar {id}: 20 Hz for 5 s");
        }
        // every sensor sees some of the traffic
        for id in [11, 12, 13, 14, 21, 22, 23, 24] {
            let seen = all.iter().filter(|d| d.frame.sensor_id == id).flat_map(|d| &d.truth).flatten().count();
            assert!(seen > 20, "sensor {id} saw {seen}");
        }
        // sequences count up per sensor
        let seq: Vec<u32> = all.iter().filter(|d| d.frame.sensor_id == 21).map(|d| d.frame.sequence).collect();
        assert_eq!(seq, (1..=100).collect::<Vec<u32>>());
    }

    #[test]
    fn the_same_seed_gives_the_same_frames() {
        let a: Vec<Delivery> = schedule(4).collect();
        let b: Vec<Delivery> = schedule(4).collect();
        assert_eq!(a, b);
        let c: Vec<Delivery> = schedule(5).collect();
        assert_ne!(a, c);
    }
}
