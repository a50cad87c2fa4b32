//! Lane matching: which lane of the intersection a road user is on, how far
//! it is from the stop line, whether it drives the lane's way.  An R-tree
//! (rstar) over the lane centre-line segments of the MAP's intersection model
//! answers each query in logarithmic time.
//!
//! Pure: built once per map revision from the model; no I/O.  An object that
//! lies on no lane is reported as in the junction box, on a crosswalk, or off
//! the carriageway, never forced onto the nearest lane.

use map_encoder::geometry::{centreline, frame};
use map_encoder::model::{Direction, Intersection, LaneType};
use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;

/// How far outside a lane's half width a point still counts as on it, metres.
pub const LANE_TOLERANCE_M: f64 = 0.5;

/// A lane as the matcher sees it.
#[derive(Debug, Clone)]
pub struct LaneGeom {
    /// Lane id in the intersection.
    pub id: u8,
    /// Its approach.
    pub approach: String,
    /// Ingress, egress, both.
    pub direction: Direction,
    /// Lane type.
    pub lane_type: LaneType,
    /// Width, metres.
    pub width_m: f64,
    /// Centre line in travel direction, local metres.
    pub points: Vec<[f64; 2]>,
    /// Cumulative length at each point.
    pub along_m: Vec<f64>,
    /// Speed limit, km/h, when the lane has a general one.
    pub speed_limit_kph: Option<f64>,
}

impl LaneGeom {
    /// Total length, metres.
    pub fn length_m(&self) -> f64 {
        self.along_m.last().copied().unwrap_or(0.0)
    }
}

/// Where a point is, relative to the lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// On a lane (see [`LaneMatch::lane`]).
    Lane,
    /// Inside the junction box, between the stop lines.
    Junction,
    /// On a crosswalk.
    Crosswalk,
    /// None of these: verge, sidewalk outside the map, parking, off the mapped area.
    OffCarriageway,
}

/// The answer for one point.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneMatch {
    /// Where it is.
    pub zone: Zone,
    /// Index into [`LaneIndex::lanes`] when on a lane.
    pub lane: Option<usize>,
    /// Signed lateral offset from the centre line (left positive), metres.
    pub lateral_m: f64,
    /// Distance along the lane from its start, metres.
    pub along_m: f64,
    /// Distance to the stop line (ingress lanes only), metres.
    pub to_stop_line_m: Option<f64>,
    /// Cosine between the object's heading and the lane's travel direction (1 = same way), when a
    /// heading was given.
    pub heading_agreement: Option<f64>,
    /// Index of the crosswalk lane when on a crosswalk.
    pub crosswalk: Option<usize>,
}

type Seg = GeomWithData<Line<[f64; 2]>, (usize, usize)>;

/// The lanes of one intersection, indexed.
#[derive(Debug)]
pub struct LaneIndex {
    lanes: Vec<LaneGeom>,
    tree: RTree<Seg>,
    max_half_width_m: f64,
    /// Junction box: convex hull of the travel lanes' junction-side ends.
    junction: Vec<[f64; 2]>,
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

fn convex_hull(mut pts: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut lower: Vec<[f64; 2]> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<[f64; 2]> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

fn inside_convex(poly: &[[f64; 2]], p: [f64; 2], margin_m: f64) -> bool {
    if poly.len() < 3 {
        return false;
    }
    (0..poly.len()).all(|i| {
        let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
        let len = (b[0] - a[0]).hypot(b[1] - a[1]).max(1e-9);
        cross(a, b, p) / len >= -margin_m
    })
}

impl LaneIndex {
    /// Index the lanes of an intersection (all lanes with a centre line).
    pub fn new(x: &Intersection) -> Self {
        let fr = frame(x);
        let approach_limit = |a: &str| x.approaches.iter().find(|p| p.id == a).and_then(|p| p.speed_limit_kph);
        let mut lanes = Vec::new();
        let mut segs = Vec::new();
        let mut ends = Vec::new();
        for l in &x.lanes {
            let points: Vec<[f64; 2]> = centreline(&fr, l).iter().map(|p| [p.x, p.y]).collect();
            if points.len() < 2 || points.iter().flatten().any(|v| !v.is_finite()) {
                continue;
            }
            let mut along_m = vec![0.0];
            for w in points.windows(2) {
                along_m.push(along_m[along_m.len() - 1] + (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]));
            }
            if l.lane_type.is_travel_lane() {
                match l.direction {
                    Direction::Ingress => ends.push(points[points.len() - 1]),
                    Direction::Egress => ends.push(points[0]),
                    Direction::Both => {}
                }
            }
            let li = lanes.len();
            for (si, w) in points.windows(2).enumerate() {
                segs.push(GeomWithData::new(Line::new(w[0], w[1]), (li, si)));
            }
            let general = l.speed_limits.iter().find(|s| s.vehicle.is_none() && s.time.is_none()).map(|s| s.kph);
            lanes.push(LaneGeom {
                id: l.id,
                approach: l.approach.clone(),
                direction: l.direction,
                lane_type: l.lane_type,
                width_m: l.width_m,
                points,
                along_m,
                speed_limit_kph: general.or(approach_limit(&l.approach)),
            });
        }
        let max_half_width_m = lanes.iter().map(|l| l.width_m / 2.0).fold(0.0, f64::max);
        LaneIndex { lanes, tree: RTree::bulk_load(segs), max_half_width_m, junction: convex_hull(ends) }
    }

    /// The indexed lanes.
    pub fn lanes(&self) -> &[LaneGeom] {
        &self.lanes
    }

    /// Lane index of a lane id.
    pub fn by_id(&self, id: u8) -> Option<usize> {
        self.lanes.iter().position(|l| l.id == id)
    }

    /// Whether a point lies on a crosswalk or within `margin_m` of one.
    pub fn near_crosswalk(&self, p: [f64; 2], margin_m: f64) -> bool {
        let reach = self.max_half_width_m + margin_m;
        self.tree.locate_within_distance(p, reach * reach).any(|seg| {
            let li = seg.data.0;
            self.lanes[li].lane_type == LaneType::Crosswalk && self.on_lane(li, p, None, margin_m).is_some()
        })
    }

    /// Whether a point lies in the junction box (with a margin in metres).
    pub fn in_junction(&self, p: [f64; 2], margin_m: f64) -> bool {
        inside_convex(&self.junction, p, margin_m)
    }

    /// How `p` lies on lane `li`: `(distance from the centre line, match)`, when it lies on it.
    fn on_lane(&self, li: usize, p: [f64; 2], heading_rad: Option<f64>, tolerance_m: f64) -> Option<(f64, LaneMatch)> {
        let lane = &self.lanes[li];
        let mut best: Option<(f64, LaneMatch)> = None;
        for (si, w) in lane.points.windows(2).enumerate() {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let q = [a[0] + t * dx, a[1] + t * dy];
            let dist = (p[0] - q[0]).hypot(p[1] - q[1]);
            if dist > lane.width_m / 2.0 + tolerance_m || best.as_ref().is_some_and(|(d, _)| *d <= dist) {
                continue;
            }
            // beyond the first or last point of the lane: not on it
            let seg_len = len2.sqrt().max(1e-9);
            let before = t == 0.0 && si == 0 && ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / seg_len < -0.5;
            let after =
                t == 1.0 && si + 2 == lane.points.len() && ((p[0] - b[0]) * dx + (p[1] - b[1]) * dy) / seg_len > 0.5;
            if before || after {
                continue;
            }
            let lateral = (dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / seg_len;
            let along = lane.along_m[si] + t * seg_len;
            let agreement = heading_rad.map(|h| (dx * h.cos() + dy * h.sin()) / seg_len);
            best = Some((
                dist,
                LaneMatch {
                    zone: Zone::Lane,
                    lane: Some(li),
                    lateral_m: lateral,
                    along_m: along,
                    to_stop_line_m: (lane.direction == Direction::Ingress).then(|| lane.length_m() - along),
                    heading_agreement: agreement,
                    crosswalk: None,
                },
            ));
        }
        best
    }

    /// Match a point.  `heading_rad` (counter-clockwise from east) is used when the object moves:
    /// of two overlapping lanes the one whose direction agrees wins.  `travel` restricts the
    /// candidates to travel lanes (vehicles and bikes); otherwise sidewalks count too.
    pub fn locate(&self, p: [f64; 2], heading_rad: Option<f64>, travel: bool) -> LaneMatch {
        let reach = self.max_half_width_m + LANE_TOLERANCE_M;
        let mut best: Option<(f64, LaneMatch)> = None;
        let mut crosswalk = None;
        let mut seen: Vec<usize> = Vec::new();
        for seg in self.tree.locate_within_distance(p, reach * reach) {
            let li = seg.data.0;
            if seen.contains(&li) {
                continue;
            }
            seen.push(li);
            let lane = &self.lanes[li];
            if lane.lane_type == LaneType::Crosswalk {
                if self.on_lane(li, p, None, 0.0).is_some() {
                    crosswalk.get_or_insert(li);
                }
                continue;
            }
            if lane.lane_type == LaneType::Parking || (travel && !lane.lane_type.is_travel_lane()) {
                continue;
            }
            let Some((dist, m)) = self.on_lane(li, p, heading_rad, LANE_TOLERANCE_M) else { continue };
            // score: how central, and (when moving) how well the directions agree
            let score = dist / (lane.width_m / 2.0).max(0.5) + m.heading_agreement.map_or(0.0, |c| (1.0 - c) * 0.75);
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, m));
            }
        }
        if let Some((_, mut m)) = best {
            m.crosswalk = crosswalk;
            return m;
        }
        let zone = if crosswalk.is_some() {
            Zone::Crosswalk
        } else if self.in_junction(p, 1.0) {
            Zone::Junction
        } else {
            Zone::OffCarriageway
        };
        LaneMatch {
            zone,
            lane: None,
            lateral_m: 0.0,
            along_m: 0.0,
            to_stop_line_m: None,
            heading_agreement: None,
            crosswalk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_support::four_leg;

    #[test]
    fn points_on_centre_lines_match_their_lane() {
        let x = four_leg();
        let idx = LaneIndex::new(&x);
        for (li, l) in idx.lanes().iter().enumerate().filter(|(_, l)| l.lane_type.is_travel_lane()) {
            // the middle of each segment, heading along the lane
            for w in l.points.windows(2) {
                let p = [(w[0][0] + w[1][0]) / 2.0, (w[0][1] + w[1][1]) / 2.0];
                let h = (w[1][1] - w[0][1]).atan2(w[1][0] - w[0][0]);
                let m = idx.locate(p, Some(h), true);
                assert_eq!(m.lane, Some(li), "lane {} at {p:?}: {m:?}", l.id);
                assert!(m.heading_agreement.unwrap() > 0.99);
                if l.direction == Direction::Ingress {
                    let d = m.to_stop_line_m.unwrap();
                    assert!(d >= 0.0 && d <= l.length_m());
                }
            }
        }
    }

    #[test]
    fn non_finite_points_are_nowhere() {
        let idx = LaneIndex::new(&four_leg());
        for p in [[f64::NAN, 0.0], [f64::INFINITY, 1.0], [1e300, -1e300]] {
            let m = idx.locate(p, Some(f64::NAN), true);
            assert_eq!((m.zone, m.lane), (Zone::OffCarriageway, None), "{p:?}");
            assert!(!idx.near_crosswalk(p, 1.0));
        }
    }

    #[test]
    fn junction_and_off_road() {
        let x = four_leg();
        let idx = LaneIndex::new(&x);
        let c = crate::sensors::junction_centre(&x);
        let m = idx.locate(c, None, true);
        assert_eq!(m.zone, Zone::Junction, "{m:?}");
        assert_eq!(idx.locate([500.0, 500.0], None, true).zone, Zone::OffCarriageway);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Moving across a lane: inside half width + tolerance it matches, beyond it never matches that lane.
        #[test]
        fn lateral_offsets(k in 0usize..64, f in 0.05f64..0.95, off in -6.0f64..6.0) {
            let x = four_leg();
            let idx = LaneIndex::new(&x);
            let travel: Vec<usize> = (0..idx.lanes().len()).filter(|&i| idx.lanes()[i].lane_type.is_travel_lane()).collect();
            let li = travel[k % travel.len()];
            let l = &idx.lanes()[li];
            let (a, b) = (l.points[0], l.points[1]);
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let n = dx.hypot(dy);
            let p = [a[0] + f * dx - off * dy / n, a[1] + f * dy + off * dx / n];
            let m = idx.locate(p, None, true);
            if off.abs() > l.width_m / 2.0 + LANE_TOLERANCE_M + 1e-6 {
                prop_assert_ne!(m.lane, Some(li));
            }
            if let Some(j) = m.lane {
                if j == li {
                    prop_assert!((m.lateral_m - off).abs() < 1e-6, "{} vs {}", m.lateral_m, off);
                }
            }
        }
    }
}
