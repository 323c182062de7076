//! A power-loss simulator for tests, in the spirit of LevelDB's
//! fault-injection environment and redb's crash tests.
//!
//! [`CrashFs`] is a backend ([`super::IoMode::Crash`], or [`CrashFs::fs`]
//! for code above the engine) that performs every operation on the real
//! directory, so the code under test runs normally, and mirrors it in a
//! model that keeps the synced and the unsynced state apart:
//!
//! - per file, the bytes written and the bytes as of its last `fsync`;
//! - per directory, its entries as of its last `fsync` and the log of
//!   creations, renames and removals since.
//!
//! [`CrashFs::crash_image`] writes, into another directory, one state the
//! store could be in after a power loss *now*, keeping only what a real file
//! system guarantees (chosen with a seed):
//!
//! - a directory keeps its synced entries plus a prefix (possibly empty) of
//!   the operations since its last sync, in order (a rename is one
//!   operation: the old name or the new, never both or neither);
//! - a file keeps its synced bytes plus a prefix of what was appended since,
//!   and the rest of its length either disappears or reads as zeros (the
//!   size reached the disk, the data did not); a file whose synced bytes are
//!   not a prefix of its current bytes (truncated since) comes back as
//!   either version.
//!
//! Every `fsync` of a file or directory is a *sync point*, numbered from 1;
//! a hook set with [`CrashFs::on_sync_point`] runs just before each, so a
//! test can take a crash image at every sync point of a workload.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Backend, Fs, FsOp, Op, OpKind, Outcome, Stage, Ticket, syscalls};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File(usize),
    Dir,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, Entry),
    Unlink(String),
    Rename(String, String),
}

#[derive(Debug, Default)]
struct DirState {
    synced: BTreeMap<String, Entry>,
    log: Vec<DirOp>,
}

#[derive(Debug, Default)]
struct Node {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug)]
struct Model {
    root: PathBuf,
    nodes: Vec<Node>,
    /// Current path of each live file, for routing writes.
    paths: HashMap<PathBuf, usize>,
    dirs: HashMap<PathBuf, DirState>,
    sync_points: u64,
}

type Hook = Arc<dyn Fn(u64) + Send + Sync>;

struct Shared {
    model: Mutex<Model>,
    hook: Mutex<Option<Hook>>,
}

/// The power-loss simulator; see the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct CrashFs(Arc<Shared>);

impl std::fmt::Debug for CrashFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CrashFs({})", self.0.model.lock().root.display())
    }
}

fn apply(entries: &mut BTreeMap<String, Entry>, op: &DirOp) {
    match op {
        DirOp::Link(n, e) => {
            entries.insert(n.clone(), e.clone());
        }
        DirOp::Unlink(n) => {
            entries.remove(n);
        }
        DirOp::Rename(a, b) => {
            if let Some(e) = entries.remove(a) {
                entries.insert(b.clone(), e);
            }
        }
    }
}

/// splitmix64: a small seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=n`.
    fn upto(&mut self, n: usize) -> usize {
        (self.next() % (n as u64 + 1)) as usize
    }
}

fn split(path: &Path) -> Option<(PathBuf, String)> {
    Some((
        path.parent()?.to_path_buf(),
        path.file_name()?.to_string_lossy().into_owned(),
    ))
}

impl Model {
    fn import(&mut self, dir: &Path) -> std::io::Result<()> {
        let mut state = DirState::default();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if e.file_type()?.is_dir() {
                self.import(&path)?;
                state.synced.insert(name, Entry::Dir);
            } else {
                let data = std::fs::read(&path)?;
                let id = self.nodes.len();
                self.nodes.push(Node {
                    synced: data.clone(),
                    data,
                });
                self.paths.insert(path, id);
                state.synced.insert(name, Entry::File(id));
            }
        }
        self.dirs.insert(dir.to_path_buf(), state);
        Ok(())
    }

    fn log(&mut self, dir: &Path, op: DirOp) {
        self.dirs.entry(dir.to_path_buf()).or_default().log.push(op);
    }

    /// The node of the file at `path`, created (as a new entry) if unknown.
    fn node(&mut self, path: &Path) -> usize {
        if let Some(&id) = self.paths.get(path) {
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.paths.insert(path.to_path_buf(), id);
        if let Some((dir, name)) = split(path) {
            self.log(&dir, DirOp::Link(name, Entry::File(id)));
        }
        id
    }

    fn write(&mut self, path: &Path, offset: u64, buf: &[u8]) {
        let id = self.node(path);
        let data = &mut self.nodes[id].data;
        let end = offset as usize + buf.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset as usize..end].copy_from_slice(buf);
    }

    fn sync_file(&mut self, path: &Path) {
        let id = self.node(path);
        let n = &mut self.nodes[id];
        n.synced = n.data.clone();
    }

    fn sync_dir(&mut self, dir: &Path) {
        let d = self.dirs.entry(dir.to_path_buf()).or_default();
        for op in std::mem::take(&mut d.log) {
            apply(&mut d.synced, &op);
        }
    }

    fn contents(&self, id: usize, rng: &mut Rng) -> Vec<u8> {
        let n = &self.nodes[id];
        if !n.data.starts_with(&n.synced) {
            return if rng.next() & 1 == 0 {
                n.synced.clone()
            } else {
                n.data.clone()
            };
        }
        let cut = n.synced.len() + rng.upto(n.data.len() - n.synced.len());
        let mut out = n.data[..cut].to_vec();
        if cut < n.data.len() && rng.next() & 1 == 0 {
            out.resize(n.data.len(), 0);
        }
        out
    }

    fn materialize(&self, dir: &Path, out: &Path, rng: &mut Rng) -> std::io::Result<()> {
        std::fs::create_dir_all(out)?;
        let Some(d) = self.dirs.get(dir) else {
            return Ok(());
        };
        let mut entries = d.synced.clone();
        for op in &d.log[..rng.upto(d.log.len())] {
            apply(&mut entries, op);
        }
        for (name, e) in entries {
            match e {
                Entry::File(id) => std::fs::write(out.join(&name), self.contents(id, rng))?,
                Entry::Dir => self.materialize(&dir.join(&name), &out.join(&name), rng)?,
            }
        }
        Ok(())
    }
}

impl CrashFs {
    /// Simulates the directory `root` (created if missing); what it holds
    /// already is taken as durable.
    pub fn new(root: &Path) -> std::io::Result<CrashFs> {
        std::fs::create_dir_all(root)?;
        let mut m = Model {
            root: root.to_path_buf(),
            nodes: Vec::new(),
            paths: HashMap::new(),
            dirs: HashMap::new(),
            sync_points: 0,
        };
        m.import(root)?;
        Ok(CrashFs(Arc::new(Shared {
            model: Mutex::new(m),
            hook: Mutex::new(None),
        })))
    }

    /// This simulator as a backend for code above the engine.
    pub fn fs(&self) -> Fs {
        Fs(Arc::new(self.clone()))
    }

    /// Runs `hook(n)` just before the `n`th sync point (in the thread that
    /// syncs, with no lock of the simulator held).
    pub fn on_sync_point(&self, hook: impl Fn(u64) + Send + Sync + 'static) {
        *self.0.hook.lock() = Some(Arc::new(hook));
    }

    /// Sync points passed so far.
    pub fn sync_points(&self) -> u64 {
        self.0.model.lock().sync_points
    }

    /// Writes into `out` (created) a state the directory could be in after
    /// a power loss now, chosen by `seed`.
    pub fn crash_image(&self, out: &Path, seed: u64) -> std::io::Result<()> {
        let m = self.0.model.lock();
        let mut rng = Rng(seed ^ 0x5eed);
        m.materialize(&m.root, out, &mut rng)
    }

    fn tracked(&self, path: &Path) -> bool {
        path.starts_with(&self.0.model.lock().root)
    }

    fn sync_point(&self) {
        let n = {
            let mut m = self.0.model.lock();
            m.sync_points += 1;
            m.sync_points
        };
        let hook = self.0.hook.lock().clone();
        if let Some(h) = hook {
            h(n);
        }
    }
}

impl Backend for CrashFs {
    fn submit(&self, op: Op) -> Ticket {
        let tracked = self.tracked(&op.path);
        let out = match op.kind {
            OpKind::Write { offset, buf, sync } => {
                let out = syscalls::write_unsynced(&op.file, offset, buf);
                if out.result.is_ok() && tracked {
                    self.0.model.lock().write(&op.path, offset, &out.buf);
                }
                match (sync, out.result) {
                    (Some(k), Ok(())) => {
                        self.sync_point();
                        let result = syscalls::sync_file(&op.file, k);
                        if result.is_ok() && tracked {
                            self.0.model.lock().sync_file(&op.path);
                        }
                        Outcome {
                            buf: out.buf,
                            result: result.map_err(|e| (Stage::Sync, e)),
                        }
                    }
                    (_, result) => Outcome {
                        buf: out.buf,
                        result,
                    },
                }
            }
            OpKind::Sync(k) => {
                self.sync_point();
                let out = syscalls::run(&op.file, OpKind::Sync(k));
                if out.result.is_ok() && tracked {
                    self.0.model.lock().sync_file(&op.path);
                }
                out
            }
            kind @ OpKind::Read { .. } => syscalls::run(&op.file, kind),
        };
        Ticket::Ready(out)
    }

    fn fs(&self, op: FsOp<'_>) -> std::io::Result<Option<File>> {
        if !self.tracked(op.path()) {
            return super::fs::run_os(op);
        }
        match op {
            FsOp::CreateNew { path, .. } => {
                let f = super::fs::run_os(op)?;
                let mut m = self.0.model.lock();
                let id = m.nodes.len();
                m.nodes.push(Node::default());
                m.paths.insert(path.to_path_buf(), id);
                if let Some((dir, name)) = split(path) {
                    m.log(&dir, DirOp::Link(name, Entry::File(id)));
                }
                Ok(f)
            }
            FsOp::CreateDir { path } => {
                let f = super::fs::run_os(op)?;
                let mut m = self.0.model.lock();
                m.dirs.entry(path.to_path_buf()).or_default();
                if let Some((dir, name)) = split(path) {
                    m.log(&dir, DirOp::Link(name, Entry::Dir));
                }
                Ok(f)
            }
            FsOp::Rename { from, to } => {
                let f = super::fs::run_os(op)?;
                let mut m = self.0.model.lock();
                if let (Some(id), Some((fd, fname)), Some((td, tname))) =
                    (m.paths.remove(from), split(from), split(to))
                {
                    m.paths.insert(to.to_path_buf(), id);
                    if fd == td {
                        m.log(&fd, DirOp::Rename(fname, tname));
                    } else {
                        m.log(&fd, DirOp::Unlink(fname));
                        m.log(&td, DirOp::Link(tname, Entry::File(id)));
                    }
                }
                Ok(f)
            }
            FsOp::Remove { path } => {
                let f = super::fs::run_os(op)?;
                let mut m = self.0.model.lock();
                m.paths.remove(path);
                if let Some((dir, name)) = split(path) {
                    m.log(&dir, DirOp::Unlink(name));
                }
                Ok(f)
            }
            FsOp::SyncDir { path } => {
                self.sync_point();
                let f = super::fs::run_os(op)?;
                self.0.model.lock().sync_dir(path);
                Ok(f)
            }
            FsOp::SetLen { path, len, .. } => {
                let f = super::fs::run_os(op)?;
                let mut m = self.0.model.lock();
                let id = m.node(path);
                m.nodes[id].data.resize(len as usize, 0);
                Ok(f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(c: &CrashFs, n: u64) -> Vec<BTreeMap<String, Vec<u8>>> {
        let out = tempfile::tempdir().unwrap();
        (0..n)
            .map(|seed| {
                let dir = out.path().join(seed.to_string());
                c.crash_image(&dir, seed).unwrap();
                let mut files = BTreeMap::new();
                for e in std::fs::read_dir(&dir).unwrap() {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_file() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        files.insert(name, std::fs::read(e.path()).unwrap());
                    }
                }
                files
            })
            .collect()
    }

    #[test]
    fn unsynced_state_may_be_lost_synced_state_survives() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("old"), b"durable").unwrap();
        let c = CrashFs::new(d.path()).unwrap();
        let fs = c.fs();
        // A replace is whole after it returns.
        fs.replace(d.path(), "meta", b"v1").unwrap();
        for img in images(&c, 20) {
            assert_eq!(img["old"], b"durable");
            assert_eq!(img["meta"], b"v1");
            assert!(!img.contains_key("meta.tmp"));
        }
        // An unsynced append: lost, kept, cut or zero-filled; never more.
        let path = d.path().join("log");
        let f = Arc::new(fs.create_new(&path, 0o644).unwrap());
        fs.sync_dir(d.path()).unwrap();
        fs.write_at(
            &f,
            &path,
            0,
            b"head".to_vec(),
            Some(super::super::SyncKind::Data),
        )
        .unwrap();
        fs.write_at(&f, &path, 4, b"tail".to_vec(), None).unwrap();
        fs.remove(&d.path().join("old")).unwrap();
        let mut shapes = std::collections::BTreeSet::new();
        let mut old_kept = 0;
        for img in images(&c, 200) {
            let log = &img["log"];
            assert!(log.starts_with(b"head"), "{log:?}");
            let rest = &log[4..];
            assert!(rest.len() <= 4);
            let zeros = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            assert_eq!(&rest[..zeros], &b"tail"[..zeros]);
            assert!(rest[zeros..].iter().all(|&b| b == 0));
            shapes.insert((rest.len(), zeros));
            old_kept += usize::from(img.contains_key("old"));
        }
        assert!(shapes.len() > 5, "{shapes:?}");
        assert!(old_kept > 0 && old_kept < 200, "{old_kept}");
        assert_eq!(c.sync_points(), 4);
    }

    #[test]
    fn a_rename_without_a_directory_sync_may_be_lost_but_is_atomic() {
        let d = tempfile::tempdir().unwrap();
        let c = CrashFs::new(d.path()).unwrap();
        let fs = c.fs();
        fs.replace(d.path(), "m", b"one").unwrap();
        let tmp = d.path().join("m.tmp");
        let f = Arc::new(fs.create_new(&tmp, 0o644).unwrap());
        fs.write_at(
            &f,
            &tmp,
            0,
            b"two".to_vec(),
            Some(super::super::SyncKind::All),
        )
        .unwrap();
        fs.rename(&tmp, &d.path().join("m")).unwrap();
        let seen: std::collections::BTreeSet<_> =
            images(&c, 50).into_iter().map(|i| i["m"].clone()).collect();
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [b"one".to_vec(), b"two".to_vec()]
        );
    }
}
