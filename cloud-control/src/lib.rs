//! # cloud_control — the district's traffic-centre service
//!
//! Will hold the registry and its persistence, the signal-control core,
//! key-vehicle and congestion analysis, the RSU uplink, the HTTP/WebSocket
//! APIs, dashboard and metrics.  Today it owns the registry's first rule:
//! every accepted intersection file is validated, compiled into map codes and
//! kept as a numbered version ([`MapVersions`]).
//!
//! Invariant: the RSU never links this crate; storage stays behind a seam.

use map_encoder::compile::{compile_map, MapOptions};
use map_encoder::csae::{encode_frame, MessageFrame};
use map_encoder::model::{parse, Syntax};
use map_encoder::validate::{has_errors, validate, Diagnostic};

/// One accepted version of an intersection file and its compiled MAP.
#[derive(Debug, Clone, PartialEq)]
pub struct MapVersion {
    /// Version number, 1 for the first.
    pub version: u32,
    /// The file as uploaded.
    pub source: String,
    /// The compiled MessageFrame (UPER).
    pub map_code: Vec<u8>,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file does not parse.
    #[error("{0}")]
    Parse(#[from] map_encoder::model::ParseError),
    /// The file has validation errors (all findings attached).
    #[error("{} validation error(s)", .0.iter().filter(|d| d.severity == map_encoder::validate::Severity::Error).count())]
    Invalid(Vec<Diagnostic>),
    /// The model does not compile or encode.
    #[error("{0}")]
    Compile(String),
}

/// The versions of one intersection file (in memory; persistence comes with the service).
#[derive(Debug, Default)]
pub struct MapVersions {
    versions: Vec<MapVersion>,
}

impl MapVersions {
    /// Validate, compile and keep a new version; returns its number.
    pub fn upload(&mut self, name: &str, text: &str) -> Result<u32, UploadError> {
        let (m, srcmap) = parse(name, text, Syntax::from_path(name))?;
        let diags = validate(name, &m, &srcmap);
        if has_errors(&diags) {
            return Err(UploadError::Invalid(diags));
        }
        let (map, _) = compile_map(&m, &MapOptions::default()).map_err(|e| UploadError::Compile(e.to_string()))?;
        let map_code = encode_frame(&MessageFrame::MapFrame(map)).map_err(|e| UploadError::Compile(e.to_string()))?;
        let version = self.versions.len() as u32 + 1;
        self.versions.push(MapVersion { version, source: text.to_string(), map_code });
        Ok(version)
    }

    /// A kept version.
    pub fn get(&self, version: u32) -> Option<&MapVersion> {
        self.versions.get(version.checked_sub(1)? as usize)
    }

    /// The newest version.
    pub fn latest(&self) -> Option<&MapVersion> {
        self.versions.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_upload_keeps_previous_version() {
        let mut v = MapVersions::default();
        let good = include_str!("../../examples/4leg.toml");
        assert_eq!(v.upload("4leg.toml", good).unwrap(), 1);
        let bad = good.replacen("signal_group = 5\n", "signal_group = 99\n", 1);
        match v.upload("4leg.toml", &bad) {
            Err(UploadError::Invalid(d)) => assert!(d.iter().any(|x| x.message.contains("unknown signal group 99"))),
            other => panic!("{other:?}"),
        }
        assert_eq!(v.latest().unwrap().version, 1);
        assert!(!v.get(1).unwrap().map_code.is_empty());
    }
}
