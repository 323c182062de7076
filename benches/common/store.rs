//! Shared set-up of the store benchmarks (aggregation, derived, session):
//! sizes from the environment, a store with fsync never and definitions
//! applied, and a stream of events in time order.

use std::path::Path;
use std::str::FromStr;

use strata::catalog::defs;
use strata::engine::Options;
use strata::format::schema::{KeyValue, Value};
use strata::store::{RowWrite, Store, StoreOptions};

/// The environment variable `name` as a number, or `default`.
pub fn env<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A store in `dir` (fsync never, to measure the engine rather than the
/// disk) with the definitions `defs` applied.
pub fn open(dir: &Path, defs: &str) -> Store {
    let engine = Options::unsynced();
    let store = Store::open_with(dir, StoreOptions { engine }).unwrap();
    let d = defs::parse(defs).unwrap();
    store
        .set_catalog(defs::apply(&store.catalog(), &d).unwrap())
        .unwrap();
    store
}

/// `events` events over `keys` keys, in time order over the day before
/// `now`: a float64 amount and an int64, as the aggregation bench's `txn`.
pub fn events(events: usize, keys: usize, now: i64) -> Vec<RowWrite> {
    let day = 86_400_000_000i64;
    let mut x = super::Rng(0x9E37_79B9_7F4A_7C15);
    (0..events)
        .map(|i| {
            let x = x.next();
            RowWrite {
                key: vec![KeyValue::Int64((x % keys as u64) as i64)],
                event_ts: now - day + (i as i64) * day / events as i64,
                created_ts: None,
                values: vec![
                    Value::Float64((x >> 20) as f64 / 1e9),
                    Value::Int64((x >> 40) as i64 % 500),
                ],
            }
        })
        .collect()
}
