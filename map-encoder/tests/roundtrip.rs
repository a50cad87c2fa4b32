//! Model -> MapData -> UPER -> MapData -> model -> MapData is bit-exact, on
//! the shipped examples and on random valid intersections.

mod common;

use map_encoder::compile::{compile_map, compile_rsi, MapOptions, RsiOptions};
use map_encoder::csae::{decode_frame, encode_frame, MessageFrame};
use map_encoder::decompile::decompile_map;
use map_encoder::model::{parse, MapFile, Syntax};
use map_encoder::validate::{has_errors, validate};
use proptest::prelude::*;

fn examples() -> Vec<(&'static str, MapFile)> {
    [("4leg", include_str!("../../examples/4leg.toml")), ("corridor", include_str!("../../examples/corridor.toml"))]
        .into_iter()
        .map(|(n, t)| (n, parse(n, t, Syntax::Toml).unwrap().0))
        .collect()
}

fn round_trip(name: &str, m: &MapFile) -> Vec<u8> {
    let (map, _) = compile_map(m, &MapOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let frame = MessageFrame::MapFrame(map.clone());
    let bytes = encode_frame(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = decode_frame(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(back, frame, "{name}: decode(encode(x)) != x");
    let (model2, dropped) = decompile_map(&map);
    assert!(dropped.lines.is_empty(), "{name}: {:?}", dropped.lines);
    let text = map_encoder::model::to_toml(&model2).unwrap();
    let (model3, srcmap) = parse("decompiled.toml", &text, Syntax::Toml).unwrap();
    let diags = validate("decompiled.toml", &model3, &srcmap);
    assert!(!has_errors(&diags), "{name}: decompiled model invalid: {diags:#?}");
    let (again, _) = compile_map(&model3, &MapOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(again, map, "{name}: compile(decompile(map)) != map");
    bytes
}

#[test]
fn examples_round_trip_bit_exact() {
    for (name, m) in examples() {
        let bytes = round_trip(name, &m);
        assert!(bytes.len() < 2000, "{name}: {} bytes", bytes.len());
    }
}

#[test]
fn four_leg_map_has_what_the_file_says() {
    let (_, m) = examples().remove(0);
    let (map, _) = compile_map(&m, &MapOptions::default()).unwrap();
    // one intersection + 4 boundary nodes (every approach has egress lanes)
    assert_eq!(map.nodes.len(), 5);
    let node = &map.nodes[0];
    assert_eq!(node.id.id, 1001);
    assert_eq!(node.ref_pos.lat, 231_290_000);
    assert_eq!(node.ref_pos.long, 1_132_640_000);
    let links = node.in_links.as_ref().unwrap();
    assert_eq!(links.len(), 4);
    assert_eq!(links[0].name.as_deref(), Some("north"));
    // north: 4 ingress lanes + a crosswalk; the bus lane carries restrictedToBusUse
    assert_eq!(links[0].lanes.len(), 5);
    let bus = &links[0].lanes[3];
    match &bus.lane_attributes.as_ref().unwrap().lane_type {
        map_encoder::csae::LaneTypeAttributes::Vehicle(b) => assert!(b.get(3)),
        other => panic!("{other:?}"),
    }
    // every connection carries its phase id
    let phases: Vec<u8> = links
        .iter()
        .flat_map(|l| l.lanes.iter())
        .flat_map(|l| l.connects_to.iter().flatten())
        .filter_map(|c| c.phase_id)
        .collect();
    assert!(phases.contains(&2) && phases.contains(&5) && phases.contains(&21));
    // points are offsets from the node in 1e-7 degree: the stop line of lane 2 is 22 m north
    let p = links[0].lanes[1].points.as_ref().unwrap().last().unwrap();
    match &p.pos_offset.offset_ll {
        // 22 m north is 1979 units of 1e-7 degree; 5.25 m west at 23.129 N is 513
        map_encoder::csae::PositionOffsetLL::PositionLL1(o) => {
            assert!((o.lat as f64 - 22.0 / 111_189.0 * 1e7).abs() < 12.0, "{o:?}");
            assert!((o.lon as f64 + 5.25 / (111_319.5 * 23.129f64.to_radians().cos()) * 1e7).abs() < 3.0, "{o:?}");
        }
        other => panic!("the smallest alternative (LL1) fits a 22 m offset: {other:?}"),
    }
}

#[test]
fn rsi_carries_rules_the_map_cannot() {
    let (_, m) = examples().remove(0);
    let now = map_encoder::model::parse_datetime("2026-12-02T08:00").unwrap();
    let rsis = compile_rsi(&m, &RsiOptions { msg_cnt: 1, now, rsu_id: None, codes: Default::default() }).unwrap();
    assert_eq!(rsis.len(), 1);
    let r = &rsis[0];
    let rtss = r.rtss.as_ref().unwrap();
    // two truck bans (east and west left pockets, 07:00-09:00) and the work zone's 30 km/h
    assert_eq!(rtss.len(), 3, "{rtss:#?}");
    let ban = &rtss[0].time_details.as_ref().unwrap();
    let day = now.1 / 1440 * 1440;
    assert_eq!((ban.start_time, ban.end_time), (Some(day + 420), Some(day + 540)));
    let rtes = r.rtes.as_ref().unwrap();
    assert_eq!(rtes.len(), 1);
    assert_eq!(
        rtes[0].time_details.as_ref().unwrap().start_time,
        Some(map_encoder::model::parse_datetime("2026-12-01T09:00").unwrap().1)
    );
    let bytes = encode_frame(&MessageFrame::RsiFrame(r.clone())).unwrap();
    assert_eq!(decode_frame(&bytes).unwrap(), MessageFrame::RsiFrame(r.clone()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn random_intersections_validate_and_round_trip(shape in common::shape_strategy()) {
        let m = common::build(&shape);
        let text = map_encoder::model::to_toml(&m).unwrap();
        let (m2, srcmap) = parse("random.toml", &text, Syntax::Toml).unwrap();
        let diags = validate("random.toml", &m2, &srcmap);
        prop_assert!(!has_errors(&diags), "{:#?}", diags);
        round_trip("random", &m2);
    }
}
