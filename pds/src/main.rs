//! `pds`: Sonde's Personal Data Server and its admin CLI.

use clap::Parser;

/// Sonde's Personal Data Server and its admin CLI.
///
/// Hosts ATProto accounts (repositories, blobs, identity) for a community such as a co-op, and publishes their changes on com.atproto.sync.subscribeRepos. This build has only the protocol library underneath; the server and admin commands are the subject of the PDS issue.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {}

fn main() {
    Cli::parse();
}
