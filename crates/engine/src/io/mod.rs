//! The engine's file I/O: WAL appends and syncs, segment writes, and the
//! sequential reads of compaction, through one of several backends.
//!
//! - [`IoMode::Syscalls`]: plain `pwrite`/`pread`/`fdatasync`/`fsync` in the
//!   calling thread.
//! - [`IoMode::IoUring`] (Linux): one `io_uring` ring owned by a dedicated
//!   I/O thread (`strata-io`); callers hand it requests and wait on a
//!   completion handle, or keep working while a write or a read-ahead is in
//!   flight. A WAL append and its `fdatasync` go in as one linked pair.
//! - [`IoMode::Auto`]: the faster of the two for each kind of file on the
//!   benchmarks (`benches/io.rs`, figures in the README): syscalls for the
//!   WAL (group commit waits on every sync, and a hand-off to another thread
//!   costs more than it saves) and io_uring for segments (flush and
//!   compaction keep building the next chunk, or merging, while the I/O
//!   thread writes or reads ahead).
//!
//! Wherever io_uring is tried and the kernel refuses it (a seccomp filter as
//! in Docker's default profile, `kernel.io_uring_disabled`, a kernel without
//! the opcodes used), the store opens on syscalls instead:
//! [`crate::Engine::io_backend`] says which backend runs and
//! [`crate::Engine::io_fallback_reason`] why io_uring does not.
//!
//! Requests own their buffers: a write hands its `Vec<u8>` over and gets it
//! back with the outcome, so nothing the kernel may still touch can be freed
//! or moved by the caller.
//!
//! **Failures are sticky.** A failed write or sync of a WAL or segment file
//! poisons the engine (the cell shared with `Inner::poison`): after a failed
//! `fsync` the kernel may have dropped the dirty pages, and a retried
//! `fsync` could report success for data that never reached the disk. Reads
//! never poison.

#[cfg(any(test, feature = "test-util"))]
pub mod crash;
#[cfg(any(test, feature = "test-util"))]
mod fault;
pub mod fs;
mod syscalls;
#[cfg(target_os = "linux")]
mod uring;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use parking_lot::Mutex;

#[cfg(any(test, feature = "test-util"))]
pub use fault::{FaultOp, Faults};
pub use fs::Fs;
pub(crate) use fs::FsOp;

use super::{Error, Result};

/// Which I/O backend the engine uses; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub enum IoMode {
    /// The faster backend for each kind of file on the benchmarks (see the
    /// README): syscalls for the WAL, io_uring (or syscalls where the
    /// kernel refuses it) for segments.
    #[default]
    Auto,
    /// Plain system calls in the calling thread.
    Syscalls,
    /// io_uring on a dedicated thread, or syscalls where the kernel refuses
    /// io_uring.
    IoUring,
    /// Syscalls with injected failures (tests only).
    #[cfg(any(test, feature = "test-util"))]
    Faulty(Faults),
    /// Syscalls, recorded by a power-loss simulator (tests only).
    #[doc(hidden)]
    #[cfg(any(test, feature = "test-util"))]
    Crash(crash::CrashFs),
}

/// Whether [`IoMode::Auto`] tries io_uring for the WAL and for segments:
/// set from `benches/io.rs` (figures in the README).
const AUTO_WAL_IO_URING: bool = false;
const AUTO_SEGMENTS_IO_URING: bool = true;

/// What a file is, for error messages and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Wal,
    Segment,
    /// A small metadata file written by [`Fs::replace`].
    Meta,
}

/// `fdatasync` (data and the metadata needed to read it) or `fsync` (all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncKind {
    Data,
    All,
}

/// An open file and the name errors give it.
#[derive(Debug, Clone)]
pub(crate) struct IoFile {
    pub file: Arc<File>,
    pub path: Arc<Path>,
    pub kind: FileKind,
}

impl IoFile {
    pub fn new(file: File, path: &Path, kind: FileKind) -> IoFile {
        IoFile {
            file: Arc::new(file),
            path: path.into(),
            kind,
        }
    }
}

/// One request to a backend. The backend owns the file and buffer until it
/// gives them back in an [`Outcome`].
pub(crate) struct Op {
    pub file: Arc<File>,
    /// The file's name (for backends that record what was written where).
    #[cfg_attr(
        not(any(test, feature = "test-util")),
        expect(dead_code, reason = "read by the crash simulator only")
    )]
    pub path: Arc<Path>,
    #[cfg_attr(
        not(any(test, feature = "test-util")),
        expect(dead_code, reason = "read by fault injection only")
    )]
    pub class: FileKind,
    pub kind: OpKind,
}

pub(crate) enum OpKind {
    /// Write all of `buf` at `offset`, then sync if asked.
    Write {
        offset: u64,
        buf: Vec<u8>,
        sync: Option<SyncKind>,
    },
    Sync(SyncKind),
    /// Read `len` bytes at `offset` into `buf` (fewer only at the end of the
    /// file); `buf.len()` is set to the bytes read.
    Read {
        offset: u64,
        buf: Vec<u8>,
        len: usize,
    },
}

/// Which part of a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Write,
    Sync,
    Read,
}

pub(crate) struct Outcome {
    pub buf: Vec<u8>,
    pub result: Result<(), (Stage, std::io::Error)>,
}

/// A request's completion handle.
pub(crate) enum Ticket {
    Ready(Outcome),
    Waiting(mpsc::Receiver<Outcome>),
}

impl Ticket {
    pub(crate) fn wait(self) -> Outcome {
        match self {
            Ticket::Ready(o) => o,
            Ticket::Waiting(rx) => rx.recv().unwrap_or_else(|_| Outcome {
                buf: Vec::new(),
                result: Err((
                    Stage::Write,
                    std::io::Error::other("the io_uring thread stopped before answering"),
                )),
            }),
        }
    }
}

pub(crate) trait Backend: Send + Sync {
    fn submit(&self, op: Op) -> Ticket;

    /// Creates, renames, removes, truncates, or syncs a directory.
    fn fs(&self, op: FsOp<'_>) -> std::io::Result<Option<File>> {
        fs::run_os(op)
    }
}

struct Shared {
    /// The backends of WAL files and of segment files (often the same).
    wal: Arc<dyn Backend>,
    segments: Arc<dyn Backend>,
    name: &'static str,
    /// Why `Auto` did not use io_uring, if it tried.
    fallback: Option<String>,
    /// The engine's poison cell (`Inner::poison`).
    poison: Arc<Mutex<Option<String>>>,
}

/// The engine's I/O backend; cheap to clone.
#[derive(Clone)]
pub struct Io(Arc<Shared>);

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Io({})", self.name())
    }
}

impl Io {
    /// Starts the backend `mode` asks for. Failures of writes and syncs are
    /// recorded in `poison`.
    pub(crate) fn start(mode: &IoMode, poison: Arc<Mutex<Option<String>>>) -> Result<Io> {
        let (wal_uring, seg_uring) = match mode {
            IoMode::Syscalls => (false, false),
            IoMode::IoUring => (true, true),
            IoMode::Auto => (AUTO_WAL_IO_URING, AUTO_SEGMENTS_IO_URING),
            #[cfg(any(test, feature = "test-util"))]
            IoMode::Faulty(f) => {
                let b: Arc<dyn Backend> = Arc::new(fault::Faulty::new(f.clone()));
                let io = Io::with(b.clone(), b, "fault-injection", None, poison);
                return Ok(io);
            }
            #[cfg(any(test, feature = "test-util"))]
            IoMode::Crash(c) => {
                let b: Arc<dyn Backend> = Arc::new(c.clone());
                return Ok(Io::with(b.clone(), b, "crash-simulation", None, poison));
            }
        };
        let plain: Arc<dyn Backend> = Arc::new(syscalls::Syscalls);
        let mut fallback = None;
        let uring = if wal_uring || seg_uring {
            match start_uring() {
                Ok(b) => Some(b),
                Err(e) => {
                    fallback = Some(format!("io_uring refused: {e}; using syscalls"));
                    None
                }
            }
        } else {
            None
        };
        let pick = |want: bool| match (&uring, want) {
            (Some(u), true) => u.clone(),
            _ => plain.clone(),
        };
        let (wal, segments) = (pick(wal_uring), pick(seg_uring));
        let name = match (uring.is_some() && wal_uring, uring.is_some() && seg_uring) {
            (true, true) => "io_uring",
            (false, false) => "syscalls",
            (false, true) => "syscalls (WAL) + io_uring (segments)",
            (true, false) => "io_uring (WAL) + syscalls (segments)",
        };
        let io = Io::with(wal, segments, name, fallback, poison);
        Ok(io)
    }

    fn with(
        wal: Arc<dyn Backend>,
        segments: Arc<dyn Backend>,
        name: &'static str,
        fallback: Option<String>,
        poison: Arc<Mutex<Option<String>>>,
    ) -> Io {
        Io(Arc::new(Shared {
            wal,
            segments,
            name,
            fallback,
            poison,
        }))
    }

    /// A syscall backend of its own (tests).
    #[cfg(test)]
    pub(crate) fn detached() -> Io {
        Io::start(&IoMode::Syscalls, Arc::default()).expect("the syscall backend always starts")
    }

    /// `"syscalls"`, `"io_uring"`, `"syscalls (WAL) + io_uring (segments)"`
    /// (or `"fault-injection"`).
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// Why io_uring is not used although it was tried.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.0.fallback.as_deref()
    }

    /// The namespace operations and small-file replacement of this backend.
    pub fn fs(&self) -> Fs {
        Fs(self.0.wal.clone())
    }

    /// Writes all of `buf` at `offset` of `f` (then syncs it if `sync`),
    /// possibly in the background: the result, and the buffer, come from
    /// [`Pending::wait`]. `op` names the write in errors ("append to").
    pub(crate) fn write(
        &self,
        f: &IoFile,
        offset: u64,
        buf: Vec<u8>,
        sync: Option<SyncKind>,
        op: &'static str,
    ) -> Pending {
        self.submit(f, OpKind::Write { offset, buf, sync }, op)
    }

    /// Syncs `f`.
    pub(crate) fn sync(&self, f: &IoFile, kind: SyncKind) -> Result<()> {
        self.submit(f, OpKind::Sync(kind), "sync").wait().map(drop)
    }

    /// Reads `len` bytes at `offset` into `buf` (fewer at the end of the
    /// file), possibly in the background.
    pub(crate) fn read(&self, f: &IoFile, offset: u64, buf: Vec<u8>, len: usize) -> Pending {
        self.submit(f, OpKind::Read { offset, buf, len }, "read")
    }

    fn submit(&self, f: &IoFile, kind: OpKind, op: &'static str) -> Pending {
        let backend = match f.kind {
            FileKind::Wal | FileKind::Meta => &self.0.wal,
            FileKind::Segment => &self.0.segments,
        };
        let ticket = backend.submit(Op {
            file: f.file.clone(),
            path: f.path.clone(),
            class: f.kind,
            kind,
        });
        Pending {
            io: self.clone(),
            path: f.path.clone(),
            op,
            ticket: Some(ticket),
        }
    }

    fn poison(&self, e: &Error) {
        let mut p = self.0.poison.lock();
        if p.is_none() {
            *p = Some(e.to_string());
        }
    }
}

/// A request in flight. Dropping it waits for it (and still poisons the
/// engine if it was a write that failed).
#[must_use = "a write's outcome must be checked"]
pub(crate) struct Pending {
    io: Io,
    path: Arc<Path>,
    op: &'static str,
    ticket: Option<Ticket>,
}

impl Pending {
    /// Waits for the request; returns its buffer (for a read, holding the
    /// bytes read). A failed write or sync poisons the engine.
    pub fn wait(mut self) -> Result<Vec<u8>> {
        self.finish()
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        let Some(t) = self.ticket.take() else {
            return Ok(Vec::new());
        };
        let out = t.wait();
        match out.result {
            Ok(()) => Ok(out.buf),
            Err((stage, e)) => {
                let op = match stage {
                    Stage::Sync => "sync",
                    Stage::Read => "read",
                    Stage::Write => self.op,
                };
                let err = Error::io(op, PathBuf::from(&*self.path), e);
                if stage != Stage::Read {
                    self.io.poison(&err);
                }
                Err(err)
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(target_os = "linux")]
fn start_uring() -> std::io::Result<Arc<dyn Backend>> {
    Ok(Arc::new(uring::Uring::start()?))
}

#[cfg(not(target_os = "linux"))]
fn start_uring() -> std::io::Result<Arc<dyn Backend>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "io_uring exists only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(dir: &Path, name: &str) -> IoFile {
        let path = dir.join(name);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        IoFile::new(f, &path, FileKind::Segment)
    }

    fn roundtrip(io: &Io) {
        let dir = tempfile::tempdir().unwrap();
        let f = temp_file(dir.path(), "x");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let back = io.write(&f, 0, data.clone(), None, "write").wait().unwrap();
        assert_eq!(back, data);
        io.write(&f, 300_000, b"tail".to_vec(), Some(SyncKind::Data), "write")
            .wait()
            .unwrap();
        io.sync(&f, SyncKind::All).unwrap();
        let got = io.read(&f, 299_998, Vec::new(), 100).wait().unwrap();
        assert_eq!(got, [&data[299_998..], b"tail"].concat());
        // Reads overlap; each keeps its buffer.
        let a = io.read(&f, 0, Vec::new(), 1000);
        let b = io.read(&f, 1000, vec![9; 5], 1000);
        assert_eq!(b.wait().unwrap(), &data[1000..2000]);
        assert_eq!(a.wait().unwrap(), &data[..1000]);
        assert!(
            io.read(&f, 1 << 30, Vec::new(), 10)
                .wait()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn syscalls_roundtrip() {
        roundtrip(&Io::start(&IoMode::Syscalls, Arc::default()).unwrap());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn io_uring_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let io = Io::start(&IoMode::IoUring, Arc::default()).unwrap();
        assert_eq!(io.fallback_reason(), None);
        assert_eq!(io.name(), "io_uring");
        roundtrip(&io);
        // Many requests at once, more than the ring holds.
        let f = temp_file(dir.path(), "many");
        let pending: Vec<_> = (0..1000u64)
            .map(|i| io.write(&f, i * 8, i.to_le_bytes().to_vec(), None, "write"))
            .collect();
        for p in pending {
            p.wait().unwrap();
        }
        let all = io.read(&f, 0, Vec::new(), 8000).wait().unwrap();
        for (i, c) in all.chunks(8).enumerate() {
            assert_eq!(c, (i as u64).to_le_bytes());
        }
    }

    #[test]
    fn failures_poison_but_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let cell = Arc::new(Mutex::new(None));
        let io = Io::start(&IoMode::Syscalls, cell.clone()).unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"abc").unwrap();
        let ro = IoFile::new(File::open(&path).unwrap(), &path, FileKind::Segment);
        assert_eq!(io.read(&ro, 0, Vec::new(), 10).wait().unwrap(), b"abc");
        let err = io
            .write(&ro, 0, b"x".to_vec(), None, "write")
            .wait()
            .unwrap_err();
        assert!(err.to_string().contains("write"), "{err}");
        assert!(err.to_string().contains("ro"), "{err}");
        assert_eq!(cell.lock().as_deref(), Some(err.to_string().as_str()));
    }
}
