//! Rough cost of signing and verifying (not a benchmark): `cargo run --release -p v2x-security --example spdu_cost`.
use std::time::Instant;
use v2x_security::*;

fn main() {
    let t0_s = 1_767_225_600;
    let ca = CertificateAuthority::generate("root", t0_s - 86_400, 3650).unwrap();
    let id = ca.issue("rsu-0001", &psid::ALL, t0_s - 86_400, 365).unwrap();
    let payload = vec![0x5a; 600];
    let n = 2000;
    let start = Instant::now();
    let spdus: Vec<Vec<u8>> =
        (0..n).map(|i| id.sign(psid::SPAT, &payload, t0_s * 1_000_000 + i, i == 0).unwrap()).collect();
    let sign = start.elapsed() / n as u32;
    let mut v = Verifier::new(vec![ca.certificate().clone()], VerifierConfig::default());
    let start = Instant::now();
    for (i, s) in spdus.iter().enumerate() {
        v.verify(s, t0_s * 1_000_000 + i as i64).unwrap();
    }
    let verify = start.elapsed() / n as u32;
    let start = Instant::now();
    for s in &spdus {
        open_unverified(s).unwrap();
    }
    let open = start.elapsed() / n as u32;
    println!("600-byte payload: sign {sign:?}, verify {verify:?}, open_unverified {open:?} per SPDU");
}
