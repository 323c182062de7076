//! Files written before a view gained features: the last features may be
//! left out when each declares a default (the rows read it, `DEFAULTED`);
//! any other missing column is refused, naming it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use parquet::arrow::ArrowWriter;

use super::{ingest_file, read_file, test_catalog};
use strata_format::schema::{KeyValue, Value};
use strata_store::{ReadOptions, Status, Store};

fn csv(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("in.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn parquet(dir: &Path, cols: Vec<(&str, ArrayRef)>) -> PathBuf {
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let p = dir.join("in.parquet");
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    p
}

fn read(text: &str) -> Result<Vec<Vec<Value>>, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), text);
    read_file(&test_catalog(), "evolved", &p)
        .map(|rows| rows.into_iter().map(|r| r.values).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn a_file_may_leave_out_the_last_features_if_they_declare_defaults() {
    // Without `level` and `tier`: each row has the first two values.
    assert_eq!(
        read("user_id,event_timestamp,txn_count,note\n1,10,5,x\n").unwrap(),
        vec![vec![Value::Int64(5), Value::String("x".into())]]
    );
    // Without `tier` only.
    assert_eq!(
        read("user_id,event_timestamp,txn_count,note,level\n1,10,5,,2\n").unwrap(),
        vec![vec![Value::Int64(5), Value::Null, Value::Int64(2)]]
    );
    // `note` declares no default: a file without it is refused.
    let e = read("user_id,event_timestamp,txn_count\n1,10,5\n").unwrap_err();
    assert!(
        e.contains("missing column(s) note; the file has user_id, event_timestamp, txn_count"),
        "{e}"
    );
    // `level` has a default, but `tier`, after it, is in the file.
    let e = read("user_id,event_timestamp,txn_count,note,tier\n1,10,5,x,gold\n").unwrap_err();
    assert!(
        e.contains("missing column(s) level;")
            && e.contains(
                "level declare(s) a default, but a file may leave out only the view's last features"
            ),
        "{e}"
    );
}

#[test]
fn bulk_ingest_of_an_older_file_reads_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("data")).unwrap();
    store.set_catalog(test_catalog()).unwrap();
    let ts = |v: Vec<i64>| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(v)) };
    // A Parquet file without `level` and `tier`, and a CSV file without `tier`.
    let p = parquet(
        dir.path(),
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("event_timestamp", ts(vec![10])),
            ("txn_count", Arc::new(Int64Array::from(vec![5]))),
            ("note", Arc::new(StringArray::from(vec!["x"]))),
        ],
    );
    ingest_file(&store, "evolved", &p, false).unwrap();
    let c = csv(
        dir.path(),
        "user_id,event_timestamp,txn_count,note,level\n2,10,6,y,4\n",
    );
    ingest_file(&store, "evolved", &c, false).unwrap();
    let get = |k: i64| {
        store
            .get("evolved", &[KeyValue::Int64(k)], ReadOptions::default())
            .unwrap()
    };
    let one = get(1);
    assert_eq!(
        one.values,
        vec![
            Value::Int64(5),
            Value::String("x".into()),
            Value::Int64(1),
            Value::String("bronze".into())
        ]
    );
    assert_eq!(
        one.statuses,
        vec![
            Status::Present,
            Status::Present,
            Status::Defaulted,
            Status::Defaulted
        ]
    );
    let two = get(2);
    assert_eq!(two.values[2], Value::Int64(4));
    assert_eq!(&two.statuses[2..], &[Status::Present, Status::Defaulted]);
}

fn read_jsonl(text: &str) -> Result<Vec<Vec<Value>>, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.jsonl");
    std::fs::write(&p, text).unwrap();
    read_file(&test_catalog(), "evolved", &p)
        .map(|rows| rows.into_iter().map(|r| r.values).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn a_json_lines_file_that_never_names_the_last_features_leaves_them_out() {
    let line = |rest: &str| format!(r#"{{"user_id":1,"event_timestamp":10,"txn_count":5{rest}}}"#);
    // No line names `level` or `tier`: the rows are short, as from CSV.
    let text = format!("{}\n\n{}\n", line(r#","note":"x""#), line(r#","note":"y""#));
    assert_eq!(
        read_jsonl(&text).unwrap(),
        vec![
            vec![Value::Int64(5), Value::String("x".into())],
            vec![Value::Int64(5), Value::String("y".into())]
        ]
    );
    // Some line names `tier` (the last one, past the first pass's first
    // line): the file has the column, and a line without it is null there.
    let text = format!(
        "{}\n{}\n",
        line(r#","note":"x","level":2"#),
        line(r#","note":"y","level":3,"tier":"gold""#)
    );
    assert_eq!(
        read_jsonl(&text).unwrap(),
        vec![
            vec![
                Value::Int64(5),
                Value::String("x".into()),
                Value::Int64(2),
                Value::Null
            ],
            vec![
                Value::Int64(5),
                Value::String("y".into()),
                Value::Int64(3),
                Value::String("gold".into())
            ]
        ]
    );
    // `note` declares no default: never naming it is still refused.
    let e = read_jsonl(&format!("{}\n", line(""))).unwrap_err();
    assert!(e.contains("missing field(s) note"), "{e}");
    // `level` is never named while `tier`, after it, is: refused as CSV is.
    let e = read_jsonl(&format!("{}\n", line(r#","note":"x","tier":"gold""#))).unwrap_err();
    assert!(
        e.contains("missing column(s) level;") && e.contains("level declare(s) a default"),
        "{e}"
    );
    // A line that is not an object is reported, whichever pass meets it.
    let e = read_jsonl(&format!("{}\nnope\n", line(r#","note":"x""#))).unwrap_err();
    assert!(e.contains("row 2 (line 2): not a JSON object"), "{e}");
}

#[test]
fn bulk_ingest_of_an_older_json_lines_file_reads_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("data")).unwrap();
    store.set_catalog(test_catalog()).unwrap();
    let p = dir.path().join("in.jsonl");
    std::fs::write(
        &p,
        "{\"user_id\":1,\"event_timestamp\":10,\"txn_count\":5,\"note\":\"x\",\"level\":4}\n\
         {\"user_id\":2,\"event_timestamp\":10,\"txn_count\":6,\"note\":\"y\"}\n",
    )
    .unwrap();
    ingest_file(&store, "evolved", &p, false).unwrap();
    let get = |k: i64| {
        store
            .get("evolved", &[KeyValue::Int64(k)], ReadOptions::default())
            .unwrap()
    };
    let (one, two) = (get(1), get(2));
    assert_eq!(
        one.values[2..],
        [Value::Int64(4), Value::String("bronze".into())]
    );
    assert_eq!(one.statuses[2..], [Status::Present, Status::Defaulted]);
    // `level` is in the file, so the line without it is null, not defaulted.
    assert_eq!(
        two.values[2..],
        [Value::Null, Value::String("bronze".into())]
    );
    assert_eq!(two.statuses[2..], [Status::NullValue, Status::Defaulted]);
}

/// Every Parquet file under `dir`.
fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parts(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_snapshot_ingested_again_reads_as_the_store_did() {
    use crate::export::snapshot::{SnapshotRequest, snapshot};

    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let store = Store::open(dir.path().join(name)).unwrap();
        store.set_catalog(test_catalog()).unwrap();
        store
    };
    let a = open("a");
    let (int, s) = (Value::Int64, |t: &str| Value::String(t.into()));
    // Versions written with 2, 3 and 4 of the 4 features, stored nulls
    // among them, on two dates.
    let versions = [
        (1, 10, vec![int(5), s("x")]),
        (1, 90_000_000_000, vec![int(6), s("y"), int(2), s("gold")]),
        (2, 10, vec![int(7), Value::Null, Value::Null]),
        (3, 10, vec![int(8), s("z"), int(3)]),
        (3, 20, vec![int(9), s("w"), Value::Null, Value::Null]),
    ];
    for (k, t, values) in &versions {
        let row = strata_store::RowWrite {
            key: vec![KeyValue::Int64(*k)],
            event_ts: *t,
            created_ts: Some(1),
            values: values.clone(),
        };
        a.write("evolved", &[row]).unwrap();
    }
    let out = dir.path().join("snap");
    snapshot(&a, &SnapshotRequest::new("evolved"), &out, &|_, _| {}).unwrap();
    let b = open("b");
    let files = parts(&out);
    assert!(files.len() >= 3, "{files:?}");
    for p in &files {
        ingest_file(&b, "evolved", p, false).unwrap();
    }
    for (k, t, _) in &versions {
        let opts = ReadOptions {
            as_of: Some(*t),
            known_at: None,
        };
        let read = |st: &Store| st.get("evolved", &[KeyValue::Int64(*k)], opts).unwrap();
        let (was, now) = (read(&a), read(&b));
        assert_eq!(
            (&now.values, &now.statuses),
            (&was.values, &was.statuses),
            "key {k} at {t}"
        );
    }
    // The short versions did read the defaults (the test sees DEFAULTED).
    let one = a
        .get(
            "evolved",
            &[KeyValue::Int64(1)],
            ReadOptions {
                as_of: Some(10),
                known_at: None,
            },
        )
        .unwrap();
    assert_eq!(one.statuses[2..], [Status::Defaulted, Status::Defaulted]);
}
