//! # map_encoder — Zhilu's digital map codes
//!
//! Turns an intersection's lanes and traffic rules into the standard V2X
//! messages ("digital map codes") that automated vehicles read, and back.
//!
//! * [`uper`] — the UPER bit machinery and JER helpers (no message types).
//! * [`csae`] — the T/CSAE 53-2020 / 157-2020 message set, generated from the
//!   official ASN.1 modules (`map-encoder/asn1/`), with UPER and JER codecs.
//!
//! This crate depends on nothing else of Zhilu's and does no network I/O.
#![warn(missing_docs)]

pub mod compile;
pub mod csae;
pub mod decompile;
pub mod geo;
pub mod geometry;
pub mod import;
pub mod model;
pub mod render;
pub mod uper;
pub mod validate;
