//! The fixed-time plan runner ([`PlanRunner`]) and the state it reports ([`ControllerState`],
//! [`GroupState`]) with the timing SPaT needs.
//!
//! Owns: which stage runs when, the safe switch to a commanded plan, and each group's light with its
//! start, end and next light. Must not read a clock, file or socket: controller time comes in as
//! an argument and only moves forward.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::light::Light;
use crate::plan::{Plan, PlanError, Stage};

/// Positions closer than this to a stage boundary count as on it (floating-point slack).
const EPS: f64 = 1e-9;

/// The state of one signal group at an instant, with its timing for SPaT. All times are absolute
/// controller time in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The signal group id.
    pub group: u8,
    /// What the group shows now.
    pub light: Light,
    /// When the group started showing `light` (or when the runner started, or first heard of the
    /// group, if it was already showing it then). Never after the state's time.
    pub start_s: f64,
    /// Earliest time `light` can end: the smaller of its end under the running plan and under
    /// the pending plan; equal to `likely_end_s` when nothing is pending.
    pub min_end_s: f64,
    /// Latest time `light` can end (same two candidates as `min_end_s`).
    pub max_end_s: f64,
    /// When `light` ends under the plans that will actually run (the pending plan takes over at
    /// the next stage boundary). After the state's time.
    pub likely_end_s: f64,
    /// Confidence in `likely_end_s`, 0..=1: 1 when the end is computed exactly, 0 when the group
    /// does not change under the plans that will run (then `likely_end_s` is the state's time
    /// plus the running plan's cycle, only a placeholder).
    pub confidence: f64,
    /// What the group shows after `light` (equal to `light` when no change is known).
    pub next_light: Light,
    /// How long `next_light` lasts, when known.
    pub next_duration_s: Option<f64>,
}

/// The whole controller state at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerState {
    /// Controller time of the state, seconds.
    pub time_s: f64,
    /// Id of the running plan.
    pub plan_id: u32,
    /// Index of the running stage in the running plan's `stages`.
    pub stage: usize,
    /// Every group the runner knows (named by any plan it ran or was commanded), sorted by id.
    pub groups: Vec<GroupState>,
}

/// One stage as it actually runs: absolute interval ends.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Instance {
    stage: usize,
    start_s: f64,
    green_end_s: f64,
    yellow_end_s: f64,
    end_s: f64,
    /// The green has the plan's `green_s` (the stage was not shortened or stretched on entry).
    nominal: bool,
}

impl Instance {
    fn with_green(index: usize, stage: &Stage, start_s: f64, green_s: f64, nominal: bool) -> Self {
        let green_end_s = start_s + green_s;
        let yellow_end_s = green_end_s + stage.yellow_s;
        Instance { stage: index, start_s, green_end_s, yellow_end_s, end_s: yellow_end_s + stage.all_red_s, nominal }
    }

    fn nominal(plan: &Plan, index: usize, start_s: f64) -> Self {
        Self::with_green(index, &plan.stages[index], start_s, plan.stages[index].green_s, true)
    }

    fn shifted(self, by_s: f64) -> Self {
        Instance {
            start_s: self.start_s + by_s,
            green_end_s: self.green_end_s + by_s,
            yellow_end_s: self.yellow_end_s + by_s,
            end_s: self.end_s + by_s,
            ..self
        }
    }

    fn green_light(stage: &Stage, group: u8) -> Light {
        if stage.permissive.contains(&group) {
            Light::PermissiveGreen
        } else {
            Light::ProtectedGreen
        }
    }

    /// The group's light at `t` (which must lie in `[start_s, end_s)`).
    fn light(&self, plan: &Plan, group: u8, t: f64) -> Light {
        let stage = &plan.stages[self.stage];
        if !stage.groups.contains(&group) {
            Light::Red
        } else if t < self.green_end_s {
            Self::green_light(stage, group)
        } else if t < self.yellow_end_s {
            Light::Yellow
        } else {
            Light::Red
        }
    }

    /// The group's light intervals `(light, from, to)` in this instance (some may be empty).
    fn segments(&self, plan: &Plan, group: u8) -> [(Light, f64, f64); 3] {
        let stage = &plan.stages[self.stage];
        if stage.groups.contains(&group) {
            [
                (Self::green_light(stage, group), self.start_s, self.green_end_s),
                (Light::Yellow, self.green_end_s, self.yellow_end_s),
                (Light::Red, self.yellow_end_s, self.end_s),
            ]
        } else {
            [
                (Light::Red, self.start_s, self.end_s),
                (Light::Red, self.end_s, self.end_s),
                (Light::Red, self.end_s, self.end_s),
            ]
        }
    }
}

/// Where `plan`'s own schedule (stage 0 green at `epoch_s + offset_s + k * cycle`) is at `t`: the
/// stage index and the seconds elapsed in it.
fn locate(plan: &Plan, t: f64, epoch_s: f64) -> (usize, f64) {
    let cycle = plan.cycle_s();
    let mut position = (t - epoch_s - plan.offset_s).rem_euclid(cycle);
    if position >= cycle {
        position = 0.0; // rem_euclid may round up to the divisor
    }
    let mut begin = 0.0;
    let last = plan.stages.len().saturating_sub(1);
    for (index, stage) in plan.stages.iter().enumerate() {
        let end = begin + stage.duration_s();
        if position < end || index == last {
            return (index, (position - begin).max(0.0));
        }
        begin = end;
    }
    (0, 0.0)
}

/// The stage after `inst` in the same plan, with nominal timing.
fn successor(plan: &Plan, inst: &Instance) -> Instance {
    Instance::nominal(plan, (inst.stage + 1) % plan.stages.len(), inst.end_s)
}

/// The first stage of `plan` when it takes over at the stage boundary `at_s`.
///
/// The runner tries to join the plan's own schedule (its offset from `epoch_s`):
/// * on a stage boundary of that schedule: that stage, as planned;
/// * inside a stage's green with at least its shortest green left: that stage, green shortened to
///   what is left;
/// * otherwise: the next stage, its green stretched by up to its longest green to absorb the
///   difference (any rest stays as a lead on the schedule until the next plan change).
fn enter(plan: &Plan, at_s: f64, epoch_s: f64) -> Instance {
    let (index, elapsed) = locate(plan, at_s, epoch_s);
    let stage = &plan.stages[index];
    let duration = stage.duration_s();
    let next = (index + 1) % plan.stages.len();
    if elapsed <= EPS {
        return Instance::nominal(plan, index, at_s);
    }
    if elapsed >= duration - EPS {
        return Instance::nominal(plan, next, at_s);
    }
    let left = stage.green_s - elapsed;
    if left >= stage.shortest_green_s() {
        return Instance::with_green(index, stage, at_s, left, false);
    }
    let early = duration - elapsed;
    let next_stage = &plan.stages[next];
    let stretch = early.min((next_stage.longest_green_s() - next_stage.green_s).max(0.0));
    Instance::with_green(next, next_stage, at_s, next_stage.green_s + stretch, stretch <= 0.0)
}

/// When a group's light ends and what follows, under one sequence of plans.
#[derive(Debug, Clone, Copy)]
struct Projection {
    end_s: f64,
    next_light: Light,
    next_end_s: Option<f64>,
}

/// Runs fixed-time plans. A commanded plan takes effect only at a safe point, the end of the
/// running stage's all-red; a running green or yellow is never cut, and the new plan's first green
/// is never shorter than its stage's shortest green.
#[derive(Debug, Clone)]
pub struct PlanRunner {
    /// Reference time for every plan's offset.
    epoch_s: f64,
    plan: Plan,
    pending: Option<Plan>,
    /// The running stage; `time_s` lies in `[inst.start_s, inst.end_s)`.
    inst: Instance,
    time_s: f64,
    /// Every known group: its light at `time_s` and when that light began.
    since: BTreeMap<u8, (Light, f64)>,
}

impl PlanRunner {
    /// Starts `plan` at controller time `start_s`, aligned so that stage 0's green starts at
    /// `start_s + offset_s` (modulo the cycle); `start_s` is also the reference time for the
    /// offsets of every plan commanded later. Refuses an invalid plan or a non-finite time.
    pub fn new(plan: Plan, start_s: f64) -> Result<Self, PlanError> {
        plan.validate()?;
        if !start_s.is_finite() {
            return Err(PlanError::Time { what: "start_s", value: start_s });
        }
        let (index, elapsed) = locate(&plan, start_s, start_s);
        let mut inst = Instance::nominal(&plan, index, start_s - elapsed);
        for _ in 0..plan.stages.len() {
            if inst.end_s > start_s {
                break;
            }
            inst = successor(&plan, &inst);
        }
        let since = plan.groups().into_iter().map(|g| (g, (inst.light(&plan, g, start_s), start_s))).collect();
        Ok(PlanRunner { epoch_s: start_s, plan, pending: None, inst, time_s: start_s, since })
    }

    /// Queues `plan` to take over at the next stage boundary (the end of the running stage's
    /// all-red), after first advancing to `now_s`. A plan already pending is replaced. Refuses an
    /// invalid plan or a non-finite time, leaving the runner as it was.
    pub fn command(&mut self, plan: Plan, now_s: f64) -> Result<(), PlanError> {
        plan.validate()?;
        if !now_s.is_finite() {
            return Err(PlanError::Time { what: "now_s", value: now_s });
        }
        self.advance(now_s);
        for group in plan.groups() {
            // Not in the running plan (else it would be known): red until the new plan says.
            self.since.entry(group).or_insert((Light::Red, self.time_s));
        }
        self.pending = Some(plan);
        Ok(())
    }

    /// Moves controller time to `now_s`, switching stages (and plans) on the way. An earlier or
    /// non-finite time is ignored: controller time never goes backwards.
    pub fn advance(&mut self, now_s: f64) {
        if !(now_s.is_finite() && now_s >= self.time_s) {
            return;
        }
        loop {
            // Interval ends inside the stage; one that coincides with the stage end (no yellow or
            // all-red) is handled by the stage change, so no zero-length red is recorded.
            for event in [self.inst.green_end_s, self.inst.yellow_end_s] {
                if event > self.time_s && event <= now_s && event < self.inst.end_s {
                    self.time_s = event;
                    self.refresh();
                }
            }
            if self.inst.end_s > now_s {
                break;
            }
            self.time_s = self.inst.end_s;
            self.inst = match self.pending.take() {
                Some(plan) => {
                    let inst = enter(&plan, self.time_s, self.epoch_s);
                    self.plan = plan;
                    inst
                }
                None => successor(&self.plan, &self.inst),
            };
            self.refresh();
            self.fast_forward(now_s);
        }
        self.time_s = now_s;
    }

    /// Skips whole cycles of a steady plan so a long jump costs at most two cycles of stepping.
    /// At least one full cycle is still stepped, so every group that changes within a cycle
    /// gets its true `start_s` again before `now_s`.
    fn fast_forward(&mut self, now_s: f64) {
        if self.pending.is_some() || !self.inst.nominal {
            return;
        }
        let cycle = self.plan.cycle_s();
        let cycles = ((now_s - self.inst.start_s) / cycle).floor() - 1.0;
        if cycles >= 1.0 {
            self.inst = self.inst.shifted(cycles * cycle);
            self.time_s = self.inst.start_s;
        }
    }

    /// Records a light change of any known group at `time_s`.
    fn refresh(&mut self) {
        for (&group, entry) in self.since.iter_mut() {
            let light = self.inst.light(&self.plan, group, self.time_s);
            if entry.0 != light {
                *entry = (light, self.time_s);
            }
        }
    }

    /// The state at the last advanced time.
    pub fn state(&self) -> ControllerState {
        let groups = self.since.iter().map(|(&group, &(_, start_s))| self.group_state(group, start_s)).collect();
        ControllerState { time_s: self.time_s, plan_id: self.plan.id, stage: self.inst.stage, groups }
    }

    /// The running plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan waiting for the next stage boundary, if any.
    pub fn pending(&self) -> Option<&Plan> {
        self.pending.as_ref()
    }

    /// The last advanced controller time.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// The next stage boundary (end of the running stage's all-red): when a pending plan takes over.
    pub fn next_boundary_s(&self) -> f64 {
        self.inst.end_s
    }

    fn group_state(&self, group: u8, start_s: f64) -> GroupState {
        let light = self.inst.light(&self.plan, group, self.time_s);
        let likely = self.project(group, light, true);
        let unchanged = if self.pending.is_some() { self.project(group, light, false) } else { likely };
        match likely {
            Some(p) => {
                let other = unchanged.map_or(p.end_s, |u| u.end_s);
                GroupState {
                    group,
                    light,
                    start_s,
                    min_end_s: p.end_s.min(other),
                    max_end_s: p.end_s.max(other),
                    likely_end_s: p.end_s,
                    confidence: 1.0,
                    next_light: p.next_light,
                    next_duration_s: p.next_end_s.map(|end| end - p.end_s),
                }
            }
            None => {
                let end = self.time_s + self.plan.cycle_s();
                GroupState {
                    group,
                    light,
                    start_s,
                    min_end_s: end,
                    max_end_s: end,
                    likely_end_s: end,
                    confidence: 0.0,
                    next_light: light,
                    next_duration_s: None,
                }
            }
        }
    }

    /// Walks the coming stages (switching to the pending plan at the boundary when `switch`) to
    /// find when `light` ends for `group`, what follows and when that ends. `None` when the light
    /// does not change within two cycles of the last plan (the group is in none of its stages, or
    /// green throughout).
    fn project(&self, group: u8, light: Light, switch: bool) -> Option<Projection> {
        let t = self.time_s;
        let stages = self.plan.stages.len().max(self.pending.as_ref().map_or(0, |p| p.stages.len()));
        let mut plan = &self.plan;
        let mut pending = if switch { self.pending.as_ref() } else { None };
        let mut inst = self.inst;
        let mut found: Option<(f64, Light)> = None;
        for _ in 0..3 + 2 * stages {
            for (l, from, to) in inst.segments(plan, group) {
                if to <= from || to <= t {
                    continue;
                }
                match found {
                    None if l != light => found = Some((from, l)),
                    Some((end_s, next_light)) if l != next_light => {
                        return Some(Projection { end_s, next_light, next_end_s: Some(from) });
                    }
                    _ => {}
                }
            }
            inst = match pending.take() {
                Some(next_plan) => {
                    plan = next_plan;
                    enter(plan, inst.end_s, self.epoch_s)
                }
                None => successor(plan, &inst),
            };
        }
        found.map(|(end_s, next_light)| Projection { end_s, next_light, next_end_s: None })
    }
}

#[cfg(test)]
mod tests;
