//! Bytes a RocksDB database holds, per column family, as gauges
//! `<service>_store_bytes{cf, kind="sst"|"memtable"}`.
//!
//! Set when `/metrics` is scraped, so the figure is current. `sst` is what is on disk in table
//! files (compressed); `memtable` is what is still only in memory and the write-ahead log. After
//! a restart the log has been replayed and flushed, and `sst` alone is the full size: the
//! experiment runner reads it then, to split a data directory into its parts.

use rocksdb::DB;

/// Records the sizes of `cfs` in `db` (the default column family when `cfs` is empty).
pub fn record_store_bytes(service: &'static str, db: &DB, cfs: &[&'static str]) {
    let name = format!("{service}_store_bytes");
    let set = |cf: &'static str, sst: Option<u64>, mem: Option<u64>| {
        metrics::gauge!(name.clone(), "cf" => cf, "kind" => "sst").set(sst.unwrap_or(0) as f64);
        metrics::gauge!(name.clone(), "cf" => cf, "kind" => "memtable").set(mem.unwrap_or(0) as f64);
    };
    const SST: &str = "rocksdb.total-sst-files-size";
    const MEM: &str = "rocksdb.size-all-mem-tables";
    if cfs.is_empty() {
        set("default", db.property_int_value(SST).ok().flatten(), db.property_int_value(MEM).ok().flatten());
        return;
    }
    for cf in cfs {
        let Some(handle) = db.cf_handle(cf) else { continue };
        set(cf, db.property_int_value_cf(handle, SST).ok().flatten(), db.property_int_value_cf(handle, MEM).ok().flatten());
    }
}
