//! Administration, locally and over the server.

use serde_json::{Value as Json, json};
use strata::format::protocol as p;

use crate::fixture::{DEFS, DEFS_V2, KYC_V1, KYC_V2, LOCAL, Remote, build, strata_on};

/// Administration answers the same on a local store (`--data`, the
/// library's operations) and over a server (`--server`, the protocol's
/// `Admin` request, the native client): two stores built alike, one
/// changed locally and one through a server, print the same reports and
/// end up reading the same values.
#[test]
fn admin_operations_answer_the_same_locally_and_over_the_server() {
    let (t_local, t_remote) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dl, dr) = (t_local.path(), t_remote.path());
    build(dl);
    let data = build(dr);
    let promote = format!(
        "{}{}\n[[feature_views]]\nname = \"device_seen\"\nentities = [\"user\"]\nsource = \"view:device\"\nfeatures = [{{ name = \"seen\", type = \"int64\" }}]\n",
        DEFS.replace(KYC_V1, KYC_V2),
        DEFS_V2.replace(
            "team = \"growth\"\n",
            "team = \"growth\"\nserving_version = 2\n"
        )
    );
    for d in [dl, dr] {
        std::fs::write(d.join("promote.toml"), &promote).unwrap();
    }
    let server = Remote::start(dr, &data);
    let local = |args: &[&str]| strata_on(dl, &LOCAL, args);
    let remote = |args: &[&str]| strata_on(dr, &server.args(), args);
    let client = server.client(&server.admin);
    let native = |op: p::AdminOp, args: &[&str]| -> String {
        let r = client.admin(&p::AdminRequest::new(op, args)).unwrap();
        r.lines.iter().map(|l| format!("{l}\n")).collect()
    };
    // Creation times differ between the two stores; each line of a plan
    // is otherwise the same.
    let plan = local(&["apply", "--plan", "promote.toml"]);
    assert!(
        plan.contains("~ readers of device move from @1 to @2"),
        "{plan}"
    );
    assert!(plan.contains("+ feature view device_seen"), "{plan}");
    assert_eq!(remote(&["apply", "--plan", "promote.toml"]), plan);
    assert_eq!(native(p::AdminOp::Plan, &[&promote]), plan);
    let applied = local(&["apply", "promote.toml"]);
    assert!(applied.ends_with("applied 3 change(s)\n"), "{applied}");
    assert_eq!(remote(&["apply", "promote.toml"]), applied);
    // The registry: the same listing and descriptions from the store read
    // beside its running server and from the server (one result type,
    // every field: ids, times, owners, tags, defaults, versions, source,
    // the last ingest).
    let beside = |args: &[&str]| strata_on(dr, &LOCAL, args);
    for args in [
        &["registry", "list"][..],
        &["registry", "list", "--json"],
        &["registry", "describe", "profile"],
        &["registry", "describe", "kyc", "--json"],
        &["registry", "describe", "kyc"],
        &["registry", "describe", "device@2"],
        &["registry", "describe", "txn_stats", "--json"],
    ] {
        assert_eq!(remote(args), beside(args), "{args:?}");
    }
    let kyc = remote(&["registry", "describe", "kyc"]);
    for field in [
        "feature view kyc (id ",
        "team          risk",
        "versions      kyc",
        "kyc_level",
        "last ingest: ",
        "1 row(s) from",
    ] {
        assert!(kyc.contains(field), "{field:?} in {kyc}");
    }
    let profile: Json =
        serde_json::from_str(&remote(&["registry", "describe", "profile", "--json"])).unwrap();
    assert_eq!(profile["features"][0]["default"], json!("\"bronze\""));
    assert_eq!(profile["team"], json!("growth"));
    assert!(profile["id"].as_u64().is_some() && profile["changed_at"].is_string());
    let txn_stats: Json =
        serde_json::from_str(&remote(&["registry", "describe", "txn_stats", "--json"])).unwrap();
    assert_eq!(txn_stats["source"], json!("view txn@1"), "{txn_stats}");

    // The unversioned name now reads @2, on both.
    let get =
        |run: &dyn Fn(&[&str]) -> String| run(&["get", "--view", "device", "--key", "1", "--json"]);
    assert!(get(&local).contains("pixel"), "{}", get(&local));
    assert_eq!(get(&remote), get(&local));
    let tree = local(&["registry", "lineage", "device_seen"]);
    assert_eq!(
        tree,
        "device@2 (source: not declared)\n\u{2514}\u{2500}> device_seen (source: view device)  <- this view\n"
    );
    assert_eq!(remote(&["registry", "lineage", "device_seen"]), tree);
    assert_eq!(native(p::AdminOp::Lineage, &["device_seen"]), tree);
    let deleted = local(&["delete", "--entity", "user", "--key", "2"]);
    assert!(
        deleted.starts_with("deleted every version of user 2 in view(s) profile"),
        "{deleted}"
    );
    assert_eq!(
        remote(&["delete", "--entity", "user", "--key", "2"]),
        deleted
    );
    for args in [
        ["get", "--view", "profile", "--key", "2", "--json"],
        ["get", "--view", "profile", "--key", "1", "--json"],
    ] {
        assert_eq!(remote(&args), local(&args), "{args:?}");
    }
    assert_eq!(local(&["flush"]), "flushed data\n");
    assert_eq!(remote(&["flush"]), format!("flushed {}\n", data.display()));
    // Compaction: the same report (its numbers depend on how each store's
    // segments came to be: a server also compacts in the background).
    for out in [local(&["compact"]), remote(&["compact"])] {
        assert!(
            out.starts_with("compacted ") && out.contains(" segment(s) into one: "),
            "{out}"
        );
    }
    for args in [
        ["get", "--view", "device", "--key", "1", "--json"],
        ["get", "--view", "txn", "--key", "1", "--json"],
    ] {
        assert_eq!(remote(&args), local(&args), "{args:?} after compaction");
    }
    // Snapshots: the same rows (the server writes into its own directory).
    let words = |s: String| s.split(" to ").next().unwrap().to_string();
    let snap = words(local(&["snapshot", "--view", "profile", "--out", "snap"]));
    assert_eq!(snap, "wrote 1 version(s) of 1 key(s)");
    let out = dr.join("snap");
    assert_eq!(
        words(remote(&[
            "snapshot",
            "--view",
            "profile",
            "--out",
            out.to_str().unwrap()
        ])),
        snap
    );
    assert!(out.join("view=profile").is_dir());
}
