//! Derived views: features computed, at read time, by expressions over the
//! features of other views of the same entity and over values the request
//! sends (on-demand features).
//!
//! ```toml
//! [[feature_views]]
//! name = "user_txn_derived"
//! inputs = ["user_txn_stats", "user_profile"]      # views of the same entities
//! request = [{ name = "txn_amount", type = "float64" }]   # optional
//! derived = [
//!   { name = "amount_range", expr = "amount_max_30d - amount_min_30d" },
//!   { name = "txn_ratio", expr = "txn_amount / amount_mean_30d" },
//! ]
//! ```
//!
//! A derived view declares no `features` and no `entities`: its entities
//! are its inputs' (every input must have the same entities, in the same
//! order) and its features are its `derived` entries, typed by their
//! expressions (docs/EXPRESSIONS.md). In an expression a name is a request
//! value, a feature of one input (`amount_max_30d`, when one input has it)
//! or `view.feature`. Inputs are plain, aggregation or derived views
//! declared in the same file, and cycles are refused ([`order`]). A read
//! supplies the request inputs of the view and of every derived view it
//! reads (transitively), by name: a derived input's request input takes
//! the value the read sends under its name, so one name has one type
//! along a chain. A derived view stores nothing; a
//! read at `t` (with `known_at`) reads its inputs at `t` (with `known_at`)
//! and evaluates each expression over their values (an input feature
//! without a value reads as its default, or null).

use super::error::{Error, Result, Subject};
use super::metadata::{DERIVED, REQUEST, is_identifier};
use super::{Catalog, Feature, FeatureView};
use crate::expr::{Expr, Type};

/// What an expression input is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Feature `field` of input view `input` (index into [`Spec::inputs`]).
    Feature { input: usize, field: usize },
    /// Request value `index` (into [`Spec::request`]).
    Request(usize),
}

/// A request-time input.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInput {
    pub name: String,
    pub ty: Type,
}

/// One derived feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub feature: String,
    pub expr: Expr,
    /// Per expression input (slot), where its value comes from.
    pub bindings: Vec<Binding>,
}

/// The parsed specification of a derived view.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The input views, `name@version`, in declaration order.
    pub inputs: Vec<String>,
    pub request: Vec<RequestInput>,
    /// In the view's feature order.
    pub derived: Vec<Derived>,
}

impl FeatureView {
    /// Whether this view is a derived view.
    pub fn is_derived(&self) -> bool {
        self.metadata.derived.is_some()
    }

    /// Whether the store computes this view's rows (an aggregation or a
    /// derived view): it cannot be written and has no history.
    pub fn is_computed(&self) -> bool {
        self.is_aggregation() || self.is_derived()
    }
}

/// The request inputs declared by `view`.
fn request_inputs(view: &FeatureView) -> Result<Vec<RequestInput>> {
    let subject = || Subject::View(view.name.clone());
    let bad = |reason: String| Error::invalid(subject(), REQUEST, reason);
    let mut out: Vec<RequestInput> = Vec::new();
    for t in view.metadata.request.iter().flatten() {
        if let Some(k) = t.keys().find(|k| *k != "name" && *k != "type") {
            return Err(bad(format!(
                "unknown field {k:?} in a request input (name, type)"
            )));
        }
        let name = t
            .get("name")
            .and_then(|v| v.as_str())
            .filter(|n| is_identifier(n))
            .ok_or_else(|| bad("a request input needs name = \"identifier\"".into()))?;
        let ty = t
            .get("type")
            .and_then(|v| v.as_str())
            .and_then(Type::parse)
            .ok_or_else(|| {
                bad(format!(
                    "request input {name:?} needs type = one of int64, float64, bool, string, timestamp"
                ))
            })?;
        if out.iter().any(|r| r.name == name) {
            return Err(bad(format!("request input {name:?} is declared twice")));
        }
        out.push(RequestInput {
            name: name.to_string(),
            ty,
        });
    }
    Ok(out)
}

/// What a name in an expression of `view` reads.
fn resolve(
    name: &str,
    request: &[RequestInput],
    inputs: &[&FeatureView],
) -> std::result::Result<(Binding, Type), String> {
    let typed = |input: usize, field: usize| {
        let f = &inputs[input].features[field];
        Type::of(f.ty)
            .map(|t| (Binding::Feature { input, field }, t))
            .ok_or_else(|| format!("{name} is {}, which expressions cannot read", f.ty))
    };
    if let Some((view, feature)) = name.split_once('.') {
        let input = inputs
            .iter()
            .position(|v| v.name == view)
            .ok_or_else(|| format!("{view:?} is not one of this view's inputs"))?;
        let field = inputs[input]
            .feature_index(feature)
            .ok_or_else(|| format!("the input view {view:?} has no feature {feature:?}"))?;
        return typed(input, field);
    }
    let found: Vec<(usize, usize)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.feature_index(name).map(|f| (i, f)))
        .collect();
    let req = request.iter().position(|r| r.name == name);
    match (req, found.as_slice()) {
        (Some(r), []) => Ok((Binding::Request(r), request[r].ty)),
        (None, [(i, f)]) => typed(*i, *f),
        (None, []) => {
            let mut known: Vec<String> = request.iter().map(|r| r.name.clone()).collect();
            for v in inputs {
                known.extend(v.features.iter().map(|f| f.name.clone()));
            }
            Err(format!(
                "unknown name {name:?}: not a request input nor a feature of an input (known: {})",
                known.join(", ")
            ))
        }
        _ => Err(format!(
            "{name:?} is ambiguous (a request input or a feature of several inputs); write view.{name}"
        )),
    }
}

/// The specification of derived view `view`, given its input views (in
/// the order of its `inputs`).
pub fn spec(view: &FeatureView, inputs: &[&FeatureView]) -> Result<Spec> {
    let subject = || Subject::View(view.name.clone());
    let list = view.metadata.derived.as_deref().unwrap_or_default();
    if list.is_empty() {
        return Err(Error::invalid(subject(), DERIVED, "derived is empty"));
    }
    let request = request_inputs(view)?;
    let mut derived: Vec<Derived> = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let bad = |reason: String| Error::invalid(subject(), DERIVED, reason);
        if let Some(k) = t
            .keys()
            .find(|k| !["name", "expr", "description"].contains(&k.as_str()))
        {
            return Err(bad(format!(
                "derived entry {}: unknown field {k:?} (name, expr, description)",
                i + 1
            )));
        }
        let feature = t
            .get("name")
            .and_then(|v| v.as_str())
            .filter(|n| is_identifier(n))
            .ok_or_else(|| {
                bad(format!(
                    "derived entry {} needs name = \"identifier\"",
                    i + 1
                ))
            })?;
        let at = || Subject::Feature {
            view: view.name.clone(),
            feature: feature.to_string(),
        };
        if derived.iter().any(|d| d.feature == feature) {
            return Err(Error::invalid(at(), DERIVED, "is declared twice"));
        }
        let src = t
            .get("expr")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::invalid(at(), "expr", "needs expr = \"an expression\""))?;
        let mut bindings = Vec::new();
        let expr = Expr::compile(src, |name| {
            let (b, ty) = resolve(name, &request, inputs)?;
            bindings.push(b);
            Ok(ty)
        })
        .map_err(|e| Error::invalid(at(), "expr", format!("expr = {src:?}: {e}")))?;
        if expr.ty().feature_type().is_none() {
            return Err(Error::invalid(
                at(),
                "expr",
                format!("expr = {src:?} is always null; cast it to the type it should have"),
            ));
        }
        derived.push(Derived {
            feature: feature.to_string(),
            expr,
            bindings,
        });
    }
    Ok(Spec {
        inputs: inputs.iter().map(|v| v.reference()).collect(),
        request,
        derived,
    })
}

/// The file's view `src` (`name` or `name@version`; the newest version
/// when none is given).
fn find<'a>(views: &'a [FeatureView], src: &str) -> Option<&'a FeatureView> {
    let (name, version) = match src.split_once('@') {
        Some((n, v)) => (n, v.parse::<u32>().ok()),
        None => (src, None),
    };
    views
        .iter()
        .filter(|v| v.name == name && version.is_none_or(|x| x == v.version))
        .max_by_key(|v| v.version)
}

/// The derived views of `views` (indices) in an order where every derived
/// input comes before the views reading it, or the error naming a cycle.
pub fn order(views: &[FeatureView]) -> Result<Vec<usize>> {
    let derived: Vec<usize> = (0..views.len())
        .filter(|&i| views[i].is_derived())
        .collect();
    // The derived inputs of view i, as indices.
    let deps = |i: usize| -> Vec<usize> {
        views[i]
            .metadata
            .inputs
            .iter()
            .flatten()
            .filter_map(|src| find(views, src.strip_prefix("view:").unwrap_or(src).trim()))
            .filter(|v| v.is_derived())
            .filter_map(|v| views.iter().position(|x| std::ptr::eq(x, v)))
            .collect()
    };
    let mut out: Vec<usize> = Vec::new();
    while out.len() < derived.len() {
        let ready: Vec<usize> = derived
            .iter()
            .copied()
            .filter(|i| !out.contains(i) && deps(*i).iter().all(|d| out.contains(d)))
            .collect();
        if ready.is_empty() {
            // Every view left reads another left: follow inputs to a cycle.
            let left = |i: &usize| !out.contains(i);
            let mut path: Vec<usize> = derived.iter().copied().filter(left).take(1).collect();
            loop {
                let last = path.last().copied().unwrap_or_default();
                let Some(next) = deps(last).into_iter().find(left) else {
                    break;
                };
                if let Some(at) = path.iter().position(|&p| p == next) {
                    let mut cycle: Vec<&str> =
                        path[at..].iter().map(|&p| views[p].name.as_str()).collect();
                    cycle.push(views[next].name.as_str());
                    return Err(Error::invalid(
                        Subject::View(views[next].name.clone()),
                        "inputs",
                        format!(
                            "its inputs form a cycle of derived views ({}); a derived view may read derived views, but not itself through them",
                            cycle.join(" -> ")
                        ),
                    ));
                }
                path.push(next);
            }
            return Err(Error::invalid(
                Subject::View(views[path[0]].name.clone()),
                "inputs",
                "its derived inputs cannot be ordered".to_string(),
            ));
        }
        out.extend(ready);
    }
    Ok(out)
}

/// Adds to `out` the request inputs of derived view `view` and of the
/// derived views it reads (transitively), each with the view declaring
/// it, unless a view before declared the name; a read of a view supplies
/// them all, by name, to every view of its chain. The error: one name
/// declared with two types.
fn chain_request(
    view: &FeatureView,
    views: &[FeatureView],
    out: &mut Vec<(RequestInput, String)>,
) -> std::result::Result<(), String> {
    let own = request_inputs(view).map_err(|e| e.to_string())?;
    for r in own {
        match out.iter().find(|(x, _)| x.name == r.name) {
            Some((x, by)) if x.ty != r.ty => {
                return Err(format!(
                    "the request input {:?} is {} in {by:?} and {} in {:?}; the views of a chain of derived views share request inputs by name, so one name needs one type",
                    r.name, x.ty, r.ty, view.name
                ));
            }
            Some(_) => {}
            None => out.push((r, view.name.clone())),
        }
    }
    for src in view.metadata.inputs.iter().flatten() {
        if let Some(v) = find(views, src).filter(|v| v.is_derived()) {
            chain_request(v, views, out)?;
        }
    }
    Ok(())
}

/// Every derived view of `cat` with its request inputs checked along its
/// chain, as [`complete`] checks the views of the file applied: a view
/// kept from an earlier apply is not completed again, so an input edited
/// in place (a request input retyped in a view it reads) is caught here.
/// `cat` must have no lineage cycle ([`super::lineage::check`] first).
pub fn check_chains(cat: &Catalog) -> Vec<Error> {
    cat.views
        .iter()
        .filter(|v| v.is_derived())
        .filter_map(|v| {
            let mut request = Vec::new();
            chain_request(v, &cat.views, &mut request)
                .err()
                .map(|reason| Error::invalid(Subject::View(v.qualified_name()), "request", reason))
        })
        .collect()
}

/// Completes a derived view read from a definitions file: entities from its
/// inputs, features from its expressions, `inputs` canonicalised to
/// `name@version`. `views` are the file's views (aggregation views, and
/// derived views this one reads, already completed: see [`order`]).
pub fn complete(view: &mut FeatureView, views: &[FeatureView]) -> Result<()> {
    let subject = || Subject::View(view.name.clone());
    let bad = |field: &str, reason: String| Error::invalid(subject(), field, reason);
    if !view.features.is_empty() || !view.entities.is_empty() {
        return Err(bad(
            "features",
            "declares features or entities; a derived view takes them from its inputs and derived = [...]".into(),
        ));
    }
    let names = view.metadata.inputs.clone().unwrap_or_default();
    if names.is_empty() {
        return Err(bad(
            "inputs",
            "a derived view needs inputs = [\"view\", ...]: the views its expressions read".into(),
        ));
    }
    let mut inputs: Vec<&FeatureView> = Vec::new();
    for src in &names {
        let v = find(views, src).ok_or_else(|| {
                bad("inputs", format!("the input view {src:?} is not declared in this file; declare it beside the derived view"))
            })?;
        if let Some(first) = inputs.first()
            && first.entities != v.entities
        {
            return Err(bad(
                "inputs",
                format!(
                    "the inputs have different entities ({:?}: [{}], {:?}: [{}]); a derived view reads views of one entity key",
                    first.name,
                    first.entities.join(", "),
                    v.name,
                    v.entities.join(", ")
                ),
            ));
        }
        inputs.push(v);
    }
    let spec = spec(view, &inputs)?;
    let mut request: Vec<(RequestInput, String)> = spec
        .request
        .iter()
        .map(|r| (r.clone(), view.name.clone()))
        .collect();
    for v in inputs.iter().filter(|v| v.is_derived()) {
        chain_request(v, views, &mut request).map_err(|reason| bad("request", reason))?;
    }
    view.entities = inputs
        .first()
        .map(|v| v.entities.clone())
        .unwrap_or_default();
    let descriptions: Vec<String> = view
        .metadata
        .derived
        .iter()
        .flatten()
        .map(|t| {
            t.get("description")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    view.features = spec
        .derived
        .iter()
        .zip(descriptions)
        .map(|(d, description)| Feature {
            name: d.feature.clone(),
            ty: d
                .expr
                .ty()
                .feature_type()
                .unwrap_or(strata_format::schema::FeatureType::Int64),
            description,
            tags: Vec::new(),
        })
        .collect();
    view.metadata.inputs = Some(spec.inputs);
    Ok(())
}
