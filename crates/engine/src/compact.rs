//! Compaction: merging runs of segments.
//!
//! Segments are kept newest first. A compaction merges a *contiguous* run of
//! them into one segment that takes the run's place, so "a newer source
//! wins" keeps its meaning. The policy ([`pick`]) is size-tiered:
//!
//! - starting from the newest segment, a run grows while the next older
//!   segment is at most `size_ratio` times the run's total size; a run of at
//!   least `min_merge` segments is merged (similar-sized recent flushes
//!   become one segment, which later merges with its similar-sized
//!   neighbours: sizes grow geometrically);
//! - if there are more than `max_segments` segments anyway, the contiguous
//!   window of `count - max_segments + 1` segments with the fewest bytes is
//!   merged, so a lookup never probes more than `max_segments` segments for
//!   long (writers wait when flushes get `stall_segments` ahead).
//!
//! While merging, on equal internal keys the newest source wins, and a
//! tombstone hides its key's versions in older sources. Pruning happens only
//! when the run includes the oldest segment, where nothing older can
//! reappear: tombstones are dropped, and so are versions older than a view's
//! `now - retention` and versions beyond its `max_versions` newest. (Dropping
//! an expired version in a run above older segments could let an even older
//! version of the key there become the latest again.)
//! Replaced segment files are removed when the last reader that holds them
//! lets go. See docs/ENGINE.md for the amplification analysis.

use crate::sync::Arc;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;

use strata_format::key::{self, VIEW_ID_LEN, ViewId};
use strata_format::manifest::SegmentEntry;
use strata_format::segment::EntryKind;

use super::readset::ReadSet;
use super::segment::{self, EntryCursor, Segment};
use super::{Error, Inner, Result};

/// How history is pruned for one view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewPolicy {
    /// Keep versions with `event_ts >= now - retention` (µs); `None` = forever.
    pub retention: Option<i64>,
    /// Keep at most this many newest versions per key; `None` = all.
    pub max_versions: Option<u32>,
}

/// Knobs of the compaction policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionOptions {
    /// Compact in a background thread after flushes.
    pub background: bool,
    /// Fewest segments a size-tiered merge takes.
    pub min_merge: usize,
    /// A run grows while the next older segment is at most this many times
    /// the run's size.
    pub size_ratio: f64,
    /// More segments than this are merged down regardless of sizes.
    pub max_segments: usize,
    /// Flushes wait while there are this many segments.
    pub stall_segments: usize,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            background: true,
            min_merge: 4,
            size_ratio: 1.0,
            max_segments: 8,
            stall_segments: 16,
        }
    }
}

/// The run of segments (indices into the newest-first list) to merge next.
pub fn pick(sizes: &[u64], o: &CompactionOptions) -> Option<Range<usize>> {
    let mut total = 0u64;
    let mut end = 0;
    while end < sizes.len() && (end == 0 || sizes[end] as f64 <= total as f64 * o.size_ratio) {
        total += sizes[end];
        end += 1;
    }
    if end >= o.min_merge.max(2) {
        return Some(0..end);
    }
    if sizes.len() > o.max_segments {
        let width = sizes.len() - o.max_segments + 1;
        let best =
            (0..=sizes.len() - width).min_by_key(|&s| sizes[s..s + width].iter().sum::<u64>())?;
        return Some(best..best + width);
    }
    None
}

/// What one merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    pub inputs: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub entries_dropped: u64,
}

/// Merges every segment into one (the whole store's history at the bottom);
/// a lone segment is rewritten too if it holds tombstones or is of an older
/// format version than the one the engine writes.
pub fn compact_all(inner: &Inner) -> Result<MergeStats> {
    inner.check_writable()?;
    let _one_at_a_time = inner.compaction.lock();
    let segments = inner.current.load().segments.clone();
    // A segment of an older format version is rewritten in the current one.
    let needed = segments.len() > 1
        || segments.iter().any(|s| {
            s.props().tombstones > 0 || s.format_version() < inner.opts.segment.format_version
        })
        || !inner.policies.load().is_empty();
    if !needed || segments.is_empty() {
        return Ok(MergeStats::default());
    }
    compact_run(inner, &segments, true)
}

/// Runs the policy until it picks nothing. Returns the merges done.
pub fn compact_as_needed(inner: &Inner) -> Result<usize> {
    inner.check_writable()?;
    let mut merges = 0;
    loop {
        let _one_at_a_time = inner.compaction.lock();
        let segments = inner.current.load().segments.clone();
        let sizes: Vec<u64> = segments.iter().map(|s| s.file_size()).collect();
        let Some(run) = pick(&sizes, &inner.opts.compaction) else {
            return Ok(merges);
        };
        let bottom = run.end == segments.len();
        compact_run(inner, &segments[run], bottom)?;
        merges += 1;
    }
}

/// Merges `inputs` (contiguous in the current newest-first list) into one
/// segment that takes their place. The caller holds `inner.compaction`.
fn compact_run(inner: &Inner, inputs: &[Arc<Segment>], bottom: bool) -> Result<MergeStats> {
    let number = inner.next_file.fetch_add(1, Ordering::AcqRel);
    let policies = inner.policies.load_full();
    let now = inner.opts.clock.now();
    let mut stats = MergeStats {
        inputs: inputs.len(),
        bytes_read: inputs.iter().map(|s| s.file_size()).sum(),
        ..MergeStats::default()
    };
    let cursors = inputs
        .iter()
        .map(|s| s.sequential_cursor(&inner.io))
        .collect::<Result<Vec<_>>>()?;
    let props =
        segment::write_segment_with(&inner.io, &inner.dir, number, inner.opts.segment, |add| {
            stats.entries_dropped = merge(cursors, bottom, &policies, now, add)?;
            Ok(())
        })?;
    let output = match props {
        Some(_) => {
            super::wal::sync_dir(&inner.io.fs(), &segment::segment_dir(&inner.dir))?;
            Some(Arc::new(Segment::open_with(
                &inner.io.fs(),
                &inner.dir,
                number,
            )?))
        }
        None => None,
    };
    stats.bytes_written = output.as_ref().map_or(0, |o| o.file_size());

    let mut m = inner.state.lock();
    let cur = inner.current.load_full();
    let is_input = |s: &Arc<Segment>| inputs.iter().any(|i| Arc::ptr_eq(i, s));
    let at = cur
        .segments
        .iter()
        .position(is_input)
        .ok_or(Error::Closed)?;
    let mut segments: Vec<_> = cur
        .segments
        .iter()
        .filter(|s| !is_input(s))
        .cloned()
        .collect();
    let mut next = m.clone();
    let at_entry = next
        .segments
        .iter()
        .position(|e| inputs.iter().any(|i| i.number == e.number))
        .unwrap_or(0);
    let level = next
        .segments
        .iter()
        .filter(|e| inputs.iter().any(|i| i.number == e.number))
        .map(|e| e.level)
        .max()
        .unwrap_or(0);
    next.segments
        .retain(|e| !inputs.iter().any(|i| i.number == e.number));
    if let Some(out) = &output {
        segments.insert(at, out.clone());
        let entry = SegmentEntry {
            number,
            level: level.saturating_add(1),
            size: out.file_size(),
        };
        next.segments
            .insert(at_entry.min(next.segments.len()), entry);
    }
    next.next_file_number = inner.next_file.load(Ordering::Acquire);
    super::freshness::store_manifest(inner, &mut next, None)?;
    *m = next;
    inner.current.store(Arc::new(ReadSet {
        mem: cur.mem.clone(),
        imm: cur.imm.clone(),
        segments,
    }));
    drop(m);
    for s in inputs {
        s.mark_obsolete();
    }
    inner
        .counters
        .compacted_bytes
        .fetch_add(stats.bytes_written, Ordering::Relaxed);
    inner.counters.compactions.fetch_add(1, Ordering::Relaxed);
    // Flushes may be waiting for the segment count to drop.
    let _st = inner.flush.lock();
    inner.flush_cv.notify_all();
    Ok(stats)
}

/// Feeds the merged, live entries of `cursors` (newest source first) to
/// `add`; returns how many entries were dropped.
fn merge<C: EntryCursor>(
    mut cursors: Vec<C>,
    bottom: bool,
    policies: &HashMap<ViewId, ViewPolicy>,
    now: i64,
    add: segment::EntrySink<'_>,
) -> Result<u64> {
    for c in &mut cursors {
        c.seek_first()?;
    }
    let mut dropped = 0;
    let mut prefix: Vec<u8> = Vec::new();
    let mut policy = ViewPolicy::default();
    // The newest source holding a tombstone of the current prefix.
    let mut tomb_source: Option<usize> = None;
    let mut kept_versions = 0u32;
    let mut key = Vec::new();
    loop {
        // The smallest key; on ties the newest source (lowest index) wins.
        let mut winner: Option<usize> = None;
        for (i, c) in cursors.iter().enumerate() {
            if c.valid() && winner.is_none_or(|w| c.key() < cursors[w].key()) {
                winner = Some(i);
            }
        }
        let Some(w) = winner else { return Ok(dropped) };
        key.clear();
        key.extend_from_slice(cursors[w].key());
        let parts =
            key::split(&key).map_err(|e| Error::InvalidWrite(format!("merging segments: {e}")))?;
        if parts.prefix != prefix.as_slice() {
            prefix.clear();
            prefix.extend_from_slice(parts.prefix);
            tomb_source = None;
            kept_versions = 0;
            let view = ViewId::from_be_bytes(prefix[..VIEW_ID_LEN].try_into().unwrap_or_default());
            policy = policies.get(&view).copied().unwrap_or_default();
        }
        let (kind, row) = cursors[w].entry()?;
        let keep = match kind {
            EntryKind::Tombstone => {
                tomb_source = Some(tomb_source.map_or(w, |t| t.min(w)));
                !bottom
            }
            EntryKind::Version => {
                let hidden = tomb_source.is_some_and(|t| w > t);
                let expired = bottom
                    && policy
                        .retention
                        .is_some_and(|r| parts.event_ts < now.saturating_sub(r));
                let surplus = bottom && policy.max_versions.is_some_and(|n| kept_versions >= n);
                !(hidden || expired || surplus)
            }
        };
        if keep {
            if kind == EntryKind::Version {
                kept_versions += 1;
            }
            add(&key, kind, row)?;
        }
        for (i, c) in cursors.iter_mut().enumerate() {
            if c.valid() && c.key() == key.as_slice() {
                if !keep || i != w {
                    dropped += 1;
                }
                c.next()?;
            }
        }
    }
}

/// The background compaction thread: runs the policy after each flush.
pub fn run(inner: &Inner) {
    loop {
        {
            let mut st = inner.flush.lock();
            while !st.shutdown && !st.compact_requested {
                inner.compact_cv.wait(&mut st);
            }
            if st.shutdown {
                return;
            }
            st.compact_requested = false;
        }
        if let Err(e) = compact_as_needed(inner) {
            inner.set_poison(&e);
            inner.flush.lock().error = Some(e.to_string());
            inner.flush_cv.notify_all();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> CompactionOptions {
        CompactionOptions::default()
    }

    #[test]
    fn merges_similar_recent_segments() {
        assert_eq!(pick(&[10, 10, 10, 10, 1000], &o()), Some(0..4));
        assert_eq!(pick(&[10, 10, 20, 40, 1000], &o()), Some(0..4));
        assert_eq!(pick(&[10, 10, 10], &o()), None);
        assert_eq!(pick(&[10, 100, 1000, 10_000], &o()), None);
    }

    #[test]
    fn bounds_the_segment_count() {
        let sizes: Vec<u64> = (0..12).map(|i| 10u64.pow(i % 6 + 1)).collect();
        let run = pick(
            &sizes,
            &CompactionOptions {
                min_merge: 100,
                ..o()
            },
        )
        .unwrap();
        assert_eq!(run.len(), 12 - 8 + 1);
        assert!(run.end <= 12);
    }
}
