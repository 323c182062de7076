//! A damaged or missing MANIFEST, missing or orphan segments, the LOCK.

use super::segment::seg_store;
use super::*;

/// A closed store with data in a segment and a MANIFEST listing it.
fn manifest_store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    put(&engine, 0..10);
    engine.flush().unwrap();
    drop(engine);
    (tmp, dir)
}

#[test]
fn damaged_manifest_fails_open_naming_it() {
    let (_tmp, dir) = manifest_store();
    let manifest = dir.join("MANIFEST");
    let good = fs::read(&manifest).unwrap();
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        fs::write(&manifest, &bad).unwrap();
        let offset = open_corrupt(&dir, &manifest);
        assert!(
            offset <= good.len() as u64,
            "flip at {at}: offset {offset} past the end"
        );
    }
    for cut in 0..good.len() {
        fs::write(&manifest, &good[..cut]).unwrap();
        open_corrupt(&dir, &manifest);
    }
    let mut longer = good.clone();
    longer.push(0);
    fs::write(&manifest, &longer).unwrap();
    open_corrupt(&dir, &manifest);
    // The failed opens changed nothing: with the manifest restored, the
    // store opens (no stale lock) and holds its data.
    fs::write(&manifest, &good).unwrap();
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    assert_holds_exactly(&engine, &(0..10).collect::<Vec<_>>());
}

#[test]
fn missing_manifest_with_data_files_is_not_taken_for_a_new_store() {
    let (_tmp, dir) = manifest_store();
    fs::remove_file(dir.join("MANIFEST")).unwrap();
    match Engine::open(&dir, options(SyncPolicy::Never)) {
        Err(Error::NotAStore { path, .. }) => assert_eq!(path, dir),
        other => panic!("expected NotAStore, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        files(&dir, "segments", "seg").len(),
        1,
        "the data files were left alone"
    );
}

#[test]
fn segment_listed_in_the_manifest_but_missing_fails_open_naming_it() {
    let (_tmp, dir) = manifest_store();
    let seg = only_file(&dir, "segments", "seg");
    fs::remove_file(&seg).unwrap();
    match Engine::open(&dir, options(SyncPolicy::Never)) {
        Err(Error::Io { path, .. }) => assert_eq!(path, seg),
        other => panic!(
            "expected an I/O error naming {}, got {:?}",
            seg.display(),
            other.map(|_| ())
        ),
    }
}

#[test]
fn second_open_of_an_open_store_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Engine::open(tmp.path(), options(SyncPolicy::Never)).unwrap();
    put(&first, [1]);
    match Engine::open(tmp.path(), options(SyncPolicy::Never)) {
        Err(Error::Locked { path }) => assert_eq!(path, tmp.path()),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    // The refused open disturbed nothing.
    assert_holds_exactly(&first, &[1]);
    drop(first);
    let second = Engine::open(tmp.path(), options(SyncPolicy::Never)).unwrap();
    assert_holds_exactly(&second, &[1]);
}

#[test]
fn orphan_segment_from_an_interrupted_flush_is_removed() {
    // A flush that wrote a segment but crashed before the manifest named it
    // leaves an orphan: recovery removes it and nothing of it is read.
    let (_tmp, dir) = manifest_store();
    let real = only_file(&dir, "segments", "seg");
    let orphan = dir.join("segments").join("900000.seg");
    // A valid segment holding versions never acknowledged.
    let other = seg_store(100..105, None);
    fs::copy(&other.seg, &orphan).unwrap();
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    assert_eq!(engine.recovery().removed_orphans, vec![orphan.clone()]);
    assert!(!orphan.exists());
    assert!(real.exists());
    assert_holds_exactly(&engine, &(0..10).collect::<Vec<_>>());
}
