//! The engine's error type.

use std::path::PathBuf;

use strata_format::DecodeError;
use strata_format::key::ViewId;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes failed a check. Nothing read from them is returned.
    #[error("corruption in {path} at byte {offset}: {detail}")]
    Corruption {
        path: PathBuf,
        offset: u64,
        detail: DecodeError,
    },
    /// A stored row does not decode against its view's schema.
    #[error("corrupt row in view {view}: {detail}")]
    CorruptRow { view: ViewId, detail: DecodeError },
    #[error(
        "the store at {path} is in use by another process (it holds {path}/LOCK); stop that process or open another directory"
    )]
    Locked { path: PathBuf },
    #[error("{path} is not a Strata store: {reason}")]
    NotAStore { path: PathBuf, reason: String },
    /// A write was refused before anything was written.
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    /// An earlier write or sync failed; the engine refuses writes until it
    /// is reopened, because it cannot know what reached the disk.
    #[error(
        "the store refuses writes after an earlier failure: {0}; reads still work; reopen the store to recover"
    )]
    Poisoned(String),
    /// This write's own commit failed in the storage layer: it was not
    /// acknowledged, and may or may not be present after a restart.
    #[error(
        "the write failed and is not acknowledged: {0}; it may or may not be present after the store is reopened; the store refuses writes until it is reopened, reads still work"
    )]
    WriteFailed(String),
    /// The store was opened read-only, or could not take writes when it was
    /// opened (no space, a read-only file system): reads work.
    #[error("the store at {path} takes no writes: {reason}")]
    ReadOnly { path: PathBuf, reason: String },
    #[error("the store is closed")]
    Closed,
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn corruption(path: impl Into<PathBuf>, base: u64, detail: DecodeError) -> Error {
        Error::Corruption {
            path: path.into(),
            offset: base + detail.offset() as u64,
            detail,
        }
    }

    pub fn corrupt_row(view: ViewId, detail: DecodeError) -> Error {
        Error::CorruptRow { view, detail }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
