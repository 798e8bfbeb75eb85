//! `com.atproto.sync.subscribeRepos`: the frames of the repository event stream, and the
//! Sync 1.1 verification of `#commit` events.

pub mod cursor;
mod frame;
pub mod frame_file;
mod verify;

pub use frame::*;
pub use verify::{verify_commit, verify_sync, VerifiedCommit, VerifyError};
