//! Fusion core cost: one fusion cycle (50 ms of input: the frames of 8 sensors — 4 cameras at
//! 10 Hz and 4 radars at 20 Hz — then `advance`) with N objects in view, on one core.
//! Reports p50 / p99 / max per cycle for N = 10 .. 1000; the target is p99 < 0.5 ms at N = 200.
//!
//! `cargo bench -p zhilu-benches --bench fusion`
//!
//! A custom harness (not criterion) because the target is a percentile of single cycles.

use roadside_unit::fusion::{Fusion, FusionConfig};
use roadside_unit::sensors::{parse_sensor_file, PoseConfig, Sensor};
use sim::sensors::{SensorModel, TrueObject};
use std::time::Instant;

/// 8 sensors around a 300 m x 300 m area, each seeing all of it (wide field of view).
fn rig() -> Vec<Sensor> {
    let mut text = String::from("format = \"zhilu-sensors/1\"\n");
    for (i, (x, y, h)) in
        [(0.0, -170.0, 0.0), (170.0, 0.0, 270.0), (0.0, 170.0, 180.0), (-170.0, 0.0, 90.0)].iter().enumerate()
    {
        for (kind, id, rate, extra) in [
            ("camera", 11 + i, 10.0, "errors = { detection_probability = 0.9, false_alarms_per_frame = 0.5, class_confusion = 0.05 }\nnoise = { lateral_m = 0.3, longitudinal_m = 0.3, longitudinal_per_m = 0.02 }"),
            ("radar", 21 + i, 20.0, "errors = { detection_probability = 0.85, pedestrian_detection_probability = 0.5, false_alarms_per_frame = 2.0 }"),
        ] {
            text += &format!(
                "[[sensor]]\nid = {id}\nkind = \"{kind}\"\npose = {{ x_m = {x}, y_m = {y}, heading_deg = {h} }}\nfov_deg = 120.0\nrange_m = 400.0\nrate_hz = {rate}\n{extra}\n"
            );
        }
    }
    let f = parse_sensor_file("bench", &text).expect("rig");
    f.sensors
        .into_iter()
        .map(|c| {
            let PoseConfig::Local { x_m, y_m, heading_deg } = c.pose else { unreachable!() };
            Sensor { config: c, position_m: [x_m, y_m], yaw_rad: (90.0 - heading_deg).to_radians() }
        })
        .collect()
}

/// N objects on a grid of lanes, driving at 8-15 m/s in both directions.
fn objects(n: usize, t_s: f64) -> Vec<TrueObject> {
    (0..n)
        .map(|i| {
            let lane = (i % 40) as f64;
            let dir = if i % 2 == 0 { 1.0 } else { -1.0 };
            let speed = 8.0 + (i % 7) as f64;
            let along = ((i / 40) as f64 * 25.0 + dir * speed * t_s).rem_euclid(300.0) - 150.0;
            let (p, v) = if (i / 20) % 2 == 0 {
                ([along, -100.0 + lane * 5.0], [dir * speed, 0.0])
            } else {
                ([-100.0 + lane * 5.0, along], [0.0, dir * speed])
            };
            TrueObject {
                id: i as u64 + 1,
                class: roadside_unit::ingest::ObjectClass::Car,
                position_m: p,
                velocity_mps: v,
                size_m: [4.5, 1.8],
            }
        })
        .collect()
}

fn run(n: usize) -> (f64, f64, f64, usize, f64) {
    let sensors = rig();
    let mut models: Vec<SensorModel> = sensors.iter().map(|s| SensorModel::new(s.clone(), 7, 0)).collect();
    let mut fusion = Fusion::new(FusionConfig::default(), sensors);
    let cycle_us = 50_000;
    let (warm, cycles) = (40, 400);
    let mut times = Vec::with_capacity(cycles);
    // generate every frame first, so that only fusion runs in the measured loop
    let end = (warm + cycles) as i64 * cycle_us;
    let mut frames = Vec::new();
    for m in &mut models {
        while m.next_capture_us() <= end {
            let t = m.next_capture_us();
            frames.push(m.capture(&objects(n, t as f64 * 1e-6)));
        }
    }
    frames.sort_by_key(|d| d.arrival_us);
    let mut next = frames.into_iter().peekable();
    let mut frames_fused = 0usize;
    for c in 0..warm + cycles {
        let now = (c as i64 + 1) * cycle_us;
        let mut ready = Vec::new();
        while let Some(d) = next.next_if(|d| d.arrival_us <= now) {
            ready.push(d);
        }
        if c >= warm {
            frames_fused += ready.len();
        }
        let start = Instant::now();
        for d in ready {
            let _ = fusion.push(d.frame, d.arrival_us);
        }
        fusion.advance(now);
        let dt = start.elapsed().as_secs_f64() * 1e3;
        if c >= warm {
            times.push(dt);
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let per_frame = times.iter().sum::<f64>() / frames_fused.max(1) as f64;
    (q(0.5), q(0.99), times[times.len() - 1], fusion.output(0).len(), per_frame)
}

fn main() {
    println!("fusion cycle (50 ms of frames from 4 cameras at 10 Hz and 4 radars at 20 Hz, then advance), one core");
    println!("| objects | p50 (ms) | p99 (ms) | max (ms) | mean per sensor frame (ms) | confirmed tracks |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in [10, 50, 100, 200, 500, 1000] {
        let (p50, p99, max, tracks, per_frame) = run(n);
        println!("| {n} | {p50:.3} | {p99:.3} | {max:.3} | {per_frame:.3} | {tracks} |");
    }
}
