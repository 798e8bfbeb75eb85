//! From measurements to needs: the fits of each component's resource use against its drivers,
//! the headroom a real deployment keeps, and the table's rows.
//!
//! - **PDS**, driven by members: CPU seconds per day, peak RSS, disk growth per day of activity
//!   and bytes out per day, each fitted against members over the `pds-members` ladder. Disk is
//!   sized for a year of activity ([`Assumptions::pds_horizon_days`]).
//! - **Relay**, driven by events/s and consumers: CPU cores (terms: rate, rate × consumers),
//!   peak RSS (rate, consumers), event-log bytes per event and bytes out per consumer-event,
//!   over the sustained steps of `relay-rate`. Disk is the log of one replay window.
//! - **Jetstream consumer**: the bytes per event a consumer of the relay's Jetstream receives
//!   (zstd with the dictionary), from `jetstream-bytes`.
//! - **AppView** (the indexer), driven by records held and records ingested per second: disk
//!   and peak RSS fitted against records over the `indexer-ingest` ladder, CPU seconds per
//!   record ingested. A community AppView holds its members and the accounts they follow; a
//!   full-network one holds the network's published record count at 1×, 10× and 100×.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Serialize;

use super::data::Network;
use super::fit::{Extrapolation, Fit, Point};
use super::measured::Measured;
use super::price::Need;

const GB: f64 = 1e9;
const DAY_S: f64 = 86_400.0;
/// The average month.
pub const MONTH_DAYS: f64 = 30.44;

/// What the table is asked for.
#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub members: Vec<u64>,
    pub multiples: Vec<f64>,
    pub consumers: Vec<u64>,
    pub windows_h: Vec<f64>,
}

/// The table: PDS for 100, 1,000 and 10,000 members; the relay at 1×, 10× and 100×
/// today's network with 1 and 10 consumers, at 24 h and 72 h windows.
impl Default for Question {
    fn default() -> Self {
        Question { members: vec![100, 1000, 10_000], multiples: vec![1.0, 10.0, 100.0], consumers: vec![1, 10], windows_h: vec![24.0, 72.0] }
    }
}

/// The headroom and horizons the needs are sized with. Printed with every table.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// Mean CPU use at the typical rate is at most this share of the vCPUs; the surge must fit
    /// in all of them.
    pub cpu_utilization: f64,
    /// Peak RSS is multiplied by this, and the operating system's share added.
    pub ram_factor: f64,
    pub ram_os_gb: f64,
    /// Disk is kept at most this full.
    pub disk_fill: f64,
    /// A PDS's disk is sized for this many days of its members' activity.
    pub pds_horizon_days: f64,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions { cpu_utilization: 0.5, ram_factor: 1.25, ram_os_gb: 0.5, disk_fill: 0.8, pds_horizon_days: 365.0 }
    }
}

impl Assumptions {
    pub fn describe(&self) -> String {
        format!(
            "CPU at most {:.0}% busy at the typical rate (and the surge within 100%); RAM = peak RSS × {} + {} GB; disks at most {:.0}% full; a PDS's disk sized for {} days of activity",
            self.cpu_utilization * 100.0,
            self.ram_factor,
            self.ram_os_gb,
            self.disk_fill * 100.0,
            self.pds_horizon_days
        )
    }

    fn ram_gb(&self, rss_bytes: f64) -> f64 {
        rss_bytes / GB * self.ram_factor + self.ram_os_gb
    }

    fn vcpu(&self, typical_cores: f64, surge_cores: f64) -> f64 {
        (typical_cores / self.cpu_utilization).max(surge_cores)
    }
}

/// A component at one size, and what it needs.
#[derive(Debug, Clone, Serialize)]
pub struct Sized {
    pub component: String,
    pub size: String,
    pub drivers: BTreeMap<String, f64>,
    pub need: Need,
    /// The worst extrapolation of any fit behind the need.
    pub extrapolated: Option<Extrapolation>,
    pub note: Option<String>,
}

/// The fits, by name (`pds.cpu_s_per_day`, `relay.cores`, …).
pub type Fits = BTreeMap<String, Fit>;

fn worst(a: Option<Extrapolation>, b: Option<Extrapolation>) -> Option<Extrapolation> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.factor > x.factor { y } else { x }),
        (x, y) => x.or(y),
    }
}

fn members_term(x: &[f64]) -> Vec<f64> {
    vec![x[0]]
}

fn no_term(_: &[f64]) -> Vec<f64> {
    vec![]
}

fn relay_cpu_terms(x: &[f64]) -> Vec<f64> {
    vec![x[0], x[0] * x[1]]
}

fn relay_ram_terms(x: &[f64]) -> Vec<f64> {
    vec![x[0], x[1]]
}

/// The PDS rows, one per target measured (`sonde`, `reference`) and member count.
pub fn pds(measured: &Measured, q: &Question, a: &Assumptions, fits: &mut Fits) -> Result<Vec<Sized>> {
    let Some(runs) = &measured.pds else { return Ok(vec![]) };
    let mut targets: Vec<&str> = runs.steps.iter().map(|s| s.target.as_str()).collect();
    targets.sort();
    targets.dedup();
    let mut rows = Vec::new();
    for target in targets {
        let steps: Vec<_> = runs.steps.iter().filter(|s| s.target == target).collect();
        let fit = |y: &dyn Fn(&crate::suite::pds_members::Step) -> f64| -> Vec<Point> {
            steps.iter().map(|s| Point { x: vec![s.members as f64], y: y(s) }).collect()
        };
        let days = |s: &crate::suite::pds_members::Step| s.derived.member_days / s.members as f64;
        let m = &["members"];
        let cpu = Fit::new("PDS CPU", m, m, members_term, &fit(&|s| s.derived.cpu_s_per_member_day * s.members as f64))?;
        let ram = Fit::new("PDS RSS", m, m, members_term, &fit(&|s| s.derived.rss_peak_bytes as f64))?;
        let disk = Fit::new("PDS disk", m, m, members_term, &fit(&|s| s.raw.disk_total_bytes as f64 / days(s)))?;
        let out = Fit::new("PDS egress", m, m, members_term, &fit(&|s| s.derived.network_out_bytes_per_member_day * s.members as f64))?;
        for &n in &q.members {
            let x = [n as f64];
            let cores = cpu.predict(&x) / DAY_S;
            let need = Need {
                vcpu: a.vcpu(cores, cores),
                ram_gb: a.ram_gb(ram.predict(&x)),
                disk_gb: disk.predict(&x) * a.pds_horizon_days / GB / a.disk_fill,
                egress_gb_month: out.predict(&x) * MONTH_DAYS / GB,
            };
            rows.push(Sized {
                component: format!("PDS ({target})"),
                size: format!("{} members", thousands(n as f64)),
                drivers: BTreeMap::from([("members".into(), n as f64)]),
                need,
                extrapolated: cpu.extrapolation(&x),
                note: None,
            });
        }
        for (name, f) in [("cpu_s_per_day", cpu), ("rss_bytes", ram), ("disk_bytes_per_day", disk), ("out_bytes_per_day", out)] {
            fits.insert(format!("pds.{target}.{name}"), f);
        }
    }
    Ok(rows)
}

/// The relay rows: each network multiple × consumer count × replay window.
pub fn relay(measured: &Measured, network: &Network, q: &Question, a: &Assumptions, fits: &mut Fits) -> Result<Vec<Sized>> {
    let Some(runs) = &measured.relay else { return Ok(vec![]) };
    let steps: Vec<_> = runs.steps.iter().filter(|s| s.derived.sustained && s.raw.usage.seconds > 0.0).collect();
    if steps.is_empty() {
        bail!("relay-rate: no sustained step to fit (files: {:?})", runs.files);
    }
    let point = |y: &dyn Fn(&crate::suite::relay_rate::Step) -> f64| -> Vec<Point> {
        steps.iter().map(|s| Point { x: vec![s.derived.accepted_per_s, s.consumers as f64], y: y(s) }).collect()
    };
    let d = &["events_per_s", "consumers"];
    let cores = Fit::new("relay CPU", d, &["events_per_s", "events_per_s×consumers"], relay_cpu_terms, &point(&|s| s.raw.usage.cpu_s / s.raw.usage.seconds))?;
    let ram = Fit::new("relay RSS", d, &["events_per_s", "consumers"], relay_ram_terms, &point(&|s| s.raw.usage.rss_peak_bytes as f64))?;
    let log = Fit::new("relay log bytes/event", d, &[], no_term, &point(&|s| s.derived.log_bytes_per_event))?;
    let with_consumers: Vec<Point> =
        point(&|s| s.derived.out_bytes_per_consumer_event).into_iter().zip(&steps).filter(|(_, s)| s.consumers > 0).map(|(p, _)| p).collect();
    let out = Fit::new("relay bytes/consumer-event", d, &[], no_term, &with_consumers)?;
    let typical = network.events_per_s.get();
    let surge = network.surge_events_per_s.get();
    let mut rows = Vec::new();
    for &mult in &q.multiples {
        for &k in &q.consumers {
            for &window in &q.windows_h {
                let rate = typical * mult;
                let x = [rate, k as f64];
                let need = Need {
                    vcpu: a.vcpu(cores.predict(&x), cores.predict(&[surge * mult, k as f64])),
                    ram_gb: a.ram_gb(ram.predict(&x)),
                    disk_gb: log.predict(&x) * rate * window * 3600.0 / GB / a.disk_fill,
                    egress_gb_month: out.predict(&x) * rate * k as f64 * DAY_S * MONTH_DAYS / GB,
                };
                rows.push(Sized {
                    component: "Relay".into(),
                    size: format!("{}× network, {k} consumer{}, {window:.0} h window", mult, if k == 1 { "" } else { "s" }),
                    drivers: BTreeMap::from([("events_per_s".into(), rate), ("consumers".into(), k as f64), ("window_h".into(), window)]),
                    need,
                    extrapolated: worst(cores.extrapolation(&[surge * mult, k as f64]), ram.extrapolation(&x)),
                    note: None,
                });
            }
        }
    }
    for (name, f) in [("cores", cores), ("rss_bytes", ram), ("log_bytes_per_event", log), ("out_bytes_per_consumer_event", out)] {
        fits.insert(format!("relay.{name}"), f);
    }
    Ok(rows)
}

/// A consumer that reads the relay's Jetstream (zstd with the dictionary) at today's rate
/// instead of the CBOR firehose: what it receives per month. Its own processing is not
/// measured, so it needs the smallest machine; the row shows the traffic it saves.
pub fn jetstream_consumer(measured: &Measured, network: &Network) -> Option<Sized> {
    let runs = measured.jetstream.as_ref()?;
    let (dict_bytes, dict_messages, cbor_bytes, frames): (u64, u64, u64, u64) = runs.steps.iter().fold((0, 0, 0, 0), |acc, s| {
        (acc.0 + s.jetstream_zstd_dict_bytes, acc.1 + s.jetstream_zstd_dict_messages, acc.2 + s.firehose_bytes, acc.3 + s.firehose_frames)
    });
    if dict_messages == 0 || frames == 0 {
        return None;
    }
    let per_message = dict_bytes as f64 / dict_messages as f64;
    let per_frame = cbor_bytes as f64 / frames as f64;
    let rate = network.events_per_s.get();
    let month = rate * DAY_S * MONTH_DAYS / GB;
    let jet_gb = per_message * month;
    let cbor_gb = per_frame * month;
    Some(Sized {
        component: "Jetstream consumer".into(),
        size: "1× network, zstd + dictionary".into(),
        drivers: BTreeMap::from([("events_per_s".into(), rate)]),
        need: Need { vcpu: 0.0, ram_gb: 0.0, disk_gb: 0.0, egress_gb_month: 0.0 },
        extrapolated: None,
        note: Some(format!(
            "receives {jet_gb:.0} GB/month ({per_message:.0} B/event) instead of the firehose's {cbor_gb:.0} GB/month ({per_frame:.0} B/event); inbound traffic is free at every listed provider; its own processing is not measured"
        )),
    })
}

/// The AppView rows: a community AppView per member count, and the full network at each
/// multiple. Sized for the records held today and the ingest rate of their events; serving
/// reads is not in the CPU figure (no per-member read load is measured), and neither is
/// the egress of answering them.
pub fn appview(measured: &Measured, network: &Network, q: &Question, a: &Assumptions, fits: &mut Fits) -> Result<Vec<Sized>> {
    let Some(runs) = &measured.indexer else { return Ok(vec![]) };
    let steps: Vec<_> = runs.steps.iter().filter(|s| s.raw.store.records > 0).collect();
    if steps.is_empty() {
        bail!("indexer-ingest: no step indexed a record (files: {:?})", runs.files);
    }
    let point = |y: &dyn Fn(&crate::suite::indexer_ingest::Step) -> f64| -> Vec<Point> {
        steps.iter().map(|s| Point { x: vec![s.raw.store.records as f64], y: y(s) }).collect()
    };
    let r = &["records"];
    let disk = Fit::new("AppView disk", r, r, members_term, &point(&|s| (s.raw.store.store_bytes + s.raw.store.search_bytes) as f64))?;
    let ram = Fit::new("AppView RSS", r, r, members_term, &point(&|s| s.raw.ingest_usage.rss_peak_bytes.max(s.raw.serve_usage.rss_peak_bytes) as f64))?;
    let cpu = Fit::new("AppView CPU s/record", r, &[], no_term, &point(&|s| s.raw.ingest_usage.cpu_s / s.raw.ingest.records.max(1) as f64))?;
    let (accounts, records) = (network.accounts.get(), network.records.get());
    let per_account = records / accounts;
    let (typical, surge) = (network.events_per_s.get(), network.surge_events_per_s.get());
    // One record per event: the firehose's commits carry one operation each, nearly always.
    let size = |held: f64, events_per_s: f64, surge_per_s: f64| {
        let x = [held];
        let need = Need {
            vcpu: a.vcpu(cpu.predict(&x) * events_per_s, cpu.predict(&x) * surge_per_s),
            ram_gb: a.ram_gb(ram.predict(&x)),
            disk_gb: disk.predict(&x) / GB / a.disk_fill,
            egress_gb_month: 0.0,
        };
        (need, worst(disk.extrapolation(&x), ram.extrapolation(&x)))
    };
    let mut rows = Vec::new();
    let follows = network.follows_per_account.get();
    for &n in &q.members {
        // The members and everyone they follow, counted as if no two followed the same account
        // (an upper bound), and never more than the network.
        let held_accounts = (n as f64 * (1.0 + follows)).min(accounts);
        let share = held_accounts / accounts;
        let held = held_accounts * per_account;
        let (need, extrapolated) = size(held, typical * share, surge * share);
        let growth_gb_month = disk.predict(&[held + 1.0]) - disk.predict(&[held]);
        let growth_gb_month = growth_gb_month * typical * share * DAY_S * MONTH_DAYS / GB;
        rows.push(Sized {
            component: "AppView (community)".into(),
            size: format!("{} members + the {} accounts they follow", thousands(n as f64), thousands(held_accounts - n as f64)),
            drivers: BTreeMap::from([("members".into(), n as f64), ("records".into(), held), ("events_per_s".into(), typical * share)]),
            need,
            extrapolated,
            note: Some(format!(
                "{} records today ({per_account:.0} per account); their events add about {growth_gb_month:.1} GB a month; priced as an indexer that receives only these accounts' events: Sonde's indexer has no account filter yet and indexes every event of its firehoses",
                thousands(held)
            )),
        });
    }
    for &mult in &q.multiples {
        let held = records * mult;
        let (need, extrapolated) = size(held, typical * mult, surge * mult);
        rows.push(Sized {
            component: "AppView (full network)".into(),
            size: format!("{}× network ({} records)", mult, thousands(held)),
            drivers: BTreeMap::from([("records".into(), held), ("events_per_s".into(), typical * mult)]),
            need,
            extrapolated,
            note: Some("the records held today, not their growth; a full backfill of them (weeks at the measured ingest rate) is not priced".into()),
        });
    }
    for (name, f) in [("disk_bytes", disk), ("rss_bytes", ram), ("cpu_s_per_record", cpu)] {
        fits.insert(format!("appview.{name}"), f);
    }
    Ok(rows)
}

/// `12,345`.
pub fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(10_000.0), "10,000");
        assert_eq!(thousands(100.0), "100");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
