//! Shared test support: a generator of random but valid intersections, and
//! the bridge to the independent asn1tools decoder.
#![allow(dead_code)]

use map_encoder::model::*;
use std::path::PathBuf;

/// Parameters proptest draws for one random intersection.
#[derive(Debug, Clone)]
pub struct Shape {
    pub id: u16,
    pub region: Option<u16>,
    pub lat: f64,
    pub lon: f64,
    pub legs: Vec<Leg>,
    pub crosswalks: bool,
}

#[derive(Debug, Clone)]
pub struct Leg {
    pub angle_deg: f64,
    pub n_in: usize,
    pub n_out: usize,
    pub width: f64,
    pub stop: f64,
    pub length: f64,
    pub n_points: usize,
    pub speed_kph: Option<f64>,
    pub truck_kph: Option<f64>,
}

pub fn leg_strategy() -> impl proptest::strategy::Strategy<Value = Leg> {
    use proptest::prelude::*;
    (
        -20.0f64..20.0,
        1usize..=4,
        1usize..=3,
        3.0f64..3.8,
        15.0f64..30.0,
        60.0f64..400.0,
        2usize..=6,
        proptest::option::of(20.0f64..80.0),
        proptest::option::of(20.0f64..60.0),
    )
        .prop_map(|(a, n_in, n_out, width, stop, length, n_points, speed_kph, truck_kph)| Leg {
            angle_deg: a,
            n_in,
            n_out,
            width,
            stop,
            length,
            n_points,
            speed_kph,
            truck_kph,
        })
}

pub fn shape_strategy() -> impl proptest::strategy::Strategy<Value = Shape> {
    use proptest::prelude::*;
    (
        1u16..60000,
        proptest::option::of(0u16..65535),
        -60.0f64..60.0,
        -179.0f64..179.0,
        proptest::collection::vec(leg_strategy(), 3..=4),
        any::<bool>(),
    )
        .prop_map(|(id, region, lat, lon, legs, crosswalks)| Shape { id, region, lat, lon, legs, crosswalks })
}

fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Build a valid model from a shape.
pub fn build(s: &Shape) -> MapFile {
    let n = s.legs.len();
    let mut x = Intersection {
        id: s.id,
        region: s.region,
        name: Some(format!("Random {}", s.id)),
        reference: Reference { lat: s.lat, lon: s.lon, elevation_m: 5.0 },
        speed_limit_kph: Some(50.0),
        approaches: vec![],
        lanes: vec![],
        connections: vec![],
        signal_groups: vec![],
        work_zones: vec![],
    };
    let mut next = 1u8;
    let mut ids_in = vec![];
    let mut ids_out = vec![];
    let dirs: Vec<(f64, f64)> = s
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let a = (i as f64 * 360.0 / n as f64 + l.angle_deg).to_radians();
            (a.sin(), a.cos())
        })
        .collect();
    for (i, l) in s.legs.iter().enumerate() {
        let name = format!("leg{i}");
        x.approaches.push(Approach {
            id: name.clone(),
            upstream_node: None,
            downstream_node: None,
            speed_limit_kph: l.speed_kph,
        });
        let u = dirs[i];
        let right = (-u.1, u.0); // right of inbound (-u) = rotate -u clockwise
        let pt = |d: f64, lat: f64| [r2(u.0 * d + right.0 * lat), r2(u.1 * d + right.1 * lat)];
        let mut ins = vec![];
        for k in 0..l.n_in {
            let lat = (k as f64 + 0.5) * l.width;
            let pts: Vec<[f64; 2]> = (0..l.n_points)
                .map(|j| pt(l.length - (l.length - l.stop) * j as f64 / (l.n_points - 1) as f64, lat))
                .collect();
            let mut speed_limits = vec![];
            if let Some(t) = l.truck_kph {
                speed_limits.push(SpeedLimit {
                    kph: r2(t),
                    kind: LimitKind::Max,
                    vehicle: Some(VehicleClass::Truck),
                    time: None,
                });
            }
            x.lanes.push(Lane {
                id: next,
                approach: name.clone(),
                direction: Direction::Ingress,
                lane_type: if k + 1 == l.n_in && l.n_in > 2 { LaneType::Bus } else { LaneType::Vehicle },
                width_m: r2(l.width),
                points: Some(pts),
                points_wgs84: None,
                maneuvers: vec![],
                stop_line: true,
                speed_limits,
                only: vec![],
                bans: vec![],
                signal_group: None,
            });
            ins.push(next);
            next += 1;
        }
        let mut outs = vec![];
        for k in 0..l.n_out {
            let lat = -(k as f64 + 0.5) * l.width;
            let pts: Vec<[f64; 2]> = (0..l.n_points)
                .map(|j| pt(l.stop - 5.0 + (l.length - l.stop) * j as f64 / (l.n_points - 1) as f64, lat))
                .collect();
            x.lanes.push(Lane {
                id: next,
                approach: name.clone(),
                direction: Direction::Egress,
                lane_type: LaneType::Vehicle,
                width_m: r2(l.width),
                points: Some(pts),
                points_wgs84: None,
                maneuvers: vec![],
                stop_line: true,
                speed_limits: vec![],
                only: vec![],
                bans: vec![],
                signal_group: None,
            });
            outs.push(next);
            next += 1;
        }
        if s.crosswalks {
            let gid = 20 + i as u8;
            let d = l.stop - 3.0;
            x.lanes.push(Lane {
                id: next,
                approach: name.clone(),
                direction: Direction::Both,
                lane_type: LaneType::Crosswalk,
                width_m: 4.0,
                points: Some(vec![pt(d, l.n_in as f64 * l.width + 1.0), pt(d, -(l.n_out as f64 * l.width + 1.0))]),
                points_wgs84: None,
                maneuvers: vec![],
                stop_line: true,
                speed_limits: vec![],
                only: vec![],
                bans: vec![],
                signal_group: Some(gid),
            });
            x.signal_groups.push(SignalGroup { id: gid, name: None, kind: SignalKind::Pedestrian });
            next += 1;
        }
        ids_in.push(ins);
        ids_out.push(outs);
    }
    // connections: innermost lane turns left, outermost right, the others go straight
    for (i, ins) in ids_in.iter().enumerate() {
        for (k, lane) in ins.iter().enumerate() {
            let (target, man) = if k == 0 && ins.len() > 1 {
                ((i + 1) % n, Maneuver::Left)
            } else if k + 1 == ins.len() && ins.len() > 1 {
                ((i + n - 1) % n, Maneuver::Right)
            } else {
                ((i + n / 2) % n, Maneuver::Straight)
            };
            let outs = &ids_out[target];
            let to = outs[k.min(outs.len() - 1)];
            let g = (i as u8) * 2 + if man == Maneuver::Left { 1 } else { 2 };
            if x.signal_groups.iter().all(|sg| sg.id != g) {
                x.signal_groups.push(SignalGroup { id: g, name: None, kind: SignalKind::Protected });
            }
            x.connections.push(Connection { from: *lane, to: Target::Lane(to), maneuver: man, signal_group: Some(g) });
        }
    }
    MapFile { format: FORMAT.to_string(), intersections: vec![x], links: vec![] }
}

/// A Python interpreter that has asn1tools, or a clear failure.
pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates = vec![];
    if let Ok(p) = std::env::var("ZHILU_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(root.join("target/asn1-venv/bin/python"));
    candidates.push(PathBuf::from("python3"));
    for c in candidates {
        let ok = std::process::Command::new(&c)
            .args(["-c", "import asn1tools"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return c;
        }
    }
    panic!("no Python with asn1tools found: run scripts/test.sh (it installs asn1tools into target/asn1-venv), or set ZHILU_PYTHON");
}

/// Run the independent decoder on cases `(name, type, bytes, jer)`; panic with
/// the failures if any case does not match.
pub fn conform(cases: &[(String, &str, Vec<u8>, String)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("zhilu-conform-{}-{}", std::process::id(), cases.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cases.jsonl");
    let mut text = String::new();
    for (name, ty, bytes, jer) in cases {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let v = serde_json::json!({"name": name, "type": ty, "hex": hex, "jer": serde_json::from_str::<serde_json::Value>(jer).unwrap()});
        text.push_str(&v.to_string());
        text.push('\n');
    }
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new(python())
        .arg(root.join("conformance/asn1_conform.py"))
        .arg("check")
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .expect("run asn1_conform.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        out.status.success() && fails.is_empty(),
        "asn1tools disagrees:\n{}\n{}",
        fails.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), cases.len());
    let _ = std::fs::remove_dir_all(&dir);
}
