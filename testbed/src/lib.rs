//! Sonde's services as separate processes on 127.0.0.1, for integration tests and the
//! experiment runner.
//!
//! A service crate may not depend on another (they talk only over the protocol), so a relay
//! test that needs a PDS, or an experiment that needs everything, starts the real binaries:
//!
//! - [`Binaries`] finds them beside the running executable (`cargo` puts every binary of the
//!   workspace in one folder);
//! - [`Process`] runs one with its output in a log file, stops it with SIGTERM then SIGKILL, and
//!   kills it when dropped. Children are also asked to die with their parent
//!   (`PR_SET_PDEATHSIG`), so even a parent killed with SIGKILL leaves no orphans;
//! - [`Service`] is a process that answers HTTP, started by the launchers in [`services`]
//!   (PLC directory, PDS, relay, and the reference TypeScript PDS from npm) on free ports;
//! - [`disk::SmallDisk`] is a small filesystem a test fills up, to take a service's disk to
//!   full and back.

mod binaries;
pub mod disk;
pub mod fuzz;
mod process;
pub mod services;

pub use binaries::Binaries;
pub use process::{Process, Service};

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("{name} not found at {path} (build the workspace's binaries first: `cargo build --workspace --bins`)")]
    MissingBinary { name: String, path: PathBuf },
    #[error("starting {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("{name} exited ({status}) {during}; last lines of its log {log}:\n{tail}")]
    Exited { name: String, status: String, during: String, log: PathBuf, tail: String },
    #[error("{name} did not answer {url} within {waited:?}; last lines of its log {log}:\n{tail}")]
    NotReady { name: String, url: String, waited: Duration, log: PathBuf, tail: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

/// A free TCP port on 127.0.0.1 (bound, read, released: another process could take it before
/// the caller binds it, which on a test machine does not happen in practice).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("binding an ephemeral port on 127.0.0.1")
}

/// For tests: the workspace binary `name` beside `own_binary` (a test's
/// `env!("CARGO_BIN_EXE_…")`), or `None` with a notice when it is missing — except under CI
/// (`CI=true`), where a missing binary fails the test.
pub fn sibling_binary(own_binary: &str, name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(own_binary).with_file_name(name);
    let what = format!("{} (built by `cargo test --workspace`)", path.display());
    atproto::fixtures::available(path.exists(), &what).then_some(path)
}
