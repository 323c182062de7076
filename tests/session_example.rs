//! `examples/sessions/` runs as its README says: the commands it lists,
//! through the CLI, print the export its README shows, and every exported
//! row is what `strata get --as-of` answers for the same user and time,
//! the session view's features and the derived rates alike.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::cli::{Example, json, ok};

const EXAMPLE: Example = Example("sessions");

#[test]
fn the_session_example_prints_what_its_readme_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        dir,
        &["apply", "--data", "shop", &EXAMPLE.file("definitions.toml")],
    );
    ok(
        dir,
        &[
            "ingest",
            "--data",
            "shop",
            "--view",
            "page_views",
            &EXAMPLE.file("page_views.csv"),
        ],
    );
    ok(
        dir,
        &[
            "export",
            "--data",
            "shop",
            "--entities",
            &EXAMPLE.file("entities.csv"),
            "--features",
            "user_sessions:*,session_rates:*",
            "--out",
            "training.csv",
        ],
    );
    let exported = EXAMPLE.exported_as_readme(&dir.join("training.csv"));
    let lines: Vec<&str> = exported.lines().collect();

    let header: Vec<&str> = lines[0].split(',').collect();
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        // The session view's features and the derived rates over them.
        let mut features = serde_json::Map::new();
        for view in ["user_sessions", "session_rates"] {
            let got = json(&ok(
                dir,
                &[
                    "get", "--data", "shop", "--view", view, "--key", cells[0], "--as-of",
                    cells[1], "--json",
                ],
            ));
            features.extend(got["features"].as_object().unwrap().clone());
        }
        assert_eq!(features.len(), header.len() - 2);
        for (name, cell) in header.iter().zip(&cells).skip(2) {
            let f = &features[*name];
            let same = match &f["value"] {
                serde_json::Value::Null => cell.is_empty(),
                serde_json::Value::String(s) => s == cell,
                // Within 1e-12: the tests' JSON parser may round a double's last digit.
                serde_json::Value::Number(n) if n.is_f64() => {
                    let (x, y) = (n.as_f64().unwrap(), cell.parse::<f64>().unwrap());
                    (x - y).abs() <= 1e-12 * x.abs().max(1.0)
                }
                v => &v.to_string() == cell,
            };
            assert!(same, "{name} of {line}: get --as-of says {f}");
        }
    }
}
