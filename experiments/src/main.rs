//! `experiments`: Sonde's experiment runner and cost model; writes results/.

use clap::Parser;

/// Sonde's experiment runner and cost model; writes results/.
///
/// Runs experiment definitions against the Sonde services and writes results for the notebooks. This build has only the protocol library underneath.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {}

fn main() {
    Cli::parse();
}
