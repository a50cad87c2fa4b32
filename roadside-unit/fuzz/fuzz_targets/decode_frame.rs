//! Any bytes as a ZSI/1 sensor frame: never panics; whatever decodes
//! re-encodes with `to_bytes`, and decoding that gives the same frame.
//!
//! Seeds (`seeds/decode_frame/`) are small valid frames written by the
//! reference sender, e.g.
//! `echo '{"sensor_id":21,"sequence":1,"detections":[]}' | zsi-send --print-hex | xxd -r -p > empty.bin`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use roadside_unit::ingest::{decode_frame, to_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_frame(data) {
        let again = to_bytes(&frame);
        assert_eq!(decode_frame(&again).expect("re-encoded bytes decode"), frame);
    }
});
