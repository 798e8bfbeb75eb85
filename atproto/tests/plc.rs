//! `did:plc` operations and logs, and DID documents: chains built with real keys, the 72-hour
//! recovery rule, audit-log replay, and the real DID documents of the network corpus.

use std::collections::BTreeMap;

use atproto::did_doc::DidDocument;
use atproto::keys::{KeyType, Keypair};
use atproto::plc::{self, LegacyCreate, LogEntry, PlcError, PlcState, SignedOp};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::{rngs::StdRng, SeedableRng};

fn key(seed: u64, kind: KeyType) -> Keypair {
    Keypair::generate_with(kind, &mut StdRng::seed_from_u64(seed))
}

fn state(rotation: &[&Keypair], handle: &str) -> PlcState {
    let signing = key(99, KeyType::K256);
    PlcState::atproto(rotation.iter().map(|k| k.did_key()).collect(), &signing.did_key(), handle, "pds.test")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn with_sig(op: &SignedOp, f: impl FnOnce(&mut String)) -> SignedOp {
    let mut op = op.clone();
    match &mut op {
        SignedOp::Operation(o) => f(&mut o.sig),
        SignedOp::Tombstone(t) => f(&mut t.sig),
        SignedOp::LegacyCreate(c) => f(&mut c.sig),
    }
    op
}

#[test]
fn genesis_update_tombstone_chain_verifies() {
    let (k1, k2) = (key(1, KeyType::K256), key(2, KeyType::P256));
    let s0 = state(&[&k1, &k2], "alice.test");
    let (did, g) = plc::genesis(s0.clone(), &k1);
    assert!(did.starts_with("did:plc:") && did.len() == 32);
    assert_eq!(plc::did_for_genesis(&g), did);
    assert_eq!(plc::validate_log(&did, std::slice::from_ref(&g)), Ok(s0.clone()));

    let mut s1 = s0.clone();
    s1.set_handle("alice2.test");
    s1.set_pds_endpoint("https://pds2.test");
    s1.rotation_keys = vec![k2.did_key()];
    let u = plc::update(&g, s1.clone(), &k2); // the lower-priority key may update too
    assert_eq!(u.prev(), Some(plc::op_cid(&g).to_string().as_str()));
    assert_eq!(plc::validate_log(&did, &[g.clone(), u.clone()]), Ok(s1.clone()));
    assert_eq!(s1.handle(), Some("alice2.test"));
    assert_eq!(s1.also_known_as, ["at://alice2.test"]);

    let t = plc::tombstone(&u, &k2);
    let chain = [g.clone(), u.clone(), t.clone()];
    assert_eq!(plc::validate_chain(&did, &chain), Ok(None));
    assert_eq!(plc::validate_log(&did, &chain), Err(PlcError::Deactivated));

    // k1 was rotated out by `u`, so it cannot tombstone after it.
    assert_eq!(plc::validate_chain(&did, &[g.clone(), u.clone(), plc::tombstone(&u, &k1)]), Err(PlcError::InvalidSignature));
    let after = plc::update(&t, s1, &k2);
    assert!(matches!(plc::validate_chain(&did, &[g, u, t, after]), Err(PlcError::Misordered(_))));
    assert_eq!(plc::validate_chain(&did, &[]), Err(PlcError::EmptyLog));
}

#[test]
fn did_derivation_is_deterministic() {
    let k = key(3, KeyType::K256);
    let (a, op_a) = plc::genesis(state(&[&k], "a.test"), &k);
    let (b, op_b) = plc::genesis(state(&[&k], "a.test"), &k);
    assert_eq!((&a, &op_a), (&b, &op_b), "RFC 6979 signatures make genesis reproducible");
    let (c, _) = plc::genesis(state(&[&k], "c.test"), &k);
    assert_ne!(a, c);
    assert_eq!(plc::did_for_genesis(&op_a), a);
}

#[test]
fn tampering_is_detected() {
    let (k1, k2, stranger) = (key(4, KeyType::K256), key(5, KeyType::K256), key(6, KeyType::P256));
    let (did, g) = plc::genesis(state(&[&k1, &k2], "bob.test"), &k1);
    let u = plc::update(&g, state(&[&k1], "bob2.test"), &k1);
    assert!(plc::validate_log(&did, &[g.clone(), u.clone()]).is_ok());

    // A signature that decodes but is for other bytes.
    let mut flipped = plc::decode_sig(u.sig()).unwrap();
    flipped[10] ^= 1;
    let bad_sig = with_sig(&u, |s| *s = base64_url(&flipped));
    assert_eq!(plc::validate_log(&did, &[g.clone(), bad_sig]), Err(PlcError::InvalidSignature));
    // Padded or otherwise non-canonical encodings are refused before any verification.
    let padded = with_sig(&u, |s| s.push_str("=="));
    assert!(matches!(plc::validate_log(&did, &[g.clone(), padded]), Err(PlcError::SignatureEncoding(_))));

    // Changed content under the original signature.
    let mut edited = u.clone();
    if let SignedOp::Operation(o) = &mut edited {
        o.also_known_as = vec!["at://mallory.test".into()];
    }
    assert_eq!(plc::validate_log(&did, &[g.clone(), edited]), Err(PlcError::InvalidSignature));

    // A prev that is not the previous op (here: a CID of another op).
    let stray = plc::update(&u, state(&[&k1], "x.test"), &k1);
    assert!(matches!(plc::validate_log(&did, &[g.clone(), stray]), Err(PlcError::Misordered(_))));

    // Signed by a key that is not a rotation key.
    let usurp = plc::update(&g, state(&[&stranger], "evil.test"), &stranger);
    assert_eq!(plc::validate_log(&did, &[g.clone(), usurp]), Err(PlcError::InvalidSignature));

    // A genesis op signed by a key outside its own rotation keys.
    let (did2, g2) = plc::genesis(state(&[&k1], "c.test"), &stranger);
    assert_eq!(plc::validate_log(&did2, &[g2]), Err(PlcError::InvalidSignature));

    // The DID must be the genesis hash; the genesis op must be first.
    let other = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    assert!(matches!(plc::validate_log(other, std::slice::from_ref(&g)), Err(PlcError::DidMismatch { .. })));
    assert!(matches!(plc::validate_log(&did, &[u]), Err(PlcError::GenesisPrevNotNull)));
    assert_eq!(plc::validate_log(&did, &[plc::tombstone(&g, &k1)]), Err(PlcError::GenesisTombstone));
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn json_and_cbor_shapes() {
    let k = key(7, KeyType::K256);
    let (_, g) = plc::genesis(state(&[&k], "carol.test"), &k);
    let json = serde_json::to_value(&g).unwrap();
    let fields: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields.len(), 7);
    for f in ["type", "rotationKeys", "verificationMethods", "alsoKnownAs", "services", "prev", "sig"] {
        assert!(fields.contains(&f), "{f}");
    }
    assert_eq!(json["type"], "plc_operation");
    assert!(json["prev"].is_null());
    assert_eq!(json["services"]["atproto_pds"]["type"], "AtprotoPersonalDataServer");
    assert_eq!(json["services"]["atproto_pds"]["endpoint"], "https://pds.test");
    assert_eq!(json["alsoKnownAs"][0], "at://carol.test");
    assert_eq!(serde_json::from_value::<SignedOp>(json.clone()).unwrap(), g);

    // DAG-CBOR round trip, and the unsigned form is the signed one minus `sig`.
    let bytes = plc::signed_bytes(&g);
    assert_eq!(atproto::cbor::decode::<SignedOp>(&bytes).unwrap(), g);
    let unsigned: BTreeMap<String, atproto::Ipld> = atproto::cbor::decode(&plc::unsigned_bytes(&g)).unwrap();
    assert!(!unsigned.contains_key("sig") && unsigned.contains_key("prev") && unsigned.len() == 6);

    let t = plc::tombstone(&g, &k);
    let tj = serde_json::to_value(&t).unwrap();
    assert_eq!(tj, serde_json::json!({"type": "plc_tombstone", "prev": plc::op_cid(&g).to_string(), "sig": t.sig()}));

    // Strict parsing: extra fields or an omitted `prev` would change the signed bytes.
    let mut extra = json.clone();
    extra["note"] = "hi".into();
    assert!(serde_json::from_value::<SignedOp>(extra).is_err());
    let mut no_prev = json;
    no_prev.as_object_mut().unwrap().remove("prev");
    assert!(serde_json::from_value::<SignedOp>(no_prev).is_err());
    assert!(serde_json::from_str::<SignedOp>(r#"{"type":"plc_other","prev":null,"sig":""}"#).is_err());
}

#[test]
fn legacy_create_normalises_and_verifies() {
    let (signing, recovery) = (key(8, KeyType::K256), key(9, KeyType::P256));
    let unsigned = SignedOp::LegacyCreate(LegacyCreate {
        signing_key: signing.did_key(),
        recovery_key: recovery.did_key(),
        handle: "dave.test".into(),
        service: "https://pds.test".into(),
        prev: None,
        sig: String::new(),
    });
    let legacy = plc::sign_op(unsigned, &signing);
    let did = plc::did_for_genesis(&legacy);
    let s = plc::validate_log(&did, std::slice::from_ref(&legacy)).unwrap();
    assert_eq!(s.rotation_keys, [recovery.did_key(), signing.did_key()]);
    assert_eq!(s.signing_key(), Some(signing.did_key().as_str()));
    assert_eq!(s.also_known_as, ["at://dave.test"]);
    assert_eq!(s.pds_endpoint(), Some("https://pds.test"));
    assert!(matches!(legacy.normalize(), SignedOp::Operation(_)));
    assert_eq!(serde_json::to_value(&legacy).unwrap()["type"], "create");

    // Either legacy key may sign the next op; a legacy op after genesis is refused.
    let u = plc::update(&legacy, s.clone(), &recovery);
    assert_eq!(plc::validate_log(&did, &[legacy.clone(), u.clone()]), Ok(s));
    assert_eq!(plc::validate_log(&did, &[legacy.clone(), legacy.clone()]), Err(PlcError::LegacyNotGenesis));
    // ...and the directory no longer takes new legacy ops.
    assert!(matches!(plc::validate_new_op(&did, &[], &legacy, t0()), Err(PlcError::Constraint(_))));
}

/// A log as the directory stores it, with `createdAt`s relative to [`t0`].
struct Dir {
    did: String,
    log: Vec<LogEntry>,
}

impl Dir {
    fn submit(&mut self, op: &SignedOp, at: DateTime<Utc>) -> Result<plc::Accepted, PlcError> {
        let accepted = plc::validate_new_op(&self.did, &self.log, op, at)?;
        for e in &mut self.log {
            let cid = atproto::cid::parse(&e.cid).unwrap();
            e.nullified |= accepted.nullified.contains(&cid);
        }
        self.log.push(LogEntry::new(&self.did, op.clone(), at));
        Ok(accepted)
    }
}

#[test]
fn recovery_within_72h_nullifies_and_later_is_refused() {
    let (k1, k2, k3) = (key(11, KeyType::K256), key(12, KeyType::P256), key(13, KeyType::P256));
    let (did, g) = plc::genesis(state(&[&k1, &k2, &k3], "erin.test"), &k1);
    let mut dir = Dir { did: did.clone(), log: vec![] };
    let now = t0();
    assert_eq!(dir.submit(&g, now - TimeDelta::days(7)).unwrap().prev, None);

    // k3 (lowest authority) takes over, then keeps going.
    let takeover = plc::update(&g, state(&[&k3], "erin.test"), &k3);
    dir.submit(&takeover, now - TimeDelta::days(1)).unwrap();
    let more = plc::update(&takeover, state(&[&k3], "evil.test"), &k3);
    let accepted = dir.submit(&more, now - TimeDelta::hours(1)).unwrap();
    assert!(accepted.nullified.is_empty());

    // k2 outranks k3 at the fork point (genesis): it may rewrite both later ops.
    let by_k2 = plc::update(&g, state(&[&k2], "erin.test"), &k2);
    let accepted = dir.submit(&by_k2, now).unwrap();
    assert_eq!(accepted.prev, Some(plc::op_cid(&g)));
    assert_eq!(accepted.nullified, [plc::op_cid(&takeover), plc::op_cid(&more)]);
    assert_eq!(dir.log.iter().filter(|e| e.nullified).count(), 2);

    // k3 cannot take it back, nor extend its nullified branch.
    let k3_again = plc::update(&g, state(&[&k3], "x.test"), &k3);
    assert_eq!(dir.submit(&k3_again, now + TimeDelta::minutes(1)), Err(PlcError::InvalidSignature));
    let on_nullified = plc::update(&more, state(&[&k3], "x.test"), &k3);
    assert!(matches!(dir.submit(&on_nullified, now + TimeDelta::minutes(1)), Err(PlcError::Misordered(_))));

    // k1 outranks k2; after it, k2 cannot come back either.
    let by_k1 = plc::update(&g, state(&[&k1], "erin.test"), &k1);
    assert_eq!(dir.submit(&by_k1, now + TimeDelta::minutes(2)).unwrap().nullified, [plc::op_cid(&by_k2)]);
    let k2_again = plc::update(&g, state(&[&k2], "x.test"), &k2);
    assert_eq!(dir.submit(&k2_again, now + TimeDelta::minutes(3)), Err(PlcError::InvalidSignature));

    // A plain update on the head still works, and the audit log replays to the same state.
    let normal = plc::update(&by_k1, state(&[&k1], "erin2.test"), &k1);
    dir.submit(&normal, now + TimeDelta::minutes(4)).unwrap();
    assert_eq!(plc::validate_audit_log(&did, &dir.log), Ok(Some(state(&[&k1], "erin2.test"))));
    let canonical: Vec<SignedOp> = dir.log.iter().filter(|e| !e.nullified).map(|e| e.operation.clone()).collect();
    assert_eq!(canonical, [g, by_k1, normal]);
    assert_eq!(plc::validate_log(&did, &canonical), Ok(state(&[&k1], "erin2.test")));
}

#[test]
fn recovery_window_is_72_hours_from_the_first_nullified_op() {
    let (k1, k2) = (key(21, KeyType::K256), key(22, KeyType::K256));
    let (did, g) = plc::genesis(state(&[&k1, &k2], "fay.test"), &k1);
    let takeover = plc::update(&g, state(&[&k2], "fay.test"), &k2);
    let recover = plc::update(&g, state(&[&k1], "fay.test"), &k1);
    let base = [LogEntry::new(&did, g.clone(), t0()), LogEntry::new(&did, takeover, t0() + TimeDelta::hours(1))];
    let window = TimeDelta::hours(plc::RECOVERY_WINDOW_HOURS);

    let at_limit = t0() + TimeDelta::hours(1) + window;
    assert_eq!(plc::validate_new_op(&did, &base, &recover, at_limit).unwrap().nullified.len(), 1);
    let too_late = at_limit + TimeDelta::milliseconds(1);
    assert!(matches!(plc::validate_new_op(&did, &base, &recover, too_late), Err(PlcError::LateRecovery { .. })));
    // A recovery must also be later than the op it overrides.
    let not_after = t0() + TimeDelta::hours(1);
    assert!(matches!(plc::validate_new_op(&did, &base, &recover, not_after), Err(PlcError::Misordered(_))));
    // The same key cannot nullify its own op: it needs strictly higher authority.
    let by_k2 = plc::update(&g, state(&[&k2], "again.test"), &k2);
    assert_eq!(plc::validate_new_op(&did, &base, &by_k2, at_limit), Err(PlcError::InvalidSignature));
}

#[test]
fn directory_submission_rules() {
    let k = key(31, KeyType::K256);
    let (did, g) = plc::genesis(state(&[&k], "gus.test"), &k);
    let accepted = plc::validate_new_op(&did, &[], &g, t0()).unwrap();
    assert_eq!((accepted.cid, accepted.prev), (plc::op_cid(&g), None));
    let other = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";
    assert!(matches!(plc::validate_new_op(other, &[], &g, t0()), Err(PlcError::DidMismatch { .. })));
    let log = [LogEntry::new(&did, g.clone(), t0())];
    assert!(matches!(plc::validate_new_op(&did, &log, &g, t0()), Err(PlcError::Misordered(_))));
    assert!(matches!(plc::validate_new_op(other, &log, &plc::tombstone(&g, &k), t0()), Err(PlcError::WrongDid { .. })));

    let refused = |edit: fn(&mut PlcState)| {
        let mut s = state(&[&k], "gus.test");
        edit(&mut s);
        let op = plc::update(&g, s, &k);
        plc::validate_new_op(&did, &log, &op, t0() + TimeDelta::seconds(1))
    };
    assert!(refused(|_| ()).is_ok());
    let constraint = |r: Result<plc::Accepted, PlcError>| matches!(r, Err(PlcError::Constraint(_)));
    assert!(constraint(refused(|s| s.also_known_as = (0..11).map(|i| format!("at://h{i}.test")).collect())));
    assert!(constraint(refused(|s| s.also_known_as = vec!["at://a.test".into(), "at://a.test".into()])));
    assert!(constraint(refused(|s| s.rotation_keys.push("did:key:zNotAKey".into()))));
    assert!(constraint(refused(|s| {
        s.verification_methods.insert("x".repeat(33), s.rotation_keys[0].clone());
    })));
    assert!(constraint(refused(|s| {
        s.verification_methods.insert("other".into(), "did:key:not-base58!".into());
    })));
    assert!(constraint(refused(|s| s.set_pds_endpoint(&format!("https://{}.test", "p".repeat(600))))));
    assert!(constraint(refused(|s| {
        // Each service within limits, together over the 4000-byte op limit.
        for i in 0..9 {
            let endpoint = format!("https://{i}{}", "p".repeat(500));
            s.services.insert(format!("s{i}"), plc::Service { kind: "X".into(), endpoint });
        }
    })));
}

#[test]
fn audit_log_flags_must_match_replay() {
    let (k1, k2) = (key(21, KeyType::K256), key(22, KeyType::K256));
    let (did, g) = plc::genesis(state(&[&k1, &k2], "flag.test"), &k1);
    let mut dir = Dir { did: did.clone(), log: vec![] };
    let now = t0();
    dir.submit(&g, now - TimeDelta::hours(5)).unwrap();
    let by_k2 = plc::update(&g, state(&[&k2], "flag.test"), &k2);
    dir.submit(&by_k2, now - TimeDelta::hours(2)).unwrap();
    // k1 outranks k2 and recovers: the k2 op is nullified.
    let recovery = plc::update(&g, state(&[&k1, &k2], "flag.test"), &k1);
    dir.submit(&recovery, now).unwrap();
    let state_after = plc::validate_audit_log(&did, &dir.log).unwrap().unwrap();
    assert_eq!(state_after.handle(), Some("flag.test"));

    let mut log = dir.log.clone();
    log[1].nullified = false;
    assert!(matches!(plc::validate_audit_log(&did, &log), Err(PlcError::NullifiedMismatch { .. })));
    let mut log = dir.log.clone();
    log[2].cid = log[0].cid.clone();
    assert!(matches!(plc::validate_audit_log(&did, &log), Err(PlcError::CidMismatch { .. })));

    let gone = plc::tombstone(&recovery, &k1);
    dir.submit(&gone, now + TimeDelta::minutes(1)).unwrap();
    assert_eq!(plc::validate_audit_log(&did, &dir.log), Ok(None));
}

#[test]
fn plc_state_and_document_round_trip() {
    let (rot, signing) = (key(41, KeyType::P256), key(42, KeyType::K256));
    let mut s = PlcState::atproto(vec![rot.did_key()], &signing.did_key(), "hana.test", "https://pds.test");
    s.verification_methods.insert("other".into(), rot.did_key());
    let data = serde_json::to_value(&s).unwrap();
    assert_eq!(data["verificationMethods"]["atproto"], signing.did_key());
    assert_eq!(data["services"]["atproto_pds"]["endpoint"], "https://pds.test");
    assert_eq!(serde_json::from_value::<PlcState>(data).unwrap(), s);

    let did = "did:plc:cccccccccccccccccccccccc";
    let doc = s.to_did_document(did);
    let back: DidDocument = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.signing_key().unwrap(), signing.public());
    assert_eq!(back.pds_endpoint(), Some("https://pds.test"));
    assert_eq!(back.handle(), Some("hana.test"));
    assert_eq!(back.verification_method.len(), 2);
    // Both curves in use: both suite contexts, once each.
    assert_eq!(back.context.len(), 4);
    assert_eq!(DidDocument::new_plc(did, "hana.test", &signing.public(), "pds.test").signing_key().unwrap(), signing.public());
}

#[test]
fn corpus_did_documents() {
    let Some(path) = atproto::fixtures::shared_path("corpus/bsky-network-2026-07-04/did_docs.json.zst") else {
        return;
    };
    let bytes = zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap();
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
    assert!(!raw.is_empty());
    for (did, value) in raw {
        let doc: DidDocument = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{did}: {e}"));
        assert_eq!(doc.id, did);
        doc.signing_key().unwrap_or_else(|e| panic!("{did}: {e}"));
        assert!(doc.pds_endpoint().is_some_and(|u| u.starts_with("https://")), "{did}");
        assert!(doc.handle().is_some(), "{did}");
        assert_eq!(serde_json::to_value(&doc).unwrap(), value, "{did}: lossless round trip");
    }
}
