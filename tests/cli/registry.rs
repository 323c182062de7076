//! `strata registry list|describe|search|lineage`, versions side by side,
//! and `strata ingest` from a view's declared source, with --map, --format
//! and several files.

use super::*;

const REG: &str = include_str!("../fixtures/cli-registry.toml");

fn reg() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "defs.toml", REG);
    ok(t.path(), &argv("apply --data data defs.toml"));
    t
}

#[test]
fn list_describe_search_lineage() {
    let t = reg();
    let d = t.path();
    let out = ok(d, &argv("registry list --data data"));
    assert!(out.starts_with("VIEW"), "{out}");
    assert!(
        out.contains("user_score") && out.contains("export-only"),
        "{out}"
    );
    let j = json(&ok(d, &argv("registry list --data data --json")));
    assert_eq!(j.as_array().unwrap().len(), 3);
    assert_eq!(j[0]["owner"], "alice");
    assert!(j[0]["created_at"].is_string() && j[0]["changed_at"].is_string());

    let j = json(&ok(
        d,
        &argv("registry describe user_stats --data data --json"),
    ));
    assert_eq!(j["team"], "risk");
    assert_eq!(j["freshness_sla"], "1h");
    assert_eq!(j["source"], "files in/*.csv");
    assert_eq!(j["quality"], "warn");
    assert_eq!(j["features"][0]["default"], "0.5");
    assert_eq!(j["features"][0]["expectations"][0], "min 0");
    assert_eq!(j["features"][1]["expectations"][0], "not_null");
    assert!(j["last_ingest"].is_null());

    let hits = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["registry", "search", "--data", "data", "--json"];
        a.extend_from_slice(args);
        json(&ok(d, &a))
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(hits(&["basket"]), ["user_stats"]);
    assert_eq!(hits(&["score"]), ["user_score", "model_input"]);
    assert_eq!(hits(&["--tag", "payments"]), ["user_stats"]);
    assert_eq!(hits(&["--team", "ml"]), ["model_input"]);
    assert_eq!(hits(&["--owner", "alice"]), ["user_stats"]);
    assert_eq!(hits(&["--entity", "user"]).len(), 3);
    assert!(hits(&["--owner", "nobody"]).is_empty());
    let out = ok(d, &argv("registry search spending --data data"));
    assert!(
        out.contains("user_stats") && out.contains("description"),
        "{out}"
    );

    let j = json(&ok(
        d,
        &argv("registry lineage model_input --data data --json"),
    ));
    let up: Vec<&str> = j["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["view"].as_str().unwrap())
        .collect();
    assert_eq!(up, ["user_score", "user_stats"]);
    // A tree in the direction data flows: the source on top, each view's
    // readers below it.
    let out = ok(d, &argv("registry lineage user_score --data data"));
    assert_eq!(
        out,
        "user_stats (source: files in/*.csv)\n\
         \u{2514}\u{2500}> user_score (source: view user_stats)  <- this view\n\
         \u{20}   \u{2514}\u{2500}> model_input (source: push)\n",
        "{out}"
    );
    fails_with(
        d,
        &argv("registry describe nope --data data"),
        2,
        "unknown feature view \"nope\"",
    );
}

#[test]
fn ingest_from_the_declared_source_then_describe_shows_statistics() {
    let t = reg();
    let d = t.path();
    std::fs::create_dir_all(d.join("in")).unwrap();
    write(
        d,
        "in/a.csv",
        "user_id,event_timestamp,amount_avg,txn_count\n1,2024-05-01T00:00:00Z,2.0,3\n2,2024-05-01T00:00:00Z,-1.0,\n",
    );
    write(
        d,
        "in/b.csv",
        "user_id,event_timestamp,amount_avg,txn_count\n3,2024-05-02T00:00:00Z,4.0,5\n",
    );
    let out = ok(d, &argv("ingest --data data --view user_stats"));
    assert_contains(
        &out,
        &[
            "ingest into user_stats from 2 files",
            "3 row(s): 3 written, 2 expectation violation(s)",
            "WARNING: expectation violations recorded",
        ],
    );
    let j = json(&ok(
        d,
        &argv("registry describe user_stats --data data --json"),
    ));
    let last = &j["last_ingest"];
    assert_eq!(last["rows"], 3);
    assert_eq!(last["features"][0]["min"], -1.0);
    assert_eq!(last["features"][0]["max"], 4.0);
    assert_eq!(last["features"][1]["nulls"], 1);
    assert_eq!(last["violations"].as_array().unwrap().len(), 2);
    let out = ok(d, &argv("registry describe user_stats --data data"));
    assert!(
        out.contains("last ingest:") && out.contains("violations (recorded, quality = warn)"),
        "{out}"
    );

    // No source declared: a clear usage error.
    fails_with(
        d,
        &argv("ingest --data data --view model_input"),
        2,
        "source of view model_input is Push",
    );
    // --map and --format.
    write(
        d,
        "other.txt",
        "uid,event_timestamp,score\n9,2024-05-01T00:00:00Z,0.25\n",
    );
    let out = ok(
        d,
        &argv("ingest --data data --view model_input other.txt --format csv --map uid=user_id"),
    );
    assert!(out.contains("1 row(s): 1 written"), "{out}");
    fails_with(
        d,
        &argv("ingest --data data --view model_input other.txt --map uid"),
        2,
        "SOURCE_COLUMN=FEATURE",
    );
    fails_with(
        d,
        &argv("ingest --data data --view model_input in/*.parquet"),
        1,
        "no file matches",
    );
}

#[test]
fn a_new_version_is_readable_beside_the_old_one() {
    let t = reg();
    let d = t.path();
    write(
        d,
        "v1.csv",
        "user_id,event_timestamp,amount_avg,txn_count\n1,2024-05-01T00:00:00Z,2.0,3\n",
    );
    ok(d, &argv("ingest --data data --view user_stats v1.csv"));
    // Retyping in place is refused, with the way out.
    write(
        d,
        "retyped.toml",
        &REG.replace(
            "{ name = \"txn_count\", type = \"int64\"",
            "{ name = \"txn_count\", type = \"float64\"",
        ),
    );
    let e = fails(d, &argv("apply --data data retyped.toml --plan"), 1);
    assert!(
        e.contains("changes type from int64 to float64") && e.contains("version = 2"),
        "{e}"
    );
    let before = std::fs::read(d.join("data/catalog")).unwrap();
    let v2 = format!(
        "{REG}\n[[feature_views]]\nname = \"user_stats\"\nversion = 2\nentities = [\"user\"]\nfeatures = [{{ name = \"txn_count\", type = \"float64\" }}]\n"
    );
    write(d, "v2.toml", &v2);
    let out = ok(d, &argv("apply --data data v2.toml --plan"));
    assert!(out.contains("+ feature view user_stats@2"), "{out}");
    assert!(
        out.contains("~ readers of user_stats stay on @1: user_stats@2 is staged"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(d.join("data/catalog")).unwrap(),
        before,
        "--plan changed the catalog"
    );
    ok(d, &argv("apply --data data v2.toml"));
    write(
        d,
        "v2.csv",
        "user_id,event_timestamp,txn_count\n1,2024-05-01T00:00:00Z,3.5\n",
    );
    ok(d, &argv("ingest --data data --view user_stats@2 v2.csv"));
    let old = json(&ok(
        d,
        &argv("get --data data --view user_stats@1 --key 1 --json"),
    ));
    assert_eq!(old["features"]["txn_count"]["value"], 3, "{old}");
    // The unversioned name stays on @1 until @2 is promoted, which the
    // plan states first.
    let bare = || {
        json(&ok(
            d,
            &argv("get --data data --view user_stats --key 1 --json"),
        ))["features"]["txn_count"]["value"]
            .clone()
    };
    assert_eq!(bare(), 3);
    write(
        d,
        "promote.toml",
        &v2.replace("version = 2\n", "version = 2\nserving_version = 2\n"),
    );
    let out = ok(d, &argv("apply --data data promote.toml --plan"));
    assert!(
        out.contains("~ readers of user_stats move from @1 to @2"),
        "{out}"
    );
    assert_eq!(bare(), 3);
    ok(d, &argv("apply --data data promote.toml"));
    assert_eq!(bare(), 3.5);
    let out = ok(d, &argv("registry describe user_stats@1 --data data"));
    assert!(
        out.contains("versions      user_stats, user_stats@2"),
        "{out}"
    );
}
