//! The group-commit hand-off, apart from what a commit does.
//!
//! Writers [`GroupCommit::submit`] items. The first to find no leader
//! becomes the leader: it takes every queued item (its own and those queued
//! meanwhile), runs the commit on them as one group without holding the
//! queue lock, then marks them done and wakes the others. A follower waits
//! until its item is done, or becomes the next leader if its item was queued
//! after the last group was taken. Every item is committed exactly once, in
//! submission order; a writer returns only after its item's group finished.
//! After a failed group every later item fails too (the engine is poisoned).
//!
//! Checked by the loom models in `loom_tests.rs`.

use crate::sync::{Condvar, Mutex};

#[derive(Debug)]
struct Queue<T> {
    pending: Vec<(u64, T)>,
    next_ticket: u64,
    /// Every ticket below this one is finished.
    done_below: u64,
    leader_active: bool,
    /// The first and last ticket of the group that failed, and why; every
    /// later ticket fails too.
    failed: Option<(u64, u64, String)>,
}

/// Why a submitted item was not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub why: String,
    /// `false` if the item's own group failed, `true` if an earlier group
    /// did and the item was never tried.
    pub earlier: bool,
}

/// A queue of items committed in groups by whichever writer leads.
#[derive(Debug)]
pub struct GroupCommit<T> {
    queue: Mutex<Queue<T>>,
    done: Condvar,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                next_ticket: 0,
                done_below: 0,
                leader_active: false,
                failed: None,
            }),
            done: Condvar::new(),
        }
    }
}

impl<T> GroupCommit<T> {
    /// Queues `item` and returns once the group holding it was committed by
    /// `commit` (run by this thread if it leads). An error of the group, or
    /// of an earlier failed group, is returned as its message.
    pub fn submit<E: std::fmt::Display>(
        &self,
        item: T,
        commit: impl FnOnce(&[(u64, T)]) -> Result<(), E>,
    ) -> Result<(), Failed> {
        let mut commit = Some(commit);
        let mut q = self.queue.lock();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, item));
        loop {
            if q.done_below > ticket {
                return match &q.failed {
                    Some((from, to, why)) if ticket >= *from => Err(Failed {
                        why: why.clone(),
                        earlier: ticket > *to,
                    }),
                    _ => Ok(()),
                };
            }
            if let Some((_, _, why)) = &q.failed {
                // Never commit after a failure: the log may be in any state.
                let why = why.clone();
                q.pending.retain(|(t, _)| *t != ticket);
                return Err(Failed { why, earlier: true });
            }
            if q.leader_active {
                self.done.wait(&mut q);
                continue;
            }
            // Lead: commit everything queued so far.
            q.leader_active = true;
            let group = std::mem::take(&mut q.pending);
            drop(q);
            let Some(run) = commit.take() else {
                unreachable!(
                    "a writer leads at most once: its own item is in the first group it takes"
                )
            };
            let result = run(&group).map_err(|e| e.to_string());
            q = self.queue.lock();
            q.leader_active = false;
            let first = group.first().map_or(ticket, |g| g.0);
            let last = group.last().map_or(ticket, |g| g.0);
            q.done_below = q.done_below.max(last + 1);
            if let Err(why) = &result {
                q.failed.get_or_insert((first, last, why.clone()));
            }
            self.done.notify_all();
        }
    }
}
