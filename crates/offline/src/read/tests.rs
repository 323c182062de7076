//! The readers themselves: typing, batches, errors; and one file read by
//! ingest and by the export alike.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, Int64Array, NullArray, RecordBatch};
use arrow_schema::DataType;
use strata_format::schema::{FeatureType, KeyType, Value};

use super::cells::from_json;
use super::convert::convert;
use super::*;
use crate::export::EntityTable;
use crate::{Target, read_file, source, test_catalog};

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `a.csv`, holding `text`, in a new temporary directory.
fn csv_in_a_new_dir(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "a.csv", text);
    (dir, p)
}

fn declared(name: &str, ty: CellType, required: Option<&str>) -> Declared {
    Declared {
        name: name.into(),
        label: name.into(),
        ty,
        required: required.map(str::to_string),
        optional: false,
        omittable: false,
    }
}

/// Every batch of a source, or the first error's message.
fn read_all(src: &Source, batch_rows: usize) -> (Vec<RecordBatch>, Option<String>) {
    let mut out = Vec::new();
    for b in src.batches(None, batch_rows).unwrap() {
        match b {
            Ok(b) => out.push(b),
            Err(ReadError::Invalid(why)) => return (out, Some(why)),
            Err(e) => return (out, Some(format!("{e:?}"))),
        }
    }
    (out, None)
}

#[test]
fn csv_columns_are_declared_inferred_or_text() {
    let (dir, p) = csv_in_a_new_dir(
        "id,event_timestamp,n,x,flag,word,empty\n\
         1,1970-01-01T00:00:01Z,3,1.5,true,a,\n\
         2,2,-4,2,FALSE,7,\n",
    );
    let spec = Columns {
        declared: vec![
            declared("id", CellType::Utf8, None),
            declared("event_timestamp", CellType::Timestamp, Some("needed")),
        ],
        infer_rest: true,
    };
    let src = Source::open(&p, Format::Csv, &spec).unwrap();
    let types: Vec<DataType> = src
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Utf8,
            CellType::Timestamp.arrow(),
            DataType::Int64,
            DataType::Float64,
            DataType::Boolean,
            DataType::Utf8,
            DataType::Utf8
        ]
    );
    assert_eq!(src.checked_rows(), Some(2));
    let (batches, err) = read_all(&src, 1);
    assert_eq!((batches.len(), err), (2, None));
    let ts = batches[1]
        .column(1)
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 2);

    // Without inference the undeclared columns are text, read verbatim.
    let spec = Columns {
        infer_rest: false,
        ..spec
    };
    let src = Source::open(&p, Format::Csv, &spec).unwrap();
    assert_eq!(src.checked_rows(), None);
    assert_eq!(src.schema().field(2).data_type(), &DataType::Utf8);
    let (batches, _) = read_all(&src, 10);
    assert_eq!(batches[0].column(5).as_string::<i32>().value(1), "7");

    // With inference every declared cell is checked when opened.
    let bad = file(&dir, "b.csv", "id,event_timestamp\n1,1\n2,\n");
    let err = match Source::open(
        &bad,
        Format::Csv,
        &Columns {
            infer_rest: true,
            ..spec
        },
    ) {
        Err(ReadError::Invalid(why)) => why,
        _ => panic!("an empty required cell is refused"),
    };
    assert_eq!(err, "row 2, column event_timestamp: needed");
}

#[test]
fn a_bad_row_ends_the_batch_before_it() {
    let (_dir, p) = csv_in_a_new_dir("n\n1\n2\n3\nx\n5\n");
    let spec = Columns {
        declared: vec![declared("n", CellType::Int64, None)],
        infer_rest: false,
    };
    let src = Source::open(&p, Format::Csv, &spec).unwrap();
    let (batches, err) = read_all(&src, 2);
    let rows: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(rows, [2, 1], "the rows before the bad one");
    assert_eq!(err.unwrap(), "row 4, column n: \"x\" is not an int64");
}

#[test]
fn json_lines_read_the_declared_columns() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Columns {
        declared: vec![
            declared("k", CellType::Int64, Some("needed")),
            declared("v", CellType::ListFloat32, None),
            Declared {
                optional: true,
                ..declared("o", CellType::Bool, None)
            },
        ],
        infer_rest: false,
    };
    let p = file(
        &dir,
        "a.jsonl",
        "{\"k\":1,\"v\":[1,2.5]}\n\n{\"k\":2,\"v\":null,\"x\":0}\n",
    );
    let src = Source::open(&p, Format::JsonLines, &spec).unwrap();
    let (batches, err) = read_all(&src, 10);
    assert_eq!(err, None);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    assert_eq!(
        convert(b.column(1).as_ref(), FeatureType::ListFloat32),
        Ok(vec![Value::ListFloat32(vec![1.0, 2.5]), Value::Null])
    );
    assert_eq!(b.column(2).null_count(), 2);

    let cases = [
        ("{\"k\":1}\n", "missing field(s) v: no line has them"),
        ("{\"v\":[]}\n", "row 1 (line 1), field k: needed"),
        (
            "{\"k\":1,\"v\":[]}\n\n{\"k\":\"a\",\"v\":[]}\n",
            "row 2 (line 3), field k: \"a\" is not an int64",
        ),
        ("[1]\n", "row 1 (line 1): not a JSON object"),
    ];
    for (text, want) in cases {
        let p = file(&dir, "b.jsonl", text);
        let src = Source::open(&p, Format::JsonLines, &spec).unwrap();
        let err = read_all(&src, 10).1.unwrap_or_default();
        assert!(err.starts_with(want), "{text:?}: {err}");
    }
}

#[test]
fn json_cells() {
    let j = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    assert_eq!(
        from_json(CellType::Timestamp, &j("\"1970-01-01T00:00:01Z\"")),
        Ok(cells::Cell::Time(1_000_000))
    );
    assert_eq!(
        from_json(CellType::Timestamp, &j("7")),
        Ok(cells::Cell::Time(7))
    );
    assert_eq!(
        from_json(CellType::Int64, &j("1.5")).unwrap_err(),
        "1.5 is not an int64"
    );
    assert_eq!(
        from_json(CellType::Utf8, &j("1")).unwrap_err(),
        "1 is not a string"
    );
    assert_eq!(
        from_json(CellType::Binary, &j("\"0aff\"")),
        Ok(cells::Cell::Bytes(vec![10, 255]))
    );
    assert!(
        from_json(CellType::ListFloat32, &j("[1, \"x\"]"))
            .unwrap_err()
            .contains("item 2 \"x\" is not a number")
    );
    assert_eq!(from_json(CellType::Bool, &j("null")), Ok(cells::Cell::Null));
}

/// A CSV file read as an export's entity table and as an ingest input:
/// the same keys and event times.
#[test]
fn ingest_and_export_read_a_csv_alike() {
    let (_dir, p) = csv_in_a_new_dir(
        "user_id,event_timestamp,txn_count\n 7 ,2024-05-01T02:00:00+02:00,1\n-1,12,\n",
    );
    let cat = test_catalog();
    let target = Target::new(&cat, "small").unwrap();
    let ingest = Source::open(&p, Format::Csv, &source::columns(&target, Format::Csv)).unwrap();
    let keys = HashMap::from([("user_id".to_string(), KeyType::Int64)]);
    let export = EntityTable::open(&p, None, &keys).unwrap();
    assert_eq!(export.rows(), Some(2));
    let a = read_all(&ingest, 100).0.remove(0);
    let b = export
        .batches(100, 1, 100)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    for col in ["user_id", "event_timestamp"] {
        let (x, y) = (
            a.column_by_name(col).unwrap(),
            b.column_by_name(col).unwrap(),
        );
        assert_eq!(x.as_ref(), y.as_ref(), "{col}");
    }
    let ts = a.column_by_name("event_timestamp").unwrap();
    let ts = ts.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.values().as_ref(), [1_714_521_600_000_000, 12]);
    let ids = a.column_by_name("user_id").unwrap();
    assert_eq!(ids.as_primitive::<Int64Type>().values().as_ref(), [7, -1]);
}

fn parquet(dir: &tempfile::TempDir, name: &str, cols: Vec<(&str, ArrayRef)>) -> PathBuf {
    let batch =
        RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(n, a)| (n, a, true)))
            .unwrap();
    let p = dir.path().join(name);
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    p
}

/// pandas writes an all-`None` column as Arrow `Null`: it is a column of
/// nulls of the feature's type, in ingest and in pushed rows.
#[test]
fn null_typed_columns_are_all_null() {
    for ty in [
        FeatureType::Int64,
        FeatureType::String,
        FeatureType::Timestamp,
        FeatureType::ListFloat32,
    ] {
        assert_eq!(
            convert(&NullArray::new(2), ty),
            Ok(vec![Value::Null, Value::Null])
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let cols = |txn: ArrayRef| -> Vec<(&str, ArrayRef)> {
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1, 2]))),
            ("event_timestamp", Arc::new(Int64Array::from(vec![5, 6]))),
            ("txn_count", txn),
            ("created_timestamp", Arc::new(NullArray::new(2))),
        ]
    };
    let p = parquet(&dir, "n.parquet", cols(Arc::new(NullArray::new(2))));
    let rows = read_file(&test_catalog(), "small", &p).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.values == [Value::Null] && r.created_ts.is_none())
    );

    let s = strata_store::Store::open(dir.path().join("store")).unwrap();
    s.set_catalog(test_catalog()).unwrap();
    let report = crate::ingest_file(&s, "small", &p, false).unwrap();
    assert_eq!((report.rows, report.summary.written), (2, 2));

    // A key column of Null type is a null key.
    let mut c = cols(Arc::new(Int64Array::from(vec![1, 2])));
    c[0].1 = Arc::new(NullArray::new(2));
    let p = parquet(&dir, "k.parquet", c);
    let err = crate::ingest_file(&s, "small", &p, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1, column user_id: the join key is null"),
        "{err}"
    );
}
