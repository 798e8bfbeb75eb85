//! `jetstream-bytes`: what an event costs on the wire as a CBOR firehose frame, as Jetstream
//! JSON, and as Jetstream JSON compressed with zstd, for the same events.
//!
//! A relay is fed by `loadgen world` at `rate` events/s for `seconds`, and `loadgen record`
//! records both of its outputs: `subscribeRepos` frames and the Jetstream `/subscribe` JSON.
//! Then every Jetstream message is compressed on its own with zstd, as Jetstream's
//! `compress=true` does: once without a dictionary, and once with a dictionary trained on the
//! first half of the messages and measured on the second half (held out, so the dictionary
//! has not seen what it compresses).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::Context;
use crate::defs::{Positive, Spec};
use crate::harness::World;

pub const KIND: &str = "jetstream-bytes";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub hosts: usize,
    pub accounts: usize,
    pub initial_records: u32,
    /// zstd level for the per-message compression.
    pub zstd_level: i32,
    /// Size of the trained dictionary in bytes.
    pub dictionary_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    pub rate: Positive,
    pub seconds: Positive,
    pub estimate_s: Positive,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step {
    pub firehose_frames: u64,
    pub firehose_commits: u64,
    pub firehose_bytes: u64,
    pub jetstream_messages: u64,
    pub jetstream_bytes: u64,
    /// Sum of the messages compressed one by one, without and with the dictionary (the
    /// latter over the held-out half only).
    pub jetstream_zstd_bytes: u64,
    pub jetstream_zstd_dict_messages: u64,
    pub jetstream_zstd_dict_bytes: u64,
    pub derived: Derived,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Derived {
    pub cbor_bytes_per_frame: f64,
    pub json_bytes_per_message: f64,
    pub json_zstd_bytes_per_message: f64,
    pub json_zstd_dict_bytes_per_message: f64,
    /// Jetstream messages per firehose commit (a commit with several operations is several
    /// messages).
    pub messages_per_commit: f64,
}

/// The entries of a recording (zstd of length-prefixed entries).
fn read_entries(path: &Path) -> Result<Vec<Vec<u8>>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let raw = zstd::decode_all(file).with_context(|| format!("decompressing {}", path.display()))?;
    atproto::firehose::frame_file::split(&raw).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Measures the two recordings.
pub fn measure_recordings(firehose: &[Vec<u8>], jetstream: &[Vec<u8>], level: i32, dictionary_bytes: usize) -> Result<Step> {
    let commits =
        firehose.iter().filter(|f| matches!(atproto::firehose::SubscribeReposFrame::decode(f), Ok(atproto::firehose::SubscribeReposFrame::Commit(_)))).count()
            as u64;
    let mut zstd_bytes = 0u64;
    for m in jetstream {
        zstd_bytes += zstd::bulk::compress(m, level)?.len() as u64;
    }
    let (train, held_out) = jetstream.split_at(jetstream.len() / 2);
    let dict = zstd::dict::from_samples(train, dictionary_bytes).context("training the zstd dictionary")?;
    let mut compressor = zstd::bulk::Compressor::with_dictionary(level, &dict)?;
    let mut dict_bytes = 0u64;
    for m in held_out {
        dict_bytes += compressor.compress(m)?.len() as u64;
    }
    let per = |bytes: u64, n: usize| bytes as f64 / n.max(1) as f64;
    let (firehose_bytes, jetstream_bytes) = (firehose.iter().map(|f| f.len() as u64).sum(), jetstream.iter().map(|m| m.len() as u64).sum());
    Ok(Step {
        firehose_frames: firehose.len() as u64,
        firehose_commits: commits,
        firehose_bytes,
        jetstream_messages: jetstream.len() as u64,
        jetstream_bytes,
        jetstream_zstd_bytes: zstd_bytes,
        jetstream_zstd_dict_messages: held_out.len() as u64,
        jetstream_zstd_dict_bytes: dict_bytes,
        derived: Derived {
            cbor_bytes_per_frame: per(firehose_bytes, firehose.len()),
            json_bytes_per_message: per(jetstream_bytes, jetstream.len()),
            json_zstd_bytes_per_message: per(zstd_bytes, jetstream.len()),
            json_zstd_dict_bytes_per_message: per(dict_bytes, held_out.len()),
            messages_per_commit: jetstream.len() as f64 / commits.max(1) as f64,
        },
    })
}

pub async fn run(spec: &Spec<Workload, ScaleSpec>, ctx: &Context) -> Result<()> {
    let w = &spec.workload;
    let scale = spec.scales.get(ctx.scale);
    ctx.set_workload(&serde_json::json!({ "workload": w, "scale": scale }));
    let h = &ctx.harness;
    let bar = ctx.bar(3, &spec.name);
    bar.set_message("emitting");
    let plc = h.plc("plc").await?;
    let mut relay = h.relay(&h.relay_options("relay", &plc.url())).await?;
    let (fh_file, js_file) = (h.work().join("firehose.bin.zst"), h.work().join("jetstream.bin.zst"));
    let record = |name: &str, file: &Path, jetstream: bool| {
        let mut args = vec![
            "record".to_string(),
            relay.url(),
            "--out".into(),
            file.display().to_string(),
            "--idle".into(),
            "5s".into(),
            "--duration".into(),
            "24h".into(),
        ];
        if jetstream {
            args.push("--jetstream".into());
        }
        h.loadgen(name, &args)
    };
    let (fh, js) = (record("record-firehose", &fh_file, false)?, record("record-jetstream", &js_file, true)?);
    let spec = World {
        hosts: w.hosts,
        accounts: w.accounts,
        initial_records: w.initial_records,
        rate: scale.rate.0,
        seconds: scale.seconds.0,
        seed: ctx.seed,
        plc_url: &plc.url(),
        relays: vec![relay.url()],
        warmup_s: 2.0,
        extra: vec![],
    };
    let _: serde_json::Value = h.loadgen("world", &spec.args())?.finish_watching(spec.timeout(), &mut relay, "while world fed it").await?;
    bar.inc(1);
    bar.set_message("recording");
    let _: serde_json::Value = fh.finish(Duration::from_secs(120)).await.context("recording the firehose")?;
    let _: serde_json::Value = js.finish(Duration::from_secs(120)).await.context("recording Jetstream")?;
    relay.stop(Duration::from_secs(10)).await;
    bar.inc(1);
    bar.set_message("compressing");
    let (firehose, jetstream) = (read_entries(&fh_file)?, read_entries(&js_file)?);
    if firehose.is_empty() || jetstream.len() < 8 {
        bail!("recorded {} firehose frames and {} Jetstream messages: too few to measure", firehose.len(), jetstream.len());
    }
    let (level, dict) = (w.zstd_level, w.dictionary_bytes);
    let step = tokio::task::spawn_blocking(move || measure_recordings(&firehose, &jetstream, level, dict)).await??;
    ctx.push_step(&step);
    bar.finish_and_clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_shrinks_similar_messages_beyond_plain_zstd() {
        let messages: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!(r#"{{"did":"did:plc:{i:024}","time_us":{},"kind":"commit","commit":{{"rev":"3l{i:011}","operation":"create","collection":"app.bsky.feed.like","rkey":"3l{i:011}","record":{{"$type":"app.bsky.feed.like","createdAt":"2026-12-02T12:00:00.000Z","subject":{{"cid":"bafyrei{i:052}","uri":"at://did:plc:{:024}/app.bsky.feed.post/3k{i:011}"}}}},"cid":"bafyrei{:052}"}}}}"#, 1_700_000_000_000_000u64 + i, i * 7, i * 13).into_bytes())
            .collect();
        let step = measure_recordings(&[], &messages, 3, 16 * 1024).unwrap();
        let d = &step.derived;
        assert_eq!(step.jetstream_messages, 2000);
        assert_eq!(step.jetstream_zstd_dict_messages, 1000);
        assert!(d.json_zstd_bytes_per_message < d.json_bytes_per_message, "{d:?}");
        assert!(d.json_zstd_dict_bytes_per_message < 0.7 * d.json_zstd_bytes_per_message, "{d:?}");
    }
}
