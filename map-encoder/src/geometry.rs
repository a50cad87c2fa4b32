//! Plane geometry on lane centre lines in the local metric frame.
//!
//! Owns: resolving a lane's points to local metres, distances and crossings
//! between polylines, headings.  Pure functions; no I/O, no encoding.

use crate::geo::{LatLon, LocalFrame};
use crate::model::{Intersection, Lane};
use nalgebra::{Vector2, Vector3};

/// A point in the local frame, metres east / north.
pub type P2 = Vector2<f64>;

/// The local frame of an intersection.
pub fn frame(i: &Intersection) -> LocalFrame {
    LocalFrame::new(LatLon { lat_deg: i.reference.lat, lon_deg: i.reference.lon, elevation_m: i.reference.elevation_m })
}

/// Where an intersection's lanes meet: the mean of its travel lanes' junction-side ends (an
/// ingress lane's last point, an egress lane's first), in local metres, when at least `min_ends`
/// lanes give one.  Lanes with no usable centre line (none, or both forms given) are skipped.
/// The reference point need not be this point: real maps put it at a corner or a survey mark.
pub fn junction_centre(frame: &LocalFrame, x: &Intersection, min_ends: usize) -> Option<P2> {
    let ends: Vec<P2> = x
        .lanes
        .iter()
        .filter(|l| l.lane_type.is_travel_lane() && l.points.is_some() != l.points_wgs84.is_some())
        .filter_map(|l| {
            let pts = centreline(frame, l);
            let end = match l.direction {
                crate::model::Direction::Ingress => pts.last(),
                crate::model::Direction::Egress => pts.first(),
                crate::model::Direction::Both => None,
            }?;
            (end.x.is_finite() && end.y.is_finite()).then_some(*end)
        })
        .collect();
    if ends.is_empty() || ends.len() < min_ends {
        return None;
    }
    Some(ends.iter().fold(P2::zeros(), |a, e| a + e) / ends.len() as f64)
}

/// A lane's centre line in local metres (from `points` or `points_wgs84`).
pub fn centreline(frame: &LocalFrame, lane: &Lane) -> Vec<P2> {
    if let Some(p) = &lane.points {
        return p.iter().map(|q| P2::new(q[0], q[1])).collect();
    }
    if let Some(p) = &lane.points_wgs84 {
        return p
            .iter()
            .map(|q| {
                let v: Vector3<f64> =
                    frame.to_local(LatLon { lat_deg: q[0], lon_deg: q[1], elevation_m: frame.origin().elevation_m });
                P2::new(v.x, v.y)
            })
            .collect();
    }
    Vec::new()
}

/// Distance from point `p` to segment `a`-`b`.
pub fn point_segment_distance(p: P2, a: P2, b: P2) -> f64 {
    let ab = b - a;
    let len2 = ab.norm_squared();
    if len2 == 0.0 {
        return (p - a).norm();
    }
    let t = ((p - a).dot(&ab) / len2).clamp(0.0, 1.0);
    (p - (a + ab * t)).norm()
}

fn cross(a: P2, b: P2) -> f64 {
    a.x * b.y - a.y * b.x
}

/// Whether segments `a1`-`a2` and `b1`-`b2` properly cross (touching ends do not count).
pub fn segments_cross(a1: P2, a2: P2, b1: P2, b2: P2) -> bool {
    let d1 = cross(a2 - a1, b1 - a1);
    let d2 = cross(a2 - a1, b2 - a1);
    let d3 = cross(b2 - b1, a1 - b1);
    let d4 = cross(b2 - b1, a2 - b1);
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}

/// Smallest distance between two polylines.
pub fn polyline_distance(a: &[P2], b: &[P2]) -> f64 {
    let mut best = f64::INFINITY;
    for sa in a.windows(2) {
        for sb in b.windows(2) {
            if segments_cross(sa[0], sa[1], sb[0], sb[1]) {
                return 0.0;
            }
            best = best
                .min(point_segment_distance(sa[0], sb[0], sb[1]))
                .min(point_segment_distance(sa[1], sb[0], sb[1]))
                .min(point_segment_distance(sb[0], sa[0], sa[1]))
                .min(point_segment_distance(sb[1], sa[0], sa[1]));
        }
    }
    best
}

/// Whether two polylines cross each other anywhere.
pub fn polylines_cross(a: &[P2], b: &[P2]) -> bool {
    a.windows(2).any(|sa| b.windows(2).any(|sb| segments_cross(sa[0], sa[1], sb[0], sb[1])))
}

/// Length of a polyline in metres.
pub fn length(a: &[P2]) -> f64 {
    a.windows(2).map(|s| (s[1] - s[0]).norm()).sum()
}

/// Heading of the direction `d` in degrees clockwise from north (0..360).
pub fn heading_deg(d: P2) -> f64 {
    let h = d.x.atan2(d.y).to_degrees();
    if h < 0.0 {
        h + 360.0
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crossing_and_touching() {
        let o = P2::new(0.0, 0.0);
        assert!(segments_cross(P2::new(-1.0, 0.0), P2::new(1.0, 0.0), P2::new(0.0, -1.0), P2::new(0.0, 1.0)));
        assert!(!segments_cross(o, P2::new(1.0, 0.0), P2::new(1.0, 0.0), P2::new(2.0, 1.0)));
        assert_eq!(heading_deg(P2::new(1.0, 0.0)), 90.0);
    }

    proptest! {
        #[test]
        fn parallel_lines_are_their_offset_apart(x0 in -100.0f64..100.0, y0 in -100.0f64..100.0,
                                                 len in 1.0f64..200.0, off in 0.1f64..20.0, ang in 0.0f64..std::f64::consts::TAU) {
            let d = P2::new(ang.cos(), ang.sin());
            let n = P2::new(-d.y, d.x);
            let a = [P2::new(x0, y0), P2::new(x0, y0) + d * len];
            let b = [a[0] + n * off, a[1] + n * off];
            prop_assert!((polyline_distance(&a, &b) - off).abs() < 1e-6);
            prop_assert!(!polylines_cross(&a, &b));
        }
    }
}
