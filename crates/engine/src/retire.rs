//! Removing a replaced file only after its last reader is done.
//!
//! A compaction publishes a read set without the segments it replaced and
//! marks them obsolete; readers that loaded the old read set still hold the
//! segments (through `Arc`s) and keep reading them. The file is removed when
//! the last holder drops: by the `Drop` of [`RemoveWhenUnused`], which the
//! segment owns. Checked by the loom models in `loom_tests.rs`.

use crate::sync::{AtomicBool, Ordering};

/// Runs `remove` on drop if [`RemoveWhenUnused::mark_obsolete`] was called.
pub struct RemoveWhenUnused<F: FnMut()> {
    obsolete: AtomicBool,
    remove: F,
}

impl<F: FnMut()> RemoveWhenUnused<F> {
    pub fn new(remove: F) -> Self {
        RemoveWhenUnused {
            obsolete: AtomicBool::new(false),
            remove,
        }
    }

    /// The owner has been replaced: remove it once nobody holds it.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl<F: FnMut()> Drop for RemoveWhenUnused<F> {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            (self.remove)();
        }
    }
}
