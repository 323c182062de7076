//! `strata export` and `strata snapshot`.

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

/// Reads a whole Parquet file as one batch.
fn read_parquet(path: &Path) -> RecordBatch {
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
fn export_csv_to_csv() {
    let t = setup();
    write(t.path(), "a.csv", CSV);
    ingest(t.path(), "user_stats", "a.csv");
    write(
        t.path(),
        "entities.csv",
        "user_id,event_timestamp,label\n\
         1,2024-05-02T00:00:00Z,yes\n\
         1,2024-05-04T12:00:00Z,no\n\
         2,2024-04-30T00:00:00Z,no\n\
         3,2024-05-04T00:00:00Z,yes\n\
         2,2024-05-02T00:00:00Z,yes\n",
    );
    let r = strata(
        t.path(),
        &argv("export --data data --entities entities.csv --features user_stats:* --out train.csv"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("exported 5 row(s) with 4 feature(s) to train.csv (csv)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("rows with a value: user_stats 3 (60.0 %)"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr, "", "no progress bar without a terminal");
    assert_eq!(
        std::fs::read_to_string(t.path().join("train.csv")).unwrap(),
        "user_id,event_timestamp,label,amount_avg,txn_count,segment,embedding\n\
         1,2024-05-02T00:00:00Z,yes,1.5,3,new,\n\
         1,2024-05-04T12:00:00Z,no,2.5,7,vip,\"[1.0,2.0]\"\n\
         2,2024-04-30T00:00:00Z,no,,,,\n\
         3,2024-05-04T00:00:00Z,yes,,,,\n\
         2,2024-05-02T00:00:00Z,yes,,9,regular,\"[0.5,0.25]\"\n"
    );
}

#[test]
fn export_two_views_with_composite_keys_to_parquet() {
    let t = setup();
    write_parquet(&t.path().join("in.parquet"), 300, None);
    ingest(t.path(), "user_stats", "in.parquet");
    write(
        t.path(),
        "visits.csv",
        "user_id,country,event_timestamp,visits\n\
         7,fr,2024-05-01T00:00:00Z,1\n\
         7,fr,2024-05-05T00:00:00Z,2\n\
         7,de,2024-05-01T00:00:00Z,10\n",
    );
    ingest(t.path(), "user_country", "visits.csv");
    // Rows: (user, country, time).
    write(
        t.path(),
        "entities.csv",
        "user_id,country,event_timestamp\n\
         7,fr,2024-05-04T00:00:00Z\n\
         7,fr,2024-05-09T00:00:00Z\n\
         7,de,2024-05-09T00:00:00Z\n\
         7,,2024-05-09T00:00:00Z\n\
         8,de,2024-05-01T00:02:00Z\n",
    );
    let out = ok(
        t.path(),
        &[
            "export",
            "--data",
            "data",
            "--entities",
            "entities.csv",
            "--features",
            "user_country:visits, user_stats:txn_count",
            "--full-feature-names",
            "--out",
            "train.parquet",
        ],
    );
    assert!(
        out.contains("user_country 2 (40.0 %), user_stats 5 (100.0 %)"),
        "{out}"
    );
    let b = read_parquet(&t.path().join("train.parquet"));
    let names = common::tables::column_names(&b);
    assert_eq!(
        names,
        [
            "user_id",
            "country",
            "event_timestamp",
            "user_country__visits",
            "user_stats__txn_count"
        ]
    );
    let visits = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
    // 4 days old; 4 days old; 8 days old (ttl 7d); null country.
    assert_eq!(
        visits.iter().collect::<Vec<_>>(),
        vec![Some(1), Some(2), None, None, None]
    );
    let counts = b.column(4).as_any().downcast_ref::<Int64Array>().unwrap();
    // Row i of in.parquet is user i % 100 at 2024-05-01T00:00:00Z + i s:
    // user 7's newest is row 207; as of 00:02:00, user 8's is row 108.
    assert_eq!(
        counts.iter().collect::<Vec<_>>(),
        vec![Some(207), Some(207), Some(207), Some(207), Some(108)]
    );
}

#[test]
fn bitemporal_exports() {
    let t = setup();
    write(
        t.path(),
        "v.csv",
        "user_id,event_timestamp,created_timestamp,txn_count\n\
         1,2024-05-01T00:00:00Z,2024-05-01T00:00:00Z,1\n\
         1,2024-05-02T00:00:00Z,2024-05-10T00:00:00Z,2\n",
    );
    // The view has more features; give them empty cells.
    let text = std::fs::read_to_string(t.path().join("v.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},amount_avg,segment,embedding\n")
            } else {
                format!("{l},,,\n")
            }
        })
        .collect::<String>();
    write(t.path(), "v.csv", &text);
    ingest(t.path(), "user_stats", "v.csv");
    write(
        t.path(),
        "e.csv",
        "user_id,event_timestamp\n1,2024-05-05T00:00:00Z\n1,2024-05-11T00:00:00Z\n",
    );
    let run = |extra: &[&str]| -> String {
        let mut args =
            argv("export --data data --entities e.csv --features user_stats:txn_count --out o.csv");
        args.extend_from_slice(extra);
        ok(t.path(), &args);
        std::fs::read_to_string(t.path().join("o.csv")).unwrap()
    };
    let body = |s: String| {
        s.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The backfill (event May 2, written May 10) is the newest version.
    assert_eq!(body(run(&[])), ["2", "2"]);
    // Known at May 6: the backfill did not exist yet.
    assert_eq!(
        body(run(&["--as-known-at", "2024-05-06T00:00:00Z"])),
        ["1", "1"]
    );
    // Per row: the May 5 row cannot see a version written May 10.
    assert_eq!(body(run(&["--no-future-writes"])), ["1", "2"]);
    let e = fails(
        t.path(),
        &argv(
            "export --data data --entities e.csv --features user_stats:txn_count --out o.csv --no-future-writes --as-known-at 2024-05-06T00:00:00Z",
        ),
        2,
    );
    assert!(e.contains("cannot be used with"), "{e}");
}

#[test]
fn export_errors() {
    let t = setup();
    write(
        t.path(),
        "e.csv",
        "user_id,event_timestamp\n1,2024-05-05T00:00:00Z\n",
    );
    let base = |features: &'static str, out: &'static str| {
        let mut args = argv("export --data data --entities e.csv --features");
        args.extend([features, "--out", out]);
        args
    };
    let e = fails(t.path(), &base("nope:x", "o.csv"), 2);
    assert!(e.contains("unknown feature view \"nope\""), "{e}");
    let e = fails(t.path(), &base("user_country:visits", "o.csv"), 1);
    assert!(
        e.contains("e.csv: lacks the column(s) country (a join key of view user_country)"),
        "{e}"
    );
    let mut args = base("user_stats:*", "o.bin");
    args.extend(["--format", "xml"]);
    let e = fails(t.path(), &args, 2);
    assert!(
        e.contains("--format \"xml\": use parquet, arrow or csv"),
        "{e}"
    );
    assert!(!t.path().join("o.csv").exists());
    // An explicit format overrides the extension.
    let mut args = base("user_stats:*", "o.bin");
    args.extend(["--format", "arrow"]);
    ok(t.path(), &args);
    let f = File::open(t.path().join("o.bin")).unwrap();
    let r = arrow_ipc::reader::FileReader::try_new(f, None).unwrap();
    assert_eq!(r.schema().fields().len(), 6);
    let e = fails(
        t.path(),
        &argv("export --data nowhere --entities e.csv --features a:b --out o.csv"),
        1,
    );
    assert!(e.contains("no store at nowhere"), "{e}");
}

#[test]
fn snapshot_writes_hive_partitions() {
    let t = setup();
    write(t.path(), "a.csv", CSV);
    ingest(t.path(), "user_stats", "a.csv");
    let out = ok(
        t.path(),
        &argv("snapshot --data data --view user_stats --out snap"),
    );
    assert!(
        out.starts_with(
            "wrote 3 version(s) of 2 key(s) to snap/view=user_stats: 3 file(s) over 3 date(s)"
        ),
        "{out}"
    );
    let view = t.path().join("snap/view=user_stats");
    let mut dates: Vec<String> = std::fs::read_dir(&view)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dates.sort();
    assert_eq!(
        dates,
        ["date=2024-05-01", "date=2024-05-02", "date=2024-05-03"]
    );
    let part = std::fs::read_dir(view.join("date=2024-05-03"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        part.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("part-")
    );
    let b = read_parquet(&part);
    let names = common::tables::column_names(&b);
    assert_eq!(
        names,
        [
            "user_id",
            "event_timestamp",
            "created_timestamp",
            "amount_avg",
            "txn_count",
            "segment",
            "embedding"
        ]
    );
    assert_eq!(b.num_rows(), 1);
    let counts = b.column(4).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(counts.value(0), 7);
    // A second snapshot into the same place is refused.
    fails_with(
        t.path(),
        &argv("snapshot --data data --view user_stats --out snap"),
        1,
        "already exists",
    );
    // A time range.
    let out = ok(
        t.path(),
        &argv(
            "snapshot --data data --view user_stats --out snap2 --from 2024-05-02T00:00:00Z --to 2024-05-02T23:59:59Z",
        ),
    );
    assert!(out.starts_with("wrote 1 version(s) of 2 key(s)"), "{out}");
    fails_with(
        t.path(),
        &argv("snapshot --data data --view nope --out snap3"),
        2,
        "unknown feature view \"nope\"",
    );
    assert!(!t.path().join("snap3").exists());
}
