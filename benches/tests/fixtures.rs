//! The benchmark fixtures are what they claim to be.

use map_encoder::csae::{decode_frame, encode_frame, MessageFrame, MessageFrameExt};
use zhilu_benches::{fixtures, hex_to_bytes, ssm_200, SSM_200_FIXTURE, SSM_PARTICIPANTS};

#[test]
fn every_fixture_round_trips() {
    for f in fixtures() {
        let m = decode_frame(&f.bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(encode_frame(&m).unwrap(), f.bytes, "{}", f.name);
    }
}

#[test]
fn ssm_200_has_distinct_participants() {
    let MessageFrame::MsgFrameExt(MessageFrameExt::SensorSharingMsg(ssm)) = ssm_200() else {
        panic!("not an SSM");
    };
    let ptcs = ssm.participants.expect("participants");
    assert_eq!(ptcs.len(), SSM_PARTICIPANTS);
    let mut ids: Vec<u16> = ptcs.iter().map(|p| p.ptc.ptc_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), SSM_PARTICIPANTS, "ptcIds are distinct");
    let mut pos: Vec<String> = ptcs.iter().map(|p| format!("{:?}", p.ptc.pos)).collect();
    pos.sort();
    pos.dedup();
    assert_eq!(pos.len(), SSM_PARTICIPANTS, "positions are distinct");
}

#[test]
fn committed_ssm_200_hex_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SSM_200_FIXTURE);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo run -p zhilu-benches --bin gen-fixtures`)", path.display()));
    let built = encode_frame(&ssm_200()).unwrap();
    assert_eq!(
        hex_to_bytes(&committed),
        built,
        "{} is stale: run `cargo run -p zhilu-benches --bin gen-fixtures`",
        path.display()
    );
}
