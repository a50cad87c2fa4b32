//! # sim — the simulation harness for traffic engineers
//!
//! Will hold the microscopic traffic model (pure, deterministic by seed), the
//! fast and live modes, and reports.  Today it owns the network every vehicle
//! will drive on: the lane graph of an intersection file ([`LaneGraph`]); the
//! reader of the neutral scenario format `isect-scenario/0.1` that the SUMO peer
//! runs ([`scenario`]: network, movements, lanes, demand, the fixed plan as a
//! `signal_core::Plan`); the sensor models ([`sensors`]); replay
//! of recorded trajectories ([`replay`]); and the live modes: synthetic traffic
//! ([`traffic`]) or recordings streamed to an RSU as sensor frames on the wall
//! clock ([`stream`], network side in [`live`]) and a signal controller speaking
//! `zhilu-signal/1` ([`controller`], [`live`]).
//!
//! Invariant: production crates never depend on `sim`.

pub mod controller;
pub mod live;
pub mod metrics;
pub mod replay;
pub mod scenario;
pub mod sensors;
pub mod stream;
pub mod traffic;
pub mod trajectories;

use map_encoder::model::{MapFile, Target};
use std::collections::BTreeMap;

/// A lane of the network: (intersection id, lane id).
pub type LaneKey = (u16, u8);

/// Which lanes a vehicle can move onto from each lane, and under which signal group.
#[derive(Debug, Default, Clone)]
pub struct LaneGraph {
    /// lane -> [(next lane, signal group)]
    pub next: BTreeMap<LaneKey, Vec<(LaneKey, Option<u8>)>>,
}

impl LaneGraph {
    /// Build from a model: connections inside intersections and link lane maps between them.
    pub fn from_model(m: &MapFile) -> Self {
        let mut g = LaneGraph::default();
        for x in &m.intersections {
            for c in &x.connections {
                let to = match c.to {
                    Target::Lane(l) => (x.id, l),
                    Target::Remote { intersection, lane, .. } => (intersection, lane),
                };
                g.next.entry((x.id, c.from)).or_default().push((to, c.signal_group));
            }
        }
        for l in &m.links {
            for [a, b] in &l.lane_map {
                g.next.entry((l.from.intersection, *a)).or_default().push(((l.to.intersection, *b), None));
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use map_encoder::model::{parse, Syntax};

    #[test]
    fn corridor_lanes_continue_to_the_next_intersection() {
        let (m, _) = parse("c", include_str!("../../examples/corridor.toml"), Syntax::Toml).unwrap();
        let g = LaneGraph::from_model(&m);
        // lane 6 of 2001 (east egress) continues as lane 11 of 2002 (west ingress)
        assert!(g.next[&(2001, 6)].iter().any(|(to, _)| *to == (2002, 11)));
        // and 2002's lane 11 has signalised connections onward
        assert!(g.next[&(2002, 11)].iter().all(|(_, sg)| sg.is_some()));
    }
}
