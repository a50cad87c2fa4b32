//! Any bytes as any top-level type (first byte picks it), with the same
//! round-trip oracle, plus JER of everything that decodes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use map_encoder::csae::{Message, TopType};

const TYPES: [TopType; 8] = [
    TopType::MessageFrame,
    TopType::MapData,
    TopType::Spat,
    TopType::Rsm,
    TopType::Rsi,
    TopType::Bsm,
    TopType::Ssm,
    TopType::Rsc,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let ty = TYPES[sel as usize % TYPES.len()];
    if let Ok(v) = Message::decode(ty, rest) {
        let again = v.encode().expect("a decoded value re-encodes");
        assert_eq!(Message::decode(ty, &again).expect("re-encoded bytes decode"), v);
        let jer: serde_json::Value = serde_json::from_str(&v.to_jer()).expect("JER is JSON");
        assert_eq!(Message::from_jer(ty, &jer).expect("our JER reads back"), v);
    }
});
