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

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
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
    assert!(
        e.contains("feature view \"user_stats\": unknown field \"sla_pager\""),
        "{e}"
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
    let e = err(&BASE.replace("\"30d\"", "\"3x\""));
    assert!(e.contains("bad duration \"3x\": unknown unit x"), "{e}");
    assert!(e.contains("line 9"), "{e}");
}

#[test]
fn bad_version() {
    assert!(err(&BASE.replace("ttl = \"30d\"", "version = 0")).contains("version = 0"));
    assert!(err(&BASE.replace("ttl = \"30d\"", "version = -2")).contains("version = -2"));
}

#[test]
fn names_must_be_identifiers() {
    let e = err(&BASE.replace("name = \"user_stats\"", "name = \"user-stats\""));
    assert!(
        e.contains(
            "feature view \"user-stats\": the feature view name \"user-stats\" is not an identifier"
        ),
        "{e}"
    );
    let e = err(&BASE.replace("name = \"amount_avg\"", "name = \"9lives\""));
    assert!(e.contains("feature name \"9lives\""), "{e}");
    let e = err(&BASE.replace("name = \"user_id\"", "name = \"user id\""));
    assert!(e.contains("join key name \"user id\""), "{e}");
    assert!(
        is_identifier("_x9") && is_identifier("A") && !is_identifier("") && !is_identifier("é")
    );
}

#[test]
fn duplicate_names() {
    let e = err(&format!(
        "{BASE}\n[[entities]]\nname = \"user\"\njoin_keys = [{{ name = \"id\", type = \"string\" }}]\n"
    ));
    assert!(e.contains("entity \"user\" is declared twice"), "{e}");
    let twice = BASE.split("[[feature_views]]").nth(1).unwrap();
    let e = err(&format!("{BASE}\n[[feature_views]]{twice}"));
    assert!(
        e.contains("feature view \"user_stats\" version 1 is declared twice"),
        "{e}"
    );
    // Two versions side by side are fine.
    let v2 = twice.replace("ttl = \"30d\"", "version = 2");
    let d = parse(&format!("{BASE}\n[[feature_views]]{v2}")).unwrap();
    assert_eq!(d.views.len(), 2);
    let e = err(&with_features(
        "{ name = \"a\", type = \"int64\" }, { name = \"a\", type = \"bool\" }",
    ));
    assert!(e.contains("feature \"a\" is declared twice"), "{e}");
}

#[test]
fn entities_must_exist_and_have_keys() {
    let e = err(&BASE.replace("entities = [\"user\"]", "entities = [\"usr\"]"));
    assert!(
        e.contains("uses the entity \"usr\", which this file does not declare"),
        "{e}"
    );
    let e = err(&BASE.replace("entities = [\"user\"]", "entities = []"));
    assert!(e.contains("names no entities"), "{e}");
    let e = err(&BASE.replace(
        "join_keys = [{ name = \"user_id\", type = \"int64\" }]",
        "join_keys = []",
    ));
    assert!(e.contains("entity \"user\" has no join keys"), "{e}");
    let e = err(&BASE.replace("type = \"int64\" }]", "type = \"float64\" }]"));
    assert!(
        e.contains("join key \"user_id\" has the unknown type \"float64\"; use int64 or string"),
        "{e}"
    );
}

#[test]
fn feature_types_must_be_known() {
    let e = err(&BASE.replace("\"float64\"", "\"double\""));
    assert!(
        e.contains("feature \"amount_avg\" has the unknown type \"double\""),
        "{e}"
    );
    assert!(e.contains("list<float32>"), "{e}");
}

#[test]
fn features_may_not_shadow_keys_or_timestamps() {
    let e = err(&with_features("{ name = \"user_id\", type = \"int64\" }"));
    assert!(
        e.contains("feature \"user_id\" has the name of a join key of entity \"user\""),
        "{e}"
    );
    for reserved in ["event_timestamp", "created_timestamp"] {
        let e = err(&with_features(&format!(
            "{{ name = \"{reserved}\", type = \"timestamp\" }}"
        )));
        assert!(e.contains("reserved column"), "{e}");
    }
    let e = err(&with_features(""));
    assert!(e.contains("has no features"), "{e}");
}

#[test]
fn colliding_join_keys_across_entities() {
    let text = format!(
        "{BASE}\n[[entities]]\nname = \"account\"\njoin_keys = [{{ name = \"user_id\", type = \"string\" }}]\n"
    )
    .replace("entities = [\"user\"]", "entities = [\"user\", \"account\"]");
    let e = err(&text);
    assert!(e.contains("both have a join key named \"user_id\""), "{e}");
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
        let e = err(&BASE.replace("owner = \"risk\"\ntags = [\"payments\"]", line));
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
    let e = err(&BASE.replace("[[feature_views]]", "[[feature_view]]"));
    assert!(e.contains("feature_view"), "{e}");
    let e = err(&BASE.replace(
        "type = \"float64\" }",
        "type = \"float64\", dtype = \"x\" }",
    ));
    assert!(e.contains("dtype"), "{e}");
    let e = err("entities = [\"user\"]\n");
    assert!(e.contains("an entity table"), "{e}");
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
    let e = apply(
        &cat,
        &parse(&with_features(
            "{ name = \"amount_avg\", type = \"float64\" }",
        ))
        .unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("feature view user_stats: feature \"txn_count\" is removed or renamed"),
        "{e}"
    );
    assert!(e.contains("declare it as version = 2 instead"), "{e}");
}

#[test]
fn renaming_a_feature_is_refused() {
    let cat = applied(BASE);
    let e = apply(
        &cat,
        &parse(&BASE.replace("txn_count", "txn_total")).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("feature \"txn_count\" is removed or renamed"),
        "{e}"
    );
}

#[test]
fn reordering_features_is_refused() {
    let cat = applied(BASE);
    let swapped = with_features(
        "{ name = \"txn_count\", type = \"int64\" }, { name = \"amount_avg\", type = \"float64\" }",
    );
    let e = apply(&cat, &parse(&swapped).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("features are reordered (position 1 was \"amount_avg\", is now \"txn_count\")"),
        "{e}"
    );
    assert!(e.contains("version = 2"), "{e}");
}

#[test]
fn changing_a_type_is_refused() {
    let cat = applied(BASE);
    let e = apply(
        &cat,
        &parse(&BASE.replace("type = \"int64\" },", "type = \"float64\" },")).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("feature \"txn_count\" changes type from int64 to float64"),
        "{e}"
    );
    assert!(e.contains("declare it as version = 2 instead"), "{e}");
}

#[test]
fn changing_entities_is_refused() {
    let cat = applied(BASE);
    let text = format!("{BASE}\n[[entities]]\nname = \"account\"\njoin_keys = [{{ name = \"account_id\", type = \"string\" }}]\n")
        .replace("entities = [\"user\"]", "entities = [\"account\"]");
    let e = apply(&cat, &parse(&text).unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("entities change from [user] to [account]"),
        "{e}"
    );
}

#[test]
fn changing_join_key_types_is_refused_while_views_use_them() {
    let cat = applied(BASE);
    let text = BASE.replace("type = \"int64\" }]", "type = \"string\" }]");
    let e = apply(&cat, &parse(&text).unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("entity \"user\": join keys change from (user_id: int64) to (user_id: string)"),
        "{e}"
    );
    assert!(e.contains("user_stats"), "{e}");
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
    let e = apply(&cat, &parse(&v2_changed).unwrap())
        .unwrap_err()
        .to_string();
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
    let e = apply(&cat, &parse(&broken).unwrap())
        .unwrap_err()
        .to_string();
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
