//! Any text as JER JSON of a MessageFrame: never panics; a value that reads
//! either encodes or reports why, and an encoded value decodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use map_encoder::csae::{Message, TopType};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else { return };
    if let Ok(m) = Message::from_jer(TopType::MessageFrame, &json) {
        if let Ok(bytes) = m.encode() {
            assert_eq!(Message::decode(TopType::MessageFrame, &bytes).expect("our encoding decodes"), m);
        }
    }
});
