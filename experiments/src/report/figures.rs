//! The report's figures, drawn with plotters as SVG and PNG into `<results>/figures/`:
//! - `pds-cost`: PDS €/month vs members, per provider, one panel per PDS measured;
//! - `relay-cost`: relay €/month vs multiple of today's network, per provider;
//! - `relay-per-event`: relay CPU seconds per 1,000 events and log bytes per event vs rate;
//! - `latency`: relay delivery lag vs rate, and PDS write latency vs members.
//!
//! Axes that span orders of magnitude are drawn in log₁₀ and labelled with the real values.
//! The measured range is shaded, so an extrapolated curve is seen as one. Text is laid out
//! with DejaVu Sans, read from the Debian package `fonts-dejavu-core`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::number;
use crate::cost::data::{Network, Prices};
use crate::cost::measured::Measured;
use crate::cost::model::{Assumptions, Question};
use crate::cost::table::{compute, Table};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const SIZE: (u32, u32) = (960, 540);

/// One panel: lines of points, in real units.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// The x range that was measured, shaded.
    pub measured: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws every figure the measurements allow; returns the files written.
pub fn draw(measured: &Measured, prices: &Prices, network: &Network, dir: &Path) -> Result<Vec<PathBuf>> {
    font()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let dense = Question {
        members: vec![10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000],
        multiples: vec![0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
        consumers: vec![10],
        windows_h: vec![network.replay_window_hours.get()],
    };
    let table = compute(measured, prices, network, &dense, &Assumptions::default(), &[])?;
    let mut figures: Vec<(&str, Vec<Chart>)> = Vec::new();
    let pds = pds_cost(&table, measured);
    if !pds.is_empty() {
        figures.push(("pds-cost", pds));
    }
    if let Some(c) = relay_cost(&table, measured, network) {
        figures.push(("relay-cost", vec![c]));
    }
    if let Some(c) = relay_per_event(measured) {
        figures.push(("relay-per-event", c));
    }
    if let Some(c) = indexer(measured) {
        figures.push(("indexer", c));
    }
    let latency = latency(measured);
    if !latency.is_empty() {
        figures.push(("latency", latency));
    }
    for (name, charts) in figures {
        let svg = dir.join(format!("{name}.svg"));
        let png = dir.join(format!("{name}.png"));
        let width = SIZE.0 * charts.len() as u32;
        render(SVGBackend::new(&svg, (width, SIZE.1)).into_drawing_area(), &charts).with_context(|| format!("drawing {}", svg.display()))?;
        render(BitMapBackend::new(&png, (width, SIZE.1)).into_drawing_area(), &charts).with_context(|| format!("drawing {}", png.display()))?;
        written.extend([svg, png]);
    }
    Ok(written)
}

/// Registers the font once; plotters' ab_glyph text needs it for layout in SVG too.
fn font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| format!("reading the figures' font {FONT}: {e} (install the Debian package fonts-dejavu-core)"))?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
            .map_err(|_| format!("{FONT} is not a font plotters can read"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

fn per_provider(table: &Table, component: &str, x: impl Fn(&crate::cost::table::Row) -> f64) -> Vec<Series> {
    table
        .providers
        .iter()
        .enumerate()
        .map(|(i, _)| Series {
            name: table.provider_labels[i].clone(),
            points: table
                .rows
                .iter()
                .filter(|r| r.sized.component == component)
                .filter_map(|r| r.quotes[i].as_ref().ok().map(|q| (x(r), q.total_eur)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The PDSes measured (`reference`, `sonde`), in order.
fn pds_targets(m: &Measured) -> Vec<String> {
    let mut targets: Vec<String> = m.pds.iter().flat_map(|r| r.steps.iter().map(|s| s.target.clone())).collect();
    targets.sort();
    targets.dedup();
    targets
}

fn pds_cost(table: &Table, m: &Measured) -> Vec<Chart> {
    let Some(runs) = m.pds.as_ref() else { return vec![] };
    pds_targets(m)
        .into_iter()
        .map(|target| {
            let component = format!("PDS ({target})");
            let members: Vec<f64> = runs.steps.iter().filter(|s| s.target == target).map(|s| s.members as f64).collect();
            Chart {
                title: format!("{component}: €/month by members"),
                x_label: "members".into(),
                y_label: "€/month".into(),
                log_x: true,
                log_y: true,
                series: per_provider(table, &component, |r| r.sized.drivers["members"]),
                measured: Some((fold_min(&members), fold_max(&members))),
            }
        })
        .filter(|c| !c.series.is_empty())
        .collect()
}

fn relay_cost(table: &Table, m: &Measured, network: &Network) -> Option<Chart> {
    let runs = m.relay.as_ref()?;
    let typical = network.events_per_s.get();
    let rates: Vec<f64> = runs.steps.iter().filter(|s| s.derived.sustained).map(|s| s.derived.accepted_per_s / typical).collect();
    Some(Chart {
        title: format!("Relay: €/month by network size (10 consumers, {:.0} h window)", network.replay_window_hours.get()),
        x_label: format!("× today's network ({typical:.0} events/s)"),
        y_label: "€/month".into(),
        log_x: true,
        log_y: true,
        series: per_provider(table, "Relay", |r| r.sized.drivers["events_per_s"] / typical),
        measured: (!rates.is_empty()).then(|| (fold_min(&rates), fold_max(&rates))),
    })
}

fn relay_per_event(m: &Measured) -> Option<Vec<Chart>> {
    let runs = m.relay.as_ref()?;
    let mut consumers: Vec<usize> = runs.steps.iter().map(|s| s.consumers).collect();
    consumers.sort();
    consumers.dedup();
    let by = |f: fn(&crate::suite::relay_rate::Step) -> f64| -> Vec<Series> {
        consumers
            .iter()
            .map(|&k| Series {
                name: format!("{k} consumer{}", if k == 1 { "" } else { "s" }),
                points: sorted(runs.steps.iter().filter(|s| s.consumers == k).map(|s| (s.derived.accepted_per_s, f(s))).collect()),
            })
            .collect()
    };
    let chart = |title: &str, y: &str, series| Chart {
        title: title.into(),
        x_label: "events/s accepted".into(),
        y_label: y.into(),
        log_x: false,
        log_y: false,
        series,
        measured: None,
    };
    Some(vec![
        chart("Relay CPU per 1,000 events", "CPU seconds", by(|s| s.derived.cpu_s_per_1000_events)),
        chart("Relay event log per event", "bytes", by(|s| s.derived.log_bytes_per_event)),
    ])
}

/// The indexer by records held: ingest rate and bytes per record, and read p99 per method.
fn indexer(m: &Measured) -> Option<Vec<Chart>> {
    let runs = m.indexer.as_ref()?;
    let by_records = |f: &dyn Fn(&crate::suite::indexer_ingest::Step) -> Option<f64>| {
        sorted(runs.steps.iter().filter_map(|s| Some((s.derived.records.max(1) as f64, f(s)?))).collect())
    };
    let chart = |title: &str, y: &str, log_y: bool, series| Chart {
        title: title.into(),
        x_label: "records held".into(),
        y_label: y.into(),
        log_x: true,
        log_y,
        series,
        measured: None,
    };
    let mut methods: Vec<&String> = runs.steps.iter().flat_map(|s| s.derived.read_p99_ms.keys()).collect();
    methods.sort();
    methods.dedup();
    let reads = methods
        .into_iter()
        .map(|method| Series {
            name: method.rsplit('.').next().unwrap_or(method).to_string(),
            points: by_records(&|s| s.derived.read_p99_ms.get(method).map(|v| v.max(0.01))),
        })
        .collect();
    Some(vec![
        chart("Indexer ingest rate", "records/s", false, vec![Series { name: "records/s".into(), points: by_records(&|s| Some(s.derived.records_per_s)) }]),
        chart(
            "Indexer disk per record",
            "bytes",
            false,
            vec![
                Series { name: "per record".into(), points: by_records(&|s| s.derived.bytes_per_record) },
                Series { name: "per edge".into(), points: by_records(&|s| s.derived.bytes_per_edge) },
            ],
        ),
        chart(&format!("Indexer read p99, {} clients", runs.steps.first().map_or(0, |s| s.raw.reads.clients)), "ms", true, reads),
    ])
}

fn latency(m: &Measured) -> Vec<Chart> {
    let mut out = Vec::new();
    if let Some(runs) = &m.relay {
        let pick = |name: &str, f: fn(&crate::suite::relay_rate::Step) -> Option<u64>| Series {
            name: name.into(),
            points: sorted(runs.steps.iter().filter(|s| s.consumers > 0).filter_map(|s| f(s).map(|v| (s.derived.accepted_per_s, v.max(1) as f64))).collect()),
        };
        out.push(Chart {
            title: "Relay delivery lag by rate".into(),
            x_label: "events/s accepted".into(),
            y_label: "lag, ms".into(),
            log_x: false,
            log_y: true,
            series: vec![pick("p50", |s| s.raw.lag_p50_ms), pick("p99", |s| s.raw.lag_p99_ms)],
            measured: None,
        });
    }
    if let Some(runs) = &m.pds {
        let pick = |target: &str, name: &str, f: fn(&crate::suite::pds_members::Step) -> f64| Series {
            name: format!("{target} {name}"),
            points: sorted(runs.steps.iter().filter(|s| s.target == target).map(|s| (s.members as f64, f(s).max(0.01))).collect()),
        };
        let series = pds_targets(m).iter().flat_map(|t| [pick(t, "p50", |s| s.derived.write_p50_ms), pick(t, "p99", |s| s.derived.write_p99_ms)]).collect();
        out.push(Chart {
            title: "PDS write latency by members".into(),
            x_label: "members".into(),
            y_label: "createRecord, ms".into(),
            log_x: true,
            log_y: true,
            series,
            measured: None,
        });
    }
    out
}

fn sorted(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn fold_min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn fold_max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn render<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, charts: &[Chart]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let panels = root.split_evenly((1, charts.len()));
    for (area, chart) in panels.iter().zip(charts) {
        panel(area, chart)?;
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

fn axis(v: f64, log: bool) -> f64 {
    if log {
        v.max(f64::MIN_POSITIVE).log10()
    } else {
        v
    }
}

fn label(v: f64, log: bool) -> String {
    number(if log { 10f64.powf(v) } else { v })
}

fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e}");
    let points: Vec<(f64, f64)> = c.series.iter().flat_map(|s| s.points.iter().map(|&(x, y)| (axis(x, c.log_x), axis(y, c.log_y)))).collect();
    if points.is_empty() {
        bail!("{}: nothing to draw", c.title);
    }
    let (mut x0, mut x1) = (fold_min(&points.iter().map(|p| p.0).collect::<Vec<_>>()), fold_max(&points.iter().map(|p| p.0).collect::<Vec<_>>()));
    let (mut y0, mut y1) = (fold_min(&points.iter().map(|p| p.1).collect::<Vec<_>>()), fold_max(&points.iter().map(|p| p.1).collect::<Vec<_>>()));
    if !c.log_y {
        y0 = y0.min(0.0);
    }
    for (lo, hi) in [(&mut x0, &mut x1), (&mut y0, &mut y1)] {
        let pad = ((*hi - *lo) * 0.05).max(if *hi == 0.0 { 1.0 } else { hi.abs() * 0.05 });
        *hi += pad;
        if *lo != 0.0 {
            *lo -= pad;
        }
    }
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    let (log_x, log_y) = (c.log_x, c.log_y);
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&|v| label(*v, log_x))
        .y_label_formatter(&|v| label(*v, log_y))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    if let Some((lo, hi)) = c.measured {
        let (lo, hi) = (axis(lo, log_x), axis(hi, log_x));
        chart
            .draw_series(std::iter::once(Rectangle::new([(lo, y0), (hi, y1)], RGBColor(220, 235, 250).filled())))
            .map_err(e)?
            .label("measured range")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], RGBColor(220, 235, 250).filled()));
    }
    for (i, s) in c.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (axis(x, log_x), axis(y, log_y))).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(e)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    Ok(())
}
