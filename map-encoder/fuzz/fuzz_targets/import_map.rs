//! Any bytes as a SUMO, OpenDRIVE or Lanelet2 map (first byte picks the
//! format), with `--origin` on or off: parse and build never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use map_encoder::import::{build, lanelet2, opendrive, sumo, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let opts = ParseOptions { file: "fuzz".into(), origin: if sel & 4 != 0 { Some([23.1, 113.3]) } else { None } };
    let net = match sel % 3 {
        0 => sumo::parse_sumo(rest, &opts),
        1 => match std::str::from_utf8(rest) {
            Ok(t) => opendrive::parse_opendrive(t, &opts),
            Err(_) => return,
        },
        _ => match std::str::from_utf8(rest) {
            Ok(t) => lanelet2::parse_lanelet2(t, &opts),
            Err(_) => return,
        },
    };
    if let Ok(net) = net {
        let _ = build(&net, &Default::default());
    }
});
