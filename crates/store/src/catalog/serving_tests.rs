//! Tests of the serving version: what an unversioned name reads when a
//! view has several versions, and what `apply --plan` says about it.

use super::Catalog;
use super::defs::{Change, parse, plan};

const V1: &str = include_str!("../testdata/serving-v1.toml");

fn v2(extra: &str) -> String {
    format!(
        "{V1}\n[[feature_views]]\nname = \"device\"\nversion = 2\nentities = [\"user\"]\nfeatures = [{{ name = \"os\", type = \"string\" }}, {{ name = \"model\", type = \"string\" }}]\n{extra}\n"
    )
}

fn step(cat: &Catalog, text: &str) -> (Catalog, Vec<Change>) {
    let p = plan(cat, &parse(text).unwrap()).unwrap();
    (p.catalog, p.changes)
}

fn serving(cat: &Catalog) -> u32 {
    cat.view("device").unwrap().version
}

#[test]
fn a_new_version_is_staged_until_promoted_and_the_plan_says_so() {
    let (c1, _) = step(&Catalog::default(), V1);
    assert_eq!(serving(&c1), 1);

    // Version 2 beside the served version 1: readers stay on 1.
    let (c2, changes) = step(&c1, &v2(""));
    assert_eq!(serving(&c2), 1);
    assert_eq!(c2.view("device@2").unwrap().version, 2);
    let staged = changes
        .iter()
        .find(|c| matches!(c, Change::StagedVersion { .. }))
        .unwrap();
    assert_eq!(
        staged.to_string(),
        "~ readers of device stay on @1: device@2 is staged (read and write it as device@2) until `serving_version = 2` promotes it"
    );
    // Applying the same file again changes nothing and keeps it staged.
    let (c2b, changes) = step(&c2, &v2(""));
    assert!(
        changes.iter().all(|c| matches!(c, Change::KeepView { .. })),
        "{changes:?}"
    );
    assert_eq!(serving(&c2b), 1);

    // Promotion, stated before it happens.
    let (c3, changes) = step(&c2, &v2("serving_version = 2"));
    assert_eq!(serving(&c3), 2);
    assert!(
        changes
            .iter()
            .any(|c| c.to_string() == "~ readers of device move from @1 to @2"),
        "{changes:?}"
    );
    assert_eq!(c3.view("device@2").unwrap().metadata.staged, None);
    // Dropping the declaration later keeps the promoted version served.
    let (c4, changes) = step(&c3, &v2(""));
    assert_eq!(serving(&c4), 2);
    assert!(
        !changes.iter().any(|c| matches!(c, Change::Serving { .. })),
        "{changes:?}"
    );
    // Back to 1 by declaring it.
    let (c5, changes) = step(&c4, &v2("serving_version = 1"));
    assert_eq!(serving(&c5), 1);
    assert!(
        changes
            .iter()
            .any(|c| c.to_string() == "~ readers of device move from @2 to @1")
    );
}

#[test]
fn a_serving_version_that_does_not_exist_is_refused() {
    let (c1, _) = step(&Catalog::default(), V1);
    let e = plan(&c1, &parse(&v2("serving_version = 3")).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("serving_version") && e.contains("no version 3"),
        "{e}"
    );
    assert!(parse(&v2("serving_version = 0")).is_err());
}

#[test]
fn versions_declared_together_in_a_new_store_serve_the_newest() {
    // No reader could have been on an older version.
    let (c, changes) = step(&Catalog::default(), &v2(""));
    assert_eq!(serving(&c), 2);
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::StagedVersion { .. }))
    );
}

#[test]
fn the_staged_mark_survives_the_catalog_file() {
    let (c1, _) = step(&Catalog::default(), V1);
    let (c2, _) = step(&c1, &v2(""));
    let back = super::persist::decode(&super::persist::encode(&c2).unwrap()).unwrap();
    assert_eq!(back, c2);
    assert_eq!(serving(&back), 1);
}
