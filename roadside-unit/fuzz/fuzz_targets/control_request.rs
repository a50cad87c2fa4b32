//! A subscriber's control request (JSON) as the RSU parses and applies it: geofence checks and
//! conversion, containment tests.  Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use map_encoder::geo::{LatLon, LocalFrame};
use roadside_unit::protocol::{Geofence, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<Request>(data) else { return };
    if let Request::Subscribe { geofence: Some(g), .. } = req {
        if g.validate().is_ok() {
            let frame = LocalFrame::new(LatLon { lat_deg: 23.129, lon_deg: 113.264, elevation_m: 12.0 });
            let fence = g.to_local(&frame);
            let _ = fence.contains([10.0, -20.0]);
            let _ = fence.touches_disc([0.0, 0.0], 150.0);
        }
        let _ = matches!(g, Geofence::Circle { .. });
    }
});
