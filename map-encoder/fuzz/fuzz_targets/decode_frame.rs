//! Any bytes as a CSAE MessageFrame: never panics; whatever decodes must
//! re-encode, and decoding that encoding gives the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use map_encoder::csae::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = decode_frame(data) {
        let again = encode_frame(&v).expect("a decoded value re-encodes");
        assert_eq!(decode_frame(&again).expect("re-encoded bytes decode"), v);
    }
});
