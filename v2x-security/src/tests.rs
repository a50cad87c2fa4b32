//! Behaviour tests across the crate: sign → verify and every refusal.

use proptest::prelude::*;
use rasn_its::ieee1609dot2::{CertificateId, ExplicitCertificate};

use crate::cert::key_is_compressed;
use crate::crypto::sha256;
use crate::*;

/// 2026-01-01 00:00:00 UTC.
const T0_S: i64 = 1_767_225_600;
const T0_US: i64 = T0_S * 1_000_000;
const DAY_S: i64 = 86_400;

fn ca(name: &str) -> CertificateAuthority {
    CertificateAuthority::generate(name, T0_S - 30 * DAY_S, 3650).expect("CA")
}

fn rsu(ca: &CertificateAuthority) -> SigningIdentity {
    ca.issue("rsu-0001", &[psid::MAP, psid::SPAT, psid::RSM, psid::SSM, psid::RSI], T0_S - DAY_S, 365).expect("issue")
}

fn verifier(ca: &CertificateAuthority) -> Verifier {
    Verifier::new(vec![ca.certificate().clone()], VerifierConfig::default())
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn round_trip_with_certificate_then_digest() {
    let ca = ca("zhilu-root");
    let id = rsu(&ca);
    let mut v = verifier(&ca);
    let msg = payload(120);

    // A digest-signed SPDU before the certificate was seen: unknown signer.
    let digest_first = id.sign(psid::SPAT, &msg, T0_US, false).unwrap();
    assert_eq!(v.verify(&digest_first, T0_US), Err(VerifyError::UnknownSigner(id.certificate().hashed_id8())));

    let full = id.sign(psid::SPAT, &msg, T0_US + 100_000, true).unwrap();
    let ok = v.verify(&full, T0_US + 150_000).unwrap();
    assert_eq!(ok.psid, psid::SPAT);
    assert_eq!(ok.payload, msg);
    assert_eq!(ok.generation_time_unix_us, T0_US + 100_000);
    assert_eq!(ok.signer, id.certificate().hashed_id8());
    assert_eq!(ok.subject, "rsu-0001");
    assert_eq!(v.cached_certificates(), 1);

    // Now the digest-signed one verifies (it was refused, so it is no replay).
    let ok = v.verify(&digest_first, T0_US + 200_000).unwrap();
    assert_eq!(ok.payload, msg);
    assert_eq!(ok.subject, "rsu-0001");
    let later = id.sign(psid::MAP, &payload(30), T0_US + 300_000, false).unwrap();
    assert_eq!(v.verify(&later, T0_US + 300_000).unwrap().psid, psid::MAP);
}

#[test]
fn flipped_payload_byte_is_a_bad_signature() {
    let ca = ca("root");
    let id = rsu(&ca);
    let msg = payload(64);
    for include in [true, false] {
        let mut v = verifier(&ca);
        v.verify(&id.sign(psid::RSI, b"learn", T0_US, true).unwrap(), T0_US).unwrap();
        let mut spdu = id.sign(psid::RSI, &msg, T0_US, include).unwrap();
        let at = spdu.windows(msg.len()).position(|w| w == msg.as_slice()).expect("payload inside");
        spdu[at + 10] ^= 0x01;
        assert_eq!(v.verify(&spdu, T0_US), Err(VerifyError::BadSignature), "include_certificate={include}");
    }
}

#[test]
fn flipped_signature_or_header_is_refused() {
    let ca = ca("root");
    let id = rsu(&ca);
    let spdu = id.sign(psid::RSI, &payload(40), T0_US, false).unwrap();
    let mut v = verifier(&ca);
    v.verify(&id.sign(psid::RSI, b"learn", T0_US, true).unwrap(), T0_US).unwrap();
    // Last byte: inside s of the signature.
    let mut bad = spdu.clone();
    *bad.last_mut().unwrap() ^= 0x80;
    assert_eq!(v.verify(&bad, T0_US), Err(VerifyError::BadSignature));
    // Generation time (last byte of Time64, just before the signer): a small shift stays fresh.
    let parsed = crate::spdu::parse(&spdu).unwrap();
    assert_eq!(parsed.generation_time_unix_us, T0_US);
    let t64 = time::unix_us_to_time64(T0_US).unwrap().to_be_bytes();
    let at = spdu.windows(8).position(|w| w == t64).unwrap();
    let mut bad = spdu.clone();
    bad[at + 7] ^= 0x01;
    assert_eq!(v.verify(&bad, T0_US), Err(VerifyError::BadSignature));
}

#[test]
fn certificate_from_another_ca_breaks_the_chain() {
    let trusted = ca("trusted-root");
    let other = ca("other-root");
    let id = rsu(&other);
    let mut v = verifier(&trusted);
    let spdu = id.sign(psid::MAP, &payload(50), T0_US, true).unwrap();
    assert!(matches!(v.verify(&spdu, T0_US), Err(VerifyError::ChainBroken(_))));
    // Nothing was learned: the digest form stays unknown.
    let d = id.sign(psid::MAP, &payload(50), T0_US + 1, false).unwrap();
    assert_eq!(v.verify(&d, T0_US), Err(VerifyError::UnknownSigner(id.certificate().hashed_id8())));
}

#[test]
fn tampered_certificate_breaks_the_chain() {
    let ca = ca("root");
    let id = rsu(&ca);
    // Rename the certificate after issuance: the CA's signature no longer covers it.
    let mut base = (*id.certificate().asn).clone();
    base.to_be_signed.id = CertificateId::Name(rasn_its::ieee1609dot2::base_types::Hostname("rsu-9999".into()));
    let asn = ExplicitCertificate::new(base).unwrap().into();
    let mut forged = id.clone();
    forged.cert = Certificate::from_asn(&asn).unwrap();
    let spdu = forged.sign(psid::MAP, &payload(20), T0_US, true).unwrap();
    match verifier(&ca).verify(&spdu, T0_US) {
        Err(VerifyError::ChainBroken(why)) => assert!(why.contains("does not verify"), "{why}"),
        other => panic!("expected ChainBroken, got {other:?}"),
    }
}

#[test]
fn self_signed_signer_is_not_an_anchor() {
    let ca = ca("root");
    let rogue = CertificateAuthority::generate("rogue", T0_S - DAY_S, 10).unwrap();
    // A rogue root's own key signing messages with its own certificate.
    let id = SigningIdentity { key: rogue_key(&rogue), cert: rogue.certificate().clone(), chain: vec![] };
    let spdu = crate::spdu::sign(&id, psid::MAP, b"x", T0_US, true).unwrap();
    assert!(matches!(verifier(&ca).verify(&spdu, T0_US), Err(VerifyError::ChainBroken(_))));
}

fn rogue_key(ca: &CertificateAuthority) -> crate::crypto::PrivateKey {
    // Through the PEM round trip: the only way out of a CertificateAuthority.
    let text = ca.to_pem();
    let der = pem_rfc7468::decode_vec(
        text.split_inclusive('\n').take_while(|l| !l.starts_with("-----BEGIN IEEE")).collect::<String>().as_bytes(),
    )
    .unwrap()
    .1;
    crate::crypto::PrivateKey::from_pkcs8_der(&der).unwrap()
}

#[test]
fn psid_outside_the_certificate_is_refused() {
    let ca = ca("root");
    let id = ca.issue("rsu-map-only", &[psid::MAP], T0_S - DAY_S, 30).unwrap();
    // The signer refuses...
    assert!(matches!(id.sign(psid::RSM, b"x", T0_US, true), Err(Error::InvalidArgument(_))));
    // ...and a verifier refuses an SPDU made anyway.
    let spdu = crate::spdu::sign(&id, psid::RSM, b"x", T0_US, true).unwrap();
    assert_eq!(verifier(&ca).verify(&spdu, T0_US), Err(VerifyError::PsidNotPermitted { psid: psid::RSM }));
}

#[test]
fn stale_and_future_generation_times() {
    let ca = ca("root");
    let id = rsu(&ca);
    let mut v = verifier(&ca);
    let now = T0_US + 10_000_000;
    let stale = id.sign(psid::SPAT, b"old", now - 2_000_001, true).unwrap();
    assert_eq!(v.verify(&stale, now), Err(VerifyError::Stale { age_us: 2_000_001 }));
    let future = id.sign(psid::SPAT, b"new", now + 500_001, true).unwrap();
    assert_eq!(v.verify(&future, now), Err(VerifyError::FromFuture { ahead_us: 500_001 }));
    // The limits themselves are accepted.
    let edge_old = id.sign(psid::SPAT, b"edge", now - 2_000_000, true).unwrap();
    assert!(v.verify(&edge_old, now).is_ok());
    let edge_new = id.sign(psid::SPAT, b"edge", now + 500_000, true).unwrap();
    assert!(v.verify(&edge_new, now).is_ok());
    // A custom configuration.
    let mut strict = Verifier::new(
        vec![ca.certificate().clone()],
        VerifierConfig { max_age_us: 100_000, max_future_us: 0, replay_window: 16 },
    );
    let m = id.sign(psid::SPAT, b"m", now - 100_001, true).unwrap();
    assert_eq!(strict.verify(&m, now), Err(VerifyError::Stale { age_us: 100_001 }));
    let m = id.sign(psid::SPAT, b"m", now + 1, true).unwrap();
    assert_eq!(strict.verify(&m, now), Err(VerifyError::FromFuture { ahead_us: 1 }));
    // Extreme clocks do not overflow.
    assert!(matches!(v.verify(&m, i64::MIN), Err(VerifyError::FromFuture { .. })));
    assert!(matches!(v.verify(&m, i64::MAX), Err(VerifyError::Stale { .. })));
}

#[test]
fn the_same_spdu_twice_is_a_replay() {
    let ca = ca("root");
    let id = rsu(&ca);
    let mut v = verifier(&ca);
    let spdu = id.sign(psid::SSM, &payload(300), T0_US, true).unwrap();
    assert!(v.verify(&spdu, T0_US).is_ok());
    assert_eq!(v.verify(&spdu, T0_US + 1_000), Err(VerifyError::Replay));
    // Same payload and time, digest form: same message, still a replay.
    let digest = id.sign(psid::SSM, &payload(300), T0_US, false).unwrap();
    assert_eq!(v.verify(&digest, T0_US + 2_000), Err(VerifyError::Replay));
    // Same payload, new generation time: a new message.
    let next = id.sign(psid::SSM, &payload(300), T0_US + 100_000, false).unwrap();
    assert!(v.verify(&next, T0_US + 100_000).is_ok());
}

#[test]
fn replay_window_is_bounded_and_can_be_off() {
    let ca = ca("root");
    let id = rsu(&ca);
    let mut v =
        Verifier::new(vec![ca.certificate().clone()], VerifierConfig { replay_window: 2, ..VerifierConfig::default() });
    let a = id.sign(psid::MAP, b"a", T0_US, true).unwrap();
    let b = id.sign(psid::MAP, b"b", T0_US, true).unwrap();
    let c = id.sign(psid::MAP, b"c", T0_US, true).unwrap();
    for s in [&a, &b, &c] {
        v.verify(s, T0_US).unwrap();
    }
    // `a` fell out of a window of two; `c` is still in it.
    assert!(v.verify(&a, T0_US).is_ok());
    assert_eq!(v.verify(&c, T0_US), Err(VerifyError::Replay));

    let mut off =
        Verifier::new(vec![ca.certificate().clone()], VerifierConfig { replay_window: 0, ..Default::default() });
    off.verify(&a, T0_US).unwrap();
    off.verify(&a, T0_US).unwrap();
}

#[test]
fn expired_and_not_yet_valid_certificates() {
    let ca = ca("root");
    let expired = ca.issue("rsu-expired", &psid::ALL, T0_S - 3 * DAY_S, 1).unwrap();
    let spdu = expired.sign(psid::MAP, b"x", T0_US, true).unwrap();
    assert_eq!(
        verifier(&ca).verify(&spdu, T0_US),
        Err(VerifyError::CertificateExpired {
            subject: "rsu-expired".into(),
            valid_until_us: (T0_S - 2 * DAY_S) * 1_000_000
        })
    );
    let early = ca.issue("rsu-early", &psid::ALL, T0_S + DAY_S, 10).unwrap();
    let spdu = early.sign(psid::MAP, b"x", T0_US, true).unwrap();
    assert!(matches!(verifier(&ca).verify(&spdu, T0_US), Err(VerifyError::CertificateNotYetValid { .. })));

    // A certificate learned while valid is refused for digest-signed SPDUs after it expires.
    let short = ca.issue("rsu-short", &psid::ALL, T0_S - DAY_S / 2, 1).unwrap();
    let mut v = verifier(&ca);
    v.verify(&short.sign(psid::MAP, b"x", T0_US, true).unwrap(), T0_US).unwrap();
    let after = T0_US + DAY_S * 1_000_000;
    let d = short.sign(psid::MAP, b"y", after, false).unwrap();
    assert!(matches!(v.verify(&d, after), Err(VerifyError::CertificateExpired { .. })));

    // An expired root expires everything under it.
    let old_root = CertificateAuthority::generate("old-root", T0_S - 10 * DAY_S, 5).unwrap();
    let id = old_root.issue("rsu", &psid::ALL, T0_S - 10 * DAY_S, 5).unwrap();
    let spdu = id.sign(psid::MAP, b"x", T0_US, true).unwrap();
    assert!(matches!(verifier(&old_root).verify(&spdu, T0_US), Err(VerifyError::CertificateExpired { .. })));
}

#[test]
fn issue_checks_its_arguments() {
    let ca = ca("root");
    assert!(matches!(ca.issue("rsu", &[], T0_S, 1), Err(Error::InvalidArgument(_))));
    assert!(matches!(ca.issue("", &[psid::MAP], T0_S, 1), Err(Error::InvalidArgument(_))));
    assert!(matches!(ca.issue("rsu", &[psid::MAP], T0_S, 0), Err(Error::InvalidArgument(_))));
    // Beyond the CA's validity.
    assert!(matches!(ca.issue("rsu", &[psid::MAP], T0_S, 4000), Err(Error::InvalidArgument(_))));
    assert!(matches!(ca.issue("rsu", &[psid::MAP], T0_S - 400 * DAY_S, 1), Err(Error::InvalidArgument(_))));
    assert!(matches!(CertificateAuthority::generate("r", 1_000_000_000, 1), Err(Error::InvalidArgument(_))));
    let id = rsu(&ca);
    assert!(matches!(id.sign(psid::MAP, b"x", 0, true), Err(Error::InvalidArgument(_))));
}

#[test]
fn certificate_essentials() {
    let ca = ca("zhilu-root");
    let id = rsu(&ca);
    let c = id.certificate();
    assert_eq!(c.subject(), "rsu-0001");
    assert_eq!(c.psids(), vec![psid::MAP, psid::RSM, psid::RSI]);
    assert_eq!(c.valid_from_us(), (T0_S - DAY_S) * 1_000_000);
    assert_eq!(c.valid_until_us(), (T0_S - DAY_S + 365 * DAY_S) * 1_000_000);
    assert_eq!(c.algorithm(), SignatureAlgorithm::EcdsaNistP256Sha256);
    assert_eq!(c.issuer_id(), Some(ca.certificate().hashed_id8()));
    assert!(!c.is_self_signed());
    assert!(key_is_compressed(c));
    let h = sha256(&c.to_coer());
    assert_eq!(c.hashed_id8()[..], h[24..]);
    assert_eq!(&Certificate::from_coer(&c.to_coer()).unwrap(), c);
    assert_eq!(id.chain(), std::slice::from_ref(ca.certificate()));

    let root = ca.certificate();
    assert!(root.is_self_signed());
    assert_eq!(root.subject(), "zhilu-root");
    assert!(root.psids().is_empty());
    assert_eq!(root.valid_until_us() - root.valid_from_us(), 3650 * DAY_S * 1_000_000);
    // Long validity uses sixtyHours.
    let long = CertificateAuthority::generate("long", T0_S, 5000).unwrap();
    assert_eq!(long.certificate().valid_until_us() - long.certificate().valid_from_us(), 5000 * DAY_S * 1_000_000);

    // Trailing bytes are refused.
    let mut extra = c.to_coer();
    extra.push(0);
    assert!(matches!(Certificate::from_coer(&extra), Err(Error::Malformed(_))));
}

#[test]
fn pem_round_trips() {
    let ca = ca("zhilu-root");
    let text = ca.to_pem();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(text.contains("-----BEGIN IEEE1609DOT2 CERTIFICATE-----\n"));
    let back = CertificateAuthority::from_pem(&text).unwrap();
    assert_eq!(back.certificate(), ca.certificate());
    assert_eq!(back.to_pem(), text);

    // The restored CA issues certificates the original's verifiers accept.
    let id = back.issue("rsu-7", &[psid::SPAT], T0_S, 10).unwrap();
    let id_text = id.to_pem();
    assert_eq!(id_text.matches("-----BEGIN IEEE1609DOT2 CERTIFICATE-----").count(), 2);
    let id_back = SigningIdentity::from_pem(&id_text).unwrap();
    assert_eq!(id_back.certificate(), id.certificate());
    assert_eq!(id_back.chain(), id.chain());
    let spdu = id_back.sign(psid::SPAT, b"hello", T0_US + 1_000_000, true).unwrap();
    assert_eq!(verifier(&ca).verify(&spdu, T0_US + 1_000_000).unwrap().payload, b"hello");

    // A certificate alone, and a trust list.
    let c = Certificate::from_pem(&ca.certificate().to_pem()).unwrap();
    assert_eq!(&c, ca.certificate());
    let other = ca_named("other");
    let list = format!("# trust list\n{}{}", ca.certificate().to_pem(), other.certificate().to_pem());
    assert_eq!(Certificate::all_from_pem(&list).unwrap(), vec![ca.certificate().clone(), other.certificate().clone()]);
    // CRLF line endings are read too.
    assert_eq!(CertificateAuthority::from_pem(&text.replace('\n', "\r\n")).unwrap().certificate(), ca.certificate());
}

fn ca_named(name: &str) -> CertificateAuthority {
    CertificateAuthority::generate(name, T0_S - DAY_S, 100).unwrap()
}

#[test]
fn pem_errors() {
    let ca = ca("root");
    let other = ca_named("other");
    let text = ca.to_pem();
    // Key of one CA with the certificate of another.
    let key_block: String = text.split_inclusive('\n').take_while(|l| !l.starts_with("-----BEGIN IEEE")).collect();
    let mixed = format!("{key_block}{}", other.certificate().to_pem());
    assert!(matches!(CertificateAuthority::from_pem(&mixed), Err(Error::Key(_))));
    // An RSU identity is not a CA.
    let id = rsu(&ca);
    assert!(matches!(CertificateAuthority::from_pem(&id.to_pem()), Err(Error::Pem(_))));
    // Missing parts and garbage.
    assert!(matches!(CertificateAuthority::from_pem(&ca.certificate().to_pem()), Err(Error::Pem(_))));
    assert!(matches!(SigningIdentity::from_pem(&key_block), Err(Error::Pem(_))));
    assert!(matches!(Certificate::from_pem("hello"), Err(Error::Pem(_))));
    let truncated = &text[..text.len() - 20];
    assert!(matches!(CertificateAuthority::from_pem(truncated), Err(Error::Pem(_))));
    let bad_b64 = text.replacen("MI", "!!", 1);
    assert!(CertificateAuthority::from_pem(&bad_b64).is_err());
    // A chain in the wrong order.
    let id_text = id.to_pem();
    let wrong_chain = format!("{id_text}{}", other.certificate().to_pem());
    assert!(matches!(SigningIdentity::from_pem(&wrong_chain), Err(Error::Pem(_))));
}

#[test]
fn open_unverified_reads_without_checking() {
    let ca = ca("root");
    let id = rsu(&ca);
    let spdu = id.sign(psid::RSM, &payload(77), T0_US, true).unwrap();
    let v = open_unverified(&spdu).unwrap();
    assert_eq!(
        v,
        Verified {
            psid: psid::RSM,
            payload: payload(77),
            generation_time_unix_us: T0_US,
            signer: id.certificate().hashed_id8(),
            subject: "rsu-0001".into()
        }
    );
    let d = open_unverified(&id.sign(psid::RSM, b"z", T0_US, false).unwrap()).unwrap();
    assert_eq!(d.signer, id.certificate().hashed_id8());
    assert_eq!(d.subject, "");
    // Stale, tampered, untrusted: still readable.
    let mut tampered = spdu.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(open_unverified(&tampered).is_ok());
}

#[test]
fn unsigned_and_malformed_spdus() {
    // Ieee1609Dot2Data { 3, unsecuredData "hi" }
    let unsecured = [0x03, 0x80, 0x02, b'h', b'i'];
    assert!(matches!(open_unverified(&unsecured), Err(Error::NotSigned("unsecuredData"))));
    let ca = ca("root");
    let mut v = verifier(&ca);
    assert_eq!(v.verify(&unsecured, T0_US), Err(VerifyError::NotSigned));
    assert!(matches!(v.verify(&[], T0_US), Err(VerifyError::Malformed(_))));
    assert!(matches!(v.verify(&[0x02, 0x80, 0x00], T0_US), Err(VerifyError::Malformed(_))));
    let id = rsu(&ca);
    let mut spdu = id.sign(psid::MAP, b"m", T0_US, true).unwrap();
    spdu.push(0);
    assert!(matches!(v.verify(&spdu, T0_US), Err(VerifyError::Malformed(_))));
    spdu.pop();
    spdu.pop();
    assert!(matches!(v.verify(&spdu, T0_US), Err(VerifyError::Malformed(_))));
    assert!(matches!(v.verify(&vec![0; MAX_SPDU_BYTES + 1], T0_US), Err(VerifyError::Malformed(_))));
}

#[test]
fn error_messages_say_what_happened() {
    let id = [0xab, 0xcd, 0, 1, 2, 3, 4, 5];
    assert!(VerifyError::UnknownSigner(id).to_string().contains("abcd000102030405"));
    assert_eq!(
        VerifyError::PsidNotPermitted { psid: 130 }.to_string(),
        "PSID 130 is not permitted by the signer's certificate"
    );
    assert!(VerifyError::Stale { age_us: 5 }.to_string().contains("5 µs ago"));
    assert!(VerifyError::Replay.to_string().contains("already accepted"));
}

#[test]
fn psid_values() {
    assert_eq!(psid::MAP, 130);
    assert_eq!(psid::SPAT, 130);
    assert_eq!(psid::RSM, 144);
    assert_eq!(psid::SSM, 144);
    assert_eq!(psid::RSI, 131);
}

/// The figures in the crate documentation.
#[test]
fn overhead_for_600_byte_payload() {
    let ca = ca("zhilu-root");
    let id = rsu(&ca);
    let msg = payload(600);
    let digest = id.sign(psid::SPAT, &msg, T0_US, false).unwrap();
    let full = id.sign(psid::SPAT, &msg, T0_US, true).unwrap();
    let cert = id.certificate().to_coer().len();
    eprintln!(
        "600-byte payload: digest-signed {} B (+{}), certificate-signed {} B (+{}), certificate {} B",
        digest.len(),
        digest.len() - 600,
        full.len(),
        full.len() - 600,
        cert
    );
    assert_eq!(digest.len() - 600, 95);
    assert_eq!(cert, 147);
    assert_eq!(full.len() - 600, 236);
    assert_eq!(full.len() - digest.len(), cert + 2 - 8);
    assert!(full.len() <= 1150);
}

/// `tools/spdu.py` reads what the crate emits (skipped without python3).
#[test]
fn python_helper_unwraps_the_payload() {
    let python = std::process::Command::new("python3").arg("--version").output();
    if !matches!(python, Ok(ref o) if o.status.success()) {
        eprintln!("python3 not found: skipping the tools/spdu.py check");
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/spdu.py");
    let ca = ca("root");
    let id = rsu(&ca);
    let dir = std::env::temp_dir().join(format!("v2x-security-spdu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (include, len)) in
        [(true, 600usize), (false, 600), (false, 0), (true, 100), (false, 60_000)].into_iter().enumerate()
    {
        let msg = payload(len);
        let gen = T0_US + 123_456;
        let spdu = id.sign(psid::RSI, &msg, gen, include).unwrap();
        let file = dir.join(format!("spdu-{i}.bin"));
        std::fs::write(&file, &spdu).unwrap();
        let out = std::process::Command::new("python3").arg(&script).arg(&file).output().unwrap();
        assert!(out.status.success(), "spdu.py failed: {}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["psid"], psid::RSI);
        assert_eq!(json["generation_time_us"], gen);
        let hex: String = msg.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(json["payload_hex"], hex.as_str(), "case {i}");
    }
    // Refusals: a non-signed SPDU exits with an error.
    let file = dir.join("unsecured.bin");
    std::fs::write(&file, [0x03, 0x80, 0x02, b'h', b'i']).unwrap();
    let out = std::process::Command::new("python3").arg(&script).arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("signedData"));
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ca = CA.with(|c| c.clone());
        let mut v = verifier(&ca);
        prop_assert!(v.verify(&bytes, T0_US).is_err());
        let _ = open_unverified(&bytes);
        let _ = Certificate::from_coer(&bytes);
    }

    #[test]
    fn mutated_spdus_never_verify_as_something_else(
        include in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (ca, id) = CA_ID.with(|c| c.clone());
        let msg = payload(90);
        let spdu = id.sign(psid::MAP, &msg, T0_US, include).unwrap();
        let mut bytes = spdu.clone();
        for (at, x) in edits {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        let mut v = verifier(&ca);
        v.verify(&id.sign(psid::MAP, b"learn", T0_US, true).unwrap(), T0_US).unwrap();
        let _ = open_unverified(&bytes);
        if let Ok(ok) = v.verify(&bytes, T0_US) {
            // Only an encoding-level change that leaves the content intact may pass.
            prop_assert_eq!(ok.payload, msg);
            prop_assert_eq!(ok.psid, psid::MAP);
            prop_assert_eq!(ok.generation_time_unix_us, T0_US);
        }
    }

    #[test]
    fn random_certificates_in_pem_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = pem_rfc7468::encode_string(CERTIFICATE_PEM_LABEL, pem_rfc7468::LineEnding::LF, &bytes).unwrap();
        let _ = Certificate::from_pem(&text);
        let _ = SigningIdentity::from_pem(&text);
    }
}

thread_local! {
    static CA: CertificateAuthority = ca("fuzz-root");
    static CA_ID: (CertificateAuthority, SigningIdentity) = {
        let ca = ca("fuzz-root");
        let id = rsu(&ca);
        (ca, id)
    };
}
