//! Replay of real trajectories through simulated sensors and the RSU's fusion
//! core, scored against the trajectories themselves: `sim replay`.
//!
//! The trajectories (INTERACTION / TAF-BW CSV) are ground truth in their own
//! metric frame around an origin; TAF-BW's x/y come from a scaled spherical
//! Mercator projection about that origin (not UTM), so points go
//! trajectory frame → WGS84 → the intersection's local frame.  Every
//! configured sensor captures the true objects (interpolated to its own
//! capture instants), its frames reach the fusion core at their arrival
//! times, and at every ground-truth instant the fused output is compared
//! with the truth: MOTA, IDF1, position and velocity RMSE, lane-assignment
//! accuracy.  Pure and deterministic for a seed; the CLI does the file I/O.

use crate::metrics::{self, Frame, Object};
use crate::sensors::{Delivery, SensorModel, TrueObject};
use crate::trajectories::{AgentType, TrackPoint};
use map_encoder::geo::{LatLon, LocalFrame};
use map_encoder::model::Intersection;
use roadside_unit::events::{EventChange, EventConfig, EventDetector, EventKind, SignalShows};
use roadside_unit::fusion::{Fusion, FusionConfig};
use roadside_unit::fusion::{TrackOutput, TrackStatus};
use roadside_unit::ingest::ObjectClass;
use roadside_unit::lanes::LaneIndex;
use roadside_unit::sensors::{resolve, SensorConfigError, SensorFile};
use std::collections::BTreeMap;
use std::collections::HashMap;

/// Earth radius of the spherical Mercator projection, metres.
const R_EARTH_M: f64 = 6_378_137.0;

/// The trajectories' frame: scaled spherical Mercator about an origin (TAF-BW, INTERACTION).
#[derive(Debug, Clone, Copy)]
pub struct MercatorFrame {
    scale: f64,
    x0: f64,
    y0: f64,
}

impl MercatorFrame {
    /// The frame about `[lat, lon]` (degrees).
    pub fn new(origin: [f64; 2]) -> Self {
        let scale = origin[0].to_radians().cos();
        let (x0, y0) = Self::project(scale, origin);
        MercatorFrame { scale, x0, y0 }
    }

    fn project(scale: f64, ll: [f64; 2]) -> (f64, f64) {
        let x = scale * R_EARTH_M * ll[1].to_radians();
        let y = scale * R_EARTH_M * (std::f64::consts::FRAC_PI_4 + ll[0].to_radians() / 2.0).tan().ln();
        (x, y)
    }

    /// `[lat, lon]` of a point of the frame.
    pub fn to_wgs84(&self, p: [f64; 2]) -> [f64; 2] {
        let k = self.scale * R_EARTH_M;
        let lon = (p[0] + self.x0) / k;
        let lat = 2.0 * ((p[1] + self.y0) / k).exp().atan() - std::f64::consts::FRAC_PI_2;
        [lat.to_degrees(), lon.to_degrees()]
    }

    /// The frame's point of `[lat, lon]`.
    pub fn from_wgs84(&self, ll: [f64; 2]) -> [f64; 2] {
        let (x, y) = Self::project(self.scale, ll);
        [x - self.x0, y - self.y0]
    }
}

/// Trajectory frame ↔ the intersection's local frame.
pub struct FrameMap {
    mercator: MercatorFrame,
    local: LocalFrame,
}

impl FrameMap {
    /// For trajectories about `origin` and an intersection.
    pub fn new(origin: [f64; 2], x: &Intersection) -> Self {
        FrameMap { mercator: MercatorFrame::new(origin), local: map_encoder::geometry::frame(x) }
    }

    /// A trajectory point in the intersection's frame.
    pub fn to_local(&self, p: [f64; 2]) -> [f64; 2] {
        let ll = self.mercator.to_wgs84(p);
        let v = self.local.to_local(LatLon {
            lat_deg: ll[0],
            lon_deg: ll[1],
            elevation_m: self.local.origin().elevation_m,
        });
        [v.x, v.y]
    }

    /// An intersection point in the trajectory frame.
    pub fn to_trajectory(&self, p: [f64; 2]) -> [f64; 2] {
        let g = self.local.to_geodetic(nalgebra::Vector3::new(p[0], p[1], 0.0));
        self.mercator.from_wgs84([g.lat_deg, g.lon_deg])
    }

    /// A vector (velocity) at `p`, trajectory → local.
    pub fn vector_to_local(&self, p: [f64; 2], v: [f64; 2]) -> [f64; 2] {
        let a = self.to_local(p);
        let b = self.to_local([p[0] + v[0], p[1] + v[1]]);
        [b[0] - a[0], b[1] - a[1]]
    }

    /// A vector (velocity) at local `p`, local → trajectory.
    pub fn vector_to_trajectory(&self, p: [f64; 2], v: [f64; 2]) -> [f64; 2] {
        let a = self.to_trajectory(p);
        let b = self.to_trajectory([p[0] + v[0], p[1] + v[1]]);
        [b[0] - a[0], b[1] - a[1]]
    }
}

/// The object class of a trajectory agent type.
pub fn class_of(a: AgentType) -> ObjectClass {
    match a {
        AgentType::Car | AgentType::Unknown => ObjectClass::Car,
        AgentType::Truck => ObjectClass::Truck,
        AgentType::Bus => ObjectClass::Bus,
        AgentType::Bike => ObjectClass::Bike,
        AgentType::Motorcycle => ObjectClass::Motorcycle,
        AgentType::Pedestrian => ObjectClass::Pedestrian,
    }
}

fn agent_of(c: Option<ObjectClass>) -> AgentType {
    match c {
        Some(ObjectClass::Car) => AgentType::Car,
        Some(ObjectClass::Truck) => AgentType::Truck,
        Some(ObjectClass::Bus) => AgentType::Bus,
        Some(ObjectClass::Bike) => AgentType::Bike,
        Some(ObjectClass::Motorcycle) => AgentType::Motorcycle,
        Some(ObjectClass::Pedestrian) => AgentType::Pedestrian,
        None => AgentType::Unknown,
    }
}

/// What a replay needs.
#[derive(Clone)]
pub struct ReplayInput<'a> {
    /// Ground truth, in the trajectory frame.
    pub truth: &'a [TrackPoint],
    /// `[lat, lon]` of the trajectory frame's origin.
    pub origin: [f64; 2],
    /// The intersection the sensors stand at.
    pub intersection: &'a Intersection,
    /// The sensor rig.
    pub sensors: &'a SensorFile,
    /// Seed of every random draw.
    pub seed: u64,
    /// Use only these sensor ids (all when empty).
    pub only_sensors: Vec<u32>,
    /// Fusion tuning.
    pub fusion: FusionConfig,
    /// Signal states over time (for red-light running), when recorded.
    pub signals: Option<&'a SignalTimeline>,
}

/// Recorded signal states: at each time (ms), the state of every signal group.
pub type SignalTimeline = BTreeMap<i64, HashMap<u8, SignalShows>>;

/// Read a `signal_group_id,timestamp_ms,movement_state` CSV (TAF-BW `signal_phases_*.csv`).
pub fn read_signal_phases(text: &str) -> Result<SignalTimeline, String> {
    let mut lines = text.lines().enumerate();
    let header: Vec<String> = lines
        .next()
        .map(|(_, h)| h.split(',').map(|c| c.trim().trim_start_matches('\u{feff}').to_string()).collect())
        .unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or(format!("no `{name}` column"));
    let (g, t, st) = (col("signal_group_id")?, col("timestamp_ms")?, col("movement_state")?);
    let mut out = SignalTimeline::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |k: usize| f.get(k).copied().ok_or(format!("line {}: too few fields", i + 1));
        let group: u8 = get(g)?.parse().map_err(|_| format!("line {}: signal_group_id is not 0..255", i + 1))?;
        let time: i64 = get(t)?.parse().map_err(|_| format!("line {}: timestamp_ms is not an integer", i + 1))?;
        out.entry(time).or_default().insert(group, SignalShows::from_phase_name(get(st)?));
    }
    Ok(out)
}

/// Precision and recall of one event kind: the fused tracks' events against the events the same
/// detector finds on the ground truth (matched one to one within 2 s and 10 m).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventScore {
    /// Event kind.
    pub kind: EventKind,
    /// Events on the ground truth.
    pub truth: usize,
    /// Events on the fused tracks.
    pub detected: usize,
    /// Matched pairs.
    pub matched: usize,
    /// `matched / detected`.
    pub precision: f64,
    /// `matched / truth`.
    pub recall: f64,
}

fn score_events(truth: &[(EventKind, i64, [f64; 2])], found: &[(EventKind, i64, [f64; 2])]) -> Vec<EventScore> {
    let mut kinds: Vec<EventKind> = truth.iter().chain(found).map(|e| e.0).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|k| {
            let t: Vec<_> = truth.iter().filter(|e| e.0 == k).collect();
            let f: Vec<_> = found.iter().filter(|e| e.0 == k).collect();
            let mut used = vec![false; t.len()];
            let mut matched = 0;
            for e in &f {
                let best = t
                    .iter()
                    .enumerate()
                    .filter(|(i, g)| {
                        !used[*i] && (g.1 - e.1).abs() <= 2_000_000 && (g.2[0] - e.2[0]).hypot(g.2[1] - e.2[1]) <= 10.0
                    })
                    .min_by_key(|(_, g)| (g.1 - e.1).abs());
                if let Some((i, _)) = best {
                    used[i] = true;
                    matched += 1;
                }
            }
            let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
            EventScore {
                kind: k,
                truth: t.len(),
                detected: f.len(),
                matched,
                precision: ratio(matched, f.len()),
                recall: ratio(matched, t.len()),
            }
        })
        .collect()
}

/// Scores of one replay.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scores {
    /// Ground-truth object-frames.
    pub objects: usize,
    /// CLEAR MOTA.
    pub mota: f64,
    /// CLEAR MOTP, metres.
    pub motp_m: f64,
    /// False positives, misses, identity switches.
    pub fp: usize,
    /// Misses.
    pub fn_: usize,
    /// Identity switches.
    pub idsw: usize,
    /// IDF1.
    pub idf1: f64,
    /// Position RMSE over matched pairs, metres.
    pub position_rmse_m: f64,
    /// Velocity RMSE over matched pairs, m/s.
    pub velocity_rmse_mps: f64,
    /// Vehicle samples with a ground-truth lane, and how many the fused track put on the same lane.
    pub lane_samples: usize,
    /// See `lane_samples`.
    pub lane_correct: usize,
    /// `lane_correct / lane_samples`.
    pub lane_accuracy: f64,
    /// Frames refused by the fusion core, by reason.
    pub rejected_frames: BTreeMap<String, u64>,
    /// Events found on the fused tracks against those on the ground truth.
    pub events: Vec<EventScore>,
    /// The clock offset each sensor ended with (configured, or estimated), milliseconds.
    pub clock_offsets_ms: Vec<(u32, f64)>,
}

/// A replay's outcome.
pub struct ReplayOutput {
    /// The fused tracks at every ground-truth instant, trajectory frame.
    pub fused: Vec<TrackPoint>,
    /// The scores.
    pub scores: Scores,
}

/// One ground-truth object at one instant: id, local position, local velocity, agent type.
type TruthSample = (u64, [f64; 2], [f64; 2], AgentType);

struct TruthTrack {
    class: ObjectClass,
    size: [f64; 2],
    /// (t_us, local position, local velocity)
    samples: Vec<(i64, [f64; 2], [f64; 2])>,
}

fn interpolate(tr: &TruthTrack, t_us: i64) -> Option<([f64; 2], [f64; 2])> {
    let s = &tr.samples;
    let first = s.first()?;
    let last = s.last()?;
    if t_us < first.0 || t_us > last.0 {
        return None;
    }
    let i = s.partition_point(|x| x.0 <= t_us);
    if i == 0 || i >= s.len() {
        return Some((last.1, last.2));
    }
    let (a, b) = (&s[i - 1], &s[i]);
    let f = (t_us - a.0) as f64 / (b.0 - a.0).max(1) as f64;
    let lerp = |u: [f64; 2], v: [f64; 2]| [u[0] + f * (v[0] - u[0]), u[1] + f * (v[1] - u[1])];
    Some((lerp(a.1, b.1), lerp(a.2, b.2)))
}

/// Recorded trajectories as true road users in the intersection's local frame, at any instant
/// (linear interpolation between samples).  Velocities come from the positions (central
/// differences): the sensors observe the positions, and some recordings' vx/vy disagree with them
/// (TAF-BW K733: 10% of samples by more than 4 m/s).
pub struct GroundTruth {
    tracks: BTreeMap<u64, TruthTrack>,
    velocity_of: BTreeMap<(u64, i64), [f64; 2]>,
}

impl GroundTruth {
    /// The tracks of `points` (trajectory frame), mapped into the local frame by `map`.
    pub fn new(points: &[TrackPoint], map: &FrameMap) -> Self {
        let mut tracks: BTreeMap<u64, TruthTrack> = BTreeMap::new();
        for p in points {
            let pos = map.to_local([p.x_m, p.y_m]);
            let vel = map.vector_to_local([p.x_m, p.y_m], [p.vx_mps, p.vy_mps]);
            let tr = tracks.entry(p.track_id).or_insert_with(|| TruthTrack {
                class: class_of(p.agent),
                size: [p.length_m, p.width_m],
                samples: Vec::new(),
            });
            tr.samples.push((p.t_ms * 1000, pos, vel));
        }
        let mut velocity_of: BTreeMap<(u64, i64), [f64; 2]> = BTreeMap::new();
        for (&id, tr) in tracks.iter_mut() {
            tr.samples.sort_by_key(|s| s.0);
            let n = tr.samples.len();
            for i in 0..n {
                let (a, b) = (tr.samples[i.saturating_sub(1)], tr.samples[(i + 1).min(n - 1)]);
                let dt = (b.0 - a.0) as f64 * 1e-6;
                if dt > 0.0 {
                    tr.samples[i].2 = [(b.1[0] - a.1[0]) / dt, (b.1[1] - a.1[1]) / dt];
                }
                velocity_of.insert((id, tr.samples[i].0), tr.samples[i].2);
            }
        }
        GroundTruth { tracks, velocity_of }
    }

    /// First and last sample time over all tracks, microseconds (`None` without samples).
    pub fn span_us(&self) -> Option<(i64, i64)> {
        let first = self.tracks.values().filter_map(|t| t.samples.first()).map(|s| s.0).min()?;
        let last = self.tracks.values().filter_map(|t| t.samples.last()).map(|s| s.0).max()?;
        Some((first, last))
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether there are no tracks.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// The velocity of track `id` at its sample time `t_us` (from the positions).
    fn velocity(&self, id: u64, t_us: i64) -> Option<[f64; 2]> {
        self.velocity_of.get(&(id, t_us)).copied()
    }

    /// Every road user present at `t_us` (within its first and last sample).
    pub fn objects_at(&self, t_us: i64) -> Vec<TrueObject> {
        self.tracks
            .iter()
            .filter_map(|(&id, tr)| {
                interpolate(tr, t_us).map(|(p, v)| TrueObject {
                    id,
                    class: tr.class,
                    position_m: p,
                    velocity_mps: v,
                    size_m: tr.size,
                })
            })
            .collect()
    }
}

/// Run one replay.
pub fn replay(input: &ReplayInput) -> Result<ReplayOutput, SensorConfigError> {
    let x = input.intersection;
    let map = FrameMap::new(input.origin, x);
    let lanes = LaneIndex::new(x);
    // ground truth in the local frame, by track and by instant
    let scene = GroundTruth::new(input.truth, &map);
    let mut by_time: BTreeMap<i64, Vec<TruthSample>> = BTreeMap::new();
    for p in input.truth {
        let pos = map.to_local([p.x_m, p.y_m]);
        let t_us = p.t_ms * 1000;
        let vel = scene
            .velocity(p.track_id, t_us)
            .unwrap_or_else(|| map.vector_to_local([p.x_m, p.y_m], [p.vx_mps, p.vy_mps]));
        by_time.entry(t_us).or_default().push((p.track_id, pos, vel, p.agent));
    }
    let (Some(&t0), Some(&t1)) = (by_time.keys().next(), by_time.keys().next_back()) else {
        return Ok(ReplayOutput { fused: Vec::new(), scores: empty_scores() });
    };
    // sensors and their frames
    let all = resolve("sensors", input.sensors, x)?;
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|s| input.only_sensors.is_empty() || input.only_sensors.contains(&s.config.id))
        .collect();
    let mut models: Vec<SensorModel> = chosen.iter().map(|s| SensorModel::new(s.clone(), input.seed, t0)).collect();
    let mut deliveries: Vec<Delivery> = Vec::new();
    for m in &mut models {
        while m.next_capture_us() <= t1 {
            let objs = scene.objects_at(m.next_capture_us());
            deliveries.push(m.capture(&objs));
        }
    }
    deliveries.sort_by_key(|d| (d.arrival_us, d.frame.sensor_id));
    // fuse, and score at every ground-truth instant
    let mut fusion = Fusion::new(input.fusion.clone(), chosen);
    let mut next = 0;
    let mut frames: Vec<Frame> = Vec::new();
    let mut fused = Vec::new();
    let mut hyp_lanes: Vec<Vec<Option<usize>>> = Vec::new();
    let mut truth_lanes: Vec<Vec<Option<usize>>> = Vec::new();

    let (mut truth_events, mut fused_events) =
        (EventDetector::new(x, EventConfig::default()), EventDetector::new(x, EventConfig::default()));
    let (mut truth_started, mut fused_started) = (Vec::new(), Vec::new());
    let no_signals = HashMap::new();
    let started = |changes: Vec<EventChange>, into: &mut Vec<(EventKind, i64, [f64; 2])>| {
        for c in changes {
            if let EventChange::Started(e) = c {
                into.push((e.kind, e.start_us, e.position_m));
            }
        }
    };
    for (&t, truth) in &by_time {
        while next < deliveries.len() && deliveries[next].arrival_us <= t {
            let d = &deliveries[next];
            let _ = fusion.push(d.frame.clone(), d.arrival_us);
            next += 1;
        }
        fusion.advance(t);
        let out = fusion.output(t);
        let mut frame = Frame { t_ms: t / 1000, truth: Vec::new(), hyp: Vec::new() };
        let mut tl = Vec::new();
        for &(id, p, v, agent) in truth {
            frame.truth.push(Object::new(id, p[0], p[1]).with_velocity(v[0], v[1]));
            let vehicle = class_of(agent).is_vehicle();
            let moving = v[0].hypot(v[1]) > 1.0;
            tl.push(vehicle.then(|| lanes.locate(p, moving.then(|| v[1].atan2(v[0])), true).lane).flatten());
        }
        let mut hl = Vec::new();
        for o in &out {
            frame.hyp.push(
                Object::new(u64::from(o.id), o.position_m[0], o.position_m[1])
                    .with_velocity(o.velocity_mps[0], o.velocity_mps[1]),
            );
            let moving = o.velocity_mps[0].hypot(o.velocity_mps[1]) > 1.0;
            hl.push(lanes.locate(o.position_m, moving.then_some(o.heading_rad), true).lane);
            let p = map.to_trajectory(o.position_m);
            let v = map.vector_to_trajectory(o.position_m, o.velocity_mps);
            let agent = agent_of(o.class.map(|c| c.0));
            let (dl, dw) = agent.default_size_m();
            let size = o.size_m.unwrap_or([dl, dw]);
            fused.push(TrackPoint {
                track_id: u64::from(o.id),
                frame_id: t / 100_000,
                t_ms: t / 1000,
                agent,
                x_m: p[0],
                y_m: p[1],
                vx_mps: v[0],
                vy_mps: v[1],
                psi_rad: v[1].atan2(v[0]),
                length_m: size[0],
                width_m: size[1],
            });
        }
        // events, the same detector on the truth and on the fused output
        let signals =
            input.signals.and_then(|s| s.range(..=t / 1000).next_back().map(|(_, v)| v)).unwrap_or(&no_signals);
        let truth_out: Vec<TrackOutput> = truth
            .iter()
            .map(|&(id, p, v, agent)| TrackOutput {
                id: id as u32,
                position_m: p,
                velocity_mps: v,
                heading_rad: v[1].atan2(v[0]),
                position_sigma_m: [0.0, 0.0],
                class: Some((class_of(agent), 1.0)),
                size_m: None,
                status: TrackStatus::Confirmed,
                age_us: 0,
            })
            .collect();
        started(truth_events.update(t, &truth_out, signals), &mut truth_started);
        started(fused_events.update(t, &out, signals), &mut fused_started);
        frames.push(frame);
        truth_lanes.push(tl);
        hyp_lanes.push(hl);
    }
    let gate = metrics::DEFAULT_GATE_M;
    let mot = metrics::clear_mot(&frames, gate);
    let id = metrics::idf1(&frames, gate);
    let err = metrics::rmse(&frames, gate);
    let (mut lane_samples, mut lane_correct) = (0, 0);
    for (fi, ti, hi) in metrics::matched_pairs(&frames, gate) {
        if let Some(gl) = truth_lanes[fi][ti] {
            lane_samples += 1;
            lane_correct += usize::from(hyp_lanes[fi][hi] == Some(gl));
        }
    }
    let mut rejected_frames: BTreeMap<String, u64> = BTreeMap::new();
    for (_, s) in fusion.sensor_stats() {
        for (r, n) in &s.rejected {
            *rejected_frames.entry(r.as_str().to_string()).or_default() += n;
        }
    }
    Ok(ReplayOutput {
        fused,
        scores: Scores {
            objects: mot.num_objects,
            mota: mot.mota,
            motp_m: mot.motp_m,
            fp: mot.fp,
            fn_: mot.fn_,
            idsw: mot.idsw,
            idf1: id.idf1,
            position_rmse_m: err.position_m,
            velocity_rmse_mps: err.velocity_mps,
            lane_samples,
            lane_correct,
            lane_accuracy: if lane_samples > 0 { lane_correct as f64 / lane_samples as f64 } else { f64::NAN },
            rejected_frames,
            events: score_events(&truth_started, &fused_started),
            clock_offsets_ms: fusion.clock_offsets_ms(),
        },
    })
}

fn empty_scores() -> Scores {
    Scores {
        objects: 0,
        mota: f64::NAN,
        motp_m: f64::NAN,
        fp: 0,
        fn_: 0,
        idsw: 0,
        idf1: f64::NAN,
        position_rmse_m: f64::NAN,
        velocity_rmse_mps: f64::NAN,
        lane_samples: 0,
        lane_correct: 0,
        lane_accuracy: f64::NAN,
        rejected_frames: BTreeMap::new(),
        events: Vec::new(),
        clock_offsets_ms: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mercator_round_trip_and_scale() {
        let f = MercatorFrame::new([49.005306, 8.4374089]);
        assert_eq!(f.from_wgs84([49.005306, 8.4374089]), [0.0, 0.0]);
        let p = [123.4, -56.7];
        let q = f.from_wgs84(f.to_wgs84(p));
        assert!((q[0] - p[0]).abs() < 1e-6 && (q[1] - p[1]).abs() < 1e-6);
        // scaled at the origin: 100 m east is 100 m on the ground (within the projection's error)
        let ll = f.to_wgs84([100.0, 0.0]);
        let m = (ll[1] - 8.4374089).to_radians() * 6_378_137.0 * 49.005306f64.to_radians().cos();
        assert!((m - 100.0).abs() < 0.05, "{m}");
    }
}
