//! What a vehicle receives from the network: header, 1609.2 SPDU, UPER payload.  Must never panic;
//! without a trust anchor nothing may verify.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((_header, spdu)) = roadside_unit::protocol::Header::parse(data) else { return };
    let mut verifier = v2x_security::Verifier::new(Vec::new(), v2x_security::VerifierConfig::default());
    assert!(verifier.verify(spdu, 1_800_000_000_000_000).is_err(), "verified without a trust anchor");
    if let Ok(opened) = v2x_security::open_unverified(spdu) {
        let _ = map_encoder::csae::decode_frame(&opened.payload);
    }
});
