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
