//! The verifier: chain to a trust anchor, validity, PSID permission,
//! signature, freshness and replay.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::cert::{Certificate, Issuer};
use crate::crypto::{self, sha256};
use crate::error::hex8;
use crate::spdu::{self, ParsedSigner, ParsedSpdu};
use crate::{Error, HashedId8, VerifyError};

/// What a verifier accepted (or what [`crate::open_unverified`] read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The PSID of the SPDU's header.
    pub psid: u64,
    /// The payload (a UPER-encoded CSAE MessageFrame for Zhilu).
    pub payload: Vec<u8>,
    /// The header's generationTime, Unix µs.
    pub generation_time_unix_us: i64,
    /// HashedId8 of the signing certificate.
    pub signer: HashedId8,
    /// The signing certificate's name (see [`Certificate::subject`]).
    pub subject: String,
}

/// Verifier limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Oldest accepted generation time, µs before `now` (default 2 s).
    pub max_age_us: i64,
    /// Newest accepted generation time, µs after `now` (clock skew; default 0.5 s).
    pub max_future_us: i64,
    /// Accepted messages remembered for replay detection (default 4096;
    /// 0 turns replay detection off). Must exceed the number of messages
    /// accepted within `max_age_us + max_future_us`, or an old message may be
    /// forgotten while still fresh: 4096 covers ~1600 messages/s at the defaults.
    pub replay_window: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig { max_age_us: 2_000_000, max_future_us: 500_000, replay_window: 4096 }
    }
}

/// Most validated certificates kept for digest-signed SPDUs; the oldest
/// learned is forgotten first.
pub const MAX_CACHED_CERTIFICATES: usize = 1024;

/// Deepest certificate chain (signing certificate to anchor) accepted.
const MAX_CHAIN_DEPTH: usize = 4;

type ReplayKey = (HashedId8, i64, [u8; 32]);

/// Verifies signed SPDUs against a set of trust anchors (root CA
/// certificates). Keeps state: the certificates it has validated (so
/// digest-signed SPDUs verify after one SPDU carried the certificate) and
/// the recently accepted messages (replay window). Time is an argument.
#[derive(Debug)]
pub struct Verifier {
    anchors: HashMap<HashedId8, Certificate>,
    config: VerifierConfig,
    cache: HashMap<HashedId8, Certificate>,
    cache_order: VecDeque<HashedId8>,
    seen: HashSet<ReplayKey>,
    seen_order: VecDeque<ReplayKey>,
}

impl Verifier {
    /// A verifier trusting `trust_anchors` (typically the operator's root CA
    /// certificates). Anchors are trusted as given: load them from a
    /// protected source.
    pub fn new(trust_anchors: Vec<Certificate>, config: VerifierConfig) -> Self {
        Verifier {
            anchors: trust_anchors.into_iter().map(|c| (c.hashed_id8(), c)).collect(),
            config,
            cache: HashMap::new(),
            cache_order: VecDeque::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Number of validated signing certificates remembered.
    pub fn cached_certificates(&self) -> usize {
        self.cache.len()
    }

    /// Verifies `spdu` at time `now_unix_us`. In order: structure
    /// ([`VerifyError::Malformed`], [`VerifyError::NotSigned`]), freshness
    /// (`Stale`, `FromFuture`), signer and chain (`UnknownSigner`,
    /// `ChainBroken`, `CertificateExpired`, `CertificateNotYetValid`),
    /// permission (`PsidNotPermitted`), signature (`BadSignature`), replay
    /// (`Replay`). Only an accepted SPDU changes the replay window.
    pub fn verify(&mut self, spdu: &[u8], now_unix_us: i64) -> Result<Verified, VerifyError> {
        let p = spdu::parse(spdu).map_err(|e| match e {
            Error::NotSigned(_) => VerifyError::NotSigned,
            other => VerifyError::Malformed(other.to_string()),
        })?;
        self.check_freshness(&p, now_unix_us)?;
        let signer = self.resolve_signer(&p)?;
        if !signer.psids.contains(&p.psid) {
            return Err(VerifyError::PsidNotPermitted { psid: p.psid });
        }
        let input = crypto::signing_input(&p.tbs_coer, &signer.coer);
        if !signer.key.verify_input(&input, &p.signature) {
            return Err(VerifyError::BadSignature);
        }
        let key: ReplayKey = (signer.id8, p.generation_time_unix_us, sha256(&p.payload));
        if self.config.replay_window > 0 {
            if self.seen.contains(&key) {
                return Err(VerifyError::Replay);
            }
            while self.seen_order.len() >= self.config.replay_window {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
            self.seen.insert(key);
            self.seen_order.push_back(key);
        }
        Ok(Verified {
            psid: p.psid,
            payload: p.payload,
            generation_time_unix_us: p.generation_time_unix_us,
            signer: signer.id8,
            subject: signer.subject,
        })
    }

    fn check_freshness(&self, p: &ParsedSpdu, now: i64) -> Result<(), VerifyError> {
        let age = now.saturating_sub(p.generation_time_unix_us);
        if age > self.config.max_age_us {
            return Err(VerifyError::Stale { age_us: age });
        }
        if let Some(exp) = p.expiry_time_unix_us {
            if now > exp {
                return Err(VerifyError::Stale { age_us: age });
            }
        }
        let ahead = p.generation_time_unix_us.saturating_sub(now);
        if ahead > self.config.max_future_us {
            return Err(VerifyError::FromFuture { ahead_us: ahead });
        }
        Ok(())
    }

    /// The validated signing certificate (chain checked, valid at the
    /// generation time).
    fn resolve_signer(&mut self, p: &ParsedSpdu) -> Result<Certificate, VerifyError> {
        let at = p.generation_time_unix_us;
        match &p.signer {
            ParsedSigner::SelfSigned => {
                Err(VerifyError::ChainBroken("signer is 'self': self-signed SPDUs are not accepted".into()))
            }
            ParsedSigner::Digest(id) => {
                let cert = self.cache.get(id).cloned().ok_or(VerifyError::UnknownSigner(*id))?;
                // Known and validated: re-checks the chain's validity times at `at`.
                self.validate_chain(&cert, &[], at, 0)?;
                Ok(cert)
            }
            ParsedSigner::Certificates(certs) => {
                self.validate_chain(&certs[0], &certs[1..], at, 0)?;
                Ok(certs[0].clone())
            }
        }
    }

    /// Validates `cert` (issued by an anchor, a validated certificate, or
    /// `rest[0]`, which is validated recursively) at time `at`; caches it.
    fn validate_chain(
        &mut self,
        cert: &Certificate,
        rest: &[Certificate],
        at: i64,
        depth: usize,
    ) -> Result<(), VerifyError> {
        if depth >= MAX_CHAIN_DEPTH {
            return Err(VerifyError::ChainBroken(format!("chain deeper than {MAX_CHAIN_DEPTH} certificates")));
        }
        check_time(cert, at)?;
        if self.anchors.contains_key(&cert.id8) {
            return Ok(());
        }
        if let Some(known) = self.cache.get(&cert.id8) {
            if known == cert {
                // Validated before: re-check its issuers' validity at `at`.
                if let Issuer::Digest(i) = cert.issuer {
                    if let Some(issuer) = self.anchors.get(&i).or_else(|| self.cache.get(&i)).cloned() {
                        return self.validate_chain(&issuer, &[], at, depth + 1);
                    }
                }
                return Ok(());
            }
        }
        let issuer_id = match cert.issuer {
            Issuer::SelfSigned => {
                return Err(VerifyError::ChainBroken(format!(
                    "self-signed certificate '{}' ({}) is not a trust anchor",
                    cert.subject,
                    hex8(&cert.id8)
                )));
            }
            Issuer::Digest(i) => i,
        };
        let issuer = if let Some(a) = self.anchors.get(&issuer_id) {
            check_time(a, at)?;
            a.clone()
        } else if let Some(c) = self.cache.get(&issuer_id).cloned() {
            self.validate_chain(&c, &[], at, depth + 1)?;
            c
        } else if let Some(next) = rest.first().filter(|c| c.id8 == issuer_id) {
            self.validate_chain(next, &rest[1..], at, depth + 1)?;
            next.clone()
        } else {
            return Err(VerifyError::ChainBroken(format!(
                "issuer {} of '{}' is not a trust anchor",
                hex8(&issuer_id),
                cert.subject
            )));
        };
        if !cert.signature_verifies(Some(&issuer)) {
            return Err(VerifyError::ChainBroken(format!(
                "the issuer's signature on certificate '{}' does not verify",
                cert.subject
            )));
        }
        if !issuer.may_issue(cert) {
            return Err(VerifyError::ChainBroken(format!(
                "issuer '{}' has no certIssuePermissions for the PSIDs of '{}'",
                issuer.subject, cert.subject
            )));
        }
        if cert.valid_from_us < issuer.valid_from_us || cert.valid_until_us > issuer.valid_until_us {
            return Err(VerifyError::ChainBroken(format!("validity of '{}' is not within its issuer's", cert.subject)));
        }
        self.remember(cert.clone());
        Ok(())
    }

    fn remember(&mut self, cert: Certificate) {
        let id = cert.id8;
        if self.cache.insert(id, cert).is_none() {
            self.cache_order.push_back(id);
            while self.cache_order.len() > MAX_CACHED_CERTIFICATES {
                if let Some(old) = self.cache_order.pop_front() {
                    self.cache.remove(&old);
                }
            }
        }
    }
}

fn check_time(cert: &Certificate, at: i64) -> Result<(), VerifyError> {
    if at < cert.valid_from_us {
        return Err(VerifyError::CertificateNotYetValid {
            subject: cert.subject.clone(),
            valid_from_us: cert.valid_from_us,
        });
    }
    if at >= cert.valid_until_us {
        return Err(VerifyError::CertificateExpired {
            subject: cert.subject.clone(),
            valid_until_us: cert.valid_until_us,
        });
    }
    Ok(())
}
