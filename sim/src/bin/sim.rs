//! `sim`: the simulation harness for traffic engineers.
//!
//! `sim replay` runs real trajectories through simulated cameras and radars
//! and the roadside unit's fusion core, and scores the fused tracks against
//! the trajectories.

use clap::{Parser, Subcommand};
use roadside_unit::fusion::FusionConfig;
use roadside_unit::sensors::parse_sensor_file;
use sim::replay::{replay, ReplayInput, Scores};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "sim", version, about = "Zhilu simulation harness", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay recorded trajectories through simulated sensors and the RSU fusion core, and score
    /// the fused tracks against them (MOTA, IDF1, position/velocity RMSE, lane accuracy).
    ///
    /// The trajectories are INTERACTION / TAF-BW CSV (`track_id,frame_id,timestamp_ms,agent_type,
    /// x,y,vx,vy,psi_rad,length,width`, parsed by header name) in a scaled spherical Mercator frame
    /// about --origin.  Example (TAF-BW K733, whose data is non-commercial: read it from where it
    /// lies, never copy it into the repository):
    ///
    ///   sim replay --trajectories k733/vehicle_tracks_000.csv --map k733/k733_map.kml
    ///     --sensors sim/examples/sensors-4cam-4radar.toml --seeds 10 --baselines --out fused.csv
    Replay {
        /// Ground-truth trajectories (CSV).
        #[arg(long)]
        trajectories: PathBuf,
        /// The intersection: an intersection file (.toml/.json) or any map `mapenc import` reads
        /// (.osm, .xodr, .net.xml[.gz], .kml).
        #[arg(long)]
        map: PathBuf,
        /// `LAT,LON` of the trajectories' origin; default: `originLat`/`originLon` of a
        /// `meta_data.csv` beside the trajectories.
        #[arg(long, value_parser = parse_lat_lon)]
        origin: Option<[f64; 2]>,
        /// Which intersection of the map the sensors stand at (default: the first).
        #[arg(long)]
        intersection: Option<u16>,
        /// The sensor rig (`zhilu-sensors/1` TOML).
        #[arg(long)]
        sensors: PathBuf,
        /// Seed of the sensor models' random draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run this many seeds (seed, seed+1, ...) and report mean and 95% confidence interval.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Also run every sensor alone (same seed) and compare the fused position error with the
        /// best single sensor's.
        #[arg(long)]
        baselines: bool,
        /// Recorded signal states (`signal_group_id,timestamp_ms,movement_state`) for red-light
        /// running; default: a `signal_phases_000.csv` beside the trajectories, when present.
        #[arg(long)]
        signals: Option<PathBuf>,
        /// Fused tracks of the first seed, in the trajectories' CSV columns and frame.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write all scores as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn parse_lat_lon(s: &str) -> Result<[f64; 2], String> {
    let mut it = s.split(',').map(|v| v.trim().parse::<f64>());
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(lat)), Some(Ok(lon)), None) if lat.abs() <= 90.0 && lon.abs() <= 180.0 => Ok([lat, lon]),
        _ => Err(format!("`{s}` is not LAT,LON in degrees")),
    }
}

struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

fn read(p: &Path) -> Result<Vec<u8>, Fail> {
    std::fs::read(p).map_err(|e| Fail(format!("{}: {e}", p.display())))
}

fn origin_from_meta(trajectories: &Path) -> Result<[f64; 2], Fail> {
    let meta = trajectories.with_file_name("meta_data.csv");
    let text = String::from_utf8(
        read(&meta).map_err(|_| Fail(format!("no --origin given and no {} to read it from", meta.display())))?,
    )?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').map(str::trim).collect();
    // the row of this recording: `vehicle_tracks_013.csv` is id 013 (else the first row)
    let stem = trajectories.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let suffix: String =
        stem.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').map(str::trim).collect()).collect();
    let id_col = header.iter().position(|h| *h == "id");
    let row = rows
        .iter()
        .find(|r| id_col.and_then(|i| r.get(i)).is_some_and(|v| !suffix.is_empty() && *v == suffix))
        .or_else(|| rows.first())
        .cloned()
        .unwrap_or_default();
    let get = |name: &str| -> Result<f64, Fail> {
        let i = header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| Fail(format!("{}: no `{name}` column", meta.display())))?;
        row.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Fail(format!("{}: `{name}` is not a number", meta.display())))
    };
    Ok([get("originLat")?, get("originLon")?])
}

#[derive(serde::Serialize)]
struct Summary {
    seeds: Vec<u64>,
    runs: Vec<Scores>,
    baselines: Vec<(u32, Vec<f64>)>,
}

fn mean_ci(v: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // Student t, 97.5% quantile, for the small sample sizes used here
    let t = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131];
    let k = t.get(v.len() - 2).copied().unwrap_or(1.96);
    (m, k * sd / n.sqrt())
}

fn run() -> Result<(), Fail> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay {
            trajectories,
            map,
            origin,
            intersection,
            sensors,
            seed,
            seeds,
            baselines,
            signals,
            out,
            json,
        } => {
            let truth = sim::trajectories::read_tracks(&String::from_utf8(read(&trajectories)?)?)
                .map_err(|e| Fail(format!("{}: {e}", trajectories.display())))?;
            let origin = match origin {
                Some(o) => o,
                None => origin_from_meta(&trajectories)?,
            };
            let name = map.display().to_string();
            let (model, _warnings) = map_encoder::import::load_map(&name, &read(&map)?, None)?;
            let x = match intersection {
                Some(id) => model
                    .intersections
                    .iter()
                    .find(|x| x.id == id)
                    .ok_or_else(|| Fail(format!("{name}: no intersection {id}")))?,
                None => model.intersections.first().ok_or_else(|| Fail(format!("{name}: no intersection")))?,
            };
            let signals_path = signals.or_else(|| {
                let p = trajectories.with_file_name("signal_phases_000.csv");
                p.exists().then_some(p)
            });
            let timeline = match &signals_path {
                Some(p) => Some(
                    sim::replay::read_signal_phases(&String::from_utf8(read(p)?)?)
                        .map_err(|e| Fail(format!("{}: {e}", p.display())))?,
                ),
                None => None,
            };
            let rig_name = sensors.display().to_string();
            let rig = parse_sensor_file(&rig_name, &String::from_utf8(read(&sensors)?)?)?;
            let mut runs = Vec::new();
            let mut base: Vec<(u32, Vec<f64>)> = rig.sensors.iter().map(|s| (s.id, Vec::new())).collect();
            for k in 0..seeds.max(1) {
                let s = seed + k;
                let input = ReplayInput {
                    truth: &truth,
                    origin,
                    intersection: x,
                    sensors: &rig,
                    seed: s,
                    only_sensors: Vec::new(),
                    fusion: FusionConfig::default(),
                    signals: timeline.as_ref(),
                };
                let r = replay(&input)?;
                if k == 0 {
                    if let Some(path) = &out {
                        let mut f = std::io::BufWriter::new(
                            std::fs::File::create(path).map_err(|e| Fail(format!("{}: {e}", path.display())))?,
                        );
                        sim::trajectories::write_tracks(&r.fused, &mut f)?;
                    }
                }
                eprintln!(
                    "seed {s}: MOTA {:.4}  IDF1 {:.4}  RMSE {:.3} m  {:.3} m/s  lanes {:.4} ({} samples)  FP {} FN {} IDSW {}",
                    r.scores.mota,
                    r.scores.idf1,
                    r.scores.position_rmse_m,
                    r.scores.velocity_rmse_mps,
                    r.scores.lane_accuracy,
                    r.scores.lane_samples,
                    r.scores.fp,
                    r.scores.fn_,
                    r.scores.idsw
                );
                runs.push(r.scores);
                if baselines {
                    for (id, v) in &mut base {
                        let single = ReplayInput { only_sensors: vec![*id], ..input.clone() };
                        v.push(replay(&single)?.scores.position_rmse_m);
                    }
                }
            }
            let col = |f: fn(&Scores) -> f64| mean_ci(&runs.iter().map(f).collect::<Vec<_>>());
            println!(
                "replay of {} over {} seed(s) ({} ground-truth object-frames per run)",
                trajectories.display(),
                runs.len(),
                runs[0].objects
            );
            println!("| metric | mean | 95% CI |");
            println!("| --- | ---: | ---: |");
            for (name, f) in [
                ("MOTA", (|s: &Scores| s.mota) as fn(&Scores) -> f64),
                ("IDF1", |s| s.idf1),
                ("MOTP (m)", |s| s.motp_m),
                ("position RMSE (m)", |s| s.position_rmse_m),
                ("velocity RMSE (m/s)", |s| s.velocity_rmse_mps),
                ("lane-assignment accuracy (vehicles)", |s| s.lane_accuracy),
                ("false positives", |s| s.fp as f64),
                ("misses", |s| s.fn_ as f64),
                ("identity switches", |s| s.idsw as f64),
            ] {
                let (m, ci) = col(f);
                println!("| {name} | {m:.4} | ±{ci:.4} |");
            }
            let kinds: std::collections::BTreeSet<_> =
                runs.iter().flat_map(|r| r.events.iter().map(|e| e.kind)).collect();
            if !kinds.is_empty() {
                println!("\n| event | truth (mean) | detected (mean) | precision | recall |");
                println!("| --- | ---: | ---: | ---: | ---: |");
                for k in kinds {
                    let of = |f: fn(&sim::replay::EventScore) -> f64| {
                        mean_ci(
                            &runs
                                .iter()
                                .filter_map(|r| r.events.iter().find(|e| e.kind == k).map(f))
                                .collect::<Vec<_>>(),
                        )
                    };
                    let (t, _) = of(|e| e.truth as f64);
                    let (d, _) = of(|e| e.detected as f64);
                    let (p, pci) = of(|e| e.precision);
                    let (r, rci) = of(|e| e.recall);
                    println!("| {k:?} | {t:.1} | {d:.1} | {p:.3} ±{pci:.3} | {r:.3} ±{rci:.3} |");
                }
            }
            if baselines {
                println!("\n| sensor alone | position RMSE (m) |");
                println!("| --- | ---: |");
                let mut best = f64::INFINITY;
                for (id, v) in &base {
                    let (m, _) = mean_ci(v);
                    if m < best {
                        best = m;
                    }
                    println!("| {id} | {m:.4} |");
                }
                let (fused, _) = col(|s| s.position_rmse_m);
                println!(
                    "\nfused position RMSE {fused:.4} m vs best single sensor {best:.4} m: {:.1}% lower",
                    100.0 * (1.0 - fused / best)
                );
            }
            if let Some(path) = json {
                let summary = Summary { seeds: (seed..seed + seeds.max(1)).collect(), runs, baselines: base };
                std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
                    .map_err(|e| Fail(format!("{}: {e}", path.display())))?;
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(m)) => {
            eprintln!("sim: {m}");
            ExitCode::from(1)
        }
    }
}
