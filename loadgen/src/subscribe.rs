//! WebSocket subscriptions: building the URL of a `subscribeRepos` (or Jetstream) stream from
//! what the user typed, and connecting to it.

use futures::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

pub const SUBSCRIBE_REPOS: &str = "/xrpc/com.atproto.sync.subscribeRepos";

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("invalid stream URL {0:?}: {1}")]
    Url(String, String),
    #[error("connecting to {url}: {source}")]
    Connect { url: String, source: Box<tokio_tungstenite::tungstenite::Error> },
    #[error("reading from {url}: {source}")]
    Read { url: String, source: Box<tokio_tungstenite::tungstenite::Error> },
}

/// The stream URL for `input`: `http(s)` becomes `ws(s)`, and a bare host (empty path) gets
/// `default_path` (e.g. [`SUBSCRIBE_REPOS`]). Any existing query is kept.
pub fn stream_url(input: &str, default_path: &str) -> Result<Url, SubscribeError> {
    let with_scheme = if input.contains("://") { input.to_string() } else { format!("ws://{input}") };
    let mut url = Url::parse(&with_scheme).map_err(|e| SubscribeError::Url(input.into(), e.to_string()))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => return Err(SubscribeError::Url(input.into(), format!("unsupported scheme {other}"))),
    };
    url.set_scheme(scheme).map_err(|_| SubscribeError::Url(input.into(), "cannot set scheme".into()))?;
    if url.path().is_empty() || url.path() == "/" {
        url.set_path(default_path);
    }
    Ok(url)
}

/// `url` with `name=value` set in its query (replacing an earlier value).
pub fn with_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into(), v.into())).collect();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    if out.query() == Some("") {
        out.set_query(None);
    }
    out
}

/// An open subscription that yields the payload of every binary (and text) message.
pub struct Subscription {
    url: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A message received on a subscription.
pub enum Received {
    Binary(bytes::Bytes),
    Text(String),
}

impl Subscription {
    pub async fn connect(url: &Url) -> Result<Self, SubscribeError> {
        let (ws, _) =
            tokio_tungstenite::connect_async(url.as_str()).await.map_err(|e| SubscribeError::Connect { url: url.to_string(), source: Box::new(e) })?;
        Ok(Subscription { url: url.to_string(), ws })
    }

    /// The next data message, or `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<Received>, SubscribeError> {
        while let Some(msg) = self.ws.next().await {
            match msg.map_err(|e| SubscribeError::Read { url: self.url.clone(), source: Box::new(e) })? {
                Message::Binary(b) => return Ok(Some(Received::Binary(b))),
                Message::Text(t) => return Ok(Some(Received::Text(t.as_str().to_owned()))),
                Message::Close(_) => return Ok(None),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
        Ok(None)
    }

    /// Closes the connection politely (errors are irrelevant at that point).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(stream_url("http://127.0.0.1:9/", SUBSCRIBE_REPOS).unwrap().as_str(), "ws://127.0.0.1:9/xrpc/com.atproto.sync.subscribeRepos");
        assert_eq!(stream_url("bsky.network", SUBSCRIBE_REPOS).unwrap().as_str(), "ws://bsky.network/xrpc/com.atproto.sync.subscribeRepos");
        assert_eq!(stream_url("https://h/subscribe?wantedCollections=a", "/x").unwrap().as_str(), "wss://h/subscribe?wantedCollections=a");
        assert!(stream_url("ftp://h", SUBSCRIBE_REPOS).is_err());
        let u = stream_url("ws://h/x?cursor=1&a=b", "/").unwrap();
        assert_eq!(with_param(&u, "cursor", Some("5")).as_str(), "ws://h/x?a=b&cursor=5");
        assert_eq!(with_param(&stream_url("ws://h/x?cursor=1", "/").unwrap(), "cursor", None).as_str(), "ws://h/x");
    }
}
