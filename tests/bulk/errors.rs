//! Refused inputs and the quality policies.

use super::*;

/// Every refused input: the error names the problem and the store is untouched.
#[test]
fn bad_inputs_are_refused_and_leave_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample_store(dir.path(), "good.parquet");
    let before = state(&s, "stats");
    let d = dir.path();
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    let mut file = |name: &str, bytes: Vec<u8>, want: &'static str| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        cases.push((p, want));
    };
    // Missing column, in every format.
    file(
        "m.csv",
        b"user_id,event_timestamp,x,n\n1,5,1,1\n".to_vec(),
        "missing column(s) s",
    );
    file(
        "m.jsonl",
        b"{\"user_id\":1,\"event_timestamp\":5,\"x\":1,\"n\":1}\n".to_vec(),
        "missing field(s) s",
    );
    // Wrong type.
    file(
        "t.csv",
        b"user_id,event_timestamp,x,n,s\n1,5,1,abc,s\n".to_vec(),
        "row 1, column n: \"abc\" is not an int64",
    );
    file(
        "t.jsonl",
        b"{\"user_id\":1,\"event_timestamp\":5,\"x\":\"hi\",\"n\":1,\"s\":\"a\"}\n".to_vec(),
        "field x: \"hi\" is not a float64",
    );
    // Null join key.
    file(
        "k.csv",
        b"user_id,event_timestamp,x,n,s\n1,5,1,1,s\n,5,1,1,s\n".to_vec(),
        "row 2, column user_id: the join key is empty",
    );
    file(
        "k.jsonl",
        b"{\"user_id\":null,\"event_timestamp\":5,\"x\":1,\"n\":1,\"s\":\"a\"}\n".to_vec(),
        "field user_id: the join key is missing or null",
    );
    // Unparseable timestamp.
    file(
        "ts.csv",
        b"user_id,event_timestamp,x,n,s\n1,2024-13-45,1,1,s\n".to_vec(),
        "row 1, column event_timestamp",
    );
    file(
        "ts.jsonl",
        b"{\"user_id\":1,\"event_timestamp\":\"soon\",\"x\":1,\"n\":1,\"s\":\"a\"}\n".to_vec(),
        "field event_timestamp: \"\\\"soon\\\"\" is not a timestamp",
    );
    // Empty files.
    for name in ["e.csv", "e.jsonl", "e.parquet", "e.arrow"] {
        file(name, Vec::new(), "the file is empty");
    }
    // Not JSON.
    file(
        "j.jsonl",
        b"{\"user_id\": 1,\n".to_vec(),
        "row 1 (line 1): not a JSON object",
    );
    // Truncated Parquet and Arrow IPC files.
    let good = std::fs::read(d.join("good.parquet")).unwrap();
    file(
        "trunc.parquet",
        good[..good.len() - 20].to_vec(),
        "not a readable Parquet file",
    );
    file(
        "trunc2.parquet",
        good[..good.len() / 2].to_vec(),
        "not a readable Parquet file",
    );
    let ipc = sample_file(d, "good.arrow");
    let ipc = std::fs::read(ipc).unwrap();
    file(
        "trunc.arrow",
        ipc[..ipc.len() - 30].to_vec(),
        "not a readable Arrow IPC",
    );
    // Arrow-typed problems: null key, wrong type, null event time.
    let mut arrow_case = |name: &str, b: RecordBatch, want: &'static str| {
        let p = d.join(name);
        write_parquet(&p, &b);
        cases.push((p, want));
    };
    let ts =
        || -> ArrayRef { Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![T0, T0])) };
    let mut b = batch(
        vec![1, 2],
        ts(),
        vec![Some(1.0); 2],
        vec![Some(1); 2],
        vec![Some("a"); 2],
    );
    let mut cols = b.columns().to_vec();
    cols[0] = Arc::new(Int64Array::from(vec![Some(1), None]));
    b = RecordBatch::try_new(b.schema(), cols).unwrap();
    arrow_case(
        "nk.parquet",
        b,
        "row 2, column user_id: the join key is null",
    );
    let b = batch(
        vec![1, 2],
        ts(),
        vec![Some(1.0); 2],
        vec![Some(1); 2],
        vec![Some("a"); 2],
    );
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[3] = Field::new("n", DataType::Utf8, true);
    let mut cols = b.columns().to_vec();
    cols[3] = Arc::new(StringArray::from(vec!["1", "2"]));
    let wrong = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    arrow_case(
        "wt.parquet",
        wrong,
        "column n: Utf8 in the file cannot be read as int64",
    );
    let b = batch(
        vec![1, 2],
        Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![
            Some(T0),
            None,
        ])),
        vec![Some(1.0); 2],
        vec![Some(1); 2],
        vec![Some("a"); 2],
    );
    arrow_case(
        "ne.parquet",
        b,
        "row 2, column event_timestamp: the event timestamp is null",
    );

    for (p, want) in &cases {
        for via_wal in [false, true] {
            let e = refused(
                &s,
                "stats",
                std::slice::from_ref(p),
                &IngestOptions { via_wal, ..opts() },
            );
            assert!(
                e.contains(want),
                "{}: expected {want:?} in: {e}",
                p.display()
            );
            assert!(
                e.contains(&p.display().to_string()),
                "the error names the file: {e}"
            );
            assert!(e.contains("nothing was written"), "{e}");
            assert_eq!(
                state(&s, "stats"),
                before,
                "{}: the store changed",
                p.display()
            );
        }
    }
}

#[test]
fn quality_reject_refuses_and_warn_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir.path().join("store"));
    let p = dir.path().join("q.csv");
    std::fs::write(
        &p,
        "user_id,event_timestamp,age,tier\n1,5,30,gold\n2,5,-4,gold\n3,5,,silver\n4,5,200,bronze\n",
    )
    .unwrap();
    let before = state(&s, "checked");
    let e = refused(&s, "checked", std::slice::from_ref(&p), &opts());
    for want in [
        "breaks the expectations of checked",
        "column age: min 0 broken by 1 row(s): row 2 (-4)",
        "column age: max 150 broken by 1 row(s): row 4 (200)",
        "column age: not_null broken by 1 row(s): row 3 (null)",
        "column tier: allowed broken by 1 row(s): row 4 (\"bronze\")",
        "nothing was written",
    ] {
        assert!(e.contains(want), "{want:?} not in: {e}");
    }
    assert_eq!(state(&s, "checked"), before);
    // The same file under `warn` is ingested, and the violations recorded.
    let warn = DEFS.replace("quality = \"reject\"", "quality = \"warn\"");
    common::stores::apply(&s, &warn);
    let r = ingest(&s, "checked", &[p], &opts()).unwrap();
    assert_eq!(r.violations.len(), 4);
    assert!(
        r.to_string()
            .contains("4 row(s): 4 written, 4 expectation violation(s)")
            && r.to_string()
                .contains("WARNING: expectation violations recorded"),
        "{r}"
    );
    let id = s.catalog().view("checked").unwrap().id;
    let st = stats::load(s.dir()).unwrap().remove(&id).unwrap();
    assert_eq!((st.rows, st.policy.as_str()), (4, "warn"));
    assert_eq!(st.violations.len(), 4);
    let age = &st.features[0];
    assert_eq!((age.nulls, age.min, age.max), (1, Some(-4.0), Some(200.0)));
    assert!((age.null_fraction - 0.25).abs() < 1e-12);
    assert!((age.mean.unwrap() - 226.0 / 3.0).abs() < 1e-9);
}
