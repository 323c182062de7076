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
use crate::{read_file, test_catalog};
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

#[test]
fn integers_and_floats() {
    assert_eq!(
        convert(&Int32Array::from(vec![Some(1), None]), FeatureType::Int64),
        Ok(vec![Value::Int64(1), Value::Null])
    );
    assert_eq!(
        convert(&UInt8Array::from(vec![200]), FeatureType::Int64),
        Ok(vec![Value::Int64(200)])
    );
    assert_eq!(
        convert(&UInt64Array::from(vec![1, u64::MAX]), FeatureType::Int64),
        Err(ColumnError::Cell(
            1,
            format!("{} does not fit an int64", u64::MAX)
        ))
    );
    assert_eq!(
        convert(&Float32Array::from(vec![1.5]), FeatureType::Float64),
        Ok(vec![Value::Float64(1.5)])
    );
    assert_eq!(
        convert(&Float64Array::from(vec![0.1]), FeatureType::Float32),
        Ok(vec![Value::Float32(0.1)])
    );
    assert_eq!(
        convert(&Int64Array::from(vec![3]), FeatureType::Float64),
        Ok(vec![Value::Float64(3.0)])
    );
    let err = convert(&StringArray::from(vec!["1"]), FeatureType::Int64).unwrap_err();
    assert_eq!(
        err,
        ColumnError::Type(
            "Utf8 in the file cannot be read as int64; write it as Int64 (or another integer type)"
                .into()
        )
    );
    assert!(convert(&Float64Array::from(vec![1.0]), FeatureType::Int64).is_err());
}

#[test]
fn strings_bytes_bools() {
    assert_eq!(
        convert(
            &BooleanArray::from(vec![Some(true), None]),
            FeatureType::Bool
        ),
        Ok(vec![Value::Bool(true), Value::Null])
    );
    assert_eq!(
        convert(&LargeStringArray::from(vec!["a"]), FeatureType::String),
        Ok(vec![Value::String("a".into())])
    );
    assert_eq!(
        convert(&StringViewArray::from(vec!["v"]), FeatureType::String),
        Ok(vec![Value::String("v".into())])
    );
    assert_eq!(
        convert(
            &BinaryArray::from(vec![&b"\x00\x01"[..]]),
            FeatureType::Bytes
        ),
        Ok(vec![Value::Bytes(vec![0, 1])])
    );
    let fixed =
        FixedSizeBinaryArray::try_from_iter(vec![vec![1u8, 2], vec![3, 4]].into_iter()).unwrap();
    assert_eq!(
        convert(&fixed, FeatureType::Bytes),
        Ok(vec![Value::Bytes(vec![1, 2]), Value::Bytes(vec![3, 4])])
    );
    assert!(convert(&BinaryArray::from(vec![&b"x"[..]]), FeatureType::String).is_err());
    let mut dict = StringDictionaryBuilder::<arrow_array::types::Int32Type>::new();
    dict.append_value("fr");
    dict.append_null();
    dict.append_value("fr");
    dict.append_value("de");
    let dict = dict.finish();
    assert_eq!(
        convert(&dict, FeatureType::String),
        Ok(vec![
            Value::String("fr".into()),
            Value::Null,
            Value::String("fr".into()),
            Value::String("de".into())
        ])
    );
}

#[test]
fn timestamps_of_every_unit() {
    let want = Ok(vec![Value::Timestamp(1_500_000), Value::Null]);
    assert_eq!(
        convert(
            &TimestampSecondArray::from(vec![Some(1), None]),
            FeatureType::Timestamp
        ),
        Ok(vec![Value::Timestamp(1_000_000), Value::Null])
    );
    assert_eq!(
        convert(
            &TimestampMillisecondArray::from(vec![Some(1_500), None]).with_timezone("+02:00"),
            FeatureType::Timestamp
        ),
        want
    );
    assert_eq!(
        convert(
            &TimestampMicrosecondArray::from(vec![Some(1_500_000), None]).with_timezone_utc(),
            FeatureType::Timestamp
        ),
        want
    );
    assert_eq!(
        convert(
            &TimestampNanosecondArray::from(vec![Some(1_500_000_999), None]),
            FeatureType::Timestamp
        ),
        want
    );
    assert_eq!(
        convert(
            &TimestampNanosecondArray::from(vec![-1]),
            FeatureType::Timestamp
        ),
        Ok(vec![Value::Timestamp(-1)])
    );
    assert_eq!(
        convert(
            &Int64Array::from(vec![Some(1_500_000), None]),
            FeatureType::Timestamp
        ),
        want
    );
    assert_eq!(
        convert(&Date32Array::from(vec![1]), FeatureType::Timestamp),
        Ok(vec![Value::Timestamp(86_400_000_000)])
    );
    assert_eq!(
        convert(&Date64Array::from(vec![1_500]), FeatureType::Timestamp),
        Ok(vec![Value::Timestamp(1_500_000)])
    );
    assert!(matches!(
        convert(
            &TimestampSecondArray::from(vec![0, i64::MAX]),
            FeatureType::Timestamp
        ),
        Err(ColumnError::Cell(1, _))
    ));
    assert!(matches!(
        convert(
            &StringArray::from(vec!["2024-01-01"]),
            FeatureType::Timestamp
        ),
        Err(ColumnError::Type(_))
    ));
}

#[test]
fn lists() {
    let l = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(1.0), Some(2.5)]),
        None,
        Some(vec![]),
    ]);
    assert_eq!(
        convert(&l, FeatureType::ListFloat32),
        Ok(vec![
            Value::ListFloat32(vec![1.0, 2.5]),
            Value::Null,
            Value::ListFloat32(vec![])
        ])
    );
    let l = LargeListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(vec![Some(0.5)])]);
    assert_eq!(
        convert(&l, FeatureType::ListFloat32),
        Ok(vec![Value::ListFloat32(vec![0.5])])
    );
    let sliced = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(9.0)]),
        Some(vec![Some(3.0), Some(4.0)]),
    ])
    .slice(1, 1);
    assert_eq!(
        convert(&sliced, FeatureType::ListFloat32),
        Ok(vec![Value::ListFloat32(vec![3.0, 4.0])])
    );
    let mut fixed = FixedSizeListBuilder::new(Float32Builder::new(), 2);
    fixed.values().append_slice(&[1.0, 2.0]);
    fixed.append(true);
    fixed.values().append_slice(&[3.0, 4.0]);
    fixed.append(true);
    assert_eq!(
        convert(&fixed.finish(), FeatureType::ListFloat32),
        Ok(vec![
            Value::ListFloat32(vec![1.0, 2.0]),
            Value::ListFloat32(vec![3.0, 4.0])
        ])
    );
    let holes = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(1.0)]),
        Some(vec![Some(1.0), None]),
    ]);
    assert_eq!(
        convert(&holes, FeatureType::ListFloat32),
        Err(ColumnError::Cell(
            1,
            "item 2 of the list is null; list items cannot be null".into()
        ))
    );
    let ints = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    assert!(matches!(
        convert(&ints, FeatureType::ListFloat32),
        Err(ColumnError::Type(_))
    ));
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
        vec![
            Value::Int64(1),
            Value::Float64(0.5),
            Value::Float32(0.25),
            Value::Bool(false),
            Value::String("x".into()),
            Value::Bytes(vec![0xff]),
            Value::Timestamp(2 * 86_400_000_000),
            Value::ListFloat32(vec![1.0, 2.0]),
        ]
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

    let err = small(&dir, vec![("user_id", ids()), ("event_timestamp", ts())]).unwrap_err();
    assert!(
        err.contains("missing column(s) txn_count; the file has user_id, event_timestamp"),
        "{err}"
    );

    let err = small(
        &dir,
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts()),
            ("txn_count", col(StringArray::from(vec!["a", "b"]))),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("column txn_count: Utf8 in the file cannot be read as int64"),
        "{err}"
    );

    let err = small(
        &dir,
        vec![
            ("user_id", ids()),
            ("event_timestamp", col(StringArray::from(vec!["x", "y"]))),
            ("txn_count", counts()),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("column event_timestamp: Utf8 in the file cannot be read as timestamp"),
        "{err}"
    );

    let err = small(
        &dir,
        vec![
            ("user_id", col(Int64Array::from(vec![Some(1), None]))),
            ("event_timestamp", ts()),
            ("txn_count", counts()),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("row 2, column user_id: the join key is null; every row needs a key"),
        "{err}"
    );

    let err = small(
        &dir,
        vec![
            ("user_id", ids()),
            (
                "event_timestamp",
                col(TimestampMicrosecondArray::from(vec![None, Some(1)])),
            ),
            ("txn_count", counts()),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("row 1, column event_timestamp: the event timestamp is null"),
        "{err}"
    );

    let err = small(
        &dir,
        vec![
            ("user_id", ids()),
            (
                "event_timestamp",
                col(TimestampSecondArray::from(vec![1, i64::MAX / 2])),
            ),
            ("txn_count", counts()),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("row 2, column event_timestamp: second"),
        "{err}"
    );

    let err = small(
        &dir,
        vec![
            ("user_id", ids()),
            ("event_timestamp", ts()),
            ("txn_count", col(UInt64Array::from(vec![1, u64::MAX]))),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("row 2, column txn_count: 18446744073709551615 does not fit an int64"),
        "{err}"
    );

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
    for cut in [bytes.len() - 1, bytes.len() / 2, 4] {
        let truncated = dir.path().join("cut.pq");
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let err = read_file(&test_catalog(), "small", &truncated)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cut.pq: not a readable Parquet file"),
            "cut at {cut}: {err}"
        );
    }
    let csv_named_pq = dir.path().join("text.pq");
    std::fs::write(&csv_named_pq, "user_id,event_timestamp,txn_count\n1,2,3\n").unwrap();
    let err = read_file(&test_catalog(), "small", &csv_named_pq)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a readable Parquet file"), "{err}");
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
