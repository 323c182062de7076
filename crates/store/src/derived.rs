//! Derived views at read time: each row's expressions evaluated over the
//! rows of its input views read at the same time (and `known_at`), and
//! over the request's values. Declaration: [`crate::catalog::derived`].
//!
//! Online reads ([`crate::Store::lookup`], [`crate::Store::get`]) evaluate
//! a row at a time ([`evaluate_row`]); exports evaluate a column at a time
//! ([`evaluate_columns`]); both call the same expression evaluator.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::derived::{self, Binding, Spec};
use crate::catalog::{Catalog, FeatureView};
use crate::expr::{self, Type};
use crate::{FeatureRow, Status};
use strata_engine::{self as engine, Engine};
use strata_format::key::ViewId;
use strata_format::schema::Value;

/// A derived view with its input views, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub view: FeatureView,
    /// In the order of the spec's inputs.
    pub inputs: Vec<FeatureView>,
    /// Per input, its resolution if it is an aggregation view.
    pub aggregations: Vec<Option<Arc<crate::aggregate::Resolved>>>,
    /// Per input, its resolution if it is a derived view.
    pub derived: Vec<Option<Arc<Resolved>>>,
    pub spec: Spec,
}

impl Resolved {
    /// The request inputs: `(name, type)`.
    pub fn request(&self) -> impl Iterator<Item = (&str, Type)> {
        self.spec.request.iter().map(|r| (r.name.as_str(), r.ty))
    }

    /// The index of request input `name`.
    pub fn request_index(&self, name: &str) -> Option<usize> {
        self.spec.request.iter().position(|r| r.name == name)
    }
}

/// The derived views of a catalog.
#[derive(Debug, Default)]
pub struct Index {
    by_view: HashMap<ViewId, Arc<Resolved>>,
}

impl Index {
    /// Resolves every derived view of `cat` (validated when applied; a view
    /// that no longer resolves is skipped).
    /// Derived inputs are resolved before the views reading them (a view
    /// whose derived input does not resolve is skipped too).
    pub fn build(cat: &Catalog, aggregations: &crate::aggregate::Index) -> Index {
        let mut by_view: HashMap<ViewId, Arc<Resolved>> = HashMap::new();
        let mut left: Vec<&FeatureView> = cat.views.iter().filter(|v| v.is_derived()).collect();
        loop {
            let before = left.len();
            left.retain(|v| {
                let names = v.metadata.inputs.clone().unwrap_or_default();
                let inputs: Option<Vec<FeatureView>> =
                    names.iter().map(|n| cat.view(n).cloned()).collect();
                let Some(inputs) = inputs else { return false };
                let derived: Vec<Option<Arc<Resolved>>> =
                    inputs.iter().map(|i| by_view.get(&i.id).cloned()).collect();
                if inputs
                    .iter()
                    .zip(&derived)
                    .any(|(i, d)| i.is_derived() && d.is_none())
                {
                    return true; // wait for the input
                }
                let refs: Vec<&FeatureView> = inputs.iter().collect();
                let Ok(spec) = derived::spec(v, &refs) else {
                    return false;
                };
                let r = Resolved {
                    view: (*v).clone(),
                    aggregations: inputs
                        .iter()
                        .map(|i| aggregations.view(i.id).cloned())
                        .collect(),
                    derived,
                    inputs,
                    spec,
                };
                by_view.insert(v.id, Arc::new(r));
                false
            });
            if left.is_empty() || left.len() == before {
                return Index { by_view };
            }
        }
    }

    pub fn view(&self, id: ViewId) -> Option<&Arc<Resolved>> {
        self.by_view.get(&id)
    }
}

/// The rows of `d`'s inputs for one encoded key, read as of `at` with
/// `known_at` (what an online `as_of` read of each input gives; exports
/// read each row's inputs at its time).
pub fn read_inputs(
    engine: &Engine,
    d: &Resolved,
    ek: &[u8],
    at: i64,
    known_at: Option<i64>,
) -> engine::Result<Vec<FeatureRow>> {
    d.inputs
        .iter()
        .zip(d.aggregations.iter().zip(&d.derived))
        .map(|(v, (agg, inner))| match (agg, inner) {
            (Some(r), _) => {
                let values = crate::aggregate::read::read(engine, r, ek, at, known_at)?;
                Ok(crate::aggregate_row(v, values, at))
            }
            // A derived input (without request inputs: see the catalog).
            (None, Some(inner)) => {
                let rows = read_inputs(engine, inner, ek, at, known_at)?;
                let refs: Vec<&FeatureRow> = rows.iter().collect();
                let request = vec![Value::Null; inner.spec.request.len()];
                Ok(evaluate_row(inner, &refs, &request))
            }
            (None, None) => {
                let found = engine.as_of(v.id, ek, at, known_at)?;
                crate::feature_row(v, found.as_ref(), at)
            }
        })
        .collect()
}

/// Parses a request value sent as text into `ty` (`None`: it does not
/// parse). Timestamps are µs or RFC 3339.
pub fn parse_request_value(ty: Type, text: &str) -> Option<Value> {
    let t = text.trim();
    Some(match ty {
        Type::Int64 => Value::Int64(t.parse().ok()?),
        Type::Float64 => Value::Float64(t.parse::<f64>().ok().filter(|f| f.is_finite())?),
        Type::Bool => match t.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return None,
        },
        Type::String => Value::String(text.to_string()),
        Type::Timestamp => match t.parse::<i64>() {
            Ok(us) => Value::Timestamp(us),
            Err(_) => Value::Timestamp(
                chrono::DateTime::parse_from_rfc3339(t)
                    .ok()?
                    .timestamp_micros(),
            ),
        },
        Type::Null => return None,
    })
}

/// The value an expression input takes in one row.
fn bound(b: Binding, inputs: &[&FeatureRow], request: &[Value]) -> Value {
    let v = match b {
        Binding::Feature { input, field } => inputs
            .get(input)
            .and_then(|r| r.values.get(field))
            .unwrap_or(&Value::Null),
        Binding::Request(i) => request.get(i).unwrap_or(&Value::Null),
    };
    expr::input(v)
}

/// The row of derived view `r` given its inputs' rows (in spec order) and
/// the request values (in spec order; null when not sent). `NOT_FOUND`
/// when no input has a version; otherwise each feature is present or
/// null, `event_ts` / `created_ts` the newest of the inputs'.
pub fn evaluate_row(r: &Resolved, inputs: &[&FeatureRow], request: &[Value]) -> FeatureRow {
    let n = r.spec.derived.len();
    if inputs.iter().all(|row| row.event_ts.is_none()) {
        return FeatureRow {
            event_ts: None,
            created_ts: None,
            values: vec![Value::Null; n],
            statuses: vec![Status::NotFound; n],
        };
    }
    let mut slots = Vec::new();
    let values: Vec<Value> = r
        .spec
        .derived
        .iter()
        .map(|d| {
            slots.clear();
            slots.extend(d.bindings.iter().map(|b| bound(*b, inputs, request)));
            d.expr.eval_row(&slots)
        })
        .collect();
    FeatureRow {
        event_ts: inputs.iter().filter_map(|r| r.event_ts).max(),
        created_ts: inputs.iter().filter_map(|r| r.created_ts).max(),
        statuses: values
            .iter()
            .map(|v| {
                if v.is_null() {
                    Status::NullValue
                } else {
                    Status::Present
                }
            })
            .collect(),
        values,
    }
}

/// The derived features of `rows` rows, a column at a time:
/// `inputs[i][field]` is the column of feature `field` of input view `i`
/// (null where the row has no version), `request[j]` the column of request
/// input `j`. One output column per derived feature.
pub fn evaluate_columns(
    r: &Resolved,
    inputs: &[Vec<Vec<Value>>],
    request: &[Vec<Value>],
    rows: usize,
) -> Vec<Vec<Value>> {
    let nulls = vec![Value::Null; rows];
    r.spec
        .derived
        .iter()
        .map(|d| {
            let columns: Vec<Vec<Value>> = d
                .bindings
                .iter()
                .map(|b| {
                    let col = match *b {
                        Binding::Feature { input, field } => {
                            inputs.get(input).and_then(|c| c.get(field))
                        }
                        Binding::Request(i) => request.get(i),
                    };
                    col.unwrap_or(&nulls).iter().map(expr::input).collect()
                })
                .collect();
            d.expr.eval_columns(&columns, rows)
        })
        .collect()
}
