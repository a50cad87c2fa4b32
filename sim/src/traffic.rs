//! Synthetic traffic for `sim stream`: road users that make the sensors see something when no
//! recording is at hand.  Not a traffic model (that comes with the simulation issue): vehicles
//! ignore the signals and each other.
//!
//! Every ingress travel lane of the intersection is a source.  Vehicles arrive at its upstream end
//! at a given rate (exponential headways above a minimum, so the mean rate is the one asked for;
//! seeded), take one of the lane's connections to an egress lane of the same intersection (chosen
//! uniformly), and follow the lane's centre line, a smooth curve (cubic Bézier tangent to both
//! lanes) through the junction and the egress lane's centre line to its end, where they vanish.
//! They drive at the lane's speed limit (lane, else approach, else intersection, else 50 km/h),
//! slowing for curves so the lateral acceleration stays below 2.5 m/s² (braking 2.5 m/s²,
//! accelerating 1.5 m/s²).  Classes: bus lanes and lanes for buses only carry buses, bike lanes
//! bikes, other lanes 90% cars, 7% trucks (none where trucks are banned) and 3% buses.
//! Pedestrians cross on every crosswalk in either direction at 1.1 to 1.6 m/s.
//!
//! The scene starts in a steady state: arrivals begin one longest trip before time 0.
//! Deterministic for a seed: every source draws from its own ChaCha generator, so what a source
//! does does not depend on how often or when the scene is asked.  No I/O.

use crate::sensors::TrueObject;
use map_encoder::geometry::{centreline, frame, P2};
use map_encoder::model::{Direction, Intersection, Lane, LaneType, LimitKind, Target, VehicleClass};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use roadside_unit::ingest::ObjectClass;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Speed where a lane gives none, km/h.
pub const DEFAULT_SPEED_KPH: f64 = 50.0;
/// Shortest headway between two vehicles entering the same lane, seconds.
pub const MIN_HEADWAY_S: f64 = 1.5;
/// Largest lateral acceleration in curves, m/s².
const LATERAL_MPS2: f64 = 2.5;
/// Braking before a curve, m/s².
const BRAKE_MPS2: f64 = 2.5;
/// Acceleration after a curve, m/s².
const ACCEL_MPS2: f64 = 1.5;
/// Slowest a vehicle goes through a curve, m/s.
const MIN_CURVE_MPS: f64 = 2.0;
/// Spacing of a path's vertices, metres.
const STEP_M: f64 = 1.0;
/// Longest warm-up (time before 0 at which arrivals begin), microseconds.
const MAX_WARMUP_US: i64 = 300_000_000;

/// How much traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficConfig {
    /// Vehicles entering each ingress travel lane per hour.
    pub vehicles_per_hour_per_lane: f64,
    /// Pedestrians starting across each crosswalk per hour (both directions together).
    pub pedestrians_per_hour_per_crosswalk: f64,
    /// Seed of every random draw.
    pub seed: u64,
}

/// A path with its timing: vertices about a metre apart and the time each is reached.
#[derive(Debug, Clone)]
struct Path {
    points: Vec<P2>,
    /// Speed at each vertex, m/s.
    speeds: Vec<f64>,
    /// Seconds from the start to each vertex.
    times: Vec<f64>,
}

impl Path {
    /// `points` resampled, driven at up to `speed_mps`, slower in curves when `curves`.
    fn new(points: &[P2], speed_mps: f64, curves: bool) -> Option<Self> {
        let points = resample(points)?;
        let n = points.len();
        let mut speeds = vec![speed_mps; n];
        if curves {
            for i in 1..n - 1 {
                let (a, b) = (points[i.saturating_sub(2)], points[(i + 2).min(n - 1)]);
                let (u, w) = (points[i] - a, b - points[i]);
                let turn = (u.x * w.y - u.y * w.x).atan2(u.dot(&w)).abs();
                let len = (u.norm() + w.norm()) / 2.0;
                if turn > 1e-6 && len > 1e-6 {
                    let radius = len / turn;
                    speeds[i] = speeds[i].min((LATERAL_MPS2 * radius).sqrt().max(MIN_CURVE_MPS));
                }
            }
            for i in 1..n {
                let ds = (points[i] - points[i - 1]).norm();
                speeds[i] = speeds[i].min((speeds[i - 1].powi(2) + 2.0 * ACCEL_MPS2 * ds).sqrt());
            }
            for i in (0..n - 1).rev() {
                let ds = (points[i + 1] - points[i]).norm();
                speeds[i] = speeds[i].min((speeds[i + 1].powi(2) + 2.0 * BRAKE_MPS2 * ds).sqrt());
            }
        }
        let mut times = Vec::with_capacity(n);
        times.push(0.0);
        for i in 1..n {
            let ds = (points[i] - points[i - 1]).norm();
            let v = (speeds[i - 1] + speeds[i]) / 2.0;
            times.push(times[i - 1] + ds / v.max(0.1));
        }
        Some(Path { points, speeds, times })
    }

    fn duration_s(&self) -> f64 {
        self.times.last().copied().unwrap_or(0.0)
    }

    /// Position and velocity `t` seconds after the start (`None` outside the trip).
    fn at(&self, t: f64) -> Option<(P2, P2)> {
        if !(0.0..=self.duration_s()).contains(&t) {
            return None;
        }
        let i = self.times.partition_point(|&x| x <= t).clamp(1, self.times.len() - 1);
        let (t0, t1) = (self.times[i - 1], self.times[i]);
        let f = if t1 > t0 { ((t - t0) / (t1 - t0)).clamp(0.0, 1.0) } else { 0.0 };
        let (a, b) = (self.points[i - 1], self.points[i]);
        let d = b - a;
        let dir = if d.norm() > 1e-9 { d / d.norm() } else { P2::zeros() };
        let v = self.speeds[i - 1] + f * (self.speeds[i] - self.speeds[i - 1]);
        Some((a + d * f, dir * v))
    }
}

/// A polyline resampled at about [`STEP_M`], keeping its ends (`None` when it is shorter than
/// a decimetre or not finite).
fn resample(points: &[P2]) -> Option<Vec<P2>> {
    let mut pts: Vec<P2> = Vec::with_capacity(points.len());
    for p in points {
        if !(p.x.is_finite() && p.y.is_finite()) {
            return None;
        }
        if pts.last().is_none_or(|q: &P2| (p - q).norm() > 1e-6) {
            pts.push(*p);
        }
    }
    let total: f64 = pts.windows(2).map(|s| (s[1] - s[0]).norm()).sum();
    if pts.len() < 2 || total < 0.1 {
        return None;
    }
    let mut out = vec![pts[0]];
    for s in pts.windows(2) {
        let d = s[1] - s[0];
        let k = (d.norm() / STEP_M).ceil().max(1.0) as usize;
        out.extend((1..=k).map(|j| s[0] + d * (j as f64 / k as f64)));
    }
    Some(out)
}

/// The curve from the end of an ingress centre line into the start of an egress one.
fn connector(ingress: &[P2], egress: &[P2]) -> Vec<P2> {
    let (n, m) = (ingress.len(), egress.len());
    let (p0, p1) = (ingress[n - 1], egress[0]);
    let unit = |d: P2| if d.norm() > 1e-9 { d / d.norm() } else { P2::zeros() };
    let (d0, d1) = (unit(ingress[n - 1] - ingress[n - 2]), unit(egress[1.min(m - 1)] - egress[0]));
    let dist = (p1 - p0).norm();
    // a U-turn bulges out far enough to turn; otherwise about a circle's tangent length
    let k = if d0.dot(&d1) < -0.5 { (0.6 * dist).max(6.0) } else { 0.4 * dist };
    let (c0, c1) = (p0 + d0 * k, p1 - d1 * k);
    let steps = ((dist + k) / STEP_M).ceil().max(8.0) as usize;
    (1..steps)
        .map(|j| {
            let t = j as f64 / steps as f64;
            let u = 1.0 - t;
            p0 * (u * u * u) + c0 * (3.0 * u * u * t) + c1 * (3.0 * u * t * t) + p1 * (t * t * t)
        })
        .collect()
}

/// The lane's general maximum speed: its own (for all vehicles, at all times), else its
/// approach's, else the intersection's, else [`DEFAULT_SPEED_KPH`]; m/s.
pub fn lane_speed_mps(x: &Intersection, lane: &Lane) -> f64 {
    let own = lane
        .speed_limits
        .iter()
        .filter(|l| l.kind == LimitKind::Max && l.vehicle.is_none() && l.time.is_none())
        .map(|l| l.kph)
        .reduce(f64::min);
    let kph = own
        .or_else(|| x.approaches.iter().find(|a| a.id == lane.approach).and_then(|a| a.speed_limit_kph))
        .or(x.speed_limit_kph)
        .filter(|k| k.is_finite() && *k > 0.0)
        .unwrap_or(DEFAULT_SPEED_KPH);
    kph / 3.6
}

fn object_class(v: VehicleClass) -> ObjectClass {
    match v {
        VehicleClass::Car | VehicleClass::Taxi => ObjectClass::Car,
        VehicleClass::Bus => ObjectClass::Bus,
        VehicleClass::Truck | VehicleClass::Trailer => ObjectClass::Truck,
        VehicleClass::Bike => ObjectClass::Bike,
    }
}

/// The classes a lane carries with their weights.
fn class_mix(lane: &Lane) -> Vec<(ObjectClass, f64)> {
    if !lane.only.is_empty() {
        let mut classes: Vec<ObjectClass> = lane.only.iter().map(|v| object_class(*v)).collect();
        classes.sort_unstable();
        classes.dedup();
        return classes.into_iter().map(|c| (c, 1.0)).collect();
    }
    match lane.lane_type {
        LaneType::Bus => vec![(ObjectClass::Bus, 1.0)],
        LaneType::Bike => vec![(ObjectClass::Bike, 1.0)],
        _ => {
            let banned = |c: ObjectClass| lane.bans.iter().any(|b| object_class(b.vehicle) == c);
            [(ObjectClass::Car, 0.90), (ObjectClass::Truck, 0.07), (ObjectClass::Bus, 0.03)]
                .into_iter()
                .filter(|(c, _)| !banned(*c))
                .collect()
        }
    }
}

fn random_size(rng: &mut ChaCha8Rng, class: ObjectClass) -> [f64; 2] {
    match class {
        ObjectClass::Car => [rng.random_range(4.0..5.0), rng.random_range(1.7..1.95)],
        ObjectClass::Truck => [rng.random_range(7.0..12.0), 2.5],
        ObjectClass::Bus => [rng.random_range(10.5..12.5), 2.55],
        ObjectClass::Bike => [1.8, 0.6],
        ObjectClass::Motorcycle => [2.1, 0.8],
        ObjectClass::Pedestrian => [0.5, 0.5],
    }
}

/// Where road users come from.
#[derive(Debug)]
enum Origin {
    /// An ingress lane: per connection, its path.
    Lane { classes: Vec<(ObjectClass, f64)>, paths: Vec<Arc<Path>> },
    /// A crosswalk: its centre line and width.
    Crosswalk { line: Vec<P2>, width_m: f64 },
}

#[derive(Debug)]
struct Source {
    origin: Origin,
    rng: ChaCha8Rng,
    /// Mean and shortest headway, seconds (mean infinite: no arrivals).
    mean_headway_s: f64,
    min_headway_s: f64,
    next_arrival_us: i64,
    count: u64,
}

impl Source {
    fn headway_us(&mut self) -> i64 {
        if !self.mean_headway_s.is_finite() {
            return i64::MAX;
        }
        let extra = self.mean_headway_s - self.min_headway_s;
        let h = if extra > 0.0 {
            self.min_headway_s + Exp::new(1.0 / extra).map(|e| e.sample(&mut self.rng)).unwrap_or(extra)
        } else {
            self.mean_headway_s
        };
        (h * 1e6).round() as i64
    }
}

#[derive(Debug)]
struct Agent {
    id: u64,
    class: ObjectClass,
    size_m: [f64; 2],
    path: Arc<Path>,
    start_us: i64,
    end_us: i64,
}

/// What the synthetic scene holds: sources by lane, and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// Ingress lanes that send vehicles, with the number of routes (connections) from each.
    pub lanes: Vec<(u8, usize)>,
    /// Crosswalks with pedestrians.
    pub crosswalks: Vec<u8>,
    /// Ingress travel lanes without a usable connection to an egress lane of the intersection
    /// (no traffic on them), with the reason.
    pub skipped: Vec<(u8, String)>,
}

/// Synthetic road users at one intersection.  Ask [`SyntheticTraffic::objects_at`] with times
/// that never go backwards.
#[derive(Debug)]
pub struct SyntheticTraffic {
    sources: Vec<Source>,
    agents: Vec<Agent>,
    spawned: BTreeMap<ObjectClass, u64>,
    layout: Layout,
}

impl SyntheticTraffic {
    /// Traffic on intersection `x`.
    pub fn new(x: &Intersection, config: &TrafficConfig) -> Self {
        let f = frame(x);
        let lines: BTreeMap<u8, Vec<P2>> = x.lanes.iter().map(|l| (l.id, centreline(&f, l))).collect();
        let mut layout = Layout::default();
        let mut sources = Vec::new();
        let headway = |per_hour: f64| if per_hour > 0.0 { 3600.0 / per_hour } else { f64::INFINITY };
        // one generator per source, apart from the sensor models' (seed ^ id << 32)
        let rng = |lane: u8| ChaCha8Rng::seed_from_u64(config.seed ^ (u64::from(lane) << 40) ^ 0x7472_6166);
        for lane in &x.lanes {
            let line = &lines[&lane.id];
            if lane.direction == Direction::Ingress && lane.lane_type.is_travel_lane() {
                let speed = match lane.lane_type {
                    LaneType::Bike => lane_speed_mps(x, lane).min(18.0 / 3.6),
                    _ => lane_speed_mps(x, lane),
                };
                let mut paths = Vec::new();
                let mut why = Vec::new();
                for c in x.connections.iter().filter(|c| c.from == lane.id) {
                    let Target::Lane(to) = c.to else {
                        why.push("leads to another intersection".to_string());
                        continue;
                    };
                    let egress = lines.get(&to).map(Vec::as_slice).unwrap_or_default();
                    if line.len() < 2 || egress.len() < 2 {
                        why.push(format!("lane {} or {to} has no centre line", lane.id));
                        continue;
                    }
                    let mut pts = line.clone();
                    pts.extend(connector(line, egress));
                    pts.extend_from_slice(egress);
                    match Path::new(&pts, speed, true) {
                        Some(p) => paths.push(Arc::new(p)),
                        None => why.push(format!("the path to lane {to} is degenerate")),
                    }
                }
                let classes = class_mix(lane);
                if paths.is_empty() || classes.is_empty() {
                    let reason = if classes.is_empty() {
                        "every class is banned".to_string()
                    } else if why.is_empty() {
                        "no connection".to_string()
                    } else {
                        why.join("; ")
                    };
                    layout.skipped.push((lane.id, reason));
                    continue;
                }
                layout.lanes.push((lane.id, paths.len()));
                sources.push(Source {
                    origin: Origin::Lane { classes, paths },
                    rng: rng(lane.id),
                    mean_headway_s: headway(config.vehicles_per_hour_per_lane),
                    min_headway_s: MIN_HEADWAY_S,
                    next_arrival_us: 0,
                    count: 0,
                });
            } else if lane.lane_type == LaneType::Crosswalk && resample(line).is_some() {
                layout.crosswalks.push(lane.id);
                sources.push(Source {
                    origin: Origin::Crosswalk { line: line.clone(), width_m: lane.width_m.max(0.0) },
                    rng: rng(lane.id),
                    mean_headway_s: headway(config.pedestrians_per_hour_per_crosswalk),
                    min_headway_s: 0.0,
                    next_arrival_us: 0,
                    count: 0,
                });
            }
        }
        // arrivals start one longest trip before 0, so the scene is in a steady state at 0
        let longest_s = sources
            .iter()
            .map(|s| match &s.origin {
                Origin::Lane { paths, .. } => paths.iter().map(|p| p.duration_s()).fold(0.0, f64::max),
                Origin::Crosswalk { line, .. } => length(line) / 1.1,
            })
            .fold(0.0, f64::max);
        let warmup_us = ((longest_s * 1e6) as i64).min(MAX_WARMUP_US);
        for s in &mut sources {
            let h = s.headway_us();
            s.next_arrival_us = (-warmup_us).saturating_add(h);
        }
        SyntheticTraffic { sources, agents: Vec::new(), spawned: BTreeMap::new(), layout }
    }

    /// The sources and the lanes left out.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Road users that have entered so far, by class.
    pub fn spawned(&self) -> &BTreeMap<ObjectClass, u64> {
        &self.spawned
    }

    /// Every road user on the road at `t_us` (microseconds; never earlier than the last call).
    pub fn objects_at(&mut self, t_us: i64) -> Vec<TrueObject> {
        let known = self.agents.len();
        for (index, s) in self.sources.iter_mut().enumerate() {
            while s.next_arrival_us <= t_us {
                let start_us = s.next_arrival_us;
                s.count += 1;
                let id = (index as u64 + 1) * 1_000_000_000 + s.count;
                let (class, path) = match &s.origin {
                    Origin::Lane { classes, paths } => {
                        let path = paths[s.rng.random_range(0..paths.len())].clone();
                        let total: f64 = classes.iter().map(|c| c.1).sum();
                        let mut pick = s.rng.random::<f64>() * total;
                        let class = classes
                            .iter()
                            .find(|c| {
                                pick -= c.1;
                                pick < 0.0
                            })
                            .unwrap_or(&classes[classes.len() - 1])
                            .0;
                        (class, path)
                    }
                    Origin::Crosswalk { line, width_m } => {
                        let speed = s.rng.random_range(1.1..1.6);
                        let offset = s.rng.random_range(-0.3..=0.3) * width_m;
                        let mut pts = offset_line(line, offset);
                        if s.rng.random::<bool>() {
                            pts.reverse();
                        }
                        match Path::new(&pts, speed, false) {
                            Some(p) => (ObjectClass::Pedestrian, Arc::new(p)),
                            None => {
                                s.next_arrival_us = s.next_arrival_us.saturating_add(s.headway_us());
                                continue;
                            }
                        }
                    }
                };
                let size_m = random_size(&mut s.rng, class);
                let end_us = start_us.saturating_add((path.duration_s() * 1e6).ceil() as i64);
                *self.spawned.entry(class).or_default() += 1;
                self.agents.push(Agent { id, class, size_m, path, start_us, end_us });
                s.next_arrival_us = s.next_arrival_us.saturating_add(s.headway_us());
            }
        }
        if self.agents.len() > known {
            // by id, so the order (which the sensor models' draws follow) does not depend on when
            // the scene was asked
            self.agents.sort_by_key(|a| a.id);
        }
        self.agents.retain(|a| a.end_us >= t_us);
        self.agents
            .iter()
            .filter_map(|a| {
                let (p, v) = a.path.at((t_us - a.start_us) as f64 * 1e-6)?;
                Some(TrueObject {
                    id: a.id,
                    class: a.class,
                    position_m: [p.x, p.y],
                    velocity_mps: [v.x, v.y],
                    size_m: a.size_m,
                })
            })
            .collect()
    }
}

fn length(line: &[P2]) -> f64 {
    line.windows(2).map(|s| (s[1] - s[0]).norm()).sum()
}

/// A polyline shifted sideways by `offset` metres (to the left of its direction), per segment.
fn offset_line(line: &[P2], offset: f64) -> Vec<P2> {
    let n = line.len();
    (0..n)
        .map(|i| {
            let d = line[(i + 1).min(n - 1)] - line[i.saturating_sub(1)];
            let len = d.norm();
            if len > 1e-9 {
                line[i] + P2::new(-d.y, d.x) * (offset / len)
            } else {
                line[i]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use map_encoder::model::{parse, Syntax};

    fn four_leg() -> Intersection {
        let (m, _) = parse("4leg", include_str!("../../examples/4leg.toml"), Syntax::Toml).unwrap();
        m.intersections[0].clone()
    }

    fn config(seed: u64) -> TrafficConfig {
        TrafficConfig { vehicles_per_hour_per_lane: 600.0, pedestrians_per_hour_per_crosswalk: 120.0, seed }
    }

    #[test]
    fn every_ingress_lane_and_crosswalk_is_a_source() {
        let t = SyntheticTraffic::new(&four_leg(), &config(1));
        let lanes: Vec<u8> = t.layout().lanes.iter().map(|l| l.0).collect();
        assert_eq!(lanes, [1, 2, 3, 4, 8, 9, 12, 13, 14, 15, 19, 20]);
        assert_eq!(t.layout().crosswalks, [23, 24, 25, 26]);
        assert!(t.layout().skipped.is_empty(), "{:?}", t.layout().skipped);
    }

    #[test]
    fn the_scene_is_populated_at_zero_and_deterministic() {
        let x = four_leg();
        let (mut a, mut b) = (SyntheticTraffic::new(&x, &config(7)), SyntheticTraffic::new(&x, &config(7)));
        let first = a.objects_at(0);
        assert!(first.len() > 10, "{}", first.len());
        // asked at other instants in between, b still sees the same scene at 30 s
        for t in (0..30_000_000).step_by(700_000) {
            b.objects_at(t);
        }
        assert_eq!(a.objects_at(30_000_000), b.objects_at(30_000_000));
        let c = SyntheticTraffic::new(&x, &config(8)).objects_at(30_000_000);
        assert_ne!(a.objects_at(30_000_000), c);
    }

    #[test]
    fn rates_classes_and_speeds() {
        let x = four_leg();
        let mut t = SyntheticTraffic::new(&x, &config(3));
        t.objects_at(0);
        let before: u64 = t.spawned().values().sum();
        let mut fast = 0.0f64;
        for k in 0..=3600 {
            for o in t.objects_at(k * 1_000_000) {
                let v = o.velocity_mps[0].hypot(o.velocity_mps[1]);
                if o.class.is_vehicle() {
                    fast = fast.max(v);
                    assert!(v >= MIN_CURVE_MPS - 1e-9, "{o:?}");
                } else {
                    assert!((1.1..1.6).contains(&v), "{o:?}");
                }
                assert!(o.position_m[0].abs() < 170.0 && o.position_m[1].abs() < 170.0, "{o:?}");
            }
        }
        let s = t.spawned();
        let vehicles: u64 = s.iter().filter(|(c, _)| c.is_vehicle()).map(|(_, n)| n).sum();
        let total: u64 = s.values().sum::<u64>() - before;
        assert!(total > 0);
        // 12 lanes at 600/h (plus the warm-up's), 4 crosswalks at 120/h
        assert!((7_000..7_800).contains(&vehicles), "{s:?}");
        assert!((400..600).contains(&s[&ObjectClass::Pedestrian]), "{s:?}");
        assert!(s[&ObjectClass::Truck] > 200 && s[&ObjectClass::Bus] > 1_000, "{s:?}");
        // never faster than the 60 km/h limit
        assert!(fast <= 60.0 / 3.6 + 1e-9 && fast > 16.0, "{fast}");
    }

    #[test]
    fn turns_slow_down_and_paths_join_the_lanes() {
        let x = four_leg();
        let f = frame(&x);
        let lane = |id: u8| centreline(&f, x.lanes.iter().find(|l| l.id == id).unwrap());
        // lane 1 turns left into lane 10
        let (a, b) = (lane(1), lane(10));
        let mut pts = a.clone();
        pts.extend(connector(&a, &b));
        pts.extend_from_slice(&b);
        let p = Path::new(&pts, 60.0 / 3.6, true).unwrap();
        let slowest = p.speeds.iter().copied().fold(f64::INFINITY, f64::min);
        assert!((MIN_CURVE_MPS..8.0).contains(&slowest), "{slowest}");
        assert_eq!(p.points[0], a[0]);
        assert!((p.points.last().unwrap() - b.last().unwrap()).norm() < 1e-9);
        let (start, _) = p.at(0.0).unwrap();
        assert_eq!(start, a[0]);
        assert!(p.at(p.duration_s() + 0.1).is_none());
    }
}
