//! The compact identifiers keys are built from, and their fixed-width big-endian encodings
//! (so RocksDB's byte order is numeric order and a prefix scan is one actor or one subject).

/// An interned DID: ids are given out in first-seen order from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(pub u32);

/// An interned record (any collection, whether or not the indexer has seen the record yet:
/// a like may arrive before its post). Stored in 5 bytes, so up to 2^40 records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub u64);

/// An interned collection NSID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollId(pub u16);

/// A record key as 8 bytes: a TID is its own 63-bit value (the top bit of a TID is always
/// zero); any other key is interned and stored with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rkey(pub u64);

pub const INTERNED_RKEY: u64 = 1 << 63;
pub const RECORD_ID_BYTES: usize = 5;

impl ActorId {
    pub fn bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
    pub fn read(b: &[u8]) -> Option<ActorId> {
        Some(ActorId(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)))
    }
}

impl RecordId {
    pub fn bytes(self) -> [u8; RECORD_ID_BYTES] {
        let b = self.0.to_be_bytes();
        [b[3], b[4], b[5], b[6], b[7]]
    }
    pub fn read(b: &[u8]) -> Option<RecordId> {
        let b = b.get(..RECORD_ID_BYTES)?;
        Some(RecordId(u64::from_be_bytes([0, 0, 0, b[0], b[1], b[2], b[3], b[4]])))
    }
}

impl CollId {
    pub fn bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
    pub fn read(b: &[u8]) -> Option<CollId> {
        Some(CollId(u16::from_be_bytes(b.get(..2)?.try_into().ok()?)))
    }
}

impl Rkey {
    pub fn bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    pub fn read(b: &[u8]) -> Option<Rkey> {
        Some(Rkey(u64::from_be_bytes(b.get(..8)?.try_into().ok()?)))
    }
    /// The key of a canonical TID string (one that prints back the same), stored as its
    /// value; `None` for any other key, which must be interned.
    pub fn from_tid_str(rkey: &str) -> Option<Rkey> {
        let tid = rkey.parse::<atproto::syntax::Tid>().ok()?;
        (atproto::syntax::Tid::from_u64(tid.to_u64()).as_str() == rkey).then(|| Rkey(tid.to_u64()))
    }

    /// The TID value, when this key is a TID.
    pub fn tid(self) -> Option<u64> {
        (self.0 & INTERNED_RKEY == 0).then_some(self.0)
    }
    /// Microseconds since the epoch of a TID key (what the indexer sorts edges and
    /// notifications by); 0 for other keys.
    pub fn micros(self) -> u64 {
        self.tid().map_or(0, |t| t >> 10)
    }
}

/// A record's full key: `[actor][collection][rkey]`, 14 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub actor: ActorId,
    pub coll: CollId,
    pub rkey: Rkey,
}

impl RecordKey {
    pub const LEN: usize = 14;
    pub fn bytes(self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        out[..4].copy_from_slice(&self.actor.bytes());
        out[4..6].copy_from_slice(&self.coll.bytes());
        out[6..].copy_from_slice(&self.rkey.bytes());
        out
    }
    pub fn read(b: &[u8]) -> Option<RecordKey> {
        Some(RecordKey { actor: ActorId::read(b)?, coll: CollId::read(b.get(4..)?)?, rkey: Rkey::read(b.get(6..)?)? })
    }
}

/// Concatenates key parts.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// The smallest key greater than every key starting with `prefix` (for reverse scans).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_sort_numerically() {
        for v in [0u64, 1, 255, 256, (1 << 40) - 1] {
            assert_eq!(RecordId::read(&RecordId(v).bytes()), Some(RecordId(v)));
        }
        assert!(RecordId(256).bytes() > RecordId(255).bytes());
        let k = RecordKey { actor: ActorId(7), coll: CollId(3), rkey: Rkey(42 << 10) };
        assert_eq!(RecordKey::read(&k.bytes()), Some(k));
        assert_eq!(k.rkey.micros(), 42);
        assert_eq!(Rkey(INTERNED_RKEY | 5).tid(), None);
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
        assert_eq!(ActorId::read(&[1, 2]), None);
    }
}
