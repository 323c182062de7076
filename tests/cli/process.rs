//! Usage errors, the environment, the store LOCK, and `demo`.

use super::*;

#[test]
fn usage_errors_exit_2() {
    let t = setup();
    fails_with(
        t.path(),
        &argv("get --data data --view user_stats --key one"),
        2,
        "user_id is int64, and \"one\" is not an integer",
    );
    fails_with(
        t.path(),
        &argv("get --data data --view nope --key 1"),
        2,
        "unknown feature view \"nope\"; this store has: user_stats, user_country",
    );
    fails_with(
        t.path(),
        &argv("get --data data --view user_stats --key 1 --as-of noon"),
        2,
        "--as-of",
    );
    fails(t.path(), &argv("get --data data --view user_stats"), 2);
    fails(t.path(), &["frobnicate"], 2);
    fails_with(
        t.path(),
        &argv("get --data elsewhere --view user_stats --key 1"),
        1,
        "no store at elsewhere",
    );
    assert!(
        !t.path().join("elsewhere").exists(),
        "a read must not create a store"
    );
}

#[test]
fn data_dir_from_the_environment() {
    let t = setup();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["get", "--view", "user_stats", "--key", "1", "--json"])
        .env("STRATA_DATA", t.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout))["features"]["txn_count"]["status"],
        "NOT_FOUND"
    );
}

#[test]
fn a_second_process_gets_a_clear_lock_error() {
    let t = setup();
    let store = strata::store::Store::open(t.path().join("data"))
        .expect("open the store in the test process");
    // A command that writes needs the lock.
    let err = fails(t.path(), &argv("flush --data data"), 1);
    assert_contains(&err, &["in use by another process", "LOCK"]);
    // A command that only reads opens the store read-only: no lock needed.
    ok(t.path(), &argv("get --data data --view user_stats --key 1"));
    drop(store);
    ok(t.path(), &argv("get --data data --view user_stats --key 1"));
    ok(t.path(), &argv("flush --data data"));
}

#[test]
fn demo_runs() {
    let t = tempfile::tempdir().unwrap();
    let out = ok(t.path(), &argv("demo --data store"));
    assert_contains(
        &out,
        &[
            "+ feature view user_stats (id 1, ttl 30d)",
            "Ingested 40 rows",
            "does not hide",
        ],
    );
    // It exports a training set.
    assert_contains(
        &out,
        &[
            "5. Exported a point-in-time training set",
            "user_id,event_timestamp,label,segment,txn_count",
            "4 of 6 rows found a version",
        ],
    );
    assert!(t.path().join("store/training_set.csv").exists());
    assert!(
        out.contains("segment     vip"),
        "latest read shows the newest version: {out}"
    );
    assert!(
        out.contains("segment     new"),
        "as-of read shows the older version: {out}"
    );
    assert!(
        out.contains("backfill"),
        "history shows the backfill: {out}"
    );
    assert!(out.contains("strata export"), "{out}");
    assert!(
        out.contains("count_1d       12"),
        "aggregation window: {out}"
    );
    assert!(out.contains("1 refused"), "late event: {out}");
    // The store it leaves is usable.
    let j = json(&ok(
        t.path(),
        &argv("get --data store --view user_stats --key 1001 --json"),
    ));
    assert_eq!(j["features"]["segment"]["value"], "vip");
    // A second run on the same store works too.
    ok(t.path(), &argv("demo --data store"));
}

#[test]
fn demo_defaults_to_a_new_temporary_directory() {
    let t = tempfile::tempdir().unwrap();
    let out = ok(t.path(), &["demo"]);
    let first = out.lines().next().unwrap();
    let dir = first
        .strip_prefix("Strata demo: the store is in ")
        .unwrap_or_else(|| panic!("{first}"));
    let dir = PathBuf::from(dir);
    assert!(dir.join("catalog").exists(), "{dir:?}");
    assert!(dir.join("demo-input/definitions.toml").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
