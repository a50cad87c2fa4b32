//! The reader of the neutral scenario format `isect-scenario/0.1` on the files the SUMO peer runs
//! (copied into `tests/data/scenarios`, see SOURCES.md there), on every shared scenario file when
//! `shared/` is beside the repository, and on broken files: each rule's error names the field, and
//! no mutation of a valid file makes the reader panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Value};
use sim::scenario::{Scenario, ScenarioError, Side, Turn};

const SINGLE: &str = include_str!("data/scenarios/single-4leg-mid.json");
const GRID: &str = include_str!("data/scenarios/grid3x3-mid.json");

fn single() -> Scenario {
    Scenario::parse("single-4leg-mid.json", SINGLE).expect("single-4leg-mid parses")
}

fn grid() -> Scenario {
    Scenario::parse("grid3x3-mid.json", GRID).expect("grid3x3-mid parses")
}

/// The invariants of an accepted scenario: every signal node's fixed plan converts and validates,
/// every route's movements resolve at every signal node it passes, lanes and demand answer.
fn check_accepted(sc: &Scenario) {
    for node in sc.signal_nodes() {
        let plan = sc.fixed_plan(node).unwrap_or_else(|e| panic!("fixed plan of {node}: {e}"));
        assert_eq!(plan.validate(), Ok(()));
        let movements = sc.movements(node);
        for (i, m) in movements.iter().enumerate() {
            assert_eq!(usize::from(m.signal_group), i + 1);
        }
        for a in sc.approaches(node) {
            let lanes = sc.approach_lanes(node, &a.from);
            assert!(!lanes.is_empty(), "{node} from {}", a.from);
        }
    }
    for r in &sc.demand.routes {
        let ms = sc.route_movements(&r.id);
        assert_eq!(ms.len(), r.path.len() - 2, "route {}", r.id);
        for (node, name) in &ms {
            assert!(sc.movements(node).iter().any(|m| &m.name == name), "route {}: {name} at {node}", r.id);
        }
        assert_eq!(sc.movement_of(&r.id).is_some(), r.path.len() == 3);
        let (start, end) = sc.measured_period();
        for t in [0.0, start, (start + end) / 2.0, end - 1e-9, end] {
            let q = sc.flow_vph(&r.id, t);
            assert!(q.is_finite() && q >= 0.0);
        }
    }
}

/// Movement flows per node summed over routes, to compare with the `derived_info` the Python side
/// computed with its own geometry.
fn check_flows_match_derived_info(sc: &Scenario, doc: &Value) {
    let derived = &doc["derived_info"]["signals"];
    let mut checked = 0;
    for node in sc.signal_nodes() {
        let Some(expected) = derived[node]["movement_flows_vph"].as_object() else {
            continue;
        };
        let mut sums: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for r in &sc.demand.routes {
            for (n, name) in sc.route_movements(&r.id) {
                if n == node {
                    let acc = sums.entry(name).or_insert_with(|| vec![0.0; sc.intervals()]);
                    for (a, q) in acc.iter_mut().zip(&r.flows_vph) {
                        *a += q;
                    }
                }
            }
        }
        assert_eq!(sums.len(), expected.len(), "{node}: movements with flow");
        for (name, flows) in expected {
            let ours = &sums[name];
            for (k, q) in flows.as_array().unwrap().iter().enumerate() {
                assert!((ours[k] - q.as_f64().unwrap()).abs() < 1e-6, "{node} {name}[{k}]: {} vs {q}", ours[k]);
            }
        }
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn single_4leg_has_the_twelve_movements_of_the_convention() {
    let sc = single();
    assert_eq!(sc.signal_nodes(), ["J"]);
    let names: Vec<String> = sc.movements("J").into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["SBL", "SBT", "SBR", "WBL", "WBT", "WBR", "NBL", "NBT", "NBR", "EBL", "EBT", "EBR"]);
    // by hand: from N through J to E is southbound-left
    let sbl = sc.movements("J").into_iter().find(|m| m.name == "SBL").unwrap();
    assert_eq!(
        (sbl.from.as_str(), sbl.to.as_str(), sbl.entry, sbl.turn, sbl.signal_group),
        ("N", "E", Side::N, Turn::L, 1)
    );
    assert_eq!(sc.movement_of("SBL"), Some(("J".to_string(), "SBL".to_string())));
    // W -> J -> N is eastbound-left, E -> J -> N westbound-right, S -> J -> N northbound-through
    assert_eq!(sc.movement_name("W", "J", "N").as_deref(), Some("EBL"));
    assert_eq!(sc.movement_name("E", "J", "N").as_deref(), Some("WBR"));
    assert_eq!(sc.movement_name("S", "J", "N").as_deref(), Some("NBT"));
    assert_eq!(sc.signal_group("J", "EBR"), Some(12));
    // the file names every route after its movement
    for r in &sc.demand.routes {
        assert_eq!(sc.movement_of(&r.id), Some(("J".to_string(), r.id.clone())), "route {}", r.id);
    }
    let sides: Vec<(String, Side)> = sc.approaches("J").into_iter().map(|a| (a.from, a.side)).collect();
    assert_eq!(sides, [("N".into(), Side::N), ("E".into(), Side::E), ("S".into(), Side::S), ("W".into(), Side::W)]);
    assert!(sc.movements("N").is_empty());
    assert_eq!(sc.route_movements("no such route"), Vec::<(String, String)>::new());
    check_accepted(&sc);
    check_flows_match_derived_info(&sc, &serde_json::from_str(SINGLE).unwrap());
}

#[test]
fn single_4leg_lanes_are_right_to_left_with_a_left_pocket() {
    let sc = single();
    let lanes = sc.approach_lanes("J", "N");
    assert_eq!(lanes.len(), 3);
    assert_eq!((lanes[0].turns.as_str(), &lanes[0].movements[..]), ("TR", &["SBT".to_string(), "SBR".to_string()][..]));
    assert_eq!((lanes[1].turns.as_str(), &lanes[1].movements[..]), ("T", &["SBT".to_string()][..]));
    assert_eq!((lanes[2].turns.as_str(), &lanes[2].movements[..]), ("L", &["SBL".to_string()][..]));
    assert!(!lanes[0].pocket && !lanes[1].pocket && lanes[2].pocket);
    assert_eq!((lanes[0].length_m, lanes[1].length_m, lanes[2].length_m), (300.0, 300.0, 75.0));
    assert_eq!(sc.movements("J")[0].lanes, [2]); // SBL on the pocket
    assert_eq!(sc.movements("J")[1].lanes, [0, 1]); // SBT on both through lanes
    assert!(sc.approach_lanes("J", "nowhere").is_empty());
    assert!(sc.approach_lanes("N", "J").is_empty()); // boundary nodes have no stop line
    assert_eq!(sc.link_length_m("N", "J"), Some(300.0));
}

#[test]
fn single_4leg_fixed_plan_converts_with_the_cycle_of_the_file() {
    let sc = single();
    let plan = sc.fixed_plan("J").unwrap();
    assert_eq!(plan.validate(), Ok(()));
    assert!((plan.cycle_s() - 95.3).abs() < 1e-9, "{}", plan.cycle_s());
    assert_eq!(plan.offset_s, 0.0);
    let groups: Vec<Vec<u8>> = plan.stages.iter().map(|s| s.groups.clone()).collect();
    // EBL=10 WBL=4 | EBT EBR WBT WBR | NBL=7 SBL=1 | NBT NBR SBT SBR
    assert_eq!(groups, [vec![10, 4], vec![11, 12, 5, 6], vec![7, 1], vec![8, 9, 2, 3]]);
    let s = &plan.stages[1];
    assert_eq!(
        (s.green_s, s.yellow_s, s.all_red_s, s.min_green_s, s.max_green_s),
        (34.8, 3.0, 2.0, Some(10.0), Some(52.0))
    );
    assert!(sc.fixed_plan("N").is_err());
}

#[test]
fn demand_in_time() {
    let sc = single();
    assert_eq!(sc.intervals(), 4);
    assert_eq!(sc.measured_period(), (300.0, 3900.0));
    // EBL: 140, 175, 165, 150
    assert_eq!(sc.flow_vph("EBL", 0.0), 140.0); // warm-up repeats interval 0
    assert_eq!(sc.flow_vph("EBL", 299.9), 140.0);
    assert_eq!(sc.flow_vph("EBL", 300.0), 140.0);
    assert_eq!(sc.flow_vph("EBL", 1200.0), 175.0);
    assert_eq!(sc.flow_vph("EBL", 3899.0), 150.0);
    assert_eq!(sc.flow_vph("EBL", 3900.0), 0.0); // drain: no demand
    assert_eq!(sc.flow_vph("EBL", -1.0), 0.0);
    assert_eq!(sc.flow_vph("EBL", f64::NAN), 0.0);
    assert_eq!(sc.flow_vph("nope", 1000.0), 0.0);
}

#[test]
fn grid_has_nine_signal_nodes_and_every_route_resolves() {
    let sc = grid();
    assert_eq!(sc.signal_nodes().len(), 9);
    for node in sc.signal_nodes() {
        assert_eq!(sc.movements(node).len(), 12, "{node}");
        assert!(sc.fixed_plan(node).is_ok());
    }
    // W0 -> J00 -> J01 -> J02 -> E0 is eastbound-through at each node
    let r = &sc.demand.routes[0];
    assert_eq!(r.path, ["W0", "J00", "J01", "J02", "E0"]);
    let ms = sc.route_movements(&r.id);
    assert_eq!(ms, [("J00".into(), "EBT".into()), ("J01".into(), "EBT".into()), ("J02".into(), "EBT".into())]);
    assert_eq!(sc.movement_of(&r.id), None);
    // between two signal nodes the stop line has the template's pocket too
    assert!(sc.approach_lanes("J01", "J00")[2].pocket);
    check_accepted(&sc);
    check_flows_match_derived_info(&sc, &serde_json::from_str(GRID).unwrap());
}

#[test]
fn every_shared_scenario_file_parses() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/sumo/scenarios");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return; // no shared/ beside the repository (CI without it): nothing to check
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let sc = Scenario::parse(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        check_accepted(&sc);
        check_flows_match_derived_info(&sc, &serde_json::from_str(&text).unwrap());
        n += 1;
    }
    assert!(n >= 6, "{n} files in {}", dir.display());
}

// ------------------------------------------------------------------------------------------------
// Bad input
// ------------------------------------------------------------------------------------------------

fn mutated(base: &str, f: impl FnOnce(&mut Value)) -> Result<Scenario, ScenarioError> {
    let mut v: Value = serde_json::from_str(base).unwrap();
    f(&mut v);
    Scenario::parse("bad.json", &serde_json::to_string(&v).unwrap())
}

/// The mutation is refused with an error at `path` whose message holds `says`.
#[track_caller]
fn refused(base: &str, path: &str, says: &str, f: impl FnOnce(&mut Value)) -> ScenarioError {
    let e = mutated(base, f).expect_err("the mutated scenario is refused");
    assert_eq!(e.path, path, "{e}");
    assert!(e.message.contains(says), "{e}");
    assert!(e.to_string().starts_with(&format!("bad.json: {path}: ")), "{e}");
    e
}

#[test]
fn refuses_a_wrong_schema() {
    refused(SINGLE, "schema", "expected \"isect-scenario/0.1\"", |v| v["schema"] = json!("isect-scenario/0.2"));
}

#[test]
fn refuses_durations_that_are_not_positive() {
    refused(SINGLE, "duration_s", "expected a number > 0", |v| v["duration_s"] = json!(0));
    refused(SINGLE, "interval_s", "-900; expected a number > 0", |v| v["interval_s"] = json!(-900));
    refused(SINGLE, "step_s", "expected a number > 0", |v| v["step_s"] = json!(0.0));
    refused(SINGLE, "warmup_s", "expected a number >= 0", |v| v["warmup_s"] = json!(-1));
    refused(SINGLE, "drain_max_s", "expected a number >= 0", |v| v["drain_max_s"] = json!(-1));
    refused(SINGLE, "seeds", "empty", |v| v["seeds"] = json!([]));
    mutated(SINGLE, |v| v["warmup_s"] = json!(0)).expect("no warm-up is fine");
}

#[test]
fn refuses_a_duration_that_is_not_a_multiple_of_the_interval() {
    refused(SINGLE, "duration_s", "3500 s is not a whole number of interval_s (900 s)", |v| {
        v["duration_s"] = json!(3500)
    });
    refused(SINGLE, "duration_s", "not a whole number", |v| v["interval_s"] = json!(7200));
}

#[test]
fn refuses_a_flow_count_that_does_not_match_the_intervals() {
    let e = refused(SINGLE, "demand.routes[0].flows_vph", "", |v| {
        v["demand"]["routes"][0]["flows_vph"].as_array_mut().unwrap().pop();
    });
    assert_eq!(e.message, "3 intervals but duration_s / interval_s = 4");
    refused(SINGLE, "demand.routes[0].flows_vph", "4 intervals but duration_s / interval_s = 3", |v| {
        v["duration_s"] = json!(2700)
    });
}

#[test]
fn refuses_flows_that_are_negative() {
    refused(SINGLE, "demand.routes[0].flows_vph[2]", "-5; expected a number >= 0", |v| {
        v["demand"]["routes"][0]["flows_vph"][2] = json!(-5)
    });
    refused(SINGLE, "demand.routes[0].flows_vph[1]", "expected a number, found the string", |v| {
        v["demand"]["routes"][0]["flows_vph"][1] = json!("lots")
    });
    mutated(SINGLE, |v| v["demand"]["routes"][0]["flows_vph"][2] = json!(0)).expect("a zero flow is fine");
}

#[test]
fn refuses_vehicle_parameters_that_are_not_positive() {
    for field in [
        "length_m",
        "accel_mps2",
        "decel_mps2",
        "emergency_decel_mps2",
        "headway_s",
        "speed_factor_mean",
        "max_speed_kmh",
    ] {
        refused(SINGLE, &format!("vehicle.{field}"), "expected a number > 0", |v| v["vehicle"][field] = json!(0));
    }
    refused(SINGLE, "vehicle.min_gap_m", "expected a number >= 0", |v| v["vehicle"]["min_gap_m"] = json!(-0.5));
    refused(SINGLE, "vehicle.imperfection", "expected a number from 0 to 1", |v| {
        v["vehicle"]["imperfection"] = json!(1.5)
    });
    refused(SINGLE, "vehicle.length_m", "missing", |v| {
        v["vehicle"].as_object_mut().unwrap().remove("length_m");
    });
}

#[test]
fn refuses_repeated_ids() {
    refused(SINGLE, "network.nodes[2].id", "\"J\" is already the id of network.nodes[0]", |v| {
        v["network"]["nodes"][2]["id"] = json!("J")
    });
    refused(SINGLE, "network.roads[1].id", "\"N-J\" is already the id of network.roads[0]", |v| {
        v["network"]["roads"][1]["id"] = json!("N-J")
    });
    refused(SINGLE, "demand.routes[1].id", "\"EBL\" is already the id of demand.routes[0]", |v| {
        v["demand"]["routes"][1]["id"] = json!("EBL")
    });
}

#[test]
fn refuses_roads_that_do_not_join_two_distinct_existing_nodes() {
    refused(SINGLE, "network.roads[1].nodes[0]", "unknown node \"Q\"", |v| {
        v["network"]["roads"][1]["nodes"][0] = json!("Q")
    });
    refused(SINGLE, "network.roads[1].nodes", "both ends are \"J\"", |v| {
        v["network"]["roads"][1]["nodes"] = json!(["J", "J"])
    });
    refused(SINGLE, "network.roads[4].nodes", "a second road between \"J\" and \"N\"", |v| {
        v["network"]["roads"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "J-N", "nodes": ["J", "N"], "speed_kmh": 50, "lanes_per_direction": 1}));
    });
    refused(SINGLE, "network.roads[1].nodes", "a list of 2", |v| v["network"]["roads"][1]["nodes"] = json!(["S"]));
    refused(SINGLE, "network.roads[2].nodes", "at the same position", |v| {
        v["network"]["nodes"][3]["x_m"] = json!(0) // E onto J
    });
    refused(SINGLE, "network.roads[0].speed_kmh", "expected a number > 0", |v| {
        v["network"]["roads"][0]["speed_kmh"] = json!(0)
    });
    refused(SINGLE, "network.roads[0].lanes_per_direction", "expected at least 1 lane", |v| {
        v["network"]["roads"][0]["lanes_per_direction"] = json!(0)
    });
    refused(SINGLE, "network.roads[0].lanes_per_direction", "expected a whole number", |v| {
        v["network"]["roads"][0]["lanes_per_direction"] = json!(2.5)
    });
}

#[test]
fn refuses_two_neighbours_on_one_side_of_a_signal_node() {
    refused(SINGLE, "network.roads[4].nodes", "\"N2\" lies on the N side of signal node \"J\", as \"N\" does", |v| {
        v["network"]["nodes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "N2", "x_m": 50, "y_m": 300, "kind": "boundary"}));
        v["network"]["roads"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "N2-J", "nodes": ["N2", "J"], "speed_kmh": 50, "lanes_per_direction": 2}));
    });
}

#[test]
fn refuses_routes_with_unknown_nodes() {
    let e = refused(SINGLE, "demand.routes[3].path[1]", "", |v| v["demand"]["routes"][3]["path"][1] = json!("Q"));
    assert_eq!(e.to_string(), "bad.json: demand.routes[3].path[1]: unknown node \"Q\"");
}

#[test]
fn refuses_routes_that_do_not_connect() {
    refused(GRID, "demand.routes[0].path[2]", "no road between \"J00\" and \"J02\"", |v| {
        v["demand"]["routes"][0]["path"] = json!(["W0", "J00", "J02", "E0"])
    });
}

#[test]
fn refuses_routes_that_do_not_run_boundary_signals_boundary() {
    refused(GRID, "demand.routes[0].path[0]", "\"J00\" is a signal node", |v| {
        v["demand"]["routes"][0]["path"] = json!(["J00", "J01", "J02", "E0"])
    });
    refused(GRID, "demand.routes[0].path[3]", "\"J02\" is a signal node", |v| {
        v["demand"]["routes"][0]["path"] = json!(["W0", "J00", "J01", "J02"])
    });
    refused(SINGLE, "demand.routes[0].path[2]", "\"N\" is a boundary node", |v| {
        v["demand"]["routes"][0]["path"] = json!(["W", "J", "N", "J", "E"])
    });
    refused(SINGLE, "demand.routes[0].path", "2 nodes; expected at least 3", |v| {
        v["demand"]["routes"][0]["path"] = json!(["W", "J"])
    });
    refused(SINGLE, "demand.routes[0].path[2]", "a U-turn", |v| {
        v["demand"]["routes"][0]["path"] = json!(["W", "J", "W"])
    });
}

#[test]
fn refuses_a_route_whose_movement_no_lane_serves() {
    // N -> J has no left lane any more, and route SBL (demand.routes[9]) turns left there
    refused(SINGLE, "demand.routes[9].path[1]", "movement SBL (N -> J -> E) is served by no lane", |v| {
        v["network"]["roads"][0]["approach"] = json!({"lane_use": ["TR", "T"]})
    });
}

#[test]
fn refuses_a_route_whose_movement_no_phase_serves() {
    // SBR (demand.routes[11]) leaves phase 4
    let drop_sbr = |v: &mut Value| {
        let ms = v["signals"][0]["phases"][3]["movements"].as_array_mut().unwrap();
        ms.retain(|m| m != "SBR");
    };
    refused(SINGLE, "demand.routes[11].path[1]", "movement SBR at \"J\" is in no phase of signals[0]", drop_sbr);
    mutated(SINGLE, |v| {
        drop_sbr(v);
        v["right_turn_on_red"] = json!(true);
    })
    .expect("a right turn may go on red instead");
}

#[test]
fn refuses_signal_entries_that_do_not_match_the_signal_nodes() {
    refused(SINGLE, "signals", "no entry for signal node \"J\"", |v| v["signals"] = json!([]));
    refused(SINGLE, "signals[1].node", "\"N\" is a boundary node", |v| {
        let mut s = v["signals"][0].clone();
        s["node"] = json!("N");
        v["signals"].as_array_mut().unwrap().push(s);
    });
    refused(SINGLE, "signals[1].node", "a second entry for \"J\" (the first is signals[0])", |v| {
        let s = v["signals"][0].clone();
        v["signals"].as_array_mut().unwrap().push(s);
    });
    refused(SINGLE, "signals[0].node", "unknown node \"K\"", |v| v["signals"][0]["node"] = json!("K"));
    refused(GRID, "signals", "no entry for signal node \"J11\"", |v| {
        v["signals"].as_array_mut().unwrap().retain(|s| s["node"] != "J11")
    });
}

#[test]
fn refuses_a_phase_naming_an_unknown_movement() {
    let e = refused(SINGLE, "signals[0].phases[2].movements[1]", "", |v| {
        v["signals"][0]["phases"][2]["movements"][1] = json!("NBX")
    });
    assert_eq!(
        e.message,
        "\"NBX\" is not a movement of node J (its movements: SBL, SBT, SBR, WBL, WBT, WBR, NBL, NBT, NBR, EBL, EBT, EBR)"
    );
}

#[test]
fn refuses_phases_that_share_a_movement() {
    refused(SINGLE, "signals[0].phases[2].movements[2]", "\"EBL\" is already served by signals[0].phases[0]", |v| {
        v["signals"][0]["phases"][2]["movements"].as_array_mut().unwrap().push(json!("EBL"))
    });
    refused(SINGLE, "signals[0].phases[2].movements[2]", "listed twice in this phase", |v| {
        v["signals"][0]["phases"][2]["movements"].as_array_mut().unwrap().push(json!("NBL"))
    });
    refused(SINGLE, "signals[0].phases[2].movements", "empty", |v| {
        v["signals"][0]["phases"][2]["movements"] = json!([])
    });
    refused(SINGLE, "signals[0].phases", "empty", |v| v["signals"][0]["phases"] = json!([]));
}

#[test]
fn refuses_min_green_above_max_green() {
    refused(SINGLE, "signals[0].phases[0].max_green_s", "4 s; expected at least min_green_s (5 s)", |v| {
        v["signals"][0]["phases"][0]["max_green_s"] = json!(4)
    });
    refused(SINGLE, "signals[0].phases[0].min_green_s", "expected a number from 1 to 300", |v| {
        v["signals"][0]["phases"][0]["min_green_s"] = json!(0.5)
    });
}

#[test]
fn refuses_a_fixed_plan_that_does_not_fit_the_phases() {
    refused(SINGLE, "signals[0].fixed_plan.greens_s", "3 greens but 4 phases", |v| {
        v["signals"][0]["fixed_plan"]["greens_s"].as_array_mut().unwrap().pop();
    });
    refused(SINGLE, "signals[0].fixed_plan.greens_s[0]", "20 s; expected a green within", |v| {
        v["signals"][0]["fixed_plan"]["greens_s"][0] = json!(20)
    });
    refused(SINGLE, "signals[0].fixed_plan.offset_s", "expected a number of seconds in [0, 95.3)", |v| {
        v["signals"][0]["fixed_plan"]["offset_s"] = json!(100)
    });
    refused(SINGLE, "signals[0].yellow_s", "expected a number from 0 to 10", |v| {
        v["signals"][0]["yellow_s"] = json!(12)
    });
}

#[test]
fn refuses_a_cycle_that_is_not_the_sum_of_greens_and_clearances() {
    let e = refused(SINGLE, "signals[0].fixed_plan.cycle_s", "96 s, but", |v| {
        v["signals"][0]["fixed_plan"]["cycle_s"] = json!(96.0)
    });
    assert!(e.message.contains("add up to 95.3 s"), "{e}");
    mutated(SINGLE, |v| v["signals"][0]["fixed_plan"]["cycle_s"] = json!(95.7)).expect("0.4 s off is within tolerance");
    mutated(SINGLE, |v| v["signals"][0]["fixed_plan"]["cycle_s"] = json!(94.9)).expect("0.4 s off is within tolerance");
    refused(SINGLE, "signals[0].fixed_plan.cycle_s", "add up to 95.3 s", |v| {
        v["signals"][0]["fixed_plan"]["cycle_s"] = json!(94.7)
    });
}

#[test]
fn refuses_lane_use_that_is_not_made_of_t_l_r() {
    refused(SINGLE, "network.approach_template.lane_use[1]", "'X' is not a turn", |v| {
        v["network"]["approach_template"]["lane_use"][1] = json!("TX")
    });
    refused(SINGLE, "network.roads[2].approach.lane_use[1]", "L appears twice", |v| {
        v["network"]["roads"][2]["approach"] = json!({"lane_use": ["TR", "LL"]})
    });
    refused(SINGLE, "network.approach_template.lane_use", "empty", |v| {
        v["network"]["approach_template"]["lane_use"] = json!([])
    });
    refused(SINGLE, "network.approach_template.lane_use[0]", "empty", |v| {
        v["network"]["approach_template"]["lane_use"][0] = json!("")
    });
    refused(SINGLE, "network.roads[0].approach.lane_use", "missing: the road ends at signal node \"J\"", |v| {
        v["network"].as_object_mut().unwrap().remove("approach_template");
    });
    // combinations in any order are fine: a shared left-through lane and a right-through lane
    let sc = mutated(SINGLE, |v| v["network"]["roads"][0]["approach"] = json!({"lane_use": ["RT", "LT"]}))
        .expect("RT and LT are lane uses");
    let lanes = sc.approach_lanes("J", "N");
    assert_eq!(lanes[1].movements, ["SBL", "SBT"]);
    assert!(!lanes[1].pocket);
}

#[test]
fn refuses_a_pocket_without_a_length() {
    refused(SINGLE, "network.approach_template.pocket_length_m", "0; expected a pocket length > 0", |v| {
        v["network"]["approach_template"]["pocket_length_m"] = json!(0)
    });
    refused(SINGLE, "network.approach_template.pocket_length_m", "expected a pocket length > 0", |v| {
        v["network"]["approach_template"].as_object_mut().unwrap().remove("pocket_length_m");
    });
    refused(SINGLE, "network.roads[0].approach.pocket_length_m", "expected a pocket length > 0", |v| {
        v["network"]["roads"][0]["approach"] = json!({"pocket_length_m": 0})
    });
    refused(SINGLE, "network.roads[0].approach.pocket_length_m", "does not fit the 300 m link", |v| {
        v["network"]["roads"][0]["approach"] = json!({"pocket_length_m": 300})
    });
    // as many lanes as lanes_per_direction: no pocket, none needed
    let sc = mutated(SINGLE, |v| v["network"]["roads"][0]["lanes_per_direction"] = json!(3)).expect("three full lanes");
    assert!(sc.approach_lanes("J", "N").iter().all(|l| !l.pocket && l.length_m == 300.0));
}

#[test]
fn refuses_unknown_fields_and_names_missing_ones() {
    refused(SINGLE, "network.nodes[0].colour", "unknown field", |v| v["network"]["nodes"][0]["colour"] = json!("red"));
    refused(SINGLE, "signals[0].phases[1].green", "unknown field", |v| {
        v["signals"][0]["phases"][1]["green"] = json!(3)
    });
    refused(SINGLE, "extra", "unknown field", |v| v["extra"] = json!(1));
    refused(SINGLE, "demand.routes[4].path", "missing", |v| {
        v["demand"]["routes"][4].as_object_mut().unwrap().remove("path");
    });
    refused(SINGLE, "network.nodes[1].kind", "expected one of [\"signal\", \"boundary\"]", |v| {
        v["network"]["nodes"][1]["kind"] = json!("stop")
    });
    refused(SINGLE, "arrivals", "expected one of [\"poisson\", \"uniform\"]", |v| v["arrivals"] = json!("burst"));
    refused(SINGLE, "design", "expected an object, found a list of 0", |v| v["design"] = json!([]));
    refused(SINGLE, "vehicle", "expected an object", |v| v["vehicle"] = json!(["krauss", 5.0]));
    // informational fields take anything
    mutated(SINGLE, |v| {
        v["derived_info"] = json!([1, "x", {"y": null}]);
        v["description"] = json!("anything");
        v.as_object_mut().unwrap().remove("design");
    })
    .expect("derived_info and description are not checked, design is optional");
}

// ------------------------------------------------------------------------------------------------
// Never a panic
// ------------------------------------------------------------------------------------------------

/// Parses `text`; a panic fails with the input named. An error names a path, or where the text is
/// not JSON, line and column; an accepted scenario keeps the invariants.
fn parse_never_panics(what: &str, text: &str) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(|| match Scenario::parse("m.json", text) {
        Ok(sc) => {
            check_accepted(&sc);
            true
        }
        Err(e) => {
            assert!(!e.path.is_empty() || e.message.starts_with("not valid JSON"), "{what}: {e}");
            false
        }
    }));
    outcome.unwrap_or_else(|_| panic!("{what}: the reader panicked"))
}

#[test]
fn single_byte_mutations_never_panic() {
    let compact = serde_json::to_string(&serde_json::from_str::<Value>(SINGLE).unwrap()).unwrap();
    let bytes = compact.as_bytes();
    let mut accepted = 0;
    for i in 0..bytes.len() {
        for b in [b'0', b'-', b'"', b'}', b'N'] {
            if bytes[i] == b {
                continue;
            }
            let mut m = bytes.to_vec();
            m[i] = b;
            let Ok(text) = String::from_utf8(m) else { continue };
            accepted += parse_never_panics(&format!("byte {i} -> {:?}", b as char), &text) as usize;
        }
    }
    assert!(accepted > 0, "some mutations (digits in flows) keep the file valid");
}

/// Every node of a JSON document, by pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| pointers(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

fn replacements() -> Vec<Value> {
    vec![
        json!(0),
        json!(-1),
        json!(0.5),
        json!(1e9),
        json!(1e308),
        json!(u64::MAX),
        json!(""),
        json!("J"),
        json!("N"),
        json!("SBL"),
        json!("LTR"),
        json!(null),
        json!([]),
        json!({}),
        json!(true),
    ]
}

#[test]
fn every_field_replaced_by_an_odd_value_never_panics() {
    for base in [SINGLE, GRID] {
        let doc: Value = serde_json::from_str(base).unwrap();
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        // the grid is large (1835 fields): every 23rd field of it
        let step = if base.len() > 20_000 { 23 } else { 1 };
        for p in all.iter().step_by(step).filter(|p| !p.starts_with("/derived_info")) {
            for r in replacements() {
                let mut v = doc.clone();
                match v.pointer_mut(p) {
                    Some(slot) => *slot = r.clone(),
                    None => continue,
                }
                parse_never_panics(&format!("{p} = {r}"), &serde_json::to_string(&v).unwrap());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_byte_mutations_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = SINGLE.as_bytes().to_vec();
        for (at, b) in &edits {
            let i = at % bytes.len();
            bytes[i] = *b;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        parse_never_panics(&format!("{edits:?}"), &text);
    }

    #[test]
    fn random_field_replacements_never_panic(picks in proptest::collection::vec((any::<usize>(), 0usize..15), 1..4)) {
        let mut v: Value = serde_json::from_str(SINGLE).unwrap();
        for (at, r) in &picks {
            let mut all = Vec::new();
            pointers(&v, String::new(), &mut all);
            let p = all[at % all.len()].clone();
            if p.is_empty() {
                continue;
            }
            if let Some(slot) = v.pointer_mut(&p) {
                *slot = replacements()[*r].clone();
            }
        }
        parse_never_panics(&format!("{picks:?}"), &serde_json::to_string(&v).unwrap());
    }
}
