//! Locks keyed by view: holding view X's lock excludes the other holders
//! of X only. The store keeps two sets: one for the ledger of batches (a
//! batch's check and write), one for the tiles of a source's aggregations
//! (read, combined and written by one writer of that source at a time),
//! so that a long ingest into one view never makes writes into another
//! wait.

use std::collections::HashSet;

use parking_lot::{Condvar, Mutex};
use strata_format::key::ViewId;

/// The views whose lock is held, and a condition to wait for one's release.
#[derive(Default)]
pub struct ViewLocks {
    held: Mutex<HashSet<ViewId>>,
    released: Condvar,
}

/// Holds one view's lock until dropped.
#[must_use = "the view's lock is released when the guard is dropped"]
pub struct ViewGuard<'a> {
    locks: &'a ViewLocks,
    view: ViewId,
}

impl ViewLocks {
    /// Waits until no one holds `view`'s lock, then takes it.
    pub fn lock(&self, view: ViewId) -> ViewGuard<'_> {
        let mut held = self.held.lock();
        while held.contains(&view) {
            self.released.wait(&mut held);
        }
        held.insert(view);
        ViewGuard { locks: self, view }
    }
}

impl Drop for ViewGuard<'_> {
    fn drop(&mut self) {
        self.locks.held.lock().remove(&self.view);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn one_holder_per_view_and_views_apart() {
        let locks = ViewLocks::default();
        let a = locks.lock(1);
        // Another view is free while 1 is held.
        drop(locks.lock(2));
        let released = AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let _b = locks.lock(1);
                // It got view 1 only after the first holder let it go.
                assert!(released.load(Ordering::SeqCst));
            });
            released.store(true, Ordering::SeqCst);
            drop(a);
            waiter.join().unwrap();
        });
        drop(locks.lock(1));
    }
}
