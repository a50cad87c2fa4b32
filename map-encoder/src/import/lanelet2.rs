//! Lanelet2 OSM importer (plain Lanelet2 and Autoware flavour): produces the
//! neutral [`Network`] and nothing else.
//!
//! # What is mapped
//!
//! * **Nodes, ways, lanelets.** A `type=lanelet` relation needs exactly one
//!   `left` and one `right` way.  The bounds are oriented as Lanelet2's
//!   `geometry::align` does (the left bound is reversed when the right bound's
//!   middle point is not on its right, then the right bound when the left
//!   bound's middle is not on its left), which fixes the lanelet's direction.
//!   The centre line is the average of the two bounds, resampled at matching
//!   arc-length fractions (every vertex fraction of either bound), and the
//!   width is the mean distance between those matching points.  Lengths and
//!   crossings are computed in a local metric frame (WGS84 ellipsoid radii at
//!   the map's mean latitude).
//! * **Subtypes.** `road`, `highway`, `play_street` and a missing subtype →
//!   Vehicle; `bus_lane` → Bus (`only = [Bus]`); `bicycle_lane` (and
//!   `bikelane`) → Bike; `walkway` → Sidewalk; `parking` → Parking;
//!   `crosswalk` → a [`NetCrosswalk`] when it is at a junction (warned
//!   otherwise).  Anything else (`rail`, `stairs`, `emergency_lane`, …) is
//!   skipped with a warning.  Explicit `participant:*` tags override the
//!   subtype: without `participant:vehicle*=yes` a lanelet open to bicycles is
//!   Bike, one open to pedestrians only is a crosswalk.  A travel lanelet
//!   tagged `one_way=no` is imported in its own direction only, with a
//!   warning.
//! * **Successors.** Lanelet B follows lanelet A when the last nodes of A's
//!   (oriented) left and right bounds are the first nodes of B's left and
//!   right bounds (node ids, as Lanelet2's routing graph does).
//! * **Speed.** The lanelet's `speed_limit` tag (Autoware, km/h), else its
//!   OSM `maxspeed` tag (km/h, or `mph`), else a referenced `speed_limit`
//!   regulatory element (its own `speed_limit`/`max_speed` tag, or a numeric
//!   `speed_limit`/`subtype` tag of the sign it refers to).  Unparsable tag
//!   values are warned about, not errors (tags are free text).
//! * **Regulatory elements.** `traffic_light` (its id is the signal),
//!   `right_of_way`, `speed_limit`, `traffic_sign` (a sign whose `subtype`
//!   contains `stop` or starts with `de206`/`r1-1` marks a stop line),
//!   `all_way_stop` and Autoware's `crosswalk` are understood; any other
//!   subtype (Autoware `road_marking`, `detection_area`, …) is warned about
//!   once and otherwise ignored.
//!
//! # Intersections (Lanelet2 has no intersection object)
//!
//! A junction is a connected cluster of *internal* lanelets, found in one of
//! two modes.
//!
//! **Autoware mode** (some travel lanelet carries `intersection_area` or
//! `turn_direction`): the lanelets tagged `intersection_area` are internal
//! (in maps without any `intersection_area`, those tagged `turn_direction`);
//! with areas, a `turn_direction` lanelet is also internal when it starts
//! and ends beside internal lanelets (a turn whose area tag was forgotten),
//! while other `turn_direction` lanelets only mark blinker sections before or
//! after the intersection.  Lanelets of two different areas never share a
//! junction.
//!
//! **Plain mode** (all other maps):
//!
//! 1. Two motor-vehicle lanelets (Vehicle, Bus) that are not each other's
//!    predecessor/successor *conflict* when their centre lines cross at a
//!    point that is not within 1 m of an end of both (so lanelets that merge
//!    or diverge at a shared end do not conflict).  Both are internal.
//! 2. Repeated until nothing changes: a Vehicle/Bus lanelet is internal when
//!    it shares its start with an internal lanelet (another successor of one
//!    of its predecessors) and its end with an internal lanelet (another
//!    predecessor of one of its successors) — a right turn that only merges
//!    —, when all its predecessors and all its successors are internal, or
//!    when all its predecessors (or all its successors) are internal and it
//!    shares its start or its end with an internal lanelet (it branches off
//!    or merges inside the junction).
//! 3. Junctions reach back to the stop line: when the lanelet entering a
//!    junction has no stop/yield line of its own (no `traffic_light`, stop
//!    `traffic_sign`, `all_way_stop`, or `right_of_way` naming it `yield`) but
//!    a lanelet up to 30 m before it, through single-predecessor and
//!    single-successor links, has one, the lanelets in between are internal
//!    (FZI splits lanes a few metres after the stop line).  Rule 2 is then
//!    applied again.
//!
//! In both modes a bicycle lanelet that crosses an internal motor-vehicle
//! lanelet, or whose predecessors and successors are all internal, is
//! internal.
//!
//! Internal lanelets are clustered when they conflict or cross, are each
//! other's predecessor/successor, share a start or an end, or carry the same
//! Autoware `intersection_area`.  A cluster's id is `area:<intersection_area>`
//! when its lanelets carry one, else `ll:<smallest lanelet id>`; its centre is
//! the mean of the internal centre lines' middles.  Internal lanelets are not
//! emitted as lanes.  The *incoming* lanes are the non-internal predecessors
//! of the cluster (`to_junction`), the *outgoing* ones its non-internal
//! successors (`from_junction`).  A [`NetConnection`] is emitted for every
//! incoming → outgoing pair joined by a chain of the cluster's internal
//! lanelets; its signal is the first `traffic_light` regulatory element
//! referenced by an internal lanelet of the chain (Autoware puts them there)
//! or else by the incoming lanelet (plain Lanelet2); its manoeuvre is the
//! Autoware `turn_direction` of the chain (`straight`/`left`/`right`), if any.
//! A junction is signalised when one of its connections has a signal.  An
//! incoming lane ends at a stop line when one of its connections is
//! signalised or it references a stop sign or an `all_way_stop`.  A crosswalk
//! lanelet belongs to the junction whose internal lanelets it crosses (else
//! whose incoming/outgoing lanelets it crosses); its signal is a
//! `traffic_light` it references (a pedestrian light).
//!
//! # Geo-reference
//!
//! Points are [`GeoRef::Wgs84`] `[lon, lat]`.  When every node lies within
//! 0.1° of (0, 0) the lat/lon are a fake frame (INTERACTION style): without
//! [`ParseOptions::origin`] the result is [`ImportError::NoGeoReference`];
//! with it, the map is [`GeoRef::Local`] and the fake lat/lon are turned back
//! into metres with the projection the INTERACTION tools and Lanelet2's
//! `UtmProjector(Origin(0, 0))` use: UTM zone 31 minus the UTM position of
//! (0, 0).  (A spherical Mercator about lat 0 would be off by 0.6 % in y.)
//! If every node instead carries Autoware `local_x`/`local_y` tags, those are
//! used as the local metres.
//!
//! # Not mapped (known gaps)
//!
//! Approach and exit lanes are single lanelets (maps that split lanes at
//! every marking change give short ones; FZI's are a few metres); lanelets
//! that diverge or merge just outside a junction touch each other; explicit
//! `centerline` members; areas (multipolygons); the reverse
//! direction of bidirectional lanelets; `right_of_way`/`yield` roles (no
//! manoeuvre is derived from them); lane-change permissions; default speed
//! limits by `location`/`region`; Autoware `light_bulbs`.  Missing
//! attributes and references to missing nodes/ways/relations are warned about
//! with the id and skipped; a malformed lat/lon/local coordinate is an
//! [`ImportError::Parse`] naming the node.

use std::collections::{BTreeMap, HashMap, HashSet};

use roxmltree::{Document, Node};

use super::network::{GeoRef, NetConnection, NetCrosswalk, NetJunction, NetLane, Network};
use super::{ImportError, ParseOptions};
use crate::model::{LaneType, Maneuver, VehicleClass};

/// A node counts as "at (0, 0)" (fake frame) within this many degrees.
const FAKE_DEG: f64 = 0.1;
/// Crossings this close to an end of both lanelets are merges/diverges, not conflicts.
const END_TOL_M: f64 = 1.0;
/// Longest chain of internal lanelets followed through a junction.
const MAX_CHAIN: usize = 32;

/// Parses a Lanelet2 OSM document into the neutral network (see the module
/// doc for what is mapped, the intersection rule and the geo-reference rule).
pub fn parse_lanelet2(text: &str, opts: &ParseOptions) -> Result<Network, ImportError> {
    let mut cx = Cx { file: opts.file.clone(), warnings: Vec::new() };
    let doc = Document::parse(text).map_err(|e| cx.err(format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "osm" {
        return Err(cx.err(format!("root element is <{}>, not <osm>", root.tag_name().name())));
    }
    let osm = cx.read_osm(root)?;
    let frame = Frame::new(&osm, opts, &mut cx)?;
    let mut ls = Lanelets::build(&osm, &frame, &mut cx);
    ls.find_junctions();
    Ok(ls.network(&osm, &frame, cx))
}

// ---------------------------------------------------------------------------
// Raw OSM
// ---------------------------------------------------------------------------

struct RawNode {
    lat: f64,
    lon: f64,
    local: Option<[f64; 2]>,
    /// `ele` tag (metres), when present and a number.
    ele: Option<f64>,
}

struct Way<'a> {
    nodes: Vec<&'a str>,
    tags: HashMap<&'a str, &'a str>,
}

struct Member<'a> {
    kind: &'a str,
    id: &'a str,
    role: &'a str,
}

struct Rel<'a> {
    id: &'a str,
    tags: HashMap<&'a str, &'a str>,
    members: Vec<Member<'a>>,
}

impl Rel<'_> {
    fn tag(&self, k: &str) -> Option<&str> {
        self.tags.get(k).copied()
    }
}

struct Osm<'a> {
    nodes: HashMap<&'a str, RawNode>,
    ways: HashMap<&'a str, Way<'a>>,
    rels: Vec<Rel<'a>>,
}

fn elements<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn tags<'a>(n: Node<'a, '_>) -> HashMap<&'a str, &'a str> {
    elements(n, "tag").filter_map(|t| Some((t.attribute("k")?, t.attribute("v")?))).collect()
}

fn deleted(n: Node) -> bool {
    n.attribute("action") == Some("delete") || n.attribute("visible") == Some("false")
}

struct Cx {
    file: String,
    warnings: Vec<String>,
}

impl Cx {
    fn err(&self, message: String) -> ImportError {
        ImportError::Parse { file: self.file.clone(), message }
    }

    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    fn num(&self, v: &str, what: &str) -> Result<f64, ImportError> {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.err(format!("{what}: \"{v}\" is not a number")))
    }

    fn read_osm<'a>(&mut self, root: Node<'a, '_>) -> Result<Osm<'a>, ImportError> {
        let mut nodes = HashMap::new();
        for n in elements(root, "node").filter(|n| !deleted(*n)) {
            let Some(id) = n.attribute("id") else {
                self.warn("node without id skipped".into());
                continue;
            };
            let (Some(lat), Some(lon)) = (n.attribute("lat"), n.attribute("lon")) else {
                self.warn(format!("node {id}: no lat/lon; skipped"));
                continue;
            };
            let lat = self.num(lat, &format!("node {id} lat"))?;
            let lon = self.num(lon, &format!("node {id} lon"))?;
            if lat.abs() > 90.0 || lon.abs() > 180.0 {
                return Err(self.err(format!("node {id}: lat {lat} / lon {lon} out of range")));
            }
            let t = tags(n);
            let local = match (t.get("local_x"), t.get("local_y")) {
                (Some(x), Some(y)) => {
                    Some([self.num(x, &format!("node {id} local_x"))?, self.num(y, &format!("node {id} local_y"))?])
                }
                _ => None,
            };
            let ele = t.get("ele").and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
            nodes.insert(id, RawNode { lat, lon, local, ele });
        }
        let mut ways = HashMap::new();
        for w in elements(root, "way").filter(|n| !deleted(*n)) {
            let Some(id) = w.attribute("id") else {
                self.warn("way without id skipped".into());
                continue;
            };
            let mut refs = Vec::new();
            for nd in elements(w, "nd") {
                match nd.attribute("ref") {
                    Some(r) if nodes.contains_key(r) => refs.push(r),
                    Some(r) => self.warn(format!("way {id}: node {r} does not exist; left out")),
                    None => self.warn(format!("way {id}: <nd> without ref ignored")),
                }
            }
            ways.insert(id, Way { nodes: refs, tags: tags(w) });
        }
        let mut rels = Vec::new();
        for r in elements(root, "relation").filter(|n| !deleted(*n)) {
            let Some(id) = r.attribute("id") else {
                self.warn("relation without id skipped".into());
                continue;
            };
            let members = elements(r, "member")
                .filter_map(|m| {
                    Some(Member {
                        kind: m.attribute("type")?,
                        id: m.attribute("ref")?,
                        role: m.attribute("role").unwrap_or(""),
                    })
                })
                .collect();
            rels.push(Rel { id, tags: tags(r), members });
        }
        Ok(Osm { nodes, ways, rels })
    }
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

/// The metric frame used for geometry, and how to write points out.
enum Frame {
    /// Real WGS84: local tangent metres about `(lat0, lon0)` with radii `m`, `n`.
    Wgs84 { lat0: f64, lon0: f64, m: f64, n_cos: f64 },
    /// Fake (0, 0) frame: metres from UTM zone 31 (or `local_x`/`local_y`), output as is.
    Local { origin: [f64; 2], use_local_tags: bool, utm: Option<Box<Utm>> },
}

/// lon/lat → UTM zone 31 and the UTM position of (0°, 0°).
struct Utm {
    src: proj4rs::proj::Proj,
    dst: proj4rs::proj::Proj,
    zero: [f64; 2],
}

const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 6.694_379_990_141_316e-3;
/// UTM zone 31 position of a lat/lon (degrees).
fn utm31(lat: f64, lon: f64, src: &proj4rs::proj::Proj, dst: &proj4rs::proj::Proj) -> Option<[f64; 2]> {
    let mut q = (lon.to_radians(), lat.to_radians(), 0.0);
    proj4rs::transform::transform(src, dst, &mut q).ok()?;
    (q.0.is_finite() && q.1.is_finite()).then_some([q.0, q.1])
}

impl Frame {
    fn new(osm: &Osm, opts: &ParseOptions, cx: &mut Cx) -> Result<Self, ImportError> {
        let n = osm.nodes.len().max(1) as f64;
        let fake =
            !osm.nodes.is_empty() && osm.nodes.values().all(|p| p.lat.abs() < FAKE_DEG && p.lon.abs() < FAKE_DEG);
        if !fake {
            let lat0 = osm.nodes.values().map(|p| p.lat).sum::<f64>() / n;
            let lon0 = osm.nodes.values().map(|p| p.lon).sum::<f64>() / n;
            let s = lat0.to_radians().sin();
            let w = (1.0 - WGS84_E2 * s * s).sqrt();
            let m = WGS84_A * (1.0 - WGS84_E2) / (w * w * w);
            let n_cos = WGS84_A / w * lat0.to_radians().cos();
            if opts.origin.is_some() {
                cx.warn("the map has real lat/lon; the given origin is not used".into());
            }
            return Ok(Frame::Wgs84 { lat0, lon0, m, n_cos });
        }
        let Some(origin) = opts.origin else {
            return Err(ImportError::NoGeoReference {
                file: opts.file.clone(),
                message: format!(
                    "all {} node lat/lon lie within {FAKE_DEG}° of (0, 0): a local map in a fake geographic frame \
                     (INTERACTION style), not a real location",
                    osm.nodes.len()
                ),
            });
        };
        let use_local_tags = osm.nodes.values().all(|p| p.local.is_some());
        let utm = if use_local_tags {
            cx.warn(format!("fake lat/lon; local_x/local_y used as metres about the given origin {origin:?}"));
            None
        } else {
            let err = |e: proj4rs::errors::Error| cx.err(format!("UTM zone 31 projection: {e}"));
            let src = proj4rs::proj::Proj::from_proj_string("+proj=longlat +ellps=WGS84 +datum=WGS84 +no_defs")
                .map_err(err)?;
            let dst =
                proj4rs::proj::Proj::from_proj_string("+proj=utm +zone=31 +ellps=WGS84 +datum=WGS84 +units=m +no_defs")
                    .map_err(|e| cx.err(format!("UTM zone 31 projection: {e}")))?;
            let zero = utm31(0.0, 0.0, &src, &dst).ok_or_else(|| cx.err("UTM zone 31 projection failed".into()))?;
            cx.warn(format!(
                "fake lat/lon about (0, 0) turned into metres (UTM zone 31 minus UTM of (0, 0)) about the given origin {origin:?}"
            ));
            Some(Box::new(Utm { src, dst, zero }))
        };
        Ok(Frame::Local { origin, use_local_tags, utm })
    }

    /// Metric position of a node.
    fn metric(&self, p: &RawNode) -> Option<[f64; 2]> {
        match self {
            Frame::Wgs84 { lat0, lon0, m, n_cos } => {
                Some([(p.lon - lon0).to_radians() * n_cos, (p.lat - lat0).to_radians() * m])
            }
            Frame::Local { use_local_tags: true, .. } => p.local,
            Frame::Local { utm: Some(u), .. } => {
                let q = utm31(p.lat, p.lon, &u.src, &u.dst)?;
                Some([q[0] - u.zero[0], q[1] - u.zero[1]])
            }
            Frame::Local { .. } => None,
        }
    }

    /// A metric point in the network frame.
    fn out(&self, p: [f64; 2]) -> [f64; 2] {
        match self {
            Frame::Wgs84 { lat0, lon0, m, n_cos } => {
                [lon0 + (p[0] / n_cos).to_degrees(), lat0 + (p[1] / m).to_degrees()]
            }
            Frame::Local { .. } => p,
        }
    }

    fn geo(&self) -> GeoRef {
        match self {
            Frame::Wgs84 { .. } => GeoRef::Wgs84,
            Frame::Local { origin, .. } => GeoRef::Local { origin: *origin },
        }
    }
}

// ---------------------------------------------------------------------------
// Geometry helpers
// ---------------------------------------------------------------------------

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn cumulative(ls: &[[f64; 2]]) -> Vec<f64> {
    let mut c = Vec::with_capacity(ls.len());
    let mut acc = 0.0;
    for (i, p) in ls.iter().enumerate() {
        if i > 0 {
            acc += dist(ls[i - 1], *p);
        }
        c.push(acc);
    }
    c
}

/// Point at arc-length fraction `f` of a polyline with cumulative lengths `c`.
fn at_fraction(ls: &[[f64; 2]], c: &[f64], f: f64) -> [f64; 2] {
    let total = c.last().copied().unwrap_or(0.0);
    if total <= 0.0 || ls.len() < 2 {
        return ls[0];
    }
    let s = f * total;
    let i = c.partition_point(|&x| x < s).clamp(1, ls.len() - 1);
    let (a, b) = (ls[i - 1], ls[i]);
    let seg = c[i] - c[i - 1];
    let t = if seg > 0.0 { ((s - c[i - 1]) / seg).clamp(0.0, 1.0) } else { 0.0 };
    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
}

/// Signed distance of `p` from a polyline (positive on its left), as Lanelet2 uses it.
fn signed_distance(ls: &[[f64; 2]], p: [f64; 2]) -> f64 {
    let mut best = (f64::MAX, 0.0);
    for w in ls.windows(2) {
        let (a, b) = (w[0], w[1]);
        let d = [b[0] - a[0], b[1] - a[1]];
        let l2 = d[0] * d[0] + d[1] * d[1];
        let t = if l2 > 0.0 { (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / l2).clamp(0.0, 1.0) } else { 0.0 };
        let q = [a[0] + t * d[0], a[1] + t * d[1]];
        let dd = dist(p, q);
        if dd < best.0 {
            let cross = d[0] * (p[1] - a[1]) - d[1] * (p[0] - a[0]);
            best = (dd, if cross >= 0.0 { dd } else { -dd });
        }
    }
    best.1
}

fn polyline_len(ls: &[[f64; 2]]) -> f64 {
    ls.windows(2).map(|w| dist(w[0], w[1])).sum()
}

fn middle(ls: &[[f64; 2]]) -> [f64; 2] {
    if ls.len() > 2 {
        ls[ls.len() / 2]
    } else {
        let (a, b) = (ls[0], ls[ls.len() - 1]);
        [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
    }
}

/// Proper intersection points of two polylines.
fn crossings(a: &[[f64; 2]], b: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out = Vec::new();
    for s in a.windows(2) {
        for t in b.windows(2) {
            let (p, r) = (s[0], [s[1][0] - s[0][0], s[1][1] - s[0][1]]);
            let (q, u) = (t[0], [t[1][0] - t[0][0], t[1][1] - t[0][1]]);
            let den = r[0] * u[1] - r[1] * u[0];
            if den.abs() < 1e-12 {
                continue;
            }
            let qp = [q[0] - p[0], q[1] - p[1]];
            let ta = (qp[0] * u[1] - qp[1] * u[0]) / den;
            let tb = (qp[0] * r[1] - qp[1] * r[0]) / den;
            if (0.0..=1.0).contains(&ta) && (0.0..=1.0).contains(&tb) {
                out.push([p[0] + ta * r[0], p[1] + ta * r[1]]);
            }
        }
    }
    out
}

fn bbox(ls: &[[f64; 2]]) -> [f64; 4] {
    ls.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, p| {
        [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
    })
}

fn bbox_overlap(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

/// Speed tag value → km/h: `50`, `50 km/h`, `30 mph`, `13.9 m/s`.
fn parse_speed(v: &str) -> Option<f64> {
    let v = v.trim();
    let (num, f) = if let Some(n) = v.strip_suffix("mph") {
        (n, 1.609_344)
    } else if let Some(n) = v.strip_suffix("km/h").or_else(|| v.strip_suffix("kmh")).or_else(|| v.strip_suffix("kph")) {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("m/s") {
        (n, 3.6)
    } else {
        (v, 1.0)
    };
    num.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0).map(|x| x * f)
}

// ---------------------------------------------------------------------------
// Lanelets and junctions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Travel(LaneType),
    Sidewalk,
    Parking,
    Crosswalk,
}

struct Ll<'a> {
    id: &'a str,
    kind: Kind,
    only: Vec<VehicleClass>,
    start: (&'a str, &'a str),
    end: (&'a str, &'a str),
    centre: Vec<[f64; 2]>,
    bbox: [f64; 4],
    width: f64,
    tags: &'a HashMap<&'a str, &'a str>,
    regs: Vec<&'a str>,
    preds: Vec<usize>,
    succs: Vec<usize>,
    internal: bool,
}

impl Ll<'_> {
    fn motor(&self) -> bool {
        matches!(self.kind, Kind::Travel(LaneType::Vehicle | LaneType::Bus))
    }
    fn travel(&self) -> bool {
        matches!(self.kind, Kind::Travel(_))
    }
    /// Whether a crossing at `p` is away from this lanelet's ends.
    fn interior(&self, p: [f64; 2]) -> bool {
        let (a, b) = (self.centre[0], self.centre[self.centre.len() - 1]);
        dist(p, a) > END_TOL_M && dist(p, b) > END_TOL_M
    }
}

struct Lanelets<'a> {
    lls: Vec<Ll<'a>>,
    /// Cluster (junction) index per lanelet, for internal ones.
    cluster: Vec<Option<usize>>,
    /// Junction ids by cluster index.
    junction_ids: Vec<String>,
    regs: HashMap<&'a str, &'a Rel<'a>>,
}

struct Dsu(Vec<usize>);

impl Dsu {
    fn find(&mut self, i: usize) -> usize {
        let mut r = i;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut j = i;
        while self.0[j] != r {
            let n = self.0[j];
            self.0[j] = r;
            j = n;
        }
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra.max(rb)] = ra.min(rb);
        }
    }
}

impl<'a> Lanelets<'a> {
    fn build(osm: &'a Osm<'a>, frame: &Frame, cx: &mut Cx) -> Self {
        let mut regs: HashMap<&str, &Rel> = HashMap::new();
        for r in osm.rels.iter().filter(|r| r.tag("type") == Some("regulatory_element")) {
            let st = r.tag("subtype").unwrap_or("");
            match st {
                "traffic_light" | "right_of_way" | "speed_limit" | "traffic_sign" | "all_way_stop" | "crosswalk" => {}
                _ => {
                    cx.warn(format!("regulatory element {}: subtype \"{st}\" is not mapped; ignored", r.id));
                }
            }
            regs.insert(r.id, r);
        }
        let mut lls: Vec<Ll> = Vec::new();
        for r in osm.rels.iter().filter(|r| r.tag("type") == Some("lanelet")) {
            let what = format!("lanelet {}", r.id);
            let subtype = r.tag("subtype").unwrap_or("road");
            let (kind, only) = match subtype {
                "road" | "highway" | "play_street" => (Kind::Travel(LaneType::Vehicle), vec![]),
                "bus_lane" => (Kind::Travel(LaneType::Bus), vec![VehicleClass::Bus]),
                "bicycle_lane" | "bikelane" | "bicycle" => (Kind::Travel(LaneType::Bike), vec![]),
                "walkway" => (Kind::Sidewalk, vec![]),
                "parking" => (Kind::Parking, vec![]),
                "crosswalk" => (Kind::Crosswalk, vec![]),
                other => {
                    cx.warn(format!("{what}: subtype \"{other}\" is not in the model; skipped"));
                    continue;
                }
            };
            // Explicit `participant:*` tags replace the subtype's default participants.
            let allowed = |p: &str| {
                r.tags
                    .iter()
                    .any(|(k, v)| k.strip_prefix("participant:").is_some_and(|x| x.starts_with(p)) && *v == "yes")
            };
            let (kind, only) =
                if matches!(kind, Kind::Travel(_)) && r.tags.keys().any(|k| k.starts_with("participant:")) {
                    if allowed("vehicle") {
                        (kind, only)
                    } else if allowed("bicycle") {
                        (Kind::Travel(LaneType::Bike), vec![])
                    } else if allowed("pedestrian") {
                        (Kind::Crosswalk, vec![])
                    } else {
                        cx.warn(format!("{what}: no participant this model knows; skipped"));
                        continue;
                    }
                } else {
                    (kind, only)
                };
            let bound = |role: &str| -> Result<&str, String> {
                let ms: Vec<&Member> = r.members.iter().filter(|m| m.role == role).collect();
                match ms.as_slice() {
                    [m] if m.kind == "way" => Ok(m.id),
                    [] => Err(format!("{what}: no {role} bound; skipped")),
                    _ => Err(format!("{what}: not exactly one {role} way; skipped")),
                }
            };
            let (left, right) = match (bound("left"), bound("right")) {
                (Ok(l), Ok(r)) => (l, r),
                (Err(e), _) | (_, Err(e)) => {
                    cx.warn(e);
                    continue;
                }
            };
            let get = |wid: &str| -> Option<(Vec<&'a str>, Vec<[f64; 2]>)> {
                let w = osm.ways.get(wid)?;
                let mut ids = Vec::new();
                let mut pts = Vec::new();
                for &n in &w.nodes {
                    if let Some(p) = osm.nodes.get(n).and_then(|p| frame.metric(p)) {
                        ids.push(n);
                        pts.push(p);
                    }
                }
                (pts.len() >= 2).then_some((ids, pts))
            };
            let (Some((mut lid, mut lpt)), Some((mut rid, mut rpt))) = (get(left), get(right)) else {
                cx.warn(format!(
                    "{what}: bound way {left} or {right} is missing or has fewer than 2 usable nodes; skipped"
                ));
                continue;
            };
            // Lanelet2's geometry::align.
            if signed_distance(&lpt, middle(&rpt)) >= 0.0 {
                lid.reverse();
                lpt.reverse();
            }
            if signed_distance(&rpt, middle(&lpt)) <= 0.0 {
                rid.reverse();
                rpt.reverse();
            }
            let (cl, cr) = (cumulative(&lpt), cumulative(&rpt));
            let (tl, tr) = (cl[cl.len() - 1], cr[cr.len() - 1]);
            let mut fr: Vec<f64> = cl
                .iter()
                .map(|c| if tl > 0.0 { c / tl } else { 0.0 })
                .chain(cr.iter().map(|c| if tr > 0.0 { c / tr } else { 0.0 }))
                .collect();
            fr.sort_by(f64::total_cmp);
            fr.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
            let mut centre: Vec<[f64; 2]> = Vec::with_capacity(fr.len());
            let mut wsum = 0.0;
            for &f in &fr {
                let (a, b) = (at_fraction(&lpt, &cl, f), at_fraction(&rpt, &cr, f));
                wsum += dist(a, b);
                let c = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
                if centre.last().is_none_or(|q| dist(*q, c) > 1e-6) {
                    centre.push(c);
                }
            }
            if centre.len() < 2 {
                cx.warn(format!("{what}: degenerate (zero-length) centre line; skipped"));
                continue;
            }
            if kind != Kind::Crosswalk
                && kind != Kind::Sidewalk
                && r.tag("one_way").is_some_and(|v| v == "no" || v == "false")
            {
                cx.warn(format!("{what}: one_way=no; imported in its own direction only"));
            }
            let mut regs_of = Vec::new();
            for m in r.members.iter().filter(|m| m.role == "regulatory_element") {
                if regs.contains_key(m.id) {
                    regs_of.push(m.id);
                } else {
                    cx.warn(format!("{what}: regulatory element {} does not exist; ignored", m.id));
                }
            }
            lls.push(Ll {
                id: r.id,
                kind,
                only,
                start: (lid[0], rid[0]),
                end: (lid[lid.len() - 1], rid[rid.len() - 1]),
                bbox: bbox(&centre),
                centre,
                width: wsum / fr.len() as f64,
                tags: &r.tags,
                regs: regs_of,
                preds: vec![],
                succs: vec![],
                internal: false,
            });
        }
        // Successors by shared end/start nodes (crosswalks and walkways are not linked).
        let mut by_start: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, l) in lls.iter().enumerate().filter(|(_, l)| l.travel()) {
            by_start.entry(l.start).or_default().push(i);
        }
        for i in 0..lls.len() {
            if !lls[i].travel() {
                continue;
            }
            let succ: Vec<usize> = by_start.get(&lls[i].end).cloned().unwrap_or_default();
            for j in succ.into_iter().filter(|&j| j != i) {
                lls[i].succs.push(j);
                lls[j].preds.push(i);
            }
        }
        let n = lls.len();
        Lanelets { lls, cluster: vec![None; n], junction_ids: vec![], regs }
    }

    /// Whether a lanelet ends at a stop/yield line: it references a traffic light, a stop
    /// sign, an all-way stop, or a right-of-way element in which it must yield.
    fn stop_ref(&self, i: usize) -> bool {
        let l = &self.lls[i];
        l.regs.iter().any(|r| match self.reg_subtype(r) {
            "traffic_light" | "all_way_stop" => true,
            "traffic_sign" => self.regs.get(r).is_some_and(|e| e.members.iter().any(|m| m.role == "ref_line")),
            "right_of_way" => {
                self.regs.get(r).is_some_and(|e| e.members.iter().any(|m| m.role == "yield" && m.id == l.id))
            }
            _ => false,
        })
    }

    /// Whether a lanelet must give way: it is a `yield` member of a `right_of_way` element (which
    /// plain Lanelet2 maps reference from the yielding lanelet, Autoware maps from the one with
    /// priority, so every element is searched).
    fn yields(&self, i: usize) -> bool {
        let id = self.lls[i].id;
        self.regs
            .values()
            .filter(|e| e.tag("subtype") == Some("right_of_way"))
            .any(|e| e.members.iter().any(|m| m.role == "yield" && m.id == id))
    }

    fn reg_subtype(&self, id: &str) -> &str {
        self.regs.get(id).and_then(|r| r.tag("subtype")).unwrap_or("")
    }

    fn area(&self, i: usize) -> Option<&str> {
        self.lls[i].tags.get("intersection_area").copied()
    }

    /// Whether two internal lanelets may be in one cluster (never across two
    /// different Autoware intersection areas).
    fn joinable(&self, i: usize, j: usize) -> bool {
        match (self.area(i), self.area(j)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// Whether two lanelets' centre lines cross away from their shared ends.
    fn conflict(&self, i: usize, j: usize) -> bool {
        let (a, b) = (&self.lls[i], &self.lls[j]);
        bbox_overlap(&a.bbox, &b.bbox)
            && !a.succs.contains(&j)
            && !a.preds.contains(&j)
            && crossings(&a.centre, &b.centre).into_iter().any(|p| a.interior(p) || b.interior(p))
    }

    /// Rule 3 (see the module doc), repeated until nothing changes.
    fn grow(&mut self, tag_mode: bool, tag: Option<&str>) {
        let n = self.lls.len();
        // 3. Merging turns and lanelets sandwiched between internal ones (with Autoware areas:
        //    only `turn_direction` lanelets that start and end beside area lanelets, which
        //    catches a turn whose `intersection_area` tag was forgotten).
        loop {
            let mut changed = false;
            for i in 0..n {
                let l = &self.lls[i];
                if !l.motor() || l.internal || l.preds.is_empty() || l.succs.is_empty() {
                    continue;
                }
                if tag == Some("turn_direction") || (tag_mode && !l.tags.contains_key("turn_direction")) {
                    continue;
                }
                let int = |k: &usize| self.lls[*k].internal;
                let start_sib = l.preds.iter().flat_map(|&p| self.lls[p].succs.iter()).any(|k| *k != i && int(k));
                let end_sib = l.succs.iter().flat_map(|&s| self.lls[s].preds.iter()).any(|k| *k != i && int(k));
                let (into, out_of) = (!tag_mode && l.preds.iter().all(int), !tag_mode && l.succs.iter().all(int));
                if (start_sib && end_sib) || (into && out_of) || ((into || out_of) && (start_sib || end_sib)) {
                    self.lls[i].internal = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn find_junctions(&mut self) {
        let n = self.lls.len();
        let mut dsu = Dsu((0..n).collect());
        // 2. Autoware: `intersection_area` tags say which lanelets are in an intersection; in
        //    maps without them, `turn_direction` tags do (with areas, a `turn_direction` alone
        //    only marks a blinker section before or after the intersection).
        let has = |k: &str| self.lls.iter().any(|l| l.travel() && l.tags.contains_key(k));
        let tag = [("intersection_area"), ("turn_direction")].into_iter().find(|k| has(k));
        let tag_mode = tag.is_some();
        if let Some(tag) = tag {
            for l in self.lls.iter_mut().filter(|l| l.travel()) {
                l.internal = l.tags.contains_key(tag);
            }
        } else {
            // 1. Conflicts between motor-vehicle lanelets.
            for i in 0..n {
                for j in i + 1..n {
                    if self.lls[i].motor() && self.lls[j].motor() && self.conflict(i, j) {
                        self.lls[i].internal = true;
                        self.lls[j].internal = true;
                        dsu.union(i, j);
                    }
                }
            }
        }
        self.grow(tag_mode, tag);
        // 4. Bicycle lanelets crossing an internal lanelet, or between internal ones.
        for i in 0..n {
            let l = &self.lls[i];
            if l.kind != Kind::Travel(LaneType::Bike) || l.internal {
                continue;
            }
            let int = |k: &usize| self.lls[*k].internal;
            let hit = (0..n).find(|&j| self.lls[j].internal && self.lls[j].motor() && self.conflict(i, j));
            let sandwich =
                !l.preds.is_empty() && !l.succs.is_empty() && l.preds.iter().all(int) && l.succs.iter().all(int);
            if let Some(j) = hit {
                self.lls[i].internal = true;
                dsu.union(i, j);
            } else if sandwich {
                self.lls[i].internal = true;
            }
        }
        // 5. Pull junctions back to the stop line (plain Lanelet2): when the lanelet entering a
        //    junction has no stop line of its own but a lanelet up to 30 m before it (through
        //    single-predecessor, single-successor links) has one, the lanelets in between are
        //    inside the junction.
        if !tag_mode {
            let mut pulled: Vec<(usize, Vec<usize>)> = Vec::new();
            for i in 0..n {
                let l = &self.lls[i];
                let Some(&anchor) = l.succs.iter().find(|&&s| self.lls[s].internal) else { continue };
                if l.internal || !l.travel() || self.stop_ref(i) {
                    continue;
                }
                let mut chain = vec![i];
                let mut len = polyline_len(&l.centre);
                let mut cur = i;
                while len < 30.0 {
                    let [p] = self.lls[cur].preds[..] else { break };
                    let pl = &self.lls[p];
                    if pl.internal || pl.kind != l.kind || pl.succs.len() != 1 {
                        break;
                    }
                    if self.stop_ref(p) {
                        pulled.push((anchor, chain.clone()));
                        break;
                    }
                    chain.push(p);
                    len += polyline_len(&pl.centre);
                    cur = p;
                }
            }
            for (anchor, chain) in pulled {
                for k in chain {
                    self.lls[k].internal = true;
                    dsu.union(anchor, k);
                }
            }
            self.grow(tag_mode, tag);
        }
        // Clusters: same Autoware area, chains, and shared starts/ends of internal lanelets.
        let mut areas: HashMap<&str, usize> = HashMap::new();
        for i in 0..n {
            if let Some(a) = self.area(i).filter(|_| self.lls[i].internal) {
                match areas.get(a) {
                    Some(&k) => dsu.union(i, k),
                    None => {
                        areas.insert(a, i);
                    }
                }
            }
        }
        for i in (0..n).filter(|&i| self.lls[i].internal) {
            let l = &self.lls[i];
            let near = l.succs.iter().chain(l.succs.iter().flat_map(|&s| self.lls[s].preds.iter()));
            let near = near.chain(l.preds.iter().flat_map(|&p| self.lls[p].succs.iter()));
            let join: Vec<usize> = near.copied().filter(|&k| self.lls[k].internal && self.joinable(i, k)).collect();
            for k in join {
                dsu.union(i, k);
            }
        }
        let mut roots: BTreeMap<usize, usize> = BTreeMap::new();
        for i in (0..n).filter(|&i| self.lls[i].internal) {
            let r = dsu.find(i);
            let next = roots.len();
            let c = *roots.entry(r).or_insert(next);
            self.cluster[i] = Some(c);
        }
        // Names.
        let mut ids = vec![String::new(); roots.len()];
        for (c, id) in ids.iter_mut().enumerate() {
            let members: Vec<usize> = (0..n).filter(|&i| self.cluster[i] == Some(c)).collect();
            *id = match members.iter().find_map(|&i| self.area(i)) {
                Some(a) => format!("area:{a}"),
                None => {
                    let min = members
                        .iter()
                        .map(|&i| self.lls[i].id)
                        .min_by(|a, b| match (a.parse::<i64>(), b.parse::<i64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            _ => a.cmp(b),
                        })
                        .unwrap_or("?");
                    format!("ll:{min}")
                }
            };
        }
        self.junction_ids = ids;
    }

    /// Junction of the internal lanelets among `ks`.
    fn junction_of(&self, ks: &[usize]) -> Option<usize> {
        ks.iter().find_map(|&k| self.cluster[k])
    }

    fn network(self, osm: &Osm, frame: &Frame, mut cx: Cx) -> Network {
        let out = |pts: &[[f64; 2]]| -> Vec<[f64; 2]> { pts.iter().map(|&p| frame.out(p)).collect() };
        let n = self.lls.len();
        // Connections.
        let mut connections: Vec<NetConnection> = Vec::new();
        let mut seen: HashSet<(usize, usize)> = HashSet::new();
        let mut signalled_from: HashSet<usize> = HashSet::new();
        for i in 0..n {
            let l = &self.lls[i];
            if !l.travel() || l.internal {
                continue;
            }
            // Depth-first over chains of internal lanelets of one cluster.
            let mut stack: Vec<(usize, Vec<usize>)> =
                l.succs.iter().filter(|&&s| self.lls[s].internal).map(|&s| (s, vec![s])).collect();
            while let Some((k, path)) = stack.pop() {
                let c = self.cluster[k];
                for &s in &self.lls[k].succs {
                    let sl = &self.lls[s];
                    if sl.internal {
                        if self.cluster[s] == c && !path.contains(&s) && path.len() < MAX_CHAIN {
                            let mut p = path.clone();
                            p.push(s);
                            stack.push((s, p));
                        }
                        continue;
                    }
                    if !sl.travel() || !seen.insert((i, s)) {
                        continue;
                    }
                    let traffic_light =
                        |x: usize| self.lls[x].regs.iter().copied().find(|r| self.reg_subtype(r) == "traffic_light");
                    let signal = path.iter().copied().find_map(traffic_light).or_else(|| traffic_light(i));
                    let maneuver = path.iter().find_map(|&x| match self.lls[x].tags.get("turn_direction").copied() {
                        Some("straight") => Some(Maneuver::Straight),
                        Some("left") => Some(Maneuver::Left),
                        Some("right") => Some(Maneuver::Right),
                        _ => None,
                    });
                    if signal.is_some() {
                        signalled_from.insert(i);
                    }
                    let yields = self.yields(i) || path.iter().any(|&x| self.yields(x));
                    connections.push(NetConnection {
                        junction: self.junction_ids[c.unwrap_or(0)].clone(),
                        from: l.id.to_string(),
                        to: sl.id.to_string(),
                        maneuver,
                        signal: signal.map(String::from),
                        yields,
                    });
                }
            }
        }
        // Dangling lanelets: bounds that share no end nodes with any other lanelet (often drawn next to,
        // not joined with, their neighbours). Nothing can connect them, so say so by id.
        for l in self.lls.iter().filter(|l| l.travel() && l.preds.is_empty() && l.succs.is_empty()) {
            cx.warn(if l.internal {
                format!(
                    "lanelet {}: lies in a junction but has no predecessor or successor (its bounds share no end nodes with other lanelets): its movement is not mapped",
                    l.id
                )
            } else {
                format!(
                    "lanelet {}: dangling, no predecessor or successor (its bounds share no end nodes with other lanelets): imported only if it borders a junction",
                    l.id
                )
            });
        }
        // Lanes.
        let mut lanes = Vec::new();
        for (i, l) in self.lls.iter().enumerate() {
            if l.internal || l.kind == Kind::Crosswalk {
                continue;
            }
            let lane_type = match l.kind {
                Kind::Travel(t) => t,
                Kind::Sidewalk => LaneType::Sidewalk,
                Kind::Parking => LaneType::Parking,
                Kind::Crosswalk => continue,
            };
            let to_junction = self.junction_of(&l.succs).map(|c| self.junction_ids[c].clone());
            let from_junction = self.junction_of(&l.preds).map(|c| self.junction_ids[c].clone());
            let speed_kph = if l.travel() { self.speed(l, osm, &mut cx) } else { None };
            let stop_sign = l.regs.iter().any(|r| match self.reg_subtype(r) {
                "all_way_stop" => true,
                "traffic_sign" => self.is_stop_sign(r, osm),
                _ => false,
            });
            let stop_line = to_junction.is_some() && (signalled_from.contains(&i) || stop_sign);
            lanes.push(NetLane {
                id: l.id.to_string(),
                centre: out(&l.centre),
                width_m: l.width,
                lane_type,
                speed_kph,
                only: l.only.clone(),
                bans: Vec::new(),
                to_junction,
                from_junction,
                stop_line,
            });
        }
        // Lanelets outside junctions that follow one another become one lane (`first..last`).
        let next: Vec<(String, String)> = self
            .lls
            .iter()
            .filter(|l| !l.internal)
            .flat_map(|l| {
                l.succs
                    .iter()
                    .filter(|&&k| !self.lls[k].internal)
                    .map(|&k| (l.id.to_string(), self.lls[k].id.to_string()))
            })
            .collect();
        // Junctions.
        let mut junctions = Vec::new();
        for (c, id) in self.junction_ids.iter().enumerate() {
            let mids: Vec<[f64; 2]> =
                (0..n).filter(|&i| self.cluster[i] == Some(c)).map(|i| middle(&self.lls[i].centre)).collect();
            let k = mids.len().max(1) as f64;
            let centre = [mids.iter().map(|p| p[0]).sum::<f64>() / k, mids.iter().map(|p| p[1]).sum::<f64>() / k];
            let signalised = connections.iter().any(|x| &x.junction == id && x.signal.is_some());
            // mean `ele` of the end nodes of the junction's lanelets
            let eles: Vec<f64> = (0..n)
                .filter(|&i| self.cluster[i] == Some(c))
                .flat_map(|i| {
                    let l = &self.lls[i];
                    [l.start.0, l.start.1, l.end.0, l.end.1]
                })
                .filter_map(|nid| osm.nodes.get(nid).and_then(|x| x.ele))
                .collect();
            let elevation_m = (!eles.is_empty()).then(|| eles.iter().sum::<f64>() / eles.len() as f64);
            junctions.push(NetJunction {
                id: id.clone(),
                signalised,
                centre: Some(frame.out(centre)),
                name: None,
                elevation_m,
            });
        }
        // Crosswalks.
        let mut crosswalks = Vec::new();
        for l in self.lls.iter().filter(|l| l.kind == Kind::Crosswalk) {
            let mut internal_hit = None;
            let mut edge_hit = None;
            for (j, o) in self.lls.iter().enumerate() {
                if !o.travel() || !bbox_overlap(&l.bbox, &o.bbox) || crossings(&l.centre, &o.centre).is_empty() {
                    continue;
                }
                if let Some(c) = self.cluster[j] {
                    internal_hit.get_or_insert(c);
                } else if let Some(c) = self.junction_of(&o.succs).or_else(|| self.junction_of(&o.preds)) {
                    edge_hit.get_or_insert(c);
                }
            }
            let Some(c) = internal_hit.or(edge_hit) else {
                cx.warn(format!("crosswalk lanelet {}: crosses no junction's lanelets; skipped", l.id));
                continue;
            };
            let signal = l.regs.iter().copied().find(|r| self.reg_subtype(r) == "traffic_light").map(String::from);
            crosswalks.push(NetCrosswalk {
                id: l.id.to_string(),
                junction: self.junction_ids[c].clone(),
                centre: out(&l.centre),
                width_m: l.width,
                signal,
            });
        }
        let mut net = Network { geo: frame.geo(), lanes, connections, junctions, crosswalks, warnings: cx.warnings };
        net.merge_chains(&next);
        net
    }

    fn is_stop_sign(&self, reg: &str, osm: &Osm) -> bool {
        let Some(r) = self.regs.get(reg) else { return false };
        let stopish = |s: &str| {
            let s = s.to_ascii_lowercase();
            s.contains("stop") || s.starts_with("de206") || s.starts_with("r1-1")
        };
        r.tag("sign_type").is_some_and(stopish)
            || r.members
                .iter()
                .filter(|m| m.role == "refers" && m.kind == "way")
                .filter_map(|m| osm.ways.get(m.id))
                .any(|w| w.tags.get("subtype").is_some_and(|s| stopish(s)))
    }

    fn speed(&self, l: &Ll, osm: &Osm, cx: &mut Cx) -> Option<f64> {
        for key in ["speed_limit", "maxspeed"] {
            if let Some(v) = l.tags.get(key) {
                match parse_speed(v) {
                    Some(s) => return Some(s),
                    None => cx.warn(format!("lanelet {}: {key}=\"{v}\" is not a speed; ignored", l.id)),
                }
            }
        }
        for r in l.regs.iter().filter(|r| self.reg_subtype(r) == "speed_limit").filter_map(|r| self.regs.get(r)) {
            if let Some(s) =
                ["speed_limit", "max_speed", "sign_type"].iter().filter_map(|k| r.tag(k)).find_map(parse_speed)
            {
                return Some(s);
            }
            let from_sign = r
                .members
                .iter()
                .filter(|m| m.role == "refers" && m.kind == "way")
                .filter_map(|m| osm.ways.get(m.id))
                .find_map(|w| {
                    ["speed_limit", "subtype"].iter().filter_map(|k| w.tags.get(k)).find_map(|v| parse_speed(v))
                });
            if from_sign.is_some() {
                return from_sign;
            }
            cx.warn(format!("lanelet {}: speed_limit element {} gives no readable speed", l.id, r.id));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &str) -> Option<String> {
        match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(_) => {
                eprintln!("note: {path} is not available; test skipped");
                None
            }
        }
    }

    fn opts(origin: Option<[f64; 2]>) -> ParseOptions {
        ParseOptions { file: "test.osm".into(), origin }
    }

    /// (lanelets, successor edges between motor-vehicle lanelets, all travel successor edges).
    fn topology(text: &str) -> (usize, usize, usize) {
        let doc = Document::parse(text).unwrap();
        let mut cx = Cx { file: String::new(), warnings: vec![] };
        let osm = cx.read_osm(doc.root_element()).unwrap();
        let frame = Frame::new(&osm, &opts(Some([0.0, 0.0])), &mut cx).unwrap();
        let ls = Lanelets::build(&osm, &frame, &mut cx);
        let motor = ls.lls.iter().map(|l| l.succs.iter().filter(|&&s| l.motor() && ls.lls[s].motor()).count()).sum();
        (ls.lls.len(), motor, ls.lls.iter().map(|l| l.succs.len()).sum())
    }

    fn check(n: &Network) {
        for l in &n.lanes {
            assert!(l.centre.len() >= 2 && l.centre.iter().flatten().all(|v| v.is_finite()), "lane {}", l.id);
            assert!(l.width_m.is_finite() && l.width_m > 0.0, "lane {}", l.id);
        }
        let ids: HashSet<&str> = n.lanes.iter().map(|l| l.id.as_str()).collect();
        let js: HashSet<&str> = n.junctions.iter().map(|j| j.id.as_str()).collect();
        for c in &n.connections {
            assert!(ids.contains(c.from.as_str()) && ids.contains(c.to.as_str()) && js.contains(c.junction.as_str()));
        }
        for c in &n.crosswalks {
            assert!(js.contains(c.junction.as_str()) && c.centre.len() >= 2 && c.width_m > 0.0);
        }
    }

    /// The lanelet at the end (start) of a chained lane id `first..last`.
    fn last(id: &str) -> &str {
        id.rsplit("..").next().unwrap_or(id)
    }
    fn first(id: &str) -> &str {
        id.split("..").next().unwrap_or(id)
    }

    const FZI: &str = "/work/shared/data/lanelet2/fzi_mapping_example.osm";
    const TOKYO: &str = "/work/shared/data/lanelet2/tier4_autoware_intersection_tokyo.osm";
    const K733: &str = "/work/shared/data/trajectories/taf-bw_k733_2020-09-15/k733_2020-09-15.osm";
    const K729: &str = "/work/shared/data/trajectories/taf-bw_k729_2022-03-16/k729_2022-03-16.osm";

    #[test]
    fn fzi_mapping_example() {
        let Some(text) = load(FZI) else { return };
        // 371 lanelets, 2 of them rail; successors by shared bound nodes (Lanelet2's routing graph has
        // 317 vehicle edges: it also links bidirectional lanelets backwards).
        assert_eq!(topology(&text), (369, 313, 321));
        let n = parse_lanelet2(&text, &opts(None)).unwrap();
        assert!(matches!(n.geo, GeoRef::Wgs84));
        assert_eq!(n.warnings.iter().filter(|w| w.contains("subtype \"rail\"")).count(), 2);
        // The one signalised intersection: its 10 approach lanelets reference the 6 traffic lights.
        let sig: Vec<&NetJunction> = n.junctions.iter().filter(|j| j.signalised).collect();
        assert_eq!(sig.len(), 1);
        let j = sig[0].id.as_str();
        // lanes are chains of lanelets (`first..last`): an incoming lane ends with the lanelet at the junction
        let mut incoming: Vec<&str> =
            n.lanes.iter().filter(|l| l.to_junction.as_deref() == Some(j)).map(|l| last(&l.id)).collect();
        incoming.sort_unstable();
        assert_eq!(
            incoming,
            ["44968", "44970", "44972", "45014", "45016", "45070", "45082", "45088", "45134", "45136"]
        );
        assert!(n.lanes.iter().filter(|l| l.to_junction.as_deref() == Some(j)).all(|l| l.stop_line));
        let conns: Vec<&NetConnection> = n.connections.iter().filter(|c| c.junction == j).collect();
        assert_eq!(conns.len(), 14);
        let lights: HashSet<&str> = conns.iter().filter_map(|c| c.signal.as_deref()).collect();
        assert_eq!(lights, HashSet::from(["45218", "45222", "45224", "45226", "45232", "45234"]));
        assert!(conns.iter().all(|c| c.signal.is_some()));
        let sig_of = |from: &str| conns.iter().find(|c| last(&c.from) == from).and_then(|c| c.signal.as_deref());
        assert_eq!((sig_of("44972"), sig_of("44968")), (Some("45222"), Some("45224")));
        // 8 crosswalk lanelets: 3 at this junction, 5 elsewhere (warned).
        let cw: Vec<&str> = n.crosswalks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(cw, ["44986", "45170", "45174"]);
        assert!(n.crosswalks.iter().all(|c| c.junction == j));
        assert_eq!(n.warnings.iter().filter(|w| w.starts_with("crosswalk lanelet")).count(), 5);
        // 91 travel lanelets are tagged one_way=no.
        assert_eq!(n.warnings.iter().filter(|w| w.contains("one_way=no")).count(), 91);
        check(&n);
    }

    #[test]
    fn tier4_autoware_tokyo() {
        let Some(text) = load(TOKYO) else { return };
        assert_eq!(topology(&text), (62, 57, 57));
        let n = parse_lanelet2(&text, &opts(None)).unwrap();
        assert!(matches!(n.geo, GeoRef::Wgs84));
        // road_marking only warns (twice, one per element); nothing else is lost.
        assert_eq!(n.warnings.len(), 2, "{:?}", n.warnings);
        assert!(n.warnings.iter().all(|w| w.contains("road_marking")));
        // Two Autoware intersection areas; the signalised one has 14 movements, each behind one of
        // 12 vehicle traffic lights; the other 2 pedestrian lights are on crosswalks.
        let ids: Vec<(&str, bool)> = n.junctions.iter().map(|j| (j.id.as_str(), j.signalised)).collect();
        assert_eq!(ids, [("area:4132", true), ("area:4133", false)]);
        let main: Vec<&NetConnection> = n.connections.iter().filter(|c| c.junction == "area:4132").collect();
        assert_eq!(main.len(), 14);
        assert!(main.iter().all(|c| c.signal.is_some() && c.maneuver.is_some()));
        let vehicle_lights: HashSet<&str> = main.iter().filter_map(|c| c.signal.as_deref()).collect();
        assert_eq!(vehicle_lights.len(), 12);
        let c = main.iter().find(|c| last(&c.from) == "648" && first(&c.to) == "657").unwrap();
        assert_eq!((c.signal.as_deref(), c.maneuver), (Some("10141"), Some(Maneuver::Straight)));
        assert_eq!(n.connections.iter().filter(|c| c.junction == "area:4133").count(), 2);
        let cw: Vec<(&str, &str, Option<&str>)> =
            n.crosswalks.iter().map(|c| (c.id.as_str(), c.junction.as_str(), c.signal.as_deref())).collect();
        assert_eq!(
            cw,
            [
                ("1994", "area:4132", Some("10424")),
                ("2030", "area:4133", None),
                ("2036", "area:4132", Some("10455")),
                ("2037", "area:4132", Some("10455"))
            ]
        );
        // speed_limit tags (km/h).
        let speed = |id: &str| n.lanes.iter().find(|l| last(&l.id) == id).and_then(|l| l.speed_kph);
        assert_eq!((speed("654"), speed("648")), (Some(30.0), Some(50.0)));
        // right_of_way (referenced from the lanelet with priority, Autoware style): the right turns
        // through 571, 572, 652, 653 give way to oncoming traffic
        let yielding = main.iter().filter(|c| c.yields).count();
        assert!(yielding >= 4, "{yielding}");
        // 40 lanelets outside the areas, chained one to one into 23 lanes
        assert_eq!(n.lanes.len(), 23);
        check(&n);
    }

    #[test]
    fn taf_bw_k733() {
        let Some(text) = load(K733) else { return };
        assert_eq!(topology(&text), (38, 33, 33));
        // Its lat/lon are real: around the K733 origin 49.005306, 8.4374089.
        let n = parse_lanelet2(&text, &opts(None)).unwrap();
        assert!(matches!(n.geo, GeoRef::Wgs84));
        for p in n.lanes.iter().flat_map(|l| l.centre.iter()) {
            assert!((p[1] - 49.005306).abs() < 0.002 && (p[0] - 8.437_408_9).abs() < 0.002, "{p:?}");
        }
        // No regulatory elements: one unsignalised junction, OSM `maxspeed` tags give speeds.
        assert_eq!(n.junctions.len(), 1);
        assert!(!n.junctions[0].signalised);
        assert_eq!(n.connections.len(), 15);
        assert_eq!(n.lanes.len(), 18);
        assert!(n.lanes.iter().all(|l| matches!(l.speed_kph, Some(v) if v == 50.0 || v == 60.0)));
        // its two slip lanes are drawn apart from their neighbours: named, not silently lost
        assert_eq!(n.warnings.len(), 2, "{:?}", n.warnings);
        assert!(n.warnings[0].starts_with("lanelet -104341: lies in a junction but has no predecessor"));
        assert!(n.warnings[1].starts_with("lanelet -104342: dangling"));
        check(&n);
        if let Some(text) = load(K729) {
            assert_eq!(topology(&text).1, 30);
        }
    }

    /// A synthetic plain Lanelet2 map: a 4-way crossing of an eastbound and a northbound road
    /// about (49.0 N, 8.4 E), metres converted with the WGS84 radii there.
    struct Map {
        xml: String,
        nodes: HashMap<(i64, i64), i64>,
        next: i64,
    }

    impl Map {
        fn new() -> Self {
            Map { xml: String::new(), nodes: HashMap::new(), next: 1000 }
        }
        fn node(&mut self, x: f64, y: f64) -> i64 {
            let key = ((x * 100.0).round() as i64, (y * 100.0).round() as i64);
            if let Some(&id) = self.nodes.get(&key) {
                return id;
            }
            let (lat0, s) = (49.0_f64, 49.0_f64.to_radians().sin());
            let w = (1.0 - WGS84_E2 * s * s).sqrt();
            let (m, nc) = (WGS84_A * (1.0 - WGS84_E2) / (w * w * w), WGS84_A / w * lat0.to_radians().cos());
            let (lat, lon) = (lat0 + (y / m).to_degrees(), 8.4 + (x / nc).to_degrees());
            self.next += 1;
            self.xml += &format!("<node id='{}' lat='{lat:.10}' lon='{lon:.10}'/>\n", self.next);
            self.nodes.insert(key, self.next);
            self.next
        }
        fn way(&mut self, pts: &[(f64, f64)], tags: &str) -> i64 {
            let ids: Vec<i64> = pts.iter().map(|&(x, y)| self.node(x, y)).collect();
            self.next += 1;
            let nds: String = ids.iter().map(|i| format!("<nd ref='{i}'/>")).collect();
            self.xml += &format!("<way id='{}'>{nds}{tags}</way>\n", self.next);
            self.next
        }
        fn lanelet(&mut self, id: i64, left: &[(f64, f64)], right: &[(f64, f64)], extra: &str) {
            let (l, r) = (self.way(left, ""), self.way(right, ""));
            self.xml += &format!(
                "<relation id='{id}'><member type='way' ref='{l}' role='left'/><member type='way' ref='{r}' role='right'/>\
                 <tag k='type' v='lanelet'/>{extra}</relation>\n"
            );
        }
    }

    fn crossing() -> String {
        let mut m = Map::new();
        let road = "<tag k='subtype' v='road'/><tag k='speed_limit' v='50'/>";
        // Eastbound lanes (left bound y = 0, right bound y = -3) and northbound (left x = 0, right x = 3).
        let east = |x0: f64, x1: f64| ([(x0, 0.0), (x1, 0.0)], [(x0, -3.0), (x1, -3.0)]);
        let north = |y0: f64, y1: f64| ([(0.0, y0), (0.0, y1)], [(3.0, y0), (3.0, y1)]);
        let (l, r) = east(-50.0, -10.0);
        m.lanelet(1, &l, &r, &format!("{road}<member type='relation' ref='100' role='regulatory_element'/>"));
        let (l, r) = east(-10.0, 10.0);
        m.lanelet(2, &l, &r, road);
        // Lanelet 3's right bound is stored backwards: alignment must fix it.
        let (l, r) = east(10.0, 50.0);
        m.lanelet(
            3,
            &l,
            &[r[1], r[0]],
            &format!("{road}<member type='relation' ref='101' role='regulatory_element'/>"),
        );
        // The northbound road gives way (right_of_way 102, referenced from the yielding lanelet).
        let (l, r) = north(-50.0, -10.0);
        m.lanelet(4, &l, &r, &format!("{road}<member type='relation' ref='102' role='regulatory_element'/>"));
        let (l, r) = north(-10.0, 10.0);
        m.lanelet(5, &l, &r, road);
        let (l, r) = north(10.0, 50.0);
        m.lanelet(6, &l, &r, road);
        // A crosswalk over lane 3, walked northwards.
        m.lanelet(7, &[(20.0, -4.0), (20.0, 1.0)], &[(24.0, -4.0), (24.0, 1.0)], "<tag k='subtype' v='crosswalk'/>");
        let stop = m.way(&[(-10.0, 0.0), (-10.0, -3.0)], "<tag k='type' v='stop_line'/>");
        let light = m.way(&[(-9.0, 2.0), (-9.0, 2.5)], "<tag k='type' v='traffic_light'/>");
        m.xml += &format!(
            "<relation id='100'><member type='way' ref='{stop}' role='ref_line'/><member type='way' ref='{light}' role='refers'/>\
             <tag k='type' v='regulatory_element'/><tag k='subtype' v='traffic_light'/></relation>\n\
             <relation id='101'><tag k='type' v='regulatory_element'/><tag k='subtype' v='road_marking'/></relation>\n\
             <relation id='102'><member type='relation' ref='4' role='yield'/><member type='relation' ref='1' role='right_of_way'/>\
             <tag k='type' v='regulatory_element'/><tag k='subtype' v='right_of_way'/></relation>\n"
        );
        format!("<?xml version='1.0'?><osm version='0.6'>\n{}</osm>", m.xml)
    }

    #[test]
    fn synthetic_crossing() {
        let n = parse_lanelet2(&crossing(), &opts(None)).unwrap();
        assert_eq!(n.warnings, ["regulatory element 101: subtype \"road_marking\" is not mapped; ignored"]);
        let lanes: Vec<&str> = n.lanes.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(lanes, ["1", "3", "4", "6"]);
        assert_eq!(n.junctions.len(), 1);
        let j = &n.junctions[0];
        assert_eq!((j.id.as_str(), j.signalised), ("ll:2", true));
        let c: Vec<(&str, &str, Option<&str>)> =
            n.connections.iter().map(|c| (c.from.as_str(), c.to.as_str(), c.signal.as_deref())).collect();
        assert_eq!(c, [("1", "3", Some("100")), ("4", "6", None)]);
        assert_eq!(n.connections.iter().map(|c| c.yields).collect::<Vec<_>>(), [false, true]);
        // the builder gives the yielding lane the always-yield manoeuvre
        let (m, _) = super::super::build(&n, &Default::default()).unwrap();
        let x = &m.intersections[0];
        let from4 = x.connections.iter().find(|c| c.signal_group.is_none()).unwrap().from;
        let lane4 = x.lanes.iter().find(|l| l.id == from4).unwrap();
        assert_eq!(lane4.maneuvers, [crate::model::Maneuver::Yield]);
        assert!(x.lanes.iter().filter(|l| l.id != from4).all(|l| l.maneuvers.is_empty()));
        let l1 = &n.lanes[0];
        assert_eq!((l1.to_junction.as_deref(), l1.from_junction.as_deref(), l1.stop_line), (Some("ll:2"), None, true));
        assert_eq!(l1.speed_kph, Some(50.0));
        assert!(!n.lanes[2].stop_line);
        let l3 = &n.lanes[1];
        assert_eq!(l3.from_junction.as_deref(), Some("ll:2"));
        assert!((l3.width_m - 3.0).abs() < 1e-3, "{}", l3.width_m);
        // Eastbound, 1.5 m south of the y = 0 line.
        let (a, b) = (l3.centre[0], l3.centre[l3.centre.len() - 1]);
        assert!(b[0] > a[0] && (a[1] - b[1]).abs() < 1e-9);
        assert_eq!(n.crosswalks.len(), 1);
        let cw = &n.crosswalks[0];
        assert_eq!((cw.id.as_str(), cw.junction.as_str()), ("7", "ll:2"));
        assert!((cw.width_m - 4.0).abs() < 1e-3);
        assert!(cw.centre[1][1] > cw.centre[0][1]);
        check(&n);
    }

    #[test]
    fn fake_frame_needs_origin() {
        // INTERACTION style: the same kind of map placed about lat/lon (0, 0).
        let nodes = "<node id='1' lat='0.001' lon='0.001'/><node id='2' lat='0.001' lon='0.0012'/>\
                     <node id='3' lat='0.00097' lon='0.001'/><node id='4' lat='0.00097' lon='0.0012'/>";
        let text = format!(
            "<osm>{nodes}<way id='10'><nd ref='1'/><nd ref='2'/></way><way id='11'><nd ref='3'/><nd ref='4'/></way>\
             <relation id='20'><member type='way' ref='10' role='left'/><member type='way' ref='11' role='right'/>\
             <tag k='type' v='lanelet'/></relation></osm>"
        );
        match parse_lanelet2(&text, &opts(None)) {
            Err(ImportError::NoGeoReference { message, .. }) => assert!(message.contains("fake"), "{message}"),
            other => panic!("{other:?}"),
        }
        let n = parse_lanelet2(&text, &opts(Some([49.0, 8.4]))).unwrap();
        assert!(matches!(n.geo, GeoRef::Local { origin } if origin == [49.0, 8.4]));
        // UTM zone 31 minus UTM(0, 0): (0.001°, 0.001°) is (111.4287, 110.6827) m (Krüger series by hand);
        // the lane centre starts half way between it and (0.00097°, 0.001°).
        let p = n.lanes[0].centre[0];
        let south = 110.6827 * 0.97;
        assert!((p[0] - 111.4287).abs() < 0.01 && (p[1] - (110.6827 + south) / 2.0).abs() < 0.01, "{p:?}");
        // Autoware local_x/local_y are used when every node has them.
        let mut local = text.clone();
        for (id, x, y) in [(1, 5, 10), (2, 25, 10), (3, 5, 7), (4, 25, 7)] {
            let tags = format!("<tag k='local_x' v='{x}'/><tag k='local_y' v='{y}'/>");
            let start = local.find(&format!("<node id='{id}'")).unwrap();
            let end = start + local[start..].find("/>").unwrap();
            local.replace_range(end..end + 2, &format!(">{tags}</node>"));
        }
        let n = parse_lanelet2(&local, &opts(Some([49.0, 8.4]))).unwrap();
        assert_eq!(n.lanes[0].centre[0], [5.0, 8.5]);
    }

    #[test]
    fn malformed_input_never_panics() {
        let text = crossing();
        let bad = text.replacen("lat='49", "lat='4x9", 1);
        match parse_lanelet2(&bad, &opts(None)) {
            Err(ImportError::Parse { message, .. }) => assert!(message.contains("node 1001"), "{message}"),
            other => panic!("{other:?}"),
        }
        // A way pointing at a missing node, a lanelet at a missing way, a missing regulatory element.
        let holes = text
            .replacen("<nd ref='1001'/>", "<nd ref='1001'/><nd ref='999999'/>", 1)
            .replacen("ref='100' role='regulatory_element'", "ref='555' role='regulatory_element'", 1)
            .replacen("<relation id='4'>", "<relation id='4'><member type='way' ref='424242' role='left'/>", 1);
        let n = parse_lanelet2(&holes, &opts(None)).unwrap();
        assert!(n.warnings.iter().any(|w| w.contains("999999")), "{:?}", n.warnings);
        assert!(n.warnings.iter().any(|w| w.contains("555")), "{:?}", n.warnings);
        assert!(n.warnings.iter().any(|w| w.contains("lanelet 4: not exactly one left way")), "{:?}", n.warnings);
        for cut in (0..text.len()).step_by(11) {
            let _ = parse_lanelet2(&text[..cut], &opts(None));
        }
        assert!(matches!(parse_lanelet2("<OpenDRIVE/>", &opts(None)), Err(ImportError::Parse { .. })));
    }
}
