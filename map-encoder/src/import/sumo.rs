//! SUMO networks (`.net.xml`, `.net.xml.gz`) into a [`Network`].
//!
//! * `traffic_light` junctions are the signalised junctions; every junction
//!   except SUMO's `internal` ones is kept (so `--intersections` can name an
//!   unsignalised one);
//! * normal edges' lanes become lanes (`shape` in travel direction, `speed`
//!   m/s, `width` default 3.2 m); `allow="bus"` makes a bus lane, `allow`
//!   of only bicycles a bike lane, of only pedestrians a sidewalk;
//! * `connection` elements between normal edges become movements, `dir`
//!   gives the manoeuvre (s, l, r, t, L, R);
//! * signals: the link indices of a traffic light whose state is the same in
//!   every phase of its `tlLogic` form one signal group (a SUMO link index is
//!   one signal head; grouping by identical phase behaviour gives the signal
//!   groups an engineer expects); pedestrian crossings (`function="crossing"`
//!   edges) become crosswalks with their link's group;
//! * `location`: `projParameter` (UTM, transverse Mercator, ...) with
//!   `netOffset` gives the geo-reference; `projParameter="!"` means none.

use super::network::{GeoRef, NetConnection, NetCrosswalk, NetJunction, NetLane, Network};
use super::{ImportError, ParseOptions};
use crate::model::{LaneType, Maneuver, VehicleClass};
use std::collections::{BTreeMap, HashMap};

fn perr(opts: &ParseOptions, message: String) -> ImportError {
    ImportError::Parse { file: opts.file.clone(), message }
}

fn shape(opts: &ParseOptions, id: &str, s: &str) -> Result<Vec<[f64; 2]>, ImportError> {
    s.split_whitespace()
        .map(|pair| {
            let mut it = pair.split(',');
            let x = it.next().and_then(|v| v.parse::<f64>().ok());
            let y = it.next().and_then(|v| v.parse::<f64>().ok());
            match (x, y) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok([x, y]),
                _ => Err(perr(opts, format!("lane `{id}`: shape point `{pair}` is not `x,y`"))),
            }
        })
        .collect()
}

/// Read a SUMO network (plain or gzip-compressed bytes).
pub fn parse_sumo(bytes: &[u8], opts: &ParseOptions) -> Result<Network, ImportError> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(bytes)
            .take(crate::model::MAX_FILE_BYTES as u64 * 16)
            .read_to_string(&mut s)
            .map_err(|e| perr(opts, format!("gzip: {e}")))?;
        s
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|e| perr(opts, format!("not UTF-8: {e}")))?
    };
    let doc = roxmltree::Document::parse(&text).map_err(|e| perr(opts, format!("XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "net" {
        return Err(perr(opts, format!("root element is <{}>, not <net>: not a SUMO network", root.tag_name().name())));
    }
    let mut warnings = Vec::new();
    // geo-reference
    let loc = root.children().find(|n| n.has_tag_name("location"));
    let proj = loc.and_then(|l| l.attribute("projParameter")).unwrap_or("!").trim().to_string();
    let offset = loc
        .and_then(|l| l.attribute("netOffset"))
        .and_then(|s| {
            let mut it = s.split(',').map(|v| v.trim().parse::<f64>());
            match (it.next(), it.next()) {
                (Some(Ok(x)), Some(Ok(y))) => Some([x, y]),
                _ => None,
            }
        })
        .unwrap_or([0.0, 0.0]);
    let geo = if proj != "!" && !proj.is_empty() {
        GeoRef::Projected { proj, offset: [-offset[0], -offset[1]] }
    } else if let Some(o) = opts.origin {
        GeoRef::Local { origin: o }
    } else {
        return Err(ImportError::NoGeoReference {
            file: opts.file.clone(),
            message: "the network has no projection (location projParameter=\"!\"): its coordinates are local metres"
                .into(),
        });
    };
    // edges and lanes
    let mut lanes = Vec::new();
    let mut crosswalk_edges: HashMap<String, (String, Vec<[f64; 2]>, f64)> = HashMap::new();
    let mut edge_of_lane: HashMap<String, String> = HashMap::new();
    let mut edge_ends: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for e in root.children().filter(|n| n.has_tag_name("edge")) {
        let Some(eid) = e.attribute("id") else {
            warnings.push("an <edge> without id was skipped".to_string());
            continue;
        };
        let function = e.attribute("function").unwrap_or("normal");
        if function == "crossing" {
            let junction =
                eid.trim_start_matches(':').rsplit_once("_c").map(|(j, _)| j.to_string()).unwrap_or_default();
            if let Some(l) = e.children().find(|n| n.has_tag_name("lane")) {
                let pts = shape(opts, l.attribute("id").unwrap_or(eid), l.attribute("shape").unwrap_or(""))?;
                let width = l.attribute("width").and_then(|w| w.parse().ok()).unwrap_or(4.0);
                crosswalk_edges.insert(eid.to_string(), (junction, pts, width));
            }
            continue;
        }
        if function != "normal" {
            continue;
        }
        let from = e.attribute("from").map(str::to_string);
        let to = e.attribute("to").map(str::to_string);
        edge_ends.insert(eid.to_string(), (from.clone(), to.clone()));
        for l in e.children().filter(|n| n.has_tag_name("lane")) {
            let Some(lid) = l.attribute("id") else { continue };
            let pts = shape(opts, lid, l.attribute("shape").unwrap_or(""))?;
            if pts.len() < 2 {
                warnings.push(format!("lane `{lid}`: shape has fewer than 2 points; skipped"));
                continue;
            }
            let allow: Vec<&str> = l.attribute("allow").map(|a| a.split_whitespace().collect()).unwrap_or_default();
            let (lane_type, only) = if allow.is_empty() {
                (LaneType::Vehicle, vec![])
            } else if allow.iter().all(|a| *a == "pedestrian") {
                (LaneType::Sidewalk, vec![])
            } else if allow.iter().all(|a| *a == "bicycle") {
                (LaneType::Bike, vec![])
            } else if allow.iter().all(|a| matches!(*a, "bus" | "coach" | "emergency" | "authority" | "army")) {
                (LaneType::Bus, vec![VehicleClass::Bus])
            } else {
                (LaneType::Vehicle, vec![])
            };
            let speed = l.attribute("speed").and_then(|s| s.parse::<f64>().ok()).map(|v| v * 3.6);
            let width = l.attribute("width").and_then(|w| w.parse::<f64>().ok()).unwrap_or(3.2);
            edge_of_lane.insert(lid.to_string(), eid.to_string());
            lanes.push(NetLane {
                id: lid.to_string(),
                centre: pts,
                width_m: width,
                lane_type,
                speed_kph: speed,
                only,
                bans: Vec::new(),
                to_junction: to.clone(),
                from_junction: from.clone(),
                stop_line: true,
            });
        }
    }
    // traffic-light programs: link index -> signature over phases
    let mut signature: HashMap<(String, usize), String> = HashMap::new();
    for tl in root.children().filter(|n| n.has_tag_name("tlLogic")) {
        let Some(tid) = tl.attribute("id") else { continue };
        // the first program of a traffic light is the one SUMO runs by default
        if signature.keys().any(|(t, _)| t == tid) {
            continue;
        }
        let states: Vec<&str> =
            tl.children().filter(|n| n.has_tag_name("phase")).filter_map(|p| p.attribute("state")).collect();
        let n = states.iter().map(|s| s.len()).max().unwrap_or(0);
        for i in 0..n {
            let sig: String = states.iter().map(|s| s.as_bytes().get(i).copied().unwrap_or(b'?') as char).collect();
            signature.insert((tid.to_string(), i), sig);
        }
    }
    // signal group naming: identical signatures in one traffic light share a group
    let mut group_names: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut signal_of = |tl: &str, idx: usize| -> String {
        let sig = signature.get(&(tl.to_string(), idx)).cloned().unwrap_or_else(|| format!("link{idx}"));
        let n = group_names.iter().filter(|((t, _), _)| t == tl).count();
        group_names.entry((tl.to_string(), sig)).or_insert_with(|| format!("{tl}:{}", n + 1)).clone()
    };
    let mut connections = Vec::new();
    let mut crosswalks = Vec::new();
    for c in root.children().filter(|n| n.has_tag_name("connection")) {
        let (Some(from), Some(to)) = (c.attribute("from"), c.attribute("to")) else { continue };
        let tl = c.attribute("tl");
        let link = c.attribute("linkIndex").and_then(|v| v.parse::<usize>().ok());
        if let Some((junction, pts, width)) = crosswalk_edges.get(from) {
            // a crossing's own link: its pedestrian signal
            if crosswalks.iter().any(|x: &NetCrosswalk| x.id == from) {
                continue;
            }
            crosswalks.push(NetCrosswalk {
                id: from.to_string(),
                junction: junction.clone(),
                centre: pts.clone(),
                width_m: *width,
                signal: match (tl, link) {
                    (Some(t), Some(i)) => Some(signal_of(t, i)),
                    _ => None,
                },
            });
            continue;
        }
        if from.starts_with(':') || to.starts_with(':') {
            continue;
        }
        let (Some(fl), Some(tlane)) = (c.attribute("fromLane"), c.attribute("toLane")) else { continue };
        let from_lane = format!("{from}_{fl}");
        let to_lane = format!("{to}_{tlane}");
        let Some(junction) = edge_ends.get(from).and_then(|e| e.1.clone()) else {
            warnings.push(format!("connection {from_lane} -> {to_lane}: edge `{from}` is unknown; skipped"));
            continue;
        };
        let maneuver = match c.attribute("dir") {
            Some("s") => Some(Maneuver::Straight),
            Some("l") | Some("L") => Some(Maneuver::Left),
            Some("r") | Some("R") => Some(Maneuver::Right),
            Some("t") => Some(Maneuver::UTurn),
            _ => None,
        };
        let signal = match (tl, link) {
            (Some(t), Some(i)) => Some(signal_of(t, i)),
            _ => None,
        };
        // must give way: a signalised link that is ever green without priority (`g`), or an unsignalised
        // link of minor / stop state
        let yields = match (tl, link) {
            (Some(t), Some(i)) => signature.get(&(t.to_string(), i)).is_some_and(|sig| sig.contains('g')),
            _ => matches!(c.attribute("state"), Some("m" | "s" | "w")),
        };
        connections.push(NetConnection { junction, from: from_lane, to: to_lane, maneuver, signal, yields });
    }
    // crossings without a link of their own are still crosswalks
    for (id, (junction, pts, width)) in &crosswalk_edges {
        if !crosswalks.iter().any(|x| &x.id == id) {
            crosswalks.push(NetCrosswalk {
                id: id.clone(),
                junction: junction.clone(),
                centre: pts.clone(),
                width_m: *width,
                signal: None,
            });
        }
    }
    crosswalks.sort_by(|a, b| a.id.cmp(&b.id));
    let junctions = root
        .children()
        .filter(|n| n.has_tag_name("junction"))
        .filter(|j| j.attribute("type") != Some("internal"))
        .filter_map(|j| {
            let id = j.attribute("id")?;
            let x = j.attribute("x").and_then(|v| v.parse::<f64>().ok());
            let y = j.attribute("y").and_then(|v| v.parse::<f64>().ok());
            let z = j.attribute("z").and_then(|v| v.parse::<f64>().ok()).filter(|z| z.is_finite());
            Some(NetJunction {
                elevation_m: z,
                id: id.to_string(),
                signalised: j.attribute("type") == Some("traffic_light"),
                centre: x.zip(y).map(|(x, y)| [x, y]),
                name: j.attribute("name").map(str::to_string),
            })
        })
        .collect();
    Ok(Network { geo, lanes, connections, junctions, crosswalks, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"<net version="1.20">
  <location netOffset="-683542.41,-4928877.56" convBoundary="0,0,100,100" origBoundary="0,0,1,1" projParameter="+proj=utm +zone=32 +ellps=WGS84 +datum=WGS84 +units=m +no_defs"/>
  <edge id="a" from="A" to="J" priority="1"><lane id="a_0" index="0" speed="13.89" length="90" shape="0,48.4 90,48.4"/></edge>
  <edge id="b" from="J" to="B" priority="1"><lane id="b_0" index="0" speed="13.89" length="90" shape="110,48.4 200,48.4"/></edge>
  <edge id="c" from="J" to="C" priority="1"><lane id="c_0" index="0" speed="8.33" length="90" shape="101.6,40 101.6,-50"/></edge>
  <tlLogic id="J" type="static" programID="0" offset="0">
    <phase duration="30" state="GG"/><phase duration="3" state="yy"/><phase duration="30" state="rr"/>
  </tlLogic>
  <junction id="J" type="traffic_light" x="100" y="50" incLanes="a_0" intLanes="" shape=""/>
  <junction id="A" type="dead_end" x="0" y="50" incLanes="" intLanes="" shape=""/>
  <connection from="a" to="b" fromLane="0" toLane="0" tl="J" linkIndex="0" dir="s" state="O"/>
  <connection from="a" to="c" fromLane="0" toLane="0" tl="J" linkIndex="1" dir="r" state="O"/>
</net>"#;

    #[test]
    fn tiny_network() {
        let n = parse_sumo(TINY.as_bytes(), &ParseOptions { file: "tiny".into(), origin: None }).unwrap();
        assert_eq!(n.lanes.len(), 3);
        assert_eq!(n.connections.len(), 2);
        // both links behave the same in every phase: one signal group
        assert_eq!(n.connections[0].signal, n.connections[1].signal);
        assert_eq!(n.connections[1].maneuver, Some(Maneuver::Right));
        assert!(n.junctions.iter().any(|j| j.id == "J" && j.signalised));
        assert!((n.lanes[2].speed_kph.unwrap() - 30.0).abs() < 0.1);
    }

    #[test]
    fn no_projection_needs_an_origin() {
        let t = TINY.replace("+proj=utm +zone=32 +ellps=WGS84 +datum=WGS84 +units=m +no_defs", "!");
        let e = parse_sumo(t.as_bytes(), &ParseOptions { file: "tiny".into(), origin: None }).unwrap_err();
        assert!(e.to_string().contains("--origin"), "{e}");
        let n = parse_sumo(t.as_bytes(), &ParseOptions { file: "tiny".into(), origin: Some([23.1, 113.3]) }).unwrap();
        assert!(matches!(n.geo, GeoRef::Local { .. }));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in ["", "<net>", "<other/>", &TINY.replace("0,48.4 90,48.4", "0,48.4 nonsense")] {
            assert!(parse_sumo(bad.as_bytes(), &ParseOptions { file: "bad".into(), origin: None }).is_err(), "{bad}");
        }
    }
}
