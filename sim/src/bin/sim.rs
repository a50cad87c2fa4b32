//! `sim`: the simulation harness for traffic engineers.
//!
//! `sim replay` runs real trajectories through simulated cameras and radars
//! and the roadside unit's fusion core, and scores the fused tracks against
//! the trajectories.  `sim stream` drives a live RSU with simulated sensor
//! frames on the wall clock; `sim signal-controller` is a signal controller
//! speaking `zhilu-signal/1` for it.

use clap::{Parser, Subcommand, ValueEnum};
use map_encoder::model::Intersection;
use roadside_unit::fusion::FusionConfig;
use roadside_unit::sensors::{parse_sensor_file, resolve, SensorFile, SensorKind};
use sim::live::Transport;
use sim::replay::{replay, FrameMap, GroundTruth, ReplayInput, Scores};
use sim::stream::{FrameSchedule, Recorded};
use sim::traffic::{SyntheticTraffic, TrafficConfig};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

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
    /// Drive a live RSU: send every sensor's frames over UDP or TCP in real time, from synthetic
    /// traffic or recorded trajectories.
    #[command(long_about = STREAM_ABOUT, after_help = STREAM_EXAMPLES)]
    Stream(StreamArgs),
    /// A fixed-time signal controller for an RSU, speaking `zhilu-signal/1` (JSON lines over TCP) as
    /// the controller side.
    #[command(long_about = CONTROLLER_ABOUT, after_help = CONTROLLER_EXAMPLES)]
    SignalController(ControllerArgs),
}

/// `sim stream`'s options.
#[derive(clap::Args)]
struct StreamArgs {
    /// The intersection: an intersection file (.toml/.json) or any map `mapenc import` reads
    /// (.osm, .xodr, .net.xml[.gz], .kml).
    #[arg(long)]
    map: PathBuf,
    /// The sensor rig (`zhilu-sensors/1` TOML; the RSU's own sensor file).
    #[arg(long)]
    sensors: PathBuf,
    /// The RSU's sensor ingest address (`[sensors] udp` or `tcp` of its configuration).
    #[arg(long, value_name = "HOST:PORT")]
    to: String,
    /// udp: one frame per datagram; tcp: one connection, each frame preceded by its length
    /// (u32 little-endian).
    #[arg(long, value_enum, default_value = "udp")]
    transport: TransportArg,
    /// Replay these recorded trajectories (INTERACTION / TAF-BW CSV, as `sim replay`) instead
    /// of synthetic traffic; the run ends with the recording.
    #[arg(long, value_name = "TRACKS.csv")]
    trajectories: Option<PathBuf>,
    /// `LAT,LON` of the trajectories' origin; default: `originLat`/`originLon` of a
    /// `meta_data.csv` beside them.
    #[arg(long, value_parser = parse_lat_lon, requires = "trajectories")]
    origin: Option<[f64; 2]>,
    /// Stop after this many seconds (default: Ctrl-C, or the end of the trajectories).
    #[arg(long, value_name = "N")]
    seconds: Option<f64>,
    /// Seed of the traffic's and the sensor models' random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Which intersection of the map (default: the first).
    #[arg(long, value_name = "ID")]
    intersection: Option<u16>,
    /// Synthetic traffic: vehicles entering each ingress lane per hour.
    #[arg(long, value_name = "V", default_value_t = 300.0, conflicts_with = "trajectories")]
    vehicles_per_hour_per_lane: f64,
    /// Synthetic traffic: pedestrians starting across each crosswalk per hour.
    #[arg(long, value_name = "P", default_value_t = 60.0, conflicts_with = "trajectories")]
    pedestrians_per_hour_per_crosswalk: f64,
}

/// `sim signal-controller`'s options.
#[derive(clap::Args)]
struct ControllerArgs {
    /// Where the RSU connects (`[signal] address` of its configuration); port 0 picks a free
    /// port (the first line on standard output says which).
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// The plan to run: a `signal_core::Plan` in TOML, bare or in a `[plan]` table.
    #[arg(long, value_name = "PLAN.toml")]
    plan: PathBuf,
    /// Check that the plan's (and every commanded plan's) signal groups are the
    /// intersection's: an intersection file or any map `mapenc import` reads.
    #[arg(long, value_name = "MAP")]
    intersection_file: Option<PathBuf>,
    /// Which intersection of --intersection-file (default: the first).
    #[arg(long, value_name = "ID", requires = "intersection_file")]
    intersection: Option<u16>,
}

const STREAM_ABOUT: &str = "\
Drive a live RSU with simulated sensor frames in real time.

Every sensor of the rig (--sensors, the RSU's own sensor file) is simulated with its frame rate, \
latency, clock offset, noise, misses, false alarms, class confusion and occlusion, as in `sim replay`. \
Each frame is sent when it would arrive (capture time plus the sensor's latency) on the wall clock, \
as ZSI/1 (docs/sensor-ingest.md): over UDP one frame per datagram, over TCP each frame preceded by its \
length (u32 little-endian), as zsi-send does. The capture time in a frame is the sensor's clock: the \
wall-clock UNIX time of the capture plus the sensor's configured clock_offset_ms, so the RSU, which \
subtracts the configured offsets, sees a consistent picture. Simulated time maps to the wall clock by \
a fixed offset (simulated 0 = the start), so for a given --seed every frame's content is the same on \
every run; only the time stamps differ. A lost TCP connection is retried every second (frames due \
meanwhile are dropped and counted); the first connection must succeed.

What the sensors see:

  * without --trajectories, SYNTHETIC TRAFFIC. This is not a traffic model (that comes with the \
simulation issue): road users ignore the signals and each other, so they run red lights and may \
overlap. Vehicles arrive on every ingress travel lane of the intersection (--vehicles-per-hour-per-lane, \
exponential headways above a 1.5 s minimum so the mean rate is the one given, seeded) at the upstream \
end of its centre line, take one of the lane's connections to an egress lane of the same intersection \
(uniformly), follow the centre line, a smooth curve through the junction and the egress lane's centre \
line to its end, and vanish. They drive at the lane's speed limit (the lane's own, else its \
approach's, else the intersection's, else 50 km/h), slowing in curves to keep the lateral acceleration \
below 2.5 m/s². Bus lanes and lanes for buses only carry buses, bike lanes bikes (at most 18 km/h), \
other lanes 90% cars, 7% trucks (none where trucks are banned) and 3% buses. Pedestrians cross every \
crosswalk in either direction at 1.1 to 1.6 m/s (--pedestrians-per-hour-per-crosswalk). Ingress lanes \
whose connections all lead to another intersection carry no traffic (listed at the start). The scene \
starts in a steady state: arrivals begin one longest trip before the start. Runs until --seconds or \
Ctrl-C.

  * with --trajectories, RECORDED TRACKS (INTERACTION / TAF-BW CSV, read and placed with --origin \
exactly as `sim replay` does) played in real time from their first sample; the run ends with the \
recording (or --seconds, or Ctrl-C).

At the end it prints a summary: frames, rate, detections (and how many were of a road user rather \
than false alarms or clutter) and bytes per sensor, frames dropped, and the road users that entered \
and were detected. Exit status: 0 after --seconds, the end of the recording or Ctrl-C; 1 on an error \
(unreadable file, unknown intersection, unreachable TCP address).";

const STREAM_EXAMPLES: &str = "\
Examples:
  # the example RSU (roadside-unit/examples/rsu.toml) takes frames on UDP 47100 and TCP 47101
  sim stream --map examples/4leg.toml --sensors sim/examples/sensors-4cam-4radar.toml \\
      --to 127.0.0.1:47100 --seconds 60
  sim stream --map examples/4leg.toml --sensors sim/examples/sensors-4cam-4radar.toml \\
      --to 127.0.0.1:47101 --transport tcp --vehicles-per-hour-per-lane 600 --seed 7
  sim stream --map k733/k733_map.kml --sensors sim/examples/sensors-4cam-4radar.toml \\
      --to 127.0.0.1:47100 --trajectories k733/vehicle_tracks_000.csv";

const CONTROLLER_ABOUT: &str = "\
A fixed-time signal controller for an RSU, the controller side of zhilu-signal/1: JSON lines over TCP, \
the RSU connects (rsu.toml: [signal] controller = \"tcp\", address = HOST:PORT).

It runs the plan (--plan: a signal_core::Plan in TOML, as the [signal.fallback_plan] table of an RSU \
configuration, bare or in a [plan] table; sim/examples/plan-4leg.toml fits examples/4leg.toml) with \
signal_core's PlanRunner on UNIX time. Every plan's offset counts from the UNIX epoch: stage 0's green \
starts offset_s + k * cycle seconds after 1970-01-01T00:00:00Z (for the first plan the same as starting \
at floor(now / cycle) * cycle), so controllers running the same plans stay coordinated however they \
were started.

One RSU connection at a time; a new connection replaces the old one. On connecting and every 100 ms \
after, it sends the state, {\"type\":\"state\", time_s, plan_id, stage, groups: [{group, light, \
start_s, min_end_s, max_end_s, likely_end_s, confidence, next_light, next_duration_s}]} with times in \
UNIX seconds. It accepts {\"type\":\"plan\",\"plan\":{...}} lines: the plan is checked (signal_core's \
rules and, with --intersection-file, that it releases only the intersection's signal groups) and runs \
from the next stage boundary (a running green or yellow is never cut). A refused plan, a line that is \
not a message and a line over 1 MiB are logged on standard error and ignored; a connection that fails \
or takes no data for a second is closed. Runs until Ctrl-C (exit status 0); exit status 1 when the plan \
or the map cannot be read or the address cannot be bound.

The first line on standard output is `listening on ADDRESS` (useful with port 0).";

const CONTROLLER_EXAMPLES: &str = "\
Examples:
  sim signal-controller --listen 127.0.0.1:47200 --plan sim/examples/plan-4leg.toml \\
      --intersection-file examples/4leg.toml
  # then in rsu.toml: [signal] controller = \"tcp\"  address = \"127.0.0.1:47200\"";

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    /// One frame per UDP datagram.
    Udp,
    /// One TCP connection, each frame preceded by its length (u32 little-endian).
    Tcp,
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

/// Intersection `id` (or the first) of a map file.
fn load_intersection(map: &Path, id: Option<u16>) -> Result<Intersection, Fail> {
    let name = map.display().to_string();
    let (model, _warnings) = map_encoder::import::load_map(&name, &read(map)?, None)?;
    let x = match id {
        Some(id) => model
            .intersections
            .into_iter()
            .find(|x| x.id == id)
            .ok_or_else(|| Fail(format!("{name}: no intersection {id}")))?,
        None => model.intersections.into_iter().next().ok_or_else(|| Fail(format!("{name}: no intersection")))?,
    };
    Ok(x)
}

/// The trajectories and their origin (given, or from `meta_data.csv` beside them).
fn load_trajectories(
    trajectories: &Path,
    origin: Option<[f64; 2]>,
) -> Result<(Vec<sim::trajectories::TrackPoint>, [f64; 2]), Fail> {
    let truth = sim::trajectories::read_tracks(&String::from_utf8(read(trajectories)?)?)
        .map_err(|e| Fail(format!("{}: {e}", trajectories.display())))?;
    let origin = match origin {
        Some(o) => o,
        None => origin_from_meta(trajectories)?,
    };
    Ok((truth, origin))
}

fn load_rig(sensors: &Path) -> Result<SensorFile, Fail> {
    let name = sensors.display().to_string();
    Ok(parse_sensor_file(&name, &String::from_utf8(read(sensors)?)?)?)
}

fn resolve_address(what: &str, s: &str) -> Result<SocketAddr, Fail> {
    s.to_socket_addrs()
        .map_err(|e| Fail(format!("{what} {s}: {e} (expected HOST:PORT)")))?
        .next()
        .ok_or_else(|| Fail(format!("{what} {s}: the name has no address")))
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Fail(format!("cannot start: {e}")))
}

/// Resolves on Ctrl-C (never, if it cannot be watched).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn run_stream(args: &StreamArgs) -> Result<(), Fail> {
    let StreamArgs {
        map,
        sensors,
        to,
        transport,
        trajectories,
        origin,
        seconds,
        seed,
        intersection,
        vehicles_per_hour_per_lane,
        pedestrians_per_hour_per_crosswalk,
    } = args;
    let (to, seed) = (to.as_str(), *seed);
    let transport = match transport {
        TransportArg::Udp => Transport::Udp,
        TransportArg::Tcp => Transport::Tcp,
    };
    if let Some(s) = *seconds {
        if !(s.is_finite() && s > 0.0) {
            return Err(Fail(format!("--seconds {s}: expected a positive number of seconds")));
        }
    }
    for (name, v) in [
        ("--vehicles-per-hour-per-lane", *vehicles_per_hour_per_lane),
        ("--pedestrians-per-hour-per-crosswalk", *pedestrians_per_hour_per_crosswalk),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Fail(format!("{name} {v}: expected a number of at least 0")));
        }
    }
    let x = load_intersection(map, *intersection)?;
    let rig = load_rig(sensors)?;
    let rig_sensors = resolve(&sensors.display().to_string(), &rig, &x)?;
    let kinds: BTreeMap<u32, (SensorKind, f64)> =
        rig_sensors.iter().map(|s| (s.config.id, (s.config.kind, s.config.rate_hz))).collect();
    let address = resolve_address("--to", to)?;
    let end_us = seconds.map(|s| (s * 1e6).round() as i64);
    eprintln!(
        "sim stream: {} sensor(s) of {} at intersection {} to {to} over {}, seed {seed}; Ctrl-C stops",
        rig_sensors.len(),
        sensors.display(),
        x.id,
        transport.name()
    );
    let rt = runtime()?;
    let (report, scene) = match trajectories.as_deref() {
        Some(path) => {
            let (points, origin) = load_trajectories(path, *origin)?;
            let recorded = Recorded::new(GroundTruth::new(&points, &FrameMap::new(origin, &x)));
            if recorded.tracks() == 0 {
                return Err(Fail(format!("{}: no track points", path.display())));
            }
            let end = end_us.map_or(recorded.duration_us() + 1, |e| e.min(recorded.duration_us() + 1));
            eprintln!(
                "sim stream: {} track(s) of {}, {:.1} s",
                recorded.tracks(),
                path.display(),
                recorded.duration_us() as f64 * 1e-6
            );
            let mut schedule = FrameSchedule::new(recorded, rig_sensors, seed, Some(end));
            let report = rt
                .block_on(sim::live::stream(&mut schedule, address, transport, ctrl_c()))
                .map_err(|e| Fail(format!("--to {to}: {e}")))?;
            (report, format!("{} track(s) of {}", schedule.scene().tracks(), path.display()))
        }
        None => {
            let config = TrafficConfig {
                vehicles_per_hour_per_lane: *vehicles_per_hour_per_lane,
                pedestrians_per_hour_per_crosswalk: *pedestrians_per_hour_per_crosswalk,
                seed,
            };
            let mut traffic = SyntheticTraffic::new(&x, &config);
            let layout = traffic.layout();
            eprintln!(
                "sim stream: synthetic traffic on ingress lanes {} ({} vehicles/h each), crosswalks {} ({} pedestrians/h each)",
                list(layout.lanes.iter().map(|l| l.0)),
                config.vehicles_per_hour_per_lane,
                list(layout.crosswalks.iter().copied()),
                config.pedestrians_per_hour_per_crosswalk
            );
            for (lane, why) in &layout.skipped {
                eprintln!("sim stream: no traffic on lane {lane}: {why}");
            }
            // the road users on the road at the start (the scene starts in a steady state)
            let on_road = traffic.objects_at(0).len();
            let before = traffic.spawned().clone();
            let mut schedule = FrameSchedule::new(traffic, rig_sensors, seed, end_us);
            let report = rt
                .block_on(sim::live::stream(&mut schedule, address, transport, ctrl_c()))
                .map_err(|e| Fail(format!("--to {to}: {e}")))?;
            let mut entered = schedule.scene().spawned().clone();
            for (c, n) in entered.iter_mut() {
                *n -= before.get(c).copied().unwrap_or(0);
            }
            entered.retain(|_, n| *n > 0);
            (
                report,
                format!(
                    "synthetic traffic: {on_road} road user(s) on the road at the start, {} entered ({})",
                    entered.values().sum::<u64>(),
                    sim::live::class_counts(&entered)
                ),
            )
        }
    };
    println!(
        "sim stream: {:.1} s to {to} over {}{}",
        report.elapsed_s,
        transport.name(),
        if report.interrupted { " (interrupted)" } else { "" }
    );
    println!("| sensor | kind | frames | rate (Hz, configured) | detections | of road users | bytes | dropped |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (id, (kind, rate)) in &kinds {
        let c = report.sensors.get(id).cloned().unwrap_or_default();
        let kind = match kind {
            SensorKind::Camera => "camera",
            SensorKind::Radar => "radar",
        };
        let measured = if report.elapsed_s > 0.0 { c.frames as f64 / report.elapsed_s } else { 0.0 };
        println!(
            "| {id} | {kind} | {} | {measured:.1} ({rate}) | {} | {} | {} | {} |",
            c.frames, c.detections, c.true_detections, c.bytes, c.dropped
        );
    }
    let total = |f: fn(&sim::live::SensorCounts) -> u64| report.sensors.values().map(f).sum::<u64>();
    println!(
        "{} frame(s), {} detection(s), {} byte(s) sent, {} dropped; {scene}; {} road user(s) detected",
        total(|c| c.frames),
        total(|c| c.detections),
        total(|c| c.bytes),
        total(|c| c.dropped),
        report.objects_detected
    );
    Ok(())
}

fn list(ids: impl Iterator<Item = u8>) -> String {
    let v: Vec<String> = ids.map(|i| i.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn run_controller(args: &ControllerArgs) -> Result<(), Fail> {
    let ControllerArgs { listen, plan: plan_path, intersection_file, intersection } = args;
    let plan =
        sim::controller::parse_plan_file(&plan_path.display().to_string(), &String::from_utf8(read(plan_path)?)?)
            .map_err(Fail)?;
    let groups = match intersection_file {
        Some(map) => {
            let x = load_intersection(map, *intersection)?;
            let groups = sim::controller::intersection_groups(&x);
            sim::controller::check_groups(&plan, &groups)
                .map_err(|e| Fail(format!("{}: {e} in {}", plan_path.display(), map.display())))?;
            let unserved: Vec<u8> = groups.iter().copied().filter(|g| !plan.groups().contains(g)).collect();
            if !unserved.is_empty() {
                eprintln!(
                    "sim signal-controller: warning: the plan never releases signal group(s) {} of intersection {}",
                    list(unserved.into_iter()),
                    x.id
                );
            }
            Some(groups)
        }
        None => None,
    };
    let address = resolve_address("--listen", listen)?;
    let rt = runtime()?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(address).await.map_err(|e| Fail(format!("--listen {listen}: {e}")))?;
        let bound = listener.local_addr()?;
        let controller = sim::controller::Controller::new(plan, sim::live::unix_s(), groups).map_err(Fail)?;
        let p = controller.plan();
        println!("listening on {bound}");
        eprintln!(
            "sim signal-controller: plan {} ({} stages, cycle {} s, offset {} s) from {}; Ctrl-C stops",
            p.id,
            p.stages.len(),
            p.cycle_s(),
            p.offset_s,
            plan_path.display()
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        sim::live::serve_controller(listener, controller, Duration::from_millis(100), ctrl_c()).await?;
        eprintln!("sim signal-controller: stopped");
        Ok(())
    })
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
            let (truth, origin) = load_trajectories(&trajectories, origin)?;
            let x = &load_intersection(&map, intersection)?;
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
            let rig = load_rig(&sensors)?;
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
        Command::Stream(args) => run_stream(&args),
        Command::SignalController(args) => run_controller(&args),
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
