//! End to end on loopback, daemon in-process: real QUIC (quinn) with mutual TLS, real ZSI/1 sensor
//! frames over UDP, real 1609.2 signatures, real UPER.  Each test starts its own daemon on random ports.

mod support;

use std::time::Duration;

use map_encoder::csae::MessageFrame;
use roadside_unit::client::{Client, MessageError, Via};
use roadside_unit::protocol::{encode_control, Header, MessageType, Request, HEADER_BYTES};
use support::*;

/// Collect verified messages for `d`; rejected ones are counted.
async fn collect(c: &mut Client, d: Duration) -> (Vec<roadside_unit::client::Received>, usize) {
    let end = tokio::time::Instant::now() + d;
    let (mut got, mut bad) = (Vec::new(), 0);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return (got, bad);
        }
        match c.next_within(left).await {
            Ok(Some(m)) => got.push(m),
            Ok(None) => return (got, bad),
            Err(e) => {
                eprintln!("rejected: {e}");
                bad += 1
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_signed_map_spat_and_fused_objects() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let mut c = subscriber(&dir.path().join("certs"), rsu.quic, &["map", "spat", "rsm", "ssm"]).await;
    let udp = rsu.udp.unwrap();
    tokio::spawn(drive(udp, 3.0, 0));
    let (got, bad) = collect(&mut c, Duration::from_millis(3300)).await;
    assert_eq!(bad, 0, "every message verifies");
    let maps: Vec<_> = got.iter().filter(|m| m.header.message_type == MessageType::Map).collect();
    assert_eq!(maps.len(), 1, "MAP once, on subscribing");
    assert_eq!(maps[0].via, Via::Stream);
    assert!(matches!(maps[0].frame, MessageFrame::MapFrame(_)));
    assert_eq!(maps[0].verified.subject, "rsu-test-1");
    let spats = got.iter().filter(|m| m.header.message_type == MessageType::Spat).count();
    assert!(spats >= 25, "SPaT at 10 Hz: {spats} in 3.3 s");
    let rsms: Vec<_> = got.iter().filter(|m| m.header.message_type == MessageType::Rsm).collect();
    assert!(rsms.len() >= 15, "the car is tracked and published: {} RSMs", rsms.len());
    assert!(rsms.iter().all(|m| m.via == Via::Datagram && m.header.parts == 1));
    let MessageFrame::RsmFrame(last) = &rsms[rsms.len() - 1].frame else { panic!() };
    assert_eq!(last.participants.len(), 1);
    // its speed: 10 m/s north in 0.02 m/s units, heading north (0)
    let p = &last.participants[0];
    assert!((p.speed as f64 * 0.02 - 10.0).abs() < 1.0, "speed {}", p.speed);
    assert!(p.heading < 400 || p.heading > 28_400, "heading {}", p.heading);
    // latency from sensor capture to reception is small on loopback while frames arrive (publishing
    // follows the frames, not a timer); afterwards the coasting track's data time stays that of its
    // last frame
    let mut lat: Vec<i64> = rsms.iter().take(20).map(|m| m.latency_us).collect();
    lat.sort_unstable();
    assert!(lat[0] >= 0 && lat[10] < 30_000, "{lat:?}");
    assert!(metric(&rsu, "rsu_messages_published_total", Some(("type", "rsm"))) >= 15.0);
    // the same objects as CSAE 157 sensor-sharing messages
    let ssms: Vec<_> = got.iter().filter(|m| m.header.message_type == MessageType::Ssm).collect();
    assert!(ssms.len() >= 15, "{} SSMs", ssms.len());
    let MessageFrame::MsgFrameExt(map_encoder::csae::MessageFrameExt::SensorSharingMsg(ssm)) =
        &ssms[ssms.len() - 1].frame
    else {
        panic!("not an SSM")
    };
    assert_eq!(ssm.participants.as_ref().map(Vec::len), Some(1));
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_subscribers_as_rsi_on_streams() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let mut c = subscriber(&dir.path().join("certs"), rsu.quic, &["rsi"]).await;
    // a car driving north on lane 2, which carries southbound traffic into the junction: wrong way
    tokio::spawn(drive_on(rsu.udp.unwrap(), -5.25, 30.0, 3.0, 0));
    let (got, bad) = collect(&mut c, Duration::from_millis(3500)).await;
    assert_eq!(bad, 0);
    let rsis: Vec<_> = got.iter().filter(|m| m.header.message_type == MessageType::Rsi).collect();
    assert!(!rsis.is_empty(), "an RSI for the wrong-way driver");
    assert!(rsis.iter().all(|m| m.via == Via::Stream));
    let MessageFrame::RsiFrame(rsi) = &rsis[0].frame else { panic!() };
    let rte = &rsi.rtes.as_ref().unwrap()[0];
    assert_eq!(rte.event_type, 902, "wrong_way in the default code table");
    assert!(matches!(&rte.description, Some(map_encoder::csae::Description::TextString(t)) if t.contains("wrong_way")));
    assert!(metric(&rsu, "rsu_messages_published_total", Some(("type", "rsi"))) >= 1.0);
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geofences_select_what_a_subscriber_gets() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let certs = dir.path().join("certs");
    let sub = |lat: f64, lon: f64, radius_m: f64| {
        let certs = certs.clone();
        let quic = rsu.quic;
        async move {
            let mut c = Client::connect(client_settings(&certs, quic)).await.unwrap();
            let types = vec![MessageType::Map, MessageType::Spat, MessageType::Rsm];
            let geofence = Some(roadside_unit::protocol::Geofence::Circle { lat, lon, radius_m });
            c.subscribe(Request::Subscribe { id: 0, types, geofence, rate_hz: None, have_map_revision: None })
                .await
                .unwrap();
            c
        }
    };
    // around the car (reference point 23.129, 113.264; the car drives 5..35 m north of it)
    let mut near = sub(23.129, 113.264, 100.0).await;
    // 1 km east: outside the intersection altogether
    let mut far = sub(23.129, 113.2738, 50.0).await;
    // 100 m south, 60 m radius: reaches the intersection, not the car
    let mut south = sub(23.1281, 113.264, 60.0).await;
    tokio::spawn(drive(rsu.udp.unwrap(), 2.5, 0));
    let (n, f, s) = tokio::join!(
        collect(&mut near, Duration::from_millis(2700)),
        collect(&mut far, Duration::from_millis(2700)),
        collect(&mut south, Duration::from_millis(2700))
    );
    let count = |v: &[roadside_unit::client::Received], t| v.iter().filter(|m| m.header.message_type == t).count();
    assert!(count(&n.0, MessageType::Rsm) >= 10 && count(&n.0, MessageType::Map) == 1);
    assert_eq!(f.0.len(), 0, "nothing for a vehicle 1 km away");
    assert_eq!(count(&s.0, MessageType::Map), 1);
    assert!(count(&s.0, MessageType::Spat) >= 20);
    assert_eq!(count(&s.0, MessageType::Rsm), 0, "no object near the southern fence");
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_on_tcp_are_fused_too() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let mut c = subscriber(&dir.path().join("certs"), rsu.quic, &["rsm"]).await;
    let tcp = rsu.tcp.unwrap();
    tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(tcp).await.unwrap();
        for k in 0..20u32 {
            let bytes = roadside_unit::ingest::to_bytes(&frame(1, k, &[[5.25, 5.0 + k as f64]]));
            s.write_all(&(bytes.len() as u32).to_le_bytes()).await.unwrap();
            s.write_all(&bytes).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // a length no frame can have closes the connection, and nothing else happens
        s.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    });
    let (got, _) = collect(&mut c, Duration::from_millis(2300)).await;
    assert_eq!(metric(&rsu, "rsu_sensor_frames_total", Some(("sensor", "1"))), 20.0);
    assert!(got.iter().filter(|m| m.header.message_type == MessageType::Rsm).count() >= 10);
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_replayed_messages_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let certs = dir.path().join("certs");
    let mut c = subscriber(&certs, rsu.quic, &["map", "spat"]).await;
    let (got, _) = collect(&mut c, Duration::from_millis(1500)).await;
    // no sensor frames at all: SPaT keeps its own 10 Hz clock
    let spats = got.iter().filter(|m| m.header.message_type == MessageType::Spat).count();
    assert!(spats >= 13, "{spats} SPaT in 1.5 s without sensor frames");
    let map = got.iter().find(|m| m.header.message_type == MessageType::Map).unwrap().raw.clone();
    let spat = got.iter().rev().find(|m| m.header.message_type == MessageType::Spat).unwrap().raw.clone();
    // replayed: the very bytes again
    let e = c.check(&spat, Via::Datagram, now_us()).unwrap_err();
    assert!(matches!(e, MessageError::Verify(v2x_security::VerifyError::Replay)), "{e}");
    // tampered payload
    let mut forged = spat.to_vec();
    let i = HEADER_BYTES + forged.len() / 3;
    forged[i] ^= 0x40;
    assert!(c.check(&forged, Via::Datagram, now_us()).is_err());
    // stale: a relayed MAP arriving 10 s after it was signed
    let mut fresh = Client::connect(client_settings(&certs, rsu.quic)).await.unwrap();
    let e = fresh.check(&map, Via::Stream, now_us() + 10_000_000).unwrap_err();
    assert!(matches!(e, MessageError::Verify(v2x_security::VerifyError::Stale { .. })), "{e}");
    // a message signed by an RSU whose certificate does not chain to the trusted root
    let other = v2x_security::CertificateAuthority::generate("rogue-root", now_us() / 1_000_000 - 60, 30).unwrap();
    let rogue = other.issue("rsu-test-1", &[v2x_security::psid::SPAT], now_us() / 1_000_000 - 60, 30).unwrap();
    let (h, spdu) = Header::parse(&spat).unwrap();
    let payload = v2x_security::open_unverified(spdu).unwrap().payload;
    let signed = rogue.sign(v2x_security::psid::SPAT, &payload, now_us(), true).unwrap();
    let e = c.check(&h.to_message(&signed), Via::Datagram, now_us()).unwrap_err();
    assert!(matches!(e, MessageError::Verify(_)), "{e}");
    // a genuine SPDU under the wrong header type (a SPaT posing as MAP) is refused too
    let mut retyped = spat.to_vec();
    retyped[1] = MessageType::Map as u8;
    let mut c2 = Client::connect(client_settings(&certs, rsu.quic)).await.unwrap();
    let _ = c2.check(&map, Via::Stream, now_us()); // learn the certificate
    assert!(c2.check(&retyped, Via::Datagram, now_us()).is_err());
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_certificate_from_the_subscriber_ca_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let other = tempfile::tempdir().unwrap();
    roadside_unit::daemon::certs::create_dev_certificates(other.path(), "x").unwrap();
    let certs = dir.path().join("certs");
    // trusts the right server, but its client certificate comes from another subscriber CA
    let settings = roadside_unit::client::ClientSettings::from_files(
        rsu.quic,
        "localhost",
        &certs.join("ca.pem"),
        &other.path().join("client.pem"),
        &other.path().join("client.key"),
        &certs.join("signing-root.cert"),
    )
    .unwrap();
    let refused = match Client::connect(settings).await {
        Err(_) => true,
        Ok(mut c) => c
            .subscribe(Request::Subscribe {
                id: 0,
                types: vec![MessageType::Spat],
                geofence: None,
                rate_hz: None,
                have_map_revision: None,
            })
            .await
            .is_err(),
    };
    assert!(refused, "a client certificate from another CA must not get a subscription");
    assert!(metric(&rsu, "rsu_connections_refused_total", Some(("reason", "tls"))) >= 1.0);
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_does_not_delay_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let certs = dir.path().join("certs");
    // a subscriber that subscribes to everything and then never reads a byte
    let endpoint = {
        let mut e = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut t = roadside_unit::client::client_transport();
        t.datagram_receive_buffer = Some(8 * 1024);
        let ca = roadside_unit::tls::load_certs(&certs.join("ca.pem")).unwrap();
        let cert = roadside_unit::tls::load_certs(&certs.join("client.pem")).unwrap();
        let key = roadside_unit::tls::load_key(&certs.join("client.key")).unwrap();
        e.set_default_client_config(
            roadside_unit::tls::client_config(&ca, cert, key, roadside_unit::protocol::ALPN, &t).unwrap(),
        );
        e
    };
    let stalled = endpoint.connect(rsu.quic, "localhost").unwrap().await.unwrap();
    let (mut send, _recv) = stalled.open_bi().await.unwrap();
    let req = Request::Subscribe {
        id: 1,
        types: vec![MessageType::Map, MessageType::Spat, MessageType::Rsm, MessageType::Ssm],
        geofence: None,
        rate_hz: None,
        have_map_revision: None,
    };
    send.write_all(&encode_control(&req)).await.unwrap();
    let mut c = subscriber(&certs, rsu.quic, &["spat", "rsm"]).await;
    // 120 objects: 8 RSM parts and SSM parts every cycle, most of it for the stalled subscriber
    tokio::spawn(drive(rsu.udp.unwrap(), 3.0, 119));
    let (got, bad) = collect(&mut c, Duration::from_millis(3200)).await;
    assert_eq!(bad, 0);
    let spat_times: Vec<i64> =
        got.iter().filter(|m| m.header.message_type == MessageType::Spat).map(|m| m.received_unix_us).collect();
    assert!(spat_times.len() >= 25, "{} SPaT", spat_times.len());
    let gap = spat_times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap < 400_000, "largest SPaT gap {gap} us");
    let rsm_parts = got.iter().filter(|m| m.header.message_type == MessageType::Rsm).count();
    assert!(rsm_parts >= 8 * 15, "{rsm_parts} RSM parts");
    // every RSM part decodes on its own and the parts of one message cover all objects
    let mut by_seq = std::collections::BTreeMap::<u32, (u8, usize)>::new();
    for m in got.iter().filter(|m| m.header.message_type == MessageType::Rsm) {
        let MessageFrame::RsmFrame(r) = &m.frame else { panic!() };
        let e = by_seq.entry(m.header.seq).or_insert((m.header.parts, 0));
        e.1 += r.participants.len();
        assert!(m.raw.len() <= roadside_unit::daemon::DATAGRAM_BUDGET);
    }
    let full = by_seq.values().filter(|(_, n)| *n == 120).count();
    assert!(full >= 10, "complete scenes {full} of {}", by_seq.len());
    drop(stalled);
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_sensor_does_not_starve_the_others_and_silence_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options::default()).await;
    let udp = rsu.udp.unwrap();
    let mut c = subscriber(&dir.path().join("certs"), rsu.quic, &["rsm"]).await;
    // camera 2 floods: 20 000 frames as fast as the socket takes them
    let flood = tokio::spawn(async move {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for k in 0..20_000u32 {
            let f = frame(2, k, &[[-30.0, -40.0]]);
            let _ = sock.send_to(&roadside_unit::ingest::to_bytes(&f), udp).await;
            if k % 200 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    tokio::spawn(drive(udp, 2.5, 0));
    let (got, _) = collect(&mut c, Duration::from_millis(2600)).await;
    flood.await.unwrap();
    let frames_1 = metric(&rsu, "rsu_sensor_frames_total", Some(("sensor", "1")));
    assert!(frames_1 >= 24.0, "camera 1's frames all arrive: {frames_1}");
    let dropped = metric(&rsu, "rsu_inputs_dropped_total", Some(("reason", "queue_full")))
        + metric(&rsu, "rsu_inputs_dropped_total", Some(("reason", "flood")));
    assert!(dropped > 1000.0, "the flood is dropped: {dropped}");
    // camera 1's car is in the published scene
    let tracked = got.iter().any(|m| match &m.frame {
        MessageFrame::RsmFrame(r) => r.participants.iter().any(|p| (p.speed as f64 * 0.02 - 10.0).abs() < 1.5),
        _ => false,
    });
    assert!(tracked, "camera 1's moving car is published despite the flood");
    // both go silent; camera 1 comes back
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(metric(&rsu, "rsu_silent_sensors", None), 2.0);
    tokio::spawn(drive(udp, 1.5, 0));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(metric(&rsu, "rsu_silent_sensors", None), 1.0, "camera 1 is back");
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let rsu = start_daemon(dir.path(), &Options { connections_per_s: 2, burst: 5, ..Options::default() }).await;
    let certs = dir.path().join("certs");
    let mut ok = 0;
    let mut tasks = Vec::new();
    for _ in 0..15 {
        let s = client_settings(&certs, rsu.quic);
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), Client::connect(s)).await.ok().and_then(Result::ok)
        }));
    }
    for t in tasks {
        if t.await.unwrap().is_some() {
            ok += 1;
        }
    }
    assert!((5..=7).contains(&ok), "{ok} of 15 admitted at burst 5");
    assert!(metric(&rsu, "rsu_connections_refused_total", Some(("reason", "rate_limit"))) >= 8.0);
    rsu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_connect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let rsu =
        start_daemon(dir.path(), &Options { connections_per_s: 10_000, burst: 10_000, ..Options::default() }).await;
    let certs = dir.path().join("certs");
    let mut watcher = subscriber(&certs, rsu.quic, &["spat"]).await;
    // one client endpoint (one socket), 1000 connections opened together
    let settings = client_settings(&certs, rsu.quic);
    let mut endpoint = roadside_unit::tls::endpoint("127.0.0.1:0".parse().unwrap(), None, 4 << 20).unwrap();
    endpoint.set_default_client_config(settings.quic.clone());
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let e = endpoint.clone();
        let addr = rsu.quic;
        tasks.push(tokio::spawn(async move {
            let fail = |what: &str, e: &dyn std::fmt::Display| eprintln!("{what}: {e}");
            // a vehicle whose handshake times out in the storm tries again, as real clients do
            let mut attempt = 0;
            let conn = loop {
                attempt += 1;
                match e.connect(addr, "localhost").ok()?.await {
                    Ok(c) => break c,
                    Err(err) if attempt < 3 => fail("connect (retrying)", &err),
                    Err(err) => {
                        fail("connect", &err);
                        return None;
                    }
                }
            };
            let (mut send, _recv) = conn.open_bi().await.ok()?;
            let req = Request::Subscribe {
                id: 1,
                types: vec![MessageType::Spat],
                geofence: None,
                rate_hz: None,
                have_map_revision: None,
            };
            send.write_all(&encode_control(&req)).await.ok()?;
            let d = match tokio::time::timeout(Duration::from_secs(60), conn.read_datagram()).await {
                Ok(Ok(d)) => d,
                Ok(Err(err)) => {
                    fail("datagram", &err);
                    return None;
                }
                Err(err) => {
                    fail("datagram", &err);
                    return None;
                }
            };
            let (h, _) = Header::parse(&d).ok()?;
            Some((conn, h.message_type))
        }));
    }
    let watch = tokio::spawn(async move {
        let (got, _) = collect(&mut watcher, Duration::from_secs(8)).await;
        got.iter().map(|m| m.received_unix_us).collect::<Vec<_>>()
    });
    let mut conns = Vec::new();
    for t in tasks {
        if let Some((c, ty)) = t.await.unwrap() {
            assert_eq!(ty, MessageType::Spat);
            conns.push(c);
        }
    }
    eprintln!("1000 subscribers connected and served in {:?}", started.elapsed());
    assert_eq!(conns.len(), 1000, "every subscriber gets SPaT");
    assert!(metric(&rsu, "rsu_subscribers", None) >= 1000.0);
    let times = watch.await.unwrap();
    assert!(times.len() >= 40, "the existing subscriber keeps receiving: {}", times.len());
    drop(conns);
    rsu.stop().await;
}
