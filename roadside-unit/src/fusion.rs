//! The fusion core: sensor frames in, tracked objects out.  Pure and
//! deterministic: time is passed in (microseconds on the RSU clock), nothing
//! here reads a clock, a socket or a file, so the daemon, the simulator's fast
//! mode and the tests run exactly the same code.
//!
//! How it works (see `docs/fusion.md`):
//! - **Time alignment.** A frame's capture time is moved onto the RSU clock
//!   (minus the sensor's configured clock offset) and held in a reorder buffer
//!   for `reorder_window`; frames are then processed strictly in capture-time
//!   order, so sensors with different latencies interleave correctly.  A
//!   frame older than what was already processed is late and counted.
//! - **Per-sensor measurement models.** Camera positions (with their
//!   covariance, rotated into the local frame) update linearly; radar range,
//!   azimuth and radial speed through an extended Kalman filter.
//! - **Association.** Mahalanobis gating, then optimal assignment
//!   (Kuhn–Munkres) per cluster of mutually gated tracks and detections.
//! - **Life cycle.** Tentative → confirmed after `confirm_hits` hits →
//!   coasting when not updated for `coast_after` → deleted after
//!   `delete_after` (tentative tracks sooner).  Duplicate tracks of one object
//!   are merged.
//! - **Motion model.** Constant velocity with white-noise acceleration whose
//!   strength depends on the fused class (pedestrians accelerate gently,
//!   cars and motorcycles hard).
//! - **Class fusion.** A Bayesian class distribution updated by every
//!   classified detection through the sensor's confusion rate.

use crate::ingest::{Detection, Measurement, ObjectClass, SensorFrame};
use crate::sensors::Sensor;
use nalgebra::{Matrix2, Matrix3, Matrix3x4, Matrix4, Vector2, Vector3, Vector4};
use std::collections::{BTreeMap, HashMap};

const N_CLASSES: usize = 6;

/// Tuning of the fusion core.  Times in microseconds.
#[derive(Debug, Clone)]
pub struct FusionConfig {
    /// How long frames wait so that slower sensors' frames of the same instant can arrive.
    pub reorder_window_us: i64,
    /// Fuse earlier than the reorder window once every sensor that is not silent has delivered a
    /// frame captured at or after a time (its watermark): sensors deliver their own frames in
    /// capture order, so nothing older can still come.  Cuts the latency to what the slowest
    /// active sensor imposes.
    pub watermark: bool,
    /// Frames whose capture time is further in the future than this are refused.
    pub max_future_us: i64,
    /// Frames older than this (relative to now) are refused.
    pub max_age_us: i64,
    /// Hits that confirm a tentative track.
    pub confirm_hits: u32,
    /// A tentative track not updated for this long is deleted.
    pub tentative_timeout_us: i64,
    /// A confirmed track not updated for this long is coasting.
    pub coast_after_us: i64,
    /// A track not updated for this long is deleted.
    pub delete_after_us: i64,
    /// Gate (squared Mahalanobis distance) for 2-D position measurements.
    pub gate_position: f64,
    /// Gate for 3-D radar measurements.
    pub gate_polar: f64,
    /// Two tracks closer than this (metres) with velocities within `merge_speed_mps` are one object.
    pub merge_distance_m: f64,
    /// See `merge_distance_m`.
    pub merge_speed_mps: f64,
    /// A sensor silent for this long is reported and dropped from fusion.
    pub silent_after_us: i64,
    /// Fastest plausible road user, m/s: a tentative track cannot jump faster than this.
    pub max_speed_mps: f64,
    /// Interacting multiple models: a steady and a manoeuvring constant-velocity model whose
    /// white-noise accelerations are the class's base figure (pedestrians 1 m/s², bikes 1.5,
    /// trucks and buses 2, cars and motorcycles 3, unclassified 2.5) times these scales.
    pub steady_scale: f64,
    /// See `steady_scale`.
    pub manoeuvre_scale: f64,
    /// Rate (per second) of switching from steady to manoeuvring, and back.
    pub switch_rates_hz: [f64; 2],
    /// Consecutive misses by sensors that detect its class with probability >= 0.8 that delete a
    /// tentative track (clutter rarely repeats; real objects rarely hide from a reliable sensor twice).
    pub tentative_misses: u32,
    /// The same for confirmed tracks: an object that has left (or a track that has lost its object)
    /// is deleted after this many consecutive misses by reliable sensors that should see it.
    pub confirmed_misses: u32,
}

impl Default for FusionConfig {
    fn default() -> Self {
        FusionConfig {
            reorder_window_us: 100_000,
            watermark: true,
            max_future_us: 1_000_000,
            max_age_us: 2_000_000,
            confirm_hits: 3,
            tentative_timeout_us: 400_000,
            coast_after_us: 300_000,
            delete_after_us: 1_500_000,
            gate_position: 13.8,
            gate_polar: 16.3,
            merge_distance_m: 0.2,
            merge_speed_mps: 1.5,
            silent_after_us: 1_000_000,
            max_speed_mps: 50.0,
            steady_scale: 1.0,
            manoeuvre_scale: 30.0,
            switch_rates_hz: [2.0, 4.0],
            tentative_misses: 2,
            confirmed_misses: 6,
        }
    }
}

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackStatus {
    /// Seen too few times to be trusted; not published.
    Tentative,
    /// Published.
    Confirmed,
    /// Not seen lately; published with its prediction until deleted.
    Coasting,
}

/// One tracked object.
#[derive(Debug, Clone)]
pub struct Track {
    /// Stable id (never reused while the process runs; wraps at u32).
    pub id: u32,
    /// State `[x, y, vx, vy]` in the local frame (metres, m/s) at `t_us`: the IMM's combined estimate.
    pub state: Vector4<f64>,
    /// Its covariance.
    pub cov: Matrix4<f64>,
    /// Per motion model (steady, manoeuvring): state and covariance.
    pub models: [(Vector4<f64>, Matrix4<f64>); 2],
    /// Model probabilities.
    pub model_prob: [f64; 2],
    /// Time of the state.
    pub t_us: i64,
    /// Life-cycle status.
    pub status: TrackStatus,
    /// Detections associated so far.
    pub hits: u32,
    /// When it was created.
    pub born_us: i64,
    /// When a detection last updated it.
    pub updated_us: i64,
    /// Class probabilities (index = wire code − 1).
    pub class_prob: [f64; N_CLASSES],
    /// Whether any sensor has classified it.
    pub classified: bool,
    /// Smoothed length and width, when a sensor measured them.
    pub size_m: Option<[f64; 2]>,
    /// Heading, radians counter-clockwise from east (from velocity when moving).
    pub heading_rad: f64,
    /// Sensor ids that updated it recently (bit per sensor index, up to 64 sensors).
    pub sensors_mask: u64,
    /// Consecutive frames of reliable sensors that saw its place but not it.
    pub misses: u32,
}

impl Track {
    /// Most probable class, when classified.
    pub fn class(&self) -> Option<(ObjectClass, f64)> {
        if !self.classified {
            return None;
        }
        let (i, p) = self.class_prob.iter().enumerate().fold((0, 0.0), |b, (i, p)| if *p > b.1 { (i, *p) } else { b });
        Some((ObjectClass::ALL[i], p))
    }

    /// Speed, m/s.
    pub fn speed_mps(&self) -> f64 {
        self.state[2].hypot(self.state[3])
    }

    /// The state predicted to `t_us` (no process noise added): `[x, y, vx, vy]`.
    pub fn predict_to(&self, t_us: i64) -> [f64; 4] {
        let dt = (t_us - self.t_us) as f64 * 1e-6;
        [self.state[0] + dt * self.state[2], self.state[1] + dt * self.state[3], self.state[2], self.state[3]]
    }

    fn accel_sigma(&self) -> f64 {
        match self.class() {
            Some((ObjectClass::Pedestrian, _)) => 1.0,
            Some((ObjectClass::Bike, _)) => 1.5,
            Some((ObjectClass::Truck | ObjectClass::Bus, _)) => 2.0,
            Some((ObjectClass::Car | ObjectClass::Motorcycle, _)) => 3.0,
            None => 2.5,
        }
    }

    /// IMM prediction: mix the models, predict each with its own noise, combine.
    fn predict(&mut self, t_us: i64, c: &FusionConfig) {
        let dt = (t_us - self.t_us) as f64 * 1e-6;
        if dt <= 0.0 {
            return;
        }
        // transition probabilities over dt
        let p01 = 1.0 - (-c.switch_rates_hz[0] * dt).exp();
        let p10 = 1.0 - (-c.switch_rates_hz[1] * dt).exp();
        let pi = [[1.0 - p01, p01], [p10, 1.0 - p10]];
        let mu = self.model_prob;
        let cbar = [pi[0][0] * mu[0] + pi[1][0] * mu[1], pi[0][1] * mu[0] + pi[1][1] * mu[1]];
        // with two models the mixed covariance is w0 P0 + w1 P1 + w0 w1 (x0 - x1)(x0 - x1)^T
        let (m0, m1) = (self.models[0], self.models[1]);
        let delta = m0.0 - m1.0;
        let spread = delta * delta.transpose();
        let mut mixed = self.models;
        for (j, m) in mixed.iter_mut().enumerate() {
            let w0 = pi[0][j] * mu[0] / cbar[j].max(1e-12);
            let w1 = 1.0 - w0;
            *m = (m0.0 * w0 + m1.0 * w1, m0.1 * w0 + m1.1 * w1 + spread * (w0 * w1));
        }
        let (dt2, dt3, dt4) = (dt * dt, dt * dt * dt / 2.0, dt.powi(4) / 4.0);
        let base = self.accel_sigma().powi(2);
        for (j, scale) in [c.steady_scale, c.manoeuvre_scale].into_iter().enumerate() {
            let (mut x, mut p) = mixed[j];
            x[0] += dt * x[2];
            x[1] += dt * x[3];
            // F P F^T for F = [[I, dt I], [0, I]]: rows then columns 0,1 += dt * rows/columns 2,3
            for c in 0..4 {
                p[(0, c)] += dt * p[(2, c)];
                p[(1, c)] += dt * p[(3, c)];
            }
            for r in 0..4 {
                p[(r, 0)] += dt * p[(r, 2)];
                p[(r, 1)] += dt * p[(r, 3)];
            }
            let q = base * scale * scale;
            p[(0, 0)] += q * dt4;
            p[(1, 1)] += q * dt4;
            p[(2, 2)] += q * dt2;
            p[(3, 3)] += q * dt2;
            p[(0, 2)] += q * dt3;
            p[(2, 0)] += q * dt3;
            p[(1, 3)] += q * dt3;
            p[(3, 1)] += q * dt3;
            self.models[j] = (x, p);
        }
        self.model_prob = cbar;
        self.t_us = t_us;
        self.combine();
    }

    /// Moment-matched combination of the models into `state` and `cov`.
    fn combine(&mut self) {
        let mu = self.model_prob;
        let (m0, m1) = (self.models[0], self.models[1]);
        let delta = m0.0 - m1.0;
        self.state = m0.0 * mu[0] + m1.0 * mu[1];
        self.cov = m0.1 * mu[0] + m1.1 * mu[1] + delta * delta.transpose() * (mu[0] * mu[1]);
    }
}

/// Why a frame was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// From a sensor that is not configured.
    UnknownSensor,
    /// Capture time too far in the future.
    FromTheFuture,
    /// Capture time too far in the past.
    TooOld,
    /// Older than frames already fused (beyond the reorder window).
    Late,
    /// Faster than the sensor's configured rate allows (a flooding sensor).
    Flood,
    /// A value that is not a finite number or is impossible.
    Invalid,
}

impl Rejection {
    /// A short name for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownSensor => "unknown_sensor",
            Self::FromTheFuture => "from_the_future",
            Self::TooOld => "too_old",
            Self::Late => "late",
            Self::Flood => "flood",
            Self::Invalid => "invalid",
        }
    }
}

/// Per-sensor counters and health.
#[derive(Debug, Clone, Default)]
pub struct SensorStats {
    /// Frames fused.
    pub frames: u64,
    /// Detections fused.
    pub detections: u64,
    /// Frames refused, by reason.
    pub rejected: BTreeMap<Rejection, u64>,
    /// RSU time the last frame arrived.
    pub last_arrival_us: Option<i64>,
    /// Whether the sensor is currently silent (dropped from fusion).
    pub silent: bool,
}

struct SensorState {
    sensor: Sensor,
    index: usize,
    stats: SensorStats,
    last_capture_us: Option<i64>,
    /// Estimated clock offset (sensor − RSU), µs, when the sensor asks for estimation.
    offset_estimate_us: f64,
}

impl SensorState {
    /// The offset subtracted from this sensor's capture times.
    fn offset_us(&self) -> i64 {
        if self.sensor.config.estimate_clock_offset {
            self.offset_estimate_us.round() as i64
        } else {
            self.sensor.clock_offset_us()
        }
    }
}

struct Pending {
    sensor: usize,
    detections: Vec<Detection>,
}

/// The fusion core of one intersection.
pub struct Fusion {
    config: FusionConfig,
    sensors: Vec<SensorState>,
    by_id: HashMap<u32, usize>,
    pending: BTreeMap<(i64, u64), Pending>,
    arrivals: u64,
    fused_until_us: i64,
    tracks: Vec<Track>,
    next_id: u32,
    /// Frames from unknown sensors.
    pub unknown_sensor_frames: u64,
}

/// A track as published: state predicted to the output time.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackOutput {
    /// Track id.
    pub id: u32,
    /// Position, local metres.
    pub position_m: [f64; 2],
    /// Velocity, m/s.
    pub velocity_mps: [f64; 2],
    /// Heading, radians counter-clockwise from east.
    pub heading_rad: f64,
    /// Position standard deviations along x and y, metres.
    pub position_sigma_m: [f64; 2],
    /// Class and its probability, when classified.
    pub class: Option<(ObjectClass, f64)>,
    /// Length and width, metres.
    pub size_m: Option<[f64; 2]>,
    /// Confirmed or coasting.
    pub status: TrackStatus,
    /// Microseconds since first detection.
    pub age_us: i64,
}

impl Fusion {
    /// A fusion core for these sensors.
    pub fn new(config: FusionConfig, sensors: Vec<Sensor>) -> Self {
        let by_id = sensors.iter().enumerate().map(|(i, s)| (s.config.id, i)).collect();
        let sensors = sensors
            .into_iter()
            .enumerate()
            .map(|(index, sensor)| SensorState {
                sensor,
                index,
                stats: SensorStats::default(),
                last_capture_us: None,
                offset_estimate_us: 0.0,
            })
            .collect();
        Fusion {
            config,
            sensors,
            by_id,
            pending: BTreeMap::new(),
            arrivals: 0,
            fused_until_us: i64::MIN,
            tracks: Vec::new(),
            next_id: 1,
            unknown_sensor_frames: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FusionConfig {
        &self.config
    }

    /// Offer a frame that arrived at `now_us` (RSU clock).  It is buffered and fused by a later
    /// [`Fusion::advance`]; a refused frame is counted against its sensor.
    pub fn push(&mut self, frame: SensorFrame, now_us: i64) -> Result<(), Rejection> {
        let Some(&si) = self.by_id.get(&frame.sensor_id) else {
            self.unknown_sensor_frames += 1;
            return Err(Rejection::UnknownSensor);
        };
        let verdict = self.check(si, &frame, now_us);
        let st = &mut self.sensors[si];
        st.stats.last_arrival_us = Some(now_us);
        if let Err(r) = verdict {
            *st.stats.rejected.entry(r).or_default() += 1;
            return Err(r);
        }
        let t = frame.capture_time_us - st.offset_us();
        st.last_capture_us = Some(t);
        if st.stats.silent {
            st.stats.silent = false;
        }
        self.arrivals += 1;
        self.pending.insert((t, self.arrivals), Pending { sensor: si, detections: frame.detections });
        Ok(())
    }

    fn check(&self, si: usize, frame: &SensorFrame, now_us: i64) -> Result<(), Rejection> {
        let st = &self.sensors[si];
        let t = frame.capture_time_us.checked_sub(st.offset_us()).ok_or(Rejection::Invalid)?;
        if t > now_us.saturating_add(self.config.max_future_us) {
            return Err(Rejection::FromTheFuture);
        }
        if t < now_us.saturating_sub(self.config.max_age_us) {
            return Err(Rejection::TooOld);
        }
        if t <= self.fused_until_us {
            return Err(Rejection::Late);
        }
        if let Some(last) = st.last_capture_us {
            // more than ~3x the configured rate: a flooding (or replaying) sensor
            let min_gap = (0.3e6 / st.sensor.config.rate_hz) as i64;
            if t - last < min_gap {
                return Err(Rejection::Flood);
            }
        }
        let ok = frame.detections.iter().all(|d| {
            let m = match d.measurement {
                Measurement::Position { x_m, y_m, cov_m2 } => {
                    x_m.abs() <= crate::ingest::MAX_RANGE_M
                        && y_m.abs() <= crate::ingest::MAX_RANGE_M
                        && cov_m2.iter().all(|v| v.is_finite())
                        && cov_m2[0] > 0.0
                        && cov_m2[2] > 0.0
                        && cov_m2[0] * cov_m2[2] > cov_m2[1] * cov_m2[1]
                }
                Measurement::Polar { range_m, azimuth_rad, radial_speed_mps } => {
                    (0.0..=crate::ingest::MAX_RANGE_M).contains(&range_m)
                        && azimuth_rad.is_finite()
                        && radial_speed_mps.abs() <= crate::ingest::MAX_SPEED_MPS
                }
            };
            m && d.class.is_none_or(|(_, p)| (0.0..=1.0).contains(&p))
        });
        if ok {
            Ok(())
        } else {
            Err(Rejection::Invalid)
        }
    }

    /// Fuse every buffered frame captured at or before `now_us − reorder_window`, in capture
    /// order, and run the life cycle up to that time.  Returns how many frames were fused.
    pub fn advance(&mut self, now_us: i64) -> usize {
        let mut horizon = now_us - self.config.reorder_window_us;
        if self.config.watermark {
            // the oldest newest-capture among sensors that are not silent
            let active = self
                .sensors
                .iter()
                .filter(|st| st.stats.last_arrival_us.is_some_and(|a| now_us - a <= self.config.silent_after_us));
            if let Some(w) = active.map(|st| st.last_capture_us.unwrap_or(i64::MIN)).min() {
                horizon = horizon.max(w.min(now_us));
            }
        }
        let mut fused = 0;
        while let Some(entry) = self.pending.first_entry() {
            let (t, _) = *entry.key();
            if t > horizon {
                break;
            }
            let p = entry.remove();
            self.fuse_frame(p.sensor, t, &p.detections);
            self.fused_until_us = self.fused_until_us.max(t);
            fused += 1;
        }
        self.fused_until_us = self.fused_until_us.max(horizon);
        if fused > 0 {
            self.merge_duplicates();
        }
        self.life_cycle(horizon);
        for st in &mut self.sensors {
            let silent = st.stats.last_arrival_us.is_none_or(|a| now_us - a > self.config.silent_after_us);
            st.stats.silent = silent;
        }
        fused
    }

    /// All tracks (including tentative ones), at the time of their last prediction.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Confirmed and coasting tracks predicted to `t_us`: what the RSU publishes.
    pub fn output(&self, t_us: i64) -> Vec<TrackOutput> {
        self.tracks
            .iter()
            .filter(|t| t.status != TrackStatus::Tentative)
            .map(|t| {
                let s = t.predict_to(t_us);
                TrackOutput {
                    id: t.id,
                    position_m: [s[0], s[1]],
                    velocity_mps: [s[2], s[3]],
                    heading_rad: t.heading_rad,
                    position_sigma_m: [t.cov[(0, 0)].max(0.0).sqrt(), t.cov[(1, 1)].max(0.0).sqrt()],
                    class: t.class(),
                    size_m: t.size_m,
                    status: t.status,
                    age_us: t_us - t.born_us,
                }
            })
            .collect()
    }

    /// The clock offset in use per sensor id (configured or estimated), milliseconds.
    pub fn clock_offsets_ms(&self) -> Vec<(u32, f64)> {
        self.sensors.iter().map(|s| (s.sensor.config.id, s.offset_us() as f64 / 1000.0)).collect()
    }

    /// Per-sensor counters, by sensor id.
    pub fn sensor_stats(&self) -> Vec<(u32, &SensorStats)> {
        self.sensors.iter().map(|s| (s.sensor.config.id, &s.stats)).collect()
    }

    /// Ids of the sensors currently silent (dropped from fusion until they send again).
    pub fn silent_sensors(&self) -> Vec<u32> {
        self.sensors.iter().filter(|s| s.stats.silent).map(|s| s.sensor.config.id).collect()
    }

    fn life_cycle(&mut self, t_us: i64) {
        let c = &self.config;
        self.tracks.retain(|tr| {
            let idle = t_us - tr.updated_us;
            match tr.status {
                TrackStatus::Tentative => idle <= c.tentative_timeout_us,
                _ => idle <= c.delete_after_us && tr.cov[(0, 0)] + tr.cov[(1, 1)] < 400.0,
            }
        });
        for tr in &mut self.tracks {
            if tr.status == TrackStatus::Confirmed && t_us - tr.updated_us > c.coast_after_us {
                tr.status = TrackStatus::Coasting;
            }
        }
    }

    fn fuse_frame(&mut self, si: usize, t_us: i64, detections: &[Detection]) {
        let sensor = self.sensors[si].sensor.clone();
        let sensor_bit = 1u64 << (self.sensors[si].index % 64);
        {
            let st = &mut self.sensors[si].stats;
            st.frames += 1;
            st.detections += detections.len() as u64;
        }
        // only the tracks this sensor may see need their state at this instant (the others are
        // predicted when a sensor that sees them reports, or for output)
        let view = sensor.field_of_view();
        // per track: in view (5 m margin, for gating) and well inside (2 m, for counting misses)
        let mut in_view: Vec<(bool, bool)> = Vec::with_capacity(self.tracks.len());
        for tr in &mut self.tracks {
            let dt = (t_us - tr.t_us) as f64 * 1e-6;
            let slack = 5.0 + tr.speed_mps() * dt.max(0.0);
            if view.inside([tr.state[0], tr.state[1]]) >= -slack {
                tr.predict(t_us, &self.config);
                let d = view.inside([tr.state[0], tr.state[1]]);
                in_view.push((d >= -5.0, d >= 2.0));
            } else {
                in_view.push((false, false));
            }
        }
        // measurements in local terms
        let meas: Vec<MeasModel> = detections.iter().map(|d| MeasModel::new(&sensor, d)).collect();
        // gated pairs (track, detection, cost)
        let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
        let mut gated_any = vec![false; meas.len()];
        // detections binned on a grid, so that each track looks only at the cells around it
        let approx: Vec<[f64; 2]> = meas.iter().map(MeasModel::approx_position).collect();
        let grid = Grid::new(&approx, GRID_CELL_M);
        let mut near: Vec<usize> = Vec::new();
        for (ti, tr) in self.tracks.iter().enumerate() {
            let p = [tr.state[0], tr.state[1]];
            if tr.t_us != t_us || !in_view[ti].0 {
                continue;
            }
            // cheap Euclidean pre-filter before the Mahalanobis distance
            let reach = (6.0 + 3.0 * (tr.cov[(0, 0)] + tr.cov[(1, 1)]).sqrt()).min(MAX_REACH_M);
            grid.within(p, reach, &mut near);
            for &di in &near {
                let m = &meas[di];
                let approx = approx[di];
                let (dx, dy) = (approx[0] - p[0], approx[1] - p[1]);
                if dx * dx + dy * dy > reach * reach {
                    continue;
                }
                if tr.hits < self.config.confirm_hits {
                    let dt = ((t_us - tr.updated_us) as f64 * 1e-6).max(0.05);
                    let last = tr.predict_to(tr.updated_us);
                    if (approx[0] - last[0]).hypot(approx[1] - last[1]) > self.config.max_speed_mps * dt + 2.0 {
                        continue;
                    }
                }
                if let Some((d2, logdet)) = m.distance(tr) {
                    let gate = if m.is_polar() { self.config.gate_polar } else { self.config.gate_position };
                    if d2 <= gate {
                        gated_any[di] = true;
                        pairs.push((ti, di, d2 + logdet));
                    }
                }
            }
        }
        let assignment = assign(self.tracks.len(), meas.len(), &pairs);
        let mut used = vec![false; meas.len()];
        let mut updated = vec![false; self.tracks.len()];
        for &(ti, _) in &assignment {
            updated[ti] = true;
        }
        // misses: tentative tracks this sensor should have seen
        let errors = sensor.config.errors;
        for (ti, tr) in self.tracks.iter_mut().enumerate() {
            if updated[ti] || tr.t_us != t_us || !in_view.get(ti).is_some_and(|v| v.1) {
                continue;
            }
            let vulnerable = tr.class().is_some_and(|(c, _)| c.is_vulnerable());
            let pd = if vulnerable {
                errors.pedestrian_detection_probability.unwrap_or(errors.detection_probability)
            } else {
                errors.detection_probability
            };
            if pd >= 0.8 {
                tr.misses += 1;
            }
        }
        // clock offset estimation: a detection of a moving, confirmed track that lies ahead of (behind)
        // the track along its velocity was captured later (earlier) than its time stamp says
        if sensor.config.estimate_clock_offset {
            let (mut num, mut den) = (0.0, 0.0);
            for &(ti, di) in &assignment {
                let tr = &self.tracks[ti];
                let v = [tr.state[2], tr.state[3]];
                let speed2 = v[0] * v[0] + v[1] * v[1];
                if tr.status != TrackStatus::Confirmed || speed2 < 9.0 {
                    continue;
                }
                let z = meas[di].approx_position();
                let lead_m = (z[0] - tr.state[0]) * v[0] + (z[1] - tr.state[1]) * v[1];
                // least squares of lead = speed * dt over the frame's pairs
                num += lead_m;
                den += speed2;
            }
            if den > 0.0 {
                let dt_us = (num / den * 1e6).clamp(-50_000.0, 50_000.0);
                // a detection ahead means the true capture time is later: the sensor clock is behind
                let st = &mut self.sensors[si];
                st.offset_estimate_us -= OFFSET_GAIN * dt_us;
            }
        }
        for (ti, di) in assignment {
            used[di] = true;
            let tr = &mut self.tracks[ti];
            tr.misses = 0;
            meas[di].update(tr);
            tr.hits += 1;
            tr.updated_us = t_us;
            tr.sensors_mask |= sensor_bit;
            if tr.status != TrackStatus::Confirmed && tr.hits >= self.config.confirm_hits {
                tr.status = TrackStatus::Confirmed;
            }
            let d = &detections[di];
            if let Some((c, conf)) = d.class {
                update_class(tr, c, conf, sensor.config.errors.class_confusion);
            }
            if let Some(sz) = d.size_m {
                tr.size_m = Some(match tr.size_m {
                    Some(o) => [0.8 * o[0] + 0.2 * sz[0], 0.8 * o[1] + 0.2 * sz[1]],
                    None => sz,
                });
            }
            if tr.speed_mps() > 0.7 {
                tr.heading_rad = tr.state[3].atan2(tr.state[2]);
            }
        }
        let (tentative, confirmed) = (self.config.tentative_misses, self.config.confirmed_misses);
        self.tracks.retain(|t| t.misses < if t.status == TrackStatus::Tentative { tentative } else { confirmed });
        // unassigned detections that gated with no track start tentative tracks
        for (di, m) in meas.iter().enumerate() {
            if used[di] || gated_any[di] {
                continue;
            }
            let mut tr = m.new_track(self.next_id, t_us);
            self.next_id = self.next_id.wrapping_add(1).max(1);
            tr.sensors_mask = sensor_bit;
            if let Some((c, conf)) = detections[di].class {
                update_class(&mut tr, c, conf, sensor.config.errors.class_confusion);
            }
            tr.size_m = detections[di].size_m;
            self.tracks.push(tr);
        }
    }

    /// Two tracks on one object: keep the one with more hits (the older id on a tie).
    fn merge_duplicates(&mut self) {
        let n = self.tracks.len();
        let pos: Vec<[f64; 2]> = self.tracks.iter().map(|t| [t.state[0], t.state[1]]).collect();
        let grid = Grid::new(&pos, GRID_CELL_M);
        let mut dead = vec![false; n];
        let mut near = Vec::new();
        for i in 0..n {
            if dead[i] {
                continue;
            }
            grid.within(pos[i], self.config.merge_distance_m, &mut near);
            for &j in near.iter().filter(|&&j| j > i) {
                if dead[j] || self.tracks[j].t_us != self.tracks[i].t_us {
                    continue;
                }
                let (a, b) = (&self.tracks[i], &self.tracks[j]);
                let (dx, dy) = (a.state[0] - b.state[0], a.state[1] - b.state[1]);
                if dx * dx + dy * dy > self.config.merge_distance_m * self.config.merge_distance_m {
                    continue;
                }
                let dv = (a.state[2] - b.state[2]).hypot(a.state[3] - b.state[3]);
                if dv > self.config.merge_speed_mps {
                    continue;
                }
                let keep_a = (a.status != TrackStatus::Tentative, a.hits, std::cmp::Reverse(a.born_us))
                    >= (b.status != TrackStatus::Tentative, b.hits, std::cmp::Reverse(b.born_us));
                if keep_a {
                    dead[j] = true;
                } else {
                    dead[i] = true;
                    break;
                }
            }
        }
        let mut k = 0;
        self.tracks.retain(|_| {
            k += 1;
            !dead[k - 1]
        });
    }
}

/// Gain of the clock-offset estimator per frame (a time constant of about 30 frames).
const OFFSET_GAIN: f64 = 0.03;

/// Points beyond this (metres from the local origin) are not binned.
const GRID_LIMIT_M: f64 = 1.0e6;

/// Cell size of the association grid, metres.
const GRID_CELL_M: f64 = 12.0;
/// Largest distance a detection can be from a track and still be considered, metres.
const MAX_REACH_M: f64 = 40.0;

/// Points binned on a uniform grid: the neighbours of a point in time proportional to the
/// points near it, so association stays linear in the number of objects.  The points are sorted
/// by cell; a dense table over the occupied cells' bounding box gives each cell's range in O(1).
struct Grid {
    cell: f64,
    sorted: Vec<usize>,
    /// `(min_x, min_y, width, height)` of the table in cells.
    origin: (i64, i64, i64, i64),
    /// Start of each cell's run in `sorted` (length: cells + 1).
    starts: Vec<u32>,
}

impl Grid {
    fn key(&self, p: [f64; 2]) -> (i64, i64) {
        ((p[0] / self.cell).floor() as i64, (p[1] / self.cell).floor() as i64)
    }

    fn new(points: &[[f64; 2]], cell: f64) -> Self {
        let mut g = Grid { cell, sorted: Vec::new(), origin: (0, 0, 0, 0), starts: vec![0] };
        // (points further out than any sensor sees are not binned: they gate with nothing)
        let keys: Vec<Option<(i64, i64)>> = points
            .iter()
            .map(|p| (p[0].abs() <= GRID_LIMIT_M && p[1].abs() <= GRID_LIMIT_M).then(|| g.key(*p)))
            .collect();
        let (mut lo, mut hi) = ((i64::MAX, i64::MAX), (i64::MIN, i64::MIN));
        for k in keys.iter().flatten() {
            lo = (lo.0.min(k.0), lo.1.min(k.1));
            hi = (hi.0.max(k.0), hi.1.max(k.1));
        }
        if lo.0 > hi.0 {
            return g;
        }
        let (w, h) = (hi.0 - lo.0 + 1, hi.1 - lo.1 + 1);
        // a far-flung point would make the table huge: such frames fall back to coarser cells
        if w.saturating_mul(h) > 4 * points.len() as i64 + 4096 {
            return Grid::new(points, cell * 4.0);
        }
        g.origin = (lo.0, lo.1, w, h);
        let cells = (w * h) as usize;
        let index = |k: (i64, i64)| ((k.0 - lo.0) * h + (k.1 - lo.1)) as usize;
        let mut counts = vec![0u32; cells + 1];
        for k in keys.iter().flatten() {
            counts[index(*k) + 1] += 1;
        }
        for i in 1..=cells {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        g.sorted = vec![0; counts[cells] as usize];
        for (i, k) in keys.iter().enumerate() {
            if let Some(k) = k {
                let c = index(*k);
                g.sorted[fill[c] as usize] = i;
                fill[c] += 1;
            }
        }
        g.starts = counts;
        g
    }

    /// Indices of the points in the cells within `r` of `p` (a superset of those within `r`).
    fn within(&self, p: [f64; 2], r: f64, out: &mut Vec<usize>) {
        out.clear();
        let (x0, y0, w, h) = self.origin;
        if !(p[0].abs() <= GRID_LIMIT_M && p[1].abs() <= GRID_LIMIT_M && r.abs() <= GRID_LIMIT_M)
            || self.sorted.is_empty()
        {
            return;
        }
        let (lo, hi) = (self.key([p[0] - r, p[1] - r]), self.key([p[0] + r, p[1] + r]));
        let (ax, bx) = (lo.0.max(x0), hi.0.min(x0 + w - 1));
        let (ay, by) = (lo.1.max(y0), hi.1.min(y0 + h - 1));
        if ax > bx || ay > by {
            return;
        }
        for x in ax..=bx {
            // the cells (x, ay..=by) are one contiguous run
            let row = (x - x0) * h;
            let (s, e) = (self.starts[(row + ay - y0) as usize], self.starts[(row + by - y0) as usize + 1]);
            out.extend_from_slice(&self.sorted[s as usize..e as usize]);
        }
    }
}

fn update_class(tr: &mut Track, c: ObjectClass, conf: f64, confusion: f64) {
    // likelihood of reporting `c` given true class k: the sensor's confusion rate, sharpened by
    // its own confidence
    let eps = (confusion.max(0.01) * (1.5 - conf.clamp(0.0, 1.0))).clamp(0.005, 0.5);
    let ci = usize::from(c.code()) - 1;
    if !tr.classified {
        tr.class_prob = [1.0 / N_CLASSES as f64; N_CLASSES];
        tr.classified = true;
    }
    let mut sum = 0.0;
    for (k, p) in tr.class_prob.iter_mut().enumerate() {
        let l = if k == ci { 1.0 - eps } else { eps / (N_CLASSES - 1) as f64 };
        *p *= l;
        sum += *p;
    }
    for p in &mut tr.class_prob {
        *p = (*p / sum).max(1e-4);
    }
    let s: f64 = tr.class_prob.iter().sum();
    for p in &mut tr.class_prob {
        *p /= s;
    }
}

/// A detection turned into a measurement model in the local frame.
enum MeasModel {
    Position { z: Vector2<f64>, r: Matrix2<f64> },
    Polar { sensor: [f64; 2], yaw: f64, z: Vector3<f64>, r: Matrix3<f64> },
}

fn wrap(a: f64) -> f64 {
    let mut a = a % std::f64::consts::TAU;
    if a > std::f64::consts::PI {
        a -= std::f64::consts::TAU;
    } else if a < -std::f64::consts::PI {
        a += std::f64::consts::TAU;
    }
    a
}

impl MeasModel {
    fn new(s: &Sensor, d: &Detection) -> Self {
        match d.measurement {
            Measurement::Position { x_m, y_m, cov_m2 } => {
                let p = s.to_local(x_m, y_m);
                let (sn, cs) = s.yaw_rad.sin_cos();
                let rot = Matrix2::new(cs, -sn, sn, cs);
                let c = Matrix2::new(cov_m2[0], cov_m2[1], cov_m2[1], cov_m2[2]);
                MeasModel::Position { z: Vector2::new(p[0], p[1]), r: rot * c * rot.transpose() }
            }
            Measurement::Polar { range_m, azimuth_rad, radial_speed_mps } => {
                let n = &s.config.noise;
                MeasModel::Polar {
                    sensor: s.position_m,
                    yaw: s.yaw_rad,
                    z: Vector3::new(range_m, azimuth_rad, radial_speed_mps),
                    r: Matrix3::from_diagonal(&Vector3::new(
                        n.range_m.powi(2),
                        n.azimuth_deg.to_radians().powi(2),
                        n.radial_speed_mps.powi(2),
                    )),
                }
            }
        }
    }

    fn is_polar(&self) -> bool {
        matches!(self, MeasModel::Polar { .. })
    }

    fn approx_position(&self) -> [f64; 2] {
        match self {
            MeasModel::Position { z, .. } => [z[0], z[1]],
            MeasModel::Polar { sensor, yaw, z, .. } => {
                let a = yaw + z[1];
                [sensor[0] + z[0] * a.cos(), sensor[1] + z[0] * a.sin()]
            }
        }
    }

    /// Predicted polar measurement and its Jacobian for a state.
    fn polar_h(sensor: [f64; 2], yaw: f64, x: &Vector4<f64>) -> Option<(Vector3<f64>, Matrix3x4<f64>)> {
        let (dx, dy) = (x[0] - sensor[0], x[1] - sensor[1]);
        let r2 = dx * dx + dy * dy;
        if r2 < 1e-6 {
            return None;
        }
        let r = r2.sqrt();
        let rdot = (dx * x[2] + dy * x[3]) / r;
        let h = Vector3::new(r, wrap(dy.atan2(dx) - yaw), rdot);
        let j = Matrix3x4::new(
            dx / r,
            dy / r,
            0.0,
            0.0,
            -dy / r2,
            dx / r2,
            0.0,
            0.0,
            (x[2] - rdot * dx / r) / r,
            (x[3] - rdot * dy / r) / r,
            dx / r,
            dy / r,
        );
        Some((h, j))
    }

    /// Squared Mahalanobis distance and ln|S|.
    fn distance(&self, tr: &Track) -> Option<(f64, f64)> {
        match self {
            MeasModel::Position { z, r } => {
                let s = tr.cov.fixed_view::<2, 2>(0, 0) + r;
                let y = z - tr.state.fixed_rows::<2>(0);
                let inv = s.try_inverse()?;
                Some(((y.transpose() * inv * y)[0], s.determinant().max(1e-12).ln()))
            }
            MeasModel::Polar { sensor, yaw, z, r } => {
                let (hx, j) = Self::polar_h(*sensor, *yaw, &tr.state)?;
                let s = j * tr.cov * j.transpose() + r;
                let mut y = z - hx;
                y[1] = wrap(y[1]);
                let inv = s.try_inverse()?;
                Some(((y.transpose() * inv * y)[0], s.determinant().max(1e-12).ln()))
            }
        }
    }

    /// Kalman update of one model's `(x, P)`; returns the measurement's likelihood under it.
    fn update_model(&self, x: &mut Vector4<f64>, p: &mut Matrix4<f64>) -> Option<f64> {
        match self {
            MeasModel::Position { z, r } => {
                // H selects the position: S = P[pos,pos] + R, K = P[:,pos] S^-1, P -= K P[pos,:]
                let s = p.fixed_view::<2, 2>(0, 0) + r;
                let inv = s.try_inverse()?;
                let y = z - x.fixed_rows::<2>(0);
                let pht = p.fixed_view::<4, 2>(0, 0).into_owned();
                let k = pht * inv;
                *x += k * y;
                *p -= k * pht.transpose();
                *p = (*p + p.transpose()) * 0.5;
                let d2 = (y.transpose() * inv * y)[0];
                Some((-0.5 * d2).exp() / (std::f64::consts::TAU * s.determinant().max(1e-300).sqrt()))
            }
            MeasModel::Polar { sensor, yaw, z, r } => {
                let (hx, j) = Self::polar_h(*sensor, *yaw, x)?;
                let s = j * *p * j.transpose() + r;
                let inv = s.try_inverse()?;
                let mut y = z - hx;
                y[1] = wrap(y[1]);
                let pht = *p * j.transpose();
                let k = pht * inv;
                *x += k * y;
                *p -= k * pht.transpose();
                *p = (*p + p.transpose()) * 0.5;
                let d2 = (y.transpose() * inv * y)[0];
                Some((-0.5 * d2).exp() / (std::f64::consts::TAU.powf(1.5) * s.determinant().max(1e-300).sqrt()))
            }
        }
    }

    /// IMM update: every model takes the measurement; model probabilities follow the likelihoods.
    fn update(&self, tr: &mut Track) {
        let mut lik = [0.0; 2];
        for (j, l) in lik.iter_mut().enumerate() {
            let (mut x, mut p) = tr.models[j];
            if let Some(v) = self.update_model(&mut x, &mut p) {
                tr.models[j] = (x, p);
                *l = v;
            }
        }
        let w = [lik[0] * tr.model_prob[0], lik[1] * tr.model_prob[1]];
        let sum = w[0] + w[1];
        if sum > 0.0 && sum.is_finite() {
            let a = (w[0] / sum).clamp(1e-3, 1.0 - 1e-3);
            tr.model_prob = [a, 1.0 - a];
        }
        tr.combine();
    }

    fn new_track(&self, id: u32, t_us: i64) -> Track {
        let (state, cov) = match self {
            MeasModel::Position { z, r } => {
                let mut p = Matrix4::zeros();
                p.fixed_view_mut::<2, 2>(0, 0).copy_from(r);
                p[(2, 2)] = 100.0;
                p[(3, 3)] = 100.0;
                (Vector4::new(z[0], z[1], 0.0, 0.0), p)
            }
            MeasModel::Polar { sensor, yaw, z, r } => {
                let a = yaw + z[1];
                let (sn, cs) = a.sin_cos();
                let pos = [sensor[0] + z[0] * cs, sensor[1] + z[0] * sn];
                // position covariance from range and azimuth noise
                let (sr, sa) = (r[(0, 0)], r[(1, 1)] * z[0] * z[0]);
                let rot = Matrix2::new(cs, -sn, sn, cs);
                let pc = rot * Matrix2::new(sr, 0.0, 0.0, sa) * rot.transpose();
                // velocity: the radial part is measured, the tangential part unknown
                let vc = rot * Matrix2::new(r[(2, 2)], 0.0, 0.0, 100.0) * rot.transpose();
                let mut p = Matrix4::zeros();
                p.fixed_view_mut::<2, 2>(0, 0).copy_from(&pc);
                p.fixed_view_mut::<2, 2>(2, 2).copy_from(&vc);
                (Vector4::new(pos[0], pos[1], z[2] * cs, z[2] * sn), p)
            }
        };
        Track {
            id,
            state,
            cov,
            models: [(state, cov), (state, cov)],
            model_prob: [0.7, 0.3],
            t_us,
            status: TrackStatus::Tentative,
            hits: 1,
            born_us: t_us,
            updated_us: t_us,
            class_prob: [1.0 / N_CLASSES as f64; N_CLASSES],
            classified: false,
            size_m: None,
            heading_rad: 0.0,
            sensors_mask: 0,
            misses: 0,
        }
    }
}

/// Optimal assignment of detections to tracks over gated pairs: clusters of mutually gated
/// tracks and detections are solved independently with Kuhn–Munkres (each cluster is small at
/// an intersection, so the cost stays near linear in the number of objects).
fn assign(n_tracks: usize, n_dets: usize, pairs: &[(usize, usize, f64)]) -> Vec<(usize, usize)> {
    if pairs.is_empty() {
        return Vec::new();
    }
    // fast path: a pair whose track and detection gate with nothing else is assigned as is
    let (mut per_track, mut per_det) = (vec![0u32; n_tracks], vec![0u32; n_dets]);
    for &(t, d, _) in pairs {
        per_track[t] += 1;
        per_det[d] += 1;
    }
    let mut out = Vec::with_capacity(pairs.len());
    let mut rest: Vec<(usize, usize, f64)> = Vec::new();
    for &p in pairs {
        if per_track[p.0] == 1 && per_det[p.1] == 1 {
            out.push((p.0, p.1));
        } else {
            rest.push(p);
        }
    }
    if rest.is_empty() {
        return out;
    }
    let pairs = &rest[..];
    // union-find over tracks [0, n_tracks) and detections [n_tracks, n_tracks + n_dets)
    let mut parent: Vec<usize> = (0..n_tracks + n_dets).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for &(t, d, _) in pairs {
        let (a, b) = (find(&mut parent, t), find(&mut parent, n_tracks + d));
        if a != b {
            parent[a] = b;
        }
    }
    let mut clusters: BTreeMap<usize, Vec<(usize, usize, f64)>> = BTreeMap::new();
    for &p in pairs {
        let r = find(&mut parent, p.0);
        clusters.entry(r).or_default().push(p);
    }
    for (_, cl) in clusters {
        if let [(t, d, _)] = cl[..] {
            out.push((t, d));
            continue;
        }
        let mut ts: Vec<usize> = cl.iter().map(|p| p.0).collect();
        ts.sort_unstable();
        ts.dedup();
        let mut ds: Vec<usize> = cl.iter().map(|p| p.1).collect();
        ds.sort_unstable();
        ds.dedup();
        // rows = detections, columns = tracks + one "no track" column per detection
        const NO: i64 = 1_000_000_000;
        let miss = 10_000_000; // leaving a detection unassigned costs more than any gated pair
        let cols = ts.len() + ds.len();
        let mut m = pathfinding::matrix::Matrix::new(ds.len(), cols, NO);
        for (r, _) in ds.iter().enumerate() {
            m[(r, ts.len() + r)] = miss;
        }
        for &(t, d, c) in &cl {
            let (Ok(r), Ok(col)) = (ds.binary_search(&d), ts.binary_search(&t)) else { continue };
            m[(r, col)] = (c.max(-50.0) * 1000.0) as i64 + 100_000;
        }
        let (_, cols_of_rows) = pathfinding::kuhn_munkres::kuhn_munkres_min(&m);
        for (r, &col) in cols_of_rows.iter().enumerate() {
            if col < ts.len() && m[(r, col)] < miss {
                out.push((ts[col], ds[r]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::{parse_sensor_file, PoseConfig, SensorConfig};

    fn sensor(id: u32, kind: &str, x: f64, y: f64, heading: f64) -> Sensor {
        let text = format!(
            "format = \"zhilu-sensors/1\"\n[[sensor]]\nid = {id}\nkind = \"{kind}\"\n\
             pose = {{ x_m = {x}, y_m = {y}, heading_deg = {heading} }}\nfov_deg = 120.0\nrange_m = 200.0\nrate_hz = 10.0\n"
        );
        let f = parse_sensor_file("t", &text).unwrap();
        let c: SensorConfig = f.sensors[0].clone();
        let PoseConfig::Local { x_m, y_m, heading_deg } = c.pose else { unreachable!() };
        Sensor { config: c, position_m: [x_m, y_m], yaw_rad: (90.0 - heading_deg).to_radians() }
    }

    fn cam_det(s: &Sensor, p: [f64; 2]) -> Detection {
        let q = s.to_sensor(p);
        Detection {
            sensor_object_id: 0,
            measurement: Measurement::Position { x_m: q[0], y_m: q[1], cov_m2: [0.09, 0.0, 0.09] },
            class: Some((ObjectClass::Car, 0.9)),
            size_m: Some([4.5, 1.8]),
        }
    }

    fn radar_det(s: &Sensor, p: [f64; 2], v: [f64; 2]) -> Detection {
        let (dx, dy) = (p[0] - s.position_m[0], p[1] - s.position_m[1]);
        let r = dx.hypot(dy);
        Detection {
            sensor_object_id: 0,
            measurement: Measurement::Polar {
                range_m: r,
                azimuth_rad: wrap(dy.atan2(dx) - s.yaw_rad),
                radial_speed_mps: (dx * v[0] + dy * v[1]) / r,
            },
            class: None,
            size_m: None,
        }
    }

    /// One car driving east at 10 m/s, seen by a camera (10 Hz) and a radar (20 Hz, lower latency).
    #[test]
    fn camera_and_radar_track_one_car() {
        let cam = sensor(1, "camera", 0.0, -20.0, 0.0); // looking north
        let radar = sensor(2, "radar", -40.0, 0.0, 90.0); // looking east
        let mut f = Fusion::new(FusionConfig::default(), vec![cam.clone(), radar.clone()]);
        let pos = |t: f64| [-20.0 + 10.0 * t, 2.0];
        let mut now;
        for k in 0..40 {
            let t_us = k * 50_000; // 20 Hz
            let t = t_us as f64 * 1e-6;
            // radar arrives after 30 ms, camera (every other tick) after 80 ms
            now = t_us + 30_000;
            let rf = SensorFrame {
                sensor_id: 2,
                sequence: k as u32,
                capture_time_us: t_us,
                detections: vec![radar_det(&radar, pos(t), [10.0, 0.0])],
            };
            f.push(rf, now).unwrap();
            if k % 2 == 0 {
                let cf = SensorFrame {
                    sensor_id: 1,
                    sequence: k as u32,
                    capture_time_us: t_us,
                    detections: vec![cam_det(&cam, pos(t))],
                };
                f.push(cf, t_us + 80_000).unwrap();
            }
            f.advance(now);
        }
        let now = 40 * 50_000;
        f.advance(now);
        let out = f.output(now);
        assert_eq!(out.len(), 1, "{out:?}");
        let o = &out[0];
        let truth = pos(now as f64 * 1e-6);
        assert!((o.position_m[0] - truth[0]).abs() < 0.5 && (o.position_m[1] - truth[1]).abs() < 0.5, "{o:?}");
        assert!((o.velocity_mps[0] - 10.0).abs() < 0.5 && o.velocity_mps[1].abs() < 0.5, "{o:?}");
        assert_eq!(o.class.map(|c| c.0), Some(ObjectClass::Car));
        assert!(o.heading_rad.abs() < 0.1);
        // camera frames came 50 ms later than radar frames of the same instant: none was late
        let stats = f.sensor_stats();
        assert!(stats.iter().all(|(_, s)| s.rejected.is_empty()), "{stats:?}");
    }

    /// A camera whose clock runs 30 ms ahead, estimated against a radar with a trusted clock.
    #[test]
    fn clock_offset_is_estimated_against_a_trusted_sensor() {
        let mut cam = sensor(1, "camera", 0.0, -20.0, 0.0);
        cam.config.estimate_clock_offset = true;
        let radar = sensor(2, "radar", -40.0, 0.0, 90.0);
        let mut f = Fusion::new(FusionConfig::default(), vec![cam.clone(), radar.clone()]);
        // three cars driving east and west at 12 m/s on a loop of lanes
        let pos = |i: usize, t: f64| {
            let dir = if i.is_multiple_of(2) { 1.0 } else { -1.0 };
            [dir * (((t * 12.0 + i as f64 * 20.0) % 60.0) - 30.0), 2.0 + i as f64 * 4.0]
        };
        let vel = |i: usize| [if i.is_multiple_of(2) { 12.0 } else { -12.0 }, 0.0];
        for k in 0..400i64 {
            let t_us = k * 50_000;
            let t = t_us as f64 * 1e-6;
            let cars: Vec<usize> = (0..3).filter(|&i| ((t * 12.0 + i as f64 * 20.0) % 60.0) < 57.0).collect();
            let rf = SensorFrame {
                sensor_id: 2,
                sequence: k as u32,
                capture_time_us: t_us,
                detections: cars.iter().map(|&i| radar_det(&radar, pos(i, t), vel(i))).collect(),
            };
            let _ = f.push(rf, t_us + 30_000);
            if k % 2 == 0 {
                // stamped 30 ms late by a clock that runs ahead
                let cf = SensorFrame {
                    sensor_id: 1,
                    sequence: k as u32,
                    capture_time_us: t_us + 30_000,
                    detections: cars.iter().map(|&i| cam_det(&cam, pos(i, t))).collect(),
                };
                let _ = f.push(cf, t_us + 80_000);
            }
            f.advance(t_us + 30_000);
        }
        let est = f.clock_offsets_ms().into_iter().find(|(id, _)| *id == 1).unwrap().1;
        assert!((est - 30.0).abs() < 5.0, "estimated {est} ms, true 30 ms");
        assert_eq!(f.clock_offsets_ms()[1], (2, 0.0), "the radar keeps its configured offset");
    }

    #[test]
    fn bad_frames_are_refused_and_counted() {
        let cam = sensor(1, "camera", 0.0, -20.0, 0.0);
        let mut f = Fusion::new(FusionConfig::default(), vec![cam.clone()]);
        let frame = |t: i64, dets: Vec<Detection>| SensorFrame {
            sensor_id: 1,
            sequence: 0,
            capture_time_us: t,
            detections: dets,
        };
        let now = 10_000_000;
        assert_eq!(f.push(SensorFrame { sensor_id: 9, ..frame(now, vec![]) }, now), Err(Rejection::UnknownSensor));
        assert_eq!(f.push(frame(now + 5_000_000, vec![]), now), Err(Rejection::FromTheFuture));
        assert_eq!(f.push(frame(now - 5_000_000, vec![]), now), Err(Rejection::TooOld));
        let mut nan = cam_det(&cam, [0.0, 0.0]);
        nan.measurement = Measurement::Position { x_m: f64::NAN, y_m: 0.0, cov_m2: [1.0, 0.0, 1.0] };
        assert_eq!(f.push(frame(now, vec![nan]), now), Err(Rejection::Invalid));
        f.push(frame(now, vec![]), now).unwrap();
        // a frame 1 ms later from a 10 Hz camera is a flood
        assert_eq!(f.push(frame(now + 1_000, vec![]), now), Err(Rejection::Flood));
        f.advance(now + 200_000);
        assert_eq!(f.push(frame(now + 50_000, vec![]), now + 200_000), Err(Rejection::Late));
        let s = f.sensor_stats()[0].1.clone();
        assert_eq!(s.rejected.values().sum::<u64>(), 5);
        assert_eq!(s.frames, 1);
        // silent after a second without frames, back when it sends again
        f.advance(now + 2_000_000);
        assert_eq!(f.silent_sensors(), vec![1]);
        f.push(frame(now + 1_950_000, vec![]), now + 2_000_000).unwrap();
        f.advance(now + 2_000_000);
        assert!(f.silent_sensors().is_empty());
    }

    #[test]
    fn clutter_alone_never_confirms_and_tracks_die_when_objects_leave() {
        let cam = sensor(1, "camera", 0.0, -20.0, 0.0);
        let mut f = Fusion::new(FusionConfig::default(), vec![cam.clone()]);
        // one object for 1 s, then nothing; a false alarm at a different place each frame
        for k in 0..30i64 {
            let t = k * 100_000;
            let mut dets = vec![Detection {
                class: None,
                ..cam_det(&cam, [(k * 7 % 40) as f64 - 20.0, 30.0 + (k % 5) as f64 * 9.0])
            }];
            if k < 10 {
                dets.push(cam_det(&cam, [0.0, 5.0]));
            }
            f.push(SensorFrame { sensor_id: 1, sequence: k as u32, capture_time_us: t, detections: dets }, t).unwrap();
            f.advance(t);
            let confirmed = f.tracks().iter().filter(|t| t.status != TrackStatus::Tentative).count();
            assert!(confirmed <= 1, "frame {k}: {confirmed} confirmed: {:#?}", f.tracks());
        }
        f.advance(5_000_000);
        assert!(f.output(5_000_000).is_empty());
    }

    fn any_detection() -> impl proptest::strategy::Strategy<Value = Detection> {
        use proptest::prelude::*;
        let num = prop_oneof![-300.0f64..300.0, Just(f64::NAN), Just(f64::INFINITY), Just(-1e30), Just(0.0)];
        (num.clone(), num.clone(), num.clone(), any::<bool>(), proptest::option::of(0usize..6)).prop_map(
            |(a, b, c, polar, cls)| Detection {
                sensor_object_id: 0,
                measurement: if polar {
                    Measurement::Polar { range_m: a, azimuth_rad: b / 100.0, radial_speed_mps: c / 10.0 }
                } else {
                    Measurement::Position { x_m: a, y_m: b, cov_m2: [c.abs() / 100.0, 0.0, 0.1] }
                },
                class: cls.map(|k| (ObjectClass::ALL[k], 0.8)),
                size_m: None,
            },
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever arrives — unknown sensors, NaN, absurd values, times out of order — fusion never
        /// panics, every frame of a known sensor is either fused or refused and counted, and the
        /// published tracks are finite.
        #[test]
        fn garbage_never_panics_and_is_counted(
            frames in proptest::collection::vec(
                (0u32..4, -3_000_000i64..3_000_000, proptest::collection::vec(any_detection(), 0..12)),
                0..60,
            )
        ) {
            let cam = sensor(1, "camera", 0.0, -20.0, 0.0);
            let radar = sensor(2, "radar", -40.0, 0.0, 90.0);
            let mut f = Fusion::new(FusionConfig::default(), vec![cam, radar]);
            let (mut pushed, mut refused, mut unknown) = (0u64, 0u64, 0u64);
            for (k, (id, dt, dets)) in frames.into_iter().enumerate() {
                let now = 10_000_000 + k as i64 * 50_000;
                let frame = SensorFrame { sensor_id: id, sequence: k as u32, capture_time_us: now + dt, detections: dets };
                match f.push(frame, now) {
                    Ok(()) => pushed += 1,
                    Err(Rejection::UnknownSensor) => unknown += 1,
                    Err(_) => refused += 1,
                }
                f.advance(now);
                for o in f.output(now) {
                    proptest::prop_assert!(o.position_m.iter().chain(o.velocity_mps.iter()).all(|v| v.is_finite()));
                }
            }
            f.advance(100_000_000);
            let stats = f.sensor_stats();
            let fused: u64 = stats.iter().map(|(_, s)| s.frames).sum();
            let rejected: u64 = stats.iter().map(|(_, s)| s.rejected.values().sum::<u64>()).sum();
            proptest::prop_assert_eq!(fused, pushed);
            proptest::prop_assert_eq!(rejected, refused);
            proptest::prop_assert_eq!(f.unknown_sensor_frames, unknown);
        }
    }

    proptest::proptest! {
        /// The grid finds every point within the radius (it may return more).
        #[test]
        fn grid_finds_every_neighbour(pts in proptest::collection::vec((-500.0f64..500.0, -500.0f64..500.0), 0..60),
                                      q in (-520.0f64..520.0, -520.0f64..520.0), r in 0.0f64..60.0) {
            let pts: Vec<[f64; 2]> = pts.into_iter().map(|(x, y)| [x, y]).collect();
            let g = Grid::new(&pts, GRID_CELL_M);
            let mut out = Vec::new();
            g.within([q.0, q.1], r, &mut out);
            for (i, p) in pts.iter().enumerate() {
                if (p[0] - q.0).hypot(p[1] - q.1) <= r {
                    proptest::prop_assert!(out.contains(&i), "{i} {p:?} missing");
                }
            }
            let mut sorted = out.clone();
            sorted.sort_unstable();
            sorted.dedup();
            proptest::prop_assert_eq!(sorted.len(), out.len(), "no duplicates");
        }
    }

    #[test]
    fn assignment_prefers_the_globally_best_pairing() {
        // detection 0 is slightly closer to track 0, but detection 1 can only go to track 0
        let pairs = [(0, 0, 1.0), (1, 0, 2.0), (0, 1, 3.0)];
        let mut a = assign(2, 2, &pairs);
        a.sort_unstable();
        assert_eq!(a, vec![(0, 1), (1, 0)]);
    }
}
