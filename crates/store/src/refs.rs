//! Feature references and what they resolve to: the one place that turns
//! `view:feature` references into views, fields and output names, for
//! online lookups ([`crate::lookup`]), exports and every surface above.
//!
//! A request names features as `view:feature`, `view:*` (every feature of
//! the view, in schema order) or `view@N:feature` (version `N` of the view;
//! without `@N` the serving version, `Catalog::serving`). References are separated by commas;
//! spaces around them are ignored.
//!
//! Output columns are named per [`Names`]: `feature`, or `view__feature`
//! with full feature names (exports), or `view:feature` (lookups), where
//! `view` is written as in the reference (`driver@2__trips` for
//! `driver@2:trips`). Two requested features with one output name is an
//! error before any work starts; so is a feature requested twice.

use std::collections::HashMap;

use crate::catalog::{Catalog, FeatureView, JoinKey, defs::is_identifier};
use strata_format::schema::{FeatureType, KeyType, Value};

/// Why references do not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// The request is malformed: a bad reference, a feature named twice,
    /// two features with one output name, no features.
    #[error("{0}")]
    Invalid(String),
    #[error("{reference}: unknown feature view {view:?}; this store has: {known}")]
    UnknownView {
        reference: String,
        view: String,
        /// [`crate::registry::known_views`] of the store.
        known: String,
    },
    #[error("{reference}: view {view} has no feature {feature:?}; it has {known}")]
    UnknownFeature {
        reference: String,
        view: String,
        feature: String,
        known: String,
    },
}

/// How output features are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `feature` (an export's default).
    Short,
    /// `view__feature` (an export with `--full-feature-names`).
    Full,
    /// `view:feature` (a lookup's columns, as Feast names them).
    Qualified,
}

/// One parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRef {
    /// The view as written: `name` or `name@N`.
    pub view: String,
    /// The feature, or `None` for `*`.
    pub feature: Option<String>,
}

impl std::fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}",
            self.view,
            self.feature.as_deref().unwrap_or("*")
        )
    }
}

/// Parses `view:feature,view:*,view@2:feature`.
pub fn parse_refs(text: &str) -> Result<Vec<FeatureRef>, RefError> {
    parse_text(text).map_err(RefError::Invalid)
}

/// Parses references given one per string (`["view:feature", "view:*"]`).
pub fn parse_each<S: AsRef<str>>(refs: &[S]) -> Result<Vec<FeatureRef>, RefError> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let r = r.as_ref();
        if r.contains(',') {
            return Err(RefError::Invalid(format!(
                "{r:?}: one feature reference per item, without commas"
            )));
        }
        out.extend(parse_refs(r)?);
    }
    Ok(out)
}

fn parse_text(text: &str) -> Result<Vec<FeatureRef>, String> {
    let hint = "write features as view:feature, view:* or view@2:feature, separated by commas";
    let mut refs = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "feature reference {} is empty in {text:?}; {hint}",
                i + 1
            ));
        }
        let Some((view, feature)) = item.split_once(':') else {
            return Err(format!("{item:?} names no view; {hint}"));
        };
        let (view, feature) = (view.trim(), feature.trim());
        let (name, version) = match view.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (view, None),
        };
        if !is_identifier(name) {
            return Err(format!("{item:?}: {name:?} is not a view name; {hint}"));
        }
        if let Some(v) = version
            && !v.parse::<u32>().is_ok_and(|n| n >= 1)
        {
            return Err(format!(
                "{item:?}: the version {v:?} is not a number from 1 up; {hint}"
            ));
        }
        let feature = match feature {
            "*" => None,
            f if is_identifier(f) => Some(f.to_string()),
            f => return Err(format!("{item:?}: {f:?} is not a feature name; {hint}")),
        };
        refs.push(FeatureRef {
            view: view.to_string(),
            feature,
        });
    }
    Ok(refs)
}

/// One view of an export: which of its features go where.
#[derive(Debug, Clone)]
pub struct ViewPlan {
    pub view: FeatureView,
    /// The view as the first reference to it wrote it.
    pub written: String,
    /// The join keys, in key order.
    pub keys: Vec<JoinKey>,
    /// The view's schema (every feature, as rows are encoded).
    pub schema: Vec<FeatureType>,
    /// For each schema field, the index of its output column, if requested.
    pub wanted: Vec<Option<usize>>,
    /// For each schema field, what to write when there is no value (`None`:
    /// null): the declared defaults for lookups, and for exports with
    /// `--fill-defaults`.
    pub defaults: Vec<Option<Value>>,
    /// For each schema field, its declared default, always: what a stored
    /// row that predates the feature reads ([`crate::predated`]).
    pub declared: Vec<Option<Value>>,
    /// Set for an aggregation view: its rows are computed per row's time.
    pub aggregation: Option<std::sync::Arc<crate::aggregate::Resolved>>,
    /// Set for a derived view: its rows are evaluated from its inputs'.
    pub derived: Option<std::sync::Arc<crate::derived::Resolved>>,
}

/// One output feature column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFeature {
    pub name: String,
    /// Index into [`Resolved::views`].
    pub view: usize,
    /// Field index in that view's schema.
    pub field: usize,
    pub ty: FeatureType,
}

/// References resolved against a catalog.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub views: Vec<ViewPlan>,
    /// In request order.
    pub outputs: Vec<OutputFeature>,
}

impl Resolved {
    /// The type every join-key column must have, by column name. A column
    /// that two views use with different types is an error.
    pub fn key_types(&self) -> Result<HashMap<String, KeyType>, RefError> {
        let mut types: HashMap<String, (KeyType, &str)> = HashMap::new();
        for vp in &self.views {
            for k in &vp.keys {
                match types.get(&k.name) {
                    Some((t, other)) if *t != k.ty => {
                        return Err(RefError::Invalid(format!(
                            "the join key {} is {t} in view {other} but {} in view {}; export them separately",
                            k.name, k.ty, vp.written
                        )));
                    }
                    Some(_) => {}
                    None => {
                        types.insert(k.name.clone(), (k.ty, &vp.written));
                    }
                }
            }
        }
        Ok(types.into_iter().map(|(n, (t, _))| (n, t)).collect())
    }
}

/// Resolves references: unknown views and features, duplicates and name
/// clashes are errors. The views' `defaults` and `aggregation` are left
/// unset: [`crate::Store::resolve_features`] sets them.
pub fn resolve(cat: &Catalog, refs: &[FeatureRef], names_as: Names) -> Result<Resolved, RefError> {
    let invalid = RefError::Invalid;
    if refs.is_empty() {
        return Err(invalid(
            "no features requested; pass e.g. --features user_stats:*".into(),
        ));
    }
    let mut views: Vec<ViewPlan> = Vec::new();
    let mut outputs: Vec<OutputFeature> = Vec::new();
    // Output name -> the reference that claimed it.
    let mut names: HashMap<String, String> = HashMap::new();
    for r in refs {
        let view = cat.view(&r.view).ok_or_else(|| RefError::UnknownView {
            reference: r.to_string(),
            view: r.view.clone(),
            known: crate::registry::known_views(cat),
        })?;
        let vi = match views.iter().position(|v| v.view.id == view.id) {
            Some(i) => i,
            None => {
                let schema = view.schema();
                views.push(ViewPlan {
                    view: view.clone(),
                    written: r.view.clone(),
                    keys: cat.key_columns(view),
                    wanted: vec![None; schema.len()],
                    defaults: vec![None; schema.len()],
                    declared: view.defaults(),
                    aggregation: None,
                    derived: None,
                    schema,
                });
                views.len() - 1
            }
        };
        let fields: Vec<usize> = match &r.feature {
            None => (0..view.features.len()).collect(),
            Some(f) => vec![view.feature_index(f).ok_or_else(|| {
                let known: Vec<&str> = view.features.iter().map(|f| f.name.as_str()).collect();
                RefError::UnknownFeature {
                    reference: r.to_string(),
                    view: view.qualified_name(),
                    feature: f.clone(),
                    known: known.join(", "),
                }
            })?],
        };
        for field in fields {
            let feature = &view.features[field];
            let vp = &mut views[vi];
            if vp.wanted[field].is_some() {
                return Err(invalid(format!(
                    "{}:{} is requested twice; name each feature once",
                    r.view, feature.name
                )));
            }
            let this = format!("{}:{}", r.view, feature.name);
            let name = match names_as {
                Names::Short => feature.name.clone(),
                Names::Full => format!("{}__{}", r.view, feature.name),
                Names::Qualified => this.clone(),
            };
            if let Some(other) = names.get(&name) {
                return Err(invalid(if names_as == Names::Short {
                    format!(
                        "{this} and {other} both give the column {name:?}; pass --full-feature-names to name columns view__feature"
                    )
                } else {
                    format!("{this} and {other} both give the column {name:?}")
                }));
            }
            names.insert(name.clone(), this);
            vp.wanted[field] = Some(outputs.len());
            outputs.push(OutputFeature {
                name,
                view: vi,
                field,
                ty: feature.ty,
            });
        }
    }
    Ok(Resolved { views, outputs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_support::assert_each_refused;

    fn cat() -> Catalog {
        let text = include_str!("testdata/refs.toml");
        let defs = crate::catalog::defs::parse(text).unwrap();
        crate::catalog::defs::apply(
            &Catalog {
                next_view_id: 1,
                ..Catalog::default()
            },
            &defs,
        )
        .unwrap()
    }

    #[test]
    fn parses() {
        assert_eq!(
            parse_refs(" a:x , b:*,a@2:x").unwrap(),
            vec![
                FeatureRef {
                    view: "a".into(),
                    feature: Some("x".into())
                },
                FeatureRef {
                    view: "b".into(),
                    feature: None
                },
                FeatureRef {
                    view: "a@2".into(),
                    feature: Some("x".into())
                },
            ]
        );
        assert_each_refused(
            &[
                ("a", "names no view"),
                ("a:x,", "reference 2 is empty"),
                ("a@0:x", "not a number from 1 up"),
                ("a@v:x", "not a number from 1 up"),
                ("a:x-y", "is not a feature name"),
                ("1a:x", "is not a view name"),
                ("", "reference 1 is empty"),
            ],
            parse_refs,
        );
    }

    #[test]
    fn resolves_groups_and_names() {
        let c = cat();
        let r = resolve(&c, &parse_refs("a@1:y,b:z,a@1:x").unwrap(), Names::Short).unwrap();
        assert_eq!(r.views.len(), 2);
        let names: Vec<&str> = r.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["y", "z", "x"]);
        assert_eq!(r.views[0].wanted, vec![Some(2), Some(0)]);
        // The serving version by default (here the newest: none is staged).
        let r = resolve(&c, &parse_refs("a:x").unwrap(), Names::Short).unwrap();
        assert_eq!(r.views[0].view.version, 2);
        let r = resolve(&c, &parse_refs("a@1:*,b:*").unwrap(), Names::Full).unwrap();
        let names: Vec<&str> = r.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a@1__x", "a@1__y", "b__x", "b__z"]);
        let r = resolve(
            &c,
            &parse_each(&["a@1:x", "b:*"]).unwrap(),
            Names::Qualified,
        )
        .unwrap();
        let names: Vec<&str> = r.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a@1:x", "b:x", "b:z"]);
    }

    #[test]
    fn refusals() {
        let c = cat();
        let e = |t: &str, full: bool| {
            let names = if full { Names::Full } else { Names::Short };
            resolve(&c, &parse_refs(t).unwrap(), names)
                .unwrap_err()
                .to_string()
        };
        assert!(e("a@1:x,b:x", false).contains("--full-feature-names"));
        assert!(e("a:x,a:x", true).contains("requested twice"));
        assert!(e("a@2:x,a:*", true).contains("requested twice"));
        assert!(e("nope:x", false).contains("unknown feature view \"nope\""));
        assert!(e("a:nope", false).contains("has no feature \"nope\"; it has x"));
        let r = resolve(&c, &parse_refs("a:x,s:w").unwrap(), Names::Short).unwrap();
        let e = r.key_types().unwrap_err().to_string();
        assert!(e.contains("user_id is int64"), "{e}");
        let e = resolve(&c, &[], Names::Short).unwrap_err().to_string();
        assert!(e.contains("no features"), "{e}");
        let e = parse_each(&["a:x,b:z"]).unwrap_err().to_string();
        assert!(e.contains("without commas"), "{e}");
    }
}
