//! Point-in-time export: training sets from an entity table.
//!
//! For every row of the entity table and every requested view, the row
//! gets the view's features as of the row's `event_timestamp`, exactly as
//! DESIGN.md's `as_of` defines it (Feast's `get_historical_features`): the
//! greatest version by `(event_ts, created_ts)` with `event_ts <= t`, and,
//! when the view's `ttl > 0`, only if `event_ts >= t - ttl`. No such version
//! gives nulls. Views in one export may have different entities and keys.
//!
//! - Input ([`input`]): Parquet, Arrow IPC or CSV with the join-key columns
//!   of every requested view, `event_timestamp`, and any other columns,
//!   which pass through untouched and in place; or any iterator of Arrow
//!   record batches ([`export`]).
//! - A row with a null join key has no entity: its features of that view
//!   are null. A null `event_timestamp` is an error naming the row.
//! - Output: the input's columns, then one column per requested feature in
//!   request order ([`refs`] for the names), rows in input order.
//! - Bitemporal ([`KnownAt`]): ignore versions created after a fixed time,
//!   or, per row, after the row's own event time.
//!
//! Everything a file export can refuse is refused before the output is
//! created: the request, the columns and their types, every event time and
//! join key (one pass over those columns), and the output's types.
//!
//! Memory is bounded by [`ExportRequest::memory_budget`]: rows are processed
//! in runs whose size is derived from it, each sorted by key and merged
//! with sequential scans of the store ([`run`]), with a bounded number of
//! batches in flight; the history's size does not matter (the store is read
//! through its mmap'd segments). The batches of a run are joined on all
//! cores at once.

mod aggregate;
mod aggregate_keyed;
mod derived;
mod file;
pub mod input;
mod ipc_stream;
mod join;
mod keys;
pub mod output;
mod parquet_out;
mod pieces;
mod rechunk;
mod run;
pub mod snapshot;
mod sort;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};

pub use file::{ExportFiles, ExportReport, Progress, export_to_file};
pub use input::{EntityTable, InputFormat};
pub use ipc_stream::ipc_pieces;
pub use join::{arrow_type, within_ttl};
pub use output::{FileSink, OutputFormat};
pub use strata_store::refs::{self, FeatureRef, parse_refs};

use rechunk::Rechunk;
use strata_engine as engine;
use strata_store::Store;

/// The entity table's event-time column.
pub const EVENT_TIMESTAMP: &str = "event_timestamp";

/// Why an export failed. Nothing is left at the output path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request does not fit the store (references, names).
    #[error("{0}")]
    Request(String),
    /// The store refused the references (unknown views or features,
    /// duplicates, join keys of different types).
    #[error(transparent)]
    Resolve(#[from] strata_store::Error),
    /// The entity table cannot be exported as it is.
    #[error("entity table {path}: {reason}")]
    Input { path: PathBuf, reason: String },
    /// A bad cell in entity batches handed to [`export`].
    #[error("row {row}, column {column}: {reason}")]
    BadRow {
        /// 1-based, counted over all batches.
        row: usize,
        column: String,
        reason: String,
    },
    /// The entity batches' columns do not fit the request.
    #[error("the entity table {0}")]
    Table(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error("reading the store: {0}")]
    Engine(#[from] engine::Error),
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// Internal to the join: a run's answers exceed its memory budget; the
    /// run is split and joined in pieces, so an export never returns it.
    #[error("a run of the export holds more than its memory budget")]
    RunTooLarge,
}

impl Error {
    /// Names the entity file in errors about its rows and columns.
    fn in_file(self, path: &Path) -> Error {
        let path = path.to_path_buf();
        match self {
            Error::BadRow {
                row,
                column,
                reason,
            } => Error::Input {
                path,
                reason: format!("row {row}, column {column}: {reason}"),
            },
            Error::Table(reason) => Error::Input { path, reason },
            e => e,
        }
    }
}

/// Which versions a bitemporal export may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KnownAt {
    /// Every version.
    #[default]
    Unbounded,
    /// Versions with `created_ts <= T` (`--as-known-at T`).
    At(i64),
    /// Per row, versions with `created_ts <= row.event_timestamp`
    /// (`--no-future-writes`): a late backfill cannot leak into labels
    /// before it was written.
    EventTime,
}

impl From<strata_format::protocol::ExportKnownAt> for KnownAt {
    fn from(k: strata_format::protocol::ExportKnownAt) -> KnownAt {
        use strata_format::protocol::ExportKnownAt as Wire;
        match k {
            Wire::Unbounded => KnownAt::Unbounded,
            Wire::At(t) => KnownAt::At(t),
            Wire::EventTime => KnownAt::EventTime,
        }
    }
}

impl KnownAt {
    /// The `created_ts` bound of a row at `event_ts` (`None`: every
    /// version).
    pub fn bound(self, event_ts: i64) -> Option<i64> {
        match self {
            KnownAt::Unbounded => None,
            KnownAt::At(k) => Some(k),
            KnownAt::EventTime => Some(event_ts),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub features: Vec<FeatureRef>,
    /// Name columns `view__feature` instead of `feature`.
    pub full_feature_names: bool,
    /// Fill features that have no value (no version, or outside the ttl)
    /// with their declared defaults instead of nulls.
    pub fill_defaults: bool,
    pub known_at: KnownAt,
    /// Bytes of memory the export may use for rows in flight.
    pub memory_budget: usize,
    /// Threads joining batches; 0 = one per core.
    pub threads: usize,
}

/// The default memory budget: 4 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 4 << 30;

impl ExportRequest {
    /// A request for `features` (`view:feature,view:*,...`) with the defaults.
    pub fn new(features: &str) -> Result<ExportRequest, Error> {
        Ok(ExportRequest {
            features: parse_refs(features).map_err(|e| Error::Request(e.to_string()))?,
            full_feature_names: false,
            fill_defaults: false,
            known_at: KnownAt::Unbounded,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            threads: 0,
        })
    }
}

/// A request bound to an entity schema: where every input is, the output
/// schema and the batch size.
#[derive(Debug, Clone)]
pub struct Plan {
    resolved: refs::Resolved,
    input: SchemaRef,
    output: SchemaRef,
    ts_col: usize,
    /// Per view, the input column of each join key.
    key_cols: Vec<Vec<usize>>,
    known_at: KnownAt,
    /// Rows per batch (a run is processed in batches).
    batch_rows: usize,
    /// Rows per run: joined together, sorted by key.
    run_rows: usize,
    /// Bytes of answers a run may hold ([`record_budget`]).
    record_budget: usize,
    threads: usize,
}

impl Plan {
    /// Resolves `req` against the store's catalog and binds it to the
    /// entity table's schema.
    pub fn new(store: &Store, req: &ExportRequest, input: &SchemaRef) -> Result<Plan, Error> {
        Plan::bind(Plan::resolve(store, req)?, req, input)
    }

    /// The references of `req` resolved by the store (every export plan is
    /// built from this: aggregation views, `--fill-defaults`, join-key
    /// types checked across views).
    fn resolve(store: &Store, req: &ExportRequest) -> Result<refs::Resolved, Error> {
        let names = if req.full_feature_names {
            refs::Names::Full
        } else {
            refs::Names::Short
        };
        let resolved = store.resolve_features(&req.features, names, req.fill_defaults)?;
        resolved.key_types().map_err(strata_store::Error::from)?;
        Ok(resolved)
    }

    fn bind(
        resolved: refs::Resolved,
        req: &ExportRequest,
        input: &SchemaRef,
    ) -> Result<Plan, Error> {
        let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
        let find = |name: &str| -> Result<Option<usize>, Error> {
            let mut hits = names.iter().enumerate().filter(|(_, n)| **n == name);
            let first = hits.next().map(|(i, _)| i);
            if hits.next().is_some() {
                return Err(Error::Table(format!(
                    "has more than one column named {name}"
                )));
            }
            Ok(first)
        };
        let mut missing: Vec<String> = Vec::new();
        let ts_col = find(EVENT_TIMESTAMP)?;
        if ts_col.is_none() {
            missing.push(format!("{EVENT_TIMESTAMP} (the time of each row)"));
        }
        let mut key_cols = Vec::with_capacity(resolved.views.len());
        for vp in &resolved.views {
            let mut cols = Vec::with_capacity(vp.keys.len());
            for k in &vp.keys {
                match find(&k.name)? {
                    Some(c) => {
                        keys::check_key_type(input.field(c).data_type(), k.ty).map_err(|why| {
                            Error::Table(format!(
                                "column {} (a join key of view {}) {why}",
                                k.name, vp.written
                            ))
                        })?;
                        cols.push(c);
                    }
                    None => {
                        let m = format!("{} (a join key of view {})", k.name, vp.written);
                        if !missing
                            .iter()
                            .any(|x| x.starts_with(&format!("{} ", k.name)))
                        {
                            missing.push(m);
                        }
                    }
                }
            }
            key_cols.push(cols);
        }
        if !missing.is_empty() {
            return Err(Error::Table(format!(
                "lacks the column(s) {}; it has {}",
                missing.join(", "),
                crate::column_list(&names)
            )));
        }
        let ts_col = ts_col.unwrap_or(0);
        keys::check_timestamp_type(input.field(ts_col).data_type())
            .map_err(|why| Error::Table(format!("column {EVENT_TIMESTAMP} {why}")))?;
        for o in &resolved.outputs {
            if names.contains(&o.name.as_str()) {
                let vp = &resolved.views[o.view];
                return Err(Error::Table(format!(
                    "already has a column named {} (the output column of {}:{}); rename that column{}",
                    o.name,
                    vp.written,
                    vp.view.features[o.field].name,
                    if req.full_feature_names {
                        ""
                    } else {
                        " or pass --full-feature-names"
                    }
                )));
            }
        }
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(
            resolved
                .outputs
                .iter()
                .map(|o| Field::new(&o.name, arrow_type(o.ty), true)),
        );
        let output =
            std::sync::Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
        let threads = match req.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let run_rows = run_rows(req.memory_budget, input, &resolved);
        let record_budget = record_budget(req.memory_budget);
        let batch_rows = piece_rows(run_rows, threads);
        Ok(Plan {
            resolved,
            input: input.clone(),
            output,
            ts_col,
            key_cols,
            known_at: req.known_at,
            batch_rows,
            run_rows,
            record_budget,
            threads,
        })
    }

    /// The schema of the output batches.
    pub fn schema(&self) -> SchemaRef {
        self.output.clone()
    }

    /// Rows per output batch, as derived from the memory budget.
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
    }

    /// Rows joined at once (a sorted run), as derived from the memory
    /// budget.
    pub fn run_rows(&self) -> usize {
        self.run_rows
    }

    /// The output feature columns.
    pub fn outputs(&self) -> &[refs::OutputFeature] {
        &self.resolved.outputs
    }

    /// The views joined, as first written in the request.
    pub fn view_names(&self) -> Vec<String> {
        self.resolved
            .views
            .iter()
            .map(|v| v.written.clone())
            .collect()
    }

    /// The input columns [`Plan::check_batch`] reads, ascending.
    pub fn checked_columns(&self) -> Vec<usize> {
        let mut c: Vec<usize> = self.key_cols.iter().flatten().copied().collect();
        c.push(self.ts_col);
        c.sort_unstable();
        c.dedup();
        c
    }

    /// Checks the event times and join keys of a batch holding the input
    /// columns `cols` (in order); `first_row` is its first row's 0-based
    /// position in the table.
    pub fn check_batch(
        &self,
        batch: &RecordBatch,
        cols: &[usize],
        first_row: usize,
    ) -> Result<(), Error> {
        let at = |c: usize| cols.iter().position(|x| *x == c).map(|j| batch.column(j));
        let bad = |(i, reason): (usize, String), column: &str| Error::BadRow {
            row: first_row + i + 1,
            column: column.to_string(),
            reason,
        };
        let ts = at(self.ts_col).ok_or_else(|| Error::Internal("event column not read".into()))?;
        keys::event_times(ts.as_ref()).map_err(|e| bad(e, EVENT_TIMESTAMP))?;
        for (vp, kc) in self.resolved.views.iter().zip(&self.key_cols) {
            for (k, &c) in vp.keys.iter().zip(kc) {
                let a = at(c).ok_or_else(|| Error::Internal("key column not read".into()))?;
                keys::Keys::encode(&[(a.as_ref(), k.ty)], batch.num_rows())
                    .map_err(|e| bad(e, &k.name))?;
            }
        }
        Ok(())
    }

    fn spec<'a>(&'a self, store: &'a Store) -> join::JoinSpec<'a> {
        join::JoinSpec {
            engine: store.engine(),
            views: &self.resolved.views,
            outputs: &self.resolved.outputs,
            key_cols: &self.key_cols,
            ts_col: self.ts_col,
            known_at: self.known_at,
            schema: &self.output,
            threads: self.threads,
            record_budget: self.record_budget,
        }
    }
}

/// Memory an export uses whatever its runs: threads' stacks, the readers'
/// and the writer's buffers, the store's read buffers.
const FIXED_MEMORY: usize = 32 << 20;

/// Rows per run for a memory budget. A run in memory holds, per row, its
/// input columns, its event time, per view its key, bucket, sort entry,
/// and the record of its answer (a header and a copy of its version), and
/// its output features; the writer holds a row group of output besides (at
/// most a run). Measured peaks are about twice these live bytes (allocator
/// slack, transient buffers of the reader and the store reads), so a run
/// gets a third of the budget.
fn run_rows(budget: usize, input: &Schema, r: &refs::Resolved) -> usize {
    let width = |dt: &arrow_schema::DataType| dt.primitive_width().unwrap_or(32) + 1;
    let input_bytes: usize = input.fields().iter().map(|f| width(f.data_type())).sum();
    let output_bytes: usize = r.outputs.iter().map(|o| width(&arrow_type(o.ty))).sum();
    let join_bytes: usize = r
        .views
        .iter()
        .map(|v| {
            let key = v.keys.len() * 12 + 8;
            let row = 2 + v.schema.len() * 9;
            key + 2 + 24 + 8 + row
        })
        .sum();
    let per_row = 8 + join_bytes + input_bytes + output_bytes;
    (budget.saturating_sub(FIXED_MEMORY) / 3 / per_row.max(1)).clamp(64, 1 << 30)
}

/// Bytes of answers a run may hold (the versions it copies, at their real
/// sizes): a third of the budget, like the run's fixed-width estimate;
/// their decoded output takes as much again.
fn record_budget(budget: usize) -> usize {
    (budget.saturating_sub(FIXED_MEMORY) / 3).max(1 << 20)
}

/// Rows per batch inside a run: enough batches for every thread to decode
/// several, at most 16 Ki rows (a batch's answers are decoded into its
/// columns in the order they were found, so its columns should fit in a
/// core's cache).
fn piece_rows(run_rows: usize, threads: usize) -> usize {
    (run_rows / (threads * 4).max(1)).clamp(16, 1 << 14)
}

/// Counters of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub rows: u64,
    /// Per view (in [`Plan::view_names`] order), rows that got a version.
    pub matched: Vec<u64>,
}

/// Joined batches, in input order; see [`export`].
pub struct Export<'a, I> {
    store: &'a Store,
    plan: &'a Plan,
    input: Rechunk<I>,
    ready: VecDeque<RecordBatch>,
    /// The pieces of the current run still to join.
    pieces: pieces::Pieces,
    next_row: usize,
    failed: bool,
    stats: ExportStats,
}

/// Joins entity batches (all with the plan's input schema) a run at a time
/// (as many rows as the memory budget allows), on all cores, yielding the
/// output batches in input order. Errors name the 1-based row over all
/// batches; after an error the iterator ends.
pub fn export<'a, I>(store: &'a Store, plan: &'a Plan, input: I) -> Export<'a, I>
where
    I: Iterator<Item = Result<RecordBatch, Error>>,
{
    Export {
        store,
        plan,
        input: Rechunk::new(input, plan.batch_rows, plan.input.clone()),
        ready: VecDeque::new(),
        pieces: Vec::new(),
        next_row: 0,
        failed: false,
        stats: ExportStats {
            rows: 0,
            matched: vec![0; plan.resolved.views.len()],
        },
    }
}

impl<I> Export<'_, I> {
    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }
}

impl<I: Iterator<Item = Result<RecordBatch, Error>>> Iterator for Export<'_, I> {
    type Item = Result<RecordBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(b) = self.ready.pop_front() {
            return Some(Ok(b));
        }
        if self.failed {
            return None;
        }
        if self.pieces.is_empty() {
            let run = match read_run(&mut self.input, self.plan.run_rows) {
                Ok(run) => run,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            if run.is_empty() {
                return None;
            }
            let first = self.next_row;
            self.next_row += run.iter().map(RecordBatch::num_rows).sum::<usize>();
            self.pieces.push((run, first));
        }
        // One piece of the run at a time, so that what waits to be taken
        // is at most one piece's output.
        let spec = self.plan.spec(self.store);
        let ready = &mut self.ready;
        match pieces::join_next_piece(&spec, &mut self.pieces, &mut |b| {
            ready.push_back(b);
            Ok(())
        }) {
            Ok(Some((rows, hits))) => {
                self.stats.rows += rows as u64;
                for (m, n) in self.stats.matched.iter_mut().zip(hits) {
                    *m += n;
                }
                self.ready.pop_front().map(Ok)
            }
            Ok(None) => self.next(),
            Err(e) => {
                self.ready.clear();
                self.pieces.clear();
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Takes batches until `rows` rows (or the end).
fn read_run(
    input: &mut impl Iterator<Item = Result<RecordBatch, Error>>,
    rows: usize,
) -> Result<Vec<RecordBatch>, Error> {
    let mut run = Vec::new();
    let mut n = 0;
    while n < rows {
        let Some(b) = input.next() else { break };
        let b = b?;
        n += b.num_rows();
        run.push(b);
    }
    Ok(run)
}
