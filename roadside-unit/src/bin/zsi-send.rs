//! `zsi-send`: the reference ZSI/1 sender.  Reads sensor frames as JSON lines
//! (one frame per line), encodes each with `roadside_unit::ingest` and sends
//! it to an RSU over UDP (one frame per datagram) or TCP (each frame preceded
//! by its length, `u32` little-endian), optionally paced; or prints the
//! encoded frames as hex.  The JSON shape and the wire format are documented
//! in `docs/sensor-ingest.md`.
//!
//! Exit status: 0 success, 1 invalid input (a line that is not a frame, or a
//! frame the RSU would refuse), 2 usage or I/O error (unreadable input,
//! unresolvable address, connection or send failure).

use clap::{Parser, ValueEnum};
use roadside_unit::ingest::{self, Detection, Measurement, ObjectClass, SensorFrame};
use serde::Deserialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "zsi-send",
    version,
    about = "Send sensor frames (JSON lines) to a Zhilu roadside unit as ZSI/1 over UDP or TCP.",
    long_about = "zsi-send: the reference sender of the Zhilu sensor ingest protocol ZSI/1.\n\n\
Reads frames as JSON lines, one frame per line, from FILE or standard input, encodes each as a ZSI/1 frame \
and sends it to the RSU at --to: over UDP one frame per datagram, over TCP each frame preceded by its length \
(u32, little-endian). A line looks like\n\n  \
{\"sensor_id\":11,\"sequence\":1,\"capture_time_us\":1700000000000000,\"detections\":[\
{\"position\":{\"x_m\":12.5,\"y_m\":-3.0,\"cov_m2\":[0.09,0.0,0.09]},\"class\":\"car\",\"confidence\":0.9,\"size_m\":[4.5,1.8]},\
{\"polar\":{\"range_m\":48.0,\"azimuth_rad\":0.1,\"radial_speed_mps\":-8.5}}]}\n\n\
capture_time_us (sensor clock, microseconds since the UNIX epoch) may be left out: the time of sending is used. \
Each detection has either `position` (x forward along the boresight, y left, metres; covariance [var_x, cov_xy, var_y] m²) \
or `polar` (range m, azimuth rad counter-clockwise from the boresight, radial speed m/s positive away); optional \
`sensor_object_id`, `class` (car, truck, bus, bike, motorcycle, pedestrian) with `confidence` (0..1, default 1) \
and `size_m` [length, width]. Values travel as binary32. Blank lines are skipped. Every frame is checked with the RSU's \
own decoder before it is sent, so a frame the RSU would refuse is reported here instead.\n\n\
A bad line is reported as FILE:LINE and stops the run, or with --keep-going is skipped. \
See docs/sensor-ingest.md.\n\n\
Exit status: 0 success, 1 invalid input (a bad line, a frame the RSU would refuse), 2 usage or I/O error.",
    after_help = "Examples:\n  zsi-send frames.jsonl --to 192.0.2.10:47100\n  \
zsi-send frames.jsonl --to rsu.local:47100 --transport tcp --rate-hz 10\n  \
echo '{\"sensor_id\":21,\"sequence\":1,\"detections\":[]}' | zsi-send --to 127.0.0.1:47100\n  \
zsi-send frames.jsonl --print-hex"
)]
struct Cli {
    /// JSON-lines file, one frame per line; `-` or none: standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
    /// The RSU's ingest address, HOST:PORT (required unless --print-hex).
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "print_hex")]
    to: Option<String>,
    /// Transport: udp (one frame per datagram) or tcp (u32 little-endian length before each frame).
    #[arg(long, value_enum, default_value = "udp")]
    transport: Transport,
    /// Send evenly paced at this many frames per second; default: as fast as they are read.
    #[arg(long, value_name = "HZ")]
    rate_hz: Option<f64>,
    /// On a bad line, report it and go on with the next one (exit status 1 at the end);
    /// default: stop at the first bad line.
    #[arg(long)]
    keep_going: bool,
    /// Print each encoded frame as one line of hex on stdout instead of sending it.
    #[arg(long, conflicts_with_all = ["to", "rate_hz"])]
    print_hex: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// One frame per UDP datagram.
    Udp,
    /// One TCP connection; each frame preceded by its length (u32, little-endian).
    Tcp,
}

/// One line of input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFrame {
    sensor_id: u32,
    sequence: u32,
    #[serde(default)]
    capture_time_us: Option<i64>,
    #[serde(default)]
    detections: Vec<JsonDetection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDetection {
    #[serde(default)]
    sensor_object_id: u32,
    #[serde(default)]
    position: Option<JsonPosition>,
    #[serde(default)]
    polar: Option<JsonPolar>,
    #[serde(default)]
    class: Option<ObjectClass>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    size_m: Option<[f64; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPosition {
    x_m: f64,
    y_m: f64,
    cov_m2: [f64; 3],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPolar {
    range_m: f64,
    azimuth_rad: f64,
    radial_speed_mps: f64,
}

impl JsonDetection {
    fn into_detection(self, i: usize) -> Result<Detection, String> {
        let measurement = match (self.position, self.polar) {
            (Some(p), None) => Measurement::Position { x_m: p.x_m, y_m: p.y_m, cov_m2: p.cov_m2 },
            (None, Some(p)) => Measurement::Polar {
                range_m: p.range_m,
                azimuth_rad: p.azimuth_rad,
                radial_speed_mps: p.radial_speed_mps,
            },
            (Some(_), Some(_)) => return Err(format!("detections[{i}]: has both `position` and `polar`; give one")),
            (None, None) => return Err(format!("detections[{i}]: needs `position` or `polar`")),
        };
        let class = match (self.class, self.confidence) {
            (None, None) => None,
            (None, Some(_)) => return Err(format!("detections[{i}]: `confidence` without `class`")),
            (Some(c), p) => {
                let p = p.unwrap_or(1.0);
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("detections[{i}]: confidence {p} is not within 0..=1"));
                }
                Some((c, p))
            }
        };
        Ok(Detection { sensor_object_id: self.sensor_object_id, measurement, class, size_m: self.size_m })
    }
}

/// A frame read from one line; `capture_time_us` is `None` when the line leaves it to the sender.
struct Parsed {
    frame: SensorFrame,
    time_given: bool,
}

/// Parse one line into a frame and check that the RSU would accept its encoding.
fn parse_line(line: &[u8]) -> Result<Parsed, String> {
    let j: JsonFrame = serde_json::from_slice(line).map_err(|e| {
        // each line is its own document: keep the column, drop serde_json's "line 1"
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text);
        format!("column {}: not a frame: {message}", e.column())
    })?;
    let detections =
        j.detections.into_iter().enumerate().map(|(i, d)| d.into_detection(i)).collect::<Result<Vec<_>, _>>()?;
    let frame = SensorFrame {
        sensor_id: j.sensor_id,
        sequence: j.sequence,
        capture_time_us: j.capture_time_us.unwrap_or(0),
        detections,
    };
    ingest::decode_frame(&ingest::to_bytes(&frame)).map_err(|e| format!("the RSU would refuse this frame: {e}"))?;
    Ok(Parsed { frame, time_given: j.capture_time_us.is_some() })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where frames go.
enum Sink {
    Hex(io::Stdout),
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

impl Sink {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            Sink::Hex(out) => writeln!(out.lock(), "{}", hex(frame)),
            Sink::Udp(socket, to) => socket.send_to(frame, *to).map(drop),
            Sink::Tcp(stream) => {
                let len = u32::try_from(frame.len()).map_err(io::Error::other)?;
                let mut buf = Vec::with_capacity(4 + frame.len());
                buf.extend_from_slice(&len.to_le_bytes());
                buf.extend_from_slice(frame);
                stream.write_all(&buf)
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Hex(out) => out.lock().flush(),
            Sink::Udp(..) => Ok(()),
            Sink::Tcp(mut stream) => {
                stream.flush()?;
                stream.shutdown(std::net::Shutdown::Write)
            }
        }
    }
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

/// A usage or I/O failure (exit status 2).
fn exit2(message: String) -> Failure {
    Failure { code: 2, message }
}

fn open_sink(cli: &Cli) -> Result<(Sink, String), Failure> {
    let Some(to) = cli.to.as_deref().filter(|_| !cli.print_hex) else {
        return Ok((Sink::Hex(io::stdout()), String::new()));
    };
    let addr = to
        .to_socket_addrs()
        .map_err(|e| exit2(format!("--to {to}: {e} (expected HOST:PORT)")))?
        .next()
        .ok_or_else(|| exit2(format!("--to {to}: the name has no address")))?;
    let sink = match cli.transport {
        Transport::Udp => {
            let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
            let socket = UdpSocket::bind(local).map_err(|e| exit2(format!("cannot open a UDP socket: {e}")))?;
            Sink::Udp(socket, addr)
        }
        Transport::Tcp => {
            let stream =
                TcpStream::connect(addr).map_err(|e| exit2(format!("cannot connect to {to} ({addr}): {e}")))?;
            // frames are small and paced: send each at once
            let _ = stream.set_nodelay(true);
            Sink::Tcp(stream)
        }
    };
    let how = match cli.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    let resolved = if addr.to_string() == to { String::new() } else { format!(" ({addr})") };
    Ok((sink, format!(" to {to}{resolved} over {how}")))
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let period = match cli.rate_hz {
        None => None,
        Some(hz) if hz.is_finite() && hz > 0.0 => Some(Duration::from_secs_f64(1.0 / hz)),
        Some(hz) => return Err(exit2(format!("--rate-hz {hz}: must be a positive number"))),
    };
    let (name, mut input): (String, Box<dyn BufRead>) = match &cli.input {
        None => ("<stdin>".into(), Box::new(BufReader::new(io::stdin()))),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".into(), Box::new(BufReader::new(io::stdin()))),
        Some(p) => {
            let f = File::open(p).map_err(|e| exit2(format!("{}: {e}", p.display())))?;
            (p.display().to_string(), Box::new(BufReader::new(f)))
        }
    };
    let (mut sink, destination) = open_sink(cli)?;
    let (mut sent, mut bytes, mut bad) = (0u64, 0usize, 0u64);
    let mut start: Option<Instant> = None;
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(|e| exit2(format!("{name}: line {number}: {e}")))?;
        if n == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut parsed = match parse_line(&line) {
            Ok(p) => p,
            Err(message) => {
                eprintln!("zsi-send: {name}:{number}: {message}");
                bad += 1;
                if cli.keep_going {
                    continue;
                }
                return Err(Failure {
                    code: 1,
                    message: format!("stopped at line {number} after {sent} frame(s) (--keep-going skips bad lines)"),
                });
            }
        };
        if let Some(period) = period {
            let t0 = *start.get_or_insert_with(Instant::now);
            let due = t0 + period.mul_f64(sent as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        if !parsed.time_given {
            parsed.frame.capture_time_us = roadside_unit::clock::now_unix_us();
        }
        let frame = ingest::to_bytes(&parsed.frame);
        sink.send(&frame).map_err(|e| exit2(format!("{name}:{number}: sending failed{destination}: {e}")))?;
        sent += 1;
        bytes += frame.len();
    }
    sink.finish().map_err(|e| exit2(format!("finishing{destination}: {e}")))?;
    let verb = if cli.print_hex { "encoded" } else { "sent" };
    eprintln!("zsi-send: {verb} {sent} frame(s), {bytes} bytes{destination}");
    if bad > 0 {
        return Err(Failure { code: 1, message: format!("{bad} bad line(s) skipped") });
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("zsi-send: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
