//! The compiler from the intersection model to CSAE messages: `MapData` for
//! what the MAP can carry, `RoadSideInformation` for the rules it cannot
//! (time-of-day bans and limits, class-specific limits the MAP has no type
//! for, work zones).
//!
//! Owns: the mapping rules (documented in `docs/map-codes.md`): one CSAE node
//! per intersection, one in-link per approach, a boundary node per approach
//! whose egress lanes leave the file, points as 1e-7 degree offsets from the
//! node's reference position in the smallest alternative that fits.
//! Must not: accept a model that fails validation (callers validate first; the
//! compiler still never panics and reports what it cannot encode), read the
//! clock (time comes in through `RsiOptions`), or do I/O.

use crate::csae::{
    ConnectingLane, Connection as CsaeConnection, Description, EventSource, LaneAttributes, LaneTypeAttributes, Link,
    MapData, Movement, Node, NodeReferenceID, Position3D, PositionLL24B, PositionLL28B, PositionLL32B, PositionLL36B,
    PositionLL44B, PositionLL48B, PositionLLmD64b, PositionOffsetLL, PositionOffsetLLV, RSITimeDetails, RTEData,
    RTSData, ReferenceLink, RegulatorySpeedLimit, RoadPoint, RoadSideInformation, SpeedLimitType,
};
use crate::geo::LocalFrame;
use crate::geometry::{self, P2};
use crate::model::{
    Direction, Intersection, LaneType, LimitKind, MapFile, SpeedLimit, Target, TimeWindow, VehicleClass,
};
use crate::uper::BitStr;
use std::collections::{BTreeMap, BTreeSet};

/// A model the compiler cannot turn into standard messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{element}: {message}")]
pub struct CompileError {
    /// The element, e.g. `intersection 1001, lane 3`.
    pub element: String,
    /// What cannot be encoded and what to change.
    pub message: String,
}

fn cerr(element: impl Into<String>, message: impl Into<String>) -> CompileError {
    CompileError { element: element.into(), message: message.into() }
}

/// Units of the standard: 1e-7 degree.
/// Units of the standard's latitudes and longitudes per degree (1e-7 degree).
pub const DEG_UNITS: f64 = 1e7;

/// Options of the MAP compiler.
#[derive(Debug, Clone, Default)]
pub struct MapOptions {
    /// `msgCnt` (0..127).
    pub msg_cnt: u8,
    /// `timeStamp` as MinuteOfTheYear; omitted when `None` (keeps output deterministic).
    pub minute_of_year: Option<u32>,
}

/// What the compiler decided on its own (for `mapenc` to print).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    /// One line per decision, e.g. an assigned boundary node id.
    pub lines: Vec<String>,
}

/// Where each approach's road leads: the node id at its far end and, when it
/// is an intersection of the file, the lane pairing of the link.
#[derive(Debug, Clone)]
struct Plan {
    /// (intersection id, approach) -> far node id (upstream of the in-link).
    far_node: BTreeMap<(u16, String), u16>,
    /// (intersection id, approach) -> node the approach's egress lanes lead to.
    egress_node: BTreeMap<(u16, String), u16>,
    /// (intersection id, approach) -> (downstream intersection, egress lane -> its ingress lane).
    out_link: BTreeMap<(u16, String), (u16, BTreeMap<u8, u8>)>,
    /// Boundary nodes to emit: (intersection index, approach, node id).
    boundary: Vec<(usize, String, u16)>,
}

fn plan(m: &MapFile, notes: &mut Notes) -> Result<Plan, CompileError> {
    let mut used: BTreeSet<u16> = m.intersections.iter().map(|x| x.id).collect();
    for x in &m.intersections {
        for a in &x.approaches {
            used.extend(a.upstream_node);
            used.extend(a.downstream_node);
        }
    }
    let mut next_free = u16::MAX;
    let mut far_node = BTreeMap::new();
    let mut egress_node = BTreeMap::new();
    let mut out_link = BTreeMap::new();
    let mut boundary = Vec::new();
    for l in &m.links {
        far_node.insert((l.to.intersection, l.to.approach.clone()), l.from.intersection);
        far_node.insert((l.from.intersection, l.from.approach.clone()), l.to.intersection);
        let from = m
            .intersection(l.from.intersection)
            .ok_or_else(|| cerr("link", format!("intersection {} is not in the file", l.from.intersection)))?;
        let to = m
            .intersection(l.to.intersection)
            .ok_or_else(|| cerr("link", format!("intersection {} is not in the file", l.to.intersection)))?;
        let pairs: BTreeMap<u8, u8> = if l.lane_map.is_empty() {
            let eg = from.lanes.iter().filter(|x| {
                x.approach == l.from.approach && x.direction == Direction::Egress && x.lane_type.is_travel_lane()
            });
            let ing = to.lanes.iter().filter(|x| {
                x.approach == l.to.approach && x.direction == Direction::Ingress && x.lane_type.is_travel_lane()
            });
            eg.zip(ing).map(|(a, b)| (a.id, b.id)).collect()
        } else {
            l.lane_map.iter().map(|p| (p[0], p[1])).collect()
        };
        out_link.insert((l.from.intersection, l.from.approach.clone()), (l.to.intersection, pairs));
    }
    for (xi, x) in m.intersections.iter().enumerate() {
        for a in &x.approaches {
            let key = (x.id, a.id.clone());
            let has_egress = x.lanes.iter().any(|l| l.approach == a.id && l.direction == Direction::Egress);
            let mut fresh = |what: &str, notes: &mut Notes| {
                while used.contains(&next_free) {
                    next_free -= 1;
                }
                used.insert(next_free);
                notes.lines.push(format!(
                    "intersection {}, approach {}: {what}, using boundary node id {next_free}",
                    x.id, a.id
                ));
                next_free
            };
            if out_link.contains_key(&key) {
                // egress lanes continue into the linked intersection
                if let Some(&far) = far_node.get(&key) {
                    egress_node.insert(key, far);
                }
                continue;
            }
            let linked_in = far_node.contains_key(&key);
            let upstream = match (far_node.get(&key), a.upstream_node) {
                (Some(&f), _) => f,
                (None, Some(u)) => u,
                (None, None) => fresh("no upstream_node given", notes),
            };
            far_node.insert(key.clone(), upstream);
            if has_egress {
                let down = match a.downstream_node {
                    Some(d) => d,
                    // the road arrives from an intersection of the file, but its egress lanes do not all go there
                    None if linked_in => fresh("egress lanes do not continue into the linked intersection", notes),
                    None => upstream,
                };
                egress_node.insert(key, down);
                boundary.push((xi, a.id.clone(), down));
            }
        }
    }
    Ok(Plan { far_node, egress_node, out_link, boundary })
}

/// The standard's Position3D of a reference point.
pub fn position3d(lat: f64, lon: f64, elevation_m: f64) -> Position3D {
    Position3D {
        lat: (lat * DEG_UNITS).round() as i32,
        long: (lon * DEG_UNITS).round() as i32,
        elevation: Some(((elevation_m * 10.0).round() as i32).clamp(-4096, 61439)),
    }
}

/// The smallest PositionOffsetLL alternative holding (dlon, dlat) in 1e-7 degree.
pub fn offset_ll(dlon: i64, dlat: i64, ref_lon: i32, ref_lat: i32) -> PositionOffsetLL {
    let m = dlon.abs().max(dlat.abs());
    if m <= 2047 {
        PositionOffsetLL::PositionLL1(PositionLL24B { lon: dlon as i16, lat: dlat as i16 })
    } else if m <= 8191 {
        PositionOffsetLL::PositionLL2(PositionLL28B { lon: dlon as i16, lat: dlat as i16 })
    } else if m <= 32767 {
        PositionOffsetLL::PositionLL3(PositionLL32B { lon: dlon as i16, lat: dlat as i16 })
    } else if m <= 131_071 {
        PositionOffsetLL::PositionLL4(PositionLL36B { lon: dlon as i32, lat: dlat as i32 })
    } else if m <= 2_097_151 {
        PositionOffsetLL::PositionLL5(PositionLL44B { lon: dlon as i32, lat: dlat as i32 })
    } else if m <= 8_388_607 {
        PositionOffsetLL::PositionLL6(PositionLL48B { lon: dlon as i32, lat: dlat as i32 })
    } else {
        PositionOffsetLL::PositionLatLon(PositionLLmD64b {
            lon: (ref_lon as i64 + dlon) as i32,
            lat: (ref_lat as i64 + dlat) as i32,
        })
    }
}

/// Offset in 1e-7 degree of local point `p` (frame of `frame`) from `refp`.
fn point_offset(frame: &LocalFrame, refp: &Position3D, p: P2) -> PositionOffsetLLV {
    let g = frame.en_to_geodetic(p.x, p.y);
    let lat = (g.lat_deg * DEG_UNITS).round() as i64;
    let lon = (g.lon_deg * DEG_UNITS).round() as i64;
    PositionOffsetLLV {
        offset_ll: offset_ll(lon - refp.long as i64, lat - refp.lat as i64, refp.long, refp.lat),
        offset_v: None,
    }
}

/// Speed in the standard's 0.02 m/s units.
pub fn speed_units(kph: f64) -> u16 {
    ((kph / 3.6 / 0.02).round() as i64).clamp(0, 8191) as u16
}

/// The MAP's speed-limit type for a limit, or `None` when the MAP has no type
/// for it (it then goes out as RSI).
pub fn map_limit_type(s: &SpeedLimit) -> Option<SpeedLimitType> {
    let night = match s.time.as_deref().map(TimeWindow::parse) {
        None => false,
        Some(Ok(TimeWindow::Night)) => true,
        Some(_) => return None,
    };
    use SpeedLimitType as T;
    Some(match (s.vehicle, s.kind, night) {
        (None | Some(VehicleClass::Car), LimitKind::Max, false) => T::VehicleMaxSpeed,
        (None | Some(VehicleClass::Car), LimitKind::Max, true) => T::VehicleNightMaxSpeed,
        (None | Some(VehicleClass::Car), LimitKind::Min, false) => T::VehicleMinSpeed,
        (Some(VehicleClass::Truck), LimitKind::Max, false) => T::TruckMaxSpeed,
        (Some(VehicleClass::Truck), LimitKind::Max, true) => T::TruckNightMaxSpeed,
        (Some(VehicleClass::Truck), LimitKind::Min, false) => T::TruckMinSpeed,
        (Some(VehicleClass::Trailer), LimitKind::Max, false) => T::VehiclesWithTrailersMaxSpeed,
        (Some(VehicleClass::Trailer), LimitKind::Max, true) => T::VehiclesWithTrailersNightMaxSpeed,
        (Some(VehicleClass::Trailer), LimitKind::Min, false) => T::VehiclesWithTrailersMinSpeed,
        _ => return None,
    })
}

fn node_ref(region: Option<u16>, id: u16) -> NodeReferenceID {
    NodeReferenceID { region, id }
}

fn maneuver_bits(ms: impl IntoIterator<Item = crate::model::Maneuver>) -> BitStr {
    let mut b = BitStr::new(12);
    for m in ms {
        b.set(m.bit(), true);
    }
    b
}

/// Vehicle-lane attribute bits (LaneAttributes-Vehicle, 8 bits).
const VEH_BUS_ONLY: u8 = 3;
const VEH_TAXI_ONLY: u8 = 4;
/// LaneSharing bits.
const SHARE_BUS: u8 = 4;
const SHARE_TAXI: u8 = 5;
const SHARE_CYCLIST: u8 = 7;
const SHARE_INDIVIDUAL_MOTOR: u8 = 3;

fn lane_attributes(l: &crate::model::Lane) -> LaneAttributes {
    let only: BTreeSet<VehicleClass> = l.only.iter().copied().collect();
    let lane_type = match l.lane_type {
        LaneType::Vehicle | LaneType::Bus => {
            let mut b = BitStr::new(8);
            if l.lane_type == LaneType::Bus || (only.len() == 1 && only.contains(&VehicleClass::Bus)) {
                b.set(VEH_BUS_ONLY, true);
            }
            if only.len() == 1 && only.contains(&VehicleClass::Taxi) {
                b.set(VEH_TAXI_ONLY, true);
            }
            LaneTypeAttributes::Vehicle(b)
        }
        LaneType::Bike => LaneTypeAttributes::BikeLane(BitStr::new(16)),
        LaneType::Crosswalk => LaneTypeAttributes::Crosswalk(BitStr::new(16)),
        LaneType::Sidewalk => LaneTypeAttributes::Sidewalk(BitStr::new(16)),
        LaneType::Parking => LaneTypeAttributes::Parking(BitStr::new(16)),
    };
    let share_with = if only.len() > 1 {
        let mut s = BitStr::new(10);
        for c in &only {
            match c {
                VehicleClass::Bus => s.set(SHARE_BUS, true),
                VehicleClass::Taxi => s.set(SHARE_TAXI, true),
                VehicleClass::Bike => s.set(SHARE_CYCLIST, true),
                VehicleClass::Car | VehicleClass::Truck | VehicleClass::Trailer => s.set(SHARE_INDIVIDUAL_MOTOR, true),
            }
        }
        Some(s)
    } else {
        None
    };
    LaneAttributes { share_with, lane_type }
}

/// Each intersection's node followed by the boundary nodes of its approaches.
fn node_groups(m: &MapFile, notes: &mut Notes) -> Result<Vec<Vec<Node>>, CompileError> {
    let plan = plan(m, notes)?;
    let mut groups: Vec<Vec<Node>> = Vec::new();
    for x in &m.intersections {
        groups.push(vec![compile_node(m, x, &plan)?]);
    }
    for (xi, approach, id) in &plan.boundary {
        let x = &m.intersections[*xi];
        groups[*xi].push(compile_boundary(x, approach, *id)?);
    }
    Ok(groups)
}

/// Compile a (validated) model into one `MapData` holding every intersection
/// of the file and the boundary nodes their egress lanes lead to.  Node order:
/// the intersections in file order, then the boundary nodes.
pub fn compile_map(m: &MapFile, opts: &MapOptions) -> Result<(MapData, Notes), CompileError> {
    let mut notes = Notes::default();
    let groups = node_groups(m, &mut notes)?;
    let mut nodes: Vec<Node> = groups.iter().map(|g| g[0].clone()).collect();
    nodes.extend(groups.into_iter().flat_map(|g| g.into_iter().skip(1)));
    if nodes.is_empty() || nodes.len() > crate::validate::limits::NODES {
        return Err(cerr(
            "file",
            format!(
                "{} nodes; one MapData carries 1 to 32 (use compile_maps / `mapenc encode`, which split)",
                nodes.len()
            ),
        ));
    }
    Ok((MapData { msg_cnt: opts.msg_cnt.min(127), time_stamp: opts.minute_of_year, nodes }, notes))
}

/// Compile a model of any size: when it needs more than the 32 nodes one
/// MapData carries, split it deterministically into several MapData, each
/// holding whole intersections (in file order) with their boundary nodes.
/// Links across two messages stay as connections to the other node's id.
pub fn compile_maps(m: &MapFile, opts: &MapOptions) -> Result<Vec<MapData>, CompileError> {
    let mut notes = Notes::default();
    let groups = node_groups(m, &mut notes)?;
    if groups.iter().map(Vec::len).sum::<usize>() <= crate::validate::limits::NODES {
        return Ok(vec![compile_map(m, opts)?.0]);
    }
    let mut out: Vec<Vec<Node>> = vec![Vec::new()];
    for g in groups {
        if g.len() > crate::validate::limits::NODES {
            return Err(cerr("file", "one intersection needs more than 32 nodes"));
        }
        if out.last().is_some_and(|c| c.len() + g.len() > crate::validate::limits::NODES) {
            out.push(Vec::new());
        }
        if let Some(c) = out.last_mut() {
            c.extend(g);
        }
    }
    Ok(out
        .into_iter()
        .map(|nodes| MapData { msg_cnt: opts.msg_cnt.min(127), time_stamp: opts.minute_of_year, nodes })
        .collect())
}

fn compile_points(
    frame: &LocalFrame,
    refp: &Position3D,
    pts: &[P2],
    el: &str,
) -> Result<Option<Vec<RoadPoint>>, CompileError> {
    if pts.is_empty() {
        return Ok(None);
    }
    if pts.len() < 2 || pts.len() > crate::validate::limits::POINTS {
        return Err(cerr(el, format!("{} points; the standard carries 2 to 31", pts.len())));
    }
    Ok(Some(pts.iter().map(|p| RoadPoint { pos_offset: point_offset(frame, refp, *p) }).collect()))
}

fn compile_node(m: &MapFile, x: &Intersection, plan: &Plan) -> Result<Node, CompileError> {
    let frame = geometry::frame(x);
    let refp = position3d(x.reference.lat, x.reference.lon, x.reference.elevation_m);
    let mut links = Vec::new();
    for a in &x.approaches {
        let el = format!("intersection {}, approach {}", x.id, a.id);
        let lanes_here: Vec<_> =
            x.lanes.iter().filter(|l| l.approach == a.id && l.direction != Direction::Egress).collect();
        if lanes_here.is_empty() {
            continue;
        }
        let far = *plan.far_node.get(&(x.id, a.id.clone())).ok_or_else(|| cerr(&el, "no far node planned"))?;
        let far_region = m.intersection(far).map(|o| o.region).unwrap_or(x.region);
        let mut lanes = Vec::new();
        let mut movements: Vec<Movement> = Vec::new();
        for l in &lanes_here {
            let lel = format!("intersection {}, lane {}", x.id, l.id);
            let mut connects = Vec::new();
            let mut mans: BTreeSet<crate::model::Maneuver> = l.maneuvers.iter().copied().collect();
            if l.lane_type == LaneType::Crosswalk {
                if let Some(g) = l.signal_group {
                    connects.push(CsaeConnection {
                        remote_intersection: node_ref(x.region, x.id),
                        connecting_lane: Some(ConnectingLane { lane: l.id, maneuver: None }),
                        phase_id: Some(g),
                    });
                }
            }
            for c in x.connections.iter().filter(|c| c.from == l.id) {
                mans.insert(c.maneuver);
                let (remote, lane) = match &c.to {
                    Target::Lane(t) => {
                        let to = x.lane(*t).ok_or_else(|| cerr(&lel, format!("connection to missing lane {t}")))?;
                        let key = (x.id, to.approach.clone());
                        match plan.out_link.get(&key) {
                            Some((down, pairs)) => {
                                let mapped = pairs.get(t).copied().ok_or_else(|| {
                                    cerr(&lel, format!("egress lane {t} has no partner lane at intersection {down}; extend the link's lane_map"))
                                })?;
                                let region = m.intersection(*down).and_then(|o| o.region);
                                (node_ref(region, *down), mapped)
                            }
                            None => {
                                let far =
                                    *plan.egress_node.get(&key).ok_or_else(|| cerr(&lel, "no egress node planned"))?;
                                (node_ref(x.region, far), *t)
                            }
                        }
                    }
                    Target::Remote { intersection, region, lane } => {
                        let region =
                            region.or_else(|| m.intersection(*intersection).and_then(|o| o.region)).or(x.region);
                        (node_ref(region, *intersection), *lane)
                    }
                };
                connects.push(CsaeConnection {
                    remote_intersection: remote.clone(),
                    connecting_lane: Some(ConnectingLane { lane, maneuver: Some(maneuver_bits([c.maneuver])) }),
                    phase_id: c.signal_group,
                });
                let mv = Movement { remote_intersection: remote, phase_id: c.signal_group };
                if !movements.contains(&mv) {
                    movements.push(mv);
                }
            }
            if connects.len() > crate::validate::limits::CONNECTIONS {
                return Err(cerr(&lel, format!("{} connections; the standard carries at most 8", connects.len())));
            }
            let pts = geometry::centreline(&frame, l);
            lanes.push(crate::csae::Lane {
                lane_id: l.id,
                lane_width: Some(width_cm(l.width_m)),
                lane_attributes: Some(lane_attributes(l)),
                maneuvers: if l.lane_type.is_travel_lane() && !mans.is_empty() {
                    Some(maneuver_bits(mans))
                } else {
                    None
                },
                connects_to: if connects.is_empty() { None } else { Some(connects) },
                speed_limits: lane_speed_limits(l),
                points: compile_points(&frame, &refp, &pts, &lel)?,
            });
        }
        if lanes.len() > crate::validate::limits::LANES {
            return Err(cerr(&el, format!("{} lanes; one link carries at most 32", lanes.len())));
        }
        if movements.len() > crate::validate::limits::MOVEMENTS {
            movements.truncate(crate::validate::limits::MOVEMENTS);
        }
        let travel: f64 = lanes_here.iter().filter(|l| l.lane_type.is_travel_lane()).map(|l| l.width_m).sum();
        let width = if travel > 0.0 { travel } else { lanes_here.iter().map(|l| l.width_m).sum() };
        let limit = a.speed_limit_kph.or(x.speed_limit_kph);
        links.push(Link {
            name: Some(a.id.clone()),
            upstream_node_id: node_ref(far_region, far),
            speed_limits: link_speed_limits(limit),
            link_width: width_cm(width),
            points: None,
            movements: if movements.is_empty() { None } else { Some(movements) },
            lanes,
        });
    }
    if links.len() > crate::validate::limits::LINKS {
        return Err(cerr(
            format!("intersection {}", x.id),
            format!("{} links; one node carries at most 32", links.len()),
        ));
    }
    Ok(Node {
        name: x.name.clone(),
        id: node_ref(x.region, x.id),
        ref_pos: refp,
        in_links: if links.is_empty() { None } else { Some(links) },
        in_links_ex: None,
        prohibitedzone: None,
    })
}

/// A width in the standard's LaneWidth (cm, 0..32767).
fn width_cm(m: f64) -> u16 {
    (m * 100.0).round().clamp(0.0, 32767.0) as u16
}

/// The lane's speed limits that the MAP has a type for (the rest go out as RSI).
fn lane_speed_limits(l: &crate::model::Lane) -> Option<Vec<RegulatorySpeedLimit>> {
    let v: Vec<RegulatorySpeedLimit> = l
        .speed_limits
        .iter()
        .filter_map(|s| map_limit_type(s).map(|t| RegulatorySpeedLimit { type_: t, speed: speed_units(s.kph) }))
        .collect();
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

/// A link's general speed limit (vehicleMaxSpeed).
fn link_speed_limits(kph: Option<f64>) -> Option<Vec<RegulatorySpeedLimit>> {
    kph.map(|k| vec![RegulatorySpeedLimit { type_: SpeedLimitType::VehicleMaxSpeed, speed: speed_units(k) }])
}

fn compile_boundary(x: &Intersection, approach: &str, id: u16) -> Result<Node, CompileError> {
    let frame = geometry::frame(x);
    let eg: Vec<_> = x.lanes.iter().filter(|l| l.approach == approach && l.direction == Direction::Egress).collect();
    let first =
        eg.first().ok_or_else(|| cerr(format!("intersection {}, approach {approach}", x.id), "no egress lanes"))?;
    let far_end = geometry::centreline(&frame, first).last().copied().unwrap_or(P2::zeros());
    let g = frame.en_to_geodetic(far_end.x, far_end.y);
    let refp = position3d(g.lat_deg, g.lon_deg, x.reference.elevation_m);
    let mut lanes = Vec::new();
    for l in &eg {
        let lel = format!("intersection {}, lane {}", x.id, l.id);
        let pts = geometry::centreline(&frame, l);
        lanes.push(crate::csae::Lane {
            lane_id: l.id,
            lane_width: Some(width_cm(l.width_m)),
            lane_attributes: Some(lane_attributes(l)),
            maneuvers: None,
            connects_to: None,
            speed_limits: lane_speed_limits(l),
            points: compile_points(&frame, &refp, &pts, &lel)?,
        });
    }
    let width: f64 = eg.iter().map(|l| l.width_m).sum();
    let a = x.approach(approach);
    let limit = a.and_then(|a| a.speed_limit_kph).or(x.speed_limit_kph);
    Ok(Node {
        name: None,
        id: node_ref(x.region, id),
        ref_pos: refp,
        in_links: Some(vec![Link {
            name: Some(approach.to_string()),
            upstream_node_id: node_ref(x.region, x.id),
            speed_limits: link_speed_limits(limit),
            link_width: width_cm(width),
            points: None,
            movements: None,
            lanes,
        }]),
        in_links_ex: None,
        prohibitedzone: None,
    })
}

/// Sign and event codes used in RSI.  The defaults are Zhilu's reading of the
/// T/CSAE 53-2020 appendix tables (GB 5768.2 sign numbering, GB/T 29100 event
/// classes); a deployment can override them to match its receivers.
#[derive(Debug, Clone)]
pub struct RsiCodes {
    /// RTS sign: maximum speed limit.
    pub sign_speed_limit: u16,
    /// RTS sign: minimum speed limit.
    pub sign_min_speed: u16,
    /// RTS sign: no trucks (goods vehicles).
    pub sign_no_trucks: u16,
    /// RTS sign: no buses.
    pub sign_no_buses: u16,
    /// RTS sign: no motor vehicles / no entry for a class not listed above.
    pub sign_no_vehicles: u16,
    /// RTS sign: bicycles prohibited.
    pub sign_no_bikes: u16,
    /// RTS sign: dedicated lane (bus/taxi only) in a time window.
    pub sign_dedicated_lane: u16,
    /// RTS sign: road works ahead.
    pub sign_road_works: u16,
    /// RTE event: road works.
    pub event_road_works: u16,
    /// RTE event: lane closed.
    pub event_lane_closed: u16,
}

impl Default for RsiCodes {
    fn default() -> Self {
        Self {
            sign_speed_limit: 38,
            sign_min_speed: 61,
            sign_no_trucks: 23,
            sign_no_buses: 24,
            sign_no_vehicles: 21,
            sign_no_bikes: 27,
            sign_dedicated_lane: 73,
            sign_road_works: 18,
            event_road_works: 401,
            event_lane_closed: 402,
        }
    }
}

/// Options of the RSI compiler.
#[derive(Debug, Clone)]
pub struct RsiOptions {
    /// `msgCnt`.
    pub msg_cnt: u8,
    /// Now: (year, minute of the year) in the intersection's local time; daily
    /// windows are sent as their current or next occurrence.
    pub now: (i32, u32),
    /// RSU id (8 octets); by default `ZL` and the intersection id in 6 digits.
    pub rsu_id: Option<[u8; 8]>,
    /// Sign and event codes.
    pub codes: RsiCodes,
}

fn minutes_in_year(y: i32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if leap {
        366 * 1440
    } else {
        365 * 1440
    }
}

/// Current or next occurrence of a daily window, as MinuteOfTheYear (start, end);
/// ends past the year's end are clipped to its last minute (the standard's type
/// cannot cross a new year).
fn next_occurrence(w: TimeWindow, now: (i32, u32)) -> (u32, u32) {
    let (s, e) = match w {
        TimeWindow::Daily { start_min, end_min } => (start_min as u32, end_min as u32),
        TimeWindow::Night => (22 * 60, 6 * 60),
    };
    let day0 = (now.1 / 1440 * 1440) as i64;
    let dur = if e > s { e - s } else { e + 1440 - s } as i64;
    // the first of yesterday's, today's and tomorrow's windows that has not ended
    let start = [day0 - 1440 + s as i64, day0 + s as i64, day0 + 1440 + s as i64]
        .into_iter()
        .find(|c| c + dur > now.1 as i64)
        .unwrap_or(day0 + 1440 + s as i64);
    let end = (start + dur).max(0) as u32;
    let start = start.max(0) as u32;
    let last = minutes_in_year(now.0) - 1;
    (start.min(last), end.min(last))
}

fn description(text: String) -> Option<Description> {
    let t: String = text.chars().filter(|c| c.is_ascii()).take(512).collect();
    if t.is_empty() {
        None
    } else {
        Some(Description::TextString(t))
    }
}

fn reference_lanes(ids: &[u8]) -> Option<BitStr> {
    let mut b = BitStr::new(16);
    let mut any = false;
    for &i in ids {
        if (1..=15).contains(&i) {
            b.set(i, true);
            any = true;
        }
    }
    any.then_some(b)
}

/// A traffic sign on one lane, in force in the current or next occurrence of
/// its daily window (always, without one).
fn lane_sign(
    rts_id: usize,
    sign_type: u16,
    sign_pos: Option<PositionOffsetLLV>,
    text: String,
    window: Option<TimeWindow>,
    now: (i32, u32),
    link: ReferenceLink,
) -> RTSData {
    RTSData {
        rts_id: rts_id as u8,
        sign_type,
        sign_pos,
        description: description(text),
        time_details: window.map(|w| {
            let (start, end) = next_occurrence(w, now);
            RSITimeDetails { start_time: Some(start), end_time: Some(end), end_time_confidence: None }
        }),
        priority: None,
        reference_paths: None,
        reference_links: Some(vec![link]),
        auxiliary_sign: None,
    }
}

/// Compile the rules MAP cannot carry into one RSI per intersection (an
/// intersection with no such rules gives no RSI).
pub fn compile_rsi(m: &MapFile, opts: &RsiOptions) -> Result<Vec<RoadSideInformation>, CompileError> {
    let mut notes = Notes::default();
    let plan = plan(m, &mut notes)?;
    let mut out = Vec::new();
    for x in &m.intersections {
        let frame = geometry::frame(x);
        let refp = position3d(x.reference.lat, x.reference.lon, x.reference.elevation_m);
        let mut rtss: Vec<RTSData> = Vec::new();
        let mut rtes: Vec<RTEData> = Vec::new();
        let link_of = |lane: &crate::model::Lane| -> ReferenceLink {
            let key = (x.id, lane.approach.clone());
            let (up, down) = if lane.direction == Direction::Egress {
                (x.id, plan.egress_node.get(&key).copied().unwrap_or(0))
            } else {
                (plan.far_node.get(&key).copied().unwrap_or(0), x.id)
            };
            ReferenceLink {
                upstream_node_id: node_ref(x.region, up),
                downstream_node_id: node_ref(x.region, down),
                reference_lanes: reference_lanes(&[lane.id]),
            }
        };
        let sign_pos = |lane: &crate::model::Lane| {
            let pts = geometry::centreline(&frame, lane);
            pts.first().map(|p| point_offset(&frame, &refp, *p))
        };
        for l in &x.lanes {
            for b in &l.bans {
                let window = b
                    .time
                    .as_deref()
                    .map(TimeWindow::parse)
                    .transpose()
                    .map_err(|e| cerr(format!("intersection {}, lane {}", x.id, l.id), e))?;
                let sign = match b.vehicle {
                    VehicleClass::Truck | VehicleClass::Trailer => opts.codes.sign_no_trucks,
                    VehicleClass::Bus => opts.codes.sign_no_buses,
                    VehicleClass::Bike => opts.codes.sign_no_bikes,
                    VehicleClass::Car | VehicleClass::Taxi => opts.codes.sign_no_vehicles,
                };
                let when = b.time.clone().map(|t| format!(" {t} daily")).unwrap_or_default();
                let text = format!("lane {}: no {:?}{when}", l.id, b.vehicle).to_lowercase();
                rtss.push(lane_sign(rtss.len(), sign, sign_pos(l), text, window, opts.now, link_of(l)));
            }
            for s in &l.speed_limits {
                if map_limit_type(s).is_some() {
                    continue;
                }
                let window = s
                    .time
                    .as_deref()
                    .map(TimeWindow::parse)
                    .transpose()
                    .map_err(|e| cerr(format!("intersection {}, lane {}", x.id, l.id), e))?;
                let who = s.vehicle.map(|v| format!(" for {v:?}").to_lowercase()).unwrap_or_default();
                let when = s.time.clone().map(|t| format!(" {t} daily")).unwrap_or_default();
                let kind = if s.kind == LimitKind::Min { "minimum" } else { "maximum" };
                let sign =
                    if s.kind == LimitKind::Min { opts.codes.sign_min_speed } else { opts.codes.sign_speed_limit };
                let text = format!("lane {}: {kind} {} km/h{who}{when}", l.id, s.kph);
                rtss.push(lane_sign(rtss.len(), sign, sign_pos(l), text, window, opts.now, link_of(l)));
            }
        }
        for w in &x.work_zones {
            let el = format!("intersection {}, work zone {}", x.id, w.id);
            let lanes: Vec<_> = w.lanes.iter().filter_map(|id| x.lane(*id)).collect();
            let mut links: Vec<ReferenceLink> = Vec::new();
            for l in &lanes {
                let mut rl = link_of(l);
                if let Some(existing) = links.iter_mut().find(|e| {
                    e.upstream_node_id == rl.upstream_node_id && e.downstream_node_id == rl.downstream_node_id
                }) {
                    if let (Some(a), Some(b)) = (&mut existing.reference_lanes, rl.reference_lanes.take()) {
                        a.bits |= b.bits;
                    }
                } else {
                    links.push(rl);
                }
            }
            let start = w.start.as_deref().map(crate::model::parse_datetime).transpose().map_err(|e| cerr(&el, e))?;
            let end = w.end.as_deref().map(crate::model::parse_datetime).transpose().map_err(|e| cerr(&el, e))?;
            let time = RSITimeDetails {
                start_time: start.map(|s| s.1),
                end_time: end.map(|e| e.1),
                end_time_confidence: None,
            };
            let time = if time.start_time.is_none() && time.end_time.is_none() { None } else { Some(time) };
            // position: centroid of the affected lanes' centre lines
            let pts: Vec<P2> = lanes.iter().flat_map(|l| geometry::centreline(&frame, l)).collect();
            let centre = if pts.is_empty() { P2::zeros() } else { pts.iter().sum::<P2>() / pts.len() as f64 };
            let radius = pts.iter().map(|p| (p - centre).norm()).fold(0.0, f64::max);
            let what = if w.closed { "lanes closed" } else { "road works" };
            let ids: Vec<String> = w.lanes.iter().map(|i| i.to_string()).collect();
            rtes.push(RTEData {
                rte_id: w.id,
                event_type: if w.closed { opts.codes.event_lane_closed } else { opts.codes.event_road_works },
                event_source: EventSource::Government,
                event_pos: Some(point_offset(&frame, &refp, centre)),
                event_radius: Some((radius * 10.0).round().clamp(0.0, 65535.0) as u16),
                description: description(
                    w.description.clone().unwrap_or_else(|| format!("{what}: lanes {}", ids.join(", "))),
                ),
                time_details: time.clone(),
                priority: None,
                reference_paths: None,
                reference_links: if links.is_empty() { None } else { Some(links.clone()) },
                event_confidence: None,
            });
            if let Some(kph) = w.speed_limit_kph {
                rtss.push(RTSData {
                    rts_id: rtss.len() as u8,
                    sign_type: opts.codes.sign_speed_limit,
                    sign_pos: Some(point_offset(&frame, &refp, centre)),
                    description: description(format!("work zone {}: maximum {kph} km/h", w.id)),
                    time_details: time,
                    priority: None,
                    reference_paths: None,
                    reference_links: if links.is_empty() { None } else { Some(links) },
                    auxiliary_sign: None,
                });
            }
        }
        if rtss.is_empty() && rtes.is_empty() {
            continue;
        }
        if rtss.len() > 16 || rtes.len() > 8 {
            return Err(cerr(
                format!("intersection {}", x.id),
                format!("{} signs and {} events; one RSI carries at most 16 and 8: move rules to fewer lanes or split work zones", rtss.len(), rtes.len()),
            ));
        }
        let id = opts.rsu_id.unwrap_or_else(|| {
            let s = format!("ZL{:06}", x.id);
            let mut a = [0u8; 8];
            a.copy_from_slice(&s.as_bytes()[..8]);
            a
        });
        out.push(RoadSideInformation {
            msg_cnt: opts.msg_cnt.min(127),
            moy: Some(opts.now.1),
            id,
            ref_pos: refp,
            rtes: if rtes.is_empty() { None } else { Some(rtes) },
            rtss: if rtss.is_empty() { None } else { Some(rtss) },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_offset_alternative() {
        assert!(matches!(offset_ll(2047, -2048 + 1, 0, 0), PositionOffsetLL::PositionLL1(_)));
        assert!(matches!(offset_ll(2048, 0, 0, 0), PositionOffsetLL::PositionLL2(_)));
        assert!(matches!(offset_ll(0, 32767, 0, 0), PositionOffsetLL::PositionLL3(_)));
        assert!(matches!(offset_ll(0, 8_388_608, 0, 0), PositionOffsetLL::PositionLatLon(_)));
    }

    #[test]
    fn daily_window_occurrence() {
        // now: day 10, 08:30; window 07:00-09:00 is running
        let now = (2026, 10 * 1440 + 8 * 60 + 30);
        let w = TimeWindow::parse("07:00-09:00").unwrap();
        assert_eq!(next_occurrence(w, now), (10 * 1440 + 420, 10 * 1440 + 540));
        // window 22:00-06:00 at 03:00 started yesterday
        let now = (2026, 10 * 1440 + 180);
        let w = TimeWindow::parse("22:00-06:00").unwrap();
        assert_eq!(next_occurrence(w, now), (9 * 1440 + 1320, 10 * 1440 + 360));
        // window 17:00-19:00 at 20:00 is tomorrow
        let now = (2026, 10 * 1440 + 1200);
        let w = TimeWindow::parse("17:00-19:00").unwrap();
        assert_eq!(next_occurrence(w, now), (11 * 1440 + 1020, 11 * 1440 + 1140));
    }

    #[test]
    fn speed_units_are_two_cm_per_second() {
        assert_eq!(speed_units(60.0), 833);
        assert_eq!(speed_units(0.0), 0);
    }
}
