//! `loadgen read`: concurrent app.bsky reads against an AppView, the way a client population
//! loads it, with latency histograms per method.
//!
//! The accounts come from a world's accounts file ([`crate::accounts_file`]). Every account is
//! first asked of the AppView with `getProfiles`: those it knows (an account that never wrote
//! is unknown to an AppView, and reading it would measure a `NotFound`) are the actors to read
//! (`getProfile`, `getAuthorFeed`), and those that follow the most are the timeline viewers, each with a service-auth
//! token signed by its own key, as a PDS proxy would send it. `searchPosts` queries are drawn
//! from the vocabulary world writes posts with ([`crate::world::records::WORDS`]): one word,
//! two words, a quoted phrase, and a word `from:` an author.
//!
//! Methods run one after another, each for `duration` with `clients` concurrent loops (a
//! closed loop: each client sends its next request when the last one is answered), so each
//! method's percentiles are its own. Latency is from sending to the last byte of the body.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

use crate::accounts_file::AccountKey;

/// The methods the driver reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Method {
    #[serde(rename = "app.bsky.actor.getProfile")]
    #[value(name = "getProfile")]
    GetProfile,
    #[serde(rename = "app.bsky.feed.getAuthorFeed")]
    #[value(name = "getAuthorFeed")]
    GetAuthorFeed,
    #[serde(rename = "app.bsky.feed.getTimeline")]
    #[value(name = "getTimeline")]
    GetTimeline,
    #[serde(rename = "app.bsky.feed.searchPosts")]
    #[value(name = "searchPosts")]
    SearchPosts,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::GetProfile, Method::GetAuthorFeed, Method::GetTimeline, Method::SearchPosts];

    pub fn nsid(self) -> &'static str {
        match self {
            Method::GetProfile => "app.bsky.actor.getProfile",
            Method::GetAuthorFeed => "app.bsky.feed.getAuthorFeed",
            Method::GetTimeline => "app.bsky.feed.getTimeline",
            Method::SearchPosts => "app.bsky.feed.searchPosts",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadOptions {
    /// The AppView's base URL.
    pub target: Url,
    /// The AppView's DID: the audience of the viewers' service-auth tokens.
    pub audience: String,
    pub methods: Vec<Method>,
    pub clients: usize,
    /// How long each method is read.
    #[serde(with = "crate::util::secs")]
    pub duration: Duration,
    /// Timeline viewers: this many of the accounts that follow the most.
    pub viewers: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyFigures {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodFigures {
    pub method: Method,
    pub requests: u64,
    /// Answers that were not 200, by status (`503`) or client error (`timeout`, `connect`).
    pub errors: BTreeMap<String, u64>,
    pub requests_per_s: f64,
    /// Of the successful requests.
    pub latency: Option<LatencyFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadFigures {
    pub clients: usize,
    /// Accounts the AppView knows: the actors read.
    pub accounts: usize,
    /// Accounts of the file the AppView does not know (never read).
    #[serde(default)]
    pub unknown_accounts: usize,
    /// How many accounts each timeline viewer follows, per the AppView.
    pub viewer_follows: Vec<u64>,
    pub methods: Vec<MethodFigures>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no accounts to read (none in the file, or none the AppView knows)")]
    NoAccounts,
    #[error("getProfiles at {url}: {message}")]
    Profiles { url: String, message: String },
}

/// What one request is about.
enum Target<'a> {
    Actor(&'a str),
    Viewer(&'a str),
    Query(String),
}

/// A search query from world's vocabulary, in one of the shapes people type.
fn search_query(rng: &mut impl Rng, accounts: &[AccountKey]) -> String {
    let words = crate::world::records::WORDS;
    let shape = rng.gen_range(0..4);
    let author = &accounts[rng.gen_range(0..accounts.len())].handle;
    let mut word = || words[rng.gen_range(0..words.len())];
    match shape {
        0 => word().to_string(),
        1 => format!("{} {}", word(), word()),
        2 => format!("\"{} {}\"", word(), word()),
        _ => format!("from:{author} {}", word()),
    }
}

#[derive(Deserialize)]
struct Profiles {
    profiles: Vec<ProfileCounts>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileCounts {
    did: String,
    #[serde(default)]
    follows_count: u64,
}

/// The accounts the AppView knows, as `(index in accounts, follows count)`, asked with
/// `getProfiles` 25 at a time, 8 requests in flight.
async fn known_accounts(client: &reqwest::Client, opts: &ReadOptions, accounts: &[AccountKey]) -> Result<Vec<(usize, u64)>, ReadError> {
    use futures::{StreamExt, TryStreamExt};
    let url = xrpc_url(&opts.target, "app.bsky.actor.getProfiles");
    let index: BTreeMap<&str, usize> = accounts.iter().enumerate().map(|(i, a)| (a.did.as_str(), i)).collect();
    let pages: Vec<Profiles> = futures::stream::iter(accounts.chunks(25))
        .map(|chunk| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let fail = |message: String| ReadError::Profiles { url: url.to_string(), message };
                let query: Vec<(&str, &str)> = chunk.iter().map(|a| ("actors", a.did.as_str())).collect();
                let resp = client.get(url.clone()).query(&query).send().await.map_err(|e| fail(e.to_string()))?;
                if !resp.status().is_success() {
                    let status = resp.status();
                    return Err(fail(format!("HTTP {status}: {}", resp.text().await.unwrap_or_default())));
                }
                resp.json::<Profiles>().await.map_err(|e| fail(e.to_string()))
            }
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut known: Vec<(usize, u64)> =
        pages.into_iter().flat_map(|p| p.profiles).filter_map(|p| Some((*index.get(p.did.as_str())?, p.follows_count))).collect();
    known.sort_unstable();
    known.dedup_by_key(|k| k.0);
    Ok(known)
}

/// The `n` accounts following the most (ties by file order).
fn top_followers(known: &[(usize, u64)], n: usize) -> Vec<(usize, u64)> {
    let mut counts = known.to_vec();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.truncate(n.max(1));
    counts
}

/// `<target>/xrpc/<nsid>`.
fn xrpc_url(target: &Url, nsid: &str) -> Url {
    let mut url = target.clone();
    url.set_path(&format!("/xrpc/{nsid}"));
    url
}

fn figures_of(h: &Histogram<u64>) -> LatencyFigures {
    let ms = |us: u64| us as f64 / 1000.0;
    LatencyFigures {
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
    }
}

/// Reads every method in turn; `on_request` is called after each request (progress).
pub async fn run(opts: &ReadOptions, accounts: &[AccountKey], on_request: impl Fn() + Clone + Send + 'static) -> Result<ReadFigures, ReadError> {
    if accounts.is_empty() {
        return Err(ReadError::NoAccounts);
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.clients)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ReadError::Profiles { url: opts.target.to_string(), message: e.to_string() })?;
    let known = known_accounts(&client, opts, accounts).await?;
    if known.is_empty() {
        return Err(ReadError::NoAccounts);
    }
    let viewers = if opts.methods.contains(&Method::GetTimeline) { top_followers(&known, opts.viewers) } else { Vec::new() };
    // One token per viewer, valid for the whole run.
    let exp = chrono::Utc::now().timestamp() as u64 + opts.duration.as_secs() * opts.methods.len() as u64 + 600;
    let tokens: Vec<String> = viewers
        .iter()
        .map(|&(i, _)| {
            let claims = atproto::service_auth::Claims {
                iss: accounts[i].did.clone(),
                aud: opts.audience.clone(),
                exp,
                iat: None,
                lxm: Some(Method::GetTimeline.nsid().into()),
                jti: None,
            };
            atproto::service_auth::sign(&accounts[i].key, &claims)
        })
        .collect();
    let dids: std::sync::Arc<Vec<String>> = std::sync::Arc::new(known.iter().map(|&(i, _)| accounts[i].did.clone()).collect());
    let mut methods = Vec::new();
    for (m_index, &method) in opts.methods.iter().enumerate() {
        if method == Method::GetTimeline && tokens.is_empty() {
            continue;
        }
        let url = xrpc_url(&opts.target, method.nsid());
        let started = Instant::now();
        let deadline = started + opts.duration;
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..opts.clients {
            let (client, url, on_request, tokens, dids) = (client.clone(), url.clone(), on_request.clone(), tokens.clone(), dids.clone());
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ ((m_index as u64) << 32) ^ c as u64);
            let queries: Vec<String> = (0..256).map(|_| search_query(&mut rng, accounts)).collect();
            tasks.spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                let mut errors: BTreeMap<String, u64> = BTreeMap::new();
                let mut requests = 0u64;
                while Instant::now() < deadline {
                    let target = match method {
                        Method::GetProfile | Method::GetAuthorFeed => Target::Actor(&dids[rng.gen_range(0..dids.len())]),
                        Method::GetTimeline => Target::Viewer(&tokens[rng.gen_range(0..tokens.len())]),
                        Method::SearchPosts => Target::Query(queries[rng.gen_range(0..queries.len())].clone()),
                    };
                    let req = match target {
                        Target::Actor(did) if method == Method::GetProfile => client.get(url.clone()).query(&[("actor", did)]),
                        Target::Actor(did) => client.get(url.clone()).query(&[("actor", did), ("limit", "30")]),
                        Target::Viewer(token) => client.get(url.clone()).query(&[("limit", "30")]).bearer_auth(token),
                        Target::Query(q) => client.get(url.clone()).query(&[("q", q.as_str()), ("limit", "25")]),
                    };
                    let sent = Instant::now();
                    let outcome = match req.send().await {
                        Ok(resp) if resp.status().is_success() => {
                            resp.bytes().await.map(|_| ()).map_err(|e| if e.is_timeout() { "timeout".to_string() } else { "body".to_string() })
                        }
                        Ok(resp) => Err(resp.status().as_u16().to_string()),
                        Err(e) => Err(if e.is_timeout() {
                            "timeout".into()
                        } else if e.is_connect() {
                            "connect".into()
                        } else {
                            "request".into()
                        }),
                    };
                    requests += 1;
                    match outcome {
                        Ok(()) => h.saturating_record(sent.elapsed().as_micros() as u64),
                        Err(kind) => *errors.entry(kind).or_default() += 1,
                    }
                    on_request();
                }
                (h, errors, requests)
            });
        }
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
        let (mut errors, mut requests) = (BTreeMap::new(), 0u64);
        while let Some(done) = tasks.join_next().await {
            let (th, te, tr) = done.expect("read clients do not panic");
            h.add(&th).expect("same bounds");
            for (k, v) in te {
                *errors.entry(k).or_default() += v;
            }
            requests += tr;
        }
        let elapsed = started.elapsed().as_secs_f64();
        methods.push(MethodFigures {
            method,
            requests,
            errors,
            requests_per_s: requests as f64 / elapsed.max(1e-9),
            latency: (!h.is_empty()).then(|| figures_of(&h)),
        });
    }
    Ok(ReadFigures {
        clients: opts.clients,
        accounts: known.len(),
        unknown_accounts: accounts.len() - known.len(),
        viewer_follows: viewers.iter().map(|v| v.1).collect(),
        methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_use_the_vocabulary_and_every_shape() {
        let accounts =
            vec![AccountKey { did: "did:plc:a".into(), handle: "a.test".into(), key: atproto::keys::Keypair::generate(atproto::keys::KeyType::K256) }];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let qs: Vec<String> = (0..200).map(|_| search_query(&mut rng, &accounts)).collect();
        assert!(qs.iter().any(|q| q.starts_with("from:a.test ")));
        assert!(qs.iter().any(|q| q.starts_with('"')));
        let words = crate::world::records::WORDS;
        for q in &qs {
            for w in q.trim_start_matches("from:a.test").split([' ', '"']).filter(|w| !w.is_empty()) {
                assert!(words.contains(&w), "{q}");
            }
        }
    }
}
