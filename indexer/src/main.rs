//! `indexer`: Sonde's AppView-style indexer: RocksDB graph and Tantivy search behind app.bsky reads.

use clap::Parser;

/// Sonde's AppView-style indexer: RocksDB graph and Tantivy search behind app.bsky reads.
///
/// Consumes a relay's firehose and answers app.bsky read queries. This build has only the protocol library underneath.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {}

fn main() {
    Cli::parse();
}
