//! `get`, `history` and `delete` after a CSV ingest.

use super::*;

#[test]
fn ingest_csv_then_get_and_history() {
    let t = setup();
    write(t.path(), "a.csv", CSV);
    let out = ingest(t.path(), "user_stats", "a.csv");
    assert!(out.contains("ingest into user_stats from a.csv"), "{out}");
    assert!(out.contains(": 3 row(s): 3 written"), "{out}");

    let out = ok(t.path(), &argv("get --data data --view user_stats --key 1"));
    assert_contains(
        &out,
        &[
            "user_stats user_id=1, latest",
            "amount_avg  2.5         PRESENT  2024-05-03T00:00:00Z",
            "embedding   [1.0, 2.0]  PRESENT",
        ],
    );

    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 1 --json"),
    ));
    assert_eq!(j["view"], "user_stats");
    assert_eq!(j["key"], serde_json::json!([1]));
    assert_eq!(j["event_timestamp"], "2024-05-03T00:00:00Z");
    assert_eq!(j["features"]["amount_avg"]["value"], 2.5);
    assert_eq!(j["features"]["txn_count"]["value"], 7);
    assert_eq!(j["features"]["segment"]["status"], "PRESENT");
    assert_eq!(
        j["features"]["embedding"]["value"],
        serde_json::json!([1.0, 2.0])
    );

    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 1 --as-of 2024-05-02T12:00:00Z --json"),
    ));
    assert_eq!(j["features"]["amount_avg"]["value"], 1.5);
    assert_eq!(j["features"]["embedding"]["status"], "NULL_VALUE");
    assert_eq!(j["features"]["embedding"]["value"], serde_json::Value::Null);

    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 1 --as-of 2024-04-01 --json"),
    ));
    assert_eq!(j["features"]["amount_avg"]["status"], "NOT_FOUND");
    assert_eq!(j["event_timestamp"], serde_json::Value::Null);

    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 2 --json"),
    ));
    assert_eq!(j["features"]["amount_avg"]["status"], "NULL_VALUE");
    assert_eq!(
        j["features"]["embedding"]["value"],
        serde_json::json!([0.5, 0.25])
    );

    let out = ok(
        t.path(),
        &argv("history --data data --view user_stats --key 1"),
    );
    assert!(out.contains("2 version(s), newest first"), "{out}");
    let first = out
        .lines()
        .position(|l| l.starts_with("2024-05-03"))
        .unwrap();
    let second = out
        .lines()
        .position(|l| l.starts_with("2024-05-01"))
        .unwrap();
    assert!(first < second, "newest first: {out}");

    let j = json(&ok(
        t.path(),
        &argv("history --data data --view user_stats --key 1 --json --to 2024-05-02"),
    ));
    let versions = j["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["event_timestamp"], "2024-05-01T00:00:00Z");
    assert_eq!(versions[0]["features"]["segment"], "new");
}

#[test]
fn known_at_and_composite_keys() {
    let t = setup();
    write(
        t.path(),
        "v.csv",
        "user_id,country,event_timestamp,created_timestamp,visits\n\
         5,fr,2024-05-01T00:00:00Z,2024-05-01T01:00:00Z,1\n\
         5,fr,2024-05-01T00:00:00Z,2024-05-10T00:00:00Z,2\n\
         5,de,2024-05-01T00:00:00Z,2024-05-01T01:00:00Z,30\n",
    );
    ok(
        t.path(),
        &argv("ingest --data data --view user_country v.csv"),
    );
    let get = |key: &str, extra: &[&str]| {
        let mut args = argv("get --data data --view user_country --key");
        args.extend([key, "--as-of", "2024-05-02", "--json"]);
        args.extend_from_slice(extra);
        json(&ok(t.path(), &args))
    };
    assert_eq!(
        get("5,fr", &[])["features"]["visits"]["value"],
        2,
        "the correction written later wins"
    );
    assert_eq!(
        get("5,fr", &["--known-at", "2024-05-02T00:00:00Z"])["features"]["visits"]["value"],
        1
    );
    assert_eq!(get("5,de", &[])["features"]["visits"]["value"], 30);
    assert_eq!(get("5,de", &[])["key"], serde_json::json!([5, "de"]));
    fails_with(
        t.path(),
        &argv("get --data data --view user_country --key 5"),
        2,
        "give them as K1,K2",
    );
    // ttl 7d: a read two weeks later is outside the max age.
    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_country --key 5,de --as-of 2024-05-15 --json"),
    ));
    assert_eq!(j["features"]["visits"]["status"], "OUTSIDE_MAX_AGE");
}

#[test]
fn delete_and_flush() {
    let t = setup();
    write(t.path(), "a.csv", CSV);
    ingest(t.path(), "user_stats", "a.csv");
    ok(t.path(), &argv("flush --data data"));
    let out = ok(t.path(), &argv("delete --data data --entity user --key 1"));
    assert!(
        out.contains("deleted every version of user 1 in view(s) user_stats, user_country"),
        "{out}"
    );
    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 1 --json"),
    ));
    assert_eq!(j["features"]["amount_avg"]["status"], "NOT_FOUND");
    let j = json(&ok(
        t.path(),
        &argv("get --data data --view user_stats --key 2 --json"),
    ));
    assert_eq!(j["features"]["txn_count"]["value"], 9, "other keys stay");
    fails_with(
        t.path(),
        &argv("delete --data data --entity usr --key 1"),
        2,
        "unknown entity \"usr\"; this store has: user, country",
    );
}
