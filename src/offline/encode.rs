//! Encoded entries of one input file, and the two ways they reach the store.
//!
//! A [`Run`] holds `(internal key, encoded row)` pairs in one arena, each
//! with its row number in the file. [`sort`] orders the entries of one or
//! more runs by internal key (two threads for large files), with equal keys
//! in file order; [`write_segment`] then feeds them to
//! [`Engine::ingest_sorted`](crate::engine::Engine::ingest_sorted), keeping
//! only the **last** row of the file for a repeated
//! `(key, event_ts, created_ts)` (as writing them in order would).
//! [`write_wal`] instead writes them in file order through the WAL in
//! batches of [`WAL_BATCH_ROWS`].

use std::cmp::Ordering;

use indicatif::ProgressBar;

use super::{Target, name_field_error};
use crate::catalog::quality::Checker;
use crate::engine::{self, WriteBatch};
use crate::format::key::{self, TOMBSTONE_TS, TS_SUFFIX_LEN, VIEW_ID_LEN};
use crate::format::row;
use crate::format::segment::EntryKind;
use crate::store::{RowWrite, Store};

/// Rows per write batch of [`write_wal`].
pub const WAL_BATCH_ROWS: usize = 10_000;
/// Entries below which sorting uses one thread.
const PARALLEL_SORT_MIN: usize = 100_000;

/// One entry: the first 24 bytes of the key after the view id as three
/// big-endian words (the whole key of a one-int64-key view, so sorting
/// rarely looks further), the row number in the file, and where the bytes
/// are.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    k: [u64; 3],
    seq: u64,
    /// Run index << 48 | offset in that run's arena.
    loc: u64,
}

/// Encoded entries, appended in file order.
#[derive(Debug)]
pub struct Run {
    id: u64,
    arena: Vec<u8>,
    entries: Vec<Entry>,
    min_event: i64,
    max_event: i64,
}

impl Run {
    /// An empty run; `id` tells runs of one file apart (at most 65 535).
    pub fn new(id: u16, rows_hint: usize) -> Run {
        Run {
            id: u64::from(id),
            arena: Vec::with_capacity(rows_hint * 64),
            entries: Vec::with_capacity(rows_hint),
            min_event: i64::MAX,
            max_event: i64::MIN,
        }
    }

    /// The smallest and greatest event time pushed, if any.
    pub fn event_range(&self) -> Option<(i64, i64)> {
        (!self.entries.is_empty()).then_some((self.min_event, self.max_event))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry; `seq` is its 0-based row number in the file.
    #[inline]
    pub fn push(&mut self, ikey: &[u8], row: &[u8], seq: u64) {
        let off = self.arena.len() as u64;
        if let Some(t) = ikey.len().checked_sub(TS_SUFFIX_LEN) {
            let mut b = [0u8; 8];
            b.copy_from_slice(&ikey[t..t + 8]);
            let ev = key::decode_ts_desc(b);
            self.min_event = self.min_event.min(ev);
            self.max_event = self.max_event.max(ev);
        }
        let mut h = [0u8; 24];
        let tail = &ikey[VIEW_ID_LEN.min(ikey.len())..];
        let n = tail.len().min(24);
        h[..n].copy_from_slice(&tail[..n]);
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&h[i * 8..i * 8 + 8]);
            u64::from_be_bytes(w)
        };
        self.arena
            .extend_from_slice(&(ikey.len() as u16).to_le_bytes());
        self.arena.extend_from_slice(&(row.len() as u32).to_le_bytes());
        self.arena.extend_from_slice(ikey);
        self.arena.extend_from_slice(row);
        self.entries.push(Entry {
            k: [word(0), word(1), word(2)],
            seq,
            loc: self.id << 48 | off,
        });
    }
}

/// The internal key and row of `e`.
#[inline]
fn bytes<'a>(runs: &'a [Run], e: &Entry) -> (&'a [u8], &'a [u8]) {
    let arena = &runs[(e.loc >> 48) as usize].arena;
    let off = (e.loc & ((1 << 48) - 1)) as usize;
    let klen = u16::from_le_bytes([arena[off], arena[off + 1]]) as usize;
    let rlen = u32::from_le_bytes([
        arena[off + 2],
        arena[off + 3],
        arena[off + 4],
        arena[off + 5],
    ]) as usize;
    let k = off + 6;
    (&arena[k..k + klen], &arena[k + klen..k + klen + rlen])
}

#[inline]
fn cmp(runs: &[Run], a: &Entry, b: &Entry) -> Ordering {
    a.k.cmp(&b.k)
        .then_with(|| bytes(runs, a).0.cmp(bytes(runs, b).0))
        .then(a.seq.cmp(&b.seq))
}

/// Every entry of `runs` in internal-key order, equal keys in file order.
pub fn sort(runs: &[Run]) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::with_capacity(runs.iter().map(Run::len).sum());
    for r in runs {
        all.extend_from_slice(&r.entries);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if all.len() < PARALLEL_SORT_MIN || threads < 2 {
        all.sort_unstable_by(|a, b| cmp(runs, a, b));
        return all;
    }
    let mid = all.len() / 2;
    let (lo, hi) = all.split_at_mut(mid);
    std::thread::scope(|s| {
        s.spawn(|| lo.sort_unstable_by(|a, b| cmp(runs, a, b)));
        hi.sort_unstable_by(|a, b| cmp(runs, a, b));
    });
    let mut out = Vec::with_capacity(all.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < all.len() {
        if cmp(runs, &all[j], &all[i]) == Ordering::Less {
            out.push(all[j]);
            j += 1;
        } else {
            out.push(all[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&all[i..mid]);
    out.extend_from_slice(&all[j..]);
    out
}

/// Entries copied per gather step of [`write_segment`].
const GATHER: usize = 2048;

/// Writes sorted entries as one segment, atomically; returns the entries
/// written (repeated keys count once).
///
/// The entries' bytes are scattered over the arenas in file order; they are
/// first gathered, a few thousand at a time, into one buffer in key order
/// (independent loads the CPU overlaps), then fed to the segment writer.
pub fn write_segment(
    store: &Store,
    runs: &[Run],
    sorted: &[Entry],
    bar: &ProgressBar,
) -> Result<u64, engine::Error> {
    let mut written = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(GATHER * 96);
    let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(GATHER);
    store.engine().ingest_sorted(|add| {
        for (c, chunk) in sorted.chunks(GATHER).enumerate() {
            buf.clear();
            spans.clear();
            for e in chunk {
                let (k, r) = bytes(runs, e);
                let at = buf.len();
                buf.extend_from_slice(k);
                buf.extend_from_slice(r);
                spans.push((at, k.len(), r.len()));
            }
            let next_first = sorted.get((c + 1) * GATHER);
            for (i, &(at, kl, rl)) in spans.iter().enumerate() {
                let k = &buf[at..at + kl];
                // A later row of the file with the same key replaces this one.
                let dup = match spans.get(i + 1) {
                    Some(&(nat, nkl, _)) => &buf[nat..nat + nkl] == k,
                    None => next_first.is_some_and(|n| n.k == chunk[i].k && bytes(runs, n).0 == k),
                };
                if dup {
                    continue;
                }
                add(k, EntryKind::Version, &buf[at + kl..at + kl + rl])?;
                written += 1;
            }
            bar.set_position(((c + 1) * GATHER).min(sorted.len()) as u64);
        }
        Ok(())
    })?;
    Ok(written)
}

/// Writes the entries in file order through the WAL, in atomic batches.
/// On failure, returns how many rows were written before it.
pub fn write_wal(store: &Store, runs: &[Run], bar: &ProgressBar) -> Result<u64, (u64, engine::Error)> {
    let mut order: Vec<Entry> = runs.iter().flat_map(|r| r.entries.iter().copied()).collect();
    order.sort_unstable_by_key(|e| e.seq);
    let mut batch = WriteBatch::default();
    let mut written = 0u64;
    for chunk in order.chunks(WAL_BATCH_ROWS) {
        batch.clear();
        for e in chunk {
            let (k, r) = bytes(runs, e);
            let n = k.len();
            let view = u32::from_be_bytes([k[0], k[1], k[2], k[3]]);
            let ek = &k[VIEW_ID_LEN..n - TS_SUFFIX_LEN];
            let ts = |at: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&k[at..at + 8]);
                key::decode_ts_desc(b)
            };
            batch
                .put(view, ek, ts(n - 16), ts(n - 8), r)
                .map_err(|e| (written, e))?;
        }
        store.engine().write(&batch).map_err(|e| (written, e))?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    Ok(written)
}

/// Validates rows read from text formats (CSV, JSON Lines) and appends
/// them to `run`; row `i` of `rows` is row `base + i + 1` of the file.
pub fn push_rows(
    target: &Target,
    rows: &[RowWrite],
    base: u64,
    now: i64,
    run: &mut Run,
    checker: &mut Checker,
) -> Result<(), String> {
    let types: Vec<_> = target.keys.iter().map(|k| k.ty).collect();
    let schema = target.view.schema();
    let (mut ek, mut ik, mut rb) = (Vec::new(), Vec::new(), Vec::new());
    for (i, w) in rows.iter().enumerate() {
        let n = base + i as u64 + 1;
        if w.event_ts == TOMBSTONE_TS {
            return Err(format!(
                "row {n}, column {}: {TOMBSTONE_TS} is reserved; use a smaller timestamp",
                super::EVENT_TIMESTAMP
            ));
        }
        ek.clear();
        key::encode_entity_key(&types, &w.key, &mut ek)
            .map_err(|e| format!("row {n}: the key is not valid: {e}"))?;
        row::encode_row(&schema, &w.values, &mut rb)
            .map_err(|e| name_field_error(target, &format!("row {n}"), &e))?;
        for (f, v) in w.values.iter().enumerate() {
            checker.value(f, n, v);
        }
        key::internal_key(target.view.id, &ek, w.event_ts, w.created_ts.unwrap_or(now), &mut ik);
        run.push(&ik, &rb, n - 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(id: u16, items: &[(i64, i64, u8)], seq0: u64) -> Run {
        let mut r = Run::new(id, 0);
        let mut ik = Vec::new();
        for (i, (k, ev, tag)) in items.iter().enumerate() {
            key::internal_key(3, &key::encode_int_key(*k), *ev, 1, &mut ik);
            r.push(&ik, &[*tag], seq0 + i as u64);
        }
        r
    }

    #[test]
    fn sorted_by_key_then_file_order_across_runs() {
        // Enough entries for the parallel sort, with many repeated keys.
        let a: Vec<(i64, i64, u8)> = (0..150_000).map(|i| ((i * 7919) % 1000, i % 3, 1)).collect();
        let b: Vec<(i64, i64, u8)> = (0..60_000).map(|i| ((i * 31) % 1000, i % 3, 2)).collect();
        let runs = vec![run_of(0, &a, 0), run_of(1, &b, a.len() as u64)];
        let s = sort(&runs);
        assert_eq!(s.len(), a.len() + b.len());
        for w in s.windows(2) {
            let (ka, kb) = (bytes(&runs, &w[0]).0, bytes(&runs, &w[1]).0);
            assert!(ka < kb || (ka == kb && w[0].seq < w[1].seq));
        }
    }
}
