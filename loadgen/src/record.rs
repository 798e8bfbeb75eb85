//! `loadgen record`: subscribe to any `subscribeRepos` stream (a PDS, a relay, a replay) and
//! write every frame, byte for byte, to a frame file, until a duration passes, a number of
//! events arrives, or the server closes the stream. With `jetstream`, the stream is Jetstream
//! JSON and each text message is stored, byte for byte, as one entry of the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use atproto::firehose::SubscribeReposFrame;
use indicatif::ProgressBar;
use serde::Serialize;
use url::Url;

use crate::framefile::{FrameFileError, FrameWriter};
use crate::subscribe::{with_param, Received, SubscribeError, Subscription};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    #[error(transparent)]
    File(#[from] FrameFileError),
    #[error("{0} sent a text message; subscribeRepos frames are binary (record Jetstream with --jetstream)")]
    TextMessage(String),
    #[error("{0} sent a binary message; Jetstream events are JSON text")]
    BinaryMessage(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordOptions {
    /// The stream URL (see [`crate::subscribe::stream_url`]).
    pub url: Url,
    pub cursor: Option<i64>,
    #[serde(with = "crate::util::opt_secs")]
    pub duration: Option<Duration>,
    pub max_events: Option<u64>,
    /// Stop once the stream has been quiet this long after its first frame.
    #[serde(with = "crate::util::opt_secs")]
    pub idle: Option<Duration>,
    pub out: PathBuf,
    /// The stream is Jetstream JSON rather than CBOR frames.
    pub jetstream: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordFigures {
    pub frames: u64,
    pub frame_bytes: u64,
    pub file_bytes: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Frames by message type (`#commit`…, `error` for error frames, `undecodable`).
    pub kinds: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub frames_per_s: f64,
    /// `duration`, `max-events`, `idle` or `closed` (the server ended the stream).
    pub ended_by: &'static str,
}

/// Records until one of the bounds is reached. Frames are written exactly as received.
pub async fn record(opts: &RecordOptions, progress: &ProgressBar) -> Result<RecordFigures, RecordError> {
    let url = with_param(&opts.url, "cursor", opts.cursor.map(|c| c.to_string()).as_deref());
    let mut sub = Subscription::connect(&url).await?;
    let mut writer = FrameWriter::create(&opts.out)?;
    let start = Instant::now();
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let mut kinds = BTreeMap::new();
    let (mut first_seq, mut last_seq) = (None, None);
    let ended_by = loop {
        if opts.max_events.is_some_and(|max| writer.frames() >= max) {
            break "max-events";
        }
        let quiet_until = opts.idle.filter(|_| writer.frames() > 0).map(|i| tokio::time::Instant::now() + i);
        let wait = match (deadline, quiet_until) {
            (Some(d), Some(q)) => Some(d.min(q)),
            (d, q) => d.or(q),
        };
        let next = match wait {
            Some(w) => match tokio::time::timeout_at(w, sub.next()).await {
                Ok(next) => next?,
                Err(_) if deadline == Some(w) => break "duration",
                Err(_) => break "idle",
            },
            None => sub.next().await?,
        };
        let frame = match next {
            None => break "closed",
            Some(Received::Text(text)) if opts.jetstream => {
                writer.write(text.as_bytes())?;
                #[derive(serde::Deserialize)]
                struct Kind {
                    kind: String,
                }
                let kind = serde_json::from_str::<Kind>(&text).map(|k| k.kind).unwrap_or_else(|_| "undecodable".into());
                *kinds.entry(kind).or_insert(0u64) += 1;
                progress.inc(1);
                continue;
            }
            Some(Received::Text(_)) => return Err(RecordError::TextMessage(url.to_string())),
            Some(Received::Binary(_)) if opts.jetstream => return Err(RecordError::BinaryMessage(url.to_string())),
            Some(Received::Binary(b)) => b,
        };
        writer.write(&frame)?;
        let kind = match SubscribeReposFrame::decode(&frame) {
            Ok(f) => {
                if let Some(seq) = f.seq() {
                    first_seq.get_or_insert(seq);
                    last_seq = Some(seq);
                }
                f.kind().unwrap_or("error").to_string()
            }
            Err(_) => "undecodable".to_string(),
        };
        *kinds.entry(kind).or_insert(0u64) += 1;
        progress.inc(1);
    };
    sub.close().await;
    let (frames, frame_bytes) = (writer.frames(), writer.frame_bytes());
    writer.finish()?;
    let file_bytes = std::fs::metadata(&opts.out).map(|m| m.len()).unwrap_or(0);
    let elapsed_s = start.elapsed().as_secs_f64();
    Ok(RecordFigures { frames, frame_bytes, file_bytes, first_seq, last_seq, kinds, elapsed_s, frames_per_s: frames as f64 / elapsed_s.max(1e-9), ended_by })
}
