//! Reads: every scenario through every surface, and gets of several keys.

use std::collections::BTreeMap;

use strata::store::Store;

use crate::fixture::{LOCAL, Remote, build, cli, token};
use crate::scenarios::{Expect, Scenario, expected, scenarios};
use crate::surfaces::{Answer, via_cli, via_client, via_http, via_library};
use crate::{HOUR, T0};

/// Feature order is the schema's everywhere but in the CLI's JSON object
/// (whose keys serde_json sorts): answers are compared sorted by feature.
/// A read time is compared as present only.
fn comparable(answer: &mut Answer, read_time: bool) {
    let Ok(features) = answer else { return };
    features.sort_by(|a, b| a.0.cmp(&b.0));
    if read_time {
        for f in features.iter_mut() {
            f.3 = f.3.as_ref().map(|_| "read time".into());
        }
    }
}

/// Feast has no DEFAULTED: its HTTP answer says PRESENT (docs/PROTOCOL.md,
/// "Where this differs from Feast").
fn as_feast(a: &Answer) -> Answer {
    a.clone().map(|fs| {
        fs.into_iter()
            .map(|(f, v, st, t)| match st.as_str() {
                "DEFAULTED" => (f, v, "PRESENT".into(), t),
                _ => (f, v, st, t),
            })
            .collect()
    })
}

#[test]
fn every_surface_answers_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    let scenarios = scenarios();
    let mut answers: Vec<BTreeMap<&str, Answer>> =
        scenarios.iter().map(|_| BTreeMap::new()).collect();

    {
        let store = Store::open(&data).unwrap();
        for (s, a) in scenarios.iter().zip(&mut answers) {
            a.insert("library", via_library(&store, s));
        }
    }
    let local = ["--data".to_string(), data.display().to_string()];
    for (s, a) in scenarios.iter().zip(&mut answers) {
        a.insert("cli --data", via_cli(dir, &local, s));
    }

    let reader = token(dir, "r", "read:view:profile");
    let remote = Remote::start(dir, &data);
    let client = remote.client(&remote.admin);
    let over_the_server = remote.args_for(&remote.admin);
    for (s, a) in scenarios.iter().zip(&mut answers) {
        a.insert("cli --server", via_cli(dir, &over_the_server, s));
        a.insert("client", via_client(&client, s.view == "merchant_risk", s));
    }
    for (s, a) in scenarios.iter().zip(&mut answers) {
        if s.as_of.is_none() && matches!(s.expect, Expect::Row { .. }) {
            a.insert("http", via_http(&remote.server.http, &remote.admin, s));
        }
    }

    for (s, a) in scenarios.iter().zip(&mut answers) {
        for answer in a.values_mut() {
            comparable(answer, s.read_time);
        }
    }
    for (s, a) in scenarios.iter().zip(&answers) {
        let lib = &a["library"];
        for (surface, answer) in a {
            match &s.expect {
                Expect::Error(m) => {
                    let e = answer.as_ref().err().unwrap_or_else(|| {
                        panic!(
                            "{}: {surface} answered {answer:?}, expected an error",
                            s.name
                        )
                    });
                    assert!(e.contains(m), "{}: {surface}: {e:?} lacks {m:?}", s.name);
                }
                Expect::Row { .. } => {
                    let want = if *surface == "http" {
                        as_feast(lib)
                    } else {
                        lib.clone()
                    };
                    assert_eq!(
                        answer, &want,
                        "{}: {surface} differs from the library",
                        s.name
                    );
                }
            }
        }
        if let Some(mut want) = expected(&s.expect) {
            comparable(&mut want, s.read_time);
            assert_eq!(lib, &want, "{}: the library's answer", s.name);
        }
    }

    // A token that may read only `profile` gets the same refusal from the
    // CLI and the client for any other view, before anything is read.
    let forbidden = Scenario {
        name: "forbidden view",
        view: "txn_stats",
        key: "1".into(),
        as_of: Some(T0 + HOUR),
        // Answered exactly as an unknown view (docs/PROTOCOL.md, "Policy").
        expect: Expect::Error("unknown feature view \"txn_stats\""),
        read_time: false,
        request: None,
    };
    for answer in [
        via_cli(dir, &remote.args_for(&reader), &forbidden),
        via_client(&remote.client(&reader), false, &forbidden),
    ] {
        let e = answer.expect_err("a forbidden view must be refused");
        assert!(e.contains("unknown feature view \"txn_stats\""), "{e}");
    }
}

#[test]
fn a_get_of_several_keys_answers_what_single_gets_answer_and_closes_its_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    // Every --key, then the lines of --keys.
    let keys = ["1", "1", "2", "3"];
    std::fs::write(dir.join("keys.txt"), "2\n\n3\n").unwrap();
    let get = |surface: &[String], extra: &[&str]| {
        let mut args = surface.to_vec();
        args.extend(["get", "--view", "profile", "--json"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let (code, out, err) = cli(dir, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let singles = |surface: &[String]| -> String {
        keys.iter().map(|k| get(surface, &["--key", k])).collect()
    };
    let several =
        |surface: &[String]| get(surface, &["--key", "1", "--keys", "keys.txt", "--key", "1"]);
    let local = LOCAL.map(String::from);
    let want = singles(&local);
    assert_eq!(want.lines().count(), 4);
    assert_eq!(several(&local), want);

    let remote = Remote::start(dir, &data);
    let over_the_server = remote.args_for(&remote.admin);
    assert_eq!(several(&over_the_server), want);
    assert_eq!(singles(&over_the_server), want);
    // Every CLI process above closed its connection as it exited: the
    // server counts none active but the one asking.
    let active = remote
        .client(&remote.admin)
        .stats()
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "connections_active")
        .map(|(_, v)| v);
    assert_eq!(active, Some(1));
}
