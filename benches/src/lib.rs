//! Shared fixtures for Zhilu's benchmarks.
//!
//! The four messages the codec benchmarks time, as UPER bytes of a CSAE
//! `MessageFrame`:
//!
//! * `map-4leg`: the 4-leg intersection MAP (`csae53-msgframe-map-4leg.hex`);
//! * `spat-8phase`: the 8-phase SPAT (`csae53-msgframe-spat-8phase.hex`);
//! * `rsm-16ptc`: the RSM with 16 participants (`csae53-msgframe-rsm-16ptc.hex`);
//! * `ssm-200ptc`: a CSAE 157 SensorSharingMsg with 200 detected participants,
//!   built by [`ssm_200`] from the 30-participant vector.  Its bytes are also
//!   committed as `benches/fixtures/ssm-200.hex` (written by the `gen-fixtures`
//!   binary) so that non-Rust tools, e.g. `benches/asn1tools_speed.py`, time the
//!   very same input; a test checks the two agree.

use map_encoder::csae::{
    decode_frame, encode_frame, MessageFrame, MessageFrameExt, PositionLL24B, PositionLL28B, PositionOffsetLL,
};

/// The 4-leg MAP vector (hex).
pub const MAP_4LEG_HEX: &str = include_str!("../../map-encoder/tests/vectors/csae53-msgframe-map-4leg.hex");
/// The 8-phase SPAT vector (hex).
pub const SPAT_8PHASE_HEX: &str = include_str!("../../map-encoder/tests/vectors/csae53-msgframe-spat-8phase.hex");
/// The 16-participant RSM vector (hex).
pub const RSM_16PTC_HEX: &str = include_str!("../../map-encoder/tests/vectors/csae53-msgframe-rsm-16ptc.hex");
/// The 30-participant SSM vector (hex), the template of [`ssm_200`].
pub const SSM_30PTC_HEX: &str = include_str!("../../map-encoder/tests/vectors/csae157-msgframe-ssm-30ptc.hex");

/// Number of detected participants in the large SSM fixture.
pub const SSM_PARTICIPANTS: usize = 200;

/// Path of the committed hex of [`ssm_200`], relative to the `benches` crate.
pub const SSM_200_FIXTURE: &str = "fixtures/ssm-200.hex";

/// Bytes from a hex string (whitespace around it is ignored).
///
/// # Panics
/// On a malformed fixture (odd length or a non-hex digit); fixtures are
/// checked in, so that is a programming error.
pub fn hex_to_bytes(hex: &str) -> Vec<u8> {
    let h = hex.trim();
    assert!(h.len().is_multiple_of(2), "fixture hex has an odd number of digits");
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("fixture is hex")).collect()
}

/// Lower-case hex of `bytes` (the format of the vector files).
pub fn bytes_to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The CSAE 157 SSM (`MessageFrame::MsgFrameExt(SensorSharingMsg)`) with
/// [`SSM_PARTICIPANTS`] detected participants.
///
/// Participant `i` copies participant `i % 30` of the 30-participant vector
/// (so the mix of cars and pedestrians and of optional fields is kept), and
/// then gets its own `ptcId` (`i + 1`), `tracking` (`1000 + i`), speed and a
/// distinct position on a 20 x 10 grid of offsets from the sensor; the offset
/// is coded as `position-LL1` (24 bits) when both axes fit in 12 bits and as
/// `position-LL2` (28 bits) otherwise, as a sender choosing the shortest form
/// would.
///
/// # Panics
/// If the 30-participant vector no longer decodes as an SSM with participants.
pub fn ssm_200() -> MessageFrame {
    let mut frame = decode_frame(&hex_to_bytes(SSM_30PTC_HEX)).expect("the SSM vector decodes");
    let MessageFrame::MsgFrameExt(MessageFrameExt::SensorSharingMsg(ssm)) = &mut frame else {
        panic!("the SSM vector is not a MessageFrameExt SensorSharingMsg");
    };
    let template = ssm.participants.take().expect("the SSM vector has participants");
    let mut out = Vec::with_capacity(SSM_PARTICIPANTS);
    for i in 0..SSM_PARTICIPANTS {
        let mut p = template[i % template.len()].clone();
        let (col, row) = ((i % 20) as i16, (i / 20) as i16);
        let lon = -7600 + col * 800; // -7600 ..= 7600, in 1e-7 degree
        let lat = -4500 + row * 1000; // -4500 ..= 4500
        p.ptc.ptc_id = (i + 1) as u16;
        p.ptc.pos.offset_ll = if lon.abs() < 2048 && lat.abs() < 2048 {
            PositionOffsetLL::PositionLL1(PositionLL24B { lon, lat })
        } else {
            PositionOffsetLL::PositionLL2(PositionLL28B { lon, lat })
        };
        if p.ptc.speed != 0 {
            p.ptc.speed = 300 + (i as u16 * 7) % 900;
        }
        p.tracking = Some(1000 + i as u16);
        out.push(p);
    }
    ssm.participants = Some(out);
    frame
}

/// One benchmark input: a name and the UPER bytes of a `MessageFrame`.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Short name used in benchmark ids (`map-4leg`, ...).
    pub name: &'static str,
    /// UPER bytes of the `MessageFrame`.
    pub bytes: Vec<u8>,
}

/// The four benchmark inputs, in the order the report lists them.
///
/// # Panics
/// If [`ssm_200`] cannot be encoded (a bug in the fixture or the codec).
pub fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture { name: "map-4leg", bytes: hex_to_bytes(MAP_4LEG_HEX) },
        Fixture { name: "spat-8phase", bytes: hex_to_bytes(SPAT_8PHASE_HEX) },
        Fixture { name: "rsm-16ptc", bytes: hex_to_bytes(RSM_16PTC_HEX) },
        Fixture { name: "ssm-200ptc", bytes: encode_frame(&ssm_200()).expect("the 200-participant SSM encodes") },
    ]
}
