//! `Resolver` against real local servers: did:plc through the directory, did:web and handle
//! well-knowns through small axum servers (testbed switch on), and the SSRF refusals.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use atproto::did_doc::DidDocument;
use atproto::keys::{KeyType, Keypair};
use atproto::plc::update;
use axum::routing::get;
use axum::{Json, Router};
use common::{start, Account};
use plc::{ResolveError, Resolver, ResolverConfig};

/// Serves `/.well-known/did.json` and `/.well-known/atproto-did`, counting requests.
struct WellKnown {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn well_known(doc: impl Fn(SocketAddr) -> serde_json::Value, handle_did: &str) -> WellKnown {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let doc = doc(addr);
    let (h1, h2) = (hits.clone(), hits.clone());
    let handle_did = handle_did.to_string();
    let app = Router::new()
        .route(
            "/.well-known/did.json",
            get(move || {
                h1.fetch_add(1, Ordering::SeqCst);
                let doc = doc.clone();
                async move { Json(doc) }
            }),
        )
        .route(
            "/.well-known/atproto-did",
            get(move || {
                h2.fetch_add(1, Ordering::SeqCst);
                let did = handle_did.clone();
                async move { format!("{did}\n") }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    WellKnown { addr, hits }
}

fn web_doc(did: &str, key: &Keypair) -> serde_json::Value {
    serde_json::to_value(DidDocument::new_web(did, "web.test", &key.public(), "https://pds.test")).unwrap()
}

fn testbed(plc_url: &str) -> ResolverConfig {
    ResolverConfig { allow_insecure_loopback: true, ..ResolverConfig::with_plc_url(plc_url) }
}

#[tokio::test]
async fn did_plc_through_the_directory_with_cache_and_invalidate() {
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();
    let resolver = Resolver::new(ResolverConfig::with_plc_url(&t.server.url())).unwrap();

    let doc = resolver.resolve(&alice.did).await.unwrap();
    assert_eq!(doc.handle(), Some("alice.test"));
    assert_eq!(resolver.signing_key(&alice.did).await.unwrap(), alice.signing.public());

    // Rotate the signing key: the cached document is served until invalidated.
    let new_signing = Keypair::generate(KeyType::P256);
    let mut next = alice.state.clone();
    next.verification_methods.insert("atproto".into(), new_signing.did_key());
    t.client.submit(&alice.did, &update(&alice.genesis, next, &alice.rotation)).await.unwrap();
    assert_eq!(resolver.signing_key(&alice.did).await.unwrap(), alice.signing.public());
    assert!(resolver.invalidate(&alice.did));
    assert!(!resolver.invalidate(&alice.did));
    assert_eq!(resolver.signing_key(&alice.did).await.unwrap(), new_signing.public());

    match resolver.resolve("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").await {
        Err(ResolveError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(resolver.resolve("not-a-did").await, Err(ResolveError::InvalidDid(_))));
    assert!(matches!(resolver.resolve("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme").await, Err(ResolveError::UnsupportedMethod(_))));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn did_web_on_loopback_needs_the_testbed_switch() {
    let key = Keypair::generate(KeyType::K256);
    let srv = well_known(|addr| web_doc(&format!("did:web:localhost%3A{}", addr.port()), &key), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").await;
    let did = format!("did:web:localhost%3A{}", srv.addr.port());

    let strict = Resolver::new(ResolverConfig::default()).unwrap();
    assert!(matches!(strict.resolve(&did).await, Err(ResolveError::Forbidden(_))));
    let literal = format!("did:web:127.0.0.1%3A{}", srv.addr.port());
    assert!(matches!(strict.resolve(&literal).await, Err(ResolveError::Forbidden(_))));
    assert_eq!(srv.hits.load(Ordering::SeqCst), 0, "refused before any request");

    let resolver = Resolver::new(testbed("http://127.0.0.1:9")).unwrap();
    let doc = resolver.resolve(&did).await.unwrap();
    assert_eq!(doc.id, did);
    assert_eq!(resolver.signing_key(&did).await.unwrap(), key.public());
    assert_eq!(srv.hits.load(Ordering::SeqCst), 1, "second lookup was a cache hit");
    resolver.invalidate(&did);
    resolver.resolve(&did).await.unwrap();
    assert_eq!(srv.hits.load(Ordering::SeqCst), 2);

    // The literal-IP form reaches the same server, whose document names another DID.
    match resolver.resolve(&literal).await {
        Err(ResolveError::IdMismatch { expected, .. }) => assert_eq!(expected, literal),
        other => panic!("expected IdMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_documents_are_refused() {
    let srv = well_known(|_| serde_json::json!({ "id": "x", "padding": "a".repeat(100_000) }), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").await;
    let resolver = Resolver::new(testbed("http://127.0.0.1:9")).unwrap();
    let did = format!("did:web:localhost%3A{}", srv.addr.port());
    assert!(matches!(resolver.resolve(&did).await, Err(ResolveError::TooLarge(_))));
}

#[tokio::test]
async fn handles_resolve_through_the_well_known() {
    let target = "did:plc:abcdefghijklmnopqrstuvwx";
    let srv = well_known(|_| serde_json::json!({}), target).await;
    let strict =
        Resolver::new(ResolverConfig { host_overrides: HashMap::from([("alice.example.com".to_string(), srv.addr)]), ..ResolverConfig::default() }).unwrap();
    assert!(matches!(strict.resolve_handle("alice.example.com").await, Err(ResolveError::Forbidden(_))));

    let resolver =
        Resolver::new(ResolverConfig { host_overrides: HashMap::from([("alice.example.com".to_string(), srv.addr)]), ..testbed("http://127.0.0.1:9") })
            .unwrap();
    let did = resolver.resolve_handle("Alice.Example.com").await.unwrap();
    assert_eq!(did.as_str(), target);
    resolver.resolve_handle("alice.example.com").await.unwrap();
    assert_eq!(srv.hits.load(Ordering::SeqCst), 1, "cached");
    assert!(resolver.invalidate_handle("alice.example.com"));
    assert!(matches!(resolver.resolve_handle("not a handle").await, Err(ResolveError::InvalidHandle(_))));
    // localhost handles are refused without the switch.
    assert!(matches!(Resolver::new(ResolverConfig::default()).unwrap().resolve_handle("alice.localhost").await, Err(ResolveError::Forbidden(_))));
}
