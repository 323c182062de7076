//! Store-level workloads: catalog apply with aggregation tiles, and the
//! token file.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;
use strata::catalog::defs;
use strata::engine::{IoMode, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::server::auth::{self, Grant};
use strata::store::{ReadOptions, RowWrite, Store, StoreOptions};

use super::{Points, report, scale};

const EVENTS: &str = include_str!("../fixtures/crash-events.toml");

const TILES: &str = include_str!("../fixtures/crash-tiles.toml");

const KEYS: i64 = 3;

/// Catalog versions applied (0 = none) and event batches written.
#[derive(Default, Clone)]
struct Model {
    catalogs_acked: usize,
    catalogs_submitted: usize,
    events_submitted: usize,
    events_acked: BTreeSet<usize>,
}

fn options(io: IoMode) -> StoreOptions {
    StoreOptions {
        engine: Options {
            sync: SyncPolicy::Always,
            memtable_bytes: 4 << 10,
            io,
            ..Options::default()
        },
    }
}

fn apply(store: &Store, text: &str) {
    let d = defs::parse(text).unwrap();
    store
        .set_catalog(defs::apply(&store.catalog(), &d).unwrap())
        .unwrap();
}

/// Batch `b` writes event `ts = b` with `n = b` for every key.
fn events(b: usize) -> Vec<RowWrite> {
    (0..KEYS)
        .map(|k| RowWrite {
            key: vec![KeyValue::Int64(k)],
            event_ts: b as i64,
            created_ts: Some(1),
            values: vec![Value::Int64(b as i64)],
        })
        .collect()
}

#[test]
fn crash_at_every_sync_point_of_catalog_apply_and_tiles() {
    let model = Arc::new(Mutex::new(Model::default()));
    let m = model.clone();
    let points = Points::new(move || m.lock().clone());
    let write = |store: &Store, b: usize| {
        model.lock().events_submitted = b;
        store.write("events", &events(b)).unwrap();
        model.lock().events_acked.insert(b);
    };
    let catalog = |store: &Store, text: &str, n: usize| {
        model.lock().catalogs_submitted = n;
        apply(store, text);
        model.lock().catalogs_acked = n;
    };
    {
        let store =
            Store::open_with(&points.dir, options(IoMode::Crash(points.crash.clone()))).unwrap();
        catalog(&store, EVENTS, 1);
        let per = 3 * scale();
        for b in 1..=per {
            write(&store, b);
        }
        catalog(&store, &format!("{EVENTS}{TILES}"), 2);
        for b in per + 1..=2 * per {
            write(&store, b);
        }
        store.flush().unwrap();
        write(&store, 2 * per + 1);
    }
    let (images, n, _keep) = points.finish();
    for img in &images {
        let at = format!("sync point {} ({})", img.point, img.dir.display());
        let s = &img.state;
        let store = Store::open_with(&img.dir, options(IoMode::Syscalls))
            .unwrap_or_else(|e| panic!("{at}: the store does not open: {e}"));
        let cat = store.catalog();
        let have = match (cat.view("events").is_some(), cat.view("stats").is_some()) {
            (false, false) => 0,
            (true, false) => 1,
            (true, true) => 2,
            other => panic!("{at}: a catalog never applied: {other:?}"),
        };
        assert!(
            (s.catalogs_acked..=s.catalogs_submitted).contains(&have),
            "{at}: catalog version {have}, acknowledged {}",
            s.catalogs_acked
        );
        if have == 0 {
            assert!(s.events_acked.is_empty(), "{at}: events without their view");
            continue;
        }
        check_events_and_tiles(&store, s, have == 2, &at);
    }
    report("catalog apply + aggregation tiles", n, images.len());
}

fn check_events_and_tiles(store: &Store, s: &Model, tiles: bool, at: &str) {
    let mut seen = BTreeSet::new();
    let mut per_key = Vec::new();
    for k in 0..KEYS {
        let key = [KeyValue::Int64(k)];
        let hist = store
            .history("events", &key, i64::MIN, i64::MAX - 1, None)
            .unwrap();
        let ts: BTreeSet<usize> = hist.iter().map(|h| h.event_ts as usize).collect();
        per_key.push(hist);
        if k == 0 {
            seen = ts;
        } else {
            assert_eq!(ts, seen, "{at}: a batch is present for some keys only");
        }
    }
    for b in &s.events_acked {
        assert!(seen.contains(b), "{at}: acknowledged event batch {b} lost");
    }
    if !tiles {
        return;
    }
    for (k, hist) in per_key.iter().enumerate() {
        for t in [1i64, 3, 5, 8, 13, 40] {
            let inside: Vec<i64> = hist
                .iter()
                .filter(|e| e.event_ts > t - 100 && e.event_ts <= t)
                .map(|e| e.event_ts)
                .collect();
            if hist.iter().all(|e| e.event_ts > t) {
                continue;
            }
            let opts = ReadOptions {
                as_of: Some(t),
                known_at: None,
            };
            let row = store
                .get("stats", &[KeyValue::Int64(k as i64)], opts)
                .unwrap();
            let count = Value::Int64(inside.len() as i64);
            assert_eq!(row.values[0], count, "{at}: key {k} count at {t}");
            // The sum of nothing is null.
            let sum = inside.iter().sum::<i64>() as f64;
            let want = (!inside.is_empty()).then_some(Value::Float64(sum));
            let want = want.unwrap_or(Value::Null);
            assert_eq!(row.values[1], want, "{at}: key {k} sum at {t}");
        }
    }
}

#[test]
fn crash_at_every_sync_point_of_token_create_and_revoke() {
    // Token ids after each operation, in order; the model's state is how
    // many operations were acknowledged and how many started.
    let states: Arc<Mutex<Vec<BTreeSet<String>>>> = Arc::new(Mutex::new(vec![BTreeSet::new()]));
    let progress = Arc::new(Mutex::new((0usize, 0usize)));
    let p = progress.clone();
    let points = Points::new(move || *p.lock());
    std::fs::create_dir_all(&points.dir).unwrap();
    let _routed = strata::engine::install(&points.dir, points.crash.fs());
    let grants = [Grant::parse("read:*").unwrap()];
    let mut ids = BTreeSet::new();
    let mut created = Vec::new();
    for i in 0..(3 * scale()) {
        let op = |f: &mut dyn FnMut()| {
            progress.lock().1 += 1;
            f();
            progress.lock().0 += 1;
        };
        op(&mut || {
            let (entry, _secret) = auth::create(&points.dir, &format!("t{i}"), &grants).unwrap();
            ids.insert(entry.id.clone());
            created.push(entry.id);
        });
        states.lock().push(ids.clone());
        if i % 2 == 1 {
            let victim = created[i - 1].clone();
            op(&mut || assert!(auth::revoke(&points.dir, &victim).unwrap()));
            ids.remove(&victim);
            states.lock().push(ids.clone());
        }
    }
    drop(_routed);
    let (images, n, _keep) = points.finish();
    let states = states.lock();
    for img in &images {
        let at = format!("sync point {} ({})", img.point, img.dir.display());
        let (acked, started) = img.state;
        let have: BTreeSet<String> = auth::list(&img.dir)
            .unwrap_or_else(|e| panic!("{at}: the token file does not load: {e}"))
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert!(
            (acked..=started).any(|i| states[i] == have),
            "{at}: tokens {have:?} are not the state after {acked}..={started} operations"
        );
    }
    report("token create/revoke", n, images.len());
}
