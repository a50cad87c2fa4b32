//! WGS84 <-> local east-north-up (ENU) frame around an intersection's
//! reference point.
//!
//! Owns: the only place where geodetic coordinates are turned into metres and
//! back.  Everything inside Zhilu works in the local metric frame; this module
//! is used at the edges (file input in lat/lon, the standard's 1e-7 degree
//! offsets).  Exact ellipsoidal ECEF transforms, no flat-earth shortcut.

use nalgebra::{Matrix3, Vector3};

/// WGS84 semi-major axis (m).
const A: f64 = 6_378_137.0;
/// WGS84 flattening.
const F: f64 = 1.0 / 298.257_223_563;

/// A geodetic position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude in degrees (north positive).
    pub lat_deg: f64,
    /// Longitude in degrees (east positive).
    pub lon_deg: f64,
    /// Height above the ellipsoid in metres.
    pub elevation_m: f64,
}

fn ecef(p: LatLon) -> Vector3<f64> {
    let e2 = F * (2.0 - F);
    let (lat, lon) = (p.lat_deg.to_radians(), p.lon_deg.to_radians());
    let n = A / (1.0 - e2 * lat.sin().powi(2)).sqrt();
    Vector3::new(
        (n + p.elevation_m) * lat.cos() * lon.cos(),
        (n + p.elevation_m) * lat.cos() * lon.sin(),
        (n * (1.0 - e2) + p.elevation_m) * lat.sin(),
    )
}

fn geodetic(x: Vector3<f64>) -> LatLon {
    // Bowring's closed form: well under a millimetre near the ellipsoid surface.
    let e2 = F * (2.0 - F);
    let b = A * (1.0 - F);
    let ep2 = (A * A - b * b) / (b * b);
    let p = (x.x * x.x + x.y * x.y).sqrt();
    let lon = x.y.atan2(x.x);
    let theta = (x.z * A).atan2(p * b);
    let lat = (x.z + ep2 * b * theta.sin().powi(3)).atan2(p - e2 * A * theta.cos().powi(3));
    let n = A / (1.0 - e2 * lat.sin().powi(2)).sqrt();
    let h = if lat.cos().abs() > 1e-9 { p / lat.cos() - n } else { x.z.abs() - b };
    LatLon { lat_deg: lat.to_degrees(), lon_deg: lon.to_degrees(), elevation_m: h }
}

/// A local ENU frame anchored at a reference point.
#[derive(Debug, Clone, Copy)]
pub struct LocalFrame {
    origin: LatLon,
    origin_ecef: Vector3<f64>,
    /// Rows: east, north, up unit vectors in ECEF.
    rot: Matrix3<f64>,
}

impl LocalFrame {
    /// The frame whose origin is `origin`.
    pub fn new(origin: LatLon) -> Self {
        let (lat, lon) = (origin.lat_deg.to_radians(), origin.lon_deg.to_radians());
        let rot = Matrix3::new(
            -lon.sin(),
            lon.cos(),
            0.0,
            -lat.sin() * lon.cos(),
            -lat.sin() * lon.sin(),
            lat.cos(),
            lat.cos() * lon.cos(),
            lat.cos() * lon.sin(),
            lat.sin(),
        );
        Self { origin, origin_ecef: ecef(origin), rot }
    }

    /// The reference point.
    pub fn origin(&self) -> LatLon {
        self.origin
    }

    /// Local east/north/up metres of a geodetic point.
    pub fn to_local(&self, p: LatLon) -> Vector3<f64> {
        self.rot * (ecef(p) - self.origin_ecef)
    }

    /// Geodetic position of local east/north/up metres.
    pub fn to_geodetic(&self, enu: Vector3<f64>) -> LatLon {
        geodetic(self.origin_ecef + self.rot.transpose() * enu)
    }

    /// Local point (east, north) on the reference height to geodetic.
    pub fn en_to_geodetic(&self, east_m: f64, north_m: f64) -> LatLon {
        self.to_geodetic(Vector3::new(east_m, north_m, 0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn local_round_trip_is_submillimetre(lat in -80.0f64..80.0, lon in -179.0f64..179.0,
                                             e in -3000.0f64..3000.0, n in -3000.0f64..3000.0, u in -50.0f64..50.0) {
            let f = LocalFrame::new(LatLon { lat_deg: lat, lon_deg: lon, elevation_m: 20.0 });
            let g = f.to_geodetic(Vector3::new(e, n, u));
            let back = f.to_local(g);
            prop_assert!((back - Vector3::new(e, n, u)).norm() < 1e-3, "{back:?}");
        }
    }

    #[test]
    fn one_hundred_metres_north_is_about_900_microdegrees() {
        let f = LocalFrame::new(LatLon { lat_deg: 23.129, lon_deg: 113.264, elevation_m: 0.0 });
        let g = f.en_to_geodetic(0.0, 100.0);
        assert!((g.lat_deg - 23.129 - 0.000_902).abs() < 0.000_002, "{g:?}");
        assert!((g.lon_deg - 113.264).abs() < 1e-9);
    }
}
