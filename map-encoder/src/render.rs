//! Drawing an intersection file to scale, as SVG and PNG, so that an engineer
//! can check a map by looking at it.
//!
//! Owns: turning a parsed [`MapFile`] into a picture: lanes at their true
//! width coloured by type, stop lines, connection arrows coloured by signal
//! group, crosswalks, work zones, reference points, scale bar, north arrow,
//! title and legend; and rasterising such an SVG to PNG.  Must not: validate
//! (that is [`crate::validate`]), encode messages, or read or write files.
//!
//! All intersections of a file are drawn in one frame: metres east/north of
//! the first intersection's reference point, other intersections' local
//! points carried over through WGS84.  North is up.  Odd input (lanes without
//! points, one-point lanes, non-finite numbers, unknown lane ids) never
//! panics: what cannot be drawn is left out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};
use svg::node::element::path::Data;
use svg::node::element::{Circle, Definitions, Group, Line, Path, Pattern, Polygon, Polyline, Rectangle, Text, Title};
use svg::Document;

use crate::geo::LocalFrame;
use crate::geometry::{self, P2};
use crate::model::{Direction, Intersection, Lane, LaneType, Maneuver, MapFile, SignalKind, Target};

/// How to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Width of the picture in pixels; the height follows from the content.
    /// Clamped to 200..=16384.
    pub width_px: u32,
    /// Draw lane ids, signal-group numbers on the arrows and work-zone texts.
    pub show_labels: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { width_px: 1200, show_labels: true }
    }
}

/// A failure to rasterise an SVG.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The SVG text could not be read.
    #[error("cannot read the SVG: {0}")]
    Svg(#[from] usvg::Error),
    /// The picture has no area or is too large to rasterise.
    #[error("cannot rasterise a {width}x{height} px picture (at most {MAX_PIXELS} pixels)")]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The PNG encoder failed.
    #[error("cannot encode the PNG: {0}")]
    Png(String),
}

/// Largest picture [`render_png`] rasterises (width times height).
pub const MAX_PIXELS: u64 = 100_000_000;

/// Coordinates farther than this from the first reference point (metres) are
/// taken as garbage and skipped.
const MAX_COORD_M: f64 = 1.0e7;

const FONT_FAMILY: &str = "DejaVu Sans, Liberation Sans, Noto Sans, Arial, Helvetica, sans-serif";
const MARGIN: f64 = 20.0;
const TITLE_H: f64 = 56.0;
const HALO: &str = "#1a1a1a";
const UNSIGNALISED: &str = "#ffffff";
const WORK_ZONE: &str = "#ff8c00";
/// Lanes narrower than this on the page (pixels) get no id label.
const MIN_LABEL_LANE_PX: f64 = 7.0;
/// Below this scale (pixels per metre) arrows get no signal-group number.
const MIN_ARROW_LABEL_SCALE: f64 = 2.5;

/// Signal-group colours, given to the file's signal-group ids in ascending
/// order (so a file always draws the same way).  No greys (the roads are
/// grey) and no orange (work zones are orange).
const PALETTE: [&str; 18] = [
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990",
    "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075",
];

// ---------------------------------------------------------------------------
// Scene: everything in metres in the common frame.
// ---------------------------------------------------------------------------

/// Maps an intersection's local metres into the common frame.
struct Carry {
    frame: LocalFrame,
    /// `None` for the first intersection (identity).
    base: Option<LocalFrame>,
}

impl Carry {
    fn common(&self, p: P2) -> P2 {
        match &self.base {
            None => p,
            Some(base) => {
                let g = self.frame.en_to_geodetic(p.x, p.y);
                let v = base.to_local(g);
                P2::new(v.x, v.y)
            }
        }
    }
}

struct LaneGeom<'a> {
    lane: &'a Lane,
    /// Cleaned centre line in the common frame (may be empty or one point).
    pts: Vec<P2>,
    /// Width in metres, sanitised.
    width: f64,
    /// Unique element id.
    elem_id: String,
}

impl LaneGeom<'_> {
    /// The end at the intersection (ingress: last point; otherwise the first)
    /// and the travel direction there.
    fn stop_end(&self) -> Option<(P2, P2)> {
        let n = self.pts.len();
        if n < 2 {
            return None;
        }
        Some((self.pts[n - 1], unit(self.pts[n - 1] - self.pts[n - 2])?))
    }
    fn start_end(&self) -> Option<(P2, P2)> {
        if self.pts.len() < 2 {
            return None;
        }
        Some((self.pts[0], unit(self.pts[1] - self.pts[0])?))
    }
    /// The end nearer the intersection, by direction.
    fn junction_end(&self) -> Option<(P2, P2)> {
        match self.lane.direction {
            Direction::Ingress => self.stop_end(),
            _ => self.start_end(),
        }
    }
}

struct XGeom<'a> {
    x: &'a Intersection,
    /// The reference point in the common frame.
    origin: Option<P2>,
    lanes: Vec<LaneGeom<'a>>,
    /// Lane id -> index into `lanes` (first lane with that id).
    by_id: HashMap<u8, usize>,
}

impl XGeom<'_> {
    fn lane(&self, id: u8) -> Option<&LaneGeom<'_>> {
        self.by_id.get(&id).map(|&i| &self.lanes[i])
    }
}

fn finite_pt(p: P2) -> bool {
    p.x.is_finite() && p.y.is_finite() && p.x.abs() < MAX_COORD_M && p.y.abs() < MAX_COORD_M
}

fn clean(pts: impl IntoIterator<Item = P2>) -> Vec<P2> {
    let mut out: Vec<P2> = Vec::new();
    for p in pts {
        if !finite_pt(p) {
            continue;
        }
        if out.last().is_some_and(|q| (p - q).norm() < 1e-6) {
            continue;
        }
        out.push(p);
    }
    out
}

fn unit(v: P2) -> Option<P2> {
    let l = v.norm();
    (l.is_finite() && l > 1e-9).then(|| v / l)
}

/// Left normal of a direction (east/north frame).
fn left(d: P2) -> P2 {
    P2::new(-d.y, d.x)
}

fn cross(a: P2, b: P2) -> f64 {
    a.x * b.y - a.y * b.x
}

fn sane_width(w: f64) -> f64 {
    if w.is_finite() && w > 0.05 {
        w.min(50.0)
    } else {
        0.5
    }
}

fn build_scene(m: &MapFile) -> Vec<XGeom<'_>> {
    let base = m.intersections.first().map(geometry::frame);
    let mut used_ids = HashSet::new();
    m.intersections
        .iter()
        .enumerate()
        .map(|(xi, x)| {
            let frame = geometry::frame(x);
            let carry = Carry { frame, base: if xi == 0 { None } else { base } };
            let origin = Some(carry.common(P2::new(0.0, 0.0))).filter(|p| finite_pt(*p));
            let mut by_id = HashMap::new();
            let lanes: Vec<LaneGeom<'_>> = x
                .lanes
                .iter()
                .enumerate()
                .map(|(li, lane)| {
                    by_id.entry(lane.id).or_insert(li);
                    let pts = clean(
                        geometry::centreline(&frame, lane)
                            .into_iter()
                            .filter(|p| finite_pt(*p))
                            .map(|p| carry.common(p)),
                    );
                    let mut elem_id = format!("lane-{}-{}", x.id, lane.id);
                    if !used_ids.insert(elem_id.clone()) {
                        elem_id = format!("lane-{}-{}-{}", x.id, lane.id, li);
                        used_ids.insert(elem_id.clone());
                    }
                    LaneGeom { lane, pts, width: sane_width(lane.width_m), elem_id }
                })
                .collect();
            XGeom { x, origin, lanes, by_id }
        })
        .collect()
}

/// Left and right edges of a centre line `half` metres either side, as one
/// closed polygon (mitred joins, the miter limited to 4 half-widths).
fn outline(pts: &[P2], half: f64) -> Vec<P2> {
    let n = pts.len();
    if n < 2 {
        return Vec::new();
    }
    let mut l = Vec::with_capacity(n);
    let mut r = Vec::with_capacity(n);
    for i in 0..n {
        let prev = if i > 0 { unit(pts[i] - pts[i - 1]) } else { None };
        let next = if i + 1 < n { unit(pts[i + 1] - pts[i]) } else { None };
        let (nrm, scale) = match (prev, next) {
            (Some(a), Some(b)) => {
                let (na, nb) = (left(a), left(b));
                match unit(na + nb) {
                    Some(mu) => (mu, half / mu.dot(&na).max(0.25)),
                    None => (na, half),
                }
            }
            (Some(a), None) | (None, Some(a)) => (left(a), half),
            (None, None) => (P2::new(0.0, 1.0), half),
        };
        l.push(pts[i] + nrm * scale);
        r.push(pts[i] - nrm * scale);
    }
    l.extend(r.into_iter().rev());
    l
}

/// The point `d` metres along a polyline from its start, and the direction there.
fn along(pts: &[P2], d: f64) -> Option<(P2, P2)> {
    let mut rest = d.max(0.0);
    let mut last = None;
    for s in pts.windows(2) {
        let v = s[1] - s[0];
        let len = v.norm();
        let Some(u) = unit(v) else { continue };
        if rest <= len {
            return Some((s[0] + u * rest, u));
        }
        rest -= len;
        last = Some((s[1], u));
    }
    last
}

fn cubic_at(p: [P2; 4], t: f64) -> P2 {
    let u = 1.0 - t;
    p[0] * (u * u * u) + p[1] * (3.0 * u * u * t) + p[2] * (3.0 * u * t * t) + p[3] * (t * t * t)
}

/// Bezier controls of a connection from `p0` heading `d0` to `p3` heading `d3`.
fn connection_curve(p0: P2, d0: P2, p3: P2, d3: P2) -> [P2; 4] {
    let r = p3 - p0;
    let dist = r.norm();
    let det = cross(d0, d3);
    if det.abs() > 0.2 {
        // The corner where the two travel lines meet: a quadratic through it.
        let t = cross(r, d3) / det;
        let u = cross(d0, r) / det;
        if t > 0.0 && u > 0.0 && t < 3.0 * dist && u < 3.0 * dist {
            let c = p0 + d0 * t;
            return [p0, p0 + (c - p0) * (2.0 / 3.0), p3 + (c - p3) * (2.0 / 3.0), p3];
        }
    }
    let k = if d0.dot(&d3) < -0.5 { (dist * 1.2).max(6.0) } else { (dist * 0.4).max(2.0) };
    [p0, p0 + d0 * k, p3 - d3 * k, p3]
}

/// Signed turn from `a` to `b` in radians (left positive); U-turns count as
/// the leftmost turn.
fn turn_angle(a: P2, b: P2) -> f64 {
    let ang = cross(a, b).atan2(a.dot(&b));
    if ang < -0.95 * std::f64::consts::PI {
        ang + 2.0 * std::f64::consts::PI
    } else {
        ang
    }
}

/// One connection, ready to draw (metres, common frame).
struct ConnPlan {
    elem_id: String,
    from: u8,
    sg: Option<u8>,
    /// Text for the tooltip.
    what: String,
    curve: [P2; 4],
    remote_label: Option<String>,
}

fn plan_connections(xg: &XGeom<'_>) -> Vec<ConnPlan> {
    struct Raw {
        ci: usize,
        p0: P2,
        d0: P2,
        w0: f64,
        end: Option<(P2, P2, f64, u8)>,
        turn: f64,
    }
    let x = xg.x;
    let mut raws = Vec::new();
    for (ci, c) in x.connections.iter().enumerate() {
        let Some(from) = xg.lane(c.from) else {
            continue;
        };
        let Some((p0, d0)) =
            (if from.lane.direction == Direction::Egress { from.start_end() } else { from.stop_end() })
        else {
            continue;
        };
        match &c.to {
            Target::Lane(to) => {
                let Some(tl) = xg.lane(*to) else { continue };
                let Some((p3, d3)) =
                    (if tl.lane.direction == Direction::Ingress { tl.stop_end() } else { tl.start_end() })
                else {
                    continue;
                };
                raws.push(Raw {
                    ci,
                    p0,
                    d0,
                    w0: from.width,
                    end: Some((p3, d3, tl.width, *to)),
                    turn: turn_angle(d0, d3),
                });
            }
            Target::Remote { .. } => {
                let turn = match c.maneuver {
                    Maneuver::Left | Maneuver::LeftOnRed => std::f64::consts::FRAC_PI_2,
                    Maneuver::Right | Maneuver::RightOnRed => -std::f64::consts::FRAC_PI_2,
                    Maneuver::UTurn => std::f64::consts::PI,
                    _ => 0.0,
                };
                raws.push(Raw { ci, p0, d0, w0: from.width, end: None, turn });
            }
        }
    }
    // Fan the arrows out across the lane width where several start or end on
    // one lane, left turns on the left.
    let mut start_off = vec![0.0; raws.len()];
    let mut end_off = vec![0.0; raws.len()];
    let fan = |keys: Vec<(u8, usize)>, widths: &dyn Fn(usize) -> f64, out: &mut Vec<f64>| {
        let mut groups: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for (k, i) in keys {
            groups.entry(k).or_default().push(i);
        }
        for (_, mut idx) in groups {
            if idx.len() < 2 {
                continue;
            }
            idx.sort_by(|a, b| raws[*a].turn.total_cmp(&raws[*b].turn));
            let k = idx.len() as f64;
            let step = (0.5 * widths(idx[0]) / (k - 1.0)).min(1.2);
            for (j, i) in idx.iter().enumerate() {
                out[*i] = (j as f64 - (k - 1.0) / 2.0) * step;
            }
        }
    };
    fan(raws.iter().enumerate().map(|(i, r)| (x.connections[r.ci].from, i)).collect(), &|i| raws[i].w0, &mut start_off);
    fan(
        raws.iter().enumerate().filter_map(|(i, r)| r.end.map(|e| (e.3, i))).collect(),
        &|i| raws[i].end.map_or(3.0, |e| e.2),
        &mut end_off,
    );
    let mut used = HashSet::new();
    raws.iter()
        .enumerate()
        .map(|(i, r)| {
            let c = &x.connections[r.ci];
            let p0 = r.p0 + left(r.d0) * start_off[i];
            let (curve, to_text, remote_label) = match (&c.to, r.end) {
                (_, Some((p3, d3, _, to))) => {
                    let p3 = p3 + left(d3) * end_off[i];
                    (connection_curve(p0, r.d0, p3, d3), format!("lane {to}"), None)
                }
                (Target::Remote { intersection, region, lane }, None) => {
                    let d = P2::new(
                        r.turn.cos() * r.d0.x - r.turn.sin() * r.d0.y,
                        r.turn.sin() * r.d0.x + r.turn.cos() * r.d0.y,
                    );
                    let end = p0 + r.d0 * 6.0 + d * 8.0;
                    let curve = [p0, p0 + r.d0 * 6.0, end - d * 4.0, end];
                    let reg = region.map(|g| format!(" (region {g})")).unwrap_or_default();
                    let t = format!("intersection {intersection} lane {lane}{reg}");
                    (curve, t, Some(format!("{intersection} lane {lane}{reg}")))
                }
                (Target::Lane(to), None) => ([p0; 4], format!("lane {to}"), None),
            };
            let to_id = match &c.to {
                Target::Lane(to) => to.to_string(),
                Target::Remote { intersection, lane, .. } => format!("{intersection}-{lane}"),
            };
            let mut elem_id = format!("conn-{}-{}-{}", x.id, c.from, to_id);
            if !used.insert(elem_id.clone()) {
                elem_id = format!("{elem_id}-{}", r.ci);
                used.insert(elem_id.clone());
            }
            let sg_text = match c.signal_group {
                Some(g) => match x.signal_group(g).and_then(|s| s.name.as_deref()) {
                    Some(n) => format!("signal group {g} ({n})"),
                    None => format!("signal group {g}"),
                },
                None => "no signal group".into(),
            };
            ConnPlan {
                elem_id,
                from: c.from,
                sg: c.signal_group,
                what: format!("{}: lane {} -> {}, {:?}, {}", x.id, c.from, to_text, c.maneuver, sg_text),
                curve,
                remote_label,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Picture: pixels.
// ---------------------------------------------------------------------------

/// Metres (common frame) to pixels.
struct View {
    min_x: f64,
    max_y: f64,
    /// Pixels per metre.
    s: f64,
    ox: f64,
    oy: f64,
}

impl View {
    fn px(&self, p: P2) -> P2 {
        P2::new(self.ox + (p.x - self.min_x) * self.s, self.oy + (self.max_y - p.y) * self.s)
    }
    fn points(&self, pts: &[P2]) -> String {
        let mut s = String::with_capacity(pts.len() * 16);
        for p in pts {
            let q = self.px(*p);
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("{:.2},{:.2}", q.x, q.y));
        }
        s
    }
}

/// Round for attributes.
fn r2(x: f64) -> f64 {
    if x.is_finite() {
        (x * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Text safe for XML 1.0 and not too long.
fn clean_text(s: &str, max_chars: usize) -> String {
    let mut out: String =
        s.chars().filter(|c| !c.is_control() && *c != '\u{FFFE}' && *c != '\u{FFFF}').take(max_chars + 1).collect();
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
    }
    out
}

/// Rough width of a text in pixels (for layout only).
fn text_w(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

fn label(x: f64, y: f64, s: &str, size: f64) -> Text {
    Text::new(clean_text(s, 200)).set("x", r2(x)).set("y", r2(y)).set("font-size", r2(size))
}

/// A text with a light halo so that it reads on any background.
fn halo_label(x: f64, y: f64, s: &str, size: f64, fill: &str) -> Text {
    label(x, y, s, size)
        .set("fill", fill)
        .set("stroke", "#ffffff")
        .set("stroke-width", r2((size * 0.28).max(2.0)))
        .set("stroke-linejoin", "round")
        .set("paint-order", "stroke")
}

fn lane_fill(t: LaneType, d: Direction) -> &'static str {
    let shade = |i: &'static str, e: &'static str, b: &'static str| match d {
        Direction::Ingress => i,
        Direction::Egress => e,
        Direction::Both => b,
    };
    match t {
        LaneType::Vehicle => shade("#6e6e6e", "#8c8c8c", "#7c7c7c"),
        LaneType::Bus => shade("#a8443b", "#c8766d", "#b85b52"),
        LaneType::Bike => shade("#3b8a47", "#62ad6d", "#4e9c5a"),
        LaneType::Crosswalk => "#9a9a9a",
        LaneType::Sidewalk => shade("#d8d2c4", "#e2ddd1", "#ddd7ca"),
        LaneType::Parking => shade("#7f90a4", "#93a3b5", "#8999ad"),
    }
}

fn type_name(t: LaneType) -> &'static str {
    match t {
        LaneType::Vehicle => "vehicle",
        LaneType::Bus => "bus",
        LaneType::Bike => "bike",
        LaneType::Crosswalk => "crosswalk",
        LaneType::Sidewalk => "sidewalk",
        LaneType::Parking => "parking",
    }
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
        Direction::Both => "both",
    }
}

/// Colours of signal groups by id.
struct Palette {
    colour: BTreeMap<u8, &'static str>,
    permissive: HashSet<u8>,
}

impl Palette {
    fn new(m: &MapFile) -> Self {
        let mut ids = std::collections::BTreeSet::new();
        let mut permissive = HashSet::new();
        for x in &m.intersections {
            for g in &x.signal_groups {
                ids.insert(g.id);
                if g.kind == SignalKind::Permissive {
                    permissive.insert(g.id);
                }
            }
            ids.extend(x.connections.iter().filter_map(|c| c.signal_group));
            ids.extend(x.lanes.iter().filter_map(|l| l.signal_group));
        }
        let colour = ids.into_iter().enumerate().map(|(i, id)| (id, PALETTE[i % PALETTE.len()])).collect();
        Self { colour, permissive }
    }
    fn of(&self, sg: Option<u8>) -> &'static str {
        sg.and_then(|g| self.colour.get(&g).copied()).unwrap_or(UNSIGNALISED)
    }
}

/// Arrowhead triangle with its tip at `tip` pointing along `dir` (pixels).
fn arrowhead(tip: P2, dir: P2, len: f64, half_w: f64, fill: &str) -> Polygon {
    let d = unit(dir).unwrap_or(P2::new(1.0, 0.0));
    let n = P2::new(-d.y, d.x);
    let b = tip - d * len;
    let pts = [tip, b + n * half_w, b - n * half_w];
    let s = pts.iter().map(|p| format!("{:.2},{:.2}", p.x, p.y)).collect::<Vec<_>>().join(" ");
    Polygon::new()
        .set("points", s)
        .set("fill", fill)
        .set("stroke", HALO)
        .set("stroke-width", 0.8)
        .set("stroke-linejoin", "round")
}

/// A connection-style arrow along a cubic (pixels) in `colour`.
fn arrow(c: [P2; 4], colour: &str, dashed: bool, size: f64) -> Group {
    let data = Data::new().move_to((c[0].x, c[0].y)).cubic_curve_to((c[1].x, c[1].y, c[2].x, c[2].y, c[3].x, c[3].y));
    let halo = Path::new()
        .set("d", data.clone())
        .set("fill", "none")
        .set("stroke", HALO)
        .set("stroke-opacity", 0.7)
        .set("stroke-width", r2(size * 0.5))
        .set("stroke-linecap", "round");
    let mut line = Path::new()
        .set("d", data)
        .set("fill", "none")
        .set("stroke", colour)
        .set("stroke-width", r2(size * 0.22))
        .set("stroke-linecap", "round");
    if dashed {
        line = line.set("stroke-dasharray", format!("{:.1} {:.1}", size * 0.7, size * 0.4));
    }
    let mut tangent = c[3] - c[2];
    if tangent.norm() < 1e-6 {
        tangent = c[3] - c[0];
    }
    Group::new().add(halo).add(line).add(arrowhead(c[3], tangent, size, size * 0.45, colour))
}

struct Layout {
    width: f64,
    map_top: f64,
    map_h: f64,
    view: View,
}

fn layout(scene: &[XGeom<'_>], plans: &[Vec<ConnPlan>], width: f64) -> Layout {
    let (mut lo, mut hi) = (P2::new(f64::INFINITY, f64::INFINITY), P2::new(f64::NEG_INFINITY, f64::NEG_INFINITY));
    let mut add = |p: P2| {
        if finite_pt(p) {
            lo = lo.inf(&p);
            hi = hi.sup(&p);
        }
    };
    for xg in scene {
        if let Some(o) = xg.origin {
            add(o);
        }
        for lg in &xg.lanes {
            let half = lg.width / 2.0;
            for p in &lg.pts {
                add(p + P2::new(half, half));
                add(p - P2::new(half, half));
            }
        }
    }
    for p in plans.iter().flatten() {
        p.curve.iter().for_each(|q| add(*q));
    }
    if !(lo.x.is_finite() && hi.x.is_finite()) {
        lo = P2::new(-50.0, -50.0);
        hi = P2::new(50.0, 50.0);
    }
    // Pad, and keep at least 40 m either way.
    let pad = 6.0;
    lo -= P2::new(pad, pad);
    hi += P2::new(pad, pad);
    for k in 0..2 {
        let ext = hi[k] - lo[k];
        if ext < 40.0 {
            lo[k] -= (40.0 - ext) / 2.0;
            hi[k] += (40.0 - ext) / 2.0;
        }
    }
    let map_w = width - 2.0 * MARGIN;
    let (ex, ey) = (hi.x - lo.x, hi.y - lo.y);
    // Not taller than twice the width.
    let s = (map_w / ex).min(2.0 * width / ey);
    let s = if s.is_finite() && s > 0.0 { s } else { 1.0 };
    let map_h = ey * s;
    let map_top = MARGIN + TITLE_H;
    let ox = MARGIN + (map_w - ex * s) / 2.0;
    Layout { width, map_top, map_h, view: View { min_x: lo.x, max_y: hi.y, s, ox, oy: map_top } }
}

/// A round scale-bar length (1, 2 or 5 times a power of ten), at most a quarter of `extent_m`.
fn scale_bar_metres(extent_m: f64) -> f64 {
    let target = (extent_m / 4.0).max(1e-3);
    let p = 10f64.powf(target.log10().floor());
    [5.0, 2.0, 1.0].into_iter().map(|k| k * p).find(|v| *v <= target).unwrap_or(p)
}

/// The intersection(s) drawn to scale as an SVG document (see the module docs).
pub fn render_svg(m: &MapFile, opts: &RenderOptions) -> String {
    let width = f64::from(opts.width_px.clamp(200, 16384));
    let scene = build_scene(m);
    let plans: Vec<Vec<ConnPlan>> = scene.iter().map(plan_connections).collect();
    let palette = Palette::new(m);
    let lay = layout(&scene, &plans, width);
    let v = &lay.view;
    let s = v.s;
    let multi = scene.len() > 1;
    let map_w_px = lay.width - 2.0 * MARGIN;

    let defs = Definitions::new()
        .add(
            Pattern::new()
                .set("id", "hatch-parking")
                .set("patternUnits", "userSpaceOnUse")
                .set("width", 6)
                .set("height", 6)
                .set("patternTransform", "rotate(45)")
                .add(
                    Line::new()
                        .set("x1", 0)
                        .set("y1", 0)
                        .set("x2", 0)
                        .set("y2", 6)
                        .set("stroke", "#ffffff")
                        .set("stroke-opacity", 0.6)
                        .set("stroke-width", 1.5),
                ),
        )
        .add(
            Pattern::new()
                .set("id", "hatch-work-zone")
                .set("patternUnits", "userSpaceOnUse")
                .set("width", 10)
                .set("height", 10)
                .set("patternTransform", "rotate(-45)")
                .add(
                    Rectangle::new()
                        .set("x", 0)
                        .set("y", 0)
                        .set("width", 5)
                        .set("height", 10)
                        .set("fill", WORK_ZONE)
                        .set("fill-opacity", 0.85),
                ),
        );

    let mut junctions = Group::new().set("class", "junctions");
    let mut lanes_g = Group::new().set("class", "lanes");
    let mut marks = Group::new().set("class", "lane-marks");
    let mut stops = Group::new().set("class", "stop-lines");
    let mut zones = Group::new().set("class", "work-zones");
    let mut conns = Group::new().set("class", "connections");
    let mut labels = Group::new().set("class", "labels");
    let mut refs = Group::new().set("class", "references");
    let mut ref_boxes: Vec<[f64; 4]> = Vec::new();

    for (xg, plan) in scene.iter().zip(&plans) {
        let x = xg.x;
        // The junction area: hull of the lane ends at the intersection.
        let mut corners = Vec::new();
        for lg in &xg.lanes {
            if !lg.lane.lane_type.is_travel_lane() || lg.lane.direction == Direction::Both {
                continue;
            }
            if let Some((p, d)) = lg.junction_end() {
                corners.push(p + left(d) * (lg.width / 2.0));
                corners.push(p - left(d) * (lg.width / 2.0));
            }
        }
        let hull = convex_hull(corners);
        if hull.len() >= 3 {
            junctions = junctions.add(
                Polygon::new()
                    .set("points", v.points(&hull))
                    .set("fill", "#a3a3a3")
                    .set("stroke", "none")
                    .set("class", "junction"),
            );
        }

        // Lanes, kerbside things first, crosswalks last.
        let order = |t: LaneType| match t {
            LaneType::Sidewalk => 0,
            LaneType::Parking => 1,
            LaneType::Vehicle | LaneType::Bus | LaneType::Bike => 2,
            LaneType::Crosswalk => 3,
        };
        let mut idx: Vec<usize> = (0..xg.lanes.len()).collect();
        idx.sort_by_key(|&i| order(xg.lanes[i].lane.lane_type));
        for i in idx {
            let lg = &xg.lanes[i];
            let lane = lg.lane;
            let w_px = lg.width * s;
            let mut g = Group::new()
                .set("id", lg.elem_id.clone())
                .set("class", format!("lane lane-{} lane-{}", type_name(lane.lane_type), dir_name(lane.direction)))
                .add(Title::new(clean_text(&lane_tooltip(x, lane, lg.width), 300)));
            let fill = lane_fill(lane.lane_type, lane.direction);
            if lg.pts.len() == 1 {
                // Nothing to draw along: show where it is.
                let c = v.px(lg.pts[0]);
                g = g.set("class", "lane lane-degenerate").add(
                    Circle::new()
                        .set("cx", r2(c.x))
                        .set("cy", r2(c.y))
                        .set("r", r2((w_px / 2.0).max(3.0)))
                        .set("fill", fill)
                        .set("stroke", "#d00000")
                        .set("stroke-dasharray", "2 2"),
                );
            } else if lg.pts.len() >= 2 {
                let poly = outline(&lg.pts, lg.width / 2.0);
                let (stroke, sw) = match lane.lane_type {
                    LaneType::Crosswalk => (palette.of(lane.signal_group), 1.5),
                    LaneType::Sidewalk => ("#b5ad9c", 0.8),
                    _ => ("#f2f2f2", 0.8),
                };
                g = g.add(
                    Polygon::new()
                        .set("points", v.points(&poly))
                        .set("fill", fill)
                        .set("stroke", stroke)
                        .set("stroke-width", sw)
                        .set("stroke-linejoin", "round"),
                );
                match lane.lane_type {
                    LaneType::Crosswalk => {
                        let stripe = (0.6 * s).max(2.0);
                        g = g.add(
                            Polyline::new()
                                .set("points", v.points(&lg.pts))
                                .set("fill", "none")
                                .set("stroke", "#ffffff")
                                .set("stroke-width", r2(w_px * 0.85))
                                .set("stroke-dasharray", format!("{:.2} {:.2}", stripe, stripe))
                                .set("stroke-linejoin", "miter"),
                        );
                    }
                    LaneType::Parking => {
                        g = g.add(
                            Polygon::new()
                                .set("points", v.points(&poly))
                                .set("fill", "url(#hatch-parking)")
                                .set("stroke", "none"),
                        );
                    }
                    _ => {}
                }
                // A travel-direction chevron half-way along.
                if lane.lane_type.is_travel_lane() && lane.direction != Direction::Both {
                    let len = geometry::length(&lg.pts);
                    if let Some((p, d)) = along(&lg.pts, len * 0.5) {
                        let dp = v.px(p + d) - v.px(p);
                        let size = (w_px * 0.55).clamp(3.0, 14.0);
                        marks = marks.add(
                            arrowhead(v.px(p) + unit(dp).unwrap_or(dp) * size * 0.5, dp, size, size * 0.45, "#ffffff")
                                .set("stroke", "none")
                                .set("fill-opacity", 0.8)
                                .set("class", "lane-direction"),
                        );
                    }
                }
            }
            lanes_g = lanes_g.add(g);

            // Stop line.
            if lane.direction == Direction::Ingress && lane.lane_type.is_travel_lane() && lane.stop_line {
                if let Some((p, d)) = lg.stop_end() {
                    let n = left(d) * (lg.width / 2.0);
                    let (a, b) = (v.px(p + n), v.px(p - n));
                    let t = (0.5 * s).max(2.5);
                    let line = |colour: &str, w: f64| {
                        Line::new()
                            .set("x1", r2(a.x))
                            .set("y1", r2(a.y))
                            .set("x2", r2(b.x))
                            .set("y2", r2(b.y))
                            .set("stroke", colour)
                            .set("stroke-width", r2(w))
                    };
                    stops = stops.add(
                        Group::new()
                            .set("class", "stop-line")
                            .set("id", format!("stop-{}", lg.elem_id.trim_start_matches("lane-")))
                            .add(line("#000000", t + 2.0))
                            .add(line("#ffffff", t)),
                    );
                }
            }

            // Lane id, where the lane is wide enough on the page to hold it.
            if opts.show_labels && !lg.pts.is_empty() && w_px >= MIN_LABEL_LANE_PX {
                let len = geometry::length(&lg.pts);
                let at = match lane.lane_type {
                    LaneType::Crosswalk | LaneType::Sidewalk | LaneType::Parking => along(&lg.pts, len / 2.0),
                    _ => {
                        let d = (len / 2.0).min(12.0);
                        match lane.direction {
                            Direction::Ingress => along(&lg.pts, len - d),
                            Direction::Egress => along(&lg.pts, d),
                            Direction::Both => along(&lg.pts, len / 2.0),
                        }
                    }
                };
                let (p, d) = at.unwrap_or((lg.pts[0], P2::new(1.0, 0.0)));
                let c = v.px(p);
                let id = lane.id.to_string();
                let size = (w_px * 0.72).clamp(6.0, 12.0);
                let t = if lane.lane_type == LaneType::Crosswalk {
                    let txt = match lane.signal_group {
                        Some(g) => format!("{id} · SG {g}"),
                        None => id,
                    };
                    // Along the crosswalk, read left to right or bottom to top.
                    let mut ang = (-d.y).atan2(d.x).to_degrees();
                    if ang > 90.0 {
                        ang -= 180.0;
                    } else if ang <= -90.0 {
                        ang += 180.0;
                    }
                    halo_label(c.x, c.y, &txt, size, "#202020")
                        .set("transform", format!("rotate({:.1} {:.2} {:.2})", ang, c.x, c.y))
                } else if matches!(lane.lane_type, LaneType::Sidewalk | LaneType::Parking) {
                    halo_label(c.x, c.y, &id, size, "#202020")
                } else {
                    label(c.x, c.y, &id, size).set("fill", "#ffffff").set("font-weight", "bold")
                };
                labels = labels.add(t.set("text-anchor", "middle").set("dy", "0.35em").set("class", "lane-label"));
            }
        }

        // Work zones.
        for wz in &x.work_zones {
            for lid in &wz.lanes {
                let Some(lg) = xg.lane(*lid) else { continue };
                if lg.pts.len() < 2 {
                    continue;
                }
                let poly = outline(&lg.pts, lg.width / 2.0);
                let mut what = format!("work zone {} on lane {}", wz.id, lid);
                if wz.closed {
                    what.push_str(", closed");
                }
                if let Some(k) = wz.speed_limit_kph.filter(|k| k.is_finite()) {
                    what.push_str(&format!(", {k} km/h"));
                }
                let short = what.clone();
                if let (Some(a), Some(b)) = (&wz.start, &wz.end) {
                    what.push_str(&format!(", {a} to {b}"));
                }
                if let Some(dsc) = &wz.description {
                    what.push_str(&format!(": {dsc}"));
                }
                zones = zones.add(
                    Group::new()
                        .set("class", "work-zone")
                        .set("id", format!("wz-{}-{}-{}", x.id, wz.id, lid))
                        .add(Title::new(clean_text(&what, 300)))
                        .add(
                            Polygon::new()
                                .set("points", v.points(&poly))
                                .set("fill", "url(#hatch-work-zone)")
                                .set("stroke", WORK_ZONE)
                                .set("stroke-width", 2),
                        ),
                );
                if opts.show_labels {
                    let len = geometry::length(&lg.pts);
                    if let Some((p, d)) = along(&lg.pts, len * 0.6) {
                        // Beside the lane, on its right.
                        let q = v.px(p - left(d) * (lg.width / 2.0 + 1.5));
                        let txt = short.replacen(&format!(" on lane {lid}"), "", 1);
                        labels = labels.add(
                            halo_label(
                                q.x,
                                q.y,
                                &format!("WZ {}", txt.trim_start_matches("work zone ")),
                                11.0,
                                "#a04000",
                            )
                            .set("text-anchor", "middle")
                            .set("dy", "0.35em")
                            .set("font-weight", "bold")
                            .set("class", "work-zone-label"),
                        );
                    }
                }
            }
        }

        // Connections.
        let size = (3.5 * s * 0.75).clamp(7.0, 12.0);
        for p in plan {
            let c = p.curve.map(|q| v.px(q));
            let colour = palette.of(p.sg);
            let dashed = p.sg.is_some_and(|g| palette.permissive.contains(&g)) || p.remote_label.is_some();
            let mut g = arrow(c, colour, dashed, size)
                .set("class", if p.remote_label.is_some() { "connection connection-remote" } else { "connection" })
                .set("id", p.elem_id.clone())
                .set("data-from", p.from)
                .add(Title::new(clean_text(&p.what, 300)));
            if let Some(sg) = p.sg {
                g = g.set("data-signal-group", sg);
            }
            conns = conns.add(g);
            if let Some(t) = &p.remote_label {
                // Beyond the tip, on top of the other arrows.
                let d = unit(c[3] - c[2]).unwrap_or(P2::new(1.0, 0.0));
                let e = c[3] + d * 4.0;
                labels = labels.add(
                    halo_label(e.x, e.y, &format!("→ {t}"), 10.0, "#202020")
                        .set(
                            "text-anchor",
                            if d.x < -0.3 {
                                "end"
                            } else if d.x > 0.3 {
                                "start"
                            } else {
                                "middle"
                            },
                        )
                        .set(
                            "dy",
                            if d.y < -0.3 {
                                "-0.2em"
                            } else if d.y > 0.3 {
                                "0.9em"
                            } else {
                                "0.35em"
                            },
                        )
                        .set("font-weight", "bold")
                        .set("class", "remote-label"),
                );
            }
            if opts.show_labels && s >= MIN_ARROW_LABEL_SCALE {
                if let Some(sg) = p.sg {
                    let m = v.px(cubic_at(p.curve, 0.5));
                    labels = labels.add(
                        label(m.x, m.y, &sg.to_string(), 9.0)
                            .set("fill", colour)
                            .set("stroke", HALO)
                            .set("stroke-width", 2.2)
                            .set("stroke-linejoin", "round")
                            .set("paint-order", "stroke")
                            .set("font-weight", "bold")
                            .set("text-anchor", "middle")
                            .set("dy", "0.35em")
                            .set("class", "connection-label"),
                    );
                }
            }
        }

        // Reference point.
        if let Some(o) = xg.origin {
            let c = v.px(o);
            let r = 6.0;
            let hair = |x1: f64, y1: f64, x2: f64, y2: f64, colour: &str, w: f64| {
                Line::new()
                    .set("x1", r2(x1))
                    .set("y1", r2(y1))
                    .set("x2", r2(x2))
                    .set("y2", r2(y2))
                    .set("stroke", colour)
                    .set("stroke-width", w)
            };
            let mut g = Group::new()
                .set("class", "reference")
                .set("id", format!("ref-{}", x.id))
                .set("data-east-m", r2(o.x))
                .set("data-north-m", r2(o.y));
            for (colour, w) in [("#ffffff", 3.5), ("#000000", 1.5)] {
                g = g
                    .add(hair(c.x - 2.0 * r, c.y, c.x + 2.0 * r, c.y, colour, w))
                    .add(hair(c.x, c.y - 2.0 * r, c.x, c.y + 2.0 * r, colour, w))
                    .add(
                        Circle::new()
                            .set("cx", r2(c.x))
                            .set("cy", r2(c.y))
                            .set("r", r)
                            .set("fill", "none")
                            .set("stroke", colour)
                            .set("stroke-width", w),
                    );
            }
            // The text in the corner north-east of the reference, off the junction.
            // In the first corner (NE, NW, SE, SW) where it stays in the map
            // and clear of the other intersections' texts.
            let text = format!("{} · {}", x.id, fmt_latlon(x.reference.lat, x.reference.lon));
            let tw = text_w(&text, 11.0);
            let off = (22.0 * s).max(30.0);
            let boxes = |sx: f64, sy: f64| {
                let x0 = if sx > 0.0 { c.x + off } else { c.x - off - tw };
                let y0 = if sy < 0.0 { c.y - off - 11.0 } else { c.y + off };
                [x0, y0, x0 + tw, y0 + 14.0]
            };
            let fits = |b: &[f64; 4]| {
                b[0] >= MARGIN && b[2] <= MARGIN + map_w_px && b[1] >= lay.map_top && b[3] <= lay.map_top + lay.map_h
            };
            let clear = |b: &[f64; 4]| {
                ref_boxes.iter().all(|o: &[f64; 4]| b[2] < o[0] || o[2] < b[0] || b[3] < o[1] || o[3] < b[1])
            };
            let corners = [(1.0, -1.0), (-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
            let (sx, sy) = corners
                .into_iter()
                .find(|&(sx, sy)| fits(&boxes(sx, sy)) && clear(&boxes(sx, sy)))
                .or_else(|| corners.into_iter().find(|&(sx, sy)| fits(&boxes(sx, sy))))
                .unwrap_or((1.0, -1.0));
            ref_boxes.push(boxes(sx, sy));
            let (east, north) = (sx > 0.0, sy < 0.0);
            let t = P2::new(c.x + sx * off, c.y + sy * off);
            g = g
                .add(hair(c.x + sx * r * 0.8, c.y + sy * r * 0.8, t.x - sx * 2.0, t.y - sy * 2.0, "#000000", 0.8))
                .add(
                    halo_label(t.x, t.y + if north { 0.0 } else { 9.0 }, &text, 11.0, "#000000")
                        .set("text-anchor", if east { "start" } else { "end" })
                        .set("class", "reference-label"),
                );
            refs = refs.add(g);
        }
    }

    // Frame furniture.
    let map_left = MARGIN;
    let map_w = map_w_px;
    let map_bottom = lay.map_top + lay.map_h;
    let background = Group::new()
        .add(Rectangle::new().set("x", 0).set("y", 0).set("width", "100%").set("height", "100%").set("fill", "#ffffff"))
        .add(
            Rectangle::new()
                .set("x", r2(map_left))
                .set("y", r2(lay.map_top))
                .set("width", r2(map_w))
                .set("height", r2(lay.map_h))
                .set("fill", "#eef1e9")
                .set("stroke", "#b0b0b0"),
        );

    // Title.
    let names: Vec<String> = m
        .intersections
        .iter()
        .map(|x| match &x.name {
            Some(n) if !n.trim().is_empty() => format!("{} ({})", n.trim(), x.id),
            _ => format!("Intersection {}", x.id),
        })
        .collect();
    let title_text =
        clean_text(&if names.is_empty() { "(no intersections)".to_string() } else { names.join("  |  ") }, 400);
    let title_size = (map_w / (text_w(&title_text, 1.0) * 1.05)).clamp(9.0, 20.0);
    let n_lanes: usize = m.intersections.iter().map(|x| x.lanes.len()).sum();
    let n_conns: usize = m.intersections.iter().map(|x| x.connections.len()).sum();
    let mut subtitle = format!(
        "{} intersection{} · {} lanes · {} connections · north up · 1 m = {:.2} px",
        m.intersections.len(),
        if m.intersections.len() == 1 { "" } else { "s" },
        n_lanes,
        n_conns,
        s
    );
    if opts.show_labels && (s < MIN_ARROW_LABEL_SCALE || 3.5 * s < MIN_LABEL_LANE_PX) {
        subtitle.push_str(" · some labels left out at this scale: draw wider to see them");
    }
    let title = Group::new()
        .set("class", "title")
        .add(label(MARGIN, MARGIN + 18.0, &title_text, title_size).set("font-weight", "bold").set("fill", "#000000"))
        .add(label(MARGIN, MARGIN + 38.0, &subtitle, 12.0).set("fill", "#444444"));

    // Scale bar, bottom left of the map.
    let bar_m = scale_bar_metres(map_w / s);
    let bar_px = bar_m * s;
    let (bx, by) = (map_left + 14.0, map_bottom - 16.0);
    let bar_txt = if bar_m >= 1000.0 { format!("{} km", bar_m / 1000.0) } else { format!("{bar_m} m") };
    let mut scale = Group::new().set("class", "scale-bar").set("data-metres", bar_m).set("data-px", r2(bar_px)).add(
        Rectangle::new()
            .set("x", r2(bx - 8.0))
            .set("y", r2(by - 24.0))
            .set("width", r2(bar_px + 16.0 + text_w(&bar_txt, 11.0) / 2.0))
            .set("height", 34)
            .set("fill", "#ffffff")
            .set("fill-opacity", 0.85)
            .set("rx", 3),
    );
    for k in 0..4 {
        let seg = bar_px / 4.0;
        scale = scale.add(
            Rectangle::new()
                .set("x", r2(bx + seg * k as f64))
                .set("y", r2(by - 3.0))
                .set("width", r2(seg))
                .set("height", 6)
                .set("fill", if k % 2 == 0 { "#000000" } else { "#ffffff" })
                .set("stroke", "#000000")
                .set("stroke-width", 1),
        );
    }
    scale = scale
        .add(label(bx, by - 8.0, "0", 11.0).set("text-anchor", "middle"))
        .add(label(bx + bar_px, by - 8.0, &bar_txt, 11.0).set("text-anchor", "middle"));

    // North arrow, top right of the map.
    let (nx, ny) = (map_left + map_w - 26.0, lay.map_top + 14.0);
    let north = Group::new()
        .set("class", "north-arrow")
        .add(
            Circle::new()
                .set("cx", r2(nx))
                .set("cy", r2(ny + 22.0))
                .set("r", 18)
                .set("fill", "#ffffff")
                .set("fill-opacity", 0.85),
        )
        .add(
            Polygon::new()
                .set(
                    "points",
                    format!(
                        "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                        nx,
                        ny + 8.0,
                        nx + 8.0,
                        ny + 36.0,
                        nx,
                        ny + 30.0,
                        nx - 8.0,
                        ny + 36.0
                    ),
                )
                .set("fill", "#000000"),
        )
        .add(label(nx, ny + 6.0, "N", 13.0).set("text-anchor", "middle").set("font-weight", "bold"));

    // Legend below the map.
    let (legend, legend_h) = legend(m, &scene, &palette, MARGIN, map_bottom + 14.0, map_w, multi);
    let height = (map_bottom + 14.0 + legend_h + MARGIN).ceil();

    let doc = Document::new()
        .set("width", lay.width)
        .set("height", height)
        .set("viewBox", (0, 0, lay.width, height))
        .set("font-family", FONT_FAMILY)
        .add(Title::new(title_text.clone()))
        .add(defs)
        .add(background)
        .add(junctions)
        .add(lanes_g)
        .add(marks)
        .add(stops)
        .add(zones)
        .add(conns)
        .add(labels)
        .add(refs)
        .add(scale)
        .add(north)
        .add(title)
        .add(legend);
    doc.to_string()
}

fn fmt_latlon(lat: f64, lon: f64) -> String {
    if !(lat.is_finite() && lon.is_finite()) {
        return "lat/lon not a number".into();
    }
    format!(
        "{:.7}°{} {:.7}°{}",
        lat.abs(),
        if lat >= 0.0 { "N" } else { "S" },
        lon.abs(),
        if lon >= 0.0 { "E" } else { "W" }
    )
}

fn lane_tooltip(x: &Intersection, lane: &Lane, width: f64) -> String {
    let mut t = format!(
        "{}: lane {} · {} · {} · {} · {:.2} m",
        x.id,
        lane.id,
        lane.approach,
        dir_name(lane.direction),
        type_name(lane.lane_type),
        width
    );
    if !lane.maneuvers.is_empty() {
        t.push_str(&format!(" · maneuvers {:?}", lane.maneuvers));
    }
    if !lane.only.is_empty() {
        t.push_str(&format!(" · only {:?}", lane.only));
    }
    if !lane.bans.is_empty() {
        let b: Vec<String> = lane
            .bans
            .iter()
            .map(|b| format!("{:?}{}", b.vehicle, b.time.as_deref().map(|t| format!(" {t}")).unwrap_or_default()))
            .collect();
        t.push_str(&format!(" · bans {}", b.join(", ")));
    }
    if let Some(g) = lane.signal_group {
        t.push_str(&format!(" · signal group {g}"));
    }
    if lane.direction == Direction::Ingress && lane.lane_type.is_travel_lane() && !lane.stop_line {
        t.push_str(" · no stop line");
    }
    t
}

/// Andrew's monotone chain.
fn convex_hull(mut pts: Vec<P2>) -> Vec<P2> {
    pts.retain(|p| finite_pt(*p));
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup_by(|a, b| (*a - *b).norm() < 1e-9);
    if pts.len() < 3 {
        return pts;
    }
    let mut lower: Vec<P2> = Vec::new();
    for p in &pts {
        while lower.len() >= 2
            && cross(lower[lower.len() - 1] - lower[lower.len() - 2], p - lower[lower.len() - 1]) <= 0.0
        {
            lower.pop();
        }
        lower.push(*p);
    }
    let mut upper: Vec<P2> = Vec::new();
    for p in pts.iter().rev() {
        while upper.len() >= 2
            && cross(upper[upper.len() - 1] - upper[upper.len() - 2], p - upper[upper.len() - 1]) <= 0.0
        {
            upper.pop();
        }
        upper.push(*p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// The legend: lane types present, then every signal group (id, name,
/// colour).  Returns the group and its height.
fn legend(m: &MapFile, scene: &[XGeom<'_>], palette: &Palette, x0: f64, y0: f64, w: f64, multi: bool) -> (Group, f64) {
    let mut g = Group::new().set("class", "legend");
    let mut y = y0;
    let row = 18.0;
    let font = 12.0;

    // Lane kinds present.
    let mut kinds: Vec<(LaneType, Direction)> = Vec::new();
    for xg in scene {
        for lg in &xg.lanes {
            let k = (lg.lane.lane_type, lg.lane.direction);
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    kinds.sort_by_key(|(t, d)| (*t as u8, *d as u8));
    let has_wz = m.intersections.iter().any(|x| !x.work_zones.is_empty());
    g = g.add(label(x0, y + 12.0, "Lanes", font).set("font-weight", "bold"));
    let mut cx = x0 + 60.0;
    let mut items: Vec<(String, Group)> = Vec::new();
    for (t, d) in &kinds {
        let sw = |fill: &str| {
            Rectangle::new()
                .set("width", 22)
                .set("height", 10)
                .set("fill", fill.to_string())
                .set("stroke", "#555555")
                .set("stroke-width", 0.6)
        };
        let name = match t {
            LaneType::Crosswalk | LaneType::Sidewalk | LaneType::Parking => type_name(*t).to_string(),
            _ => format!("{} {}", type_name(*t), dir_name(*d)),
        };
        let mut sg = Group::new().add(sw(lane_fill(*t, *d)));
        match t {
            LaneType::Crosswalk => {
                for k in 0..4 {
                    sg = sg.add(
                        Rectangle::new()
                            .set("x", 2 + k * 5)
                            .set("y", 1)
                            .set("width", 2.5)
                            .set("height", 8)
                            .set("fill", "#ffffff"),
                    );
                }
            }
            LaneType::Parking => sg = sg.add(sw("url(#hatch-parking)")),
            _ => {}
        }
        if items.iter().all(|(n, _)| *n != name) {
            items.push((name, sg));
        }
    }
    if has_wz {
        items.push((
            "work zone".into(),
            Group::new().add(Rectangle::new().set("width", 22).set("height", 10).set("fill", "#8c8c8c")).add(
                Rectangle::new()
                    .set("width", 22)
                    .set("height", 10)
                    .set("fill", "url(#hatch-work-zone)")
                    .set("stroke", WORK_ZONE)
                    .set("stroke-width", 1.5),
            ),
        ));
    }
    items.push((
        "stop line".into(),
        Group::new().add(Rectangle::new().set("width", 22).set("height", 10).set("fill", "#6e6e6e")).add(
            Rectangle::new()
                .set("x", 9)
                .set("y", -1)
                .set("width", 4)
                .set("height", 12)
                .set("fill", "#ffffff")
                .set("stroke", "#000000"),
        ),
    ));
    for (name, sw) in items {
        let iw = 30.0 + text_w(&name, font) + 14.0;
        if cx + iw > x0 + w {
            cx = x0 + 60.0;
            y += row;
        }
        g = g.add(sw.set("transform", format!("translate({:.1} {:.1})", cx, y + 3.0))).add(label(
            cx + 28.0,
            y + 12.0,
            &name,
            font,
        ));
        cx += iw;
    }
    y += row + 8.0;

    // Signal groups: one entry per (id, name), with the intersections that have it.
    let mut entries: BTreeMap<(u8, String), (SignalKind, Vec<u16>)> = BTreeMap::new();
    for x in &m.intersections {
        let mut seen = HashSet::new();
        for sgp in &x.signal_groups {
            let name = sgp.name.clone().unwrap_or_default();
            seen.insert(sgp.id);
            let e = entries.entry((sgp.id, name)).or_insert((sgp.kind, Vec::new()));
            if !e.1.contains(&x.id) {
                e.1.push(x.id);
            }
        }
        let used =
            x.connections.iter().filter_map(|c| c.signal_group).chain(x.lanes.iter().filter_map(|l| l.signal_group));
        for id in used {
            if !seen.contains(&id) {
                let e = entries.entry((id, "(not defined)".into())).or_insert((SignalKind::Protected, Vec::new()));
                if !e.1.contains(&x.id) {
                    e.1.push(x.id);
                }
            }
        }
    }
    let unsignalised = m.intersections.iter().any(|x| x.connections.iter().any(|c| c.signal_group.is_none()));
    let n_x = m.intersections.len();
    let mut rows: Vec<(Option<u8>, String, SignalKind)> = entries
        .into_iter()
        .map(|((id, name), (kind, xs))| {
            let mut t = format!("SG {id}");
            if !name.is_empty() {
                t.push_str(&format!("  {name}"));
            }
            match kind {
                SignalKind::Permissive => t.push_str(" (permissive)"),
                SignalKind::Pedestrian => t.push_str(" (pedestrian)"),
                SignalKind::Protected => {}
            }
            if multi {
                if xs.len() == n_x {
                    t.push_str(" · all");
                } else {
                    let ids: Vec<String> = xs.iter().map(|i| i.to_string()).collect();
                    t.push_str(&format!(" · {}", ids.join(", ")));
                }
            }
            (Some(id), clean_text(&t, 70), kind)
        })
        .collect();
    if unsignalised {
        rows.push((None, "no signal group".into(), SignalKind::Protected));
    }
    g = g.add(label(x0, y + 12.0, "Signal groups (arrow colour; dashed: permissive)", font).set("font-weight", "bold"));
    y += row + 4.0;
    if rows.is_empty() {
        g = g.add(label(x0, y + 12.0, "none", font).set("fill", "#666666"));
        y += row;
    } else {
        let longest = rows.iter().map(|r| text_w(&r.1, font)).fold(0.0, f64::max);
        let col_w = (longest + 56.0).clamp(150.0, w);
        let ncols = ((w / col_w).floor() as usize).max(1);
        let nrows = rows.len().div_ceil(ncols);
        for (i, (id, text, kind)) in rows.into_iter().enumerate() {
            let (c, r) = (i / nrows, i % nrows);
            let (ex, ey) = (x0 + c as f64 * col_w, y + r as f64 * row);
            let colour = palette.of(id);
            let dashed = kind == SignalKind::Permissive;
            let sample = [
                P2::new(ex, ey + 9.0),
                P2::new(ex + 10.0, ey + 9.0),
                P2::new(ex + 20.0, ey + 9.0),
                P2::new(ex + 34.0, ey + 9.0),
            ];
            let mut e = arrow(sample, colour, dashed, 9.0).set("class", "legend-sg");
            if let Some(id) = id {
                e = e.set("data-signal-group", id);
            }
            g = g.add(e.add(label(ex + 42.0, ey + 13.0, &text, font)));
        }
        y += nrows as f64 * row;
    }
    (g, y - y0)
}

// ---------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------

/// The system's fonts, loaded once.  Empty when the machine has none (text
/// is then not drawn).
fn fonts() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        let families: Vec<String> = db.faces().filter_map(|f| f.families.first().map(|(n, _)| n.clone())).collect();
        let pick = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"]
            .into_iter()
            .find(|want| families.iter().any(|f| f == want))
            .map(str::to_string)
            .or_else(|| families.first().cloned());
        if let Some(f) = pick {
            db.set_sans_serif_family(f);
        }
        Arc::new(db)
    })
    .clone()
}

/// Rasterise an SVG (such as [`render_svg`]'s) at its own size to PNG bytes.
/// External files named in `<image>` elements are not read.
pub fn render_png(svg: &str) -> Result<Vec<u8>, RenderError> {
    let mut opt = usvg::Options {
        fontdb: fonts(),
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    opt.font_family = "sans-serif".into();
    let tree = usvg::Tree::from_str(svg, &opt)?;
    let size = tree.size().to_int_size();
    let (width, height) = (size.width(), size.height());
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(RenderError::Size { width, height });
    }
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or(RenderError::Size { width, height })?;
    resvg::render(&tree, tiny_skia::Transform::identity(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| RenderError::Png(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse, Syntax};

    const FOUR_LEG: &str = include_str!("../../examples/4leg.toml");
    const CORRIDOR: &str = include_str!("../../examples/corridor.toml");

    fn four_leg() -> MapFile {
        parse("4leg.toml", FOUR_LEG, Syntax::Toml).unwrap().0
    }

    fn corridor() -> MapFile {
        parse("corridor.toml", CORRIDOR, Syntax::Toml).unwrap().0
    }

    fn has_class(n: &roxmltree::Node<'_, '_>, class: &str) -> bool {
        n.attribute("class").is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }

    fn count_class(doc: &roxmltree::Document<'_>, class: &str) -> usize {
        doc.descendants().filter(|n| has_class(n, class)).count()
    }

    #[test]
    fn four_leg_svg_has_every_element() {
        let m = four_leg();
        let x = &m.intersections[0];
        let svg = render_svg(&m, &RenderOptions::default());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert_eq!(doc.root_element().attribute("width"), Some("1200"));

        // One shape per lane, by id.
        for l in &x.lanes {
            let id = format!("lane-1001-{}", l.id);
            let n = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(id.as_str()))
                .unwrap_or_else(|| panic!("{id} missing"));
            assert!(n.descendants().any(|c| c.has_tag_name("polygon")), "{id} has no polygon");
        }
        assert_eq!(count_class(&doc, "lane"), x.lanes.len());

        // A stop line per ingress travel lane.
        let ingress = x
            .lanes
            .iter()
            .filter(|l| l.direction == Direction::Ingress && l.lane_type.is_travel_lane() && l.stop_line)
            .count();
        assert_eq!(ingress, 12);
        assert_eq!(count_class(&doc, "stop-line"), ingress);

        // An arrow per connection.
        assert_eq!(count_class(&doc, "connection"), x.connections.len());

        // Every signal group in the legend, with its name.
        let legend: Vec<_> = doc.descendants().filter(|n| has_class(n, "legend-sg")).collect();
        for g in &x.signal_groups {
            let e = legend
                .iter()
                .find(|n| n.attribute("data-signal-group") == Some(g.id.to_string().as_str()))
                .unwrap_or_else(|| panic!("signal group {} not in the legend", g.id));
            let text: String = e.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect();
            assert!(text.contains(g.name.as_deref().unwrap()), "{text}");
        }

        // A scale bar whose pixels match its metres, the reference, the title.
        let bar = doc.descendants().find(|n| has_class(n, "scale-bar")).expect("scale bar");
        let metres: f64 = bar.attribute("data-metres").unwrap().parse().unwrap();
        assert!([10.0, 20.0, 50.0, 100.0].contains(&metres), "{metres}");
        assert_eq!(count_class(&doc, "north-arrow"), 1);
        assert!(doc.descendants().any(|n| n.attribute("id") == Some("ref-1001")));
        assert!(svg.contains("Tianhe Rd / Tiyu W Rd"));
        assert!(svg.contains("23.1290000°N 113.2640000°E"));
        assert_eq!(count_class(&doc, "work-zone"), 1);
    }

    #[test]
    fn north_is_up_and_scale_is_true() {
        let m = four_leg();
        let svg = render_svg(&m, &RenderOptions::default());
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let poly_of = |id: &str| -> Vec<(f64, f64)> {
            let n = doc.descendants().find(|n| n.attribute("id") == Some(id)).unwrap();
            let p = n.descendants().find(|c| c.has_tag_name("polygon")).unwrap();
            p.attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|xy| {
                    let (a, b) = xy.split_once(',').unwrap();
                    (a.parse().unwrap(), b.parse().unwrap())
                })
                .collect()
        };
        // Lane 2 (north approach) is above lane 13 (south approach) on the page.
        let top = |p: &[(f64, f64)]| p.iter().map(|q| q.1).fold(f64::INFINITY, f64::min);
        assert!(top(&poly_of("lane-1001-2")) < top(&poly_of("lane-1001-13")));
        // Lane 2 is 3.5 m wide and 138 m long: the same ratio in pixels.
        let p = poly_of("lane-1001-2");
        let (xs, ys): (Vec<f64>, Vec<f64>) = p.iter().copied().unzip();
        let w = xs.iter().copied().fold(f64::MIN, f64::max) - xs.iter().copied().fold(f64::MAX, f64::min);
        let h = ys.iter().copied().fold(f64::MIN, f64::max) - ys.iter().copied().fold(f64::MAX, f64::min);
        assert!((h / w - 138.0 / 3.5).abs() < 0.2, "{w} x {h}");
        // The scale bar agrees.
        let bar = doc.descendants().find(|n| has_class(n, "scale-bar")).unwrap();
        let metres: f64 = bar.attribute("data-metres").unwrap().parse().unwrap();
        let px: f64 = bar.attribute("data-px").unwrap().parse().unwrap();
        assert!((px / metres - w / 3.5).abs() < 0.05, "{px} px for {metres} m, lane {w} px");
    }

    #[test]
    fn corridor_draws_all_three_intersections_in_one_frame() {
        let m = corridor();
        let svg = render_svg(&m, &RenderOptions::default());
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let lanes: usize = m.intersections.iter().map(|x| x.lanes.len()).sum();
        assert_eq!(count_class(&doc, "lane"), lanes);
        let conns: usize = m.intersections.iter().map(|x| x.connections.len()).sum();
        assert_eq!(count_class(&doc, "connection"), conns);
        let east = |id: u16| -> (f64, f64) {
            let n = doc.descendants().find(|n| n.attribute("id") == Some(format!("ref-{id}").as_str())).unwrap();
            (
                n.attribute("data-east-m").unwrap().parse().unwrap(),
                n.attribute("data-north-m").unwrap().parse().unwrap(),
            )
        };
        assert_eq!(east(2001), (0.0, 0.0));
        let (e2, n2) = east(2002);
        let (e3, n3) = east(2003);
        assert!((e2 - 300.0).abs() < 1.0 && n2.abs() < 0.5, "{e2} {n2}");
        assert!((e3 - 600.0).abs() < 1.0 && n3.abs() < 0.5, "{e3} {n3}");
        for x in &m.intersections {
            assert!(svg.contains(x.name.as_deref().unwrap()));
            assert!(doc.descendants().any(|n| n.attribute("id") == Some(format!("lane-{}-1", x.id).as_str())));
        }
    }

    #[test]
    fn png_has_the_signature_and_the_width() {
        let svg = render_svg(&four_leg(), &RenderOptions { width_px: 640, show_labels: true });
        let png = render_png(&svg).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = tiny_skia::Pixmap::decode_png(&png).unwrap();
        assert_eq!(img.width(), 640);
        assert!(img.height() > 300);
    }

    #[test]
    fn remote_connection_is_a_labelled_stub() {
        let mut m = four_leg();
        m.intersections[0].connections.push(crate::model::Connection {
            from: 2,
            to: Target::Remote { intersection: 77, region: None, lane: 4 },
            maneuver: Maneuver::Straight,
            signal_group: Some(2),
        });
        let svg = render_svg(&m, &RenderOptions::default());
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(count_class(&doc, "connection-remote"), 1);
        assert!(svg.contains("77 lane 4"));
    }

    #[test]
    fn odd_input_does_not_panic() {
        let mut m = four_leg();
        {
            let x = &mut m.intersections[0];
            x.name = Some("bad \u{0}name <&> \"quoted\"".into());
            x.lanes[0].points = Some(vec![]);
            x.lanes[1].points = Some(vec![[1.0, 2.0]]);
            x.lanes[2].points = Some(vec![[f64::NAN, 1.0], [0.0, f64::INFINITY], [3.0, 3.0], [3.0, 3.0]]);
            x.lanes[3].points = Some(vec![[1e300, -1e300], [f64::NAN, f64::NAN]]);
            x.lanes[4].width_m = f64::NAN;
            x.lanes[5].points = None;
            x.lanes[6].points_wgs84 = Some(vec![[f64::NAN, 1.0], [23.1291, 113.2641], [23.1292, 113.2641]]);
            x.lanes[6].points = None;
            x.connections.push(crate::model::Connection {
                from: 200,
                to: Target::Lane(201),
                maneuver: Maneuver::Left,
                signal_group: None,
            });
            x.work_zones[0].lanes.push(250);
            x.work_zones[0].speed_limit_kph = Some(f64::NAN);
        }
        let svg = render_svg(&m, &RenderOptions { width_px: 0, show_labels: true });
        let doc = roxmltree::Document::parse(&svg).expect("still well-formed");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "non-finite numbers leaked");
        assert_eq!(doc.root_element().attribute("width"), Some("200"));
        render_png(&svg).unwrap();

        // An empty file, and one whose reference is not a number.
        let empty = MapFile::default();
        roxmltree::Document::parse(&render_svg(&empty, &RenderOptions::default())).unwrap();
        let mut m = four_leg();
        m.intersections[0].reference.lat = f64::NAN;
        let svg = render_svg(&m, &RenderOptions::default());
        roxmltree::Document::parse(&svg).unwrap();
        assert!(!svg.contains("NaN"));
        let mut c = corridor();
        c.intersections[1].reference.lon = f64::INFINITY;
        roxmltree::Document::parse(&render_svg(&c, &RenderOptions::default())).unwrap();
    }

    #[test]
    fn labels_can_be_left_out() {
        let m = four_leg();
        let with = roxmltree::Document::parse(&render_svg(&m, &RenderOptions::default()))
            .unwrap()
            .descendants()
            .filter(|n| has_class(n, "lane-label"))
            .count();
        assert_eq!(with, m.intersections[0].lanes.len());
        let svg = render_svg(&m, &RenderOptions { show_labels: false, ..RenderOptions::default() });
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(count_class(&doc, "lane-label") + count_class(&doc, "connection-label"), 0);
        assert_eq!(count_class(&doc, "lane"), m.intersections[0].lanes.len());
    }

    #[test]
    fn scale_bar_lengths_are_round() {
        assert_eq!(scale_bar_metres(232.0), 50.0);
        assert_eq!(scale_bar_metres(880.0), 200.0);
        assert_eq!(scale_bar_metres(100.0), 20.0);
        assert_eq!(scale_bar_metres(40.0), 10.0);
        assert_eq!(scale_bar_metres(39.0), 5.0);
    }

    #[test]
    fn bad_svg_is_an_error_not_a_panic() {
        assert!(matches!(render_png("<svg"), Err(RenderError::Svg(_))));
        assert!(render_png(r#"<svg xmlns="http://www.w3.org/2000/svg" width="0" height="10"/>"#).is_err());
    }

    /// Writes the examples as SVG and PNG into `$ZHILU_RENDER_OUT` (a
    /// directory) for looking at: `ZHILU_RENDER_OUT=/tmp cargo test -p
    /// map-encoder --lib render::tests::write_examples -- --ignored`.
    #[test]
    #[ignore]
    fn write_examples() {
        let Ok(dir) = std::env::var("ZHILU_RENDER_OUT") else {
            return;
        };
        for (name, m) in [("4leg", four_leg()), ("corridor", corridor())] {
            let svg = render_svg(&m, &RenderOptions::default());
            std::fs::write(format!("{dir}/{name}.svg"), &svg).unwrap();
            std::fs::write(format!("{dir}/{name}.png"), render_png(&svg).unwrap()).unwrap();
        }
    }
}
