//! Tests of the plan runner: hand-computed timings, plan switches, and properties.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn stage(groups: &[u8], permissive: &[u8], green_s: f64, yellow_s: f64, all_red_s: f64) -> Stage {
    Stage { permissive: permissive.to_vec(), ..Stage::fixed(groups, green_s, yellow_s, all_red_s) }
}

/// Four stages, cycle 100 s: S0 [1,5] 0–35, S1 [2,6*] 35–55, S2 [3,7] 55–85, S3 [4,8] 85–100.
fn plan_a(offset_s: f64) -> Plan {
    Plan {
        id: 1,
        offset_s,
        stages: vec![
            stage(&[1, 5], &[], 30.0, 3.0, 2.0),
            stage(&[2, 6], &[6], 15.0, 3.0, 2.0),
            stage(&[3, 7], &[], 25.0, 3.0, 2.0),
            stage(&[4, 8], &[], 10.0, 3.0, 2.0),
        ],
    }
}

/// Two stages, cycle 90 s: S0 [1,5] green 40 (min 10), S1 [2,6] green 40 (max 60).
fn plan_c(offset_s: f64) -> Plan {
    let mut s0 = stage(&[1, 5], &[], 40.0, 3.0, 2.0);
    s0.min_green_s = Some(10.0);
    let mut s1 = stage(&[2, 6], &[], 40.0, 3.0, 2.0);
    s1.max_green_s = Some(60.0);
    Plan { id: 2, offset_s, stages: vec![s0, s1] }
}

fn group(state: &ControllerState, id: u8) -> &GroupState {
    match state.groups.iter().find(|g| g.group == id) {
        Some(g) => g,
        None => panic!("group {id} missing from {state:?}"),
    }
}

fn at(runner: &mut PlanRunner, t: f64) -> ControllerState {
    runner.advance(t);
    runner.state()
}

/// Asserts a group's light, start, exact end (min = likely = max, confidence 1) and what follows.
#[track_caller]
fn check(state: &ControllerState, id: u8, light: Light, start: f64, end: f64, next: Light, next_duration: f64) {
    let g = group(state, id);
    let want = GroupState {
        group: id,
        light,
        start_s: start,
        min_end_s: end,
        max_end_s: end,
        likely_end_s: end,
        confidence: 1.0,
        next_light: next,
        next_duration_s: Some(next_duration),
    };
    assert_eq!(g, &want, "group {id} at {}", state.time_s);
}

fn greens(state: &ControllerState) -> BTreeSet<u8> {
    state.groups.iter().filter(|g| g.light.is_green()).map(|g| g.group).collect()
}

use Light::{PermissiveGreen as PG, ProtectedGreen as G, Red as R, Yellow as Y};

#[test]
fn four_stage_plan_matches_hand_computed_timing() {
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    let s = r.state();
    assert_eq!((s.time_s, s.plan_id, s.stage), (1000.0, 1, 0));
    assert_eq!(s.groups.iter().map(|g| g.group).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7, 8]);
    check(&s, 1, G, 1000.0, 1030.0, Y, 3.0);
    check(&s, 5, G, 1000.0, 1030.0, Y, 3.0);
    check(&s, 2, R, 1000.0, 1035.0, G, 15.0);
    check(&s, 6, R, 1000.0, 1035.0, PG, 15.0);
    check(&s, 3, R, 1000.0, 1055.0, G, 25.0);
    check(&s, 4, R, 1000.0, 1085.0, G, 10.0);
    assert_eq!(greens(&s), BTreeSet::from([1, 5]));

    let s = at(&mut r, 1031.0);
    check(&s, 1, Y, 1030.0, 1033.0, R, 67.0);
    assert!(greens(&s).is_empty());

    let s = at(&mut r, 1034.0);
    assert_eq!(s.stage, 0, "still the all-red of stage 0");
    check(&s, 1, R, 1033.0, 1100.0, G, 30.0);
    check(&s, 2, R, 1000.0, 1035.0, G, 15.0);
    assert_eq!(r.next_boundary_s(), 1035.0);

    let s = at(&mut r, 1040.0);
    assert_eq!(s.stage, 1);
    check(&s, 2, G, 1035.0, 1050.0, Y, 3.0);
    check(&s, 6, PG, 1035.0, 1050.0, Y, 3.0);
    check(&s, 1, R, 1033.0, 1100.0, G, 30.0);
    assert_eq!(greens(&s), BTreeSet::from([2, 6]));

    let s = at(&mut r, 1060.0);
    assert_eq!(s.stage, 2);
    check(&s, 3, G, 1055.0, 1080.0, Y, 3.0);
    check(&s, 2, R, 1053.0, 1135.0, G, 15.0);

    let s = at(&mut r, 1099.0);
    assert_eq!(s.stage, 3);
    check(&s, 4, R, 1098.0, 1185.0, G, 10.0);
    check(&s, 1, R, 1033.0, 1100.0, G, 30.0);

    // The cycle wraps.
    let s = at(&mut r, 1100.0);
    assert_eq!(s.stage, 0);
    check(&s, 1, G, 1100.0, 1130.0, Y, 3.0);
    check(&s, 4, R, 1098.0, 1185.0, G, 10.0);

    // A long jump (ten cycles) lands on the same schedule with true start times.
    let s = at(&mut r, 2140.0);
    assert_eq!(s.stage, 1);
    check(&s, 2, G, 2135.0, 2150.0, Y, 3.0);
    check(&s, 1, R, 2133.0, 2200.0, G, 30.0);
    check(&s, 4, R, 2098.0, 2185.0, G, 10.0);

    // Time never goes backwards.
    let s = at(&mut r, 1500.0);
    assert_eq!(s.time_s, 2140.0);
    r.advance(f64::NAN);
    assert_eq!(r.time_s(), 2140.0);
}

#[test]
fn offset_places_stage_zero_green() {
    // Stage 0 green at 1000 + 30 + 100k: at 1000 the plan is 70 s into its cycle, stage 2's green.
    let mut r = PlanRunner::new(plan_a(30.0), 1000.0).expect("valid plan");
    let s = r.state();
    assert_eq!(s.stage, 2);
    check(&s, 3, G, 1000.0, 1010.0, Y, 3.0);
    check(&s, 1, R, 1000.0, 1030.0, G, 30.0);
    check(&s, 4, R, 1000.0, 1015.0, G, 10.0);
    let s = at(&mut r, 1030.0);
    assert_eq!(s.stage, 0);
    check(&s, 1, G, 1030.0, 1060.0, Y, 3.0);
    let s = at(&mut r, 1135.0);
    check(&s, 1, G, 1130.0, 1160.0, Y, 3.0);

    // The offset counts from the start time, whatever it is.
    let s = PlanRunner::new(plan_a(30.0), -70.0).expect("valid").state();
    assert_eq!(s.stage, 2);
    check(&s, 3, G, -70.0, -60.0, Y, 3.0);
    check(&s, 1, R, -70.0, -40.0, G, 30.0);
}

#[test]
fn pending_plan_switches_at_the_boundary_and_spat_already_shows_it() {
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    r.advance(1010.0);
    // Plan C (offset 15) is 20 s into its stage 0 green at the boundary 1035, with 20 s left >= its
    // 10 s minimum: it joins there, stage 0 green 1035-1055, stage 1 from 1060.
    r.command(plan_c(15.0), 1010.0).expect("valid plan");
    assert_eq!(r.pending().map(|p| p.id), Some(2));
    assert_eq!(r.plan().id, 1);
    assert_eq!(r.next_boundary_s(), 1035.0);

    let s = r.state();
    assert_eq!((s.plan_id, s.stage), (1, 0));
    // The running green is the same under both plans.
    check(&s, 1, G, 1000.0, 1030.0, Y, 3.0);
    // Group 2 waits for stage 1: 1035 under plan A, 1060 under plan C, which is what will run.
    let g2 = group(&s, 2);
    assert_eq!((g2.light, g2.min_end_s, g2.likely_end_s, g2.max_end_s), (R, 1035.0, 1060.0, 1060.0));
    assert_eq!((g2.confidence, g2.next_light, g2.next_duration_s), (1.0, G, Some(40.0)));
    // Group 3 is in no stage of plan C: it stays red, end unknown.
    let g3 = group(&s, 3);
    assert_eq!(
        (g3.light, g3.confidence, g3.likely_end_s, g3.min_end_s, g3.max_end_s),
        (R, 0.0, 1110.0, 1110.0, 1110.0)
    );
    assert_eq!((g3.next_light, g3.next_duration_s), (R, None));

    // The running green is not cut.
    let s = at(&mut r, 1029.9);
    assert_eq!(group(&s, 1).light, G);
    let s = at(&mut r, 1030.0);
    assert_eq!(group(&s, 1).light, Y);
    let s = at(&mut r, 1034.0);
    let g1 = group(&s, 1);
    assert_eq!((g1.light, g1.start_s), (R, 1033.0));
    assert_eq!((g1.min_end_s, g1.likely_end_s, g1.max_end_s), (1035.0, 1035.0, 1100.0));
    assert_eq!((g1.next_light, g1.next_duration_s), (G, Some(20.0)));

    let s = at(&mut r, 1035.0);
    assert!(r.pending().is_none());
    assert_eq!((s.plan_id, s.stage), (2, 0));
    check(&s, 1, G, 1035.0, 1055.0, Y, 3.0);
    check(&s, 2, R, 1000.0, 1060.0, G, 40.0);
    let g3 = group(&s, 3);
    assert_eq!((g3.light, g3.confidence, g3.likely_end_s), (R, 0.0, 1125.0));
    let s = at(&mut r, 1061.0);
    assert_eq!(s.stage, 1);
    check(&s, 2, G, 1060.0, 1100.0, Y, 3.0);
    check(&s, 1, R, 1058.0, 1105.0, G, 40.0);
}

#[test]
fn joining_late_takes_the_next_stage_and_stretches_it_within_max_green() {
    // Offset 0: at 1035 plan C is 35 s into stage 0, only 5 s of green left (< 10 s minimum): the
    // runner starts stage 1 early, stretching its green by the 10 s difference (max 60): 1035-1085.
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    r.command(plan_c(0.0), 1010.0).expect("valid plan");
    let s = r.state();
    check(&s, 2, R, 1000.0, 1035.0, G, 50.0);
    let g1 = group(&s, 1);
    assert_eq!((g1.likely_end_s, g1.next_duration_s), (1030.0, Some(3.0)));
    let s = at(&mut r, 1040.0);
    assert_eq!((s.plan_id, s.stage), (2, 1));
    check(&s, 2, G, 1035.0, 1085.0, Y, 3.0);
    check(&s, 1, R, 1033.0, 1090.0, G, 40.0);
    // Back on plan C's own schedule: stage 0 at 1000 + 90k.
    let s = at(&mut r, 1185.0);
    check(&s, 1, G, 1180.0, 1220.0, Y, 3.0);

    // With max green 45 only 5 s can be absorbed: the plan keeps a 5 s lead (stage 0 at 1085).
    let mut capped = plan_c(0.0);
    capped.stages[1].max_green_s = Some(45.0);
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    r.command(capped, 1010.0).expect("valid plan");
    let s = at(&mut r, 1040.0);
    check(&s, 2, G, 1035.0, 1080.0, Y, 3.0);
    check(&s, 1, R, 1033.0, 1085.0, G, 40.0);
    let s = at(&mut r, 1176.0);
    check(&s, 1, G, 1175.0, 1215.0, Y, 3.0);

    // Without min_green_s a green is never shortened: offset 15 (20 s of green left) still takes
    // stage 1 early, stretched by 20 of the 25 s difference.
    let mut no_min = plan_c(15.0);
    no_min.stages[0].min_green_s = None;
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    r.command(no_min, 1010.0).expect("valid plan");
    let s = at(&mut r, 1036.0);
    check(&s, 2, G, 1035.0, 1095.0, Y, 3.0);
}

#[test]
fn a_later_command_replaces_the_pending_plan_and_bad_input_changes_nothing() {
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    r.command(plan_c(0.0), 1005.0).expect("valid plan");
    let mut again = plan_a(0.0);
    again.id = 9;
    r.command(again, 1006.0).expect("valid plan");
    let mut bad = plan_c(0.0);
    bad.stages[1].yellow_s = 20.0;
    let before = r.state();
    assert!(matches!(r.command(bad, 1007.0), Err(PlanError::Duration { stage: 1, field: "yellow_s", .. })));
    assert!(matches!(r.command(plan_c(0.0), f64::NAN), Err(PlanError::Time { what: "now_s", .. })));
    assert_eq!(r.state(), before);
    assert_eq!(r.pending().map(|p| p.id), Some(9));
    // Same timing, same offset: the switch is seamless.
    let s = at(&mut r, 1040.0);
    assert_eq!((s.plan_id, s.stage), (9, 1));
    check(&s, 2, G, 1035.0, 1050.0, Y, 3.0);

    // A command exactly at a boundary waits for the next one.
    let mut r = PlanRunner::new(plan_a(0.0), 1000.0).expect("valid plan");
    r.command(plan_c(0.0), 1035.0).expect("valid plan");
    assert_eq!((r.plan().id, r.state().stage, r.next_boundary_s()), (1, 1, 1055.0));
    // Plan C is then 10 s into stage 1's green, which has no min green: stage 0 comes early.
    let s = at(&mut r, 1055.0);
    assert_eq!((s.plan_id, s.stage), (2, 0));
    check(&s, 1, G, 1055.0, 1095.0, Y, 3.0);

    assert!(matches!(PlanRunner::new(plan_a(0.0), f64::INFINITY), Err(PlanError::Time { what: "start_s", .. })));
    assert!(matches!(PlanRunner::new(plan_a(100.0), 0.0), Err(PlanError::Offset { .. })));
}

#[test]
fn state_serialises_for_the_daemon() {
    let r = PlanRunner::new(plan_a(0.0), 0.0).expect("valid plan");
    let json = serde_json::to_value(r.state()).expect("serialises");
    assert_eq!(json["groups"][0]["light"], "protected_green");
    assert_eq!(json["groups"][1]["next_light"], "protected_green");
    let back: ControllerState = serde_json::from_value(json).expect("parses back");
    assert_eq!(back, r.state());
}

// ---- properties -------------------------------------------------------------------------------

fn arb_stage() -> impl Strategy<Value = Stage> {
    (
        proptest::sample::subsequence((1u8..=6).collect::<Vec<_>>(), 1..=3),
        proptest::collection::vec(any::<bool>(), 3),
        2u32..=100,
        prop_oneof![1 => Just(0u32), 3 => 0u32..=12],
        prop_oneof![1 => Just(0u32), 3 => 0u32..=8],
        proptest::option::of(0.0..1.0f64),
        proptest::option::of(0u32..=60),
    )
        .prop_map(|(groups, perm, green, yellow, all_red, min, max)| {
            let green_s = f64::from(green) / 2.0;
            let permissive = groups.iter().zip(perm).filter(|(_, p)| *p).map(|(g, _)| *g).collect();
            Stage {
                groups,
                permissive,
                green_s,
                yellow_s: f64::from(yellow) / 2.0,
                all_red_s: f64::from(all_red) / 2.0,
                min_green_s: min.map(|f| 1.0 + f * (green_s - 1.0)),
                max_green_s: max.map(|extra| green_s + f64::from(extra) / 2.0),
            }
        })
}

fn arb_plan() -> impl Strategy<Value = Plan> {
    (1u32..100, proptest::collection::vec(arb_stage(), 1..=5), 0.0..1.0f64).prop_map(|(id, mut stages, offset)| {
        let cycle: f64 = stages.iter().map(Stage::duration_s).sum();
        if cycle < 10.0 {
            let s = &mut stages[0];
            s.green_s += 10.0 - cycle;
            s.max_green_s = s.max_green_s.map(|m| m.max(s.green_s));
        }
        let cycle: f64 = stages.iter().map(Stage::duration_s).sum();
        Plan { id, offset_s: (offset * cycle).min(cycle - 0.5), stages }
    })
}

/// Checks one state on its own: invariants (1) and (2).
fn check_state(r: &PlanRunner, s: &ControllerState, t: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(s.time_s, t);
    let running: BTreeSet<u8> = r.plan().stages[s.stage].groups.iter().copied().collect();
    let green = greens(s);
    prop_assert!(green.is_empty() || green == running, "greens {:?} vs stage {:?} at {}", green, running, t);
    for g in &s.groups {
        if g.light == Light::Yellow {
            prop_assert!(running.contains(&g.group));
        }
        prop_assert!(g.min_end_s <= g.likely_end_s && g.likely_end_s <= g.max_end_s, "{:?}", g);
        prop_assert!(g.start_s <= t && t < g.likely_end_s, "{:?} at {}", g, t);
        prop_assert!(g.confidence == 1.0 || g.confidence == 0.0);
        prop_assert!(g.next_duration_s.is_none_or(|d| d > 0.0), "{:?}", g);
    }
    Ok(())
}

const STEP: f64 = 0.1;
const SLACK: f64 = 1e-6;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Stepping 0.1 s through 300 s with plan changes at random times: (1) greens are one
    /// stage's groups or none; (2) end-time ordering; (3) every change happens inside the
    /// previous state's [min_end, max_end], exactly at likely_end when confidence is 1, to the
    /// announced next light; no green is shorter than its stage's shortest green.
    #[test]
    fn stepping_keeps_the_spat_promises(
        plan in arb_plan(),
        start in -10_000.0..10_000.0f64,
        commands in proptest::collection::vec((0usize..3000, arb_plan()), 0..=3),
    ) {
        let mut r = PlanRunner::new(plan, start).expect("generated plans are valid");
        let mut by_step: BTreeMap<usize, Vec<Plan>> = BTreeMap::new();
        for (step, p) in commands {
            by_step.entry(step).or_default().push(p);
        }
        let mut prev = r.state();
        check_state(&r, &prev, start)?;
        // group -> shortest green of the stage whose green it is showing (greens begun while watched)
        let mut green_since: BTreeMap<u8, f64> = BTreeMap::new();
        for step in 1..3000 {
            let t = start + step as f64 * STEP;
            r.advance(t);
            let commanded = by_step.remove(&step);
            if let Some(plans) = &commanded {
                for p in plans {
                    r.command(p.clone(), t).expect("generated plans are valid");
                }
            }
            let s = r.state();
            check_state(&r, &s, t)?;
            for g in &s.groups {
                let Some(p) = prev.groups.iter().find(|p| p.group == g.group) else { continue };
                if g.light != p.light {
                    prop_assert!(p.min_end_s <= t + SLACK && p.max_end_s > t - STEP - SLACK,
                        "group {} changed {:?}->{:?} in ({}, {}] outside {:?}", g.group, p.light, g.light, t - STEP, t, p);
                    if p.confidence == 1.0 {
                        prop_assert!(p.likely_end_s > t - STEP - SLACK && p.likely_end_s <= t + SLACK, "{:?} at {}", p, t);
                        prop_assert_eq!(g.light, p.next_light);
                        prop_assert!((g.start_s - p.likely_end_s).abs() < SLACK, "{:?} after {:?}", g, p);
                        if let (Some(d), None, 1.0) = (p.next_duration_s, &commanded, g.confidence) {
                            prop_assert!((g.likely_end_s - (p.likely_end_s + d)).abs() < SLACK, "{:?} after {:?}", g, p);
                        }
                    }
                    if p.light.is_green() {
                        if let Some(shortest) = green_since.remove(&g.group) {
                            prop_assert!(p.likely_end_s - p.start_s >= shortest - SLACK, "green {:?} < {}", p, shortest);
                        }
                    }
                    if g.light.is_green() {
                        let st = &r.plan().stages[s.stage];
                        green_since.insert(g.group, st.shortest_green_s());
                    }
                } else if p.confidence == 1.0 {
                    prop_assert!(p.likely_end_s > t - SLACK, "group {} should have changed at {:?}, t {}", g.group, p, t);
                }
            }
            prev = s;
        }
    }

    /// Long jumps (fast-forwarding whole cycles) give the same states as small steps.
    #[test]
    fn jumping_equals_stepping(
        plan in arb_plan(),
        start in -10_000.0..10_000.0f64,
        gaps in proptest::collection::vec((0.0..1500.0f64, proptest::option::of(arb_plan())), 1..8),
    ) {
        let mut jumper = PlanRunner::new(plan.clone(), start).expect("valid");
        let mut stepper = PlanRunner::new(plan, start).expect("valid");
        let mut t = start;
        for (gap, command) in gaps {
            let target = t + gap;
            let step = stepper.plan().cycle_s().min(stepper.pending().map_or(f64::MAX, Plan::cycle_s)) / 3.0;
            while t + step < target {
                t += step;
                stepper.advance(t);
            }
            t = target;
            stepper.advance(t);
            jumper.advance(t);
            if let Some(p) = command {
                stepper.command(p.clone(), t).expect("valid");
                jumper.command(p, t).expect("valid");
            }
            let (a, b) = (jumper.state(), stepper.state());
            prop_assert_eq!((a.time_s, a.plan_id, a.stage), (b.time_s, b.plan_id, b.stage));
            prop_assert_eq!(a.groups.len(), b.groups.len());
            for (x, y) in a.groups.iter().zip(&b.groups) {
                prop_assert_eq!((x.group, x.light, x.next_light), (y.group, y.light, y.next_light));
                prop_assert_eq!(x.confidence, y.confidence);
                for (u, v) in [(x.start_s, y.start_s), (x.min_end_s, y.min_end_s), (x.likely_end_s, y.likely_end_s), (x.max_end_s, y.max_end_s)] {
                    prop_assert!((u - v).abs() < SLACK, "{:?} vs {:?}", x, y);
                }
                prop_assert_eq!(x.next_duration_s.is_some(), y.next_duration_s.is_some());
            }
        }
    }

    /// Arbitrary (even invalid) plans and times never panic; invalid ones are refused.
    #[test]
    fn arbitrary_input_never_panics(
        groups in proptest::collection::vec(any::<u8>(), 0..4),
        durations in proptest::collection::vec(prop_oneof![Just(f64::NAN), Just(-1.0), 0.0..400.0f64], 3),
        offset in prop_oneof![Just(f64::INFINITY), -50.0..400.0f64],
        times in proptest::collection::vec(prop_oneof![Just(f64::NAN), -1e6..1e6f64], 1..6),
    ) {
        let p = Plan { id: 1, offset_s: offset, stages: vec![stage(&groups, &[], durations[0], durations[1], durations[2])] };
        let valid = p.validate().is_ok();
        let fallback = PlanRunner::new(plan_a(0.0), 0.0).expect("valid");
        let mut r = match PlanRunner::new(p.clone(), 0.0) {
            Ok(r) => { prop_assert!(valid); r }
            Err(_) => { prop_assert!(!valid); fallback }
        };
        for t in times {
            r.advance(t);
            let _ = r.command(p.clone(), t);
            let s = r.state();
            prop_assert!(s.groups.iter().all(|g| g.likely_end_s.is_finite() && g.start_s.is_finite()));
        }
    }
}

#[test]
fn a_green_running_on_into_the_next_stage_keeps_its_start() {
    // Group 7 is in both stages of Q and stage 0 has no yellow or all-red: its green runs on.
    let p = Plan { id: 1, offset_s: 0.0, stages: vec![stage(&[2], &[], 10.0, 0.0, 0.0)] };
    let q = Plan {
        id: 2,
        offset_s: 0.0,
        stages: vec![stage(&[7], &[7], 23.0, 0.0, 0.0), stage(&[2, 3, 7], &[7], 1.0, 0.0, 0.5)],
    };
    let mut r = PlanRunner::new(p, 0.0).expect("valid");
    r.command(q, 0.1).expect("valid");
    // At 10 Q is 10 s into stage 0 (13 s left, no min green): stage 1 runs early, 10-11.5.
    let s = at(&mut r, 10.0);
    check(&s, 7, PG, 10.0, 11.0, R, 0.5);
    let s = at(&mut r, 11.5);
    assert_eq!(s.stage, 0);
    check(&s, 7, PG, 11.5, 35.5, R, 0.5);
    let s = at(&mut r, 34.5);
    assert_eq!(s.stage, 1);
    check(&s, 7, PG, 11.5, 35.5, R, 0.5);
    let s = at(&mut r, 35.5);
    check(&s, 7, R, 35.5, 36.0, PG, 24.0);
}
