//! Traffic events and lane statistics from the fused, lane-matched tracks:
//! stopped vehicle in a travel lane, wrong-way driving, pedestrian in the
//! roadway outside a crosswalk, red-light running, speeding, queue length
//! and spill-back per lane, congestion per approach; plus per-lane counts,
//! occupancy and arrival rates for signal control.
//!
//! Pure and deterministic: each [`EventDetector::update`] takes the tracks
//! as published at one instant, the signal states, and the time.  Events
//! have a start, updates and an end, so that the RSU can publish RSI when
//! they start, change or end.  Rules and thresholds are in `docs/perception.md`.

use crate::fusion::TrackOutput;
use crate::ingest::ObjectClass;
use crate::lanes::{LaneIndex, Zone};
use map_encoder::model::{Direction, Intersection, Target};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// What a signal group shows (the SPaT movement phase, simplified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalShows {
    /// Red: stop and remain (or stop then proceed).
    Red,
    /// Red-yellow (pre-movement).
    RedYellow,
    /// Green, protected or permissive.
    Green,
    /// Yellow (clearance).
    Yellow,
    /// Dark or unknown.
    Dark,
}

impl SignalShows {
    /// From a J2735 / CSAE MovementPhaseState name (`STOP_AND_REMAIN`, `PERMISSIVE_MOVEMENT_ALLOWED`, ...).
    pub fn from_phase_name(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "STOP_AND_REMAIN" | "STOP_THEN_PROCEED" | "RED" => Self::Red,
            "PRE_MOVEMENT" => Self::RedYellow,
            "PERMISSIVE_MOVEMENT_ALLOWED" | "PROTECTED_MOVEMENT_ALLOWED" | "GREEN" => Self::Green,
            "PERMISSIVE_CLEARANCE" | "PROTECTED_CLEARANCE" | "CAUTION_CONFLICTING_TRAFFIC" | "YELLOW" => Self::Yellow,
            _ => Self::Dark,
        }
    }
}

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A vehicle standing in a travel lane without a reason (not queued at a red).
    StoppedVehicle,
    /// A vehicle driving against its lane's direction.
    WrongWay,
    /// A pedestrian on a vehicle lane or in the junction box outside a crosswalk.
    PedestrianInRoadway,
    /// A vehicle crossing its stop line while every signal group of its lane shows red.
    RedLightRunning,
    /// A vehicle faster than its lane's speed limit.
    Speeding,
    /// A lane's queue reaching back to the lane's upstream end (into the upstream intersection).
    QueueSpillback,
    /// An approach whose traffic crawls or stands.
    Congestion,
}

impl EventKind {
    /// snake_case name, as in JSON, metrics and RSI descriptions.
    pub fn name(self) -> &'static str {
        match self {
            Self::StoppedVehicle => "stopped_vehicle",
            Self::WrongWay => "wrong_way",
            Self::PedestrianInRoadway => "pedestrian_in_roadway",
            Self::RedLightRunning => "red_light_running",
            Self::Speeding => "speeding",
            Self::QueueSpillback => "queue_spillback",
            Self::Congestion => "congestion",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// Event id (unique per detector).
    pub id: u64,
    /// What happened.
    pub kind: EventKind,
    /// When it started (µs, RSU clock).
    pub start_us: i64,
    /// When it ended, once it has.
    pub end_us: Option<i64>,
    /// Where (local metres).
    pub position_m: [f64; 2],
    /// The lane, when on one.
    pub lane: Option<u8>,
    /// The approach, for approach-level events.
    pub approach: Option<String>,
    /// Track ids involved.
    pub objects: Vec<u32>,
    /// How sure the detector is (0..1).
    pub confidence: f64,
}

impl Event {
    /// A new event (its id and start are given when it is raised).
    fn new(
        kind: EventKind,
        position_m: [f64; 2],
        lane: Option<u8>,
        approach: Option<String>,
        objects: Vec<u32>,
        confidence: f64,
    ) -> Self {
        Event { id: 0, kind, start_us: 0, end_us: None, position_m, lane, approach, objects, confidence }
    }
}

/// A change the RSU publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum EventChange {
    /// A new event.
    Started(Event),
    /// An ongoing event changed (position, objects, confidence).
    Updated(Event),
    /// An event is over.
    Ended(Event),
}

/// Thresholds.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// Below this a vehicle stands, m/s.
    pub stopped_speed_mps: f64,
    /// Standing this long (not queued at a red) makes a stopped-vehicle event, seconds.
    pub stopped_after_s: f64,
    /// Moving against the lane this long and this fast makes a wrong-way event.
    pub wrong_way_after_s: f64,
    /// See `wrong_way_after_s`, m/s.
    pub wrong_way_speed_mps: f64,
    /// A pedestrian in the roadway this long makes an event, seconds.
    pub pedestrian_after_s: f64,
    /// A pedestrian must be this far inside a vehicle lane's edge, metres.
    pub pedestrian_lane_margin_m: f64,
    /// … and this far from any crosswalk, metres.
    pub pedestrian_crosswalk_margin_m: f64,
    /// Speeding: over the limit by this factor …
    pub speeding_factor: f64,
    /// … plus this margin, km/h, for this long, seconds.
    pub speeding_margin_kph: f64,
    /// See `speeding_margin_kph`.
    pub speeding_after_s: f64,
    /// Queued vehicles are slower than this, m/s.
    pub queue_speed_mps: f64,
    /// Largest gap between queued vehicles, metres.
    pub queue_gap_m: f64,
    /// A queue within this of the lane's upstream end spills back, metres.
    pub spillback_margin_m: f64,
    /// Lanes shorter than this are not judged for spill-back, metres.
    pub spillback_min_lane_m: f64,
    /// Approach congestion: mean speed below this, km/h …
    pub congestion_speed_kph: f64,
    /// … for this long, seconds.
    pub congestion_after_s: f64,
    /// Presence detector before each stop line for occupancy, metres.
    pub occupancy_zone_m: f64,
    /// Arrival detector: this far upstream of each stop line, metres.
    pub arrival_line_m: f64,
    /// Window of counts and rates, seconds.
    pub stats_window_s: f64,
    /// An event ends when its condition has not held for this long, seconds.
    pub end_after_s: f64,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            stopped_speed_mps: 0.5,
            stopped_after_s: 20.0,
            wrong_way_after_s: 1.0,
            wrong_way_speed_mps: 2.0,
            pedestrian_after_s: 1.0,
            pedestrian_lane_margin_m: 0.0,
            pedestrian_crosswalk_margin_m: 0.5,
            speeding_factor: 1.1,
            speeding_margin_kph: 3.0,
            speeding_after_s: 1.0,
            queue_speed_mps: 2.0,
            queue_gap_m: 12.0,
            spillback_margin_m: 5.0,
            spillback_min_lane_m: 30.0,
            congestion_speed_kph: 10.0,
            congestion_after_s: 30.0,
            occupancy_zone_m: 5.0,
            arrival_line_m: 60.0,
            stats_window_s: 300.0,
            end_after_s: 2.0,
        }
    }
}

/// Per-lane figures for signal control.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LaneStats {
    /// Lane id.
    pub lane: u8,
    /// Vehicles that crossed the stop line within the window.
    pub departures: usize,
    /// Vehicles that crossed the arrival line within the window.
    pub arrivals: usize,
    /// Arrivals per hour over the window.
    pub arrival_rate_vph: f64,
    /// Fraction of the window the presence zone before the stop line was occupied.
    pub occupancy: f64,
    /// Queue length from the stop line, metres.
    pub queue_m: f64,
    /// Vehicles in the queue.
    pub queued: usize,
    /// Vehicles on the lane now.
    pub vehicles: usize,
}

#[derive(Debug, Default, Clone)]
struct Memory {
    lane: Option<usize>,
    to_stop: Option<f64>,
    stopped_since: Option<i64>,
    wrong_since: Option<i64>,
    roadway_since: Option<i64>,
    speeding_since: Option<i64>,
    crossed: Option<usize>,
    seen_us: i64,
}

/// The event and statistics engine of one intersection.
pub struct EventDetector {
    config: EventConfig,
    lanes: LaneIndex,
    /// Signal groups per ingress lane index.
    lane_groups: Vec<Vec<u8>>,
    memory: HashMap<u32, Memory>,
    active: BTreeMap<(EventKind, String), Event>,
    next_id: u64,
    departures: Vec<VecDeque<i64>>,
    arrivals: Vec<VecDeque<i64>>,
    occupied: Vec<VecDeque<(i64, bool)>>,
    congested_since: HashMap<String, i64>,
    last_held: HashMap<(EventKind, String), i64>,
    last_t: Option<i64>,
    queues: Vec<(f64, usize, usize)>,
}

fn is_vehicle(t: &TrackOutput) -> bool {
    // unclassified tracks (radar only) are treated as vehicles
    t.class.is_none_or(|(c, _)| c.is_vehicle())
}

impl EventDetector {
    /// A detector for an intersection.
    pub fn new(x: &Intersection, config: EventConfig) -> Self {
        let lanes = LaneIndex::new(x);
        let lane_groups = lanes
            .lanes()
            .iter()
            .map(|l| {
                let mut g: Vec<u8> = x
                    .connections
                    .iter()
                    .filter(|c| c.from == l.id && matches!(c.to, Target::Lane(_) | Target::Remote { .. }))
                    .filter_map(|c| c.signal_group)
                    .collect();
                g.sort_unstable();
                g.dedup();
                g
            })
            .collect();
        let n = lanes.lanes().len();
        EventDetector {
            config,
            lanes,
            lane_groups,
            memory: HashMap::new(),
            active: BTreeMap::new(),
            next_id: 1,
            departures: vec![VecDeque::new(); n],
            arrivals: vec![VecDeque::new(); n],
            occupied: vec![VecDeque::new(); n],
            congested_since: HashMap::new(),
            last_held: HashMap::new(),
            last_t: None,
            queues: vec![(0.0, 0, 0); n],
        }
    }

    /// The lane index (for callers that match lanes themselves).
    pub fn lanes(&self) -> &LaneIndex {
        &self.lanes
    }

    /// Whether every signal group of a lane shows red (`false` for lanes without signals).
    fn lane_red(&self, li: usize, signals: &HashMap<u8, SignalShows>) -> bool {
        let g = &self.lane_groups[li];
        !g.is_empty() && g.iter().all(|s| matches!(signals.get(s), Some(SignalShows::Red | SignalShows::RedYellow)))
    }

    fn raise(&mut self, out: &mut Vec<EventChange>, key: (EventKind, String), t_us: i64, new: Event) -> bool {
        if let Some(e) = self.active.get_mut(&key) {
            let changed = new.lane != e.lane || new.objects != e.objects;
            e.position_m = new.position_m;
            e.lane = new.lane;
            e.objects = new.objects;
            e.confidence = new.confidence;
            if changed {
                out.push(EventChange::Updated(e.clone()));
            }
            return false;
        }
        let mut e = new;
        e.id = self.next_id;
        e.start_us = t_us;
        self.next_id += 1;
        self.active.insert(key, e.clone());
        out.push(EventChange::Started(e));
        true
    }

    /// Process the tracks published at `t_us` with the signal groups' states.
    pub fn update(
        &mut self,
        t_us: i64,
        tracks: &[TrackOutput],
        signals: &HashMap<u8, SignalShows>,
    ) -> Vec<EventChange> {
        let c = self.config.clone();
        let mut out = Vec::new();
        let mut still: Vec<(EventKind, String)> = Vec::new();
        let mut on_lane: Vec<Vec<(f64, f64, u32)>> = vec![Vec::new(); self.lanes.lanes().len()];
        let dt_us = self.last_t.map_or(0, |l| (t_us - l).max(0));
        for t in tracks {
            let speed = t.velocity_mps[0].hypot(t.velocity_mps[1]);
            let moving = speed > 1.0;
            let vehicle = is_vehicle(t);
            let m = self.lanes.locate(t.position_m, moving.then_some(t.heading_rad), vehicle);
            let mem = self.memory.entry(t.id).or_default();
            let prev_lane = mem.lane;
            let prev_to_stop = mem.to_stop;
            mem.seen_us = t_us;
            mem.lane = m.lane;
            mem.to_stop = m.to_stop_line_m;
            let key = |k: EventKind| (k, format!("track {}", t.id));
            let lane_id = m.lane.map(|li| self.lanes.lanes()[li].id);
            let ev = |kind: EventKind, confidence: f64| {
                Event::new(kind, t.position_m, lane_id, None, vec![t.id], confidence)
            };
            if vehicle {
                if let Some(li) = m.lane {
                    let (ingress, limit) = {
                        let lane = &self.lanes.lanes()[li];
                        (lane.direction == Direction::Ingress, lane.speed_limit_kph)
                    };
                    if ingress {
                        on_lane[li].push((m.to_stop_line_m.unwrap_or(0.0), speed, t.id));
                    }
                    // stopped vehicle (not waiting at a red)
                    let red = self.lane_red(li, signals);
                    let mem = self.memory.entry(t.id).or_default();
                    if speed < c.stopped_speed_mps && !red {
                        let since = *mem.stopped_since.get_or_insert(t_us);
                        if (t_us - since) as f64 * 1e-6 >= c.stopped_after_s {
                            still.push(key(EventKind::StoppedVehicle));
                            self.raise(
                                &mut out,
                                key(EventKind::StoppedVehicle),
                                t_us,
                                ev(EventKind::StoppedVehicle, 0.8),
                            );
                        }
                    } else if speed >= c.stopped_speed_mps {
                        let mem = self.memory.entry(t.id).or_default();
                        mem.stopped_since = None;
                    }
                    // wrong way
                    let mem = self.memory.entry(t.id).or_default();
                    if speed > c.wrong_way_speed_mps && m.heading_agreement.is_some_and(|a| a < -0.7) {
                        let since = *mem.wrong_since.get_or_insert(t_us);
                        if (t_us - since) as f64 * 1e-6 >= c.wrong_way_after_s {
                            still.push(key(EventKind::WrongWay));
                            self.raise(&mut out, key(EventKind::WrongWay), t_us, ev(EventKind::WrongWay, 0.9));
                        }
                    } else {
                        mem.wrong_since = None;
                    }
                    // speeding
                    let mem = self.memory.entry(t.id).or_default();
                    match limit {
                        Some(l) if speed * 3.6 > l * c.speeding_factor + c.speeding_margin_kph => {
                            let since = *mem.speeding_since.get_or_insert(t_us);
                            if (t_us - since) as f64 * 1e-6 >= c.speeding_after_s {
                                still.push(key(EventKind::Speeding));
                                self.raise(&mut out, key(EventKind::Speeding), t_us, ev(EventKind::Speeding, 0.8));
                            }
                        }
                        _ => mem.speeding_since = None,
                    }
                }
                // red-light running: was before the stop line of an all-red lane, now past it
                // (moving, from before the line to past it or out of the lane into the junction;
                // each track crosses a given stop line once)
                if let (Some(pl), Some(d0)) = (prev_lane, prev_to_stop) {
                    let into_junction = |li: usize| self.lanes.lanes()[li].direction != Direction::Ingress;
                    let crossed = moving
                        && match (m.lane, m.to_stop_line_m) {
                            (Some(li), Some(d1)) if li == pl => d1 <= 0.0 && d0 > 0.0,
                            (Some(li), _) if li != pl => into_junction(li) && d0 < 8.0,
                            (None, _) => d0 < 8.0 && matches!(m.zone, Zone::Junction | Zone::Crosswalk),
                            _ => false,
                        };
                    let mem = self.memory.entry(t.id).or_default();
                    let first = crossed && mem.crossed != Some(pl);
                    if first {
                        mem.crossed = Some(pl);
                    }
                    if first && self.lanes.lanes()[pl].direction == Direction::Ingress {
                        self.departures[pl].push_back(t_us);
                        if self.lane_red(pl, signals) {
                            let lid = self.lanes.lanes()[pl].id;
                            let p = t.position_m;
                            let k = (EventKind::RedLightRunning, format!("track {} lane {lid}", t.id));
                            let e = Event::new(EventKind::RedLightRunning, p, Some(lid), None, vec![t.id], 0.9);
                            self.raise(&mut out, k.clone(), t_us, e);
                            // a momentary event: it ends as it is raised
                            if let Some(mut e) = self.active.remove(&k) {
                                e.end_us = Some(t_us);
                                out.push(EventChange::Ended(e));
                            }
                        }
                    }
                }
                // arrivals: crossing the arrival line
                if let (Some(li), Some(d1), Some(pl), Some(d0)) = (m.lane, m.to_stop_line_m, prev_lane, prev_to_stop) {
                    if li == pl && d0 > c.arrival_line_m && d1 <= c.arrival_line_m {
                        self.arrivals[li].push_back(t_us);
                    }
                }
            } else if t.class.is_some_and(|(k, _)| k == ObjectClass::Pedestrian) {
                // clearly in the roadway: in the box or well inside a vehicle lane, and not at a
                // crosswalk (pedestrians waiting at its ends, or tracked a little off it, are fine)
                let well_inside = m.lane.is_some_and(|li| {
                    m.lateral_m.abs() <= self.lanes.lanes()[li].width_m / 2.0 - c.pedestrian_lane_margin_m
                });
                let in_road = (matches!(m.zone, Zone::Junction) || (m.zone == Zone::Lane && well_inside))
                    && !self.lanes.near_crosswalk(t.position_m, c.pedestrian_crosswalk_margin_m);
                let mem = self.memory.entry(t.id).or_default();
                if in_road {
                    let since = *mem.roadway_since.get_or_insert(t_us);
                    if (t_us - since) as f64 * 1e-6 >= c.pedestrian_after_s {
                        still.push(key(EventKind::PedestrianInRoadway));
                        self.raise(
                            &mut out,
                            key(EventKind::PedestrianInRoadway),
                            t_us,
                            ev(EventKind::PedestrianInRoadway, 0.7),
                        );
                    }
                } else {
                    mem.roadway_since = None;
                }
            }
        }
        // queues, occupancy, spill-back
        let mut approach_speeds: BTreeMap<String, (f64, usize, bool)> = BTreeMap::new();
        for (li, vs) in on_lane.iter_mut().enumerate() {
            vs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let lane = &self.lanes.lanes()[li];
            let (mut queue_m, mut queued, mut last) = (0.0, 0, 0.0);
            for &(d, v, _) in vs.iter() {
                if v > c.queue_speed_mps || d - last > c.queue_gap_m {
                    break;
                }
                queue_m = d + 2.5;
                last = d;
                queued += 1;
            }
            self.queues[li] = (queue_m, queued, vs.len());
            let occ = vs.iter().any(|&(d, _, _)| d <= c.occupancy_zone_m);
            self.occupied[li].push_back((dt_us, occ));
            let e = approach_speeds.entry(lane.approach.clone()).or_insert((0.0, 0, false));
            for &(_, v, _) in vs.iter() {
                e.0 += v;
                e.1 += 1;
            }
            // (a lane stub of a few metres says nothing about the upstream intersection)
            if queued > 0
                && lane.length_m() >= c.spillback_min_lane_m
                && queue_m >= lane.length_m() - c.spillback_margin_m
            {
                let key = (EventKind::QueueSpillback, format!("lane {}", lane.id));
                still.push(key.clone());
                let p = lane.points[0];
                let (lid, ap) = (lane.id, lane.approach.clone());
                let objs: Vec<u32> = vs.iter().take(queued).map(|v| v.2).collect();
                let e = Event::new(EventKind::QueueSpillback, p, Some(lid), Some(ap), objs, 0.8);
                self.raise(&mut out, key, t_us, e);
            }
        }
        for (approach, (sum, n, _)) in approach_speeds {
            let mean_kph = if n > 0 { sum / n as f64 * 3.6 } else { f64::INFINITY };
            if n >= 3 && mean_kph < c.congestion_speed_kph {
                let since = *self.congested_since.entry(approach.clone()).or_insert(t_us);
                if (t_us - since) as f64 * 1e-6 >= c.congestion_after_s {
                    let key = (EventKind::Congestion, format!("approach {approach}"));
                    still.push(key.clone());
                    let p = self
                        .lanes
                        .lanes()
                        .iter()
                        .find(|l| l.approach == approach && l.direction == Direction::Ingress)
                        .map_or([0.0, 0.0], |l| l.points[0]);
                    let ap = approach.clone();
                    let confidence = (1.0 - mean_kph / c.congestion_speed_kph).clamp(0.3, 1.0);
                    let e = Event::new(EventKind::Congestion, p, None, Some(ap), Vec::new(), confidence);
                    self.raise(&mut out, key, t_us, e);
                }
            } else {
                self.congested_since.remove(&approach);
            }
        }
        // events whose condition has not held for `end_after_s` end (a short gap — a noisy position
        // at a lane edge, a missed frame — does not split one event into several)
        for k in &still {
            self.last_held.insert(k.clone(), t_us);
        }
        let grace = (c.end_after_s * 1e6) as i64;
        let ended: Vec<(EventKind, String)> =
            self.active.keys().filter(|k| self.last_held.get(*k).is_none_or(|&h| t_us - h > grace)).cloned().collect();
        for k in &ended {
            self.last_held.remove(k);
        }
        for k in ended {
            if let Some(mut e) = self.active.remove(&k) {
                e.end_us = Some(t_us);
                out.push(EventChange::Ended(e));
            }
        }
        // forget tracks not seen for a while, trim the windows
        self.memory.retain(|_, m| t_us - m.seen_us < 5_000_000);
        let horizon = t_us - (c.stats_window_s * 1e6) as i64;
        for q in self.departures.iter_mut().chain(self.arrivals.iter_mut()) {
            while q.front().is_some_and(|&t| t < horizon) {
                q.pop_front();
            }
        }
        let window_us = (c.stats_window_s * 1e6) as i64;
        for q in &mut self.occupied {
            let mut total: i64 = q.iter().map(|e| e.0).sum();
            while total > window_us {
                match q.pop_front() {
                    Some((d, _)) => total -= d,
                    None => break,
                }
            }
        }
        self.last_t = Some(t_us);
        out
    }

    /// The id the next event gets.
    pub fn next_event_id(&self) -> u64 {
        self.next_id
    }

    /// Continue numbering events from `id` (a detector rebuilt for a new map revision keeps ids unique).
    pub fn set_next_event_id(&mut self, id: u64) {
        self.next_id = self.next_id.max(id);
    }

    /// Events in progress.
    pub fn active(&self) -> impl Iterator<Item = &Event> {
        self.active.values()
    }

    /// Per-lane figures (ingress lanes) over the statistics window.
    pub fn lane_stats(&self) -> Vec<LaneStats> {
        let window_h = self.config.stats_window_s / 3600.0;
        self.lanes
            .lanes()
            .iter()
            .enumerate()
            .filter(|(_, l)| l.direction == Direction::Ingress && l.lane_type.is_travel_lane())
            .map(|(li, l)| {
                let occ_total: i64 = self.occupied[li].iter().map(|e| e.0).sum();
                let occ_on: i64 = self.occupied[li].iter().filter(|e| e.1).map(|e| e.0).sum();
                let (queue_m, queued, vehicles) = self.queues[li];
                LaneStats {
                    lane: l.id,
                    departures: self.departures[li].len(),
                    arrivals: self.arrivals[li].len(),
                    arrival_rate_vph: self.arrivals[li].len() as f64 / window_h,
                    occupancy: if occ_total > 0 { occ_on as f64 / occ_total as f64 } else { 0.0 },
                    queue_m,
                    queued,
                    vehicles,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::TrackStatus;

    #[test]
    fn kind_names_are_the_json_names() {
        use EventKind as K;
        for k in [
            K::StoppedVehicle,
            K::WrongWay,
            K::PedestrianInRoadway,
            K::RedLightRunning,
            K::Speeding,
            K::QueueSpillback,
            K::Congestion,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    use crate::test_support::four_leg;

    fn track(id: u32, p: [f64; 2], v: [f64; 2], class: ObjectClass) -> TrackOutput {
        TrackOutput {
            id,
            position_m: p,
            velocity_mps: v,
            heading_rad: v[1].atan2(v[0]),
            position_sigma_m: [0.2, 0.2],
            class: Some((class, 0.9)),
            size_m: None,
            status: TrackStatus::Confirmed,
            age_us: 0,
        }
    }

    /// A point `d` metres before the stop line of an ingress lane, and the lane's direction.
    fn on_ingress(det: &EventDetector, li: usize, d: f64) -> ([f64; 2], [f64; 2]) {
        let l = &det.lanes().lanes()[li];
        let n = l.points.len();
        let (a, b) = (l.points[n - 2], l.points[n - 1]);
        let len = (b[0] - a[0]).hypot(b[1] - a[1]);
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        ([b[0] - u[0] * d, b[1] - u[1] * d], u)
    }

    fn first_signalled_ingress(det: &EventDetector) -> usize {
        (0..det.lanes().lanes().len())
            .find(|&li| det.lanes().lanes()[li].direction == Direction::Ingress && !det.lane_groups[li].is_empty())
            .unwrap()
    }

    #[test]
    fn red_light_running_counts_and_ends() {
        let x = four_leg();
        let mut det = EventDetector::new(&x, EventConfig::default());
        let li = first_signalled_ingress(&det);
        let red: HashMap<u8, SignalShows> = det.lane_groups[li].iter().map(|g| (*g, SignalShows::Red)).collect();
        let green: HashMap<u8, SignalShows> = det.lane_groups[li].iter().map(|g| (*g, SignalShows::Green)).collect();
        // car 1 drives through at 10 m/s on red; car 2 on green
        let mut runs = 0;
        for (id, signals) in [(1, &red), (2, &green)] {
            for k in 0..20 {
                let d = 10.0 - k as f64; // 10 m before the stop line to 9 m past it
                let (p, u) = on_ingress(&det, li, d);
                let t = track(id, p, [u[0] * 10.0, u[1] * 10.0], ObjectClass::Car);
                let ch = det.update(k * 100_000 + i64::from(id) * 10_000_000, &[t], signals);
                runs += ch
                    .iter()
                    .filter(|c| matches!(c, EventChange::Started(e) if e.kind == EventKind::RedLightRunning))
                    .count();
            }
        }
        assert_eq!(runs, 1, "only the car on red");
        assert_eq!(det.lane_stats().iter().find(|s| s.lane == det.lanes().lanes()[li].id).unwrap().departures, 2);
    }

    #[test]
    fn stopped_vehicle_wrong_way_and_pedestrian() {
        let x = four_leg();
        let mut det = EventDetector::new(&x, EventConfig::default());
        let li = first_signalled_ingress(&det);
        let green: HashMap<u8, SignalShows> = det.lane_groups[li].iter().map(|g| (*g, SignalShows::Green)).collect();
        let (p, u) = on_ingress(&det, li, 20.0);
        let mut kinds = Vec::new();
        for k in 0..260 {
            let t = k * 100_000;
            let stopped = track(1, p, [0.0, 0.0], ObjectClass::Car);
            let (q, _) = on_ingress(&det, li, 40.0 - k as f64 * 0.3);
            let wrong = track(2, q, [-u[0] * 3.0, -u[1] * 3.0], ObjectClass::Car);
            let walker = track(3, on_ingress(&det, li, 30.0).0, [0.0, 0.0], ObjectClass::Pedestrian);
            for c in det.update(t, &[stopped, wrong, walker], &green) {
                if let EventChange::Started(e) = c {
                    kinds.push((e.kind, e.start_us));
                }
            }
        }
        assert!(kinds.iter().any(|(k, t)| *k == EventKind::StoppedVehicle && *t >= 20_000_000), "{kinds:?}");
        assert!(kinds.iter().any(|(k, _)| *k == EventKind::WrongWay), "{kinds:?}");
        assert!(kinds.iter().any(|(k, t)| *k == EventKind::PedestrianInRoadway && *t >= 1_000_000), "{kinds:?}");
        // a red light makes the standing car a queue, not an event: it ends
        let red: HashMap<u8, SignalShows> = det.lane_groups[li].iter().map(|g| (*g, SignalShows::Red)).collect();
        let ch = det.update(30_000_000, &[track(1, p, [0.0, 0.0], ObjectClass::Car)], &red);
        assert!(ch.iter().any(|c| matches!(c, EventChange::Ended(e) if e.kind == EventKind::StoppedVehicle)));
        let s = det.lane_stats();
        let q = s.iter().find(|s| s.lane == det.lanes().lanes()[li].id).unwrap();
        assert_eq!(q.queued, 0, "a car 20 m back with nothing ahead is not a queue from the stop line: {q:?}");
    }

    #[test]
    fn queue_and_spillback() {
        let x = four_leg();
        let mut det = EventDetector::new(&x, EventConfig::default());
        let li = first_signalled_ingress(&det);
        let len = det.lanes().lanes()[li].length_m();
        let red: HashMap<u8, SignalShows> = det.lane_groups[li].iter().map(|g| (*g, SignalShows::Red)).collect();
        let n = (len / 7.0).ceil() as u32 + 1;
        let cars: Vec<TrackOutput> = (0..n)
            .map(|i| {
                let d = (f64::from(i) * 7.0 + 1.0).min(len - 1.0);
                track(i + 1, on_ingress_anywhere(&det, li, d), [0.0, 0.0], ObjectClass::Car)
            })
            .collect();
        let ch = det.update(0, &cars, &red);
        assert!(
            ch.iter().any(|c| matches!(c, EventChange::Started(e) if e.kind == EventKind::QueueSpillback)),
            "{ch:?}"
        );
        let s = det.lane_stats();
        let q = s.iter().find(|s| s.lane == det.lanes().lanes()[li].id).unwrap();
        assert!(q.queue_m >= len - 5.0 && q.queued >= 2, "{q:?}");
    }

    /// A point `d` metres before the stop line, along the whole polyline.
    fn on_ingress_anywhere(det: &EventDetector, li: usize, d: f64) -> [f64; 2] {
        let l = &det.lanes().lanes()[li];
        let target = l.length_m() - d;
        let i = l.along_m.partition_point(|&a| a <= target).clamp(1, l.points.len() - 1);
        let (a, b) = (l.points[i - 1], l.points[i]);
        let f = (target - l.along_m[i - 1]) / (l.along_m[i] - l.along_m[i - 1]).max(1e-9);
        [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])]
    }

    #[test]
    fn phase_names() {
        assert_eq!(SignalShows::from_phase_name("STOP_AND_REMAIN"), SignalShows::Red);
        assert_eq!(SignalShows::from_phase_name("permissive_movement_allowed"), SignalShows::Green);
        assert_eq!(SignalShows::from_phase_name("PERMISSIVE_CLEARANCE"), SignalShows::Yellow);
        assert_eq!(SignalShows::from_phase_name("DARK"), SignalShows::Dark);
    }
}
