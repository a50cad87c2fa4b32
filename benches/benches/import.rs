//! A real map end to end: parse the SUMO network of Bologna Acosta (257 KB,
//! 16 signalised junctions), build the intersection model, compile and
//! encode every MAP message.
//!
//!     cargo bench -p zhilu-benches --bench import -- --warm-up-time 1 --measurement-time 5

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use map_encoder::compile::{compile_maps, MapOptions};
use map_encoder::csae::{encode_frame, MessageFrame};
use map_encoder::import::{build, opendrive::parse_opendrive, sumo::parse_sumo, BuildOptions, ParseOptions};

const BOLOGNA: &[u8] = include_bytes!("../../map-encoder/tests/data/sumo/bologna_acosta_buslanes.net.xml");

fn import(c: &mut Criterion) {
    let opts = ParseOptions { file: "bologna".into(), origin: None };
    let mut g = c.benchmark_group("bologna-sumo");
    g.bench_function("parse", |b| b.iter(|| parse_sumo(black_box(BOLOGNA), &opts).expect("parses")));
    let net = parse_sumo(BOLOGNA, &opts).expect("parses");
    g.bench_function("build", |b| b.iter(|| build(black_box(&net), &BuildOptions::default()).expect("builds")));
    g.bench_function("end-to-end", |b| {
        b.iter(|| {
            let net = parse_sumo(black_box(BOLOGNA), &opts).expect("parses");
            let (m, _) = build(&net, &BuildOptions::default()).expect("builds");
            let maps = compile_maps(&m, &MapOptions::default()).expect("compiles");
            maps.into_iter().map(|x| encode_frame(&MessageFrame::MapFrame(x)).expect("encodes").len()).sum::<usize>()
        })
    });
    g.finish();
    // the largest shipped map, read from the team's data folder (not kept in the repository):
    // ZHILU_SHARED_DATA=/path/to/shared/data, default ../shared/data beside the workspace
    let dir = std::env::var("ZHILU_SHARED_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into());
    let path = std::path::Path::new(&dir).join("opendrive/carla_Town10HD.xodr");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("{} not found: Town10HD benchmark skipped", path.display());
        return;
    };
    let opts = ParseOptions { file: "Town10HD".into(), origin: Some([23.13, 113.27]) };
    let mut g = c.benchmark_group("town10hd-opendrive");
    g.sample_size(20);
    g.bench_function("end-to-end", |b| {
        b.iter(|| {
            let net = parse_opendrive(black_box(&text), &opts).expect("parses");
            let (m, _) = build(&net, &BuildOptions::default()).expect("builds");
            let maps = compile_maps(&m, &MapOptions::default()).expect("compiles");
            maps.into_iter().map(|x| encode_frame(&MessageFrame::MapFrame(x)).expect("encodes").len()).sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
