//! The network side of the live modes: sending a [`FrameSchedule`]'s frames to an RSU on the
//! wall clock (`sim stream`) and serving a [`Controller`] over `zhilu-signal/1`
//! (`sim signal-controller`).  Everything that decides *what* is sent lives in the sans-IO
//! modules; here only sockets, clocks and logging (to standard error).

use crate::controller::{Controller, LineOutcome};
use crate::stream::{FrameSchedule, Scene};
use roadside_unit::ingest::{self, ObjectClass};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::{sleep_until, timeout, Instant};

/// Seconds since the UNIX epoch now.
pub use roadside_unit::clock::now_unix_s as unix_s;
/// Microseconds since the UNIX epoch now (the RSU's wall clock).
pub use roadside_unit::clock::now_unix_us as unix_us;

/// How frames travel to the RSU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One frame per UDP datagram.
    Udp,
    /// One TCP connection, each frame preceded by its length (`u32` little-endian).
    Tcp,
}

impl Transport {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Longest wait for a TCP write or connect before the connection counts as lost.
const TCP_TIMEOUT: Duration = Duration::from_secs(1);

enum Sink {
    Udp(UdpSocket, SocketAddr),
    /// The connection (none while lost) and when to try again.
    Tcp(Option<TcpStream>, SocketAddr, Instant),
}

impl Sink {
    async fn open(to: SocketAddr, transport: Transport) -> io::Result<Sink> {
        match transport {
            Transport::Udp => {
                let local: SocketAddr = if to.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
                Ok(Sink::Udp(UdpSocket::bind(local).await?, to))
            }
            Transport::Tcp => Ok(Sink::Tcp(Some(connect(to).await?), to, Instant::now())),
        }
    }

    /// Send one frame; `Ok(false)` when it was dropped (TCP connection lost, reconnecting).
    async fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        match self {
            Sink::Udp(socket, to) => socket.send_to(frame, *to).await.map(|_| true),
            Sink::Tcp(stream, to, retry_at) => {
                if stream.is_none() && Instant::now() >= *retry_at {
                    *retry_at = Instant::now() + Duration::from_secs(1);
                    match connect(*to).await {
                        Ok(s) => {
                            eprintln!("sim stream: reconnected to {to}");
                            *stream = Some(s);
                        }
                        Err(e) => eprintln!("sim stream: {to}: {e}; frames are dropped, retrying every second"),
                    }
                }
                let Some(s) = stream else { return Ok(false) };
                let len = u32::try_from(frame.len()).map_err(io::Error::other)?;
                let mut buf = Vec::with_capacity(4 + frame.len());
                buf.extend_from_slice(&len.to_le_bytes());
                buf.extend_from_slice(frame);
                let written = timeout(TCP_TIMEOUT, s.write_all(&buf)).await;
                match written {
                    Ok(Ok(())) => Ok(true),
                    Ok(Err(e)) => {
                        eprintln!("sim stream: connection to {to} lost: {e}; reconnecting");
                        *stream = None;
                        Ok(false)
                    }
                    Err(_) => {
                        eprintln!("sim stream: {to} takes no data for {TCP_TIMEOUT:?}; reconnecting");
                        *stream = None;
                        Ok(false)
                    }
                }
            }
        }
    }

    async fn finish(self) {
        if let Sink::Tcp(Some(mut s), ..) = self {
            let _ = s.shutdown().await;
        }
    }
}

async fn connect(to: SocketAddr) -> io::Result<TcpStream> {
    let s = timeout(TCP_TIMEOUT, TcpStream::connect(to))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {TCP_TIMEOUT:?}")))??;
    // frames are small and due now: send each at once
    s.set_nodelay(true)?;
    Ok(s)
}

/// Per-sensor counts of a stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensorCounts {
    /// Frames sent.
    pub frames: u64,
    /// Detections in them.
    pub detections: u64,
    /// Of those, detections of a road user (not false alarms or clutter).
    pub true_detections: u64,
    /// Bytes sent (frames, without the TCP length prefix).
    pub bytes: u64,
    /// Frames not sent (TCP connection lost, or a send error).
    pub dropped: u64,
}

/// What a stream sent.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    /// By sensor id.
    pub sensors: BTreeMap<u32, SensorCounts>,
    /// Distinct road users detected at least once.
    pub objects_detected: usize,
    /// Wall-clock seconds from the start to the last frame.
    pub elapsed_s: f64,
    /// Stopped by the caller (Ctrl-C) rather than at the end.
    pub interrupted: bool,
}

/// Send `schedule`'s frames to `to` at their arrival times on the wall clock until it ends or
/// `stop` completes.  Simulated time 0 is now: a frame goes out at start + its arrival time and is
/// stamped with the UNIX time of start + its (sensor-clock) capture time.  Fails only when the
/// socket cannot be opened (or the first TCP connection made); later send errors are counted.
pub async fn stream<S: Scene>(
    schedule: &mut FrameSchedule<S>,
    to: SocketAddr,
    transport: Transport,
    stop: impl Future<Output = ()>,
) -> io::Result<StreamReport> {
    let mut sink = Sink::open(to, transport).await?;
    let mut report = StreamReport::default();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut send_errors = 0u64;
    let (start, start_unix_us) = (Instant::now(), unix_us());
    tokio::pin!(stop);
    for d in schedule.by_ref() {
        let due = start + Duration::from_micros(u64::try_from(d.arrival_us).unwrap_or(0));
        tokio::select! {
            _ = sleep_until(due) => {}
            _ = &mut stop => { report.interrupted = true; break; }
        }
        let mut frame = d.frame;
        frame.capture_time_us = frame.capture_time_us.saturating_add(start_unix_us);
        let bytes = ingest::to_bytes(&frame);
        let counts = report.sensors.entry(frame.sensor_id).or_default();
        let sent = match sink.send(&bytes).await {
            Ok(sent) => sent,
            Err(e) => {
                send_errors += 1;
                if send_errors <= 3 {
                    eprintln!("sim stream: sending to {to} failed: {e}");
                }
                false
            }
        };
        if !sent {
            counts.dropped += 1;
            continue;
        }
        counts.frames += 1;
        counts.bytes += bytes.len() as u64;
        counts.detections += frame.detections.len() as u64;
        counts.true_detections += d.truth.iter().flatten().count() as u64;
        seen.extend(d.truth.iter().flatten());
    }
    sink.finish().await;
    report.objects_detected = seen.len();
    report.elapsed_s = start.elapsed().as_secs_f64();
    if send_errors > 3 {
        eprintln!("sim stream: {send_errors} sends failed in all");
    }
    Ok(report)
}

/// Class counts as `car 12, truck 1`.
pub fn class_counts(counts: &BTreeMap<ObjectClass, u64>) -> String {
    let names: Vec<String> = counts.iter().map(|(c, n)| format!("{} {n}", format!("{c:?}").to_lowercase())).collect();
    names.join(", ")
}

/// Longest line accepted from the RSU; longer ones are discarded whole.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Lines of a connection, bounded: `Some(Err(n))` for a line of `n` bytes that was too long.
/// Cancel-safe (what was read stays in the buffer).
struct Lines {
    reader: BufReader<OwnedReadHalf>,
    buf: Vec<u8>,
    /// Bytes of an over-long line dropped so far.
    dropping: Option<usize>,
}

impl Lines {
    fn new(read: OwnedReadHalf) -> Self {
        Lines { reader: BufReader::new(read), buf: Vec::new(), dropping: None }
    }

    /// The next line; `Ok(None)` at the end of the stream.
    async fn next(&mut self) -> io::Result<Option<Result<String, usize>>> {
        loop {
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            match &mut self.dropping {
                Some(n) => *n += take,
                None => self.buf.extend_from_slice(&chunk[..take]),
            }
            self.reader.consume(take);
            if self.dropping.is_none() && self.buf.len() > MAX_LINE_BYTES {
                self.dropping = Some(self.buf.len());
                self.buf.clear();
            }
            if end {
                if let Some(n) = self.dropping.take() {
                    return Ok(Some(Err(n)));
                }
                let line = String::from_utf8_lossy(&self.buf).into_owned();
                self.buf.clear();
                return Ok(Some(Ok(line)));
            }
        }
    }
}

struct Connection {
    peer: SocketAddr,
    lines: Lines,
    write: OwnedWriteHalf,
    /// Lines received (for log messages).
    line_no: u64,
}

/// The next line of the connection, or pending for ever without one.
async fn next_line(conn: &mut Option<Connection>) -> io::Result<Option<Result<String, usize>>> {
    match conn {
        Some(c) => c.lines.next().await,
        None => std::future::pending().await,
    }
}

/// Serve `controller` on `listener` until `stop` completes: one RSU connection at a time (a new
/// one replaces the old), a state line every `period`, plan commands applied at the next stage
/// boundary.  Bad lines and refused plans are logged and ignored; a connection that fails or takes
/// no data for a second is closed.  Fails only when accepting fails for good.
pub async fn serve_controller(
    listener: TcpListener,
    mut controller: Controller,
    period: Duration,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut conn: Option<Connection> = None;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_stage: Option<(u32, usize)> = None;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(old) = conn.take() {
                        eprintln!("sim signal-controller: {} replaced by {peer}", old.peer);
                    } else {
                        eprintln!("sim signal-controller: {peer} connected");
                    }
                    let (read, write) = stream.into_split();
                    let mut c = Connection { peer, lines: Lines::new(read), write, line_no: 0 };
                    // the state at once, not a period later
                    let line = controller.state_line(unix_s());
                    if send(&mut c, &line).await {
                        conn = Some(c);
                    }
                }
                Err(e) => {
                    // out of descriptors and the like: wait a little, keep serving
                    eprintln!("sim signal-controller: accepting failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = tick.tick() => {
                let now = unix_s();
                let state = controller.state(now);
                if last_stage != Some((state.plan_id, state.stage)) {
                    if last_stage.is_some_and(|(plan, _)| plan != state.plan_id) {
                        eprintln!("sim signal-controller: plan {} runs from stage {}", state.plan_id, state.stage);
                    }
                    last_stage = Some((state.plan_id, state.stage));
                }
                if let Some(c) = &mut conn {
                    let line = controller.state_line(now);
                    if !send(c, &line).await {
                        conn = None;
                    }
                }
            }
            line = next_line(&mut conn) => {
                let Some(c) = conn.as_mut() else { continue };
                let peer = c.peer;
                match line {
                    Ok(Some(Ok(text))) => {
                        c.line_no += 1;
                        let n = c.line_no;
                        match controller.handle_line(&text, unix_s()) {
                            LineOutcome::Blank => {}
                            LineOutcome::Queued { plan, at_s } => eprintln!(
                                "sim signal-controller: {peer} line {n}: plan {plan} queued for the stage boundary in {:.1} s",
                                at_s - unix_s()
                            ),
                            LineOutcome::Refused(e) => {
                                eprintln!("sim signal-controller: {peer} line {n}: plan refused, ignored: {e}")
                            }
                            LineOutcome::NotAMessage(e) => eprintln!(
                                "sim signal-controller: {peer} line {n}: not a zhilu-signal/1 message, ignored: {e}"
                            ),
                        }
                    }
                    Ok(Some(Err(len))) => {
                        c.line_no += 1;
                        eprintln!(
                            "sim signal-controller: {peer} line {}: {len} bytes, longer than {MAX_LINE_BYTES}; ignored",
                            c.line_no
                        );
                    }
                    Ok(None) => {
                        eprintln!("sim signal-controller: {peer} disconnected");
                        conn = None;
                    }
                    Err(e) => {
                        eprintln!("sim signal-controller: {peer}: {e}; connection closed");
                        conn = None;
                    }
                }
            }
            _ = &mut stop => {
                if let Some(mut c) = conn.take() {
                    let _ = c.write.shutdown().await;
                }
                return Ok(());
            }
        }
    }
}

/// Write a line; false (logged) when the connection failed or took no data for a second.
async fn send(c: &mut Connection, line: &[u8]) -> bool {
    match timeout(TCP_TIMEOUT, c.write.write_all(line)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            eprintln!("sim signal-controller: {}: {e}; connection closed", c.peer);
            false
        }
        Err(_) => {
            eprintln!("sim signal-controller: {} takes no data for {TCP_TIMEOUT:?}; connection closed", c.peer);
            false
        }
    }
}
