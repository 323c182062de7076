//! `strata snapshot`: a view's history as Hive-partitioned Parquet, for
//! running the point-in-time join on a cluster (Spark, Trino, DuckDB).
//!
//! Layout: `OUT/view=NAME/date=YYYY-MM-DD/part-N.parquet`, partitioned by
//! the UTC date of `event_timestamp` (`NAME` is `name` or `name@version`).
//! Columns: the view's join keys, `event_timestamp`, `created_timestamp`
//! (both `Timestamp(µs, UTC)`), then every feature (types as in exports).
//! Every version with `from <= event_ts <= to` is written (and `created_ts
//! <= known_at` if given), including several versions with one `event_ts`:
//! a join over the snapshot breaks such ties by the greatest
//! `created_timestamp`, as the store does.
//!
//! A version that predates features (written before they were added, or
//! from an input without their columns) is written to a part that leaves
//! out their columns when each declares a default: a part holds versions of
//! one width (the first `w` features), `w` the smallest that the version
//! has and past which every feature declares a default. Ingesting the part
//! again therefore stores the version short, and it reads `DEFAULTED` as
//! before (a predated feature without a default is null in the part, which
//! re-ingests as the null it read). Readers that join over several parts
//! merge their schemas by name (Spark `mergeSchema`, DuckDB
//! `union_by_name`), the left-out columns reading null.
//!
//! The files are written into a hidden directory beside the result and
//! renamed to `view=NAME` once complete; an existing `view=NAME` is an
//! error (readers would mix old and new parts).
//!
//! Each thread reads its range of keys with one sequential scan of the
//! store ([`strata_engine::Engine::scan_view`]), which applies deletes,
//! rewrites and `known_at` as a `history` read would.
//!
//! Memory: keys are split across threads; each buffers rows per date and
//! writes the largest buffers as new parts when its share of the budget is
//! used, so a long history spread over many dates makes more, smaller
//! files, never more memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::Error;
use super::join::{FeatureBuilder, arrow_type};
use strata_engine::scan::ViewScan;
use strata_format::key::decode_entity_key;
use strata_format::row::{decode_row_with, stored_fields};
use strata_format::schema::{KeyType, KeyValue};
use strata_store::Store;
use strata_store::catalog::FeatureView;

const DAY: i64 = 86_400_000_000;

/// What to snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// `name` or `name@version`.
    pub view: String,
    /// Event-time range, inclusive.
    pub from: i64,
    pub to: i64,
    pub known_at: Option<i64>,
    pub memory_budget: usize,
    /// 0 = one per core.
    pub threads: usize,
}

impl SnapshotRequest {
    /// The whole history of `view`.
    pub fn new(view: &str) -> SnapshotRequest {
        SnapshotRequest {
            view: view.to_string(),
            from: i64::MIN,
            to: i64::MAX - 1,
            known_at: None,
            memory_budget: super::DEFAULT_MEMORY_BUDGET,
            threads: 0,
        }
    }
}

/// What a snapshot wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotReport {
    /// The `view=NAME` directory.
    pub dir: PathBuf,
    pub keys: u64,
    pub versions: u64,
    pub files: usize,
    pub dates: usize,
    pub elapsed: Duration,
}

impl std::fmt::Display for SnapshotReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} version(s) of {} key(s) to {}: {} file(s) over {} date(s) in {:.2} s",
            self.versions,
            self.keys,
            self.dir.display(),
            self.files,
            self.dates,
            self.elapsed.as_secs_f64()
        )
    }
}

/// The Arrow schema of a view's snapshot files.
pub fn snapshot_schema(store: &Store, view: &FeatureView) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields: Vec<Field> = store
        .catalog()
        .key_columns(view)
        .iter()
        .map(|k| {
            let dt = match k.ty {
                KeyType::Int64 => DataType::Int64,
                KeyType::String => DataType::Utf8,
            };
            Field::new(&k.name, dt, false)
        })
        .collect();
    fields.push(Field::new(super::EVENT_TIMESTAMP, ts.clone(), false));
    fields.push(Field::new("created_timestamp", ts, false));
    fields.extend(
        view.features
            .iter()
            .map(|f| Field::new(&f.name, arrow_type(f.ty), true)),
    );
    Arc::new(Schema::new(fields))
}

/// Writes the snapshot of `req.view` under `out`; `progress(done, total)`
/// counts keys.
pub fn snapshot(
    store: &Store,
    req: &SnapshotRequest,
    out: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<SnapshotReport, Error> {
    let start = Instant::now();
    let cat = store.catalog();
    let view = strata_store::registry::find_view(&cat, &req.view)
        .map_err(|e| Error::Request(e.to_string()))?
        .clone();
    if req.from > req.to {
        return Err(Error::Request("--from is after --to".into()));
    }
    if view.is_aggregation() {
        return Err(Error::Request(format!(
            "{} is an aggregation view: it has no stored versions to snapshot; snapshot its source {} (or export the aggregation at the times you need)",
            view.qualified_name(),
            view.source_text().unwrap_or("view")
        )));
    }
    if view.is_derived() {
        return Err(Error::Request(format!(
            "{} is a derived view: it stores nothing to snapshot; export it at the times you need",
            view.qualified_name()
        )));
    }
    let name = view.qualified_name();
    let fail = |path: &Path, e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = out.join(format!("view={name}"));
    if dir.exists() {
        return Err(Error::Output {
            path: dir,
            reason: "already exists; remove it or choose another --out (readers would mix old and new files)".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| fail(out, e))?;
    let tmp = TempDir(out.join(format!(".view={name}.tmp-{}", std::process::id())));
    if tmp.0.exists() {
        std::fs::remove_dir_all(&tmp.0).map_err(|e| fail(&tmp.0, e))?;
    }
    std::fs::create_dir(&tmp.0).map_err(|e| fail(&tmp.0, e))?;

    let keys = store.engine().keys_of_view(view.id)?;
    let total = keys.len() as u64;
    progress(0, total);
    let schema = snapshot_schema(store, &view);
    let key_types: Vec<KeyType> = cat.key_columns(&view).iter().map(|k| k.ty).collect();
    let threads = match req.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, keys.len().max(1));
    // Where the view's trailing run of features that declare a default
    // starts: a version's part leaves out those it predates.
    let defaulted_from = (0..view.features.len())
        .rev()
        .take_while(|&i| view.feature_default(i).is_some_and(|d| !d.is_null()))
        .last()
        .unwrap_or(view.features.len());
    let row_bytes: usize = 24
        + key_types.len() * 16
        + schema
            .fields()
            .iter()
            .map(|f| f.data_type().primitive_width().unwrap_or(32) + 1)
            .sum::<usize>();
    let shared = Shared {
        store,
        view: &view,
        key_types: &key_types,
        schema: &schema,
        dir: &tmp.0,
        defaulted_from,
        req,
        max_rows: (req.memory_budget / threads / row_bytes.max(1)).max(1024),
        next_part: AtomicUsize::new(0),
        keys_done: AtomicU64::new(0),
        versions: AtomicU64::new(0),
        total,
        progress,
    };
    let per = keys.len().div_ceil(threads).max(1);
    let chunks: Vec<&[Vec<u8>]> = keys.chunks(per).collect();
    let results: Vec<Result<(), Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let next = chunks.get(i + 1).and_then(|c| c.first()).map(Vec::as_slice);
                let shared = &shared;
                s.spawn(move || shared.run(chunk, next))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a snapshot thread panicked".into())))
            })
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>, Error>>()?;
    let dates = std::fs::read_dir(&tmp.0)
        .map_err(|e| fail(&tmp.0, e))?
        .count();
    // Once renamed, the guard finds nothing left to remove.
    std::fs::rename(&tmp.0, &dir).map_err(|e| fail(&dir, e))?;
    Ok(SnapshotReport {
        dir,
        keys: total,
        versions: shared.versions.load(Ordering::Relaxed),
        files: shared.next_part.load(Ordering::Relaxed),
        dates,
        elapsed: start.elapsed(),
    })
}

/// Removes an unfinished snapshot directory.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the snapshot threads share.
struct Shared<'a> {
    store: &'a Store,
    view: &'a FeatureView,
    key_types: &'a [KeyType],
    schema: &'a SchemaRef,
    dir: &'a Path,
    /// The first of the view's last features that all declare a default.
    defaulted_from: usize,
    req: &'a SnapshotRequest,
    /// Rows one thread may buffer.
    max_rows: usize,
    next_part: AtomicUsize,
    keys_done: AtomicU64,
    versions: AtomicU64,
    total: u64,
    progress: &'a (dyn Fn(u64, u64) + Sync),
}

/// Rows of one date, being built.
struct DayBuf {
    keys: Vec<KeyBuilder>,
    event: TimestampMicrosecondBuilder,
    created: TimestampMicrosecondBuilder,
    features: Vec<FeatureBuilder>,
    rows: usize,
}

enum KeyBuilder {
    Int(Int64Builder),
    Str(StringBuilder),
}

impl Shared<'_> {
    /// A buffer of versions with the first `width` features.
    fn new_buf(&self, width: usize) -> DayBuf {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        DayBuf {
            keys: self
                .key_types
                .iter()
                .map(|t| match t {
                    KeyType::Int64 => KeyBuilder::Int(Int64Builder::new()),
                    KeyType::String => KeyBuilder::Str(StringBuilder::new()),
                })
                .collect(),
            event: ts(),
            created: ts(),
            features: self
                .view
                .features
                .iter()
                .take(width)
                .map(|f| FeatureBuilder::new(f.ty, 0))
                .collect(),
            rows: 0,
        }
    }

    /// Writes the versions of `keys` (sorted), read with one scan that
    /// ends before `next`.
    fn run(&self, keys: &[Vec<u8>], next: Option<&[u8]>) -> Result<(), Error> {
        let Some(first) = keys.first() else {
            return Ok(());
        };
        self.store
            .engine()
            .scan_view(self.view.id, first, next, self.req.known_at, |scan| {
                self.walk(scan, keys)
            })?
    }

    fn walk(&self, scan: &mut ViewScan<'_>, keys: &[Vec<u8>]) -> Result<(), Error> {
        let schema = self.view.schema();
        // By date and width (the features a part has).
        let mut bufs: HashMap<(i64, usize), DayBuf> = HashMap::new();
        let mut buffered = 0usize;
        let mut since = 0u64;
        // One key's versions in the time range, newest first: times and
        // where the row is in `rows`.
        let mut versions: Vec<(i64, i64, usize, usize)> = Vec::new();
        let mut rows: Vec<u8> = Vec::new();
        for (n, k) in keys.iter().enumerate() {
            versions.clear();
            rows.clear();
            let mut more = scan.seek(k)?;
            while more && scan.entity_key() == k.as_slice() {
                let (e, c) = (scan.event_ts(), scan.created_ts());
                if e < self.req.from {
                    break; // the rest are older
                }
                if e <= self.req.to
                    && let Some(v) = scan.current()?
                {
                    versions.push((e, c, rows.len(), v.row.len()));
                    rows.extend_from_slice(v.row);
                }
                more = scan.advance()?;
            }
            if !versions.is_empty() {
                let key = decode_entity_key(self.key_types, k).map_err(|e| {
                    Error::Engine(strata_engine::Error::corrupt_row(self.view.id, e))
                })?;
                for &(event_ts, created_ts, at, len) in versions.iter().rev() {
                    let day = event_ts.div_euclid(DAY);
                    let row = &rows[at..at + len];
                    let corrupt =
                        |e| Error::Engine(strata_engine::Error::corrupt_row(self.view.id, e));
                    let width = stored_fields(row)
                        .map_err(corrupt)?
                        .max(self.defaulted_from)
                        .min(schema.len());
                    let buf = bufs
                        .entry((day, width))
                        .or_insert_with(|| self.new_buf(width));
                    for (b, kv) in buf.keys.iter_mut().zip(&key) {
                        match (b, kv) {
                            (KeyBuilder::Int(b), KeyValue::Int64(x)) => b.append_value(*x),
                            (KeyBuilder::Str(b), KeyValue::String(s)) => b.append_value(s),
                            (KeyBuilder::Int(b), _) => b.append_null(),
                            (KeyBuilder::Str(b), _) => b.append_null(),
                        }
                    }
                    buf.event.append_value(event_ts);
                    buf.created.append_value(created_ts);
                    let mut bad = false;
                    decode_row_with(&schema, row, |f, val| {
                        if let Some(b) = buf.features.get_mut(f) {
                            bad |= !b.push(val);
                        }
                    })
                    .map_err(corrupt)?;
                    if bad {
                        return Err(Error::Internal(format!(
                            "a row of {} decoded to the wrong type",
                            self.view.qualified_name()
                        )));
                    }
                    buf.rows += 1;
                    buffered += 1;
                }
                self.versions
                    .fetch_add(versions.len() as u64, Ordering::Relaxed);
            }
            if buffered >= self.max_rows {
                // Write the largest buffers until half the budget is free.
                let mut days: Vec<(usize, (i64, usize))> =
                    bufs.iter().map(|(d, b)| (b.rows, *d)).collect();
                days.sort_unstable_by(|a, b| b.cmp(a));
                for (rows, day) in days {
                    if buffered <= self.max_rows / 2 {
                        break;
                    }
                    if let Some(b) = bufs.remove(&day) {
                        self.write_part(day, b)?;
                        buffered -= rows;
                    }
                }
            }
            since += 1;
            if since == 4096 || n + 1 == keys.len() {
                let done = self.keys_done.fetch_add(since, Ordering::Relaxed) + since;
                (self.progress)(done, self.total);
                since = 0;
            }
        }
        for (day, b) in bufs {
            self.write_part(day, b)?;
        }
        Ok(())
    }

    /// Writes `b` as a part of `day`, with the columns of its features.
    fn write_part(&self, (day, _): (i64, usize), b: DayBuf) -> Result<(), Error> {
        if b.rows == 0 {
            return Ok(());
        }
        let date = crate::timestamp::format(day * DAY);
        let date = date.split('T').next().unwrap_or(&date).to_string();
        let dir = self.dir.join(format!("date={date}"));
        let fail = |path: &Path, reason: String| Error::Output {
            path: path.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e.to_string()))?;
        let mut columns: Vec<ArrayRef> = b
            .keys
            .into_iter()
            .map(|k| -> ArrayRef {
                match k {
                    KeyBuilder::Int(mut b) => Arc::new(b.finish()),
                    KeyBuilder::Str(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let (mut e, mut c) = (b.event, b.created);
        columns.push(Arc::new(e.finish()));
        columns.push(Arc::new(c.finish()));
        columns.extend(b.features.into_iter().map(FeatureBuilder::finish));
        let schema: SchemaRef = Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .take(columns.len())
                .cloned()
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::Internal(format!("assembling a snapshot batch: {e}")))?;
        let n = self.next_part.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("part-{n}.parquet"));
        let file = std::fs::File::create(&path).map_err(|e| fail(&path, e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut w = ArrowWriter::try_new(std::io::BufWriter::new(file), schema, Some(props))
            .map_err(|e| fail(&path, e.to_string()))?;
        w.write(&batch).map_err(|e| fail(&path, e.to_string()))?;
        w.into_inner()
            .map_err(|e| fail(&path, e.to_string()))?
            .into_inner()
            .map_err(|e| fail(&path, e.to_string()))?;
        Ok(())
    }
}
