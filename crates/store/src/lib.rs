//! The embedded store: the engine and the catalog, addressed by name.
//!
//! This crate holds the catalog ([`catalog`]), the windowed aggregations
//! ([`aggregate`]), session reads ([`session`]), freshness ([`freshness`]), the registry's listing,
//! description and search ([`registry`]) and [`Store`], the operations
//! every surface (CLI, server, Python) calls.
//!
//! This is the API the CLI, the offline import/export and the server use.
//! Reads follow DESIGN.md's semantics:
//!
//! - [`Store::get`] with no `as_of` is the online `latest` read: the greatest
//!   version by `(event_ts, created_ts)`, whose age is checked against the
//!   view's `ttl` relative to the current time. A version dated in the future
//!   (clock skew at the writer) is still the latest.
//! - With `as_of = t`: the greatest version with `event_ts <= t`; if
//!   `ttl > 0` and its `event_ts < t - ttl`, the features are
//!   `OUTSIDE_MAX_AGE` and carry no value.
//! - A feature a version predates (added to the view after the version was
//!   written) reads its declared default with the status `DEFAULTED`, or
//!   null (`NULL_VALUE`) without one ([`predated`]).
//! - `known_at = T` ignores versions with `created_ts > T`.

pub mod admin;
pub mod aggregate;
pub mod catalog;
pub mod derived;
pub mod expr;
pub mod freshness;
pub mod ingest;
pub mod lookup;
mod lookup_encoded;
pub mod refs;
pub mod registry;
pub mod registry_json;
pub mod session;
pub mod timestamp;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::HashMap;

use parking_lot::{Mutex, RwLock};

use crate::aggregate::write::Event;

use crate::catalog::{Catalog, FeatureView};
pub use strata_engine::HistoryBounds;
use strata_engine::{self as engine, Engine, WriteBatch};
use strata_format::key::{self, ViewId};
use strata_format::row;
use strata_format::schema::{KeyValue, Value};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("unknown feature view {0:?}; `strata registry list` shows the views of this store")]
    UnknownView(String),
    #[error("unknown entity {0:?}")]
    UnknownEntity(String),
    #[error("bad key for {what}: {reason}")]
    BadKey { what: String, reason: String },
    #[error("bad row {index} for view {view:?}: {reason}")]
    BadRow {
        view: String,
        index: usize,
        reason: String,
    },
    #[error("catalog: {0}")]
    Catalog(#[from] catalog::Error),
    /// Feature references that do not resolve.
    #[error(transparent)]
    Request(#[from] refs::RefError),
    /// A malformed request (key columns that do not fit the views).
    #[error("{0}")]
    BadRequest(String),
    /// A bug: the store's own state does not fit together.
    #[error("internal error: {0}; please report it")]
    Internal(String),
    #[error(
        "feature view {0:?} is an aggregation view: it is computed from its source's events and cannot be written; write the source view instead"
    )]
    Computed(String),
    #[error(
        "feature view {0:?} is a derived view: its features are evaluated from its inputs at read time and cannot be written; write its inputs instead"
    )]
    Derived(String),
    #[error(
        "feature view {0:?} is an aggregation view: it has no stored versions to list; read it at any time with --as-of"
    )]
    NoHistory(String),
    #[error(
        "feature view {0:?} is a derived view: it stores nothing to list; read it at any time with --as-of"
    )]
    DerivedNoHistory(String),
    #[error(
        "feature view {0:?} is export-only (online = false): it is not served latest; read it with --as-of, or export it"
    )]
    NotOnline(String),
    /// An answer that would exceed a size limit, refused while it was
    /// being built.
    #[error("{0}")]
    TooLarge(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The status of one returned feature value: the protocol's, so that a
/// local read and a server's answer are the same value.
pub use strata_format::protocol::Status;

/// One version to write (`created_ts: None` takes the store's clock): the
/// protocol's push row, so that a push is written as it arrives.
pub use strata_format::protocol::RowWrite;

/// Options of a point read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read as of this event time instead of the latest version.
    pub as_of: Option<i64>,
    /// Ignore versions created after this time (bitemporal read).
    pub known_at: Option<i64>,
}

/// The features of one view for one key, as a read returned them.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// The version the values come from (also set when it is outside the ttl).
    pub event_ts: Option<i64>,
    pub created_ts: Option<i64>,
    /// One per feature, in schema order: the value if `Present`, null if
    /// `NullValue`; for `NotFound` and `OutsideMaxAge` the feature's declared
    /// `default`, else null; the default for `Defaulted`.
    pub values: Vec<Value>,
    pub statuses: Vec<Status>,
}

/// One version returned by [`Store::history`]: the protocol's, so that a
/// local history and a server's answer are the same value.
pub use strata_format::protocol::HistoryVersion as HistoryRow;

/// Options to open a store.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub engine: engine::Options,
}

/// An open store directory.
pub struct Store {
    engine: Engine,
    /// The catalog, its aggregation and derived views resolved, and the
    /// lookups' plan cache of that catalog: read without a lock, replaced
    /// whole by a catalog change ([`plan_cache`]).
    published: arc_swap::ArcSwap<plan_cache::Published>,
    /// Read by every write; written while the catalog changes (so no
    /// write misses a new view's tiles) and by deletes (which remove events
    /// and tiles of every view of an entity).
    tile_lock: RwLock<()>,
    /// Per source of aggregations, held while its events and tiles are
    /// read, combined and written (so tile updates never race); a write
    /// into another view does not wait for it.
    source_locks: view_locks::ViewLocks,
    /// Late events per aggregation view since open.
    late: Mutex<HashMap<ViewId, LateEvents>>,
    /// Held by [`Store::apply`] from its plan to the catalog it publishes.
    apply_lock: Mutex<()>,
    /// Per view, held from a batch's ledger check to its write
    /// ([`ingest::Claim`]).
    ledger_locks: view_locks::ViewLocks,
    /// Lookups planned from the plan cache (tests read it).
    #[cfg(any(test, feature = "test-util"))]
    plan_cache_hits: plan_cache::Hits,
    dir: PathBuf,
    /// Test hook: called by a source ingest ([`Store::ingest_events`]) once
    /// it holds its locks, before it writes its segment.
    #[cfg(any(test, feature = "test-util"))]
    ingest_hook: Mutex<Option<IngestHook>>,
}

/// See [`Store::set_ingest_hook`].
#[cfg(any(test, feature = "test-util"))]
pub type IngestHook = Arc<dyn Fn() + Send + Sync>;

pub use crate::aggregate::write::LateEvents;
pub use admin::ApplyReport;
pub use rows::{aggregate_row, decode_stored_with, encode_version_row, feature_row, predated};

mod plan_cache;
mod rows;
mod view_locks;

pub use ingest::{BatchId, WriteOptions, WriteSummary};

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, StoreOptions::default())
    }

    pub fn open_with(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        let engine = Engine::open(&dir, opts.engine)?;
        let catalog = crate::catalog::persist::load(&dir).map_err(Error::Catalog)?;
        engine.set_view_policies(policies(&catalog));
        Ok(Store {
            engine,
            published: arc_swap::ArcSwap::from_pointee(plan_cache::Published::new(catalog)),
            tile_lock: RwLock::new(()),
            source_locks: view_locks::ViewLocks::default(),
            late: Mutex::new(HashMap::new()),
            apply_lock: Mutex::new(()),
            ledger_locks: view_locks::ViewLocks::default(),
            #[cfg(any(test, feature = "test-util"))]
            plan_cache_hits: plan_cache::Hits::default(),
            dir,
            #[cfg(any(test, feature = "test-util"))]
            ingest_hook: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Test hook: `hook` runs inside every source ingest
    /// ([`Store::ingest_events`]) while it holds its locks, before its
    /// segment is written (a test pauses an ingest there).
    #[cfg(any(test, feature = "test-util"))]
    pub fn set_ingest_hook(&self, hook: Option<IngestHook>) {
        *self.ingest_hook.lock() = hook;
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The current definitions.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.published().catalog)
    }

    /// Replaces the definitions: persists `next` durably, then publishes it.
    /// A new aggregation view over a source that already has events gets
    /// its tiles computed from them first. The catalog, its resolved views
    /// and an empty plan cache are published at once (writers are one at a
    /// time: they hold the tile lock).
    pub fn set_catalog(&self, next: Catalog) -> Result<()> {
        let _tiles = self.tile_lock.write();
        let index = aggregate::Index::build(&next);
        let old = self.catalog();
        for v in next.views.iter().filter(|v| v.is_aggregation()) {
            if old.view_by_id(v.id).is_none()
                && let Some(r) = index.view(v.id)
            {
                aggregate::write::backfill(&self.engine, r)?;
            }
        }
        crate::catalog::persist::save_with(&self.engine.fs(), &self.dir, &next)
            .map_err(Error::Catalog)?;
        self.engine.set_view_policies(policies(&next));
        self.published
            .store(Arc::new(plan_cache::Published::with_aggregations(
                next, index,
            )));
        Ok(())
    }

    /// The aggregation views, resolved.
    pub fn aggregations(&self) -> Arc<aggregate::Index> {
        Arc::clone(&self.published().aggregations)
    }

    /// The derived views, resolved.
    pub fn derived(&self) -> Arc<derived::Index> {
        Arc::clone(&self.published().derived)
    }

    /// Late events of each aggregation view since the store was opened.
    pub fn late_events(&self) -> HashMap<ViewId, LateEvents> {
        self.late.lock().clone()
    }

    /// Microseconds since the Unix epoch: the engine's clock (injectable
    /// in tests), which `latest` reads, ttls and aggregation windows use.
    pub fn now(&self) -> i64 {
        self.engine.clock().now()
    }

    fn resolve(&self, view: &str) -> Result<(Arc<Catalog>, FeatureView)> {
        let cat = self.catalog();
        let v = cat
            .view(view)
            .cloned()
            .ok_or_else(|| Error::UnknownView(view.to_string()))?;
        Ok((cat, v))
    }

    /// Encodes a key of `view` into `out`.
    pub fn encode_key(
        &self,
        cat: &Catalog,
        view: &FeatureView,
        key: &[KeyValue],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let cols = cat.key_columns(view);
        let types: Vec<_> = cols.iter().map(|c| c.ty).collect();
        out.clear();
        key::encode_entity_key(&types, key, out).map_err(|reason| Error::BadKey {
            what: view.qualified_name(),
            reason,
        })
    }

    /// Writes versions of one view as one atomic, durable batch. Events
    /// that an aggregation view over `view` finds too late are refused (and
    /// counted) or written, per its `late_events`; the summary says how
    /// many were refused. [`Store::write_with`] with default options.
    pub fn write(&self, view: &str, rows: &[RowWrite]) -> Result<WriteSummary> {
        self.write_with(view, rows, &WriteOptions::default())
    }

    /// Writes encoded events of `view` as one atomic, durable batch, with
    /// the tiles of every aggregation view over it.
    pub fn write_events(&self, view: &FeatureView, events: Vec<Event>) -> Result<WriteSummary> {
        self.write_events_with(view, events, &WriteOptions::default())
    }

    /// Reads one key of one view, as [`Store::lookup`] reads each row. A
    /// latest read (no `as_of`) of an export-only view (`online = false`)
    /// is refused.
    pub fn get(&self, view: &str, key: &[KeyValue], opts: ReadOptions) -> Result<FeatureRow> {
        let (cat, v) = self.resolve(view)?;
        if opts.as_of.is_none() && !v.online() {
            return Err(Error::NotOnline(v.qualified_name()));
        }
        let mut ek = Vec::new();
        self.encode_key(&cat, &v, key, &mut ek)?;
        self.read_row(&v, &ek, opts.as_of, opts.known_at, self.now())
    }

    /// Resolves feature references against the current catalog: the one
    /// plan builder of lookups and exports. Sets each view's aggregation
    /// and, if `fill_defaults`, the features' declared defaults.
    pub fn resolve_features(
        &self,
        features: &[refs::FeatureRef],
        names: refs::Names,
        fill_defaults: bool,
    ) -> Result<refs::Resolved> {
        plan_cache::resolve_in(&self.published(), features, names, fill_defaults)
    }
}

impl Store {
    /// Every version of one key with `from <= event_ts <= to`, newest first.
    /// A feature a version predates reads as a lookup of it would
    /// ([`predated`]): its declared default, else null.
    pub fn history(
        &self,
        view: &str,
        key: &[KeyValue],
        from: i64,
        to: i64,
        known_at: Option<i64>,
    ) -> Result<Vec<HistoryRow>> {
        let bounds = HistoryBounds::all(from, to, known_at);
        Ok(self.history_newest(view, key, &bounds)?.0)
    }

    /// The newest of [`Store::history`]'s versions within `bounds`: at
    /// most `limit`, and past the first at most `max_bytes` of memory; and whether there are
    /// more. Read with work and memory bounded by the limits, not by the
    /// key's history (`Engine::history_newest`): the engine bounds the
    /// encoded rows by `max_bytes` (a decoded value's heap bytes are at
    /// most its encoded bytes), and the count by what fits in `max_bytes`
    /// once decoded (a [`HistoryRow`] and a [`Value`](strata_format::schema::Value)
    /// per feature each), so the rows answered hold at most about twice
    /// `max_bytes` however wide or narrow they are.
    pub fn history_newest(
        &self,
        view: &str,
        key: &[KeyValue],
        bounds: &HistoryBounds,
    ) -> Result<(Vec<HistoryRow>, bool)> {
        let (cat, v) = self.resolve(view)?;
        if v.is_aggregation() {
            return Err(Error::NoHistory(v.qualified_name()));
        }
        if v.is_derived() {
            return Err(Error::DerivedNoHistory(v.qualified_name()));
        }
        let mut ek = Vec::new();
        self.encode_key(&cat, &v, key, &mut ek)?;
        let schema = v.schema();
        // A predated feature's default is a value the encoded row does not
        // hold: when the view declares defaults, count their encoded bytes
        // (at least their heap bytes) in every row.
        let declared = v.defaults();
        let mut defaults = Vec::new();
        if declared.iter().any(Option::is_some) {
            let filled: Vec<_> = declared
                .iter()
                .map(|d| d.clone().unwrap_or(strata_format::schema::Value::Null))
                .collect();
            row::encode_row(&schema, &filled, &mut defaults).map_err(|e| {
                Error::Internal(format!(
                    "encoding the defaults of {}: {e}",
                    v.qualified_name()
                ))
            })?;
        }
        let per_row = std::mem::size_of::<HistoryRow>()
            + schema.len() * std::mem::size_of::<strata_format::schema::Value>()
            + defaults.len();
        let bounds = HistoryBounds {
            limit: bounds.limit.min((bounds.max_bytes / per_row).max(1)),
            ..*bounds
        };
        let (versions, more) = self.engine.history_newest(v.id, &ek, &bounds)?;
        let rows = versions
            .into_iter()
            .map(|ver| {
                let mut values = Vec::with_capacity(schema.len());
                decode_stored_with(&schema, &declared, &ver.row, |_, x, _| values.push(x))
                    .map_err(|e| Error::Engine(engine::Error::corrupt_row(v.id, e)))?;
                Ok(HistoryRow {
                    event_ts: ver.event_ts,
                    created_ts: ver.created_ts,
                    values,
                })
            })
            .collect::<Result<_>>()?;
        Ok((rows, more))
    }

    /// Removes every version of `key` in every view keyed by `entity` alone,
    /// durably. (Views keyed by several entities are keyed by tuples; their
    /// rows with this key are found by a scan.)
    pub fn delete(&self, entity: &str, key: &[KeyValue]) -> Result<()> {
        // Exclusive of tile updates, which read a tile before writing it.
        let _tiles = self.tile_lock.write();
        let cat = self.catalog();
        let e = cat
            .entity(entity)
            .ok_or_else(|| Error::UnknownEntity(entity.to_string()))?;
        let types: Vec<_> = e.join_keys.iter().map(|k| k.ty).collect();
        let mut ek = Vec::new();
        key::encode_entity_key(&types, key, &mut ek).map_err(|reason| Error::BadKey {
            what: entity.to_string(),
            reason,
        })?;
        let mut batch = WriteBatch::default();
        for v in cat
            .views
            .iter()
            .filter(|v| v.entities.iter().any(|n| n == entity))
        {
            if v.entities.len() == 1 {
                batch.delete(v.id, &ek)?;
            } else {
                let position = v.entities.iter().position(|n| n == entity).unwrap_or(0);
                let widths: Vec<Vec<_>> = v
                    .entities
                    .iter()
                    .map(|n| {
                        cat.entity(n)
                            .map(|e| e.join_keys.iter().map(|k| k.ty).collect())
                            .unwrap_or_default()
                    })
                    .collect();
                for full in self.engine.keys_of_view(v.id)? {
                    if entity_part(&widths, position, &full)
                        .is_some_and(|part| part == ek.as_slice())
                    {
                        batch.delete(v.id, &full)?;
                    }
                }
            }
        }
        self.engine.write(&batch)?;
        Ok(())
    }

    /// Moves everything written so far into segments and waits for it.
    pub fn flush(&self) -> Result<()> {
        Ok(self.engine.flush()?)
    }

    /// Ids of all views, for maintenance.
    pub fn view_ids(&self) -> Vec<ViewId> {
        self.catalog().views.iter().map(|v| v.id).collect()
    }
}

/// The pruning policy of every view that has one.
fn policies(cat: &Catalog) -> std::collections::HashMap<ViewId, engine::ViewPolicy> {
    cat.views
        .iter()
        .map(|v| (v.id, v.policy()))
        .filter(|(_, p)| *p != engine::ViewPolicy::default())
        .collect()
}

/// The bytes of entity number `position` inside a composite view key.
fn entity_part<'a>(
    widths: &[Vec<strata_format::schema::KeyType>],
    position: usize,
    full: &'a [u8],
) -> Option<&'a [u8]> {
    let mut at = 0;
    for (i, types) in widths.iter().enumerate() {
        let start = at;
        for t in types {
            at += match t {
                strata_format::schema::KeyType::Int64 => 8,
                strata_format::schema::KeyType::String => {
                    let rest = full.get(at..)?;
                    let mut j = 0;
                    loop {
                        match (rest.get(j)?, rest.get(j + 1)?) {
                            (0, 1) => break j + 2,
                            (0, _) => j += 2,
                            _ => j += 1,
                        }
                    }
                }
            };
        }
        if i == position {
            return full.get(start..at);
        }
    }
    None
}
