//! Fixed-time signal plans: [`Stage`], [`Plan`], the rules a plan must keep ([`Plan::validate`],
//! [`PlanError`]) and the conflict check ([`conflicts`]).
//!
//! Owns the plan format (TOML or JSON through serde; unknown fields are refused so a typo is not
//! silently ignored). Must not run a plan (that is [`crate::runner`]), read files or clocks.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Shortest green a stage may have, in seconds (also the lower bound of `min_green_s`).
pub const MIN_GREEN_S: f64 = 1.0;
/// Longest yellow or all-red interval, in seconds.
pub const MAX_CLEARANCE_S: f64 = 10.0;
/// Shortest cycle a plan may have, in seconds.
pub const MIN_CYCLE_S: f64 = 10.0;
/// Longest cycle a plan may have, in seconds (also the bound of `green_s` and `max_green_s`).
pub const MAX_CYCLE_S: f64 = 300.0;

/// One stage (phase) of a fixed-time plan: the signal groups that are green together.
///
/// The stage runs `green_s` of green for its groups, then `yellow_s` of yellow, then `all_red_s`
/// during which every group is red.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Signal groups released in this stage (ids 1..=255, each listed once).
    pub groups: Vec<u8>,
    /// The groups of `groups` whose green is permissive (yield to conflicting traffic).
    #[serde(default)]
    pub permissive: Vec<u8>,
    /// Green time, seconds.
    pub green_s: f64,
    /// Yellow (clearance) time after the green, seconds.
    pub yellow_s: f64,
    /// All-red time after the yellow, seconds.
    pub all_red_s: f64,
    /// Shortest green the runner may give this stage when it enters a new plan mid-stage;
    /// without it the green is never shortened.
    #[serde(default)]
    pub min_green_s: Option<f64>,
    /// Longest green the runner may give this stage when it stretches it to catch up with a new
    /// plan's offset; without it the green is never lengthened.
    #[serde(default)]
    pub max_green_s: Option<f64>,
}

impl Stage {
    /// A fixed-length stage: `groups` protected green for `green_s`, then yellow and all-red; no
    /// permissive groups, no minimum or maximum green.
    pub fn fixed(groups: &[u8], green_s: f64, yellow_s: f64, all_red_s: f64) -> Self {
        Stage {
            groups: groups.to_vec(),
            permissive: Vec::new(),
            green_s,
            yellow_s,
            all_red_s,
            min_green_s: None,
            max_green_s: None,
        }
    }

    /// The stage's length: green + yellow + all-red, seconds.
    pub fn duration_s(&self) -> f64 {
        self.green_s + self.yellow_s + self.all_red_s
    }

    /// The shortest green the runner may give: `min_green_s`, or `green_s` when not given.
    pub fn shortest_green_s(&self) -> f64 {
        self.min_green_s.unwrap_or(self.green_s)
    }

    /// The longest green the runner may give: `max_green_s`, or `green_s` when not given.
    pub fn longest_green_s(&self) -> f64 {
        self.max_green_s.unwrap_or(self.green_s)
    }
}

/// A fixed-time plan: stages in order, repeated. The cycle is the sum of the stages' durations;
/// `offset_s` places the start of stage 0's green within the cycle, counted from the runner's
/// reference time (see [`crate::PlanRunner::new`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan number (reported in the controller state).
    pub id: u32,
    /// Start of stage 0's green within the cycle, seconds, in `[0, cycle)`.
    #[serde(default)]
    pub offset_s: f64,
    /// The stages, in the order they run.
    pub stages: Vec<Stage>,
}

/// Why a plan was refused. Every variant names the plan, and where it applies the stage (its index
/// in `stages`, from 0) and the field, with what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The plan has no stages.
    #[error("plan {plan}: `stages` is empty; expected at least one stage")]
    NoStages {
        /// The plan's id.
        plan: u32,
    },
    /// A stage releases no signal group.
    #[error("plan {plan}, stages[{stage}].groups is empty; expected at least one signal group")]
    EmptyStage {
        /// The plan's id.
        plan: u32,
        /// Index of the stage in `stages`.
        stage: usize,
    },
    /// A signal group id is out of range, repeated, or (in `permissive`) not one of the stage's.
    #[error("plan {plan}, stages[{stage}].{field}: group {group}; expected {expected}")]
    Group {
        /// The plan's id.
        plan: u32,
        /// Index of the stage in `stages`.
        stage: usize,
        /// `groups` or `permissive`.
        field: &'static str,
        /// The offending group id.
        group: u8,
        /// What the field must hold.
        expected: &'static str,
    },
    /// A duration is not finite or out of range.
    #[error("plan {plan}, stages[{stage}].{field} = {value}; expected {expected}")]
    Duration {
        /// The plan's id.
        plan: u32,
        /// Index of the stage in `stages`.
        stage: usize,
        /// `green_s`, `yellow_s`, `all_red_s`, `min_green_s` or `max_green_s`.
        field: &'static str,
        /// The value found.
        value: f64,
        /// The range the field must be in.
        expected: String,
    },
    /// The cycle (sum of the stage durations) is out of range.
    #[error("plan {plan}: cycle (sum of green_s + yellow_s + all_red_s over the stages) is {cycle_s} s; expected {MIN_CYCLE_S} to {MAX_CYCLE_S} s")]
    Cycle {
        /// The plan's id.
        plan: u32,
        /// The cycle found, seconds.
        cycle_s: f64,
    },
    /// The offset is not within the cycle.
    #[error("plan {plan}: offset_s = {value}; expected a number of seconds in [0, {cycle_s}) (the cycle)")]
    Offset {
        /// The plan's id.
        plan: u32,
        /// The offset found.
        value: f64,
        /// The plan's cycle, seconds.
        cycle_s: f64,
    },
    /// A controller time passed to the runner is not finite.
    #[error("{what} = {value}; expected a finite controller time in seconds")]
    Time {
        /// Which argument.
        what: &'static str,
        /// The value found.
        value: f64,
    },
}

fn within(value: f64, lo: f64, hi: f64) -> bool {
    value.is_finite() && value >= lo && value <= hi
}

impl Plan {
    /// The cycle length: the sum of the stages' green, yellow and all-red, seconds.
    pub fn cycle_s(&self) -> f64 {
        self.stages.iter().map(Stage::duration_s).sum()
    }

    /// Every signal group named by a stage of the plan.
    pub fn groups(&self) -> BTreeSet<u8> {
        self.stages.iter().flat_map(|s| s.groups.iter().copied()).collect()
    }

    /// Checks the plan: at least one stage; each stage releases 1..=255 groups listed once, with
    /// `permissive` a subset of them; `green_s` in [1, 300], `yellow_s` and `all_red_s` in
    /// [0, 10], `min_green_s` in [1, green_s], `max_green_s` in [green_s, 300]; a cycle of 10 to
    /// 300 s; `offset_s` in [0, cycle). Reports the first rule broken.
    pub fn validate(&self) -> Result<(), PlanError> {
        let plan = self.id;
        if self.stages.is_empty() {
            return Err(PlanError::NoStages { plan });
        }
        for (stage, s) in self.stages.iter().enumerate() {
            validate_stage(plan, stage, s)?;
        }
        let cycle_s = self.cycle_s();
        if !within(cycle_s, MIN_CYCLE_S, MAX_CYCLE_S) {
            return Err(PlanError::Cycle { plan, cycle_s });
        }
        if !(self.offset_s.is_finite() && self.offset_s >= 0.0 && self.offset_s < cycle_s) {
            return Err(PlanError::Offset { plan, value: self.offset_s, cycle_s });
        }
        Ok(())
    }
}

fn validate_stage(plan: u32, stage: usize, s: &Stage) -> Result<(), PlanError> {
    if s.groups.is_empty() {
        return Err(PlanError::EmptyStage { plan, stage });
    }
    let mut seen = BTreeSet::new();
    for &group in &s.groups {
        if group == 0 {
            return Err(PlanError::Group {
                plan,
                stage,
                field: "groups",
                group,
                expected: "an id in 1..=255 (0 is reserved)",
            });
        }
        if !seen.insert(group) {
            return Err(PlanError::Group { plan, stage, field: "groups", group, expected: "each group listed once" });
        }
    }
    let mut seen_permissive = BTreeSet::new();
    for &group in &s.permissive {
        if !seen.contains(&group) {
            return Err(PlanError::Group {
                plan,
                stage,
                field: "permissive",
                group,
                expected: "one of this stage's `groups`",
            });
        }
        if !seen_permissive.insert(group) {
            return Err(PlanError::Group {
                plan,
                stage,
                field: "permissive",
                group,
                expected: "each group listed once",
            });
        }
    }
    let duration =
        |field: &'static str, value: f64, expected: String| PlanError::Duration { plan, stage, field, value, expected };
    if !within(s.green_s, MIN_GREEN_S, MAX_CYCLE_S) {
        return Err(duration("green_s", s.green_s, format!("{MIN_GREEN_S} to {MAX_CYCLE_S} s")));
    }
    if !within(s.yellow_s, 0.0, MAX_CLEARANCE_S) {
        return Err(duration("yellow_s", s.yellow_s, format!("0 to {MAX_CLEARANCE_S} s")));
    }
    if !within(s.all_red_s, 0.0, MAX_CLEARANCE_S) {
        return Err(duration("all_red_s", s.all_red_s, format!("0 to {MAX_CLEARANCE_S} s")));
    }
    if let Some(min) = s.min_green_s {
        if !within(min, MIN_GREEN_S, s.green_s) {
            return Err(duration("min_green_s", min, format!("{MIN_GREEN_S} s to green_s ({} s)", s.green_s)));
        }
    }
    if let Some(max) = s.max_green_s {
        if !within(max, s.green_s, MAX_CYCLE_S) {
            return Err(duration("max_green_s", max, format!("green_s ({} s) to {MAX_CYCLE_S} s", s.green_s)));
        }
    }
    Ok(())
}

/// The safety check: every `(stage index, a, b)` with `a < b` where the stage makes two groups green
/// together that `conflicting` says conflict (asked both ways round). Empty means the plan is safe
/// under that conflict relation. At any instant the runner shows green only for the groups of one
/// stage, so this per-stage check covers everything the runner can show.
pub fn conflicts(plan: &Plan, conflicting: &dyn Fn(u8, u8) -> bool) -> Vec<(usize, u8, u8)> {
    let mut found = Vec::new();
    for (index, stage) in plan.stages.iter().enumerate() {
        let groups: Vec<u8> = stage.groups.iter().copied().collect::<BTreeSet<u8>>().into_iter().collect();
        for (i, &a) in groups.iter().enumerate() {
            for &b in &groups[i + 1..] {
                if conflicting(a, b) || conflicting(b, a) {
                    found.push((index, a, b));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(groups: &[u8], green_s: f64) -> Stage {
        Stage::fixed(groups, green_s, 3.0, 2.0)
    }

    fn plan() -> Plan {
        Plan { id: 3, offset_s: 0.0, stages: vec![stage(&[1, 5], 30.0), stage(&[2, 6], 20.0), stage(&[3, 7], 25.0)] }
    }

    #[test]
    fn a_good_plan_passes_and_reports_cycle_and_groups() {
        let p = plan();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.cycle_s(), 90.0);
        assert_eq!(p.groups().into_iter().collect::<Vec<_>>(), [1, 2, 3, 5, 6, 7]);
    }

    #[test]
    fn errors_name_the_stage_and_field() {
        let mut p = plan();
        p.stages[1].yellow_s = 12.0;
        let e = p.validate().unwrap_err();
        assert!(matches!(e, PlanError::Duration { plan: 3, stage: 1, field: "yellow_s", .. }), "{e:?}");
        assert_eq!(e.to_string(), "plan 3, stages[1].yellow_s = 12; expected 0 to 10 s");

        let mut p = plan();
        p.stages[2].green_s = f64::NAN;
        let e = p.validate().unwrap_err();
        assert!(matches!(e, PlanError::Duration { stage: 2, field: "green_s", .. }), "{e:?}");
        assert!(e.to_string().contains("stages[2].green_s = NaN"), "{e}");

        let mut p = plan();
        p.stages[0].min_green_s = Some(31.0);
        let e = p.validate().unwrap_err();
        assert_eq!(e.to_string(), "plan 3, stages[0].min_green_s = 31; expected 1 s to green_s (30 s)");

        let mut p = plan();
        p.stages[0].max_green_s = Some(29.0);
        let e = p.validate().unwrap_err();
        assert!(matches!(e, PlanError::Duration { stage: 0, field: "max_green_s", .. }), "{e:?}");

        let mut p = plan();
        p.stages[1].all_red_s = -1.0;
        assert!(matches!(p.validate(), Err(PlanError::Duration { stage: 1, field: "all_red_s", .. })));

        let mut p = plan();
        p.stages[2].permissive = vec![6];
        let e = p.validate().unwrap_err();
        assert_eq!(e.to_string(), "plan 3, stages[2].permissive: group 6; expected one of this stage's `groups`");

        let mut p = plan();
        p.stages[1].groups = vec![2, 0];
        assert!(matches!(p.validate(), Err(PlanError::Group { stage: 1, field: "groups", group: 0, .. })));

        let mut p = plan();
        p.stages[1].groups = vec![2, 2];
        assert!(matches!(p.validate(), Err(PlanError::Group { stage: 1, field: "groups", group: 2, .. })));

        let mut p = plan();
        p.stages[2].groups.clear();
        assert_eq!(p.validate(), Err(PlanError::EmptyStage { plan: 3, stage: 2 }));

        let p = Plan { id: 4, offset_s: 0.0, stages: vec![] };
        assert_eq!(p.validate(), Err(PlanError::NoStages { plan: 4 }));
    }

    #[test]
    fn cycle_and_offset_are_bounded() {
        let p = Plan { id: 1, offset_s: 0.0, stages: vec![stage(&[1], 2.0)] };
        let e = p.validate().unwrap_err();
        assert_eq!(e, PlanError::Cycle { plan: 1, cycle_s: 7.0 });
        assert!(e.to_string().contains("expected 10 to 300 s"), "{e}");

        let p = Plan { id: 1, offset_s: 0.0, stages: vec![stage(&[1], 200.0), stage(&[2], 100.0)] };
        assert!(matches!(p.validate(), Err(PlanError::Cycle { cycle_s, .. }) if cycle_s == 310.0));

        let mut p = plan();
        p.offset_s = 90.0;
        assert_eq!(p.validate(), Err(PlanError::Offset { plan: 3, value: 90.0, cycle_s: 90.0 }));
        p.offset_s = -0.5;
        assert!(matches!(p.validate(), Err(PlanError::Offset { .. })));
        p.offset_s = 89.5;
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn conflicts_lists_each_offending_pair_once() {
        let mut p = plan();
        p.stages[1].groups = vec![6, 2, 4];
        // 1 conflicts with 5 (asked the other way round), 2 with 4; 6 with nobody.
        let conflicting = |a: u8, b: u8| (a, b) == (5, 1) || (a, b) == (2, 4);
        assert_eq!(conflicts(&p, &conflicting), [(0, 1, 5), (1, 2, 4)]);
        assert!(conflicts(&p, &|_, _| false).is_empty());
    }

    const TOML_PLAN: &str = r#"
id = 12
offset_s = 15.5

[[stages]]
groups = [1, 5]
green_s = 30
yellow_s = 3
all_red_s = 2
min_green_s = 10

[[stages]]
groups = [2, 6]
permissive = [6]
green_s = 20.5
yellow_s = 3.0
all_red_s = 1.5
max_green_s = 40
"#;

    #[test]
    fn parses_from_toml() {
        let p: Plan = toml::from_str(TOML_PLAN).expect("example plan parses");
        assert_eq!(p.id, 12);
        assert_eq!(p.offset_s, 15.5);
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[0].groups, [1, 5]);
        assert!(p.stages[0].permissive.is_empty());
        assert_eq!(p.stages[0].min_green_s, Some(10.0));
        assert_eq!(p.stages[0].max_green_s, None);
        assert_eq!(p.stages[1].permissive, [6]);
        assert_eq!(p.stages[1].green_s, 20.5);
        assert_eq!(p.stages[1].max_green_s, Some(40.0));
        assert_eq!(p.cycle_s(), 60.0);
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn parses_from_json_and_round_trips() {
        let json = r#"{"id": 2, "stages": [{"groups": [1], "green_s": 20, "yellow_s": 3, "all_red_s": 2},
                                           {"groups": [2, 3], "permissive": [3], "green_s": 15, "yellow_s": 3, "all_red_s": 2}]}"#;
        let p: Plan = serde_json::from_str(json).expect("json plan parses");
        assert_eq!(p.offset_s, 0.0);
        assert_eq!(p.stages[1].permissive, [3]);
        assert_eq!(p.cycle_s(), 45.0);
        assert_eq!(p.validate(), Ok(()));
        let text = serde_json::to_string(&p).expect("serialises");
        assert_eq!(serde_json::from_str::<Plan>(&text).ok(), Some(p.clone()));
        let from_toml: Plan = toml::from_str(&toml::to_string(&p).expect("toml")).expect("toml back");
        assert_eq!(from_toml, p);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json =
            r#"{"id": 2, "stages": [{"groups": [1], "green": 20, "green_s": 20, "yellow_s": 3, "all_red_s": 2}]}"#;
        let e = serde_json::from_str::<Plan>(json).unwrap_err();
        assert!(e.to_string().contains("unknown field `green`"), "{e}");
    }
}
