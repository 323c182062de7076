//! `examples/user_30d/` runs as its README says: the commands it lists,
//! through the CLI, print the export its README shows, and every exported
//! cell of both views (aggregations with buckets, lists and maps, and
//! derived features) is what `strata get --as-of` answers for the same user
//! and time.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::cli::{Example, json, ok};
use serde_json::Value as Json;

const EXAMPLE: Example = Example("user_30d");

/// The cells of one CSV line (RFC 4180 quoting: `"` around a cell, `""`
/// inside it).
fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Whether two JSON values are equal, numbers to 1e-12 relative (the
/// JSON parser of the tests may round the last digit of a double).
fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-12 * x.abs().max(1.0)
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, x), (ky, y))| kx == ky && equal(x, y))
        }
        _ => a == b,
    }
}

/// Whether an exported cell is the value `get --json` answers.
fn same(cell: &str, online: &Json) -> bool {
    match (cell, online) {
        ("", Json::Null) => true,
        (_, Json::String(s)) => s == cell,
        _ => serde_json::from_str::<Json>(cell).is_ok_and(|c| equal(&c, online)),
    }
}

#[test]
fn the_user_30d_example_prints_what_its_readme_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = ["--data", "cards"];
    ok(
        dir,
        &[&["apply"], &data[..], &[&EXAMPLE.file("definitions.toml")]].concat(),
    );
    ok(
        dir,
        &[
            &["ingest"],
            &data[..],
            &["--view", "transactions", &EXAMPLE.file("transactions.csv")],
        ]
        .concat(),
    );
    ok(
        dir,
        &[
            &["export"],
            &data[..],
            &[
                "--entities",
                &EXAMPLE.file("entities.csv"),
                "--features",
                "user_30d:*,user_30d_derived:*",
                "--out",
                "training.csv",
            ],
        ]
        .concat(),
    );
    let exported = EXAMPLE.exported_as_readme(&dir.join("training.csv"));
    let lines: Vec<&str> = exported.lines().collect();

    let header = cells(lines[0]);
    let mut checked = 0;
    for line in &lines[1..] {
        let row = cells(line);
        assert_eq!(row.len(), header.len(), "{line}");
        for view in ["user_30d", "user_30d_derived"] {
            let got = json(&ok(
                dir,
                &[
                    &["get"],
                    &data[..],
                    &[
                        "--view", view, "--key", &row[0], "--as-of", &row[1], "--json",
                    ],
                ]
                .concat(),
            ));
            let features = got["features"].as_object().unwrap();
            for (name, f) in features {
                let at = header.iter().position(|h| h == name).unwrap();
                assert!(
                    same(&row[at], &f["value"]),
                    "{name} of {line}: get --as-of says {f}"
                );
                checked += 1;
            }
        }
    }
    // 7 rows × 14 features.
    assert_eq!(checked, 98);
}
