//! Aggregation views from the command line: a view created over events
//! already stored computes its tiles from them; ingest refuses late events
//! and says so; `get` reads windows at any time; writing or listing the
//! history of an aggregation view is refused with the reason.

use super::*;

const EVENTS_DEFS: &str = include_str!("../fixtures/cli-events.toml");

const AGG_DEFS: &str = include_str!("../fixtures/cli-aggregation.toml");

fn get(dir: &Path, at: &str) -> serde_json::Value {
    json(&ok(
        dir,
        &[
            "get",
            "--data",
            "data",
            "--view",
            "txn_stats",
            "--key",
            "1",
            "--as-of",
            at,
            "--json",
        ],
    ))
}

#[test]
fn aggregations_from_the_command_line() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    write(dir, "events.toml", EVENTS_DEFS);
    ok(dir, &argv("apply --data data events.toml"));
    write(
        dir,
        "day1.csv",
        "user_id,event_timestamp,amount,merchant\n\
         1,2024-05-01T10:00:00Z,5.0,a\n\
         1,2024-05-01T10:30:00Z,7.0,b\n\
         2,2024-05-01T11:00:00Z,1.0,a\n",
    );
    ok(dir, &argv("ingest --data data --view txn day1.csv"));

    // The aggregation view arrives after the events: apply computes its tiles.
    write(dir, "all.toml", &format!("{EVENTS_DEFS}{AGG_DEFS}"));
    ok(dir, &argv("apply --data data all.toml"));
    let j = get(dir, "2024-05-01T10:45:00Z");
    assert_eq!(j["features"]["count_1h"]["value"], 2, "{j}");
    assert_eq!(j["features"]["amount_sum_1d"]["value"], 12.0, "{j}");
    assert_eq!(
        j["features"]["merchant_count_distinct_1d"]["value"], 2,
        "{j}"
    );
    // 11:00 excludes 10:00 from the hour window.
    let j = get(dir, "2024-05-01T11:00:00Z");
    assert_eq!(j["features"]["count_1h"]["value"], 1, "{j}");
    assert_eq!(j["features"]["count_1d"]["value"], 2, "{j}");

    // A new event, and one 3 h older than the newest (allowed: 1 h): refused.
    write(
        dir,
        "day2.csv",
        "user_id,event_timestamp,amount,merchant\n\
         1,2024-05-02T12:00:00Z,2.0,c\n\
         1,2024-05-02T09:00:00Z,100.0,d\n",
    );
    // Not everything was written: the summary says so, the exit code too.
    let r = strata(dir, &argv("ingest --data data --view txn day2.csv"));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("2 row(s): 1 written, 1 refused as late"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("1 of 2 refused as late"), "{}", r.stderr);
    let j = get(dir, "2024-05-02T12:00:00Z");
    assert_eq!(j["features"]["count_1d"]["value"], 1, "{j}");
    assert_eq!(j["features"]["amount_sum_1d"]["value"], 2.0, "{j}");
    // The refused event is not in the source either.
    let h = ok(dir, &argv("history --data data --view txn --key 1 --json"));
    assert!(!h.contains("100.0"), "{h}");

    // The same file again: the ledger has it, nothing is written.
    let out = ok(dir, &argv("ingest --data data --view txn day1.csv"));
    assert!(out.contains("3 row(s): already ingested at"), "{out}");
    let j = get(dir, "2024-05-01T10:45:00Z");
    assert_eq!(j["features"]["count_1h"]["value"], 2, "{j}");

    // A backfill writes the late event and corrects the day's tiles.
    let out = ok(
        dir,
        &argv("ingest --data data --view txn day2.csv --backfill --force"),
    );
    // --force: the file was ingested (in part); its rows have no
    // created_timestamp, so 12:00 gets a second version, and the late
    // 09:00 is admitted by the backfill.
    assert!(out.contains("2 row(s): 2 written"), "{out}");
    let j = get(dir, "2024-05-02T12:00:00Z");
    assert_eq!(j["features"]["count_1d"]["value"], 3, "{j}");
    assert_eq!(j["features"]["amount_sum_1d"]["value"], 104.0, "{j}");

    // Before any event of the key: NOT_FOUND.
    let j = get(dir, "2024-04-30T00:00:00Z");
    assert_eq!(j["features"]["count_1h"]["status"], "NOT_FOUND", "{j}");

    fails_with(
        dir,
        &argv("ingest --data data --view txn_stats day2.csv"),
        1,
        "ingest the source view instead",
    );
    fails_with(
        dir,
        &argv("history --data data --view txn_stats --key 1"),
        1,
        "aggregation view",
    );
}
