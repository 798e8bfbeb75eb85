//! Backfill: whole repositories through `com.atproto.sync.getRepo`, for accounts listed by a
//! relay's or PDS's `listRepos` and for every `#sync` event (a repository to re-fetch).
//!
//! Each DID is queued durably in the store first (`backfill_queue`), so a restart resumes the
//! work. A fetcher takes a DID, tells the writer it is starting (from then on the writer holds
//! that account's live events), fetches the repository from the PDS its DID document names
//! (through the SSRF-guarded client), and hands the CAR to the writer. The writer replaces the
//! account's records with the repository's in one batch, sets its rev, dequeues it, and then
//! applies the held events: those at or below the repository's rev are replays and change
//! nothing, so backfill joins the live stream without a gap or a double count. Fetches run a
//! few at a time and repositories are capped in size, which bounds memory.

use std::sync::Arc;
use std::time::Duration;

use atproto::car::CarLimits;
use tokio::sync::{mpsc, Semaphore};

use crate::ingest::Input;

/// Repositories fetched at once.
pub const CONCURRENCY: usize = 4;
/// The largest repository accepted (bytes of CAR).
pub const MAX_REPO_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("listRepos from {0}: {1}")]
    List(String, String),
    #[error("resolving {0}: {1}")]
    Resolve(String, plc::ResolveError),
    #[error("{0} names no PDS")]
    NoPds(String),
    #[error("getRepo {0}: {1}")]
    Fetch(String, String),
}

/// Fetches repositories for the writer.
pub struct Backfiller {
    pub http: reqwest::Client,
    pub resolver: Arc<plc::Resolver>,
    pub tx: mpsc::Sender<Input>,
}

#[derive(serde::Deserialize)]
struct ListRepos {
    cursor: Option<String>,
    repos: Vec<ListedRepo>,
}

#[derive(serde::Deserialize)]
struct ListedRepo {
    did: String,
}

impl Backfiller {
    /// Every DID `listRepos` at `host` names, page by page.
    pub async fn list_repos(&self, host: &str) -> Result<Vec<String>, BackfillError> {
        let base = host.trim_end_matches('/');
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self.http.get(format!("{base}/xrpc/com.atproto.sync.listRepos")).query(&[("limit", "1000")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let resp = req.send().await.map_err(|e| BackfillError::List(host.into(), e.to_string()))?;
            if !resp.status().is_success() {
                return Err(BackfillError::List(host.into(), format!("HTTP {}", resp.status())));
            }
            let page: ListRepos = resp.json().await.map_err(|e| BackfillError::List(host.into(), e.to_string()))?;
            let empty = page.repos.is_empty();
            out.extend(page.repos.into_iter().map(|r| r.did));
            match page.cursor {
                Some(c) if !empty => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// The repository of `did`, from the PDS its DID document names.
    async fn fetch(&self, did: &str) -> Result<bytes::Bytes, BackfillError> {
        let doc = self.resolver.resolve(did).await.map_err(|e| BackfillError::Resolve(did.into(), e))?;
        let pds = doc.pds_endpoint().ok_or_else(|| BackfillError::NoPds(did.into()))?.trim_end_matches('/').to_owned();
        let resp = self
            .http
            .get(format!("{pds}/xrpc/com.atproto.sync.getRepo"))
            .query(&[("did", did)])
            .send()
            .await
            .map_err(|e| BackfillError::Fetch(did.into(), e.to_string()))?;
        if !resp.status().is_success() {
            return Err(BackfillError::Fetch(did.into(), format!("HTTP {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > MAX_REPO_BYTES) {
            return Err(BackfillError::Fetch(did.into(), format!("larger than {MAX_REPO_BYTES} bytes")));
        }
        let body = resp.bytes().await.map_err(|e| BackfillError::Fetch(did.into(), e.to_string()))?;
        if body.len() as u64 > MAX_REPO_BYTES {
            return Err(BackfillError::Fetch(did.into(), format!("larger than {MAX_REPO_BYTES} bytes")));
        }
        Ok(body)
    }

    /// Backfills one DID: start, fetch (retrying outages a few times), hand over. A fetch
    /// that fails for good is reported to the writer, which dequeues the DID and releases its
    /// held events.
    pub async fn one(&self, did: String) {
        if self.tx.send(Input::BackfillStart { did: did.clone() }).await.is_err() {
            return;
        }
        let mut wait = Duration::from_millis(500);
        let mut result = self.fetch(&did).await;
        for _ in 0..3 {
            match &result {
                Err(BackfillError::Fetch(..) | BackfillError::Resolve(..)) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    result = self.fetch(&did).await;
                }
                _ => break,
            }
        }
        let input = match result {
            Ok(car) => {
                metrics::counter!("indexer_backfill_repos_total", "outcome" => "fetched").increment(1);
                Input::Repo { did, car }
            }
            Err(e) => {
                tracing::warn!(error = %e, "backfill failed; the account keeps its live state");
                metrics::counter!("indexer_backfill_repos_total", "outcome" => "failed").increment(1);
                Input::RepoFailed { did }
            }
        };
        let _ = self.tx.send(input).await;
    }

    /// Runs the DIDs sent on `rx` (and those left in the store's queue), a few at a time.
    /// The fetches belong to this task: aborting it aborts them (so shutdown never waits on
    /// a slow PDS, and no sender of the ingest channel outlives it).
    pub async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<String>, backlog: Vec<String>) {
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut fetches = tokio::task::JoinSet::new();
        let mut pending = backlog.into_iter();
        loop {
            while fetches.try_join_next().is_some() {}
            let did = match pending.next() {
                Some(d) => d,
                None => match rx.recv().await {
                    Some(d) => d,
                    None => break,
                },
            };
            let Ok(permit) = limit.clone().acquire_owned().await else { break };
            let me = self.clone();
            fetches.spawn(async move {
                let _permit = permit;
                me.one(did).await;
            });
        }
        while fetches.join_next().await.is_some() {}
    }
}

/// A repository's commit rev and its records as `(collection, rkey, cid, bytes)`.
pub type RepoRecords = (String, Vec<(String, String, atproto::Cid, bytes::Bytes)>);

/// The records of a repository CAR.
pub fn repo_records(car: &[u8]) -> Result<RepoRecords, String> {
    use atproto::blockstore::BlockStore;
    let limits = CarLimits { max_bytes: MAX_REPO_BYTES, ..CarLimits::default() };
    let mut repo = atproto::repo::Repo::from_car(car, limits).map_err(|e| e.to_string())?;
    let rev = repo.commit.rev.clone();
    let mut out = Vec::new();
    for (path, cid) in repo.records().map_err(|e| e.to_string())? {
        let Some((coll, rkey)) = path.split_once('/') else { continue };
        let bytes = repo.store().get(&cid).map_err(|e| e.to_string())?.ok_or_else(|| format!("record block {cid} is missing"))?;
        out.push((coll.to_owned(), rkey.to_owned(), cid, bytes));
    }
    Ok((rev, out))
}
