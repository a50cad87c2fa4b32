//! IEEE 1609.2 explicit certificates, the root CA that issues RSU
//! certificates, the RSU's signing identity, and their PEM files.

use rasn::types::{FixedOctetString, Integer};
use rasn_its::ieee1609dot2::base_types::{
    Duration, HashAlgorithm, HashedId3, HashedId8 as AsnHashedId8, Hostname, Psid, PsidSsp, PublicVerificationKey,
    SequenceOfPsidSsp, Time32, ValidityPeriod,
};
use rasn_its::ieee1609dot2::{
    Certificate as AsnCertificate, CertificateBase, CertificateId, CertificateType, EndEntityType, ExplicitCertificate,
    IssuerIdentifier, PsidGroupPermissions, SequenceOfPsidGroupPermissions, SubjectPermissions, ToBeSignedCertificate,
    VerificationKeyIndicator,
};

use crate::crypto::{self, PrivateKey, PublicKey, RawSignature, SignatureAlgorithm};
use crate::error::hex8;
use crate::time::{time32_to_unix_us, unix_s_to_time32};
use crate::{Error, HashedId8};

/// PEM label of a COER-encoded 1609.2 certificate.
pub const CERTIFICATE_PEM_LABEL: &str = "IEEE1609DOT2 CERTIFICATE";
/// PEM label of the PKCS#8 private key.
pub const PRIVATE_KEY_PEM_LABEL: &str = "PRIVATE KEY";

/// Who signed a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Issuer {
    /// Self-signed (a root: `issuer self`).
    SelfSigned,
    /// Issued by the certificate with this HashedId8 (`sha256AndDigest`).
    Digest(HashedId8),
}

/// What a certificate may issue (its `certIssuePermissions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IssuePermissions {
    /// No certIssuePermissions for application certificates.
    Nothing,
    /// `subjectPermissions all`.
    All,
    /// `subjectPermissions explicit` with these PSIDs.
    Psids(Vec<u64>),
}

/// A 1609.2 explicit certificate, kept as its canonical COER bytes, with the
/// essentials parsed out.
///
/// Canonical form (1609.2 §6.4.3): the verification key is a compressed
/// point and the signature's `r` is x-only. [`Certificate::from_coer`] accepts
/// the other point forms and converts them; [`Certificate::to_coer`] and the
/// [`HashedId8`] always use the canonical form.
#[derive(Clone)]
pub struct Certificate {
    pub(crate) asn: AsnCertificate,
    pub(crate) coer: Vec<u8>,
    pub(crate) tbs_coer: Vec<u8>,
    pub(crate) id8: HashedId8,
    pub(crate) subject: String,
    pub(crate) psids: Vec<u64>,
    pub(crate) valid_from_us: i64,
    pub(crate) valid_until_us: i64,
    pub(crate) key: PublicKey,
    pub(crate) issuer: Issuer,
    pub(crate) issue: IssuePermissions,
    pub(crate) signature: RawSignature,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.coer == other.coer
    }
}
impl Eq for Certificate {}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("hashed_id8", &hex8(&self.id8))
            .field("subject", &self.subject)
            .field("psids", &self.psids)
            .field("valid_from_us", &self.valid_from_us)
            .field("valid_until_us", &self.valid_until_us)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Length of a 1609.2 `Duration` in µs (1 year = 31 556 952 s, as 1609.2 defines it).
fn duration_us(d: &Duration) -> i64 {
    const S: i64 = 1_000_000;
    match d {
        Duration::Microseconds(v) => i64::from(*v),
        Duration::Milliseconds(v) => i64::from(*v) * 1_000,
        Duration::Seconds(v) => i64::from(*v) * S,
        Duration::Minutes(v) => i64::from(*v) * 60 * S,
        Duration::Hours(v) => i64::from(*v) * 3_600 * S,
        Duration::SixtyHours(v) => i64::from(*v) * 216_000 * S,
        Duration::Years(v) => i64::from(*v) * 31_556_952 * S,
    }
}

/// `duration_days` as a 1609.2 Duration: `hours` up to 2730 days, beyond
/// that `sixtyHours` (rounded down to whole 60-hour units).
fn days_to_duration(days: u16) -> Result<Duration, Error> {
    if days == 0 {
        return Err(Error::InvalidArgument("certificate duration must be at least one day".into()));
    }
    let hours = u32::from(days) * 24;
    Ok(match u16::try_from(hours) {
        Ok(h) => Duration::Hours(h),
        // days ≤ 65535 → hours/60 ≤ 26214: fits.
        Err(_) => Duration::SixtyHours((hours / 60) as u16),
    })
}

fn validity(valid_from_unix_s: i64, days: u16) -> Result<ValidityPeriod, Error> {
    let start = unix_s_to_time32(valid_from_unix_s).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "validity start {valid_from_unix_s} (Unix s) is outside 2004..2140 (1609.2 Time32)"
        ))
    })?;
    Ok(ValidityPeriod { start: Time32(start), duration: days_to_duration(days)? })
}

fn name_id(name: &str) -> Result<CertificateId, Error> {
    if name.is_empty() || name.len() > 255 {
        return Err(Error::InvalidArgument(format!(
            "certificate name must be 1..=255 bytes (1609.2 Hostname), got {}",
            name.len()
        )));
    }
    Ok(CertificateId::Name(Hostname(name.to_string())))
}

fn encode<T: rasn::Encode>(value: &T, what: &str) -> Result<Vec<u8>, Error> {
    rasn::coer::encode(value).map_err(|e| Error::Encode(format!("{what}: {e}")))
}

fn psid_u64(p: &Psid) -> Result<u64, Error> {
    u64::try_from(&p.0).map_err(|_| Error::Unsupported("PSID does not fit 64 bits".into()))
}

impl Certificate {
    /// Parses a COER-encoded certificate. The whole input must be one
    /// certificate; implicit certificates and algorithms other than ECDSA
    /// P-256 are refused with [`Error::Unsupported`].
    pub fn from_coer(bytes: &[u8]) -> Result<Self, Error> {
        let (asn, rest) = rasn::coer::decode_with_remainder::<AsnCertificate>(bytes)
            .map_err(|e| Error::Malformed(format!("certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::Malformed(format!("certificate: {} trailing bytes", rest.len())));
        }
        Self::from_asn(&asn)
    }

    /// The canonical COER encoding.
    pub fn to_coer(&self) -> Vec<u8> {
        self.coer.clone()
    }

    /// Borrowed canonical COER encoding.
    pub fn as_coer(&self) -> &[u8] {
        &self.coer
    }

    /// HashedId8: the last 8 bytes of SHA-256 over the canonical COER.
    pub fn hashed_id8(&self) -> HashedId8 {
        self.id8
    }

    /// The certificate's name (`id name`); empty for `id none`, hex for `binaryId`.
    pub fn subject(&self) -> String {
        self.subject.clone()
    }

    /// PSIDs of `appPermissions` (what the holder may sign), in certificate order.
    pub fn psids(&self) -> Vec<u64> {
        self.psids.clone()
    }

    /// Start of validity, Unix µs.
    pub fn valid_from_us(&self) -> i64 {
        self.valid_from_us
    }

    /// End of validity (exclusive), Unix µs.
    pub fn valid_until_us(&self) -> i64 {
        self.valid_until_us
    }

    /// The signature algorithm of the certificate's verification key.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.key.algorithm()
    }

    /// True for a self-signed (root) certificate.
    pub fn is_self_signed(&self) -> bool {
        self.issuer == Issuer::SelfSigned
    }

    /// HashedId8 of the issuer; `None` for a self-signed certificate.
    pub fn issuer_id(&self) -> Option<HashedId8> {
        match self.issuer {
            Issuer::SelfSigned => None,
            Issuer::Digest(id) => Some(id),
        }
    }

    /// PEM block `IEEE1609DOT2 CERTIFICATE` (base64 of the COER), e.g. to
    /// distribute a CA certificate as a trust anchor.
    pub fn to_pem(&self) -> String {
        pem_block(CERTIFICATE_PEM_LABEL, &self.coer)
    }

    /// The first `IEEE1609DOT2 CERTIFICATE` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        Self::all_from_pem(text)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Pem(format!("no {CERTIFICATE_PEM_LABEL} block")))
    }

    /// Every `IEEE1609DOT2 CERTIFICATE` block of a PEM text, in order (a trust list).
    pub fn all_from_pem(text: &str) -> Result<Vec<Self>, Error> {
        pem_blocks(text)?
            .into_iter()
            .filter(|(label, _)| label == CERTIFICATE_PEM_LABEL)
            .map(|(_, der)| Self::from_coer(&der))
            .collect()
    }

    /// Whether this certificate's signature verifies with `issuer`'s key
    /// (or its own key when self-signed).
    pub(crate) fn signature_verifies(&self, issuer: Option<&Certificate>) -> bool {
        let (key, signer_input): (&PublicKey, &[u8]) = match issuer {
            Some(i) => (&i.key, &i.coer),
            None => (&self.key, &[]),
        };
        key.verify_input(&crypto::signing_input(&self.tbs_coer, signer_input), &self.signature)
    }

    /// Whether this certificate's certIssuePermissions cover every PSID of `subject`.
    pub(crate) fn may_issue(&self, subject: &Certificate) -> bool {
        match &self.issue {
            IssuePermissions::Nothing => false,
            IssuePermissions::All => true,
            IssuePermissions::Psids(allowed) => subject.psids.iter().all(|p| allowed.contains(p)),
        }
    }

    /// Extracts the essentials; converts to canonical form first.
    pub(crate) fn from_asn(asn: &AsnCertificate) -> Result<Self, Error> {
        let base: &CertificateBase = asn;
        if base.version != CertificateBase::VERSION {
            return Err(Error::Unsupported(format!("certificate version {}", base.version)));
        }
        if base.r#type != CertificateType::Explicit {
            return Err(Error::Unsupported("implicit certificates (ECQV) are not implemented".into()));
        }
        let issuer = match &base.issuer {
            IssuerIdentifier::Sha256AndDigest(h) => Issuer::Digest(*h.0),
            IssuerIdentifier::VSelf(HashAlgorithm::Sha256) => Issuer::SelfSigned,
            IssuerIdentifier::VSelf(_) => {
                return Err(Error::Unsupported("self-signed certificate with a hash other than SHA-256".into()));
            }
            _ => return Err(Error::Unsupported("issuer hash other than SHA-256".into())),
        };
        let tbs = &base.to_be_signed;
        let key = match &tbs.verify_key_indicator {
            VerificationKeyIndicator::VerificationKey(k) => PublicKey::from_asn(k)?,
            _ => return Err(Error::Unsupported("implicit certificates (ECQV) are not implemented".into())),
        };
        let signature = match &base.signature {
            Some(s) => RawSignature::from_asn(s)?,
            None => return Err(Error::Malformed("explicit certificate without a signature".into())),
        };
        let subject = match &tbs.id {
            CertificateId::Name(h) => h.0.clone(),
            CertificateId::BinaryId(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            CertificateId::LinkageData(_) => "(linkage data)".to_string(),
            _ => String::new(),
        };
        let mut psids = Vec::new();
        if let Some(perms) = &tbs.app_permissions {
            for p in perms.0.iter() {
                psids.push(psid_u64(&p.psid)?);
            }
        }
        let issue = issue_permissions(tbs.cert_issue_permissions.as_ref())?;
        let valid_from_us = time32_to_unix_us(tbs.validity_period.start.0);
        let valid_until_us = valid_from_us.saturating_add(duration_us(&tbs.validity_period.duration));

        // Canonical form: compressed verification key, x-only r.
        let mut canon: CertificateBase = base.clone();
        canon.to_be_signed.verify_key_indicator = VerificationKeyIndicator::VerificationKey(key.to_asn());
        canon.signature = Some(signature.to_asn());
        let tbs_coer = encode(&canon.to_be_signed, "toBeSigned")?;
        let asn: AsnCertificate =
            ExplicitCertificate::new(canon).map_err(|e| Error::Malformed(format!("certificate: {e}")))?.into();
        let coer = encode(&asn, "certificate")?;
        let id8 = crypto::hashed_id8(&coer);
        Ok(Certificate {
            asn,
            coer,
            tbs_coer,
            id8,
            subject,
            psids,
            valid_from_us,
            valid_until_us,
            key,
            issuer,
            issue,
            signature,
        })
    }

    /// Builds and signs a certificate. `issuer = None` makes it self-signed
    /// with `key`; otherwise it is signed by the issuer's key.
    fn build(
        tbs: ToBeSignedCertificate,
        signer: &PrivateKey,
        issuer: Option<&Certificate>,
    ) -> Result<Certificate, Error> {
        let tbs_coer = encode(&tbs, "toBeSigned")?;
        let (issuer_id, signer_input): (IssuerIdentifier, &[u8]) = match issuer {
            None => (IssuerIdentifier::VSelf(HashAlgorithm::Sha256), &[]),
            Some(i) => (IssuerIdentifier::Sha256AndDigest(AsnHashedId8(FixedOctetString::from(i.id8))), &i.coer),
        };
        let sig = signer.sign_input(&crypto::signing_input(&tbs_coer, signer_input))?;
        let base = CertificateBase {
            version: CertificateBase::VERSION,
            r#type: CertificateType::Explicit,
            issuer: issuer_id,
            to_be_signed: tbs,
            signature: Some(sig.to_asn()),
        };
        let asn: AsnCertificate =
            ExplicitCertificate::new(base).map_err(|e| Error::Encode(format!("certificate: {e}")))?.into();
        Certificate::from_asn(&asn)
    }
}

fn issue_permissions(perms: Option<&SequenceOfPsidGroupPermissions>) -> Result<IssuePermissions, Error> {
    let Some(groups) = perms else {
        return Ok(IssuePermissions::Nothing);
    };
    let mut psids = Vec::new();
    let mut any = false;
    for g in groups.0.iter() {
        // Only groups that may issue application (not enrolment) certificates count.
        if !g.ee_type.0[0] {
            continue;
        }
        match &g.subject_permissions {
            SubjectPermissions::All(()) => return Ok(IssuePermissions::All),
            SubjectPermissions::Explicit(list) => {
                any = true;
                for r in list.0.iter() {
                    psids.push(psid_u64(&r.psid)?);
                }
            }
            _ => {}
        }
    }
    Ok(if any { IssuePermissions::Psids(psids) } else { IssuePermissions::Nothing })
}

/// The to-be-signed part shared by CA and RSU certificates.
fn tbs_certificate(
    name: &str,
    craca_id: [u8; 3],
    validity: ValidityPeriod,
    app_psids: Option<&[u64]>,
    issue_all: bool,
    key: &PublicKey,
) -> Result<ToBeSignedCertificate, Error> {
    let app_permissions = app_psids
        .map(|ps| SequenceOfPsidSsp(ps.iter().map(|&p| PsidSsp { psid: Psid(Integer::from(p)), ssp: None }).collect()));
    let cert_issue_permissions = issue_all.then(|| {
        SequenceOfPsidGroupPermissions(vec![PsidGroupPermissions {
            subject_permissions: SubjectPermissions::All(()),
            min_chain_length: Integer::from(1),
            chain_length_range: Integer::from(0),
            ee_type: EndEntityType(ee_type_app()),
        }])
    });
    let vk: PublicVerificationKey = key.to_asn();
    ToBeSignedCertificate::builder()
        .id(name_id(name)?)
        .craca_id(HashedId3(FixedOctetString::from(craca_id)))
        .crl_series(rasn_its::ieee1609dot2::base_types::CrlSeries(0))
        .validity_period(validity)
        .maybe_app_permissions(app_permissions)
        .maybe_cert_issue_permissions(cert_issue_permissions)
        .verify_key_indicator(VerificationKeyIndicator::VerificationKey(vk))
        .build()
        .map_err(|e| Error::Encode(format!("toBeSigned: {e}")))
}

/// `eeType {app}`: the first bit set (rasn keeps 8 bits in an 8-byte array).
fn ee_type_app() -> rasn::types::FixedBitString<8> {
    rasn::types::FixedBitString::new([EndEntityType::APP, 0, 0, 0, 0, 0, 0, 0])
}

/// A root certificate authority (self-signed) that issues RSU
/// (authorization) certificates.
///
/// Its certificate has `certIssuePermissions { subjectPermissions all,
/// minChainLength 1, eeType app }` and no appPermissions: it signs
/// certificates, never messages.
#[derive(Clone, Debug)]
pub struct CertificateAuthority {
    key: PrivateKey,
    cert: Certificate,
}

impl CertificateAuthority {
    /// A new P-256 root key and its self-signed certificate named `name`,
    /// valid from `valid_from_unix_s` for `duration_days`.
    pub fn generate(name: &str, valid_from_unix_s: i64, duration_days: u16) -> Result<Self, Error> {
        let key = PrivateKey::generate(SignatureAlgorithm::EcdsaNistP256Sha256)?;
        let tbs =
            tbs_certificate(name, [0; 3], validity(valid_from_unix_s, duration_days)?, None, true, &key.public())?;
        let cert = Certificate::build(tbs, &key, None)?;
        Ok(CertificateAuthority { key, cert })
    }

    /// The CA's self-signed certificate (the verifiers' trust anchor).
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// A new P-256 key and a certificate for it, named `subject`, permitted to
    /// sign `psids`, valid from `valid_from_unix_s` for `duration_days`, issued
    /// (signed) by this CA. The validity must lie within the CA's.
    pub fn issue(
        &self,
        subject: &str,
        psids: &[u64],
        valid_from_unix_s: i64,
        duration_days: u16,
    ) -> Result<SigningIdentity, Error> {
        let mut unique: Vec<u64> = Vec::with_capacity(psids.len());
        for &p in psids {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        if unique.is_empty() {
            return Err(Error::InvalidArgument("a signing certificate needs at least one PSID".into()));
        }
        let validity = validity(valid_from_unix_s, duration_days)?;
        let from = time32_to_unix_us(validity.start.0);
        let until = from.saturating_add(duration_us(&validity.duration));
        if from < self.cert.valid_from_us || until > self.cert.valid_until_us {
            return Err(Error::InvalidArgument(format!(
                "validity [{from}, {until}) µs is not within the CA's [{}, {}) µs",
                self.cert.valid_from_us, self.cert.valid_until_us
            )));
        }
        let key = PrivateKey::generate(SignatureAlgorithm::EcdsaNistP256Sha256)?;
        let craca = crypto::hashed_id3(&self.cert.coer);
        let tbs = tbs_certificate(subject, craca, validity, Some(&unique), false, &key.public())?;
        let cert = Certificate::build(tbs, &self.key, Some(&self.cert))?;
        Ok(SigningIdentity { key, cert, chain: vec![self.cert.clone()] })
    }

    /// One text file: the PKCS#8 private key (`PRIVATE KEY`) and the
    /// certificate (`IEEE1609DOT2 CERTIFICATE`). Keep it secret.
    pub fn to_pem(&self) -> String {
        let mut out = key_pem(&self.key);
        out.push_str(&self.cert.to_pem());
        out
    }

    /// Reads [`CertificateAuthority::to_pem`]'s format; the key must match
    /// the certificate, which must be self-signed.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let (key, certs) = read_key_and_certs(text)?;
        let cert = certs.into_iter().next().ok_or_else(|| Error::Pem(format!("no {CERTIFICATE_PEM_LABEL} block")))?;
        if !cert.is_self_signed() {
            return Err(Error::Pem("the CA certificate is not self-signed".into()));
        }
        if !cert.signature_verifies(None) {
            return Err(Error::Pem("the CA certificate's self-signature does not verify".into()));
        }
        check_key_matches(&key, &cert)?;
        Ok(CertificateAuthority { key, cert })
    }
}

/// An RSU's signing key, its certificate and the issuer chain (root last).
#[derive(Clone, Debug)]
pub struct SigningIdentity {
    pub(crate) key: PrivateKey,
    pub(crate) cert: Certificate,
    pub(crate) chain: Vec<Certificate>,
}

impl SigningIdentity {
    /// Signs `payload` (a UPER-encoded MessageFrame) as a COER
    /// `Ieee1609Dot2Data` with `signedData`: header `psid` and
    /// `generationTime` (from Unix µs), signer the full certificate
    /// (`include_certificate`) or its HashedId8 digest, ECDSA P-256 over
    /// SHA-256 as 1609.2 §5.3.1 specifies.
    ///
    /// Refuses a PSID the certificate does not permit (verifiers would
    /// reject it) and a generation time before 2004. It does not check the
    /// certificate's validity period: verifiers do, against the generation time.
    pub fn sign(
        &self,
        psid: u64,
        payload: &[u8],
        generation_time_unix_us: i64,
        include_certificate: bool,
    ) -> Result<Vec<u8>, Error> {
        if !self.cert.psids.contains(&psid) {
            return Err(Error::InvalidArgument(format!(
                "PSID {psid} is not in the appPermissions {:?} of certificate '{}'",
                self.cert.psids, self.cert.subject
            )));
        }
        crate::spdu::sign(self, psid, payload, generation_time_unix_us, include_certificate)
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The issuer chain, root last (for a CA-issued identity: the CA certificate).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// One text file: the PKCS#8 private key, the signing certificate, then
    /// the issuer chain, root last. Keep it secret.
    pub fn to_pem(&self) -> String {
        let mut out = key_pem(&self.key);
        out.push_str(&self.cert.to_pem());
        for c in &self.chain {
            out.push_str(&c.to_pem());
        }
        out
    }

    /// Reads [`SigningIdentity::to_pem`]'s format; the key must match the
    /// first certificate, and each chain certificate must have issued the
    /// one before it.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let (key, mut certs) = read_key_and_certs(text)?;
        if certs.is_empty() {
            return Err(Error::Pem(format!("no {CERTIFICATE_PEM_LABEL} block")));
        }
        let cert = certs.remove(0);
        check_key_matches(&key, &cert)?;
        let mut child = &cert;
        for issuer in &certs {
            if child.issuer_id() != Some(issuer.id8) || !child.signature_verifies(Some(issuer)) {
                return Err(Error::Pem(format!(
                    "chain certificate '{}' did not issue '{}'",
                    issuer.subject, child.subject
                )));
            }
            child = issuer;
        }
        Ok(SigningIdentity { key, cert, chain: certs })
    }
}

fn check_key_matches(key: &PrivateKey, cert: &Certificate) -> Result<(), Error> {
    if key.public() != cert.key {
        return Err(Error::Key(format!("the private key does not match certificate '{}'", cert.subject)));
    }
    Ok(())
}

fn key_pem(key: &PrivateKey) -> String {
    // PKCS#8 encoding of a valid in-memory key cannot fail.
    let der = key.to_pkcs8_der().unwrap_or_default();
    pem_block(PRIVATE_KEY_PEM_LABEL, &der)
}

fn read_key_and_certs(text: &str) -> Result<(PrivateKey, Vec<Certificate>), Error> {
    let mut key = None;
    let mut certs = Vec::new();
    for (label, der) in pem_blocks(text)? {
        if label == PRIVATE_KEY_PEM_LABEL {
            if key.is_some() {
                return Err(Error::Pem("more than one PRIVATE KEY block".into()));
            }
            key = Some(PrivateKey::from_pkcs8_der(&der)?);
        } else if label == CERTIFICATE_PEM_LABEL {
            certs.push(Certificate::from_coer(&der)?);
        }
    }
    let key = key.ok_or_else(|| Error::Pem("no PRIVATE KEY block".into()))?;
    Ok((key, certs))
}

fn pem_block(label: &str, der: &[u8]) -> String {
    // Labels are fixed valid constants: encoding cannot fail.
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).unwrap_or_default()
}

/// Splits a text into its PEM blocks (label, decoded bytes); text outside
/// blocks is ignored.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        match &mut current {
            None => {
                if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
                    current = Some((label.to_string(), format!("{line}\n")));
                }
            }
            Some((label, block)) => {
                block.push_str(line);
                block.push('\n');
                if line.starts_with("-----END ") {
                    if line != format!("-----END {label}-----") {
                        return Err(Error::Pem(format!("line {}: END does not match BEGIN {label}", n + 1)));
                    }
                    let (decoded_label, der) = pem_rfc7468::decode_vec(block.as_bytes())
                        .map_err(|e| Error::Pem(format!("block {label} ending on line {}: {e}", n + 1)))?;
                    out.push((decoded_label.to_string(), der));
                    current = None;
                }
            }
        }
    }
    if let Some((label, _)) = current {
        return Err(Error::Pem(format!("block {label} has no END line")));
    }
    Ok(out)
}

/// Point form check used by tests: is the key compressed in the canonical encoding?
#[cfg(test)]
pub(crate) fn key_is_compressed(cert: &Certificate) -> bool {
    matches!(
        &cert.asn.to_be_signed.verify_key_indicator,
        VerificationKeyIndicator::VerificationKey(PublicVerificationKey::EcdsaNistP256(
            rasn_its::ieee1609dot2::base_types::EccP256CurvePoint::CompressedY0(_)
                | rasn_its::ieee1609dot2::base_types::EccP256CurvePoint::CompressedY1(_)
        ))
    )
}
