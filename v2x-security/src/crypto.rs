//! The algorithm seam: keys, hashes and the 1609.2 signing digest.
//!
//! Everything algorithm-specific lives here behind [`SignatureAlgorithm`],
//! so SM2/SM3 (GB/T 45112-2024, YD/T 3957) can be added as new variants
//! without touching the SPDU or certificate code.

#[cfg(test)]
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rasn::types::FixedOctetString;
use rasn_its::ieee1609dot2::base_types::{EccP256CurvePoint, EcdsaP256Signature, PublicVerificationKey, Signature};
use sha2::{Digest, Sha256};

use crate::Error;

/// Signature algorithm of a key, certificate or SPDU.
///
/// Only ECDSA over NIST P-256 with SHA-256 is implemented. The Chinese
/// profile (SM2 signatures with SM3, `ecsigSm2` / `sm3AndDigest` in
/// 1609.2-2022) is the intended next variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA on NIST P-256 (secp256r1) with SHA-256 (1609.2 `ecdsaNistP256`).
    EcdsaNistP256Sha256,
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HashedId8 of a COER-encoded certificate: the low-order (last) 8 bytes of
/// its SHA-256 hash (1609.2 `HashedId8`; whole-certificate hash, §6.4.3).
pub(crate) fn hashed_id8(cert_coer: &[u8]) -> [u8; 8] {
    let h = sha256(cert_coer);
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[24..]);
    id
}

/// HashedId3 (last 3 bytes of the SHA-256 hash).
pub(crate) fn hashed_id3(cert_coer: &[u8]) -> [u8; 3] {
    let h = sha256(cert_coer);
    [h[29], h[30], h[31]]
}

/// The digest 1609.2 §5.3.1.2.2 signs with ECDSA:
/// `H( H(data input) || H(signer identifier input) )`, where the data input is
/// the COER of `ToBeSignedData` (SPDU) or `ToBeSignedCertificate`
/// (certificate), and the signer identifier input is the COER of the signer's
/// certificate, or the empty string for a self-signed certificate. The result
/// is used as the ECDSA message hash `e` (no further hashing).
#[cfg(test)]
pub(crate) fn signing_digest(data_coer: &[u8], signer_cert_coer: &[u8]) -> [u8; 32] {
    sha256(&signing_input(data_coer, signer_cert_coer))
}

/// `H(data input) || H(signer identifier input)`: ECDSA-with-SHA-256 over these 64 bytes is the
/// 1609.2 signature (the signing primitive hashes them once more, giving [`signing_digest`]).
pub(crate) fn signing_input(data_coer: &[u8], signer_cert_coer: &[u8]) -> [u8; 64] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(&sha256(data_coer));
    both[32..].copy_from_slice(&sha256(signer_cert_coer));
    both
}

/// An ECDSA signature as two 32-byte big-endian integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawSignature {
    pub r: [u8; 32],
    pub s: [u8; 32],
}

impl RawSignature {
    /// The 1609.2 structure, `r` in the x-only form that 1609.2 canonicalization requires.
    pub(crate) fn to_asn(self) -> Signature {
        Signature::EcdsaNistP256(EcdsaP256Signature {
            r_sig: EccP256CurvePoint::XOnly(FixedOctetString::from(self.r)),
            s_sig: FixedOctetString::from(self.s),
        })
    }

    /// From the 1609.2 structure; `r` may be x-only, compressed or uncompressed
    /// (only its x coordinate is the ECDSA `r`).
    pub(crate) fn from_asn(sig: &Signature) -> Result<Self, Error> {
        match sig {
            Signature::EcdsaNistP256(s) => {
                let r = match &s.r_sig {
                    EccP256CurvePoint::XOnly(x)
                    | EccP256CurvePoint::CompressedY0(x)
                    | EccP256CurvePoint::CompressedY1(x) => **x,
                    EccP256CurvePoint::Uncompressed(p) => *p.x,
                    EccP256CurvePoint::Fill(()) => {
                        return Err(Error::Malformed("signature rSig is 'fill'".into()));
                    }
                };
                Ok(RawSignature { r, s: *s.s_sig })
            }
            other => Err(Error::Unsupported(format!(
                "signature algorithm {}; only ecdsaNistP256 is implemented",
                signature_name(other)
            ))),
        }
    }
}

fn signature_name(sig: &Signature) -> &'static str {
    match sig {
        Signature::EcdsaNistP256(_) => "ecdsaNistP256",
        Signature::EcdsaBrainpoolP256r1(_) => "ecdsaBrainpoolP256r1",
        Signature::EcdsaBrainpoolP384r1(_) => "ecdsaBrainpoolP384r1",
        Signature::EcdsaNistP384(_) => "ecdsaNistP384",
        Signature::Sm2(_) => "sm2",
        _ => "(unknown)",
    }
}

/// A public verification key (with its uncompressed SEC1 form for ring's verifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    P256(p256::ecdsa::VerifyingKey, Box<[u8]>),
}

fn p256_public(vk: p256::ecdsa::VerifyingKey) -> PublicKey {
    let uncompressed: Box<[u8]> = vk.to_sec1_point(false).as_bytes().into();
    PublicKey::P256(vk, uncompressed)
}

impl PublicKey {
    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            PublicKey::P256(..) => SignatureAlgorithm::EcdsaNistP256Sha256,
        }
    }

    /// Verifies an ECDSA signature on a 1609.2 signing input (see [`signing_input`]); ring's
    /// constant-time P-256 (about 3x faster than the portable implementation here).
    pub(crate) fn verify_input(&self, input: &[u8; 64], sig: &RawSignature) -> bool {
        match self {
            PublicKey::P256(_, uncompressed) => {
                let mut rs = [0u8; 64];
                rs[..32].copy_from_slice(&sig.r);
                rs[32..].copy_from_slice(&sig.s);
                ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, uncompressed)
                    .verify(input, &rs)
                    .is_ok()
            }
        }
    }

    /// Verifies with the portable implementation (cross-check in tests).
    #[cfg(test)]
    pub(crate) fn verify_digest(&self, digest: &[u8; 32], sig: &RawSignature) -> bool {
        match self {
            PublicKey::P256(vk, _) => match p256::ecdsa::Signature::from_scalars(sig.r, sig.s) {
                Ok(s) => vk.verify_prehash(digest, &s).is_ok(),
                Err(_) => false,
            },
        }
    }

    /// The canonical 1609.2 form: compressed point.
    pub(crate) fn to_asn(&self) -> PublicVerificationKey {
        match self {
            PublicKey::P256(vk, _) => {
                let point = vk.to_sec1_point(true);
                let bytes = point.as_bytes();
                let mut x = [0u8; 32];
                x.copy_from_slice(&bytes[1..33]);
                let x = FixedOctetString::from(x);
                PublicVerificationKey::EcdsaNistP256(if bytes[0] == 0x02 {
                    EccP256CurvePoint::CompressedY0(x)
                } else {
                    EccP256CurvePoint::CompressedY1(x)
                })
            }
        }
    }

    /// From a 1609.2 verification key; the point is checked to be on the curve.
    pub(crate) fn from_asn(key: &PublicVerificationKey) -> Result<Self, Error> {
        match key {
            PublicVerificationKey::EcdsaNistP256(point) => {
                let sec1: Vec<u8> = match point {
                    EccP256CurvePoint::CompressedY0(x) => [&[0x02u8][..], &x[..]].concat(),
                    EccP256CurvePoint::CompressedY1(x) => [&[0x03u8][..], &x[..]].concat(),
                    EccP256CurvePoint::Uncompressed(p) => [&[0x04u8][..], &p.x[..], &p.y[..]].concat(),
                    EccP256CurvePoint::XOnly(_) | EccP256CurvePoint::Fill(()) => {
                        return Err(Error::Malformed(
                            "verification key must be a compressed or uncompressed point".into(),
                        ));
                    }
                };
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map(p256_public)
                    .map_err(|_| Error::Malformed("verification key is not a point on P-256".into()))
            }
            PublicVerificationKey::EcdsaBrainpoolP256r1(_) => Err(unsupported_key("ecdsaBrainpoolP256r1")),
            PublicVerificationKey::EcdsaBrainpoolP384r1(_) => Err(unsupported_key("ecdsaBrainpoolP384r1")),
            PublicVerificationKey::EcdsaNistP384(_) => Err(unsupported_key("ecdsaNistP384")),
            PublicVerificationKey::EcsigSm2(_) => Err(unsupported_key("ecsigSm2")),
            _ => Err(unsupported_key("(unknown)")),
        }
    }
}

fn unsupported_key(name: &str) -> Error {
    Error::Unsupported(format!("verification key {name}; only ecdsaNistP256 is implemented"))
}

/// A private signing key: kept as a RustCrypto key (PKCS#8, public key) and as a ring key pair
/// (signing, about 3x faster).
#[derive(Clone)]
pub(crate) enum PrivateKey {
    P256(p256::ecdsa::SigningKey, std::sync::Arc<ring::signature::EcdsaKeyPair>),
}

fn p256_private(sk: p256::ecdsa::SigningKey) -> Result<PrivateKey, Error> {
    let public = sk.verifying_key().to_sec1_point(false);
    let kp = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &sk.to_bytes(),
        public.as_bytes(),
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|e| Error::Key(format!("P-256 key rejected: {e}")))?;
    Ok(PrivateKey::P256(sk, std::sync::Arc::new(kp)))
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKey::P256(..) => f.write_str("PrivateKey::P256(..)"),
        }
    }
}

impl PrivateKey {
    /// A fresh key from the operating system's random number generator.
    pub(crate) fn generate(alg: SignatureAlgorithm) -> Result<Self, Error> {
        match alg {
            SignatureAlgorithm::EcdsaNistP256Sha256 => {
                p256_private(p256::ecdsa::SigningKey::try_generate().map_err(|e| Error::Rng(e.to_string()))?)
            }
        }
    }

    pub(crate) fn public(&self) -> PublicKey {
        match self {
            PrivateKey::P256(sk, _) => p256_public(*sk.verifying_key()),
        }
    }

    /// ECDSA signature on a 1609.2 signing input (ring; random nonce).
    pub(crate) fn sign_input(&self, input: &[u8; 64]) -> Result<RawSignature, Error> {
        match self {
            PrivateKey::P256(_, kp) => {
                let sig = kp
                    .sign(&ring::rand::SystemRandom::new(), input)
                    .map_err(|e| Error::Key(format!("signing failed: {e}")))?;
                let b = sig.as_ref();
                if b.len() != 64 {
                    return Err(Error::Key(format!("signature of {} bytes", b.len())));
                }
                let mut out = RawSignature { r: [0; 32], s: [0; 32] };
                out.r.copy_from_slice(&b[..32]);
                out.s.copy_from_slice(&b[32..]);
                Ok(out)
            }
        }
    }

    /// PKCS#8 DER.
    pub(crate) fn to_pkcs8_der(&self) -> Result<Vec<u8>, Error> {
        match self {
            PrivateKey::P256(sk, _) => sk
                .to_pkcs8_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| Error::Key(format!("PKCS#8 encoding: {e}"))),
        }
    }

    /// From PKCS#8 DER (P-256 only for now).
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        p256_private(
            p256::ecdsa::SigningKey::from_pkcs8_der(der)
                .map_err(|e| Error::Key(format!("not a PKCS#8 P-256 private key: {e}")))?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_signatures_are_ecdsa_on_the_1609_2_digest() {
        // what ring signs (SHA-256 over the 64-byte input) verifies as a prehash signature on the
        // 1609.2 digest with the portable implementation, and the other way round
        let key = PrivateKey::generate(SignatureAlgorithm::EcdsaNistP256Sha256).unwrap();
        let input = signing_input(b"to be signed", b"signer certificate");
        let sig = key.sign_input(&input).unwrap();
        let digest = signing_digest(b"to be signed", b"signer certificate");
        assert!(key.public().verify_digest(&digest, &sig));
        assert!(key.public().verify_input(&input, &sig));
        let PrivateKey::P256(sk, _) = &key;
        let s: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
        let (r, s) = s.split_bytes();
        let mut raw = RawSignature { r: [0; 32], s: [0; 32] };
        raw.r.copy_from_slice(&r);
        raw.s.copy_from_slice(&s);
        assert!(key.public().verify_input(&input, &raw));
        let other = signing_input(b"to be signed!", b"signer certificate");
        assert!(!key.public().verify_input(&other, &raw));
    }
}
