//! `loadgen consume`: many subscribers to one stream, the way a relay's consumers load it.
//!
//! Opens `connections` WebSockets to one `subscribeRepos` (or Jetstream) URL, reads every
//! message and throws it away, counting messages and bytes per connection. The first
//! connection also reads each event's timestamp (`time` of a firehose frame, `time_us` of a
//! Jetstream event) and records delivery lag, receipt minus event time, in an hdrhistogram;
//! the others only count, so a hundred connections cost little more than a hundred sockets.
//! Stops after `duration`, or once every connection has been idle for `idle` after having
//! received something.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

use crate::compare::LagFigures;
use crate::subscribe::{with_param, Received, SubscribeError, Subscription};

#[derive(Debug, Clone, Serialize)]
pub struct ConsumeOptions {
    pub url: Url,
    pub connections: usize,
    pub cursor: Option<i64>,
    #[serde(with = "crate::util::secs")]
    pub duration: Duration,
    /// Stop once every connection has been quiet this long after its first message.
    #[serde(with = "crate::util::opt_secs")]
    pub idle: Option<Duration>,
    /// Jetstream JSON (text messages) rather than CBOR frames.
    pub jetstream: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionFigures {
    pub messages: u64,
    pub bytes: u64,
    /// `duration`, `idle`, `closed` (by the server) or the read error.
    pub ended_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumeFigures {
    pub connections: usize,
    pub elapsed_s: f64,
    pub messages: u64,
    pub bytes: u64,
    /// The fewest and most messages any connection received.
    pub min_messages: u64,
    pub max_messages: u64,
    /// Delivery lag seen by the first connection.
    pub lag: LagFigures,
    pub per_connection: Vec<ConnectionFigures>,
}

/// The fields of a firehose frame body or Jetstream event that carry its time.
#[derive(Deserialize)]
struct Stamp {
    time: Option<String>,
    time_us: Option<i64>,
}

/// Unix milliseconds of an event, if it has a time.
fn event_ms(msg: &Received) -> Option<i64> {
    let stamp: Stamp = match msg {
        Received::Binary(frame) => {
            let split = atproto::cbor::item_len(frame).ok()?;
            atproto::cbor::decode(&frame[split..]).ok()?
        }
        Received::Text(text) => serde_json::from_str(text).ok()?,
    };
    match (stamp.time, stamp.time_us) {
        (Some(t), _) => crate::util::rfc3339_millis(&t),
        (None, Some(us)) => Some(us / 1000),
        _ => None,
    }
}

/// Lag in milliseconds, and how many events were stamped after their receipt (clock skew,
/// recorded as zero).
struct Lag {
    hist: Histogram<u64>,
    negative: u64,
}

async fn run(url: Url, opts: ConsumeOptions, measure_lag: bool, deadline: Instant) -> (ConnectionFigures, Option<Lag>) {
    let mut f = ConnectionFigures::default();
    let mut lag = measure_lag.then(|| Lag { hist: Histogram::<u64>::new(3).expect("histogram"), negative: 0 });
    let mut sub = match Subscription::connect(&url).await {
        Ok(s) => s,
        Err(e) => {
            f.ended_by = e.to_string();
            return (f, lag);
        }
    };
    f.ended_by = loop {
        let wait = match (opts.idle, f.messages) {
            (Some(idle), n) if n > 0 => deadline.min(Instant::now() + idle),
            _ => deadline,
        };
        let msg: Result<Option<Received>, SubscribeError> = match tokio::time::timeout_at(wait, sub.next()).await {
            Ok(m) => m,
            Err(_) if wait < deadline => break "idle".into(),
            Err(_) => break "duration".into(),
        };
        match msg {
            Ok(Some(m)) => {
                f.messages += 1;
                f.bytes += match &m {
                    Received::Binary(b) => b.len(),
                    Received::Text(t) => t.len(),
                } as u64;
                if let (Some(lag), Some(ms)) = (lag.as_mut(), event_ms(&m)) {
                    let now = chrono::Utc::now().timestamp_millis();
                    if now < ms {
                        lag.negative += 1;
                    }
                    lag.hist.saturating_record(now.saturating_sub(ms).max(0) as u64);
                }
            }
            Ok(None) => break "closed".into(),
            Err(e) => break e.to_string(),
        }
    };
    sub.close().await;
    (f, lag)
}

/// Runs the subscribers until the bounds are reached.
pub async fn consume(opts: &ConsumeOptions) -> ConsumeFigures {
    let url = with_param(&opts.url, "cursor", opts.cursor.map(|c| c.to_string()).as_deref());
    let start = Instant::now();
    let deadline = start + opts.duration;
    let tasks: Vec<_> = (0..opts.connections.max(1)).map(|i| tokio::spawn(run(url.clone(), opts.clone(), i == 0, deadline))).collect();
    let mut per_connection = Vec::new();
    let mut lag = LagFigures::default();
    for t in tasks {
        let (f, l) = t.await.expect("subscriber task does not panic");
        if let Some(Lag { hist: h, negative }) = l.filter(|l| !l.hist.is_empty()) {
            lag =
                LagFigures { count: h.len(), p50_ms: Some(h.value_at_quantile(0.5)), p99_ms: Some(h.value_at_quantile(0.99)), max_ms: Some(h.max()), negative };
        }
        per_connection.push(f);
    }
    ConsumeFigures {
        connections: per_connection.len(),
        elapsed_s: start.elapsed().as_secs_f64(),
        messages: per_connection.iter().map(|c| c.messages).sum(),
        bytes: per_connection.iter().map(|c| c.bytes).sum(),
        min_messages: per_connection.iter().map(|c| c.messages).min().unwrap_or(0),
        max_messages: per_connection.iter().map(|c| c.messages).max().unwrap_or(0),
        lag,
        per_connection,
    }
}
