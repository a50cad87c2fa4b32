//! The reader of the neutral scenario format `isect-scenario/0.1` (the format the SUMO peer runs;
//! see `shared/peers/sumo/SCENARIO_FORMAT.md`): one JSON file that describes a signalised
//! intersection experiment (network, demand, vehicle class, signal phases and the fixed-time
//! plan) completely enough that two simulators run the same work.
//!
//! Owns: the serde types mirroring the format ([`Scenario`] and the types under it), the checks a
//! file must pass ([`Scenario::parse`], [`Scenario::validate`]), and the one network model every
//! later part of the simulator reads: the compass side of each approach, the turning movements of
//! each signal node ([`Scenario::movements`]), the lanes at each stop line
//! ([`Scenario::approach_lanes`]), the movements a route makes ([`Scenario::route_movements`]),
//! the fixed plan as the shared signal core's [`Plan`] ([`Scenario::fixed_plan`]) and the demand
//! in time ([`Scenario::flow_vph`]). Must not: read files, clocks or sockets (text in, values
//! out), simulate anything, or know about SUMO.
//!
//! ## Rules (those of the format, as the SUMO peer's `scenario.py` applies them)
//!
//! * **Compass side.** A neighbour of a node lies on the side N, E, S or W whose 90° sector holds
//!   its bearing (clockwise from north, x east, y north): N is `[-45°, 45°)`, E `[45°, 135°)`,
//!   S `[135°, 225°)`, W `[225°, 315°)`; a bearing on a sector boundary belongs to the sector
//!   clockwise of it. Two neighbours of one signal node on the same side are refused (their
//!   movements would have the same names).
//! * **Movement names** are travel direction + turn. Traffic arriving from the neighbour on the
//!   north side travels southbound (`SB`); from the east `WB`, the south `NB`, the west `EB`. The
//!   turn comes from the exit side relative to the entry side, counted clockwise in quarter turns:
//!   one quarter is a left (`L`), two a through movement (`T`), three a right (`R`); right-hand
//!   traffic. So the route N → J → E is `SBL`. Leaving on the entry side (a U-turn) is not a
//!   movement. A signal node's movements are those an approach lane serves (a lane whose
//!   `lane_use` token holds the turn's letter).
//! * **Signal groups.** [`Scenario::movements`] lists a node's movements by entry side N, E, S, W
//!   (so `SB`, `WB`, `NB`, `EB`), and within an approach L, T, R; the movement at index `i` of that
//!   list is signal group `i + 1`. On the plain 4-leg node that is `SBL`=1, `SBT`=2, `SBR`=3,
//!   `WBL`=4 … `EBR`=12. [`Scenario::fixed_plan`] uses these ids.
//! * **Lanes.** Every road is two directed links. A link ending at a signal node has, at its stop
//!   line, one lane per `lane_use` token, listed right to left (index 0 is the rightmost). The
//!   lanes beyond `lanes_per_direction` (the leftmost) are a pocket that exists only over the last
//!   `pocket_length_m`, fed from the leftmost full lane. A road's `approach` overrides the
//!   template field by field, for both directions of the road. With fewer tokens than
//!   `lanes_per_direction` the link simply has that many lanes at its stop line, none a pocket
//!   (the SUMO translator builds the whole link so). Link length is the straight-line node
//!   distance unless the road gives `length_m`.
//! * **Demand.** Route `r` generates vehicles at rate `flows_vph[k]` during measured interval `k`;
//!   the warm-up repeats interval 0; after the measured period there is no demand.
//!
//! ## Invariants
//!
//! * Pure: no I/O, deterministic, and no function here panics, whatever the text or the values of
//!   a hand-built [`Scenario`].
//! * Every error ([`ScenarioError`]) names the JSON path of the offending field
//!   (`demand.routes[3].path[1]`), except a text that is not JSON at all, which names line and
//!   column instead. (A key given twice in one object: the last one counts, as in Python.)
//! * A scenario that [`Scenario::parse`] accepts has a fixed plan for every signal node that
//!   passes [`Plan::validate`], and every route's movements resolve.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signal_core::plan::{MAX_CLEARANCE_S, MAX_CYCLE_S, MIN_GREEN_S};
use signal_core::{Plan, Stage};

/// The schema string a file must carry.
pub const SCHEMA: &str = "isect-scenario/0.1";
/// How far `fixed_plan.cycle_s` may be from the sum of the greens and clearances, seconds.
pub const CYCLE_TOLERANCE_S: f64 = 0.5;
/// The plan id [`Scenario::fixed_plan`] gives the fixed-time plan.
pub const FIXED_PLAN_ID: u32 = 1;
/// Most demand intervals a file may have.
pub const MAX_INTERVALS: usize = 100_000;

// ------------------------------------------------------------------------------------------------
// The document
// ------------------------------------------------------------------------------------------------

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Must be [`SCHEMA`].
    pub schema: String,
    /// The scenario's name.
    pub name: String,
    /// Free text, not interpreted.
    #[serde(default)]
    pub description: String,
    /// Every controller runs once per seed.
    pub seeds: Vec<u64>,
    /// Simulated before the measured period, with the demand of interval 0, seconds.
    pub warmup_s: f64,
    /// The measured period (demand on), seconds; a whole number of `interval_s`.
    pub duration_s: f64,
    /// Demand is constant within an interval, seconds.
    pub interval_s: f64,
    /// Longest time simulated after the measured period until the measured vehicles have left.
    pub drain_max_s: f64,
    /// Simulation step of the reference run, seconds.
    pub step_s: f64,
    /// Arrival process (default Poisson).
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Whether right turns may go on red (default false).
    #[serde(default)]
    pub right_turn_on_red: bool,
    /// The one vehicle class.
    pub vehicle: Vehicle,
    /// Nodes and roads.
    pub network: Network,
    /// Routes and their flows.
    pub demand: Demand,
    /// How the demand level and the fixed plan were computed (informational).
    #[serde(default)]
    pub design: Option<Design>,
    /// One entry per signal node.
    pub signals: Vec<Signal>,
    /// Informational only (movement flows, flow ratios); accepted and ignored.
    #[serde(default, skip_serializing)]
    pub derived_info: IgnoredAny,
}

/// How vehicles arrive within an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential headways.
    #[default]
    Poisson,
    /// Constant headways.
    Uniform,
}

/// The vehicle class (a passenger car).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vehicle {
    /// Car-following model of the reference run (default `krauss`).
    #[serde(default = "krauss")]
    pub model: String,
    pub length_m: f64,
    /// Gap to the leader when stopped, metres.
    pub min_gap_m: f64,
    pub accel_mps2: f64,
    pub decel_mps2: f64,
    pub emergency_decel_mps2: f64,
    /// Desired time headway (SUMO tau), seconds.
    pub headway_s: f64,
    /// Driver imperfection (SUMO sigma), 0 = perfect, at most 1.
    pub imperfection: f64,
    /// Desired speed = speed limit × factor; mean and deviation of the factor.
    pub speed_factor_mean: f64,
    pub speed_factor_dev: f64,
    pub max_speed_kmh: f64,
}

fn krauss() -> String {
    "krauss".to_string()
}

/// Nodes, roads and the default lane layout at signalised stop lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Lane layout at every signalised stop line unless a road overrides it.
    #[serde(default)]
    pub approach_template: Option<ApproachLayout>,
    pub nodes: Vec<Node>,
    pub roads: Vec<Road>,
}

/// Lane layout at a stop line; in a road, each given field overrides the template's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproachLayout {
    /// Lane tokens right to left, each a combination of `T` (through), `L` (left), `R` (right).
    #[serde(default)]
    pub lane_use: Option<Vec<String>>,
    /// Length of the lanes beyond `lanes_per_direction`, metres.
    #[serde(default)]
    pub pocket_length_m: Option<f64>,
}

/// A node: a signalised intersection or a boundary node (source and sink of traffic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub id: String,
    /// Metres east.
    pub x_m: f64,
    /// Metres north.
    pub y_m: f64,
    pub kind: NodeKind,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Signal,
    Boundary,
}

/// A two-way road between two nodes (one entry per pair of nodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Road {
    pub id: String,
    pub nodes: [String; 2],
    pub speed_kmh: f64,
    /// Lanes of each direction on the road's body (and of every outgoing link).
    pub lanes_per_direction: u32,
    /// Length of each direction; the straight-line node distance when absent.
    #[serde(default)]
    pub length_m: Option<f64>,
    /// Override of the approach template for the stop lines at this road's signal-node ends.
    #[serde(default)]
    pub approach: Option<ApproachLayout>,
}

/// The demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    pub routes: Vec<Route>,
}

/// A route: a node path from a boundary node through signal nodes to a boundary node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub id: String,
    pub path: Vec<String>,
    /// One flow rate (veh/h) per measured interval.
    pub flows_vph: Vec<f64>,
}

/// How the demand level and the Webster plan were computed; informational, not checked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Design {
    #[serde(default)]
    pub target_vc: Option<f64>,
    #[serde(default)]
    pub saturation_flow_vphpl: Option<f64>,
    #[serde(default)]
    pub left_turn_factor: Option<f64>,
    #[serde(default)]
    pub shared_right_coefficient: Option<f64>,
    #[serde(default)]
    pub lost_time_per_phase_s: Option<f64>,
    #[serde(default)]
    pub cycle_min_s: Option<f64>,
    #[serde(default)]
    pub cycle_max_s: Option<f64>,
    #[serde(default)]
    pub design_flow: Option<String>,
    #[serde(default)]
    pub max_green_factor: Option<f64>,
}

/// The signal timing of one signal node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub node: String,
    /// Yellow after every green, seconds.
    pub yellow_s: f64,
    /// All red after every yellow, seconds.
    pub all_red_s: f64,
    /// The node's offset for coordinated controllers (the fixed plan has its own), seconds.
    #[serde(default)]
    pub offset_s: f64,
    /// Phases in service order.
    pub phases: Vec<Phase>,
    /// The fixed-time (Webster) plan.
    pub fixed_plan: FixedPlan,
}

/// A phase: movements that get a protected green together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub movements: Vec<String>,
    pub min_green_s: f64,
    pub max_green_s: f64,
}

/// The fixed-time plan of a signal node: one green per phase, in phase order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedPlan {
    /// How it was computed (`webster`); informational.
    #[serde(default)]
    pub method: Option<String>,
    /// Sum of greens + phases × (yellow + all red), seconds.
    pub cycle_s: f64,
    pub greens_s: Vec<f64>,
    /// Start of phase 0's green within the cycle, seconds.
    #[serde(default)]
    pub offset_s: f64,
}

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/// Why a scenario was refused: the source (the name given to [`Scenario::parse`]), the JSON path
/// of the field (empty only when the text is not JSON) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub source: String,
    /// E.g. `demand.routes[3].path[1]`.
    pub path: String,
    pub message: String,
}

impl ScenarioError {
    fn new(source: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { source: source.to_string(), path: path.into(), message: message.into() }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.path, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

// ------------------------------------------------------------------------------------------------
// The network model
// ------------------------------------------------------------------------------------------------

/// Compass side of a node on which a neighbour lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    N,
    E,
    S,
    W,
}

impl Side {
    /// N, E, S, W: clockwise from north.
    pub const ALL: [Side; 4] = [Side::N, Side::E, Side::S, Side::W];

    /// The side whose 90° sector holds the direction `(dx east, dy north)`.
    pub fn of_vector(dx: f64, dy: f64) -> Side {
        let bearing = dx.atan2(dy).to_degrees().rem_euclid(360.0);
        let sector = ((bearing + 45.0).rem_euclid(360.0) / 90.0).floor();
        match sector as i64 {
            1 => Side::E,
            2 => Side::S,
            3 => Side::W,
            _ => Side::N,
        }
    }

    fn index(self) -> u8 {
        match self {
            Side::N => 0,
            Side::E => 1,
            Side::S => 2,
            Side::W => 3,
        }
    }

    /// Travel direction of traffic arriving from this side: N → `SB`, E → `WB`, S → `NB`, W → `EB`.
    pub fn bound(self) -> &'static str {
        match self {
            Side::N => "SB",
            Side::E => "WB",
            Side::S => "NB",
            Side::W => "EB",
        }
    }

    /// The turn of traffic entering from `self` and leaving toward `exit`; `None` for a U-turn.
    pub fn turn_to(self, exit: Side) -> Option<Turn> {
        match (exit.index() + 4 - self.index()) % 4 {
            1 => Some(Turn::L),
            2 => Some(Turn::T),
            3 => Some(Turn::R),
            _ => None,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A turn: left, through, right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Turn {
    L,
    T,
    R,
}

impl Turn {
    /// L, T, R: the order of movements within an approach.
    pub const ALL: [Turn; 3] = [Turn::L, Turn::T, Turn::R];

    /// The letter used in movement names and `lane_use` tokens.
    pub fn letter(self) -> char {
        match self {
            Turn::L => 'L',
            Turn::T => 'T',
            Turn::R => 'R',
        }
    }
}

/// An approach of a signal node: the neighbour traffic arrives from.
#[derive(Debug, Clone, PartialEq)]
pub struct Approach {
    /// The upstream neighbour.
    pub from: String,
    /// The side of the signal node it lies on.
    pub side: Side,
    /// Index of the road in `network.roads`.
    pub road: usize,
}

/// A turning movement at a signal node.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    /// Travel direction + turn, e.g. `SBL`.
    pub name: String,
    /// The neighbour it arrives from.
    pub from: String,
    /// The neighbour it leaves toward.
    pub to: String,
    /// The side it enters from.
    pub entry: Side,
    pub turn: Turn,
    /// 1 + its index in [`Scenario::movements`].
    pub signal_group: u8,
    /// Stop-line lanes (indices right to left, 0 = rightmost) that serve it.
    pub lanes: Vec<usize>,
}

/// One stop-line lane of an approach.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneUse {
    /// 0 = rightmost.
    pub index: usize,
    /// The `lane_use` token as written (e.g. `TR`).
    pub turns: String,
    /// Names of the movements it serves, in L, T, R order (a turn without an exit serves none).
    pub movements: Vec<String>,
    /// A pocket lane: beyond `lanes_per_direction`, only over the last `length_m` of the link.
    pub pocket: bool,
    /// The lane's length: the pocket length for a pocket lane, else the link length, metres.
    pub length_m: f64,
}

/// The resolved lane layout of a road's stop lines at signal nodes.
struct Layout<'a> {
    road: usize,
    lane_use: Option<&'a [String]>,
    /// Whether `lane_use` comes from the road's own `approach` (else from the template).
    lane_use_own: bool,
    pocket_length_m: f64,
    /// Whether `pocket_length_m` comes from the road's own `approach`.
    pocket_own: bool,
}

impl Layout<'_> {
    fn path(&self, own: bool, field: &str) -> String {
        if own {
            format!("network.roads[{}].approach.{field}", self.road)
        } else {
            format!("network.approach_template.{field}")
        }
    }

    fn lane_use_path(&self) -> String {
        self.path(self.lane_use_own, "lane_use")
    }

    fn pocket_path(&self) -> String {
        self.path(self.pocket_own, "pocket_length_m")
    }
}

/// The turns a `lane_use` token allows: letters from T, L, R, each at most once.
fn token_turns(token: &str) -> Result<Vec<Turn>, String> {
    let mut turns = Vec::new();
    for c in token.chars() {
        let turn = match c {
            'L' => Turn::L,
            'T' => Turn::T,
            'R' => Turn::R,
            _ => return Err(format!("{token:?}: {c:?} is not a turn; expected a combination of T, L and R")),
        };
        if turns.contains(&turn) {
            return Err(format!("{token:?}: {c} appears twice"));
        }
        turns.push(turn);
    }
    if turns.is_empty() {
        return Err("empty; expected a combination of T, L and R".to_string());
    }
    Ok(turns)
}

fn serves(token: &str, turn: Turn) -> bool {
    token.contains(turn.letter())
}

impl Scenario {
    /// Parses and checks a scenario; `name` (e.g. the file name) prefixes error messages.
    ///
    /// The text must be JSON of the format's shape (no unknown fields except inside
    /// `derived_info`), and: `schema` is [`SCHEMA`]; at least one seed; `duration_s`,
    /// `interval_s`, `step_s` > 0, `warmup_s`, `drain_max_s` >= 0, `duration_s` a whole number
    /// (at most [`MAX_INTERVALS`]) of `interval_s`; vehicle sizes, accelerations, headway, speed
    /// factor and top speed > 0, `min_gap_m`, `speed_factor_dev` >= 0, `imperfection` in [0, 1];
    /// node, road and route ids non-empty and unique; a road joins two distinct existing nodes at
    /// different positions, once per pair, with speed > 0 and at least one lane; `lane_use` tokens
    /// are non-empty combinations of T, L, R; every stop line at a signal node has a `lane_use`,
    /// and a pocket (more tokens than `lanes_per_direction`) has a length > 0 shorter than the
    /// link; no two neighbours of a signal node on one side; a route path has at least 3 nodes,
    /// known, joined by roads, boundary at both ends and signal nodes between, no U-turn, each
    /// movement served by a lane and by a phase (a right turn may go on red instead where
    /// `right_turn_on_red`); one flow per interval, each finite and >= 0; one signal entry per
    /// signal node and none for others; yellow and all red within 0..10 s; phases name movements
    /// of their node, at least one each, never sharing one; 1 <= `min_green_s` <= `max_green_s`
    /// <= 300; one fixed-plan green per phase, within the phase's min and max green; `cycle_s`
    /// within [`CYCLE_TOLERANCE_S`] of greens + phases × (yellow + all red); the fixed-plan
    /// offset within the cycle; and the converted plan passes [`Plan::validate`].
    pub fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ScenarioError::new(name, "", format!("not valid JSON: {e}")))?;
        // The shape first, with paths (serde's own errors have none, and serde would also take a
        // list for an object).
        if let Some((path, message)) = shape::locate(&value) {
            return Err(ScenarioError::new(name, path, message));
        }
        let scenario = Scenario::deserialize(&value).map_err(|e| ScenarioError::new(name, "", e.to_string()))?;
        scenario.check(name)?;
        Ok(scenario)
    }

    /// Checks the rules of the format (see [`Scenario::parse`]); errors carry the scenario's name.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.check(&self.name)
    }

    // -------------------------------------------------------------------------------- lookups

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.network.nodes.iter().find(|n| n.id == id)
    }

    /// The route with this id.
    pub fn route(&self, id: &str) -> Option<&Route> {
        self.demand.routes.iter().find(|r| r.id == id)
    }

    /// The signal entry of a node.
    pub fn signal(&self, node: &str) -> Option<&Signal> {
        self.signals.iter().find(|s| s.node == node)
    }

    /// Ids of the signal nodes, in file order.
    pub fn signal_nodes(&self) -> Vec<&str> {
        self.network.nodes.iter().filter(|n| n.kind == NodeKind::Signal).map(|n| n.id.as_str()).collect()
    }

    fn kind(&self, id: &str) -> Option<NodeKind> {
        self.node(id).map(|n| n.kind)
    }

    fn is_signal(&self, id: &str) -> bool {
        self.kind(id) == Some(NodeKind::Signal)
    }

    /// Index of the road joining `a` and `b` (either way round).
    pub fn road_between(&self, a: &str, b: &str) -> Option<usize> {
        self.network
            .roads
            .iter()
            .position(|r| (r.nodes[0] == a && r.nodes[1] == b) || (r.nodes[0] == b && r.nodes[1] == a))
    }

    /// Length of the link from `a` to `b`: the road's `length_m`, else the node distance, metres.
    pub fn link_length_m(&self, a: &str, b: &str) -> Option<f64> {
        let road = self.network.roads.get(self.road_between(a, b)?)?;
        if let Some(l) = road.length_m {
            return Some(l);
        }
        let (na, nb) = (self.node(a)?, self.node(b)?);
        Some((nb.x_m - na.x_m).hypot(nb.y_m - na.y_m))
    }

    /// The side of `node` on which `other` lies.
    pub fn side_of(&self, node: &str, other: &str) -> Option<Side> {
        let (n, o) = (self.node(node)?, self.node(other)?);
        Some(Side::of_vector(o.x_m - n.x_m, o.y_m - n.y_m))
    }

    /// Neighbours of a node with the road joining them, in road order.
    fn neighbours<'a>(&'a self, node: &'a str) -> impl Iterator<Item = (&'a str, usize)> + 'a {
        self.network.roads.iter().enumerate().filter_map(move |(i, r)| {
            if r.nodes[0] == node {
                Some((r.nodes[1].as_str(), i))
            } else if r.nodes[1] == node {
                Some((r.nodes[0].as_str(), i))
            } else {
                None
            }
        })
    }

    // -------------------------------------------------------------------------------- geometry

    /// The approaches of a node ordered by side N, E, S, W (the first road on a side if a
    /// hand-built scenario has two).
    pub fn approaches(&self, node: &str) -> Vec<Approach> {
        let mut by_side: BTreeMap<Side, Approach> = BTreeMap::new();
        for (from, road) in self.neighbours(node) {
            if let Some(side) = self.side_of(node, from) {
                by_side.entry(side).or_insert_with(|| Approach { from: from.to_string(), side, road });
            }
        }
        by_side.into_values().collect()
    }

    /// The movement `a → node → b` by geometry alone: its entry side and turn (`None` for a U-turn
    /// or unknown nodes).
    fn geometric_turn(&self, a: &str, node: &str, b: &str) -> Option<(Side, Turn)> {
        if a == b {
            return None;
        }
        let entry = self.side_of(node, a)?;
        Some((entry, entry.turn_to(self.side_of(node, b)?)?))
    }

    /// The name of the movement `a → node → b` (e.g. `SBL`), by geometry alone.
    pub fn movement_name(&self, a: &str, node: &str, b: &str) -> Option<String> {
        let (entry, turn) = self.geometric_turn(a, node, b)?;
        Some(format!("{}{}", entry.bound(), turn.letter()))
    }

    /// The movements of a signal node, by entry side N, E, S, W and within an approach L, T, R;
    /// only those served by a lane. Signal group = 1 + index. Empty for a boundary node.
    pub fn movements(&self, node: &str) -> Vec<Movement> {
        if !self.is_signal(node) {
            return Vec::new();
        }
        let approaches = self.approaches(node);
        let mut out = Vec::new();
        for a in &approaches {
            let tokens = self.layout(a.road).lane_use.unwrap_or(&[]);
            for turn in Turn::ALL {
                let Some(exit) = approaches.iter().find(|b| a.side.turn_to(b.side) == Some(turn)) else {
                    continue;
                };
                let lanes: Vec<usize> =
                    tokens.iter().enumerate().filter(|(_, t)| serves(t, turn)).map(|(i, _)| i).collect();
                if lanes.is_empty() {
                    continue;
                }
                out.push(Movement {
                    name: format!("{}{}", a.side.bound(), turn.letter()),
                    from: a.from.clone(),
                    to: exit.from.clone(),
                    entry: a.side,
                    turn,
                    signal_group: u8::try_from(out.len() + 1).unwrap_or(0),
                    lanes,
                });
            }
        }
        out
    }

    /// The signal group of a movement of a node (1 + its index in [`Scenario::movements`]).
    pub fn signal_group(&self, node: &str, movement: &str) -> Option<u8> {
        self.movements(node).into_iter().find(|m| m.name == movement).map(|m| m.signal_group)
    }

    /// The movement at each signal node along a route's path: `(node, movement name)`. Empty for
    /// an unknown route.
    pub fn route_movements(&self, route: &str) -> Vec<(String, String)> {
        let Some(r) = self.route(route) else {
            return Vec::new();
        };
        r.path
            .windows(3)
            .filter(|w| self.is_signal(&w[1]))
            .filter_map(|w| Some((w[1].clone(), self.movement_name(&w[0], &w[1], &w[2])?)))
            .collect()
    }

    /// For a route through exactly one signal node, that node and the route's movement there.
    pub fn movement_of(&self, route: &str) -> Option<(String, String)> {
        let r = self.route(route)?;
        if r.path.iter().filter(|n| self.is_signal(n)).count() != 1 {
            return None;
        }
        self.route_movements(route).into_iter().next()
    }

    // -------------------------------------------------------------------------------- lanes

    /// The lane layout of a road's signalised stop lines: the road's override, else the template.
    fn layout(&self, road: usize) -> Layout<'_> {
        let own = self.network.roads.get(road).and_then(|r| r.approach.as_ref());
        let template = self.network.approach_template.as_ref();
        let own_lane_use = own.and_then(|a| a.lane_use.as_deref());
        let own_pocket = own.and_then(|a| a.pocket_length_m);
        Layout {
            road,
            lane_use: own_lane_use.or_else(|| template.and_then(|t| t.lane_use.as_deref())),
            lane_use_own: own_lane_use.is_some(),
            pocket_length_m: own_pocket.or_else(|| template.and_then(|t| t.pocket_length_m)).unwrap_or(0.0),
            pocket_own: own_pocket.is_some(),
        }
    }

    /// The stop-line lanes of the approach from `from` into signal node `node`, right to left,
    /// with the movements each serves and whether it is a pocket lane. Empty when `node` is not a
    /// signal node or `from` is not its neighbour.
    pub fn approach_lanes(&self, node: &str, from: &str) -> Vec<LaneUse> {
        if !self.is_signal(node) {
            return Vec::new();
        }
        let Some(road_index) = self.road_between(from, node) else {
            return Vec::new();
        };
        let Some(road) = self.network.roads.get(road_index) else {
            return Vec::new();
        };
        let layout = self.layout(road_index);
        let link_length_m = self.link_length_m(from, node).unwrap_or(0.0);
        let full_lanes = usize::try_from(road.lanes_per_direction).unwrap_or(usize::MAX);
        let Some(entry) = self.side_of(node, from) else {
            return Vec::new();
        };
        let approaches = self.approaches(node);
        layout
            .lane_use
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(index, token)| {
                let movements = Turn::ALL
                    .into_iter()
                    .filter(|&t| serves(token, t))
                    .filter(|&t| approaches.iter().any(|b| entry.turn_to(b.side) == Some(t)))
                    .map(|t| format!("{}{}", entry.bound(), t.letter()))
                    .collect();
                let pocket = index >= full_lanes && layout.pocket_length_m > 0.0;
                LaneUse {
                    index,
                    turns: token.clone(),
                    movements,
                    pocket,
                    length_m: if pocket { layout.pocket_length_m } else { link_length_m },
                }
            })
            .collect()
    }

    // -------------------------------------------------------------------------------- signals

    /// The node's fixed plan as the signal core's [`Plan`] (id [`FIXED_PLAN_ID`]): stage k serves
    /// phase k's movements as their signal groups (see [`Scenario::movements`]) with green
    /// `fixed_plan.greens_s[k]`, the entry's yellow and all red, and the phase's min and max
    /// green; offset `fixed_plan.offset_s`. The plan passes [`Plan::validate`].
    pub fn fixed_plan(&self, node: &str) -> Result<Plan, ScenarioError> {
        let source = self.name.as_str();
        let Some((si, sig)) = self.signals.iter().enumerate().find(|(_, s)| s.node == node) else {
            return Err(ScenarioError::new(source, "signals", format!("no entry for node {node:?}")));
        };
        let p = format!("signals[{si}]");
        if sig.fixed_plan.greens_s.len() != sig.phases.len() {
            return Err(ScenarioError::new(
                source,
                format!("{p}.fixed_plan.greens_s"),
                format!("{} greens but {} phases", sig.fixed_plan.greens_s.len(), sig.phases.len()),
            ));
        }
        let movements = self.movements(node);
        let mut stages = Vec::with_capacity(sig.phases.len());
        for ((k, phase), &green_s) in sig.phases.iter().enumerate().zip(&sig.fixed_plan.greens_s) {
            let mut groups = Vec::with_capacity(phase.movements.len());
            for (m, name) in phase.movements.iter().enumerate() {
                match movements.iter().find(|mv| &mv.name == name) {
                    Some(mv) => groups.push(mv.signal_group),
                    None => {
                        return Err(ScenarioError::new(
                            source,
                            format!("{p}.phases[{k}].movements[{m}]"),
                            not_a_movement(name, node, &movements),
                        ))
                    }
                }
            }
            stages.push(Stage {
                groups,
                permissive: Vec::new(),
                green_s,
                yellow_s: sig.yellow_s,
                all_red_s: sig.all_red_s,
                min_green_s: Some(phase.min_green_s),
                max_green_s: Some(phase.max_green_s),
            });
        }
        let plan = Plan { id: FIXED_PLAN_ID, offset_s: sig.fixed_plan.offset_s, stages };
        plan.validate().map_err(|e| {
            ScenarioError::new(source, format!("{p}.fixed_plan"), format!("refused by the signal core: {e}"))
        })?;
        Ok(plan)
    }

    // -------------------------------------------------------------------------------- demand

    /// Number of measured demand intervals: `duration_s / interval_s` (0 if that is not defined).
    pub fn intervals(&self) -> usize {
        let ratio = self.duration_s / self.interval_s;
        if ratio.is_finite() && ratio >= 0.0 {
            ratio.round() as usize
        } else {
            0
        }
    }

    /// The measured period `[warmup_s, warmup_s + duration_s)` in simulated seconds.
    pub fn measured_period(&self) -> (f64, f64) {
        (self.warmup_s, self.warmup_s + self.duration_s)
    }

    /// The flow rate (veh/h) of a route at simulated time `t_s` (0 = start of the warm-up): the
    /// warm-up repeats interval 0; measured interval k has `flows_vph[k]`; before 0, after the
    /// measured period, for an unknown route or a time that is not a number, 0.
    pub fn flow_vph(&self, route: &str, t_s: f64) -> f64 {
        let Some(r) = self.route(route) else {
            return 0.0;
        };
        let (start, end) = self.measured_period();
        if !(t_s >= 0.0 && t_s < end) {
            return 0.0;
        }
        let k = if t_s < start { 0 } else { ((t_s - start) / self.interval_s).floor() as usize };
        if k >= self.intervals() {
            return 0.0;
        }
        r.flows_vph.get(k).copied().unwrap_or(0.0)
    }

    // -------------------------------------------------------------------------------- checks

    fn check(&self, source: &str) -> Result<(), ScenarioError> {
        let c = Check { source };
        if self.schema != SCHEMA {
            return c.fail("schema", format!("{:?}; expected {SCHEMA:?}", self.schema));
        }
        if self.seeds.is_empty() {
            return c.fail("seeds", "empty; expected at least one seed");
        }
        self.check_timing(&c)?;
        self.check_vehicle(&c)?;
        self.check_network(&c)?;
        self.check_routes(&c)?;
        self.check_signals(&c)?;
        self.check_routes_served(&c)
    }

    fn check_timing(&self, c: &Check) -> Result<(), ScenarioError> {
        c.non_negative("warmup_s", self.warmup_s)?;
        c.positive("duration_s", self.duration_s)?;
        c.positive("interval_s", self.interval_s)?;
        c.non_negative("drain_max_s", self.drain_max_s)?;
        c.positive("step_s", self.step_s)?;
        let ratio = self.duration_s / self.interval_s;
        let n = ratio.round();
        if !(n >= 1.0 && (ratio - n).abs() <= 1e-9 * n) {
            return c.fail(
                "duration_s",
                format!("{} s is not a whole number of interval_s ({} s)", self.duration_s, self.interval_s),
            );
        }
        if n > MAX_INTERVALS as f64 {
            return c.fail("interval_s", format!("{n} intervals; expected at most {MAX_INTERVALS}"));
        }
        Ok(())
    }

    fn check_vehicle(&self, c: &Check) -> Result<(), ScenarioError> {
        let v = &self.vehicle;
        for (field, value) in [
            ("length_m", v.length_m),
            ("accel_mps2", v.accel_mps2),
            ("decel_mps2", v.decel_mps2),
            ("emergency_decel_mps2", v.emergency_decel_mps2),
            ("headway_s", v.headway_s),
            ("speed_factor_mean", v.speed_factor_mean),
            ("max_speed_kmh", v.max_speed_kmh),
        ] {
            c.positive(&format!("vehicle.{field}"), value)?;
        }
        c.non_negative("vehicle.min_gap_m", v.min_gap_m)?;
        c.non_negative("vehicle.speed_factor_dev", v.speed_factor_dev)?;
        c.within("vehicle.imperfection", v.imperfection, 0.0, 1.0)
    }

    fn check_network(&self, c: &Check) -> Result<(), ScenarioError> {
        let mut nodes: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, n) in self.network.nodes.iter().enumerate() {
            let p = format!("network.nodes[{i}]");
            if n.id.is_empty() {
                return c.fail(format!("{p}.id"), "empty; expected a node id");
            }
            if let Some(j) = nodes.insert(&n.id, i) {
                return c.fail(format!("{p}.id"), format!("{:?} is already the id of network.nodes[{j}]", n.id));
            }
            c.finite(&format!("{p}.x_m"), n.x_m)?;
            c.finite(&format!("{p}.y_m"), n.y_m)?;
        }
        let mut road_ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (i, r) in self.network.roads.iter().enumerate() {
            let p = format!("network.roads[{i}]");
            if r.id.is_empty() {
                return c.fail(format!("{p}.id"), "empty; expected a road id");
            }
            if let Some(j) = road_ids.insert(&r.id, i) {
                return c.fail(format!("{p}.id"), format!("{:?} is already the id of network.roads[{j}]", r.id));
            }
            for (k, id) in r.nodes.iter().enumerate() {
                if !nodes.contains_key(id.as_str()) {
                    return c.fail(format!("{p}.nodes[{k}]"), format!("unknown node {id:?}"));
                }
            }
            let [a, b] = &r.nodes;
            if a == b {
                return c.fail(format!("{p}.nodes"), format!("both ends are {a:?}; a road joins two distinct nodes"));
            }
            if let (Some(na), Some(nb)) = (self.node(a), self.node(b)) {
                if na.x_m == nb.x_m && na.y_m == nb.y_m {
                    return c.fail(format!("{p}.nodes"), format!("{a:?} and {b:?} are at the same position"));
                }
            }
            let key = if a < b { (a.as_str(), b.as_str()) } else { (b.as_str(), a.as_str()) };
            if let Some(j) = pairs.insert(key, i) {
                return c.fail(
                    format!("{p}.nodes"),
                    format!("a second road between {a:?} and {b:?} (the first is network.roads[{j}]); one entry per pair of nodes"),
                );
            }
            c.positive(&format!("{p}.speed_kmh"), r.speed_kmh)?;
            if r.lanes_per_direction == 0 {
                return c.fail(format!("{p}.lanes_per_direction"), "0; expected at least 1 lane");
            }
            if let Some(l) = r.length_m {
                c.positive(&format!("{p}.length_m"), l)?;
            }
        }
        if let Some(t) = &self.network.approach_template {
            check_layout(c, "network.approach_template", t)?;
        }
        for (i, r) in self.network.roads.iter().enumerate() {
            if let Some(a) = &r.approach {
                check_layout(c, &format!("network.roads[{i}].approach"), a)?;
            }
        }
        for (i, r) in self.network.roads.iter().enumerate() {
            let Some(signal_end) = r.nodes.iter().find(|n| self.is_signal(n)) else {
                continue;
            };
            let layout = self.layout(i);
            let Some(lane_use) = layout.lane_use else {
                return c.fail(
                    format!("network.roads[{i}].approach.lane_use"),
                    format!("missing: the road ends at signal node {signal_end:?} and network.approach_template gives no lane_use"),
                );
            };
            let full = usize::try_from(r.lanes_per_direction).unwrap_or(usize::MAX);
            if lane_use.len() > full {
                let pocket = layout.pocket_length_m;
                if !(pocket.is_finite() && pocket > 0.0) {
                    return c.fail(
                        layout.pocket_path(),
                        format!(
                            "{pocket}; expected a pocket length > 0: {} has {} lanes for {} lanes_per_direction on network.roads[{i}]",
                            layout.lane_use_path(),
                            lane_use.len(),
                            r.lanes_per_direction
                        ),
                    );
                }
                let [a, b] = &r.nodes;
                let length = self.link_length_m(a, b).unwrap_or(0.0);
                if pocket >= length {
                    return c.fail(
                        layout.pocket_path(),
                        format!(
                            "a {pocket} m pocket does not fit the {length} m link of network.roads[{i}] ({a} - {b})"
                        ),
                    );
                }
            }
        }
        for n in self.network.nodes.iter().filter(|n| n.kind == NodeKind::Signal) {
            let mut seen: BTreeMap<Side, (&str, usize)> = BTreeMap::new();
            for (nb, road) in self.neighbours(&n.id) {
                let Some(side) = self.side_of(&n.id, nb) else {
                    continue;
                };
                if let Some((other, first)) = seen.insert(side, (nb, road)) {
                    return c.fail(
                        format!("network.roads[{road}].nodes"),
                        format!(
                            "{nb:?} lies on the {side} side of signal node {:?}, as {other:?} does (network.roads[{first}]); movement names would be ambiguous",
                            n.id
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn check_routes(&self, c: &Check) -> Result<(), ScenarioError> {
        let n_int = self.intervals();
        let movements: BTreeMap<&str, Vec<Movement>> =
            self.signal_nodes().into_iter().map(|n| (n, self.movements(n))).collect();
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, r) in self.demand.routes.iter().enumerate() {
            let p = format!("demand.routes[{i}]");
            if r.id.is_empty() {
                return c.fail(format!("{p}.id"), "empty; expected a route id");
            }
            if let Some(j) = ids.insert(&r.id, i) {
                return c.fail(format!("{p}.id"), format!("{:?} is already the id of demand.routes[{j}]", r.id));
            }
            if r.path.len() < 3 {
                return c.fail(
                    format!("{p}.path"),
                    format!(
                        "{} nodes; expected at least 3 (a boundary node, one or more signal nodes, a boundary node)",
                        r.path.len()
                    ),
                );
            }
            let last = r.path.len() - 1;
            for (k, id) in r.path.iter().enumerate() {
                match self.kind(id) {
                    None => return c.fail(format!("{p}.path[{k}]"), format!("unknown node {id:?}")),
                    Some(NodeKind::Signal) if k == 0 || k == last => {
                        return c.fail(
                            format!("{p}.path[{k}]"),
                            format!("{id:?} is a signal node; a route starts and ends at a boundary node"),
                        )
                    }
                    Some(NodeKind::Boundary) if k != 0 && k != last => {
                        return c.fail(
                            format!("{p}.path[{k}]"),
                            format!("{id:?} is a boundary node; a route passes only signal nodes between its ends"),
                        )
                    }
                    _ => {}
                }
            }
            for (k, w) in r.path.windows(2).enumerate() {
                if self.road_between(&w[0], &w[1]).is_none() {
                    return c
                        .fail(format!("{p}.path[{}]", k + 1), format!("no road between {:?} and {:?}", w[0], w[1]));
                }
            }
            for (k, w) in r.path.windows(3).enumerate() {
                let (a, j, b) = (&w[0], &w[1], &w[2]);
                if a == b {
                    return c.fail(
                        format!("{p}.path[{}]", k + 2),
                        format!("turns back to {a:?} at {j:?} (a U-turn is not a movement)"),
                    );
                }
                let name = self.movement_name(a, j, b).unwrap_or_default();
                if !movements.get(j.as_str()).is_some_and(|ms| ms.iter().any(|m| m.name == name)) {
                    let lane_use = self.road_between(a, j).and_then(|ri| self.layout(ri).lane_use).unwrap_or(&[]);
                    return c.fail(
                        format!("{p}.path[{}]", k + 1),
                        format!(
                            "movement {name} ({a} -> {j} -> {b}) is served by no lane of the approach from {a:?} (lane_use {lane_use:?})"
                        ),
                    );
                }
            }
            if r.flows_vph.len() != n_int {
                return c.fail(
                    format!("{p}.flows_vph"),
                    format!("{} intervals but duration_s / interval_s = {n_int}", r.flows_vph.len()),
                );
            }
            for (k, &q) in r.flows_vph.iter().enumerate() {
                c.non_negative(&format!("{p}.flows_vph[{k}]"), q)?;
            }
        }
        Ok(())
    }

    fn check_signals(&self, c: &Check) -> Result<(), ScenarioError> {
        let mut entries: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, s) in self.signals.iter().enumerate() {
            let p = format!("signals[{i}]");
            match self.kind(&s.node) {
                None => return c.fail(format!("{p}.node"), format!("unknown node {:?}", s.node)),
                Some(NodeKind::Boundary) => {
                    return c.fail(
                        format!("{p}.node"),
                        format!("{:?} is a boundary node; signal entries are for signal nodes only", s.node),
                    )
                }
                Some(NodeKind::Signal) => {}
            }
            if let Some(j) = entries.insert(&s.node, i) {
                return c
                    .fail(format!("{p}.node"), format!("a second entry for {:?} (the first is signals[{j}])", s.node));
            }
            c.within(&format!("{p}.yellow_s"), s.yellow_s, 0.0, MAX_CLEARANCE_S)?;
            c.within(&format!("{p}.all_red_s"), s.all_red_s, 0.0, MAX_CLEARANCE_S)?;
            c.non_negative(&format!("{p}.offset_s"), s.offset_s)?;
            if s.phases.is_empty() {
                return c.fail(format!("{p}.phases"), "empty; expected at least one phase");
            }
            let movements = self.movements(&s.node);
            let mut served: BTreeMap<&str, usize> = BTreeMap::new();
            for (k, ph) in s.phases.iter().enumerate() {
                let pp = format!("{p}.phases[{k}]");
                if ph.movements.is_empty() {
                    return c.fail(format!("{pp}.movements"), "empty; a phase serves at least one movement");
                }
                for (m, name) in ph.movements.iter().enumerate() {
                    let path = format!("{pp}.movements[{m}]");
                    if !movements.iter().any(|mv| &mv.name == name) {
                        return c.fail(path, not_a_movement(name, &s.node, &movements));
                    }
                    if let Some(first) = served.insert(name, k) {
                        let msg = if first == k {
                            format!("{name:?} is listed twice in this phase")
                        } else {
                            format!("{name:?} is already served by {p}.phases[{first}]; phases never share a movement")
                        };
                        return c.fail(path, msg);
                    }
                }
                c.within(&format!("{pp}.min_green_s"), ph.min_green_s, MIN_GREEN_S, MAX_CYCLE_S)?;
                if ph.max_green_s.is_nan() || ph.max_green_s < ph.min_green_s {
                    return c.fail(
                        format!("{pp}.max_green_s"),
                        format!("{} s; expected at least min_green_s ({} s)", ph.max_green_s, ph.min_green_s),
                    );
                }
                c.within(&format!("{pp}.max_green_s"), ph.max_green_s, ph.min_green_s, MAX_CYCLE_S)?;
            }
            let fp = format!("{p}.fixed_plan");
            let plan = &s.fixed_plan;
            if plan.greens_s.len() != s.phases.len() {
                return c.fail(
                    format!("{fp}.greens_s"),
                    format!("{} greens but {} phases", plan.greens_s.len(), s.phases.len()),
                );
            }
            for (k, (&g, ph)) in plan.greens_s.iter().zip(&s.phases).enumerate() {
                if !(g >= ph.min_green_s && g <= ph.max_green_s) {
                    return c.fail(
                        format!("{fp}.greens_s[{k}]"),
                        format!(
                            "{g} s; expected a green within {p}.phases[{k}]'s min_green_s to max_green_s ({} to {} s)",
                            ph.min_green_s, ph.max_green_s
                        ),
                    );
                }
            }
            c.positive(&format!("{fp}.cycle_s"), plan.cycle_s)?;
            let clearance = s.yellow_s + s.all_red_s;
            let sum = plan.greens_s.iter().sum::<f64>() + s.phases.len() as f64 * clearance;
            if (plan.cycle_s - sum).abs() > CYCLE_TOLERANCE_S {
                return c.fail(
                    format!("{fp}.cycle_s"),
                    format!(
                        "{} s, but greens_s + {} phases x (yellow_s + all_red_s) add up to {sum:.1} s; expected within {CYCLE_TOLERANCE_S} s",
                        plan.cycle_s,
                        s.phases.len()
                    ),
                );
            }
            if !(plan.offset_s >= 0.0 && plan.offset_s < sum) {
                return c.fail(
                    format!("{fp}.offset_s"),
                    format!("{}; expected a number of seconds in [0, {sum:.1}) (the cycle)", plan.offset_s),
                );
            }
            self.fixed_plan(&s.node).map_err(|e| ScenarioError::new(c.source, e.path, e.message))?;
        }
        for n in self.network.nodes.iter().filter(|n| n.kind == NodeKind::Signal) {
            if !entries.contains_key(n.id.as_str()) {
                return c.fail("signals", format!("no entry for signal node {:?}", n.id));
            }
        }
        Ok(())
    }

    /// Every movement a route makes is in some phase of its node (a right turn may instead go on
    /// red where `right_turn_on_red`).
    fn check_routes_served(&self, c: &Check) -> Result<(), ScenarioError> {
        for (i, r) in self.demand.routes.iter().enumerate() {
            for (k, w) in r.path.windows(3).enumerate() {
                let (a, j, b) = (&w[0], &w[1], &w[2]);
                let Some((_, turn)) = self.geometric_turn(a, j, b) else {
                    continue;
                };
                if turn == Turn::R && self.right_turn_on_red {
                    continue;
                }
                let name = self.movement_name(a, j, b).unwrap_or_default();
                let Some((si, sig)) = self.signals.iter().enumerate().find(|(_, s)| &s.node == j) else {
                    continue;
                };
                if !sig.phases.iter().any(|ph| ph.movements.contains(&name)) {
                    return c.fail(
                        format!("demand.routes[{i}].path[{}]", k + 1),
                        format!(
                            "movement {name} at {j:?} is in no phase of signals[{si}], so it would never get a green"
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

fn not_a_movement(name: &str, node: &str, movements: &[Movement]) -> String {
    let names: Vec<&str> = movements.iter().map(|m| m.name.as_str()).collect();
    format!("{name:?} is not a movement of node {node} (its movements: {})", names.join(", "))
}

fn check_layout(c: &Check, p: &str, layout: &ApproachLayout) -> Result<(), ScenarioError> {
    if let Some(lane_use) = &layout.lane_use {
        if lane_use.is_empty() {
            return c.fail(format!("{p}.lane_use"), "empty; expected at least one lane");
        }
        for (k, token) in lane_use.iter().enumerate() {
            token_turns(token).map_err(|m| ScenarioError::new(c.source, format!("{p}.lane_use[{k}]"), m))?;
        }
    }
    if let Some(pocket) = layout.pocket_length_m {
        c.non_negative(&format!("{p}.pocket_length_m"), pocket)?;
    }
    Ok(())
}

/// Error construction and number checks, each naming the field.
struct Check<'a> {
    source: &'a str,
}

impl Check<'_> {
    fn fail<T>(&self, path: impl Into<String>, message: impl Into<String>) -> Result<T, ScenarioError> {
        Err(ScenarioError::new(self.source, path, message))
    }

    fn finite(&self, path: &str, v: f64) -> Result<(), ScenarioError> {
        if v.is_finite() {
            Ok(())
        } else {
            self.fail(path, format!("{v}; expected a finite number"))
        }
    }

    fn positive(&self, path: &str, v: f64) -> Result<(), ScenarioError> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            self.fail(path, format!("{v}; expected a number > 0"))
        }
    }

    fn non_negative(&self, path: &str, v: f64) -> Result<(), ScenarioError> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            self.fail(path, format!("{v}; expected a number >= 0"))
        }
    }

    fn within(&self, path: &str, v: f64, lo: f64, hi: f64) -> Result<(), ScenarioError> {
        if v.is_finite() && v >= lo && v <= hi {
            Ok(())
        } else {
            self.fail(path, format!("{v}; expected a number from {lo} to {hi}"))
        }
    }
}

/// Where a JSON document departs from the format's shape: the same fields and types as the serde
/// types above (objects only as objects), walked with paths so the error names the field.
mod shape {
    use serde_json::Value;

    pub(super) enum Shape {
        Num,
        U32,
        U64,
        Str,
        Bool,
        Any,
        OneOf(&'static [&'static str]),
        List(&'static Shape),
        Pair(&'static Shape),
        Obj(&'static [Field]),
    }

    #[derive(PartialEq)]
    pub(super) enum Presence {
        /// Must be there.
        Required,
        /// May be absent or null.
        Optional,
        /// May be absent, not null.
        Defaulted,
    }

    pub(super) struct Field(&'static str, Presence, &'static Shape);

    use Presence::{Defaulted as D, Optional as O, Required as R};
    use Shape::*;

    static NUM: Shape = Num;
    static STR: Shape = Str;
    static STRS: Shape = List(&STR);
    static NUMS: Shape = List(&NUM);
    static LAYOUT: Shape = Obj(&[Field("lane_use", O, &STRS), Field("pocket_length_m", O, &NUM)]);
    static VEHICLE: Shape = Obj(&[
        Field("model", D, &STR),
        Field("length_m", R, &NUM),
        Field("min_gap_m", R, &NUM),
        Field("accel_mps2", R, &NUM),
        Field("decel_mps2", R, &NUM),
        Field("emergency_decel_mps2", R, &NUM),
        Field("headway_s", R, &NUM),
        Field("imperfection", R, &NUM),
        Field("speed_factor_mean", R, &NUM),
        Field("speed_factor_dev", R, &NUM),
        Field("max_speed_kmh", R, &NUM),
    ]);
    static NODE: Shape = Obj(&[
        Field("id", R, &STR),
        Field("x_m", R, &NUM),
        Field("y_m", R, &NUM),
        Field("kind", R, &OneOf(&["signal", "boundary"])),
    ]);
    static ROAD: Shape = Obj(&[
        Field("id", R, &STR),
        Field("nodes", R, &Pair(&STR)),
        Field("speed_kmh", R, &NUM),
        Field("lanes_per_direction", R, &U32),
        Field("length_m", O, &NUM),
        Field("approach", O, &LAYOUT),
    ]);
    static NETWORK: Shape = Obj(&[
        Field("approach_template", O, &LAYOUT),
        Field("nodes", R, &List(&NODE)),
        Field("roads", R, &List(&ROAD)),
    ]);
    static ROUTE: Shape = Obj(&[Field("id", R, &STR), Field("path", R, &STRS), Field("flows_vph", R, &NUMS)]);
    static DEMAND: Shape = Obj(&[Field("routes", R, &List(&ROUTE))]);
    static DESIGN: Shape = Obj(&[
        Field("target_vc", O, &NUM),
        Field("saturation_flow_vphpl", O, &NUM),
        Field("left_turn_factor", O, &NUM),
        Field("shared_right_coefficient", O, &NUM),
        Field("lost_time_per_phase_s", O, &NUM),
        Field("cycle_min_s", O, &NUM),
        Field("cycle_max_s", O, &NUM),
        Field("design_flow", O, &STR),
        Field("max_green_factor", O, &NUM),
    ]);
    static PHASE: Shape = Obj(&[
        Field("name", R, &STR),
        Field("movements", R, &STRS),
        Field("min_green_s", R, &NUM),
        Field("max_green_s", R, &NUM),
    ]);
    static FIXED_PLAN: Shape = Obj(&[
        Field("method", O, &STR),
        Field("cycle_s", R, &NUM),
        Field("greens_s", R, &NUMS),
        Field("offset_s", D, &NUM),
    ]);
    static SIGNAL: Shape = Obj(&[
        Field("node", R, &STR),
        Field("yellow_s", R, &NUM),
        Field("all_red_s", R, &NUM),
        Field("offset_s", D, &NUM),
        Field("phases", R, &List(&PHASE)),
        Field("fixed_plan", R, &FIXED_PLAN),
    ]);
    pub(super) static SCENARIO: Shape = Obj(&[
        Field("schema", R, &STR),
        Field("name", R, &STR),
        Field("description", D, &STR),
        Field("seeds", R, &List(&U64)),
        Field("warmup_s", R, &NUM),
        Field("duration_s", R, &NUM),
        Field("interval_s", R, &NUM),
        Field("drain_max_s", R, &NUM),
        Field("step_s", R, &NUM),
        Field("arrivals", D, &OneOf(&["poisson", "uniform"])),
        Field("right_turn_on_red", D, &Bool),
        Field("vehicle", R, &VEHICLE),
        Field("network", R, &NETWORK),
        Field("demand", R, &DEMAND),
        Field("design", O, &DESIGN),
        Field("signals", R, &List(&SIGNAL)),
        Field("derived_info", D, &Any),
    ]);

    /// The first place where `v` departs from the scenario shape: (path, what is wrong).
    pub(super) fn locate(v: &Value) -> Option<(String, String)> {
        walk(v, &SCENARIO, "")
    }

    fn describe(v: &Value) -> String {
        match v {
            Value::Null => "null".to_string(),
            Value::Bool(b) => format!("{b}"),
            Value::Number(n) => format!("the number {n}"),
            Value::String(s) if s.chars().count() > 40 => "a long string".to_string(),
            Value::String(s) => format!("the string {s:?}"),
            Value::Array(a) => format!("a list of {}", a.len()),
            Value::Object(_) => "an object".to_string(),
        }
    }

    fn expected(path: &str, what: &str, v: &Value) -> Option<(String, String)> {
        let path = if path.is_empty() { "(the document)" } else { path };
        Some((path.to_string(), format!("expected {what}, found {}", describe(v))))
    }

    fn walk(v: &Value, shape: &Shape, path: &str) -> Option<(String, String)> {
        match shape {
            Num => (!v.is_number()).then(|| expected(path, "a number", v)).flatten(),
            U32 => match v.as_u64() {
                Some(n) if n <= u64::from(u32::MAX) => None,
                _ => expected(path, "a whole number from 0 to 4294967295", v),
            },
            U64 => match v.as_u64() {
                Some(_) => None,
                _ => expected(path, "a whole number >= 0", v),
            },
            Str => (!v.is_string()).then(|| expected(path, "a string", v)).flatten(),
            Bool => (!v.is_boolean()).then(|| expected(path, "true or false", v)).flatten(),
            Any => None,
            OneOf(options) => match v.as_str() {
                Some(s) if options.contains(&s) => None,
                _ => expected(path, &format!("one of {options:?}"), v),
            },
            List(item) => match v.as_array() {
                Some(items) => items.iter().enumerate().find_map(|(i, x)| walk(x, item, &format!("{path}[{i}]"))),
                None => expected(path, "a list", v),
            },
            Pair(item) => match v.as_array() {
                Some(items) if items.len() == 2 => {
                    items.iter().enumerate().find_map(|(i, x)| walk(x, item, &format!("{path}[{i}]")))
                }
                _ => expected(path, "a list of 2", v),
            },
            Obj(fields) => {
                let Some(map) = v.as_object() else {
                    return expected(path, "an object", v);
                };
                let join = |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                for Field(name, presence, shape) in fields.iter() {
                    match map.get(*name) {
                        None if *presence == Presence::Required => return Some((join(name), "missing".to_string())),
                        None => {}
                        Some(Value::Null) if *presence == Presence::Optional => {}
                        Some(x) => {
                            if let Some(found) = walk(x, shape, &join(name)) {
                                return Some(found);
                            }
                        }
                    }
                }
                map.keys().find(|k| !fields.iter().any(|f| f.0 == k.as_str())).map(|k| {
                    let names: Vec<&str> = fields.iter().map(|f| f.0).collect();
                    (join(k), format!("unknown field; expected one of: {}", names.join(", ")))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_follow_the_sectors_and_boundaries_go_clockwise() {
        assert_eq!(Side::of_vector(0.0, 1.0), Side::N);
        assert_eq!(Side::of_vector(1.0, 0.0), Side::E);
        assert_eq!(Side::of_vector(0.0, -1.0), Side::S);
        assert_eq!(Side::of_vector(-1.0, 0.0), Side::W);
        assert_eq!(Side::of_vector(1.0, 1.0), Side::E); // 45° belongs to E
        assert_eq!(Side::of_vector(1.0, -1.0), Side::S); // 135°
        assert_eq!(Side::of_vector(-1.0, -1.0), Side::W); // 225°
        assert_eq!(Side::of_vector(-1.0, 1.0), Side::N); // 315°
        assert_eq!(Side::of_vector(-1.0, 1.0001), Side::N);
        assert_eq!(Side::of_vector(-1e-300, 1.0), Side::N);
        assert_eq!(Side::of_vector(f64::NAN, 1.0), Side::N);
    }

    #[test]
    fn turns_are_quarter_turns_clockwise_from_the_entry() {
        // southbound (from N) to E is a left, to S through, to W right
        assert_eq!(Side::N.turn_to(Side::E), Some(Turn::L));
        assert_eq!(Side::N.turn_to(Side::S), Some(Turn::T));
        assert_eq!(Side::N.turn_to(Side::W), Some(Turn::R));
        assert_eq!(Side::N.turn_to(Side::N), None);
        // eastbound (from W) to N is a left, to S a right
        assert_eq!(Side::W.turn_to(Side::N), Some(Turn::L));
        assert_eq!(Side::W.turn_to(Side::S), Some(Turn::R));
    }

    #[test]
    fn lane_tokens() {
        assert_eq!(token_turns("TR"), Ok(vec![Turn::T, Turn::R]));
        assert_eq!(token_turns("LTR"), Ok(vec![Turn::L, Turn::T, Turn::R]));
        assert!(token_turns("").is_err());
        assert!(token_turns("TT").unwrap_err().contains("twice"));
        assert!(token_turns("TX").unwrap_err().contains("'X' is not a turn"));
    }

    #[test]
    fn not_json_names_line_and_column() {
        let e = Scenario::parse("x.json", "{\n  \"schema\": }").unwrap_err();
        assert_eq!(e.path, "");
        assert!(e.to_string().starts_with("x.json: not valid JSON:"), "{e}");
        assert!(e.message.contains("line 2"), "{e}");
    }

    #[test]
    fn objects_must_be_objects() {
        // serde alone would take a list for a struct
        let mut v: Value = serde_json::from_str(r#"{"design": []}"#).unwrap();
        assert_eq!(shape::locate(&v).unwrap().0, "schema");
        v["schema"] = Value::from(SCHEMA);
        let e = shape::locate(&v).unwrap();
        assert_eq!(e.0, "name");
    }

    #[test]
    fn shape_errors_name_the_field() {
        let e = Scenario::parse("x", r#"{"schema": 3}"#).unwrap_err();
        assert_eq!((e.path.as_str(), e.message.as_str()), ("schema", "expected a string, found the number 3"));
        let e = Scenario::parse("x", "[]").unwrap_err();
        assert_eq!(e.path, "(the document)");
    }
}
