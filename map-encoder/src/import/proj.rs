//! From a network's frame to WGS84: PROJ strings (transverse Mercator, UTM and
//! whatever else proj4rs supports), plain lon/lat, or a local frame placed at
//! a user-given origin.

use super::network::GeoRef;
use super::ImportError;
use crate::geo::LocalFrame;

/// Converts network points to `[lat, lon]` degrees.
pub struct ToWgs84 {
    kind: Kind,
}

enum Kind {
    Wgs84,
    Projected { src: Box<proj4rs::proj::Proj>, dst: Box<proj4rs::proj::Proj>, offset: [f64; 2], text: String },
    Local(LocalFrame),
}

impl ToWgs84 {
    /// A converter for `geo`.
    pub fn new(geo: &GeoRef) -> Result<Self, ImportError> {
        Ok(Self {
            kind: match geo {
                GeoRef::Wgs84 => Kind::Wgs84,
                GeoRef::Projected { proj, offset } => {
                    let err = |e: proj4rs::errors::Error| ImportError::Projection {
                        proj: proj.clone(),
                        message: e.to_string(),
                    };
                    let src = proj4rs::proj::Proj::from_proj_string(proj.trim()).map_err(err)?;
                    let dst = proj4rs::proj::Proj::from_proj_string("+proj=longlat +ellps=WGS84 +datum=WGS84 +no_defs")
                        .map_err(err)?;
                    Kind::Projected { src: Box::new(src), dst: Box::new(dst), offset: *offset, text: proj.clone() }
                }
                GeoRef::Local { origin } => Kind::Local(LocalFrame::new(crate::geo::LatLon {
                    lat_deg: origin[0],
                    lon_deg: origin[1],
                    elevation_m: 0.0,
                })),
            },
        })
    }

    /// `[lat, lon]` of a network point.
    pub fn lat_lon(&self, p: [f64; 2]) -> Result<[f64; 2], ImportError> {
        match &self.kind {
            Kind::Wgs84 => Ok([p[1], p[0]]),
            Kind::Projected { src, dst, offset, text } => {
                let mut q = (p[0] + offset[0], p[1] + offset[1], 0.0);
                proj4rs::transform::transform(src, dst, &mut q)
                    .map_err(|e| ImportError::Projection { proj: text.clone(), message: e.to_string() })?;
                let (lat, lon) = (q.1.to_degrees(), q.0.to_degrees());
                if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 {
                    return Err(ImportError::Projection {
                        proj: text.clone(),
                        message: format!("point ({}, {}) does not project to a WGS84 position", p[0], p[1]),
                    });
                }
                Ok([lat, lon])
            }
            Kind::Local(f) => {
                let g = f.en_to_geodetic(p[0], p[1]);
                Ok([g.lat_deg, g.lon_deg])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_of_bologna_and_tmerc_of_sunnyvale() {
        // SUMO Bologna Acosta: net point (900, 700), netOffset (-683542.41, -4928877.56), UTM 32N
        let g = GeoRef::Projected {
            proj: "+proj=utm +zone=32 +ellps=WGS84 +datum=WGS84 +units=m +no_defs".into(),
            offset: [683542.41, 4928877.56],
        };
        let ll = ToWgs84::new(&g).unwrap().lat_lon([900.0, 700.0]).unwrap();
        assert!((ll[0] - 44.4960).abs() < 1e-4 && (ll[1] - 11.3199).abs() < 1e-4, "{ll:?}");
        let g = GeoRef::Projected {
            proj: "+proj=tmerc +lat_0=37.4169056333992 +lon_0=-122.016036660455 +k=1 +x_0=587070 +y_0=4141577 +datum=WGS84"
                .into(),
            offset: [0.0, 0.0],
        };
        let ll = ToWgs84::new(&g).unwrap().lat_lon([587070.0, 4141577.0]).unwrap();
        assert!((ll[0] - 37.4169056).abs() < 1e-7 && (ll[1] + 122.0160367).abs() < 1e-7, "{ll:?}");
    }

    #[test]
    fn bad_proj_string_is_an_error() {
        let g = GeoRef::Projected { proj: "+proj=nonsense".into(), offset: [0.0, 0.0] };
        assert!(ToWgs84::new(&g).is_err());
    }
}
