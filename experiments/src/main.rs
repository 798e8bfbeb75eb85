//! `experiments`: the command line over the `experiments` library. Parses arguments, calls
//! the library, prints.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use experiments::cost::{
    self,
    data::Network,
    data::Prices,
    measured::Measured,
    model::{Assumptions, Question},
};
use experiments::defs::{self, Scale};
use experiments::report;
use experiments::results;
use experiments::runner::{self, RunOptions};

/// Sonde's experiment runner: measures what running the AT Protocol stack costs.
///
/// Starts the real binaries (pds, plc, relay, loadgen) as separate processes on 127.0.0.1
/// with fresh data directories, drives them, measures each from outside (CPU and RSS from
/// /proc, counters from /metrics, bytes on disk), and writes one JSON result per run to
/// <out>/<experiment>/<run-id>.json.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// The folder of experiment definitions (TOML).
    #[arg(long, default_value_os_t = defs::default_dir())]
    defs: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// List the experiment definitions: what each measures, and how long each scale takes.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Run the named experiments, or all of them, and write their results.
    ///
    /// Each run's result goes to <out>/<experiment>/<run-id>.json, marked failed (with the
    /// steps it finished) if a component died, a check failed, or the run was interrupted.
    /// Ctrl-C stops every process the run started.
    Run {
        /// Experiments to run (default: all of them).
        names: Vec<String>,
        /// tiny (seconds), quick (a few minutes each) or full (the reference results).
        #[arg(long, value_enum, default_value_t = Scale::Quick)]
        scale: Scale,
        /// Where results go (default: results/local/<run-id>/, which git ignores).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed for every random choice of the workloads.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the data directories and logs instead of removing them.
        #[arg(long)]
        keep: bool,
        /// Where to make working folders (data directories, logs).
        #[arg(long, default_value_os_t = std::env::temp_dir().join("sonde-experiments"))]
        work: PathBuf,
        /// Hide progress bars.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The cost table: what each component costs per month at each provider.
    ///
    /// Fits each component's measured resource use (CPU, RAM, disk, bytes out) against what
    /// drives it, sizes it with headroom for each asked-for size, and prices it at every
    /// provider of the price file: the cheapest instance that fits, plus block storage and
    /// egress beyond what it includes. Sizes beyond the measured range are marked with the
    /// factor. Prints the table, and writes cost.json and cost.md into the results folder.
    Cost {
        /// The results folder to read (the committed reference results by default).
        #[arg(long, default_value_os_t = results::reference_dir())]
        results: PathBuf,
        /// The price file.
        #[arg(long, default_value_os_t = cost::data::default_prices())]
        prices: PathBuf,
        /// Today's network: event rates, consumers, replay window.
        #[arg(long, default_value_os_t = cost::data::default_network())]
        network: PathBuf,
        /// PDS sizes to price, in members.
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        members: Vec<u64>,
        /// Relay sizes to price, as multiples of today's event rate.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
        multiples: Vec<f64>,
        /// Consumer counts to price the relay's egress for.
        #[arg(long, value_delimiter = ',', default_value = "1,10")]
        consumers: Vec<u64>,
        /// Replay windows to size the relay's event log for, in hours.
        #[arg(long, value_delimiter = ',', default_value = "24,72")]
        windows: Vec<f64>,
        /// Also write the Markdown table into this file, between its lines
        /// `<!-- cost-table: … -->` and `<!-- /cost-table -->` (how the README's table is made
        /// from the reference results).
        #[arg(long, value_name = "FILE")]
        readme: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The tables and figures drawn from results, and the validity table.
    ///
    /// Prints the measured figures of each experiment and a validity table that sets Sonde's
    /// measurements, under the published workload, beside published figures. Draws the
    /// figures (SVG and PNG) into <results>/figures/. With --reference, sets a local run
    /// beside the reference one.
    Report {
        /// The results folder to report on (the committed reference results by default).
        #[arg(long, default_value_os_t = results::reference_dir())]
        results: PathBuf,
        /// A second results folder to set beside the first (for example the reference results
        /// beside a local run).
        #[arg(long)]
        reference: Option<PathBuf>,
        /// The price file (for the cost figures).
        #[arg(long, default_value_os_t = cost::data::default_prices())]
        prices: PathBuf,
        /// Today's network, and the published figures to check against.
        #[arg(long, default_value_os_t = cost::data::default_network())]
        network: PathBuf,
        /// Do not draw figures.
        #[arg(long)]
        no_figures: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::List { common } => {
            let defs = defs::load_dir(&common.defs)?;
            if common.json {
                let list: Vec<_> = defs
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "name": d.name(), "kind": d.kind(), "summary": d.summary(), "measures": d.measures(),
                            "estimate_s": { "tiny": d.estimate_s(Scale::Tiny), "quick": d.estimate_s(Scale::Quick), "full": d.estimate_s(Scale::Full) },
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for d in &defs {
                    println!("{}  ({})", d.name(), d.summary());
                    println!("  takes about: quick {}, full {}", minutes(d.estimate_s(Scale::Quick)), minutes(d.estimate_s(Scale::Full)));
                    for m in d.measures() {
                        println!("  measures: {m}");
                    }
                }
            }
        }
        Command::Run { names, scale, out, seed, keep, work, quiet, common } => {
            let started = chrono::Utc::now();
            let run_id = results::new_run_id(started);
            let out = out.unwrap_or_else(|| results::local_dir(&run_id));
            let opts = RunOptions {
                names,
                scale,
                out,
                run_id,
                seed,
                keep,
                work_root: work,
                defs: defs::load_dir(&common.defs)?,
                bins: testbed::Binaries::beside_current_exe()?,
                quiet: quiet || common.json,
            };
            let outcomes = runner::run(&opts).await?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                for o in &outcomes {
                    match &o.failure {
                        None => println!("{}: complete, {}", o.experiment, o.result.display()),
                        Some(why) => println!("{}: FAILED ({why}), {}", o.experiment, o.result.display()),
                    }
                }
            }
            if outcomes.iter().any(|o| !o.complete) {
                std::process::exit(1);
            }
        }
        Command::Cost { results, prices, network, members, multiples, consumers, windows, readme, json } => {
            let table = cost_table(&results, &prices, &network, Question { members, multiples, consumers, windows_h: windows })?;
            let (json_path, md_path) = table.write(&results)?;
            if let Some(readme) = &readme {
                table.splice_into(readme)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&table)?);
            } else {
                print!("{}", table.to_text());
                println!("\nwritten: {}, {}", json_path.display(), md_path.display());
            }
        }
        Command::Report { results, reference, prices, network, no_figures, json } => {
            let table = cost_table(&results, &prices, &network, Question::default())?;
            let net = Network::load(&network)?;
            let measured = Measured::load(&results)?;
            let report = report::Report::build(&measured, reference.as_deref().map(Measured::load).transpose()?.as_ref(), &net, table)?;
            let figures = if no_figures { vec![] } else { report::figures::draw(&measured, &Prices::load(&prices)?, &net, &results.join("figures"))? };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
                for f in &figures {
                    println!("figure: {}", f.display());
                }
            }
        }
    }
    Ok(())
}

fn cost_table(results: &std::path::Path, prices: &std::path::Path, network: &std::path::Path, q: Question) -> Result<cost::table::Table> {
    let measured = Measured::load(results)?;
    let p = Prices::load(prices)?;
    let n = Network::load(network)?;
    cost::table::compute(&measured, &p, &n, &q, &Assumptions::default(), &[prices, network])
}

fn minutes(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}
