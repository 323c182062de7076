//! Bad exports: every refusal names what is wrong and where, happens before
//! the output is written (no file appears, and an existing output is left
//! as it was), and null join keys give null features rather than an error.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampSecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{self, Error, ExportFiles, ExportReport, ExportRequest, Plan};
use strata::store::{RowWrite, Store};

const DEFS: &str = include_str!("fixtures/export-errors.toml");

struct Env {
    dir: tempfile::TempDir,
    store: Store,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path().join("store"), DEFS);
    store
        .write(
            "user_stats",
            &[RowWrite {
                key: vec![KeyValue::Int64(1)],
                event_ts: 0,
                created_ts: Some(0),
                values: vec![Value::Int64(7), Value::Float64(0.5)],
            }],
        )
        .unwrap();
    Env { dir, store }
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn parquet(&self, name: &str, cols: Vec<(&str, ArrayRef)>) -> PathBuf {
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let p = self.path(name);
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        p
    }

    fn csv(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn export(&self, features: &str, entities: &Path, out: &str) -> Result<ExportReport, Error> {
        let req = ExportRequest::new(features)?;
        export::export_to_file(
            &self.store,
            &req,
            &ExportFiles {
                entities: entities.to_path_buf(),
                entities_format: None,
                out: self.path(out),
                out_format: None,
            },
            &|_| {},
        )
    }

    /// Expects a refusal mentioning every one of `needles`, and no output.
    fn refused(&self, features: &str, entities: &Path, out: &str, needles: &[&str]) {
        let e = self
            .export(features, entities, out)
            .expect_err("the export should be refused")
            .to_string();
        for n in needles {
            assert!(e.contains(n), "{n:?} not in: {e}");
        }
        assert!(!self.path(out).exists(), "{out} was written: {e}");
        let leftovers: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".strata-export")
            })
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

fn ids(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}

fn micros(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v))
}

const GOOD_CSV: &str = "user_id,event_timestamp,label\n1,1970-01-01T00:00:01Z,1\n";

#[test]
fn missing_columns() {
    let e = env();
    let p = e.parquet(
        "a.parquet",
        vec![
            ("event_timestamp", micros(vec![Some(1)])),
            ("label", ids(vec![Some(1)])),
        ],
    );
    e.refused(
        "user_stats:txn_count",
        &p,
        "o.parquet",
        &[
            "a.parquet",
            "lacks the column(s) user_id (a join key of view user_stats)",
            "it has event_timestamp, label",
        ],
    );
    let p = e.csv("b.csv", "user_id,label\n1,0\n");
    e.refused(
        "user_stats:*",
        &p,
        "o.csv",
        &[
            "b.csv",
            "lacks the column(s) event_timestamp (the time of each row)",
        ],
    );
    // Every view's keys are needed.
    let p = e.csv("c.csv", GOOD_CSV);
    e.refused(
        "user_stats:txn_count,shop_stats:score",
        &p,
        "o.parquet",
        &["shop (a join key of view shop_stats)"],
    );
}

#[test]
fn wrong_types() {
    let e = env();
    let p = e.parquet(
        "a.parquet",
        vec![
            ("user_id", ids(vec![Some(1)])),
            (
                "event_timestamp",
                Arc::new(StringArray::from(vec!["2024-01-01"])),
            ),
        ],
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &["column event_timestamp is Utf8; it must be a Timestamp"],
    );
    let p = e.parquet(
        "b.parquet",
        vec![
            ("user_id", Arc::new(Float64Array::from(vec![1.0]))),
            ("event_timestamp", micros(vec![Some(1)])),
        ],
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &["column user_id (a join key of view user_stats) is Float64, but the join key is int64; write it as an integer column"],
    );
    let p = e.csv(
        "c.csv",
        "user_id,event_timestamp\n1,1970-01-01T00:00:00Z\nabc,1970-01-01T00:00:00Z\n",
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &["c.csv", "row 2, column user_id", "\"abc\" is not an int64"],
    );
    let p = e.csv("d.csv", "user_id,event_timestamp\n1,yesterday\n");
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &[
            "row 1, column event_timestamp",
            "\"yesterday\" is not a timestamp",
        ],
    );
    // A value the key type cannot hold, in row 2.
    let p = e.parquet(
        "e.parquet",
        vec![
            (
                "user_id",
                Arc::new(UInt64Array::from(vec![1, u64::MAX])) as ArrayRef,
            ),
            ("event_timestamp", micros(vec![Some(1), Some(2)])),
        ],
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &["row 2, column user_id", "does not fit an int64"],
    );
    let p = e.parquet(
        "f.parquet",
        vec![
            ("user_id", ids(vec![Some(1)])),
            (
                "event_timestamp",
                Arc::new(TimestampSecondArray::from(vec![i64::MAX / 2])),
            ),
        ],
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &["row 1, column event_timestamp", "out of range"],
    );
}

#[test]
fn null_timestamps_name_the_row() {
    let e = env();
    let p = e.parquet(
        "a.parquet",
        vec![
            ("user_id", ids(vec![Some(1), Some(1), Some(2)])),
            ("event_timestamp", micros(vec![Some(1), Some(2), None])),
        ],
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.parquet",
        &["a.parquet", "row 3, column event_timestamp: the event timestamp is null; every entity row needs one"],
    );
    let p = e.csv(
        "b.csv",
        "user_id,event_timestamp\n1,1970-01-01T00:00:00Z\n2,\n",
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.csv",
        &[
            "b.csv",
            "row 2, column event_timestamp: the event timestamp is empty",
        ],
    );
    // An existing output stays as it was.
    std::fs::write(e.path("keep.parquet"), b"old").unwrap();
    assert!(e.export("user_stats:*", &p, "keep.parquet").is_err());
    assert_eq!(std::fs::read(e.path("keep.parquet")).unwrap(), b"old");
}

#[test]
fn unknown_views_features_and_bad_references() {
    let e = env();
    let p = e.csv("a.csv", GOOD_CSV);
    // (features, what the error says)
    let cases: [(&str, &[&str]); 7] = [
        (
            "nope:x",
            &[
                "unknown feature view \"nope\"",
                "this store has: user_stats, shop_stats",
            ],
        ),
        (
            "user_stats:nope",
            &["view user_stats has no feature \"nope\"; it has txn_count, score"],
        ),
        (
            "user_stats@2:txn_count",
            &["unknown feature view \"user_stats@2\""],
        ),
        ("user_stats", &["view:feature"]),
        ("user_stats:", &["view:feature"]),
        ("user_stats:a b", &["view:feature"]),
        (",user_stats:*", &["view:feature"]),
    ];
    for (features, needles) in cases {
        e.refused(features, &p, "o.parquet", needles);
    }
}

#[test]
fn name_clashes_are_refused_before_any_work() {
    let e = env();
    let p = e.csv(
        "a.csv",
        "user_id,shop,event_timestamp\n1,x,1970-01-01T00:00:00Z\n",
    );
    e.refused(
        "user_stats:score,shop_stats:score",
        &p,
        "o.parquet",
        &[
            "shop_stats:score and user_stats:score both give the column \"score\"",
            "--full-feature-names",
        ],
    );
    e.refused(
        "user_stats:score,user_stats:*",
        &p,
        "o.parquet",
        &["requested twice"],
    );
    let p = e.csv(
        "b.csv",
        "user_id,event_timestamp,score\n1,1970-01-01T00:00:00Z,3\n",
    );
    e.refused(
        "user_stats:score",
        &p,
        "o.parquet",
        &["already has a column named score (the output column of user_stats:score)"],
    );
    // With full names both exports work.
    let r = e.export(
        "user_stats:score,shop_stats:score",
        &e.csv(
            "c.csv",
            "user_id,shop,event_timestamp\n1,x,1970-01-01T00:00:00Z\n",
        ),
        "x.parquet",
    );
    assert!(r.is_err());
    let req = {
        let mut r = ExportRequest::new("user_stats:score,shop_stats:score").unwrap();
        r.full_feature_names = true;
        r
    };
    let report = export::export_to_file(
        &e.store,
        &req,
        &ExportFiles {
            entities: e.path("c.csv"),
            entities_format: None,
            out: e.path("full.csv"),
            out_format: None,
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.rows, 1);
    let text = std::fs::read_to_string(e.path("full.csv")).unwrap();
    assert_eq!(
        text,
        "user_id,shop,event_timestamp,user_stats__score,shop_stats__score\n1,x,1970-01-01T00:00:00Z,0.5,\n"
    );
}

#[test]
fn files_and_formats() {
    let e = env();
    let txt = e.csv("a.txt", GOOD_CSV);
    let p = e.csv("a.csv", GOOD_CSV);
    let empty = e.csv("empty.csv", "");
    let junk = e.csv("junk.parquet", "not parquet at all");
    // (entities, output, what the error says)
    let cases: [(&Path, &str, &[&str]); 6] = [
        (&txt, "o.parquet", &["a.txt", "unknown file type"]),
        (&p, "o.json", &["o.json", "unknown file type"]),
        (&e.path("missing.csv"), "o.parquet", &["missing.csv"]),
        (&p, "no/such/dir/o.parquet", &["no/such/dir"]),
        (&empty, "o.parquet", &["the file is empty"]),
        (&junk, "o.parquet", &["not a readable Parquet file"]),
    ];
    for (entities, out, needles) in cases {
        e.refused("user_stats:*", entities, out, needles);
    }
    // A column CSV cannot write.
    let p = e.parquet(
        "d.parquet",
        vec![
            ("user_id", ids(vec![Some(1)])),
            ("event_timestamp", micros(vec![Some(1)])),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from(vec![100])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
        ],
    );
    e.refused(
        "user_stats:*",
        &p,
        "o.csv",
        &["the column amount is Decimal128(10, 2), which CSV output cannot write"],
    );
    assert!(e.export("user_stats:*", &p, "o.parquet").is_ok());
}

#[test]
fn null_join_keys_give_null_features() {
    let e = env();
    let p = e.csv(
        "a.csv",
        "user_id,event_timestamp,label\n1,1970-01-01T00:00:01Z,a\n,1970-01-01T00:00:01Z,b\n2,1970-01-01T00:00:01Z,c\n",
    );
    let r = e.export("user_stats:*", &p, "o.csv").unwrap();
    assert_eq!(r.matched, vec![("user_stats".to_string(), 1)]);
    assert_eq!(
        std::fs::read_to_string(e.path("o.csv")).unwrap(),
        "user_id,event_timestamp,label,txn_count,score\n\
         1,1970-01-01T00:00:01Z,a,7,0.5\n\
         ,1970-01-01T00:00:01Z,b,,\n\
         2,1970-01-01T00:00:01Z,c,,\n"
    );
}

#[test]
fn batches_of_another_shape_are_refused() {
    let e = env();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let plan = Plan::new(
        &e.store,
        &ExportRequest::new("user_stats:*").unwrap(),
        &schema,
    )
    .unwrap();
    let good = RecordBatch::try_new(
        schema.clone(),
        vec![ids(vec![Some(1)]), micros(vec![Some(5)])],
    )
    .unwrap();
    let other = RecordBatch::try_from_iter(vec![(
        "user_id",
        Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
    )])
    .unwrap();
    let nulls = RecordBatch::try_new(
        schema.clone(),
        vec![ids(vec![Some(1), Some(1)]), micros(vec![Some(5), None])],
    );
    // A batch with a null time cannot even be built with this schema; build
    // it nullable and hand it over.
    assert!(nulls.is_err());
    let lax = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
            true,
        ),
    ]));
    let plan_lax = Plan::new(&e.store, &ExportRequest::new("user_stats:*").unwrap(), &lax).unwrap();
    let with_null = RecordBatch::try_new(
        lax,
        vec![ids(vec![Some(1), Some(1)]), micros(vec![Some(5), None])],
    )
    .unwrap();
    let results: Vec<_> =
        export::export(&e.store, &plan_lax, vec![Ok(with_null)].into_iter()).collect();
    let err = results.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        err.contains("row 2, column event_timestamp: the event timestamp is null"),
        "{err}"
    );

    let results: Vec<_> =
        export::export(&e.store, &plan, vec![Ok(good), Ok(other)].into_iter()).collect();
    let err = results.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        err.contains("batch starting at row 2 has the columns user_id: Utf8"),
        "{err}"
    );
}
