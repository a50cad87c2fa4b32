//! The roadside safety message (CSAE 53 RSM) and the sensor-sharing message
//! (CSAE 157 SSM) carrying the fused tracks, built through the codec.  The CSAE RSM lists at most 16 participants, so a scene
//! of N objects becomes ⌈N/16⌉ self-contained messages, each with the
//! reference point and every field a receiver needs: each one decodes on its
//! own, as datagrams must.
//!
//! Pure: time comes in as UNIX milliseconds; no I/O.

use crate::fusion::TrackOutput;
use crate::ingest::ObjectClass;
use map_encoder::compile::{offset_ll, position3d, DEG_UNITS};
use map_encoder::csae::{
    DetectedPTCData, EquipmentType, ParticipantData, ParticipantType, Position3D, PositionConfidence,
    PositionConfidenceSet, PositionOffsetLLV, RoadsideSafetyMessage, SensorSharingMsg, SourceType, VehicleSize,
};
use map_encoder::geo::LocalFrame;
use map_encoder::model::Intersection;
use nalgebra::Vector3;

/// Participants per SSM at most (the standard's `DetectedPTCList` SIZE(1..512)).
pub const PARTICIPANTS_PER_SSM: usize = 512;

/// Participants per RSM (the standard's `ParticipantList` SIZE(1..16)).
pub const PARTICIPANTS_PER_RSM: usize = 16;

fn ptc_type(c: Option<(ObjectClass, f64)>) -> ParticipantType {
    match c.map(|c| c.0) {
        Some(ObjectClass::Car | ObjectClass::Truck | ObjectClass::Bus | ObjectClass::Motorcycle) => {
            ParticipantType::Motor
        }
        Some(ObjectClass::Bike) => ParticipantType::NonMotor,
        Some(ObjectClass::Pedestrian) => ParticipantType::Pedestrian,
        None => ParticipantType::Unknown,
    }
}

/// The coarsest PositionConfidence class that still covers `sigma_m` (95%: 2 sigma).
fn position_confidence(sigma_m: f64) -> PositionConfidence {
    let e = 2.0 * sigma_m;
    let classes = [
        (0.01, PositionConfidence::A1cm),
        (0.02, PositionConfidence::A2cm),
        (0.05, PositionConfidence::A5cm),
        (0.10, PositionConfidence::A10cm),
        (0.20, PositionConfidence::A20cm),
        (0.50, PositionConfidence::A50cm),
        (1.0, PositionConfidence::A1m),
        (2.0, PositionConfidence::A2m),
        (5.0, PositionConfidence::A5m),
        (10.0, PositionConfidence::A10m),
        (20.0, PositionConfidence::A20m),
        (50.0, PositionConfidence::A50m),
        (100.0, PositionConfidence::A100m),
        (200.0, PositionConfidence::A200m),
        (500.0, PositionConfidence::A500m),
    ];
    classes.into_iter().find(|(m, _)| e <= *m).map_or(PositionConfidence::Unavailable, |(_, c)| c)
}

/// What every message of a scene carries: the reference position and the millisecond of the minute.
fn scene(x: &Intersection, t_unix_ms: i64) -> (Position3D, u16) {
    let r = &x.reference;
    (position3d(r.lat, r.lon, r.elevation_m), t_unix_ms.rem_euclid(60_000) as u16)
}

/// The counter of the `k`-th message after one counted `first` (the standard's MsgCount wraps at 128).
fn nth_count(first: u8, k: usize) -> u8 {
    ((usize::from(first) + k) % 128) as u8
}

/// The RSMs for one published scene at `t_unix_ms`: tracks in local metres of `x`.
/// `msg_cnt` is the message counter of the first; each following message counts on (mod 128).
pub fn build_rsms(
    x: &Intersection,
    frame: &LocalFrame,
    tracks: &[TrackOutput],
    t_unix_ms: i64,
    msg_cnt: u8,
    rsu_id: [u8; 8],
) -> Vec<RoadsideSafetyMessage> {
    let (ref_pos, sec_mark) = scene(x, t_unix_ms);
    tracks
        .chunks(PARTICIPANTS_PER_RSM)
        .enumerate()
        .map(|(k, chunk)| RoadsideSafetyMessage {
            msg_cnt: nth_count(msg_cnt, k),
            id: rsu_id,
            ref_pos: ref_pos.clone(),
            participants: chunk.iter().map(|t| participant(x, frame, &ref_pos, t, sec_mark)).collect(),
        })
        .collect()
}

/// One track as the standard's ParticipantData.
fn participant(
    x: &Intersection,
    frame: &LocalFrame,
    ref_pos: &Position3D,
    t: &TrackOutput,
    sec_mark: u16,
) -> ParticipantData {
    let r = &x.reference;
    let g = frame.to_geodetic(Vector3::new(t.position_m[0], t.position_m[1], 0.0));
    let dlat = ((g.lat_deg - r.lat) * DEG_UNITS).round() as i64;
    let dlon = ((g.lon_deg - r.lon) * DEG_UNITS).round() as i64;
    let speed = t.velocity_mps[0].hypot(t.velocity_mps[1]);
    // heading: clockwise from north in 0.0125 degree
    let heading_deg = (90.0 - t.heading_rad.to_degrees()).rem_euclid(360.0);
    let [length, width] = t.size_m.unwrap_or(match t.class.map(|c| c.0) {
        Some(ObjectClass::Pedestrian) => [0.5, 0.5],
        Some(ObjectClass::Bike) => [1.8, 0.6],
        Some(ObjectClass::Truck | ObjectClass::Bus) => [10.0, 2.5],
        _ => [4.5, 1.8],
    });
    ParticipantData {
        ptc_type: ptc_type(t.class),
        ptc_id: (t.id % 65_536) as u16,
        source: SourceType::Integrated,
        id: None,
        sec_mark,
        pos: PositionOffsetLLV { offset_ll: offset_ll(dlon, dlat, ref_pos.long, ref_pos.lat), offset_v: None },
        pos_confidence: PositionConfidenceSet {
            pos: position_confidence(t.position_sigma_m[0].max(t.position_sigma_m[1])),
            elevation: None,
        },
        transmission: None,
        speed: ((speed / 0.02).round() as u16).min(8190),
        heading: ((heading_deg / 0.0125).round() as u16).min(28_799),
        angle: None,
        motion_cfd: None,
        accel_set: None,
        size: VehicleSize {
            width: ((width * 100.0).round() as u16).clamp(1, 1023),
            length: ((length * 100.0).round() as u16).clamp(1, 4095),
            height: None,
        },
        vehicle_class: None,
    }
}

/// The CSAE 157 sensor-sharing messages (SSM) for one published scene: at most `per_message`
/// (≤ 512) detected participants each, with the class probability as type confidence (0.5%
/// units) and the track's age as tracking time (seconds).  Each message is self-contained.
pub fn build_ssms(
    x: &Intersection,
    frame: &LocalFrame,
    tracks: &[TrackOutput],
    t_unix_ms: i64,
    msg_cnt: u8,
    rsu_id: [u8; 8],
    per_message: usize,
) -> Vec<SensorSharingMsg> {
    let (ref_pos, sec_mark) = scene(x, t_unix_ms);
    let per = per_message.clamp(1, PARTICIPANTS_PER_SSM);
    if tracks.is_empty() {
        return vec![SensorSharingMsg {
            msg_cnt,
            id: rsu_id,
            equipment_type: EquipmentType::Rsu,
            sec_mark,
            sensor_pos: ref_pos,
            detected_region: None,
            participants: None,
            obstacles: None,
            rtes: None,
        }];
    }
    tracks
        .chunks(per)
        .enumerate()
        .map(|(k, chunk)| SensorSharingMsg {
            msg_cnt: nth_count(msg_cnt, k),
            id: rsu_id,
            equipment_type: EquipmentType::Rsu,
            sec_mark,
            sensor_pos: ref_pos.clone(),
            detected_region: None,
            participants: Some(
                chunk
                    .iter()
                    .map(|t| DetectedPTCData {
                        ptc: participant(x, frame, &ref_pos, t, sec_mark),
                        obj_size_confidence: None,
                        detected_ptc_type: None,
                        type_confidence: t.class.map(|(_, p)| (p.clamp(0.0, 1.0) * 200.0).round() as u8),
                        acc4_way_confidence: None,
                        status_duration: None,
                        path_history: None,
                        planning_list: None,
                        tracking: Some(((t.age_us / 1_000_000).clamp(1, 65_535)) as u16),
                        polygon: None,
                        type_related_ext: None,
                    })
                    .collect(),
            ),
            obstacles: None,
            rtes: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::TrackStatus;
    use map_encoder::csae::{decode_frame, encode_frame, MessageFrame};

    #[test]
    fn scenes_split_into_self_contained_rsms_that_round_trip() {
        let x = &crate::test_support::four_leg();
        let frame = map_encoder::geometry::frame(x);
        let tracks: Vec<TrackOutput> = (0..40u32)
            .map(|i| TrackOutput {
                id: i + 1,
                position_m: [f64::from(i) * 3.0 - 60.0, 10.0],
                velocity_mps: [10.0, 0.0],
                heading_rad: 0.0,
                position_sigma_m: [0.2, 0.3],
                class: Some((if i % 3 == 0 { ObjectClass::Pedestrian } else { ObjectClass::Car }, 0.9)),
                size_m: None,
                status: TrackStatus::Confirmed,
                age_us: 1,
            })
            .collect();
        let rsms = build_rsms(x, &frame, &tracks, 1_700_000_012_345, 127, *b"ZHILU001");
        assert_eq!(rsms.len(), 3);
        assert_eq!(rsms.iter().map(|r| r.participants.len()).collect::<Vec<_>>(), [16, 16, 8]);
        assert_eq!((rsms[0].msg_cnt, rsms[1].msg_cnt), (127, 0));
        for rsm in &rsms {
            let bytes = encode_frame(&MessageFrame::RsmFrame(rsm.clone())).unwrap();
            let back = decode_frame(&bytes).unwrap();
            assert_eq!(back, MessageFrame::RsmFrame(rsm.clone()));
            // under one QUIC datagram at the start of a connection
            assert!(bytes.len() < 1100, "{} bytes", bytes.len());
        }
        let p = &rsms[0].participants[1];
        assert_eq!(p.ptc_type, ParticipantType::Motor);
        assert_eq!(p.speed, 500, "10 m/s in 0.02 m/s");
        assert_eq!(p.heading, 7200, "east = 90 degrees in 0.0125 degree");
        assert_eq!(p.sec_mark, 32_345, "milliseconds within the minute");
        assert_eq!(p.pos_confidence.pos, PositionConfidence::A1m);
        assert_eq!(rsms[0].participants[0].ptc_type, ParticipantType::Pedestrian);
        // the same scene as sensor-sharing messages (CSAE 157), 25 participants each
        let ssms = build_ssms(x, &frame, &tracks, 1_700_000_012_345, 5, *b"ZHILU001", 25);
        assert_eq!(ssms.len(), 2);
        for ssm in &ssms {
            let f = MessageFrame::MsgFrameExt(map_encoder::csae::MessageFrameExt::SensorSharingMsg(ssm.clone()));
            let bytes = encode_frame(&f).unwrap();
            assert_eq!(decode_frame(&bytes).unwrap(), f);
        }
        let d = &ssms[0].participants.as_ref().unwrap()[0];
        assert_eq!((d.type_confidence, d.tracking), (Some(180), Some(1)));
        assert_eq!(d.ptc, rsms[0].participants[0]);
        // an empty scene is one message without participants
        assert_eq!(build_ssms(x, &frame, &[], 0, 0, [0; 8], 25)[0].participants, None);
    }
}
