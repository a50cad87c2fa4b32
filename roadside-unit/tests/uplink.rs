//! The cloud uplink end to end against the in-repo stand-in for cloud-control (real QUIC, mutual
//! TLS, the `zhilu-uplink/1` framing): nothing the RSU must keep is lost while the cloud is
//! unreachable, across a restart of the RSU and a restart of the cloud; plans and map revisions
//! come down.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use map_encoder::csae::MessageFrame;
use roadside_unit::protocol::MessageType;
use support::*;

/// Wait until `f` holds, at most `d`.
async fn until(d: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

fn check_contiguous(store: &Store) -> usize {
    let recs = &store.records["rsu-test-1"];
    let seqs: Vec<u64> = recs.keys().copied().collect();
    assert_eq!(seqs[0], 1, "the first record is there");
    assert_eq!(
        *seqs.last().unwrap(),
        seqs.len() as u64,
        "no gaps: {} records up to {}",
        seqs.len(),
        seqs.last().unwrap()
    );
    seqs.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_through_a_cloud_outage_and_restarts_of_either_side() {
    // the outage lasts a minute (ZHILU_OUTAGE_S shortens it when iterating locally)
    let outage_s: f64 = std::env::var("ZHILU_OUTAGE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let dir = tempfile::tempdir().unwrap();
    let cloud = free_port();
    let o = Options { cloud: Some(cloud), counts_every_s: 0.5, ..Options::default() };
    let rsu = start_daemon(dir.path(), &o).await;
    let udp = rsu.udp.unwrap();
    tokio::spawn(drive(udp, outage_s / 2.0, 3));
    tokio::time::sleep(Duration::from_secs_f64(outage_s / 2.0)).await;
    let spooled_before_restart = metric(&rsu, "rsu_uplink_spooled_records", None);
    assert!(spooled_before_restart >= outage_s, "records wait while the cloud is away: {spooled_before_restart}");
    assert_eq!(metric(&rsu, "rsu_uplink_connected", None), 0.0);
    // the RSU restarts during the outage; its spool is on disk
    rsu.stop().await;
    let rsu = start_daemon(dir.path(), &o).await;
    tokio::time::sleep(Duration::from_secs_f64(outage_s / 2.0)).await;
    // the cloud comes back
    let store = Arc::new(Mutex::new(Store::default()));
    let certs = dir.path().join("certs");
    let standin = StandIn::start(&certs, cloud, store.clone());
    assert!(
        until(Duration::from_secs(30), || metric(&rsu, "rsu_uplink_spooled_records", None) == 0.0
            && metric(&rsu, "rsu_uplink_connected", None) == 1.0)
        .await,
        "the spool drains once the cloud is back"
    );
    let n1 = check_contiguous(&store.lock().unwrap());
    // lane counts and health each second (the RSU's housekeeping tick), track summaries each second
    assert!(n1 as f64 >= outage_s * 2.5, "{n1} records for a {outage_s} s outage at 3 records/s");
    let kinds: std::collections::BTreeSet<String> = store.lock().unwrap().records["rsu-test-1"]
        .values()
        .map(|r| serde_json::to_value(&r.body).unwrap()["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains("lane_counts") && kinds.contains("tracks") && kinds.contains("health"), "{kinds:?}");
    // the cloud restarts (its store survives, as cloud-control's database does)
    standin.stop().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(metric(&rsu, "rsu_uplink_spooled_records", None) >= 3.0);
    let standin = StandIn::start(&certs, cloud, store.clone());
    assert!(until(Duration::from_secs(30), || metric(&rsu, "rsu_uplink_spooled_records", None) == 0.0).await);
    let n2 = check_contiguous(&store.lock().unwrap());
    assert!(n2 > n1);
    assert!(store.lock().unwrap().registrations >= 2);
    rsu.stop().await;
    standin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_plans_hold_while_renewed_and_map_revisions_reach_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Mutex::new(Store::default()));
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    let o0 = Options::default();
    write_config(dir.path(), &o0); // creates the certificates
    let standin = StandIn::start(&dir.path().join("certs"), "127.0.0.1:0".parse().unwrap(), store.clone());
    let o = Options { cloud: Some(standin.address), counts_every_s: 1.0, ..Options::default() };
    let rsu = start_daemon(dir.path(), &o).await;
    assert!(until(Duration::from_secs(10), || metric(&rsu, "rsu_uplink_connected", None) == 1.0).await);
    let mut sub = subscriber(&dir.path().join("certs"), rsu.quic, &["map"]).await;
    let first = sub.next_within(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!((first.header.message_type, first.header.seq), (MessageType::Map, 1));
    // a cloud plan, valid 1.5 s: it takes over, then the local fallback plan returns
    let example = std::fs::read_to_string(root().join("roadside-unit/examples/rsu.toml")).unwrap();
    let cfg: toml::Value = toml::from_str(&example).unwrap();
    let mut plan: signal_core::Plan = cfg["signal"]["fallback_plan"].clone().try_into().unwrap();
    plan.id = 7;
    plan.stages[1].green_s = 40.0;
    standin.down.send(uplink::Down::SignalPlan { plan: plan.clone(), valid_for_s: 1.5 }).await.unwrap();
    assert!(
        until(Duration::from_secs(5), || metric(&rsu, "rsu_signal_plan_source", Some(("source", "cloud"))) == 1.0)
            .await
    );
    assert!(
        until(Duration::from_secs(5), || metric(&rsu, "rsu_signal_plan_source", Some(("source", "local"))) == 1.0)
            .await
    );
    // a new map revision: subscribers get MAP revision 2 on a new stream
    let text = std::fs::read_to_string(root().join("examples/4leg.toml")).unwrap();
    let changed = text.replacen("speed_limit_kph = 60", "speed_limit_kph = 50", 1);
    assert_ne!(text, changed);
    standin.down.send(uplink::Down::MapRevision { version: 2, intersection_toml: changed }).await.unwrap();
    let second = sub.next_within(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!((second.header.message_type, second.header.seq), (MessageType::Map, 2));
    assert!(matches!(second.frame, MessageFrame::MapFrame(_)));
    // a broken revision is refused and the current MAP stays
    standin.down.send(uplink::Down::MapRevision { version: 3, intersection_toml: "garbage =".into() }).await.unwrap();
    assert!(sub.next_within(Duration::from_secs(2)).await.unwrap().is_none());
    rsu.stop().await;
    standin.stop().await;
}
