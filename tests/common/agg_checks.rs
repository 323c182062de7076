//! The checks of the brute-force aggregation tests: what a check reads
//! ([`Read`]), the view it reads ([`View`]), and the lookups and training
//! exports of that view compared, value by value, with what the test's
//! model wants. [`super::agg_model::Harness`] drives them.

use std::fmt::Debug;
use std::ops::Range;

use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{ReadOptions, Status, Store};

use super::agg_model::Model;
use super::tables::{export_one, user_table};

/// What a check reads: a lookup, or a training export at every time of
/// `ts` for every key.
#[derive(Debug, Clone, Copy)]
pub enum Read<'a> {
    Lookup {
        at: i64,
        known: Option<i64>,
        latest: bool,
    },
    Export {
        ts: &'a [i64],
        known_at: KnownAt,
    },
}

impl<'a> Read<'a> {
    /// The reads of a check at the times `ts` when the clock is `now`:
    /// lookups as of each time (then also known at `now − 3`), a latest
    /// lookup, and exports at those times unbounded, known at `now − 3`
    /// and at each row's own time.
    pub fn each(ts: &'a [i64], now: i64) -> Vec<Read<'a>> {
        let mut reads: Vec<Read> = ts
            .iter()
            .flat_map(|&at| {
                [None, Some(now - 3)].map(|known| Read::Lookup {
                    at,
                    known,
                    latest: false,
                })
            })
            .collect();
        reads.push(Read::Lookup {
            at: now,
            known: None,
            latest: true,
        });
        reads.extend(
            [KnownAt::Unbounded, KnownAt::At(now - 3), KnownAt::EventTime]
                .map(|known_at| Read::Export { ts, known_at }),
        );
        reads
    }
}

/// The `known_at` bound of an export row at `t`.
pub fn known_for(known_at: KnownAt, t: i64) -> Option<i64> {
    match known_at {
        KnownAt::Unbounded => None,
        KnownAt::At(k) => Some(k),
        KnownAt::EventTime => Some(t),
    }
}

/// A number's value as a float.
pub fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Float64(x) => Some(*x),
        Value::Int64(x) => Some(*x as f64),
        _ => None,
    }
}

/// The non-null values of column `col` (none without a column) of the
/// events whose values are `rows`, in their order, and the numbers among
/// them as floats: what the brute-force functions aggregate.
pub fn column_values(
    col: Option<usize>,
    rows: impl Iterator<Item = Vec<Value>>,
) -> (Vec<Value>, Vec<f64>) {
    let vals: Vec<Value> = col.map_or(Vec::new(), |c| {
        rows.map(|mut r| r.swap_remove(c))
            .filter(|v| !v.is_null())
            .collect()
    });
    let nums = vals.iter().filter_map(num).collect();
    (vals, nums)
}

/// Floats equal within a relative 1e-9; anything else exactly.
pub fn close(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float64(g), Value::Float64(w)) => (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
        _ => got == want,
    }
}

/// One exported scalar cell as a [`Value`].
pub fn cell(col: &dyn Array, i: usize) -> Value {
    let any = col.as_any();
    if col.is_null(i) {
        Value::Null
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        Value::Int64(a.value(i))
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        Value::Float64(a.value(i))
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        Value::Bool(a.value(i))
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        Value::Timestamp(a.value(i))
    } else {
        let a = any.downcast_ref::<StringArray>().unwrap();
        Value::String(a.value(i).to_string())
    }
}

/// The cells of a scalar column.
pub fn scalar_cells(col: &dyn Array) -> Vec<Value> {
    (0..col.len()).map(|i| cell(col, i)).collect()
}

/// Checks one lookup of `view` for every key of `keys` against `want`:
/// `None`, the key has no event by then and every feature is NOT_FOUND;
/// otherwise each feature's value (equal by `close(feature, got, want)`),
/// NULL_VALUE where it is null and PRESENT where not.
pub fn check_lookup<F: Debug>(
    store: &Store,
    view: &str,
    features: &[F],
    keys: Range<i64>,
    (at, known, latest): (i64, Option<i64>, bool),
    want: impl Fn(i64) -> Option<Vec<Value>>,
    close: impl Fn(&F, &Value, &Value) -> bool,
) {
    for key in keys {
        let opts = ReadOptions {
            as_of: (!latest).then_some(at),
            known_at: known,
        };
        let row = store.get(view, &[KeyValue::Int64(key)], opts).unwrap();
        let Some(want) = want(key) else {
            assert!(
                row.statuses.iter().all(|s| *s == Status::NotFound),
                "key {key} at {at}: expected NOT_FOUND, got {row:?}"
            );
            continue;
        };
        for (i, (f, want)) in features.iter().zip(&want).enumerate() {
            let got = &row.values[i];
            assert!(
                close(f, got, want),
                "key {key} at {at} known {known:?} latest {latest} feature {i} {f:?}: got {got:?}, want {want:?}"
            );
            let status = if got.is_null() {
                Status::NullValue
            } else {
                Status::Present
            };
            assert_eq!(row.statuses[i], status, "key {key} at {at} feature {i}");
        }
    }
}

/// Exports `view:*` for every key of `keys` at every time of `ts` (with
/// `threads`) and checks each feature's cells, read by `cells(feature,
/// column)`, against `want(key, t, known)` (`None`: no event by then, all
/// null).
#[expect(clippy::too_many_arguments, reason = "one call reads as a table row")]
pub fn check_export<F: Debug>(
    store: &Store,
    view: &str,
    features: &[F],
    keys: Range<i64>,
    (ts, known_at, threads): (&[i64], KnownAt, usize),
    cells: impl Fn(&F, &dyn Array) -> Vec<Value>,
    want: impl Fn(i64, i64, Option<i64>) -> Option<Vec<Value>>,
    close: impl Fn(&F, &Value, &Value) -> bool,
) {
    let rows: Vec<(i64, i64)> = keys.flat_map(|k| ts.iter().map(move |&t| (k, t))).collect();
    let mut req = ExportRequest::new(&format!("{view}:*")).unwrap();
    req.known_at = known_at;
    req.threads = threads;
    let batch = concat(export_one(store, &req, user_table(rows.iter().copied())));
    let got: Vec<Vec<Value>> = features
        .iter()
        .enumerate()
        .map(|(f, feature)| cells(feature, batch.column(2 + f).as_ref()))
        .collect();
    for (i, &(key, t)) in rows.iter().enumerate() {
        let want = want(key, t, known_for(known_at, t));
        for (f, feature) in features.iter().enumerate() {
            let got = &got[f][i];
            let want = want.as_ref().map_or(&Value::Null, |w| &w[f]);
            assert!(
                close(feature, got, want),
                "export {known_at:?} key {key} at {t} feature {f} {feature:?}: got {got:?}, want {want:?}"
            );
        }
    }
}

/// The view a check reads: its features (as the test describes them),
/// the keys it reads, the threads of its exports (0: the default), how
/// an exported column reads, and when a value read equals the model's.
pub struct View<'a, F> {
    pub name: &'a str,
    pub features: &'a [F],
    pub keys: Range<i64>,
    pub threads: usize,
    pub cells: fn(&F, &dyn Array) -> Vec<Value>,
    pub close: fn(&F, &Value, &Value) -> bool,
}

/// [`View::cells`] of scalar features.
pub fn scalar<F>(_: &F, col: &dyn Array) -> Vec<Value> {
    scalar_cells(col)
}

/// [`View::close`] by [`close`] for every feature.
pub fn close_any<F>(_: &F, got: &Value, want: &Value) -> bool {
    close(got, want)
}

impl<'a, F: Debug> View<'a, F> {
    /// Keys 0 to 4, exports on two threads, scalar cells, [`close`].
    pub fn new(name: &'a str, features: &'a [F]) -> Self {
        View {
            name,
            features,
            keys: 0..5,
            threads: 2,
            cells: scalar,
            close: close_any,
        }
    }

    pub fn close(self, close: fn(&F, &Value, &Value) -> bool) -> Self {
        View { close, ..self }
    }

    pub fn cells(self, cells: fn(&F, &dyn Array) -> Vec<Value>) -> Self {
        View { cells, ..self }
    }

    /// The `want` of [`super::agg_model::Harness::run`] where every feature reads the events
    /// of the key by then: `None` where there is none, else each feature's
    /// `expected(model, key, t, known, feature)`.
    pub fn each_feature<V>(
        &self,
        expected: impl Fn(&Model<V>, i64, i64, Option<i64>, &F) -> Value,
    ) -> impl Fn(&Model<V>, i64, i64, Option<i64>) -> Option<Vec<Value>> {
        let features = self.features;
        move |m, key, at, known| {
            m.any(key, at, known).then(|| {
                features
                    .iter()
                    .map(|f| expected(m, key, at, known, f))
                    .collect()
            })
        }
    }

    /// Checks `read` of the view against `want(key, t, known)` (`None`:
    /// the key has no event by then) by [`check_lookup`] or
    /// [`check_export`].
    pub fn check(
        &self,
        store: &Store,
        read: Read,
        want: impl Fn(i64, i64, Option<i64>) -> Option<Vec<Value>>,
    ) {
        let keys = self.keys.clone();
        match read {
            Read::Lookup { at, known, latest } => check_lookup(
                store,
                self.name,
                self.features,
                keys,
                (at, known, latest),
                |key| want(key, at, known),
                self.close,
            ),
            Read::Export { ts, known_at } => check_export(
                store,
                self.name,
                self.features,
                keys,
                (ts, known_at, self.threads),
                self.cells,
                want,
                self.close,
            ),
        }
    }
}

/// The batches of an export as one.
pub fn concat(out: Vec<RecordBatch>) -> RecordBatch {
    arrow_select::concat::concat_batches(&out[0].schema(), &out).unwrap()
}
