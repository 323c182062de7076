//! The kinds of catalog errors: each refusal of the definitions and the
//! evolution rules is the variant that names what was wrong.

use super::*;
use crate::catalog::{Catalog, defs};

const BASE: &str = include_str!("testdata/error-base.toml");

fn parse_err(text: &str) -> Error {
    defs::parse(text).unwrap_err()
}

fn applied(text: &str) -> Catalog {
    defs::apply(&Catalog::default(), &defs::parse(text).unwrap()).unwrap()
}

#[test]
fn declaration_errors_name_the_declaration() {
    match parse_err(&BASE.replace("[\"user\"]", "[\"usr\"]")) {
        Error::UndeclaredEntity { view, entity } => {
            assert_eq!((view, entity), ("stats".into(), "usr".into()))
        }
        e => panic!("{e:?}"),
    }
    match parse_err(&format!(
        "{BASE}{}",
        &BASE[BASE.find("[[feature_views]]").unwrap()..]
    )) {
        Error::Duplicate { subject, .. } => assert_eq!(subject, Subject::View("stats".into())),
        e => panic!("{e:?}"),
    }
    match parse_err(&BASE.replace("features = [{ name = \"n\", type = \"int64\" }]", "")) {
        Error::Missing { subject, field, .. } => {
            assert_eq!(
                (subject, field),
                (Subject::View("stats".into()), "features")
            )
        }
        e => panic!("{e:?}"),
    }
    let e = parse_err(&BASE.replace(
        "{ name = \"n\", type = \"int64\" }",
        "{ name = \"n\", type = \"int64\", min = \"a\" }",
    ));
    match &e {
        Error::Invalid { subject, field, .. } => {
            let want = Subject::Feature {
                view: "stats".into(),
                feature: "n".into(),
            };
            assert_eq!((subject, field.as_str()), (&want, "min"));
        }
        e => panic!("{e:?}"),
    }
    assert!(
        e.to_string()
            .starts_with("feature view \"stats\": feature \"n\": min = \"a\""),
        "{e}"
    );
    match parse_err(&BASE.replace(
        "\"n\", type = \"int64\" }",
        "\"n\", type = \"int64\", unit = \"s\" }",
    )) {
        Error::UnknownField { subject, field, .. } => {
            assert_eq!(
                subject,
                Subject::Feature {
                    view: "stats".into(),
                    feature: "n".into()
                }
            );
            assert_eq!(field, "unit");
        }
        e => panic!("{e:?}"),
    }
    match parse_err("version = 1\n") {
        Error::Toml(_) => {}
        e => panic!("{e:?}"),
    }
}

#[test]
fn aggregation_errors_name_the_entry() {
    let text = format!(
        "{BASE}\n[[feature_views]]\nname = \"agg\"\nsource = \"stats\"\n\
         aggregations = [{{ function = \"count\", window = \"1h\" }}, {{ function = \"sum\", window = \"1h\" }}]\n"
    );
    match parse_err(&text) {
        Error::Invalid { subject, field, .. } => {
            assert_eq!(
                subject,
                Subject::Aggregation {
                    view: "agg".into(),
                    index: 2
                }
            );
            assert_eq!(field, "column");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn evolution_refusals_are_typed_and_all_reported() {
    let two = format!(
        "{BASE}\n[[feature_views]]\nname = \"b\"\nentities = [\"user\"]\nfeatures = [{{ name = \"x\", type = \"bool\" }}]\n"
    );
    let cat = applied(&two);
    let broken = two.replace("\"bool\"", "\"int64\"").replace(
        "name = \"n\", type = \"int64\"",
        "name = \"n\", type = \"string\"",
    );
    let e = defs::apply(&cat, &defs::parse(&broken).unwrap()).unwrap_err();
    let Error::Many(all) = &e else {
        panic!("{e:?}")
    };
    let views: Vec<_> = all
        .iter()
        .map(|e| match e {
            Error::ViewEvolution {
                view, next_version, ..
            } => (view.as_str(), *next_version),
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(views, [("stats", 2), ("b", 2)]);
    assert_eq!(e.all().len(), 2);
    assert_eq!(e.to_string().lines().count(), 2, "{e}");

    let keys = BASE.replace("type = \"int64\" }]\n\n", "type = \"string\" }]\n\n");
    match defs::apply(&cat, &defs::parse(&keys).unwrap()).unwrap_err() {
        Error::EntityEvolution { entity, .. } => assert_eq!(entity, "user"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn lineage_errors_are_typed() {
    let with = |extra: &str| {
        let text = format!("{BASE}{extra}");
        defs::apply(&Catalog::default(), &defs::parse(&text).unwrap()).unwrap_err()
    };
    match with("inputs = [\"nope\"]\n") {
        Error::UndeclaredInput { view, target } => {
            assert_eq!((view, target), ("stats".into(), "nope".into()))
        }
        e => panic!("{e:?}"),
    }
    match with("inputs = [\"stats\"]\n") {
        Error::Cycle { view, via } => assert_eq!((view.as_str(), via.as_str()), ("stats", "stats")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_definitions_file_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("defs.toml");
    std::fs::write(&p, BASE.replace("[\"user\"]", "[\"usr\"]")).unwrap();
    let e = defs::load(&p).unwrap_err();
    let Error::InFile { path, source } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(path, &p);
    assert!(
        matches!(**source, Error::UndeclaredEntity { .. }),
        "{source:?}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("definitions file {}: feature view", p.display())),
        "{e}"
    );
    let e = defs::load(&dir.path().join("none.toml")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Io {
                op: "read the definitions file",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn reapplying_over_an_old_catalog_drops_its_unknown_fields_visibly() {
    let mut cat = applied(BASE);
    cat.views[0]
        .metadata
        .legacy
        .insert("pager".into(), toml::Value::Integer(2));
    let p = defs::plan(&cat, &defs::parse(BASE).unwrap()).unwrap();
    let lines: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["~ feature view stats: pager removed"]);
    assert!(p.catalog.views[0].metadata.legacy.is_empty());
}

#[test]
fn lookups_of_unknown_names_are_typed() {
    let cat = applied(BASE);
    assert_eq!(cat.require_view("stats@1").unwrap().name, "stats");
    assert_eq!(cat.require_entity("user").unwrap().join_keys.len(), 1);
    let e = cat.require_view("stats@2").unwrap_err();
    assert!(
        matches!(&e, Error::UnknownView { name } if name == "stats@2"),
        "{e:?}"
    );
    assert!(e.to_string().contains("strata registry list"), "{e}");
    let e = cat.require_entity("merchant").unwrap_err();
    assert!(
        matches!(&e, Error::UnknownEntity { name } if name == "merchant"),
        "{e:?}"
    );
}

/// A reporter that prints an error and then each cause not already in the
/// text (as the CLI does) prints every message once.
#[test]
fn messages_contain_their_causes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("defs.toml");
    std::fs::write(&p, "[[entities]]\nname = 1\n").unwrap();
    let errors = [
        defs::load(&p).unwrap_err(),
        defs::load(&dir.path().join("none.toml")).unwrap_err(),
        parse_err("[[feature_view]]\n"),
    ];
    for e in errors {
        let text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            assert!(text.contains(&c.to_string()), "{text:?} lacks {c:?}");
            cause = c.source();
        }
    }
}
