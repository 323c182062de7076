//! The summary of an ingest on every surface: the library (the offline
//! ingest), `strata ingest --data`, `strata ingest --server` and the native
//! client's push (the protocol's ack) say the same numbers — rows, written,
//! refused as late, duplicates dropped, expectation violations, already
//! ingested — and the CLI's exit code says whether everything was written.
//! Ingesting the same file again over the server (the same batch ids)
//! changes nothing.

use super::*;

const AGG: &str = include_str!("../fixtures/server-aggregation.toml");

const CHECKED: &str = r#"
[[feature_views]]
name = "checked"
entities = ["user"]
team = "fraud"
quality = "warn"
features = [{ name = "age", type = "int64", min = 0 }]
"#;

/// `(rows, written, refused as late, duplicates, violations, already
/// ingested)` and the exit code.
type Numbers = (u64, u64, u64, u64, u64, bool, i32);

struct Case {
    name: &'static str,
    view: &'static str,
    file: &'static str,
    text: &'static str,
    want: Numbers,
}

fn cases() -> Vec<Case> {
    let first = "user_id,event_timestamp,amount_avg,txn_count,segment\n\
        1,2024-05-01T00:00:00Z,1.0,3,new\n\
        1,2024-05-01T12:00:00Z,2.0,4,regular\n\
        2,2024-05-02T06:00:00Z,3.0,5,vip\n";
    vec![
        Case {
            name: "new events",
            view: "user_stats",
            file: "first.csv",
            text: first,
            want: (3, 3, 0, 0, 0, false, 0),
        },
        Case {
            name: "a late row and a duplicate",
            view: "user_stats",
            file: "second.csv",
            text: "user_id,event_timestamp,amount_avg,txn_count,segment\n\
                1,2024-05-03T00:00:00Z,1.0,3,new\n\
                1,2024-05-03T00:00:00Z,1.5,3,new\n\
                2,2024-04-01T00:00:00Z,9.0,100,late\n",
            want: (3, 1, 1, 1, 0, false, 4),
        },
        Case {
            name: "expectations broken (warn)",
            view: "checked",
            file: "checked.csv",
            text: "user_id,event_timestamp,age\n1,2024-05-01T00:00:00Z,-1\n2,2024-05-01T00:00:00Z,5\n",
            want: (2, 2, 0, 0, 1, false, 0),
        },
        Case {
            name: "the first file again",
            view: "user_stats",
            file: "first.csv",
            text: first,
            want: (3, 0, 0, 0, 0, true, 0),
        },
    ]
}

/// A store with the definitions, and the case files written beside it.
fn store() -> Store {
    let s = Store::new();
    let dir = s.tmp.path();
    std::fs::write(dir.join("all.toml"), format!("{DEFS}{AGG}{CHECKED}")).unwrap();
    strata(dir, &argv("apply --data data all.toml"));
    for c in cases() {
        std::fs::write(dir.join(c.file), c.text).unwrap();
    }
    s
}

fn numbers(s: &p::WriteSummary) -> Numbers {
    (
        s.rows,
        s.written,
        s.rejected_late,
        s.duplicates,
        s.violations,
        s.already_ingested_at.is_some(),
        if s.complete() { 0 } else { 4 },
    )
}

/// The numbers of the summary line the CLI printed.
fn parse(out: &str, code: i32) -> Numbers {
    let already = out.contains("already ingested at");
    let before = |what: &str| -> u64 {
        if already && what == " written" {
            return 0;
        }
        out.find(what).map_or(0, |at| {
            let head = &out[..at];
            let start = head.rfind([' ', ',', ':']).map_or(0, |i| i + 1);
            head[start..]
                .parse()
                .unwrap_or_else(|_| panic!("{what} in {out}"))
        })
    };
    (
        before(" row(s):"),
        before(" written"),
        before(" refused as late"),
        before(" duplicate(s) dropped"),
        before(" expectation violation(s)"),
        already,
        code,
    )
}

#[test]
fn every_surface_reports_the_same_summary() {
    let mut rows: Vec<(&str, Vec<Numbers>)> = Vec::new();

    // The library.
    let s = store();
    {
        let lib = strata::store::Store::open(s.data()).unwrap();
        let got = cases()
            .iter()
            .map(|c| {
                let path = s.tmp.path().join(c.file);
                let r = strata::offline::ingest(
                    &lib,
                    c.view,
                    &[path],
                    &strata::offline::IngestOptions::default(),
                )
                .unwrap();
                numbers(&r.summary)
            })
            .collect();
        rows.push(("library", got));
    }

    // The CLI on the directory.
    let s = store();
    let got = cases()
        .iter()
        .map(|c| {
            let (code, out, err) = cli(
                s.tmp.path(),
                &["ingest", "--data", "data", "--view", c.view, c.file],
            );
            assert!(code == 0 || code == 4, "{}: {err}", c.name);
            parse(&out, code)
        })
        .collect();
    rows.push(("cli --data", got));

    // The CLI through a server, twice for the last case's file.
    let s = store();
    let server = Server::start(&s, &[]);
    let got = cases()
        .iter()
        .map(|c| {
            let (code, out, err) = server.cli(
                s.tmp.path(),
                &s.admin,
                &["ingest", "--view", c.view, c.file],
            );
            assert!(code == 0 || code == 4, "{}: {err}", c.name);
            parse(&out, code)
        })
        .collect();
    rows.push(("cli --server", got));
    drop(server);

    // The native client: the ack of pushes with the batch id the CLI uses.
    let s = store();
    let server = Server::start(&s, &[]);
    let scratch = tempfile::tempdir().unwrap();
    let cat =
        common::stores::store_with(scratch.path(), &format!("{DEFS}{AGG}{CHECKED}")).catalog();
    let client = strata::client::blocking::Client::connect(server.config(&s.admin)).unwrap();
    let got = cases()
        .iter()
        .map(|c| {
            let path = s.tmp.path().join(c.file);
            let data = strata::offline::read_file(&cat, c.view, &path).unwrap();
            let id = strata::offline::file_digest(&path, &[]).unwrap().hex();
            let opts = p::PushOptions {
                batch_id: Some(format!("{id}/0")),
                ..p::PushOptions::default()
            };
            numbers(&client.push_with(c.view, &data, &opts).unwrap())
        })
        .collect();
    rows.push(("client", got));

    let want: Vec<Numbers> = cases().iter().map(|c| c.want).collect();
    for (surface, got) in &rows {
        for ((c, g), w) in cases().iter().zip(got).zip(&want) {
            assert_eq!(g, w, "{surface}, {}", c.name);
        }
    }
}

#[test]
fn the_same_file_twice_over_the_server_changes_nothing() {
    let s = store();
    let dir = s.tmp.path();
    let server = Server::start(&s, &[]);
    std::fs::write(
        dir.join("later.csv"),
        "user_id,event_timestamp,amount_avg,txn_count,segment\n1,2024-05-04T00:00:00Z,1.0,3,new\n",
    )
    .unwrap();
    let remote = |extra: &[&str]| {
        let mut a = vec!["ingest", "--view", "user_stats"];
        if !extra.contains(&"later.csv") {
            a.push("first.csv");
        }
        a.extend_from_slice(extra);
        server.ok(dir, &s.admin, &a)
    };
    let read = || {
        let mut out = String::new();
        for key in ["1", "2"] {
            out.push_str(&server.ok(
                dir,
                &s.admin,
                &["history", "--view", "user_stats", "--key", key, "--json"],
            ));
            out.push_str(&server.ok(
                dir,
                &s.admin,
                &[
                    "get",
                    "--view",
                    "user_spend",
                    "--key",
                    key,
                    "--as-of",
                    "2024-05-02T06:00:00Z",
                    "--json",
                ],
            ));
        }
        out
    };
    let first = remote(&[]);
    assert!(first.contains("3 row(s): 3 written"), "{first}");
    let after = read();
    let again = remote(&[]);
    assert!(again.contains("3 row(s): already ingested at"), "{again}");
    assert_eq!(read(), after, "the second ingest changed the store");
    // A named batch: the same name twice is written once.
    let named = remote(&["later.csv", "--batch-id", "nightly-1"]);
    assert!(named.contains("1 row(s): 1 written"), "{named}");
    let with_name = read();
    assert_ne!(with_name, after);
    let again = remote(&["later.csv", "--batch-id", "nightly-1"]);
    assert!(again.contains("already ingested"), "{again}");
    assert_eq!(read(), with_name);
}
