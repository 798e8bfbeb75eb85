//! The serving rules of a `subscribeRepos` cursor, one copy for every server of a stream (the
//! PDS, both relay outputs, loadgen's emulated hosts and replay), so that they cannot drift.
//!
//! From the event stream spec: no cursor starts at the live head; a cursor ahead of the stream
//! is the `FutureCursor` error and a close; a cursor older than what the server still holds
//! gets `#info OutdatedCursor`, then everything from the oldest event held; a subscriber that
//! falls too far behind, or whose next event is pruned while it reads, gets
//! `ConsumerTooSlow` and a close.

use super::{ErrorFrame, InfoEvent, SubscribeReposFrame};

/// Where a subscriber starts: it is sent every event with a seq after the given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    After(u64),
    /// After `#info OutdatedCursor` ([`outdated_cursor_frame`]): events between the cursor and
    /// the given seq are no longer held.
    Outdated(u64),
}

impl Start {
    /// The seq the subscriber's stream continues after.
    pub fn after(self) -> u64 {
        match self {
            Start::After(s) | Start::Outdated(s) => s,
        }
    }
}

/// A cursor ahead of the stream's last seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cursor {cursor} is ahead of the stream's last seq {head}")]
pub struct FutureCursor {
    pub cursor: i64,
    pub head: u64,
}

impl FutureCursor {
    /// The `FutureCursor` error frame to send before closing.
    pub fn frame(&self) -> Vec<u8> {
        error_frame("FutureCursor", self.to_string())
    }
}

/// Where a subscriber with `cursor` starts, given the stream's last seq `head` and `oldest`,
/// the seq of the oldest event still held (`head + 1` when none is).
pub fn start(cursor: Option<i64>, oldest: u64, head: u64) -> Result<Start, FutureCursor> {
    let Some(cursor) = cursor else { return Ok(Start::After(head)) };
    if cursor > 0 && cursor as u64 > head {
        return Err(FutureCursor { cursor, head });
    }
    let after = cursor.max(0) as u64;
    Ok(if after + 1 < oldest { Start::Outdated(oldest - 1) } else { Start::After(after) })
}

/// Whether a subscriber that has been sent everything up to `pos` must be cut off: more than
/// `max_lag` events behind (`behind` counts the events held after `pos`, not the difference of
/// sequence numbers, which may skip: a restored log jumps), or its next event already pruned
/// (`oldest` moved past it while it read).
pub fn too_slow(behind: u64, pos: u64, oldest: u64, max_lag: u64) -> bool {
    behind > max_lag || pos + 1 < oldest
}

/// `#info OutdatedCursor`.
pub fn outdated_cursor_frame() -> Vec<u8> {
    SubscribeReposFrame::Info(InfoEvent {
        name: "OutdatedCursor".into(),
        message: Some("cursor is older than the events held; replaying from the oldest one".into()),
    })
    .encode()
}

/// The `ConsumerTooSlow` error frame.
pub fn consumer_too_slow_frame() -> Vec<u8> {
    error_frame("ConsumerTooSlow", "subscriber fell too far behind the stream".into())
}

fn error_frame(error: &str, message: String) -> Vec<u8> {
    SubscribeReposFrame::Error(ErrorFrame { error: error.into(), message: Some(message) }).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_rules_for_each_kind_of_cursor() {
        // Events 11..=20 held.
        let (oldest, head) = (11, 20);
        assert_eq!(start(None, oldest, head), Ok(Start::After(20)), "live");
        assert_eq!(start(Some(15), oldest, head), Ok(Start::After(15)));
        assert_eq!(start(Some(20), oldest, head), Ok(Start::After(20)), "at the head");
        assert_eq!(start(Some(10), oldest, head), Ok(Start::After(10)), "just before the oldest");
        assert_eq!(start(Some(9), oldest, head), Ok(Start::Outdated(10)), "event 10 is gone");
        assert_eq!(start(Some(-5), oldest, head), Ok(Start::Outdated(10)));
        assert_eq!(start(Some(0), 1, head), Ok(Start::After(0)), "everything is held");
        assert_eq!(start(Some(21), oldest, head), Err(FutureCursor { cursor: 21, head: 20 }));
        // Nothing held yet, or every event pruned.
        assert_eq!(start(Some(0), 1, 0), Ok(Start::After(0)));
        assert_eq!(start(Some(3), 21, 20), Ok(Start::Outdated(20)));
    }

    #[test]
    fn too_slow_by_lag_or_by_pruning() {
        assert!(!too_slow(10, 10, 11, 10));
        assert!(too_slow(11, 9, 1, 10), "11 behind");
        assert!(too_slow(10, 10, 12, 100), "event 11 was pruned mid-read");
        assert!(!too_slow(3, 5, 1, 10), "3 events held after a jump of sequence numbers");
    }

    #[test]
    fn frames_decode_as_what_they_say() {
        let f = SubscribeReposFrame::decode(&FutureCursor { cursor: 5, head: 4 }.frame()).unwrap();
        assert!(matches!(f, SubscribeReposFrame::Error(e) if e.error == "FutureCursor"));
        let f = SubscribeReposFrame::decode(&consumer_too_slow_frame()).unwrap();
        assert!(matches!(f, SubscribeReposFrame::Error(e) if e.error == "ConsumerTooSlow"));
        let f = SubscribeReposFrame::decode(&outdated_cursor_frame()).unwrap();
        assert!(matches!(f, SubscribeReposFrame::Info(i) if i.name == "OutdatedCursor"));
    }
}
