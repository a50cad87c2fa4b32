//! Development certificates (`rsu certs`): a TLS operator CA with the RSU's
//! and cloud-control's certificates, a subscriber CA with a vehicle client
//! certificate, and a 1609.2 signing root with the RSU's signing identity.
//! Everything a fresh checkout needs to run the example over mutual TLS with
//! signed messages.  Production deployments bring their own PKI.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use v2x_security::{psid, CertificateAuthority};

/// Errors while creating certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// 1609.2 generation failed.
    #[error("1609.2 certificate generation failed: {0}")]
    Signing(String),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The files `rsu certs` writes, by name.
pub const FILES: [&str; 13] = [
    "ca.pem",
    "ca.key",
    "rsu.pem",
    "rsu.key",
    "cloud.pem",
    "cloud.key",
    "subscriber-ca.pem",
    "subscriber-ca.key",
    "client.pem",
    "client.key",
    "signing-root.pem",
    "signing-root.cert",
    "rsu-signing.pem",
];

fn write(dir: &Path, name: &str, text: &str) -> Result<(), CertError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| CertError::Io { path, source })
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p
}

fn leaf_params(name: &str, dns: &[&str], server: bool) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    p.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = if server {
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    Ok(p)
}

/// Create every development certificate in `dir` for an RSU called `rsu_id`.
/// The RSU's TLS certificate names `localhost`, `rsu.local` and 127.0.0.1; cloud-control's `cloud.local`.
pub fn create_dev_certificates(dir: &Path, rsu_id: &str) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io { path: dir.to_path_buf(), source })?;
    // TLS operator CA: issues the RSU's and the cloud's certificates.
    let ca_key = KeyPair::generate()?;
    let ca_p = ca_params("Zhilu development operator CA");
    let ca = ca_p.self_signed(&ca_key)?;
    let ca_issuer = Issuer::from_params(&ca_p, &ca_key);
    write(dir, "ca.pem", &ca.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;
    let rsu_key = KeyPair::generate()?;
    let rsu = leaf_params(rsu_id, &["localhost", "rsu.local"], true)?.signed_by(&rsu_key, &ca_issuer)?;
    write(dir, "rsu.pem", &rsu.pem())?;
    write(dir, "rsu.key", &rsu_key.serialize_pem())?;
    let cloud_key = KeyPair::generate()?;
    let cloud = leaf_params("cloud-control", &["localhost", "cloud.local"], true)?.signed_by(&cloud_key, &ca_issuer)?;
    write(dir, "cloud.pem", &cloud.pem())?;
    write(dir, "cloud.key", &cloud_key.serialize_pem())?;
    // Subscriber CA: issues vehicle / fleet client certificates.
    let sub_key = KeyPair::generate()?;
    let sub_p = ca_params("Zhilu development subscriber CA");
    let sub = sub_p.self_signed(&sub_key)?;
    write(dir, "subscriber-ca.pem", &sub.pem())?;
    write(dir, "subscriber-ca.key", &sub_key.serialize_pem())?;
    let client_key = KeyPair::generate()?;
    let client = leaf_params("vehicle-dev-1", &["vehicle-dev-1"], false)?
        .signed_by(&client_key, &Issuer::from_params(&sub_p, &sub_key))?;
    write(dir, "client.pem", &client.pem())?;
    write(dir, "client.key", &client_key.serialize_pem())?;
    // 1609.2 signing root and the RSU's signing identity.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let root = CertificateAuthority::generate("zhilu-dev-root", now - 86_400, 3650)
        .map_err(|e| CertError::Signing(e.to_string()))?;
    let identity = root
        .issue(rsu_id, &[psid::MAP, psid::SPAT, psid::RSM, psid::SSM, psid::RSI], now - 86_400, 365)
        .map_err(|e| CertError::Signing(e.to_string()))?;
    write(dir, "signing-root.pem", &root.to_pem())?;
    write(dir, "signing-root.cert", &root.certificate().to_pem())?;
    write(dir, "rsu-signing.pem", &identity.to_pem())?;
    Ok(())
}

/// Issue another subscriber client certificate from the subscriber CA in `dir` (`rsu certs --client NAME`).
pub fn issue_client(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), CertError> {
    let read = |n: &str| {
        let path = dir.join(n);
        std::fs::read_to_string(&path).map_err(|source| CertError::Io { path, source })
    };
    let sub_key = KeyPair::from_pem(&read("subscriber-ca.key")?)?;
    let issuer = Issuer::from_ca_cert_pem(&read("subscriber-ca.pem")?, &sub_key)?;
    let key = KeyPair::generate()?;
    let cert = leaf_params(name, &[name], false)?.signed_by(&key, &issuer)?;
    let (c, k) = (format!("{name}.pem"), format!("{name}.key"));
    write(dir, &c, &cert.pem())?;
    write(dir, &k, &key.serialize_pem())?;
    Ok((dir.join(c), dir.join(k)))
}
