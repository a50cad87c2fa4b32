//! The neutral road network that every map importer produces: lanes with
//! centre lines in the source map's own frame, the connections between them
//! at junctions, signal groups and crosswalks.  `build` (in `mod.rs`) turns
//! it into the intersection model.
//!
//! Owns: the types only.  Importers fill them from Lanelet2, OpenDRIVE or
//! SUMO; they never build the model themselves, so that intersection
//! finding, approach grouping, lane numbering, simplification and splitting
//! are done once, the same way for every format.

use crate::model::{LaneType, Maneuver, VehicleClass};

/// How the network's x/y (or lon/lat) map to WGS84.
#[derive(Debug, Clone)]
pub enum GeoRef {
    /// Points are `[lon, lat]` in degrees (Lanelet2 OSM).
    Wgs84,
    /// Points are projected metres; `proj` is a PROJ string (`+proj=utm ...`,
    /// `+proj=tmerc ...`) and `offset` is added to a point before inverse
    /// projection (SUMO's `netOffset` is subtracted, i.e. `offset = -netOffset`).
    Projected {
        /// The PROJ definition.
        proj: String,
        /// Added to every point before un-projecting.
        offset: [f64; 2],
    },
    /// Points are local metres east/north of the given WGS84 origin `[lat, lon]`
    /// (maps without a real geo-reference, placed with `--origin`).
    Local {
        /// `[lat, lon]` of the local frame's (0, 0).
        origin: [f64; 2],
    },
}

/// A lane (or crosswalk / sidewalk strip) of the source map.
#[derive(Debug, Clone)]
pub struct NetLane {
    /// Id in the source map (e.g. SUMO lane id, OpenDRIVE `road:section:lane`, lanelet id).
    pub id: String,
    /// Centre line in travel direction, in the network frame (see [`GeoRef`]).
    pub centre: Vec<[f64; 2]>,
    /// Width in metres (average when it varies).
    pub width_m: f64,
    /// What the lane is for.
    pub lane_type: LaneType,
    /// Speed limit, km/h.
    pub speed_kph: Option<f64>,
    /// Classes allowed exclusively (e.g. a bus lane: `[Bus]`); empty = general.
    pub only: Vec<VehicleClass>,
    /// Classes banned from the lane (OpenDRIVE `<access rule="deny">`).
    pub bans: Vec<VehicleClass>,
    /// The junction this lane leads into (its end is a stop line there), if any.
    pub to_junction: Option<String>,
    /// The junction this lane leaves from, if any.
    pub from_junction: Option<String>,
    /// Whether the lane ends at a stop line (false for yield / free-flow lanes).
    pub stop_line: bool,
}

/// A permitted movement through a junction.
#[derive(Debug, Clone)]
pub struct NetConnection {
    /// The junction it crosses.
    pub junction: String,
    /// Incoming lane id.
    pub from: String,
    /// Outgoing lane id.
    pub to: String,
    /// The manoeuvre, when the source map says (otherwise derived from geometry).
    pub maneuver: Option<Maneuver>,
    /// The controlling signal, as the source map names it (e.g. SUMO `tl:linkIndex`,
    /// an OpenDRIVE signal id, a Lanelet2 traffic_light regulatory element id).
    pub signal: Option<String>,
    /// The movement must give way to others (Lanelet2 `right_of_way` role `yield`): under a signal its
    /// group is permissive; without one its lane carries the always-yield manoeuvre.
    pub yields: bool,
}

/// A junction of the source map.
#[derive(Debug, Clone)]
pub struct NetJunction {
    /// Id in the source map.
    pub id: String,
    /// Whether traffic signals control it.
    pub signalised: bool,
    /// A centre point in the network frame, when the source map gives one.
    pub centre: Option<[f64; 2]>,
    /// A name, when the source map gives one.
    pub name: Option<String>,
    /// Height of the junction in metres, as the source map gives it (Lanelet2 node `ele`, OpenDRIVE
    /// elevation profile, SUMO junction z); written to the MAP's reference point.
    pub elevation_m: Option<f64>,
}

/// A crosswalk at a junction.
#[derive(Debug, Clone)]
pub struct NetCrosswalk {
    /// Id in the source map.
    pub id: String,
    /// The junction it belongs to.
    pub junction: String,
    /// Centre line from kerb to kerb, network frame.
    pub centre: Vec<[f64; 2]>,
    /// Width in metres.
    pub width_m: f64,
    /// Its pedestrian signal, as the source map names it.
    pub signal: Option<String>,
}

/// A whole imported network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Frame of all points.
    pub geo: GeoRef,
    /// Lanes (not the internal lanes inside junctions).
    pub lanes: Vec<NetLane>,
    /// Movements through junctions.
    pub connections: Vec<NetConnection>,
    /// Junctions.
    pub junctions: Vec<NetJunction>,
    /// Crosswalks.
    pub crosswalks: Vec<NetCrosswalk>,
    /// What the importer could not map, with source ids.
    pub warnings: Vec<String>,
}

impl Network {
    /// Joins lanes that continue one another into one lane, so that an approach is as long as the map
    /// draws it rather than one lanelet or lane section.  `next` lists `(a, b)`: lane `b` continues lane
    /// `a` in travel direction.  Only one-to-one pairs of the same lane type and exclusive classes are
    /// joined (where lanes split or merge, e.g. at the start of a turn pocket, a new lane begins).  A
    /// joined lane is named `first..last`; connections are renamed with it; its junctions are those of
    /// its ends; width is the length-weighted mean; speed limit, classes and stop line are those of
    /// the end at its junction (an ingress lane's last part, otherwise its first).
    pub fn merge_chains(&mut self, next: &[(String, String)]) {
        use std::collections::HashMap;
        let index: HashMap<&str, usize> = self.lanes.iter().enumerate().map(|(i, l)| (l.id.as_str(), i)).collect();
        let (mut outs, mut ins) = (vec![0usize; self.lanes.len()], vec![0usize; self.lanes.len()]);
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (a, b) in next {
            if let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) {
                if i != j && !pairs.contains(&(i, j)) {
                    outs[i] += 1;
                    ins[j] += 1;
                    pairs.push((i, j));
                }
            }
        }
        let mut succ: Vec<Option<usize>> = vec![None; self.lanes.len()];
        for &(i, j) in &pairs {
            let (a, b) = (&self.lanes[i], &self.lanes[j]);
            let joinable = outs[i] == 1
                && ins[j] == 1
                && a.lane_type == b.lane_type
                && a.only == b.only
                && a.bans == b.bans
                && a.to_junction.is_none()
                && b.from_junction.is_none();
            if joinable {
                succ[i] = Some(j);
            }
        }
        let has_pred: Vec<bool> = {
            let mut v = vec![false; self.lanes.len()];
            for j in succ.iter().flatten() {
                v[*j] = true;
            }
            v
        };
        let mut taken = vec![false; self.lanes.len()];
        let mut chains: Vec<Vec<usize>> = Vec::new();
        // chain starts first, then whatever is left (closed loops of lanes)
        for start in (0..self.lanes.len()).filter(|&i| !has_pred[i]).chain(0..self.lanes.len()) {
            if taken[start] {
                continue;
            }
            let mut c = vec![start];
            taken[start] = true;
            let mut cur = start;
            while let Some(s) = succ[cur].filter(|&s| !taken[s]) {
                taken[s] = true;
                c.push(s);
                cur = s;
            }
            chains.push(c);
        }
        let wgs = matches!(self.geo, GeoRef::Wgs84);
        let seg = |a: [f64; 2], b: [f64; 2]| {
            if wgs {
                let k = a[1].to_radians().cos();
                ((b[0] - a[0]) * k).hypot(b[1] - a[1]) * 111_320.0
            } else {
                (b[0] - a[0]).hypot(b[1] - a[1])
            }
        };
        let mut rename: HashMap<String, String> = HashMap::new();
        let mut lanes = Vec::with_capacity(chains.len());
        for c in chains {
            if c.len() == 1 {
                lanes.push(self.lanes[c[0]].clone());
                continue;
            }
            let (first, last) = (&self.lanes[c[0]], &self.lanes[c[c.len() - 1]]);
            let id = format!("{}..{}", first.id, last.id);
            let rules = if last.to_junction.is_some() { last } else { first };
            let mut centre: Vec<[f64; 2]> = Vec::new();
            let (mut total, mut weighted) = (0.0, 0.0);
            for &k in &c {
                let l = &self.lanes[k];
                rename.insert(l.id.clone(), id.clone());
                // at the joint, drop the next part's points that do not lie ahead of the line so far
                // (parts of a map rarely meet exactly: a duplicate or a point folding back)
                let skip = match centre[..] {
                    [.., a, b] => {
                        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                        let norm = dx.hypot(dy).max(f64::MIN_POSITIVE);
                        l.centre
                            .iter()
                            .take_while(|p| {
                                ((p[0] - b[0]) * dx + (p[1] - b[1]) * dy) / norm <= 1e-9 * norm.max(1.0)
                                    || seg(b, **p) < 0.01
                            })
                            .count()
                    }
                    _ => 0,
                };
                centre.extend_from_slice(&l.centre[skip.min(l.centre.len())..]);
                let len: f64 = l.centre.windows(2).map(|w| seg(w[0], w[1])).sum();
                total += len;
                weighted += len * l.width_m;
            }
            lanes.push(NetLane {
                id,
                centre,
                width_m: if total > 0.0 { weighted / total } else { rules.width_m },
                lane_type: rules.lane_type,
                speed_kph: rules.speed_kph,
                only: rules.only.clone(),
                bans: rules.bans.clone(),
                to_junction: last.to_junction.clone(),
                from_junction: first.from_junction.clone(),
                stop_line: last.stop_line,
            });
        }
        for x in &mut self.connections {
            if let Some(n) = rename.get(&x.from) {
                x.from = n.clone();
            }
            if let Some(n) = rename.get(&x.to) {
                x.to = n.clone();
            }
        }
        self.lanes = lanes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(id: &str, x0: f64, x1: f64, to: Option<&str>, from: Option<&str>) -> NetLane {
        NetLane {
            id: id.into(),
            centre: vec![[x0, 0.0], [x1, 0.0]],
            width_m: if x0 < 0.0 { 3.0 } else { 4.0 },
            lane_type: LaneType::Vehicle,
            speed_kph: Some(if to.is_some() { 50.0 } else { 30.0 }),
            only: vec![],
            bans: vec![],
            to_junction: to.map(String::from),
            from_junction: from.map(String::from),
            stop_line: to.is_some(),
        }
    }

    #[test]
    fn chains_join_one_to_one_and_rename_connections() {
        // a -> b -> c into junction J; c forks into d and e before J would stop the chain, but here
        // J's connection leaves from c; f leaves J and continues as g.
        let mut n = Network {
            geo: GeoRef::Local { origin: [0.0, 0.0] },
            lanes: vec![
                lane("a", -100.0, -60.0, None, None),
                lane("b", -60.0, -30.0, None, None),
                lane("c", -30.0, 0.0, Some("J"), None),
                lane("f", 10.0, 30.0, None, Some("J")),
                lane("g", 30.0, 90.0, None, None),
                lane("h", 30.0, 80.0, None, None),
            ],
            connections: vec![NetConnection {
                junction: "J".into(),
                from: "c".into(),
                to: "f".into(),
                maneuver: None,
                signal: None,
                yields: false,
            }],
            junctions: vec![],
            crosswalks: vec![],
            warnings: vec![],
        };
        let next = |a: &str, b: &str| (a.to_string(), b.to_string());
        // f splits into g and h: not joined
        n.merge_chains(&[next("a", "b"), next("b", "c"), next("f", "g"), next("f", "h")]);
        let ids: Vec<&str> = n.lanes.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["a..c", "f", "g", "h"]);
        let abc = &n.lanes[0];
        assert_eq!(abc.centre, vec![[-100.0, 0.0], [-60.0, 0.0], [-30.0, 0.0], [0.0, 0.0]]);
        assert_eq!((abc.to_junction.as_deref(), abc.stop_line, abc.speed_kph), (Some("J"), true, Some(50.0)));
        assert!((abc.width_m - 3.0).abs() < 1e-9);
        assert_eq!((n.connections[0].from.as_str(), n.connections[0].to.as_str()), ("a..c", "f"));
    }
}
