//! The simulator's signal controller, the controller side of `zhilu-signal/1`: `sim
//! signal-controller`'s sans-IO core.
//!
//! A [`Controller`] runs fixed-time plans with [`signal_core::PlanRunner`] on UNIX time, with the
//! UNIX epoch as the reference of every plan's offset (stage 0's green starts at
//! `offset_s + k * cycle` seconds after 1970-01-01T00:00:00Z, the same instant as with
//! `start_s = floor(now / cycle) * cycle` for the first plan, and for plans commanded later
//! too), so controllers running the same plans keep their offsets coordinated wherever and
//! whenever they were started.  It turns incoming lines into plan commands (checked; an invalid one
//! is refused with the reason and changes nothing) and reports its state as lines
//! (`FromController::State`).  The network side is in [`crate::live`].

use map_encoder::model::Intersection;
use roadside_unit::daemon::signal::{FromController, ToController};
use signal_core::{ControllerState, Plan, PlanRunner};
use std::collections::BTreeSet;

/// A plan file with the plan in a `[plan]` table.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapped {
    plan: Plan,
}

/// Read a plan file: a `signal_core::Plan` in TOML, either bare (`id`, `offset_s`, `[[stages]]`) or
/// in a `[plan]` table (`[plan]`, `[[plan.stages]]`), and check it.  Errors start with `name` and
/// give the line where TOML says where.
pub fn parse_plan_file(name: &str, text: &str) -> Result<Plan, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let plan = if table.contains_key("plan") {
        toml::from_str::<Wrapped>(text).map(|w| w.plan)
    } else {
        toml::from_str::<Plan>(text)
    }
    .map_err(|e| format!("{name}: {e}"))?;
    plan.validate().map_err(|e| format!("{name}: {e}"))?;
    Ok(plan)
}

/// The signal groups of an intersection: those it declares, or when it declares none, those its
/// connections and crosswalks name.
pub fn intersection_groups(x: &Intersection) -> BTreeSet<u8> {
    let declared: BTreeSet<u8> = x.signal_groups.iter().map(|g| g.id).collect();
    if !declared.is_empty() {
        return declared;
    }
    x.connections.iter().filter_map(|c| c.signal_group).chain(x.lanes.iter().filter_map(|l| l.signal_group)).collect()
}

/// Every group a plan releases must be one of `groups`; the error names the first stage that
/// releases another.
pub fn check_groups(plan: &Plan, groups: &BTreeSet<u8>) -> Result<(), String> {
    for (i, stage) in plan.stages.iter().enumerate() {
        if let Some(g) = stage.groups.iter().find(|g| !groups.contains(g)) {
            let known: Vec<String> = groups.iter().map(u8::to_string).collect();
            return Err(format!(
                "plan {}, stages[{i}].groups: group {g} is not a signal group of the intersection (it has {})",
                plan.id,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ));
        }
    }
    Ok(())
}

/// What became of an incoming line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOutcome {
    /// A blank line: nothing.
    Blank,
    /// A plan was queued for the next stage boundary (UNIX seconds).
    Queued {
        /// The plan's id.
        plan: u32,
        /// When it takes over.
        at_s: f64,
    },
    /// A plan command was refused (invalid plan, unknown group); the running plans are unchanged.
    Refused(String),
    /// Not a `zhilu-signal/1` message.
    NotAMessage(String),
}

/// A fixed-time signal controller on UNIX time.
#[derive(Debug, Clone)]
pub struct Controller {
    runner: PlanRunner,
    groups: Option<BTreeSet<u8>>,
}

impl Controller {
    /// Runs `plan` from UNIX time `now_s`; with `groups`, plans (this and commanded ones) may
    /// release only those signal groups.
    pub fn new(plan: Plan, now_s: f64, groups: Option<BTreeSet<u8>>) -> Result<Self, String> {
        if let Some(g) = &groups {
            check_groups(&plan, g)?;
        }
        // offsets count from the UNIX epoch; the runner skips whole cycles to `now_s`
        let mut runner = PlanRunner::new(plan, 0.0).map_err(|e| e.to_string())?;
        if !now_s.is_finite() {
            return Err(format!("now = {now_s}; expected a finite UNIX time"));
        }
        runner.advance(now_s);
        Ok(Controller { runner, groups })
    }

    /// The state at `now_s` (time never goes backwards: an earlier time gives the last state).
    pub fn state(&mut self, now_s: f64) -> ControllerState {
        self.runner.advance(now_s);
        self.runner.state()
    }

    /// The state at `now_s` as one `zhilu-signal/1` line, newline included.
    pub fn state_line(&mut self, now_s: f64) -> Vec<u8> {
        let state = FromController::State(self.state(now_s));
        // a ControllerState is plain numbers and enums: serialising it cannot fail
        let mut line = serde_json::to_vec(&state).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// Command `plan` at `now_s`: checked, then queued for the next stage boundary.
    pub fn command(&mut self, plan: Plan, now_s: f64) -> LineOutcome {
        let id = plan.id;
        if let Some(g) = &self.groups {
            if let Err(e) = check_groups(&plan, g) {
                return LineOutcome::Refused(e);
            }
        }
        match self.runner.command(plan, now_s) {
            Ok(()) => LineOutcome::Queued { plan: id, at_s: self.runner.next_boundary_s() },
            Err(e) => LineOutcome::Refused(e.to_string()),
        }
    }

    /// Handle one line from the RSU at `now_s`.
    pub fn handle_line(&mut self, line: &str, now_s: f64) -> LineOutcome {
        if line.trim().is_empty() {
            return LineOutcome::Blank;
        }
        match serde_json::from_str::<ToController>(line) {
            Ok(ToController::Plan { plan }) => self.command(plan, now_s),
            Err(e) => LineOutcome::NotAMessage(e.to_string()),
        }
    }

    /// The running plan.
    pub fn plan(&self) -> &Plan {
        self.runner.plan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_core::Light;

    const PLAN: &str = include_str!("../examples/plan-4leg.toml");

    fn four_leg() -> Intersection {
        let (m, _) = map_encoder::model::parse(
            "4leg",
            include_str!("../../examples/4leg.toml"),
            map_encoder::model::Syntax::Toml,
        )
        .unwrap();
        m.intersections[0].clone()
    }

    #[test]
    fn the_example_plan_is_the_rsu_examples_fallback_plan() {
        let plan = parse_plan_file("plan-4leg.toml", PLAN).unwrap();
        #[derive(serde::Deserialize)]
        struct Signal {
            fallback_plan: Plan,
        }
        #[derive(serde::Deserialize)]
        struct Rsu {
            signal: Signal,
        }
        let rsu: Rsu = toml::from_str(include_str!("../../roadside-unit/examples/rsu.toml")).unwrap();
        assert_eq!(plan, rsu.signal.fallback_plan);
        assert_eq!(check_groups(&plan, &intersection_groups(&four_leg())), Ok(()));
    }

    #[test]
    fn bare_and_wrapped_plans_and_errors_with_lines() {
        let bare = "id = 3\n[[stages]]\ngroups = [1]\ngreen_s = 20\nyellow_s = 3\nall_red_s = 2\n";
        assert_eq!(parse_plan_file("a", bare).unwrap().id, 3);
        let wrapped = "[plan]\nid = 4\n[[plan.stages]]\ngroups = [1]\ngreen_s = 20\nyellow_s = 3\nall_red_s = 2\n";
        assert_eq!(parse_plan_file("b", wrapped).unwrap().id, 4);
        let typo = bare.replace("green_s", "gren_s");
        let e = parse_plan_file("c.toml", &typo).unwrap_err();
        assert!(e.starts_with("c.toml: ") && e.contains("line 4") && e.contains("gren_s"), "{e}");
        let e = parse_plan_file("d.toml", &bare.replace("20", "2")).unwrap_err();
        assert!(e.contains("d.toml: plan 3: cycle"), "{e}");
        let e = parse_plan_file("e.toml", "[plan]\nid = 4\nextra = 1\n").unwrap_err();
        assert!(e.contains("e.toml") && e.contains("extra"), "{e}");
    }

    #[test]
    fn offsets_count_from_the_unix_epoch() {
        let plan = parse_plan_file("p", PLAN).unwrap();
        let cycle = plan.cycle_s();
        assert_eq!(cycle, 98.0);
        // stage 0 (groups 1, 5) is green during the first 12 s of every cycle since the epoch
        let now = 1_700_000_000.0;
        let k = (now / cycle).floor();
        let mut c = Controller::new(plan.clone(), k * cycle + 5.0, None).unwrap();
        let s = c.state(k * cycle + 5.0);
        assert_eq!(s.stage, 0);
        let g1 = s.groups.iter().find(|g| g.group == 1).unwrap();
        assert_eq!(g1.light, Light::ProtectedGreen);
        assert!((g1.start_s - k * cycle).abs() < 1e-6, "{}", g1.start_s - k * cycle);
        // and so does a controller started elsewhere in the cycle
        let mut d = Controller::new(plan, k * cycle + 77.7, None).unwrap();
        assert_eq!(d.state((k + 1.0) * cycle + 5.0).stage, 0);
    }

    #[test]
    fn commands_are_checked_and_garbage_is_reported() {
        let plan = parse_plan_file("p", PLAN).unwrap();
        let x = four_leg();
        let now = 1_700_000_000.0;
        let mut c = Controller::new(plan.clone(), now, Some(intersection_groups(&x))).unwrap();
        assert!(matches!(c.handle_line("garbage", now), LineOutcome::NotAMessage(_)));
        assert_eq!(c.handle_line("  ", now), LineOutcome::Blank);
        let mut other = plan.clone();
        other.id = 2;
        other.stages[0].groups.push(99);
        let line = serde_json::to_string(&ToController::Plan { plan: other.clone() }).unwrap();
        let LineOutcome::Refused(e) = c.handle_line(&line, now) else { panic!() };
        assert!(e.contains("group 99"), "{e}");
        other.stages[0].groups.pop();
        other.stages[0].yellow_s = 30.0;
        let line = serde_json::to_string(&ToController::Plan { plan: other.clone() }).unwrap();
        assert!(matches!(c.handle_line(&line, now), LineOutcome::Refused(e) if e.contains("yellow_s")));
        other.stages[0].yellow_s = 3.0;
        let line = serde_json::to_string(&ToController::Plan { plan: other }).unwrap();
        let LineOutcome::Queued { plan: 2, at_s } = c.handle_line(&line, now) else { panic!() };
        assert!(at_s > now);
        assert_eq!(c.state(at_s - 0.01).plan_id, 1);
        assert_eq!(c.state(at_s).plan_id, 2);
        let text = String::from_utf8(c.state_line(at_s + 1.0)).unwrap();
        assert!(text.ends_with('\n') && text.starts_with(r#"{"type":"state""#), "{text}");
    }
}
