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
//!   skipped with a warning.  A travel lanelet tagged `one_way=no` is imported
//!   in its own direction only, with a warning.
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
//!   contains `stop` or starts with `de206`/`r1` marks a stop line),
//!   `all_way_stop` and Autoware's `crosswalk` are understood; any other
//!   subtype (Autoware `road_marking`, `detection_area`, …) is warned about
//!   once and otherwise ignored.
//!
//! # Intersections (Lanelet2 has no intersection object)
//!
//! A junction is a connected cluster of *internal* lanelets:
//!
//! 1. Two motor-vehicle lanelets (Vehicle, Bus) that are not each other's
//!    predecessor/successor *conflict* when their centre lines cross at a
//!    point that is not within 1 m of an end of both (so lanelets that merge
//!    or diverge at a shared end do not conflict).  Both are internal.
//! 2. Autoware: a lanelet tagged `turn_direction` or `intersection_area` is
//!    internal.
//! 3. Repeated until nothing changes: a Vehicle/Bus lanelet is internal when
//!    it shares its start with an internal lanelet (another successor of one
//!    of its predecessors) and its end with an internal lanelet (another
//!    predecessor of one of its successors) — a right turn that only merges —
//!    or when all its predecessors and all its successors are internal.
//! 4. A bicycle lanelet that crosses an internal lanelet, or whose
//!    predecessors and successors are all internal, is internal.
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
//! Explicit `centerline` members; areas (multipolygons); the reverse
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
    ls.find_junctions(&mut cx);
    Ok(ls.network(&osm, &frame, cx))
}

// ---------------------------------------------------------------------------
// Raw OSM
// ---------------------------------------------------------------------------

struct RawNode {
    lat: f64,
    lon: f64,
    local: Option<[f64; 2]>,
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
            nodes.insert(id, RawNode { lat, lon, local });
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
                    Some(Member { kind: m.attribute("type")?, id: m.attribute("ref")?, role: m.attribute("role").unwrap_or("") })
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
    Local { origin: [f64; 2], use_local_tags: bool, utm: Option<Box<(proj4rs::proj::Proj, proj4rs::proj::Proj)>> },
}

const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 6.694_379_990_141_316e-3;
/// UTM zone 31 easting of (0°, 0°).
fn utm31(lat: f64, lon: f64, p: &(proj4rs::proj::Proj, proj4rs::proj::Proj)) -> Option<[f64; 2]> {
    let mut q = (lon.to_radians(), lat.to_radians(), 0.0);
    proj4rs::transform::transform(&p.0, &p.1, &mut q).ok()?;
    (q.0.is_finite() && q.1.is_finite()).then_some([q.0, q.1])
}

impl Frame {
    fn new(osm: &Osm, opts: &ParseOptions, cx: &mut Cx) -> Result<Self, ImportError> {
        let n = osm.nodes.len().max(1) as f64;
        let fake = !osm.nodes.is_empty() && osm.nodes.values().all(|p| p.lat.abs() < FAKE_DEG && p.lon.abs() < FAKE_DEG);
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
            let src = proj4rs::proj::Proj::from_proj_string("+proj=longlat +ellps=WGS84 +datum=WGS84 +no_defs").map_err(err)?;
            let dst = proj4rs::proj::Proj::from_proj_string("+proj=utm +zone=31 +ellps=WGS84 +datum=WGS84 +units=m +no_defs")
                .map_err(|e| cx.err(format!("UTM zone 31 projection: {e}")))?;
            cx.warn(format!(
                "fake lat/lon about (0, 0) turned into metres (UTM zone 31 minus UTM of (0, 0)) about the given origin {origin:?}"
            ));
            Some(Box::new((src, dst)))
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
                let o = utm31(0.0, 0.0, u)?;
                let q = utm31(p.lat, p.lon, u)?;
                Some([q[0] - o[0], q[1] - o[1]])
            }
            Frame::Local { .. } => None,
        }
    }

    /// A metric point in the network frame.
    fn out(&self, p: [f64; 2]) -> [f64; 2] {
        match self {
            Frame::Wgs84 { lat0, lon0, m, n_cos } => [lon0 + (p[0] / n_cos).to_degrees(), lat0 + (p[1] / m).to_degrees()],
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
        let mut warned_subtypes: HashSet<&str> = HashSet::new();
        for r in osm.rels.iter().filter(|r| r.tag("type") == Some("regulatory_element")) {
            let st = r.tag("subtype").unwrap_or("");
            match st {
                "traffic_light" | "right_of_way" | "speed_limit" | "traffic_sign" | "all_way_stop" | "crosswalk" => {}
                _ => {
                    cx.warn(format!("regulatory element {}: subtype \"{st}\" is not mapped; ignored", r.id));
                    warned_subtypes.insert(st);
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
                cx.warn(format!("{what}: bound way {left} or {right} is missing or has fewer than 2 usable nodes; skipped"));
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
            if kind != Kind::Crosswalk && kind != Kind::Sidewalk && r.tag("one_way").is_some_and(|v| v == "no" || v == "false")
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

    fn reg_subtype(&self, id: &str) -> &str {
        self.regs.get(id).and_then(|r| r.tag("subtype")).unwrap_or("")
    }

    fn find_junctions(&mut self, _cx: &mut Cx) {
        let n = self.lls.len();
        let mut dsu = Dsu((0..n).collect());
        // 1. Conflicts between motor-vehicle lanelets.
        for i in 0..n {
            if !self.lls[i].motor() {
                continue;
            }
            for j in i + 1..n {
                let (a, b) = (&self.lls[i], &self.lls[j]);
                if !b.motor() || !bbox_overlap(&a.bbox, &b.bbox) || a.succs.contains(&j) || a.preds.contains(&j) {
                    continue;
                }
                if crossings(&a.centre, &b.centre).into_iter().any(|p| a.interior(p) || b.interior(p)) {
                    self.lls[i].internal = true;
                    self.lls[j].internal = true;
                    dsu.union(i, j);
                }
            }
        }
        // 2. Autoware tags.
        let mut areas: HashMap<&str, usize> = HashMap::new();
        for i in 0..n {
            let l = &self.lls[i];
            if !l.travel() {
                continue;
            }
            if let Some(a) = l.tags.get("intersection_area") {
                self.lls[i].internal = true;
                match areas.get(a) {
                    Some(&k) => dsu.union(i, k),
                    None => {
                        areas.insert(a, i);
                    }
                }
            }
            if self.lls[i].tags.contains_key("turn_direction") {
                self.lls[i].internal = true;
            }
        }
        // 3. Merging turns and lanelets sandwiched between internal ones.
        loop {
            let mut changed = false;
            for i in 0..n {
                let l = &self.lls[i];
                if !l.motor() || l.internal || l.preds.is_empty() || l.succs.is_empty() {
                    continue;
                }
                let int = |k: &usize| self.lls[*k].internal;
                let start_sib = l.preds.iter().flat_map(|&p| self.lls[p].succs.iter()).any(|k| *k != i && int(k));
                let end_sib = l.succs.iter().flat_map(|&s| self.lls[s].preds.iter()).any(|k| *k != i && int(k));
                let sandwich = l.preds.iter().all(int) && l.succs.iter().all(int);
                if (start_sib && end_sib) || sandwich {
                    self.lls[i].internal = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // 4. Bicycle lanelets.
        for i in 0..n {
            let l = &self.lls[i];
            if l.kind != Kind::Travel(LaneType::Bike) || l.internal {
                continue;
            }
            let int = |k: &usize| self.lls[*k].internal;
            let mut hit = None;
            for (j, o) in self.lls.iter().enumerate() {
                if o.internal && o.motor() && bbox_overlap(&l.bbox, &o.bbox) {
                    if crossings(&l.centre, &o.centre).into_iter().any(|p| l.interior(p) || o.interior(p)) {
                        hit = Some(j);
                        break;
                    }
                }
            }
            let sandwich = !l.preds.is_empty() && !l.succs.is_empty() && l.preds.iter().all(int) && l.succs.iter().all(int);
            if let Some(j) = hit {
                self.lls[i].internal = true;
                dsu.union(i, j);
            } else if sandwich {
                self.lls[i].internal = true;
            }
        }
        // Clusters: chains and shared starts/ends of internal lanelets.
        for i in 0..n {
            if !self.lls[i].internal {
                continue;
            }
            for &s in &self.lls[i].succs {
                if self.lls[s].internal {
                    dsu.union(i, s);
                }
                for &k in &self.lls[s].preds {
                    if self.lls[k].internal {
                        dsu.union(i, k);
                    }
                }
            }
            for &p in &self.lls[i].preds {
                for &k in &self.lls[p].succs {
                    if self.lls[k].internal {
                        dsu.union(i, k);
                    }
                }
            }
        }
        if let Ok(v) = std::env::var("LLDBG") { for l in &self.lls { let near = |p: [f64; 2]| std::env::var("LLNEAR").ok().is_some_and(|n| { let v: Vec<f64> = n.split(',').map(|x| x.parse().unwrap()).collect(); l.centre.iter().any(|q| dist(*q, [v[0], v[1]]) < v[2]) && p[0].is_finite() }); if v.split(',').any(|x| x == l.id) || near(l.centre[0]) { eprintln!("DBG {} internal={} preds={:?} succs={:?} start={:?} end={:?} c0={:?} c1={:?}", l.id, l.internal, l.preds.iter().map(|&k| self.lls[k].id).collect::<Vec<_>>(), l.succs.iter().map(|&k| self.lls[k].id).collect::<Vec<_>>(), l.start, l.end, l.centre[0], l.centre[l.centre.len()-1]); } } }
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
            let members: Vec<&Ll> = (0..n).filter(|&i| self.cluster[i] == Some(c)).map(|i| &self.lls[i]).collect();
            *id = match members.iter().find_map(|l| l.tags.get("intersection_area")) {
                Some(a) => format!("area:{a}"),
                None => {
                    let min = members
                        .iter()
                        .map(|l| l.id)
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
                    let traffic_light = |x: usize| {
                        self.lls[x].regs.iter().copied().find(|r| self.reg_subtype(r) == "traffic_light")
                    };
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
                    connections.push(NetConnection {
                        junction: self.junction_ids[c.unwrap_or(0)].clone(),
                        from: l.id.to_string(),
                        to: sl.id.to_string(),
                        maneuver,
                        signal: signal.map(String::from),
                    });
                }
            }
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
                to_junction,
                from_junction,
                stop_line,
            });
        }
        // Junctions.
        let mut junctions = Vec::new();
        for (c, id) in self.junction_ids.iter().enumerate() {
            let mids: Vec<[f64; 2]> =
                (0..n).filter(|&i| self.cluster[i] == Some(c)).map(|i| middle(&self.lls[i].centre)).collect();
            let k = mids.len().max(1) as f64;
            let centre = [mids.iter().map(|p| p[0]).sum::<f64>() / k, mids.iter().map(|p| p[1]).sum::<f64>() / k];
            let signalised = connections.iter().any(|x| &x.junction == id && x.signal.is_some());
            junctions.push(NetJunction { id: id.clone(), signalised, centre: Some(frame.out(centre)), name: None });
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
        Network { geo: frame.geo(), lanes, connections, junctions, crosswalks, warnings: cx.warnings }
    }

    fn is_stop_sign(&self, reg: &str, osm: &Osm) -> bool {
        let Some(r) = self.regs.get(reg) else { return false };
        let stopish = |s: &str| {
            let s = s.to_ascii_lowercase();
            s.contains("stop") || s.starts_with("de206") || s.starts_with("r1-1")
        };
        r.tags.values().any(|v| stopish(v) && *v != "traffic_sign")
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
            if let Some(s) = ["speed_limit", "max_speed", "sign_type"].iter().filter_map(|k| r.tag(k)).find_map(parse_speed) {
                return Some(s);
            }
            let from_sign = r
                .members
                .iter()
                .filter(|m| m.role == "refers" && m.kind == "way")
                .filter_map(|m| osm.ways.get(m.id))
                .find_map(|w| ["speed_limit", "subtype"].iter().filter_map(|k| w.tags.get(k)).find_map(|v| parse_speed(v)));
            if from_sign.is_some() {
                return from_sign;
            }
            cx.warn(format!("lanelet {}: speed_limit element {} gives no readable speed", l.id, r.id));
        }
        None
    }
}
