//! Derived views at read time: each row's expressions evaluated over the
//! rows of its input views read at the same time (and `known_at`), and
//! over the request's values. Declaration: [`crate::catalog::derived`].
//!
//! Online reads ([`crate::Store::lookup`], [`crate::Store::get`]) evaluate
//! a row at a time ([`evaluate_row`]); exports evaluate a column at a time
//! ([`evaluate_columns`]); both call the same expression evaluator.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::derived::{self, Binding, RequestInput, Spec};
use crate::catalog::{Catalog, FeatureView};
use crate::expr::{self, Type};
use crate::{FeatureRow, Status};
use strata_engine::{self as engine, Engine};
use strata_format::key::ViewId;
use strata_format::schema::Value;

/// A derived view resolved for reading: the stored views it reads, directly
/// or through derived inputs (its *leaves*), and the derived views to
/// evaluate over their rows, its derived inputs' (transitively) before its
/// own.
///
/// A derived input is not read as a view: its expressions are evaluated
/// in the same pass, over the same leaf rows, with the request values of
/// the outer read passed down (a request input is named by the request,
/// so one value serves every view of the chain declaring that name).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub view: FeatureView,
    /// The plain and aggregation views read for a row, each once: the
    /// view's own stored inputs and those of its derived inputs,
    /// transitively, in first-use order.
    pub inputs: Vec<FeatureView>,
    /// Per input, its resolution if it is an aggregation view.
    pub aggregations: Vec<Option<Arc<crate::aggregate::Resolved>>>,
    /// This view's own specification (its `inputs` as declared).
    pub spec: Spec,
    /// The request inputs a read supplies: this view's own (in
    /// [`Spec::request`] order), then those only its derived inputs
    /// declare, each with the view declaring it.
    request: Vec<(RequestInput, String)>,
    /// The views to evaluate, innermost first; the last is this view.
    steps: Vec<Step>,
}

/// One derived view of a chain, as evaluated for a row.
#[derive(Debug, Clone)]
struct Step {
    view: ViewId,
    derived: Vec<derived::Derived>,
    /// Per input of its spec, where its row comes from.
    sources: Vec<Source>,
    /// Per request input of its spec, its index in [`Resolved::request`].
    request: Vec<usize>,
}

/// Where a step's input row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A leaf: index into [`Resolved::inputs`].
    Leaf(usize),
    /// An earlier step.
    Step(usize),
}

impl Resolved {
    /// Resolves `view` given its input views and, per input, its
    /// resolution if it is an aggregation or a derived view. `None` when
    /// its expressions do not resolve, or when two views of the chain
    /// declare one request input with different types (both refused at
    /// apply).
    fn new(
        view: &FeatureView,
        inputs: &[FeatureView],
        aggregations: &[Option<Arc<crate::aggregate::Resolved>>],
        derived_inputs: &[Option<Arc<Resolved>>],
    ) -> Option<Resolved> {
        let refs: Vec<&FeatureView> = inputs.iter().collect();
        let spec = derived::spec(view, &refs).ok()?;
        let mut r = Resolved {
            view: view.clone(),
            inputs: Vec::new(),
            aggregations: Vec::new(),
            request: spec
                .request
                .iter()
                .map(|q| (q.clone(), view.qualified_name()))
                .collect(),
            steps: Vec::new(),
            spec,
        };
        let mut sources = Vec::with_capacity(inputs.len());
        for ((input, agg), inner) in inputs.iter().zip(aggregations).zip(derived_inputs) {
            sources.push(match inner {
                Some(inner) => Source::Step(r.absorb(inner)?),
                None => Source::Leaf(r.leaf(input, agg)),
            });
        }
        r.steps.push(Step {
            view: view.id,
            derived: r.spec.derived.clone(),
            sources,
            request: (0..r.spec.request.len()).collect(),
        });
        Some(r)
    }

    /// The index of leaf `view`, added if new.
    fn leaf(&mut self, view: &FeatureView, agg: &Option<Arc<crate::aggregate::Resolved>>) -> usize {
        if let Some(i) = self.inputs.iter().position(|v| v.id == view.id) {
            return i;
        }
        self.inputs.push(view.clone());
        self.aggregations.push(agg.clone());
        self.inputs.len() - 1
    }

    /// Adds the steps, leaves and request inputs of derived input `inner`
    /// (each step once, however many paths reach it); the index of its
    /// own step.
    fn absorb(&mut self, inner: &Resolved) -> Option<usize> {
        let mut step_at = Vec::with_capacity(inner.steps.len());
        for s in &inner.steps {
            if let Some(i) = self.steps.iter().position(|x| x.view == s.view) {
                step_at.push(i);
                continue;
            }
            let sources = s
                .sources
                .iter()
                .map(|src| match *src {
                    Source::Leaf(l) => {
                        Source::Leaf(self.leaf(&inner.inputs[l], &inner.aggregations[l]))
                    }
                    Source::Step(j) => Source::Step(step_at[j]),
                })
                .collect();
            let mut request = Vec::with_capacity(s.request.len());
            for &q in &s.request {
                let (input, declared) = &inner.request[q];
                let at = match self.request.iter().position(|(x, _)| x.name == input.name) {
                    Some(at) if self.request[at].0.ty != input.ty => return None,
                    Some(at) => at,
                    None => {
                        self.request.push((input.clone(), declared.clone()));
                        self.request.len() - 1
                    }
                };
                request.push(at);
            }
            self.steps.push(Step {
                view: s.view,
                derived: s.derived.clone(),
                sources,
                request,
            });
            step_at.push(self.steps.len() - 1);
        }
        step_at.last().copied()
    }

    /// The request inputs a read of this view supplies: `(name, type)`,
    /// its own first, then those of its derived inputs (transitively) it
    /// does not declare itself. [`evaluate_row`] and [`evaluate_columns`]
    /// take the request values in this order.
    pub fn request(&self) -> impl Iterator<Item = (&str, Type)> {
        self.request.iter().map(|(r, _)| (r.name.as_str(), r.ty))
    }

    /// The index of request input `name` in [`Resolved::request`].
    pub fn request_index(&self, name: &str) -> Option<usize> {
        self.request.iter().position(|(r, _)| r.name == name)
    }

    /// The view declaring request input `i` (its qualified name): this
    /// view, or a derived view it reads.
    pub fn request_declared_by(&self, i: usize) -> &str {
        self.request.get(i).map_or("", |(_, v)| v.as_str())
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
                let aggs: Vec<_> = inputs
                    .iter()
                    .map(|i| aggregations.view(i.id).cloned())
                    .collect();
                if let Some(r) = Resolved::new(v, &inputs, &aggs, &derived) {
                    by_view.insert(v.id, Arc::new(r));
                }
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

/// The rows of `d`'s leaf inputs ([`Resolved::inputs`]) for one encoded
/// key, read as of `at` with `known_at` (what an online `as_of` read of
/// each gives; exports read each row's inputs at its time).
pub fn read_inputs(
    engine: &Engine,
    d: &Resolved,
    ek: &[u8],
    at: i64,
    known_at: Option<i64>,
) -> engine::Result<Vec<FeatureRow>> {
    d.inputs
        .iter()
        .zip(&d.aggregations)
        .map(|(v, agg)| match agg {
            Some(r) => {
                let values = crate::aggregate::read::read(engine, r, ek, at, known_at)?;
                Ok(crate::aggregate_row(v, values, at))
            }
            None => {
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

/// The row of derived view `r` given the rows of its leaf inputs (in
/// [`Resolved::inputs`] order) and the request values (in
/// [`Resolved::request`] order; null when not sent). Its derived inputs
/// are evaluated first, over the same rows and request values. A view is
/// `NOT_FOUND` when none of its inputs has a version (a derived input has
/// one when one of its inputs has); otherwise each feature is present or
/// null, `event_ts` / `created_ts` the newest of the inputs'.
pub fn evaluate_row(r: &Resolved, inputs: &[&FeatureRow], request: &[Value]) -> FeatureRow {
    let Some((last, inner)) = r.steps.split_last() else {
        return not_found(r.spec.derived.len());
    };
    // Empty (no allocation) unless the view reads derived views.
    let mut done: Vec<FeatureRow> = Vec::with_capacity(inner.len());
    for s in inner {
        let row = step_row(s, inputs, &done, request);
        done.push(row);
    }
    step_row(last, inputs, &done, request)
}

/// The row of a `NOT_FOUND` view of `n` features.
fn not_found(n: usize) -> FeatureRow {
    FeatureRow {
        event_ts: None,
        created_ts: None,
        values: vec![Value::Null; n],
        statuses: vec![Status::NotFound; n],
    }
}

/// The row of step `s` over the leaf rows and the rows of earlier steps.
fn step_row(
    s: &Step,
    leaves: &[&FeatureRow],
    done: &[FeatureRow],
    request: &[Value],
) -> FeatureRow {
    let row_of = |input: usize| -> Option<&FeatureRow> {
        match *s.sources.get(input)? {
            Source::Leaf(l) => leaves.get(l).copied(),
            Source::Step(j) => done.get(j),
        }
    };
    let rows = || (0..s.sources.len()).filter_map(row_of);
    if rows().all(|row| row.event_ts.is_none()) {
        return not_found(s.derived.len());
    }
    let value_of = |b: Binding| -> Value {
        let v = match b {
            Binding::Feature { input, field } => row_of(input).and_then(|r| r.values.get(field)),
            Binding::Request(i) => s.request.get(i).and_then(|&q| request.get(q)),
        };
        expr::input(v.unwrap_or(&Value::Null))
    };
    let values: Vec<Value> = s
        .derived
        .iter()
        .map(|d| {
            d.expr
                .eval_row_with(&|slot| d.bindings.get(slot).map_or(Value::Null, |b| value_of(*b)))
        })
        .collect();
    FeatureRow {
        event_ts: rows().filter_map(|r| r.event_ts).max(),
        created_ts: rows().filter_map(|r| r.created_ts).max(),
        statuses: values.iter().map(crate::rows::status_of).collect(),
        values,
    }
}

/// The derived features of `rows` rows, a column at a time:
/// `inputs[i][field]` is the column of feature `field` of leaf input `i`
/// ([`Resolved::inputs`]; null where the row has no version), `found[i]`
/// whether each row has a version of it, `request[j]` the column of
/// request input `j` ([`Resolved::request`]). Derived inputs are
/// evaluated first, their features null in the rows where none of their
/// inputs has a version. One output column per derived feature of `r`.
pub fn evaluate_columns(
    r: &Resolved,
    inputs: &[Vec<Vec<Value>>],
    found: &[Vec<bool>],
    request: &[Vec<Value>],
    rows: usize,
) -> Vec<Vec<Value>> {
    let nulls = vec![Value::Null; rows];
    let no_rows = vec![false; rows];
    // Per step done: its columns, and whether each row has a version.
    let mut done: Vec<(Vec<Vec<Value>>, Vec<bool>)> = Vec::with_capacity(r.steps.len());
    for s in &r.steps {
        let source = |input: usize| -> (Option<&Vec<Vec<Value>>>, &Vec<bool>) {
            match s.sources.get(input) {
                Some(Source::Leaf(l)) => (inputs.get(*l), found.get(*l).unwrap_or(&no_rows)),
                Some(Source::Step(j)) => done
                    .get(*j)
                    .map_or((None, &no_rows), |d| (Some(&d.0), &d.1)),
                None => (None, &no_rows),
            }
        };
        let has: Vec<bool> = (0..rows)
            .map(|row| (0..s.sources.len()).any(|i| source(i).1.get(row) == Some(&true)))
            .collect();
        let mut columns: Vec<Vec<Value>> = s
            .derived
            .iter()
            .map(|d| {
                let slots: Vec<Vec<Value>> = d
                    .bindings
                    .iter()
                    .map(|b| {
                        let col = match *b {
                            Binding::Feature { input, field } => {
                                source(input).0.and_then(|c| c.get(field))
                            }
                            Binding::Request(i) => s.request.get(i).and_then(|&q| request.get(q)),
                        };
                        col.unwrap_or(&nulls).iter().map(expr::input).collect()
                    })
                    .collect();
                d.expr.eval_columns(&slots, rows)
            })
            .collect();
        for col in &mut columns {
            for (v, &h) in col.iter_mut().zip(&has) {
                if !h {
                    *v = Value::Null;
                }
            }
        }
        done.push((columns, has));
    }
    done.pop().map(|d| d.0).unwrap_or_default()
}
