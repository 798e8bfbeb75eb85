//! The cost model's two checked-in inputs: `experiments/data/prices.toml` (what hosting costs)
//! and `experiments/data/network.toml` (how big today's network is, and the published figures
//! the validity table checks against). Every row carries its source and date, and the files are
//! refused, naming the file, the line and the key, when a value is missing or impossible.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::defs::{NonNegative, Positive};

/// The shipped data files.
pub fn default_prices() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/prices.toml"))
}

pub fn default_network() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/network.toml"))
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Prices, in euros per month excluding VAT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub fx: Fx,
    #[serde(rename = "provider")]
    pub providers: Vec<Provider>,
    pub edge: Option<Edge>,
}

/// The exchange rate used for prices quoted in dollars.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fx {
    pub eur_per_usd: Positive,
    pub source: Source,
    pub date: Date,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// A short id (`hetzner`): the table's column.
    pub name: toml::Spanned<String>,
    pub label: String,
    /// Attached block storage, € per GB-month; `None` when the provider sells none.
    pub block_storage_eur_gb_month: Option<NonNegative>,
    /// Traffic out beyond what an instance includes, € per GB.
    pub egress_eur_gb: Option<NonNegative>,
    pub object_storage_eur_gb_month: Option<NonNegative>,
    pub source: Source,
    pub date: Date,
    #[serde(default, rename = "instance")]
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    pub vcpu: Positive,
    pub ram_gb: Positive,
    /// Local disk included in the price.
    pub disk_gb: NonNegative,
    /// Traffic out included per month.
    pub traffic_tb: NonNegative,
    pub eur_month: Positive,
    /// Whether the vCPUs are dedicated rather than shared.
    pub dedicated: bool,
    pub source: Source,
    pub date: Date,
}

/// Edge compute for a Cirrus-style PDS (Cloudflare Workers, Durable Objects, R2), in dollars
/// as the provider lists them. Kept for a row of the table the edge PDS will get once it is
/// measured; nothing is priced from it yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub provider: String,
    pub workers_base_usd_month: NonNegative,
    pub workers_included_requests_m: NonNegative,
    pub workers_usd_per_m_requests: NonNegative,
    pub workers_included_cpu_ms_m: NonNegative,
    pub workers_usd_per_m_cpu_ms: NonNegative,
    pub do_included_requests_m: NonNegative,
    pub do_usd_per_m_requests: NonNegative,
    pub do_included_gb_s_k: NonNegative,
    pub do_usd_per_m_gb_s: NonNegative,
    pub r2_usd_gb_month: NonNegative,
    pub r2_usd_per_m_class_a: NonNegative,
    pub r2_usd_per_m_class_b: NonNegative,
    pub source: Source,
    pub date: Date,
}

/// Today's network, and the published figures the validity table compares against.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Firehose events per second, typical and in a surge.
    pub events_per_s: Figure,
    pub surge_events_per_s: Figure,
    pub accounts: Figure,
    pub records: Figure,
    /// Accounts an account follows, on average: how many accounts a community AppView holds
    /// per member.
    pub follows_per_account: Figure,
    pub posts_per_day: Figure,
    pub consumers_per_relay: Figure,
    /// The relay's default replay window, hours.
    pub replay_window_hours: Figure,
    pub published: Published,
}

/// Published measurements: the validity table's left column.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// A relay's event log: its size, the window it held, and the event rate of the time.
    pub relay_log_gb: Figure,
    pub relay_log_window_hours: Figure,
    pub relay_log_events_per_s: Figure,
    /// The CBOR firehose's volume per day, and the event rate it was quoted at.
    pub firehose_gb_per_day: Figure,
    pub firehose_events_per_s: Figure,
    /// Jetstream bytes per event, raw JSON and with zstd and its dictionary.
    pub jetstream_bytes_per_event: Figure,
    pub jetstream_zstd_dict_bytes_per_event: Figure,
}

/// A number with where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub value: Positive,
    pub source: Source,
    pub date: Date,
    /// How a derived figure was computed, or what it means exactly.
    pub note: Option<String>,
}

impl Figure {
    pub fn get(&self) -> f64 {
        self.value.0
    }
}

/// Where a figure comes from: a URL or a named publication; never empty.
#[derive(Debug, Clone, Serialize)]
pub struct Source(pub String);

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            Err(serde::de::Error::custom("must name a source"))
        } else {
            Ok(Source(s))
        }
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`: when the figure held.
#[derive(Debug, Clone, Serialize)]
pub struct Date(pub String);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = match s.len() {
            4 => s.parse::<u16>().is_ok(),
            7 => chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok(),
            10 => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_ok(),
            _ => false,
        };
        if ok {
            Ok(Date(s))
        } else {
            Err(serde::de::Error::custom(format!("must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not {s:?}")))
        }
    }
}

impl Prices {
    pub fn parse(text: &str, path: &Path) -> Result<Prices, DataError> {
        let prices: Prices = typed(text, path)?;
        let mut seen = BTreeSet::new();
        for p in &prices.providers {
            if !seen.insert(p.name.get_ref().clone()) {
                let line = text[..p.name.span().start].lines().count().max(1);
                return Err(DataError::Invalid {
                    path: path.into(),
                    message: format!("line {line}, key `provider.name`: provider {:?} is listed twice", p.name.get_ref()),
                });
            }
        }
        if prices.providers.iter().all(|p| p.instances.is_empty()) {
            return Err(DataError::Invalid { path: path.into(), message: "no provider lists an instance, so nothing can be priced".into() });
        }
        Ok(prices)
    }

    pub fn load(path: &Path) -> Result<Prices, DataError> {
        Prices::parse(&read(path)?, path)
    }

    /// The providers that rent machines: the table's columns.
    pub fn hosts(&self) -> impl Iterator<Item = &Provider> {
        self.providers.iter().filter(|p| !p.instances.is_empty())
    }
}

impl Provider {
    pub fn id(&self) -> &str {
        self.name.get_ref()
    }
}

impl Network {
    pub fn parse(text: &str, path: &Path) -> Result<Network, DataError> {
        typed(text, path)
    }

    pub fn load(path: &Path) -> Result<Network, DataError> {
        Network::parse(&read(path)?, path)
    }
}

fn read(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.into(), source })
}

/// toml's errors name the line, the column and the key.
fn typed<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, DataError> {
    toml::from_str(text).map_err(|e| DataError::Invalid { path: path.into(), message: e.to_string().trim_end().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_files_parse() {
        let prices = Prices::load(&default_prices()).unwrap();
        assert!(prices.hosts().count() >= 5, "{:?}", prices.providers.iter().map(|p| p.id()).collect::<Vec<_>>());
        for needed in ["hetzner", "digitalocean", "aws", "cloudflare", "backblaze"] {
            assert!(prices.providers.iter().any(|p| p.id() == needed), "{needed} missing");
        }
        assert!(prices.providers.iter().any(|p| p.id() == "ovh" || p.id() == "scaleway"));
        assert!(prices.edge.is_some());
        Network::load(&default_network()).unwrap();
    }

    fn shipped_prices() -> String {
        std::fs::read_to_string(default_prices()).unwrap()
    }

    #[test]
    fn a_negative_price_names_the_file_line_and_key() {
        let text = shipped_prices();
        let line = text.lines().position(|l| l.trim_start().starts_with("eur_month")).unwrap();
        let bad: Vec<&str> = text.lines().enumerate().map(|(i, l)| if i == line { "eur_month = -4" } else { l }).collect();
        let e = Prices::parse(&bad.join("\n"), Path::new("prices.toml")).unwrap_err().to_string();
        assert!(e.starts_with("prices.toml: "), "{e}");
        assert!(e.contains(&format!("line {}", line + 1)), "{e}");
        assert!(e.contains("eur_month") && e.contains("positive"), "{e}");
    }

    #[test]
    fn a_missing_source_or_a_bad_date_is_refused() {
        let text = shipped_prices();
        let line = text.lines().position(|l| l.trim_start().starts_with("source")).unwrap();
        let without: Vec<&str> = text.lines().enumerate().filter(|(i, _)| *i != line).map(|(_, l)| l).collect();
        let e = Prices::parse(&without.join("\n"), Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("source"), "{e}");
        let bad_date = text.replacen("date = \"20", "date = \"yesterday", 1);
        let e = Prices::parse(&bad_date, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("date") && e.contains("YYYY"), "{e}");
    }

    #[test]
    fn a_provider_listed_twice_is_refused_with_its_line() {
        let text = format!("{}\n[[provider]]\nname = \"hetzner\"\nlabel = \"again\"\nsource = \"x\"\ndate = \"2026\"\n", shipped_prices());
        let e = Prices::parse(&text, Path::new("p.toml")).unwrap_err().to_string();
        let line = text.lines().count() - 3;
        assert!(e.contains("twice") && e.contains(&format!("line {line}")), "{e}");
    }

    #[test]
    fn an_unknown_key_is_refused_not_ignored() {
        let text = std::fs::read_to_string(default_network()).unwrap().replacen("[events_per_s]", "[events_per_s]\nvalu = 3", 1);
        let e = Network::parse(&text, Path::new("network.toml")).unwrap_err().to_string();
        assert!(e.contains("valu"), "{e}");
    }
}
