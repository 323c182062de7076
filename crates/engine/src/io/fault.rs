//! A backend that fails chosen operations, for tests of the engine's
//! failure handling: `IoMode::Faulty(faults)` runs every request through
//! syscalls, except the ones `faults` is armed to fail, which get an
//! injected `io::Error` and are not performed at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Backend, FileKind, FsOp, Op, OpKind, Outcome, Stage, Ticket, syscalls};

/// An operation [`Faults`] can fail.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// A write to a WAL file (an append, or a new file's header).
    WalWrite,
    /// An `fdatasync`/`fsync` of a WAL file.
    WalSync,
    /// A write to a segment file being written (flush, compaction, recovery).
    SegmentWrite,
    /// The final `fsync` of a segment file.
    SegmentSync,
    /// A read through the backend (compaction's sequential reads).
    Read,
    /// A write of a small metadata file ([`super::Fs::replace`]).
    MetaWrite,
    /// The `fsync` of a small metadata file.
    MetaSync,
    /// Creating a file or a directory.
    Create,
    /// A rename.
    Rename,
    /// A removal.
    Remove,
    /// An `fsync` of a directory.
    DirSync,
    /// A truncation.
    SetLen,
}

const OPS: usize = 12;

impl FaultOp {
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default)]
struct State {
    /// Per op: fail when this countdown reaches zero (0 = disarmed).
    countdown: [AtomicU64; OPS],
    /// Per op: how many ran or were failed.
    seen: [AtomicU64; OPS],
    injected: AtomicU64,
}

/// Shared, armable fault plan; clone it into `IoMode::Faulty` and keep a
/// clone to arm it while the engine runs.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<State>);

impl Faults {
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Fails the `n`th `op` from now (1 = the next one); 0 disarms.
    pub fn fail_nth(&self, op: FaultOp, n: u64) {
        self.0.countdown[op.index()].store(n, Ordering::SeqCst);
    }

    /// How many `op`s were attempted so far.
    pub fn count(&self, op: FaultOp) -> u64 {
        self.0.seen[op.index()].load(Ordering::SeqCst)
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        self.0.injected.load(Ordering::SeqCst)
    }

    /// Counts one `op`; `Some(error)` if it is to fail.
    fn check(&self, op: FaultOp) -> Option<std::io::Error> {
        self.0.seen[op.index()].fetch_add(1, Ordering::SeqCst);
        let fire = self.0.countdown[op.index()]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
            .is_ok_and(|before| before == 1);
        fire.then(|| {
            self.0.injected.fetch_add(1, Ordering::SeqCst);
            std::io::Error::other(format!("injected fault: {op:?} failed (simulated EIO)"))
        })
    }
}

pub(crate) struct Faulty {
    faults: Faults,
}

impl Faulty {
    pub fn new(faults: Faults) -> Faulty {
        Faulty { faults }
    }
}

impl Backend for Faulty {
    fn submit(&self, op: Op) -> Ticket {
        let (write, sync) = match op.class {
            FileKind::Wal => (FaultOp::WalWrite, FaultOp::WalSync),
            FileKind::Segment => (FaultOp::SegmentWrite, FaultOp::SegmentSync),
            FileKind::Meta => (FaultOp::MetaWrite, FaultOp::MetaSync),
        };
        let fail = |buf, stage, e| {
            Ticket::Ready(Outcome {
                buf,
                result: Err((stage, e)),
            })
        };
        match op.kind {
            OpKind::Write {
                offset,
                buf,
                sync: then_sync,
            } => {
                if let Some(e) = self.faults.check(write) {
                    return fail(buf, Stage::Write, e);
                }
                let out = syscalls::write_unsynced(&op.file, offset, buf);
                let (Some(k), Ok(())) = (then_sync, &out.result) else {
                    return Ticket::Ready(out);
                };
                if let Some(e) = self.faults.check(sync) {
                    return fail(out.buf, Stage::Sync, e);
                }
                let result = syscalls::sync_file(&op.file, k).map_err(|e| (Stage::Sync, e));
                Ticket::Ready(Outcome {
                    buf: out.buf,
                    result,
                })
            }
            OpKind::Sync(k) => match self.faults.check(sync) {
                Some(e) => fail(Vec::new(), Stage::Sync, e),
                None => Ticket::Ready(syscalls::run(&op.file, OpKind::Sync(k))),
            },
            kind @ OpKind::Read { .. } => match self.faults.check(FaultOp::Read) {
                Some(e) => fail(Vec::new(), Stage::Read, e),
                None => Ticket::Ready(syscalls::run(&op.file, kind)),
            },
        }
    }

    fn fs(&self, op: FsOp<'_>) -> std::io::Result<Option<std::fs::File>> {
        let which = match op {
            FsOp::CreateNew { .. } | FsOp::CreateDir { .. } => FaultOp::Create,
            FsOp::Rename { .. } => FaultOp::Rename,
            FsOp::Remove { .. } => FaultOp::Remove,
            FsOp::SyncDir { .. } => FaultOp::DirSync,
            FsOp::SetLen { .. } => FaultOp::SetLen,
        };
        match self.faults.check(which) {
            Some(e) => Err(e),
            None => super::fs::run_os(op),
        }
    }
}
