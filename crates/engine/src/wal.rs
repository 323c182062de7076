//! WAL files on disk: appending records and replaying them.

use std::fs;
use std::path::{Path, PathBuf};

use strata_format::wal::{self, Tail};

use super::io::{FileKind, Fs, Io, IoFile, SyncKind};
use super::{Error, Result};

pub fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("wal")
}

pub fn wal_path(dir: &Path, number: u64) -> PathBuf {
    wal_dir(dir).join(format!("{number:06}.log"))
}

/// The WAL file being appended to. Appends and syncs go through the
/// engine's I/O backend; after one of them fails the writer refuses more
/// (the bytes on disk past the last good append are unknown, and a retried
/// sync could falsely succeed).
#[derive(Debug)]
pub struct WalWriter {
    /// `None` in a store that takes no writes (read-only).
    file: Option<IoFile>,
    io: Io,
    /// Bytes in the file: where the next append goes.
    len: u64,
    /// Bytes written and not yet synced.
    unsynced: bool,
    /// The buffer of the last append, for the next one to reuse.
    spare: Vec<u8>,
    /// Why an append or sync failed.
    broken: Option<String>,
}

impl WalWriter {
    /// Creates WAL file `number` with its header, synced along with its
    /// directory, writing through `io`.
    pub fn create_with(io: &Io, dir: &Path, number: u64) -> Result<WalWriter> {
        let path = wal_path(dir, number);
        let file = io.fs().create_new(&path, 0o644)?;
        let file = IoFile::new(file, &path, FileKind::Wal);
        let header = wal::encode_header(number);
        io.write(&file, 0, header.to_vec(), Some(SyncKind::All), "write")
            .wait()?;
        sync_dir(&io.fs(), &wal_dir(dir))?;
        Ok(WalWriter {
            file: Some(file),
            io: io.clone(),
            len: header.len() as u64,
            unsynced: false,
            spare: Vec::new(),
            broken: None,
        })
    }

    /// A writer that refuses every append: for a store that takes no
    /// writes (the engine checks that first and says why).
    pub fn none(io: &Io, why: &str) -> WalWriter {
        WalWriter {
            file: None,
            io: io.clone(),
            len: 0,
            unsynced: false,
            spare: Vec::new(),
            broken: Some(why.to_string()),
        }
    }

    /// An empty buffer to encode the next append into (the last append's,
    /// reused).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.spare);
        b.clear();
        b
    }

    /// Appends whole records with one write, then syncs them (`fdatasync`)
    /// if `sync`: with io_uring, as one linked submission. Gives the buffer
    /// back (hand it to [`WalWriter::recycle`] when done with it).
    pub fn append(&mut self, records: Vec<u8>, sync: bool) -> Result<Vec<u8>> {
        let file = self.check()?;
        let n = records.len() as u64;
        let done = self
            .io
            .write(
                &file,
                self.len,
                records,
                sync.then_some(SyncKind::Data),
                "append to",
            )
            .wait();
        match done {
            Ok(buf) => {
                self.len += n;
                self.unsynced = !sync;
                Ok(buf)
            }
            Err(e) => {
                self.broken = Some(e.to_string());
                self.roll_back(&file);
                Err(e)
            }
        }
    }

    /// After a failed append: cuts the file back to where the append
    /// started and syncs that, so that the refused records do not come back
    /// at recovery. Best effort: if this fails too, they may.
    fn roll_back(&mut self, file: &IoFile) {
        let fs = self.io.fs();
        if fs.set_len(&file.file, &file.path, self.len).is_ok() {
            let _ = self.io.sync(file, SyncKind::Data);
        }
    }

    /// Keeps `buf` for [`WalWriter::take_buffer`] (unless it grew large).
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= 4 << 20 {
            self.spare = buf;
        }
    }

    pub fn sync(&mut self) -> Result<()> {
        let file = self.check()?;
        if self.unsynced {
            if let Err(e) = self.io.sync(&file, SyncKind::Data) {
                self.broken = Some(e.to_string());
                return Err(e);
            }
            self.unsynced = false;
        }
        Ok(())
    }

    fn check(&self) -> Result<IoFile> {
        match (&self.broken, &self.file) {
            (None, Some(f)) => Ok(f.clone()),
            (Some(why), _) => Err(Error::Poisoned(why.clone())),
            (None, None) => Err(Error::Poisoned("no WAL file is open".into())),
        }
    }

    /// The file, for syncing from another thread (through the backend).
    pub fn handle(&self) -> Option<IoFile> {
        self.file.clone()
    }
}

/// Syncs a directory so that creations, renames and removals in it are durable.
pub fn sync_dir(fs: &Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir)
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
    let got = match wal::decode_header(&bytes) {
        Ok(n) => n,
        // Created, but its header never (fully) reached the disk and no
        // record follows: nothing in it was acknowledged.
        Err(_) if !wal::has_intact_record(&bytes[wal::HEADER_LEN..]) => {
            return Ok(Replayed {
                number,
                records: 0,
                torn_bytes: Some(bytes.len() as u64),
            });
        }
        Err(e) => return Err(Error::corruption(&path, 0, e)),
    };
    if got != number {
        let detail = strata_format::DecodeError::Invalid {
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
