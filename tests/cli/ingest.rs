//! `strata ingest` of Parquet, and refused ingests.

use super::*;

#[test]
fn ingest_parquet() {
    let t = setup();
    write_parquet(&t.path().join("in.parquet"), 1_000, None);
    let out = ok(
        t.path(),
        &argv("ingest --data data --view user_stats in.parquet"),
    );
    assert!(out.contains(": 1000 row(s): 1000 written"), "{out}");
    // Key 7 has rows 7, 107, ..., 907; the newest is row 907.
    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 7 --json"),
    ));
    assert_eq!(j["features"]["txn_count"]["value"], 907);
    assert_eq!(j["features"]["amount_avg"]["value"], 453.5);
    assert_eq!(j["features"]["segment"]["value"], "s907");
    assert_eq!(
        j["features"]["embedding"]["value"],
        serde_json::json!([907.0])
    );
    assert_eq!(j["event_timestamp"], "2024-05-01T00:15:07Z");
    let j = json(&ok(
        t.path(),
        &argv("history --data data --view user_stats --key 7 --json"),
    ));
    assert_eq!(j["versions"].as_array().unwrap().len(), 10);
}

#[test]
fn refused_ingest_leaves_the_store_unchanged() {
    let t = setup();
    write(t.path(), "a.csv", CSV);
    ingest(t.path(), "user_stats", "a.csv");
    let history = argv("history --data data --view user_stats --key 1 --json");
    let before = ok(t.path(), &history);

    // 25,000 good rows for key 1, then a bad cell past the first two batches.
    let mut csv = String::from("user_id,event_timestamp,amount_avg,txn_count,segment,embedding\n");
    for i in 0..25_000 {
        csv.push_str(&format!("1,{},1.0,{i},x,\n", 1_800_000_000_000_000i64 + i));
    }
    csv.push_str("1,1900000000000000,1.0,abc,x,\n");
    write(t.path(), "bad.csv", &csv);
    write_parquet(&t.path().join("bad.parquet"), 30_000, Some(29_999));
    write(
        t.path(),
        "missing.csv",
        "user_id,event_timestamp,amount_avg\n1,2,3\n",
    );
    // (input, what the error says); nope.csv does not exist.
    let cases: [(&str, &[&str]); 4] = [
        (
            "bad.csv",
            &["bad.csv: row 25001, column txn_count: \"abc\" is not an int64; nothing was written"],
        ),
        (
            "bad.parquet",
            &["row 30000, column user_id: the join key is null"],
        ),
        (
            "missing.csv",
            &["missing column(s) txn_count, segment, embedding"],
        ),
        ("nope.csv", &["cannot read nope.csv", "No such file"]),
    ];
    for (input, says) in cases {
        let mut ingest = argv("ingest --data data --view user_stats");
        ingest.push(input);
        let err = fails(t.path(), &ingest, 1);
        assert_contains(&err, says);
        assert_eq!(ok(t.path(), &history), before, "after {input}");
    }
}

/// A JSON Lines file written before a feature with a default was added
/// never names it: it ingests, and its rows read the default (`DEFAULTED`);
/// in a file that names it on some line, a line without it is null.
#[test]
fn an_older_json_lines_file_ingests_and_reads_the_default() {
    let t = setup();
    let evolved = DEFS.replace(
        "  { name = \"embedding\", type = \"list<float32>\" },\n]",
        "  { name = \"embedding\", type = \"list<float32>\" },\n  { name = \"risk\", type = \"float64\", default = 0.5 },\n]",
    );
    assert_ne!(evolved, DEFS, "the fixture changed: nothing evolved");
    write(t.path(), "defs.toml", &evolved);
    ok(t.path(), &argv("apply --data data defs.toml"));
    let line = |k: i64, rest: &str| {
        format!(
            r#"{{"user_id":{k},"event_timestamp":"2024-05-01T00:00:00Z","amount_avg":1.5,"txn_count":3,"segment":"new","embedding":[1.0]{rest}}}"#
        )
    };
    write(t.path(), "old.jsonl", &format!("{}\n", line(1, "")));
    write(
        t.path(),
        "new.jsonl",
        &format!("{}\n{}\n", line(2, ""), line(3, r#","risk":0.9"#)),
    );
    for f in ["old.jsonl", "new.jsonl"] {
        let out = ok(
            t.path(),
            &argv(&format!("ingest --data data --view user_stats {f}")),
        );
        assert_contains(&out, &["written"]);
    }
    let risk = |k: i64| {
        let j = json(&ok(
            t.path(),
            &argv(&format!(
                "get --data data --view user_stats --key {k} --json"
            )),
        ));
        (
            j["features"]["risk"]["status"].clone(),
            j["features"]["risk"]["value"].clone(),
        )
    };
    assert_eq!(risk(1), ("DEFAULTED".into(), 0.5.into()));
    assert_eq!(risk(2), ("NULL_VALUE".into(), serde_json::Value::Null));
    assert_eq!(risk(3), ("PRESENT".into(), 0.9.into()));
}
