//! Ground-truth and fused track files in the INTERACTION / TAF-BW CSV layout.
//!
//! Owns: reading such files by header name (so column order and extra columns do not
//! matter), writing them in the canonical column order, and grouping points into frames.
//! Must not: open files or know any path (callers hand in text or a writer), nor score or
//! associate tracks; that is [`crate::metrics`]'s job.
//!
//! Known limits: fields are split on `,` without CSV quoting rules (a surrounding pair of
//! `"` is stripped), and `track_id` must be an unsigned integer (INTERACTION's pedestrian
//! files use ids like `P1`; map those to numbers before reading).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

/// Class of a road user, as written in the `agent_type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentType {
    Car,
    Truck,
    Bus,
    Bike,
    Motorcycle,
    Pedestrian,
    Unknown,
}

impl AgentType {
    /// Case-insensitive; "Bicycle" is a Bike, INTERACTION's "pedestrian/bicycle" a Pedestrian,
    /// anything unrecognised is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "car" => Self::Car,
            "truck" => Self::Truck,
            "bus" => Self::Bus,
            "bike" | "bicycle" => Self::Bike,
            "motorcycle" | "motorbike" => Self::Motorcycle,
            "pedestrian" | "pedestrian/bicycle" => Self::Pedestrian,
            _ => Self::Unknown,
        }
    }

    /// The canonical CSV name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Car => "Car",
            Self::Truck => "Truck",
            Self::Bus => "Bus",
            Self::Bike => "Bike",
            Self::Motorcycle => "Motorcycle",
            Self::Pedestrian => "Pedestrian",
            Self::Unknown => "Unknown",
        }
    }

    /// Footprint `(length_m, width_m)` assumed when a file has no length/width.
    pub fn default_size_m(self) -> (f64, f64) {
        match self {
            Self::Car | Self::Unknown => (4.5, 1.8),
            Self::Truck | Self::Bus => (10.0, 2.5),
            Self::Bike => (1.8, 0.6),
            Self::Motorcycle => (2.0, 0.8),
            Self::Pedestrian => (0.5, 0.5),
        }
    }
}

impl fmt::Display for AgentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One observation of one track: x east, y north in metres, velocities in m/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    pub track_id: u64,
    pub frame_id: i64,
    pub t_ms: i64,
    pub agent: AgentType,
    pub x_m: f64,
    pub y_m: f64,
    pub vx_mps: f64,
    pub vy_mps: f64,
    pub psi_rad: f64,
    pub length_m: f64,
    pub width_m: f64,
}

/// Why a track file could not be read. Lines are 1-based and count blank lines.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrajectoryError {
    #[error("no header line")]
    NoHeader,
    #[error("line {line}: header lacks required column `{column}`")]
    MissingColumn { line: usize, column: &'static str },
    #[error("line {line}: column `{column}` appears twice in the header")]
    DuplicateColumn { line: usize, column: &'static str },
    #[error("line {line}: {found} fields but the header has {expected}")]
    FieldCount { line: usize, expected: usize, found: usize },
    #[error("line {line}, column `{column}`: value is empty")]
    EmptyValue { line: usize, column: &'static str },
    #[error("line {line}, column `{column}`: cannot read {value:?} as {expected}")]
    Invalid { line: usize, column: &'static str, value: String, expected: &'static str },
    #[error("line {line}, column `{column}`: {value:?} is not a finite number")]
    NotFinite { line: usize, column: &'static str, value: String },
}

/// Canonical column order; the indices below point into it.
const COLUMNS: [&str; 11] =
    ["track_id", "frame_id", "timestamp_ms", "agent_type", "x", "y", "vx", "vy", "psi_rad", "length", "width"];
const TRACK_ID: usize = 0;
const FRAME_ID: usize = 1;
const TIMESTAMP_MS: usize = 2;
const AGENT_TYPE: usize = 3;
const X: usize = 4;
const Y: usize = 5;
const VX: usize = 6;
const VY: usize = 7;
const PSI_RAD: usize = 8;
const LENGTH: usize = 9;
const WIDTH: usize = 10;
const REQUIRED: [usize; 4] = [TRACK_ID, TIMESTAMP_MS, X, Y];

fn split(line: &str) -> Vec<&str> {
    line.split(',').map(|f| f.trim().trim_matches('"')).collect()
}

/// One data line, with where each known column sits in it.
struct Row<'a> {
    line: usize,
    fields: Vec<&'a str>,
    at: &'a [Option<usize>; 11],
}

impl<'a> Row<'a> {
    /// The value of a column, `None` if the column is absent or the field empty.
    fn get(&self, col: usize) -> Option<&'a str> {
        self.at[col].map(|i| self.fields[i]).filter(|s| !s.is_empty())
    }

    fn invalid(&self, col: usize, value: &str, expected: &'static str) -> TrajectoryError {
        TrajectoryError::Invalid { line: self.line, column: COLUMNS[col], value: value.to_owned(), expected }
    }

    fn required<T>(&self, col: usize, value: Option<T>) -> Result<T, TrajectoryError> {
        value.ok_or(TrajectoryError::EmptyValue { line: self.line, column: COLUMNS[col] })
    }

    fn float(&self, col: usize) -> Result<Option<f64>, TrajectoryError> {
        let Some(s) = self.get(col) else { return Ok(None) };
        let v: f64 = s.parse().map_err(|_| self.invalid(col, s, "a number"))?;
        if !v.is_finite() {
            return Err(TrajectoryError::NotFinite { line: self.line, column: COLUMNS[col], value: s.to_owned() });
        }
        Ok(Some(v))
    }

    /// An integer; "2100.0" (as written by pandas) is accepted too.
    fn int(&self, col: usize) -> Result<Option<i64>, TrajectoryError> {
        let Some(s) = self.get(col) else { return Ok(None) };
        if let Ok(v) = s.parse() {
            return Ok(Some(v));
        }
        match s.parse::<f64>() {
            Ok(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(v as i64)),
            _ => Err(self.invalid(col, s, "an integer")),
        }
    }

    fn point(&self) -> Result<TrackPoint, TrajectoryError> {
        let id = self.required(TRACK_ID, self.get(TRACK_ID))?;
        let track_id = id.parse().map_err(|_| self.invalid(TRACK_ID, id, "an unsigned integer"))?;
        let t_ms = self.required(TIMESTAMP_MS, self.int(TIMESTAMP_MS)?)?;
        let agent = self.get(AGENT_TYPE).map_or(AgentType::Unknown, AgentType::parse);
        let (length_m, width_m) = agent.default_size_m();
        Ok(TrackPoint {
            track_id,
            frame_id: self.int(FRAME_ID)?.unwrap_or(t_ms.div_euclid(100)),
            t_ms,
            agent,
            x_m: self.required(X, self.float(X)?)?,
            y_m: self.required(Y, self.float(Y)?)?,
            vx_mps: self.float(VX)?.unwrap_or(0.0),
            vy_mps: self.float(VY)?.unwrap_or(0.0),
            psi_rad: self.float(PSI_RAD)?.unwrap_or(0.0),
            length_m: self.float(LENGTH)?.unwrap_or(length_m),
            width_m: self.float(WIDTH)?.unwrap_or(width_m),
        })
    }
}

/// Read a track file. Columns are found by (case-insensitive) header name; unknown columns
/// are ignored. `track_id`, `timestamp_ms`, `x`, `y` are required; a missing `frame_id`
/// becomes `t_ms / 100`, missing velocities and heading 0, a missing size the class default
/// ([`AgentType::default_size_m`]), a missing `agent_type` `Unknown`.
pub fn read_tracks(text: &str) -> Result<Vec<TrackPoint>, TrajectoryError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or(TrajectoryError::NoHeader)?;
    let names = split(header);
    let mut at = [None; 11];
    for (i, name) in names.iter().enumerate() {
        if let Some(col) = COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            if at[col].replace(i).is_some() {
                return Err(TrajectoryError::DuplicateColumn { line: header_line, column: COLUMNS[col] });
            }
        }
    }
    if let Some(&col) = REQUIRED.iter().find(|&&c| at[c].is_none()) {
        return Err(TrajectoryError::MissingColumn { line: header_line, column: COLUMNS[col] });
    }
    lines
        .map(|(line, l)| {
            let fields = split(l);
            if fields.len() != names.len() {
                return Err(TrajectoryError::FieldCount { line, expected: names.len(), found: fields.len() });
            }
            Row { line, fields, at: &at }.point()
        })
        .collect()
}

/// Write points with the canonical header `track_id,frame_id,timestamp_ms,agent_type,x,y,vx,vy,psi_rad,length,width`.
/// Numbers are written in Rust's shortest round-trip form, so reading gives the same values back.
pub fn write_tracks(points: &[TrackPoint], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.join(","))?;
    for p in points {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            p.track_id, p.frame_id, p.t_ms, p.agent, p.x_m, p.y_m, p.vx_mps, p.vy_mps, p.psi_rad, p.length_m, p.width_m
        )?;
    }
    Ok(())
}

/// Points grouped by timestamp, in time order; within a frame in input order.
pub fn frames(points: &[TrackPoint]) -> BTreeMap<i64, Vec<&TrackPoint>> {
    let mut by_t: BTreeMap<i64, Vec<&TrackPoint>> = BTreeMap::new();
    for p in points {
        by_t.entry(p.t_ms).or_default().push(p);
    }
    by_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_gives_the_same_points() {
        let mk = |track_id, t_ms, agent, x_m: f64| TrackPoint {
            track_id,
            frame_id: t_ms / 100 + 7,
            t_ms,
            agent,
            x_m,
            y_m: -x_m / 3.0,
            vx_mps: 0.1 + x_m,
            vy_mps: -2.92,
            psi_rad: std::f64::consts::FRAC_PI_3,
            length_m: 5.0,
            width_m: 1.8,
        };
        let points = vec![
            mk(1045, 4980, AgentType::Car, -288.157),
            mk(1045, 5080, AgentType::Car, -287.1234567890123),
            mk(7, 4980, AgentType::Pedestrian, 1e-7),
            mk(8, 5080, AgentType::Unknown, 0.0),
        ];
        let mut out = Vec::new();
        write_tracks(&points, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("track_id,frame_id,timestamp_ms,agent_type,x,y,vx,vy,psi_rad,length,width\n"));
        assert_eq!(read_tracks(&text).unwrap(), points);
        let by_t = frames(&points);
        assert_eq!(by_t.keys().copied().collect::<Vec<_>>(), vec![4980, 5080]);
        assert_eq!(by_t[&5080].iter().map(|p| p.track_id).collect::<Vec<_>>(), vec![1045, 8]);
    }

    #[test]
    fn reads_the_k729_column_order_with_crlf_and_blank_lines() {
        let text = "\u{feff}track_id,frame_id,timestamp_ms,agent_type,vx,vy,psi_rad,length,width,time,x,y\r\n\
            17,3008,2100,Car,0.2048,-0.4058,-1.1010,4.6,2.1,2022-03-16 11:17:21.198,0.9928,-11.0303\r\n\
            \r\n\
            18,3033,3800,bicycle,0.2258,-0.4220,-1.0772,4.6,2.1,2022-03-16 11:17:22.898,1.3081,-11.0453\r\n";
        let points = read_tracks(text).unwrap();
        assert_eq!(points.len(), 2);
        let p = points[0];
        assert_eq!((p.track_id, p.frame_id, p.t_ms, p.agent), (17, 3008, 2100, AgentType::Car));
        assert_eq!((p.x_m, p.y_m, p.vx_mps, p.width_m), (0.9928, -11.0303, 0.2048, 2.1));
        assert_eq!(points[1].agent, AgentType::Bike);
    }

    #[test]
    fn missing_optional_columns_get_defaults() {
        let text = "track_id,timestamp_ms,agent_type,x,y\n1,1500,Truck,1,2\n2,1500,pedestrian,3,4\n3,1600,,5,6\n";
        let points = read_tracks(text).unwrap();
        assert_eq!((points[0].frame_id, points[0].length_m, points[0].width_m), (15, 10.0, 2.5));
        assert_eq!((points[1].agent, points[1].length_m, points[1].vx_mps), (AgentType::Pedestrian, 0.5, 0.0));
        assert_eq!((points[2].agent, points[2].frame_id), (AgentType::Unknown, 16));
    }

    #[test]
    fn errors_name_line_and_column() {
        let header = "track_id,frame_id,timestamp_ms,agent_type,x,y,vx,vy,psi_rad,length,width\n";
        let ok = "1,1,100,Car,1,2,0,0,0,4.5,1.8\n";
        let err = |body: &str| read_tracks(&format!("{header}{ok}\n{body}")).unwrap_err().to_string();
        assert_eq!(err("1,2,200,Car,1,NaN,0,0,0,4.5,1.8"), "line 4, column `y`: \"NaN\" is not a finite number");
        assert_eq!(err("1,2,200,Car,1,2,inf,0,0,4.5,1.8"), "line 4, column `vx`: \"inf\" is not a finite number");
        assert_eq!(err("1,2,200,Car,1,2,0,0,0,4.5,wide"), "line 4, column `width`: cannot read \"wide\" as a number");
        assert_eq!(
            err("P1,2,200,Car,1,2,0,0,0,4.5,1.8"),
            "line 4, column `track_id`: cannot read \"P1\" as an unsigned integer"
        );
        assert_eq!(
            err("1,2,2.5,Car,1,2,0,0,0,4.5,1.8"),
            "line 4, column `timestamp_ms`: cannot read \"2.5\" as an integer"
        );
        assert_eq!(err("1,2,200,Car,,2,0,0,0,4.5,1.8"), "line 4, column `x`: value is empty");
        assert_eq!(err("1,2,200,Car,1,2"), "line 4: 6 fields but the header has 11");
        let missing = read_tracks("track_id,frame_id,timestamp_ms,x\n").unwrap_err();
        assert_eq!(missing, TrajectoryError::MissingColumn { line: 1, column: "y" });
        let twice = read_tracks("track_id,timestamp_ms,x,y,X\n").unwrap_err();
        assert_eq!(twice.to_string(), "line 1: column `x` appears twice in the header");
        assert_eq!(read_tracks("\r\n\n").unwrap_err(), TrajectoryError::NoHeader);
    }

    #[test]
    fn agent_type_names_round_trip() {
        for a in [AgentType::Car, AgentType::Truck, AgentType::Bus, AgentType::Bike, AgentType::Motorcycle] {
            assert_eq!(AgentType::parse(&a.to_string()), a);
        }
        assert_eq!(AgentType::parse(" PEDESTRIAN "), AgentType::Pedestrian);
        assert_eq!(AgentType::parse("Bicycle").to_string(), "Bike");
        assert_eq!(AgentType::parse("tram"), AgentType::Unknown);
    }
}
