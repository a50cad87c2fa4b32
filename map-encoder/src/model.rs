//! The intersection model: what a traffic engineer writes in an intersection
//! file (TOML, or JSON with the same shape), standard-neutral.
//!
//! Owns: the plain Rust types of intersections, approaches, lanes,
//! connections, signal groups, rules and links between intersections, and
//! reading them from text with a source map (element path -> line) so that
//! every diagnostic can name the line.  Must not: know any message encoding
//! (that is `compile` / `decompile`), or read files itself (callers pass text).
//!
//! Geometry is in the intersection's local east/north frame in metres unless
//! a lane gives `points_wgs84`; see `docs/intersection-file.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format tag written at the top of every intersection file.
pub const FORMAT: &str = "zhilu-intersection/1";

/// A whole intersection file: one or more intersections and the links between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MapFile {
    /// Format tag, `zhilu-intersection/1`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Intersections (`[[intersection]]`).
    #[serde(default, rename = "intersection", skip_serializing_if = "Vec::is_empty")]
    pub intersections: Vec<Intersection>,
    /// Road links between neighbouring intersections (`[[link]]`).
    #[serde(default, rename = "link", skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

fn default_format() -> String {
    FORMAT.to_string()
}

/// One signalised (or unsignalised) intersection: a CSAE node / J2735 intersection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intersection {
    /// Intersection (node) id, unique within its region (0..65535).
    pub id: u16,
    /// Road regulator / region id (0..65535); omitted means "not sent".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<u16>,
    /// Human-readable name (ASCII, at most 63 characters to be sent in MAP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Reference point (WGS84); all local coordinates are metres east/north of it.
    pub reference: Reference,
    /// Default speed limit of the intersection's approaches, km/h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_limit_kph: Option<f64>,
    /// Approaches (legs) by name.
    #[serde(default, rename = "approach", skip_serializing_if = "Vec::is_empty")]
    pub approaches: Vec<Approach>,
    /// Lanes, crosswalks, sidewalks, bike and parking lanes.
    #[serde(default, rename = "lane", skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<Lane>,
    /// Connections from ingress lanes to egress lanes.
    #[serde(default, rename = "connection", skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    /// Signal groups (phases) that connections and crosswalks refer to.
    #[serde(default, rename = "signal_group", skip_serializing_if = "Vec::is_empty")]
    pub signal_groups: Vec<SignalGroup>,
    /// Work zones (temporary rules); sent as RSI.
    #[serde(default, rename = "work_zone", skip_serializing_if = "Vec::is_empty")]
    pub work_zones: Vec<WorkZone>,
}

/// The reference point of an intersection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
    /// Elevation in metres (WGS84 ellipsoid height).
    #[serde(default)]
    pub elevation_m: f64,
}

/// An approach (leg) of an intersection: the road arriving from one direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approach {
    /// Name, unique in the intersection (e.g. `north`); sent as the link name.
    pub id: String,
    /// Node id at the far end of this approach (a neighbouring intersection or a
    /// virtual boundary node).  When absent and no `[[link]]` names this approach,
    /// the compiler assigns one (and warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_node: Option<u16>,
    /// Node id the approach's egress lanes lead to, when it differs from
    /// `upstream_node` (e.g. the road arrives from a neighbouring intersection
    /// but its outgoing lanes end elsewhere).  Default: `upstream_node`, or an
    /// assigned boundary node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_node: Option<u16>,
    /// Speed limit on this approach, km/h (overrides the intersection default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_limit_kph: Option<f64>,
}

/// The direction of travel of a lane relative to the intersection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic travels towards the intersection; the last point is the stop line.
    #[default]
    Ingress,
    /// Traffic travels away from the intersection; the first point is at the intersection.
    Egress,
    /// Both ways or not applicable (crosswalks, sidewalks, parking).
    Both,
}

/// What a lane is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LaneType {
    /// General motor-vehicle lane.
    #[default]
    Vehicle,
    /// Bus lane (motor vehicle lane restricted to buses).
    Bus,
    /// Bicycle lane.
    Bike,
    /// Pedestrian crosswalk.
    Crosswalk,
    /// Sidewalk.
    Sidewalk,
    /// Parking or stopping lane.
    Parking,
}

impl LaneType {
    /// Whether vehicles drive along it (it has a direction and a stop line).
    pub fn is_travel_lane(self) -> bool {
        matches!(self, Self::Vehicle | Self::Bus | Self::Bike)
    }
}

/// A manoeuvre from an ingress lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Maneuver {
    /// Straight through.
    Straight,
    /// Left turn.
    Left,
    /// Right turn.
    Right,
    /// U-turn.
    UTurn,
    /// Left turn on red allowed.
    LeftOnRed,
    /// Right turn on red allowed.
    RightOnRed,
    /// Lane change allowed.
    LaneChange,
    /// No stopping.
    NoStopping,
    /// Always yield.
    Yield,
}

impl Maneuver {
    /// The AllowedManeuvers bit (CSAE / J2735 numbering).
    pub fn bit(self) -> u8 {
        match self {
            Self::Straight => 0,
            Self::Left => 1,
            Self::Right => 2,
            Self::UTurn => 3,
            Self::LeftOnRed => 4,
            Self::RightOnRed => 5,
            Self::LaneChange => 6,
            Self::NoStopping => 7,
            Self::Yield => 8,
        }
    }
    /// All manoeuvres in bit order.
    pub const ALL: [Maneuver; 9] = [
        Self::Straight,
        Self::Left,
        Self::Right,
        Self::UTurn,
        Self::LeftOnRed,
        Self::RightOnRed,
        Self::LaneChange,
        Self::NoStopping,
        Self::Yield,
    ];
}

/// Vehicle classes that rules can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    /// Passenger cars.
    Car,
    /// Buses.
    Bus,
    /// Trucks / heavy goods vehicles.
    Truck,
    /// Taxis.
    Taxi,
    /// Bicycles.
    Bike,
    /// Vehicles with trailers.
    Trailer,
}

/// A lane (or crosswalk, sidewalk, parking strip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lane {
    /// Lane id, unique in the intersection (1..255).
    pub id: u8,
    /// The approach this lane belongs to (for crosswalks: the leg it crosses).
    pub approach: String,
    /// Ingress, egress or both.
    #[serde(default)]
    pub direction: Direction,
    /// Lane type.
    #[serde(default, rename = "type")]
    pub lane_type: LaneType,
    /// Width in metres.
    pub width_m: f64,
    /// Centre line in local metres `[east, north]`, in travel direction
    /// (ingress: ending at the stop line; egress: starting at the intersection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<[f64; 2]>>,
    /// Centre line in WGS84 `[lat, lon]` instead of `points`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_wgs84: Option<Vec<[f64; 2]>>,
    /// Manoeuvres allowed from this lane (added to those its connections imply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maneuvers: Vec<Maneuver>,
    /// Whether an ingress lane ends at a stop line (default true for travel lanes).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub stop_line: bool,
    /// Speed limits on this lane.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speed_limits: Vec<SpeedLimit>,
    /// Only these vehicle classes may use the lane (e.g. `["bus"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<VehicleClass>,
    /// Vehicle classes banned from the lane, optionally in a daily time window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bans: Vec<Ban>,
    /// Pedestrian signal group of a crosswalk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_group: Option<u8>,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// A speed limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedLimit {
    /// The limit in km/h.
    pub kph: f64,
    /// `max` (default) or `min`.
    #[serde(default)]
    pub kind: LimitKind,
    /// The vehicle class it applies to (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<VehicleClass>,
    /// Daily time window `HH:MM-HH:MM` (e.g. `22:00-06:00`); `night` is the
    /// standard's night limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Maximum or minimum speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Maximum speed.
    #[default]
    Max,
    /// Minimum speed.
    Min,
}

/// A vehicle-class ban on a lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ban {
    /// Banned class.
    pub vehicle: VehicleClass,
    /// Daily time window `HH:MM-HH:MM`; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Where a connection leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// An egress lane of the same intersection.
    Lane(u8),
    /// A lane of another intersection (a neighbour in a corridor or one not in this file).
    Remote {
        /// The other intersection's id.
        intersection: u16,
        /// Its region, when different from this intersection's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<u16>,
        /// The lane there.
        lane: u8,
    },
}

/// A permitted movement from an ingress lane to an egress lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Ingress lane id.
    pub from: u8,
    /// Egress lane id, or `{ intersection, lane }`.
    pub to: Target,
    /// The manoeuvre this connection makes.
    pub maneuver: Maneuver,
    /// Signal group (phase id) that controls it; absent for unsignalised movements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_group: Option<u8>,
}

/// A signal group (CSAE phase id / J2735 signal group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalGroup {
    /// Id (1..255).
    pub id: u8,
    /// Name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protected, permissive or pedestrian.
    #[serde(default)]
    pub kind: SignalKind,
}

/// How a signal group's green is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Protected movement (no conflicting traffic).
    #[default]
    Protected,
    /// Permissive movement (yields to conflicting traffic).
    Permissive,
    /// Pedestrian signal of a crosswalk.
    Pedestrian,
}

/// A work zone: lanes closed or slowed for a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkZone {
    /// Id (0..255), unique in the intersection.
    pub id: u8,
    /// Affected lane ids.
    pub lanes: Vec<u8>,
    /// Whether the lanes are closed (otherwise only slowed).
    #[serde(default)]
    pub closed: bool,
    /// Temporary speed limit, km/h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_limit_kph: Option<f64>,
    /// Start, `YYYY-MM-DDTHH:MM` (local time of the intersection, as the standard's MinuteOfTheYear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End, same form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Text for drivers (ASCII).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A road link between two intersections of the file: the `from` approach's
/// egress lanes lead onto the `to` approach's ingress lanes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Upstream end.
    pub from: LinkEnd,
    /// Downstream end.
    pub to: LinkEnd,
    /// Explicit lane pairs `[egress lane at from, ingress lane at to]`; by default
    /// egress and ingress lanes are paired in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lane_map: Vec<[u8; 2]>,
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEnd {
    /// Intersection id.
    pub intersection: u16,
    /// Approach name at that intersection.
    pub approach: String,
}

impl Intersection {
    /// The lane with this id.
    pub fn lane(&self, id: u8) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.id == id)
    }
    /// The approach with this name.
    pub fn approach(&self, id: &str) -> Option<&Approach> {
        self.approaches.iter().find(|a| a.id == id)
    }
    /// The signal group with this id.
    pub fn signal_group(&self, id: u8) -> Option<&SignalGroup> {
        self.signal_groups.iter().find(|g| g.id == id)
    }
}

impl MapFile {
    /// The intersection with this id.
    pub fn intersection(&self, id: u16) -> Option<&Intersection> {
        self.intersections.iter().find(|i| i.id == id)
    }
}

/// Text format of an intersection file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl Syntax {
    /// Guess from a file name (`.json` is JSON, anything else TOML).
    pub fn from_path(path: &str) -> Self {
        if path.to_ascii_lowercase().ends_with(".json") {
            Self::Json
        } else {
            Self::Toml
        }
    }
}

/// Element path -> 1-based line, built from the source text.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    lines: BTreeMap<String, usize>,
}

impl SourceMap {
    /// The line of `path` or of its nearest enclosing element.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(l) = self.lines.get(&p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }

    fn insert(&mut self, path: String, line: usize) {
        self.lines.entry(path).or_insert(line);
    }

    /// Build from TOML text (spans from toml_edit).
    fn from_toml(text: &str) -> Self {
        let mut map = SourceMap::default();
        if let Ok(doc) = text.parse::<toml_edit::ImDocument<String>>() {
            let line_at = |off: usize| text[..off.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1;
            fn walk(item: &toml_edit::Item, path: String, map: &mut SourceMap, line_at: &dyn Fn(usize) -> usize) {
                if let Some(span) = item.span() {
                    map.insert(path.clone(), line_at(span.start));
                }
                match item {
                    toml_edit::Item::Table(t) => {
                        if let Some(span) = t.span() {
                            map.insert(path.clone(), line_at(span.start));
                        }
                        for (k, v) in t.iter() {
                            let p = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
                            if let Some((key, _)) = t.get_key_value(k) {
                                if let Some(s) = key.span() {
                                    map.insert(p.clone(), line_at(s.start));
                                }
                            }
                            walk(v, p, map, line_at);
                        }
                    }
                    toml_edit::Item::ArrayOfTables(a) => {
                        for (i, t) in a.iter().enumerate() {
                            let p = format!("{path}[{i}]");
                            if let Some(span) = t.span() {
                                map.insert(p.clone(), line_at(span.start));
                            }
                            walk(&toml_edit::Item::Table(t.clone()), p, map, line_at);
                        }
                    }
                    toml_edit::Item::Value(v) => walk_value(v, path, map, line_at),
                    toml_edit::Item::None => {}
                }
            }
            fn walk_value(v: &toml_edit::Value, path: String, map: &mut SourceMap, line_at: &dyn Fn(usize) -> usize) {
                if let Some(span) = v.span() {
                    map.insert(path.clone(), line_at(span.start));
                }
                match v {
                    toml_edit::Value::Array(a) => {
                        for (i, x) in a.iter().enumerate() {
                            walk_value(x, format!("{path}[{i}]"), map, line_at);
                        }
                    }
                    toml_edit::Value::InlineTable(t) => {
                        for (k, x) in t.iter() {
                            walk_value(x, format!("{path}.{k}"), map, line_at);
                        }
                    }
                    _ => {}
                }
            }
            walk(doc.as_item(), String::new(), &mut map, &line_at);
        }
        map
    }

    /// Build from JSON text with a small span scanner (serde_json keeps no spans).
    fn from_json(text: &str) -> Self {
        let mut map = SourceMap::default();
        let mut s = JsonScan { b: text.as_bytes(), i: 0, line: 1 };
        s.value(String::new(), &mut map, 0);
        map
    }
}

struct JsonScan<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl JsonScan<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }
    fn string(&mut self) -> String {
        let mut out = Vec::new();
        self.i += 1;
        while let Some(&c) = self.b.get(self.i) {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(&n) = self.b.get(self.i) {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b'\n' => {
                    self.line += 1;
                    out.push(c)
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    fn value(&mut self, path: String, map: &mut SourceMap, depth: usize) {
        self.ws();
        if depth > 64 {
            return;
        }
        map.insert(path.clone(), self.line);
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b'"') => {
                            let line = self.line;
                            let k = self.string();
                            let p = if path.is_empty() { k } else { format!("{path}.{k}") };
                            map.insert(p.clone(), line);
                            self.ws();
                            if self.b.get(self.i) == Some(&b':') {
                                self.i += 1;
                            }
                            self.value(p, map, depth + 1);
                        }
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return;
                        }
                        _ => return,
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b']') => {
                            self.i += 1;
                            return;
                        }
                        Some(b',') => self.i += 1,
                        None => return,
                        _ => {
                            let before = self.i;
                            self.value(format!("{path}[{n}]"), map, depth + 1);
                            n += 1;
                            if self.i == before {
                                return;
                            }
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b'\n' | b' ' | b'\t' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
            }
            None => {}
        }
    }
}

/// A failure to read an intersection file at all (syntax or shape).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// File name as given.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Largest intersection file accepted (a city corridor is far below this).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Parse an intersection file's text.  `file` is only used in messages.
pub fn parse(file: &str, text: &str, syntax: Syntax) -> Result<(MapFile, SourceMap), ParseError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ParseError {
            file: file.into(),
            line: 0,
            message: format!("file is {} bytes; the limit is {MAX_FILE_BYTES}", text.len()),
        });
    }
    match syntax {
        Syntax::Toml => {
            let m: MapFile = toml::from_str(text).map_err(|e| {
                let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1).unwrap_or(0);
                ParseError { file: file.into(), line, message: e.message().trim().to_string() }
            })?;
            Ok((m, SourceMap::from_toml(text)))
        }
        Syntax::Json => {
            let m: MapFile = serde_json::from_str(text).map_err(|e| ParseError {
                file: file.into(),
                line: e.line(),
                message: e.to_string(),
            })?;
            Ok((m, SourceMap::from_json(text)))
        }
    }
}

/// Write a model as TOML.
pub fn to_toml(m: &MapFile) -> Result<String, toml::ser::Error> {
    toml::to_string_pretty(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
format = "zhilu-intersection/1"

[[intersection]]
id = 7
reference = { lat = 23.1, lon = 113.2 }

[[intersection.approach]]
id = "north"

[[intersection.lane]]
id = 1
approach = "north"
width_m = 3.5
points = [[1.75, 40.0], [1.75, 12.0]]

[[intersection.lane]]
id = 2
approach = "north"
direction = "egress"
width_m = 3.5
points = [[-1.75, 12.0], [-1.75, 40.0]]
"#;

    #[test]
    fn toml_source_map_finds_lane_lines() {
        let (m, map) = parse("small.toml", SMALL, Syntax::Toml).unwrap();
        assert_eq!(m.intersections[0].lanes.len(), 2);
        assert_eq!(map.line_of("intersection[0].lane[1]"), Some(17));
        assert_eq!(map.line_of("intersection[0].lane[1].width_m"), Some(21));
        assert_eq!(map.line_of("intersection[0].lane[0].nothing"), Some(11));
    }

    #[test]
    fn json_source_map_finds_lane_lines() {
        let (m, _) = parse("small.toml", SMALL, Syntax::Toml).unwrap();
        let json = serde_json::to_string_pretty(&m).unwrap();
        let (m2, map) = parse("small.json", &json, Syntax::Json).unwrap();
        assert_eq!(m, m2);
        let line = map.line_of("intersection[0].lane[1].width_m").unwrap();
        assert!(json.lines().nth(line - 1).unwrap().contains("width_m"), "line {line}");
    }

    #[test]
    fn unknown_field_is_reported_with_line() {
        let bad = SMALL.replace("width_m = 3.5\npoints = [[-1.75", "widht_m = 3.5\npoints = [[-1.75");
        let e = parse("bad.toml", &bad, Syntax::Toml).unwrap_err();
        assert!(e.line >= 17, "{e}");
        assert!(e.message.contains("widht_m"), "{e}");
    }

    #[test]
    fn toml_round_trip() {
        let (m, _) = parse("small.toml", SMALL, Syntax::Toml).unwrap();
        let text = to_toml(&m).unwrap();
        let (m2, _) = parse("again.toml", &text, Syntax::Toml).unwrap();
        assert_eq!(m, m2);
    }
}

/// A daily time window, minutes after local midnight (`end` may be before
/// `start` for windows over midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeWindow {
    /// `HH:MM-HH:MM`.
    Daily {
        /// Start, minutes after midnight.
        start_min: u16,
        /// End, minutes after midnight.
        end_min: u16,
    },
    /// The standard's "night" (the MAP's night speed-limit types).
    Night,
}

impl TimeWindow {
    /// Parse `HH:MM-HH:MM` or `night`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("night") {
            return Ok(Self::Night);
        }
        let (a, b) =
            s.split_once('-').ok_or_else(|| format!("`{s}` is not a time window: expected HH:MM-HH:MM or `night`"))?;
        let hm = |x: &str| -> Result<u16, String> {
            let (h, m) = x.trim().split_once(':').ok_or_else(|| format!("`{x}` is not HH:MM"))?;
            let h: u16 = h.parse().map_err(|_| format!("`{x}` is not HH:MM"))?;
            let m: u16 = m.parse().map_err(|_| format!("`{x}` is not HH:MM"))?;
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(format!("`{x}` is not a time of day"));
            }
            Ok(h * 60 + m)
        };
        let (start_min, end_min) = (hm(a)?, hm(b)?);
        if start_min == end_min {
            return Err(format!("`{s}` is an empty window"));
        }
        Ok(Self::Daily { start_min, end_min })
    }

    /// Whether minute-of-day `m` lies in the window (night: 22:00-06:00).
    pub fn contains(&self, m: u16) -> bool {
        let (s, e) = match *self {
            Self::Daily { start_min, end_min } => (start_min, end_min),
            Self::Night => (22 * 60, 6 * 60),
        };
        if s < e {
            m >= s && m < e
        } else {
            m >= s || m < e
        }
    }
}

/// A local date and time `YYYY-MM-DDTHH:MM` as (year, minute of the year),
/// the standard's `MinuteOfTheYear` form.
pub fn parse_datetime(s: &str) -> Result<(i32, u32), String> {
    let err = || format!("`{s}` is not a date and time: expected YYYY-MM-DDTHH:MM");
    let (date, time) = s.trim().split_once(['T', ' ']).ok_or_else(err)?;
    let mut d = date.split('-');
    let y: i32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let mo: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let da: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let (h, mi) = time.split_once(':').ok_or_else(err)?;
    let h: u32 = h.parse().map_err(|_| err())?;
    let mi: u32 = mi.get(..2).unwrap_or(mi).parse().map_err(|_| err())?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || da == 0 || da > days[mo as usize - 1] || h > 23 || mi > 59 {
        return Err(err());
    }
    let doy: u32 = days[..mo as usize - 1].iter().sum::<u32>() + da - 1;
    Ok((y, doy * 1440 + h * 60 + mi))
}
