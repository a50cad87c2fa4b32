//! The signal-controller link: the seam between the RSU and whatever runs the
//! signal heads.  A [`ControllerLink`] reports the controller's state (every
//! group's light with min/max/likely end, the SPaT source) and carries plan
//! commands to it.  Two implementations today:
//!
//! - [`InternalController`]: the RSU runs the plan itself on its wall clock
//!   (`signal_core::PlanRunner`), for a virtual controller or a test bench;
//! - [`TcpLink`]: an external controller speaking `zhilu-signal/1` (JSON lines
//!   over TCP, `docs/protocol.md`), as the simulator's controller does.
//!
//! NTCIP 1202 and GB/T 20999 links will be further implementations of the
//! same trait.  [`PlanArbiter`] decides which plan the controller should run:
//! the cloud's while its commands keep arriving, the local fallback plan when
//! they stop.

use std::net::SocketAddr;
use std::time::Duration;

use crate::clock::now_unix_s;
use signal_core::{CommandWatch, ControllerState, Plan, PlanRunner};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

/// A state as the daemon keeps it (controller time is UNIX seconds: both links run on UNIX time): the controller's state and the (RSU) time it arrived.
#[derive(Debug, Clone)]
pub struct StateUpdate {
    /// The controller's state (times in UNIX seconds).
    pub state: ControllerState,
    /// When the RSU received it, UNIX seconds.
    pub received_s: f64,
}

/// A link to a signal controller.  `run` reports states into `states` and forwards the plans
/// arriving on `commands` until `shutdown`; it never returns early on a controller fault (it
/// reconnects), so SPaT resumes when the controller does.
pub trait ControllerLink: Send + 'static {
    /// Drive the link.
    fn run(
        self: Box<Self>,
        states: watch::Sender<Option<StateUpdate>>,
        commands: mpsc::Receiver<Plan>,
        shutdown: watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

    /// Whether the controller runs fixed-time (SPaT's `fixedTimeOperation`) rather than traffic-dependent.
    fn fixed_time(&self) -> bool;
}

/// The RSU runs the plan in-process, 10 states per second.
pub struct InternalController {
    /// The plan to start with.
    pub initial: Plan,
}

impl ControllerLink for InternalController {
    fn run(
        self: Box<Self>,
        states: watch::Sender<Option<StateUpdate>>,
        mut commands: mpsc::Receiver<Plan>,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            let mut runner = match PlanRunner::new(self.initial, 0.0) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "internal controller: the initial plan is invalid");
                    return;
                }
            };
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let now = now_unix_s();
                        runner.advance(now);
                        states.send_replace(Some(StateUpdate { state: runner.state(), received_s: now }));
                    }
                    Some(plan) = commands.recv() => {
                        let id = plan.id;
                        match runner.command(plan, now_unix_s()) {
                            Ok(()) => tracing::info!(plan = id, "internal controller: plan queued for the next stage boundary"),
                            Err(e) => tracing::warn!(plan = id, error = %e, "internal controller: plan refused"),
                        }
                    }
                    _ = super::stopped(&mut shutdown) => return,
                }
            }
        })
    }

    fn fixed_time(&self) -> bool {
        true
    }
}

/// A message of `zhilu-signal/1` from the controller.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromController {
    /// The controller's state (times in UNIX seconds).
    State(ControllerState),
}

/// A message of `zhilu-signal/1` to the controller.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToController {
    /// Run this plan from the next stage boundary.
    Plan {
        /// The plan.
        plan: Plan,
    },
}

/// `zhilu-signal/1` over TCP: the RSU connects to the controller, receives a state per line and
/// sends plan commands as lines.  Reconnects every second while the controller is unreachable; the
/// most recent plan is sent again after every reconnect.
pub struct TcpLink {
    /// The controller's address.
    pub address: SocketAddr,
    /// Whether the controller runs fixed time.
    pub fixed_time: bool,
}

impl ControllerLink for TcpLink {
    fn run(
        self: Box<Self>,
        states: watch::Sender<Option<StateUpdate>>,
        mut commands: mpsc::Receiver<Plan>,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            let mut last_plan: Option<Plan> = None;
            loop {
                let stream = tokio::select! {
                    r = tokio::net::TcpStream::connect(self.address) => r,
                    _ = super::stopped(&mut shutdown) => return,
                };
                let stream = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(address = %self.address, error = %e, "signal controller unreachable");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = super::stopped(&mut shutdown) => return,
                        }
                    }
                };
                tracing::info!(address = %self.address, "signal controller connected");
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if let Some(p) = &last_plan {
                    if send_plan(&mut write, p).await.is_err() {
                        continue;
                    }
                }
                loop {
                    tokio::select! {
                        line = lines.next_line() => match line {
                            Ok(Some(line)) => match serde_json::from_str::<FromController>(&line) {
                                Ok(FromController::State(state)) => {
                                    states.send_replace(Some(StateUpdate { state, received_s: now_unix_s() }));
                                }
                                Err(e) => tracing::warn!(error = %e, "signal controller sent a line that is not a state; ignored"),
                            },
                            _ => { tracing::warn!("signal controller connection lost"); break; }
                        },
                        Some(plan) = commands.recv() => {
                            let r = send_plan(&mut write, &plan).await;
                            last_plan = Some(plan);
                            if r.is_err() { break; }
                        }
                        _ = super::stopped(&mut shutdown) => return,
                    }
                }
            }
        })
    }

    fn fixed_time(&self) -> bool {
        self.fixed_time
    }
}

async fn send_plan(w: &mut tokio::net::tcp::OwnedWriteHalf, plan: &Plan) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(&ToController::Plan { plan: plan.clone() }).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await
}

/// Where the running plan comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// The RSU's own fallback plan.
    Local,
    /// cloud-control's command.
    Cloud,
}

impl PlanSource {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PlanSource::Local => "local",
            PlanSource::Cloud => "cloud",
        }
    }
}

/// Chooses the plan: the cloud's while its commands keep arriving, else the local fallback.  Pure:
/// returns the plan to command when the choice changes.
#[derive(Debug)]
pub struct PlanArbiter {
    local: Plan,
    cloud: Option<Plan>,
    watch: CommandWatch,
    source: PlanSource,
}

impl PlanArbiter {
    /// Starts on the local plan.
    pub fn new(local: Plan) -> Self {
        PlanArbiter { local, cloud: None, watch: CommandWatch::new(1.0), source: PlanSource::Local }
    }

    /// The source in use.
    pub fn source(&self) -> PlanSource {
        self.source
    }

    /// A cloud command holding for `valid_for_s` from `now_s`: the plan to send to the controller when
    /// it differs from the one running.
    pub fn cloud_command(&mut self, plan: Plan, valid_for_s: f64, now_s: f64) -> Option<Plan> {
        self.watch = CommandWatch::new(valid_for_s.max(0.1));
        self.watch.heard(now_s);
        let changed = self.source != PlanSource::Cloud || self.cloud.as_ref() != Some(&plan);
        self.source = PlanSource::Cloud;
        self.cloud = Some(plan.clone());
        changed.then_some(plan)
    }

    /// Call periodically: the local plan when the cloud's command expired.
    pub fn tick(&mut self, now_s: f64) -> Option<Plan> {
        if self.source == PlanSource::Cloud && self.watch.expired(now_s) {
            self.source = PlanSource::Local;
            self.cloud = None;
            return Some(self.local.clone());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_core::Stage;

    fn plan(id: u32) -> Plan {
        let st = |g: u8| Stage::fixed(&[g], 10.0, 3.0, 2.0);
        Plan { id, offset_s: 0.0, stages: vec![st(2), st(4)] }
    }

    #[test]
    fn the_local_plan_takes_over_when_cloud_commands_stop() {
        let mut a = PlanArbiter::new(plan(1));
        assert_eq!(a.source(), PlanSource::Local);
        assert_eq!(a.cloud_command(plan(7), 30.0, 100.0).map(|p| p.id), Some(7));
        assert_eq!(a.source(), PlanSource::Cloud);
        assert_eq!(a.cloud_command(plan(7), 30.0, 110.0), None, "a renewal of the same plan is not resent");
        assert_eq!(a.tick(139.0), None);
        assert_eq!(a.tick(140.5).map(|p| p.id), Some(1), "30 s after the last renewal");
        assert_eq!(a.source(), PlanSource::Local);
        assert_eq!(a.tick(150.0), None);
    }

    #[tokio::test]
    async fn the_tcp_link_reports_states_and_forwards_plans() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (states_tx, mut states_rx) = watch::channel(None);
        let (cmd_tx, cmd_rx) = mpsc::channel(4);
        let (_sd_tx, sd_rx) = watch::channel(false);
        tokio::spawn(Box::new(TcpLink { address, fixed_time: true }).run(states_tx, cmd_rx, sd_rx));
        let (stream, _) = listener.accept().await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut runner = PlanRunner::new(plan(1), 0.0).unwrap();
        runner.advance(5.0);
        let mut line = serde_json::to_vec(&FromController::State(runner.state())).unwrap();
        line.push(b'\n');
        w.write_all(b"garbage\n").await.unwrap();
        w.write_all(&line).await.unwrap();
        states_rx.wait_for(|s| s.is_some()).await.unwrap();
        assert_eq!(states_rx.borrow().as_ref().unwrap().state, runner.state());
        cmd_tx.send(plan(9)).await.unwrap();
        let mut lines = BufReader::new(r).lines();
        let got: ToController = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let ToController::Plan { plan: p } = got;
        assert_eq!(p.id, 9);
    }
}
