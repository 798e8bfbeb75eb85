//! Locating the public test data in `../shared` (interop fixtures, the network corpus,
//! lexicons) for the tests of every Sonde crate.
//!
//! The directory is `$SONDE_SHARED_DIR` if set, else `shared/` beside the workspace root.
//! When it is missing, tests skip with a printed notice, except under CI (`CI=true`), where a
//! missing fixture directory is a failure.

use std::path::PathBuf;

/// The environment variable that overrides the shared data directory.
pub const ENV: &str = "SONDE_SHARED_DIR";

/// The shared data directory, or `None` (after printing a notice) if it is absent outside CI.
///
/// # Panics
/// Under CI (`CI=true`) when the directory is absent: conformance tests must not silently skip.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    available(dir.is_dir(), &format!("shared fixtures at {} (set {ENV})", dir.display())).then_some(dir)
}

/// Whether a test's prerequisite is there. When it is not, a test skips with a printed notice,
/// except under CI (`CI=true`), where this panics: tests must not silently skip there.
pub fn available(present: bool, what: &str) -> bool {
    if !present {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("missing: {what}; CI requires it");
        }
        eprintln!("NOTICE: skipping, missing: {what}");
    }
    present
}

/// A path inside the shared data directory (see [`shared_dir`]).
pub fn shared_path(rel: &str) -> Option<PathBuf> {
    shared_dir().map(|d| d.join(rel))
}
