//! Point-in-time export against a brute-force join, on random data.
//!
//! Three views with different entities and join keys: `u` (one int64 key,
//! ttl 0, which grows a feature part way: older versions read it as null),
//! `m` (two string keys, ttl 10 s) and `um` (an int64 and two string keys,
//! ttl 5 s). Versions come in random batches with flushes between them, on
//! few event and created times so that equal event times with different
//! created times, exact rewrites, and the ttl and known-at boundaries are
//! all hit; values are often null.
//!
//! Entity rows use keys of the pools, unknown keys and null key columns, at
//! times before any version, on and beside the boundaries, and after
//! everything; the three bitemporal modes are drawn at random.
//!
//! The model: for each row and view, a null key column gives nulls; else
//! the greatest `(event_ts, created_ts)` with `event_ts <= t` (and
//! `created_ts <= known_at`, the fixed time or the row's own time); none,
//! or one with `ttl > 0` and `event_ts < t - ttl`, gives nulls.
//!
//! Each case is exported twice: through [`export`] from in-memory batches
//! (the smallest runs, so several runs of several batches, and 1 to 3
//! threads: runs split by key range between threads, a key's rows read by
//! `history` or one by one), where the pass-through columns must come out
//! identical; and through [`export_to_file`] from a Parquet, Arrow IPC or
//! CSV file into a Parquet or Arrow file, read back (one run).
//!
//! `PROPTEST_CASES` overrides the default of 24 cases.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use strata::catalog::defs;
use strata::engine::{Options, SyncPolicy};
use strata::format::schema::{FeatureType, KeyValue, Value};
use strata::format::segment::SegmentOptions;
use strata::offline::export::{
    self, ExportFiles, ExportRequest, InputFormat, KnownAt, OutputFormat, Plan,
};
use strata::offline::read::convert::convert;
use strata::offline::timestamp;
use strata::store::{RowWrite, Store, StoreOptions};

const SEC: i64 = 1_000_000;

const DEFS: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[entities]]
name = "merchant"
join_keys = [{ name = "merchant_id", type = "string" }, { name = "country", type = "string" }]

[[feature_views]]
name = "u"
entities = ["user"]
features = [{ name = "a", type = "int64" }, { name = "b", type = "string" }]

[[feature_views]]
name = "m"
entities = ["merchant"]
ttl = "10s"
features = [{ name = "score", type = "float64" }, { name = "flag", type = "bool" }]

[[feature_views]]
name = "um"
entities = ["user", "merchant"]
ttl = "5s"
features = [
  { name = "n", type = "int64" },
  { name = "seen", type = "timestamp" },
  { name = "raw", type = "bytes" },
]
"#;

/// `u` with a feature appended.
fn grown_defs() -> String {
    DEFS.replace(
        r#"{ name = "b", type = "string" }]"#,
        r#"{ name = "b", type = "string" }, { name = "c", type = "list<float32>" }]"#,
    )
}

const USERS: [i64; 4] = [i64::MIN, -1, 42, 7];
const MERCHANTS: [(&str, &str); 4] = [("a", "US"), ("a", "DE"), ("a\0", "US"), ("", "")];
const VIEWS: [&str; 3] = ["u", "m", "um"];
const TTLS: [i64; 3] = [0, 10 * SEC, 5 * SEC];

/// The key of view `v` numbered `k` in its pool.
fn pool_key(v: usize, k: usize) -> Vec<KeyValue> {
    let user = |u: usize| KeyValue::Int64(USERS[u % USERS.len()]);
    let merchant = |m: usize| {
        let (id, c) = MERCHANTS[m % MERCHANTS.len()];
        [KeyValue::String(id.into()), KeyValue::String(c.into())]
    };
    match v {
        0 => vec![user(k)],
        1 => merchant(k).to_vec(),
        _ => {
            let mut key = vec![user(k / 4)];
            key.extend(merchant(k % 4));
            key
        }
    }
}

/// One version to write; its values derive from `seed`.
#[derive(Debug, Clone)]
struct WriteSpec {
    view: usize,
    key: usize,
    e: i64,
    c: i64,
    seed: u64,
    nulls: u8,
}

impl WriteSpec {
    fn values(&self, grown: bool) -> Vec<Value> {
        let s = self.seed;
        let null = |bit: u8, v: Value| {
            if self.nulls & (1 << bit) != 0 {
                Value::Null
            } else {
                v
            }
        };
        match self.view {
            0 => {
                let mut v = vec![
                    null(0, Value::Int64(s as i64)),
                    null(1, Value::String(format!("s{}", s % 7))),
                ];
                if grown {
                    v.push(null(
                        2,
                        Value::ListFloat32(vec![(s % 5) as f32; (s % 3) as usize]),
                    ));
                }
                v
            }
            1 => vec![
                null(0, Value::Float64((s % 1000) as f64 / 8.0 - 50.0)),
                null(1, Value::Bool(s.is_multiple_of(2))),
            ],
            _ => vec![
                null(0, Value::Int64(-(s as i64))),
                null(1, Value::Timestamp((s % 1_000_000_000) as i64 - 500)),
                null(
                    2,
                    Value::Bytes(s.to_le_bytes()[..(s % 4) as usize].to_vec()),
                ),
            ],
        }
    }
}

fn write_spec() -> impl Strategy<Value = WriteSpec> {
    (
        0usize..3,
        0usize..16,
        0i64..25,
        0i64..8,
        any::<u64>(),
        any::<u8>(),
    )
        .prop_map(|(view, key, e, c, seed, nulls)| WriteSpec {
            view,
            key: if view == 2 { key } else { key % 4 },
            e: e * 2 * SEC,
            c: c * 5 * SEC,
            seed,
            nulls: nulls & 0b0101_0101,
        })
}

/// One entity row: indices into the pools (4 = an unknown key, 5 = null).
#[derive(Debug, Clone)]
struct RowSpec {
    user: usize,
    merchant: usize,
    /// Which merchant column is null when `merchant == 5`: 0 both, 1 id, 2 country.
    null_part: usize,
    t: i64,
}

fn row_spec() -> impl Strategy<Value = RowSpec> {
    (0usize..6, 0usize..6, 0usize..3, -3i64..58, -1i64..=1).prop_map(
        |(user, merchant, null_part, t, off)| RowSpec {
            user,
            merchant,
            null_part,
            t: t * SEC + off,
        },
    )
}

#[derive(Debug, Clone)]
struct Case {
    /// Write batches, each followed by a flush or not.
    ops: Vec<(Vec<WriteSpec>, bool)>,
    /// Before which batch `u` grows its feature `c` (none if past the end).
    grow_at: usize,
    rows: Vec<RowSpec>,
    known: (u8, i64),
    full_names: bool,
    threads: usize,
    nanos: bool,
    /// Input batch sizes (cycled).
    cuts: Vec<usize>,
    in_format: u8,
    out_format: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(
            (prop::collection::vec(write_spec(), 0..12), any::<bool>()),
            0..8,
        ),
        0usize..10,
        prop::collection::vec(row_spec(), 0..300),
        (0u8..3, 0i64..9),
        any::<bool>(),
        1usize..4,
        any::<bool>(),
        prop::collection::vec(1usize..120, 1..4),
        (0u8..3, 0u8..2),
    )
        .prop_map(
            |(ops, grow_at, rows, known, full_names, threads, nanos, cuts, (i, o))| Case {
                ops,
                grow_at,
                rows,
                known,
                full_names,
                threads,
                nanos,
                cuts,
                in_format: i,
                out_format: o,
            },
        )
}

impl Case {
    fn known_at(&self) -> KnownAt {
        match self.known.0 {
            0 => KnownAt::Unbounded,
            1 => KnownAt::At(self.known.1 * 5 * SEC),
            _ => KnownAt::EventTime,
        }
    }

    fn user(&self, r: &RowSpec) -> Option<i64> {
        match r.user {
            0..4 => Some(USERS[r.user]),
            4 => Some(99),
            _ => None,
        }
    }

    fn merchant(&self, r: &RowSpec) -> (Option<String>, Option<String>) {
        match r.merchant {
            0..4 => {
                let (id, c) = MERCHANTS[r.merchant];
                (Some(id.into()), Some(c.into()))
            }
            4 => (Some("zz".into()), Some("US".into())),
            _ => match r.null_part {
                0 => (None, None),
                1 => (None, Some("US".into())),
                _ => (Some("a".into()), None),
            },
        }
    }
}

type Versions = BTreeMap<(i64, i64), Vec<Value>>;

/// Every version by (view, key).
#[derive(Default)]
struct Model(BTreeMap<(usize, Vec<KeyValue>), Versions>);

impl Model {
    /// The expected features of view `v` for a row: one value per feature
    /// of the grown schema.
    fn expect(&self, v: usize, key: Option<Vec<KeyValue>>, t: i64, known: KnownAt) -> Vec<Value> {
        let width = [3, 2, 3][v];
        let none = vec![Value::Null; width];
        let Some(key) = key else { return none };
        let Some(versions) = self.0.get(&(v, key)) else {
            return none;
        };
        let kmax = match known {
            KnownAt::Unbounded => i64::MAX,
            KnownAt::At(k) => k,
            KnownAt::EventTime => t,
        };
        let best = versions
            .iter()
            .filter(|((e, c), _)| *e <= t && *c <= kmax)
            .max_by_key(|(ec, _)| **ec);
        match best {
            Some(((e, _), vals)) if TTLS[v] == 0 || *e >= t - TTLS[v] => {
                let mut vals = vals.clone();
                vals.resize(width, Value::Null);
                vals
            }
            _ => none,
        }
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        engine: Options {
            sync: SyncPolicy::Never,
            memtable_bytes: 4096,
            segment: SegmentOptions {
                block_size: 256,
                restart_interval: 4,
                ..SegmentOptions::default()
            },
            ..Options::default()
        },
    }
}

fn apply(store: &Store, text: &str) {
    let parsed = defs::parse(text).unwrap();
    let cat = defs::apply(&store.catalog(), &parsed).unwrap();
    store.set_catalog(cat).unwrap();
}

/// Writes the case's versions; returns the model.
fn load(store: &Store, case: &Case) -> Model {
    apply(store, DEFS);
    let mut model = Model::default();
    let mut grown = false;
    for (i, (batch, flush)) in case.ops.iter().enumerate() {
        if i == case.grow_at {
            apply(store, &grown_defs());
            grown = true;
        }
        for (v, name) in VIEWS.iter().enumerate() {
            // One batch holds each (key, event, created) once.
            let mut seen = std::collections::HashSet::new();
            let rows: Vec<RowWrite> = batch
                .iter()
                .filter(|w| w.view == v && seen.insert((w.key, w.e, w.c)))
                .map(|w| {
                    let values = w.values(grown && v == 0);
                    model
                        .0
                        .entry((v, pool_key(v, w.key)))
                        .or_default()
                        .insert((w.e, w.c), values.clone());
                    RowWrite {
                        key: pool_key(v, w.key),
                        event_ts: w.e,
                        created_ts: Some(w.c),
                        values,
                    }
                })
                .collect();
            if !rows.is_empty() {
                store.write(name, &rows).unwrap();
            }
        }
        if *flush {
            store.flush().unwrap();
        }
    }
    if !grown {
        apply(store, &grown_defs());
    }
    model
}

/// The entity table: user_id, merchant_id, country (dictionary),
/// event_timestamp, row_id.
fn entity_batch(case: &Case, rows: &[RowSpec], first: usize) -> RecordBatch {
    let users: Int64Array = rows.iter().map(|r| case.user(r)).collect();
    let merchants: Vec<_> = rows.iter().map(|r| case.merchant(r)).collect();
    let ids: StringArray = merchants.iter().map(|m| m.0.clone()).collect();
    let countries: DictionaryArray<Int32Type> = merchants.iter().map(|m| m.1.as_deref()).collect();
    let times: ArrayRef = if case.nanos {
        Arc::new(TimestampNanosecondArray::from(
            rows.iter().map(|r| r.t * 1000).collect::<Vec<_>>(),
        ))
    } else {
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.t).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let row_ids = Int64Array::from_iter_values((first..first + rows.len()).map(|i| i as i64));
    RecordBatch::try_from_iter_with_nullable(vec![
        ("user_id", Arc::new(users) as ArrayRef, true),
        ("merchant_id", Arc::new(ids), true),
        ("country", Arc::new(countries), true),
        ("event_timestamp", times, false),
        ("row_id", Arc::new(row_ids), false),
    ])
    .unwrap()
}

fn entity_batches(case: &Case) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < case.rows.len() {
        let n = case.cuts[i % case.cuts.len()].min(case.rows.len() - at);
        out.push(entity_batch(case, &case.rows[at..at + n], at));
        at += n;
        i += 1;
    }
    out
}

/// Output names and types, in request order (`u:*,m:*,um:*`).
fn outputs(full: bool) -> Vec<(String, usize, usize, FeatureType)> {
    let feats: [&[(&str, FeatureType)]; 3] = [
        &[
            ("a", FeatureType::Int64),
            ("b", FeatureType::String),
            ("c", FeatureType::ListFloat32),
        ],
        &[("score", FeatureType::Float64), ("flag", FeatureType::Bool)],
        &[
            ("n", FeatureType::Int64),
            ("seen", FeatureType::Timestamp),
            ("raw", FeatureType::Bytes),
        ],
    ];
    let mut out = Vec::new();
    for (v, fs) in feats.iter().enumerate() {
        for (i, (f, ty)) in fs.iter().enumerate() {
            let name = if full {
                format!("{}__{f}", VIEWS[v])
            } else {
                f.to_string()
            };
            out.push((name, v, i, *ty));
        }
    }
    out
}

/// Checks the feature columns of `out` (all rows, in order) against the
/// model. `csv` says the input went through CSV, where an empty string is
/// a null key.
fn check_features(
    case: &Case,
    model: &Model,
    out: &RecordBatch,
    csv: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(out.num_rows(), case.rows.len());
    let row_ids = convert(
        out.column_by_name("row_id").unwrap().as_ref(),
        FeatureType::Int64,
    )
    .unwrap();
    for (i, id) in row_ids.iter().enumerate() {
        prop_assert_eq!(id, &Value::Int64(i as i64), "rows out of order");
    }
    let known = case.known_at();
    let expected: Vec<[Vec<Value>; 3]> = case
        .rows
        .iter()
        .map(|r| {
            let empty_null = |s: Option<String>| s.filter(|s| !(csv && s.is_empty()));
            let user = case.user(r);
            let (id, country) = case.merchant(r);
            let (id, country) = (empty_null(id), empty_null(country));
            let merchant = id
                .zip(country)
                .map(|(i, c)| [KeyValue::String(i), KeyValue::String(c)]);
            let keys = [
                user.map(|u| vec![KeyValue::Int64(u)]),
                merchant.clone().map(|m| m.to_vec()),
                user.zip(merchant).map(|(u, m)| {
                    let mut k = vec![KeyValue::Int64(u)];
                    k.extend(m);
                    k
                }),
            ];
            let [k0, k1, k2] = keys;
            [
                model.expect(0, k0, r.t, known),
                model.expect(1, k1, r.t, known),
                model.expect(2, k2, r.t, known),
            ]
        })
        .collect();
    for (name, v, f, ty) in outputs(case.full_names) {
        let col = out
            .column_by_name(&name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let got = convert(col.as_ref(), ty).unwrap();
        for (i, g) in got.iter().enumerate() {
            prop_assert_eq!(
                g,
                &expected[i][v][f],
                "row {} column {} ({:?}, t={})",
                i,
                &name,
                &case.rows[i],
                case.rows[i].t
            );
        }
    }
    Ok(())
}

fn concat(batches: &[RecordBatch], schema: &arrow_schema::SchemaRef) -> RecordBatch {
    arrow_select::concat::concat_batches(schema, batches).unwrap()
}

fn write_input(
    case: &Case,
    dir: &Path,
    batches: &[RecordBatch],
) -> (std::path::PathBuf, InputFormat) {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| entity_batch(case, &[], 0).schema());
    match case.in_format {
        0 => {
            let p = dir.join("entities.parquet");
            let mut w =
                ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
            for b in batches {
                w.write(b).unwrap();
            }
            w.close().unwrap();
            (p, InputFormat::Parquet)
        }
        1 => {
            // The stream format: each batch may bring its own dictionary.
            let p = dir.join("entities.arrows");
            let mut w = arrow_ipc::writer::StreamWriter::try_new(
                std::fs::File::create(&p).unwrap(),
                &schema,
            )
            .unwrap();
            for b in batches {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
            (p, InputFormat::Arrow)
        }
        _ => {
            let p = dir.join("entities.csv");
            let mut w = csv::Writer::from_path(&p).unwrap();
            w.write_record([
                "user_id",
                "merchant_id",
                "country",
                "event_timestamp",
                "row_id",
            ])
            .unwrap();
            for (i, r) in case.rows.iter().enumerate() {
                let (id, c) = case.merchant(r);
                w.write_record([
                    case.user(r).map_or(String::new(), |u| u.to_string()),
                    id.unwrap_or_default(),
                    c.unwrap_or_default(),
                    timestamp::format(r.t),
                    i.to_string(),
                ])
                .unwrap();
            }
            w.flush().unwrap();
            (p, InputFormat::Csv)
        }
    }
}

fn read_output(path: &Path, format: OutputFormat) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    match format {
        OutputFormat::Parquet => ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect(),
        _ => arrow_ipc::reader::FileReader::try_new(f, None)
            .unwrap()
            .map(Result::unwrap)
            .collect(),
    }
}

fn run(case: Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path().join("store"), options()).unwrap();
    let model = load(&store, &case);

    let mut req = ExportRequest::new("u:*, m:*, um:*").unwrap();
    req.full_feature_names = case.full_names;
    req.known_at = case.known_at();
    req.threads = case.threads;
    req.memory_budget = 1; // the smallest runs
    let batches = entity_batches(&case);
    let input_schema = entity_batch(&case, &[], 0).schema();
    let plan = Plan::new(&store, &req, &input_schema).unwrap();
    // The smallest runs (64 rows) in batches of at most 16.
    prop_assert_eq!(plan.run_rows(), 64);
    prop_assert_eq!(plan.batch_rows(), 16);
    let mut it = export::export(&store, &plan, batches.clone().into_iter().map(Ok));
    let out: Vec<RecordBatch> = (&mut it).map(Result::unwrap).collect();
    for b in &out {
        prop_assert!(b.num_rows() <= 16);
    }
    let stats = it.stats().clone();
    let out = concat(&out, &plan.schema());
    check_features(&case, &model, &out, false)?;
    // The entity columns pass through untouched.
    let input = concat(&batches, &input_schema);
    for (i, c) in input.columns().iter().enumerate() {
        prop_assert_eq!(c.as_ref(), out.column(i).as_ref());
    }
    prop_assert_eq!(stats.rows, case.rows.len() as u64);
    let a = out
        .column_by_name(if case.full_names { "u__a" } else { "a" })
        .unwrap();
    let b = out
        .column_by_name(if case.full_names { "u__b" } else { "b" })
        .unwrap();
    // Rows that matched `u` have a non-null a or b unless both were null:
    // at least the count of non-null a's.
    prop_assert!(
        stats.matched[0] >= (a.len() - a.null_count()).max(b.len() - b.null_count()) as u64
    );

    let (entities, in_format) = write_input(&case, dir.path(), &batches);
    let out_format = [OutputFormat::Parquet, OutputFormat::Arrow][case.out_format as usize];
    let out_path = dir.path().join(format!("out.{}", out_format.name()));
    req.memory_budget = 64 << 20;
    let report = export::export_to_file(
        &store,
        &req,
        &ExportFiles {
            entities,
            entities_format: Some(in_format),
            out: out_path.clone(),
            out_format: None,
        },
        &|_| {},
    )
    .unwrap();
    prop_assert_eq!(report.rows, case.rows.len() as u64);
    let back = read_output(&out_path, out_format);
    let schema = back
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| plan.schema());
    let back = concat(&back, &schema);
    check_features(&case, &model, &back, in_format == InputFormat::Csv)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn export_matches_brute_force(case in case()) {
        run(case)?;
    }
}

/// A fixed case that hits every rule at least once, kept readable.
#[test]
fn fixed_case() {
    let w = |view, key, e: i64, c: i64, seed| WriteSpec {
        view,
        key,
        e: e * SEC,
        c: c * SEC,
        seed,
        nulls: 0,
    };
    let r = |user, merchant, t: i64| RowSpec {
        user,
        merchant,
        null_part: 0,
        t: t * SEC,
    };
    let case = Case {
        ops: vec![
            (
                vec![w(0, 2, 10, 10, 1), w(0, 2, 10, 20, 2), w(1, 0, 10, 10, 3)],
                true,
            ),
            (
                vec![w(0, 2, 20, 30, 4), w(2, 11, 10, 10, 5), w(1, 0, 10, 10, 6)],
                false,
            ),
        ],
        grow_at: 1,
        rows: vec![
            r(2, 0, 5),  // before everything
            r(2, 0, 10), // ties on event 10: created 20 wins; m at its event time
            r(2, 0, 19), // still event 10 for u; m 9 s old
            r(2, 0, 20), // u grown version; m exactly at the ttl edge
            r(2, 0, 21), // m beyond its ttl
            r(2, 3, 12), // um (user 42, merchant ("", "")): 2 s old
            r(2, 3, 16), // um 6 s old: beyond 5 s
            r(4, 4, 30), // unknown keys
            r(5, 5, 30), // null keys
        ],
        known: (0, 0),
        full_names: false,
        threads: 2,
        nanos: false,
        cuts: vec![4],
        in_format: 2,
        out_format: 0,
    };
    for known in [(0, 0), (1, 3), (2, 0)] {
        let mut c = case.clone();
        c.known = known;
        run(c).unwrap();
    }
}
