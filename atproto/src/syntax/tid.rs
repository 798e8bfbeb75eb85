//! `Tid` and `TidGenerator`: timestamp identifiers (atproto.com/specs/tid).
//!
//! A TID is a 64-bit integer written as 13 characters of base32-sortable
//! (`234567abcdefghijklmnopqrstuvwxyz`): the top bit 0, then 53 bits of microseconds since the
//! UNIX epoch, then a 10-bit clock identifier. String order is numeric order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{string_newtype, SyntaxError};

const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
const MICROS_MASK: u64 = (1 << 53) - 1;
const CLOCK_MASK: u16 = (1 << 10) - 1;

fn digit(b: u8) -> Option<u64> {
    match b {
        b'2'..=b'7' => Some((b - b'2') as u64),
        b'a'..=b'z' => Some((b - b'a') as u64 + 6),
        _ => None,
    }
}

/// A TID, e.g. `3jzfcijpj2z2a`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(String);

string_newtype!(Tid);

impl Tid {
    /// Length in characters.
    pub const LEN: usize = 13;

    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let err = SyntaxError::Tid;
        if s.len() != Self::LEN {
            return Err(err("must be exactly 13 characters"));
        }
        let mut bytes = s.bytes();
        // The first character carries the top bit: only the first 16 symbols keep it 0.
        if bytes.next().and_then(digit).is_none_or(|d| d >= 16) {
            return Err(err("first character must be one of 234567abcdefghij"));
        }
        if !bytes.all(|b| digit(b).is_some()) {
            return Err(err("characters must be base32-sortable (234567a-z)"));
        }
        Ok(())
    }

    /// The TID of a timestamp and clock identifier. Bits beyond the low 53 of `micros` and
    /// the low 10 of `clock_id` are discarded.
    pub fn from_parts(micros: u64, clock_id: u16) -> Tid {
        Self::from_u64(((micros & MICROS_MASK) << 10) | (clock_id & CLOCK_MASK) as u64)
    }

    /// The TID of a 64-bit value (the top bit is cleared).
    pub fn from_u64(value: u64) -> Tid {
        let value = value & !(1 << 63);
        let s = (0..Self::LEN).map(|i| ALPHABET[((value >> (5 * (Self::LEN - 1 - i))) & 31) as usize] as char).collect();
        Tid(s)
    }

    /// The 64-bit value.
    pub fn to_u64(&self) -> u64 {
        // Validated: 13 symbols, the first below 16, so the result fits in 64 bits.
        self.0.bytes().fold(0, |acc, b| (acc << 5) | digit(b).unwrap_or(0))
    }

    /// Microseconds since the UNIX epoch.
    pub fn timestamp_micros(&self) -> u64 {
        self.to_u64() >> 10
    }

    /// The 10-bit clock identifier.
    pub fn clock_id(&self) -> u16 {
        (self.to_u64() as u16) & CLOCK_MASK
    }

    /// A new TID from the process-wide generator: strictly greater than every TID it has
    /// produced before.
    pub fn now() -> Tid {
        static GLOBAL: LazyLock<TidGenerator> = LazyLock::new(TidGenerator::new);
        GLOBAL.next()
    }
}

/// Produces strictly increasing TIDs, even when the system clock steps backwards or several
/// calls land in the same microsecond (the timestamp then runs ahead of the clock by as many
/// microseconds as needed). Thread-safe and lock-free.
#[derive(Debug)]
pub struct TidGenerator {
    last_micros: AtomicU64,
    clock_id: u16,
}

impl TidGenerator {
    /// A generator with a random clock identifier.
    pub fn new() -> Self {
        Self::with_clock_id(rand::random::<u16>())
    }

    /// A generator with the given clock identifier (its low 10 bits).
    pub fn with_clock_id(clock_id: u16) -> Self {
        TidGenerator { last_micros: AtomicU64::new(0), clock_id: clock_id & CLOCK_MASK }
    }

    /// The clock identifier in every TID this generator produces.
    pub fn clock_id(&self) -> u16 {
        self.clock_id
    }

    /// The next TID.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&self) -> Tid {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let advance = |last: u64| now.max(last + 1);
        let last = self.last_micros.fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| Some(advance(l))).unwrap_or_else(|l| l);
        Tid::from_parts(advance(last), self.clock_id)
    }

    /// Makes every later TID of this generator greater than `tid` (e.g. the last one stored
    /// before a restart).
    pub fn advance_past(&self, tid: &Tid) {
        self.last_micros.fetch_max(tid.timestamp_micros(), Ordering::AcqRel);
    }
}

impl Default for TidGenerator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn parts_roundtrip() {
        let tid = Tid::from_parts(1_700_000_000_123_456, 0x2a5);
        assert_eq!(tid.as_str().len(), 13);
        assert_eq!(tid.timestamp_micros(), 1_700_000_000_123_456);
        assert_eq!(tid.clock_id(), 0x2a5);
        assert_eq!(tid.as_str().parse::<Tid>().unwrap(), tid);
        assert_eq!(Tid::from_parts(0, 0).as_str(), "2222222222222");
        assert_eq!(Tid::from_parts(MICROS_MASK, CLOCK_MASK).as_str(), "bzzzzzzzzzzzz");
        assert_eq!(Tid::from_u64(u64::MAX).as_str(), "bzzzzzzzzzzzz");
        // The syntax admits a set top bit ('c'..='j' first); the value keeps it.
        let high: Tid = "jzzzzzzzzzzzz".parse().unwrap();
        assert_eq!(high.to_u64(), u64::MAX);
        let fixture: Tid = "3jzfcijpj2z2a".parse().unwrap();
        assert_eq!(Tid::from_u64(fixture.to_u64()), fixture);
    }

    #[test]
    fn string_order_is_numeric_order() {
        let a = Tid::from_parts(1000, 1023);
        let b = Tid::from_parts(1001, 0);
        assert!(a < b && a.to_u64() < b.to_u64());
    }

    #[test]
    fn generator_is_strictly_monotonic_across_threads() {
        let gen = Arc::new(TidGenerator::with_clock_id(7));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let gen = Arc::clone(&gen);
                std::thread::spawn(move || (0..5000).map(|_| gen.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let tids = h.join().unwrap();
            // Within one thread, each TID is greater than the previous one.
            assert!(tids.windows(2).all(|w| w[0] < w[1]));
            all.extend(tids);
        }
        // Across threads, no two calls ever returned the same TID.
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all.iter().all(|t| t.clock_id() == 7));
    }

    #[test]
    fn generator_survives_clock_going_backwards() {
        let gen = TidGenerator::with_clock_id(1);
        let future = Tid::from_parts(u64::MAX >> 12, 0); // far ahead of the system clock
        gen.advance_past(&future);
        let a = gen.next();
        let b = gen.next();
        assert!(future < a && a < b);
        assert_eq!(b.timestamp_micros(), a.timestamp_micros() + 1);
        assert!(Tid::now() < Tid::now());
        assert!(TidGenerator::new().clock_id() < 1024);
    }
}
