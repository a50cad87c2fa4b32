//! End to end: the real `sim stream` and `sim signal-controller` binaries on loopback, random ports.
//! The test plays the RSU: it receives the sensor frames, and connects to the controller.

use roadside_unit::daemon::signal::{FromController, ToController};
use roadside_unit::ingest::{decode_frame, SensorFrame};
use roadside_unit::sensors::parse_sensor_file;
use signal_core::{ControllerState, Plan, Stage};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rig_path() -> PathBuf {
    root().join("sim/examples/sensors-4cam-4radar.toml")
}

/// Sensor id -> configured rate (Hz) of the shipped rig.
fn rig_rates() -> BTreeMap<u32, f64> {
    let text = std::fs::read_to_string(rig_path()).unwrap();
    parse_sensor_file("rig", &text).unwrap().sensors.iter().map(|s| (s.id, s.rate_hz)).collect()
}

fn unix_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// `sim stream` on the 4-leg example and the shipped rig.
fn stream(to: &str, transport: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sim"));
    c.args(["stream", "--map"])
        .arg(root().join("examples/4leg.toml"))
        .arg("--sensors")
        .arg(rig_path())
        .args(["--to", to, "--transport", transport])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Wait for the child at most `limit`; kill it and fail when it takes longer.
fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output(child: &mut Child) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (out, err)
}

/// Send SIGINT (what Ctrl-C sends).
fn interrupt(child: &Child) {
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -INT failed");
}

/// A frame as the RSU received it, with its arrival time (UNIX µs).
struct Received {
    frame: SensorFrame,
    at_us: i64,
}

/// Frames from every sensor of the rig at their configured rates over `seconds`, stamped with the
/// wall clock (plus the sensor's offset of at most 20 ms and less than its latency before arrival),
/// sequences counting up, and with detections.
fn check_frames(frames: &[Received], seconds: f64) {
    let rates = rig_rates();
    let mut by_sensor: BTreeMap<u32, Vec<&Received>> = BTreeMap::new();
    for r in frames {
        by_sensor.entry(r.frame.sensor_id).or_default().push(r);
    }
    assert_eq!(by_sensor.keys().copied().collect::<Vec<_>>(), rates.keys().copied().collect::<Vec<_>>());
    for (id, got) in &by_sensor {
        let expected = rates[id] * seconds;
        let n = got.len() as f64;
        assert!((n - expected).abs() <= 0.25 * expected, "sensor {id}: {n} frames, expected about {expected}");
        let seq: Vec<u32> = got.iter().map(|r| r.frame.sequence).collect();
        assert!(seq.windows(2).all(|w| w[0] < w[1]), "sensor {id}: sequences {seq:?}");
        for r in got {
            // capture = arrival - latency (up to 100 ms + jitter) + clock offset (within ±20 ms);
            // generous for a loaded machine
            let lag = r.at_us - r.frame.capture_time_us;
            assert!((-30_000..1_000_000).contains(&lag), "sensor {id}: received {lag} µs after its capture stamp");
        }
        let detections: usize = got.iter().map(|r| r.frame.detections.len()).sum();
        assert!(detections as f64 > n, "sensor {id}: {detections} detections in {n} frames");
    }
}

#[test]
fn stream_over_udp() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let to = socket.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = stream(&to, "udp").args(["--seconds", "2", "--vehicles-per-hour-per-lane", "600"]).spawn().unwrap();
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut exited = None;
    // until the child has exited and nothing more arrives
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                let frame = decode_frame(&buf[..n]).expect("a ZSI/1 frame");
                frames.push(Received { frame, at_us: unix_us() });
            }
            Err(_) if exited.is_some() => break,
            Err(_) => {}
        }
        if exited.is_none() {
            exited = child.try_wait().unwrap();
            assert!(started.elapsed() < Duration::from_secs(8), "still running after 8 s");
        }
    }
    let status = exited.unwrap();
    let (out, err) = output(&mut child);
    assert!(status.success(), "{status}\n{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
    check_frames(&frames, 2.0);
    assert!(out.contains("| 11 | camera |") && out.contains("| 24 | radar |"), "{out}");
    assert!(out.contains("synthetic traffic:") && out.contains("road user(s) detected"), "{out}");
}

/// Frames of one TCP connection: u32 little-endian length, then the frame.
fn read_tcp_frames(mut s: TcpStream) -> Vec<Received> {
    let mut frames = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return frames;
        }
        let mut frame = vec![0u8; u32::from_le_bytes(len) as usize];
        s.read_exact(&mut frame).expect("a whole frame after its length");
        frames.push(Received { frame: decode_frame(&frame).expect("a ZSI/1 frame"), at_us: unix_us() });
    }
}

#[test]
fn stream_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = stream(&to, "tcp").args(["--seconds", "2", "--seed", "5"]).spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    let frames = read_tcp_frames(conn);
    let status = wait(&mut child, Duration::from_secs(8));
    let (out, err) = output(&mut child);
    assert!(status.success(), "{status}\n{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
    check_frames(&frames, 2.0);
    assert!(err.contains("over tcp"), "{err}");
}

#[test]
fn stream_refuses_an_unreachable_tcp_address() {
    // a port that was free a moment ago: nobody listens there
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = stream(&format!("127.0.0.1:{port}"), "tcp").args(["--seconds", "1"]).spawn().unwrap();
    let status = wait(&mut child, Duration::from_secs(5));
    let (_, err) = output(&mut child);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&port.to_string()), "{err}");
}

/// Frames of a UDP socket until `quiet` passes without one.
fn collect_udp(socket: &UdpSocket, quiet: Duration) -> Vec<SensorFrame> {
    socket.set_read_timeout(Some(quiet)).unwrap();
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        frames.push(decode_frame(&buf[..n]).unwrap());
    }
    frames
}

#[test]
fn the_same_seed_sends_the_same_content() {
    let run = || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap().to_string();
        let child = stream(&to, "udp").args(["--seconds", "1", "--seed", "42"]).spawn().unwrap();
        (socket, child)
    };
    // both at once: the content must not depend on the wall clock
    let ((a, mut ca), (b, mut cb)) = (run(), run());
    let (fa, fb) = std::thread::scope(|s| {
        let ha = s.spawn(|| collect_udp(&a, Duration::from_millis(1500)));
        let hb = s.spawn(|| collect_udp(&b, Duration::from_millis(1500)));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(wait(&mut ca, Duration::from_secs(5)).success());
    assert!(wait(&mut cb, Duration::from_secs(5)).success());
    let content = |mut v: Vec<SensorFrame>| {
        v.sort_by_key(|f| (f.sensor_id, f.sequence));
        v.into_iter().map(|f| (f.sensor_id, f.sequence, f.detections)).collect::<Vec<_>>()
    };
    let (fa, fb) = (content(fa), content(fb));
    assert!(fa.len() > 50, "{}", fa.len());
    assert_eq!(fa, fb);
}

#[test]
fn stream_replays_trajectories_until_they_end_and_stops_on_ctrl_c() {
    // two cars driving south through the 4-leg example for 1.5 s, about its reference point
    let dir = std::env::temp_dir().join(format!("zhilu-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracks = dir.join("tracks.csv");
    let mut csv = String::from("track_id,frame_id,timestamp_ms,agent_type,x,y,vx,vy,psi_rad,length,width\n");
    for f in 0..=15 {
        let t = f as f64 * 0.1;
        for (id, x) in [(1, -5.25), (2, -8.75)] {
            let y = 60.0 - 12.0 * t;
            csv += &format!("{id},{f},{},Car,{x},{y:.3},0,-12,-1.5708,4.5,1.8\n", 1_000_000 + f * 100);
        }
    }
    std::fs::write(&tracks, csv).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = socket.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = stream(&to, "udp")
        .arg("--trajectories")
        .arg(&tracks)
        .args(["--origin", "23.129,113.264", "--seconds", "30"])
        .spawn()
        .unwrap();
    let frames = collect_udp(&socket, Duration::from_millis(1500));
    let status = wait(&mut child, Duration::from_secs(8));
    let (out, err) = output(&mut child);
    assert!(status.success(), "{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(6), "the recording lasts 1.5 s: {:?}", started.elapsed());
    let ids: BTreeSet<u32> = frames.iter().map(|f| f.sensor_id).collect();
    assert_eq!(ids, rig_rates().keys().copied().collect());
    assert!(out.contains("2 track(s)") && out.contains("2 road user(s) detected"), "{out}");

    // synthetic traffic without --seconds runs until Ctrl-C, then reports
    let mut child = stream(&to, "udp").spawn().unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65_536];
    socket.recv_from(&mut buf).expect("frames arrive");
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let status = wait(&mut child, Duration::from_secs(5));
    let (out, err) = output(&mut child);
    assert!(status.success(), "{status}\n{out}\n{err}");
    assert!(out.contains("(interrupted)") && out.contains("| 21 | radar |"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// sim signal-controller

fn stage(groups: &[u8]) -> Stage {
    Stage::fixed(groups, 3.0, 1.0, 1.0)
}

/// A short plan (10 s cycle) on the 4-leg example's through groups, so stage boundaries come often.
fn short_plan() -> Plan {
    Plan { id: 1, offset_s: 0.0, stages: vec![stage(&[2, 6]), stage(&[4, 8])] }
}

struct Controller {
    child: Child,
    address: String,
    dir: PathBuf,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// `sim signal-controller` on port 0 with this plan file, checked against the 4-leg example.
fn spawn_controller(plan_toml: &str) -> (Child, PathBuf) {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "zhilu-controller-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("plan.toml");
    std::fs::write(&plan, plan_toml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["signal-controller", "--listen", "127.0.0.1:0", "--plan"])
        .arg(&plan)
        .arg("--intersection-file")
        .arg(root().join("examples/4leg.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir)
}

/// A running controller and the address it listens on.
fn controller(plan_toml: &str) -> Controller {
    let (mut child, dir) = spawn_controller(plan_toml);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    Controller { child, address, dir }
}

struct Rsu {
    lines: BufReader<TcpStream>,
    write: TcpStream,
}

impl Rsu {
    fn connect(address: &str) -> Self {
        let s = TcpStream::connect(address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        Rsu { lines: BufReader::new(s.try_clone().unwrap()), write: s }
    }

    fn state(&mut self) -> ControllerState {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("a state line within 3 s");
        let FromController::State(s) = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        s
    }

    fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).unwrap();
        self.write.write_all(b"\n").unwrap();
    }
}

fn greens(s: &ControllerState) -> BTreeSet<u8> {
    s.groups.iter().filter(|g| g.light.is_green()).map(|g| g.group).collect()
}

/// The greens are one stage's groups (the running stage's, during its green) or none.
fn check_greens(s: &ControllerState, plans: &[&Plan]) {
    let g = greens(s);
    let plan = plans.iter().find(|p| p.id == s.plan_id).unwrap_or_else(|| panic!("plan {}", s.plan_id));
    let stage: BTreeSet<u8> = plan.stages[s.stage].groups.iter().copied().collect();
    assert!(g.is_empty() || g == stage, "greens {g:?} in plan {} stage {} ({stage:?})", s.plan_id, s.stage);
}

#[test]
fn the_controller_reports_states_and_runs_commanded_plans_at_a_stage_boundary() {
    let plan = short_plan();
    let ctl = controller(&toml::to_string(&plan).unwrap());
    let mut rsu = Rsu::connect(&ctl.address);
    // states advance, 10 a second, on UNIX time
    let first = rsu.state();
    let now = unix_us() as f64 * 1e-6;
    assert!((first.time_s - now).abs() < 1.0, "{} vs {now}", first.time_s);
    let mut last = first;
    let mut times = Vec::new();
    let mut seen_stages = BTreeSet::new();
    for _ in 0..30 {
        let s = rsu.state();
        assert!(s.time_s > last.time_s, "{} after {}", s.time_s, last.time_s);
        assert_eq!(s.plan_id, 1);
        check_greens(&s, &[&plan]);
        seen_stages.insert((s.stage, greens(&s).into_iter().collect::<Vec<_>>()));
        times.push(s.time_s);
        last = s;
    }
    let mean = (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64;
    assert!((0.08..0.15).contains(&mean), "a state every {mean} s");
    assert!(seen_stages.len() >= 2, "{seen_stages:?}");

    // garbage, an over-long line and refused plans change nothing
    rsu.send("garbage");
    rsu.send(&"x".repeat(1_500_000));
    let mut bad = plan.clone();
    bad.id = 9;
    bad.stages[0].groups = vec![2, 99];
    rsu.send(&serde_json::to_string(&ToController::Plan { plan: bad.clone() }).unwrap());
    bad.stages[0].groups = vec![2];
    bad.stages[0].yellow_s = 30.0;
    rsu.send(&serde_json::to_string(&ToController::Plan { plan: bad }).unwrap());
    rsu.send(r#"{"type":"plan","plan":{"id":3}}"#);

    // a good plan takes over at the next stage boundary
    let next = Plan { id: 2, offset_s: 0.0, stages: vec![stage(&[1, 5]), stage(&[3, 7])] };
    rsu.send(&serde_json::to_string(&ToController::Plan { plan: next.clone() }).unwrap());
    let sent_at = unix_us() as f64 * 1e-6;
    let mut before = last;
    let after = loop {
        let s = rsu.state();
        check_greens(&s, &[&plan, &next]);
        if s.plan_id != 1 {
            break s;
        }
        assert!(s.time_s < sent_at + 6.0, "plan 2 not running 6 s after the command");
        before = s;
    };
    assert_eq!(after.plan_id, 2);
    // plan 1 ended in its all-red and plan 2 began with a green at the boundary between the states
    assert!(greens(&before).is_empty(), "{before:?}");
    let g = greens(&after);
    assert_eq!(g, next.stages[after.stage].groups.iter().copied().collect::<BTreeSet<u8>>());
    for gs in after.groups.iter().filter(|gs| g.contains(&gs.group)) {
        assert!(gs.start_s > before.time_s && gs.start_s <= after.time_s, "{gs:?}");
    }
    let mut ctl = ctl;
    assert!(ctl.child.try_wait().unwrap().is_none(), "the controller keeps running");
    let mut err = String::new();
    interrupt(&ctl.child);
    let status = wait(&mut ctl.child, Duration::from_secs(5));
    ctl.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{status}\n{err}");
    assert!(err.contains("line 1: not a zhilu-signal/1 message"), "{err}");
    assert!(err.contains("line 2: 1500001 bytes"), "{err}");
    assert!(err.contains("group 99 is not a signal group"), "{err}");
    assert!(err.contains("yellow_s = 30"), "{err}");
    assert!(err.contains("plan 2 queued"), "{err}");
}

#[test]
fn a_new_connection_replaces_the_old_one() {
    let ctl = controller(&format!(
        "[plan]\n{}",
        toml::to_string(&short_plan()).unwrap().replace("[[stages]]", "[[plan.stages]]")
    ));
    let mut a = Rsu::connect(&ctl.address);
    a.state();
    let mut b = Rsu::connect(&ctl.address);
    b.state();
    // a's connection is closed: after what was in flight, the end of the stream
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut line = String::new();
        match a.lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "the old connection still gets states"),
        }
    }
    for _ in 0..5 {
        b.state();
    }
}

#[test]
fn the_controller_refuses_a_plan_that_does_not_fit_the_map() {
    let mut plan = short_plan();
    plan.stages[1].groups = vec![4, 42];
    let (mut child, dir) = spawn_controller(&toml::to_string(&plan).unwrap());
    let status = wait(&mut child, Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).ok();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("plan.toml") && err.contains("stages[1].groups: group 42"), "{err}");
}
