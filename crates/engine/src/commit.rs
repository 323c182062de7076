//! Group commit: writers queue their batches; one of them, the leader,
//! writes every queued batch to the WAL with one `write` and one sync,
//! applies them to the memtable in order, and wakes the others.
//!
//! A batch is applied to the memtable only after it is durable (per the sync
//! policy), so no read ever sees a write that a crash could take back, and a
//! writer returns only after its batch is applied, so a read that starts
//! after `write` returns sees it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use strata_format::wal::{self, BatchEncoder};

use super::io::SyncKind;
use super::{Error, Inner, Result, SyncPolicy, WriteBatch, flush, freshness};

pub fn write(inner: &Inner, batch: &WriteBatch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // A record must fit the WAL's limit, or recovery could not read it back.
    let payload = batch.encoder().ops_len() + 8 + 10;
    if payload > wal::MAX_RECORD_LEN {
        return Err(Error::InvalidWrite(format!(
            "a batch of {payload} bytes exceeds the WAL record limit of {} bytes; split it into smaller batches",
            wal::MAX_RECORD_LEN
        )));
    }
    inner.check_writable()?;
    inner
        .commit
        .submit(batch.encoder().clone(), |group| {
            let result = commit_group(inner, group);
            if let Err(e) = &result {
                inner.set_poison(e);
            }
            result
        })
        .map_err(|f| match f.earlier {
            true => Error::Poisoned(f.why),
            false => Error::WriteFailed(f.why),
        })
}

/// Writes, syncs and applies one group; the caller is the only leader.
fn commit_group(inner: &Inner, group: &[(u64, BatchEncoder)]) -> Result<()> {
    if group.is_empty() {
        return Ok(());
    }
    if let Some(why) = inner.poisoned() {
        return Err(Error::Poisoned(why));
    }
    let mut wal = inner.wal.lock();
    let mut records = wal.take_buffer();
    records.reserve(group.iter().map(|(_, b)| b.ops_len() + 32).sum());
    let mut seqno = inner.last_seqno.load(Ordering::Acquire) + 1;
    for (_, b) in group {
        b.write_record(seqno, &mut records);
        seqno += b.count();
    }
    // With `Always`, the write and its sync go to the backend together.
    let records = wal.append(records, inner.opts.sync == SyncPolicy::Always)?;
    let rs = inner.current.load();
    let mut bad = None;
    let mut seen = freshness::Seen::default();
    let tail = wal::scan(&records, |_, payload| match wal::decode_batch(payload) {
        Ok(batch) => {
            for (i, op) in batch.ops.iter().enumerate() {
                rs.mem.apply(batch.first_seqno + i as u64, op);
                seen.observe(op.kind, op.key);
            }
        }
        Err(e) => bad = Some(e),
    });
    wal.recycle(records);
    if let Some(e) = bad {
        return Err(Error::InvalidWrite(format!(
            "a batch failed to decode after encoding: {e}"
        )));
    }
    if tail != wal::Tail::Clean {
        return Err(Error::InvalidWrite(format!(
            "the WAL records just written do not read back: {tail:?}"
        )));
    }
    inner.last_seqno.store(seqno - 1, Ordering::Release);
    // Before any writer of the group returns (the freshness watermark).
    inner
        .freshness
        .record(&seen, inner.opts.clock.now(), Some(seqno - 1));
    if rs.mem.approximate_bytes() >= inner.opts.memtable_bytes {
        flush::seal(inner, &mut wal)?;
    }
    Ok(())
}

/// The `interval` sync policy's thread: syncs the WAL every `every`.
pub fn sync_every(inner: &Inner, every: Duration) {
    loop {
        {
            let mut st = inner.flush.lock();
            if st.shutdown {
                return;
            }
            inner.flush_cv.wait_for(&mut st, every);
            if st.shutdown {
                return;
            }
        }
        let Some(file) = inner.wal.lock().handle() else {
            return;
        };
        // A failure poisons the engine (through the backend).
        if let Err(e) = inner.io.sync(&file, SyncKind::Data) {
            inner.set_poison(&e);
            return;
        }
    }
}
