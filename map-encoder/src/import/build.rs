//! From an imported [`Network`] to the intersection model.
//!
//! Rules (documented for engineers in `docs/importers.md`):
//! * every selected junction (by default the signalised ones) becomes an
//!   intersection; its reference point is the junction centre the map gives,
//!   else the mean of its lanes' junction-side ends;
//! * lanes entering the junction are ingress lanes, lanes leaving it egress
//!   lanes; each is cut to the `max_lane_length_m` nearest the junction and
//!   simplified (Douglas-Peucker) with `tolerance_m`, the tolerance doubling
//!   until the standard's 31 points fit; the achieved error is reported;
//! * lanes are grouped into approaches by the bearing of their far side
//!   (within 35 degrees), named by compass direction, numbered 1.. per
//!   intersection: per approach ingress lanes from the median outwards, then
//!   egress lanes, then crosswalks;
//! * the map's signals become signal groups: when all of a junction's signals
//!   are numbered 1..255 they keep their numbers, else they are numbered 1..
//!   in order of first use; manoeuvres the map does not give come from the
//!   turn angle;
//! * a lane that leaves one selected junction and enters another joins the
//!   two approaches with a `[[link]]` (when all egress lanes of the approach
//!   do so);
//! * anything beyond the standard's limits (lanes per approach, connections
//!   per lane) is dropped deterministically with a warning naming the ids.

use super::network::{NetLane, Network};
use super::proj::ToWgs84;
use super::ImportError;
use crate::geo::{LatLon, LocalFrame};
use crate::geometry::{self, P2};
use crate::model::{
    Approach, Ban, Connection, Direction, Intersection, Lane, LaneType, Link, LinkEnd, Maneuver, MapFile, Reference,
    SignalGroup, SignalKind, SpeedLimit, Target, FORMAT,
};
use crate::validate::limits;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Options of [`build`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Junction ids to import; empty means every signalised junction.
    pub junctions: Vec<String>,
    /// Lateral tolerance of the geometry simplification, metres.
    pub tolerance_m: f64,
    /// Length of each lane kept next to its junction, metres.
    pub max_lane_length_m: f64,
    /// Region id to write.
    pub region: Option<u16>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { junctions: Vec::new(), tolerance_m: 0.1, max_lane_length_m: 250.0, region: None }
    }
}

/// What the import produced and what it could not map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Warnings with source ids.
    pub warnings: Vec<String>,
    /// Largest lateral deviation of a simplified centre line from the source, metres.
    pub max_simplification_error_m: f64,
    /// Centre lines whose tolerance had to grow beyond `tolerance_m` to fit 31 points.
    pub coarsened_lanes: usize,
    /// Per intersection: (id, source junction id, lanes, connections, signal groups).
    pub intersections: Vec<(u16, String, usize, usize, usize)>,
}

/// Douglas-Peucker simplification; returns the kept points and the largest
/// distance of a dropped point from the simplified line.
pub fn simplify(points: &[P2], tolerance: f64) -> (Vec<P2>, f64) {
    if points.len() <= 2 {
        return (points.to_vec(), 0.0);
    }
    let mut keep = vec![false; points.len()];
    keep[0] = true;
    keep[points.len() - 1] = true;
    let mut stack = vec![(0usize, points.len() - 1)];
    while let Some((a, b)) = stack.pop() {
        let mut best = (0.0, 0usize);
        for i in a + 1..b {
            let d = geometry::point_segment_distance(points[i], points[a], points[b]);
            if d > best.0 {
                best = (d, i);
            }
        }
        if best.0 > tolerance {
            keep[best.1] = true;
            stack.push((a, best.1));
            stack.push((best.1, b));
        }
    }
    let kept: Vec<P2> = points.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
    // the achieved error: each dropped point against the segment that replaced it
    let mut err: f64 = 0.0;
    let idx: Vec<usize> = keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i).collect();
    for w in idx.windows(2) {
        for p in &points[w[0] + 1..w[1]] {
            err = err.max(geometry::point_segment_distance(*p, points[w[0]], points[w[1]]));
        }
    }
    (kept, err)
}

/// Simplify to at most `limits::POINTS` points, doubling the tolerance as needed.
fn fit_points(points: &[P2], tolerance: f64) -> (Vec<P2>, f64, bool) {
    let mut tol = tolerance;
    loop {
        let (kept, err) = simplify(points, tol);
        if kept.len() <= limits::POINTS {
            return (kept, err, tol > tolerance);
        }
        tol *= 2.0;
    }
}

/// Keep the part of a polyline within `len` metres of its start.
fn head(points: &[P2], len: f64) -> Vec<P2> {
    let mut out = vec![];
    let mut acc = 0.0;
    for (i, p) in points.iter().enumerate() {
        if i == 0 {
            out.push(*p);
            continue;
        }
        let seg = (p - points[i - 1]).norm();
        if acc + seg >= len {
            let t = (len - acc) / seg.max(1e-9);
            out.push(points[i - 1] + (p - points[i - 1]) * t);
            break;
        }
        acc += seg;
        out.push(*p);
    }
    out
}

fn dedup(points: Vec<P2>) -> Vec<P2> {
    let mut out: Vec<P2> = Vec::with_capacity(points.len());
    for p in points {
        if out.last().is_none_or(|q| (p - q).norm() > 0.02) {
            out.push(p);
        }
    }
    out
}

/// Bearing (degrees clockwise from north) of the direction from `from` to a
/// point about 15 m along `pts` (pts start at the junction side).
fn far_bearing(pts: &[P2]) -> f64 {
    let probe = head(pts, 15.0);
    let d = probe.last().copied().unwrap_or(P2::zeros()) - pts[0];
    geometry::heading_deg(d)
}

fn angle_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    if d > 180.0 {
        d - 360.0
    } else {
        d
    }
}

fn compass(b: f64) -> &'static str {
    const N: [&str; 8] = ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"];
    N[(((b + 22.5).rem_euclid(360.0)) / 45.0) as usize % 8]
}

fn round_cm(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

struct LaneGeo {
    /// Local points of the kept part, in travel direction.
    pts: Vec<P2>,
    /// Bearing of the far side (away from the junction).
    bearing: f64,
}

/// Build the intersection model from a network.
pub fn build(net: &Network, opts: &BuildOptions) -> Result<(MapFile, ImportReport), ImportError> {
    let to_wgs = ToWgs84::new(&net.geo)?;
    let mut report = ImportReport { warnings: net.warnings.clone(), ..Default::default() };
    let lanes: HashMap<&str, &NetLane> = net.lanes.iter().map(|l| (l.id.as_str(), l)).collect();
    let any_signalised = net.junctions.iter().any(|j| j.signalised);
    if opts.junctions.is_empty() && !any_signalised && !net.junctions.is_empty() {
        report.warnings.push(format!(
            "the map has no traffic signals: importing all {} junctions as unsignalised intersections",
            net.junctions.len()
        ));
    }
    let selected: Vec<_> = net
        .junctions
        .iter()
        .filter(|j| {
            if opts.junctions.is_empty() {
                j.signalised || !any_signalised
            } else {
                opts.junctions.contains(&j.id)
            }
        })
        .collect();
    for want in &opts.junctions {
        if !net.junctions.iter().any(|j| j.id == *want) {
            report.warnings.push(format!("junction `{want}` is not in the map"));
        }
    }
    if selected.is_empty() {
        return Err(ImportError::Empty(if opts.junctions.is_empty() {
            format!(
                "no signalised junction among the map's {} junctions; name some with --intersections",
                net.junctions.len()
            )
        } else {
            "none of the requested junctions is in the map".to_string()
        }));
    }
    // WGS84 of every lane point, once
    let mut wgs: HashMap<&str, Vec<[f64; 2]>> = HashMap::new();
    for l in &net.lanes {
        let mut v = Vec::with_capacity(l.centre.len());
        for p in &l.centre {
            v.push(to_wgs.lat_lon(*p)?);
        }
        wgs.insert(l.id.as_str(), v);
    }
    // intersection ids: the junction's own id when numeric and unique, else sequential
    let mut used_ids = BTreeSet::new();
    let mut ids: Vec<u16> = Vec::new();
    for j in &selected {
        let id = j.id.parse::<u16>().ok().filter(|i| !used_ids.contains(i));
        ids.push(id.unwrap_or(0));
        if let Some(i) = id {
            used_ids.insert(i);
        }
    }
    let mut next = 1u16;
    for id in ids.iter_mut() {
        if *id == 0 {
            while used_ids.contains(&next) {
                next += 1;
            }
            *id = next;
            used_ids.insert(next);
        }
    }
    let mut out = MapFile { format: FORMAT.to_string(), intersections: Vec::new(), links: Vec::new() };
    // (net lane id) -> (intersection id, approach, local lane id, egress?)
    let mut placed: Vec<(String, u16, String, u8, bool)> = Vec::new();
    for (j, &xid) in selected.iter().zip(&ids) {
        let conns: Vec<_> = net.connections.iter().filter(|c| c.junction == j.id).collect();
        let mut incoming: Vec<&str> = Vec::new();
        let mut outgoing: Vec<&str> = Vec::new();
        for c in &conns {
            for (id, list) in [(c.from.as_str(), &mut incoming), (c.to.as_str(), &mut outgoing)] {
                if !lanes.contains_key(id) {
                    report.warnings.push(format!(
                        "junction {}: connection {} -> {} names a missing lane `{id}`",
                        j.id, c.from, c.to
                    ));
                } else if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        for l in &net.lanes {
            if l.from_junction.as_deref() == Some(&j.id)
                && !outgoing.contains(&l.id.as_str())
                && l.lane_type.is_travel_lane()
            {
                outgoing.push(l.id.as_str());
            }
        }
        if incoming.is_empty() {
            report.warnings.push(format!("junction {}: no connections; skipped", j.id));
            continue;
        }
        // reference point
        let ends: Vec<[f64; 2]> = incoming
            .iter()
            .filter_map(|id| wgs.get(id).and_then(|v| v.last().copied()))
            .chain(outgoing.iter().filter_map(|id| wgs.get(id).and_then(|v| v.first().copied())))
            .collect();
        let refll = match j.centre {
            Some(c) => to_wgs.lat_lon(c)?,
            None => {
                let n = ends.len().max(1) as f64;
                [ends.iter().map(|p| p[0]).sum::<f64>() / n, ends.iter().map(|p| p[1]).sum::<f64>() / n]
            }
        };
        let frame = LocalFrame::new(LatLon { lat_deg: refll[0], lon_deg: refll[1], elevation_m: 0.0 });
        let local = |id: &str| -> Vec<P2> {
            wgs.get(id)
                .map(|v| {
                    v.iter()
                        .map(|q| {
                            let e = frame.to_local(LatLon { lat_deg: q[0], lon_deg: q[1], elevation_m: 0.0 });
                            P2::new(e.x, e.y)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        // geometry next to the junction, simplified
        let mut geo: BTreeMap<(bool, &str), LaneGeo> = BTreeMap::new();
        for (egress, list) in [(false, &incoming), (true, &outgoing)] {
            for id in list.iter() {
                let pts = dedup(local(id));
                if pts.len() < 2 {
                    report.warnings.push(format!("lane `{id}`: fewer than 2 distinct points; skipped"));
                    continue;
                }
                // junction side first
                let mut js: Vec<P2> = if egress { pts.clone() } else { pts.iter().rev().copied().collect() };
                js = head(&js, opts.max_lane_length_m);
                let bearing = far_bearing(&js);
                let (mut kept, err, coarse) = fit_points(&js, opts.tolerance_m);
                report.max_simplification_error_m = report.max_simplification_error_m.max(err);
                if coarse {
                    report.coarsened_lanes += 1;
                }
                if !egress {
                    kept.reverse();
                }
                geo.insert((egress, id), LaneGeo { pts: kept, bearing });
            }
        }
        // approaches by far-side bearing
        let mut groups: Vec<(f64, Vec<(bool, &str)>)> = Vec::new();
        let mut order: Vec<(&(bool, &str), f64)> = geo.iter().map(|(k, g)| (k, g.bearing)).collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (k, b) in order {
            match groups.iter_mut().find(|(m, _)| angle_diff(b, *m).abs() < 35.0) {
                Some((m, v)) => {
                    v.push(*k);
                    let n = v.len() as f64;
                    *m = (*m + angle_diff(b, *m) / n).rem_euclid(360.0);
                }
                None => groups.push((b, vec![*k])),
            }
        }
        groups.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut x = Intersection {
            id: xid,
            region: opts.region,
            name: Some(ascii_name(j.name.as_deref().unwrap_or(&format!("junction {}", j.id)))),
            reference: Reference {
                lat: refll[0],
                lon: refll[1],
                elevation_m: j.elevation_m.map_or(0.0, |z| (z * 10.0).round() / 10.0),
            },
            speed_limit_kph: None,
            approaches: Vec::new(),
            lanes: Vec::new(),
            connections: Vec::new(),
            signal_groups: Vec::new(),
            work_zones: Vec::new(),
        };
        let mut local_id: HashMap<(bool, &str), u8> = HashMap::new();
        let mut next_lane: u16 = 1;
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (bearing, members) in &groups {
            let mut name = compass(*bearing).to_string();
            let mut k = 2;
            while names.contains(&name) {
                name = format!("{}-{k}", compass(*bearing));
                k += 1;
            }
            names.insert(name.clone());
            x.approaches.push(Approach {
                id: name.clone(),
                upstream_node: None,
                downstream_node: None,
                speed_limit_kph: None,
            });
            // lateral order: signed offset of the junction-side end from the approach axis
            let axis = P2::new(bearing.to_radians().sin(), bearing.to_radians().cos());
            let side = |p: P2| axis.x * p.y - axis.y * p.x; // > 0: left of the outward axis
            let mut ing: Vec<&(bool, &str)> = members.iter().filter(|k| !k.0).collect();
            let mut eg: Vec<&(bool, &str)> = members.iter().filter(|k| k.0).collect();
            // ingress lanes: from the median (the outward axis' left... i.e. inbound traffic's left) outwards
            ing.sort_by(|a, b| {
                let pa = *geo[a].pts.last().unwrap_or(&P2::zeros());
                let pb = *geo[b].pts.last().unwrap_or(&P2::zeros());
                side(pb).total_cmp(&side(pa))
            });
            eg.sort_by(|a, b| {
                let pa = geo[a].pts[0];
                let pb = geo[b].pts[0];
                side(pa).total_cmp(&side(pb))
            });
            if ing.len() > limits::LANES {
                for k in &ing[limits::LANES..] {
                    report.warnings.push(format!(
                        "junction {}, approach {name}: lane `{}` dropped: over the 32 lanes a link carries",
                        j.id, k.1
                    ));
                }
                ing.truncate(limits::LANES);
            }
            for k in ing.into_iter().chain(eg) {
                if next_lane > 255 {
                    report.warnings.push(format!("junction {}: lane `{}` dropped: over 255 lanes", j.id, k.1));
                    continue;
                }
                let nl = lanes[k.1];
                let g = &geo[k];
                let id = next_lane as u8;
                next_lane += 1;
                local_id.insert(*k, id);
                placed.push((k.1.to_string(), xid, name.clone(), id, k.0));
                x.lanes.push(Lane {
                    id,
                    approach: name.clone(),
                    direction: if k.0 { Direction::Egress } else { Direction::Ingress },
                    lane_type: if nl.lane_type.is_travel_lane() { nl.lane_type } else { LaneType::Vehicle },
                    width_m: round_cm(nl.width_m.clamp(0.5, 30.0)),
                    points: Some(g.pts.iter().map(|p| [round_cm(p.x), round_cm(p.y)]).collect()),
                    points_wgs84: None,
                    maneuvers: Vec::new(),
                    stop_line: nl.stop_line,
                    speed_limits: nl
                        .speed_kph
                        .filter(|v| *v > 0.0)
                        .map(|v| {
                            vec![SpeedLimit {
                                kph: (v * 10.0).round() / 10.0,
                                kind: Default::default(),
                                vehicle: None,
                                time: None,
                            }]
                        })
                        .unwrap_or_default(),
                    only: nl.only.clone(),
                    bans: nl.bans.iter().map(|&vehicle| Ban { vehicle, time: None }).collect(),
                    signal_group: None,
                });
            }
        }
        // signal groups
        let mut sg: BTreeMap<String, u8> = BTreeMap::new();
        let mut sg_order: Vec<(String, u8, SignalKind)> = Vec::new();
        // a map whose signals of this junction are all numbered 1..255 keeps its numbers
        // (so they match the site's SPaT); otherwise they are numbered 1.. in order of use
        let signal_names: BTreeSet<&str> = conns
            .iter()
            .filter_map(|c| c.signal.as_deref())
            .chain(net.crosswalks.iter().filter(|c| c.junction == j.id).filter_map(|c| c.signal.as_deref()))
            .collect();
        let keep_ids = !signal_names.is_empty() && signal_names.iter().all(|s| s.parse::<u8>().is_ok_and(|v| v > 0));
        let mut group_of = |s: &str, kind: SignalKind, report: &mut ImportReport| -> Option<u8> {
            if let Some(g) = sg.get(s) {
                return Some(*g);
            }
            let g = if keep_ids { s.parse::<usize>().unwrap_or(0) } else { sg.len() + 1 };
            if g > 255 {
                report.warnings.push(format!("junction {}: signal `{s}` dropped: over 255 signal groups", j.id));
                return None;
            }
            sg.insert(s.to_string(), g as u8);
            sg_order.push((s.to_string(), g as u8, kind));
            Some(g as u8)
        };
        // connections, at most 8 per lane
        let mut permissive: BTreeSet<u8> = BTreeSet::new();
        let mut per_lane: BTreeMap<u8, usize> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for c in &conns {
            let (Some(&from), Some(&to)) =
                (local_id.get(&(false, c.from.as_str())), local_id.get(&(true, c.to.as_str())))
            else {
                continue;
            };
            if !seen.insert((from, to)) {
                continue;
            }
            let n = per_lane.entry(from).or_default();
            if *n >= limits::CONNECTIONS {
                report.warnings.push(format!(
                    "junction {}: connection {} -> {} dropped: lane {from} already has the 8 connections the standard allows",
                    j.id, c.from, c.to
                ));
                continue;
            }
            *n += 1;
            let maneuver = c.maneuver.unwrap_or_else(|| {
                let gin = &geo[&(false, c.from.as_str())];
                let gout = &geo[&(true, c.to.as_str())];
                let travel_in = (gin.bearing + 180.0).rem_euclid(360.0);
                let a = angle_diff(gout.bearing, travel_in);
                if a.abs() < 30.0 {
                    Maneuver::Straight
                } else if a.abs() > 150.0 {
                    Maneuver::UTurn
                } else if a > 0.0 {
                    Maneuver::Right
                } else {
                    Maneuver::Left
                }
            });
            let signal_group = c.signal.as_deref().and_then(|s| group_of(s, SignalKind::Protected, &mut report));
            // Under a signal, a turn that must give way (to oncoming traffic, to a merging flow) is a
            // permissive movement; a straight movement's yield rule only settles who goes first when
            // both are green (as Autoware maps record it), so it stays protected.
            if let Some(g) = signal_group.filter(|_| c.yields && maneuver != Maneuver::Straight) {
                permissive.insert(g);
            } else if c.yields && signal_group.is_none() {
                if let Some(l) = x.lanes.iter_mut().find(|l| l.id == from) {
                    if !l.maneuvers.contains(&Maneuver::Yield) {
                        l.maneuvers.push(Maneuver::Yield);
                    }
                }
            }
            x.connections.push(Connection { from, to: Target::Lane(to), maneuver, signal_group });
        }
        // crosswalks
        for cw in net.crosswalks.iter().filter(|c| c.junction == j.id) {
            if next_lane > 255 {
                report.warnings.push(format!("junction {}: crosswalk `{}` dropped: over 255 lanes", j.id, cw.id));
                continue;
            }
            let mut pts = Vec::new();
            for p in &cw.centre {
                let ll = to_wgs.lat_lon(*p)?;
                let e = frame.to_local(LatLon { lat_deg: ll[0], lon_deg: ll[1], elevation_m: 0.0 });
                pts.push(P2::new(e.x, e.y));
            }
            let pts = dedup(pts);
            if pts.len() < 2 {
                report.warnings.push(format!("crosswalk `{}`: fewer than 2 points; skipped", cw.id));
                continue;
            }
            let (pts, err, _) = fit_points(&pts, opts.tolerance_m);
            report.max_simplification_error_m = report.max_simplification_error_m.max(err);
            let mid = (pts[0] + pts[pts.len() - 1]) / 2.0;
            let b = geometry::heading_deg(mid);
            let approach = groups
                .iter()
                .zip(&x.approaches)
                .min_by(|a, c| angle_diff(b, a.0 .0).abs().total_cmp(&angle_diff(b, c.0 .0).abs()))
                .map(|(_, a)| a.id.clone())
                .unwrap_or_default();
            let id = next_lane as u8;
            next_lane += 1;
            let signal_group = cw.signal.as_deref().and_then(|s| group_of(s, SignalKind::Pedestrian, &mut report));
            x.lanes.push(Lane {
                id,
                approach,
                direction: Direction::Both,
                lane_type: LaneType::Crosswalk,
                width_m: round_cm(cw.width_m.clamp(1.0, 20.0)),
                points: Some(pts.iter().map(|p| [round_cm(p.x), round_cm(p.y)]).collect()),
                points_wgs84: None,
                maneuvers: Vec::new(),
                stop_line: true,
                speed_limits: Vec::new(),
                only: Vec::new(),
                bans: Vec::new(),
                signal_group,
            });
        }
        // a group with any movement that must give way shows permissive green
        for e in sg_order.iter_mut().filter(|e| permissive.contains(&e.1) && e.2 == SignalKind::Protected) {
            e.2 = SignalKind::Permissive;
        }
        x.signal_groups = sg_order
            .into_iter()
            .map(|(s, id, kind)| SignalGroup { id, name: Some(ascii_name(&format!("signal {s}"))), kind })
            .collect();
        separate_lanes(&mut x, &mut report);
        // a lane's egress copy that nobody connects to is kept (vehicles can still leave)
        report.intersections.push((xid, j.id.clone(), x.lanes.len(), x.connections.len(), x.signal_groups.len()));
        out.intersections.push(x);
    }
    // links: a net lane that is egress at one intersection and ingress at another
    let mut pairs: BTreeMap<(u16, String, u16, String), Vec<[u8; 2]>> = BTreeMap::new();
    for (lane, xa, aa, ida, egress) in &placed {
        if !*egress {
            continue;
        }
        for (lane2, xb, ab, idb, eg2) in &placed {
            if !*eg2 && lane2 == lane && xb != xa {
                pairs.entry((*xa, aa.clone(), *xb, ab.clone())).or_default().push([*ida, *idb]);
            }
        }
    }
    for ((xa, aa, xb, ab), map) in pairs {
        let all_egress = out
            .intersection(xa)
            .map(|x| x.lanes.iter().filter(|l| l.approach == aa && l.direction == Direction::Egress).count())
            .unwrap_or(0);
        let into_taken = out.links.iter().any(|l| l.to.intersection == xb && l.to.approach == ab);
        if map.len() == all_egress && !into_taken {
            out.links.push(Link {
                from: LinkEnd { intersection: xa, approach: aa },
                to: LinkEnd { intersection: xb, approach: ab },
                lane_map: map,
            });
        } else {
            report.warnings.push(format!(
                "intersections {xa} ({aa}) and {xb} ({ab}) share lanes but not all of the approach's egress lanes: not linked"
            ));
        }
    }
    Ok((out, report))
}

/// Make neighbouring travel lanes of one approach and direction not overlap,
/// as the validator requires: source maps let lanes merge or diverge a few
/// metres upstream of a stop line (Lanelet2 splits, OpenDRIVE lane sections)
/// and give average widths.  First the lane is cut back towards the junction
/// to where it is clear of its neighbour; if it still overlaps right at the
/// junction, both widths are narrowed to the spacing there.  Both are reported.
fn separate_lanes(x: &mut Intersection, report: &mut ImportReport) {
    let mut dropped: Vec<u8> = Vec::new();
    let travel: Vec<usize> = (0..x.lanes.len())
        .filter(|&i| x.lanes[i].lane_type.is_travel_lane() && x.lanes[i].direction != Direction::Both)
        .collect();
    // polylines with the junction side first
    let js = |l: &Lane| -> Vec<P2> {
        let p: Vec<P2> = l.points.iter().flatten().map(|q| P2::new(q[0], q[1])).collect();
        if l.direction == Direction::Ingress {
            p.into_iter().rev().collect()
        } else {
            p
        }
    };
    let store = |l: &mut Lane, js: Vec<P2>| {
        let mut p: Vec<[f64; 2]> = js.iter().map(|q| [round_cm(q.x), round_cm(q.y)]).collect();
        if l.direction == Direction::Ingress {
            p.reverse();
        }
        l.points = Some(p);
    };
    for (ai, &a) in travel.iter().enumerate() {
        for &b in &travel[ai + 1..] {
            let (la, lb) = (&x.lanes[a], &x.lanes[b]);
            if dropped.contains(&la.id) || dropped.contains(&lb.id) {
                continue;
            }
            if la.approach != lb.approach || la.direction != lb.direction {
                continue;
            }
            let need = (la.width_m + lb.width_m) / 2.0 - 0.25;
            let (pa, pb) = (js(la), js(lb));
            // a little margin: the validator sees the points after rounding to centimetres
            if pa.len() < 2 || pb.len() < 2 || geometry::polyline_distance(&pa, &pb) >= need + 0.05 {
                continue;
            }
            // cut the later lane back to the longest junction-side part clear of the other
            let clear = |p: &[P2], q: &[P2]| -> Vec<P2> {
                let mut k = p.len();
                while k > 2 && geometry::polyline_distance(&p[..k], q) < need + 0.05 {
                    k -= 1;
                }
                p[..k].to_vec()
            };
            let mut cb = clear(&pb, &pa);
            let ca = clear(&pa, &cb);
            // lanes that split from (or merge into) one point at the junction: start the later one
            // where it has separated, at most 30 m from the junction
            let mut trimmed = 0.0;
            while geometry::polyline_distance(&ca, &cb) < need + 0.05 && trimmed < 30.0 && geometry::length(&cb) > 6.0 {
                let step = 1.0;
                let dir = cb[1] - cb[0];
                let seg = dir.norm();
                if seg <= step + 0.01 {
                    cb.remove(0);
                } else {
                    cb[0] += dir * (step / seg);
                }
                trimmed += step;
            }
            let d = geometry::polyline_distance(&ca, &cb);
            let (ida, idb) = (x.lanes[a].id, x.lanes[b].id);
            report.warnings.push(format!(
                "intersection {}: lanes {ida} and {idb} overlap upstream (merge or diverge in the source map): cut back to {:.0} m and {:.0} m",
                x.id,
                geometry::length(&ca),
                geometry::length(&cb)
            ));
            store(&mut x.lanes[a], ca);
            store(&mut x.lanes[b], cb);
            if d < 0.35 {
                // the source lanes cross or coincide at the junction: keep the first one
                report.warnings.push(format!(
                    "intersection {}: lane {idb} dropped: it crosses lane {ida} at the junction in the source geometry",
                    x.id
                ));
                dropped.push(idb);
                continue;
            }
            if d < need + 0.05 {
                let w = (d + 0.15).max(0.5);
                let (wa, wb) = (x.lanes[a].width_m, x.lanes[b].width_m);
                x.lanes[a].width_m = round_cm(wa.min(w));
                x.lanes[b].width_m = round_cm(wb.min(w));
                report.warnings.push(format!(
                    "intersection {}: lanes {ida} and {idb} are {d:.2} m apart at the junction: widths narrowed to {:.2} m and {:.2} m",
                    x.id, x.lanes[a].width_m, x.lanes[b].width_m
                ));
            }
        }
    }
    if !dropped.is_empty() {
        x.lanes.retain(|l| !dropped.contains(&l.id));
        let before = x.connections.len();
        x.connections
            .retain(|c| !dropped.contains(&c.from) && !matches!(c.to, Target::Lane(t) if dropped.contains(&t)));
        if x.connections.len() < before {
            report.warnings.push(format!(
                "intersection {}: {} connection(s) of dropped lanes removed",
                x.id,
                before - x.connections.len()
            ));
        }
    }
}

fn ascii_name(s: &str) -> String {
    let t: String = s.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(limits::NAME).collect();
    if t.trim().is_empty() {
        "unnamed".to_string()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn simplification_error_is_within_tolerance(pts in proptest::collection::vec((-500.0f64..500.0, -500.0f64..500.0), 2..80),
                                                    tol in 0.01f64..2.0) {
            let p: Vec<P2> = pts.iter().map(|(x, y)| P2::new(*x, *y)).collect();
            let (kept, err) = simplify(&p, tol);
            prop_assert!(err <= tol + 1e-9);
            prop_assert_eq!(kept[0], p[0]);
            prop_assert_eq!(kept[kept.len() - 1], p[p.len() - 1]);
            let (fit, _, _) = fit_points(&p, tol);
            prop_assert!(fit.len() <= limits::POINTS);
        }
    }
}
