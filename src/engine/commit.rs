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

use crate::format::wal::{self, BatchEncoder};

use super::{Error, Inner, Result, SyncPolicy, WriteBatch, flush};

/// Batches waiting for a leader.
#[derive(Debug, Default)]
pub struct Queue {
    pending: Vec<(u64, BatchEncoder)>,
    next_ticket: u64,
    /// Every ticket below this one is committed (or failed).
    done_below: u64,
    leader_active: bool,
    /// Tickets from this one on failed.
    failed_from: Option<u64>,
}

pub fn write(inner: &Inner, batch: &WriteBatch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    if let Some(why) = inner.poisoned() {
        return Err(Error::Poisoned(why));
    }
    let mut q = inner.commit.lock();
    let ticket = q.next_ticket;
    q.next_ticket += 1;
    q.pending.push((ticket, batch.encoder().clone()));
    loop {
        if q.done_below > ticket {
            return match q.failed_from {
                Some(f) if ticket >= f => {
                    Err(Error::Poisoned(inner.poisoned().unwrap_or_default()))
                }
                _ => Ok(()),
            };
        }
        if q.leader_active {
            inner.commit_done.wait(&mut q);
            continue;
        }
        q.leader_active = true;
        let group = std::mem::take(&mut q.pending);
        drop(q);
        let result = commit_group(inner, &group);
        q = inner.commit.lock();
        q.leader_active = false;
        let (first, last) = (
            group.first().map_or(0, |g| g.0),
            group.last().map_or(0, |g| g.0),
        );
        q.done_below = q.done_below.max(last + 1);
        if let Err(e) = &result {
            inner.set_poison(e);
            q.failed_from.get_or_insert(first);
        }
        inner.commit_done.notify_all();
        if let Err(e) = result
            && (first..=last).contains(&ticket)
        {
            return Err(e);
        }
    }
}

/// Writes, syncs and applies one group; the caller is the only leader.
fn commit_group(inner: &Inner, group: &[(u64, BatchEncoder)]) -> Result<()> {
    if let Some(why) = inner.poisoned() {
        return Err(Error::Poisoned(why));
    }
    let mut wal = inner.wal.lock();
    let mut records = Vec::with_capacity(group.iter().map(|(_, b)| b.ops_len() + 32).sum());
    let mut seqno = inner.last_seqno.load(Ordering::Acquire) + 1;
    for (_, b) in group {
        b.write_record(seqno, &mut records);
        seqno += b.count();
    }
    wal.append(&records)?;
    if inner.opts.sync == SyncPolicy::Always {
        wal.sync()?;
    }
    let rs = inner.current.load();
    let mut bad = None;
    wal::scan(&records, |_, payload| match wal::decode_batch(payload) {
        Ok(batch) => {
            for (i, op) in batch.ops.iter().enumerate() {
                rs.mem.apply(batch.first_seqno + i as u64, op);
            }
        }
        Err(e) => bad = Some(e),
    });
    if let Some(e) = bad {
        return Err(Error::InvalidWrite(format!(
            "a batch failed to decode after encoding: {e}"
        )));
    }
    inner.last_seqno.store(seqno - 1, Ordering::Release);
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
        let (file, path) = inner.wal.lock().handle();
        if let Err(e) = file.sync_data() {
            inner.set_poison(&Error::io("sync", path, e));
            return;
        }
    }
}
