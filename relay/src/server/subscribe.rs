//! The Jetstream-style `/subscribe` WebSocket: the relay's events as JSON text messages (or
//! zstd-compressed binary messages with `compress=true`), filtered by `wantedCollections`
//! and `wantedDids` (repeatable), starting at `cursor` (µs since the epoch, the `time_us` of
//! events; absent or in the future means live). Slow consumers are handled as on
//! `subscribeRepos`.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};

use crate::jetstream::{convert, Filter};
use crate::relay::Relay;

const BATCH: usize = 256;
const MAX_WANTED: usize = 10_000;

struct Params {
    filter: Filter,
    cursor: Option<u64>,
    compress: bool,
}

fn parse(query: Option<&str>) -> Result<Params, atproto::xrpc::XrpcError> {
    let mut p = Params { filter: Filter::default(), cursor: None, compress: false };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "wantedCollections" => p.filter.collections.push(v.into_owned()),
            "wantedDids" => p.filter.dids.push(v.into_owned()),
            "cursor" => p.cursor = Some(v.parse().map_err(|_| atproto::xrpc::XrpcError::invalid_request("cursor must be an integer (µs)"))?),
            "compress" => p.compress = v == "true",
            _ => {}
        }
    }
    if p.filter.collections.len() > MAX_WANTED || p.filter.dids.len() > MAX_WANTED {
        return Err(atproto::xrpc::XrpcError::invalid_request("too many wanted collections or DIDs"));
    }
    Ok(p)
}

pub async fn subscribe(State(relay): State<Arc<Relay>>, RawQuery(q): RawQuery, ws: WebSocketUpgrade) -> Response {
    match parse(q.as_deref()) {
        Ok(p) => ws.max_write_buffer_size(super::firehose::MAX_WRITE_BUFFER).on_upgrade(move |s| serve(relay, s, p)),
        Err(e) => e.into_response(),
    }
}

async fn serve(relay: Arc<Relay>, socket: WebSocket, p: Params) {
    let (mut sink, stream) = socket.split();
    let head = relay.log.head();
    let mut pos = match p.cursor {
        None => head,
        Some(us) => match relay.log.store().seq_at_or_after_time(us) {
            Ok(Some(seq)) => seq - 1,
            Ok(None) => head,
            Err(_) => return,
        },
    };
    let mut compressor = if p.compress { zstd::bulk::Compressor::new(3).ok() } else { None };
    let mut head_rx = relay.log.subscribe();
    let mut closed_rx = super::closed(stream);
    let timeout = relay.config.consumer_send_timeout;
    loop {
        head_rx.borrow_and_update();
        loop {
            let head = relay.log.head();
            if pos >= head {
                break;
            }
            // Jetstream has no error frame: a consumer too slow (or whose next events were
            // pruned while it read) is closed.
            let batch = match atproto::firehose::cursor::too_slow(relay.log.behind(pos), pos, relay.log.first(), relay.config.max_consumer_lag) {
                false => relay.log.read_after(pos, BATCH),
                true => Ok(Vec::new()),
            };
            let Ok(batch) = batch else { return };
            if batch.is_empty() || super::firehose::pruned_under(&relay.log, pos) {
                let _ = sink.send(Message::Close(None)).await;
                metrics::counter!("relay_consumers_too_slow_total").increment(1);
                return;
            }
            for ev in batch {
                for js in convert(&ev).into_iter().filter(|e| p.filter.matches(e)) {
                    let text = serde_json::to_string(&js).expect("event serializes");
                    let msg = match compressor.as_mut() {
                        Some(c) => match c.compress(text.as_bytes()) {
                            Ok(b) => Message::Binary(b.into()),
                            Err(_) => return,
                        },
                        None => Message::Text(text.into()),
                    };
                    match tokio::time::timeout(timeout, sink.send(msg)).await {
                        Ok(Ok(())) => {}
                        _ => return,
                    }
                    metrics::counter!("relay_jetstream_events_out_total").increment(1);
                }
                pos = ev.seq;
            }
        }
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return },
            _ = &mut closed_rx => return,
        }
    }
}
