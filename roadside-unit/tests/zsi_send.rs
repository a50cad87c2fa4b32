//! End to end: the real `zsi-send` binary against real sockets, and the worked
//! examples of `docs/sensor-ingest.md` against the code.

use roadside_unit::ingest::{decode_frame, to_bytes, IngestError, Measurement, ObjectClass, SensorFrame};
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_zsi-send");
const DOC: &str = include_str!("../../docs/sensor-ingest.md");

const LINE_1: &str = r#"{"sensor_id":11,"sequence":1,"capture_time_us":1700000000000000,"detections":[{"sensor_object_id":7,"position":{"x_m":12.5,"y_m":-3.0,"cov_m2":[0.09,0.0,0.09]},"class":"car","confidence":0.9,"size_m":[4.5,1.8]},{"polar":{"range_m":48.0,"azimuth_rad":0.1,"radial_speed_mps":-8.5}}]}"#;
const LINE_2: &str = r#"{"sensor_id":21,"sequence":2,"detections":[{"polar":{"range_m":120.25,"azimuth_rad":-0.5,"radial_speed_mps":3.0}}]}"#;

/// Run `zsi-send ARGS` with `stdin` as its standard input.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zsi-send starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// The two frames of `LINE_1` and `LINE_2` as the RSU decodes them (values went through binary32).
fn check_frames(frames: &[SensorFrame], before_us: i64) {
    assert_eq!(frames.len(), 2, "{frames:?}");
    let (a, b) = (&frames[0], &frames[1]);
    assert_eq!((a.sensor_id, a.sequence, a.capture_time_us), (11, 1, 1_700_000_000_000_000));
    assert_eq!(a.detections.len(), 2);
    let d = &a.detections[0];
    assert_eq!(d.sensor_object_id, 7);
    assert_eq!(d.class, Some((ObjectClass::Car, 0.9)));
    assert_eq!(d.size_m, Some([4.5, f64::from(1.8f32)]));
    assert_eq!(
        d.measurement,
        Measurement::Position { x_m: 12.5, y_m: -3.0, cov_m2: [f64::from(0.09f32), 0.0, f64::from(0.09f32)] }
    );
    let d = &a.detections[1];
    assert_eq!((d.sensor_object_id, d.class, d.size_m), (0, None, None));
    assert_eq!(
        d.measurement,
        Measurement::Polar { range_m: 48.0, azimuth_rad: f64::from(0.1f32), radial_speed_mps: -8.5 }
    );
    // no capture time given: the time of sending
    assert_eq!((b.sensor_id, b.sequence), (21, 2));
    assert!(b.capture_time_us >= before_us && b.capture_time_us <= now_us(), "{}", b.capture_time_us);
    assert_eq!(
        b.detections[0].measurement,
        Measurement::Polar { range_m: 120.25, azimuth_rad: -0.5, radial_speed_mps: 3.0 }
    );
}

#[test]
fn udp_one_frame_per_datagram() {
    let rsu = UdpSocket::bind("127.0.0.1:0").unwrap();
    rsu.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let to = rsu.local_addr().unwrap().to_string();
    let before = now_us();
    let o = run(&["--to", &to], &format!("{LINE_1}\n\n{LINE_2}\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("sent 2 frame(s)"), "{}", stderr(&o));
    let mut frames = Vec::new();
    let mut buf = [0u8; 65_536];
    for _ in 0..2 {
        let n = rsu.recv(&mut buf).expect("a datagram");
        frames.push(decode_frame(&buf[..n]).expect("a valid ZSI/1 frame"));
    }
    check_frames(&frames, before);
}

#[test]
fn tcp_length_prefixed_frames() {
    let rsu = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = rsu.local_addr().unwrap().to_string();
    let before = now_us();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = rsu.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        all
    });
    let o = run(&["--to", &to, "--transport", "tcp", "--rate-hz", "50"], &format!("{LINE_1}\n{LINE_2}"));
    assert!(o.status.success(), "{}", stderr(&o));
    let stream = reader.join().unwrap();
    let mut frames = Vec::new();
    let mut rest = &stream[..];
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        frames.push(decode_frame(&rest[4..4 + len]).expect("a valid ZSI/1 frame"));
        rest = &rest[4 + len..];
    }
    check_frames(&frames, before);
}

#[test]
fn a_bad_line_is_named_and_stops_the_run_or_is_skipped() {
    let input = format!("{LINE_1}\n{{\"sensor_id\": 3, \"sequence\": }}\n{LINE_2}\n");
    let o = run(&["--print-hex"], &input);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("zsi-send: <stdin>:2: column 30: not a frame"), "{}", stderr(&o));
    assert!(stderr(&o).contains("stopped at line 2 after 1 frame(s)"), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 1);

    let o = run(&["--print-hex", "--keep-going"], &input);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("<stdin>:2:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 bad line(s) skipped"), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 2);

    // well-formed JSON, but a frame the RSU would refuse
    let o = run(
        &["--print-hex"],
        r#"{"sensor_id":1,"sequence":1,"detections":[{"polar":{"range_m":2500.0,"azimuth_rad":0.0,"radial_speed_mps":0.0}}]}"#,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("<stdin>:1: the RSU would refuse this frame: byte 32: object.range_m: 2500 is outside 0..=2000"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &["--print-hex"],
        r#"{"sensor_id":1,"sequence":1,"detections":[{"polar":{"range_m":1.0,"azimuth_rad":0.0,"radial_speed_mps":0.0},"class":"tram"}]}"#,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown variant `tram`"), "{}", stderr(&o));

    // usage errors: exit 2
    assert_eq!(run(&[], "").status.code(), Some(2));
    assert_eq!(run(&["--to", "127.0.0.1:9", "--rate-hz", "-1"], "").status.code(), Some(2));
}

/// The worked example of the doc: `$ echo 'JSON' | zsi-send --print-hex` followed by the hex line.
fn doc_example() -> (&'static str, &'static str) {
    let mut lines = DOC.lines();
    let command = lines
        .by_ref()
        .find(|l| l.starts_with("$ echo '") && l.ends_with("' | zsi-send --print-hex"))
        .expect("the doc has an `echo '...' | zsi-send --print-hex` example");
    let json = &command["$ echo '".len()..command.len() - "' | zsi-send --print-hex".len()];
    (json, lines.next().expect("the hex line follows the command"))
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn documented_hex_example_is_what_zsi_send_prints() {
    let (json, hex) = doc_example();
    let o = run(&["--print-hex"], json);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim_end(), hex);
    // the annotated layout in the doc is of these 80 bytes, and they decode and re-encode unchanged
    let bytes = unhex(hex);
    assert_eq!(bytes.len(), 80);
    let f = decode_frame(&bytes).unwrap();
    assert_eq!((f.sensor_id, f.sequence, f.capture_time_us), (11, 1, 1_700_000_000_000_000));
    assert_eq!(to_bytes(&f), bytes);
}

/// Every example error message of the doc is exactly what the decoder says (of the worked example,
/// changed at the documented offsets).
#[test]
fn documented_error_messages_are_real() {
    let good = unhex(doc_example().1);
    let with = |at: usize, new: &[u8]| {
        let mut v = good.clone();
        v[at..at + new.len()].copy_from_slice(new);
        v
    };
    type IsKind = fn(&IngestError) -> bool;
    let cases: Vec<(Vec<u8>, IsKind)> = vec![
        (good[..10].to_vec(), |e| matches!(e, IngestError::Truncated { .. })),
        (good[..70].to_vec(), |e| matches!(e, IngestError::Truncated { .. })),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), |e| matches!(e, IngestError::Magic { .. })),
        (with(2, &[2]), |e| matches!(e, IngestError::Version(2))),
        (good[..30].to_vec(), |e| matches!(e, IngestError::Invalid { field: "object_count", .. })),
        (with(24, &[3]), |e| matches!(e, IngestError::Invalid { field: "object.kind", .. })),
        (with(25, &[9]), |e| matches!(e, IngestError::Invalid { field: "object.class", .. })),
        (with(26, &[150]), |e| matches!(e, IngestError::Invalid { field: "object.confidence", .. })),
        (with(32, &f32::NAN.to_le_bytes()), |e| matches!(e, IngestError::Invalid { field: "object.x_m", .. })),
        (with(44, &0.5f32.to_le_bytes()), |e| matches!(e, IngestError::Invalid { field: "object.covariance", .. })),
        ([&good[..], &[0, 0]].concat(), |e| matches!(e, IngestError::Trailing { .. })),
        (vec![0; 70_000], |e| matches!(e, IngestError::TooLarge(70_000))),
    ];
    let mut missing = Vec::new();
    for (bytes, kind) in cases {
        let e = decode_frame(&bytes).unwrap_err();
        assert!(kind(&e), "{e:?}");
        if !DOC.contains(&format!("`{e}`")) {
            missing.push(e.to_string());
        }
    }
    assert!(missing.is_empty(), "not in docs/sensor-ingest.md:\n{}", missing.join("\n"));
}
