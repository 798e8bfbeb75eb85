//! `relay`: Sonde's relay: crawls PDS hosts, verifies every commit, re-sequences and fans out.

use clap::Parser;

/// Sonde's relay: crawls PDS hosts, verifies every commit, re-sequences and fans out.
///
/// A non-archival Sync 1.1 relay. This build has only the protocol library underneath; crawling, verification and fan-out are the subject of the relay issue.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {}

fn main() {
    Cli::parse();
}
