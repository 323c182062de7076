//! Stores with definitions applied, and engine options.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use strata::catalog::{Catalog, defs};
use strata::engine::{Clock, CompactionOptions, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::format::segment::SegmentOptions;
use strata::store::{ReadOptions, Store, StoreOptions};

/// The default engine options but for the clock: the time in `clock`,
/// which the test sets.
pub fn clocked(clock: &Arc<AtomicI64>) -> Options {
    let c = clock.clone();
    Options {
        clock: Clock::new(move || c.load(Ordering::SeqCst)),
        ..Options::default()
    }
}

/// Applies the definitions `text` to `store`; returns the new catalog.
pub fn apply(store: &Store, text: &str) -> Catalog {
    let parsed = defs::parse(text).unwrap();
    let next = defs::apply(&store.catalog(), &parsed).unwrap();
    store.set_catalog(next.clone()).unwrap();
    next
}

/// A store at `dir` with the definitions `text` applied.
pub fn store_with(dir: impl AsRef<Path>, text: &str) -> Store {
    let store = Store::open(dir.as_ref()).unwrap();
    apply(&store, text);
    store
}

/// Like [`store_with`], with `options`.
pub fn store_with_options(dir: impl AsRef<Path>, options: StoreOptions, text: &str) -> Store {
    let store = Store::open_with(dir.as_ref(), options).unwrap();
    apply(&store, text);
    store
}

/// Engine options with small memtables and blocks, so that a test of a few
/// thousand versions seals memtables, writes several segments and reads
/// across many blocks.
pub fn small(sync: SyncPolicy, memtable_bytes: usize, block_size: usize) -> Options {
    Options {
        sync,
        memtable_bytes,
        segment: SegmentOptions {
            block_size,
            ..SegmentOptions::default()
        },
        ..Options::default()
    }
}

/// Compaction that merges after `min_merge` flushes, keeps at most
/// `max_segments` and stalls writers at `stall_segments`.
pub fn merging(min_merge: usize, max_segments: usize, stall_segments: usize) -> CompactionOptions {
    CompactionOptions {
        min_merge,
        max_segments,
        stall_segments,
        ..CompactionOptions::default()
    }
}

/// Compaction only when the test asks for it.
pub fn no_background() -> CompactionOptions {
    CompactionOptions {
        background: false,
        ..CompactionOptions::default()
    }
}

/// The values of `view` for `key` as of `as_of`, known at `known_at`.
pub fn values_as_of(
    store: &Store,
    view: &str,
    key: &[KeyValue],
    as_of: i64,
    known_at: Option<i64>,
) -> Vec<Value> {
    let opts = ReadOptions {
        as_of: Some(as_of),
        known_at,
    };
    store.get(view, key, opts).unwrap().values
}
