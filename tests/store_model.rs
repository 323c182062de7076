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

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use strata::catalog::{Catalog, defs};
use strata::engine::{CompactionOptions, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::format::segment::SegmentOptions;
use strata::store::{
    FeatureRow, HistoryRow, ReadOptions, RowWrite, Status, Store, StoreOptions, now_micros,
};

const SEC: i64 = 1_000_000;
/// The ttl of `merchant_risk`.
const TTL: i64 = 10 * SEC;

const DEFS: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[entities]]
name = "merchant"
join_keys = [
  { name = "merchant_id", type = "string" },
  { name = "country", type = "string" },
]

[[feature_views]]
name = "user_stats"
entities = ["user"]
ttl = 0
features = [
  { name = "txn_count", type = "int64" },
  { name = "amount_avg", type = "float64" },
  { name = "segment", type = "string" },
  { name = "is_active", type = "bool" },
  { name = "embedding", type = "list<float32>" },
  { name = "last_login", type = "timestamp" },
  { name = "avatar", type = "bytes" },
]

[[feature_views]]
name = "merchant_risk"
entities = ["merchant"]
ttl = "10s"
features = [
  { name = "risk_score", type = "float32" },
  { name = "flagged", type = "bool" },
  { name = "reason", type = "string" },
]

[[feature_views]]
name = "user_merchant"
entities = ["user", "merchant"]
features = [
  { name = "pair_txn_count", type = "int64" },
  { name = "last_amount", type = "float64" },
  { name = "last_seen", type = "timestamp" },
]
"#;

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
            View::MerchantRisk => 3,
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

// ---------------------------------------------------------------------------
// The model.

type Versions = BTreeMap<(i64, i64), Vec<Value>>;

#[derive(Debug, Default)]
struct Model {
    versions: BTreeMap<(View, Key), Versions>,
}

impl Model {
    fn put(&mut self, view: View, key: Key, e: i64, c: i64, values: Vec<Value>) {
        self.versions
            .entry((view, key))
            .or_default()
            .insert((e, c), values);
    }

    fn delete_user(&mut self, u: usize) {
        self.versions.retain(|(_, k), _| match *k {
            Key::User(x) | Key::Pair(x, _) => x != u,
            Key::Merchant(_) => true,
        });
    }

    fn delete_merchant(&mut self, m: usize) {
        self.versions.retain(|(_, k), _| match *k {
            Key::Merchant(x) | Key::Pair(_, x) => x != m,
            Key::User(_) => true,
        });
    }

    /// The greatest version with `event_ts <= t` and `created_ts <= known`.
    fn find(
        &self,
        view: View,
        key: Key,
        t: i64,
        known: Option<i64>,
    ) -> Option<(i64, i64, &[Value])> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key))?
            .iter()
            .rev()
            .find(|((e, c), _)| *e <= t && *c <= k)
            .map(|((e, c), v)| (*e, *c, v.as_slice()))
    }

    /// What `get` returns: `as_of = None` is `latest`, aged against `now`.
    fn get(&self, view: View, key: Key, opts: ReadOptions, now: i64) -> FeatureRow {
        let n = view.width();
        let t = opts.as_of.unwrap_or(i64::MAX);
        let at = opts.as_of.unwrap_or(now);
        match self.find(view, key, t, opts.known_at) {
            None => FeatureRow {
                event_ts: None,
                created_ts: None,
                values: vec![Value::Null; n],
                statuses: vec![Status::NotFound; n],
            },
            // Exact arithmetic: `t - ttl` may not fit an i64.
            Some((e, c, _))
                if view.ttl() > 0 && i128::from(e) < i128::from(at) - i128::from(view.ttl()) =>
            {
                FeatureRow {
                    event_ts: Some(e),
                    created_ts: Some(c),
                    values: vec![Value::Null; n],
                    statuses: vec![Status::OutsideMaxAge; n],
                }
            }
            Some((e, c, values)) => FeatureRow {
                event_ts: Some(e),
                created_ts: Some(c),
                values: values.to_vec(),
                statuses: values
                    .iter()
                    .map(|v| {
                        if v.is_null() {
                            Status::NullValue
                        } else {
                            Status::Present
                        }
                    })
                    .collect(),
            },
        }
    }

    fn history(
        &self,
        view: View,
        key: Key,
        from: i64,
        to: i64,
        known: Option<i64>,
    ) -> Vec<HistoryRow> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key))
            .into_iter()
            .flat_map(|m| m.iter().rev())
            .filter(|((e, c), _)| from <= *e && *e <= to && *c <= k)
            .map(|((e, c), v)| HistoryRow {
                event_ts: *e,
                created_ts: *c,
                values: v.clone(),
            })
            .collect()
    }

    fn all_versions(&self) -> Vec<(View, Key, i64, i64)> {
        self.versions
            .iter()
            .flat_map(|(&(view, key), m)| m.keys().map(move |&(e, c)| (view, key, e, c)))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Bit-exact comparison of values.

#[derive(Debug, PartialEq)]
enum Bits {
    Null,
    Int64(i64),
    Float64(u64),
    Float32(u32),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
    Timestamp(i64),
    ListFloat32(Vec<u32>),
}

fn bits(v: &Value) -> Bits {
    match v {
        Value::Null => Bits::Null,
        Value::Int64(x) => Bits::Int64(*x),
        Value::Float64(x) => Bits::Float64(x.to_bits()),
        Value::Float32(x) => Bits::Float32(x.to_bits()),
        Value::Bool(x) => Bits::Bool(*x),
        Value::String(s) => Bits::String(s.clone()),
        Value::Bytes(b) => Bits::Bytes(b.clone()),
        Value::Timestamp(x) => Bits::Timestamp(*x),
        Value::ListFloat32(l) => Bits::ListFloat32(l.iter().map(|x| x.to_bits()).collect()),
    }
}

type RowBits = (Option<i64>, Option<i64>, Vec<Bits>, Vec<Status>);

fn row_bits(r: &FeatureRow) -> RowBits {
    (
        r.event_ts,
        r.created_ts,
        r.values.iter().map(bits).collect(),
        r.statuses.clone(),
    )
}

fn history_bits(h: &[HistoryRow]) -> Vec<(i64, i64, Vec<Bits>)> {
    h.iter()
        .map(|r| {
            (
                r.event_ts,
                r.created_ts,
                r.values.iter().map(bits).collect(),
            )
        })
        .collect()
}

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
    let parsed = defs::parse(DEFS).unwrap();
    let cat = defs::apply(&store.catalog(), &parsed).unwrap();
    store.set_catalog(cat.clone()).unwrap();
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
        )
            .prop_map(|(a, b, c)| vec![a, b, c])
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

// ---------------------------------------------------------------------------
// Deterministic edge cases.

fn stats_row(n: i64) -> Vec<Value> {
    vec![
        Value::Int64(n),
        Value::Float64(n as f64 / 2.0),
        Value::String(format!("s{n}")),
        Value::Bool(n % 2 == 0),
        Value::ListFloat32(vec![n as f32, -0.0]),
        Value::Timestamp(n * SEC),
        Value::Bytes(vec![n as u8, 0]),
    ]
}

fn pair_row(n: i64) -> Vec<Value> {
    vec![Value::Int64(n), Value::Null, Value::Timestamp(n)]
}

fn risk_row(n: i64) -> Vec<Value> {
    vec![
        Value::Float32(n as f32),
        Value::Null,
        Value::String(format!("r{n}")),
    ]
}

fn latest() -> ReadOptions {
    ReadOptions::default()
}

fn as_of(t: i64) -> ReadOptions {
    ReadOptions {
        as_of: Some(t),
        known_at: None,
    }
}

/// Checks every key of every view against the model, panicking on a
/// difference (for the deterministic tests).
fn assert_matches(store: &Store, model: &Model) {
    if let Err(e) = check(store, model) {
        panic!("{e}");
    }
}

#[test]
fn a_late_write_with_an_older_event_never_hides_the_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = create(dir.path(), false);
    let mut model = Model::default();
    let k = Key::User(1);
    for (e, c, n) in [(10 * SEC, SEC, 1), (5 * SEC, 3 * SEC, 2)] {
        write(&store, View::UserStats, &[(k, e, c, stats_row(n))]);
        model.put(View::UserStats, k, e, c, stats_row(n));
    }
    let kv = k.values();
    let got = store.get("user_stats", &kv, latest()).unwrap();
    assert_eq!((got.event_ts, got.created_ts), (Some(10 * SEC), Some(SEC)));
    assert_eq!(got.values, stats_row(1));
    assert_eq!(got.statuses, vec![Status::Present; 7]);
    let got = store.get("user_stats", &kv, as_of(7 * SEC)).unwrap();
    assert_eq!(got.values, stats_row(2));
    assert_matches(&store, &model);
    // The same from segments, and with the late write in a newer segment
    // than the version it must not hide.
    store.flush().unwrap();
    write(
        &store,
        View::UserStats,
        &[(k, 2 * SEC, 4 * SEC, stats_row(3))],
    );
    model.put(View::UserStats, k, 2 * SEC, 4 * SEC, stats_row(3));
    store.flush().unwrap();
    assert_eq!(
        store.get("user_stats", &kv, latest()).unwrap().values,
        stats_row(1)
    );
    assert_matches(&store, &model);
    store.engine().compact().unwrap();
    assert_matches(&store, &model);
}

#[test]
fn an_exact_rewrite_replaces_the_version_across_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cat) = create(dir.path(), false);
    let mut store = Some(store);
    let mut model = Model::default();
    let k = Key::Merchant(2);
    for n in 1..4 {
        let s = store.as_ref().unwrap();
        write(s, View::MerchantRisk, &[(k, 3 * SEC, SEC, risk_row(n))]);
        model.put(View::MerchantRisk, k, 3 * SEC, SEC, risk_row(n));
        let got = s.get("merchant_risk", &k.values(), as_of(4 * SEC)).unwrap();
        assert_eq!(got.values, risk_row(n));
        assert_eq!(
            got.statuses,
            [Status::Present, Status::NullValue, Status::Present]
        );
        assert_eq!(
            s.history("merchant_risk", &k.values(), i64::MIN, i64::MAX, None)
                .unwrap()
                .len(),
            1
        );
        assert_matches(s, &model);
        s.flush().unwrap();
    }
    store.as_ref().unwrap().engine().compact().unwrap();
    assert_matches(store.as_ref().unwrap(), &model);
    reopen(&mut store, dir.path(), &cat, false);
    assert_matches(store.as_ref().unwrap(), &model);
}

#[test]
fn ttl_boundary_and_latest_of_an_old_version_are_outside_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = create(dir.path(), false);
    let k = Key::Merchant(0);
    write(&store, View::MerchantRisk, &[(k, 5 * SEC, 0, risk_row(1))]);
    let kv = k.values();
    // event_ts == t - ttl is still served; one µs later it is not.
    let on = store
        .get("merchant_risk", &kv, as_of(5 * SEC + TTL))
        .unwrap();
    assert_eq!(on.values, risk_row(1));
    let past = store
        .get("merchant_risk", &kv, as_of(5 * SEC + TTL + 1))
        .unwrap();
    assert_eq!(past.statuses, vec![Status::OutsideMaxAge; 3]);
    assert_eq!(past.values, vec![Value::Null; 3]);
    assert_eq!((past.event_ts, past.created_ts), (Some(5 * SEC), Some(0)));
    // `latest` ages against the wall clock: 1970 is long past.
    let l = store.get("merchant_risk", &kv, latest()).unwrap();
    assert_eq!(l.statuses, vec![Status::OutsideMaxAge; 3]);
    assert_eq!(l.event_ts, Some(5 * SEC));
    // ... and a recent version is served.
    let now = now_micros();
    write(&store, View::MerchantRisk, &[(k, now, now, risk_row(2))]);
    let l = store.get("merchant_risk", &kv, latest()).unwrap();
    assert_eq!(l.values, risk_row(2));
    // Before every event: nothing.
    let before = store.get("merchant_risk", &kv, as_of(4 * SEC)).unwrap();
    assert_eq!(before.statuses, vec![Status::NotFound; 3]);
    assert_eq!((before.event_ts, before.created_ts), (None, None));
}

#[test]
fn delete_then_write_again_across_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cat) = create(dir.path(), false);
    let mut store = Some(store);
    let mut model = Model::default();
    {
        let s = store.as_ref().unwrap();
        for u in 0..USERS.len() {
            let row = (Key::User(u), 10 * SEC, SEC, stats_row(1));
            put(s, &mut model, View::UserStats, row);
            for m in 0..MERCHANTS.len() {
                let row = (Key::Pair(u, m), 10 * SEC, SEC, pair_row(1));
                put(s, &mut model, View::UserMerchant, row);
            }
        }
        for m in 0..MERCHANTS.len() {
            let row = (Key::Merchant(m), 10 * SEC, SEC, risk_row(1));
            put(s, &mut model, View::MerchantRisk, row);
        }
        s.flush().unwrap();
        // Some of the doomed versions are still in the memtable.
        let row = (Key::Pair(1, 2), 12 * SEC, SEC, pair_row(2));
        put(s, &mut model, View::UserMerchant, row);
    }
    let s = store.as_ref().unwrap();
    delete_user(s, 1);
    model.delete_user(1);
    delete_merchant(s, 2);
    model.delete_merchant(2);
    assert_matches(s, &model);
    for view in VIEWS {
        for key in view.keys() {
            let gone = match key {
                Key::User(u) => u == 1,
                Key::Merchant(m) => m == 2,
                Key::Pair(u, m) => u == 1 || m == 2,
            };
            let h = s
                .history(view.name(), &key.values(), i64::MIN, i64::MAX, None)
                .unwrap();
            assert_eq!(h.is_empty(), gone, "{view:?} {key:?}");
        }
    }
    s.flush().unwrap();
    assert_matches(s, &model);
    // Write again, with an older event time than the deleted versions.
    let again = [
        (View::UserStats, Key::User(1)),
        (View::UserMerchant, Key::Pair(1, 0)),
        (View::UserMerchant, Key::Pair(0, 2)),
        (View::MerchantRisk, Key::Merchant(2)),
    ];
    for (view, k) in again {
        let v = match view {
            View::UserStats => stats_row(7),
            View::MerchantRisk => risk_row(7),
            View::UserMerchant => pair_row(7),
        };
        put(s, &mut model, view, (k, 3 * SEC, 0, v));
    }
    assert_matches(s, &model);
    let got = s
        .get("user_merchant", &Key::Pair(1, 0).values(), latest())
        .unwrap();
    assert_eq!((got.event_ts, got.values), (Some(3 * SEC), pair_row(7)));
    s.flush().unwrap();
    assert_matches(s, &model);
    s.engine().compact().unwrap();
    assert_matches(s, &model);
    reopen(&mut store, dir.path(), &cat, false);
    assert_matches(store.as_ref().unwrap(), &model);
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cat) = create(dir.path(), false);
    let mut store = Some(store);
    let mut model = Model::default();
    let s = store.as_ref().unwrap();
    for round in 0..3i64 {
        for u in 0..USERS.len() {
            let k = Key::User(u);
            let (e, c) = ((20 - round) * SEC, round * SEC);
            write(s, View::UserStats, &[(k, e, c, stats_row(round))]);
            model.put(View::UserStats, k, e, c, stats_row(round));
            for m in 0..MERCHANTS.len() {
                let k = Key::Pair(u, m);
                write(s, View::UserMerchant, &[(k, e, c, pair_row(round))]);
                model.put(View::UserMerchant, k, e, c, pair_row(round));
            }
        }
        for m in 0..MERCHANTS.len() {
            let k = Key::Merchant(m);
            let rows: Vec<_> = (0..3)
                .map(|i| (k, (round + i) * SEC, round * SEC, risk_row(round + i)))
                .collect();
            write(s, View::MerchantRisk, &rows);
            for (k, e, c, v) in rows {
                model.put(View::MerchantRisk, k, e, c, v);
            }
        }
        // The first two rounds go to segments, the last stays in the WAL.
        if round < 2 {
            s.flush().unwrap();
        }
    }
    assert_matches(s, &model);
    reopen(&mut store, dir.path(), &cat, false);
    assert_matches(store.as_ref().unwrap(), &model);
    reopen(&mut store, dir.path(), &cat, false);
    assert_matches(store.as_ref().unwrap(), &model);
}

/// A store whose only view keeps one version per key (`max_versions = 1`).
const CAPPED: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[feature_views]]
name = "capped"
entities = ["user"]
max_versions = 1
features = [{ name = "n", type = "int64" }]
"#;

/// Writes three versions of one key to `capped`, flushes, optionally
/// reopens, compacts fully, and returns the event times `history` lists.
fn capped_history_after_compaction(reopen_first: bool) -> Vec<i64> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_with(dir.path(), options(false)).unwrap();
    let parsed = defs::parse(CAPPED).unwrap();
    let cat = defs::apply(&store.catalog(), &parsed).unwrap();
    store.set_catalog(cat).unwrap();
    let key = [KeyValue::Int64(1)];
    let rows: Vec<_> = (1..=3)
        .map(|i| RowWrite {
            key: key.to_vec(),
            event_ts: i * SEC,
            created_ts: Some(0),
            values: vec![Value::Int64(i)],
        })
        .collect();
    store.write("capped", &rows).unwrap();
    store.flush().unwrap();
    if reopen_first {
        drop(store);
        store = Store::open_with(dir.path(), options(false)).unwrap();
    }
    store.engine().compact().unwrap();
    store
        .history("capped", &key, i64::MIN, i64::MAX, None)
        .unwrap()
        .iter()
        .map(|r| r.event_ts)
        .collect()
}

#[test]
fn max_versions_prunes_at_compaction() {
    assert_eq!(capped_history_after_compaction(false), vec![3 * SEC]);
}

/// Regression: `Store::open_with` once loaded the catalog without handing
/// the views' pruning policies to the engine, so compaction after a reopen
/// kept every version.
#[test]
fn max_versions_prunes_at_compaction_after_a_reopen() {
    assert_eq!(capped_history_after_compaction(true), vec![3 * SEC]);
}
