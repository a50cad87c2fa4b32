//! MAP-like KML lane lists (as the TAF-BW test field publishes its
//! intersections: `k733_map.kml`) into a [`Network`].
//!
//! The file has one folder per intersection (`Intersection <id>`) with a
//! `RefPoint` placemark and `Lane <n>` placemarks: a WGS84 `LineString`
//! (lon,lat[,alt]) and `ExtendedData` with `Source` (this lane), `Sink` (the
//! lanes it connects to) and `SignalGroup` (one per sink), the structure of a
//! J2735 lane with its `connectsTo` list.  Lanes with sinks are ingress
//! lanes, lanes that are someone's sink egress lanes; every lane is turned into
//! travel direction by which of its ends lies nearest the lanes it connects
//! with.  Two short stubs that are each other's only sink (the site's way of
//! listing a pedestrian crossing, one signal group per direction) become one
//! crosswalk.  Lanes that are neither are reported and skipped.

use super::network::{GeoRef, NetConnection, NetCrosswalk, NetJunction, NetLane, Network};
use super::{ImportError, ParseOptions};
use crate::model::LaneType;
use std::collections::BTreeMap;

fn perr(opts: &ParseOptions, message: String) -> ImportError {
    ImportError::Parse { file: opts.file.clone(), message }
}

/// A lane of the KML: points (lon, lat), sink lanes, a signal group per sink.
type KmlLane = (Vec<[f64; 2]>, Vec<u32>, Vec<u32>);

/// Lanes shorter than this that are each other's only sink are the two kerbs of a crosswalk.
const STUB_M: f64 = 6.0;
/// Width given to crosswalks (the KML carries none).
const CROSSWALK_WIDTH_M: f64 = 3.0;

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn numbers(s: &str) -> Vec<u32> {
    s.split(|c: char| c == ',' || c.is_whitespace()).filter_map(|v| v.trim().parse().ok()).collect()
}

/// Read a KML lane list.
pub fn parse_kml(text: &str, opts: &ParseOptions) -> Result<Network, ImportError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| perr(opts, format!("XML: {e}")))?;
    if doc.root_element().tag_name().name() != "kml" {
        return Err(perr(opts, "root element is not <kml>".into()));
    }
    let mut net = Network {
        geo: GeoRef::Wgs84,
        lanes: Vec::new(),
        connections: Vec::new(),
        junctions: Vec::new(),
        crosswalks: Vec::new(),
        warnings: Vec::new(),
    };
    for folder in doc.descendants().filter(|n| n.has_tag_name("Folder")) {
        let fname = folder.children().find(|n| n.has_tag_name("name")).and_then(|n| n.text()).unwrap_or("").trim();
        let Some(jid) = fname.strip_prefix("Intersection").map(str::trim).filter(|s| !s.is_empty()) else { continue };
        let jid = jid.to_string();
        let mut centre = None;
        let mut lanes: BTreeMap<u32, KmlLane> = BTreeMap::new();
        for pm in folder.children().filter(|n| n.has_tag_name("Placemark")) {
            let name = pm.children().find(|n| n.has_tag_name("name")).and_then(|n| n.text()).unwrap_or("").trim();
            let coords: Vec<[f64; 2]> = pm
                .descendants()
                .find(|n| n.has_tag_name("coordinates"))
                .and_then(|n| n.text())
                .unwrap_or("")
                .split_whitespace()
                .map(|c| {
                    let mut it = c.split(',').map(|v| v.parse::<f64>());
                    match (it.next(), it.next()) {
                        (Some(Ok(lon)), Some(Ok(lat))) if lat.abs() <= 90.0 && lon.abs() <= 180.0 => Ok([lon, lat]),
                        _ => Err(perr(opts, format!("placemark `{name}`: `{c}` is not lon,lat"))),
                    }
                })
                .collect::<Result<_, _>>()?;
            if name == "RefPoint" {
                centre = coords.first().copied();
                continue;
            }
            let Some(n) = name.strip_prefix("Lane").and_then(|v| v.trim().parse::<u32>().ok()) else {
                net.warnings.push(format!("intersection {jid}: placemark `{name}` is not a lane; skipped"));
                continue;
            };
            let mut data: BTreeMap<String, String> = BTreeMap::new();
            for d in pm.descendants().filter(|x| x.has_tag_name("Data")) {
                let v = d.descendants().find(|x| x.has_tag_name("value")).and_then(|x| x.text()).unwrap_or("");
                data.insert(d.attribute("name").unwrap_or("").to_string(), v.to_string());
            }
            let sinks = numbers(data.get("Sink").map(String::as_str).unwrap_or(""));
            let groups = numbers(data.get("SignalGroup").map(String::as_str).unwrap_or(""));
            if coords.len() < 2 {
                net.warnings.push(format!("intersection {jid}: lane {n} has fewer than 2 points; skipped"));
                continue;
            }
            lanes.insert(n, (coords, sinks, groups));
        }
        let is_sink: std::collections::BTreeSet<u32> = lanes.values().flat_map(|l| l.1.iter().copied()).collect();
        // local metres around the reference point (or the first lane) for the geometric tests
        let origin = centre.or_else(|| lanes.values().next().map(|l| l.0[0])).unwrap_or([0.0, 0.0]);
        let k = origin[1].to_radians().cos() * 111_320.0;
        let xy = |p: &[f64; 2]| [(p[0] - origin[0]) * k, (p[1] - origin[1]) * 111_320.0];
        let length = |pts: &[[f64; 2]]| pts.windows(2).map(|w| dist(xy(&w[0]), xy(&w[1]))).sum::<f64>();
        // Crosswalks: the site lists each crossing as two short kerb stubs that are each other's sink
        // (lane 11 -> 12 and 12 -> 11), one pedestrian signal group per direction.
        let mut crossing: BTreeMap<u32, u32> = BTreeMap::new();
        for (n, (pts, sinks, _)) in &lanes {
            if let [m] = sinks.as_slice() {
                if let Some((mpts, msinks, _)) = lanes.get(m) {
                    if msinks == &[*n] && length(pts) < STUB_M && length(mpts) < STUB_M {
                        crossing.insert(*n, *m);
                    }
                }
            }
        }
        let mut signalised = false;
        for (&n, &m) in crossing.iter().filter(|(n, m)| n < m) {
            let g = |l: u32| lanes.get(&l).and_then(|x| x.2.first().copied()).filter(|g| *g > 0);
            let (ga, gb) = (g(n), g(m));
            if ga.is_some() && gb.is_some() && ga != gb {
                net.warnings.push(format!(
                    "intersection {jid}: crossing lanes {n} <-> {m} have signal groups {} and {} by direction; the crosswalk keeps {}",
                    ga.unwrap_or(0),
                    gb.unwrap_or(0),
                    ga.unwrap_or(0)
                ));
            }
            let mid = |l: u32| {
                let p = &lanes[&l].0;
                [(p[0][0] + p[p.len() - 1][0]) / 2.0, (p[0][1] + p[p.len() - 1][1]) / 2.0]
            };
            signalised |= ga.or(gb).is_some();
            net.crosswalks.push(NetCrosswalk {
                id: format!("{jid}:{n}-{m}"),
                junction: jid.clone(),
                centre: vec![mid(n), mid(m)],
                width_m: CROSSWALK_WIDTH_M,
                signal: ga.or(gb).map(|g| g.to_string()),
            });
        }
        // every lane's sources, for orienting egress lanes
        let mut sources: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (n, l) in &lanes {
            for s in &l.1 {
                sources.entry(*s).or_default().push(*n);
            }
        }
        for (n, (pts, sinks, groups)) in &lanes {
            if crossing.contains_key(n) {
                continue;
            }
            let ingress = !sinks.is_empty();
            if !ingress && !is_sink.contains(n) {
                net.warnings
                    .push(format!("intersection {jid}: lane {n} has no connection and is no lane's sink; skipped"));
                continue;
            }
            // Orient into travel direction: an ingress lane ends, an egress lane starts, at the end nearest
            // the lanes it connects with (their nearest end); the reference point decides only when there
            // are none.  (The reference point alone fails for lanes that pass it tangentially.)
            let partners: Vec<[f64; 2]> =
                (if ingress { sinks.clone() } else { sources.get(n).cloned().unwrap_or_default() })
                    .iter()
                    .filter_map(|p| lanes.get(p))
                    .flat_map(|l| [xy(&l.0[0]), xy(&l.0[l.0.len() - 1])])
                    .collect();
            let (a, b) = (xy(&pts[0]), xy(&pts[pts.len() - 1]));
            let near = |p: [f64; 2], set: &[[f64; 2]]| set.iter().map(|q| dist(p, *q)).fold(f64::INFINITY, f64::min);
            let starts_near = if partners.is_empty() {
                centre.is_none_or(|c| dist(a, xy(&c)) <= dist(b, xy(&c)))
            } else {
                near(a, &partners) <= near(b, &partners)
            };
            let mut centre_line = pts.clone();
            if ingress == starts_near {
                centre_line.reverse();
            }
            net.lanes.push(NetLane {
                id: format!("{jid}:{n}"),
                centre: centre_line,
                width_m: 3.0,
                lane_type: LaneType::Vehicle,
                speed_kph: None,
                only: Vec::new(),
                bans: Vec::new(),
                to_junction: ingress.then(|| jid.clone()),
                from_junction: (!ingress).then(|| jid.clone()),
                stop_line: true,
            });
            if groups.len() != sinks.len() && !groups.is_empty() {
                net.warnings.push(format!(
                    "intersection {jid}: lane {n} lists {} sinks but {} signal groups",
                    sinks.len(),
                    groups.len()
                ));
            }
            for (k, s) in sinks.iter().enumerate() {
                if !lanes.contains_key(s) {
                    net.warnings.push(format!("intersection {jid}: lane {n} connects to missing lane {s}"));
                    continue;
                }

                let g = groups.get(k).copied().filter(|g| *g > 0);
                signalised |= g.is_some();
                net.connections.push(NetConnection {
                    junction: jid.clone(),
                    from: format!("{jid}:{n}"),
                    to: format!("{jid}:{s}"),
                    maneuver: None,
                    signal: g.map(|g| g.to_string()),
                    yields: false,
                });
            }
        }
        net.junctions.push(NetJunction {
            elevation_m: None,
            id: jid.clone(),
            signalised,
            centre,
            name: Some(format!("Intersection {jid}")),
        });
    }
    if net.junctions.is_empty() {
        return Err(perr(opts, "no `Intersection <id>` folder in the KML".into()));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder>
<name>Intersection 77</name>
<Placemark><name>RefPoint</name><Point><coordinates>8.4369,49.0050,0</coordinates></Point></Placemark>
<Placemark><name>Lane 1</name><LineString><coordinates>8.4371,49.00505,0 8.4380,49.00505,0</coordinates></LineString>
<ExtendedData><Data name="Source"><value>1</value></Data><Data name="Sink"><value>2, 3</value></Data><Data name="SignalGroup"><value>4, 5</value></Data></ExtendedData></Placemark>
<Placemark><name>Lane 2</name><LineString><coordinates>8.4367,49.00495,0 8.4358,49.00495,0</coordinates></LineString></Placemark>
<Placemark><name>Lane 3</name><LineString><coordinates>8.43695,49.0048,0 8.43695,49.0040,0</coordinates></LineString></Placemark>
</Folder></Document></kml>"#;

    #[test]
    fn tiny_lane_list_keeps_signal_group_numbers() {
        let net = parse_kml(TINY, &ParseOptions { file: "tiny".into(), origin: None }).unwrap();
        assert_eq!(net.lanes.len(), 3);
        assert_eq!(net.connections.len(), 2);
        let (m, _) = super::super::build(&net, &Default::default()).unwrap();
        let x = &m.intersections[0];
        let ids: Vec<u8> = x.signal_groups.iter().map(|g| g.id).collect();
        assert_eq!(ids, vec![4, 5], "the site's signal group numbers are kept");
        // lane 1 was listed from the intersection outwards: it is an ingress lane now ending near the centre
        let l = x.lanes.iter().find(|l| l.direction == crate::model::Direction::Ingress).unwrap();
        let p = l.points.as_ref().unwrap();
        let (first, last) = (p[0], p[p.len() - 1]);
        assert!(first[0].hypot(first[1]) > last[0].hypot(last[1]));
    }

    #[test]
    fn k733_site_map_when_present() {
        let path = "/work/shared/data/trajectories/taf-bw_k733_2020-09-15/k733_map.kml";
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("{path} not present (non-commercial data, not in the repository): skipped");
            return;
        };
        let net = parse_kml(&text, &ParseOptions { file: "k733".into(), origin: None }).unwrap();
        let (m, report) = super::super::build(&net, &Default::default()).unwrap();
        let x = &m.intersections[0];
        eprintln!(
            "k733 kml: {} lanes, {} connections, {} signal groups, {} warnings",
            x.lanes.len(),
            x.connections.len(),
            x.signal_groups.len(),
            report.warnings.len()
        );
        assert_eq!(x.id, 5678);
        // 28 travel lanes, 24 vehicle connections, 8 crossings (16 stubs); 22 groups of which 3 only
        // belong to the second direction of a crossing
        assert_eq!(x.connections.len(), 24);
        assert_eq!(x.lanes.iter().filter(|l| l.lane_type == crate::model::LaneType::Crosswalk).count(), 8);
        assert_eq!(x.signal_groups.len(), 19);
        assert!(!crate::validate::has_errors(&crate::validate::validate(
            "k733",
            &m,
            &crate::model::SourceMap::default()
        )));
    }
}
