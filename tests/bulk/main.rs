//! `offline::ingest`: every input format, renames, globs, the fast path
//! against the WAL path, and statistics; [`errors`]: quality policies and
//! every kind of bad input, after which the store must be exactly as before.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[path = "../common/mod.rs"]
mod common;
mod errors;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use strata::catalog::stats;
use strata::format::schema::{KeyValue, Value};
use strata::offline::{Format, IngestOptions, ingest};
use strata::store::{ReadOptions, Store};

const DEFS: &str = include_str!("../fixtures/bulk.toml");

const T0: i64 = 1_714_521_600_000_000; // 2024-05-01T00:00:00Z

fn store(dir: &Path) -> Store {
    common::stores::store_with(dir, DEFS)
}

/// Per key, its versions as `(event_ts, values)`, newest first.
type Versions = Vec<(i64, Vec<(i64, Vec<Value>)>)>;

/// Every version of keys 0..20 of `view`, the segment files and the stats.
fn state(s: &Store, view: &str) -> (Versions, usize, String) {
    let mut out = Vec::new();
    for k in 0..20 {
        let h = s
            .history(view, &[KeyValue::Int64(k)], i64::MIN, i64::MAX - 1, None)
            .unwrap();
        if !h.is_empty() {
            out.push((k, h.into_iter().map(|r| (r.event_ts, r.values)).collect()));
        }
    }
    let segs = std::fs::read_dir(s.dir().join("segments")).map_or(0, |d| d.count());
    let st = std::fs::read(s.dir().join("stats")).unwrap_or_default();
    (out, segs, String::from_utf8_lossy(&st).into_owned())
}

fn opts() -> IngestOptions {
    IngestOptions::default()
}

fn batch(
    ids: Vec<i64>,
    ts: ArrayRef,
    x: Vec<Option<f64>>,
    n: Vec<Option<i64>>,
    s: Vec<Option<&str>>,
) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("event_timestamp", ts.data_type().clone(), true),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(ids)),
            ts,
            Arc::new(Float64Array::from(x)),
            Arc::new(Int64Array::from(n)),
            Arc::new(StringArray::from(s)),
        ],
    )
    .unwrap()
}

fn sample() -> RecordBatch {
    batch(
        vec![1, 2, 1],
        Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![
            T0,
            T0,
            T0 + 10,
        ])),
        vec![Some(1.5), None, Some(3.0)],
        vec![Some(7), Some(8), None],
        vec![Some("a"), Some("b"), None],
    )
}

fn write_parquet(path: &Path, b: &RecordBatch) {
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

fn write_ipc(path: &Path, b: &RecordBatch, stream: bool) {
    let f = std::fs::File::create(path).unwrap();
    if stream {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(f, &b.schema()).unwrap();
        w.write(b).unwrap();
        w.finish().unwrap();
    } else {
        let mut w = arrow_ipc::writer::FileWriter::try_new(f, &b.schema()).unwrap();
        w.write(b).unwrap();
        w.finish().unwrap();
    }
}

const CSV: &str = "user_id,event_timestamp,x,n,s\n1,2024-05-01T00:00:00Z,1.5,7,a\n2,2024-05-01T00:00:00Z,,8,b\n1,1714521600000010,3.0,,\n";
const JSONL: &str = "{\"user_id\": 1, \"event_timestamp\": \"2024-05-01T00:00:00Z\", \"x\": 1.5, \"n\": 7, \"s\": \"a\"}\n\n{\"user_id\": 2, \"event_timestamp\": 1714521600000000, \"n\": 8, \"s\": \"b\"}\n{\"user_id\": 1, \"event_timestamp\": 1714521600000010, \"x\": 3.0, \"n\": null}\n";

fn expected() -> Versions {
    vec![
        (
            1,
            vec![
                (T0 + 10, vec![Value::Float64(3.0), Value::Null, Value::Null]),
                (
                    T0,
                    vec![
                        Value::Float64(1.5),
                        Value::Int64(7),
                        Value::String("a".into()),
                    ],
                ),
            ],
        ),
        (
            2,
            vec![(
                T0,
                vec![Value::Null, Value::Int64(8), Value::String("b".into())],
            )],
        ),
    ]
}

/// Writes the sample in `format` and returns its path.
fn sample_file(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    match Format::of(&p).unwrap() {
        Format::Parquet => write_parquet(&p, &sample()),
        Format::Arrow => write_ipc(&p, &sample(), name.ends_with(".arrows")),
        Format::Csv => std::fs::write(&p, CSV).unwrap(),
        Format::JsonLines => std::fs::write(&p, JSONL).unwrap(),
    }
    p
}

/// A store in `dir/store` with [`sample_file`] `name` ingested into `stats`.
fn sample_store(dir: &Path, name: &str) -> Store {
    let s = store(&dir.join("store"));
    ingest(&s, "stats", &[sample_file(dir, name)], &opts()).unwrap();
    s
}

/// The error of an ingest that must be refused, as text.
fn refused(s: &Store, view: &str, files: &[PathBuf], o: &IngestOptions) -> String {
    ingest(s, view, files, o).unwrap_err().to_string()
}

#[test]
fn every_format_on_both_paths_reads_the_same() {
    for name in ["in.parquet", "in.csv", "in.jsonl", "in.arrow", "in.arrows"] {
        for via_wal in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let s = store(&dir.path().join("store"));
            let f = sample_file(dir.path(), name);
            let r = ingest(&s, "stats", &[f], &IngestOptions { via_wal, ..opts() })
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((r.rows, r.summary.written), (3, 3), "{name}");
            assert_eq!(r.event_range, Some((T0, T0 + 10)));
            assert_eq!(
                state(&s, "stats").0,
                expected(),
                "{name}, via_wal {via_wal}"
            );
            let segments = state(&s, "stats").1;
            assert_eq!(
                segments,
                usize::from(!via_wal),
                "{name}: the fast path adds one segment, the WAL none"
            );
        }
    }
}

#[test]
fn format_flag_overrides_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir.path().join("store"));
    let p = dir.path().join("data.txt");
    std::fs::write(&p, CSV).unwrap();
    let e = refused(&s, "stats", std::slice::from_ref(&p), &opts());
    assert!(
        e.contains("unknown file type") && e.contains("--format"),
        "{e}"
    );
    ingest(
        &s,
        "stats",
        &[p],
        &IngestOptions {
            format: Some(Format::Csv),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(state(&s, "stats").0, expected());
}

#[test]
fn renames_and_every_timestamp_unit() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir.path().join("store"));
    let secs = T0 / 1_000_000;
    let units: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![secs, secs, secs])),
        Arc::new(TimestampMillisecondArray::from(vec![
            secs * 1000,
            secs * 1000,
            secs * 1000,
        ])),
        Arc::new(TimestampNanosecondArray::from(vec![
            T0 * 1000,
            T0 * 1000 + 999,
            T0 * 1000,
        ])),
    ];
    for (i, ts) in units.into_iter().enumerate() {
        let b = batch(
            vec![1, 2, 3],
            ts,
            vec![Some(1.0); 3],
            vec![Some(i as i64); 3],
            vec![Some("z"); 3],
        );
        // Rename x to amount in the file, and map it back.
        let schema = Schema::new(
            b.schema()
                .fields()
                .iter()
                .map(|f| {
                    if f.name() == "x" {
                        f.as_ref().clone().with_name("amount")
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        );
        let b = RecordBatch::try_new(Arc::new(schema), b.columns().to_vec()).unwrap();
        let p = dir.path().join(format!("u{i}.parquet"));
        write_parquet(&p, &b);
        let e = refused(&s, "stats", std::slice::from_ref(&p), &opts());
        assert!(
            e.contains("missing column(s) x") && e.contains("nothing was written"),
            "{e}"
        );
        let o = IngestOptions {
            renames: vec![("amount".into(), "x".into())],
            ..opts()
        };
        ingest(&s, "stats", &[p], &o).unwrap();
        let row = s
            .get("stats", &[KeyValue::Int64(2)], ReadOptions::default())
            .unwrap();
        assert_eq!(
            row.event_ts,
            Some(T0),
            "unit {i}: nanoseconds truncate toward the past"
        );
        assert_eq!(row.values[1], Value::Int64(i as i64));
    }
}

#[test]
fn several_files_and_globs_each_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir.path().join("store"));
    let a = sample_file(dir.path(), "a.parquet");
    let b = dir.path().join("b.csv");
    std::fs::write(
        &b,
        "user_id,event_timestamp,x,n,s\n5,2024-05-02T00:00:00Z,1,1,q\n",
    )
    .unwrap();
    let files =
        strata::offline::glob::expand(&format!("{}/*.{{parquet,csv}}", dir.path().display()))
            .unwrap();
    assert!(files.is_empty(), "braces are not glob syntax here");
    let mut files =
        strata::offline::glob::expand(&format!("{}/[ab].*", dir.path().display())).unwrap();
    assert_eq!(files, vec![a.clone(), b.clone()]);
    let r = ingest(&s, "stats", &files, &opts()).unwrap();
    assert_eq!((r.rows, r.files.len(), r.batches), (4, 2, 2));
    // A bad third file: the first two stay, and the error says so.
    let bad = dir.path().join("c.csv");
    std::fs::write(&bad, "user_id,event_timestamp,x,n,s\n6,yesterday,1,1,q\n").unwrap();
    files.push(bad);
    let s2 = store(&dir.path().join("store2"));
    let e = refused(&s2, "stats", &files, &opts());
    assert!(
        e.contains("c.csv")
            && e.contains("row 1, column event_timestamp")
            && e.contains("were ingested"),
        "{e}"
    );
    assert!(
        s2.get("stats", &[KeyValue::Int64(5)], ReadOptions::default())
            .unwrap()
            .event_ts
            .is_some()
    );
    assert!(
        s2.get("stats", &[KeyValue::Int64(6)], ReadOptions::default())
            .unwrap()
            .event_ts
            .is_none()
    );
}

#[test]
fn a_repeated_version_keeps_the_last_row_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir.path().join("store"));
    let p = dir.path().join("dup.csv");
    let mut text = String::from("user_id,event_timestamp,created_timestamp,x,n,s\n");
    for i in 0..300 {
        text.push_str(&format!("{},5,9,{i},{i},v\n", i % 3));
    }
    std::fs::write(&p, text).unwrap();
    let r = ingest(&s, "stats", &[p], &opts()).unwrap();
    assert_eq!((r.rows, r.summary.written), (300, 3));
    for k in 0..3 {
        let h = s
            .history("stats", &[KeyValue::Int64(k)], i64::MIN, i64::MAX - 1, None)
            .unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].values[1],
            Value::Int64(297 + k),
            "the last row of key {k} wins"
        );
    }
}

#[test]
fn statistics_of_an_arrow_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample_store(dir.path(), "in.parquet");
    let id = s.catalog().view("stats").unwrap().id;
    let st = stats::load(s.dir()).unwrap().remove(&id).unwrap();
    assert_eq!(st.rows, 3);
    let x = &st.features[0];
    assert_eq!(
        (x.nulls, x.min, x.max, x.mean),
        (1, Some(1.5), Some(3.0), Some(2.25))
    );
    let sfeat = &st.features[2];
    assert_eq!((sfeat.nulls, sfeat.min), (1, None));
    // Int32 ids are widened to the int64 key.
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int32, false),
            Field::new("event_timestamp", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int32Array::from(vec![9])),
            Arc::new(Int64Array::from(vec![T0])),
            Arc::new(Float64Array::from(vec![Some(0.5)])),
            Arc::new(Int64Array::from(vec![Some(1)])),
            Arc::new(StringArray::from(vec![Some("w")])),
        ],
    )
    .unwrap();
    let p = dir.path().join("i32.parquet");
    write_parquet(&p, &b);
    ingest(&s, "stats", &[p], &opts()).unwrap();
    let row = s
        .get("stats", &[KeyValue::Int64(9)], ReadOptions::default())
        .unwrap();
    assert_eq!(row.values[0], Value::Float64(0.5));
}
