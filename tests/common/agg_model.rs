//! The harness of the brute-force aggregation tests (`aggregation_model`,
//! `aggregation_functions`, `aggregation_filters`, `session_model`,
//! `derived_model`): random operations on a store whose clock the test
//! drives, the model of the stored events they leave, and the reads
//! (lookups and training exports) each test checks against its own
//! brute-force computation over that model.
//!
//! A test supplies what differs: its definitions, its event values, and
//! what a feature should read over the model's events. The reads and
//! their comparisons are [`super::agg_checks`]'s.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use proptest::prelude::*;
use strata::engine::{Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::store::{RowWrite, Store, StoreOptions};

use super::agg_checks::{Read, View};
use super::stores;

/// The `user` entity and the `events` view of three columns (`amount`
/// float64, `qty` int64, `tag` string) that the aggregation models
/// aggregate; a test appends its aggregation view.
pub const USER_EVENTS: &str = include_str!("../fixtures/user-events.toml");

/// [`USER_EVENTS`] and the aggregation view `name` over `events`, its
/// events grouped by `grouping` (a tile or a session gap), under the
/// policy `late`, computing `aggregations` (the TOML lines of the list).
pub fn aggregation_view(name: &str, grouping: &str, late: Late, aggregations: &str) -> String {
    let (lateness, policy) = (late.lateness, late.policy());
    format!(
        "{USER_EVENTS}
[[feature_views]]
name = \"{name}\"
source = \"events\"
{grouping}
allowed_lateness = \"{lateness}us\"
late_events = \"{policy}\"
aggregations = [
{aggregations}]
"
    )
}

/// A stored event's identity: `(key, event_ts, created_ts)`.
pub type Id = (i64, i64, i64);

/// The values of one event, in the order of the `events` view's columns.
pub trait EventValues: Clone + Debug {
    fn to_values(&self) -> Vec<Value>;
}

impl EventValues for [Value; 3] {
    fn to_values(&self) -> Vec<Value> {
        self.to_vec()
    }
}

#[derive(Debug, Clone)]
pub struct Ev<V> {
    pub key: i64,
    pub ts: i64,
    /// `None`: the store's clock.
    pub created: Option<i64>,
    pub values: V,
}

#[derive(Debug, Clone)]
pub enum Op<V> {
    Write(Vec<Ev<V>>),
    /// Writes the stored event number `.0` (mod their count) again with
    /// new values: the same version, replaced.
    Rewrite(usize, V),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<i64>),
}

/// `[amount, qty, tag]`, each null one time in five: amounts in halves
/// of `amounts`, quantities in `qtys`, tags `t0` to `t5`.
pub fn values3(amounts: Range<i32>, qtys: Range<i64>) -> impl Strategy<Value = [Value; 3]> {
    (
        prop::option::weighted(0.8, amounts),
        prop::option::weighted(0.8, qtys),
        prop::option::weighted(0.8, 0u8..6),
    )
        .prop_map(|(a, q, t)| {
            [
                a.map_or(Value::Null, |a| Value::Float64(f64::from(a) * 0.5)),
                q.map_or(Value::Null, Value::Int64),
                t.map_or(Value::Null, |t| Value::String(format!("t{t}"))),
            ]
        })
}

/// An event of a key in `keys` at a time of `ts`, created at the store's
/// clock or (three times in ten) at 100 to 103 µs.
pub fn event<V: Debug>(
    keys: Range<i64>,
    ts: impl Strategy<Value = i64>,
    values: impl Strategy<Value = V>,
) -> impl Strategy<Value = Ev<V>> {
    (keys, ts, prop::option::weighted(0.3, 0i64..4), values).prop_map(
        |(key, ts, created, values)| Ev {
            key,
            ts,
            created: created.map(|c| 100 + c),
            values,
        },
    )
}

/// The operations: `writes` (with weight `write_weight`), rewrites of
/// `values`, deletes of a key in `keys`, flushes, reopens, and checks at
/// one to three times in `checks`.
pub fn op<V: EventValues + 'static>(
    write_weight: u32,
    writes: impl Strategy<Value = Op<V>> + 'static,
    values: impl Strategy<Value = V> + 'static,
    keys: Range<i64>,
    checks: Range<i64>,
) -> impl Strategy<Value = Op<V>> {
    prop_oneof![
        write_weight => writes,
        2 => (any::<usize>(), values).prop_map(|(i, v)| Op::Rewrite(i, v)),
        1 => keys.prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec(checks, 1..4).prop_map(Op::Check),
    ]
}

/// The brute-force model: the stored events by identity, and the watermark.
pub struct Model<V> {
    pub events: BTreeMap<Id, V>,
    pub watermark: Option<i64>,
}

impl<V> Default for Model<V> {
    fn default() -> Self {
        Model {
            events: BTreeMap::new(),
            watermark: None,
        }
    }
}

impl<V> Model<V> {
    /// The events of `key` with `event_ts <= at` known at `known` (all if
    /// `None`), oldest first.
    pub fn visible(
        &self,
        key: i64,
        at: i64,
        known: Option<i64>,
    ) -> impl Iterator<Item = (&Id, &V)> {
        self.events.iter().filter(move |((k, ts, c), _)| {
            *k == key && *ts <= at && known.is_none_or(|kn| *c <= kn)
        })
    }

    /// Whether `key` has an event by `at` known at `known`.
    pub fn any(&self, key: i64, at: i64, known: Option<i64>) -> bool {
        self.visible(key, at, known).next().is_some()
    }

    /// The events of the window of `width` ending at `end` (`end − width`
    /// excluded, `end` included), oldest first.
    pub fn window(&self, key: i64, end: i64, width: i64, known: Option<i64>) -> Vec<(&Id, &V)> {
        self.visible(key, end, known)
            .filter(|((_, ts, _), _)| *ts > end - width)
            .collect()
    }
}

/// The late-event policy of the view under test.
#[derive(Debug, Clone, Copy)]
pub struct Late {
    pub lateness: u32,
    /// `late_events = "correct"`; otherwise `"reject"`.
    pub correct: bool,
}

impl Late {
    pub fn policy(self) -> &'static str {
        if self.correct { "correct" } else { "reject" }
    }

    /// Whether the store refuses an event at `ts` under the watermark.
    fn refuses(self, watermark: Option<i64>, ts: i64) -> bool {
        !self.correct && watermark.is_some_and(|w| ts < w - i64::from(self.lateness))
    }
}

/// The policies under test: lateness 0, 30 or 1000 µs, late events
/// corrected or refused.
pub fn late() -> impl Strategy<Value = Late> {
    (prop_oneof![Just(0u32), Just(30), Just(1000)], any::<bool>())
        .prop_map(|(lateness, correct)| Late { lateness, correct })
}

/// A store with small memtables, no fsync, and a clock the test drives,
/// at `dir`.
pub fn open(dir: &Path, clock: &Arc<AtomicI64>) -> Store {
    let engine = Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 16 << 10,
        ..stores::clocked(clock)
    };
    Store::open_with(dir, StoreOptions { engine }).unwrap()
}

/// The directory and the clock (from 200 µs, one µs a step) of a store
/// the test drives and reopens.
pub struct Clocked {
    dir: tempfile::TempDir,
    clock: Arc<AtomicI64>,
}

impl Clocked {
    /// A new store at a clock of 200 µs with `definitions` applied.
    pub fn new(definitions: &str) -> (Clocked, Store) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(200));
        let store = open(dir.path(), &clock);
        stores::apply(&store, definitions);
        (Clocked { dir, clock }, store)
    }

    /// Advances the clock by one µs: the new time.
    pub fn tick(&self) -> i64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The store opened again (the old one must be closed first).
    pub fn reopen(&self) -> Store {
        open(self.dir.path(), &self.clock)
    }
}

/// A store at a clock of 200 µs, with the definitions applied; the model
/// of what it holds.
pub struct Harness<V> {
    clocked: Clocked,
    /// `None` only while reopening.
    store: Option<Store>,
    model: Model<V>,
    late: Late,
}

impl<V: EventValues> Harness<V> {
    pub fn new(definitions: &str, late: Late) -> Self {
        let (clocked, store) = Clocked::new(definitions);
        Harness {
            clocked,
            store: Some(store),
            model: Model::default(),
            late,
        }
    }

    pub fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    /// Advances the clock by one µs and applies `op` to the store and the
    /// model. A check reads at each time `t` (as of `t`, then also known at
    /// `now − 3`), latest at `now`, and exports at those times unbounded,
    /// known at `now − 3` and at each row's own time.
    pub fn step(&mut self, op: Op<V>, check: &mut impl FnMut(&Store, &Model<V>, Read)) {
        let now = self.clocked.tick();
        let store = self.store.as_ref().unwrap();
        let m = &mut self.model;
        match op {
            Op::Write(evs) => {
                let rows: Vec<RowWrite> = evs
                    .iter()
                    .map(|e| RowWrite {
                        key: vec![KeyValue::Int64(e.key)],
                        event_ts: e.ts,
                        created_ts: e.created,
                        values: e.values.to_values(),
                    })
                    .collect();
                let summary = store.write("events", &rows).unwrap();
                let mut rejected = 0;
                for e in evs {
                    if self.late.refuses(m.watermark, e.ts) {
                        rejected += 1;
                        continue;
                    }
                    m.watermark = Some(m.watermark.map_or(e.ts, |w| w.max(e.ts)));
                    m.events
                        .insert((e.key, e.ts, e.created.unwrap_or(now)), e.values);
                }
                assert_eq!(summary.rejected_late, rejected);
            }
            Op::Rewrite(i, values) => {
                if m.events.is_empty() {
                    return;
                }
                let &(key, ts, created) = m.events.keys().nth(i % m.events.len()).unwrap();
                let row = RowWrite {
                    key: vec![KeyValue::Int64(key)],
                    event_ts: ts,
                    created_ts: Some(created),
                    values: values.to_values(),
                };
                let summary = store.write("events", &[row]).unwrap();
                if self.late.refuses(m.watermark, ts) {
                    assert_eq!(summary.rejected_late, 1);
                } else {
                    m.events.insert((key, ts, created), values);
                }
            }
            Op::Delete(k) => {
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                m.events.retain(|(key, _, _), _| *key != k);
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                // The old store closes before the new one opens.
                self.store = None;
                self.store = Some(self.clocked.reopen());
            }
            Op::Check(ts) => {
                for read in Read::each(&ts, now) {
                    check(store, m, read);
                }
            }
        }
    }

    /// Applies `ops`, then reads as of each time of `finally`, checking
    /// every read of `view` against `want(model, key, t, known)`.
    pub fn run<F: Debug>(
        mut self,
        ops: Vec<Op<V>>,
        finally: &[i64],
        view: &View<F>,
        want: impl Fn(&Model<V>, i64, i64, Option<i64>) -> Option<Vec<Value>>,
    ) {
        let mut check = |store: &Store, m: &Model<V>, read: Read| {
            view.check(store, read, |key, t, known| want(m, key, t, known));
        };
        for op in ops {
            self.step(op, &mut check);
        }
        for &at in finally {
            let read = Read::Lookup {
                at,
                known: None,
                latest: false,
            };
            check(self.store(), &self.model, read);
        }
    }
}
