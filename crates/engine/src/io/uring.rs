//! The io_uring backend: one ring, owned by a dedicated I/O thread.
//!
//! Callers push requests onto a queue and signal an eventfd; the thread
//! keeps a `POLL_ADD` on that eventfd in the ring, so a single
//! `io_uring_enter` waits for both new requests and completions. Each
//! request lives in a slot until every SQE made for it has completed; short
//! reads and writes are resubmitted for the rest, `-EAGAIN`/`-EINTR` are
//! retried, and a write that is to be synced goes in as `WRITE` linked
//! (`IO_LINK`) to `FSYNC`, so an append and its sync cost one submission.
//!
//! The thread stops when the backend is dropped (after every request has
//! completed: callers wait on theirs, so none is left).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use io_uring::{IoUring, Probe, opcode, squeue, types};
use parking_lot::Mutex;

use super::{Backend, Op, OpKind, Outcome, Stage, SyncKind, Ticket};

const RING_ENTRIES: u32 = 256;
/// The largest single read or write put in an SQE.
const MAX_IO: usize = 1 << 30;
/// Retries of `-EAGAIN`/`-EINTR` for one request before giving up.
const MAX_RETRIES: u32 = 1000;
/// `user_data` of the eventfd poll; request SQEs are `slot << 1 | part`.
const WAKE: u64 = u64::MAX;
const PART_IO: u64 = 0;
const PART_SYNC: u64 = 1;

struct Request {
    op: Op,
    done: mpsc::SyncSender<Outcome>,
}

#[derive(Default)]
struct QueueState {
    requests: Vec<Request>,
    stopping: bool,
    /// Set when the thread has stopped; later requests fail with this.
    dead: Option<String>,
}

struct Queue {
    state: Mutex<QueueState>,
    /// An eventfd (non-blocking) the thread polls through the ring.
    wake: File,
}

impl Queue {
    fn signal(&self) {
        // Fails only if the counter would overflow, when the thread has
        // been signalled already.
        let _ = (&self.wake).write(&1u64.to_ne_bytes());
    }
}

pub(crate) struct Uring {
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

impl Uring {
    /// Sets up a ring, checks that the kernel supports the opcodes used, and
    /// starts the I/O thread. Fails where io_uring is refused (seccomp,
    /// `kernel.io_uring_disabled`) or too old.
    pub fn start() -> io::Result<Uring> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::Write::CODE, "WRITE"),
            (opcode::Read::CODE, "READ"),
            (opcode::Fsync::CODE, "FSYNC"),
            (opcode::PollAdd::CODE, "POLL_ADD"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("this kernel's io_uring lacks {name}"),
                ));
            }
        }
        let queue = Arc::new(Queue {
            state: Mutex::default(),
            wake: eventfd()?,
        });
        let mut worker = Worker::new(ring, queue.clone());
        let thread = std::thread::Builder::new()
            .name("strata-io".into())
            .spawn(move || worker.run())?;
        Ok(Uring {
            queue,
            thread: Some(thread),
        })
    }
}

impl Backend for Uring {
    fn submit(&self, op: Op) -> Ticket {
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut st = self.queue.state.lock();
            if let Some(why) = &st.dead {
                let e = io::Error::other(format!("the io_uring thread stopped: {why}"));
                return Ticket::Ready(failed(op, e));
            }
            st.requests.push(Request { op, done: tx });
        }
        self.queue.signal();
        Ticket::Waiting(rx)
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        self.queue.state.lock().stopping = true;
        self.queue.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn eventfd() -> io::Result<File> {
    // SAFETY: eventfd(2) takes no pointers; it returns a new descriptor or -1.
    #[expect(unsafe_code, reason = "UNSAFE.md §2: eventfd(2)")]
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd(2): it is open and owned by
    // nothing else, so the `OwnedFd` may close it.
    #[expect(unsafe_code, reason = "UNSAFE.md §3: OwnedFd of the new eventfd")]
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(File::from(fd))
}

/// The outcome of a request that was never performed.
fn failed(op: Op, e: io::Error) -> Outcome {
    let (buf, stage) = match op.kind {
        OpKind::Write { buf, .. } => (buf, Stage::Write),
        OpKind::Sync(_) => (Vec::new(), Stage::Sync),
        OpKind::Read { buf, .. } => (buf, Stage::Read),
    };
    Outcome {
        buf,
        result: Err((stage, e)),
    }
}

/// A request being worked on. Its buffer and file stay here, untouched,
/// while any SQE pointing at them is queued or in the kernel.
struct Slot {
    op: Op,
    done: mpsc::SyncSender<Outcome>,
    /// Bytes written or read so far.
    progress: usize,
    eof: bool,
    /// The sync asked for has completed after the last write.
    synced: bool,
    /// SQEs queued or in flight for this slot.
    outstanding: u32,
    retries: u32,
    error: Option<(Stage, io::Error)>,
}

/// The SQEs of one step of a request: one, or a linked pair that must be
/// pushed together.
type Step = (squeue::Entry, Option<squeue::Entry>);

struct Worker {
    ring: IoUring,
    queue: Arc<Queue>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    active: usize,
    backlog: VecDeque<Step>,
    /// SQEs pushed and not completed: kept within the completion queue's size.
    in_kernel: usize,
    cq_capacity: usize,
    poll_armed: bool,
    stopping: bool,
    exit_reason: Option<String>,
}

impl Worker {
    fn new(ring: IoUring, queue: Arc<Queue>) -> Worker {
        let cq_capacity = ring.params().cq_entries() as usize;
        Worker {
            ring,
            queue,
            slots: Vec::new(),
            free: Vec::new(),
            active: 0,
            backlog: VecDeque::new(),
            in_kernel: 0,
            cq_capacity,
            poll_armed: false,
            stopping: false,
            exit_reason: None,
        }
    }

    fn run(&mut self) {
        if let Err(e) = self.serve() {
            self.exit_reason = Some(format!("io_uring_enter failed: {e}"));
        }
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut cqes = Vec::new();
        loop {
            if !self.poll_armed && !self.stopping {
                let fd = types::Fd(self.queue.wake.as_raw_fd());
                let poll = opcode::PollAdd::new(fd, libc::POLLIN as u32)
                    .build()
                    .user_data(WAKE);
                self.backlog.push_front((poll, None));
                self.poll_armed = true;
            }
            self.push_backlog();
            if self.stopping && self.active == 0 {
                return Ok(());
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                    ) => {}
                Err(e) => return Err(e),
            }
            cqes.clear();
            cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
            for &(user_data, res) in &cqes {
                self.in_kernel = self.in_kernel.saturating_sub(1);
                if user_data == WAKE {
                    self.on_wake();
                } else {
                    self.on_cqe(user_data, res);
                }
            }
        }
    }

    /// Moves queued steps into the submission queue while there is room.
    fn push_backlog(&mut self) {
        let mut sq = self.ring.submission();
        while let Some((a, b)) = self.backlog.front() {
            let n = 1 + usize::from(b.is_some());
            if self.in_kernel + n > self.cq_capacity {
                break;
            }
            #[expect(unsafe_code, reason = "UNSAFE.md §4: SQEs point at slot-owned buffers")]
            let pushed = match b {
                // SAFETY: every buffer and descriptor these SQEs point at is
                // owned by a slot that stays in `self.slots`, unmoved and
                // unmodified, until all of its SQEs have completed (its
                // `outstanding` count); the eventfd poll points at no memory
                // and the eventfd lives as long as the queue this worker holds.
                Some(b) => unsafe { sq.push_multiple(&[a.clone(), b.clone()]) },
                // SAFETY: as above.
                None => unsafe { sq.push(a) },
            };
            if pushed.is_err() {
                break;
            }
            self.in_kernel += n;
            self.backlog.pop_front();
        }
        sq.sync();
    }

    fn on_wake(&mut self) {
        self.poll_armed = false;
        let mut counter = [0u8; 8];
        // Resets the eventfd; `EAGAIN` if it was reset already.
        let _ = (&self.queue.wake).read(&mut counter);
        let (requests, stopping) = {
            let mut st = self.queue.state.lock();
            (std::mem::take(&mut st.requests), st.stopping)
        };
        self.stopping |= stopping;
        for r in requests {
            let i = self.free.pop().unwrap_or_else(|| {
                self.slots.push(None);
                self.slots.len() - 1
            });
            let mut op = r.op;
            if let OpKind::Read { buf, len, .. } = &mut op.kind {
                buf.resize(*len, 0);
            }
            self.slots[i] = Some(Slot {
                op,
                done: r.done,
                progress: 0,
                eof: false,
                synced: false,
                outstanding: 0,
                retries: 0,
                error: None,
            });
            self.active += 1;
            self.advance(i);
        }
    }

    fn on_cqe(&mut self, user_data: u64, res: i32) {
        let i = (user_data >> 1) as usize;
        let Some(Some(s)) = self.slots.get_mut(i) else {
            return;
        };
        s.outstanding = s.outstanding.saturating_sub(1);
        let retryable = matches!(-res, libc::EAGAIN | libc::EINTR);
        let is_read = matches!(s.op.kind, OpKind::Read { .. });
        if user_data & 1 == PART_SYNC {
            match res {
                0.. => s.synced = true,
                // Its linked write failed or was short: synced after the rest.
                _ if -res == libc::ECANCELED => {}
                _ if retryable => s.retries += 1,
                _ => {
                    s.error
                        .get_or_insert((Stage::Sync, io::Error::from_raw_os_error(-res)));
                }
            }
        } else {
            let stage = if is_read { Stage::Read } else { Stage::Write };
            match res {
                1.. => s.progress += res as usize,
                0 if is_read => s.eof = true,
                0 => {
                    s.error.get_or_insert((
                        stage,
                        io::Error::new(io::ErrorKind::WriteZero, "a write wrote nothing"),
                    ));
                }
                _ if retryable || -res == libc::ECANCELED => s.retries += 1,
                _ => {
                    s.error
                        .get_or_insert((stage, io::Error::from_raw_os_error(-res)));
                }
            }
        }
        if s.outstanding == 0 {
            self.advance(i);
        }
    }

    /// Queues the next step of slot `i`, or completes it.
    fn advance(&mut self, i: usize) {
        let Some(Some(s)) = self.slots.get_mut(i) else {
            return;
        };
        if s.error.is_none() && s.retries > MAX_RETRIES {
            let e = io::Error::other(format!("still EAGAIN/EINTR after {MAX_RETRIES} retries"));
            s.error = Some((Stage::Write, e));
        }
        let fd = types::Fd(s.op.file.as_raw_fd());
        let ud = |part| ((i as u64) << 1) | part;
        let fsync = |k: SyncKind| {
            let flags = match k {
                SyncKind::Data => types::FsyncFlags::DATASYNC,
                SyncKind::All => types::FsyncFlags::empty(),
            };
            opcode::Fsync::new(fd)
                .flags(flags)
                .build()
                .user_data(ud(PART_SYNC))
        };
        let step: Option<Step> = if s.error.is_some() {
            None
        } else {
            match &mut s.op.kind {
                OpKind::Write { offset, buf, sync } => {
                    let rest = buf.get(s.progress..).unwrap_or_default();
                    if !rest.is_empty() {
                        let len = rest.len().min(MAX_IO);
                        let w = opcode::Write::new(fd, rest.as_ptr(), len as u32)
                            .offset(*offset + s.progress as u64)
                            .build()
                            .user_data(ud(PART_IO));
                        s.synced = false;
                        match sync {
                            Some(k) if len == rest.len() => {
                                Some((w.flags(squeue::Flags::IO_LINK), Some(fsync(*k))))
                            }
                            _ => Some((w, None)),
                        }
                    } else {
                        match sync {
                            Some(k) if !s.synced => Some((fsync(*k), None)),
                            _ => None,
                        }
                    }
                }
                OpKind::Sync(k) => (!s.synced).then(|| (fsync(*k), None)),
                OpKind::Read { offset, buf, len } => {
                    let end = (*len).min(buf.len());
                    match buf.get_mut(s.progress..end) {
                        Some(rest) if !rest.is_empty() && !s.eof => {
                            let n = rest.len().min(MAX_IO);
                            let r = opcode::Read::new(fd, rest.as_mut_ptr(), n as u32)
                                .offset(*offset + s.progress as u64)
                                .build()
                                .user_data(ud(PART_IO));
                            Some((r, None))
                        }
                        _ => None,
                    }
                }
            }
        };
        match step {
            Some(step) => {
                s.outstanding = 1 + u32::from(step.1.is_some());
                self.backlog.push_back(step);
            }
            None => self.complete(i),
        }
    }

    fn complete(&mut self, i: usize) {
        let Some(s) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        self.free.push(i);
        self.active -= 1;
        let progress = s.progress;
        // The descriptor is released before the caller hears back, so no
        // handle of a finished file outlives the request.
        drop(s.op.file);
        let (mut buf, stage) = match s.op.kind {
            OpKind::Write { buf, .. } => (buf, Stage::Write),
            OpKind::Sync(_) => (Vec::new(), Stage::Sync),
            OpKind::Read { buf, .. } => (buf, Stage::Read),
        };
        if stage == Stage::Read {
            buf.truncate(progress);
        }
        let result = match s.error {
            Some(e) => Err(e),
            None => Ok(()),
        };
        // The caller may have stopped waiting only by unwinding; nothing to do.
        let _ = s.done.send(Outcome { buf, result });
    }
}

impl Drop for Worker {
    /// Runs however the thread ends (normally, on a ring error, or in a
    /// panic): refuses further requests and answers every open one.
    fn drop(&mut self) {
        let why = self
            .exit_reason
            .take()
            .unwrap_or_else(|| "the engine closed its I/O thread".into());
        let queued = {
            let mut st = self.queue.state.lock();
            st.dead = Some(why.clone());
            std::mem::take(&mut st.requests)
        };
        for r in queued {
            let e = io::Error::other(format!("the io_uring thread stopped: {why}"));
            let _ = r.done.send(failed(r.op, e));
        }
        for s in self.slots.iter_mut().filter_map(Option::take) {
            let e = io::Error::other(format!("the io_uring thread stopped: {why}"));
            let _ = s.done.send(Outcome {
                buf: Vec::new(),
                result: Err((Stage::Write, e)),
            });
            if s.outstanding > 0 {
                // The kernel may still read or write this buffer after the
                // ring is gone: leak it rather than free it.
                std::mem::forget(s.op);
            }
        }
    }
}
