//! Consume: one task per `--firehose` source. It subscribes to `subscribeRepos` from the
//! source's committed cursor, decodes each frame, optionally verifies commits
//! (`--verify`, through `atproto::firehose::verify_commit` with keys from `plc::Resolver`),
//! and hands events to the writer over the bounded ingest channel, so a slow store slows
//! the socket instead of growing memory.
//!
//! The cursor is not kept here: the writer commits it with the rows each event produced.
//! After a disconnect the task resumes after the last event it handed over (everything
//! before it is in the channel or committed); after a restart, from the store.

use std::sync::Arc;
use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite_axum::tungstenite::Message;
use url::Url;

use crate::ingest::Input;

/// A firehose to index: a relay or a PDS.
#[derive(Debug, Clone)]
pub struct Source {
    /// As the operator gave it; the key its cursor is stored under.
    pub name: String,
    pub url: Url,
}

impl Source {
    /// `http(s)://host`, `ws(s)://host` or a bare host; the `subscribeRepos` path is added when
    /// the URL has none.
    pub fn parse(input: &str) -> Result<Source, String> {
        let with_scheme = if input.contains("://") { input.to_owned() } else { format!("wss://{input}") };
        let mut url = Url::parse(&with_scheme).map_err(|e| format!("{input}: {e}"))?;
        let scheme = match url.scheme() {
            "http" | "ws" => "ws",
            "https" | "wss" => "wss",
            other => return Err(format!("{input}: unsupported scheme {other}")),
        };
        url.set_scheme(scheme).map_err(|_| format!("{input}: cannot use scheme {scheme}"))?;
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/xrpc/com.atproto.sync.subscribeRepos");
        }
        Ok(Source { name: input.to_owned(), url })
    }

    fn url_from(&self, cursor: Option<i64>) -> Url {
        let mut url = self.url.clone();
        let kept: Vec<(String, String)> = url.query_pairs().filter(|(k, _)| k != "cursor").map(|(k, v)| (k.into(), v.into())).collect();
        url.set_query(None);
        if !kept.is_empty() || cursor.is_some() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            if let Some(c) = cursor {
                q.append_pair("cursor", &c.to_string());
            }
        }
        url
    }
}

/// Verifies commits against their accounts' keys.
pub struct Verifier {
    pub resolver: Arc<plc::Resolver>,
}

impl Verifier {
    /// `Ok(true)` if the event may be indexed, `Ok(false)` if it fails verification (it is
    /// counted and skipped), `Err` if the key could not be fetched for now (retried).
    async fn check(&self, frame: &SubscribeReposFrame) -> Result<bool, plc::ResolveError> {
        let SubscribeReposFrame::Commit(ev) = frame else { return Ok(true) };
        let key = match self.resolver.signing_key(&ev.repo).await {
            Ok(k) => k,
            Err(e) if e.is_definitive() => {
                metrics::counter!("indexer_events_rejected_total", "reason" => "no_key").increment(1);
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let ev = ev.clone();
        let verified = tokio::task::spawn_blocking(move || atproto::firehose::verify_commit(&ev, &key).map(|_| ())).await;
        match verified {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "commit failed verification; skipped");
                metrics::counter!("indexer_events_rejected_total", "reason" => "verify").increment(1);
                Ok(false)
            }
            Err(_) => Ok(false),
        }
    }
}

/// Runs one source until the channel closes: connect, read, reconnect with backoff.
pub async fn run(index: usize, source: Source, mut cursor: Option<i64>, tx: mpsc::Sender<Input>, verifier: Option<Arc<Verifier>>) {
    let label = source.name.clone();
    let mut backoff = Duration::from_millis(250);
    loop {
        let url = source.url_from(cursor);
        tracing::info!(source = %label, cursor, "connecting");
        match tokio_tungstenite_axum::connect_async(url.as_str()).await {
            Err(e) => {
                tracing::warn!(source = %label, error = %e, "connect failed");
                metrics::counter!("indexer_source_errors_total", "source" => label.clone(), "kind" => "connect").increment(1);
            }
            Ok((mut ws, _)) => {
                backoff = Duration::from_millis(250);
                while let Some(msg) = ws.next().await {
                    let bytes = match msg {
                        Ok(Message::Binary(b)) => b,
                        Ok(Message::Close(_)) => break,
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(source = %label, error = %e, "read failed");
                            metrics::counter!("indexer_source_errors_total", "source" => label.clone(), "kind" => "read").increment(1);
                            break;
                        }
                    };
                    metrics::counter!("indexer_source_bytes_total", "source" => label.clone()).increment(bytes.len() as u64);
                    let frame = match SubscribeReposFrame::decode(&bytes) {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(source = %label, error = %e, "undecodable frame; skipped");
                            metrics::counter!("indexer_frames_invalid_total", "source" => label.clone()).increment(1);
                            continue;
                        }
                    };
                    if let SubscribeReposFrame::Error(err) = &frame {
                        tracing::error!(source = %label, error = %err.error, message = ?err.message, "the source refused the subscription");
                        metrics::counter!("indexer_source_errors_total", "source" => label.clone(), "kind" => "error_frame").increment(1);
                        break;
                    }
                    let seq = frame.seq();
                    let mut ok = true;
                    if let Some(v) = &verifier {
                        ok = loop {
                            match v.check(&frame).await {
                                Ok(ok) => break ok,
                                Err(e) => {
                                    tracing::warn!(source = %label, error = %e, "key lookup failed; retrying");
                                    tokio::time::sleep(Duration::from_secs(1)).await;
                                }
                            }
                        };
                    }
                    let input = if ok { Input::Frame { source: index, frame: Box::new(frame) } } else { Input::Skipped { source: index, seq } };
                    if tx.send(input).await.is_err() {
                        return;
                    }
                    if let Some(seq) = seq {
                        cursor = Some(seq);
                    }
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls_gain_the_path_and_the_cursor() {
        let s = Source::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(s.url.as_str(), "ws://127.0.0.1:9/xrpc/com.atproto.sync.subscribeRepos");
        assert_eq!(s.url_from(Some(5)).as_str(), "ws://127.0.0.1:9/xrpc/com.atproto.sync.subscribeRepos?cursor=5");
        assert_eq!(Source::parse("bsky.network").unwrap().url.scheme(), "wss");
        assert!(Source::parse("ftp://x").is_err());
    }
}
