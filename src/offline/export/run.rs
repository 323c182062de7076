//! The point-in-time join of one run of entity rows.
//!
//! A run is as many rows as the memory budget allows (the whole table when
//! it fits), in batches. For each view:
//!
//! 1. every row's event time and encoded entity key are computed (batches
//!    in parallel);
//! 2. the rows with a key are split into one part per thread by key range
//!    (splitters from a sample), and each part is sorted by `(key, time)`;
//! 3. each thread walks its part key by key, in key order, so that
//!    neighbouring reads touch neighbouring blocks of the store:
//!    - a key with several rows in a view with a ttl is read once, with
//!      [`Engine::history`] over `[earliest row − ttl, latest row]`: every
//!      version any of its rows can be joined to;
//!    - otherwise each row is read with [`Engine::as_of_with`], latest row
//!      first, and a version found for a later row is reused for an earlier
//!      one when it is also the answer there (its event time is not after
//!      the earlier row's, and, per row for `--no-future-writes`, it was
//!      created by then);
//!
//!    a found version's bytes are copied once into the thread's arena;
//! 4. every row is decoded in input order straight into Arrow builders
//!    (batches in parallel) and the output batches are handed on in order.
//!
//! Memory: a history read holds the versions of one key in the window of
//! its rows (at most its rows' time span plus the ttl).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use arrow_array::{ArrayRef, RecordBatch};

use super::join::{FeatureBuilder, JoinSpec, within_ttl};
use super::keys::{Keys, event_times};
use super::refs::ViewPlan;
use super::{EVENT_TIMESTAMP, Error, KnownAt};
use crate::engine;
use crate::format::key::TOMBSTONE_TS;
use crate::format::row::decode_row_with;

/// Where a row's version is: `arenas[arena][off..off + len]`.
#[derive(Clone, Copy)]
struct Slot {
    arena: u32,
    len: u32,
    off: u64,
}

const NO_SLOT: Slot = Slot {
    arena: u32::MAX,
    len: 0,
    off: 0,
};

/// One view's answers for the rows of a run.
struct Found {
    slots: Vec<Slot>,
    arenas: Vec<Vec<u8>>,
    hits: u64,
}

/// A batch's event times and, per view, its encoded keys.
type Encoded = (Vec<i64>, Vec<Keys>);

/// Runs `f(i)` for `i` in `0..n` on `threads` threads; results in order.
fn par_map<R: Send>(threads: usize, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if threads <= 1 || n <= 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(n))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return out;
                        }
                        out.push((i, f(i)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Joins a run of batches (`first_row` is the 0-based table row of its
/// first row); `emit` gets the output batches in order. Returns, per view,
/// the rows that got a version.
pub(crate) fn join_run(
    spec: &JoinSpec,
    run: &[RecordBatch],
    first_row: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<Vec<u64>, Error> {
    let mut starts = Vec::with_capacity(run.len() + 1);
    let mut n = 0;
    for b in run {
        starts.push(n);
        n += b.num_rows();
    }
    starts.push(n);
    let bad = |b: usize, (i, reason): (usize, String), column: &str| Error::BadRow {
        row: first_row + starts[b] + i + 1,
        column: column.to_string(),
        reason,
    };
    let encoded: Vec<Result<Encoded, Error>> = par_map(spec.threads, run.len(), |b| {
        let batch = &run[b];
        let times = event_times(batch.column(spec.ts_col).as_ref())
            .map_err(|e| bad(b, e, EVENT_TIMESTAMP))?;
        let mut keys = Vec::with_capacity(spec.views.len());
        for (vp, cols) in spec.views.iter().zip(spec.key_cols) {
            let arrays: Vec<_> = cols
                .iter()
                .zip(&vp.keys)
                .map(|(&c, k)| (batch.column(c).as_ref(), k.ty))
                .collect();
            keys.push(Keys::encode(&arrays, batch.num_rows()).map_err(|e| {
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
    let mut times = Vec::with_capacity(n);
    let mut per_view: Vec<Vec<Keys>> = (0..spec.views.len()).map(|_| Vec::new()).collect();
    for r in encoded {
        let (t, keys) = r?;
        times.extend(t);
        for (v, k) in per_view.iter_mut().zip(keys) {
            v.push(k);
        }
    }
    let mut found = Vec::with_capacity(spec.views.len());
    for (vp, keys) in spec.views.iter().zip(per_view) {
        let keys = Keys::concat(keys);
        found.push(lookup_view(spec, vp, &keys, &times)?);
    }
    drop(times);
    decode_all(spec, run, &starts, &found, emit)?;
    Ok(found.iter().map(|f| f.hits).collect())
}

/// Splits the rows with a key into one part per thread by key range, each
/// sorted by `(key, time, row)`. Splitters come from a sample of the keys;
/// the rows are bucketed by slices in parallel and each part gathers and
/// sorts its buckets in parallel.
fn partition(keys: &Keys, times: &[i64], threads: usize) -> Vec<Vec<u32>> {
    let n = keys.len();
    let parts = if n < 64 { 1 } else { threads.max(1) };
    let step = (n / 1024).max(1);
    let slices = |bucket: &(dyn Fn(usize) -> usize + Sync)| -> Vec<Vec<Vec<u32>>> {
        let per = n.div_ceil(parts).max(1);
        par_map(parts, parts, |c| {
            let mut b = vec![Vec::with_capacity(per / parts + 16); parts];
            for i in (c * per..((c + 1) * per).min(n)).filter(|&i| keys.is_valid(i)) {
                b[bucket(i)].push(i as u32);
            }
            b
        })
    };
    let gather = |buckets: &[Vec<Vec<u32>>], p: usize| -> Vec<u32> {
        let mut v = Vec::with_capacity(buckets.iter().map(|b| b[p].len()).sum());
        for b in buckets {
            v.extend_from_slice(&b[p]);
        }
        v
    };
    match keys {
        Keys::Int(k) => {
            let key = |i: usize| k[i].unwrap_or(0);
            let mut sample: Vec<u64> = (0..n)
                .step_by(step)
                .filter(|&i| keys.is_valid(i))
                .map(key)
                .collect();
            sample.sort_unstable();
            let splitters: Vec<u64> = (1..parts)
                .filter_map(|p| sample.get(p * sample.len() / parts).copied())
                .collect();
            let buckets = slices(&|i| splitters.partition_point(|s| *s <= key(i)));
            par_map(parts, parts, |p| {
                let mut v: Vec<(u64, i64, u32)> = gather(&buckets, p)
                    .into_iter()
                    .map(|i| (key(i as usize), times[i as usize], i))
                    .collect();
                v.sort_unstable();
                v.into_iter().map(|(_, _, i)| i).collect()
            })
        }
        Keys::Bytes { .. } => {
            let mut sample: Vec<usize> =
                (0..n).step_by(step).filter(|&i| keys.is_valid(i)).collect();
            sample.sort_unstable_by(|&a, &b| keys.bytes(a).cmp(keys.bytes(b)));
            let splitters: Vec<&[u8]> = (1..parts)
                .filter_map(|p| sample.get(p * sample.len() / parts).map(|&i| keys.bytes(i)))
                .collect();
            let buckets = slices(&|i| splitters.partition_point(|s| *s <= keys.bytes(i)));
            par_map(parts, parts, |p| {
                let mut v = gather(&buckets, p);
                v.sort_unstable_by(|&a, &b| {
                    let (a, b) = (a as usize, b as usize);
                    keys.bytes(a)
                        .cmp(keys.bytes(b))
                        .then(times[a].cmp(&times[b]))
                        .then(a.cmp(&b))
                });
                v
            })
        }
    }
}

/// Answers every row of one view.
fn lookup_view(spec: &JoinSpec, vp: &ViewPlan, keys: &Keys, times: &[i64]) -> Result<Found, Error> {
    if let Some(r) = &vp.aggregation {
        return aggregate_view(spec, r, keys, times);
    }
    let parts = partition(keys, times, spec.threads);
    let results: Vec<Result<Part, Error>> = par_map(parts.len(), parts.len(), |p| {
        let mut part = Part {
            spec,
            vp,
            keys,
            times,
            arena: Vec::new(),
            out: Vec::with_capacity(parts[p].len()),
            hits: 0,
        };
        let rows = &parts[p];
        let mut i = 0;
        while i < rows.len() {
            let first = rows[i] as usize;
            let mut j = i + 1;
            while j < rows.len() && keys.same(first, rows[j] as usize) {
                j += 1;
            }
            part.answer(&rows[i..j])?;
            i = j;
        }
        Ok(part)
    });
    let mut found = Found {
        slots: vec![NO_SLOT; keys.len()],
        arenas: Vec::with_capacity(results.len()),
        hits: 0,
    };
    for (a, r) in results.into_iter().enumerate() {
        let part = r?;
        for (row, off, len) in part.out {
            found.slots[row as usize] = Slot {
                arena: a as u32,
                len,
                off,
            };
        }
        found.hits += part.hits;
        found.arenas.push(part.arena);
    }
    Ok(found)
}

/// Answers every row of an aggregation view: its windows at the row's time.
fn aggregate_view(
    spec: &JoinSpec,
    r: &crate::aggregate::Resolved,
    keys: &Keys,
    times: &[i64],
) -> Result<Found, Error> {
    let parts = super::aggregate::answer(spec.engine, r, keys, times, spec.known_at, spec.threads)?;
    let mut found = Found {
        slots: vec![NO_SLOT; keys.len()],
        arenas: Vec::with_capacity(parts.len()),
        hits: 0,
    };
    for (a, part) in parts.into_iter().enumerate() {
        for (row, off, len) in part.out {
            found.slots[row as usize] = Slot {
                arena: a as u32,
                len,
                off,
            };
            found.hits += 1;
        }
        found.arenas.push(part.arena);
    }
    Ok(found)
}

/// One thread's share of a view's lookups.
struct Part<'a> {
    spec: &'a JoinSpec<'a>,
    vp: &'a ViewPlan,
    keys: &'a Keys,
    times: &'a [i64],
    arena: Vec<u8>,
    /// `(row, offset, length)` of each row that got a version.
    out: Vec<(u32, u64, u32)>,
    hits: u64,
}

impl Part<'_> {
    fn known(&self, t: i64) -> Option<i64> {
        match self.spec.known_at {
            KnownAt::Unbounded => None,
            KnownAt::At(k) => Some(k),
            KnownAt::EventTime => Some(t),
        }
    }

    fn copy(&mut self, row: &[u8]) -> (u64, u32) {
        let off = self.arena.len() as u64;
        self.arena.extend_from_slice(row);
        (off, row.len() as u32)
    }
    /// Answers the rows of one key, sorted by time.
    fn answer(&mut self, rows: &[u32]) -> Result<(), Error> {
        let ttl = self.vp.view.ttl_micros;
        if ttl > 0 && rows.len() >= 2 {
            return self.answer_from_history(rows, ttl);
        }
        // Latest row first; `prev` is the last read's answer, if any read.
        let mut prev: Option<Option<(i64, i64, u64, u32)>> = None;
        let view = self.vp.view.id;
        for &row in rows.iter().rev() {
            let t = self.times[row as usize];
            let known = self.known(t);
            let reusable = match prev {
                Some(None) => true,
                Some(Some((e, c, _, _))) => e <= t && known.is_none_or(|k| c <= k),
                None => false,
            };
            if !reusable {
                let (keys, engine, arena) = (self.keys, self.spec.engine, &mut self.arena);
                let found = keys.with_key(row as usize, |key| {
                    engine.as_of_with(view, key, t.min(TOMBSTONE_TS - 1), known, |f| {
                        f.map(|(e, c, r)| {
                            let off = arena.len() as u64;
                            arena.extend_from_slice(r);
                            (e, c, off, r.len() as u32)
                        })
                    })
                })?;
                prev = Some(found);
            }
            if let Some(Some((e, _, off, len))) = prev
                && within_ttl(ttl, e, t)
            {
                self.out.push((row, off, len));
                self.hits += 1;
            }
        }
        Ok(())
    }

    /// One history read for several rows of a key (ttl > 0).
    fn answer_from_history(&mut self, rows: &[u32], ttl: i64) -> Result<(), Error> {
        let t_min = self.times[rows[0] as usize];
        let t_max = self.times[rows[rows.len() - 1] as usize];
        let from = t_min.saturating_sub(ttl);
        let to = t_max.min(TOMBSTONE_TS - 1);
        let known = self.known(t_max);
        let (view, keys) = (self.vp.view.id, self.keys);
        // Newest first: by event time, then created time, descending.
        let versions = keys.with_key(rows[0] as usize, |key| {
            self.spec.engine.history(view, key, from, to, known)
        })?;
        let mut copied: Vec<Option<(u64, u32)>> = vec![None; versions.len()];
        let per_row = self.spec.known_at == KnownAt::EventTime;
        for &row in rows {
            let t = self.times[row as usize];
            let mut i = versions.partition_point(|v| v.event_ts > t);
            if per_row {
                while i < versions.len() && versions[i].created_ts > t {
                    i += 1;
                }
            }
            let Some(v) = versions.get(i) else { continue };
            if !within_ttl(ttl, v.event_ts, t) {
                continue;
            }
            let (off, len) = match copied[i] {
                Some(s) => s,
                None => {
                    let s = self.copy(&v.row);
                    copied[i] = Some(s);
                    s
                }
            };
            self.out.push((row, off, len));
            self.hits += 1;
        }
        Ok(())
    }
}

/// Decodes every row into the output columns, batches in parallel, and
/// emits the output batches in order.
fn decode_all(
    spec: &JoinSpec,
    run: &[RecordBatch],
    starts: &[usize],
    found: &[Found],
    emit: &mut dyn FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<(), Error> {
    let decode = |b: usize| -> Result<RecordBatch, Error> {
        let batch = &run[b];
        let rows = starts[b]..starts[b + 1];
        let mut builders: Vec<FeatureBuilder> = spec
            .outputs
            .iter()
            .map(|o| FeatureBuilder::new(o.ty, rows.len()))
            .collect();
        for (vp, f) in spec.views.iter().zip(found) {
            decode_view(vp, f, rows.clone(), &mut builders)?;
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.extend(builders.into_iter().map(FeatureBuilder::finish));
        RecordBatch::try_new(spec.schema.clone(), columns)
            .map_err(|e| Error::Internal(format!("assembling an output batch: {e}")))
    };
    if spec.threads <= 1 || run.len() <= 1 {
        for b in 0..run.len() {
            emit(decode(b)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = sync_channel::<(usize, Result<RecordBatch, Error>)>(spec.threads * 2);
    std::thread::scope(|s| {
        for _ in 0..spec.threads.min(run.len()) {
            let tx = tx.clone();
            let (next, decode) = (&next, &decode);
            s.spawn(move || {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= run.len() || tx.send((b, decode(b))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // In order; a failure drops `rx`, which stops the decoders.
        let mut pending = std::collections::BTreeMap::new();
        let mut want = 0;
        for (b, r) in rx {
            pending.insert(b, r);
            while let Some(r) = pending.remove(&want) {
                emit(r?)?;
                want += 1;
            }
        }
        if want < run.len() {
            return Err(Error::Internal("a decoding thread stopped early".into()));
        }
        Ok(())
    })
}

/// Decodes one view's versions (or nulls) for `rows` into its builders.
fn decode_view(
    vp: &ViewPlan,
    found: &Found,
    rows: std::ops::Range<usize>,
    builders: &mut [FeatureBuilder],
) -> Result<(), Error> {
    let corrupt = |e| Error::Engine(engine::Error::corrupt_row(vp.view.id, e));
    for r in rows {
        let s = found.slots[r];
        if s.arena == NO_SLOT.arena {
            for (f, o) in vp.wanted.iter().enumerate() {
                let Some(o) = o else { continue };
                match vp.defaults.get(f).cloned().flatten() {
                    // Defaults were type-checked when the definitions were applied.
                    Some(d) => {
                        builders[*o].push(d);
                    }
                    None => builders[*o].push_null(),
                }
            }
            continue;
        }
        let arena = &found.arenas[s.arena as usize];
        let bytes = &arena[s.off as usize..s.off as usize + s.len as usize];
        let mut bad = None;
        decode_row_with(&vp.schema, bytes, |f, v| {
            if let Some(o) = vp.wanted[f]
                && !builders[o].push(v)
            {
                bad.get_or_insert(f);
            }
        })
        .map_err(corrupt)?;
        if let Some(f) = bad {
            return Err(Error::Internal(format!(
                "field {f} of a row of view {} does not decode as {}",
                vp.view.qualified_name(),
                vp.schema[f]
            )));
        }
    }
    Ok(())
}
