//! How an [`Engine`](crate::Engine) is opened: its [`Options`], when the
//! WAL is synced ([`SyncPolicy`]) and the [`Clock`] it measures time by.

use std::time::Duration;

use strata_format::segment::SegmentOptions;

use crate::{CompactionOptions, IoMode, OpenMode};

/// When the WAL is synced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every acknowledged write is synced first (group commit shares syncs).
    #[default]
    Always,
    /// A background thread syncs at this interval; a crash may lose the
    /// writes of the last interval.
    Interval(Duration),
    /// Never sync explicitly (the OS writes back eventually).
    Never,
}

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read-write (the default) or read-only.
    pub mode: OpenMode,
    pub sync: SyncPolicy,
    /// A memtable is sealed and flushed once it holds this many bytes. At
    /// most five memtables (one active, four sealed) exist at once: the
    /// memory budget for recent writes is five times this.
    pub memtable_bytes: usize,
    pub segment: SegmentOptions,
    pub compaction: CompactionOptions,
    /// The clock retention is measured against, and freshness recorded by.
    pub clock: Clock,
    /// The I/O backend of WAL appends and syncs and of segment writes and
    /// compaction reads.
    pub io: IoMode,
}

impl Options {
    /// The defaults but for the WAL, which is never synced: for tests and
    /// benchmarks, whose stores need not survive a crash.
    pub fn unsynced() -> Options {
        Options {
            sync: SyncPolicy::Never,
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: OpenMode::ReadWrite,
            sync: SyncPolicy::Always,
            memtable_bytes: 64 << 20,
            segment: SegmentOptions::default(),
            compaction: CompactionOptions::default(),
            clock: Clock::default(),
            io: IoMode::default(),
        }
    }
}

/// Microseconds since the Unix epoch; the system clock unless a test injects one.
#[derive(Clone)]
pub struct Clock(std::sync::Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    pub fn new(f: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(std::sync::Arc::new(f))
    }

    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new(|| {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
        })
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
