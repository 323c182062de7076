//! Tests of the definitions file and the evolution rules.

use super::*;
use crate::catalog::Catalog;

const BASE: &str = include_str!("../testdata/defs-base.toml");

fn empty() -> Catalog {
    Catalog {
        entities: vec![],
        views: vec![],
        next_view_id: 1,
    }
}

fn applied(text: &str) -> Catalog {
    apply(&empty(), &parse(text).unwrap()).unwrap()
}

/// Why applying `text` over `cat` is refused.
fn refused(cat: &Catalog, text: &str) -> String {
    apply(cat, &parse(text).unwrap()).unwrap_err().to_string()
}

/// Asserts that `e` says each of `parts`.
fn assert_contains(e: &str, parts: &[&str]) {
    for part in parts {
        assert!(e.contains(part), "{part:?} is not in: {e}");
    }
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// Why `BASE` with `from` replaced by `to` is refused.
fn err_edited(from: &str, to: &str) -> String {
    err(&BASE.replace(from, to))
}

/// `BASE` with its feature list replaced.
fn with_features(features: &str) -> String {
    BASE.replace(
        "  { name = \"amount_avg\", type = \"float64\" },\n  { name = \"txn_count\",  type = \"int64\" },\n",
        features,
    )
}

#[test]
fn parses_the_example() {
    let d = parse(BASE).unwrap();
    assert_eq!(d.entities.len(), 1);
    assert_eq!(
        d.entities[0].join_keys,
        vec![JoinKey {
            name: "user_id".into(),
            ty: KeyType::Int64
        }]
    );
    assert_eq!(d.entities[0].description, "a user");
    let v = &d.views[0];
    assert_eq!((v.name.as_str(), v.version, v.id), ("user_stats", 1, 0));
    assert_eq!(v.ttl_micros, 30 * 86_400_000_000);
    assert_eq!(v.schema(), vec![FeatureType::Float64, FeatureType::Int64]);
    assert_eq!(v.owner(), Some("risk"));
    assert_eq!(
        v.metadata.freshness_sla.map(|d| d.to_string()).as_deref(),
        Some("1h")
    );
    assert!(matches!(
        v.metadata.tags,
        Some(crate::catalog::metadata::Tags::List(_))
    ));
    let table = v.metadata.to_table();
    assert!(!table.contains_key("ttl") && !table.contains_key("features"));
}

/// Until the metadata was typed, unknown fields were kept as written; now
/// they are refused, naming the view and the field.
#[test]
fn unknown_metadata_is_refused_and_ttl_defaults_to_unlimited() {
    let text = BASE.replace("ttl = \"30d\"\n", "team = \"ml\"\n");
    let v = &parse(&text).unwrap().views[0];
    assert_eq!(v.ttl_micros, 0);
    assert_eq!(v.team(), Some("ml"));
    let text = BASE.replace(
        "ttl = \"30d\"\n",
        "sla_pager = { level = 2, when = 1979-05-27T07:32:00Z }\n",
    );
    let e = parse(&text).unwrap_err();
    let Error::UnknownField { subject, field, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        (subject, field.as_str()),
        (&Subject::View("user_stats".into()), "sla_pager")
    );
    let e = e.to_string();
    assert_contains(
        &e,
        &["feature view \"user_stats\": unknown field \"sla_pager\""],
    );
    assert!(e.contains("freshness_sla") && e.contains("tags = {"), "{e}");
}

#[test]
fn metadata_survives_the_catalog_file() {
    let text = BASE.replace(
        "owner = \"risk\"",
        "owner = \"risk\"\nteam = \"t\"\ndescription = \"d\"\nsource = \"push\"\nonline = false\n\
         retention = 86400\nmax_versions = 2\nquality = \"warn\"\ninputs = []",
    );
    let cat = applied(&text);
    let back =
        crate::catalog::persist::decode(&crate::catalog::persist::encode(&cat).unwrap()).unwrap();
    assert_eq!(back, cat);
}

#[test]
fn ttl_as_integer_seconds_and_version() {
    let text = BASE.replace("ttl = \"30d\"", "ttl = 3600\nversion = 3");
    let v = &parse(&text).unwrap().views[0];
    assert_eq!(v.ttl_micros, 3_600_000_000);
    assert_eq!(v.version, 3);
    assert_eq!(v.qualified_name(), "user_stats@3");
}

#[test]
fn bad_ttl_names_the_line() {
    // The ttl stands on line 9 of testdata/defs-base.toml.
    let e = err_edited("\"30d\"", "\"3x\"");
    assert_contains(&e, &["bad duration \"3x\": unknown unit x", "line 9"]);
}

#[test]
fn bad_version() {
    assert!(err_edited("ttl = \"30d\"", "version = 0").contains("version = 0"));
    assert!(err_edited("ttl = \"30d\"", "version = -2").contains("version = -2"));
}

#[test]
fn names_must_be_identifiers() {
    let e = err_edited("name = \"user_stats\"", "name = \"user-stats\"");
    assert!(
        e.contains(
            "feature view \"user-stats\": the feature view name \"user-stats\" is not an identifier"
        ),
        "{e}"
    );
    let e = err_edited("name = \"amount_avg\"", "name = \"9lives\"");
    assert_contains(&e, &["feature name \"9lives\""]);
    let e = err_edited("name = \"user_id\"", "name = \"user id\"");
    assert_contains(&e, &["join key name \"user id\""]);
    assert!(
        is_identifier("_x9") && is_identifier("A") && !is_identifier("") && !is_identifier("é")
    );
}

#[test]
fn duplicate_names() {
    let e = err(&format!(
        "{BASE}\n[[entities]]\nname = \"user\"\njoin_keys = [{{ name = \"id\", type = \"string\" }}]\n"
    ));
    assert_contains(&e, &["entity \"user\" is declared twice"]);
    let twice = BASE.split("[[feature_views]]").nth(1).unwrap();
    let e = err(&format!("{BASE}\n[[feature_views]]{twice}"));
    assert_contains(
        &e,
        &["feature view \"user_stats\" version 1 is declared twice"],
    );
    // Two versions side by side are fine.
    let v2 = twice.replace("ttl = \"30d\"", "version = 2");
    let d = parse(&format!("{BASE}\n[[feature_views]]{v2}")).unwrap();
    assert_eq!(d.views.len(), 2);
    let e = err(&with_features(
        "{ name = \"a\", type = \"int64\" }, { name = \"a\", type = \"bool\" }",
    ));
    assert_contains(&e, &["feature \"a\" is declared twice"]);
}

#[test]
fn entities_must_exist_and_have_keys() {
    let e = err_edited("entities = [\"user\"]", "entities = [\"usr\"]");
    assert_contains(
        &e,
        &["uses the entity \"usr\", which this file does not declare"],
    );
    let e = err_edited("entities = [\"user\"]", "entities = []");
    assert_contains(&e, &["names no entities"]);
    let e = err_edited(
        "join_keys = [{ name = \"user_id\", type = \"int64\" }]",
        "join_keys = []",
    );
    assert_contains(&e, &["entity \"user\" has no join keys"]);
    let e = err_edited("type = \"int64\" }]", "type = \"float64\" }]");
    assert_contains(
        &e,
        &["join key \"user_id\" has the unknown type \"float64\"; use int64 or string"],
    );
}

#[test]
fn join_keys_must_be_distinct_and_not_reserved() {
    let keys = "join_keys = [{ name = \"user_id\", type = \"int64\" }]";
    let twice =
        "join_keys = [{ name = \"k\", type = \"int64\" }, { name = \"k\", type = \"string\" }]";
    let e = err_edited(keys, twice);
    assert_contains(&e, &["entity \"user\"", "join key \"k\" appears twice"]);
    let e = err_edited("\"user_id\"", "\"created_timestamp\"");
    assert_contains(
        &e,
        &["\"created_timestamp\" is reserved for the timestamp columns; rename the join key"],
    );
}

#[test]
fn feature_types_must_be_known() {
    let e = err_edited("\"float64\"", "\"double\"");
    assert_contains(
        &e,
        &[
            "feature \"amount_avg\" has the unknown type \"double\"",
            "list<float32>",
        ],
    );
}

#[test]
fn features_may_not_shadow_keys_or_timestamps() {
    let e = err(&with_features("{ name = \"user_id\", type = \"int64\" }"));
    assert_contains(
        &e,
        &["feature \"user_id\" has the name of a join key of entity \"user\""],
    );
    for reserved in ["event_timestamp", "created_timestamp"] {
        let e = err(&with_features(&format!(
            "{{ name = \"{reserved}\", type = \"timestamp\" }}"
        )));
        assert_contains(&e, &["reserved column"]);
    }
    let e = err(&with_features(""));
    assert_contains(&e, &["has no features"]);
}

#[test]
fn colliding_join_keys_across_entities() {
    let text = format!(
        "{BASE}\n[[entities]]\nname = \"account\"\njoin_keys = [{{ name = \"user_id\", type = \"string\" }}]\n"
    )
    .replace("entities = [\"user\"]", "entities = [\"user\", \"account\"]");
    let e = err(&text);
    assert_contains(&e, &["both have a join key named \"user_id\""]);
}

#[test]
fn known_metadata_is_type_checked() {
    let cases = [
        (
            "online = \"yes\"",
            "online = \"yes\" is not valid; expected true or false",
        ),
        ("max_versions = 0", "expected an integer of at least 1"),
        (
            "retention = \"forever\"",
            "retention: bad duration \"forever\"",
        ),
        ("owner = 3", "owner = 3 is not valid; expected a string"),
        (
            "tags = [1]",
            "expected an array of strings or a table of strings",
        ),
        (
            "tags = \"x\"",
            "expected an array of strings or a table of strings",
        ),
        ("id = 7", "`id` is assigned by the store"),
    ];
    for (line, want) in cases {
        let e = err_edited("owner = \"risk\"\ntags = [\"payments\"]", line);
        assert!(e.contains(want), "{line}: {e}");
    }
    parse(&BASE.replace(
        "tags = [\"payments\"]",
        "online = false\nretention = 86400\ntags = { team = \"x\" }\nmax_versions = 5",
    ))
    .unwrap();
}

#[test]
fn unknown_top_level_and_feature_fields_are_refused() {
    for (from, to, says) in [
        ("[[feature_views]]", "[[feature_view]]", "feature_view"),
        (
            "type = \"float64\" }",
            "type = \"float64\", dtype = \"x\" }",
            "dtype",
        ),
    ] {
        assert_contains(&err_edited(from, to), &[says]);
    }
    let e = err("entities = [\"user\"]\n");
    assert_contains(&e, &["an entity table"]);
}

#[test]
fn new_views_get_fresh_ids() {
    let two = format!(
        "{BASE}\n[[feature_views]]\nname = \"user_more\"\nentities = [\"user\"]\nfeatures = [{{ name = \"x\", type = \"bool\" }}]\n"
    );
    let cat = applied(&two);
    assert_eq!(cat.view("user_stats").unwrap().id, 1);
    assert_eq!(cat.view("user_more").unwrap().id, 2);
    assert_eq!(cat.next_view_id, 3);
    let p = plan(&cat, &parse(&two).unwrap()).unwrap();
    assert!(p.is_noop(), "{:?}", p.changes);
    assert_eq!(p.catalog, cat, "re-applying the same file changes nothing");
}

#[test]
fn plan_lists_additions() {
    let p = plan(&empty(), &parse(BASE).unwrap()).unwrap();
    let lines: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        vec![
            "+ entity user (user_id: int64)".to_string(),
            "+ feature view user_stats (id 1, ttl 30d): amount_avg float64, txn_count int64"
                .to_string(),
        ]
    );
    assert!(!p.is_noop());
}

#[test]
fn appending_a_feature_keeps_the_id() {
    let cat = applied(BASE);
    let grown = with_features(
        "  { name = \"amount_avg\", type = \"float64\" },\n  { name = \"txn_count\",  type = \"int64\" },\n  { name = \"emb\", type = \"list<float32>\" },\n",
    );
    let p = plan(&cat, &parse(&grown).unwrap()).unwrap();
    assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
    assert_eq!(
        p.changes[0].to_string(),
        "~ feature view user_stats: + emb list<float32>"
    );
    let v = p.catalog.view("user_stats").unwrap();
    assert_eq!((v.id, v.features.len()), (1, 3));
    assert_eq!(p.catalog.next_view_id, 2);
}

#[test]
fn removing_a_feature_is_refused() {
    let cat = applied(BASE);
    let e = refused(
        &cat,
        &with_features("{ name = \"amount_avg\", type = \"float64\" }"),
    );
    assert_contains(
        &e,
        &[
            "feature view user_stats: feature \"txn_count\" is removed or renamed",
            "declare it as version = 2 instead",
        ],
    );
}

#[test]
fn renaming_a_feature_is_refused() {
    let cat = applied(BASE);
    let e = refused(&cat, &BASE.replace("txn_count", "txn_total"));
    assert_contains(&e, &["feature \"txn_count\" is removed or renamed"]);
}

#[test]
fn reordering_features_is_refused() {
    let cat = applied(BASE);
    let swapped = with_features(
        "{ name = \"txn_count\", type = \"int64\" }, { name = \"amount_avg\", type = \"float64\" }",
    );
    let e = refused(&cat, &swapped);
    assert_contains(
        &e,
        &[
            "features are reordered (position 1 was \"amount_avg\", is now \"txn_count\")",
            "version = 2",
        ],
    );
}

#[test]
fn changing_a_type_is_refused() {
    let cat = applied(BASE);
    let e = refused(
        &cat,
        &BASE.replace("type = \"int64\" },", "type = \"float64\" },"),
    );
    assert_contains(
        &e,
        &[
            "feature \"txn_count\" changes type from int64 to float64",
            "declare it as version = 2 instead",
        ],
    );
}

#[test]
fn changing_entities_is_refused() {
    let cat = applied(BASE);
    let text = format!("{BASE}\n[[entities]]\nname = \"account\"\njoin_keys = [{{ name = \"account_id\", type = \"string\" }}]\n")
        .replace("entities = [\"user\"]", "entities = [\"account\"]");
    let e = refused(&cat, &text);
    assert_contains(&e, &["entities change from [user] to [account]"]);
}

#[test]
fn changing_join_key_types_is_refused_while_views_use_them() {
    let cat = applied(BASE);
    let text = BASE.replace("type = \"int64\" }]", "type = \"string\" }]");
    let e = refused(&cat, &text);
    assert_contains(
        &e,
        &[
            "entity \"user\": join keys change from (user_id: int64) to (user_id: string)",
            "user_stats",
        ],
    );
    // An entity no view uses may change.
    let only_entity =
        "[[entities]]\nname = \"m\"\njoin_keys = [{ name = \"k\", type = \"int64\" }]\n";
    let cat = applied(only_entity);
    let cat = apply(
        &cat,
        &parse(&only_entity.replace("int64", "string")).unwrap(),
    )
    .unwrap();
    assert_eq!(cat.entity("m").unwrap().join_keys[0].ty, KeyType::String);
}

#[test]
fn renaming_a_join_key_and_editing_metadata_are_allowed() {
    let cat = applied(BASE);
    let text = BASE
        .replace("\"user_id\"", "\"uid\"")
        .replace("ttl = \"30d\"", "ttl = \"7d\"")
        .replace("owner = \"risk\"", "owner = \"fraud\"\nonline = false");
    let p = plan(&cat, &parse(&text).unwrap()).unwrap();
    let lines: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    assert_eq!(lines[0], "~ entity user: join key user_id renamed to uid");
    assert!(
        lines[1].starts_with("~ feature view user_stats: ttl 30d -> 7d"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("owner \"risk\" -> \"fraud\""),
        "{lines:?}"
    );
    assert!(lines[1].contains("online = false added"), "{lines:?}");
    assert_eq!(p.catalog.view("user_stats").unwrap().id, 1);
    assert_eq!(
        p.catalog.view("user_stats").unwrap().ttl_micros,
        7 * 86_400_000_000
    );
}

#[test]
fn a_new_version_is_a_new_view() {
    let cat = applied(BASE);
    let v2 = BASE
        .replace("ttl = \"30d\"", "version = 2")
        .replace("type = \"int64\" },", "type = \"float64\" },");
    let cat = apply(&cat, &parse(&v2).unwrap()).unwrap();
    assert_eq!(cat.views.len(), 2);
    assert_eq!(cat.view("user_stats@1").unwrap().id, 1);
    assert_eq!(cat.view("user_stats@2").unwrap().id, 2);
    assert_eq!(
        cat.view("user_stats").unwrap().version,
        1,
        "the bare name stays on the served version until @2 is promoted"
    );
    // Refusing a change to version 2 now suggests version 3.
    let v2_changed = v2.replace("\"txn_count\"", "\"n\"");
    let e = refused(&cat, &v2_changed);
    assert!(
        e.contains("feature view user_stats@2:") && e.contains("version = 3"),
        "{e}"
    );
}

#[test]
fn absent_views_are_kept() {
    let cat = applied(BASE);
    let other = "[[entities]]\nname = \"user\"\njoin_keys = [{ name = \"user_id\", type = \"int64\" }]\ndescription = \"a user\"\n\n[[feature_views]]\nname = \"other\"\nentities = [\"user\"]\nfeatures = [{ name = \"x\", type = \"bytes\" }]\n";
    let p = plan(&cat, &parse(other).unwrap()).unwrap();
    assert!(p.catalog.view("user_stats").is_some());
    assert_eq!(p.catalog.view("other").unwrap().id, 2);
    let lines: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("= feature view user_stats: not in the file, kept")),
        "{lines:?}"
    );
}

#[test]
fn all_refusals_are_reported_together() {
    let two = format!(
        "{BASE}\n[[feature_views]]\nname = \"b\"\nentities = [\"user\"]\nfeatures = [{{ name = \"x\", type = \"bool\" }}]\n"
    );
    let cat = applied(&two);
    let broken = two
        .replace("type = \"bool\"", "type = \"int64\"")
        .replace("type = \"int64\" },", "type = \"string\" },");
    let e = refused(&cat, &broken);
    assert_eq!(e.lines().count(), 2, "{e}");
}

#[test]
fn ids_are_never_reused() {
    let mut cat = applied(BASE);
    cat.next_view_id = 1; // damaged counter: the plan still skips used ids
    let v2 = BASE.replace("ttl = \"30d\"", "version = 2");
    let cat = apply(&cat, &parse(&v2).unwrap()).unwrap();
    assert_eq!(cat.view("user_stats@2").unwrap().id, 2);
}
