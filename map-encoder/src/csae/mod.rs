//! The T/CSAE 53-2020 and T/CSAE 157-2020 message set: generated types with
//! their UPER and JER codecs (`generated`), plus the entry points that other
//! crates call.
//!
//! Owns: bytes <-> typed messages.  Must not: know the intersection model
//! (that is `compile`), allocate more than the input justifies, or panic on
//! any input.

#[allow(missing_docs)]
#[rustfmt::skip]
pub mod generated;

pub use generated::*;

use crate::uper::{BitReader, BitWriter, DecodeError, DecodeErrorKind, EncodeError, JerError};

/// Largest input any CSAE message may have: a MessageFrame carrying the
/// biggest open type (16383 octets) plus its header.  Larger inputs are
/// refused before anything is allocated.
pub const MAX_MESSAGE_BYTES: usize = 16_400;

/// The top-level types the `mapenc` command and the tests name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopType {
    /// `MessageFrame` (the CHOICE every CSAE message travels in).
    MessageFrame,
    /// `MapData`.
    MapData,
    /// `SPAT`.
    Spat,
    /// `RoadsideSafetyMessage`.
    Rsm,
    /// `RoadSideInformation`.
    Rsi,
    /// `BasicSafetyMessage`.
    Bsm,
    /// `SensorSharingMsg` (157).
    Ssm,
    /// `RoadsideCoordination` (157).
    Rsc,
}

impl TopType {
    /// Parse a type name as written on the command line (ASN.1 name or short form).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "messageframe" | "frame" => Self::MessageFrame,
            "mapdata" | "map" => Self::MapData,
            "spat" => Self::Spat,
            "rsm" | "roadsidesafetymessage" => Self::Rsm,
            "rsi" | "roadsideinformation" => Self::Rsi,
            "bsm" | "basicsafetymessage" => Self::Bsm,
            "ssm" | "sensorsharingmsg" => Self::Ssm,
            "rsc" | "roadsidecoordination" => Self::Rsc,
            _ => return None,
        })
    }
}

/// Any top-level value, so that tools can handle every type uniformly.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A `MessageFrame`.
    MessageFrame(MessageFrame),
    /// A bare `MapData`.
    MapData(MapData),
    /// A bare `SPAT`.
    Spat(SPAT),
    /// A bare `RoadsideSafetyMessage`.
    Rsm(RoadsideSafetyMessage),
    /// A bare `RoadSideInformation`.
    Rsi(RoadSideInformation),
    /// A bare `BasicSafetyMessage`.
    Bsm(BasicSafetyMessage),
    /// A bare `SensorSharingMsg`.
    Ssm(SensorSharingMsg),
    /// A bare `RoadsideCoordination`.
    Rsc(RoadsideCoordination),
}

macro_rules! each_message {
    ($self:expr, $x:ident => $body:expr) => {
        match $self {
            Message::MessageFrame($x) => $body,
            Message::MapData($x) => $body,
            Message::Spat($x) => $body,
            Message::Rsm($x) => $body,
            Message::Rsi($x) => $body,
            Message::Bsm($x) => $body,
            Message::Ssm($x) => $body,
            Message::Rsc($x) => $body,
        }
    };
}

impl Message {
    /// Decode UPER bytes as `ty`; the whole input must be consumed.
    pub fn decode(ty: TopType, bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::new(0, DecodeErrorKind::TooLarge { len: bytes.len(), max: MAX_MESSAGE_BYTES }));
        }
        let mut r = BitReader::new(bytes);
        let m = match ty {
            TopType::MessageFrame => Self::MessageFrame(MessageFrame::decode(&mut r)?),
            TopType::MapData => Self::MapData(MapData::decode(&mut r)?),
            TopType::Spat => Self::Spat(SPAT::decode(&mut r)?),
            TopType::Rsm => Self::Rsm(RoadsideSafetyMessage::decode(&mut r)?),
            TopType::Rsi => Self::Rsi(RoadSideInformation::decode(&mut r)?),
            TopType::Bsm => Self::Bsm(BasicSafetyMessage::decode(&mut r)?),
            TopType::Ssm => Self::Ssm(SensorSharingMsg::decode(&mut r)?),
            TopType::Rsc => Self::Rsc(RoadsideCoordination::decode(&mut r)?),
        };
        r.finish()?;
        Ok(m)
    }

    /// UPER-encode.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = BitWriter::new();
        each_message!(self, x => x.encode(&mut w))?;
        Ok(w.finish())
    }

    /// JER (X.697) as a compact JSON string.
    pub fn to_jer(&self) -> String {
        let mut o = String::with_capacity(1024);
        each_message!(self, x => x.write_jer(&mut o));
        o
    }

    /// Read JER (X.697) JSON as `ty`.
    pub fn from_jer(ty: TopType, v: &serde_json::Value) -> Result<Self, JerError> {
        Ok(match ty {
            TopType::MessageFrame => Self::MessageFrame(MessageFrame::read_jer(v)?),
            TopType::MapData => Self::MapData(MapData::read_jer(v)?),
            TopType::Spat => Self::Spat(SPAT::read_jer(v)?),
            TopType::Rsm => Self::Rsm(RoadsideSafetyMessage::read_jer(v)?),
            TopType::Rsi => Self::Rsi(RoadSideInformation::read_jer(v)?),
            TopType::Bsm => Self::Bsm(BasicSafetyMessage::read_jer(v)?),
            TopType::Ssm => Self::Ssm(SensorSharingMsg::read_jer(v)?),
            TopType::Rsc => Self::Rsc(RoadsideCoordination::read_jer(v)?),
        })
    }
}

/// Decode a UPER `MessageFrame`; the whole input must be consumed.
pub fn decode_frame(bytes: &[u8]) -> Result<MessageFrame, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::new(0, DecodeErrorKind::TooLarge { len: bytes.len(), max: MAX_MESSAGE_BYTES }));
    }
    let mut r = BitReader::new(bytes);
    let f = MessageFrame::decode(&mut r)?;
    r.finish()?;
    Ok(f)
}

/// UPER-encode a `MessageFrame`.
pub fn encode_frame(frame: &MessageFrame) -> Result<Vec<u8>, EncodeError> {
    let mut w = BitWriter::new();
    frame.encode(&mut w)?;
    Ok(w.finish())
}
