//! The embedded store's typed reads (`strata::store::Store`) against a
//! brute-force model of DESIGN.md's "Read semantics", over random sequences
//! of batched writes (keys repeating, event times out of order, equal event
//! times with different created times, exact rewrites, nulls), entity
//! deletes (including the composite `user_merchant` view), flushes,
//! compactions and reopens.
//!
//! After every op, every key of the pools is read from every view:
//! - `get` as of several times (before, between and after the events, on and
//!   beside the ttl boundary) and with several `known_at`;
//! - `get` latest, with and without `known_at`;
//! - `history` over several ranges (including an empty and a reversed one).
//!
//! The ttl view's event times are seconds after the Unix epoch, so its online
//! `latest` read (ttl checked against the wall clock) is `OUTSIDE_MAX_AGE`
//! whenever a version exists, unless that version is dated in the future
//! (the generator's rare `i64::MAX - 1`), which is served; the model ages
//! versions against the clock read just before the call, which gives the
//! same answer for such times, and expects the version's timestamps set
//! even when it is outside the ttl, as `store::feature_row` does.
//!
//! Values are compared bit for bit (floats by their bits, so NaN payloads
//! and `-0.0` must survive too).
//!
//! `PROPTEST_CASES` overrides the default of 32 cases.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use strata::catalog::Catalog;
use strata::engine::{CompactionOptions, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::format::segment::SegmentOptions;
use strata::store::{
    FeatureRow, HistoryRow, ReadOptions, RowWrite, Status, Store, StoreOptions, now_micros,
};

const SEC: i64 = 1_000_000;
/// The ttl of `merchant_risk`.
const TTL: i64 = 10 * SEC;

const DEFS: &str = include_str!("../fixtures/store-model.toml");

/// User ids: the extremes of the int64 key encoding and an ordinary one.
const USERS: [i64; 3] = [i64::MIN, -1, 42];
/// Merchant keys: a shared merchant id in two countries, an id with a NUL
/// byte (escaped in the key encoding), and empty strings.
const MERCHANTS: [(&str, &str); 4] = [("a", "US"), ("a", "DE"), ("a\0", "US"), ("", "")];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum View {
    UserStats,
    MerchantRisk,
    UserMerchant,
}

const VIEWS: [View; 3] = [View::UserStats, View::MerchantRisk, View::UserMerchant];

impl View {
    fn name(self) -> &'static str {
        match self {
            View::UserStats => "user_stats",
            View::MerchantRisk => "merchant_risk",
            View::UserMerchant => "user_merchant",
        }
    }

    fn ttl(self) -> i64 {
        match self {
            View::MerchantRisk => TTL,
            _ => 0,
        }
    }

    fn width(self) -> usize {
        match self {
            View::UserStats => 7,
            View::MerchantRisk => 7,
            View::UserMerchant => 3,
        }
    }

    fn keys(self) -> Vec<Key> {
        match self {
            View::UserStats => (0..USERS.len()).map(Key::User).collect(),
            View::MerchantRisk => (0..MERCHANTS.len()).map(Key::Merchant).collect(),
            View::UserMerchant => (0..USERS.len())
                .flat_map(|u| (0..MERCHANTS.len()).map(move |m| Key::Pair(u, m)))
                .collect(),
        }
    }
}

/// A key of the pools, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    User(usize),
    Merchant(usize),
    Pair(usize, usize),
}

impl Key {
    fn values(self) -> Vec<KeyValue> {
        let merchant = |m: usize| {
            let (id, country) = MERCHANTS[m];
            [
                KeyValue::String(id.to_string()),
                KeyValue::String(country.to_string()),
            ]
        };
        match self {
            Key::User(u) => vec![KeyValue::Int64(USERS[u])],
            Key::Merchant(m) => merchant(m).to_vec(),
            Key::Pair(u, m) => {
                let mut k = vec![KeyValue::Int64(USERS[u])];
                k.extend(merchant(m));
                k
            }
        }
    }
}

#[path = "../common/mod.rs"]
mod common;
mod model;
use model::*;

// ---------------------------------------------------------------------------
// The store.

/// Small memtables and blocks: seals, several segments, versions of one key
/// spread over blocks; merges after every two flushes and never more than
/// three segments for long. With `background`, merges run in the engine's
/// thread at any time; without, only when an op asks, so that a failure
/// replays exactly.
fn options(background: bool) -> StoreOptions {
    StoreOptions {
        engine: Options {
            sync: SyncPolicy::Never,
            memtable_bytes: 2048,
            segment: SegmentOptions {
                block_size: 256,
                restart_interval: 4,
                ..SegmentOptions::default()
            },
            compaction: CompactionOptions {
                background,
                min_merge: 2,
                max_segments: 3,
                stall_segments: 6,
                ..CompactionOptions::default()
            },
            ..Options::default()
        },
    }
}

/// Opens a new store in `dir` and applies [`DEFS`]; returns the catalog.
fn create(dir: &Path, background: bool) -> (Store, Catalog) {
    let store = Store::open_with(dir, options(background)).unwrap();
    let cat = common::stores::apply(&store, DEFS);
    let ttls: Vec<_> = VIEWS
        .iter()
        .map(|v| cat.view(v.name()).unwrap().ttl_micros)
        .collect();
    assert_eq!(ttls, VIEWS.map(View::ttl), "the definitions' ttls");
    (store, cat)
}

fn reopen(store: &mut Option<Store>, dir: &Path, cat: &Catalog, background: bool) {
    drop(store.take());
    let s = Store::open_with(dir, options(background)).unwrap();
    assert_eq!(*s.catalog(), *cat, "the catalog survives a reopen");
    *store = Some(s);
}

fn write(store: &Store, view: View, rows: &[(Key, i64, i64, Vec<Value>)]) {
    let rows: Vec<RowWrite> = rows
        .iter()
        .map(|(k, e, c, values)| RowWrite {
            key: k.values(),
            event_ts: *e,
            created_ts: Some(*c),
            values: values.clone(),
        })
        .collect();
    store.write(view.name(), &rows).unwrap();
}

/// Writes one row to the store and the model.
fn put(store: &Store, model: &mut Model, view: View, row: (Key, i64, i64, Vec<Value>)) {
    write(store, view, std::slice::from_ref(&row));
    let (k, e, c, v) = row;
    model.put(view, k, e, c, v);
}

fn delete_user(store: &Store, u: usize) {
    store.delete("user", &[KeyValue::Int64(USERS[u])]).unwrap();
}

fn delete_merchant(store: &Store, m: usize) {
    store
        .delete("merchant", &Key::Merchant(m).values())
        .unwrap();
}

// ---------------------------------------------------------------------------
// The check.

/// `as_of` times: before every event, among them, on both sides of the ttl
/// boundary of events on whole seconds (t = 12 s keeps 2 s, drops 1 s;
/// t = 17 s + 1 µs drops 7 s), after every event, and the extremes.
const AS_OF: [i64; 10] = [
    i64::MIN,
    -SEC,
    0,
    5 * SEC,
    12 * SEC,
    17 * SEC + 1,
    23 * SEC,
    30 * SEC,
    1_000 * SEC,
    i64::MAX,
];
/// `known_at`: none, and on created times (inclusive bound).
const KNOWN: [Option<i64>; 3] = [None, Some(SEC), Some(2 * SEC)];
const RANGES: [(i64, i64); 6] = [
    (i64::MIN, i64::MAX),
    (0, 10 * SEC),
    (5 * SEC, 5 * SEC),
    (10 * SEC + 1, 20 * SEC - 1),
    (12 * SEC, 3 * SEC),
    (i64::MAX - 1, i64::MAX),
];

fn check_key(store: &Store, model: &Model, view: View, key: Key) -> Result<(), TestCaseError> {
    let name = view.name();
    let kv = key.values();
    let mut reads: Vec<ReadOptions> = KNOWN
        .iter()
        .chain(&[Some(i64::MIN), Some(i64::MAX - 1)])
        .map(|&known_at| ReadOptions {
            as_of: None,
            known_at,
        })
        .collect();
    for t in AS_OF {
        for known_at in KNOWN {
            reads.push(ReadOptions {
                as_of: Some(t),
                known_at,
            });
        }
    }
    for opts in reads {
        let now = now_micros();
        let got = store.get(name, &kv, opts).unwrap();
        let want = model.get(view, key, opts, now);
        prop_assert_eq!(
            row_bits(&got),
            row_bits(&want),
            "get {} {:?} {:?}",
            name,
            key,
            opts
        );
    }
    for (from, to) in RANGES {
        for known in [None, Some(SEC)] {
            let got = store.history(name, &kv, from, to, known).unwrap();
            let want = model.history(view, key, from, to, known);
            prop_assert_eq!(
                history_bits(&got),
                history_bits(&want),
                "history {} {:?} [{}, {}] known {:?}",
                name,
                key,
                from,
                to,
                known
            );
        }
    }
    Ok(())
}

fn check(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    for view in VIEWS {
        for key in view.keys() {
            check_key(store, model, view, key)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Random ops.

#[derive(Debug, Clone)]
enum Op {
    /// One `Store::write` batch: `(key, event_ts, created_ts, values)`.
    Write(View, Vec<(Key, i64, i64, Vec<Value>)>),
    /// Writes a new row for an existing `(view, key, event_ts, created_ts)`
    /// (picked among the model's versions), one row per view to choose from.
    Rewrite(prop::sample::Index, [Vec<Value>; 3]),
    DeleteUser(usize),
    DeleteMerchant(usize),
    Flush,
    /// `Engine::compact`: everything into one bottom segment.
    Compact,
    /// `Engine::compact_as_needed`: the size-tiered policy's merges, which
    /// may leave older segments (and so must keep tombstones).
    CompactAsNeeded,
    Reopen,
}

fn nullable<T: std::fmt::Debug + 'static>(
    s: impl Strategy<Value = T> + 'static,
    f: fn(T) -> Value,
) -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Null), 3 => s.prop_map(f)].boxed()
}

fn short_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![Just('a'), Just('\0'), Just('é'), Just('𝄞'), any::<char>()],
        0..5,
    )
    .prop_map(String::from_iter)
}

fn values(view: View) -> BoxedStrategy<Vec<Value>> {
    match view {
        View::UserStats => (
            nullable(any::<i64>(), Value::Int64),
            nullable(any::<f64>(), Value::Float64),
            nullable(short_string(), Value::String),
            nullable(any::<bool>(), Value::Bool),
            nullable(
                prop::collection::vec(any::<f32>(), 0..4),
                Value::ListFloat32,
            ),
            nullable(any::<i64>(), Value::Timestamp),
            nullable(prop::collection::vec(any::<u8>(), 0..6), Value::Bytes),
        )
            .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g])
            .boxed(),
        View::MerchantRisk => (
            nullable(any::<f32>(), Value::Float32),
            nullable(any::<bool>(), Value::Bool),
            nullable(short_string(), Value::String),
            nullable(
                prop::collection::vec(short_string(), 0..3),
                Value::ListString,
            ),
            nullable(prop::collection::vec(any::<i64>(), 0..3), Value::ListInt64),
            nullable(
                prop::collection::vec(any::<f64>(), 0..3),
                Value::ListFloat64,
            ),
            nullable(
                prop::collection::btree_map(short_string(), any::<i64>(), 0..3),
                // Entries in descending key order: order is kept, not sorted.
                |m| Value::MapStringInt64(m.into_iter().rev().collect()),
            ),
        )
            .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g])
            .boxed(),
        View::UserMerchant => (
            nullable(any::<i64>(), Value::Int64),
            nullable(any::<f64>(), Value::Float64),
            nullable(any::<i64>(), Value::Timestamp),
        )
            .prop_map(|(a, b, c)| vec![a, b, c])
            .boxed(),
    }
}

fn key(view: View) -> BoxedStrategy<Key> {
    match view {
        View::UserStats => (0..USERS.len()).prop_map(Key::User).boxed(),
        View::MerchantRisk => (0..MERCHANTS.len()).prop_map(Key::Merchant).boxed(),
        View::UserMerchant => (0..USERS.len(), 0..MERCHANTS.len())
            .prop_map(|(u, m)| Key::Pair(u, m))
            .boxed(),
    }
}

/// Rows of one view: event times mostly on whole seconds in 0..24 s (so the
/// ttl view has versions inside and outside the ttl of most `as_of` times),
/// created times mostly in 0..4 s (so equal event times with different
/// created times, and exact `(event, created)` repeats, are common); now and
/// then the extremes of the timestamp encoding (`i64::MAX` is reserved for
/// tombstones as an event time, not as a created time).
fn write_op(view: View) -> impl Strategy<Value = Op> {
    let event = prop_oneof![
        30 => (0i64..24).prop_map(|s| s * SEC),
        1 => Just(-1),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX - 1),
    ];
    let created = prop_oneof![
        20 => (0i64..4).prop_map(|s| s * SEC),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
    ];
    prop::collection::vec((key(view), event, created, values(view)), 1..6)
        .prop_map(move |rows| Op::Write(view, rows))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => write_op(View::UserStats),
        4 => write_op(View::MerchantRisk),
        4 => write_op(View::UserMerchant),
        2 => (
            any::<prop::sample::Index>(),
            values(View::UserStats),
            values(View::MerchantRisk),
            values(View::UserMerchant),
        )
            .prop_map(|(i, a, b, c)| Op::Rewrite(i, [a, b, c])),
        1 => (0..USERS.len()).prop_map(Op::DeleteUser),
        1 => (0..MERCHANTS.len()).prop_map(Op::DeleteMerchant),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::CompactAsNeeded),
        1 => Just(Op::Reopen),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn typed_reads_match_the_model(
        background in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (store, cat) = create(dir.path(), background);
        let mut store = Some(store);
        let mut model = Model::default();
        for op in ops {
            let s = store.as_ref().unwrap();
            match op {
                Op::Write(view, rows) => {
                    write(s, view, &rows);
                    for (k, e, c, v) in rows {
                        model.put(view, k, e, c, v);
                    }
                }
                Op::Rewrite(pick, rows) => {
                    let all = model.all_versions();
                    if !all.is_empty() {
                        let (view, k, e, c) = all[pick.index(all.len())];
                        let v = rows[VIEWS.iter().position(|&x| x == view).unwrap()].clone();
                        write(s, view, &[(k, e, c, v.clone())]);
                        model.put(view, k, e, c, v);
                    }
                }
                Op::DeleteUser(u) => {
                    delete_user(s, u);
                    model.delete_user(u);
                }
                Op::DeleteMerchant(m) => {
                    delete_merchant(s, m);
                    model.delete_merchant(m);
                }
                Op::Flush => s.flush().unwrap(),
                Op::Compact => {
                    s.engine().compact().unwrap();
                }
                Op::CompactAsNeeded => {
                    s.engine().compact_as_needed().unwrap();
                }
                Op::Reopen => reopen(&mut store, dir.path(), &cat, background),
            }
            check(store.as_ref().unwrap(), &model)?;
        }
    }
}

mod edge_cases;
