//! `strata apply`.

use super::*;

#[test]
fn apply_plan_then_apply() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "defs.toml", DEFS);
    let out = ok(t.path(), &argv("apply --data data defs.toml --plan"));
    assert_contains(
        &out,
        &[
            "+ entity user (user_id: int64)",
            "+ feature view user_stats (id 1, ttl unlimited)",
            "+ feature view user_country (id 2, ttl 7d)",
            "plan only: nothing was changed",
        ],
    );
    assert!(
        !t.path().join("data/catalog").exists(),
        "--plan wrote a catalog"
    );

    let out = ok(t.path(), &argv("apply defs.toml --data data"));
    assert!(out.contains("applied 4 change(s)"), "{out}");
    assert!(t.path().join("data/catalog").exists());
    let out = ok(t.path(), &argv("apply --data data defs.toml"));
    assert!(out.contains("nothing to change"), "{out}");

    // An appended feature is fine; a type change is refused with advice.
    write(
        t.path(),
        "grown.toml",
        &DEFS.replace(
            "{ name = \"visits\", type = \"int64\" }]",
            "{ name = \"visits\", type = \"int64\" }, { name = \"x\", type = \"bool\" }]",
        ),
    );
    let out = ok(t.path(), &argv("apply --data data grown.toml"));
    assert!(
        out.contains("~ feature view user_country: + x bool"),
        "{out}"
    );
    write(
        t.path(),
        "bad.toml",
        &DEFS.replace(
            "name = \"txn_count\", type = \"int64\"",
            "name = \"txn_count\", type = \"float64\"",
        ),
    );
    let err = fails(t.path(), &argv("apply --data data bad.toml"), 1);
    assert_contains(
        &err,
        &[
            "feature \"txn_count\" changes type from int64 to float64",
            "declare it as version = 2 instead",
        ],
    );

    write(
        t.path(),
        "broken.toml",
        "[[entities]]\nname = \"u\"\njoin_keys = [{ name = \"id\", type = \"int32\" }]\n",
    );
    let err = fails(t.path(), &argv("apply --data data broken.toml"), 1);
    assert!(
        err.contains("broken.toml") && err.contains("unknown type \"int32\"; use int64 or string"),
        "{err}"
    );
}
