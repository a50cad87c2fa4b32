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
    use map_encoder::csae::{decode_frame, encode_frame, MessageFrame, TimeChangeDetails};

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

    #[test]
    fn spat_counts_down_from_the_controller_state() {
        use signal_core::{Light, Plan, PlanRunner, Stage};
        let x = &crate::test_support::four_leg();
        let stage = |groups: &[u8], green_s| Stage::fixed(groups, green_s, 3.0, 2.0);
        let plan = Plan { id: 1, offset_s: 0.0, stages: vec![stage(&[2, 6], 30.0), stage(&[4, 8], 20.0)] };
        let mut runner = PlanRunner::new(plan, 1000.0).unwrap();
        runner.advance(1010.0);
        let state = runner.state();
        let spat = build_spat(x, &state, 1_700_000_000.0, 1_700_001_010.0, 3, true, 1.0);
        let bytes = encode_frame(&MessageFrame::SpatFrame(spat.clone())).unwrap();
        assert_eq!(decode_frame(&bytes).unwrap(), MessageFrame::SpatFrame(spat.clone()));
        let i = &spat.intersections[0];
        assert_eq!(i.status.bits, 1 << 5, "fixed time, valid");
        let g2 = i.phases.iter().find(|p| p.id == 2).unwrap();
        assert_eq!(g2.phase_states[0].light, map_encoder::csae::LightState::ProtectedGreen);
        let Some(TimeChangeDetails::Counting(c)) = &g2.phase_states[0].timing else { panic!() };
        assert_eq!((c.start_time, c.likely_end_time, c.min_end_time, c.max_end_time), (0, 200, Some(200), Some(200)));
        assert_eq!(g2.phase_states[1].light, map_encoder::csae::LightState::Yellow);
        let g4 = i.phases.iter().find(|p| p.id == 4).unwrap();
        let Some(TimeChangeDetails::Counting(c)) = &g4.phase_states[0].timing else { panic!() };
        assert_eq!(c.likely_end_time, 250, "red until 30 + 3 + 2 s after the start");
        assert_eq!(state.groups.iter().find(|g| g.group == 4).unwrap().light, Light::Red);
        // a state older than the timeout says SPaT is not valid
        let stale = build_spat(x, &state, 1_700_000_000.0, 1_700_001_012.5, 4, true, 1.0);
        assert_eq!(stale.intersections[0].status.bits, (1 << 5) | (1 << 13));
        assert_eq!(stale.intersections[0].phases[0].phase_states[0].light, map_encoder::csae::LightState::Unavailable);
    }

    #[test]
    fn minute_of_year_is_utc() {
        // 2026-01-01T00:00:00Z = 1767225600; 2024-12-31T23:59Z in a leap year = minute 527039
        assert_eq!(minute_of_year(1_767_225_600_000), 0);
        assert_eq!(minute_of_year(1_767_225_600_000 + 61_000), 1);
        assert_eq!(minute_of_year(1_735_689_540_000), 527_039);
        assert_eq!(minute_of_year(1_709_251_200_000), 86_400, "2024-03-01 after a 29-day February");
    }
}

/// The CSAE SPaT for one controller state.  `unix_offset_s` turns controller time into UNIX seconds
/// (0 when the controller runs on UNIX time).  Each signal group becomes a `Phase` with two
/// `PhaseState`s: what it shows now (start 0, min/max/likely end counted down from `now_unix_s` — the
/// time the SPaT is built — in 0.1 s) and what it shows next (starting at the likely end).  The intersection status says whether
/// the timing is fixed (`fixedTimeOperation`) and sets `noValidSPATisAvailableAtThisTime` when the
/// state is older than `stale_after_s` at `now_unix_s`.
pub fn build_spat(
    x: &Intersection,
    state: &signal_core::ControllerState,
    unix_offset_s: f64,
    now_unix_s: f64,
    msg_cnt: u8,
    fixed_time: bool,
    stale_after_s: f64,
) -> map_encoder::csae::SPAT {
    use map_encoder::csae::{
        IntersectionState, LightState, NodeReferenceID, Phase, PhaseState, TimeChangeDetails, TimeCountingDown, SPAT,
    };
    use map_encoder::uper::BitStr;
    use signal_core::Light;
    let light = |l: Light| match l {
        Light::Dark => LightState::Dark,
        Light::Red | Light::RedYellow => LightState::Red,
        Light::PermissiveGreen => LightState::PermissiveGreen,
        Light::ProtectedGreen => LightState::ProtectedGreen,
        Light::Yellow => LightState::Yellow,
        Light::FlashingYellow => LightState::FlashingYellow,
        Light::FlashingRed => LightState::FlashingRed,
    };
    // tenths of a second from now (the time the SPaT is built, on the controller's clock), within
    // TimeMark's 0..=36000 (36001 = unknown)
    let now_controller_s = now_unix_s - unix_offset_s;
    let mark = |t_s: f64| ((t_s - now_controller_s) * 10.0).round().clamp(0.0, 36_000.0) as u16;
    let now_ms = (now_unix_s * 1000.0) as i64;
    let minute_of_year = minute_of_year(now_ms);
    let stale = now_unix_s - (state.time_s + unix_offset_s) > stale_after_s;
    let mut status = BitStr::new(16);
    if fixed_time {
        status.bits |= 1 << 5;
    } else {
        status.bits |= 1 << 6;
    }
    if stale {
        status.bits |= 1 << 13;
    }
    let phases = state
        .groups
        .iter()
        .filter(|g| g.group > 0)
        .take(16)
        .map(|g| {
            let confidence = Some((g.confidence.clamp(0.0, 1.0) * 200.0).round() as u8);
            let now = PhaseState {
                light: if stale { LightState::Unavailable } else { light(g.light) },
                timing: (!stale).then(|| {
                    TimeChangeDetails::Counting(TimeCountingDown {
                        start_time: 0,
                        min_end_time: Some(mark(g.min_end_s)),
                        max_end_time: Some(mark(g.max_end_s)),
                        likely_end_time: mark(g.likely_end_s),
                        time_confidence: confidence,
                        next_start_time: None,
                        next_duration: g.next_duration_s.map(|d| (d * 10.0).round().clamp(0.0, 36_000.0) as u16),
                    })
                }),
            };
            let mut phase_states = vec![now];
            if !stale && g.next_light != g.light {
                let end = g.likely_end_s + g.next_duration_s.unwrap_or(0.0);
                phase_states.push(PhaseState {
                    light: light(g.next_light),
                    timing: Some(TimeChangeDetails::Counting(TimeCountingDown {
                        start_time: mark(g.likely_end_s),
                        min_end_time: None,
                        max_end_time: None,
                        likely_end_time: if g.next_duration_s.is_some() { mark(end) } else { 36_001 },
                        time_confidence: None,
                        next_start_time: None,
                        next_duration: None,
                    })),
                });
            }
            Phase { id: g.group, phase_states }
        })
        .collect();
    SPAT {
        msg_cnt,
        moy: Some(minute_of_year),
        time_stamp: Some((now_ms.rem_euclid(60_000)) as u16),
        name: None,
        intersections: vec![IntersectionState {
            intersection_id: NodeReferenceID { region: x.region, id: x.id },
            status,
            moy: Some(minute_of_year),
            time_stamp: Some((now_ms.rem_euclid(60_000)) as u16),
            time_confidence: None,
            phases,
        }],
    }
}

/// RSI event codes (`RTEData.eventType`) per Zhilu event kind.  Deployments map them to their own
/// code table (GB/T 29100 classes); the defaults are a local 9xx block documented in `docs/rsu.md`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventCodes {
    /// Stopped vehicle in a travel lane.
    pub stopped_vehicle: u16,
    /// Wrong-way driving.
    pub wrong_way: u16,
    /// Pedestrian or cyclist in the roadway.
    pub pedestrian_in_roadway: u16,
    /// Red-light running.
    pub red_light_running: u16,
    /// Speeding.
    pub speeding: u16,
    /// Queue spill-back.
    pub queue_spillback: u16,
    /// Congestion.
    pub congestion: u16,
}

impl Default for EventCodes {
    fn default() -> Self {
        EventCodes {
            stopped_vehicle: 901,
            wrong_way: 902,
            pedestrian_in_roadway: 903,
            red_light_running: 904,
            speeding: 905,
            queue_spillback: 906,
            congestion: 907,
        }
    }
}

impl EventCodes {
    /// The code of a kind.
    pub fn code(&self, k: crate::events::EventKind) -> u16 {
        use crate::events::EventKind as K;
        match k {
            K::StoppedVehicle => self.stopped_vehicle,
            K::WrongWay => self.wrong_way,
            K::PedestrianInRoadway => self.pedestrian_in_roadway,
            K::RedLightRunning => self.red_light_running,
            K::Speeding => self.speeding,
            K::QueueSpillback => self.queue_spillback,
            K::Congestion => self.congestion,
        }
    }
}

/// The RSI announcing an event's start, change or end (`ended`: the end time is set).  Times are UNIX
/// microseconds; the event's RTE id is its id modulo 256.
#[allow(clippy::too_many_arguments)] // the message's fields, each from a different source
pub fn build_event_rsi(
    x: &Intersection,
    frame: &LocalFrame,
    event: &crate::events::Event,
    ended: bool,
    codes: &EventCodes,
    msg_cnt: u8,
    rsu_id: [u8; 8],
    now_unix_us: i64,
) -> map_encoder::csae::RoadSideInformation {
    use map_encoder::csae::{Description, EventSource, RSITimeDetails, RTEData, RoadSideInformation};
    let r = &x.reference;
    let ref_pos = position3d(r.lat, r.lon, r.elevation_m);
    let g = frame.to_geodetic(Vector3::new(event.position_m[0], event.position_m[1], 0.0));
    let dlat = ((g.lat_deg - r.lat) * DEG_UNITS).round() as i64;
    let dlon = ((g.lon_deg - r.lon) * DEG_UNITS).round() as i64;
    let mut text = event.kind.name().to_string();
    if let Some(l) = event.lane {
        text.push_str(&format!(" lane {l}"));
    }
    if let Some(a) = &event.approach {
        text.push_str(&format!(" approach {}", a.chars().filter(char::is_ascii).collect::<String>()));
    }
    if !event.objects.is_empty() {
        let ids: Vec<String> = event.objects.iter().take(8).map(u32::to_string).collect();
        text.push_str(&format!(" objects {}", ids.join(",")));
    }
    let minute = |us: i64| minute_of_year(us / 1000);
    RoadSideInformation {
        msg_cnt,
        moy: Some(minute(now_unix_us)),
        id: rsu_id,
        ref_pos: ref_pos.clone(),
        rtes: Some(vec![RTEData {
            rte_id: (event.id % 256) as u8,
            event_type: codes.code(event.kind),
            event_source: EventSource::Detection,
            event_pos: Some(PositionOffsetLLV {
                offset_ll: offset_ll(dlon, dlat, ref_pos.long, ref_pos.lat),
                offset_v: None,
            }),
            event_radius: event.approach.as_ref().map(|_| 500),
            description: Some(Description::TextString(text.chars().take(512).collect())),
            time_details: Some(RSITimeDetails {
                start_time: Some(minute(event.start_us)),
                end_time: ended.then(|| minute(event.end_us.unwrap_or(now_unix_us))),
                end_time_confidence: None,
            }),
            priority: None,
            reference_paths: None,
            reference_links: None,
            event_confidence: Some((event.confidence.clamp(0.0, 1.0) * 200.0).round() as u8),
        }]),
        rtss: None,
    }
}

/// Minute of the UTC year of a UNIX time in milliseconds.
pub fn minute_of_year(unix_ms: i64) -> u32 {
    // days since 1970-01-01, then the start of that UTC year (civil-from-days, H. Hinnant)
    let days = unix_ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_march = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_march + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // days from 1970-01-01 to January 1st of `year`
    let y = year - 1;
    let jan1 = 365 * (year - 1970) + (y / 4 - 1969 / 4) - (y / 100 - 1969 / 100) + (y / 400 - 1969 / 400);
    let minutes = (unix_ms - jan1 * 86_400_000).div_euclid(60_000);
    minutes.clamp(0, 527_040) as u32
}
