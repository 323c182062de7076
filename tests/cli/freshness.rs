//! `strata freshness`: lags against `freshness_sla` at a given `--at`, the
//! exit code an alert can use, and the JSON form.

use super::*;

const FRESH_DEFS: &str = include_str!("../fixtures/cli-freshness.toml");

fn fresh_store() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "defs.toml", FRESH_DEFS);
    ok(t.path(), &argv("apply --data data defs.toml"));
    write(
        t.path(),
        "clicks.csv",
        "user_id,event_timestamp,n\n1,2024-05-03T00:00:00Z,5\n2,2024-05-02T12:00:00Z,6\n",
    );
    write(
        t.path(),
        "profile.csv",
        "user_id,event_timestamp,n\n1,2024-04-01T00:00:00Z,1\n",
    );
    for v in ["clicks", "profile"] {
        let file = format!("{v}.csv");
        ok(
            t.path(),
            &["ingest", "--data", "data", "--view", v, file.as_str()],
        );
    }
    t
}

/// The table line of `view`, split into cells.
fn line_of(out: &str, view: &str) -> Vec<String> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(view))
        .unwrap_or_else(|| panic!("no line for {view} in:\n{out}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn an_sla_met_then_violated_sets_the_exit_code() {
    let t = fresh_store();
    let d = t.path();
    // Half an hour after the newest click: within the 1h SLA.
    let out = ok(d, &argv("freshness --data data --at 2024-05-03T00:30:00Z"));
    assert!(
        out.starts_with("freshness at 2024-05-03T00:30:00Z: 3 view(s), 0 violated\n"),
        "{out}"
    );
    let header = out.lines().nth(1).unwrap();
    let columns = "view newest_event last_ingest rows/min lag sla status";
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        columns.split(' ').collect::<Vec<_>>()
    );
    let clicks = line_of(&out, "clicks");
    assert_eq!(clicks[1], "2024-05-03T00:00:00Z");
    assert!(
        clicks[2].ends_with('Z'),
        "the last ingest is kept: {clicks:?}"
    );
    // A new process: no rows written since it opened the store.
    assert_eq!(&clicks[3..], ["0", "30m", "1h", "OK"]);
    assert_eq!(line_of(&out, "profile")[6], "NO_SLA");
    assert_eq!(
        line_of(&out, "spare")[1..],
        ["-", "-", "0", "-", "-", "NO_DATA"]
    );

    // Exactly at the SLA is still met; a second later is not.
    ok(d, &argv("freshness --data data --at 2024-05-03T01:00:00Z"));
    let r = strata(d, &argv("freshness --data data --at 2024-05-03T01:00:01Z"));
    assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "error: freshness SLA violated for 1 of 3 view(s): clicks (lag 1h1s > sla 1h)"
    );
    assert_eq!(
        &line_of(&r.stdout, "clicks")[4..],
        ["1h1s", "1h", "VIOLATED"]
    );
    assert!(r.stdout.contains("3 view(s), 1 violated"), "{}", r.stdout);

    // A bad --at is a usage error.
    let r = strata(d, &argv("freshness --data data --at yesterday"));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn json_output() {
    let t = fresh_store();
    let d = t.path();
    let j = json(&ok(
        d,
        &argv("freshness --data data --json --at 2024-05-03T00:15:00Z"),
    ));
    assert_eq!(j["ok"], true);
    assert_eq!(j["now"], "2024-05-03T00:15:00Z");
    assert_eq!(j["violated"], serde_json::json!([]));
    let views = j["views"].as_array().unwrap();
    assert_eq!(views.len(), 3);
    let c = &views[0];
    assert_eq!(c["view"], "clicks");
    assert_eq!(c["status"], "OK");
    assert_eq!(c["newest_event_ts"], "2024-05-03T00:00:00Z");
    assert_eq!(c["newest_event_ts_micros"], 1_714_694_400_000_000i64);
    assert_eq!(c["lag_seconds"], 900.0);
    assert_eq!(c["sla_seconds"], 3600.0);
    assert_eq!(c["sla"], "1h");
    assert!(c["last_ingest"].is_string(), "{c}");
    assert_eq!(c["rows_since_open"], 0);
    assert_eq!(views[1]["status"], "NO_SLA");
    assert_eq!(views[2]["status"], "NO_DATA");
    assert!(views[2]["newest_event_ts"].is_null());
    assert!(views[2]["lag_seconds"].is_null());

    // Violated: the JSON still goes to stdout, and the exit code says so.
    let r = strata(
        d,
        &argv("freshness --data data --json --at 2024-05-04T00:00:00Z"),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let j = json(&r.stdout);
    assert_eq!(j["ok"], false);
    assert_eq!(j["violated"], serde_json::json!(["clicks"]));
    assert_eq!(j["views"][0]["lag_seconds"], 86_400.0);
}

#[test]
fn a_view_with_an_sla_and_no_data_is_violated() {
    let t = fresh_store();
    let d = t.path();
    let defs = FRESH_DEFS.replace(
        "name = \"spare\"",
        "name = \"spare\"\nfreshness_sla = \"30m\"",
    );
    write(d, "defs2.toml", &defs);
    ok(d, &argv("apply --data data defs2.toml"));
    let r = strata(d, &argv("freshness --data data --at 2024-05-03T00:10:00Z"));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 of 3 view(s): spare (no data)"),
        "{}",
        r.stderr
    );
    assert_eq!(line_of(&r.stdout, "spare")[4..], ["-", "30m", "VIOLATED"]);
}

#[test]
fn without_a_store() {
    let t = tempfile::tempdir().unwrap();
    fails_with(
        t.path(),
        &argv("freshness --data nothing"),
        1,
        "no store at",
    );
}
