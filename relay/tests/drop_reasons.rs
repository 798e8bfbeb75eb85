//! Every reason the relay drops an upstream event for, one case each, counted under its own
//! label; and an identity outage, which is not the event's fault: its events wait and then
//! arrive in order, none dropped.

mod common;

use std::time::Duration;

use atproto::firehose::{AccountEvent, SubscribeReposFrame};
use atproto::syntax::Tid;
use atproto::Ipld;
use common::account::*;
use common::*;

/// A frame of a message type the relay does not know (`#wat`), with a seq.
fn unknown_frame(seq: i64) -> Vec<u8> {
    let map = |pairs: Vec<(&str, Ipld)>| Ipld::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let mut out = atproto::cbor::encode(&map(vec![("op", Ipld::Integer(1)), ("t", Ipld::String("#wat".into()))])).unwrap();
    out.extend(atproto::cbor::encode(&map(vec![("seq", Ipld::Integer(seq.into()))])).unwrap());
    out
}

fn dropped(relay: &TestRelay, reason: &'static str) -> impl std::future::Future<Output = f64> {
    let addr = relay.addr;
    async move { metric(addr, "relay_events_dropped_total", &format!("reason=\"{reason}\"")).await }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_drop_reason_has_its_case_and_its_label() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("alice");
    let b = Account::new("banned");
    let mut c = Account::new("carol");
    let mut i = Account::new("inactive");
    let th = Account::new("throttled");
    let mut nf = Account::new("notfound");
    let mut tomb = Account::new("tombstoned");
    let mut bad_doc = Account::new("baddoc");
    for acct in [&a, &b, &i, &th] {
        plc.set(&acct.did, &acct.doc("https://pds-one.test"));
    }
    plc.set(&c.did, &c.doc("https://pds-other.test"));
    plc.statuses.lock().unwrap().insert(tomb.did.clone(), 410);
    plc.docs.lock().unwrap().insert(bad_doc.did.clone(), serde_json::json!({"id": bad_doc.did}));

    let mut config = testbed_config(&plc, &host);
    config.host_aliases = vec![("pds-one.test".into(), host.hostname())];
    // Three accounts are admitted (alice, the banned one and the inactive one): the fourth is
    // over the host's quota.
    config.limits = relay::Limits { enabled: true, events_per_sec: 100_000, accounts_per_host: 3 };
    let relay = start_relay(config).await;

    let mut valid: Vec<Vec<u8>> = Vec::new();
    let mut want: Vec<&'static str> = Vec::new();

    host.push_valid(1, sync_frame(1, a.first_sync()), &mut valid);
    let x = a.create_post();
    host.push(2, commit_frame(2, forged(&x)));
    want.push("verify_failed");
    host.push_valid(3, commit_frame(3, x.clone()), &mut valid);
    host.push(4, commit_frame(4, x));
    want.push("rev_not_newer");
    let y = a.create_post();
    host.push(3, commit_frame(3, y.clone()));
    want.push("seq_backwards");
    host.push_valid(5, commit_frame(5, y), &mut valid);
    host.push_raw(b"\x00garbage".to_vec());
    want.push("malformed");
    host.push(6, unknown_frame(6));
    want.push("unknown_type");
    let z = a.create_post();
    let mut bad_rev = z.clone();
    bad_rev.rev = "not-a-tid".into();
    host.push(7, commit_frame(7, bad_rev));
    want.push("bad_rev");
    let mut future = z.clone();
    let in_a_day = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64 + 86_400_000_000) << 10;
    future.rev = Tid::from_u64(in_a_day).as_str().to_owned();
    host.push(8, commit_frame(8, future));
    want.push("rev_in_future");
    host.push_valid(9, commit_frame(9, z), &mut valid);
    host.push(10, commit_frame(10, c.create_post()));
    want.push("wrong_host");
    host.push(11, commit_frame(11, nf.create_post()));
    want.push("did_not_found");
    host.push(12, commit_frame(12, tomb.create_post()));
    want.push("did_tombstoned");
    host.push(13, commit_frame(13, bad_doc.create_post()));
    want.push("did_doc_invalid");
    let unsupported = AccountEvent { seq: 0, did: "did:example:alice".into(), time: TIME.into(), active: true, status: None };
    host.push(14, account_frame(14, unsupported));
    want.push("resolve_failed");
    host.push_valid(15, sync_frame(15, i.first_sync()), &mut valid);
    host.push_valid(16, account_frame(16, i.account(false, Some("deactivated"))), &mut valid);
    host.push(17, commit_frame(17, i.create_post()));
    want.push("account_inactive");
    host.push_valid(18, sync_frame(18, b.first_sync()), &mut valid);
    host.push(19, sync_frame(19, th.first_sync()));
    want.push("account_throttled");

    relay.relay.add_host(&host.hostname(), false).unwrap();
    let status = |did: String| {
        let addr = relay.addr;
        async move { reqwest::get(format!("http://{addr}/xrpc/com.atproto.sync.getRepoStatus?did={did}")).await.unwrap().status() }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while status(b.did.clone()).await != 200 {
        assert!(std::time::Instant::now() < deadline, "the banned account's first event never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(relay.relay.set_account_banned(&b.did, true).unwrap());
    // The takedown is the relay's own `#account` event, in the stream after b's sync.
    let takedown = valid.len();
    valid.push(Vec::new());
    let mut b = b;
    host.push(20, commit_frame(20, b.create_post()));
    want.push("account_banned");
    host.push_valid(21, commit_frame(21, a.create_post()), &mut valid);

    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", relay.addr)).await;
    let got = read_frames(&mut ws, valid.len() + 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), valid.len(), "exactly the valid events are forwarded");
    for (n, (want, got)) in valid.iter().zip(&got).enumerate() {
        if n == takedown {
            let Ok(SubscribeReposFrame::Account(e)) = SubscribeReposFrame::decode(got) else { panic!("event {n} is not the takedown") };
            assert_eq!((e.did.as_str(), e.active, e.status.as_deref()), (b.did.as_str(), false, Some("takendown")));
            continue;
        }
        assert_eq!(&relay::log::reseq_frame(want, n as u64 + 1).unwrap(), got, "event {n}");
    }

    // One case per reason, and every reason has its case.
    let mut labels = want.clone();
    labels.sort();
    let mut all = relay::ingest::DropReason::LABELS.to_vec();
    all.sort();
    assert_eq!(labels, all, "the table covers every drop reason");
    for reason in want {
        assert_eq!(dropped(&relay, reason).await, 1.0, "{reason}");
    }
    assert_eq!(metric(relay.addr, "relay_store_errors_total", "").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plc_outage_delays_events_and_drops_none() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("outage");
    plc.set(&a.did, &a.doc("https://pds-one.test"));
    let relay = start_relay(testbed_config(&plc, &host)).await;

    plc.set_outage(true);
    let mut valid = vec![sync_frame(1, a.first_sync())];
    for seq in 2..=5 {
        valid.push(commit_frame(seq, a.create_post()));
    }
    for (n, frame) in valid.iter().enumerate() {
        host.push(n as i64 + 1, frame.clone());
    }
    relay.relay.add_host(&host.hostname(), false).unwrap();

    // The account's events wait: held and retried with backoff, not dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(relay.addr, "relay_identity_unavailable_total", "").await < 2.0 {
        assert!(std::time::Instant::now() < deadline, "the outage was never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", relay.addr)).await;
    assert!(read_frames(&mut ws, 1, Duration::from_millis(300)).await.is_empty(), "nothing passes while identities are unknown");
    assert_eq!(host.cursors.lock().unwrap().len(), 1, "the events are held and retried; the host is not read again");
    assert_eq!(metric(relay.addr, "relay_events_held", "").await, valid.len() as f64);

    plc.set_outage(false);
    let got = read_frames(&mut ws, valid.len() + 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), valid.len(), "every event arrives once the directory is back");
    for (n, (want, got)) in valid.iter().zip(&got).enumerate() {
        assert_eq!(&relay::log::reseq_frame(want, n as u64 + 1).unwrap(), got, "event {n}, in order");
    }
}
