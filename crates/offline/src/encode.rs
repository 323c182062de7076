//! Encoded entries of one input file, and the two ways they reach the store.
//!
//! A [`Run`] holds `(internal key, encoded row)` pairs in one arena, each
//! with its row number in the file. [`sort`] orders the entries of one or
//! more runs by internal key (two threads for large files), with equal keys
//! in file order; [`write_segment`] then feeds them to
//! [`Engine::ingest_sorted`](strata_engine::Engine::ingest_sorted), keeping
//! only the **last** row of the file for a repeated
//! `(key, event_ts, created_ts)` (as writing them in order would).
//! [`write_wal`] instead writes them in file order through the WAL in
//! batches of [`WAL_BATCH_ROWS`].

use std::cmp::Ordering;

use indicatif::ProgressBar;

use super::{Target, name_field_error};
use strata_engine as engine;
use strata_format::key::{self, TOMBSTONE_TS, TS_SUFFIX_LEN, VIEW_ID_LEN};
use strata_format::segment::EntryKind;
use strata_format::varint;
use strata_store::aggregate::write::Event;
use strata_store::catalog::FeatureView;
use strata_store::catalog::quality::Checker;
use strata_store::ingest::{WriteOptions, WriteSummary};
use strata_store::{self as store, RowWrite, Store};

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
    /// `rows_hint` rows of about `bytes_hint` bytes each are expected (see
    /// [`Run::row_bytes`]).
    pub fn new(id: u16, rows_hint: usize, bytes_hint: usize) -> Run {
        let run = Run {
            id: u64::from(id),
            arena: Vec::with_capacity(rows_hint * bytes_hint),
            entries: Vec::with_capacity(rows_hint),
            min_event: i64::MAX,
            max_event: i64::MIN,
        };
        huge_pages(&run.arena);
        huge_pages(&run.entries);
        run
    }

    /// The smallest and greatest event time pushed, if any.
    pub fn event_range(&self) -> Option<(i64, i64)> {
        (self.min_event <= self.max_event).then_some((self.min_event, self.max_event))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The arena bytes an entry of `target` takes, exactly for fixed-width
    /// keys and features (an upper bound with nulls), a guess otherwise.
    pub fn row_bytes(target: &Target) -> usize {
        let keys: usize = target
            .keys
            .iter()
            .map(|k| match k.ty {
                strata_format::schema::KeyType::Int64 => 8,
                strata_format::schema::KeyType::String => 16,
            })
            .sum();
        let n = target.view.features.len();
        let values: usize = target
            .view
            .features
            .iter()
            .map(|f| f.ty.fixed_width().unwrap_or(24))
            .sum();
        6 + VIEW_ID_LEN + keys + TS_SUFFIX_LEN + varint::len(n as u64) + n.div_ceil(8) + values
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
        self.arena
            .extend_from_slice(&(row.len() as u32).to_le_bytes());
        self.arena.extend_from_slice(ikey);
        self.arena.extend_from_slice(row);
        self.entries.push(Entry {
            k: [word(0), word(1), word(2)],
            seq,
            loc: self.id << 48 | off,
        });
    }
}

/// Asks the kernel to back the (untouched) capacity of `v` with huge pages.
/// The gather of [`write_segment`] reads the arena in random order; with
/// 4 KiB pages nearly every read of a large file misses the TLB (about 4x
/// slower at 10 M rows on this VM, where transparent huge pages are
/// `madvise`-only).
fn huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < 4 << 20 {
            return;
        }
        let start = v.as_ptr() as usize;
        let aligned = start.next_multiple_of(PAGE);
        let len = (start + bytes - aligned) / PAGE * PAGE;
        // SAFETY: the range lies inside `v`'s allocation, which this process
        // owns; MADV_HUGEPAGE is advice that changes no contents (a failure
        // is harmless and ignored).
        #[expect(unsafe_code, reason = "UNSAFE.md §5: madvise(MADV_HUGEPAGE) of a Vec")]
        unsafe {
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
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

/// Entries sorted in one or two parts (merged while they are written).
#[derive(Debug, Default)]
pub struct Sorted {
    parts: Vec<Vec<Entry>>,
}

impl Sorted {
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in order: a two-way merge of the parts.
    fn iter<'a>(&'a self, runs: &'a [Run]) -> impl Iterator<Item = &'a Entry> + 'a {
        let empty: &[Entry] = &[];
        let a = self.parts.first().map_or(empty, Vec::as_slice);
        let b = self.parts.get(1).map_or(empty, Vec::as_slice);
        let (mut i, mut j) = (0, 0);
        std::iter::from_fn(move || {
            let take_b = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => cmp(runs, y, x) == Ordering::Less,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if take_b {
                j += 1;
                b.get(j - 1)
            } else {
                i += 1;
                a.get(i - 1)
            }
        })
    }
}

/// Sorts every entry of `runs` by internal key, equal keys in file order,
/// on two threads for large inputs. The runs' entry lists are moved out
/// (their arenas stay).
pub fn sort(runs: &mut [Run]) -> Sorted {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total: usize = runs.iter().map(Run::len).sum();
    let mut parts: Vec<Vec<Entry>> = runs
        .iter_mut()
        .map(|r| std::mem::take(&mut r.entries))
        .filter(|e| !e.is_empty())
        .collect();
    let runs = &*runs;
    if total < PARALLEL_SORT_MIN || threads < 2 || parts.len() > 2 {
        let mut all = parts.concat();
        all.sort_unstable_by(|a, b| cmp(runs, a, b));
        return Sorted { parts: vec![all] };
    }
    if parts.len() == 1 {
        let mut one = parts.pop().unwrap_or_default();
        let hi = one.split_off(one.len() / 2);
        parts = vec![one, hi];
    }
    if let [a, b] = &mut parts[..] {
        std::thread::scope(|s| {
            s.spawn(|| a.sort_unstable_by(|x, y| cmp(runs, x, y)));
            b.sort_unstable_by(|x, y| cmp(runs, x, y));
        });
    }
    Sorted { parts }
}

/// Entries gathered per chunk of [`write_segment`].
const GATHER: usize = 4096;

/// How many entries ahead of the one copied the gather prefetches.
const PREFETCH_AHEAD: usize = 12;

/// Asks the CPU to load the bytes of `e` into cache (the gather's loads are
/// random over arenas of hundreds of MB; overlapping them is what makes it
/// fast).
#[inline]
fn prefetch(runs: &[Run], e: &Entry) {
    let arena = &runs[(e.loc >> 48) as usize].arena;
    let off = (e.loc & ((1 << 48) - 1)) as usize;
    #[cfg(target_arch = "x86_64")]
    for line in [off, off + 64] {
        if let Some(b) = arena.get(line) {
            // SAFETY: a prefetch is only a hint; it never faults and has no
            // effect on memory (the address is in bounds anyway).
            #[expect(unsafe_code, reason = "UNSAFE.md §6: prefetch hint")]
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    std::ptr::from_ref(b).cast::<i8>(),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (arena, off);
}

/// Gathered entries: their bytes in key order, and `(offset, key length,
/// row length)` of each.
#[derive(Default)]
struct Chunk {
    buf: Vec<u8>,
    spans: Vec<(usize, usize, usize)>,
}

/// Writes sorted entries as one segment, atomically; returns the entries
/// written. Of entries with equal keys only the last (in file order) is
/// written, as if the rows had been written one after the other.
///
/// The entries' bytes are scattered over the arenas in file order: a
/// second thread merges the sorted parts and gathers the bytes, a few
/// thousand entries at a time, into buffers in key order, while this
/// thread feeds them to the segment writer.
///
/// `trailer(written)` is the last entry of the segment: the batch's ledger
/// record, whose view id sorts after every other.
pub fn write_segment(
    store: &Store,
    runs: &[Run],
    sorted: &Sorted,
    trailer: &dyn Fn(u64) -> (Vec<u8>, Vec<u8>),
    bar: &ProgressBar,
) -> Result<u64, engine::Error> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Chunk>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut it = sorted.iter(runs).peekable();
            let mut order: Vec<Entry> = Vec::with_capacity(GATHER);
            let mut chunk = Chunk::default();
            loop {
                order.clear();
                while order.len() < GATHER {
                    let Some(e) = it.next() else { break };
                    // A later row of the file with the same key replaces this one.
                    if it
                        .peek()
                        .is_some_and(|n| n.k == e.k && bytes(runs, n).0 == bytes(runs, e).0)
                    {
                        continue;
                    }
                    order.push(*e);
                }
                if order.is_empty() {
                    return;
                }
                for (i, e) in order.iter().enumerate() {
                    if let Some(ahead) = order.get(i + PREFETCH_AHEAD) {
                        prefetch(runs, ahead);
                    }
                    let (k, r) = bytes(runs, e);
                    let at = chunk.buf.len();
                    chunk.buf.extend_from_slice(k);
                    chunk.buf.extend_from_slice(r);
                    chunk.spans.push((at, k.len(), r.len()));
                }
                let mut next = back_rx.try_recv().unwrap_or_default();
                next.buf.clear();
                next.spans.clear();
                if tx.send(std::mem::replace(&mut chunk, next)).is_err() {
                    return; // the writer stopped
                }
            }
        });
        let mut written = 0u64;
        store.engine().ingest_sorted(|add| {
            for chunk in rx {
                for &(at, kl, rl) in &chunk.spans {
                    add(
                        &chunk.buf[at..at + kl],
                        EntryKind::Version,
                        &chunk.buf[at + kl..at + kl + rl],
                    )?;
                }
                written += chunk.spans.len() as u64;
                bar.set_position(written);
                let _ = back_tx.send(chunk);
            }
            let (k, r) = trailer(written);
            add(&k, EntryKind::Version, &r)
        })?;
        Ok(written)
    })
}

/// The event of an entry.
fn event_of(runs: &[Run], e: &Entry) -> Event {
    let (k, r) = bytes(runs, e);
    let n = k.len();
    let ts = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&k[at..at + 8]);
        key::decode_ts_desc(b)
    };
    Event {
        key: k[VIEW_ID_LEN..n - TS_SUFFIX_LEN].to_vec(),
        event_ts: ts(n - 16),
        created_ts: ts(n - 8),
        row: r.to_vec(),
    }
}

/// Every entry of `runs` as an event, in file order.
pub fn events_in_file_order(runs: &[Run]) -> Vec<Event> {
    let mut order: Vec<Entry> = runs
        .iter()
        .flat_map(|r| r.entries.iter().copied())
        .collect();
    order.sort_unstable_by_key(|e| e.seq);
    order.iter().map(|e| event_of(runs, e)).collect()
}

/// Writes the entries of `view` in file order through the WAL, in atomic
/// batches (with the tiles of any aggregation view over `view`); the last
/// batch carries the ledger record of `opts.batch` (a file cut by a crash
/// has none, and is written again by a re-run). On failure, returns how
/// many rows were written before it; on success, what was written.
pub fn write_wal(
    store: &Store,
    view: &FeatureView,
    runs: &[Run],
    opts: &WriteOptions,
    bar: &ProgressBar,
) -> Result<WriteSummary, (u64, store::Error)> {
    let mut order: Vec<Entry> = runs
        .iter()
        .flat_map(|r| r.entries.iter().copied())
        .collect();
    order.sort_unstable_by_key(|e| e.seq);
    let mut total = WriteSummary::default();
    let mut done = 0u64;
    let chunks = order.len().div_ceil(WAL_BATCH_ROWS).max(1);
    for (i, chunk) in order
        .chunks(WAL_BATCH_ROWS)
        .chain(order.is_empty().then_some(&[][..]))
        .enumerate()
    {
        let events = chunk.iter().map(|e| event_of(runs, e)).collect();
        let last = i + 1 == chunks;
        let o = WriteOptions {
            batch: if last { opts.batch } else { None },
            ..opts.clone()
        };
        let s = store
            .write_events_with(view, events, &o)
            .map_err(|e| (total.written, e))?;
        total.add(&s);
        done += chunk.len() as u64;
        bar.set_position(done);
    }
    Ok(total)
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
        strata_store::encode_version_row(&target.view, &schema, &w.values, &mut rb)
            .map_err(|e| name_field_error(target, &format!("row {n}"), &e))?;
        for (f, v) in w.values.iter().enumerate() {
            checker.value(f, n, v);
        }
        key::internal_key(
            target.view.id,
            &ek,
            w.event_ts,
            w.created_ts.unwrap_or(now),
            &mut ik,
        );
        run.push(&ik, &rb, n - 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(id: u16, items: &[(i64, i64, u8)], seq0: u64) -> Run {
        let mut r = Run::new(id, 0, 0);
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
        let a: Vec<(i64, i64, u8)> = (0..150_000)
            .map(|i| ((i * 7919) % 1000, i % 3, 1))
            .collect();
        let b: Vec<(i64, i64, u8)> = (0..60_000).map(|i| ((i * 31) % 1000, i % 3, 2)).collect();
        let mut runs = vec![run_of(0, &a, 0), run_of(1, &b, a.len() as u64)];
        let s: Vec<Entry> = sort(&mut runs).iter(&runs).copied().collect();
        assert_eq!(s.len(), a.len() + b.len());
        for w in s.windows(2) {
            let (ka, kb) = (bytes(&runs, &w[0]).0, bytes(&runs, &w[1]).0);
            assert!(ka < kb || (ka == kb && w[0].seq < w[1].seq));
        }
    }
}
