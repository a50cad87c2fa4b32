//! End to end: the real `sim replay` binary on generated trajectories (the recorded data sets are
//! non-commercial and not in the repository), the shipped 4-leg example and the shipped rig.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Cars driving straight through the 4-leg example on its north-south lanes, and two pedestrians,
/// 40 s at 10 Hz, in the trajectories' frame (origin = the intersection's reference point).
fn trajectories() -> String {
    let mut s = String::from("track_id,frame_id,timestamp_ms,agent_type,x,y,vx,vy,psi_rad,length,width\n");
    let mut id = 0;
    for k in 0..4 {
        for (x, dir) in [(-5.25, -1.0), (5.25, 1.0)] {
            id += 1;
            let start = k as f64 * 6.0;
            for f in 0..400 {
                let t = f as f64 * 0.1;
                if t < start {
                    continue;
                }
                let y = dir * (-120.0 + 11.0 * (t - start));
                if y.abs() > 120.0 {
                    continue;
                }
                let psi = if dir > 0.0 { std::f64::consts::FRAC_PI_2 } else { -std::f64::consts::FRAC_PI_2 };
                s += &format!("{id},{f},{},Car,{x:.3},{y:.3},0,{:.3},{psi:.4},4.5,1.8\n", f * 100, dir * 11.0);
            }
        }
    }
    for (px, vy) in [(-14.0, 1.2f64), (14.0, -1.2)] {
        id += 1;
        for f in 0..400 {
            let y = -vy.signum() * 20.0 + vy * f as f64 * 0.1;
            s += &format!("{id},{f},{},Pedestrian,{px},{y:.3},0,{vy},0,0.5,0.5\n", f * 100);
        }
    }
    s
}

/// `sim replay` on a trajectory file, the 4-leg example placed at its own reference point, and the shipped rig.
fn replay(tracks: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sim"));
    c.args(["replay", "--trajectories"])
        .arg(tracks)
        .arg("--map")
        .arg(root().join("examples/4leg.toml"))
        .args(["--origin", "23.129,113.264", "--sensors"])
        .arg(root().join("sim/examples/sensors-4cam-4radar.toml"));
    c
}

#[test]
fn replay_scores_generated_traffic() {
    let dir = std::env::temp_dir().join(format!("zhilu-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracks = dir.join("tracks.csv");
    std::fs::write(&tracks, trajectories()).unwrap();
    let (json, fused) = (dir.join("scores.json"), dir.join("fused.csv"));
    let out = replay(&tracks).args(["--seeds", "2", "--json"]).arg(&json).arg("--out").arg(&fused).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| MOTA |"), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for run in v["runs"].as_array().unwrap() {
        let f = |k: &str| run[k].as_f64().unwrap();
        assert!(f("mota") > 0.9, "{run}");
        assert!(f("idf1") > 0.85, "{run}");
        assert!(f("position_rmse_m") < 0.5, "{run}");
        assert!(f("lane_accuracy") > 0.95, "{run}");
    }
    // the fused tracks come back in the trajectories' columns and frame
    let fused = sim::trajectories::read_tracks(&std::fs::read_to_string(&fused).unwrap()).unwrap();
    assert!(fused.len() > 1000);
    assert!(fused.iter().all(|p| p.x_m.abs() < 200.0 && p.y_m.abs() < 200.0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_trajectories_are_named_with_line_and_column() {
    let dir = std::env::temp_dir().join(format!("zhilu-replay-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracks = dir.join("tracks.csv");
    std::fs::write(&tracks, "track_id,frame_id,timestamp_ms,agent_type,x,y\n1,0,0,Car,1.0,2.0\n1,1,100,Car,NaN,2.0\n")
        .unwrap();
    let out = replay(&tracks).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("`x`"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
