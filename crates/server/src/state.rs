//! The state every connection, stream and in-process session shares:
//! the store, the tokens (swapped when the token file changes), the
//! limits and budgets, the shutdown signal and the counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::{Semaphore, watch};

use crate::auth::Tokens;
use crate::latency::Metrics;
use crate::limits::Limits;
use crate::quota::{Quotas, Unauthenticated};
use strata_format::protocol::{DecodeLimits, ServerLimits};
use strata_store::Store;

/// Counters shown by `stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections: AtomicU64,
    pub connections_active: AtomicU64,
    pub connections_refused: AtomicU64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub lookups: AtomicU64,
    pub keys_looked_up: AtomicU64,
    pub rows_pushed: AtomicU64,
    pub rows_exported: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub store: Store,
    pub tokens: ArcSwap<Tokens>,
    pub limits: Limits,
    pub decode: DecodeLimits,
    pub announced: ServerLimits,
    /// Permits are bytes of request bodies being buffered.
    pub memory: Semaphore,
    /// Exports running at once.
    pub exports: Semaphore,
    /// Requests running on the blocking pool at once.
    pub blocking: Semaphore,
    /// Connections not yet authenticated.
    pub unauthenticated: Arc<Unauthenticated>,
    /// Authenticated connections.
    pub authenticated: AtomicU32,
    /// Per-token shares and counts.
    pub quotas: Quotas,
    pub shutdown: watch::Receiver<bool>,
    pub counters: Counters,
    /// Request latencies, for `--metrics`.
    pub metrics: Metrics,
    pub started: Instant,
}

impl Shared {
    /// The state of a server (or an in-process handler) over `store`.
    pub fn new(
        store: Store,
        tokens: Tokens,
        limits: &Limits,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        let mut limits = limits.clone();
        // A share holds at least a frame and at most the whole budget.
        let (frame, all) = (u64::from(limits.max_frame_bytes), limits.memory_bytes);
        for share in [
            &mut limits.connection_memory_bytes,
            &mut limits.token_memory_bytes,
        ] {
            *share = (*share).min(all).max(frame);
        }
        let limits = &limits;
        Shared {
            store,
            tokens: ArcSwap::from_pointee(tokens),
            limits: limits.clone(),
            decode: limits.decode_limits(),
            announced: limits.announced(),
            memory: Semaphore::new(
                usize::try_from(limits.memory_bytes)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS),
            ),
            exports: Semaphore::new(limits.max_exports as usize),
            blocking: Semaphore::new(limits.max_blocking_requests.max(1) as usize),
            unauthenticated: Arc::new(Unauthenticated::new(
                limits.max_unauthenticated,
                limits.max_unauthenticated_per_ip,
            )),
            authenticated: AtomicU32::new(0),
            quotas: Quotas::default(),
            shutdown,
            counters: Counters::default(),
            metrics: Metrics::default(),
            started: Instant::now(),
        }
    }

    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}
