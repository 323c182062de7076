//! Parquet reading: conversions of every accepted Arrow type, and files.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, StringDictionaryBuilder};
use arrow_array::types::*;
use arrow_array::*;
use arrow_schema::{DataType, Field};
use parquet::arrow::ArrowWriter;

use crate::read::convert::{ColumnError, convert};
use crate::{all_types_values, read_file, test_catalog};
use strata_format::schema::{FeatureType, KeyValue, Value};
use strata_store::RowWrite;

/// Rows per batch of the readers.
const BATCH_ROWS: usize = 8192;

fn col(a: impl Array + 'static) -> ArrayRef {
    Arc::new(a)
}

fn write(dir: &tempfile::TempDir, name: &str, cols: Vec<(&str, ArrayRef)>) -> PathBuf {
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let p = dir.path().join(name);
    let mut w = ArrowWriter::try_new(File::create(&p).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    p
}

fn small(dir: &tempfile::TempDir, cols: Vec<(&str, ArrayRef)>) -> Result<Vec<RowWrite>, String> {
    let p = write(dir, "in.parquet", cols);
    read_file(&test_catalog(), "small", &p).map_err(|e| e.to_string())
}

/// What [`convert`] gives for one array read as one type.
type Case = (ArrayRef, FeatureType, Result<Vec<Value>, ColumnError>);

fn check(cases: Vec<Case>) {
    for (i, (a, ty, want)) in cases.into_iter().enumerate() {
        let dt = a.data_type().clone();
        assert_eq!(convert(a.as_ref(), ty), want, "case {i}: {dt} as {ty}");
    }
}

/// Arrays whose type cannot hold the feature type.
fn refused(cases: Vec<(ArrayRef, FeatureType)>) {
    for (a, ty) in cases {
        let got = convert(a.as_ref(), ty);
        assert!(
            matches!(got, Err(ColumnError::Type(_))),
            "{} as {ty}: {got:?}",
            a.data_type()
        );
    }
}

fn ok(v: Vec<Value>) -> Result<Vec<Value>, ColumnError> {
    Ok(v)
}

#[test]
fn integers_and_floats() {
    use FeatureType::*;
    check(vec![
        (
            col(Int32Array::from(vec![Some(1), None])),
            Int64,
            ok(vec![Value::Int64(1), Value::Null]),
        ),
        (col(UInt8Array::from(vec![200])), Int64, ok(vec![Value::Int64(200)])),
        (
            col(UInt64Array::from(vec![1, u64::MAX])),
            Int64,
            Err(ColumnError::Cell(
                1,
                format!("{} does not fit an int64", u64::MAX),
            )),
        ),
        (col(Float32Array::from(vec![1.5])), Float64, ok(vec![Value::Float64(1.5)])),
        (col(Float64Array::from(vec![0.1])), Float32, ok(vec![Value::Float32(0.1)])),
        (col(Int64Array::from(vec![3])), Float64, ok(vec![Value::Float64(3.0)])),
        (
            col(StringArray::from(vec!["1"])),
            Int64,
            Err(ColumnError::Type(
                "Utf8 in the file cannot be read as int64; write it as Int64 (or another integer type)"
                    .into(),
            )),
        ),
    ]);
    refused(vec![(col(Float64Array::from(vec![1.0])), Int64)]);
}

#[test]
fn strings_bytes_bools() {
    use FeatureType::*;
    let fixed =
        FixedSizeBinaryArray::try_from_iter(vec![vec![1u8, 2], vec![3, 4]].into_iter()).unwrap();
    let mut dict = StringDictionaryBuilder::<arrow_array::types::Int32Type>::new();
    dict.append_value("fr");
    dict.append_null();
    dict.append_value("fr");
    dict.append_value("de");
    let s = |x: &str| Value::String(x.into());
    check(vec![
        (
            col(BooleanArray::from(vec![Some(true), None])),
            Bool,
            ok(vec![Value::Bool(true), Value::Null]),
        ),
        (
            col(LargeStringArray::from(vec!["a"])),
            String,
            ok(vec![s("a")]),
        ),
        (
            col(StringViewArray::from(vec!["v"])),
            String,
            ok(vec![s("v")]),
        ),
        (
            col(BinaryArray::from(vec![&b"\x00\x01"[..]])),
            Bytes,
            ok(vec![Value::Bytes(vec![0, 1])]),
        ),
        (
            col(fixed),
            Bytes,
            ok(vec![Value::Bytes(vec![1, 2]), Value::Bytes(vec![3, 4])]),
        ),
        (
            col(dict.finish()),
            String,
            ok(vec![s("fr"), Value::Null, s("fr"), s("de")]),
        ),
    ]);
    refused(vec![(col(BinaryArray::from(vec![&b"x"[..]])), String)]);
}

#[test]
fn timestamps_of_every_unit() {
    let t = |v: Vec<Option<i64>>| {
        ok(v.into_iter()
            .map(|x| x.map_or(Value::Null, Value::Timestamp))
            .collect())
    };
    let want = || t(vec![Some(1_500_000), None]);
    let cases: Vec<(ArrayRef, Result<Vec<Value>, ColumnError>)> = vec![
        (
            col(TimestampSecondArray::from(vec![Some(1), None])),
            t(vec![Some(1_000_000), None]),
        ),
        (
            col(TimestampMillisecondArray::from(vec![Some(1_500), None]).with_timezone("+02:00")),
            want(),
        ),
        (
            col(TimestampMicrosecondArray::from(vec![Some(1_500_000), None]).with_timezone_utc()),
            want(),
        ),
        (
            col(TimestampNanosecondArray::from(vec![
                Some(1_500_000_999),
                None,
            ])),
            want(),
        ),
        (
            col(TimestampNanosecondArray::from(vec![-1])),
            t(vec![Some(-1)]),
        ),
        (col(Int64Array::from(vec![Some(1_500_000), None])), want()),
        (
            col(Date32Array::from(vec![1])),
            t(vec![Some(86_400_000_000)]),
        ),
        (
            col(Date64Array::from(vec![1_500])),
            t(vec![Some(1_500_000)]),
        ),
    ];
    check(
        cases
            .into_iter()
            .map(|(a, want)| (a, FeatureType::Timestamp, want))
            .collect(),
    );
    assert!(matches!(
        convert(
            &TimestampSecondArray::from(vec![0, i64::MAX]),
            FeatureType::Timestamp
        ),
        Err(ColumnError::Cell(1, _))
    ));
    refused(vec![(
        col(StringArray::from(vec!["2024-01-01"])),
        FeatureType::Timestamp,
    )]);
}

#[test]
fn lists() {
    let list = |v: &[f32]| Value::ListFloat32(v.to_vec());
    let mut fixed = FixedSizeListBuilder::new(Float32Builder::new(), 2);
    fixed.values().append_slice(&[1.0, 2.0]);
    fixed.append(true);
    fixed.values().append_slice(&[3.0, 4.0]);
    fixed.append(true);
    let cases: Vec<(ArrayRef, Result<Vec<Value>, ColumnError>)> = vec![
        (
            col(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                Some(vec![Some(1.0), Some(2.5)]),
                None,
                Some(vec![]),
            ])),
            ok(vec![list(&[1.0, 2.5]), Value::Null, list(&[])]),
        ),
        (
            col(LargeListArray::from_iter_primitive::<Float64Type, _, _>(
                vec![Some(vec![Some(0.5)])],
            )),
            ok(vec![list(&[0.5])]),
        ),
        (
            col(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                Some(vec![Some(9.0)]),
                Some(vec![Some(3.0), Some(4.0)]),
            ])
            .slice(1, 1)),
            ok(vec![list(&[3.0, 4.0])]),
        ),
        (
            col(fixed.finish()),
            ok(vec![list(&[1.0, 2.0]), list(&[3.0, 4.0])]),
        ),
        (
            col(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                Some(vec![Some(1.0)]),
                Some(vec![Some(1.0), None]),
            ])),
            Err(ColumnError::Cell(
                1,
                "item 2 of the list is null; list items cannot be null".into(),
            )),
        ),
    ];
    check(
        cases
            .into_iter()
            .map(|(a, want)| (a, FeatureType::ListFloat32, want))
            .collect(),
    );
    refused(vec![(
        col(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
        ])),
        FeatureType::ListFloat32,
    )]);
}

#[test]
fn reads_a_file_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let emb = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        None,
    ]);
    let p = write(
        &dir,
        "all.pq",
        vec![
            ("extra", col(StringArray::from(vec!["ignored", "too"]))),
            ("e", col(emb)),
            ("user_id", col(Int64Array::from(vec![7, 8]))),
            ("country", col(StringArray::from(vec!["fr", "de"]))),
            (
                "event_timestamp",
                col(TimestampNanosecondArray::from(vec![1_000, 2_000]).with_timezone_utc()),
            ),
            (
                "created_timestamp",
                col(TimestampMicrosecondArray::from(vec![Some(5), None])),
            ),
            ("i", col(Int32Array::from(vec![Some(1), None]))),
            ("f", col(Float64Array::from(vec![Some(0.5), None]))),
            ("g", col(Float32Array::from(vec![Some(0.25), None]))),
            ("b", col(BooleanArray::from(vec![Some(false), None]))),
            ("s", col(StringArray::from(vec![Some("x"), None]))),
            ("y", col(BinaryArray::from(vec![Some(&b"\xff"[..]), None]))),
            ("t", col(Date32Array::from(vec![Some(2), None]))),
        ],
    );
    let rows = read_file(&test_catalog(), "all_types", &p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].key,
        vec![KeyValue::Int64(7), KeyValue::String("fr".into())]
    );
    assert_eq!((rows[0].event_ts, rows[0].created_ts), (1, Some(5)));
    assert_eq!(
        rows[0].values,
        all_types_values((
            1,
            0.5,
            0.25,
            false,
            "x",
            &[0xff],
            2 * 86_400_000_000,
            &[1.0, 2.0]
        ))
    );
    assert_eq!((rows[1].event_ts, rows[1].created_ts), (2, None));
    assert!(rows[1].values.iter().all(Value::is_null));
}

#[test]
fn reads_many_batches_with_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let n = BATCH_ROWS * 2 + 10;
    let mut counts: Vec<Option<i64>> = (0..n as i64).map(Some).collect();
    let ok = small(
        &dir,
        vec![
            ("user_id", col(Int64Array::from_iter_values(0..n as i64))),
            (
                "event_timestamp",
                col(Int64Array::from_iter_values(0..n as i64)),
            ),
            ("txn_count", col(Int64Array::from(counts.clone()))),
        ],
    )
    .unwrap();
    assert_eq!(ok.len(), n);
    assert_eq!(ok[n - 1].values, vec![Value::Int64(n as i64 - 1)]);
    counts[n - 3] = Some(0);
    let mut keys: Vec<Option<i64>> = (0..n as i64).map(Some).collect();
    keys[n - 2] = None;
    let err = small(
        &dir,
        vec![
            ("user_id", col(Int64Array::from(keys))),
            (
                "event_timestamp",
                col(Int64Array::from_iter_values(0..n as i64)),
            ),
            ("txn_count", col(Int64Array::from(counts))),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains(&format!(
            "row {}, column user_id: the join key is null",
            n - 1
        )),
        "{err}"
    );
}

#[test]
fn bad_parquet_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let ids = || col(Int64Array::from(vec![1, 2]));
    let ts = || col(TimestampMicrosecondArray::from(vec![1, 2]));
    let counts = || col(Int64Array::from(vec![3, 4]));
    // `(user_id, event_timestamp, txn_count)` (`None`: no such column), and
    // what the error says.
    type Column = Option<ArrayRef>;
    let cases: Vec<(Column, Column, Column, &str)> = vec![
        (
            Some(ids()),
            Some(ts()),
            None,
            "missing column(s) txn_count; the file has user_id, event_timestamp",
        ),
        (
            Some(ids()),
            Some(ts()),
            Some(col(StringArray::from(vec!["a", "b"]))),
            "column txn_count: Utf8 in the file cannot be read as int64",
        ),
        (
            Some(ids()),
            Some(col(StringArray::from(vec!["x", "y"]))),
            Some(counts()),
            "column event_timestamp: Utf8 in the file cannot be read as timestamp",
        ),
        (
            Some(col(Int64Array::from(vec![Some(1), None]))),
            Some(ts()),
            Some(counts()),
            "row 2, column user_id: the join key is null; every row needs a key",
        ),
        (
            Some(ids()),
            Some(col(TimestampMicrosecondArray::from(vec![None, Some(1)]))),
            Some(counts()),
            "row 1, column event_timestamp: the event timestamp is null",
        ),
        (
            Some(ids()),
            Some(col(TimestampSecondArray::from(vec![1, i64::MAX / 2]))),
            Some(counts()),
            "row 2, column event_timestamp: second",
        ),
        (
            Some(ids()),
            Some(ts()),
            Some(col(UInt64Array::from(vec![1, u64::MAX]))),
            "row 2, column txn_count: 18446744073709551615 does not fit an int64",
        ),
    ];
    for (user_id, event_timestamp, txn_count, want) in cases {
        let cols = [
            ("user_id", user_id),
            ("event_timestamp", event_timestamp),
            ("txn_count", txn_count),
        ];
        let cols = cols
            .into_iter()
            .filter_map(|(n, c)| Some((n, c?)))
            .collect();
        let err = small(&dir, cols).unwrap_err();
        assert!(err.contains(want), "want {want:?} in: {err}");
    }

    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    let err = read_file(&test_catalog(), "small", &empty)
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty.parquet: the file is empty"), "{err}");

    let good = write(
        &dir,
        "good.parquet",
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts()),
            ("txn_count", counts()),
        ],
    );
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("cut.pq");
    let csv_named_pq = dir.path().join("text.pq");
    let files = [
        (&truncated, bytes[..bytes.len() - 1].to_vec()),
        (&truncated, bytes[..bytes.len() / 2].to_vec()),
        (&truncated, bytes[..4].to_vec()),
        (
            &csv_named_pq,
            b"user_id,event_timestamp,txn_count\n1,2,3\n".to_vec(),
        ),
    ];
    for (p, content) in files {
        std::fs::write(p, &content).unwrap();
        let err = read_file(&test_catalog(), "small", p)
            .unwrap_err()
            .to_string();
        let want = format!("{}: not a readable Parquet file", p.display());
        assert!(err.contains(&want), "{} bytes: {err}", content.len());
    }
}

#[test]
fn duplicate_column_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fields = vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("event_timestamp", DataType::Int64, false),
        Field::new("txn_count", DataType::Int64, false),
        Field::new("txn_count", DataType::Int64, false),
    ];
    let schema = Arc::new(arrow_schema::Schema::new(fields));
    let cols: Vec<ArrayRef> = (0..4).map(|_| col(Int64Array::from(vec![1]))).collect();
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let p = dir.path().join("dup.parquet");
    let mut w = ArrowWriter::try_new(File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let err = read_file(&test_catalog(), "small", &p)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more than one column named txn_count"),
        "{err}"
    );
}
