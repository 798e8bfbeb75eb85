//! The cost table: every sized component priced at every provider, and its renderings as text
//! (stdout), Markdown and JSON (both written into the results folder).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::data::{Network, Prices};
use super::measured::Measured;
use super::model::{self, Assumptions, Fits, Question, Sized};
use super::price::{quote, Quote};

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub generated_at: String,
    /// The provider ids, in the order of every row's `quotes`.
    pub providers: Vec<String>,
    pub provider_labels: Vec<String>,
    pub rows: Vec<Row>,
    pub fits: Fits,
    pub assumptions: Assumptions,
    pub question: Question,
    /// The result files the fits were made from, and the data files.
    pub inputs: Vec<PathBuf>,
    /// What could not be priced, and why (a component with no measurement, for example).
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub sized: Sized,
    /// One per provider: the bill, or why it cannot host the need.
    pub quotes: Vec<Result<Quote, String>>,
    /// The index of the cheapest provider.
    pub cheapest: Option<usize>,
}

/// Prices every component the measurements cover.
pub fn compute(measured: &Measured, prices: &Prices, network: &Network, q: &Question, a: &Assumptions, data_files: &[&Path]) -> Result<Table> {
    let mut fits = Fits::new();
    let mut missing = Vec::new();
    let mut sized = model::pds(measured, q, a, &mut fits)?;
    if sized.is_empty() {
        missing.push("PDS: no complete pds-members run in the results".to_string());
    }
    let relay = model::relay(measured, network, q, a, &mut fits)?;
    if relay.is_empty() {
        missing.push("relay: no complete relay-rate run in the results".into());
    }
    sized.extend(relay);
    let appview = model::appview(measured, network, q, a, &mut fits)?;
    if appview.is_empty() {
        missing.push("AppView: no complete indexer-ingest run in the results".into());
    }
    sized.extend(appview);
    match model::jetstream_consumer(measured, network) {
        Some(row) => sized.push(row),
        None => missing.push("Jetstream consumer: no complete jetstream-bytes run in the results".into()),
    }
    let hosts: Vec<_> = prices.hosts().collect();
    let rows = sized
        .into_iter()
        .map(|s| {
            let quotes: Vec<Result<Quote, String>> = hosts.iter().map(|p| quote(p, &s.need).map_err(|e| e.to_string())).collect();
            let cheapest =
                quotes.iter().enumerate().filter_map(|(i, q)| q.as_ref().ok().map(|q| (i, q.total_eur))).min_by(|a, b| a.1.total_cmp(&b.1)).map(|(i, _)| i);
            Row { sized: s, quotes, cheapest }
        })
        .collect();
    let inputs: Vec<PathBuf> = measured.files().into_iter().chain(data_files.iter().copied()).map(crate::results::in_workspace).collect();
    Ok(Table {
        generated_at: result_schema::timestamp(chrono::Utc::now()),
        providers: hosts.iter().map(|p| p.id().to_string()).collect(),
        provider_labels: hosts.iter().map(|p| p.label.clone()).collect(),
        rows,
        fits,
        assumptions: a.clone(),
        question: q.clone(),
        inputs,
        missing,
    })
}

fn euros(v: f64) -> String {
    if v >= 100.0 {
        format!("€{}", model::thousands(v))
    } else {
        format!("€{v:.2}")
    }
}

fn need(s: &Sized) -> String {
    let n = &s.need;
    format!("{:.2} vCPU, {:.1} GB RAM, {:.0} GB disk, {:.0} GB/mo out", n.vcpu, n.ram_gb, n.disk_gb, n.egress_gb_month)
}

impl Table {
    fn cells(&self, row: &Row) -> Vec<String> {
        row.quotes
            .iter()
            .enumerate()
            .map(|(i, q)| match q {
                Ok(q) => format!("{}{}", euros(q.total_eur), if Some(i) == row.cheapest { " *" } else { "" }),
                Err(_) => "—".into(),
            })
            .collect()
    }

    fn verdict(row: &Row) -> (String, String) {
        let cheapest = row.cheapest.and_then(|i| row.quotes[i].as_ref().ok());
        let binding = cheapest.map(|q| format!("{} ({})", q.binding, q.instance)).unwrap_or_else(|| "fits nowhere".into());
        let extrapolated = row.sized.extrapolated.map(|e| e.to_string()).unwrap_or_else(|| "measured".into());
        (binding, extrapolated)
    }

    /// The table for a terminal: aligned columns, then the notes.
    pub fn to_text(&self) -> String {
        let mut header = vec!["component".to_string(), "size".into()];
        header.extend(self.providers.iter().cloned());
        header.extend(["binding (cheapest)".into(), "range".into()]);
        let mut lines = vec![header];
        for row in &self.rows {
            let mut line = vec![row.sized.component.clone(), row.sized.size.clone()];
            line.extend(self.cells(row));
            let (b, e) = Table::verdict(row);
            line.extend([b, e]);
            lines.push(line);
        }
        let mut out = aligned(&lines);
        out.push_str(&self.notes("  "));
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| component | size | need |");
        for l in &self.provider_labels {
            write!(out, " {l} |").unwrap();
        }
        out.push_str(" binding (cheapest) | range |\n|---|---|---|");
        out.push_str(&"---:|".repeat(self.providers.len()));
        out.push_str("---|---|\n");
        for row in &self.rows {
            let (b, e) = Table::verdict(row);
            writeln!(out, "| {} | {} | {} | {} | {b} | {e} |", row.sized.component, row.sized.size, need(&row.sized), self.cells(row).join(" | ")).unwrap();
        }
        out.push('\n');
        out.push_str(&self.notes("- "));
        out
    }

    fn notes(&self, bullet: &str) -> String {
        let mut out = String::new();
        writeln!(out, "\n{bullet}€/month excluding VAT; * marks the cheapest; — cannot host it (see the JSON for why).").unwrap();
        writeln!(out, "{bullet}Headroom: {}.", self.assumptions.describe()).unwrap();
        for row in &self.rows {
            if let Some(note) = &row.sized.note {
                writeln!(out, "{bullet}{}: {note}.", row.sized.component).unwrap();
            }
        }
        for (name, fit) in &self.fits {
            let range: Vec<String> =
                fit.drivers.iter().zip(&fit.range).filter(|_| !fit.terms.is_empty()).map(|(d, (lo, hi))| format!("{d} {lo:.0}–{hi:.0}")).collect();
            let range = if range.is_empty() { "a constant".to_string() } else { format!("measured over {}", range.join(", ")) };
            writeln!(out, "{bullet}fit {name} = {} (R² {:.3}, {} points, {range})", fit.formula(), fit.r2, fit.points).unwrap();
        }
        for m in &self.missing {
            writeln!(out, "{bullet}not priced: {m}").unwrap();
        }
        out
    }

    /// The Markdown table with a line saying where it came from: `cost.md` under its title, and
    /// the README's cost section.
    pub fn to_markdown_with_sources(&self) -> String {
        let sources: Vec<String> = self.inputs.iter().map(|p| format!("`{}`", p.display())).collect();
        format!("Generated by `experiments cost` at {} from {}.\n\n{}", self.generated_at, sources.join(", "), self.to_markdown())
    }

    /// Writes `cost.json` and `cost.md` into `folder`; returns their paths.
    pub fn write(&self, folder: &Path) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        let json = folder.join("cost.json");
        let md = folder.join("cost.md");
        std::fs::write(&json, serde_json::to_string_pretty(self)? + "\n").with_context(|| format!("writing {}", json.display()))?;
        std::fs::write(&md, format!("{COST_MD_TITLE}{}", self.to_markdown_with_sources())).with_context(|| format!("writing {}", md.display()))?;
        Ok((json, md))
    }

    /// Replaces what lies between the lines [`BEGIN`] and [`END`] of `file` (the README) with
    /// [`to_markdown_with_sources`](Self::to_markdown_with_sources).
    pub fn splice_into(&self, file: &Path) -> Result<()> {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let spliced = splice(&text, &self.to_markdown_with_sources()).with_context(|| format!("{}", file.display()))?;
        std::fs::write(file, spliced).with_context(|| format!("writing {}", file.display()))
    }
}

/// The title line of `cost.md`, above [`Table::to_markdown_with_sources`].
pub const COST_MD_TITLE: &str = "# What it costs\n\n";
/// The lines around the generated cost table in the README.
pub const BEGIN: &str = "<!-- cost-table: generated by `experiments cost --readme`, do not edit -->";
pub const END: &str = "<!-- /cost-table -->";

/// `text` with what lies between its [`BEGIN`] and [`END`] lines replaced by `block`.
pub fn splice(text: &str, block: &str) -> Result<String> {
    let begin = text.find(BEGIN).with_context(|| format!("no line {BEGIN}"))? + BEGIN.len();
    let end = begin + text[begin..].find(END).with_context(|| format!("no line {END} after {BEGIN}"))?;
    Ok(format!("{}\n{}\n{}", &text[..begin], block.trim_end(), &text[end..]))
}

/// What lies between the [`BEGIN`] and [`END`] lines of `text`.
pub fn spliced(text: &str) -> Option<&str> {
    let begin = text.find(BEGIN)? + BEGIN.len();
    let end = begin + text[begin..].find(END)?;
    Some(text[begin..end].trim())
}

/// Rows of cells as aligned columns, the first row a header.
pub fn aligned(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns).map(|c| lines.iter().filter_map(|l| l.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for l in lines {
        let cells: Vec<String> = l.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", cells.join("  ").trim_end()).unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_block_is_replaced_between_its_markers_only() {
        let readme = format!("# Title\n\n{BEGIN}\nold table\n{END}\n\nafter\n");
        let new = splice(&readme, "| a |\n|---|\n").unwrap();
        assert_eq!(new, format!("# Title\n\n{BEGIN}\n| a |\n|---|\n{END}\n\nafter\n"));
        assert_eq!(spliced(&new), Some("| a |\n|---|"));
        // Splicing twice gives the same file.
        assert_eq!(splice(&new, "| a |\n|---|\n").unwrap(), new);
        let err = splice("no markers", "x").unwrap_err().to_string();
        assert!(err.contains("cost-table"), "{err}");
    }
}
