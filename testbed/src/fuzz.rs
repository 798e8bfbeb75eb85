//! Seeded generators of hostile HTTP input for the services' fuzz tests: values of wrong and
//! odd shapes, deeply nested JSON, random and CAR-looking bytes, and path tricks. Deterministic
//! for a seed, so a failing request can be replayed.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Strings aimed at path handling: traversal, encoded traversal, NUL, over-long keys.
pub const PATH_TRICKS: &[&str] = &["../../../etc/passwd", "%2e%2e%2f%2e%2e", "bafkrei/../..", "did:plc:x/../../", "\u{0}", "did:plc:%00", "a/b/c/d"];

/// A value of a random wrong or odd shape, nested at most 4 deep.
pub fn odd_value(rng: &mut ChaCha8Rng, depth: usize) -> Value {
    match rng.gen_range(0..12) {
        0 => Value::Null,
        1 => json!(rng.gen::<i64>()),
        2 => json!(rng.gen::<f64>() * 1e300),
        3 => json!(rng.gen::<bool>()),
        4 => json!("x".repeat(rng.gen_range(0..200_000))),
        5 => json!(PATH_TRICKS[rng.gen_range(0..PATH_TRICKS.len())]),
        6 => json!("at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/%2e%2e"),
        7 => json!("\u{0000}\u{202e}\u{fffd}é😀"),
        8 if depth < 4 => Value::Array((0..rng.gen_range(0..5)).map(|_| odd_value(rng, depth + 1)).collect()),
        9 if depth < 4 => Value::Object((0..rng.gen_range(0..5)).map(|i| (format!("k{i}"), odd_value(rng, depth + 1))).collect()),
        10 => json!("did:web:127.0.0.1%3A1"),
        _ => json!(""),
    }
}

/// JSON arrays nested `depth` deep.
pub fn nested_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Up to 4 KiB of random bytes, half of them starting like a CAR's header-length varint.
pub fn odd_bytes(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..rng.gen_range(0..4096)).map(|_| rng.gen()).collect();
    if rng.gen_bool(0.5) && !bytes.is_empty() {
        bytes[0] = 0x0a;
    }
    bytes
}

/// Query parameters named `keys` with odd values (each at most 4,000 characters, so that the
/// URL stays one a client can send).
pub fn odd_params(rng: &mut ChaCha8Rng, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter().map(|k| (k.to_string(), odd_value(rng, 3).to_string().chars().take(4000).collect())).collect()
}

/// `body` with one to five of its fields replaced by odd values.
pub fn mutate(rng: &mut ChaCha8Rng, mut body: Value) -> Value {
    let keys: Vec<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    if keys.is_empty() {
        return odd_value(rng, 0);
    }
    for _ in 0..rng.gen_range(1..6) {
        let k = &keys[rng.gen_range(0..keys.len())];
        body[k] = odd_value(rng, 0);
    }
    body
}

/// What became of one fuzz request.
pub enum Sent {
    Answered(reqwest::Response),
    /// The client could not build it (a URL past its limits): it never left.
    Unbuildable,
    /// The send failed but the server is still up: it closed a connection whose body it had
    /// refused (413) before reading it all.
    Cut,
}

/// Sends request `n`; if the send fails, `health` (a URL that answers 2xx while the server is
/// up) tells a cut connection from a server that went away, which fails the test.
pub async fn send(http: &reqwest::Client, req: reqwest::RequestBuilder, health: &str, n: usize) -> Sent {
    match req.send().await {
        Ok(resp) => Sent::Answered(resp),
        Err(e) if e.is_builder() => Sent::Unbuildable,
        Err(e) => {
            let up = http.get(health).send().await.is_ok_and(|r| r.status().is_success());
            assert!(up, "request {n}: the server went away: {}", e.without_url());
            Sent::Cut
        }
    }
}
