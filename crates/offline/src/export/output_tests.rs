//! Tests of the output files: CSV cells, what CSV cannot hold, sinks.

use arrow_array::*;

use super::*;

#[test]
fn csv_cells() {
    let list = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(1.0), Some(2.5)]),
        None,
    ]);
    let dict: DictionaryArray<Int32Type> = vec!["a", "b"].into_iter().collect();
    let cols: Vec<(&str, Arc<dyn Array>)> = vec![
        ("i", Arc::new(Int32Array::from(vec![Some(-3), None]))),
        ("f", Arc::new(Float64Array::from(vec![1.0, f64::NAN]))),
        ("s", Arc::new(StringArray::from(vec!["x,y", "\"q\""]))),
        (
            "t",
            Arc::new(TimestampNanosecondArray::from(vec![1_500, 0]).with_timezone("UTC")),
        ),
        ("d", Arc::new(Date32Array::from(vec![0, 19_000]))),
        (
            "b",
            Arc::new(BinaryArray::from(vec![&b"\x01\xff"[..], b""])),
        ),
        ("l", Arc::new(list)),
        ("k", Arc::new(dict)),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.csv");
    let mut sink = FileSink::create(&out, OutputFormat::Csv, batch.schema(), 10, 1).unwrap();
    sink.write(&batch).unwrap();
    assert_eq!(sink.finish().unwrap(), 2);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "i,f,s,t,d,b,l,k\n\
         -3,1.0,\"x,y\",1970-01-01T00:00:00.000001500Z,1970-01-01,01ff,\"[1.0,2.5]\",a\n\
         ,NaN,\"\"\"q\"\"\",1970-01-01T00:00:00Z,2022-01-08,,,b\n"
    );
    // Nothing but the output is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn csv_collections_are_json_text_that_ingest_reads_back() {
    use crate::collections::CollectionBuilder;
    use crate::read::cells::{Cell, CellType, parse_text};
    use strata_format::schema::{FeatureType, Value};
    let values = [
        Value::ListString(vec!["a,\"b".into(), "é".into()]),
        Value::ListInt64(vec![-1, 7]),
        Value::ListFloat64(vec![0.5, 2.0]),
        Value::MapStringInt64(vec![("z".into(), 3), ("a".into(), 1)]),
        Value::MapStringFloat64(vec![("a".into(), 2.5), ("b".into(), -1.0)]),
    ];
    let mut cols: Vec<(String, ArrayRef)> = Vec::new();
    for (n, v) in values.iter().enumerate() {
        let ty = v.feature_type().unwrap();
        let mut b = CollectionBuilder::new(ty, 2).unwrap();
        assert!(b.push(v) && b.push(&Value::Null));
        cols.push((format!("c{n}"), b.finish()));
    }
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.csv");
    let mut sink = FileSink::create(&out, OutputFormat::Csv, batch.schema(), 10, 1).unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = lines.records().map(Result::unwrap).collect();
    assert_eq!(
        rows[0].iter().collect::<Vec<_>>(),
        [
            r#"["a,\"b","é"]"#,
            "[-1,7]",
            "[0.5,2.0]",
            r#"{"z":3,"a":1}"#,
            r#"{"a":2.5,"b":-1.0}"#
        ]
    );
    assert!(rows[1].iter().all(str::is_empty));
    for (cell, v) in rows[0].iter().zip(&values) {
        let ty = v.feature_type().unwrap();
        let read = parse_text(CellType::of(ty), cell).unwrap();
        match (ty, read) {
            // A JSON object is read in key order.
            (FeatureType::MapStringInt64, Cell::Value(Value::MapStringInt64(mut m))) => {
                m.sort();
                let Value::MapStringInt64(mut want) = v.clone() else {
                    unreachable!()
                };
                want.sort();
                assert_eq!(m, want);
            }
            (_, read) => assert_eq!(read, Cell::Value(v.clone())),
        }
    }
}

#[test]
fn refuses_unwritable_csv_columns() {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "d",
        DataType::Decimal128(10, 2),
        true,
    )]));
    let e = check_writable(OutputFormat::Csv, &schema).unwrap_err();
    assert!(e.contains("--format parquet"), "{e}");
    assert!(check_writable(OutputFormat::Parquet, &schema).is_ok());
}

#[test]
fn a_dropped_sink_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
    let sink = FileSink::create(
        &dir.path().join("o.parquet"),
        OutputFormat::Parquet,
        schema,
        10,
        2,
    )
    .unwrap();
    drop(sink);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
