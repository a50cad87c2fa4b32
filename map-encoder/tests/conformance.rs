//! Independent conformance: every message type Zhilu writes is decoded by
//! asn1tools (compiled from the official ASN.1 modules in map-encoder/asn1)
//! and compared field by field (as X.697 JER) with what Zhilu meant to
//! encode; asn1tools must also re-encode it to the same bytes.

mod common;

use arbitrary::{Arbitrary, Unstructured};
use map_encoder::compile::{compile_map, compile_rsi, MapOptions, RsiOptions};
use map_encoder::csae::*;
use map_encoder::model::{parse, Syntax};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

fn case(name: String, ty: &'static str, m: &Message) -> (String, &'static str, Vec<u8>, String) {
    let bytes = m.encode().unwrap_or_else(|e| panic!("{name}: {e}"));
    (name, ty, bytes, m.to_jer())
}

fn arbitrary_cases<T: for<'a> Arbitrary<'a>>(
    label: &str,
    ty: &'static str,
    n: usize,
    wrap: impl Fn(T) -> Message,
) -> Vec<(String, &'static str, Vec<u8>, String)> {
    let mut runner = TestRunner::new_with_rng(Default::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7u8; 32]));
    let bytes = proptest::collection::vec(proptest::arbitrary::any::<u8>(), 4096);
    let mut out = vec![];
    for i in 0..n {
        let buf = bytes.new_tree(&mut runner).expect("bytes").current();
        let mut u = Unstructured::new(&buf);
        let v = T::arbitrary(&mut u).expect("arbitrary value");
        let m = wrap(v);
        // the generated value must survive our own round trip first
        let bytes = m.encode().unwrap_or_else(|e| panic!("{label} #{i}: {e}"));
        let ty_top = TopType::parse(ty).unwrap();
        assert_eq!(Message::decode(ty_top, &bytes).unwrap_or_else(|e| panic!("{label} #{i}: {e}")), m, "{label} #{i}");
        out.push(case(format!("{label}-{i}"), ty, &m));
    }
    out
}

#[test]
fn everything_we_write_matches_asn1tools() {
    let mut cases = vec![];
    // the shipped examples
    for (n, t) in
        [("4leg", include_str!("../../examples/4leg.toml")), ("corridor", include_str!("../../examples/corridor.toml"))]
    {
        let (m, _) = parse(n, t, Syntax::Toml).unwrap();
        let (map, _) = compile_map(&m, &MapOptions { msg_cnt: 3, minute_of_year: Some(480_000) }).unwrap();
        cases.push(case(
            format!("{n}-map"),
            "MessageFrame",
            &Message::MessageFrame(MessageFrame::MapFrame(map.clone())),
        ));
        cases.push(case(format!("{n}-mapdata"), "MapData", &Message::MapData(map)));
        let now = map_encoder::model::parse_datetime("2026-12-02T08:00").unwrap();
        for (i, r) in compile_rsi(&m, &RsiOptions { msg_cnt: 1, now, rsu_id: None, codes: Default::default() })
            .unwrap()
            .into_iter()
            .enumerate()
        {
            cases.push(case(format!("{n}-rsi-{i}"), "MessageFrame", &Message::MessageFrame(MessageFrame::RsiFrame(r))));
        }
    }
    // a real map through the SUMO importer (two MapData: 39 nodes)
    let net = map_encoder::import::sumo::parse_sumo(
        include_bytes!("data/sumo/bologna_acosta_buslanes.net.xml"),
        &map_encoder::import::ParseOptions { file: "bologna".into(), origin: None },
    )
    .unwrap();
    let (bologna, _) = map_encoder::import::build(&net, &Default::default()).unwrap();
    let maps = map_encoder::compile::compile_maps(&bologna, &MapOptions::default()).unwrap();
    assert_eq!(maps.len(), 2);
    for (i, map) in maps.into_iter().enumerate() {
        cases.push(case(
            format!("bologna-map-{i}"),
            "MessageFrame",
            &Message::MessageFrame(MessageFrame::MapFrame(map)),
        ));
    }
    // the OpenDRIVE and Lanelet2 importers on real maps kept as test data
    for (name, imported) in [
        (
            "borregas",
            map_encoder::import::opendrive::parse_opendrive(
                include_str!("data/opendrive/lgsvl_borregas_ave_sunnyvale.xodr"),
                &map_encoder::import::ParseOptions { file: "borregas".into(), origin: None },
            ),
        ),
        (
            "tokyo",
            map_encoder::import::lanelet2::parse_lanelet2(
                include_str!("data/lanelet2/tier4_autoware_intersection_tokyo.osm"),
                &map_encoder::import::ParseOptions { file: "tokyo".into(), origin: None },
            ),
        ),
    ] {
        let (m, _) = map_encoder::import::build(&imported.unwrap(), &Default::default()).unwrap();
        let text = map_encoder::model::to_toml(&m).unwrap();
        let (m, srcmap) = parse(name, &text, Syntax::Toml).unwrap();
        let diags = map_encoder::validate::validate(name, &m, &srcmap);
        assert!(!map_encoder::validate::has_errors(&diags), "{name}: {diags:#?}");
        assert_eq!(m.intersections.len(), 1, "{name}");
        assert!(m.intersections[0].connections.len() >= 14, "{name}");
        for (i, map) in map_encoder::compile::compile_maps(&m, &MapOptions::default()).unwrap().into_iter().enumerate()
        {
            cases.push(case(
                format!("{name}-map-{i}"),
                "MessageFrame",
                &Message::MessageFrame(MessageFrame::MapFrame(map)),
            ));
        }
    }
    // many generated intersections
    let mut runner = TestRunner::new_with_rng(Default::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[3u8; 32]));
    for i in 0..40 {
        let shape = common::shape_strategy().new_tree(&mut runner).unwrap().current();
        let m = common::build(&shape);
        let (map, _) = compile_map(&m, &MapOptions::default()).unwrap();
        cases.push(case(
            format!("random-map-{i}"),
            "MessageFrame",
            &Message::MessageFrame(MessageFrame::MapFrame(map)),
        ));
    }
    // every message type, with values drawn inside the standard's constraints
    cases.extend(arbitrary_cases::<MessageFrame>("frame", "MessageFrame", 60, Message::MessageFrame));
    cases.extend(arbitrary_cases::<SPAT>("spat", "SPAT", 20, Message::Spat));
    cases.extend(arbitrary_cases::<RoadsideSafetyMessage>("rsm", "RoadsideSafetyMessage", 20, Message::Rsm));
    cases.extend(arbitrary_cases::<RoadSideInformation>("rsi", "RoadSideInformation", 20, Message::Rsi));
    cases.extend(arbitrary_cases::<BasicSafetyMessage>("bsm", "BasicSafetyMessage", 20, Message::Bsm));
    cases.extend(arbitrary_cases::<MapData>("map", "MapData", 20, Message::MapData));
    cases.extend(arbitrary_cases::<SensorSharingMsg>("ssm-frame", "MessageFrame", 20, |v| {
        Message::MessageFrame(MessageFrame::MsgFrameExt(MessageFrameExt::SensorSharingMsg(v)))
    }));
    cases.extend(arbitrary_cases::<RoadsideCoordination>("rsc-frame", "MessageFrame", 20, |v| {
        Message::MessageFrame(MessageFrame::MsgFrameExt(MessageFrameExt::RoadsideCoordination(v)))
    }));
    cases.extend(arbitrary_cases::<SensorSharingMsg>("ssm", "SensorSharingMsg", 10, Message::Ssm));
    cases.extend(arbitrary_cases::<RoadsideCoordination>("rsc", "RoadsideCoordination", 10, Message::Rsc));
    common::conform(&cases);
}

#[test]
fn generated_codec_is_up_to_date_with_the_asn1() {
    // Re-run the generator on the vendored modules: the committed code must be its output.
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("zhilu-generated-{}.rs", std::process::id()));
    let st = std::process::Command::new(common::python())
        .arg(root.join("codegen/gen_uper.py"))
        .arg(root.join("asn1/csae157"))
        .arg(&out)
        .status()
        .expect("run the generator");
    assert!(st.success());
    let fresh = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read_to_string(root.join("src/csae/generated.rs")).unwrap();
    assert!(fresh == committed, "src/csae/generated.rs is stale: re-run codegen/gen_uper.py");
}
