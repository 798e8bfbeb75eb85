//! Experiment definitions: `experiments/defs/<name>.toml`, one file per experiment.
//!
//! A file names the experiment and its kind, says what it measures, and carries the
//! workload (shared by every scale) and three scales: `tiny` (seconds; the test suite runs
//! it), `quick` (two or three minutes; `scripts/run`), and `full` (the committed reference
//! results). The kind picks the typed shape of `workload` and of each scale; unknown keys are
//! refused, and every error names the file, the line and the key.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::suite::{hose_compare, indexer_ingest, jetstream_bytes, pds_members, relay_rate};

/// The scale a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Seconds; what the test suite runs.
    Tiny,
    /// Two or three minutes per experiment.
    Quick,
    /// The reference results.
    Full,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Tiny => "tiny",
            Scale::Quick => "quick",
            Scale::Full => "full",
        }
    }

    pub fn parse(name: &str) -> Option<Scale> {
        [Scale::Tiny, Scale::Quick, Scale::Full].into_iter().find(|s| s.name() == name)
    }
}

/// The three scales of one experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scales<S> {
    pub tiny: S,
    pub quick: S,
    pub full: S,
}

impl<S> Scales<S> {
    pub fn get(&self, scale: Scale) -> &S {
        match scale {
            Scale::Tiny => &self.tiny,
            Scale::Quick => &self.quick,
            Scale::Full => &self.full,
        }
    }
}

/// What a file holds for one kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec<W, S> {
    pub name: String,
    pub kind: String,
    /// One line: what the experiment does.
    pub summary: String,
    /// What it measures, one item each.
    pub measures: Vec<String>,
    pub workload: W,
    pub scales: Scales<S>,
}

/// A parsed definition. Parsed once per run and matched by kind, so the variants are not
/// boxed to even out their sizes.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Definition {
    PdsMembers(Spec<pds_members::Workload, pds_members::ScaleSpec>),
    RelayRate(Spec<relay_rate::Workload, relay_rate::ScaleSpec>),
    JetstreamBytes(Spec<jetstream_bytes::Workload, jetstream_bytes::ScaleSpec>),
    HoseCompare(Spec<hose_compare::Workload, hose_compare::ScaleSpec>),
    IndexerIngest(Spec<indexer_ingest::Workload, indexer_ingest::ScaleSpec>),
}

/// `$body` with `$s` bound to the definition's spec, whatever its kind.
macro_rules! each_kind {
    ($def:expr, $s:ident => $body:expr) => {
        match $def {
            Definition::PdsMembers($s) => $body,
            Definition::RelayRate($s) => $body,
            Definition::JetstreamBytes($s) => $body,
            Definition::HoseCompare($s) => $body,
            Definition::IndexerIngest($s) => $body,
        }
    };
}

/// The kinds this build knows.
pub const KINDS: &[&str] = &[pds_members::KIND, relay_rate::KIND, hose_compare::KIND, jetstream_bytes::KIND, indexer_ingest::KIND];

#[derive(Debug, thiserror::Error)]
pub enum DefError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Definition {
    pub fn name(&self) -> &str {
        each_kind!(self, s => &s.name)
    }

    pub fn kind(&self) -> &str {
        each_kind!(self, s => &s.kind)
    }

    pub fn summary(&self) -> &str {
        each_kind!(self, s => &s.summary)
    }

    pub fn measures(&self) -> &[String] {
        each_kind!(self, s => &s.measures)
    }

    /// About how long the scale takes on a 2-core machine, in seconds (from the definition).
    pub fn estimate_s(&self, scale: Scale) -> f64 {
        each_kind!(self, s => s.scales.get(scale).estimate_s.0)
    }

    /// Parses the text of a definition file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Definition, DefError> {
        let invalid = |message: String| DefError::Invalid { path: path.to_path_buf(), message };
        #[derive(Deserialize)]
        struct Head {
            kind: String,
        }
        let head: Head = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let def = match head.kind.as_str() {
            pds_members::KIND => Definition::PdsMembers(typed(text, path)?),
            relay_rate::KIND => Definition::RelayRate(typed(text, path)?),
            jetstream_bytes::KIND => Definition::JetstreamBytes(typed(text, path)?),
            hose_compare::KIND => Definition::HoseCompare(typed(text, path)?),
            indexer_ingest::KIND => Definition::IndexerIngest(typed(text, path)?),
            other => return Err(invalid(format!("unknown kind {other:?} (this build knows {})", KINDS.join(", ")))),
        };
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if def.name() != stem {
            return Err(invalid(format!("key `name`: {:?} must match the file name ({stem:?})", def.name())));
        }
        Ok(def)
    }

    pub fn load(path: &Path) -> Result<Definition, DefError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefError::Io { path: path.to_path_buf(), source })?;
        Definition::parse(&text, path)
    }
}

fn typed<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, DefError> {
    toml::from_str(text).map_err(|e| DefError::Invalid { path: path.to_path_buf(), message: e.to_string() })
}

/// The definitions folder of this source tree.
pub fn default_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/defs"))
}

/// Every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Definition>, DefError> {
    let io = |source| DefError::Io { path: dir.to_path_buf(), source };
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    paths.sort();
    paths.iter().map(|p| Definition::load(p)).collect()
}

/// A number that must be positive and finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v > 0.0 {
            Ok(Positive(v))
        } else {
            Err(serde::de::Error::custom(format!("must be a positive number, not {v}")))
        }
    }
}

/// A number that must be finite and not negative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= 0.0 {
            Ok(NonNegative(v))
        } else {
            Err(serde::de::Error::custom(format!("must be a number ≥ 0, not {v}")))
        }
    }
}

/// A share between 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Fraction(v))
        } else {
            Err(serde::de::Error::custom(format!("must be between 0 and 1, not {v}")))
        }
    }
}

/// A list that must not be empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NonEmpty<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NonEmpty<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<T>::deserialize(d)?;
        if v.is_empty() {
            Err(serde::de::Error::custom("must list at least one value"))
        } else {
            Ok(NonEmpty(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_definition_parses() {
        let defs = load_dir(&default_dir()).unwrap();
        assert!(defs.iter().any(|d| d.name() == "pds-members"));
        assert!(defs.iter().any(|d| d.name() == "relay-rate"));
        for d in &defs {
            assert!(!d.summary().is_empty() && !d.measures().is_empty(), "{}", d.name());
            assert!(d.estimate_s(Scale::Tiny) < d.estimate_s(Scale::Quick), "{}", d.name());
            assert!(d.estimate_s(Scale::Quick) <= d.estimate_s(Scale::Full), "{}", d.name());
        }
    }

    fn shipped(name: &str) -> String {
        std::fs::read_to_string(default_dir().join(format!("{name}.toml"))).unwrap()
    }

    #[test]
    fn a_bad_value_names_the_file_line_and_key() {
        // The image fraction sits on its own line; make it impossible.
        let text = shipped("pds-members");
        let line = text.lines().position(|l| l.starts_with("image_fraction")).unwrap() + 1;
        let bad = text.replace(text.lines().nth(line - 1).unwrap(), "image_fraction = 1.5");
        let e = Definition::parse(&bad, Path::new("defs/pds-members.toml")).unwrap_err().to_string();
        assert!(e.starts_with("defs/pds-members.toml: "), "{e}");
        assert!(e.contains(&format!("line {line}")), "{e}");
        assert!(e.contains("image_fraction") && e.contains("between 0 and 1"), "{e}");
    }

    #[test]
    fn unknown_keys_kinds_and_names_are_refused() {
        let text = shipped("pds-members");
        let e =
            Definition::parse(&text.replacen("[workload]\n", "[workload]\nposts_per_year = 3\n", 1), Path::new("pds-members.toml")).unwrap_err().to_string();
        assert!(e.contains("posts_per_year"), "{e}");
        let e =
            Definition::parse(&text.replacen("kind = \"pds-members\"", "kind = \"pds-nembers\"", 1), Path::new("pds-members.toml")).unwrap_err().to_string();
        assert!(e.contains("unknown kind \"pds-nembers\""), "{e}");
        let e = Definition::parse(&text, Path::new("other.toml")).unwrap_err().to_string();
        assert!(e.contains("must match the file name"), "{e}");
        let e = Definition::parse("kind = ", Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.starts_with("x.toml: ") && e.contains("line 1"), "{e}");
    }
}
