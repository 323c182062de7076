//! CSV reading through [`read_file`], and [`check_rows`].

use super::*;
use strata_format::schema::{KeyValue, Value};

fn csv_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Why reading `path` into `view` of the test catalog fails.
fn read_err(view: &str, path: &Path) -> String {
    read_file(&test_catalog(), view, path)
        .unwrap_err()
        .to_string()
}

fn read_csv(text: &str) -> Result<Vec<RowWrite>, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = csv_file(&dir, "in.csv", text);
    read_file(&test_catalog(), "small", &p).map_err(|e| e.to_string())
}

const HEADER: &str = "user_id,country,event_timestamp,created_timestamp,i,f,g,b,s,y,t,e,extra\n";

#[test]
fn reads_every_type_from_csv() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}\
         7,fr,2024-05-01T00:00:00Z,,42,2.5,1.5,true,hello,0aff,2024-05-02T00:00:00+02:00,\"[1.0, 2.5]\",ignored\n\
         -3,\"a,b\",1000,2000,,,,,,,,,\n"
    );
    let p = csv_file(&dir, "all.csv", &text);
    let rows = read_file(&test_catalog(), "all_types", &p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].key,
        vec![KeyValue::Int64(7), KeyValue::String("fr".into())]
    );
    assert_eq!(rows[0].event_ts, 1_714_521_600_000_000);
    assert_eq!(rows[0].created_ts, None);
    assert_eq!(
        rows[0].values,
        all_types_values((
            42,
            2.5,
            1.5,
            true,
            "hello",
            &[0x0a, 0xff],
            1_714_521_600_000_000 + 86_400_000_000 - 7_200_000_000,
            &[1.0, 2.5]
        ))
    );
    assert_eq!(
        rows[1].key,
        vec![KeyValue::Int64(-3), KeyValue::String("a,b".into())]
    );
    assert_eq!((rows[1].event_ts, rows[1].created_ts), (1000, Some(2000)));
    assert!(rows[1].values.iter().all(Value::is_null));
}

#[test]
fn column_order_and_bom_do_not_matter() {
    let rows = read_csv("\u{feff}txn_count, event_timestamp ,user_id\n5,10,1\n").unwrap();
    assert_eq!(
        rows,
        vec![RowWrite {
            key: vec![KeyValue::Int64(1)],
            event_ts: 10,
            created_ts: None,
            values: vec![Value::Int64(5)]
        }]
    );
}

#[test]
fn header_only_reads_no_rows() {
    assert_eq!(
        read_csv("user_id,event_timestamp,txn_count\n").unwrap(),
        vec![]
    );
}

#[test]
fn bad_csv_inputs() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "the file is empty; a CSV input starts with a header row naming the columns user_id,event_timestamp,txn_count",
        ),
        (
            "user_id,event_timestamp\n1,2\n",
            "missing column(s) txn_count; the file has user_id, event_timestamp",
        ),
        (
            "a,b\n",
            "missing column(s) user_id, event_timestamp, txn_count; the file has a, b",
        ),
        (
            "user_id,event_timestamp,txn_count\n1,2,3\n1,2,abc\n",
            "row 2, column txn_count: \"abc\" is not an int64",
        ),
        (
            "user_id,event_timestamp,txn_count\n,2,3\n",
            "row 1, column user_id: the join key is empty (null); every row needs a key",
        ),
        (
            "user_id,event_timestamp,txn_count\nx,2,3\n",
            "row 1, column user_id: \"x\" is not an int64",
        ),
        (
            "user_id,event_timestamp,txn_count\n1,,3\n",
            "row 1, column event_timestamp: the event timestamp is empty",
        ),
        (
            "user_id,event_timestamp,txn_count\n1,yesterday,3\n",
            "row 1, column event_timestamp: \"yesterday\" is not a timestamp",
        ),
        (
            "user_id,event_timestamp,txn_count\n1,2024-05-01 10:00:00,3\n",
            "no UTC offset",
        ),
        (
            "user_id,event_timestamp,txn_count,created_timestamp\n1,2,3,later\n",
            "row 1, column created_timestamp: \"later\" is not a timestamp",
        ),
        ("user_id,event_timestamp,txn_count\n1,2,3\n4,5\n", "row 2: "),
        (
            "user_id,event_timestamp,txn_count,txn_count\n1,2,3,4\n",
            "the header names the column txn_count more than once",
        ),
        (
            "user_id,event_timestamp,txn_count\n1,9223372036854775807,3\n",
            "row 1, column event_timestamp: 9223372036854775807 is reserved",
        ),
    ];
    for (text, want) in cases {
        let err = read_csv(text).unwrap_err();
        assert!(
            err.contains(want),
            "input {text:?}\n got: {err}\nwant: {want}"
        );
        assert!(err.contains("in.csv: "), "the error names the file: {err}");
    }
}

#[test]
fn bad_cells_of_every_type_name_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = "7,fr,1,,42,2.5,1.5,true,hello,0aff,5,[1],x";
    let cols = ["i", "f", "g", "b", "y", "t", "e"];
    let bad = ["4.5", "x", "y", "maybe", "0g", "noon", "[1,"];
    for (col, cell) in cols.iter().zip(bad) {
        let idx = HEADER.trim().split(',').position(|c| c == *col).unwrap();
        let mut cells: Vec<String> = good.split(',').map(String::from).collect();
        cells[idx] = format!("\"{cell}\"");
        let p = csv_file(
            &dir,
            "bad.csv",
            &format!("{HEADER}{good}\n{}\n", cells.join(",")),
        );
        let err = read_err("all_types", &p);
        assert!(
            err.contains(&format!("row 2, column {col}: ")),
            "{col}: {err}"
        );
    }
}

#[test]
fn unknown_view_and_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv_file(&dir, "in.csv", "a\n");
    let err = read_err("nope", &p);
    assert!(err.contains("unknown feature view \"nope\""), "{err}");
    let p = csv_file(&dir, "in.xlsx", "{}");
    let err = read_err("small", &p);
    assert!(
        err.contains("unknown file type; name the file *.csv, *.parquet, *.pq, *.arrow"),
        "{err}"
    );
    let err = read_err("small", &dir.path().join("missing.csv"));
    assert!(
        err.contains("cannot read") && err.contains("missing.csv"),
        "{err}"
    );
}

#[test]
fn check_rows_catches_what_the_store_would_refuse() {
    let cat = test_catalog();
    let t = Target::new(&cat, "all_types").unwrap();
    let mut row = RowWrite {
        key: vec![KeyValue::Int64(1), KeyValue::String("x".repeat(5000))],
        event_ts: 1,
        created_ts: None,
        values: vec![Value::Null; 8],
    };
    let err = check_rows(&t, std::slice::from_ref(&row)).unwrap_err();
    assert!(
        err.starts_with("row 1: the key is not valid: entity key longer than 4096 bytes"),
        "{err}"
    );
    row.key[1] = KeyValue::String("x".into());
    row.values[4] = Value::String("y".repeat(strata_format::row::MAX_FIELD_LEN + 1));
    let err = check_rows(&t, &[row.clone(), row.clone()]).unwrap_err();
    assert!(err.starts_with("row 1, column s: field 4"), "{err}");
    row.values[4] = Value::Null;
    row.values[0] = Value::Bool(true);
    let err = check_rows(&t, &[row]).unwrap_err();
    assert!(
        err.starts_with("row 1, column i: field 0 is int64, got a bool value"),
        "{err}"
    );
}

#[test]
fn crlf_line_endings_and_quoted_newlines() {
    let rows = read_csv("user_id,event_timestamp,txn_count\r\n1,10,5\r\n2,20,6\r\n").unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].values, vec![Value::Int64(6)]);
    // A quoted cell spanning lines is one row; row numbers count rows, not lines.
    let dir = tempfile::tempdir().unwrap();
    let p = csv_file(
        &dir,
        "in.csv",
        &format!("{HEADER}7,\"multi\nline\",1,,,,,,,,,,\n8,x,1,,bad,,,,,,,,\n"),
    );
    let err = read_err("all_types", &p);
    assert!(
        err.contains("row 2, column i: \"bad\" is not an int64"),
        "{err}"
    );
}
