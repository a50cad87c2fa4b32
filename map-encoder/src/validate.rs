//! Validation of an intersection file: everything a traffic engineer can get
//! wrong, reported so that it can be fixed without reading code.
//!
//! Owns: the rules (references, directions, geometry, the standard's value
//! ranges and size limits) and the `Diagnostic` type.  Each diagnostic names
//! the file, the line, the element and what was expected.  Must not: change
//! the model, panic, or encode anything.

use crate::geometry::{self, P2};
use crate::model::{
    parse_datetime, Direction, Intersection, LaneType, MapFile, SignalKind, SourceMap, Target, TimeWindow,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Legal but suspicious.
    Warning,
    /// Cannot be compiled into correct map codes.
    Error,
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File name as given.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// The element, e.g. `intersection 1001, lane 12`.
    pub element: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}: {sev}: {}: {}", self.file, self.line, self.element, self.message)
    }
}

/// The standard's size limits that the compiler must respect (T/CSAE 53-2020).
pub mod limits {
    /// NodeList SIZE(1..32): nodes in one MapData, boundary nodes included.
    pub const NODES: usize = 32;
    /// LinkList SIZE(1..32): in-links (approaches) per node.
    pub const LINKS: usize = 32;
    /// LaneList SIZE(1..32): lanes per link.
    pub const LANES: usize = 32;
    /// PointList SIZE(2..31): points per lane.
    pub const POINTS: usize = 31;
    /// ConnectsToList SIZE(1..8): connections per lane.
    pub const CONNECTIONS: usize = 8;
    /// MovementList SIZE(1..32): movements per link.
    pub const MOVEMENTS: usize = 32;
    /// SpeedLimitList SIZE(1..9).
    pub const SPEED_LIMITS: usize = 9;
    /// DescriptiveName SIZE(1..63).
    pub const NAME: usize = 63;
    /// Speed unit 0.02 m/s, 0..8191: the largest speed is 163.8 m/s.
    pub const MAX_KPH: f64 = 8190.0 * 0.02 * 3.6;
    /// LaneWidth in cm, 0..32767.
    pub const MAX_WIDTH_M: f64 = 327.67;
    /// Elevation in 0.1 m, -4096..61439.
    pub const ELEVATION_M: (f64, f64) = (-409.6, 6143.9);
}

struct Ctx<'a> {
    file: &'a str,
    map: &'a SourceMap,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, path: &str, element: String, message: String) {
        let line = self.map.line_of(path).unwrap_or(0);
        self.out.push(Diagnostic { severity, file: self.file.to_string(), line, element, message });
    }
    fn err(&mut self, path: &str, element: String, message: String) {
        self.push(Severity::Error, path, element, message);
    }
    fn warn(&mut self, path: &str, element: String, message: String) {
        self.push(Severity::Warning, path, element, message);
    }
}

/// Check a parsed file.  Returns every finding, errors and warnings, in file order.
pub fn validate(file: &str, m: &MapFile, map: &SourceMap) -> Vec<Diagnostic> {
    let mut cx = Ctx { file, map, out: Vec::new() };
    if m.format != crate::model::FORMAT {
        cx.err(
            "format",
            "file".into(),
            format!("format `{}` is not supported; expected `{}`", m.format, crate::model::FORMAT),
        );
    }
    if m.intersections.is_empty() {
        cx.err("", "file".into(), "no [[intersection]] in the file".into());
    }
    let mut seen: HashMap<(Option<u16>, u16), usize> = HashMap::new();
    for (ii, x) in m.intersections.iter().enumerate() {
        let p = format!("intersection[{ii}]");
        if let Some(prev) = seen.insert((x.region, x.id), ii) {
            cx.err(
                &format!("{p}.id"),
                format!("intersection {}", x.id),
                format!(
                    "duplicate intersection id {} (also intersection #{} in this file); ids must be unique per region",
                    x.id,
                    prev + 1
                ),
            );
        }
        check_intersection(&mut cx, m, ii, x);
    }
    check_links(&mut cx, m);
    // the compiled MapData holds every intersection plus one boundary node per
    // approach with egress lanes that leads out of the file
    let boundary: usize = m
        .intersections
        .iter()
        .map(|x| {
            x.approaches
                .iter()
                .filter(|a| {
                    !m.links.iter().any(|l| l.from.intersection == x.id && l.from.approach == a.id)
                        && x.lanes.iter().any(|l| l.approach == a.id && l.direction == Direction::Egress)
                })
                .count()
        })
        .sum();
    if m.intersections.len() + boundary > limits::NODES {
        cx.warn(
            "",
            "file".into(),
            format!(
                "{} intersections + {boundary} boundary nodes exceed the {} nodes one MapData carries: the MAP will be split into several messages",
                m.intersections.len(),
                limits::NODES
            ),
        );
    }
    cx.out.sort_by_key(|d| (d.line, std::cmp::Reverse(d.severity)));
    cx.out
}

fn ascii_name(cx: &mut Ctx<'_>, path: &str, element: String, what: &str, s: &str) {
    if s.is_empty() || s.len() > limits::NAME || !s.is_ascii() {
        cx.err(
            path,
            element,
            format!(
                "{what} `{s}` must be 1 to {} ASCII characters to fit the standard's DescriptiveName",
                limits::NAME
            ),
        );
    }
}

fn check_time(cx: &mut Ctx<'_>, path: &str, element: String, t: &Option<String>) {
    if let Some(t) = t {
        if let Err(e) = TimeWindow::parse(t) {
            cx.err(path, element, e);
        }
    }
}

fn check_kph(cx: &mut Ctx<'_>, path: &str, element: String, kph: f64) {
    if !(kph > 0.0 && kph <= limits::MAX_KPH) {
        cx.err(
            path,
            element,
            format!("speed {kph} km/h is outside 0 < v <= {:.0} km/h, the standard's range", limits::MAX_KPH),
        );
    } else if kph > 130.0 {
        cx.warn(path, element, format!("speed {kph} km/h is unusually high for an intersection"));
    }
}

fn check_intersection(cx: &mut Ctx<'_>, m: &MapFile, ii: usize, x: &Intersection) {
    let p = format!("intersection[{ii}]");
    let el = |s: &str| format!("intersection {}{s}", x.id);
    if let Some(n) = &x.name {
        ascii_name(cx, &format!("{p}.name"), el(""), "name", n);
    }
    let r = &x.reference;
    if !(-90.0..=90.0).contains(&r.lat) || !(-180.0..=180.0).contains(&r.lon) {
        cx.err(
            &format!("{p}.reference"),
            el(""),
            format!("reference point ({}, {}) is not a WGS84 lat/lon", r.lat, r.lon),
        );
    }
    if r.lat.abs() < 0.01 && r.lon.abs() < 0.01 {
        cx.warn(
            &format!("{p}.reference"),
            el(""),
            "reference point is at (0, 0): a local frame given no real location?".into(),
        );
    }
    if !(limits::ELEVATION_M.0..=limits::ELEVATION_M.1).contains(&r.elevation_m) {
        cx.err(
            &format!("{p}.reference.elevation_m"),
            el(""),
            format!("elevation {} m is outside the standard's -409.6..6143.9 m", r.elevation_m),
        );
    }
    if let Some(v) = x.speed_limit_kph {
        check_kph(cx, &format!("{p}.speed_limit_kph"), el(""), v);
    }
    // approaches
    let mut names = BTreeSet::new();
    if x.approaches.len() > limits::LINKS {
        cx.err(&p, el(""), format!("{} approaches; one node can carry at most {}", x.approaches.len(), limits::LINKS));
    }
    for (ai, a) in x.approaches.iter().enumerate() {
        let ap = format!("{p}.approach[{ai}]");
        if !names.insert(a.id.as_str()) {
            cx.err(&ap, el(&format!(", approach {}", a.id)), format!("duplicate approach `{}`", a.id));
        }
        ascii_name(cx, &format!("{ap}.id"), el(&format!(", approach {}", a.id)), "approach id", &a.id);
        if let Some(v) = a.speed_limit_kph {
            check_kph(cx, &format!("{ap}.speed_limit_kph"), el(&format!(", approach {}", a.id)), v);
        }
        let n = x.lanes.iter().filter(|l| l.approach == a.id && l.direction != Direction::Egress).count();
        if n > limits::LANES {
            cx.err(
                &ap,
                el(&format!(", approach {}", a.id)),
                format!("{n} lanes; one link can carry at most {}", limits::LANES),
            );
        }
        if !x.lanes.iter().any(|l| l.approach == a.id) {
            cx.warn(&ap, el(&format!(", approach {}", a.id)), "approach has no lanes".into());
        }
        if a.upstream_node == Some(x.id) {
            cx.err(
                &format!("{ap}.upstream_node"),
                el(&format!(", approach {}", a.id)),
                "upstream_node is this intersection itself".into(),
            );
        }
    }
    // signal groups
    let mut groups = BTreeMap::new();
    for (gi, g) in x.signal_groups.iter().enumerate() {
        let gp = format!("{p}.signal_group[{gi}]");
        if groups.insert(g.id, g).is_some() {
            cx.err(&gp, el(&format!(", signal group {}", g.id)), format!("duplicate signal group id {}", g.id));
        }
        if g.id == 0 {
            cx.warn(&gp, el(", signal group 0"), "phase id 0 means `unavailable` to many receivers; use 1..255".into());
        }
    }
    let group_list = || groups.keys().map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
    // lanes
    let frame = geometry::frame(x);
    // lane directions are judged from where the lanes meet; the reference point only when fewer
    // than three lanes say where that is
    let centre = geometry::junction_centre(&frame, x, 3).unwrap_or_else(geometry::P2::zeros);
    let mut lane_idx: HashMap<u8, usize> = HashMap::new();
    let mut lines: HashMap<u8, Vec<P2>> = HashMap::new();
    for (li, l) in x.lanes.iter().enumerate() {
        let lp = format!("{p}.lane[{li}]");
        let le = el(&format!(", lane {}", l.id));
        if let Some(prev) = lane_idx.insert(l.id, li) {
            cx.err(
                &format!("{lp}.id"),
                le.clone(),
                format!("duplicate lane id {} (first used by lane #{} of this intersection)", l.id, prev + 1),
            );
        }
        if l.id == 0 {
            cx.err(&format!("{lp}.id"), le.clone(), "lane id 0 is reserved by the standard; use 1..255".into());
        }
        if x.approach(&l.approach).is_none() {
            cx.err(
                &format!("{lp}.approach"),
                le.clone(),
                format!(
                    "unknown approach `{}`; declared: {}",
                    l.approach,
                    x.approaches.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if !(l.width_m > 0.0 && l.width_m <= limits::MAX_WIDTH_M) {
            cx.err(
                &format!("{lp}.width_m"),
                le.clone(),
                format!("width {} m is outside 0 < w <= 327.67 m (LaneWidth in cm)", l.width_m),
            );
        } else if l.lane_type.is_travel_lane() && l.lane_type != LaneType::Bike && !(2.5..=5.5).contains(&l.width_m) {
            cx.warn(
                &format!("{lp}.width_m"),
                le.clone(),
                format!("width {} m is unusual for a {:?} lane (2.5..5.5 m expected)", l.width_m, l.lane_type),
            );
        }
        let pts = match (&l.points, &l.points_wgs84) {
            (Some(_), Some(_)) => {
                cx.err(&lp, le.clone(), "give either `points` or `points_wgs84`, not both".into());
                continue;
            }
            (None, None) => {
                cx.err(
                    &lp,
                    le.clone(),
                    "lane has no centre line: add `points` (local metres) or `points_wgs84`".into(),
                );
                continue;
            }
            (_, Some(w)) => {
                if let Some(bad) =
                    w.iter().find(|q| !(-90.0..=90.0).contains(&q[0]) || !(-180.0..=180.0).contains(&q[1]))
                {
                    cx.err(
                        &format!("{lp}.points_wgs84"),
                        le.clone(),
                        format!("[{}, {}] is not [lat, lon]", bad[0], bad[1]),
                    );
                    continue;
                }
                geometry::centreline(&frame, l)
            }
            _ => geometry::centreline(&frame, l),
        };
        if pts.iter().any(|q| !q.x.is_finite() || !q.y.is_finite()) {
            cx.err(&format!("{lp}.points"), le.clone(), "points must be finite numbers".into());
            continue;
        }
        if pts.len() < 2 || pts.len() > limits::POINTS {
            cx.err(
                &format!("{lp}.points"),
                le.clone(),
                format!(
                    "{} points; the standard's PointList carries 2 to {} per lane (simplify the centre line)",
                    pts.len(),
                    limits::POINTS
                ),
            );
        }
        if pts.windows(2).any(|s| (s[1] - s[0]).norm() < 0.01) {
            cx.warn(&format!("{lp}.points"), le.clone(), "two consecutive points are less than 1 cm apart".into());
        }
        if let Some(far) = pts.iter().map(|q| q.norm()).reduce(f64::max) {
            if far > 2000.0 {
                cx.warn(
                    &format!("{lp}.points"),
                    le.clone(),
                    format!("a point is {far:.0} m from the reference point: wrong frame or units?"),
                );
            }
        }
        if pts.len() >= 2 && l.lane_type.is_travel_lane() {
            let d0 = (pts[0] - centre).norm();
            let d1 = (pts[pts.len() - 1] - centre).norm();
            match l.direction {
                // within 2 m the lane may just curve around the centre: warn only
                Direction::Ingress if d1 > d0 && d1 - d0 <= 2.0 => cx.warn(
                    &format!("{lp}.points"),
                    le.clone(),
                    format!("ingress lane ends {:.1} m further from the junction centre than it starts: check its direction", d1 - d0),
                ),
                Direction::Egress if d1 < d0 && d0 - d1 <= 2.0 => cx.warn(
                    &format!("{lp}.points"),
                    le.clone(),
                    format!("egress lane ends {:.1} m nearer the junction centre than it starts: check its direction", d0 - d1),
                ),
                Direction::Ingress if d1 > d0 => cx.err(
                    &format!("{lp}.points"),
                    le.clone(),
                    format!("ingress lane runs away from the intersection ({d0:.1} m -> {d1:.1} m from the junction centre): list points towards the stop line, or make it `egress`"),
                ),
                Direction::Egress if d1 < d0 => cx.err(
                    &format!("{lp}.points"),
                    le.clone(),
                    format!("egress lane runs towards the intersection ({d0:.1} m -> {d1:.1} m): list points away from the intersection, or make it `ingress`"),
                ),
                Direction::Ingress if l.stop_line => {
                    let stop = pts[pts.len() - 1];
                    let last_seg = stop - pts[pts.len() - 2];
                    // a point beyond the stop line lies further along the lane's final direction
                    if let Some(k) = pts[..pts.len() - 1].iter().position(|q| (q - stop).dot(&last_seg) > 0.5) {
                        cx.err(
                            &format!("{lp}.points[{k}]"),
                            le.clone(),
                            format!("point {k} lies beyond the stop line (the last point of an ingress lane); the lane must end at its stop line"),
                        );
                    }
                }
                _ => {}
            }
        }
        if l.lane_type == LaneType::Crosswalk {
            if l.direction != Direction::Both {
                cx.warn(
                    &format!("{lp}.direction"),
                    le.clone(),
                    "crosswalks are walked both ways: use direction = \"both\"".into(),
                );
            }
            match l.signal_group {
                Some(g) => match groups.get(&g) {
                    None => cx.err(
                        &format!("{lp}.signal_group"),
                        le.clone(),
                        format!("unknown signal group {g}; defined: {}", group_list()),
                    ),
                    Some(sg) if sg.kind != SignalKind::Pedestrian => cx.warn(
                        &format!("{lp}.signal_group"),
                        le.clone(),
                        format!("crosswalk uses signal group {g}, which is not of kind `pedestrian`"),
                    ),
                    _ => {}
                },
                None if !groups.is_empty() => cx.warn(
                    &lp,
                    le.clone(),
                    "crosswalk at a signalised intersection has no pedestrian signal group".into(),
                ),
                None => {}
            }
        } else if let Some(g) = l.signal_group {
            cx.err(
                &format!("{lp}.signal_group"),
                le.clone(),
                format!("signal_group {g} on a lane is only for crosswalks; put vehicle signal groups on connections"),
            );
        }
        if l.lane_type.is_travel_lane() && l.direction == Direction::Both {
            cx.err(&format!("{lp}.direction"), le.clone(), "a travel lane must be `ingress` or `egress`".into());
        }
        if l.speed_limits.len() > limits::SPEED_LIMITS {
            cx.err(
                &format!("{lp}.speed_limits"),
                le.clone(),
                format!("{} speed limits; the standard carries at most {}", l.speed_limits.len(), limits::SPEED_LIMITS),
            );
        }
        for (si, s) in l.speed_limits.iter().enumerate() {
            check_kph(cx, &format!("{lp}.speed_limits[{si}].kph"), le.clone(), s.kph);
            check_time(cx, &format!("{lp}.speed_limits[{si}].time"), le.clone(), &s.time);
        }
        for (bi, b) in l.bans.iter().enumerate() {
            check_time(cx, &format!("{lp}.bans[{bi}].time"), le.clone(), &b.time);
            if l.only.contains(&b.vehicle) {
                cx.err(
                    &format!("{lp}.bans[{bi}]"),
                    le.clone(),
                    format!("{:?} is both the only class allowed and banned", b.vehicle),
                );
            }
        }
        if l.lane_type == LaneType::Bus && !l.only.is_empty() && !l.only.contains(&crate::model::VehicleClass::Bus) {
            cx.err(&format!("{lp}.only"), le.clone(), "a bus lane whose `only` list does not include bus".into());
        }
        if pts.len() >= 2 {
            lines.insert(l.id, pts);
        }
    }
    // overlapping / crossing lanes on the same approach and direction
    for (a_i, a) in x.lanes.iter().enumerate() {
        for b in x.lanes.iter().skip(a_i + 1) {
            if a.approach != b.approach
                || a.direction != b.direction
                || !a.lane_type.is_travel_lane()
                || !b.lane_type.is_travel_lane()
            {
                continue;
            }
            let (Some(pa), Some(pb)) = (lines.get(&a.id), lines.get(&b.id)) else { continue };
            if a.id == b.id {
                continue;
            }
            let d = geometry::polyline_distance(pa, pb);
            let need = (a.width_m + b.width_m) / 2.0;
            let lp = format!("{p}.lane[{}]", lane_idx.get(&b.id).copied().unwrap_or(0));
            if geometry::polylines_cross(pa, pb) {
                cx.err(
                    &lp,
                    el(&format!(", lane {}", b.id)),
                    format!("centre line crosses lane {}'s on the same approach", a.id),
                );
            } else if d < need - 0.25 {
                cx.err(
                    &lp,
                    el(&format!(", lane {}", b.id)),
                    format!("overlaps lane {}: centre lines {d:.2} m apart, their half-widths need {need:.2} m", a.id),
                );
            }
        }
    }
    // connections
    let mut per_lane: BTreeMap<u8, usize> = BTreeMap::new();
    let mut pairs = BTreeSet::new();
    for (ci, c) in x.connections.iter().enumerate() {
        let cp = format!("{p}.connection[{ci}]");
        let ce = el(&format!(", connection {} -> {}", c.from, target_text(&c.to)));
        match x.lane(c.from) {
            None => cx.err(&format!("{cp}.from"), ce.clone(), format!("lane {} does not exist", c.from)),
            Some(l) if l.direction != Direction::Ingress || !l.lane_type.is_travel_lane() => cx.err(
                &format!("{cp}.from"),
                ce.clone(),
                format!(
                    "lane {} is {:?} {:?}; connections start at an ingress travel lane",
                    c.from, l.direction, l.lane_type
                ),
            ),
            _ => {}
        }
        match &c.to {
            Target::Lane(t) => match x.lane(*t) {
                None => cx.err(&format!("{cp}.to"), ce.clone(), format!("lane {t} does not exist")),
                Some(l) if l.direction != Direction::Egress => cx.err(
                    &format!("{cp}.to"),
                    ce.clone(),
                    format!(
                        "lane {t} is {:?}: a connection must end on an egress lane (this one runs against traffic)",
                        l.direction
                    ),
                ),
                Some(l)
                    if x.lane(c.from).is_some_and(|f| f.approach == l.approach)
                        && c.maneuver != crate::model::Maneuver::UTurn =>
                {
                    cx.warn(
                        &format!("{cp}.to"),
                        ce.clone(),
                        format!("connection returns to its own approach `{}` but is not a u_turn", l.approach),
                    )
                }
                _ => {}
            },
            Target::Remote { intersection, lane, .. } => {
                if *intersection == x.id {
                    cx.err(
                        &format!("{cp}.to"),
                        ce.clone(),
                        "use `to = <lane id>` for a lane of this intersection".into(),
                    );
                } else if let Some(other) = m.intersection(*intersection) {
                    match other.lane(*lane) {
                        None => cx.err(
                            &format!("{cp}.to"),
                            ce.clone(),
                            format!("intersection {intersection} has no lane {lane}"),
                        ),
                        Some(l) if l.direction != Direction::Ingress => cx.err(
                            &format!("{cp}.to"),
                            ce.clone(),
                            format!("lane {lane} of intersection {intersection} is not an ingress lane"),
                        ),
                        _ => {}
                    }
                }
            }
        }
        match c.signal_group {
            Some(g) if !groups.contains_key(&g) => cx.err(
                &format!("{cp}.signal_group"),
                ce.clone(),
                format!("unknown signal group {g}; defined: {}", group_list()),
            ),
            Some(g) if groups.get(&g).is_some_and(|sg| sg.kind == SignalKind::Pedestrian) => {
                cx.err(&format!("{cp}.signal_group"), ce.clone(), format!("signal group {g} is a pedestrian group"))
            }
            None if !groups.is_empty() => {
                cx.warn(&cp, ce.clone(), "connection at a signalised intersection has no signal group".into())
            }
            _ => {}
        }
        *per_lane.entry(c.from).or_default() += 1;
        if !pairs.insert((c.from, target_text(&c.to))) {
            cx.err(&cp, ce.clone(), "duplicate connection".into());
        }
    }
    for (lane, n) in per_lane {
        if n > limits::CONNECTIONS {
            let li = lane_idx.get(&lane).copied().unwrap_or(0);
            cx.err(
                &format!("{p}.lane[{li}]"),
                el(&format!(", lane {lane}")),
                format!(
                    "{n} connections; the standard's ConnectsToList carries at most {} per lane",
                    limits::CONNECTIONS
                ),
            );
        }
    }
    for (li, l) in x.lanes.iter().enumerate() {
        if l.direction == Direction::Ingress
            && l.lane_type.is_travel_lane()
            && !x.connections.iter().any(|c| c.from == l.id)
        {
            cx.warn(
                &format!("{p}.lane[{li}]"),
                el(&format!(", lane {}", l.id)),
                "ingress lane has no connections: vehicles in it can go nowhere".into(),
            );
        }
    }
    for (gi, g) in x.signal_groups.iter().enumerate() {
        let used = x.connections.iter().any(|c| c.signal_group == Some(g.id))
            || x.lanes.iter().any(|l| l.signal_group == Some(g.id));
        if !used {
            cx.warn(
                &format!("{p}.signal_group[{gi}]"),
                el(&format!(", signal group {}", g.id)),
                "signal group is not used by any connection or crosswalk".into(),
            );
        }
    }
    // work zones
    let mut zones = BTreeSet::new();
    for (wi, w) in x.work_zones.iter().enumerate() {
        let wp = format!("{p}.work_zone[{wi}]");
        let we = el(&format!(", work zone {}", w.id));
        if !zones.insert(w.id) {
            cx.err(&wp, we.clone(), format!("duplicate work zone id {}", w.id));
        }
        if w.lanes.is_empty() {
            cx.err(&format!("{wp}.lanes"), we.clone(), "a work zone needs at least one lane".into());
        }
        for l in &w.lanes {
            if x.lane(*l).is_none() {
                cx.err(&format!("{wp}.lanes"), we.clone(), format!("lane {l} does not exist"));
            }
        }
        if let Some(v) = w.speed_limit_kph {
            check_kph(cx, &format!("{wp}.speed_limit_kph"), we.clone(), v);
        }
        if w.closed {
            for l in &w.lanes {
                let into: Vec<String> = x
                    .connections
                    .iter()
                    .filter(|c| c.to == Target::Lane(*l) || c.from == *l)
                    .map(|c| format!("{} -> {}", c.from, target_text(&c.to)))
                    .collect();
                if !into.is_empty() {
                    cx.warn(
                        &format!("{wp}.lanes"),
                        we.clone(),
                        format!("closes lane {l}, which connections still use ({}): vehicles will be sent into a closed lane", into.join(", ")),
                    );
                }
            }
        }
        if !w.closed && w.speed_limit_kph.is_none() {
            cx.warn(&wp, we.clone(), "work zone neither closes lanes nor limits speed".into());
        }
        let s = w.start.as_deref().map(parse_datetime);
        let e = w.end.as_deref().map(parse_datetime);
        if let Some(Err(msg)) = &s {
            cx.err(&format!("{wp}.start"), we.clone(), msg.clone());
        }
        if let Some(Err(msg)) = &e {
            cx.err(&format!("{wp}.end"), we.clone(), msg.clone());
        }
        if let (Some(Ok(a)), Some(Ok(b))) = (&s, &e) {
            if b <= a {
                cx.err(&format!("{wp}.end"), we.clone(), "end is not after start".into());
            }
        }
        if let Some(d) = &w.description {
            if !d.is_ascii() || d.len() > 512 {
                cx.err(
                    &format!("{wp}.description"),
                    we.clone(),
                    "description must be 1 to 512 ASCII characters (IA5String in RSI)".into(),
                );
            }
        }
    }
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Lane(l) => format!("lane {l}"),
        Target::Remote { intersection, lane, .. } => format!("intersection {intersection} lane {lane}"),
    }
}

fn check_links(cx: &mut Ctx<'_>, m: &MapFile) {
    let mut into = BTreeSet::new();
    for (k, l) in m.links.iter().enumerate() {
        let lp = format!("link[{k}]");
        let le = format!("link {}:{} -> {}:{}", l.from.intersection, l.from.approach, l.to.intersection, l.to.approach);
        let from = m.intersection(l.from.intersection);
        let to = m.intersection(l.to.intersection);
        for (end, x, which) in [(&l.from, from, "from"), (&l.to, to, "to")] {
            match x {
                None => cx.err(
                    &format!("{lp}.{which}"),
                    le.clone(),
                    format!("intersection {} is not in this file", end.intersection),
                ),
                Some(x) if x.approach(&end.approach).is_none() => cx.err(
                    &format!("{lp}.{which}"),
                    le.clone(),
                    format!("intersection {} has no approach `{}`", end.intersection, end.approach),
                ),
                _ => {}
            }
        }
        if l.from.intersection == l.to.intersection {
            cx.err(&lp, le.clone(), "a link joins two different intersections".into());
        }
        if !into.insert((l.to.intersection, l.to.approach.clone())) {
            cx.err(&format!("{lp}.to"), le.clone(), "another link already ends at this approach".into());
        }
        let (Some(from), Some(to)) = (from, to) else { continue };
        let eg: Vec<_> = from
            .lanes
            .iter()
            .filter(|x| {
                x.approach == l.from.approach && x.direction == Direction::Egress && x.lane_type.is_travel_lane()
            })
            .collect();
        let ing: Vec<_> = to
            .lanes
            .iter()
            .filter(|x| {
                x.approach == l.to.approach && x.direction == Direction::Ingress && x.lane_type.is_travel_lane()
            })
            .collect();
        if l.lane_map.is_empty() {
            if eg.len() != ing.len() && !eg.is_empty() {
                cx.warn(
                    &lp,
                    le.clone(),
                    format!(
                        "{} egress lanes lead onto {} ingress lanes; add `lane_map` to say which joins which",
                        eg.len(),
                        ing.len()
                    ),
                );
            }
        } else {
            for (pi, [a, b]) in l.lane_map.iter().enumerate() {
                if !eg.iter().any(|x| x.id == *a) {
                    cx.err(
                        &format!("{lp}.lane_map[{pi}]"),
                        le.clone(),
                        format!("lane {a} is not an egress travel lane of {}:{}", l.from.intersection, l.from.approach),
                    );
                }
                if !ing.iter().any(|x| x.id == *b) {
                    cx.err(
                        &format!("{lp}.lane_map[{pi}]"),
                        le.clone(),
                        format!("lane {b} is not an ingress travel lane of {}:{}", l.to.intersection, l.to.approach),
                    );
                }
            }
        }
        if let Some(a) = to.approach(&l.to.approach) {
            if let Some(u) = a.upstream_node {
                if u != l.from.intersection {
                    cx.err(
                        &lp,
                        le.clone(),
                        format!(
                            "approach `{}` says its upstream node is {u}, the link says {}",
                            a.id, l.from.intersection
                        ),
                    );
                }
            }
        }
    }
}

/// Whether any diagnostic is an error.
pub fn has_errors(d: &[Diagnostic]) -> bool {
    d.iter().any(|x| x.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse, Syntax};

    fn check(text: &str) -> Vec<Diagnostic> {
        let (m, map) = parse("t.toml", text, Syntax::Toml).expect("parses");
        validate("t.toml", &m, &map)
    }

    #[test]
    fn shipped_examples_have_no_errors() {
        for (name, text) in [
            ("4leg", include_str!("../../examples/4leg.toml")),
            ("corridor", include_str!("../../examples/corridor.toml")),
        ] {
            let d = check(text);
            let errors: Vec<_> = d.iter().filter(|x| x.severity == Severity::Error).map(|x| x.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {errors:#?}");
            let warnings: Vec<_> = d.iter().map(|x| x.to_string()).collect();
            assert!(warnings.is_empty(), "{name}: {warnings:#?}");
        }
    }

    fn with(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "fixture lacks `{from}`");
        text.replacen(from, to, 1)
    }

    const EX: &str = include_str!("../../examples/4leg.toml");

    fn has(d: &[Diagnostic], sev: Severity, needle: &str) -> bool {
        d.iter().any(|x| x.severity == sev && x.to_string().contains(needle))
    }

    #[test]
    fn unknown_signal_group_names_line_and_choices() {
        let t = with(EX, "signal_group = 5\n", "signal_group = 99\n");
        let d = check(&t);
        let e = d.iter().find(|x| x.message.contains("unknown signal group 99")).expect("reported");
        assert!(e.message.contains("defined: 1, 2"), "{e}");
        let line = t.lines().position(|l| l == "signal_group = 99").unwrap() + 1;
        assert_eq!(e.line, line, "{e}");
        assert!(e.element.contains("connection"), "{e}");
    }

    #[test]
    fn connection_to_missing_or_ingress_lane() {
        let d = check(&with(EX, "from = 1\nto = ", "from = 1\nto = 200 #"));
        assert!(has(&d, Severity::Error, "lane 200 does not exist"), "{d:#?}");
        let d = check(&with(EX, "from = 1\nto = ", "from = 1\nto = 2 #"));
        assert!(has(&d, Severity::Error, "runs against traffic"), "{d:#?}");
    }

    #[test]
    fn duplicate_lane_id() {
        let d = check(&with(EX, "id = 2\napproach = \"north\"", "id = 1\napproach = \"north\""));
        assert!(has(&d, Severity::Error, "duplicate lane id 1"), "{d:#?}");
    }

    #[test]
    fn reversed_ingress_lane_runs_against_traffic() {
        let d = check(&with(
            EX,
            "points = [[-5.25, 160.00], [-5.25, 91.00], [-5.25, 22.00]]",
            "points = [[-5.25, 22.00], [-5.25, 91.00], [-5.25, 160.00]]",
        ));
        assert!(has(&d, Severity::Error, "runs away from the intersection"), "{d:#?}");
    }

    #[test]
    fn lane_past_stop_line() {
        let d = check(&with(
            EX,
            "points = [[-5.25, 160.00], [-5.25, 91.00], [-5.25, 22.00]]",
            "points = [[-5.25, 160.00], [-5.25, 10.00], [-5.25, 22.00]]",
        ));
        assert!(has(&d, Severity::Error, "beyond the stop line"), "{d:#?}");
    }

    #[test]
    fn overlapping_lanes() {
        let d = check(&with(
            EX,
            "points = [[-5.25, 160.00], [-5.25, 91.00], [-5.25, 22.00]]",
            "points = [[-6.25, 160.00], [-6.25, 91.00], [-6.25, 22.00]]",
        ));
        assert!(has(&d, Severity::Error, "overlaps lane"), "{d:#?}");
    }

    #[test]
    fn standard_limits() {
        let many: Vec<String> = (0..32).map(|i| format!("[-5.25, {}.0]", 200 - i * 5)).collect();
        let d = check(&with(
            EX,
            "points = [[-5.25, 160.00], [-5.25, 91.00], [-5.25, 22.00]]",
            &format!("points = [{}]", many.join(", ")),
        ));
        assert!(has(&d, Severity::Error, "PointList carries 2 to 31"), "{d:#?}");
        let d = check(&with(EX, "width_m = 3.5", "width_m = 400.0"));
        assert!(has(&d, Severity::Error, "LaneWidth"), "{d:#?}");
        let d = check(&with(EX, "speed_limit_kph = 60", "speed_limit_kph = 900"));
        assert!(has(&d, Severity::Error, "standard's range"), "{d:#?}");
        let d = check(&with(EX, "name = \"Tianhe Rd / Tiyu W Rd\"", "name = \"天河路\""));
        assert!(has(&d, Severity::Error, "ASCII"), "{d:#?}");
    }

    #[test]
    fn too_many_connections_for_one_lane() {
        let mut t = EX.to_string();
        for k in 0..8 {
            t.push_str(&format!("\n[[intersection.connection]]\nfrom = 2\nto = {{ intersection = 9, lane = {} }}\nmaneuver = \"straight\"\nsignal_group = 2\n", k + 1));
        }
        let d = check(&t);
        assert!(has(&d, Severity::Error, "at most 8 per lane"), "{d:#?}");
    }

    #[test]
    fn warnings_for_suspicious_input() {
        let d = check(&with(
            EX,
            "[[intersection.signal_group]]\nid = 5\n",
            "[[intersection.signal_group]]\nid = 77\n[[intersection.signal_group]]\nid = 5\n",
        ));
        assert!(has(&d, Severity::Warning, "not used by any connection"), "{d:#?}");
        let d = check(&with(EX, "width_m = 3.5", "width_m = 6.5"));
        assert!(has(&d, Severity::Warning, "unusual"), "{d:#?}");
        assert!(
            !has_errors(&d) || d.iter().all(|x| x.severity == Severity::Warning || x.message.contains("overlaps")),
            "{d:#?}"
        );
    }

    #[test]
    fn closing_a_lane_that_connections_use_is_flagged() {
        let d = check(&with(EX, "speed_limit_kph = 30\nstart", "closed = true\nspeed_limit_kph = 30\nstart"));
        assert!(has(&d, Severity::Warning, "vehicles will be sent into a closed lane"), "{d:#?}");
    }

    #[test]
    fn bad_time_window_and_links() {
        let d = check(&with(EX, "time = \"07:00-09:00\"", "time = \"7 to 9\""));
        assert!(has(&d, Severity::Error, "not a time window"), "{d:#?}");
        let c = include_str!("../../examples/corridor.toml");
        let d = check(&with(
            c,
            "to = { intersection = 2002, approach = \"west\" }",
            "to = { intersection = 2002, approach = \"nowhere\" }",
        ));
        assert!(has(&d, Severity::Error, "has no approach `nowhere`"), "{d:#?}");
    }
}
