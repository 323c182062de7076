//! Tests of [`ViewMeta`]: declared fields, type errors, the catalog file.

use super::*;

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap()
}

/// Every field of the struct, declared.
fn full() -> ViewMeta {
    let d = |s: &str| Some(s.parse::<Duration>().unwrap());
    ViewMeta {
        description: Some("d".into()),
        owner: Some("o".into()),
        team: Some("t".into()),
        tags: Some(Tags::Table(BTreeMap::from([("k".into(), "v".into())]))),
        freshness_sla: d("1h"),
        source: Some("push".into()),
        inputs: Some(vec!["a@2".into()]),
        online: Some(false),
        expose_sources: Some(true),
        retention: d("30d"),
        max_versions: Some(2),
        quality: Some(QualityPolicy::Warn),
        aggregations: Some(vec![table("function = \"count\"\nwindow = \"1h\"")]),
        tile: d("5m"),
        allowed_lateness: d("1m"),
        late_events: Some(LatePolicy::Correct),
        session_gap: d("30m"),
        serving_version: Some(2),
        staged: Some(true),
        derived: Some(vec![table("name = \"d\"\nexpr = \"1\"")]),
        request: Some(vec![table("name = \"r\"\ntype = \"int64\"")]),
        created_at: Some(5),
        changed_at: Some(6),
        feature_settings: Some(BTreeMap::from([("f".into(), table("not_null = true"))])),
        legacy: toml::Table::new(),
    }
}

#[test]
fn the_field_lists_match_the_struct() {
    let t = full().to_table();
    let mut listed: Vec<&str> = DECLARED.to_vec();
    listed.extend([CREATED_AT, CHANGED_AT, FEATURE_SETTINGS, STAGED]);
    listed.sort_unstable();
    assert_eq!(t.keys().map(String::as_str).collect::<Vec<_>>(), listed);
    // Each declared field is read back into its own field.
    for k in DECLARED {
        let one = toml::Table::from_iter([(k.to_string(), t[k].clone())]);
        let m = from_table(one).unwrap();
        assert_ne!(m, ViewMeta::default(), "{k}");
        assert_eq!(m.to_table().len(), 1, "{k}");
    }
    assert_eq!(from_table(t).unwrap(), full(), "to_table reads back");
}

#[test]
fn an_unknown_field_is_refused_naming_view_and_field() {
    let e = ViewMeta::from_definition("v", table("owner = \"x\"\nownr = \"y\"")).unwrap_err();
    match &e {
        Error::UnknownField { subject, field, .. } => {
            assert_eq!(subject, &Subject::View("v".into()));
            assert_eq!(field, "ownr");
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with("feature view \"v\": unknown field \"ownr\";"),
        "{text}"
    );
    assert!(
        text.contains("owner") && text.contains("tags = {"),
        "{text}"
    );
}

#[test]
fn a_wrong_type_names_the_field() {
    let cases = [
        (
            "online = 1",
            "online",
            "online = 1 is not valid; expected true or false",
        ),
        (
            "quality = \"drop\"",
            "quality",
            "expected \"reject\" or \"warn\"",
        ),
        (
            "freshness_sla = \"1x\"",
            "freshness_sla",
            "freshness_sla: bad duration \"1x\"",
        ),
        (
            "max_versions = -1",
            "max_versions",
            "expected an integer of at least 1",
        ),
        (
            "max_versions = 0",
            "max_versions",
            "expected an integer of at least 1",
        ),
        (
            "inputs = [\"a b\"]",
            "inputs",
            "expected an array of view names",
        ),
        ("tile = \"1m\"", "tile", "applies only to aggregation views"),
        ("created_at = 3", "created_at", "assigned by the store"),
    ];
    for (text, want_field, want) in cases {
        let e = ViewMeta::from_definition("v", table(text)).unwrap_err();
        let Error::Invalid { subject, field, .. } = &e else {
            panic!("{text}: {e:?}");
        };
        assert_eq!(
            (subject.name(), field.as_str()),
            ("v", want_field),
            "{text}"
        );
        assert!(e.to_string().contains(want), "{text}: {e}");
    }
}

#[test]
fn fields_are_typed() {
    let m = ViewMeta::from_definition(
        "v",
        table(
            "tags = [\"a\", \"b\"]\nfreshness_sla = 90\nretention = \"1d12h\"\nquality = \"warn\"",
        ),
    )
    .unwrap();
    assert_eq!(
        m.tags.as_ref().map(Tags::items),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(m.freshness_sla.map(|d| d.micros), Some(90_000_000));
    assert_eq!(m.retention.map(|d| d.to_string()).as_deref(), Some("36h"));
    assert_eq!(m.quality, Some(QualityPolicy::Warn));
    assert!(m.legacy.is_empty());
}

#[test]
fn the_persisted_form_keeps_unknown_fields_of_old_catalogs() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct W {
        #[serde(with = "persisted")]
        m: ViewMeta,
    }
    let json = r#"{"m": {"owner": "o", "retention": 86400, "weights": [1.5, 2]}}"#;
    let w: W = serde_json::from_str(json).unwrap();
    assert_eq!(w.m.owner.as_deref(), Some("o"));
    assert_eq!(w.m.retention.map(|d| d.micros), Some(86_400_000_000));
    assert_eq!(w.m.legacy.keys().collect::<Vec<_>>(), ["weights"]);
    let back: W = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
    assert_eq!(back.m, w.m);
    let bad = r#"{"m": {"online": "yes"}}"#;
    let e = serde_json::from_str::<W>(bad).err().unwrap().to_string();
    assert!(e.contains("metadata") && e.contains("online"), "{e}");
}
