//! `loadgen`: Sonde's load generator: synthetic networks, write drivers, firehose record/replay, hose comparison.

use clap::Parser;

/// Sonde's load generator: synthetic networks, write drivers, firehose record/replay, hose comparison.
///
/// Makes realistic ATProto traffic on demand for measuring PDSes and relays. This build has only the protocol library underneath; its commands are the subject of the load generator issue.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {}

fn main() {
    Cli::parse();
}
