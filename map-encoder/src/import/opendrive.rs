//! ASAM OpenDRIVE (1.4–1.8, `.xodr`) importer: produces the neutral
//! [`Network`] and nothing else (intersection finding, approach grouping and
//! simplification are `build`'s job).
//!
//! # What is mapped
//!
//! * **Geometry.** Each road's `planView` reference line (`line`, `arc`,
//!   `spiral` (clothoid, heading integrated with Simpson's rule), `poly3`
//!   (arc length inverted through a dense table) and `paramPoly3` with
//!   `pRange` `arcLength` or `normalized`), the road's `laneOffset` and each
//!   lane section's `width` records (`border` records when a lane has no
//!   `width`; a border is read as the distance of the lane's outer edge from
//!   the lane-offset centre line) give every lane's centre line.  It is sampled
//!   about every 2 m, at every section end and at every geometry start, and is
//!   given in travel direction: in right-hand traffic right lanes (negative
//!   ids) follow the reference line and left lanes go against it, the other
//!   way round on roads with `rule="LHT"`; a lane's `direction="reversed"`
//!   (1.7+) flips it.  Where a reference line made of straight pieces has a
//!   kink (LGSVL), the offset centre line can fold back on the kink's inner
//!   side: such points are dropped (with a warning).  `width_m` is the mean
//!   of the sampled widths.
//! * **Lanes.** One [`NetLane`] per lane and lane section of each ordinary
//!   road (`junction="-1"` or absent), id `road:sectionIndex:laneId`
//!   (section index counted from 0 in `s` order).  `driving`, `entry`, `exit`,
//!   `onRamp`, `offRamp`, `connectingRamp`, `bidirectional` → Vehicle; `bus` →
//!   Bus (`only = [Bus]`); `taxi` → Vehicle (`only = [Taxi]`); `HOV` → Vehicle
//!   (warned: no HOV class); `biking`/`bicycle` → Bike; `sidewalk`/`walking` →
//!   Sidewalk; `parking` → Parking.  `tram`/`rail` are skipped with a warning;
//!   `border`, `shoulder`, `median`, `curb`, `none`, `restricted`, `stop`,
//!   `special*`, `roadWorks` are not lanes of the model and are skipped
//!   quietly.  Connecting roads (roads inside a junction) are never emitted.
//! * **Speed.** A lane's own `<speed>` record, else the road's
//!   `<type><speed max unit>` at the section's middle; `mph`, `km/h`, `m/s`
//!   (the default) are converted to km/h; `max="no limit"`/`"undefined"` give
//!   no limit.
//! * **Junction ends.** A road whose predecessor/successor is a junction (or
//!   a connecting road of one) has that junction at its start/end; a lane that
//!   travels towards that end gets it as `to_junction` (only in the first/last
//!   section), a lane that travels away from it gets it as `from_junction`.
//! * **Connections.** Each `<connection incomingRoad connectingRoad
//!   contactPoint>` and its `<laneLink from to>` is followed through the
//!   connecting road's lane sections (lane `successor` links when entered at
//!   its start, `predecessor` links when entered at its end, also through
//!   further connecting roads of the same junction) to the outgoing ordinary
//!   road's lane, giving a [`NetConnection`] from `incoming:sec:lane` to
//!   `outgoing:sec:lane`.  Direct junctions (1.7 `linkedRoad`) link straight to
//!   the linked road.  Only connections between travel lanes (Vehicle, Bus,
//!   Bike) are kept; links between sidewalks/shoulders are counted in one
//!   warning.  The manoeuvre is `None` unless the file says: RoadRunner's
//!   `<userData><vectorSignal turnRelation=…>` on the signal reference that
//!   controls the connection gives Straight/Left/Right/UTurn.
//! * **Signals.** A `<signal>` with `dynamic="yes"` is a traffic light; a
//!   `<signalReference id>` places the referenced signal on another road.
//!   Each signal is mapped to the id of the top-level `<controller>` that lists
//!   it in a `<control signalId>` (a dynamic signal in no controller stands for
//!   itself as `signal:<id>`).  **Rule:** the signal of a connection is found
//!   by looking, in this order, (1) at the signals and signal references on
//!   the connecting road(s) it runs through, then (2) at those on the incoming
//!   road in the half of the road next to the junction.  A signal/reference
//!   applies to a lane when its `<validity fromLane toLane>` range contains the
//!   lane id (a validity of only lane 0 applies to no lane), or, when it has no
//!   validity, when its `orientation` matches the lane's travel direction
//!   (`+` with the reference line, `-` against it, `none`/absent both).  Within
//!   each step, validity matches win over orientation matches; the first
//!   controller found is used (a warning is given when several differ).
//! * **Junctions.** Every `<junction>` becomes a [`NetJunction`] (name when
//!   not empty, centre = mean of its connecting roads' end points).  It is
//!   signalised when it lists a `<controller>` that controls a dynamic
//!   signal, when any of its connections got a signal, or when a dynamic
//!   signal (or a reference to one) stands on one of its connecting roads (a
//!   controller of stop/yield signs alone does not make it signalised).
//! * **Stop lines.** A travel lane that leads into a junction ends at a stop
//!   line when the junction is signalised, or when a stop sign (`type="206"`;
//!   its `validity` is respected, its `orientation` is not, as exporters set
//!   it inconsistently) or a `stopLine` object stands in the half of its road
//!   next to the junction.  Sidewalk and parking lanes get no speed limit.
//! * **Crosswalks.** `<object type="crosswalk">` → [`NetCrosswalk`] at the
//!   junction of the road (the road's own junction for a connecting road, else
//!   the junction at the nearer road end, else the other end).  With an
//!   `outline` of `cornerLocal` (u, v) points, the centre line runs along the
//!   object's u axis (kerb to kerb) through the middle of the v extent, from
//!   the smallest to the largest u, and the width is the v extent; with
//!   `cornerRoad` points the same is done in the road's frame (across = road
//!   normal); without an outline the object's `length` (u) and `width` (v) are
//!   used.
//! * **Geo-reference.** The header's `<geoReference>` PROJ string →
//!   [`GeoRef::Projected`].  The 1.5+ header `<offset x y z hdg>` takes a map
//!   point into the projected CRS as `R(hdg)·p + (x, y)`: points are emitted
//!   rotated by `hdg` and `(x, y)` becomes the geo-ref offset.  LGSVL writes a
//!   `tmerc` about the map origin with the origin's UTM easting/northing as
//!   `+x_0/+y_0` but local coordinates: when the file has no `<offset>`, every
//!   reference-line point is within 50 km of (0, 0) and `(x_0, y_0)` is more
//!   than 100 km from it, the offset is set to `(x_0, y_0)` (with a warning) so
//!   that map point (0, 0) is `(lat_0, lon_0)`.  A missing or empty
//!   geoReference, a geographic one (`longlat`), or a placeholder projection
//!   (`tmerc`/`merc` with `lat_0`, `lon_0`, `x_0`, `y_0` all 0 and no header
//!   offset, as CARLA/RoadRunner export) is not a location: with
//!   [`ParseOptions::origin`] the map is [`GeoRef::Local`] (x east, y north),
//!   otherwise [`ImportError::NoGeoReference`].
//!
//! # Not mapped (known gaps)
//!
//! Elevation, superelevation and lane heights; lane sections are not merged
//! (an approach split into sections is several lanes, only the last/first of
//! which touches the junction); `<neighbor>` junction links; lane access
//! restrictions (`<access>`); road marks; pedestrian signals for crosswalks;
//! object `repeat`s.  Missing attributes or references to missing
//! roads/lanes are warned about with the element id and skipped; a malformed
//! number is an [`ImportError::Parse`] naming the element.

use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node};

use super::network::{GeoRef, NetConnection, NetCrosswalk, NetJunction, NetLane, Network};
use super::{ImportError, ParseOptions};
use crate::model::{LaneType, Maneuver, VehicleClass};

/// Target spacing of centre-line samples, metres.
const STEP_M: f64 = 2.0;
/// Most samples per lane and section (very long sections are sampled coarser).
const MAX_SAMPLES: usize = 5000;
/// Maximum number of connecting roads followed through one junction.
const MAX_HOPS: usize = 16;

/// Parses an OpenDRIVE document into the neutral network (see the module doc
/// for what is mapped and what is skipped).
pub fn parse_opendrive(text: &str, opts: &ParseOptions) -> Result<Network, ImportError> {
    let mut cx = Ctx { file: opts.file.clone(), warnings: Vec::new() };
    let doc = Document::parse(text).map_err(|e| cx.err(format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "OpenDRIVE" {
        return Err(cx.err(format!("root element is <{}>, not <OpenDRIVE>", root.tag_name().name())));
    }

    // Roads, signals, controllers, junctions.
    let mut roads: Vec<Road> = Vec::new();
    for n in elements(root, "road") {
        if let Some(r) = cx.parse_road(n)? {
            roads.push(r);
        }
    }
    let mut road_idx: HashMap<String, usize> = HashMap::new();
    for (i, r) in roads.iter().enumerate() {
        if road_idx.insert(r.id.clone(), i).is_some() {
            cx.warn(format!("road {}: duplicate road id, the later one is used for links", r.id));
        }
    }
    let mut sig_info: HashMap<String, SignalInfo> = HashMap::new();
    for r in &roads {
        for (id, info) in &r.signal_defs {
            sig_info.insert(id.clone(), info.clone());
        }
    }
    let mut controller_of: HashMap<String, String> = HashMap::new();
    let mut dynamic_controllers: HashSet<String> = HashSet::new();
    let mut warned: HashSet<(String, String)> = HashSet::new();
    for c in elements(root, "controller") {
        let Some(cid) = c.attribute("id") else {
            cx.warn("controller without id skipped".to_string());
            continue;
        };
        for ctl in elements(c, "control") {
            let Some(sid) = ctl.attribute("signalId") else {
                cx.warn(format!("controller {cid}: <control> without signalId skipped"));
                continue;
            };
            if sig_info.get(sid).is_some_and(|i| i.dynamic) {
                dynamic_controllers.insert(cid.to_string());
            }
            match controller_of.get(sid) {
                Some(prev) if prev != cid => {
                    if warned.insert((sid.to_string(), cid.to_string())) {
                        cx.warn(format!("signal {sid} is listed by controllers {prev} and {cid}; {prev} is used"));
                    }
                }
                Some(_) => {}
                None => {
                    controller_of.insert(sid.to_string(), cid.to_string());
                }
            }
        }
    }
    let mut junctions: Vec<Junction> = Vec::new();
    for j in elements(root, "junction") {
        if let Some(j) = cx.parse_junction(j)? {
            junctions.push(j);
        }
    }
    let junction_ids: HashSet<String> = junctions.iter().map(|j| j.id.clone()).collect();
    for r in &mut roads {
        if let Some(j) = &r.junction {
            if !junction_ids.contains(j) {
                cx.warn(format!("road {}: junction {j} does not exist; imported as an ordinary road", r.id));
                r.junction = None;
            }
        }
    }

    // Geo-reference (needs the map's extent for the LGSVL false-origin rule).
    let extent = roads.iter().flat_map(|r| r.geoms.iter()).fold(0.0_f64, |m, g| m.max(g.x.abs()).max(g.y.abs()));
    let (geo, rot) = cx.georef(root, opts, extent)?;
    // the 1.5+ header <offset z> lifts every height of the map
    let z_offset = element(root, "header")
        .and_then(|h| element(h, "offset"))
        .and_then(|o| o.attribute("z"))
        .and_then(|z| z.trim().parse::<f64>().ok())
        .filter(|z| z.is_finite())
        .unwrap_or(0.0);
    let net = Net { roads: &roads, road_idx: &road_idx, sig_info: &sig_info, controller_of: &controller_of, rot };

    // Lanes of ordinary roads.
    let mut lanes: Vec<NetLane> = Vec::new();
    let mut lane_index: HashMap<String, usize> = HashMap::new();
    for r in roads.iter().filter(|r| r.junction.is_none()) {
        net.road_lanes(&mut cx, r, &mut lanes);
    }
    for (i, l) in lanes.iter().enumerate() {
        lane_index.insert(l.id.clone(), i);
    }

    // Connections and junctions.
    let mut connections: Vec<NetConnection> = Vec::new();
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let mut skipped_non_travel = 0usize;
    let mut net_junctions = Vec::new();
    for j in &junctions {
        let mut signalised = j.controllers.iter().any(|c| dynamic_controllers.contains(c));
        for conn in &j.connections {
            for &(from, to) in &conn.lane_links {
                match net.resolve(&mut cx, j, conn, (from, to), &lane_index) {
                    Resolved::Ok(c) => {
                        if c.signal.is_some() {
                            signalised = true;
                        }
                        if seen.insert((c.junction.clone(), c.from.clone(), c.to.clone())) {
                            connections.push(c);
                        }
                    }
                    Resolved::NonTravel => skipped_non_travel += 1,
                    Resolved::Failed => {}
                }
            }
        }
        // Dynamic signals standing on the junction's connecting roads.
        let mut pts: Vec<[f64; 2]> = Vec::new();
        let mut zs: Vec<f64> = Vec::new();
        for r in roads.iter().filter(|r| r.junction.as_deref() == Some(j.id.as_str())) {
            zs.extend(r.z(0.0));
            zs.extend(r.z(r.length));
            if r.signals.iter().any(|e| sig_info.get(&e.id).is_some_and(|i| i.dynamic)) {
                signalised = true;
            }
            pts.push(net.out(r.point(0.0, 0.0)));
            pts.push(net.out(r.point(r.length, 0.0)));
        }
        let n = pts.len() as f64;
        let mean = [pts.iter().map(|p| p[0]).sum::<f64>() / n, pts.iter().map(|p| p[1]).sum::<f64>() / n];
        let centre = (!pts.is_empty() && mean.iter().all(|v| v.is_finite())).then_some(mean);
        let elevation_m = (!zs.is_empty()).then(|| zs.iter().sum::<f64>() / zs.len() as f64 + z_offset);
        net_junctions.push(NetJunction { id: j.id.clone(), signalised, centre, name: j.name.clone(), elevation_m });
    }
    if skipped_non_travel > 0 {
        cx.warn(format!(
            "{skipped_non_travel} lane links between non-travel lanes (sidewalk, shoulder, ...) \
             were not imported as connections"
        ));
    }

    // Stop lines: lanes into a signalised junction, or with a stop sign / stop line on their road.
    let signalised: HashSet<&str> = net_junctions.iter().filter(|j| j.signalised).map(|j| j.id.as_str()).collect();
    for l in lanes.iter_mut().filter(|l| l.lane_type.is_travel_lane()) {
        let Some(j) = &l.to_junction else { continue };
        if signalised.contains(j.as_str()) {
            l.stop_line = true;
            continue;
        }
        let road_id = l.id.split(':').next().unwrap_or_default();
        if let Some(r) = road_idx.get(road_id).map(|&i| &roads[i]) {
            let lane_id: i32 = l.id.rsplit(':').next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let fwd = r.lane_forward(lane_id);
            let near_end = if fwd { End::End } else { End::Start };
            // Stop signs: orientation is not trusted (exporters disagree), validity is.
            let stop_sign = r.signals.iter().any(|e| {
                sig_info.get(&e.id).is_some_and(|i| i.stop_sign)
                    && (e.validity.is_empty() || e.applies(lane_id, fwd).is_some())
                    && r.near(e.s, near_end)
            });
            l.stop_line = stop_sign || r.stop_line_objects.iter().any(|&s| r.near(s, near_end));
        }
    }

    // Crosswalks.
    let mut crosswalks = Vec::new();
    for r in &roads {
        for cw in &r.crosswalks {
            if let Some(c) = net.crosswalk(&mut cx, r, cw) {
                crosswalks.push(c);
            }
        }
    }

    // Lane sections and linked roads that continue one another become one lane (`first..last`).
    let next: Vec<(String, String)> =
        roads.iter().filter(|r| r.junction.is_none()).flat_map(|r| net.continuity(r)).collect();
    let mut network = Network { geo, lanes, connections, junctions: net_junctions, crosswalks, warnings: cx.warnings };
    network.merge_chains(&next);
    Ok(network)
}

// ---------------------------------------------------------------------------
// Parsed file
// ---------------------------------------------------------------------------

/// Which end of a road.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Start,
    End,
}

/// A road's predecessor or successor.
#[derive(Debug, Clone)]
struct Link {
    junction: bool,
    id: String,
    contact: Option<End>,
}

/// A cubic `a + b·ds + c·ds² + d·ds³` starting at `s`.
#[derive(Debug, Clone, Copy)]
struct Cubic {
    s: f64,
    a: f64,
    b: f64,
    c: f64,
    d: f64,
}

impl Cubic {
    fn at(&self, ds: f64) -> f64 {
        self.a + ds * (self.b + ds * (self.c + ds * self.d))
    }
}

/// The record of a sorted list that applies at `s` (the last one starting at or before it).
fn record_at(list: &[Cubic], s: f64) -> Option<&Cubic> {
    let i = list.partition_point(|r| r.s <= s + 1e-9);
    list.get(i.saturating_sub(1))
}

#[derive(Debug, Clone)]
enum GeomKind {
    Line,
    Arc(f64),
    Spiral {
        k0: f64,
        k1: f64,
    },
    /// `v(u)` cubic and a table of `(arc length, u)`.
    Poly3 {
        v: Cubic,
        table: Vec<(f64, f64)>,
    },
    ParamPoly3 {
        u: Cubic,
        v: Cubic,
        normalized: bool,
    },
}

#[derive(Debug, Clone)]
struct Geom {
    s: f64,
    x: f64,
    y: f64,
    hdg: f64,
    len: f64,
    kind: GeomKind,
}

impl Geom {
    /// Pose `(x, y, heading)` at `ds` from the geometry's start.
    fn pose(&self, ds: f64) -> (f64, f64, f64) {
        let (u, v, h) = match &self.kind {
            GeomKind::Line => (ds, 0.0, 0.0),
            GeomKind::Arc(k) if k.abs() < 1e-12 => (ds, 0.0, 0.0),
            GeomKind::Arc(k) => {
                let a = k * ds;
                (a.sin() / k, (1.0 - a.cos()) / k, a)
            }
            GeomKind::Spiral { k0, k1 } => {
                let c = if self.len > 0.0 { (k1 - k0) / self.len } else { 0.0 };
                let th = |t: f64| k0 * t + 0.5 * c * t * t;
                let (u, v) = simpson(ds, |t| {
                    let a = th(t);
                    (a.cos(), a.sin())
                });
                (u, v, th(ds))
            }
            GeomKind::Poly3 { v, table } => {
                let u = table_lookup(table, ds);
                let dv = v.b + u * (2.0 * v.c + 3.0 * v.d * u);
                (u, v.at(u), dv.atan())
            }
            GeomKind::ParamPoly3 { u, v, normalized } => {
                let p = if *normalized {
                    if self.len > 0.0 {
                        ds / self.len
                    } else {
                        0.0
                    }
                } else {
                    ds
                };
                let du = u.b + p * (2.0 * u.c + 3.0 * u.d * p);
                let dv = v.b + p * (2.0 * v.c + 3.0 * v.d * p);
                let h = if du.abs() + dv.abs() > 1e-12 { dv.atan2(du) } else { 0.0 };
                (u.at(p), v.at(p), h)
            }
        };
        let (sh, ch) = self.hdg.sin_cos();
        (self.x + u * ch - v * sh, self.y + u * sh + v * ch, self.hdg + h)
    }
}

/// Simpson integral of `(cos θ, sin θ)`-like pairs over `[0, len]`.
fn simpson(len: f64, f: impl Fn(f64) -> (f64, f64)) -> (f64, f64) {
    if len <= 0.0 {
        return (0.0, 0.0);
    }
    let mut n = ((len / 0.25).ceil() as usize).clamp(2, 20_000);
    n += n % 2;
    let h = len / n as f64;
    let (mut sx, mut sy) = (0.0, 0.0);
    for i in 0..=n {
        let w = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let (a, b) = f(i as f64 * h);
        sx += w * a;
        sy += w * b;
    }
    (sx * h / 3.0, sy * h / 3.0)
}

/// Arc length → u table for a `poly3` of the given length.
fn poly3_table(v: &Cubic, len: f64) -> Vec<(f64, f64)> {
    let n = ((len / 0.05).ceil() as usize).clamp(16, 20_000);
    let du = len / n as f64;
    let mut table = Vec::with_capacity(n + 1);
    table.push((0.0, 0.0));
    let (mut s, mut u) = (0.0, 0.0);
    for _ in 0..n {
        let m = u + du / 2.0;
        let dv = v.b + m * (2.0 * v.c + 3.0 * v.d * m);
        s += du * (1.0 + dv * dv).sqrt();
        u += du;
        table.push((s, u));
        if s >= len {
            break;
        }
    }
    table
}

fn table_lookup(table: &[(f64, f64)], s: f64) -> f64 {
    let i = table.partition_point(|&(ts, _)| ts < s);
    if i == 0 {
        return table.first().map_or(0.0, |t| t.1);
    }
    let Some(&(s1, u1)) = table.get(i) else {
        return table.last().map_or(0.0, |t| t.1);
    };
    let (s0, u0) = table[i - 1];
    if s1 - s0 <= 0.0 {
        u0
    } else {
        u0 + (u1 - u0) * (s - s0) / (s1 - s0)
    }
}

#[derive(Debug, Clone)]
struct LaneDef {
    id: i32,
    ty: String,
    widths: Vec<Cubic>,
    borders: Vec<Cubic>,
    pred: Option<i32>,
    succ: Option<i32>,
    /// `(sOffset, km/h)` records.
    speeds: Vec<(f64, Option<f64>)>,
    reversed: bool,
    /// `<access>`: classes allowed exclusively and classes denied.
    allow: Vec<VehicleClass>,
    deny: Vec<VehicleClass>,
}

#[derive(Debug, Clone)]
struct Section {
    s: f64,
    end: f64,
    /// Left lanes by increasing id (1, 2, …).
    left: Vec<LaneDef>,
    /// Right lanes by decreasing id (-1, -2, …).
    right: Vec<LaneDef>,
}

impl Section {
    fn lane(&self, id: i32) -> Option<&LaneDef> {
        let side = if id > 0 { &self.left } else { &self.right };
        side.iter().find(|l| l.id == id)
    }
}

/// What the file says about a signal.
#[derive(Debug, Clone)]
struct SignalInfo {
    dynamic: bool,
    stop_sign: bool,
}

/// A signal or signal reference standing on a road.
#[derive(Debug, Clone)]
struct SigEntry {
    /// The signal's id (the referenced id for a reference).
    id: String,
    s: f64,
    orientation: String,
    validity: Vec<(i32, i32)>,
    turn: Option<Maneuver>,
}

impl SigEntry {
    /// Whether it applies to a lane; `Some(true)` for a validity match,
    /// `Some(false)` for an orientation match.
    fn applies(&self, lane: i32, forward: bool) -> Option<bool> {
        if !self.validity.is_empty() {
            let hit = self.validity.iter().any(|&(a, b)| a.min(b) <= lane && lane <= a.max(b));
            return hit.then_some(true);
        }
        let ok = match self.orientation.trim() {
            "+" => forward,
            "-" => !forward,
            _ => true,
        };
        ok.then_some(false)
    }
}

#[derive(Debug, Clone)]
enum Outline {
    /// `(u, v)` in the object's frame.
    Local(Vec<[f64; 2]>),
    /// `(s, t)` in the road's frame.
    Road(Vec<[f64; 2]>),
    None,
}

#[derive(Debug, Clone)]
struct CrosswalkObj {
    id: String,
    s: f64,
    t: f64,
    hdg: f64,
    length: Option<f64>,
    width: Option<f64>,
    outline: Outline,
}

#[derive(Debug, Clone)]
struct Road {
    id: String,
    length: f64,
    junction: Option<String>,
    lht: bool,
    pred: Option<Link>,
    succ: Option<Link>,
    geoms: Vec<Geom>,
    lane_offsets: Vec<Cubic>,
    /// `<elevationProfile>` records.
    elevations: Vec<Cubic>,
    sections: Vec<Section>,
    /// `(s, km/h)` from `<type><speed>`.
    speeds: Vec<(f64, Option<f64>)>,
    signal_defs: Vec<(String, SignalInfo)>,
    signals: Vec<SigEntry>,
    stop_line_objects: Vec<f64>,
    crosswalks: Vec<CrosswalkObj>,
}

impl Road {
    fn pose(&self, s: f64) -> (f64, f64, f64) {
        let i = self.geoms.partition_point(|g| g.s <= s + 1e-9).saturating_sub(1);
        let g = &self.geoms[i];
        let last = i + 1 == self.geoms.len();
        let mut ds = (s - g.s).max(0.0);
        if !last || matches!(g.kind, GeomKind::Poly3 { .. } | GeomKind::ParamPoly3 { .. }) {
            ds = ds.min(g.len);
        }
        g.pose(ds)
    }

    /// Height of the reference line at `s`, when the road has an elevation profile.
    fn z(&self, s: f64) -> Option<f64> {
        record_at(&self.elevations, s).map(|r| r.at(s - r.s)).filter(|z| z.is_finite())
    }

    fn lane_offset(&self, s: f64) -> f64 {
        record_at(&self.lane_offsets, s).map_or(0.0, |r| r.at(s - r.s))
    }

    /// Point at `(s, t)` in the map frame.
    fn point(&self, s: f64, t: f64) -> [f64; 2] {
        let (x, y, h) = self.pose(s);
        let (sh, ch) = h.sin_cos();
        [x - t * sh, y + t * ch]
    }

    /// Whether lane `id` travels along the reference line.
    fn lane_forward(&self, id: i32) -> bool {
        (id < 0) != self.lht
    }

    /// Whether `s` lies in the half of the road next to `end`.
    fn near(&self, s: f64, end: End) -> bool {
        match end {
            End::Start => s <= self.length / 2.0 + 1e-6,
            End::End => s >= self.length / 2.0 - 1e-6,
        }
    }

    fn link(&self, end: End) -> Option<&Link> {
        match end {
            End::Start => self.pred.as_ref(),
            End::End => self.succ.as_ref(),
        }
    }

    fn section_at_end(&self, end: End) -> usize {
        match end {
            End::Start => 0,
            End::End => self.sections.len().saturating_sub(1),
        }
    }

    /// Centre offset `t` and width of a lane at `s` (inside section `sec`).
    fn lane_t_w(&self, sec: &Section, id: i32, s: f64) -> Option<(f64, f64)> {
        let ds = s - sec.s;
        let (side, sign) = if id > 0 { (&sec.left, 1.0) } else { (&sec.right, -1.0) };
        let mut inner = 0.0;
        for l in side {
            let w = if let Some(r) = record_at(&l.widths, ds) {
                r.at(ds - r.s).max(0.0)
            } else if let Some(r) = record_at(&l.borders, ds) {
                (r.at(ds - r.s).abs() - inner).max(0.0)
            } else {
                0.0
            };
            if l.id == id {
                return Some((self.lane_offset(s) + sign * (inner + w / 2.0), w));
            }
            inner += w;
        }
        None
    }

    /// Sample positions for a section: every ~2 m, the ends and geometry starts.
    fn samples(&self, s0: f64, s1: f64) -> Vec<f64> {
        let len = s1 - s0;
        let n = ((len / STEP_M).ceil() as usize).clamp(1, MAX_SAMPLES);
        let mut v: Vec<f64> = (0..=n).map(|i| s0 + len * i as f64 / n as f64).collect();
        v.extend(self.geoms.iter().map(|g| g.s).filter(|&s| s > s0 + 1e-6 && s < s1 - 1e-6));
        v.sort_by(f64::total_cmp);
        v.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
        v
    }
}

#[derive(Debug, Clone)]
struct Connection {
    id: String,
    incoming: String,
    /// `connectingRoad`, or the `linkedRoad` of a direct junction.
    connecting: String,
    direct: bool,
    contact: Option<End>,
    lane_links: Vec<(i32, i32)>,
}

#[derive(Debug, Clone)]
struct Junction {
    id: String,
    name: Option<String>,
    controllers: Vec<String>,
    connections: Vec<Connection>,
}

// ---------------------------------------------------------------------------
// XML helpers and parsing
// ---------------------------------------------------------------------------

fn elements<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn element<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    elements(n, name).next()
}

fn parse_end(v: Option<&str>) -> Option<End> {
    match v.map(str::trim) {
        Some(c) if c.eq_ignore_ascii_case("start") => Some(End::Start),
        Some(c) if c.eq_ignore_ascii_case("end") => Some(End::End),
        _ => None,
    }
}

/// Speed `max` in `unit` → km/h; `Ok(None)` for "no limit".
fn speed_kph(max: &str, unit: Option<&str>) -> Result<Option<f64>, String> {
    let m = max.trim();
    if m.eq_ignore_ascii_case("no limit") || m.eq_ignore_ascii_case("undefined") || m.is_empty() {
        return Ok(None);
    }
    let v: f64 =
        m.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| format!("speed max=\"{m}\" is not a number"))?;
    let f = match unit.map(str::trim).unwrap_or("m/s") {
        "mph" => 1.609_344,
        "km/h" | "kmh" => 1.0,
        "m/s" | "" => 3.6,
        other => return Err(format!("unknown speed unit \"{other}\"")),
    };
    Ok(Some(v * f))
}

struct Ctx {
    file: String,
    warnings: Vec<String>,
}

impl Ctx {
    fn err(&self, message: String) -> ImportError {
        ImportError::Parse { file: self.file.clone(), message }
    }

    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// Optional number attribute; a malformed number is an error naming `what`.
    fn num(&self, n: Node, attr: &str, what: &str) -> Result<Option<f64>, ImportError> {
        match n.attribute(attr) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(self.err(format!("{what}: {attr}=\"{v}\" is not a number"))),
            },
        }
    }

    fn num_or(&self, n: Node, attr: &str, default: f64, what: &str) -> Result<f64, ImportError> {
        Ok(self.num(n, attr, what)?.unwrap_or(default))
    }

    fn int(&self, n: Node, attr: &str, what: &str) -> Result<Option<i32>, ImportError> {
        match n.attribute(attr) {
            None => Ok(None),
            Some(v) => {
                let t = v.trim();
                let parsed = t.parse::<i32>().ok().or_else(|| {
                    // "-1.0" style ids.
                    t.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && f.abs() < 1e6).map(|f| f as i32)
                });
                parsed.map(Some).ok_or_else(|| self.err(format!("{what}: {attr}=\"{v}\" is not an integer")))
            }
        }
    }

    fn cubic(&self, n: Node, s_attr: &str, what: &str) -> Result<Cubic, ImportError> {
        Ok(Cubic {
            s: self.num_or(n, s_attr, 0.0, what)?,
            a: self.num_or(n, "a", 0.0, what)?,
            b: self.num_or(n, "b", 0.0, what)?,
            c: self.num_or(n, "c", 0.0, what)?,
            d: self.num_or(n, "d", 0.0, what)?,
        })
    }

    fn link(&mut self, n: Option<Node>, what: &str) -> Option<Link> {
        let n = n?;
        let Some(id) = n.attribute("elementId") else {
            self.warn(format!("{what}: link without elementId ignored"));
            return None;
        };
        let junction = n.attribute("elementType").is_some_and(|t| t.trim().eq_ignore_ascii_case("junction"));
        Some(Link { junction, id: id.trim().to_string(), contact: parse_end(n.attribute("contactPoint")) })
    }

    fn parse_road(&mut self, n: Node) -> Result<Option<Road>, ImportError> {
        let Some(id) = n.attribute("id").map(|s| s.trim().to_string()) else {
            self.warn("road without id skipped".to_string());
            return Ok(None);
        };
        let what = format!("road {id}");
        let junction = n.attribute("junction").map(str::trim).filter(|j| !j.is_empty() && *j != "-1").map(String::from);
        let lht = n.attribute("rule").is_some_and(|r| r.trim().eq_ignore_ascii_case("LHT"));
        let (pred, succ) = match element(n, "link") {
            Some(l) => (
                self.link(element(l, "predecessor"), &format!("{what} predecessor")),
                self.link(element(l, "successor"), &format!("{what} successor")),
            ),
            None => (None, None),
        };

        // Reference line.
        let mut geoms = Vec::new();
        let Some(pv) = element(n, "planView") else {
            self.warn(format!("{what}: no planView; road skipped"));
            return Ok(None);
        };
        for g in elements(pv, "geometry") {
            let gw = format!("{what} geometry at s={}", g.attribute("s").unwrap_or("?"));
            let (Some(s), Some(x), Some(y), Some(hdg), Some(len)) = (
                self.num(g, "s", &gw)?,
                self.num(g, "x", &gw)?,
                self.num(g, "y", &gw)?,
                self.num(g, "hdg", &gw)?,
                self.num(g, "length", &gw)?,
            ) else {
                self.warn(format!("{gw}: missing s/x/y/hdg/length; road skipped"));
                return Ok(None);
            };
            let len = len.max(0.0);
            let Some(k) = g.children().find(|c| c.is_element()) else {
                self.warn(format!("{gw}: no geometry type; road skipped"));
                return Ok(None);
            };
            let kind = match k.tag_name().name() {
                "line" => GeomKind::Line,
                "arc" => GeomKind::Arc(self.num_or(k, "curvature", 0.0, &gw)?),
                "spiral" => GeomKind::Spiral {
                    k0: self.num_or(k, "curvStart", 0.0, &gw)?,
                    k1: self.num_or(k, "curvEnd", 0.0, &gw)?,
                },
                "poly3" => {
                    let v = self.cubic(k, "-", &gw)?;
                    let table = poly3_table(&v, len);
                    GeomKind::Poly3 { v, table }
                }
                "paramPoly3" => {
                    let c = |p: &str| -> Result<f64, ImportError> { self.num_or(k, p, 0.0, &gw) };
                    let u = Cubic { s: 0.0, a: c("aU")?, b: c("bU")?, c: c("cU")?, d: c("dU")? };
                    let v = Cubic { s: 0.0, a: c("aV")?, b: c("bV")?, c: c("cV")?, d: c("dV")? };
                    let normalized = k.attribute("pRange").is_some_and(|p| p.trim() == "normalized");
                    GeomKind::ParamPoly3 { u, v, normalized }
                }
                other => {
                    self.warn(format!("{gw}: unknown geometry <{other}>; road skipped"));
                    return Ok(None);
                }
            };
            geoms.push(Geom { s, x, y, hdg, len, kind });
        }
        if geoms.is_empty() {
            self.warn(format!("{what}: planView has no geometry; road skipped"));
            return Ok(None);
        }
        geoms.sort_by(|a, b| a.s.total_cmp(&b.s));
        let geom_end = geoms.last().map_or(0.0, |g| g.s + g.len);
        let length = match self.num(n, "length", &what)? {
            Some(l) if l > 0.0 => l,
            _ => {
                self.warn(format!("{what}: no length; using the planView's {geom_end:.3} m"));
                geom_end
            }
        };

        // Speeds from <type>.
        let mut speeds = Vec::new();
        for t in elements(n, "type") {
            let s = self.num_or(t, "s", 0.0, &what)?;
            if let Some(sp) = element(t, "speed") {
                let kph = match sp.attribute("max") {
                    Some(m) => speed_kph(m, sp.attribute("unit"))
                        .map_err(|e| self.err(format!("{what} type at s={s}: {e}")))?,
                    None => None,
                };
                speeds.push((s, kph));
            }
        }
        speeds.sort_by(|a, b| a.0.total_cmp(&b.0));

        // Elevation profile (z of the reference line along s).
        let mut elevations = Vec::new();
        if let Some(ep) = element(n, "elevationProfile") {
            for e in elements(ep, "elevation") {
                elevations.push(self.cubic(e, "s", &format!("{what} elevation"))?);
            }
        }
        elevations.sort_by(|a, b| a.s.total_cmp(&b.s));

        // Lanes.
        let mut lane_offsets = Vec::new();
        let mut sections = Vec::new();
        if let Some(lanes) = element(n, "lanes") {
            for lo in elements(lanes, "laneOffset") {
                lane_offsets.push(self.cubic(lo, "s", &format!("{what} laneOffset"))?);
            }
            for ls in elements(lanes, "laneSection") {
                let sw = format!("{what} laneSection at s={}", ls.attribute("s").unwrap_or("?"));
                let Some(s) = self.num(ls, "s", &sw)? else {
                    self.warn(format!("{sw}: no s; section skipped"));
                    continue;
                };
                let mut left = Vec::new();
                let mut right = Vec::new();
                for (side, out) in [("left", &mut left), ("right", &mut right)] {
                    for sn in elements(ls, side) {
                        for ln in elements(sn, "lane") {
                            if let Some(l) = self.parse_lane(ln, &sw)? {
                                out.push(l);
                            }
                        }
                    }
                }
                left.retain(|l| l.id > 0);
                right.retain(|l| l.id < 0);
                left.sort_by_key(|l| l.id);
                right.sort_by_key(|l| -l.id);
                sections.push(Section { s, end: s, left, right });
            }
        }
        lane_offsets.sort_by(|a, b| a.s.total_cmp(&b.s));
        sections.sort_by(|a, b| a.s.total_cmp(&b.s));
        for i in 0..sections.len() {
            let end = sections.get(i + 1).map_or(length, |n| n.s).min(length);
            sections[i].end = end.max(sections[i].s);
        }

        // Signals.
        let mut signal_defs = Vec::new();
        let mut signals = Vec::new();
        if let Some(sn) = element(n, "signals") {
            for sg in sn.children().filter(|c| c.is_element()) {
                let tag = sg.tag_name().name();
                if tag != "signal" && tag != "signalReference" {
                    continue;
                }
                let Some(sid) = sg.attribute("id").map(|s| s.trim().to_string()) else {
                    self.warn(format!("{what}: <{tag}> without id skipped"));
                    continue;
                };
                let sw = format!("{what} {tag} {sid}");
                if tag == "signal" {
                    let dynamic = sg.attribute("dynamic").is_some_and(|d| d.trim().eq_ignore_ascii_case("yes"));
                    let ty = sg.attribute("type").unwrap_or("").trim();
                    let stop_sign = ty == "206" || sg.attribute("name").is_some_and(|n| n.contains("Stop"));
                    signal_defs.push((sid.clone(), SignalInfo { dynamic, stop_sign }));
                }
                let s = self.num_or(sg, "s", 0.0, &sw)?;
                let mut validity = Vec::new();
                for v in elements(sg, "validity") {
                    match (self.int(v, "fromLane", &sw)?, self.int(v, "toLane", &sw)?) {
                        (Some(a), Some(b)) => validity.push((a, b)),
                        _ => self.warn(format!("{sw}: validity without fromLane/toLane ignored")),
                    }
                }
                let turn =
                    sg.descendants().filter(|d| d.is_element()).find_map(|d| d.attribute("turnRelation")).and_then(
                        |t| match t.trim().to_ascii_lowercase().as_str() {
                            "straight" => Some(Maneuver::Straight),
                            "left" => Some(Maneuver::Left),
                            "right" => Some(Maneuver::Right),
                            "uturn" | "u-turn" => Some(Maneuver::UTurn),
                            _ => None,
                        },
                    );
                let orientation = sg.attribute("orientation").unwrap_or("none").to_string();
                signals.push(SigEntry { id: sid, s, orientation, validity, turn });
            }
        }

        // Objects: crosswalks and stop lines.
        let mut crosswalks = Vec::new();
        let mut stop_line_objects = Vec::new();
        if let Some(on) = element(n, "objects") {
            for o in elements(on, "object") {
                let ty = o.attribute("type").unwrap_or("").trim().to_ascii_lowercase();
                let oid = o.attribute("id").unwrap_or("?").trim().to_string();
                let ow = format!("{what} object {oid}");
                if ty == "stopline" || o.attribute("name").is_some_and(|n| n.eq_ignore_ascii_case("stopline")) {
                    stop_line_objects.push(self.num_or(o, "s", 0.0, &ow)?);
                    continue;
                }
                if ty != "crosswalk" {
                    continue;
                }
                let (Some(s), Some(t)) = (self.num(o, "s", &ow)?, self.num(o, "t", &ow)?) else {
                    self.warn(format!("{ow}: crosswalk without s/t skipped"));
                    continue;
                };
                let mut outline = Outline::None;
                if let Some(ol) = o.descendants().find(|d| d.is_element() && d.tag_name().name() == "outline") {
                    let mut local = Vec::new();
                    let mut road = Vec::new();
                    for c in ol.children().filter(|c| c.is_element()) {
                        match c.tag_name().name() {
                            "cornerLocal" => {
                                local.push([self.num_or(c, "u", 0.0, &ow)?, self.num_or(c, "v", 0.0, &ow)?])
                            }
                            "cornerRoad" => road.push([self.num_or(c, "s", 0.0, &ow)?, self.num_or(c, "t", 0.0, &ow)?]),
                            _ => {}
                        }
                    }
                    if local.len() >= 2 {
                        outline = Outline::Local(local);
                    } else if road.len() >= 2 {
                        outline = Outline::Road(road);
                    }
                }
                crosswalks.push(CrosswalkObj {
                    id: oid,
                    s,
                    t,
                    hdg: self.num_or(o, "hdg", 0.0, &ow)?,
                    length: self.num(o, "length", &ow)?,
                    width: self.num(o, "width", &ow)?,
                    outline,
                });
            }
        }

        Ok(Some(Road {
            id,
            length,
            junction,
            lht,
            pred,
            succ,
            geoms,
            lane_offsets,
            elevations,
            sections,
            speeds,
            signal_defs,
            signals,
            stop_line_objects,
            crosswalks,
        }))
    }

    fn parse_lane(&mut self, ln: Node, sw: &str) -> Result<Option<LaneDef>, ImportError> {
        let Some(id) = self.int(ln, "id", sw)? else {
            self.warn(format!("{sw}: lane without id skipped"));
            return Ok(None);
        };
        let lw = format!("{sw} lane {id}");
        let mut widths = Vec::new();
        let mut borders = Vec::new();
        for w in elements(ln, "width") {
            widths.push(self.cubic(w, "sOffset", &lw)?);
        }
        for b in elements(ln, "border") {
            borders.push(self.cubic(b, "sOffset", &lw)?);
        }
        widths.sort_by(|a, b| a.s.total_cmp(&b.s));
        borders.sort_by(|a, b| a.s.total_cmp(&b.s));
        let (mut pred, mut succ) = (None, None);
        if let Some(l) = element(ln, "link") {
            if let Some(p) = element(l, "predecessor") {
                pred = self.int(p, "id", &lw)?;
            }
            if let Some(p) = element(l, "successor") {
                succ = self.int(p, "id", &lw)?;
            }
        }
        let mut speeds = Vec::new();
        for sp in elements(ln, "speed") {
            let so = self.num_or(sp, "sOffset", 0.0, &lw)?;
            if let Some(m) = sp.attribute("max") {
                let kph = speed_kph(m, sp.attribute("unit")).map_err(|e| self.err(format!("{lw}: {e}")))?;
                speeds.push((so, kph));
            }
        }
        speeds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let direction = ln.attribute("direction").map(str::trim).unwrap_or("standard");
        if direction == "both" {
            self.warn(format!("{lw}: direction=\"both\" imported in its standard direction"));
        }
        let ty = ln.attribute("type").unwrap_or("none").trim().to_string();
        // <access restriction=".." [rule="allow|deny"] sOffset=".."/> (1.4 has no rule: allow).  The MAP
        // carries a lane's classes for the whole lane, so records after the first sOffset are merged.
        let (mut allow, mut deny) = (Vec::new(), Vec::new());
        let mut offsets: Vec<f64> = Vec::new();
        for a in elements(ln, "access") {
            let so = self.num_or(a, "sOffset", 0.0, &lw)?;
            if !offsets.contains(&so) {
                offsets.push(so);
            }
            let what = a.attribute("restriction").unwrap_or("").trim();
            let rule = a.attribute("rule").unwrap_or("allow").trim();
            match (access_class(what), rule) {
                (Some(c), "allow") => allow.push(c),
                (Some(c), "deny") => deny.push(c),
                _ => self.warn(format!("{lw}: access {rule} `{what}` cannot be expressed in the MAP; ignored")),
            }
        }
        if offsets.len() > 1 {
            self.warn(format!("{lw}: access rules change along the lane; applied to the whole lane"));
        }
        allow.sort_unstable();
        allow.dedup();
        deny.sort_unstable();
        deny.dedup();
        Ok(Some(LaneDef {
            id,
            ty,
            widths,
            borders,
            pred,
            succ,
            speeds,
            reversed: direction == "reversed",
            allow,
            deny,
        }))
    }

    fn parse_junction(&mut self, j: Node) -> Result<Option<Junction>, ImportError> {
        let Some(id) = j.attribute("id").map(|s| s.trim().to_string()) else {
            self.warn("junction without id skipped".to_string());
            return Ok(None);
        };
        let name = j.attribute("name").map(str::trim).filter(|n| !n.is_empty()).map(String::from);
        let controllers = elements(j, "controller").filter_map(|c| c.attribute("id").map(String::from)).collect();
        let mut connections = Vec::new();
        for c in elements(j, "connection") {
            let cid = c.attribute("id").unwrap_or("?").trim().to_string();
            let cw = format!("junction {id} connection {cid}");
            let incoming = c.attribute("incomingRoad").map(|s| s.trim().to_string());
            let (connecting, direct) = match (c.attribute("connectingRoad"), c.attribute("linkedRoad")) {
                (Some(r), _) => (Some(r.trim().to_string()), false),
                (None, Some(r)) => (Some(r.trim().to_string()), true),
                (None, None) => (None, false),
            };
            let (Some(incoming), Some(connecting)) = (incoming, connecting) else {
                self.warn(format!("{cw}: no incomingRoad/connectingRoad; skipped"));
                continue;
            };
            let mut lane_links = Vec::new();
            for ll in elements(c, "laneLink") {
                match (self.int(ll, "from", &cw)?, self.int(ll, "to", &cw)?) {
                    (Some(f), Some(t)) => lane_links.push((f, t)),
                    _ => self.warn(format!("{cw}: laneLink without from/to skipped")),
                }
            }
            if lane_links.is_empty() {
                self.warn(format!("{cw}: no laneLink; skipped"));
                continue;
            }
            connections.push(Connection {
                id: cid,
                incoming,
                connecting,
                direct,
                contact: parse_end(c.attribute("contactPoint")),
                lane_links,
            });
        }
        Ok(Some(Junction { id, name, controllers, connections }))
    }

    /// The network frame; the rotation (header offset `hdg`) to apply to points.
    fn georef(&mut self, root: Node, opts: &ParseOptions, extent: f64) -> Result<(GeoRef, Option<f64>), ImportError> {
        let header = element(root, "header");
        let text = header
            .and_then(|h| element(h, "geoReference"))
            .map(|g| g.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<String>())
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty());
        let offset = match header.and_then(|h| element(h, "offset")) {
            Some(o) => Some([
                self.num_or(o, "x", 0.0, "header offset")?,
                self.num_or(o, "y", 0.0, "header offset")?,
                self.num_or(o, "hdg", 0.0, "header offset")?,
            ]),
            None => None,
        };
        let why_not = match &text {
            None => Some("the header has no <geoReference>".to_string()),
            Some(t) => {
                let p = proj_params(t);
                let zero = |k: &str| p.get(k).is_none_or(|v| v.parse::<f64>().is_ok_and(|x| x == 0.0));
                let proj = p.get("proj").map(String::as_str).unwrap_or("");
                let off_zero = offset.is_none_or(|o| o.iter().all(|&v| v == 0.0));
                if matches!(proj, "longlat" | "latlong" | "lonlat" | "latlon") {
                    Some(format!("the geoReference `{t}` is geographic, not a projection of the map's metric x/y"))
                } else if matches!(proj, "tmerc" | "etmerc" | "merc" | "webmerc")
                    && ["lat_0", "lon_0", "x_0", "y_0"].iter().all(|k| zero(k))
                    && off_zero
                {
                    Some(format!(
                        "the geoReference `{t}` is a placeholder (projection about lat 0, lon 0 with no false \
                         origin), not a real location"
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(why) = why_not {
            return match opts.origin {
                Some(origin) => {
                    self.warn(format!("{why}; the map is placed at the given origin {origin:?} (x east, y north)"));
                    Ok((GeoRef::Local { origin }, None))
                }
                None => Err(ImportError::NoGeoReference { file: opts.file.clone(), message: why }),
            };
        }
        let proj = text.unwrap_or_default();
        if opts.origin.is_some() {
            self.warn("the file has a geoReference; the given origin is not used".to_string());
        }
        if let Some([x, y, hdg]) = offset {
            return Ok((GeoRef::Projected { proj, offset: [x, y] }, (hdg != 0.0).then_some(hdg)));
        }
        let p = proj_params(&proj);
        let get = |k: &str| p.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let (x0, y0) = (get("x_0"), get("y_0"));
        if extent < 50_000.0 && x0.hypot(y0) > 100_000.0 {
            self.warn(format!(
                "map coordinates are local (all within {extent:.0} m of 0) but the geoReference has a false origin \
                 x_0={x0}, y_0={y0}: treated as relative to lat_0/lon_0 (offset = x_0, y_0)"
            ));
            return Ok((GeoRef::Projected { proj, offset: [x0, y0] }, None));
        }
        Ok((GeoRef::Projected { proj, offset: [0.0, 0.0] }, None))
    }
}

/// `+key=value` parameters of a PROJ string (`+no_defs` style flags map to "").
fn proj_params(t: &str) -> HashMap<String, String> {
    t.split_whitespace()
        .filter_map(|tok| tok.strip_prefix('+'))
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Building the network
// ---------------------------------------------------------------------------

/// How an OpenDRIVE lane type maps to the model.
enum Kind {
    Emit(LaneType, Vec<VehicleClass>),
    EmitWarn(LaneType, &'static str),
    SkipWarn,
    Skip,
}

fn lane_kind(ty: &str) -> Kind {
    match ty.to_ascii_lowercase().as_str() {
        "driving" | "entry" | "exit" | "onramp" | "offramp" | "connectingramp" | "bidirectional" | "mwyentry"
        | "mwyexit" => Kind::Emit(LaneType::Vehicle, vec![]),
        "bus" => Kind::Emit(LaneType::Bus, vec![VehicleClass::Bus]),
        "taxi" => Kind::Emit(LaneType::Vehicle, vec![VehicleClass::Taxi]),
        "hov" => Kind::EmitWarn(LaneType::Vehicle, "HOV lane imported as a general vehicle lane"),
        "biking" | "bicycle" => Kind::Emit(LaneType::Bike, vec![]),
        "sidewalk" | "walking" => Kind::Emit(LaneType::Sidewalk, vec![]),
        "parking" => Kind::Emit(LaneType::Parking, vec![]),
        "tram" | "rail" => Kind::SkipWarn,
        _ => Kind::Skip,
    }
}

/// A vehicle class named by an OpenDRIVE `<access restriction>` value.
fn access_class(v: &str) -> Option<VehicleClass> {
    match v {
        "bus" => Some(VehicleClass::Bus),
        "taxi" => Some(VehicleClass::Taxi),
        "truck" | "trucks" | "delivery" => Some(VehicleClass::Truck),
        "passengerCar" => Some(VehicleClass::Car),
        "bicycle" => Some(VehicleClass::Bike),
        _ => None,
    }
}

fn lane_type_of(ty: &str) -> Option<LaneType> {
    match lane_kind(ty) {
        Kind::Emit(t, _) | Kind::EmitWarn(t, _) => Some(t),
        Kind::SkipWarn | Kind::Skip => None,
    }
}

enum Resolved {
    Ok(NetConnection),
    NonTravel,
    Failed,
}

struct Net<'a> {
    roads: &'a [Road],
    road_idx: &'a HashMap<String, usize>,
    sig_info: &'a HashMap<String, SignalInfo>,
    controller_of: &'a HashMap<String, String>,
    rot: Option<f64>,
}

fn lane_key(road: &Road, sec: usize, lane: i32) -> String {
    format!("{}:{sec}:{lane}", road.id)
}

impl Net<'_> {
    fn road(&self, id: &str) -> Option<&Road> {
        self.road_idx.get(id).map(|&i| &self.roads[i])
    }

    /// A point in the output frame (rotated by the header offset's hdg).
    fn out(&self, p: [f64; 2]) -> [f64; 2] {
        match self.rot {
            Some(h) => {
                let (s, c) = h.sin_cos();
                [p[0] * c - p[1] * s, p[0] * s + p[1] * c]
            }
            None => p,
        }
    }

    /// The junction at a road's end, if any.
    fn junction_at(&self, r: &Road, end: End) -> Option<String> {
        let l = r.link(end)?;
        if l.junction {
            return Some(l.id.clone());
        }
        self.road(&l.id).and_then(|o| o.junction.clone())
    }

    /// `(a, b)` pairs where lane `b` continues lane `a` in travel direction: across the road's lane
    /// sections (lane `<link>`s) and into the ordinary roads its ends link to.
    fn continuity(&self, r: &Road) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |forward: bool, here: String, there: String| {
            out.push(if forward { (here, there) } else { (there, here) });
        };
        let nsec = r.sections.len();
        for (si, sec) in r.sections.iter().enumerate() {
            for l in sec.left.iter().chain(sec.right.iter()) {
                let forward = r.lane_forward(l.id) != l.reversed;
                let here = lane_key(r, si, l.id);
                if let Some(k) = l.succ {
                    if si + 1 < nsec {
                        push(forward, here.clone(), lane_key(r, si + 1, k));
                    } else if let Some((o, c)) = self.ordinary_link(r, End::End) {
                        // our end meets the other road's `c` end: along s into its start, against s into its end
                        push(forward, here.clone(), lane_key(o, o.section_at_end(c), k));
                    }
                }
                if let Some(k) = l.pred {
                    if si == 0 {
                        if let Some((o, c)) = self.ordinary_link(r, End::Start) {
                            push(!forward, here, lane_key(o, o.section_at_end(c), k));
                        }
                    }
                }
            }
        }
        out
    }

    /// The ordinary (non-junction) road linked at a road's end, and the end of it that touches.
    fn ordinary_link(&self, r: &Road, end: End) -> Option<(&Road, End)> {
        let l = r.link(end)?;
        if l.junction {
            return None;
        }
        let o = self.road(&l.id)?;
        o.junction.is_none().then_some((o, l.contact.unwrap_or(End::Start)))
    }

    fn road_lanes(&self, cx: &mut Ctx, r: &Road, out: &mut Vec<NetLane>) {
        let j_start = self.junction_at(r, End::Start);
        let j_end = self.junction_at(r, End::End);
        let nsec = r.sections.len();
        for (si, sec) in r.sections.iter().enumerate() {
            if sec.end - sec.s < 1e-6 {
                if !sec.left.is_empty() || !sec.right.is_empty() {
                    cx.warn(format!("road {} section {si}: zero length; its lanes are skipped", r.id));
                }
                continue;
            }
            let mid = 0.5 * (sec.s + sec.end);
            let samples = r.samples(sec.s, sec.end);
            for l in sec.left.iter().chain(sec.right.iter()) {
                let key = lane_key(r, si, l.id);
                let (lane_type, only) = match lane_kind(&l.ty) {
                    Kind::Emit(t, o) => (t, o),
                    Kind::EmitWarn(t, w) => {
                        cx.warn(format!("lane {key}: {w}"));
                        (t, vec![])
                    }
                    Kind::SkipWarn => {
                        cx.warn(format!("lane {key}: type {} is not in the model; skipped", l.ty));
                        continue;
                    }
                    Kind::Skip => continue,
                };
                if l.widths.is_empty() && l.borders.is_empty() {
                    cx.warn(format!("lane {key}: no width or border records; skipped"));
                    continue;
                }
                let mut pts: Vec<[f64; 2]> = Vec::with_capacity(samples.len());
                let mut wsum = 0.0;
                let mut wmax: f64 = 0.0;
                for &s in &samples {
                    if let Some((t, w)) = r.lane_t_w(sec, l.id, s) {
                        let p = self.out(r.point(s, t));
                        if p[0].is_finite() && p[1].is_finite() {
                            if pts.last().is_none_or(|q: &[f64; 2]| (q[0] - p[0]).hypot(q[1] - p[1]) > 1e-6) {
                                pts.push(p);
                            }
                            wsum += w;
                            wmax = wmax.max(w);
                        }
                    }
                }
                if pts.len() < 2 {
                    cx.warn(format!("lane {key}: degenerate centre line; skipped"));
                    continue;
                }
                if wmax < 0.1 {
                    cx.warn(format!("lane {key}: width is zero along the whole section; skipped"));
                    continue;
                }
                let folds = drop_folds(&mut pts);
                if folds > 0 {
                    cx.warn(format!(
                        "lane {key}: {folds} centre-line point(s) folding back at reference-line kinks dropped"
                    ));
                }
                let forward = r.lane_forward(l.id) != l.reversed;
                if !forward {
                    pts.reverse();
                }
                // <access allow> narrows who may use the lane; a bus lane type already says bus only
                let only = if l.allow.is_empty() { only } else { l.allow.clone() };
                let bans = l.deny.clone();
                let speed_kph = if lane_type.is_travel_lane() {
                    record_speed(&l.speeds, mid - sec.s).or_else(|| record_speed(&r.speeds, mid))
                } else {
                    None
                };
                let (start_j, end_j) =
                    (if si == 0 { j_start.clone() } else { None }, if si + 1 == nsec { j_end.clone() } else { None });
                let (to_junction, from_junction) = if forward { (end_j, start_j) } else { (start_j, end_j) };
                out.push(NetLane {
                    id: key,
                    centre: pts,
                    width_m: wsum / samples.len() as f64,
                    lane_type,
                    speed_kph,
                    only,
                    bans,
                    to_junction,
                    from_junction,
                    stop_line: false,
                });
            }
        }
    }

    /// Resolves one lane link `(from, to)` of a junction connection.
    fn resolve(
        &self,
        cx: &mut Ctx,
        j: &Junction,
        conn: &Connection,
        (from, to): (i32, i32),
        lane_index: &HashMap<String, usize>,
    ) -> Resolved {
        let cw = format!("junction {} connection {} lane {from}→{to}", j.id, conn.id);
        let (Some(inc), Some(con)) = (self.road(&conn.incoming), self.road(&conn.connecting)) else {
            cx.warn(format!("{cw}: road {} or {} does not exist; skipped", conn.incoming, conn.connecting));
            return Resolved::Failed;
        };
        if inc.junction.is_some() {
            cx.warn(format!("{cw}: incoming road {} is itself a connecting road; skipped", inc.id));
            return Resolved::Failed;
        }
        // Which end of the connecting/linked road touches the incoming road.
        let contact = conn.contact.or_else(|| {
            let pointing = |l: Option<&Link>| l.is_some_and(|l| !l.junction && l.id == inc.id);
            if pointing(con.pred.as_ref()) {
                Some(End::Start)
            } else if pointing(con.succ.as_ref()) {
                Some(End::End)
            } else {
                None
            }
        });
        let Some(contact) = contact else {
            cx.warn(format!("{cw}: no contactPoint and road {} does not link to {}; skipped", con.id, inc.id));
            return Resolved::Failed;
        };
        // Which end of the incoming road touches the junction.
        let in_end =
            con.link(contact).filter(|l| !l.junction && l.id == inc.id).and_then(|l| l.contact).or_else(|| {
                let at_start = self.junction_at(inc, End::Start).as_deref() == Some(j.id.as_str());
                let at_end = self.junction_at(inc, End::End).as_deref() == Some(j.id.as_str());
                match (at_start, at_end) {
                    (true, false) => Some(End::Start),
                    (false, true) => Some(End::End),
                    _ => None,
                }
            });
        let Some(in_end) = in_end else {
            cx.warn(format!("{cw}: cannot tell which end of road {} enters the junction; skipped", inc.id));
            return Resolved::Failed;
        };
        let in_sec = inc.section_at_end(in_end);
        let Some(in_lane) = inc.sections.get(in_sec).and_then(|s| s.lane(from)) else {
            cx.warn(format!("{cw}: road {} has no lane {from} at its junction end; skipped", inc.id));
            return Resolved::Failed;
        };
        if !lane_type_of(&in_lane.ty).is_some_and(LaneType::is_travel_lane) {
            return Resolved::NonTravel;
        }
        let in_fwd = inc.lane_forward(from) != in_lane.reversed;
        if in_fwd != (in_end == End::End) {
            cx.warn(format!("{cw}: lane {from} of road {} leaves the junction; skipped", inc.id));
            return Resolved::Failed;
        }

        // Walk through the connecting road(s) to the outgoing road.
        let mut path: Vec<(&Road, i32, bool)> = Vec::new();
        let (out_road, out_sec, out_lane, out_end) = if conn.direct {
            (con, con.section_at_end(contact), to, contact)
        } else {
            let mut road = con;
            let mut lane = to;
            let mut fwd = contact == End::Start;
            let mut hops = 0;
            loop {
                hops += 1;
                if hops > MAX_HOPS {
                    cx.warn(format!("{cw}: more than {MAX_HOPS} connecting roads; skipped"));
                    return Resolved::Failed;
                }
                let n = road.sections.len();
                if n == 0 {
                    cx.warn(format!("{cw}: connecting road {} has no lane sections; skipped", road.id));
                    return Resolved::Failed;
                }
                let mut si = if fwd { 0 } else { n - 1 };
                let mut cur = lane;
                loop {
                    let Some(ld) = road.sections[si].lane(cur) else {
                        cx.warn(format!(
                            "{cw}: connecting road {} has no lane {cur} in section {si}; skipped",
                            road.id
                        ));
                        return Resolved::Failed;
                    };
                    path.push((road, cur, road.lane_forward(cur) == fwd));
                    let next = if fwd { ld.succ } else { ld.pred };
                    let last = if fwd { si + 1 == n } else { si == 0 };
                    let Some(next) = next else {
                        cx.warn(format!(
                            "{cw}: lane {cur} of connecting road {} section {si} has no {} link; skipped",
                            road.id,
                            if fwd { "successor" } else { "predecessor" }
                        ));
                        return Resolved::Failed;
                    };
                    if last {
                        lane = next;
                        break;
                    }
                    cur = next;
                    si = if fwd { si + 1 } else { si - 1 };
                }
                let exit = if fwd { End::End } else { End::Start };
                let Some(l) = road.link(exit) else {
                    cx.warn(format!("{cw}: connecting road {} has no link at its exit; skipped", road.id));
                    return Resolved::Failed;
                };
                let Some(next_road) = (!l.junction).then(|| self.road(&l.id)).flatten() else {
                    cx.warn(format!("{cw}: connecting road {} exits to missing road {}; skipped", road.id, l.id));
                    return Resolved::Failed;
                };
                let Some(c2) = l.contact else {
                    cx.warn(format!("{cw}: link {} → {} has no contactPoint; skipped", road.id, next_road.id));
                    return Resolved::Failed;
                };
                if next_road.junction.is_some() {
                    road = next_road;
                    fwd = c2 == End::Start;
                    continue;
                }
                break (next_road, next_road.section_at_end(c2), lane, c2);
            }
        };
        let Some(o_lane) = out_road.sections.get(out_sec).and_then(|s| s.lane(out_lane)) else {
            cx.warn(format!("{cw}: outgoing road {} has no lane {out_lane} at the junction; skipped", out_road.id));
            return Resolved::Failed;
        };
        if !lane_type_of(&o_lane.ty).is_some_and(LaneType::is_travel_lane) {
            return Resolved::NonTravel;
        }
        let o_fwd = out_road.lane_forward(out_lane) != o_lane.reversed;
        if o_fwd != (out_end == End::Start) {
            cx.warn(format!("{cw}: lane {out_lane} of outgoing road {} runs into the junction; skipped", out_road.id));
            return Resolved::Failed;
        }
        let from_key = lane_key(inc, in_sec, from);
        let to_key = lane_key(out_road, out_sec, out_lane);
        for k in [&from_key, &to_key] {
            if !lane_index.contains_key(k) {
                cx.warn(format!("{cw}: lane {k} was not imported; connection skipped"));
                return Resolved::Failed;
            }
        }

        // Signal: connecting road(s) first, then the incoming road near the junction.
        let mut found: Option<(String, Option<Maneuver>)> = None;
        let mut others: Vec<String> = Vec::new();
        let mut pick =
            |cands: Vec<(&SigEntry, bool)>, on_connecting: bool, found: &mut Option<(String, Option<Maneuver>)>| {
                if found.is_some() {
                    return;
                }
                let best = cands.iter().any(|c| c.1);
                for (e, _) in cands.into_iter().filter(|c| c.1 == best) {
                    let ctl = self.controller_of.get(&e.id).cloned().unwrap_or_else(|| format!("signal:{}", e.id));
                    match found {
                        None => *found = Some((ctl, if on_connecting { e.turn } else { None })),
                        Some((f, _)) if *f != ctl && !others.contains(&ctl) => others.push(ctl),
                        Some(_) => {}
                    }
                }
            };
        let dynamic = |e: &SigEntry| self.sig_info.get(&e.id).is_some_and(|i| i.dynamic);
        for &(road, lane, fwd) in &path {
            let cands: Vec<(&SigEntry, bool)> = road
                .signals
                .iter()
                .filter(|e| dynamic(e))
                .filter_map(|e| e.applies(lane, fwd).map(|b| (e, b)))
                .collect();
            pick(cands, true, &mut found);
        }
        let cands: Vec<(&SigEntry, bool)> = inc
            .signals
            .iter()
            .filter(|e| dynamic(e) && inc.near(e.s, in_end))
            .filter_map(|e| e.applies(from, in_fwd).map(|b| (e, b)))
            .collect();
        pick(cands, false, &mut found);
        if let Some((f, _)) = &found {
            if !others.is_empty() {
                cx.warn(format!("{cw}: signals of controllers {f} and {} apply; {f} is used", others.join(", ")));
            }
        }
        let (signal, maneuver) = match found {
            Some((s, m)) => (Some(s), m),
            None => (None, None),
        };
        Resolved::Ok(NetConnection {
            junction: j.id.clone(),
            from: from_key,
            to: to_key,
            maneuver,
            signal,
            yields: false,
        })
    }

    fn crosswalk(&self, cx: &mut Ctx, r: &Road, cw: &CrosswalkObj) -> Option<NetCrosswalk> {
        let what = format!("road {} crosswalk {}", r.id, cw.id);
        let junction = r.junction.clone().or_else(|| {
            let near = if cw.s <= r.length / 2.0 { End::Start } else { End::End };
            let far = if near == End::Start { End::End } else { End::Start };
            self.junction_at(r, near).or_else(|| self.junction_at(r, far))
        });
        let Some(junction) = junction else {
            cx.warn(format!("{what}: its road touches no junction; skipped"));
            return None;
        };
        let (_, _, rh) = r.pose(cw.s);
        let origin = r.point(cw.s, cw.t);
        // Across axis `a` and along axis `b`, and the outline in (a, b) coordinates.
        let (a, b, uv): ([f64; 2], [f64; 2], Vec<[f64; 2]>) = match &cw.outline {
            Outline::Local(pts) => {
                let h = rh + cw.hdg;
                let a = [h.cos(), h.sin()];
                (a, [-a[1], a[0]], pts.clone())
            }
            Outline::Road(pts) => {
                let a = [-rh.sin(), rh.cos()];
                let b = [rh.cos(), rh.sin()];
                let uv = pts
                    .iter()
                    .map(|&[s, t]| {
                        let p = r.point(s, t);
                        let d = [p[0] - origin[0], p[1] - origin[1]];
                        [d[0] * a[0] + d[1] * a[1], d[0] * b[0] + d[1] * b[1]]
                    })
                    .collect();
                (a, b, uv)
            }
            Outline::None => {
                let (Some(l), Some(w)) = (cw.length, cw.width) else {
                    cx.warn(format!("{what}: no outline and no length/width; skipped"));
                    return None;
                };
                let h = rh + cw.hdg;
                let a = [h.cos(), h.sin()];
                (a, [-a[1], a[0]], vec![[-l / 2.0, -w / 2.0], [l / 2.0, w / 2.0]])
            }
        };
        let (umin, umax) = uv.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
        let (vmin, vmax) = uv.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p[1]), hi.max(p[1])));
        let vmid = 0.5 * (vmin + vmax);
        let at = |u: f64| [origin[0] + u * a[0] + vmid * b[0], origin[1] + u * a[1] + vmid * b[1]];
        let centre = vec![self.out(at(umin)), self.out(at(umax))];
        let width_m = vmax - vmin;
        if umax - umin < 0.1 || width_m.is_nan() || width_m <= 0.0 || centre.iter().flatten().any(|v| !v.is_finite()) {
            cx.warn(format!("{what}: degenerate outline; skipped"));
            return None;
        }
        Some(NetCrosswalk { id: cw.id.clone(), junction, centre, width_m, signal: None })
    }
}

/// Removes points where a centre line turns back on itself (the offset of a
/// reference line with a kink folds over on the kink's inner side); returns
/// how many were removed.
fn drop_folds(pts: &mut Vec<[f64; 2]>) -> usize {
    let before = pts.len();
    let mut i = 1;
    while i + 1 < pts.len() {
        let (a, b, c) = (pts[i - 1], pts[i], pts[i + 1]);
        let dot = (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1]);
        if dot < 0.0 {
            pts.remove(i);
            i = i.saturating_sub(1).max(1);
        } else {
            i += 1;
        }
    }
    before - pts.len()
}

/// The speed record applying at `s` of a sorted `(s, km/h)` list.
fn record_speed(list: &[(f64, Option<f64>)], s: f64) -> Option<f64> {
    let i = list.partition_point(|r| r.0 <= s + 1e-9);
    list.get(i.saturating_sub(1)).and_then(|r| r.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = "/work/shared/data/opendrive";

    fn load(name: &str) -> Option<String> {
        let p = format!("{DATA}/{name}");
        match std::fs::read_to_string(&p) {
            Ok(t) => Some(t),
            Err(_) => {
                eprintln!("note: {p} is not available; test skipped");
                None
            }
        }
    }

    fn opts(origin: Option<[f64; 2]>) -> ParseOptions {
        ParseOptions { file: "test.xodr".into(), origin }
    }

    fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
        (a[0] - b[0]).hypot(a[1] - b[1])
    }

    /// Every centre line has >= 2 finite points; crosswalks too.
    fn check_lines(n: &Network) {
        for l in &n.lanes {
            assert!(l.centre.len() >= 2, "lane {} has {} points", l.id, l.centre.len());
            assert!(l.centre.iter().flatten().all(|v| v.is_finite()), "lane {}", l.id);
            assert!(l.width_m.is_finite() && l.width_m > 0.0, "lane {}", l.id);
            let mut v = l.centre.clone();
            assert_eq!(drop_folds(&mut v), 0, "lane {} folds back", l.id);
        }
        for c in &n.crosswalks {
            assert!(c.centre.len() >= 2 && c.centre.iter().flatten().all(|v| v.is_finite()), "crosswalk {}", c.id);
        }
        let ids: HashSet<&str> = n.lanes.iter().map(|l| l.id.as_str()).collect();
        for c in &n.connections {
            assert!(ids.contains(c.from.as_str()) && ids.contains(c.to.as_str()), "{c:?}");
        }
    }

    /// Geometry cross-check: where a connecting road's lane meets the incoming
    /// and outgoing roads' lanes, the independently evaluated centre lines
    /// (different roads, reference lines, offsets and widths) must meet.
    /// Returns the largest gap in metres.
    fn max_gap(text: &str) -> f64 {
        let doc = Document::parse(text).unwrap();
        let mut cx = Ctx { file: String::new(), warnings: vec![] };
        let roads: Vec<Road> = elements(doc.root_element(), "road").filter_map(|n| cx.parse_road(n).unwrap()).collect();
        let by_id: HashMap<&str, &Road> = roads.iter().map(|r| (r.id.as_str(), r)).collect();
        let centre = |r: &Road, end: End, lane: i32| -> Option<[f64; 2]> {
            let sec = &r.sections[r.section_at_end(end)];
            let s = if end == End::Start { sec.s } else { sec.end };
            let ld = sec.lane(lane)?;
            lane_type_of(&ld.ty).filter(|t| t.is_travel_lane())?;
            r.lane_t_w(sec, lane, s).map(|(t, _)| r.point(s, t))
        };
        let mut worst: f64 = 0.0;
        for r in roads.iter().filter(|r| r.junction.is_some()) {
            for end in [End::Start, End::End] {
                let Some(l) = r.link(end) else { continue };
                let Some(o) = by_id.get(l.id.as_str()) else { continue };
                let (Some(c), false) = (l.contact, l.junction) else { continue };
                let sec = &r.sections[r.section_at_end(end)];
                for ld in sec.left.iter().chain(&sec.right) {
                    let other = if end == End::Start { ld.pred } else { ld.succ };
                    let (Some(other), Some(a)) = (other, centre(r, end, ld.id)) else { continue };
                    if let Some(b) = centre(o, c, other) {
                        worst = worst.max(dist(a, b));
                    }
                }
            }
        }
        worst
    }

    #[test]
    fn borregas_ave() {
        let Some(text) = load("lgsvl_borregas_ave_sunnyvale.xodr") else { return };
        let n = parse_opendrive(&text, &opts(None)).unwrap();
        match &n.geo {
            GeoRef::Projected { proj, offset } => {
                assert!(
                    proj.starts_with("+proj=tmerc +lat_0=37.4169056333992 +lon_0=-122.016036660455 +k=1"),
                    "{proj}"
                );
                // LGSVL's local frame: map (0, 0) is (x_0, y_0), i.e. (lat_0, lon_0).
                assert_eq!(*offset, [587070.0, 4141577.0]);
            }
            other => panic!("{other:?}"),
        }
        // 2 junctions; 39 has controllers 56 and 57, 40 only stop signs.
        assert_eq!(n.junctions.len(), 2);
        let sig: Vec<&str> = n.junctions.iter().filter(|j| j.signalised).map(|j| j.id.as_str()).collect();
        assert_eq!(sig, ["39"]);
        // 28 <connection>s with one driving→driving laneLink each.
        assert_eq!(n.connections.len(), 28);
        assert_eq!(n.connections.iter().filter(|c| c.junction == "39").count(), 16);
        assert!(n.connections.iter().filter(|c| c.junction == "39").all(|c| c.signal.is_some()));
        assert!(n.connections.iter().filter(|c| c.junction == "40").all(|c| c.signal.is_none()));
        // Approaches 0 and 25 are phase 56, 31 and 6 phase 57.
        for c in n.connections.iter().filter(|c| c.junction == "39") {
            let road = c.from.split(':').next().unwrap();
            let want = if road == "0" || road == "25" { "56" } else { "57" };
            assert_eq!(c.signal.as_deref(), Some(want), "{c:?}");
        }
        // 35 driving + 4 sidewalk lanes on ordinary roads: 32 vehicle lanes, 4 sidewalks; roads 6 and 14
        // continue into road 12, so two pairs are joined into one lane each.
        assert_eq!(n.lanes.iter().filter(|l| l.lane_type == LaneType::Vehicle).count(), 30);
        let l = n.lanes.iter().find(|l| l.id == "6:0:-1..12:0:-1").unwrap();
        assert_eq!((l.to_junction.as_deref(), l.from_junction.as_deref()), (None, Some("39")));
        assert_eq!(n.lanes.iter().filter(|l| l.lane_type == LaneType::Sidewalk).count(), 4);
        // Road 0 lane -1: width 1.4427 + 0.1086 ds ... averaged over the 30 samples (checked by hand).
        let l = n.lanes.iter().find(|l| l.id == "0:0:-1").unwrap();
        assert!((l.width_m - 2.902_998).abs() < 1e-4, "{}", l.width_m);
        assert!(dist(l.centre[0], [11.549_850, 43.767_819]) < 1e-4, "{:?}", l.centre[0]);
        assert!((l.speed_kph.unwrap() - 45.000_523_277 * 1.609_344).abs() < 1e-6);
        assert_eq!(l.to_junction.as_deref(), Some("39"));
        assert!(l.stop_line);
        // Left lane 1 of road 6 runs against the reference line into junction 39 (road 6's predecessor).
        let l = n.lanes.iter().find(|l| l.id == "6:0:1").unwrap();
        assert_eq!((l.to_junction.as_deref(), l.from_junction.as_deref()), (Some("39"), None));
        // Road 19 has a stop sign (type 206) at the junction-40 end.
        assert!(n.lanes.iter().find(|l| l.id == "19:0:1").unwrap().stop_line);
        assert!(!n.lanes.iter().find(|l| l.id == "14:0:-1").unwrap().stop_line);
        check_lines(&n);
        // LGSVL gives connecting lanes their own widths (road 20's lane -1 is 8 m wide, the
        // connecting lane 3 m), so lane centres meet only within 2.5 m here; Town10HD is exact.
        let gap = max_gap(&text);
        assert!(gap < 2.6, "lane ends do not meet: {gap} m");
    }

    #[test]
    fn carla_town10hd() {
        let Some(text) = load("carla_Town10HD.xodr") else { return };
        // Its geoReference is the RoadRunner placeholder tmerc at (0, 0).
        match parse_opendrive(&text, &opts(None)) {
            Err(ImportError::NoGeoReference { message, .. }) => assert!(message.contains("placeholder"), "{message}"),
            other => panic!("{other:?}"),
        }
        let n = parse_opendrive(&text, &opts(Some([48.0, 11.0]))).unwrap();
        assert!(matches!(n.geo, GeoRef::Local { origin } if origin == [48.0, 11.0]));
        assert_eq!(n.junctions.len(), 9);
        // Controllers with traffic lights: junctions 23, 189, 468, 532, 719 (841's controller only has a yield sign).
        let mut sig: Vec<&str> = n.junctions.iter().filter(|j| j.signalised).map(|j| j.id.as_str()).collect();
        sig.sort_unstable();
        assert_eq!(sig, ["189", "23", "468", "532", "719"]);
        // 163 laneLinks, 82 of them driving → driving.
        assert_eq!(n.connections.len(), 82);
        assert_eq!(n.connections.iter().filter(|c| c.signal.is_some()).count(), 58);
        // Road 6 → 7 through connecting road 89: signalReference 945 (controller 965), turnRelation Straight.
        // (road 7 continues as road 3 into junction 532: one lane `7:0:-1..3:0:1`)
        let c = n.connections.iter().find(|c| c.from == "6:0:-1" && c.to == "7:0:-1..3:0:1").unwrap();
        assert_eq!(
            (c.junction.as_str(), c.signal.as_deref(), c.maneuver),
            ("23", Some("965"), Some(Maneuver::Straight))
        );
        assert_eq!(n.crosswalks.len(), 16);
        let cw = n.crosswalks.iter().find(|c| c.id == "1140").unwrap();
        assert_eq!(cw.junction, "23");
        assert!((cw.width_m - 2.921).abs() < 0.01, "{}", cw.width_m);
        assert!((dist(cw.centre[0], cw.centre[1]) - 19.40).abs() < 0.05);
        let l = n.lanes.iter().find(|l| l.id == "4:0:1..1:0:-1").unwrap();
        assert!((l.width_m - 3.5).abs() < 1e-9);
        assert!((l.speed_kph.unwrap() - 40.0 * 1.609_344).abs() < 1e-9);
        // 86 vehicle and 46 sidewalk lane pieces on ordinary roads; roads that link directly (no junction
        // between them) continue one another and are joined: 50 vehicle lanes and 28 sidewalks
        assert_eq!(n.lanes.iter().filter(|l| l.lane_type == LaneType::Vehicle).count(), 50);
        assert_eq!(n.lanes.iter().filter(|l| l.lane_type == LaneType::Sidewalk).count(), 28);
        check_lines(&n);
        let gap = max_gap(&text);
        assert!(gap < 0.05, "lane ends do not meet: {gap} m");
    }

    /// A two-road network through junction 100: road 1 → (connecting road 10, two lane
    /// sections) → road 2 eastbound, road 2 → (connecting road 11) → road 1 westbound.
    fn synthetic(header: &str, rule: &str) -> String {
        let lane = |id: i32, ty: &str, link: &str| {
            format!(
                r#"<lane id="{id}" type="{ty}"><link>{link}</link><width sOffset="0" a="3.5" b="0" c="0" d="0"/></lane>"#
            )
        };
        let road = |id: &str, junction: &str, x: f64, len: f64, links: &str, sections: &str, extra: &str| {
            format!(
                r#"<road id="{id}" junction="{junction}" length="{len}" {rule}><link>{links}</link>
                <type s="0" type="town"><speed max="50" unit="km/h"/></type>
                <planView><geometry s="0" x="{x}" y="0" hdg="0" length="{len}"><line/></geometry></planView>
                <lanes>{sections}</lanes>{extra}</road>"#
            )
        };
        let two = format!(
            r#"<laneSection s="0"><left>{}</left><center><lane id="0" type="none"/></center><right>{}</right></laneSection>"#,
            lane(1, "driving", ""),
            lane(-1, "driving", "")
        );
        let r1 = road(
            "1",
            "-1",
            0.0,
            100.0,
            r#"<successor elementType="junction" elementId="100"/>"#,
            &two,
            r#"<signals><signal id="s1" s="95" t="-5" dynamic="yes" orientation="+" type="1000001"/></signals>"#,
        );
        let r2 = road(
            "2",
            "-1",
            120.0,
            100.0,
            r#"<predecessor elementType="junction" elementId="100"/>"#,
            &two,
            r#"<objects><object id="cw1" type="crosswalk" s="3" t="0" hdg="1.5707963267948966" length="7" width="3"/></objects>
               <signals><signal id="s2" s="5" t="5" dynamic="yes" orientation="-" type="1000001"/></signals>"#,
        );
        let r10 = road(
            "10",
            "100",
            100.0,
            20.0,
            r#"<predecessor elementType="road" elementId="1" contactPoint="end"/><successor elementType="road" elementId="2" contactPoint="start"/>"#,
            &format!(
                r#"<laneSection s="0"><right>{}</right></laneSection><laneSection s="10"><right>{}</right></laneSection>"#,
                lane(-1, "driving", r#"<predecessor id="-1"/><successor id="-2"/>"#),
                lane(-2, "driving", r#"<predecessor id="-1"/><successor id="-1"/>"#)
            ),
            "",
        );
        // Lane -2 of section 1 needs lane -1 inside it: give that section both lanes.
        let r10 = r10.replace(
            r#"<laneSection s="10"><right>"#,
            &format!(r#"<laneSection s="10"><right>{}"#, lane(-1, "none", "")),
        );
        let r11 = road(
            "11",
            "100",
            100.0,
            20.0,
            r#"<predecessor elementType="road" elementId="1" contactPoint="end"/><successor elementType="road" elementId="2" contactPoint="start"/>"#,
            &format!(
                r#"<laneSection s="0"><left>{}</left></laneSection>"#,
                lane(1, "driving", r#"<predecessor id="1"/><successor id="1"/>"#)
            ),
            "",
        );
        format!(
            r#"<?xml version="1.0"?><OpenDRIVE><header revMajor="1" revMinor="6">{header}</header>{r1}{r2}{r10}{r11}
            <controller id="c1"><control signalId="s1"/></controller>
            <junction id="100" name="J"><connection id="0" incomingRoad="1" connectingRoad="10" contactPoint="start"><laneLink from="-1" to="-1"/></connection>
            <connection id="1" incomingRoad="2" connectingRoad="11" contactPoint="end"><laneLink from="1" to="1"/></connection></junction>
            </OpenDRIVE>"#
        )
    }

    const UTM: &str = r#"<geoReference><![CDATA[+proj=utm +zone=32 +datum=WGS84]]></geoReference>"#;

    #[test]
    fn synthetic_network() {
        let header = format!(r#"{UTM}<offset x="500000" y="5400000" z="0" hdg="0"/>"#);
        let n = parse_opendrive(&synthetic(&header, ""), &opts(None)).unwrap();
        assert!(n.warnings.is_empty(), "{:?}", n.warnings);
        match &n.geo {
            GeoRef::Projected { proj, offset } => {
                assert_eq!(proj, "+proj=utm +zone=32 +datum=WGS84");
                assert_eq!(*offset, [500000.0, 5400000.0]);
            }
            other => panic!("{other:?}"),
        }
        let ids: Vec<&str> = n.lanes.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["1:0:1", "1:0:-1", "2:0:1", "2:0:-1"]);
        let l = &n.lanes[1];
        assert!(dist(l.centre[0], [0.0, -1.75]) < 1e-9 && dist(*l.centre.last().unwrap(), [100.0, -1.75]) < 1e-9);
        assert_eq!(l.centre.len(), 51);
        assert_eq!((l.to_junction.as_deref(), l.from_junction.as_deref(), l.stop_line), (Some("100"), None, true));
        assert_eq!(l.speed_kph, Some(50.0));
        let l = &n.lanes[0]; // left lane of road 1 runs west, away from junction 100
        assert!(dist(l.centre[0], [100.0, 1.75]) < 1e-9);
        assert_eq!((l.to_junction.as_deref(), l.from_junction.as_deref()), (None, Some("100")));
        let c: Vec<(&str, &str, Option<&str>)> =
            n.connections.iter().map(|c| (c.from.as_str(), c.to.as_str(), c.signal.as_deref())).collect();
        assert_eq!(c, [("1:0:-1", "2:0:-1", Some("c1")), ("2:0:1", "1:0:1", Some("signal:s2"))]);
        assert_eq!(n.junctions.len(), 1);
        let j = &n.junctions[0];
        assert!(j.signalised && j.name.as_deref() == Some("J"));
        assert!(dist(j.centre.unwrap(), [110.0, 0.0]) < 1e-9);
        assert_eq!(n.crosswalks.len(), 1);
        let cw = &n.crosswalks[0];
        assert_eq!((cw.id.as_str(), cw.junction.as_str(), cw.width_m), ("cw1", "100", 3.0));
        assert!(dist(cw.centre[0], [123.0, -3.5]) < 1e-9 && dist(cw.centre[1], [123.0, 3.5]) < 1e-9);
    }

    #[test]
    fn header_offset_rotation() {
        let header = format!(r#"{UTM}<offset x="10" y="20" z="0" hdg="1.5707963267948966"/>"#);
        let n = parse_opendrive(&synthetic(&header, ""), &opts(None)).unwrap();
        assert!(matches!(&n.geo, GeoRef::Projected { offset, .. } if *offset == [10.0, 20.0]));
        // (0, -1.75) rotated by 90° is (1.75, 0).
        let l = n.lanes.iter().find(|l| l.id == "1:0:-1").unwrap();
        assert!(dist(l.centre[0], [1.75, 0.0]) < 1e-9, "{:?}", l.centre[0]);
    }

    #[test]
    fn lane_access_rules() {
        // road 1's lanes: bus only (allow) and no trucks (deny); an unmappable restriction warns
        let text = synthetic(UTM, "").replacen(
            r#"<width sOffset="0" a="3.5" b="0" c="0" d="0"/></lane>"#,
            r#"<width sOffset="0" a="3.5" b="0" c="0" d="0"/><access sOffset="0" rule="allow" restriction="bus"/><access sOffset="0" rule="deny" restriction="trucks"/><access sOffset="0" rule="deny" restriction="emergency"/></lane>"#,
            1,
        );
        let n = parse_opendrive(&text, &opts(None)).unwrap();
        let l = n.lanes.iter().find(|l| l.only == [VehicleClass::Bus]).expect("a bus-only lane");
        assert_eq!(l.bans, [VehicleClass::Truck]);
        assert_eq!(n.warnings.iter().filter(|w| w.contains("`emergency` cannot be expressed")).count(), 1);
        let (m, _) = super::super::build(&n, &Default::default()).unwrap();
        let lane = m.intersections[0].lanes.iter().find(|x| x.only == [VehicleClass::Bus]).unwrap();
        assert_eq!(lane.bans.iter().map(|b| b.vehicle).collect::<Vec<_>>(), [VehicleClass::Truck]);
    }

    #[test]
    fn left_hand_traffic() {
        // With rule="LHT" left lanes follow the reference line; the junction links no longer
        // fit, which must only give warnings.
        let n = parse_opendrive(&synthetic(UTM, r#"rule="LHT""#), &opts(None)).unwrap();
        let l = n.lanes.iter().find(|l| l.id == "1:0:1").unwrap();
        assert!(dist(l.centre[0], [0.0, 1.75]) < 1e-9);
        assert_eq!(l.to_junction.as_deref(), Some("100"));
        assert!(n.connections.is_empty());
        assert_eq!(n.warnings.len(), 2, "{:?}", n.warnings);
    }

    #[test]
    fn geo_reference_rules() {
        let no_geo = synthetic("", "");
        match parse_opendrive(&no_geo, &opts(None)) {
            Err(ImportError::NoGeoReference { message, .. }) => assert!(message.contains("no <geoReference>")),
            other => panic!("{other:?}"),
        }
        let n = parse_opendrive(&no_geo, &opts(Some([30.0, 120.0]))).unwrap();
        assert!(matches!(n.geo, GeoRef::Local { origin } if origin == [30.0, 120.0]));
        let carla =
            synthetic("<geoReference>+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +datum=WGS84</geoReference>", "");
        assert!(matches!(parse_opendrive(&carla, &opts(None)), Err(ImportError::NoGeoReference { .. })));
        let real = synthetic("<geoReference>+proj=tmerc +lat_0=49 +lon_0=8.4 +k=1 +x_0=0 +y_0=0</geoReference>", "");
        let n = parse_opendrive(&real, &opts(None)).unwrap();
        assert!(matches!(&n.geo, GeoRef::Projected { offset, .. } if *offset == [0.0, 0.0]));
    }

    #[test]
    fn geometry_primitives() {
        let g = |kind: GeomKind, len: f64| Geom { s: 0.0, x: 1.0, y: 2.0, hdg: 0.0, len, kind };
        let close = |a: (f64, f64, f64), b: (f64, f64, f64), tol: f64| {
            assert!((a.0 - b.0).abs() < tol && (a.1 - b.1).abs() < tol && (a.2 - b.2).abs() < tol, "{a:?} != {b:?}")
        };
        // Quarter circle of radius 10.
        let q = std::f64::consts::FRAC_PI_2 * 10.0;
        close(g(GeomKind::Arc(0.1), q).pose(q), (11.0, 12.0, std::f64::consts::FRAC_PI_2), 1e-12);
        // A spiral of constant curvature is that arc.
        close(g(GeomKind::Spiral { k0: 0.1, k1: 0.1 }, q).pose(q), (11.0, 12.0, std::f64::consts::FRAC_PI_2), 1e-6);
        // Clothoid 0 → 0.04 over 50 m against a fine midpoint sum.
        let (k1, len) = (0.04, 50.0);
        let n = 200_000;
        let (mut x, mut y) = (1.0, 2.0);
        for i in 0..n {
            let t = (i as f64 + 0.5) * len / n as f64;
            let th = 0.5 * k1 / len * t * t;
            x += th.cos() * len / n as f64;
            y += th.sin() * len / n as f64;
        }
        close(g(GeomKind::Spiral { k0: 0.0, k1 }, len).pose(len), (x, y, 0.5 * k1 * len), 1e-6);
        // poly3 v = 0.1 u is a straight line: arc length 10 is at u = 10 / sqrt(1.01).
        let v = Cubic { s: 0.0, a: 0.0, b: 0.1, c: 0.0, d: 0.0 };
        let u = 10.0 / 1.01_f64.sqrt();
        close(
            g(GeomKind::Poly3 { v, table: poly3_table(&v, 20.0) }, 20.0).pose(10.0),
            (1.0 + u, 2.0 + 0.1 * u, 0.1_f64.atan()),
            1e-9,
        );
        // paramPoly3, normalized: u = 20 p, v = 5 p².
        let pu = Cubic { s: 0.0, a: 0.0, b: 20.0, c: 0.0, d: 0.0 };
        let pv = Cubic { s: 0.0, a: 0.0, b: 0.0, c: 5.0, d: 0.0 };
        let pp = g(GeomKind::ParamPoly3 { u: pu, v: pv, normalized: true }, 20.0);
        close(pp.pose(10.0), (11.0, 2.0 + 1.25, 5.0_f64.atan2(20.0)), 1e-12);
        let pa =
            g(GeomKind::ParamPoly3 { u: Cubic { b: 1.0, ..pu }, v: Cubic { c: 0.0, ..pv }, normalized: false }, 20.0);
        close(pa.pose(7.0), (8.0, 2.0, 0.0), 1e-12);
    }

    #[test]
    fn malformed_input_never_panics() {
        let bad = synthetic(UTM, "").replacen(r#"x="0""#, r#"x="zero""#, 1);
        match parse_opendrive(&bad, &opts(None)) {
            Err(ImportError::Parse { message, .. }) => assert!(message.contains("road 1"), "{message}"),
            other => panic!("{other:?}"),
        }
        // Missing pieces: warnings, not failures.
        let holes = synthetic(UTM, "")
            .replace(r#"connectingRoad="11""#, r#"connectingRoad="99""#)
            .replacen("<planView>", "<planViewX>", 1)
            .replacen("</planView>", "</planViewX>", 1);
        let n = parse_opendrive(&holes, &opts(None)).unwrap();
        assert!(n.warnings.iter().any(|w| w.contains("road 1: no planView")), "{:?}", n.warnings);
        assert!(n.warnings.iter().any(|w| w.contains("99")), "{:?}", n.warnings);
        // Every prefix of a document is an error or a network, never a panic.
        let text = synthetic(UTM, "");
        for cut in (0..text.len()).step_by(7) {
            if text.is_char_boundary(cut) {
                let _ = parse_opendrive(&text[..cut], &opts(None));
            }
        }
        assert!(matches!(parse_opendrive("<notodr/>", &opts(None)), Err(ImportError::Parse { .. })));
    }
}
