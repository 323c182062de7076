//! The plain backend: positioned reads and writes and syncs in the calling
//! thread.

use std::fs::File;
use std::io::ErrorKind;

use super::{Backend, Op, OpKind, Outcome, Stage, SyncKind, Ticket};

pub(crate) struct Syscalls;

impl Backend for Syscalls {
    fn submit(&self, op: Op) -> Ticket {
        Ticket::Ready(run(&op.file, op.kind))
    }
}

/// Runs one request to completion.
pub(crate) fn run(file: &File, kind: OpKind) -> Outcome {
    match kind {
        OpKind::Write { offset, buf, sync } => {
            let result = write_all_at(file, &buf, offset)
                .map_err(|e| (Stage::Write, e))
                .and_then(|()| match sync {
                    Some(k) => sync_file(file, k).map_err(|e| (Stage::Sync, e)),
                    None => Ok(()),
                });
            Outcome { buf, result }
        }
        OpKind::Sync(k) => Outcome {
            buf: Vec::new(),
            result: sync_file(file, k).map_err(|e| (Stage::Sync, e)),
        },
        OpKind::Read {
            offset,
            mut buf,
            len,
        } => {
            buf.resize(len, 0);
            let mut done = 0;
            while done < len {
                match read_at(file, &mut buf[done..], offset + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        buf.truncate(done);
                        return Outcome {
                            buf,
                            result: Err((Stage::Read, e)),
                        };
                    }
                }
            }
            buf.truncate(done);
            Outcome {
                buf,
                result: Ok(()),
            }
        }
    }
}

/// Writes `buf` at `offset`, without a sync (a backend that syncs on its
/// own terms, after the write).
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn write_unsynced(file: &File, offset: u64, buf: Vec<u8>) -> Outcome {
    run(
        file,
        OpKind::Write {
            offset,
            buf,
            sync: None,
        },
    )
}

pub(crate) fn sync_file(file: &File, kind: SyncKind) -> std::io::Result<()> {
    match kind {
        SyncKind::Data => file.sync_data(),
        SyncKind::All => file.sync_all(),
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    // Retries short writes and EINTR.
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_write(file, buf, offset) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
