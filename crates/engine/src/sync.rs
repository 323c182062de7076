//! The synchronization primitives of the concurrent kernels, in one place.
//!
//! Normal builds use `parking_lot`, `std` atomics and `arc-swap`. Under
//! `RUSTFLAGS="--cfg strata_loom"` the same names are `loom`'s, so the loom
//! models (`cargo test --release --lib loom` with that flag) explore every
//! interleaving of the code the engine really runs: the group-commit
//! hand-off ([`crate::group_commit`]), the swap of the current read
//! set ([`SwapCell`]) and the retirement of replaced segments
//! ([`crate::retire`]). (`--cfg loom` itself would also switch tokio
//! and quinn to loom, which breaks them.)

#[cfg(not(strata_loom))]
mod imp {
    pub use parking_lot::{Condvar, Mutex, MutexGuard};
    pub use std::sync::Arc;
    pub use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// A shared pointer that readers load without a lock and writers replace.
    pub struct SwapCell<T>(arc_swap::ArcSwap<T>);

    impl<T> SwapCell<T> {
        pub fn new(value: T) -> Self {
            SwapCell(arc_swap::ArcSwap::from_pointee(value))
        }

        /// The current value, cheaply (no reference count change in the
        /// common case).
        #[inline]
        pub fn load(&self) -> arc_swap::Guard<Arc<T>> {
            self.0.load()
        }

        pub fn load_full(&self) -> Arc<T> {
            self.0.load_full()
        }

        pub fn store(&self, value: Arc<T>) {
            self.0.store(value)
        }
    }
}

#[cfg(strata_loom)]
mod imp {
    pub use loom::sync::Arc;
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// `parking_lot`'s mutex API over loom's mutex.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    pub struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_deref().expect("guard present outside a wait")
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_deref_mut().expect("guard present outside a wait")
        }
    }

    /// `parking_lot`'s condition variable API over loom's.
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.0.take().expect("guard present");
            guard.0 = Some(self.0.wait(g).unwrap_or_else(|e| e.into_inner()));
        }

        pub fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, _timeout: std::time::Duration) {
            self.wait(guard)
        }

        pub fn notify_all(&self) {
            self.0.notify_all()
        }

        pub fn notify_one(&self) {
            self.0.notify_one()
        }
    }

    /// The loom stand-in for `arc-swap`: a mutex around the pointer.
    pub struct SwapCell<T>(Mutex<Arc<T>>);

    impl<T> SwapCell<T> {
        pub fn new(value: T) -> Self {
            SwapCell(Mutex::new(Arc::new(value)))
        }

        pub fn load(&self) -> Arc<T> {
            self.0.lock().clone()
        }

        pub fn load_full(&self) -> Arc<T> {
            self.0.lock().clone()
        }

        pub fn store(&self, value: Arc<T>) {
            *self.0.lock() = value;
        }
    }
}

pub use imp::*;
