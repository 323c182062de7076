//! The point-in-time join of one run of entity rows.
//!
//! A run is as many rows as the memory budget allows (the whole table when
//! it fits), in batches. For each view:
//!
//! 1. every row's event time and entity key are taken from its batch:
//!    borrowed where the column already holds what the join compares (one
//!    `Int64` key, microsecond times), else encoded (batches in parallel);
//! 2. the rows with a key are sorted by `(key, time)` and split into a few
//!    parts per thread by key range ([`super::sort`]): for `int64` keys each
//!    batch finds its rows' buckets from sampled splitters and counts them,
//!    the batches write their entries to their places in the parts (a
//!    counting sort), and each part sorts its buckets one by one, each a
//!    cache-sized slice of the key space;
//! 3. the threads merge the parts, each with one sequential scan of its key
//!    range of the store ([`engine::scan::ViewScan`]): a key's versions come
//!    newest first and its rows are taken latest first, so each row's
//!    answer (the greatest version with `event_ts <= t`, and, for
//!    `--no-future-writes`, created by `t`) is found by moving two cursors
//!    forward; keys far apart are reached by seeks. An answer within the
//!    ttl is appended, with its row's place, to the part's record stream
//!    of the row's batch: writes are sequential, never to a random place of
//!    a large table;
//! 4. every batch is decoded straight into its output columns (batches in
//!    parallel): if every feature wanted of a view has a fixed width, the
//!    batch's records are read in the order they were found and their
//!    values scattered to their rows (a batch's columns fit in a core's
//!    cache); else the records are indexed by row and decoded in row order.
//!    The output batches are handed on in order.
//!
//! Memory per row and view: a sort entry and a bucket number, and for a row
//! with an answer, a record (a header and a copy of its version).

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::RecordBatch;

use super::join::{JoinSpec, within_ttl};
use super::keys::{BatchKeys, Keys, event_times_ref};
use super::sort::{Entry, KeyBytes, MEMTABLE_WALK, PARTS_PER_THREAD, par_map, sort_parts};
use super::{EVENT_TIMESTAMP, Error, KnownAt};
use strata_engine as engine;
use strata_store::refs::ViewPlan;

mod decode;
use decode::decode_all;

/// Bytes of a record's header: the row's place in its batch and the
/// version's length, both `u32` LE.
pub(super) const RECORD_HEADER: usize = 8;

/// One view's answers for the rows of a run: per part (thread), per batch
/// of the run, the records `row in batch | len | version` of the rows of
/// that batch the part answered, in key order.
struct Found {
    streams: Vec<Vec<Vec<u8>>>,
    hits: u64,
}

/// A batch's event times and, per view, its keys.
type Encoded<'a> = (Cow<'a, [i64]>, Vec<BatchKeys<'a>>);

/// Joins one piece of a run, refused with [`Error::RunTooLarge`] (and
/// nothing emitted) as soon as its answers hold more than `limit` bytes.
pub(super) fn join_piece(
    spec: &JoinSpec,
    run: &[RecordBatch],
    first_row: usize,
    limit: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<Vec<u64>, Error> {
    let held = Held {
        bytes: AtomicUsize::new(0),
        limit,
    };
    let mut starts = Vec::with_capacity(run.len() + 1);
    let mut n = 0;
    for b in run {
        starts.push(n);
        n += b.num_rows();
    }
    starts.push(n);
    if u32::try_from(n).is_err() {
        return Err(Error::Internal(format!("a run of {n} rows is too long")));
    }
    let bad = |b: usize, (i, reason): (usize, String), column: &str| Error::BadRow {
        row: first_row + starts[b] + i + 1,
        column: column.to_string(),
        reason,
    };
    let encoded: Vec<Result<Encoded<'_>, Error>> = par_map(spec.threads, run.len(), |b| {
        let batch = &run[b];
        let times = event_times_ref(batch.column(spec.ts_col).as_ref())
            .map_err(|e| bad(b, e, EVENT_TIMESTAMP))?;
        let mut keys = Vec::with_capacity(spec.views.len());
        for (vp, cols) in spec.views.iter().zip(spec.key_cols) {
            let arrays: Vec<_> = cols
                .iter()
                .zip(&vp.keys)
                .map(|(&c, k)| (batch.column(c).as_ref(), k.ty))
                .collect();
            keys.push(BatchKeys::new(&arrays, batch.num_rows()).map_err(|e| {
                // Name the column that fails on its own.
                let col = arrays
                    .iter()
                    .zip(&vp.keys)
                    .find(|(a, _)| Keys::encode(&[**a], batch.num_rows()).is_err())
                    .map_or(vp.keys[0].name.as_str(), |(_, k)| k.name.as_str());
                bad(b, e, col)
            })?);
        }
        Ok((times, keys))
    });
    let mut times = Vec::with_capacity(run.len());
    let mut per_view: Vec<Vec<BatchKeys>> = (0..spec.views.len()).map(|_| Vec::new()).collect();
    for r in encoded {
        let (t, keys) = r?;
        times.push(t);
        for (v, k) in per_view.iter_mut().zip(keys) {
            v.push(k);
        }
    }
    let mut found = Vec::with_capacity(spec.views.len());
    for (vp, keys) in spec.views.iter().zip(per_view) {
        let request = match &vp.derived {
            Some(d) => request_columns(d, run, &|b, e, c| bad(b, e, c))?,
            None => Vec::new(),
        };
        found.push(lookup_view(
            spec, vp, keys, &times, &starts, &held, &request,
        )?);
    }
    drop(times);
    decode_all(spec, run, &starts, &found, emit)?;
    Ok(found.iter().map(|f| f.hits).collect())
}

/// Answers every row of one view.
fn lookup_view(
    spec: &JoinSpec,
    vp: &ViewPlan,
    keys: Vec<BatchKeys>,
    times: &[Cow<[i64]>],
    starts: &[usize],
    held: &Held,
    request: &[Vec<strata_format::schema::Value>],
) -> Result<Found, Error> {
    if vp.aggregation.is_some() || vp.derived.is_some() {
        let found = computed_view(spec, vp, keys, times, starts, request)?;
        let bytes = found.streams.iter().flatten().map(Vec::len).sum();
        held.add(bytes)?;
        return Ok(found);
    }
    let per_thread = if spec.engine.stats().memtable_bytes > MEMTABLE_WALK {
        1
    } else {
        PARTS_PER_THREAD
    };
    let (sorted, byte_keys) = sort_parts(keys, times, starts, spec.threads, per_thread);
    let parts: Vec<&[Entry]> = sorted.iter().map(Vec::as_slice).collect();
    let byte_keys = byte_keys.as_ref();
    let key_of = |e: &Entry| match byte_keys {
        None => KeyBytes::Int(e.key.to_be_bytes()),
        Some(k) => KeyBytes::Bytes(k.bytes(starts[e.batch as usize] + e.row as usize)),
    };
    let known = match spec.known_at {
        KnownAt::At(k) => Some(k),
        KnownAt::Unbounded | KnownAt::EventTime => None,
    };
    let batches = starts.len() - 1;
    let results: Vec<Result<Answers, Error>> = par_map(spec.threads, parts.len(), |p| {
        let rows = parts[p];
        let Some(first) = rows.first() else {
            return Ok(Answers::default());
        };
        // Up to the next part's first key.
        let next = parts[p + 1..].iter().find_map(|r| r.first()).map(key_of);
        let mut counts = vec![0u32; batches];
        for e in rows {
            counts[e.batch as usize] += 1;
        }
        let mut part = Part {
            spec,
            vp,
            keys: byte_keys,
            starts,
            streams: (0..batches).map(|_| Vec::new()).collect(),
            counts,
            hits: 0,
            held,
        };
        spec.engine.scan_view(
            vp.view.id,
            key_of(first).bytes(),
            next.as_ref().map(KeyBytes::bytes),
            known,
            |scan| part.merge(scan, rows),
        )??;
        Ok(Answers {
            streams: part.streams,
            hits: part.hits,
        })
    });
    let mut found = Found {
        streams: Vec::with_capacity(results.len()),
        hits: 0,
    };
    for r in results {
        let a = r?;
        found.streams.push(a.streams);
        found.hits += a.hits;
    }
    Ok(found)
}

/// Answers every row of a computed view, as records like any view's
/// versions: an aggregation view's windows at the row's time
/// ([`super::aggregate`]), or a derived view's inputs read at the row's
/// time and its expressions evaluated a column at a time
/// ([`super::derived`]), with request inputs taken from the entity
/// table's columns of the same name.
fn computed_view(
    spec: &JoinSpec,
    vp: &ViewPlan,
    keys: Vec<BatchKeys>,
    times: &[Cow<[i64]>],
    starts: &[usize],
    request: &[Vec<strata_format::schema::Value>],
) -> Result<Found, Error> {
    let keys = Keys::concat(keys.into_iter().map(BatchKeys::into_keys).collect());
    let all: Vec<i64> = times.iter().flat_map(|t| t.iter().copied()).collect();
    let (engine, known_at, threads) = (spec.engine, spec.known_at, spec.threads);
    let parts = match (&vp.aggregation, &vp.derived) {
        (Some(r), _) => super::aggregate::answer(engine, r, &keys, &all, known_at, threads)?,
        (None, Some(d)) => {
            super::derived::answer(engine, d, &keys, &all, request, known_at, threads)?
        }
        (None, None) => return Err(Error::Internal("a stored view answered as computed".into())),
    };
    records(parts, starts)
}

/// Makes the error of a bad cell: (batch, (row in batch, reason), column).
type BadCell<'a> = dyn Fn(usize, (usize, String), &str) -> Error + 'a;

/// The request inputs of derived view `d` from the run's columns of the
/// same names, one column (over the whole run) per input; `bad` names a
/// row and column of a batch.
fn request_columns(
    d: &strata_store::derived::Resolved,
    run: &[RecordBatch],
    bad: &BadCell,
) -> Result<Vec<Vec<strata_format::schema::Value>>, Error> {
    use crate::read::convert::{ColumnError, convert};
    let mut request = Vec::new();
    for (i, (name, ty)) in d.request().enumerate() {
        let ft = ty
            .feature_type()
            .ok_or_else(|| Error::Internal(format!("request input {name} has no type")))?;
        let mut col = Vec::new();
        for (b, batch) in run.iter().enumerate() {
            let array = batch.column_by_name(name).ok_or_else(|| {
                let by = d.request_declared_by(i);
                let through = if by == d.view.qualified_name() {
                    String::new()
                } else {
                    format!(" through its input {by}, which declares it")
                };
                Error::Table(format!(
                    "has no column {name}: the derived view {} reads it as its request input {name} ({ty}){through}; add it",
                    d.view.qualified_name()
                ))
            })?;
            col.extend(convert(array.as_ref(), ft).map_err(|e| match e {
                ColumnError::Type(why) => Error::Table(format!("column {name}: {why}")),
                ColumnError::Cell(i, why) => bad(b, (i, why), name),
            })?);
        }
        request.push(col);
    }
    Ok(request)
}

/// The records of computed rows (aggregation or derived views), per part
/// and batch, as [`Found`].
fn records(parts: Vec<super::aggregate::Answers>, starts: &[usize]) -> Result<Found, Error> {
    let batches = starts.len() - 1;
    let mut found = Found {
        streams: Vec::with_capacity(parts.len()),
        hits: 0,
    };
    for part in parts {
        let mut streams: Vec<Vec<u8>> = (0..batches).map(|_| Vec::new()).collect();
        for (row, off, len) in part.out {
            let row = row as usize;
            let b = starts.partition_point(|s| *s <= row) - 1;
            let (off, len) = (off as usize, len as usize);
            let bytes = part
                .arena
                .get(off..off + len)
                .ok_or_else(|| Error::Internal("an aggregate went astray".into()))?;
            let s = &mut streams[b];
            s.extend_from_slice(&((row - starts[b]) as u32).to_le_bytes());
            s.extend_from_slice(&(len as u32).to_le_bytes());
            s.extend_from_slice(bytes);
            found.hits += 1;
        }
        found.streams.push(streams);
    }
    Ok(found)
}

/// What a part found: per batch, the records of its rows answered; and
/// how many.
#[derive(Default)]
struct Answers {
    streams: Vec<Vec<u8>>,
    hits: u64,
}

/// One thread's share of a view's rows.
struct Part<'a> {
    spec: &'a JoinSpec<'a>,
    vp: &'a ViewPlan,
    /// The run's keys, by row of the run, unless they are `int64`.
    keys: Option<&'a Keys>,
    starts: &'a [usize],
    /// Per batch, the records of its rows answered here.
    streams: Vec<Vec<u8>>,
    /// Per batch, its rows in this part.
    counts: Vec<u32>,
    hits: u64,
    held: &'a Held,
}

/// The bytes of answers a piece of a run holds, all views and parts
/// together, and the most it may hold: the export's budget counts the
/// real bytes of every version copied, whatever its width.
struct Held {
    bytes: AtomicUsize,
    limit: usize,
}

impl Held {
    /// Counts `n` more bytes; [`Error::RunTooLarge`] above the limit.
    fn add(&self, n: usize) -> Result<usize, Error> {
        let now = self.bytes.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        match now > self.limit {
            true => Err(Error::RunTooLarge),
            false => Ok(self.limit - now),
        }
    }
}

impl Part<'_> {
    /// Answers `rows` (sorted by key and time) from `scan`, which starts at
    /// or before their first key.
    fn merge(
        &mut self,
        scan: &mut engine::scan::ViewScan<'_>,
        rows: &[Entry],
    ) -> Result<(), Error> {
        let ttl = self.vp.view.ttl_micros;
        let per_row = self.spec.known_at == KnownAt::EventTime;
        let global = |e: &Entry| self.starts[e.batch as usize] + e.row as usize;
        let mut i = 0;
        while i < rows.len() {
            let first = rows[i];
            let mut j = i + 1;
            let key = match self.keys {
                None => {
                    while j < rows.len() && rows[j].key == first.key {
                        j += 1;
                    }
                    KeyBytes::Int(first.key.to_be_bytes())
                }
                Some(keys) => {
                    let g = global(&first);
                    while j < rows.len() && keys.same(g, global(&rows[j])) {
                        j += 1;
                    }
                    KeyBytes::Bytes(keys.bytes(g))
                }
            };
            let key = key.bytes();
            if !scan.seek(key)? {
                return Ok(());
            }
            let int = self.keys.is_none();
            let here = |scan: &engine::scan::ViewScan<'_>| {
                let k = scan.entity_key();
                if int {
                    <[u8; 8]>::try_from(k).is_ok_and(|k| u64::from_be_bytes(k) == first.key)
                } else {
                    k == key
                }
            };
            // The key's versions newest first against its rows latest first.
            let mut r = j;
            while r > i && here(scan) {
                let row = rows[r - 1];
                let (e, c) = (scan.event_ts(), scan.created_ts());
                if e > row.t || (per_row && c > row.t) {
                    scan.advance()?;
                    continue;
                }
                if within_ttl(ttl, e, row.t) {
                    self.record(&row, scan)?;
                }
                r -= 1;
            }
            i = j;
        }
        Ok(())
    }

    /// Appends row `e`'s answer, the scan's current version, to its batch's
    /// stream.
    #[inline]
    fn record(&mut self, e: &Entry, scan: &engine::scan::ViewScan<'_>) -> Result<(), Error> {
        let v = scan
            .current()?
            .ok_or_else(|| Error::Internal("a scan lost its version".into()))?;
        let len = u32::try_from(v.row.len())
            .map_err(|_| Error::Internal("a row longer than 4 GiB".into()))?;
        let left = self.held.add(RECORD_HEADER + v.row.len())?;
        let b = e.batch as usize;
        let s = &mut self.streams[b];
        if s.capacity() == 0 {
            // Room for every row of the batch here, if alike (within the
            // budget left).
            s.reserve((self.counts[b] as usize * (RECORD_HEADER + v.row.len())).min(left));
        }
        s.extend_from_slice(&e.row.to_le_bytes());
        s.extend_from_slice(&len.to_le_bytes());
        s.extend_from_slice(v.row);
        self.hits += 1;
        Ok(())
    }
}
