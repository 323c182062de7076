//! Sorting a run's rows by `(key, time)` into parts by key range, for the
//! merge in [`super::run`]: for `int64` keys a counting sort by sampled
//! buckets (each a cache-sized slice of the key space), for other keys a
//! sort of sampled key ranges; and the small thread pool both use.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::Array;

use super::keys::{BatchKeys, Keys};
use strata_format::key::encode_int_key;

/// Runs `f(i)` for `i` in `0..n` on `threads` threads; results in order.
pub(super) fn par_map<R: Send>(threads: usize, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
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

/// A row to join: its key (for `int64` keys, as the big-endian value of
/// its encoding; else 0, the key being looked up by row), its time and its
/// place (batch, row in the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub(super) key: u64,
    pub(super) t: i64,
    pub(super) batch: u32,
    pub(super) row: u32,
}

/// Parts per thread a run's rows are split into (threads take the next
/// part when done, so that one slow part does not keep the others idle).
pub(super) const PARTS_PER_THREAD: usize = 4;

/// Bytes in memtables above which a run is split into one part per thread
/// only: a part's scan copies its key range of the memtables, but walks
/// them whole to find it.
pub(super) const MEMTABLE_WALK: usize = 8 << 20;

/// Fewest rows worth a part of their own.
const MIN_PART_ROWS: usize = 16;

/// How many parts `rows` rows are split into.
fn parts_for(rows: usize, threads: usize, per_thread: usize) -> usize {
    (threads.max(1) * per_thread)
        .min(rows / MIN_PART_ROWS)
        .max(1)
}

/// Rows per bucket aimed at when sorting `int64` keys: a bucket's entries
/// fit in the second-level cache.
const BUCKET_ROWS: usize = 16 << 10;

/// Sorts the rows of a run with a key, given per batch, by `(key, time,
/// place)` into at most `threads` parts by key range (a key's rows are
/// never split). For keys other than one `int64`, also returns the keys of
/// the whole run, by row of the run.
pub(super) fn sort_parts(
    keys: Vec<BatchKeys>,
    times: &[Cow<[i64]>],
    starts: &[usize],
    threads: usize,
    per_thread: usize,
) -> (Vec<Vec<Entry>>, Option<Keys>) {
    let ints: Option<Vec<IntKeys>> = keys
        .iter()
        .map(|k| match k {
            BatchKeys::Int64(a) => Some(IntKeys::Arrow(a)),
            BatchKeys::Encoded(Keys::Int(k)) => Some(IntKeys::Encoded(k)),
            BatchKeys::Encoded(Keys::Bytes { .. }) => None,
        })
        .collect();
    if let Some(ints) = ints {
        return (sort_int(&ints, times, threads, per_thread), None);
    }
    let keys = Keys::concat(keys.into_iter().map(BatchKeys::into_keys).collect());
    let all: Vec<i64> = times.iter().flat_map(|t| t.iter().copied()).collect();
    let parts = sort_bytes(&keys, &all, threads, per_thread)
        .into_iter()
        .map(|rows| {
            rows.into_iter()
                .map(|r| {
                    let b = starts.partition_point(|s| *s <= r as usize) - 1;
                    Entry {
                        key: 0,
                        t: all[r as usize],
                        batch: b as u32,
                        row: (r as usize - starts[b]) as u32,
                    }
                })
                .collect()
        })
        .collect();
    (parts, Some(keys))
}

/// The `int64` keys of a batch, as the big-endian values of their
/// encodings (so that integer order is key order).
enum IntKeys<'a> {
    Arrow(&'a arrow_array::Int64Array),
    Encoded(&'a [Option<u64>]),
}

impl IntKeys<'_> {
    fn len(&self) -> usize {
        match self {
            IntKeys::Arrow(a) => a.len(),
            IntKeys::Encoded(k) => k.len(),
        }
    }

    /// Calls `f(row, key)` for every row, in order.
    #[inline]
    fn for_each(&self, mut f: impl FnMut(usize, Option<u64>)) {
        let enc = |v: i64| u64::from_be_bytes(encode_int_key(v));
        match self {
            IntKeys::Arrow(a) if a.null_count() == 0 => {
                for (i, v) in a.values().iter().enumerate() {
                    f(i, Some(enc(*v)));
                }
            }
            IntKeys::Arrow(a) => {
                for (i, v) in a.iter().enumerate() {
                    f(i, v.map(enc));
                }
            }
            IntKeys::Encoded(k) => {
                for (i, v) in k.iter().enumerate() {
                    f(i, *v);
                }
            }
        }
    }

    /// Every `step`-th key that is not null.
    fn sample(&self, step: usize, out: &mut Vec<u64>) {
        let mut i = 0;
        self.for_each(|r, k| {
            if r == i {
                i += step;
                out.extend(k);
            }
        });
    }
}

/// Maps a key to its bucket: the number of splitters `<=` it. A table over
/// the top bits of the key's offset from the smallest sampled key gives a
/// bucket at or below the answer, usually the answer.
struct Buckets {
    splitters: Vec<u64>,
    min: u64,
    shift: u32,
    /// Per slot, the splitters below the slot's first key.
    table: Vec<u32>,
}

impl Buckets {
    /// Up to `n` buckets of about equal rows, from a sorted sample.
    fn new(sample: &[u64], n: usize) -> Buckets {
        let mut splitters: Vec<u64> = (1..n)
            .filter_map(|b| sample.get(b * sample.len() / n).copied())
            .collect();
        splitters.dedup();
        let min = sample.first().copied().unwrap_or(0);
        let range = sample.last().copied().unwrap_or(0) - min;
        let slots_log = (splitters.len() + 1).next_power_of_two().trailing_zeros() + 2;
        let bits = 64 - range.leading_zeros();
        let shift = bits.saturating_sub(slots_log);
        let slots = ((range >> shift) + 1) as usize;
        let table = (0..slots)
            .map(|j| {
                let first = min + ((j as u64) << shift);
                splitters.partition_point(|s| *s < first) as u32
            })
            .collect();
        Buckets {
            splitters,
            min,
            shift,
            table,
        }
    }

    fn count(&self) -> usize {
        self.splitters.len() + 1
    }

    #[inline]
    fn of(&self, key: u64) -> usize {
        let slot =
            ((key.saturating_sub(self.min) >> self.shift) as usize).min(self.table.len() - 1);
        let mut id = self.table[slot] as usize;
        let mut steps = 0;
        while id < self.splitters.len() && self.splitters[id] <= key {
            id += 1;
            steps += 1;
            if steps == 8 {
                return id + self.splitters[id..].partition_point(|s| *s <= key);
            }
        }
        id
    }
}

/// [`sort_parts`] for `int64` keys: each batch finds its rows' buckets
/// (from sampled splitters) and counts them; a part is a range of buckets
/// with about equal rows. The batches then write their entries to their
/// places in the parts, bucket by bucket (a counting sort), and each part
/// sorts its buckets one by one, each a cache-sized slice of the key space.
fn sort_int(
    keys: &[IntKeys],
    times: &[Cow<[i64]>],
    threads: usize,
    per_thread: usize,
) -> Vec<Vec<Entry>> {
    let n: usize = keys.iter().map(IntKeys::len).sum();
    let wanted = (n / BUCKET_ROWS).clamp(1, 1 << 12);
    let step = (n / (wanted * 16)).max(1);
    let mut sample = Vec::with_capacity(n / step + keys.len());
    for k in keys {
        k.sample(step, &mut sample);
    }
    sample.sort_unstable();
    let buckets = Buckets::new(&sample, wanted);
    drop(sample);
    let nb = buckets.count();
    // Per batch: each row's bucket (`u16::MAX`: no key) and the counts.
    let counted: Vec<(Vec<u16>, Vec<u32>)> = par_map(threads, keys.len(), |b| {
        let mut ids = Vec::with_capacity(keys[b].len());
        let mut counts = vec![0u32; nb];
        keys[b].for_each(|_, k| match k {
            Some(k) => {
                let id = buckets.of(k);
                counts[id] += 1;
                ids.push(id as u16);
            }
            None => ids.push(u16::MAX),
        });
        (ids, counts)
    });
    let sizes: Vec<usize> = (0..nb)
        .map(|i| counted.iter().map(|(_, c)| c[i] as usize).sum())
        .collect();
    let total: usize = sizes.iter().sum();
    // Contiguous ranges of buckets with about equal rows.
    let want = parts_for(total, threads, per_thread);
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(want);
    let (mut first, mut acc) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        acc += size;
        if ranges.len() + 1 < want && acc * want >= total * (ranges.len() + 1) {
            ranges.push(first..i + 1);
            first = i + 1;
        }
    }
    ranges.push(first..nb);
    let blank = Entry {
        key: 0,
        t: 0,
        batch: 0,
        row: 0,
    };
    // Allocated (and first touched) in parallel.
    let mut parts: Vec<Vec<Entry>> = par_map(threads, ranges.len(), |p| {
        vec![blank; sizes[ranges[p].clone()].iter().sum()]
    });
    {
        // Each batch's place in each bucket, bucket by bucket.
        let mut places: Vec<Vec<&mut [Entry]>> = counted.iter().map(|_| Vec::new()).collect();
        for (part, r) in parts.iter_mut().zip(&ranges) {
            let mut rest: &mut [Entry] = part;
            for i in r.clone() {
                for (b, (_, counts)) in counted.iter().enumerate() {
                    let (here, tail) = std::mem::take(&mut rest).split_at_mut(counts[i] as usize);
                    places[b].push(here);
                    rest = tail;
                }
            }
        }
        let places: Vec<Mutex<Vec<&mut [Entry]>>> = places.into_iter().map(Mutex::new).collect();
        par_map(threads, keys.len(), |b| {
            let mut places = places[b].lock().unwrap_or_else(|e| e.into_inner());
            let (ids, t) = (&counted[b].0, &times[b]);
            keys[b].for_each(|row, k| {
                let id = ids[row];
                if id == u16::MAX {
                    return;
                }
                let place = &mut places[id as usize];
                if let Some((first, tail)) = std::mem::take(place).split_first_mut() {
                    *first = Entry {
                        key: k.unwrap_or(0),
                        t: t[row],
                        batch: b as u32,
                        row: row as u32,
                    };
                    *place = tail;
                }
            });
        });
    }
    drop(counted);
    {
        let slices: Vec<Mutex<&mut Vec<Entry>>> = parts.iter_mut().map(Mutex::new).collect();
        par_map(threads, ranges.len(), |p| {
            let mut part = slices[p].lock().unwrap_or_else(|e| e.into_inner());
            let mut at = 0;
            let mut scratch = Vec::new();
            let mut counts = Vec::new();
            for i in ranges[p].clone() {
                sort_bucket(&mut part[at..at + sizes[i]], &mut scratch, &mut counts);
                at += sizes[i];
            }
        });
    }
    parts
}

/// Sorts the entries of a bucket. Keys that are dense (a range not much
/// wider than the entries) are sorted by counting, then each key's few
/// entries by time; others by comparison.
fn sort_bucket(v: &mut [Entry], scratch: &mut Vec<Entry>, counts: &mut Vec<u32>) {
    let (Some(min), Some(max)) = (v.iter().map(|e| e.key).min(), v.iter().map(|e| e.key).max())
    else {
        return;
    };
    let range = max - min;
    if v.len() < 64 || range >= 4 * v.len() as u64 {
        v.sort_unstable();
        return;
    }
    let slots = range as usize + 1;
    counts.clear();
    counts.resize(slots + 1, 0);
    for e in v.iter() {
        counts[(e.key - min) as usize + 1] += 1;
    }
    for j in 0..slots {
        counts[j + 1] += counts[j];
    }
    scratch.clear();
    scratch.extend_from_slice(v);
    for e in scratch.iter() {
        let c = &mut counts[(e.key - min) as usize];
        v[*c as usize] = *e;
        *c += 1;
    }
    // Equal keys are adjacent now; order each run by time and place.
    let mut i = 0;
    while i < v.len() {
        let mut j = i + 1;
        while j < v.len() && v[j].key == v[i].key {
            j += 1;
        }
        if j - i > 1 {
            v[i..j].sort_unstable();
        }
        i = j;
    }
}

/// [`sort_parts`] for other keys: the rows (of the run) of each part, by
/// key range (splitters from a sample), each sorted by `(key, time, row)`.
/// The rows are bucketed by slices in parallel and each part gathers and
/// sorts its buckets in parallel.
fn sort_bytes(keys: &Keys, times: &[i64], threads: usize, per_thread: usize) -> Vec<Vec<u32>> {
    let n = keys.len();
    let parts = parts_for(n, threads, per_thread);
    let step = (n / 1024).max(1);
    let mut sample: Vec<usize> = (0..n).step_by(step).filter(|&i| keys.is_valid(i)).collect();
    sample.sort_unstable_by(|&a, &b| keys.bytes(a).cmp(keys.bytes(b)));
    let splitters: Vec<&[u8]> = (1..parts)
        .filter_map(|p| sample.get(p * sample.len() / parts).map(|&i| keys.bytes(i)))
        .collect();
    let per = n.div_ceil(parts).max(1);
    let buckets: Vec<Vec<Vec<u32>>> = par_map(threads, parts, |c| {
        let mut b = vec![Vec::with_capacity(per / parts + 16); parts];
        for i in (c * per..((c + 1) * per).min(n)).filter(|&i| keys.is_valid(i)) {
            b[splitters.partition_point(|s| *s <= keys.bytes(i))].push(i as u32);
        }
        b
    });
    par_map(threads, parts, |p| {
        let mut v = Vec::with_capacity(buckets.iter().map(|b| b[p].len()).sum());
        for b in &buckets {
            v.extend_from_slice(&b[p]);
        }
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

/// An entity key of a sort entry, as bytes.
pub(super) enum KeyBytes<'k> {
    Int([u8; 8]),
    Bytes(&'k [u8]),
}

impl KeyBytes<'_> {
    #[inline]
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            KeyBytes::Int(b) => b,
            KeyBytes::Bytes(b) => b,
        }
    }
}
