//! The entries of a view's `aggregations`, as aggregation views and
//! session views share them: the list itself, an entry's `column`, the
//! numeric check of a column, and an entry's `where` filter ([`Filter`]:
//! compiled over the source's columns, matched against its events).

use super::FeatureView;
use super::aggregation::AGGREGATIONS;
use super::error::{Error, Result, Subject};
use crate::expr::{self, Expr, ExprError, Type};
use strata_format::schema::{FeatureType, Value};

/// The `column` of an `aggregations` entry, if it names one: its name and
/// index in the source view.
pub(super) fn entry_column<'t>(
    bad: impl Fn(&str, String) -> Error,
    t: &'t toml::Table,
    source: &FeatureView,
) -> Result<Option<(&'t str, usize)>> {
    let Some(c) = t.get("column") else {
        return Ok(None);
    };
    let name = c
        .as_str()
        .ok_or_else(|| bad("column", "column must be a string".into()))?;
    let idx = source.feature_index(name).ok_or_else(|| {
        bad(
            "column",
            format!("the source view {:?} has no feature {name:?}", source.name),
        )
    })?;
    Ok(Some((name, idx)))
}

/// The features of a view's `aggregations` (of an aggregation or a
/// session view): `entry` parses one entry into its features, making the
/// error of a field with the `bad` it is given (naming the view and the
/// entry). A missing list is an error saying `missing`; an empty one too.
pub(super) fn parse_entries<T, I: IntoIterator<Item = T>>(
    view: &str,
    list: Option<&[toml::Table]>,
    missing: &str,
    mut entry: impl FnMut(&dyn Fn(&str, String) -> Error, &toml::Table) -> Result<I>,
) -> Result<Vec<T>> {
    let subject = || Subject::AggregationView(view.to_string());
    let list = list.ok_or_else(|| Error::invalid(subject(), AGGREGATIONS, missing))?;
    let mut features = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let at = Subject::Aggregation {
            view: view.to_string(),
            index: i + 1,
        };
        let bad = |field: &str, reason: String| Error::invalid(at.clone(), field, reason);
        features.extend(entry(&bad, t)?);
    }
    if features.is_empty() {
        return Err(Error::invalid(
            subject(),
            AGGREGATIONS,
            "aggregations is empty",
        ));
    }
    Ok(features)
}

/// Checks that the column `(name, idx)` of `function` is numeric.
pub(super) fn numeric_column(
    bad: impl Fn(&str, String) -> Error,
    source: &FeatureView,
    function: &str,
    (name, idx): (&str, usize),
) -> Result<()> {
    let ty = source.features.get(idx).map(|f| f.ty);
    if matches!(
        ty,
        Some(FeatureType::Int64 | FeatureType::Float64 | FeatureType::Float32)
    ) {
        return Ok(());
    }
    let ty = ty.map_or("missing".to_string(), |t| t.to_string());
    Err(bad(
        "column",
        format!("{function} needs a numeric column (int64, float64, float32); {name:?} is {ty}"),
    ))
}

/// The `where` filter of an entry, compiled over `source`, if it has one.
/// A filtered feature needs a `name` (the entry's, when a string): without
/// one the error is `unnamed`.
pub(super) fn entry_filter(
    bad: impl Fn(&str, String) -> Error,
    t: &toml::Table,
    source: &FeatureView,
    name: Option<&str>,
    unnamed: &str,
) -> Result<Option<Filter>> {
    let Some(w) = t.get("where") else {
        return Ok(None);
    };
    let src = w.as_str().ok_or_else(|| {
        bad(
            "where",
            "where must be a string such as \"event_type = 'click'\"".into(),
        )
    })?;
    let Some(feature) = name else {
        return Err(bad("where", unnamed.into()));
    };
    let filter = Filter::compile(src, source).map_err(|e| {
        bad(
            "where",
            format!("feature {feature:?}: where = {src:?}: {e}"),
        )
    })?;
    Ok(Some(filter))
}

/// A `where` filter over the events of a source view.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub expr: Expr,
    /// The source column of each of the expression's inputs.
    pub columns: Vec<usize>,
}

impl Filter {
    /// Compiles `src` over the columns of `source`; the error is the
    /// expression's (its column) for the caller to place.
    pub fn compile(src: &str, source: &FeatureView) -> Result<Filter, ExprError> {
        let mut columns = Vec::new();
        let expr = Expr::predicate(src, |name| {
            let i = source.feature_index(name).ok_or_else(|| {
                let have: Vec<&str> = source.features.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "the source view {:?} has no column {name:?} (it has {})",
                    source.name,
                    have.join(", ")
                )
            })?;
            let ty = source.features[i].ty;
            let t = Type::of(ty)
                .ok_or_else(|| format!("column {name:?} is {ty}, which expressions cannot read"))?;
            columns.push(i);
            Ok(t)
        })?;
        Ok(Filter { expr, columns })
    }

    /// Whether the event with these values (the source schema) passes.
    pub fn matches(&self, values: &[Value]) -> bool {
        let inputs: Vec<Value> = self
            .columns
            .iter()
            .map(|&c| expr::input(values.get(c).unwrap_or(&Value::Null)))
            .collect();
        self.expr.matches(&inputs)
    }
}
