//! `Directory` directly: the 72-hour recovery window against controlled clocks, and
//! serialised concurrent submissions for one DID.

mod common;

use std::sync::Arc;

use atproto::plc::{update, PlcError};
use chrono::{TimeDelta, Utc};
use common::Account;
use plc::{DidStatus, Directory, SubmitError};

#[test]
fn recovery_after_72_hours_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Directory::open(tmp.path(), 0).unwrap();
    let alice = Account::new("alice.test");
    let t0 = Utc::now() - TimeDelta::hours(100);
    dir.submit_at(&alice.did, alice.genesis.clone(), t0).unwrap();
    let mut hijack = alice.state.clone();
    hijack.set_handle("hijack.test");
    let bad = update(&alice.genesis, hijack.clone(), &alice.rotation);
    dir.submit_at(&alice.did, bad, t0 + TimeDelta::hours(1)).unwrap();

    let fix = update(&alice.genesis, alice.state.clone(), &alice.recovery);
    let late = dir.submit_at(&alice.did, fix.clone(), t0 + TimeDelta::hours(74));
    assert!(matches!(late, Err(SubmitError::Invalid(PlcError::LateRecovery { .. }))), "{late:?}");
    assert_eq!(dir.status(&alice.did).unwrap(), DidStatus::Active(hijack));

    // Within the window it succeeds.
    let accepted = dir.submit_at(&alice.did, fix, t0 + TimeDelta::hours(72)).unwrap();
    assert_eq!(accepted.nullified.len(), 1);
    assert_eq!(dir.status(&alice.did).unwrap(), DidStatus::Active(alice.state.clone()));
}

#[test]
fn concurrent_conflicting_updates_accept_exactly_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Arc::new(Directory::open(tmp.path(), 0).unwrap());
    let alice = Account::new("alice.test");
    dir.submit(&alice.did, alice.genesis.clone()).unwrap();
    // Eight different updates all claiming the genesis as prev, signed by the same key:
    // the first one to land makes the rest forks that this key may not make.
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let mut state = alice.state.clone();
            state.set_handle(&format!("h{i}.test"));
            let op = update(&alice.genesis, state, &alice.rotation);
            let dir = dir.clone();
            let did = alice.did.clone();
            std::thread::spawn(move || dir.submit(&did, op).is_ok())
        })
        .collect();
    let ok = handles.into_iter().filter(|_| true).map(|h| h.join().unwrap()).filter(|&b| b).count();
    assert_eq!(ok, 1);
    assert_eq!(dir.active_log(&alice.did).unwrap().unwrap().len(), 2);
    assert_eq!(dir.last_seq(), 2);
}
