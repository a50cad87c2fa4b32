//! Importers: real HD maps (Lanelet2 OSM, ASAM OpenDRIVE, SUMO networks)
//! into the intersection model.
//!
//! Owns: the format parsers (`lanelet2`, `opendrive`, `sumo`), each producing
//! the neutral [`network::Network`], and [`build`], which finds the
//! intersections, groups lanes into approaches, numbers lanes, maps signals
//! to signal groups, simplifies geometry to the standard's limits and links
//! neighbouring intersections.  Must not: invent a location for a map without
//! a geo-reference (that is an error asking for `--origin`), or drop anything
//! silently (every loss is a warning with the source id).

pub mod build;
pub mod kml;
pub mod lanelet2;
pub mod network;
pub mod opendrive;
pub mod proj;
pub mod sumo;

pub use build::{build, BuildOptions, ImportReport};
pub use network::Network;

/// Why a map could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The file is not well-formed (XML error, missing element).
    #[error("{file}: {message}")]
    Parse {
        /// File name as given.
        file: String,
        /// What is wrong, with line or element id where known.
        message: String,
    },
    /// The map has no real geo-reference: the user must place it.
    #[error("{file}: {message}; give its location with --origin LAT,LON")]
    NoGeoReference {
        /// File name as given.
        file: String,
        /// Why the map's own reference cannot be used.
        message: String,
    },
    /// A projection the importer cannot evaluate.
    #[error("projection `{proj}`: {message}")]
    Projection {
        /// The PROJ string.
        proj: String,
        /// Why it failed.
        message: String,
    },
    /// Nothing to import (no signalised intersection, or none of the requested ids).
    #[error("{0}")]
    Empty(String),
}

/// Options every parser takes.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// File name for messages.
    pub file: String,
    /// `[lat, lon]` to place a map that has no real geo-reference.
    pub origin: Option<[f64; 2]>,
}

/// A map file's format, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapFormat {
    /// Zhilu intersection file, TOML.
    IntersectionToml,
    /// Zhilu intersection file, JSON.
    IntersectionJson,
    /// Lanelet2 OSM.
    Lanelet2,
    /// ASAM OpenDRIVE.
    OpenDrive,
    /// SUMO network (plain or gzip).
    Sumo,
    /// MAP-like KML lane list.
    Kml,
}

impl MapFormat {
    /// The format a file name says (`.toml`, `.json`, `.osm`, `.xodr`, `.net.xml[.gz]`, `.kml`).
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        [
            (".toml", Self::IntersectionToml),
            (".json", Self::IntersectionJson),
            (".osm", Self::Lanelet2),
            (".xodr", Self::OpenDrive),
            (".net.xml", Self::Sumo),
            (".net.xml.gz", Self::Sumo),
            (".kml", Self::Kml),
        ]
        .into_iter()
        .find(|(ext, _)| n.ends_with(ext))
        .map(|(_, f)| f)
    }
}

/// Why [`load_map`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The name says no known format.
    #[error("{0}: unknown map format (expected .toml, .json, .osm, .xodr, .net.xml[.gz] or .kml)")]
    UnknownFormat(String),
    /// Not UTF-8 where text is required.
    #[error("{0}: not UTF-8 text")]
    NotText(String),
    /// The intersection file does not parse.
    #[error(transparent)]
    Model(#[from] crate::model::ParseError),
    /// The map does not import.
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// Any map Zhilu reads, by its file name: an intersection file as it is, or a Lanelet2, OpenDRIVE,
/// SUMO or KML map imported with the default options (every junction imported when the map has no
/// signals).  Returns the model and the importer's warnings.  The caller validates.
pub fn load_map(
    name: &str,
    bytes: &[u8],
    origin: Option<[f64; 2]>,
) -> Result<(crate::model::MapFile, Vec<String>), LoadError> {
    let format = MapFormat::from_name(name).ok_or_else(|| LoadError::UnknownFormat(name.into()))?;
    let text = || std::str::from_utf8(bytes).map_err(|_| LoadError::NotText(name.into()));
    let opts = ParseOptions { file: name.into(), origin };
    let net = match format {
        MapFormat::IntersectionToml | MapFormat::IntersectionJson => {
            let syntax = if format == MapFormat::IntersectionToml {
                crate::model::Syntax::Toml
            } else {
                crate::model::Syntax::Json
            };
            let (m, _) = crate::model::parse(name, text()?, syntax)?;
            return Ok((m, Vec::new()));
        }
        MapFormat::Lanelet2 => lanelet2::parse_lanelet2(text()?, &opts)?,
        MapFormat::OpenDrive => opendrive::parse_opendrive(text()?, &opts)?,
        MapFormat::Sumo => sumo::parse_sumo(bytes, &opts)?,
        MapFormat::Kml => kml::parse_kml(text()?, &opts)?,
    };
    let (m, report) = build(&net, &BuildOptions::default())?;
    Ok((m, report.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile_maps, MapOptions};
    use crate::validate::{has_errors, validate, Severity};

    #[test]
    fn bologna_sumo_network_imports_validates_and_compiles() {
        let bytes = include_bytes!("../../tests/data/sumo/bologna_acosta_buslanes.net.xml");
        let net = sumo::parse_sumo(bytes, &ParseOptions { file: "bologna".into(), origin: None }).unwrap();
        let signalised = net.junctions.iter().filter(|j| j.signalised).count();
        assert_eq!(signalised, 16, "16 traffic_light junctions per SOURCES.md");
        let (m, report) = build(&net, &BuildOptions::default()).unwrap();
        assert_eq!(m.intersections.len(), 16);
        assert!(report.max_simplification_error_m <= 0.1 + 1e-9 || report.coarsened_lanes > 0);
        // the model is valid and compiles into MAPs the standard can carry
        let text = crate::model::to_toml(&m).unwrap();
        let (m2, srcmap) = crate::model::parse("bologna.toml", &text, crate::model::Syntax::Toml).unwrap();
        let d = validate("bologna.toml", &m2, &srcmap);
        let errors: Vec<String> = d.iter().filter(|x| x.severity == Severity::Error).map(|x| x.to_string()).collect();
        assert!(!has_errors(&d), "{errors:#?}");
        let maps = compile_maps(&m2, &MapOptions::default()).unwrap();
        assert!(!maps.is_empty());
        for map in &maps {
            assert!(map.nodes.len() <= 32);
            crate::csae::encode_frame(&crate::csae::MessageFrame::MapFrame(map.clone())).unwrap();
        }
        // connections at traffic lights carry their signal group (SUMO leaves a few
        // free movements, e.g. some right turns, without a tl link)
        let total: usize = m2.intersections.iter().map(|x| x.connections.len()).sum();
        let signalled: usize =
            m2.intersections.iter().map(|x| x.connections.iter().filter(|c| c.signal_group.is_some()).count()).sum();
        assert!(m2.intersections.iter().all(|x| !x.connections.is_empty()));
        assert!(signalled * 10 >= total * 9, "{signalled} of {total} connections have a signal group");
        eprintln!(
            "bologna: {} intersections, {} lanes, {total} connections ({signalled} signalled), {} signal groups, {} MapData, max simplification error {:.3} m, {} warnings",
            m2.intersections.len(),
            m2.intersections.iter().map(|x| x.lanes.len()).sum::<usize>(),
            m2.intersections.iter().map(|x| x.signal_groups.len()).sum::<usize>(),
            maps.len(),
            report.max_simplification_error_m,
            report.warnings.len()
        );
        // rooted in Bologna
        let r = &m2.intersections[0].reference;
        assert!((r.lat - 44.49).abs() < 0.02 && (r.lon - 11.32).abs() < 0.03, "{r:?}");
    }
}
