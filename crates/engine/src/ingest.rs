//! Bulk ingest: a sorted run of versions becomes one new segment, without
//! the WAL or the memtable (the way RocksDB ingests external SST files).
//!
//! The memtables are flushed first, so the new segment is newer than every
//! write acknowledged before the ingest started (on equal keys it wins, as a
//! later write would). The segment file is written and synced, then one
//! manifest replacement adds it: after a crash the run is wholly in the
//! store or not at all (an unlisted segment file is removed at open).

use std::sync::atomic::Ordering;

use crate::sync::Arc;
use strata_format::manifest::SegmentEntry;
use strata_format::segment::SegmentProps;

use super::readset::ReadSet;
use super::segment::{self, EntrySink, Segment};
use super::{Inner, Result, flush, freshness};

/// Writes the entries `fill` produces (strictly increasing internal keys) as
/// one segment and adds it to the store atomically. `None` if there were no
/// entries.
pub fn ingest_sorted(
    inner: &Inner,
    fill: impl FnOnce(EntrySink<'_>) -> Result<()>,
) -> Result<Option<SegmentProps>> {
    flush::flush_and_wait(inner)?;
    let number = inner.next_file.fetch_add(1, Ordering::AcqRel);
    let mut seen = freshness::Seen::default();
    let observed = |sink: EntrySink<'_>| {
        fill(&mut |k: &[u8], kind, row: &[u8]| {
            seen.observe(kind, k);
            sink(k, kind, row)
        })
    };
    let Some(props) =
        segment::write_segment_with(&inner.io, &inner.dir, number, inner.opts.segment, observed)?
    else {
        return Ok(None);
    };
    super::wal::sync_dir(&inner.io.fs(), &segment::segment_dir(&inner.dir))?;
    let seg = Arc::new(Segment::open_with(&inner.io.fs(), &inner.dir, number)?);
    let mut m = inner.state.lock();
    let mut next = m.clone();
    next.segments.insert(
        0,
        SegmentEntry {
            number,
            level: 0,
            size: seg.file_size(),
        },
    );
    next.next_file_number = inner.next_file.load(Ordering::Acquire);
    freshness::store_manifest(inner, &mut next, Some((&seen, inner.opts.clock.now())))?;
    *m = next;
    let cur = inner.current.load_full();
    let mut segments = Vec::with_capacity(cur.segments.len() + 1);
    segments.push(seg);
    segments.extend(cur.segments.iter().cloned());
    inner.current.store(Arc::new(ReadSet {
        mem: cur.mem.clone(),
        imm: cur.imm.clone(),
        segments,
    }));
    drop(m);
    inner.request_compaction();
    Ok(Some(props))
}
