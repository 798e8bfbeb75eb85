//! The cost model: what running each component costs per month, from what the experiments
//! measured and what providers charge.
//!
//! The chain, one module a step:
//! - [`data`]: the two checked-in inputs, prices and today's network, each row sourced;
//! - [`measured`]: the newest complete runs in a results folder;
//! - [`fit`]: each resource fitted against its driver over the measured ladder, knowing the
//!   range it covers so that predictions beyond it say so;
//! - [`model`]: the needs of each component at each asked-for size, with headroom;
//! - [`price`]: the cheapest bill per provider, and the resource that binds it;
//! - [`table`]: the rows, printed and written as JSON and Markdown.

pub mod data;
pub mod fit;
pub mod measured;
pub mod model;
pub mod price;
pub mod table;

#[cfg(test)]
mod worked_example {
    //! The arithmetic checked against an example computed by hand from its own inputs (the
    //! figures in the comments are the hand computation).

    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::data::{Network, Prices};
    use super::measured::{Measured, Runs};
    use super::model::{Assumptions, Question};
    use super::price::Resource;
    use super::table::compute;
    use crate::defs::Scale;

    /// One provider: `small` 2 vCPU / 4 GB / 40 GB / 1 TB for €5, `big` 8 / 32 / 240 / 20 TB
    /// for €40; block storage €0.05/GB-month, egress €0.01/GB.
    const PRICES: &str = include_str!("worked_example_prices.toml");

    fn pds_step(members: u64, cpu_s_per_member_day: f64, rss: u64, disk_total: u64, out_per_member_day: f64) -> crate::suite::pds_members::Step {
        let usage = json!({"seconds": 1.0, "cpu_s": 1.0, "rss_peak_bytes": rss, "rss_mean_bytes": rss});
        serde_json::from_value(json!({
            "members": members,
            "raw": {"writes_planned": 1, "rate_per_s": 1.0, "writes_ok": 1, "writes_failed": 0, "errors": {}, "setup_s": 1.0,
                    "setup_usage": usage, "activity_usage": usage, "latency_ms": {}, "network_in_bytes": 0.0, "network_out_bytes": 0.0,
                    "firehose_messages": 0, "firehose_bytes": 0, "disk_bytes": {}, "disk_total_bytes": disk_total},
            "derived": {"member_days": members as f64 * 7.0, "cpu_s_per_member_day": cpu_s_per_member_day, "disk_bytes_per_member": 0.0,
                        "disk_bytes_per_member_day": 0.0, "network_out_bytes_per_member_day": out_per_member_day, "rss_peak_bytes": rss,
                        "write_p50_ms": 1.0, "write_p99_ms": 2.0, "success": 1.0},
        }))
        .unwrap()
    }

    fn relay_step(rate: f64, consumers: u64, cores: f64, rss: u64) -> crate::suite::relay_rate::Step {
        serde_json::from_value(json!({
            "rate": rate, "consumers": consumers,
            "raw": {"emitted": 1, "emit_seconds": 10.0, "late_events": 0, "max_late_ms": 0, "frame_bytes_p50": 1, "events_in": 1.0,
                    "accepted": rate * 10.0, "dropped": {}, "usage": {"seconds": 10.0, "cpu_s": cores * 10.0, "rss_peak_bytes": rss, "rss_mean_bytes": rss},
                    "log_bytes": 1.0, "network_out_bytes": 1.0, "network_in_bytes": 1.0, "consumer_min_events": 1, "consumer_max_events": 1,
                    "consumers_too_slow": 0.0, "lag_p50_ms": null, "lag_p99_ms": null},
            "derived": {"accepted_per_s": rate, "cpu_s_per_1000_events": 1.0, "log_bytes_per_event": 4000.0, "log_gb_per_window_hour": 1.0,
                        "out_bytes_per_consumer_event": 4500.0, "sustained": true},
        }))
        .unwrap()
    }

    fn measured() -> Measured {
        let files = vec![PathBuf::from("hand")];
        Measured {
            folder: PathBuf::from("hand"),
            // CPU: 0.864 s per member-day at both sizes, so 864 s/day at 1,000 members.
            // RSS: 200 MB at 100 members, 400 MB at 1,000: 177.8 MB + 222,222 B per member.
            // Disk after 7 days: 0.7 GB and 7 GB, 1 MB per member per day.
            // Out: 1 MB per member-day.
            pds: Some(Runs {
                scale: Scale::Full,
                steps: vec![pds_step(100, 0.864, 200_000_000, 700_000_000, 1e6), pds_step(1000, 0.864, 400_000_000, 7_000_000_000, 1e6)],
                files: files.clone(),
            }),
            // cores = 4.5e-4·rate + 5e-5·rate·consumers; RSS = 40 MB + 1e5·rate + 10 MB·consumers;
            // 4,000 log bytes per event, 4,500 bytes out per consumer-event.
            relay: Some(Runs {
                scale: Scale::Full,
                steps: vec![relay_step(1000.0, 1, 0.5, 150_000_000), relay_step(1000.0, 10, 0.95, 240_000_000), relay_step(2000.0, 10, 1.9, 340_000_000)],
                files,
            }),
            jetstream: None,
            hoses: None,
            indexer: None,
        }
    }

    /// An indexer-ingest step holding `records` in `bytes`, ingested with `cpu_s` seconds at a
    /// peak RSS of `rss`.
    fn indexer_step(records: i64, bytes: u64, cpu_s: f64, rss: u64) -> crate::suite::indexer_ingest::Step {
        use crate::suite::indexer_ingest::*;
        let usage = crate::suite::pds_members::UsageFigures { seconds: 1.0, cpu_s, rss_peak_bytes: rss, rss_mean_bytes: rss };
        let raw = Raw {
            emitted: records as u64,
            world_seconds: 1.0,
            frame_file_bytes: 0,
            ingest: IngestFigures {
                frames: records as u64,
                records,
                seconds: 1.0,
                records_per_second: records as f64,
                searchable_seconds: 1.0,
                cpu_s,
                peak_rss_bytes: rss,
            },
            ingest_usage: usage.clone(),
            disk_bytes_after_ingest: bytes,
            store: StoreFigures {
                collections: vec![],
                records,
                edges: 0,
                column_families: vec![],
                store_bytes: bytes - bytes / 10,
                search_bytes: bytes / 10,
                edge_bytes: 0,
                bytes_per_edge: None,
                bytes_per_record: Some(bytes as f64 / records as f64),
            },
            serve_usage: crate::suite::pds_members::UsageFigures { rss_peak_bytes: rss / 2, ..usage },
            reads: ReadFigures { clients: 1, viewer_follows: vec![], methods: vec![] },
        };
        Step { events: records as u64, accounts: 1, derived: derive(&raw), raw }
    }

    #[test]
    fn appview_rows_match_the_hand_computation() {
        let prices = Prices::parse(PRICES, Path::new("worked_example_prices.toml")).unwrap();
        let mut net = network();
        (net.events_per_s.value.0, net.surge_events_per_s.value.0) = (1000.0, 2000.0);
        (net.accounts.value.0, net.records.value.0, net.follows_per_account.value.0) = (1_000_000.0, 400_000_000.0, 9.0);
        let mut m = measured();
        (m.pds, m.relay) = (None, None);
        // Disk = 100 B per record exactly; RSS = 100 MB + 10 B per record; 20 µs of CPU per
        // record at both sizes.
        m.indexer = Some(Runs {
            scale: Scale::Full,
            steps: vec![indexer_step(1_000_000, 100_000_000, 20.0, 110_000_000), indexer_step(10_000_000, 1_000_000_000, 200.0, 200_000_000)],
            files: vec![PathBuf::from("hand")],
        });
        let q = Question { members: vec![1000], multiples: vec![1.0], consumers: vec![1], windows_h: vec![24.0] };
        let t = compute(&m, &prices, &net, &q, &Assumptions::default(), &[]).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        let rows: Vec<_> = t.rows.iter().filter(|r| r.sized.component.starts_with("AppView")).collect();
        assert_eq!(rows.len(), 2, "{:#?}", t.rows);
        // Community, 1,000 members: 10,000 accounts (1% of the network), 400 records each:
        // 4M records. Disk 0.4 GB / 0.8 = 0.5 GB; RSS 140 MB × 1.25 + 0.5 = 0.675 GB; CPU
        // 20 µs × 10 events/s = 0.0002 cores → 0.0004 vCPU (surge 0.0004).
        let n = rows[0].sized.need;
        assert_eq!(rows[0].sized.drivers["records"], 4_000_000.0);
        assert!(close(n.disk_gb, 0.5) && close(n.ram_gb, 0.675) && close(n.vcpu, 0.0004), "{n:?}");
        assert_eq!(rows[0].sized.extrapolated, None);
        // Full network: 400M records, 40 GB / 0.8 = 50 GB; RSS 4.1 GB × 1.25 + 0.5 = 5.625 GB;
        // 0.02 cores typical → 0.04 vCPU, surge 0.04. 40× beyond the largest step measured.
        let n = rows[1].sized.need;
        assert!(close(n.disk_gb, 50.0) && close(n.ram_gb, 5.625) && close(n.vcpu, 0.04), "{n:?}");
        assert_eq!(rows[1].sized.extrapolated.unwrap().to_string(), "×40 beyond measured");
        assert!(!t.missing.iter().any(|m| m.contains("AppView")), "{:?}", t.missing);
    }

    fn network() -> Network {
        Network::load(&super::data::default_network()).unwrap()
    }

    #[test]
    fn the_table_matches_the_hand_computation() {
        let prices = Prices::parse(PRICES, Path::new("worked_example_prices.toml")).unwrap();
        let mut net = network();
        net.events_per_s.value.0 = 1000.0;
        net.surge_events_per_s.value.0 = 2000.0;
        let q = Question { members: vec![10_000], multiples: vec![1.0, 10.0], consumers: vec![1], windows_h: vec![24.0] };
        let t = compute(&measured(), &prices, &net, &q, &Assumptions::default(), &[]).unwrap();
        assert_eq!(t.rows.len(), 3, "{:#?}", t.rows);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);

        // PDS, 10,000 members: 8,640 CPU s/day = 0.1 cores, over 50% → 0.2 vCPU;
        // RSS 2.4 GB × 1.25 + 0.5 = 3.5 GB; disk 10 GB/day × 365 / 0.8 = 4,562.5 GB;
        // out 10 GB/day × 30.44 = 304.4 GB/month.
        let pds = &t.rows[0];
        let n = pds.sized.need;
        assert!(close(n.vcpu, 0.2) && close(n.ram_gb, 3.5) && close(n.disk_gb, 4562.5) && close(n.egress_gb_month, 304.4), "{n:?}");
        // small: €5 + (4,562.5 − 40) × 0.05 = €231.125 (traffic within its 1 TB);
        // big: €40 + (4,562.5 − 240) × 0.05 = €256.125. Small wins; the disk binds.
        let q = pds.quotes[0].as_ref().unwrap();
        assert_eq!(q.instance, "small");
        assert!(close(q.total_eur, 231.125), "{q:?}");
        assert_eq!(q.binding, Resource::Disk);
        assert_eq!(pds.sized.extrapolated.unwrap().to_string(), "×10 beyond measured");

        // Relay, 1×, 1 consumer, 24 h: 0.5 cores → 1.0 vCPU (surge: 1.0); RSS 150 MB → 0.6875 GB;
        // disk 4,000 × 1,000 × 86,400 / 0.8 = 432 GB; out 4,500 × 1,000 × 86,400 × 30.44 =
        // 11,835.072 GB/month.
        let relay = &t.rows[1];
        let n = relay.sized.need;
        assert!(close(n.vcpu, 1.0) && close(n.ram_gb, 0.6875) && close(n.disk_gb, 432.0) && close(n.egress_gb_month, 11_835.072), "{n:?}");
        // small: €5 + 392 × 0.05 + 10,835.072 × 0.01 = €137.95; big: €40 + 192 × 0.05 = €49.60,
        // its 20 TB covering the traffic. Big wins; CPU fills more of it than RAM.
        let q = relay.quotes[0].as_ref().unwrap();
        assert_eq!(q.instance, "big");
        assert!(close(q.total_eur, 49.6), "{q:?}");
        assert_eq!(q.binding, Resource::Cpu);
        assert_eq!(relay.sized.extrapolated, None);

        // Relay at 10×, 1 consumer: 4.5 + 0.5 = 5 cores typical → 10 vCPU (surge: 10); nothing
        // at this provider has that.
        let big = &t.rows[2];
        assert!(close(big.sized.need.vcpu, 10.0), "{:?}", big.sized.need);
        assert!(big.quotes[0].as_ref().unwrap_err().contains("no instance has 10.0 vCPU"), "{:?}", big.quotes[0]);
        assert_eq!(big.cheapest, None);
        assert!(t.missing.iter().any(|m| m.contains("Jetstream")), "{:?}", t.missing);
        assert!(t.to_text().contains("€231 *"), "{}", t.to_text());
    }
}
