//! A bounded in-memory map whose entries expire after a fixed time-to-live.
//!
//! When full, expired entries are dropped first, then the oldest insertion. Eviction scans
//! the map (O(n)), which is only paid when an insert finds the cache full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct TtlCache<V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache { ttl, capacity, entries: Mutex::new(HashMap::new()) }
    }

    /// The live value for `key`, if any (an expired one is removed).
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let mut entries = self.entries.lock().expect("cache lock");
        match entries.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, key: String, value: V) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                let oldest = entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub(crate) fn remove(&self, key: &str) -> bool {
        self.entries.lock().expect("cache lock").remove(key).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let cache = TtlCache::new(Duration::from_millis(50), 2);
        cache.insert("a".into(), 1);
        cache.insert("b".into(), 2);
        cache.insert("c".into(), 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a"), None, "oldest evicted");
        assert_eq!(cache.get("c"), Some(3));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("b"), None, "expired");
        assert!(!cache.remove("b"));
    }
}
