//! # roadside_unit — the intersection's roadside unit (RSU)
//!
//! Will hold the fusion core (detections in, tracks and events out, time
//! passed in) and the `rsu` daemon shell (sensor ingest, signal-controller
//! link, QUIC publisher, cloud uplink, metrics).  Today it owns the piece
//! every later part needs first: the MAP the RSU broadcasts and its
//! revisions ([`MapRevisions`]).
//!
//! Invariant: never depends on `cloud-control` or `sim`; no I/O in the core.

pub mod client;
pub mod clock;
pub mod daemon;
pub mod events;
pub mod fusion;
pub mod ingest;
pub mod lanes;
pub mod output;
pub mod protocol;
pub mod sensors;
#[cfg(test)]
mod test_support;
pub mod tls;

use map_encoder::compile::{compile_map, CompileError, MapOptions};
use map_encoder::csae::{encode_frame, MessageFrame};
use map_encoder::model::MapFile;

/// The MAP an RSU publishes, with a revision that changes exactly when the
/// encoded content changes (the standard's `msgCnt` wraps at 128).
#[derive(Debug, Default, Clone)]
pub struct MapRevisions {
    current: Option<Vec<u8>>,
    revision: u32,
}

/// A MAP revision: what subscribers must be sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRevision {
    /// Monotonic revision number (1 for the first MAP).
    pub revision: u32,
    /// The UPER-encoded MessageFrame.
    pub bytes: Vec<u8>,
}

/// Why a new map could not be published.
#[derive(Debug, thiserror::Error)]
pub enum MapUpdateError {
    /// The model does not compile.
    #[error("map does not compile: {0}")]
    Compile(#[from] CompileError),
    /// The MAP does not encode.
    #[error("map does not encode: {0}")]
    Encode(#[from] map_encoder::uper::EncodeError),
}

impl MapRevisions {
    /// Offer a (validated) model; returns the new revision when its MAP differs
    /// from the one being published, `None` when nothing changed.
    pub fn offer(&mut self, model: &MapFile) -> Result<Option<MapRevision>, MapUpdateError> {
        let msg_cnt = ((self.revision + 1) % 128) as u8;
        let (map, _) = compile_map(model, &MapOptions { msg_cnt, minute_of_year: None })?;
        // compare content without the counter
        let mut probe = map.clone();
        probe.msg_cnt = 0;
        let probe_bytes = encode_frame(&MessageFrame::MapFrame(probe))?;
        if self.current.as_deref() == Some(&probe_bytes[..]) {
            return Ok(None);
        }
        self.current = Some(probe_bytes);
        self.revision += 1;
        Ok(Some(MapRevision { revision: self.revision, bytes: encode_frame(&MessageFrame::MapFrame(map))? }))
    }

    /// The revision being published (0 before the first MAP).
    pub fn revision(&self) -> u32 {
        self.revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use map_encoder::model::{parse, Syntax};

    #[test]
    fn revision_changes_only_with_content() {
        let (mut m, _) = parse("4leg", include_str!("../../examples/4leg.toml"), Syntax::Toml).unwrap();
        let mut r = MapRevisions::default();
        let first = r.offer(&m).unwrap().expect("first MAP");
        assert_eq!(first.revision, 1);
        assert!(r.offer(&m).unwrap().is_none(), "same content, no new revision");
        m.intersections[0].lanes[0].width_m = 3.25;
        let second = r.offer(&m).unwrap().expect("changed lane width");
        assert_eq!(second.revision, 2);
        assert_ne!(first.bytes, second.bytes);
    }
}
