//! The importers on the real maps kept as test data (`tests/data`, see its SOURCES.md): the figures
//! recorded in docs/importers.md.

use map_encoder::import::{self, ParseOptions};
use map_encoder::model::{MapFile, SignalKind};

fn opts(name: &str) -> ParseOptions {
    ParseOptions { file: name.into(), origin: None }
}

fn permissive(m: &MapFile) -> usize {
    m.intersections.iter().flat_map(|x| &x.signal_groups).filter(|g| g.kind == SignalKind::Permissive).count()
}

#[test]
fn tokyo_lanelet2_right_of_way_elevation_and_whole_lanes() {
    let net = import::lanelet2::parse_lanelet2(
        include_str!("data/lanelet2/tier4_autoware_intersection_tokyo.osm"),
        &opts("tokyo"),
    )
    .unwrap();
    // lanelets that follow one another are one lane
    assert!(net.lanes.iter().any(|l| l.id.contains("..")));
    let main = net.junctions.iter().find(|j| j.signalised).unwrap();
    let z = main.elevation_m.expect("Autoware nodes carry `ele`");
    assert!((0.0..10.0).contains(&z), "{z}");
    let (m, _) = import::build(&net, &Default::default()).unwrap();
    let x = &m.intersections[0];
    assert_eq!((x.lanes.len(), x.connections.len(), x.signal_groups.len()), (20, 14, 14));
    // right turns that give way to oncoming traffic under the same green
    assert_eq!(permissive(&m), 6);
    assert_eq!(x.reference.elevation_m, (z * 10.0).round() / 10.0);
}

#[test]
fn borregas_opendrive_sections_joined_and_elevation() {
    let net = import::opendrive::parse_opendrive(
        include_str!("data/opendrive/lgsvl_borregas_ave_sunnyvale.xodr"),
        &opts("borregas"),
    )
    .unwrap();
    assert!(net.lanes.iter().any(|l| l.id == "6:0:-1..12:0:-1"));
    let (m, _) = import::build(&net, &Default::default()).unwrap();
    let x = &m.intersections[0];
    assert_eq!((x.lanes.len(), x.connections.len(), x.signal_groups.len()), (21, 16, 2));
    // the elevation profile of the junction's connecting roads
    assert!((x.reference.elevation_m - -2.0).abs() < 0.5, "{}", x.reference.elevation_m);
}

#[test]
fn bologna_sumo_permissive_links() {
    let net = import::sumo::parse_sumo(include_bytes!("data/sumo/bologna_acosta_buslanes.net.xml"), &opts("bologna"))
        .unwrap();
    let (m, report) = import::build(&net, &Default::default()).unwrap();
    assert_eq!(m.intersections.len(), 16);
    let lanes: usize = m.intersections.iter().map(|x| x.lanes.len()).sum();
    let conns: usize = m.intersections.iter().map(|x| x.connections.len()).sum();
    assert_eq!((lanes, conns, m.links.len()), (163, 116, 15));
    // turns SUMO gives green without priority (`g`) are permissive groups
    assert_eq!(permissive(&m), 5);
    assert!(report.max_simplification_error_m <= 0.1);
}
