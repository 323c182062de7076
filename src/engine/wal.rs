//! WAL files on disk: appending records and replaying them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::wal::{self, Tail};

use super::{Error, Result};

pub fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("wal")
}

pub fn wal_path(dir: &Path, number: u64) -> PathBuf {
    wal_dir(dir).join(format!("{number:06}.log"))
}

/// The WAL file being appended to.
#[derive(Debug)]
pub struct WalWriter {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes written and not yet synced.
    unsynced: bool,
}

impl WalWriter {
    /// Creates WAL file `number` with its header, synced along with its directory.
    pub fn create(dir: &Path, number: u64) -> Result<WalWriter> {
        let path = wal_path(dir, number);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        file.write_all(&wal::encode_header(number))
            .map_err(|e| Error::io("write", &path, e))?;
        file.sync_all().map_err(|e| Error::io("sync", &path, e))?;
        sync_dir(&wal_dir(dir))?;
        Ok(WalWriter {
            path,
            file: Arc::new(file),
            unsynced: false,
        })
    }

    /// Appends whole records with one write.
    pub fn append(&mut self, records: &[u8]) -> Result<()> {
        (&*self.file)
            .write_all(records)
            .map_err(|e| Error::io("append to", &self.path, e))?;
        self.unsynced = true;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| Error::io("sync", &self.path, e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// A handle for syncing from another thread.
    pub fn handle(&self) -> (Arc<File>, PathBuf) {
        (self.file.clone(), self.path.clone())
    }
}

/// Syncs a directory so that creations, renames and removals in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// What replaying one WAL file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub number: u64,
    pub records: usize,
    /// Bytes dropped from a torn tail, if any.
    pub torn_bytes: Option<u64>,
}

/// Numbers of the WAL files in `dir/wal`, ascending.
pub fn list(dir: &Path) -> Result<Vec<u64>> {
    let wdir = wal_dir(dir);
    let mut out = Vec::new();
    for e in fs::read_dir(&wdir).map_err(|e| Error::io("list", &wdir, e))? {
        let e = e.map_err(|e| Error::io("list", &wdir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".log").and_then(|n| n.parse().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads WAL file `number` and calls `f(offset of the payload in the file,
/// payload)` for each valid record.
/// A torn tail is reported in the result; damage is an error naming the
/// file and offset.
pub fn replay(
    dir: &Path,
    number: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Replayed> {
    let path = wal_path(dir, number);
    let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    if bytes.len() < wal::HEADER_LEN {
        // Created but the header never reached the disk: nothing was acknowledged in it.
        return Ok(Replayed {
            number,
            records: 0,
            torn_bytes: Some(bytes.len() as u64),
        });
    }
    let got = wal::decode_header(&bytes).map_err(|e| Error::corruption(&path, 0, e))?;
    if got != number {
        let detail = crate::format::DecodeError::Invalid {
            what: "wal header",
            offset: 12,
            reason: format!("file number {got} in a file named {number}"),
        };
        return Err(Error::corruption(&path, 0, detail));
    }
    let body = &bytes[wal::HEADER_LEN..];
    let mut records = 0;
    let mut failed = None;
    let tail = wal::scan(body, |pos, payload| {
        if failed.is_none() {
            match f(
                (wal::HEADER_LEN + pos + wal::RECORD_HEADER_LEN) as u64,
                payload,
            ) {
                Ok(()) => records += 1,
                Err(e) => failed = Some(e),
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    match tail {
        Tail::Clean => Ok(Replayed {
            number,
            records,
            torn_bytes: None,
        }),
        Tail::Torn { offset } => Ok(Replayed {
            number,
            records,
            torn_bytes: Some((body.len() - offset) as u64),
        }),
        Tail::Corrupt(e) => Err(Error::corruption(&path, wal::HEADER_LEN as u64, e)),
    }
}
