//! `experiments report`: what a results folder says, as tables a person reads.
//!
//! - one table per experiment, of the figures each step measured;
//! - the validity table: published figures beside Sonde's measurement under the published
//!   workload, with the ratio, and why a row differs by more than ±30%;
//! - with a second folder, the headline figures of both side by side (a local run beside the
//!   reference results);
//! - the cost table;
//! - the figures ([`figures`]).

pub mod figures;

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::cost::data::{Figure, Network};
use crate::cost::measured::Measured;
use crate::cost::table::{aligned, Table};

/// Rows within this ratio of the published figure agree.
pub const TOLERANCE: f64 = 0.30;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub folder: PathBuf,
    pub tables: Vec<Section>,
    pub validity: Vec<Validity>,
    pub comparison: Option<Comparison>,
    pub cost: Table,
}

/// A titled table.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validity {
    pub figure: String,
    pub unit: String,
    pub published: f64,
    pub source: String,
    /// Ours, under the published workload, and how it was computed.
    pub measured: Option<f64>,
    pub basis: String,
    pub ratio: Option<f64>,
    pub within: bool,
    /// Why the row differs by more than the tolerance, or why it could not be computed.
    pub why: Option<String>,
}

/// Metric, this folder's value, the reference's, and the ratio.
pub type ComparisonRow = (String, Option<f64>, Option<f64>, Option<f64>);

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub reference: PathBuf,
    pub rows: Vec<ComparisonRow>,
}

impl Report {
    pub fn build(here: &Measured, reference: Option<&Measured>, network: &Network, cost: Table) -> Result<Report> {
        let comparison = reference.map(|r| {
            let mine = headlines(here);
            let theirs = headlines(r);
            // Every metric either side has, in first-seen order.
            let mut seen = std::collections::BTreeSet::new();
            let rows = mine
                .iter()
                .chain(theirs.iter())
                .map(|(n, _)| n)
                .filter(|n| seen.insert(*n))
                .map(|n| {
                    let a = mine.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
                    let b = theirs.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
                    let ratio = a.zip(b).filter(|(_, b)| *b != 0.0).map(|(a, b)| a / b);
                    (n.clone(), a, b, ratio)
                })
                .collect();
            Comparison { reference: r.folder.clone(), rows }
        });
        Ok(Report { folder: here.folder.clone(), tables: sections(here), validity: validity(here, network), comparison, cost })
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("Results in {}\n", self.folder.display());
        for s in &self.tables {
            out.push_str(&format!("\n{}\n", s.title));
            let mut lines = vec![s.header.clone()];
            lines.extend(s.rows.iter().cloned());
            out.push_str(&aligned(&lines));
        }
        out.push_str("\nValidity: published figures beside ours under the published workload (agreement within ±30%)\n");
        let mut lines = vec![["figure", "published", "ours", "ratio", "verdict"].map(String::from).to_vec()];
        for v in &self.validity {
            lines.push(vec![
                v.figure.clone(),
                format!("{} {}", number(v.published), v.unit),
                v.measured.map(|m| format!("{} {}", number(m), v.unit)).unwrap_or_else(|| "not measured".into()),
                v.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
                if v.within { "agrees".into() } else { "differs (see below)".into() },
            ]);
        }
        out.push_str(&aligned(&lines));
        for v in &self.validity {
            out.push_str(&format!("  {}: ours = {}; published: {}\n", v.figure, v.basis, v.source));
            if let Some(why) = &v.why {
                out.push_str(&format!("    why it differs: {why}\n"));
            }
        }
        if let Some(c) = &self.comparison {
            out.push_str(&format!("\nBeside {}\n", c.reference.display()));
            let mut lines = vec![["metric", "here", "reference", "ratio"].map(String::from).to_vec()];
            for (name, a, b, r) in &c.rows {
                let f = |v: &Option<f64>| v.map(number).unwrap_or_else(|| "—".into());
                lines.push(vec![name.clone(), f(a), f(b), r.map(|r| format!("{r:.2}")).unwrap_or_default()]);
            }
            out.push_str(&aligned(&lines));
        }
        out.push_str("\nWhat it costs per month\n");
        out.push_str(&self.cost.to_text());
        out
    }
}

/// A number with three significant figures, grouped when large.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        crate::cost::model::thousands(v)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn mb(bytes: f64) -> String {
    format!("{:.1}", bytes / 1e6)
}

fn sections(m: &Measured) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(r) = &m.pds {
        out.push(Section {
            title: format!("pds-members ({} scale)", r.scale.name()),
            header: [
                "target",
                "members",
                "CPU ms/member-day",
                "disk MB/member",
                "RSS peak MB",
                "out KB/member-day",
                "write p50 ms",
                "write p99 ms",
                "writes ok",
            ]
            .map(String::from)
            .to_vec(),
            rows: r
                .steps
                .iter()
                .map(|s| {
                    vec![
                        s.target.clone(),
                        s.members.to_string(),
                        format!("{:.1}", s.derived.cpu_s_per_member_day * 1000.0),
                        format!("{:.2}", s.derived.disk_bytes_per_member / 1e6),
                        mb(s.derived.rss_peak_bytes as f64),
                        format!("{:.0}", s.derived.network_out_bytes_per_member_day / 1e3),
                        format!("{:.1}", s.derived.write_p50_ms),
                        format!("{:.1}", s.derived.write_p99_ms),
                        format!("{:.2}%", s.derived.success * 100.0),
                    ]
                })
                .collect(),
            files: r.files.clone(),
        });
    }
    if let Some(r) = &m.relay {
        out.push(Section {
            title: format!("relay-rate ({} scale)", r.scale.name()),
            header: [
                "events/s",
                "consumers",
                "accepted/s",
                "dropped",
                "CPU s/1000 ev",
                "RSS peak MB",
                "log B/event",
                "GB/window-hour",
                "out B/consumer-event",
                "lag p99 ms",
                "sustained",
            ]
            .map(String::from)
            .to_vec(),
            rows: r
                .steps
                .iter()
                .map(|s| {
                    vec![
                        format!("{:.0}", s.rate),
                        s.consumers.to_string(),
                        format!("{:.0}", s.derived.accepted_per_s),
                        format!("{:.0}", s.raw.dropped.values().fold(0.0, |a, b| a + b)),
                        format!("{:.3}", s.derived.cpu_s_per_1000_events),
                        mb(s.raw.usage.rss_peak_bytes as f64),
                        format!("{:.0}", s.derived.log_bytes_per_event),
                        format!("{:.2}", s.derived.log_gb_per_window_hour),
                        format!("{:.0}", s.derived.out_bytes_per_consumer_event),
                        s.raw.lag_p99_ms.map(|l| l.to_string()).unwrap_or_else(|| "—".into()),
                        if s.derived.sustained { "yes".into() } else { "no".into() },
                    ]
                })
                .collect(),
            files: r.files.clone(),
        });
    }
    if let Some(r) = &m.jetstream {
        out.push(Section {
            title: format!("jetstream-bytes ({} scale)", r.scale.name()),
            header: ["frames", "CBOR B/frame", "JSON B/message", "JSON+zstd B", "JSON+zstd+dict B", "messages/commit"].map(String::from).to_vec(),
            rows: r
                .steps
                .iter()
                .map(|s| {
                    let d = &s.derived;
                    vec![
                        s.firehose_frames.to_string(),
                        format!("{:.0}", d.cbor_bytes_per_frame),
                        format!("{:.0}", d.json_bytes_per_message),
                        format!("{:.0}", d.json_zstd_bytes_per_message),
                        format!("{:.0}", d.json_zstd_dict_bytes_per_message),
                        format!("{:.2}", d.messages_per_commit),
                    ]
                })
                .collect(),
            files: r.files.clone(),
        });
    }
    if let Some(r) = &m.hoses {
        let mut rows = Vec::new();
        for s in &r.steps {
            for h in &s.sources {
                rows.push(vec![
                    h.name.clone(),
                    h.kind.clone(),
                    h.events.to_string(),
                    format!("{:.4}", h.coverage),
                    h.missed.to_string(),
                    h.lag.p50_ms.map(|l| l.to_string()).unwrap_or_else(|| "—".into()),
                    h.lag.p99_ms.map(|l| l.to_string()).unwrap_or_else(|| "—".into()),
                    h.seq_gaps.to_string(),
                    h.verify.as_ref().map(|v| v.failed.to_string()).unwrap_or_else(|| "—".into()),
                ]);
            }
        }
        out.push(Section {
            title: format!("hose-compare ({} scale)", r.scale.name()),
            header: ["hose", "kind", "events", "coverage", "missed", "lag p50 ms", "lag p99 ms", "gaps", "verify failed"].map(String::from).to_vec(),
            rows,
            files: r.files.clone(),
        });
    }
    if let Some(r) = &m.indexer {
        let ms = |s: &crate::suite::indexer_ingest::Step, method: &str| s.derived.read_p99_ms.get(method).map_or("—".into(), |v| format!("{v:.1}"));
        let opt = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1}"));
        let rows = r
            .steps
            .iter()
            .map(|s| {
                let d = &s.derived;
                vec![
                    s.events.to_string(),
                    d.records.to_string(),
                    format!("{:.0}", d.records_per_s),
                    format!("{:.3}", d.cpu_s_per_1000_records),
                    opt(d.bytes_per_record),
                    opt(d.bytes_per_edge),
                    format!("{:.0}", d.ingest_rss_peak_bytes as f64 / 1e6),
                    format!("{:.0}", d.serve_rss_peak_bytes as f64 / 1e6),
                    ms(s, "app.bsky.actor.getProfile"),
                    ms(s, "app.bsky.feed.getAuthorFeed"),
                    ms(s, "app.bsky.feed.getTimeline"),
                    ms(s, "app.bsky.feed.searchPosts"),
                    d.read_errors.to_string(),
                ]
            })
            .collect();
        out.push(Section {
            title: format!("indexer-ingest ({} scale; read p99 under {} clients)", r.scale.name(), r.steps.first().map_or(0, |s| s.raw.reads.clients)),
            header: [
                "events",
                "records",
                "records/s",
                "CPU s/1000 rec",
                "B/record",
                "B/edge",
                "ingest RSS MB",
                "serve RSS MB",
                "getProfile ms",
                "getAuthorFeed ms",
                "getTimeline ms",
                "searchPosts ms",
                "read errors",
            ]
            .map(String::from)
            .to_vec(),
            rows,
            files: r.files.clone(),
        });
    }
    out
}

/// The figures a comparison of two folders sets side by side.
fn headlines(m: &Measured) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if let Some(r) = &m.pds {
        for s in &r.steps {
            let p = format!("pds-members {} {}", s.target, s.members);
            out.push((format!("{p}: CPU ms/member-day"), s.derived.cpu_s_per_member_day * 1000.0));
            out.push((format!("{p}: disk MB/member"), s.derived.disk_bytes_per_member / 1e6));
            out.push((format!("{p}: RSS peak MB"), s.derived.rss_peak_bytes as f64 / 1e6));
            out.push((format!("{p}: write p99 ms"), s.derived.write_p99_ms));
        }
    }
    if let Some(r) = &m.relay {
        for s in &r.steps {
            let p = format!("relay-rate {:.0}/s×{}", s.rate, s.consumers);
            out.push((format!("{p}: CPU s/1000 events"), s.derived.cpu_s_per_1000_events));
            out.push((format!("{p}: log B/event"), s.derived.log_bytes_per_event));
            out.push((format!("{p}: out B/consumer-event"), s.derived.out_bytes_per_consumer_event));
        }
    }
    if let Some(r) = &m.indexer {
        for s in &r.steps {
            let p = format!("indexer-ingest {} events", s.events);
            out.push((format!("{p}: records/s"), s.derived.records_per_s));
            if let Some(b) = s.derived.bytes_per_record {
                out.push((format!("{p}: B/record"), b));
            }
            for (method, p99) in &s.derived.read_p99_ms {
                out.push((format!("{p}: {} p99 ms", method.rsplit('.').next().unwrap_or(method)), *p99));
            }
        }
    }
    if let Some(d) = jetstream_means(m) {
        out.push(("jetstream-bytes: CBOR B/frame".into(), d.0));
        out.push(("jetstream-bytes: JSON B/message".into(), d.1));
        out.push(("jetstream-bytes: JSON+zstd+dict B/message".into(), d.2));
    }
    out
}

/// CBOR bytes per frame, JSON bytes per message and JSON with zstd and the dictionary, over
/// every run.
fn jetstream_means(m: &Measured) -> Option<(f64, f64, f64)> {
    let r = m.jetstream.as_ref()?;
    let sum = |f: fn(&crate::suite::jetstream_bytes::Step) -> u64| r.steps.iter().map(f).sum::<u64>() as f64;
    let frames = sum(|s| s.firehose_frames);
    let messages = sum(|s| s.jetstream_messages);
    let dict_messages = sum(|s| s.jetstream_zstd_dict_messages);
    (frames > 0.0 && messages > 0.0 && dict_messages > 0.0)
        .then(|| (sum(|s| s.firehose_bytes) / frames, sum(|s| s.jetstream_bytes) / messages, sum(|s| s.jetstream_zstd_dict_bytes) / dict_messages))
}

/// Bytes per event the relay's log keeps, over the sustained steps.
fn relay_log_bytes_per_event(m: &Measured) -> Option<f64> {
    let r = m.relay.as_ref()?;
    let (bytes, events) = r.steps.iter().filter(|s| s.derived.sustained).fold((0.0, 0.0), |(b, e), s| (b + s.raw.log_bytes, e + s.raw.accepted));
    (events > 0.0).then(|| bytes / events)
}

fn row(figure: &str, unit: &str, published: &Figure, measured: Option<f64>, basis: String, why: impl Fn(f64) -> String) -> Validity {
    let p = published.get();
    let ratio = measured.map(|m| m / p);
    let within = ratio.is_some_and(|r| (r - 1.0).abs() <= TOLERANCE);
    let why = match ratio {
        None => Some("the experiment it needs has no complete run in these results".into()),
        Some(r) if !within => Some(why(r)),
        Some(_) => None,
    };
    Validity {
        figure: figure.into(),
        unit: unit.into(),
        published: p,
        source: format!("{} ({})", published.source.0, published.date.0),
        measured,
        basis,
        ratio,
        within,
        why,
    }
}

fn validity(m: &Measured, n: &Network) -> Vec<Validity> {
    let p = &n.published;
    let mut out = Vec::new();

    let rate = p.relay_log_events_per_s.get();
    let window = p.relay_log_window_hours.get();
    let log = relay_log_bytes_per_event(m);
    out.push(row(
        &format!("relay event log, {window:.0} h window at {rate:.0} events/s"),
        "GB",
        &p.relay_log_gb,
        log.map(|b| b * rate * window * 3600.0 / 1e9),
        format!("{} B/event in relay-rate's log × {rate:.0}/s × {window:.0} h", log.map(number).unwrap_or_else(|| "?".into())),
        |r| {
            format!(
                "ours is {r:.2}× the published size. The published 21 GB is the relay's whole data folder after eight days, not only the window's events, and its frames are the real network's; relay-rate's figure is the event log alone, of loadgen's frames"
            )
        },
    ));

    let js = jetstream_means(m);
    let rate = p.firehose_events_per_s.get();
    let implied = p.firehose_gb_per_day.get() * 1e9 / (rate * 86_400.0);
    out.push(row(
        &format!("firehose volume at {rate:.0} events/s"),
        "GB/day",
        &p.firehose_gb_per_day,
        js.map(|(cbor, _, _)| cbor * rate * 86_400.0 / 1e9),
        format!("{} B per CBOR frame (jetstream-bytes) × {rate:.0}/s × 86,400 s", js.map(|j| number(j.0)).unwrap_or_else(|| "?".into())),
        |r| {
            format!(
                "ours is {r:.2}× the published volume: our frames average {} B where the published figures imply {implied:.0} B per event. A commit frame carries the MST path from root to each changed record, so its size follows the repositories' size, set by loadgen's initial_records; and the published volume and the published rate come from different publications and months",
                js.map(|j| number(j.0)).unwrap_or_default()
            )
        },
    ));

    out.push(row(
        "Jetstream JSON per event",
        "B",
        &p.jetstream_bytes_per_event,
        js.map(|j| j.1),
        "mean JSON message of the relay's Jetstream for the same events (jetstream-bytes)".into(),
        |r| format!("ours is {r:.2}× the published size: loadgen's records (post text length, embeds) set the size of each message"),
    ));
    out.push(row(
        "Jetstream JSON with zstd and a dictionary",
        "B",
        &p.jetstream_zstd_dict_bytes_per_event,
        js.map(|j| j.2),
        "each message compressed alone with a dictionary trained on a held-out half of the same run (jetstream-bytes)".into(),
        |r| {
            format!(
                "ours is {r:.2}× the published size. Not measured, only a likely cause: the dictionary is trained on the same synthetic world, whose records repeat their keys and vocabulary more than the real network's, so it compresses loadgen's messages better than Jetstream's dictionary compresses real ones"
            )
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_figures() {
        assert_eq!(number(0.01234), "0.012");
        assert_eq!(number(4.567), "4.57");
        assert_eq!(number(45.67), "45.7");
        assert_eq!(number(456.7), "457");
        assert_eq!(number(45_670.0), "45,670");
    }

    #[test]
    fn a_row_outside_the_tolerance_says_why_and_one_inside_does_not() {
        let n = Network::load(&crate::cost::data::default_network()).unwrap();
        let f = &n.published.jetstream_bytes_per_event;
        let inside = row("x", "B", f, Some(f.get() * 1.2), "b".into(), |_| "because".into());
        assert!(inside.within && inside.why.is_none());
        let outside = row("x", "B", f, Some(f.get() * 1.5), "b".into(), |r| format!("{r:.1}"));
        assert!(!outside.within && outside.why.as_deref() == Some("1.5"));
        let missing = row("x", "B", f, None, "b".into(), |_| String::new());
        assert!(!missing.within && missing.why.unwrap().contains("no complete run"));
    }
}
