//! Errors: [`Error`] for building, signing, parsing and PEM; [`VerifyError`]
//! for every reason a verifier refuses an SPDU.

use crate::HashedId8;

/// Hex of a HashedId8 (for messages).
pub(crate) fn hex8(id: &HashedId8) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Errors of certificate handling, signing, parsing without verification and PEM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid COER encoding of the expected structure, or
    /// break a rule of the profile this crate emits and accepts.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The SPDU is a valid `Ieee1609Dot2Data` but its content is not `signedData`.
    #[error("not a signed SPDU: content is {0}, expected signedData")]
    NotSigned(&'static str),
    /// Well-formed, but uses something this crate does not implement
    /// (implicit certificates, algorithms other than ECDSA P-256/SHA-256, ...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An argument cannot be represented or is not allowed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A PEM file is missing a block or a block cannot be decoded.
    #[error("PEM: {0}")]
    Pem(String),
    /// A private key is invalid or does not match its certificate.
    #[error("key: {0}")]
    Key(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// Encoding a structure to COER failed (a bug: we only build valid values).
    #[error("COER encoding failed: {0}")]
    Encode(String),
}

/// Why a [`crate::Verifier`] refused an SPDU. Only `Ok` means the payload is
/// authentic, fresh, permitted and not a replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a valid COER `Ieee1609Dot2Data`, or outside the profile (no
    /// generation time, hash other than SHA-256, external payload, ...).
    #[error("malformed SPDU: {0}")]
    Malformed(String),
    /// A valid `Ieee1609Dot2Data` whose content is not `signedData`.
    #[error("SPDU is not signed (content is not signedData)")]
    NotSigned,
    /// Signed with a certificate digest this verifier has never validated
    /// (it learns certificates from SPDUs that carry them in full).
    #[error("unknown signer {}: its certificate has not been seen; wait for a message that carries it", hex8(.0))]
    UnknownSigner(HashedId8),
    /// The certificate chain does not reach a trust anchor, or a signature or
    /// permission in it does not hold.
    #[error("certificate chain broken: {0}")]
    ChainBroken(String),
    /// A certificate of the chain had expired at the SPDU's generation time.
    #[error("certificate '{subject}' expired at {valid_until_us} µs (Unix) before the message was generated")]
    CertificateExpired {
        /// Name of the expired certificate.
        subject: String,
        /// End of its validity, Unix µs.
        valid_until_us: i64,
    },
    /// A certificate of the chain was not yet valid at the SPDU's generation time.
    #[error("certificate '{subject}' is valid only from {valid_from_us} µs (Unix), after the message was generated")]
    CertificateNotYetValid {
        /// Name of the certificate.
        subject: String,
        /// Start of its validity, Unix µs.
        valid_from_us: i64,
    },
    /// The signer's certificate does not carry the SPDU's PSID in its appPermissions.
    #[error("PSID {psid} is not permitted by the signer's certificate")]
    PsidNotPermitted {
        /// The PSID of the SPDU's header.
        psid: u64,
    },
    /// The ECDSA signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Generated longer ago than `max_age_us` (or past its expiryTime).
    #[error("stale: generated {age_us} µs ago")]
    Stale {
        /// Age at verification, µs.
        age_us: i64,
    },
    /// Generated further in the future than `max_future_us` (clock skew or forgery).
    #[error("generated {ahead_us} µs in the future")]
    FromFuture {
        /// How far ahead of the verifier's clock, µs.
        ahead_us: i64,
    },
    /// The same signer, generation time and payload was already accepted.
    #[error("replay: this message (same signer, generation time and payload) was already accepted")]
    Replay,
}
