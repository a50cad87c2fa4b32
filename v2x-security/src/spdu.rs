//! Building and parsing signed SPDUs (`Ieee1609Dot2Data` with `signedData`).

use rasn::types::{FixedOctetString, Integer, OctetString};
use rasn_its::ieee1609dot2::base_types::{HashAlgorithm, HashedId8 as AsnHashedId8, Opaque, Psid, Time64};
use rasn_its::ieee1609dot2::{
    HeaderInfo, Ieee1609Dot2Content, Ieee1609Dot2Data, SequenceOfCertificate, SignedData, SignedDataPayload,
    SignerIdentifier, ToBeSignedData,
};

use crate::cert::{Certificate, SigningIdentity};
use crate::crypto::{self, RawSignature};
use crate::time::{time64_to_unix_us, unix_us_to_time64};
use crate::{Error, HashedId8, Verified};

/// Largest SPDU accepted by the parsers (far above any CSAE message plus
/// security overhead); larger inputs are refused before decoding.
pub const MAX_SPDU_BYTES: usize = 65_536;

/// Most certificates accepted in a `signer certificate` sequence.
pub const MAX_SIGNER_CERTIFICATES: usize = 4;

/// The signer field of a parsed SPDU.
#[derive(Debug, Clone)]
pub(crate) enum ParsedSigner {
    Digest(HashedId8),
    /// Authorization certificate first, then its issuers.
    Certificates(Vec<Certificate>),
    SelfSigned,
}

/// A structurally valid signed SPDU of the profile, not yet verified.
#[derive(Debug, Clone)]
pub(crate) struct ParsedSpdu {
    pub psid: u64,
    pub generation_time_unix_us: i64,
    pub expiry_time_unix_us: Option<i64>,
    pub payload: Vec<u8>,
    pub signer: ParsedSigner,
    /// Canonical COER of `tbsData` (the signature's data input).
    pub tbs_coer: Vec<u8>,
    pub signature: RawSignature,
}

fn content_name(c: &Ieee1609Dot2Content) -> &'static str {
    match c {
        Ieee1609Dot2Content::UnsecuredData(_) => "unsecuredData",
        Ieee1609Dot2Content::SignedData(_) => "signedData",
        Ieee1609Dot2Content::EncryptedData(_) => "encryptedData",
        Ieee1609Dot2Content::SignedCertificateRequest(_) => "signedCertificateRequest",
        Ieee1609Dot2Content::SignedX509CertificateRequest(_) => "signedX509CertificateRequest",
        _ => "(unknown)",
    }
}

fn malformed(what: impl Into<String>) -> Error {
    Error::Malformed(what.into())
}

/// Parses a signed SPDU of the profile this crate emits: protocol version 3,
/// `signedData`, hash SHA-256, `tbsData.payload.data` holding an
/// `unsecuredData` `Ieee1609Dot2Data`, a header with `generationTime`.
pub(crate) fn parse(spdu: &[u8]) -> Result<ParsedSpdu, Error> {
    if spdu.len() > MAX_SPDU_BYTES {
        return Err(malformed(format!("{} bytes, more than the {MAX_SPDU_BYTES} accepted", spdu.len())));
    }
    let (data, rest) = rasn::coer::decode_with_remainder::<Ieee1609Dot2Data>(spdu)
        .map_err(|e| malformed(format!("Ieee1609Dot2Data: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} trailing bytes after the Ieee1609Dot2Data", rest.len())));
    }
    if data.protocol_version != Ieee1609Dot2Data::VERSION {
        return Err(malformed(format!("protocolVersion {}, expected 3", data.protocol_version)));
    }
    let signed: SignedData = match data.content {
        Ieee1609Dot2Content::SignedData(sd) => *sd,
        other => return Err(Error::NotSigned(content_name(&other))),
    };
    if signed.hash_id != HashAlgorithm::Sha256 {
        return Err(Error::Unsupported("hashId other than sha256".into()));
    }
    let tbs = &signed.tbs_data;
    if tbs.payload.ext_data_hash.is_some() || tbs.payload.omitted.is_some() {
        return Err(Error::Unsupported("payload with extDataHash or omitted (external data)".into()));
    }
    let inner = tbs.payload.data.as_ref().ok_or_else(|| malformed("tbsData.payload has no data"))?;
    if inner.protocol_version != Ieee1609Dot2Data::VERSION {
        return Err(malformed(format!("inner protocolVersion {}, expected 3", inner.protocol_version)));
    }
    let payload = match &inner.content {
        Ieee1609Dot2Content::UnsecuredData(Opaque(bytes)) => bytes.to_vec(),
        other => {
            return Err(Error::Unsupported(format!(
                "tbsData.payload.data is {}, only unsecuredData is implemented",
                content_name(other)
            )));
        }
    };
    let header = &tbs.header_info;
    let psid = u64::try_from(&header.psid.0).map_err(|_| malformed("PSID does not fit 64 bits"))?;
    let generation = header.generation_time.as_ref().ok_or_else(|| malformed("headerInfo has no generationTime"))?;
    let generation_time_unix_us =
        time64_to_unix_us(generation.0).ok_or_else(|| malformed("generationTime out of range"))?;
    let expiry_time_unix_us = match &header.expiry_time {
        Some(t) => Some(time64_to_unix_us(t.0).ok_or_else(|| malformed("expiryTime out of range"))?),
        None => None,
    };
    if let Some(exp) = expiry_time_unix_us {
        if generation_time_unix_us >= exp {
            return Err(malformed("generationTime is not before expiryTime"));
        }
    }
    let signer = match &signed.signer {
        SignerIdentifier::Digest(h) => ParsedSigner::Digest(*h.0),
        SignerIdentifier::Certificate(seq) => {
            if seq.0.is_empty() {
                return Err(malformed("signer certificate sequence is empty"));
            }
            if seq.0.len() > MAX_SIGNER_CERTIFICATES {
                return Err(malformed(format!(
                    "signer carries {} certificates, at most {MAX_SIGNER_CERTIFICATES} accepted",
                    seq.0.len()
                )));
            }
            ParsedSigner::Certificates(seq.0.iter().map(Certificate::from_asn).collect::<Result<_, _>>()?)
        }
        SignerIdentifier::SelfSigned(()) => ParsedSigner::SelfSigned,
        _ => return Err(Error::Unsupported("unknown signer choice".into())),
    };
    let signature = RawSignature::from_asn(&signed.signature)?;
    let tbs_coer = rasn::coer::encode(tbs).map_err(|e| Error::Encode(format!("tbsData: {e}")))?;
    Ok(ParsedSpdu { psid, generation_time_unix_us, expiry_time_unix_us, payload, signer, tbs_coer, signature })
}

/// Signs `payload` as a 1609.2 SPDU; the caller's checks are done.
pub(crate) fn sign(
    id: &SigningIdentity,
    psid: u64,
    payload: &[u8],
    generation_time_unix_us: i64,
    include_certificate: bool,
) -> Result<Vec<u8>, Error> {
    let t64 = unix_us_to_time64(generation_time_unix_us).ok_or_else(|| {
        Error::InvalidArgument(format!("generation time {generation_time_unix_us} µs (Unix) is before 2004"))
    })?;
    let inner = Ieee1609Dot2Data {
        protocol_version: Ieee1609Dot2Data::VERSION,
        content: Ieee1609Dot2Content::UnsecuredData(Opaque(OctetString::from(payload.to_vec()))),
    };
    let header = HeaderInfo::builder().psid(Psid(Integer::from(psid))).generation_time(Time64(t64)).build();
    let tbs = ToBeSignedData {
        payload: SignedDataPayload::builder()
            .data(inner)
            .build()
            .map_err(|e| Error::Encode(format!("payload: {e}")))?,
        header_info: header,
    };
    let tbs_coer = rasn::coer::encode(&tbs).map_err(|e| Error::Encode(format!("tbsData: {e}")))?;
    let signature = id.key.sign_input(&crypto::signing_input(&tbs_coer, &id.cert.coer))?;
    let signer = if include_certificate {
        SignerIdentifier::Certificate(SequenceOfCertificate(vec![id.cert.asn.clone()]))
    } else {
        SignerIdentifier::Digest(AsnHashedId8(FixedOctetString::from(id.cert.id8)))
    };
    let data = Ieee1609Dot2Data {
        protocol_version: Ieee1609Dot2Data::VERSION,
        content: Ieee1609Dot2Content::SignedData(Box::new(SignedData {
            hash_id: HashAlgorithm::Sha256,
            tbs_data: tbs,
            signer,
            signature: signature.to_asn(),
        })),
    };
    rasn::coer::encode(&data).map_err(|e| Error::Encode(format!("Ieee1609Dot2Data: {e}")))
}

/// Parses a signed SPDU **without verifying anything** (no signature, chain,
/// time or replay check): for tools and the cloud's sampling path. `signer`
/// is the HashedId8 of the signing certificate (from the digest, or computed
/// from the carried certificate); `subject` is the certificate's name when
/// the SPDU carries it, empty for digest-signed SPDUs.
pub fn open_unverified(spdu: &[u8]) -> Result<Verified, Error> {
    let p = parse(spdu)?;
    let (signer, subject) = match &p.signer {
        ParsedSigner::Digest(id) => (*id, String::new()),
        ParsedSigner::Certificates(certs) => (certs[0].hashed_id8(), certs[0].subject()),
        ParsedSigner::SelfSigned => ([0; 8], String::new()),
    };
    Ok(Verified {
        psid: p.psid,
        payload: p.payload,
        generation_time_unix_us: p.generation_time_unix_us,
        signer,
        subject,
    })
}
