//! Inputs the fuzzers found; each once crashed or misbehaved.

use v2x_security::{open_unverified, Verifier, VerifierConfig};

/// A SEQUENCE OF quantity of about 2^47 in a tiny SPDU: rasn 0.30's OER decoder pre-allocated that
/// many elements and the process aborted (patched copy in third_party/rasn).
#[test]
fn a_huge_sequence_of_quantity_is_an_error_not_an_abort() {
    let spdu = include_bytes!("regressions/huge-sequence-of-quantity.coer");
    assert!(open_unverified(spdu).is_err());
    let mut v = Verifier::new(Vec::new(), VerifierConfig::default());
    assert!(v.verify(spdu, 1_800_000_000_000_000).is_err());
}
