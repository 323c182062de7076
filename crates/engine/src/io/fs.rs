//! The seam for every durable byte outside the WAL and segment data path:
//! creating, renaming and removing files, syncing directories, and the one
//! atomic small-file replacement ([`Fs::replace`], [`replace`]) that the
//! manifest, the catalog, the statistics, the token file and the TLS files
//! all use. Everything goes through the engine's I/O [`Backend`], so a
//! fault-injecting or crash-simulating backend sees every durable step.
//!
//! Code above the engine (catalog, server) that has no engine at hand
//! calls [`Fs::for_dir`] (or [`replace`]): the operating system, unless a
//! test installed a backend for that directory with [`install`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Backend, FileKind, Op, OpKind, Stage, SyncKind, syscalls};
use crate::{Error, Result};

/// A namespace operation, handed to [`Backend::fs`].
pub(crate) enum FsOp<'a> {
    /// Create a file that must not exist yet, opened for reading and
    /// writing, with Unix permission bits `mode` (before the umask).
    CreateNew {
        path: &'a Path,
        mode: u32,
    },
    /// Create one directory (its parent exists).
    CreateDir {
        path: &'a Path,
    },
    Rename {
        from: &'a Path,
        to: &'a Path,
    },
    Remove {
        path: &'a Path,
    },
    /// `fsync` a directory: the entries created, renamed or removed in it
    /// become durable.
    SyncDir {
        path: &'a Path,
    },
    /// Truncate (or extend) an open file.
    SetLen {
        file: &'a File,
        path: &'a Path,
        len: u64,
    },
}

impl FsOp<'_> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            FsOp::CreateNew { .. } => "create",
            FsOp::CreateDir { .. } => "create directory",
            FsOp::Rename { .. } => "rename",
            FsOp::Remove { .. } => "remove",
            FsOp::SyncDir { .. } => "sync directory",
            FsOp::SetLen { .. } => "truncate",
        }
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            FsOp::CreateNew { path, .. }
            | FsOp::CreateDir { path }
            | FsOp::Remove { path }
            | FsOp::SyncDir { path }
            | FsOp::SetLen { path, .. } => path,
            FsOp::Rename { to, .. } => to,
        }
    }
}

/// Runs a namespace operation with plain system calls.
pub(crate) fn run_os(op: FsOp<'_>) -> std::io::Result<Option<File>> {
    match op {
        FsOp::CreateNew { path, mode } => {
            let mut o = std::fs::OpenOptions::new();
            o.create_new(true).read(true).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
            #[cfg(not(unix))]
            let _ = mode;
            o.open(path).map(Some)
        }
        FsOp::CreateDir { path } => std::fs::create_dir(path).map(|()| None),
        FsOp::Rename { from, to } => std::fs::rename(from, to).map(|()| None),
        FsOp::Remove { path } => std::fs::remove_file(path).map(|()| None),
        FsOp::SyncDir { path } => File::open(path).and_then(|d| d.sync_all()).map(|()| None),
        FsOp::SetLen { file, len, .. } => file.set_len(len).map(|()| None),
    }
}

/// Durable file operations through one backend; cheap to clone.
#[derive(Clone)]
pub struct Fs(pub(crate) Arc<dyn Backend>);

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fs")
    }
}

/// Backends installed by tests for directories (see [`install`]).
static INSTALLED: Mutex<Vec<(PathBuf, Fs)>> = Mutex::new(Vec::new());

/// Routes [`Fs::for_dir`] of `root` and everything under it to `fs` until
/// the guard is dropped. For tests (fault injection, crash simulation) of
/// code that has no engine at hand.
#[doc(hidden)]
pub fn install(root: &Path, fs: Fs) -> Installed {
    INSTALLED.lock().push((root.to_path_buf(), fs));
    Installed(root.to_path_buf())
}

/// Removes an [`install`]ed backend when dropped.
#[doc(hidden)]
#[must_use = "the backend is uninstalled when this is dropped"]
pub struct Installed(PathBuf);

impl Drop for Installed {
    fn drop(&mut self) {
        let mut all = INSTALLED.lock();
        if let Some(i) = all.iter().rposition(|(r, _)| *r == self.0) {
            all.remove(i);
        }
    }
}

impl Fs {
    /// Plain system calls.
    pub fn os() -> Fs {
        Fs(Arc::new(syscalls::Syscalls))
    }

    /// The backend for files in `dir`: the operating system, unless a test
    /// [`install`]ed another for it.
    pub fn for_dir(dir: &Path) -> Fs {
        let all = INSTALLED.lock();
        all.iter()
            .rev()
            .find(|(root, _)| dir.starts_with(root))
            .map_or_else(Fs::os, |(_, fs)| fs.clone())
    }

    fn op(&self, op: FsOp<'_>) -> Result<Option<File>> {
        let (name, path) = (op.name(), op.path().to_path_buf());
        self.0.fs(op).map_err(|e| Error::io(name, path, e))
    }

    /// Creates `path`, which must not exist, for reading and writing.
    pub fn create_new(&self, path: &Path, mode: u32) -> Result<File> {
        match self.op(FsOp::CreateNew { path, mode })? {
            Some(f) => Ok(f),
            None => Err(Error::io(
                "create",
                path,
                std::io::Error::other("the backend returned no file"),
            )),
        }
    }

    /// Creates `dir` and its missing ancestors, syncing the parent of each
    /// directory created so that the creation is durable.
    pub fn create_dir_all(&self, dir: &Path) -> Result<()> {
        if dir.as_os_str().is_empty() || dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.create_dir_all(parent)?;
        }
        match self.op(FsOp::CreateDir { path: dir }) {
            Ok(_) => {}
            Err(_) if dir.is_dir() => return Ok(()),
            Err(e) => return Err(e),
        }
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => self.sync_dir(p),
            _ => Ok(()),
        }
    }

    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.op(FsOp::Rename { from, to }).map(drop)
    }

    pub fn remove(&self, path: &Path) -> Result<()> {
        self.op(FsOp::Remove { path }).map(drop)
    }

    /// Removes `path` if it exists.
    pub fn remove_if_exists(&self, path: &Path) -> Result<()> {
        match self.0.fs(FsOp::Remove { path }) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.op(FsOp::SyncDir { path: dir }).map(drop)
    }

    pub(crate) fn set_len(&self, file: &File, path: &Path, len: u64) -> Result<()> {
        self.op(FsOp::SetLen { file, path, len }).map(drop)
    }

    /// Writes all of `bytes` at `offset` of `file` (then syncs it if
    /// `sync`), through the backend.
    pub(crate) fn write_at(
        &self,
        file: &Arc<File>,
        path: &Path,
        offset: u64,
        bytes: Vec<u8>,
        sync: Option<SyncKind>,
    ) -> Result<()> {
        let ticket = self.0.submit(Op {
            file: file.clone(),
            path: path.into(),
            class: FileKind::Meta,
            kind: OpKind::Write {
                offset,
                buf: bytes,
                sync,
            },
        });
        match ticket.wait().result {
            Ok(()) => Ok(()),
            Err((Stage::Sync, e)) => Err(Error::io("sync", path, e)),
            Err((_, e)) => Err(Error::io("write", path, e)),
        }
    }

    /// Replaces `dir/name` with `bytes` atomically and durably: writes
    /// `dir/name.tmp`, syncs it, renames it over `dir/name` and syncs `dir`.
    /// A crash leaves the old file or the new one, never a mix (and maybe a
    /// `name.tmp`, which the next replace overwrites).
    pub fn replace(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
        self.replace_with_mode(dir, name, bytes, 0o666)
    }

    /// [`Fs::replace`] with the new file's permission bits (`0o600` for
    /// secrets).
    pub fn replace_with_mode(&self, dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let tmp = dir.join(format!("{name}.tmp"));
        self.remove_if_exists(&tmp)?;
        let file = Arc::new(self.create_new(&tmp, mode)?);
        let written = self.write_at(&file, &tmp, 0, bytes.to_vec(), Some(SyncKind::All));
        drop(file);
        if let Err(e) = written {
            let _ = self.remove_if_exists(&tmp);
            return Err(e);
        }
        self.rename(&tmp, &dir.join(name))?;
        self.sync_dir(dir)
    }
}

/// [`Fs::replace`] through the backend for `dir` ([`Fs::for_dir`]).
pub fn replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    Fs::for_dir(dir).replace(dir, name, bytes)
}

/// [`Fs::replace_with_mode`] through the backend for `dir`.
pub fn replace_with_mode(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
    Fs::for_dir(dir).replace_with_mode(dir, name, bytes, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_writes_whole_files_and_leaves_no_tmp() {
        let d = tempfile::tempdir().unwrap();
        let fs = Fs::os();
        fs.replace(d.path(), "x", b"one").unwrap();
        fs.replace(d.path(), "x", b"second").unwrap();
        assert_eq!(std::fs::read(d.path().join("x")).unwrap(), b"second");
        std::fs::write(d.path().join("x.tmp"), b"leftover garbage").unwrap();
        fs.replace(d.path(), "x", b"3").unwrap();
        assert_eq!(std::fs::read(d.path().join("x")).unwrap(), b"3");
        assert!(!d.path().join("x.tmp").exists());
        let err = fs.replace(&d.path().join("missing"), "x", b"").unwrap_err();
        assert!(err.to_string().contains("x.tmp"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn replace_with_mode_sets_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        replace_with_mode(d.path(), "secret", b"s", 0o600).unwrap();
        let mode = std::fs::metadata(d.path().join("secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
