//! Power loss at every sync point of realistic workloads.
//!
//! Each workload runs on the power-loss simulator (`CrashFs`, see
//! `src/engine/io/crash.rs`). Just before every `fsync` of a file or a
//! directory (a *sync point*) the test records what was acknowledged so
//! far and writes a crash image: a copy of the store as a real file system
//! could leave it after a power loss at that moment (unsynced appends lost,
//! cut or zero-filled; directory changes since the last directory sync kept
//! only as a prefix). Afterwards every image is reopened and checked
//! against the workload's model: nothing acknowledged is lost, nothing
//! half-applied is visible, no orphan file is left.
//!
//! `cargo test` covers every sync point of small workloads with one image
//! each; `STRATA_CRASH_POINTS=all` runs larger workloads with four images
//! (seeds) per sync point. Each test prints its number of crash points.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod engine;
mod metadata;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use strata::engine::CrashFs;

/// Whether the long run was asked for.
pub fn all() -> bool {
    std::env::var("STRATA_CRASH_POINTS").is_ok_and(|v| v == "all")
}

/// Workload size multiplier.
pub fn scale() -> usize {
    if all() { 4 } else { 1 }
}

/// Crash images per sync point.
fn seeds() -> u64 {
    if all() { 4 } else { 1 }
}

/// One crash image and the model's state when it was taken.
pub struct Image<S> {
    pub point: u64,
    pub seed: u64,
    pub dir: PathBuf,
    pub state: S,
}

/// A store directory on the simulator, with a crash image taken at every
/// sync point.
pub struct Points<S> {
    pub crash: CrashFs,
    pub dir: PathBuf,
    _root: tempfile::TempDir,
    _images: tempfile::TempDir,
    taken: Arc<Mutex<Vec<Image<S>>>>,
}

impl<S: Send + 'static> Points<S> {
    /// Starts recording `store` (a fresh directory); `state()` is called at
    /// each sync point, before the image is taken.
    pub fn new(state: impl Fn() -> S + Send + Sync + 'static) -> Points<S> {
        let root = tempfile::tempdir().unwrap();
        let images = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        let crash = CrashFs::new(&dir).unwrap();
        let taken = Arc::new(Mutex::new(Vec::new()));
        let (t, c, out) = (taken.clone(), crash.clone(), images.path().to_path_buf());
        crash.on_sync_point(move |point| {
            // What was acknowledged before this sync started: its writes
            // were synced before they were acknowledged.
            for seed in 0..seeds() {
                let s = state();
                let dir = out.join(format!("{point}-{seed}"));
                c.crash_image(&dir, point * 7919 + seed).unwrap();
                t.lock().push(Image {
                    point,
                    seed,
                    dir,
                    state: s,
                });
            }
        });
        Points {
            crash,
            dir,
            _root: root,
            _images: images,
            taken,
        }
    }

    /// Stops recording; returns the images, the number of sync points, and
    /// the directory holding the images (removed when dropped).
    pub fn finish(self) -> (Vec<Image<S>>, u64, tempfile::TempDir) {
        self.crash.on_sync_point(|_| {});
        let points = self.crash.sync_points();
        let images = std::mem::take(&mut *self.taken.lock());
        (images, points, self._images)
    }
}

/// Names of the files in `dir` ending in `suffix` (none if `dir` is missing).
pub fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Prints a workload's figures (run with `--nocapture` to see them).
pub fn report(workload: &str, points: u64, images: usize) {
    println!("crash points: {workload}: {points} sync points, {images} images checked");
    assert!(
        points > 0 && images > 0,
        "{workload}: no sync point was reached"
    );
}
