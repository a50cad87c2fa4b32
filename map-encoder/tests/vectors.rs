//! The CSAE test vectors (bytes + the JER an independent decoder, asn1tools,
//! produced from them) must decode, re-encode to identical bytes, and give
//! the same JER; and JER must encode back to the same bytes.

use map_encoder::csae::{Message, TopType};
use std::path::PathBuf;

fn vectors() -> Vec<(String, TopType, Vec<u8>, serde_json::Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("tests/vectors exists") {
        let p = e.expect("dir entry").path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".hex") else { continue };
        let hex = std::fs::read_to_string(&p).unwrap();
        let bytes: Vec<u8> =
            (0..hex.trim().len()).step_by(2).map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap()).collect();
        let jer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.jer.json"))).unwrap()).unwrap();
        let ty = if stem.contains("-mapdata-") {
            TopType::MapData
        } else if stem.contains("-spat-") && !stem.contains("msgframe") {
            TopType::Spat
        } else {
            TopType::MessageFrame
        };
        out.push((stem.to_string(), ty, bytes, jer));
    }
    assert!(out.len() >= 13, "expected the 13 CSAE vectors, found {}", out.len());
    out
}

#[test]
fn vectors_round_trip_bit_exact() {
    for (name, ty, bytes, _) in vectors() {
        let m = Message::decode(ty, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = m.encode().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn vectors_jer_matches_independent_decoder() {
    for (name, ty, bytes, jer) in vectors() {
        let m = Message::decode(ty, &bytes).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&m.to_jer()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ours, jer, "{name}: JER differs from asn1tools");
        let back = Message::from_jer(ty, &jer).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, m, "{name}: JER -> value differs");
        assert_eq!(back.encode().unwrap(), bytes, "{name}: JER -> UPER differs");
    }
}

#[test]
fn truncated_vectors_fail_with_position() {
    for (name, ty, bytes, _) in vectors() {
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            let err = Message::decode(ty, &bytes[..cut]).expect_err(&name);
            let text = err.to_string();
            assert!(text.contains("bit"), "{name}@{cut}: {text}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0, 0]);
        let err = Message::decode(ty, &longer).expect_err(&name);
        assert!(err.to_string().contains("left after"), "{name}: {err}");
    }
}

#[test]
fn out_of_range_values_are_refused_both_ways() {
    // Found by the decode_any fuzz target: a 15-bit heading field holding 32174
    // (the constraint is 0..28800) used to decode, and then failed JER.
    let data =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/heading-out-of-range.bin"))
            .unwrap();
    let err = Message::decode(TopType::MessageFrame, &data[1..]).expect_err("out-of-range heading");
    assert!(err.to_string().contains("outside its constraint"), "{err}");
    assert!(err.path().contains("heading"), "{err}");
    // and the encoder refuses such a value, naming the field
    let (_, ty, bytes, _) = vectors().into_iter().find(|v| v.0 == "csae53-msgframe-rsm-16ptc").unwrap();
    let Message::MessageFrame(map_encoder::csae::MessageFrame::RsmFrame(mut rsm)) =
        Message::decode(ty, &bytes).unwrap()
    else {
        panic!("not an RSM")
    };
    rsm.participants[3].heading = 30_000;
    let err = Message::MessageFrame(map_encoder::csae::MessageFrame::RsmFrame(rsm)).encode().expect_err("refused");
    assert!(err.to_string().contains("30000 is outside the standard's range 0..28800"), "{err}");
    assert!(err.to_string().contains("participants"), "{err}");
}

#[test]
fn unknown_extension_values_survive_jer() {
    // Found by the decode_any fuzz target: a SPAT light state with an
    // extension index this codec does not know decoded, but its JER could
    // not be read back.  Unknown values are now kept reversibly.
    let data = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/spat-unknown-enum-extension.bin"),
    )
    .unwrap();
    let m = Message::decode(TopType::Spat, &data[1..]).expect("decodes");
    let jer = m.to_jer();
    assert!(jer.contains("unknownExtension-"), "{jer}");
    let v: serde_json::Value = serde_json::from_str(&jer).unwrap();
    let back = Message::from_jer(TopType::Spat, &v).expect("reads back");
    assert_eq!(back, m);
    assert_eq!(Message::decode(TopType::Spat, &back.encode().unwrap()).unwrap(), m);
}
