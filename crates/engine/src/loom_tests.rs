//! loom models of the engine's concurrent kernels. Run with
//! `RUSTFLAGS="--cfg strata_loom" cargo test --release --lib loom`.
//!
//! - the group-commit hand-off ([`super::group_commit`]);
//! - memtable seal and flush publishing through the read-set cell
//!   ([`crate::sync::SwapCell`]): an acknowledged write is in some source of
//!   every read set a later reader can load;
//! - the swap of the segment set with readers still holding the old set, and
//!   the removal of replaced files ([`super::retire`]) only after them.

use loom::thread;

use crate::sync::{Arc, AtomicBool, Mutex, Ordering, SwapCell};

use super::group_commit::GroupCommit;
use super::retire::RemoveWhenUnused;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

#[test]
fn loom_group_commit_commits_each_item_once_in_order() {
    model(|| {
        let gc = Arc::new(GroupCommit::<u64>::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let committing = Arc::new(AtomicBool::new(false));
        let writer = |id: u64| {
            let (gc, log, committing) = (gc.clone(), log.clone(), committing.clone());
            move || {
                gc.submit(id, |group: &[(u64, u64)]| {
                    assert!(
                        !committing.swap(true, Ordering::SeqCst),
                        "two leaders at once"
                    );
                    log.lock().extend(group.iter().map(|(_, item)| *item));
                    committing.store(false, Ordering::SeqCst);
                    Ok::<(), String>(())
                })
                .unwrap();
                // Returned: the item is committed.
                assert!(log.lock().contains(&id));
            }
        };
        let a = thread::spawn(writer(1));
        let b = thread::spawn(writer(2));
        writer(3)();
        a.join().unwrap();
        b.join().unwrap();
        let mut got = log.lock().clone();
        assert_eq!(got.len(), 3, "each item committed exactly once: {got:?}");
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3]);
    });
}

#[test]
fn loom_group_commit_failure_fails_the_group_and_everything_after() {
    model(|| {
        let gc = Arc::new(GroupCommit::<u64>::default());
        let commits = Arc::new(Mutex::new(0u32));
        let writer = |id: u64| {
            let (gc, commits) = (gc.clone(), commits.clone());
            move || {
                gc.submit(id, |_: &[(u64, u64)]| {
                    *commits.lock() += 1;
                    Err::<(), _>("disk full")
                })
            }
        };
        let a = thread::spawn(writer(1));
        let r = writer(2)();
        let why = |r: Result<(), super::group_commit::Failed>| r.map_err(|f| f.why);
        assert_eq!(why(r), Err("disk full".to_string()));
        assert_eq!(why(a.join().unwrap()), Err("disk full".to_string()));
        assert_eq!(*commits.lock(), 1, "no commit is attempted after a failure");
    });
}

/// What readers see: memtables (mutable) and flushed segments (immutable).
struct Sources {
    mem: Arc<Mutex<Vec<u64>>>,
    imm: Vec<Arc<Mutex<Vec<u64>>>>,
    segments: Vec<Arc<Vec<u64>>>,
}

impl Sources {
    fn contains(&self, v: u64) -> bool {
        self.mem.lock().contains(&v)
            || self.imm.iter().any(|m| m.lock().contains(&v))
            || self.segments.iter().any(|s| s.contains(&v))
    }
}

#[test]
fn loom_seal_and_flush_never_hide_an_acknowledged_write() {
    model(|| {
        let mem = Arc::new(Mutex::new(Vec::new()));
        let current = Arc::new(SwapCell::new(Sources {
            mem,
            imm: vec![],
            segments: vec![],
        }));
        let acked = Arc::new(AtomicBool::new(false));
        let reader = {
            let (current, acked) = (current.clone(), acked.clone());
            thread::spawn(move || {
                if acked.load(Ordering::Acquire) {
                    assert!(
                        current.load().contains(7),
                        "an acknowledged write is missing from the read set"
                    );
                }
            })
        };
        // The writer: apply, acknowledge, then seal and flush as the engine does.
        let cur = current.load_full();
        cur.mem.lock().push(7);
        acked.store(true, Ordering::Release);
        let sealed = cur.mem.clone();
        current.store(Arc::new(Sources {
            mem: Arc::new(Mutex::new(Vec::new())),
            imm: vec![sealed.clone()],
            segments: vec![],
        }));
        let segment = Arc::new(sealed.lock().clone());
        let cur = current.load_full();
        current.store(Arc::new(Sources {
            mem: cur.mem.clone(),
            imm: vec![],
            segments: vec![segment],
        }));
        reader.join().unwrap();
        assert!(current.load().contains(7));
    });
}

struct Segment {
    data: u64,
    retire: RemoveWhenUnused<Box<dyn FnMut() + Send + Sync>>,
}

#[test]
fn loom_replaced_segments_are_removed_only_after_their_last_reader() {
    model(|| {
        let removed = Arc::new(AtomicBool::new(false));
        let on_remove = {
            let removed = removed.clone();
            Box::new(move || removed.store(true, Ordering::SeqCst))
                as Box<dyn FnMut() + Send + Sync>
        };
        let old = Arc::new(Segment {
            data: 1,
            retire: RemoveWhenUnused::new(on_remove),
        });
        let current = Arc::new(SwapCell::new(vec![old]));
        let reader = {
            let (current, removed) = (current.clone(), removed.clone());
            thread::spawn(move || {
                let set = current.load_full();
                for s in set.iter() {
                    // While this reader holds the old segment, its file exists.
                    if s.data == 1 {
                        assert!(
                            !removed.load(Ordering::SeqCst),
                            "a file was removed under a reader"
                        );
                    }
                }
            })
        };
        // A compaction: publish the merged segment, then retire the input.
        let inputs = current.load_full();
        let never = Box::new(|| ()) as Box<dyn FnMut() + Send + Sync>;
        current.store(Arc::new(vec![Arc::new(Segment {
            data: 2,
            retire: RemoveWhenUnused::new(never),
        })]));
        for s in inputs.iter() {
            s.retire.mark_obsolete();
        }
        drop(inputs);
        reader.join().unwrap();
        assert!(
            removed.load(Ordering::SeqCst),
            "the replaced file is removed once nobody holds it"
        );
    });
}
