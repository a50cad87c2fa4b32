//! The decompiler: a CSAE `MapData` (from any RSU) back to the intersection
//! model, so that it can be inspected, validated, rendered and re-encoded.
//!
//! Owns: the inverse of `compile`'s mapping rules.  For a MAP that Zhilu
//! compiled, `compile(decompile(map)) == map` bit for bit.  For foreign MAPs
//! it keeps everything the model can hold and reports what it had to drop.
//! Must not: fail on a well-formed MapData (only on values the model cannot
//! hold at all, reported with the element) or do I/O.

use crate::csae::{LaneTypeAttributes, MapData, Node, PositionOffsetLL, SpeedLimitType};
use crate::geo::{LatLon, LocalFrame};
use crate::model::{
    Approach, Connection, Direction, Intersection, Lane, LaneType, LimitKind, Link, LinkEnd, Maneuver, MapFile,
    Reference, SignalGroup, SignalKind, SpeedLimit, Target, VehicleClass, FORMAT,
};
use std::collections::{BTreeMap, BTreeSet};

/// What the decompiler could not keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dropped {
    /// One line per dropped or approximated item.
    pub lines: Vec<String>,
}

fn ll_of(o: &PositionOffsetLL) -> (i64, i64, bool) {
    match o {
        PositionOffsetLL::PositionLL1(p) => (p.lon as i64, p.lat as i64, false),
        PositionOffsetLL::PositionLL2(p) => (p.lon as i64, p.lat as i64, false),
        PositionOffsetLL::PositionLL3(p) => (p.lon as i64, p.lat as i64, false),
        PositionOffsetLL::PositionLL4(p) => (p.lon as i64, p.lat as i64, false),
        PositionOffsetLL::PositionLL5(p) => (p.lon as i64, p.lat as i64, false),
        PositionOffsetLL::PositionLL6(p) => (p.lon as i64, p.lat as i64, false),
        PositionOffsetLL::PositionLatLon(p) => (p.lon as i64, p.lat as i64, true),
    }
}

fn node_latlon(n: &Node) -> LatLon {
    LatLon {
        lat_deg: n.ref_pos.lat as f64 / 1e7,
        lon_deg: n.ref_pos.long as f64 / 1e7,
        elevation_m: n.ref_pos.elevation.unwrap_or(0) as f64 / 10.0,
    }
}

fn round_mm(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Lane points of `lane` (offsets to `node`'s reference) in `frame`'s local metres.
fn lane_points(node: &Node, lane: &crate::csae::Lane, frame: &LocalFrame) -> Option<Vec<[f64; 2]>> {
    let pts = lane.points.as_ref()?;
    Some(
        pts.iter()
            .map(|p| {
                let (dlon, dlat, abs) = ll_of(&p.pos_offset.offset_ll);
                let (lat, lon) = if abs {
                    (dlat as f64 / 1e7, dlon as f64 / 1e7)
                } else {
                    ((node.ref_pos.lat as i64 + dlat) as f64 / 1e7, (node.ref_pos.long as i64 + dlon) as f64 / 1e7)
                };
                let v = frame.to_local(LatLon { lat_deg: lat, lon_deg: lon, elevation_m: frame.origin().elevation_m });
                [round_mm(v.x), round_mm(v.y)]
            })
            .collect(),
    )
}

fn maneuvers_of(b: &crate::uper::BitStr) -> Vec<Maneuver> {
    Maneuver::ALL.iter().copied().filter(|m| b.get(m.bit())).collect()
}

fn limit_of(t: SpeedLimitType, units: u16) -> Option<SpeedLimit> {
    use SpeedLimitType as T;
    let (kind, vehicle, night) = match t {
        T::VehicleMaxSpeed => (LimitKind::Max, None, false),
        T::VehicleNightMaxSpeed => (LimitKind::Max, None, true),
        T::VehicleMinSpeed => (LimitKind::Min, None, false),
        T::TruckMaxSpeed => (LimitKind::Max, Some(VehicleClass::Truck), false),
        T::TruckNightMaxSpeed => (LimitKind::Max, Some(VehicleClass::Truck), true),
        T::TruckMinSpeed => (LimitKind::Min, Some(VehicleClass::Truck), false),
        T::VehiclesWithTrailersMaxSpeed => (LimitKind::Max, Some(VehicleClass::Trailer), false),
        T::VehiclesWithTrailersNightMaxSpeed => (LimitKind::Max, Some(VehicleClass::Trailer), true),
        T::VehiclesWithTrailersMinSpeed => (LimitKind::Min, Some(VehicleClass::Trailer), false),
        _ => return None,
    };
    Some(SpeedLimit { kph: kph_of(units), kind, vehicle, time: night.then(|| "night".to_string()) })
}

/// A lane's width; without `laneWidth`, its share of the link width.
fn lane_width_m(lane: &crate::csae::Lane, link: &crate::csae::Link) -> f64 {
    lane.lane_width.map(|w| w as f64 / 100.0).unwrap_or(link.link_width as f64 / 100.0 / link.lanes.len().max(1) as f64)
}

/// A lane's speed limits the model can hold.
fn lane_limits(lane: &crate::csae::Lane) -> Vec<SpeedLimit> {
    lane.speed_limits.iter().flatten().filter_map(|s| limit_of(s.type_, s.speed)).collect()
}

/// A link's general speed limit (vehicleMaxSpeed), km/h.
fn link_kph(link: &crate::csae::Link) -> Option<f64> {
    link.speed_limits.iter().flatten().find(|s| s.type_ == SpeedLimitType::VehicleMaxSpeed).map(|s| kph_of(s.speed))
}

fn kph_of(units: u16) -> f64 {
    (units as f64 * 0.02 * 3.6 * 1e6).round() / 1e6
}

/// Whether `n` is a boundary node that only carries egress lanes of
/// intersections in the message.
fn is_boundary(n: &Node, ids: &BTreeSet<u16>) -> bool {
    let Some(links) = &n.in_links else { return false };
    n.name.is_none()
        && links.iter().all(|l| {
            ids.contains(&l.upstream_node_id.id)
                && l.upstream_node_id.id != n.id.id
                && l.movements.is_none()
                && l.lanes.iter().all(|x| x.connects_to.is_none())
        })
}

/// Decompile a MapData into the model.
pub fn decompile_map(map: &MapData) -> (MapFile, Dropped) {
    let mut dropped = Dropped::default();
    let ids: BTreeSet<u16> = map.nodes.iter().map(|n| n.id.id).collect();
    let boundary: BTreeSet<u16> = map.nodes.iter().filter(|n| is_boundary(n, &ids)).map(|n| n.id.id).collect();
    let real: Vec<&Node> = map.nodes.iter().filter(|n| !boundary.contains(&n.id.id)).collect();
    let real_ids: BTreeSet<u16> = real.iter().map(|n| n.id.id).collect();
    let mut out = MapFile { format: FORMAT.to_string(), intersections: Vec::new(), links: Vec::new() };
    // egress lanes held by boundary nodes, per (upstream intersection)
    let mut egress_of: BTreeMap<u16, Vec<(&Node, &crate::csae::Link)>> = BTreeMap::new();
    for n in map.nodes.iter().filter(|n| boundary.contains(&n.id.id)) {
        for l in n.in_links.iter().flatten() {
            egress_of.entry(l.upstream_node_id.id).or_default().push((n, l));
        }
    }
    for n in &real {
        let r = node_latlon(n);
        let frame = LocalFrame::new(r);
        let mut x = Intersection {
            id: n.id.id,
            region: n.id.region,
            name: n.name.clone(),
            reference: Reference { lat: r.lat_deg, lon: r.lon_deg, elevation_m: r.elevation_m },
            speed_limit_kph: None,
            approaches: Vec::new(),
            lanes: Vec::new(),
            connections: Vec::new(),
            signal_groups: Vec::new(),
            work_zones: Vec::new(),
        };
        let mut groups: BTreeMap<u8, SignalKind> = BTreeMap::new();
        let mut used_ids: BTreeSet<u8> = BTreeSet::new();
        let mut names: BTreeSet<String> = BTreeSet::new();
        let unique = |want: String, names: &mut BTreeSet<String>| {
            let mut s = want.clone();
            let mut k = 2;
            while names.contains(&s) {
                s = format!("{want}-{k}");
                k += 1;
            }
            names.insert(s.clone());
            s
        };
        // pending connections: (from lane, remote node, lane there, maneuver, phase)
        let mut pending = Vec::new();
        let mut inbound: Vec<String> = Vec::new();
        for (li, link) in n.in_links.iter().flatten().enumerate() {
            let aname = unique(link.name.clone().unwrap_or_else(|| format!("link{}", li + 1)), &mut names);
            inbound.push(aname.clone());
            let up = link.upstream_node_id.id;
            let kph = link_kph(link);
            x.approaches.push(Approach {
                id: aname.clone(),
                upstream_node: if real_ids.contains(&up) { None } else { Some(up) },
                downstream_node: None,
                speed_limit_kph: kph,
            });
            for lane in &link.lanes {
                let el = format!("node {}, link {aname}, lane {}", n.id.id, lane.lane_id);
                let (lane_type, only, share) = lane_kind(lane, &el, &mut dropped);
                let direction = if lane_type.is_travel_lane() { Direction::Ingress } else { Direction::Both };
                let mut signal_group = None;
                for c in lane.connects_to.iter().flatten() {
                    let to_lane = c.connecting_lane.as_ref().map(|cl| cl.lane);
                    if lane_type == LaneType::Crosswalk
                        && c.remote_intersection.id == n.id.id
                        && to_lane == Some(lane.lane_id)
                    {
                        signal_group = c.phase_id;
                        if let Some(g) = c.phase_id {
                            groups.insert(g, SignalKind::Pedestrian);
                        }
                        continue;
                    }
                    let Some(to_lane) = to_lane else {
                        dropped.lines.push(format!("{el}: a connection without connectingLane was dropped"));
                        continue;
                    };
                    let man = c
                        .connecting_lane
                        .as_ref()
                        .and_then(|cl| cl.maneuver.as_ref())
                        .and_then(|b| maneuvers_of(b).into_iter().next())
                        .or_else(|| lane.maneuvers.as_ref().and_then(|b| maneuvers_of(b).into_iter().next()))
                        .unwrap_or(Maneuver::Straight);
                    if let Some(g) = c.phase_id {
                        groups.entry(g).or_insert(SignalKind::Protected);
                    }
                    pending.push((lane.lane_id, c.remote_intersection.clone(), to_lane, man, c.phase_id));
                }
                used_ids.insert(lane.lane_id);
                x.lanes.push(Lane {
                    id: lane.lane_id,
                    approach: aname.clone(),
                    direction,
                    lane_type,
                    width_m: lane_width_m(lane, link),
                    points: lane_points(n, lane, &frame),
                    points_wgs84: None,
                    maneuvers: if lane_type.is_travel_lane() {
                        lane.maneuvers.as_ref().map(maneuvers_of).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    stop_line: true,
                    speed_limits: lane_limits(lane),
                    only: if only.is_empty() { share } else { only },
                    bans: Vec::new(),
                    signal_group,
                });
                if lane.points.is_none() {
                    dropped.lines.push(format!("{el}: lane has no points; add a centre line before re-encoding"));
                }
            }
        }
        // egress lanes from boundary nodes downstream of this intersection, in node order
        let mut boundary_order: Vec<String> = Vec::new();
        let mut renumber: BTreeMap<(u16, u8), u8> = BTreeMap::new();
        for (bn, link) in egress_of.get(&n.id.id).into_iter().flatten() {
            let existing = x.approaches.iter().position(|a| a.upstream_node == Some(bn.id.id)).or_else(|| {
                // egress lanes of an approach whose road arrives from elsewhere
                let pos = x.approaches.iter().position(|a| link.name.as_deref() == Some(a.id.as_str()))?;
                x.approaches[pos].downstream_node = Some(bn.id.id);
                Some(pos)
            });
            let aname = match existing {
                Some(i) => x.approaches[i].id.clone(),
                None => {
                    let name = unique(link.name.clone().unwrap_or_else(|| format!("to{}", bn.id.id)), &mut names);
                    x.approaches.push(Approach {
                        id: name.clone(),
                        upstream_node: Some(bn.id.id),
                        downstream_node: None,
                        speed_limit_kph: link_kph(link),
                    });
                    name
                }
            };
            boundary_order.push(aname.clone());
            for lane in &link.lanes {
                let el = format!("node {}, egress lane {}", bn.id.id, lane.lane_id);
                let mut id = lane.lane_id;
                if used_ids.contains(&id) {
                    let free = (1..=255u8).find(|i| !used_ids.contains(i));
                    match free {
                        Some(f) => {
                            dropped.lines.push(format!(
                                "{el}: lane id {id} is taken at intersection {}; renumbered to {f}",
                                n.id.id
                            ));
                            id = f;
                        }
                        None => {
                            dropped.lines.push(format!("{el}: no free lane id left; lane dropped"));
                            continue;
                        }
                    }
                }
                renumber.insert((bn.id.id, lane.lane_id), id);
                used_ids.insert(id);
                let (lane_type, only, share) = lane_kind(lane, &el, &mut dropped);
                x.lanes.push(Lane {
                    id,
                    approach: aname.clone(),
                    direction: if lane_type.is_travel_lane() { Direction::Egress } else { Direction::Both },
                    lane_type,
                    width_m: lane_width_m(lane, link),
                    points: lane_points(bn, lane, &frame),
                    points_wgs84: None,
                    maneuvers: Vec::new(),
                    stop_line: true,
                    speed_limits: lane_limits(lane),
                    only: if only.is_empty() { share } else { only },
                    bans: Vec::new(),
                    signal_group: None,
                });
            }
        }
        // approach order: keep the in-link order and the boundary-node order both
        let mut order: Vec<String> = Vec::new();
        let mut ii = 0;
        for b in &boundary_order {
            if let Some(pos) = inbound.iter().position(|a| a == b) {
                while ii <= pos {
                    if !order.contains(&inbound[ii]) {
                        order.push(inbound[ii].clone());
                    }
                    ii += 1;
                }
            } else if !order.contains(b) {
                order.push(b.clone());
            }
        }
        for a in inbound.iter().skip(ii) {
            if !order.contains(a) {
                order.push(a.clone());
            }
        }
        x.approaches.sort_by_key(|a| order.iter().position(|o| *o == a.id).unwrap_or(usize::MAX));
        for (from, remote, lane, maneuver, phase) in pending {
            let to = if boundary.contains(&remote.id) {
                match renumber.get(&(remote.id, lane)) {
                    Some(id) => Target::Lane(*id),
                    None => Target::Remote {
                        intersection: remote.id,
                        region: region_if_other(remote.region, n.id.region),
                        lane,
                    },
                }
            } else {
                Target::Remote { intersection: remote.id, region: region_if_other(remote.region, n.id.region), lane }
            };
            x.connections.push(Connection { from, to, maneuver, signal_group: phase });
        }
        x.signal_groups = groups.into_iter().map(|(id, kind)| SignalGroup { id, name: None, kind }).collect();
        out.intersections.push(x);
    }
    // links between intersections of the message
    let mut links = Vec::new();
    for x in &out.intersections {
        for (li, a) in x.approaches.iter().enumerate() {
            if a.upstream_node.is_some() {
                continue;
            }
            let Some(link) =
                real.iter().find(|n| n.id.id == x.id).and_then(|n| n.in_links.as_ref()).and_then(|ls| ls.get(li))
            else {
                continue;
            };
            let up = link.upstream_node_id.id;
            let back = out.intersections.iter().find(|o| o.id == up).and_then(|o| {
                o.approaches.iter().enumerate().find(|(bi, _)| {
                    real.iter()
                        .find(|n| n.id.id == up)
                        .and_then(|n| n.in_links.as_ref())
                        .and_then(|ls| ls.get(*bi))
                        .is_some_and(|l| l.upstream_node_id.id == x.id)
                })
            });
            match back {
                Some((_, b)) => links.push(Link {
                    from: LinkEnd { intersection: up, approach: b.id.clone() },
                    to: LinkEnd { intersection: x.id, approach: a.id.clone() },
                    lane_map: Vec::new(),
                }),
                None => links.push(Link {
                    from: LinkEnd { intersection: up, approach: String::new() },
                    to: LinkEnd { intersection: x.id, approach: a.id.clone() },
                    lane_map: Vec::new(),
                }),
            }
        }
    }
    // a link whose upstream end has no approach back becomes an explicit upstream node
    for l in links {
        if l.from.approach.is_empty() {
            if let Some(x) = out.intersections.iter_mut().find(|x| x.id == l.to.intersection) {
                if let Some(a) = x.approaches.iter_mut().find(|a| a.id == l.to.approach) {
                    a.upstream_node = Some(l.from.intersection);
                }
            }
        } else {
            out.links.push(l);
        }
    }
    (out, dropped)
}

fn region_if_other(remote: Option<u16>, here: Option<u16>) -> Option<u16> {
    if remote == here {
        None
    } else {
        remote
    }
}

fn lane_kind(
    lane: &crate::csae::Lane,
    el: &str,
    dropped: &mut Dropped,
) -> (LaneType, Vec<VehicleClass>, Vec<VehicleClass>) {
    let mut only = Vec::new();
    let mut share = Vec::new();
    let t = match lane.lane_attributes.as_ref().map(|a| &a.lane_type) {
        None => LaneType::Vehicle,
        Some(LaneTypeAttributes::Vehicle(b)) => {
            if b.get(4) {
                only.push(VehicleClass::Taxi);
            }
            if b.get(3) {
                LaneType::Bus
            } else {
                LaneType::Vehicle
            }
        }
        Some(LaneTypeAttributes::BikeLane(_)) => LaneType::Bike,
        Some(LaneTypeAttributes::Crosswalk(_)) => LaneType::Crosswalk,
        Some(LaneTypeAttributes::Sidewalk(_)) => LaneType::Sidewalk,
        Some(LaneTypeAttributes::Parking(_)) => LaneType::Parking,
        Some(other) => {
            dropped
                .lines
                .push(format!("{el}: lane type {other:?} has no model equivalent; kept as a sidewalk-like strip"));
            LaneType::Sidewalk
        }
    };
    if let Some(s) = lane.lane_attributes.as_ref().and_then(|a| a.share_with.as_ref()) {
        if s.get(4) {
            share.push(VehicleClass::Bus);
        }
        if s.get(5) {
            share.push(VehicleClass::Taxi);
        }
        if s.get(7) {
            share.push(VehicleClass::Bike);
        }
        if s.get(3) {
            share.push(VehicleClass::Car);
        }
    }
    (t, only, share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile_map, MapOptions};
    use crate::model::{parse, Syntax};

    #[test]
    fn examples_decompile_to_models_that_recompile_identically() {
        for (n, t) in [
            ("4leg", include_str!("../../examples/4leg.toml")),
            ("corridor", include_str!("../../examples/corridor.toml")),
        ] {
            let (m, _) = parse(n, t, Syntax::Toml).unwrap();
            let (map, _) = compile_map(&m, &MapOptions::default()).unwrap();
            let (back, dropped) = decompile_map(&map);
            assert!(dropped.lines.is_empty(), "{n}: {:?}", dropped.lines);
            assert_eq!(back.intersections.len(), m.intersections.len(), "{n}");
            let (again, _) = compile_map(&back, &MapOptions::default()).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(again, map, "{n}");
        }
    }
}
