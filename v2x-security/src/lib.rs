//! # v2x_security — IEEE 1609.2 message security for Zhilu
//!
//! Every V2X message the roadside unit publishes (a UPER-encoded CSAE
//! MessageFrame: MAP, SPaT, RSM, SSM, RSI) is wrapped in an IEEE 1609.2
//! signed SPDU, so a vehicle can tell a real RSU's message from a forged or
//! replayed one even after the message was relayed (by the cloud, NATS, a
//! gateway): TLS protects one hop, the SPDU signature travels with the message.
//!
//! This crate owns:
//!
//! * [`Certificate`] — 1609.2 explicit certificates (COER), parsed essentials;
//! * [`CertificateAuthority`] — a self-signed root that issues RSU certificates;
//! * [`SigningIdentity`] — the RSU's key + certificate; [`SigningIdentity::sign`];
//! * [`Verifier`] — chain, validity, PSID, signature, freshness and replay checks;
//! * [`open_unverified`] — reading an SPDU without verifying (tools, sampling);
//! * [`psid`] — the PSIDs Zhilu signs under;
//! * PEM files for keys and certificates.
//!
//! Structures and the COER codec come from `rasn-its` (module
//! `rasn_its::ieee1609dot2`, IEEE 1609.2-2022 incl. the SM2/SM3 choices);
//! ECDSA from RustCrypto `p256`. The algorithm is an enum
//! ([`SignatureAlgorithm`]): only ECDSA P-256 / SHA-256 is implemented; the
//! Chinese profile (GB/T 45112-2024 / YD/T 3957, same structures with SM2 and
//! SM3) is meant to be a second variant. Sans-IO: time is always an
//! argument; only key generation reads the OS random number generator.
//!
//! ## SPDU layout (COER) and overhead
//!
//! ```text
//! Ieee1609Dot2Data
//!   protocolVersion 3                                   1 B
//!   content signedData                                  1 B (choice tag)
//!     hashId sha256                                     1 B
//!     tbsData
//!       payload (SignedDataPayload, preamble)           1 B
//!         data Ieee1609Dot2Data                         2 B (version 3, unsecuredData tag)
//!           unsecuredData OCTET STRING                  length (1–3 B) + payload
//!       headerInfo (preamble)                           1 B
//!         psid                                          1 + 1–2 B (e.g. 130: 01 82)
//!         generationTime Time64                         8 B
//!     signer  digest HashedId8                          1 + 8 B
//!          or certificate SEQUENCE OF Certificate       1 + 2 + certificate
//!     signature ecdsaNistP256Signature                  1 + (1 + 32) + 32 B (r x-only, s)
//! ```
//!
//! Measured for a 600-byte payload, PSID 130 (test `overhead_for_600_byte_payload`):
//!
//! | signer | SPDU | overhead |
//! |---|---|---|
//! | digest (HashedId8) | 695 B | **95 B** |
//! | certificate | 836 B | **236 B** (of which the certificate: 147 B) |
//!
//! The certificate is the one [`CertificateAuthority::issue`] makes for
//! `rsu-0001` with the three Zhilu PSIDs: 12 B header and issuer digest,
//! 69 B to-be-signed (name, craca id, CRL series, validity, PSIDs, compressed
//! P-256 key), 66 B signature; each further name character adds 1 B and each
//! PSID 3 B. The payload length prefix is 1 B below 128 B, 2 B below 256 B,
//! 3 B up to 64 KiB. So a ~1150-byte QUIC datagram holds a payload of up to
//! 1055 B digest-signed or 914 B certificate-signed. Send the certificate
//! periodically (e.g. once a second, or when a subscriber joins) and the
//! digest otherwise, as 1609.2 deployments do.
//!
//! Cost, release build on the 2-vCPU development VM (example `spdu_cost`, a
//! rough figure, not a benchmark): signing ~20 µs, verifying ~58 µs,
//! [`open_unverified`] ~1 µs per 600-byte SPDU.  The ECDSA primitive is
//! ring's (already in the build through rustls); RustCrypto's `p256`, which
//! keeps the keys (PKCS#8, points), took ~90 µs and ~280 µs.  A test
//! cross-checks that both produce and accept the same 1609.2 signatures.
//!
//! ## What a [`Verifier`] checks
//!
//! 1. Structure: protocol version 3, `signedData`, `hashId sha256`, payload in
//!    `tbsData.payload.data` as `unsecuredData`, `generationTime` present, no
//!    trailing bytes, at most [`MAX_SPDU_BYTES`].
//! 2. Freshness against the caller's clock: generation time not older than
//!    `max_age_us`, not further ahead than `max_future_us`, not past
//!    `expiryTime` if present.
//! 3. Signer: a full certificate (validated and then cached) or a HashedId8
//!    digest of a certificate validated earlier ([`VerifyError::UnknownSigner`]
//!    otherwise). The chain must reach a trust anchor through issuer digests;
//!    each issuer signature must verify; the issuer's `certIssuePermissions`
//!    must cover the subject's PSIDs (eeType app); each certificate's validity
//!    must lie within its issuer's and contain the SPDU's generation time.
//! 4. The header PSID must be in the signing certificate's `appPermissions`.
//! 5. The ECDSA signature over `H(H(COER(tbsData)) || H(COER(signer
//!    certificate)))` (1609.2 §5.3.1.2.2, SHA-256, the digest used as the
//!    ECDSA hash). Certificates are signed the same way over
//!    `toBeSigned` with the issuer's certificate (empty string when self-signed).
//! 6. Replay: (signer, generation time, SHA-256 of payload) must not have been
//!    accepted within the last `replay_window` accepted messages.
//!
//! ## Not verified / simplifications
//!
//! * Only explicit certificates; implicit (ECQV) certificates are refused.
//! * Service-specific permissions (SSP), certificate regions and
//!   `generationLocation`, assurance levels, `minChainLength` /
//!   `chainLengthRange`, CRLs and revocation, and P2PCD are not checked or used.
//! * Trust anchors are trusted as given (their self-signature is not re-checked).
//! * The signed data input is the canonical COER re-encoding of the decoded
//!   `tbsData`; for canonical input (what COER producers emit) it equals the
//!   received bytes. Received certificates are converted to canonical form
//!   (compressed key, x-only `r`) before hashing, as 1609.2 §6.4.3 requires.
//! * Header fields other than psid, generationTime and expiryTime are ignored;
//!   `extDataHash` / `omitted` payloads and nested signed/encrypted data are refused.
//! * Time is TAI as 1609.2 defines it: Unix time plus the leap seconds since
//!   2004 (5 s today; table in `time`), so generationTime is comparable with
//!   other 1609.2 implementations.
//! * The replay window is per verifier, in memory, bounded by count.
//! * CA issuance is local (no SCMS enrolment/authorization protocol); the CA
//!   issues end-entity certificates directly (chain length 1).
#![warn(missing_docs)]

mod cert;
mod crypto;
mod error;
mod spdu;
pub mod time;
mod verify;

#[cfg(test)]
mod tests;

pub use cert::{Certificate, CertificateAuthority, SigningIdentity, CERTIFICATE_PEM_LABEL, PRIVATE_KEY_PEM_LABEL};
pub use crypto::SignatureAlgorithm;
pub use error::{Error, VerifyError};
pub use spdu::{open_unverified, MAX_SIGNER_CERTIFICATES, MAX_SPDU_BYTES};
pub use verify::{Verified, Verifier, VerifierConfig, MAX_CACHED_CERTIFICATES};

/// HashedId8 of a certificate: the last 8 bytes of the SHA-256 hash of its
/// canonical COER encoding.
pub type HashedId8 = [u8; 8];

/// PSIDs (ITS-AIDs) Zhilu signs its messages under.
///
/// A PSID names an *application area*, not a message type: several message
/// types share one, and the CSAE MessageFrame choice in the payload tells
/// them apart. The values are from the ITS-AID/PSID registry that IEEE 1609.12
/// and ISO TC 204 share (ISO 5345 "RITSI registered items: ITS-AID", mirrored
/// by the IEEE RA PSID list); the p-encoded forms in brackets are what US RSU
/// configurations quote (e.g. V2X Hub's ImmediateForward plugin: SPaT, MAP and
/// SSM under `0x8002`, TIM under `0x8003`, SDSM under `0x8010`).
///
/// **Chinese AIDs not confirmed.** LTE-V2X deployments in China carry an AID
/// in the DSMP network header (YD/T 3707-2020) and the same value as the
/// 1609.2 / YD/T 3957 PSID. The AID table of YD/T 3707 could not be found in
/// any source available to us (the standard text is not freely available), so
/// no Chinese value is used here; replace these constants with the YD/T 3707
/// AIDs once they are checked against the purchased standard.
pub mod psid {
    /// MAP: `0x82` = 130 (p-encoded `0x80 02`), "Intersection safety and
    /// awareness", SAE J2735, the PSID US RSUs send MAP and SPaT under. The
    /// registry also has `0x20 40 97` = 2113687 "MAP distribution" (SAE),
    /// which Zhilu does not use.
    pub const MAP: u64 = 0x82;
    /// SPaT: `0x82` = 130, "Intersection safety and awareness" (SAE J2735).
    pub const SPAT: u64 = 0x82;
    /// RSM (CSAE 53 RoadsideSafetyMessage, the objects the RSU detects):
    /// `0x90` = 144 (p-encoded `0x80 10`), "Sensor Sharing Service", SAE J3224
    /// (SDSM), its closest registered application.
    pub const RSM: u64 = 0x90;
    /// SSM (CSAE 157 SensorSharingMsg): `0x90` = 144, "Sensor Sharing
    /// Service" (SAE J3224). Note: CSAE's SSM is sensor sharing, not J2735's
    /// SignalStatusMessage (that one would be `0x20 40 95` "Traffic signal
    /// priority status").
    pub const SSM: u64 = 0x90;
    /// RSI (CSAE 53 RoadSideInformation, signs and events): `0x83` = 131
    /// (p-encoded `0x80 03`), "Traveler information and roadside signage",
    /// SAE J2735 (TIM).
    pub const RSI: u64 = 0x83;
    /// Every PSID above, deduplicated: what an RSU certificate needs.
    pub const ALL: [u64; 3] = [MAP, RSM, RSI];
}
