//! The registry (list, describe, search, lineage) and freshness as plain
//! Python dicts and lists: from the store's catalog (embedded) or from the
//! protocol's answers (remote). The keys follow `strata registry ... --json`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Value as Json, json};

use strata_format::protocol as p;
use strata_store::catalog::search::Query;
use strata_store::catalog::{Catalog, FeatureView, stats};
use strata_store::freshness::Report;
use strata_store::registry_json;

use crate::Failure;
use crate::response::opt_datetime;

/// JSON as Python objects (`json.loads`).
pub fn to_py<'py>(py: Python<'py>, j: &Json) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (j.to_string(),))
}

fn view<'a>(cat: &'a Catalog, name: &str) -> Result<&'a FeatureView, Failure> {
    strata_store::registry::find_view(cat, name).map_err(|e| Failure::not_found(e.to_string()))
}

pub fn list(cat: &Catalog) -> Json {
    registry_json::list(&strata_store::registry::list(cat, |_| true))
}

pub fn describe(cat: &Catalog, dir: &std::path::Path, name: &str) -> Result<Json, Failure> {
    let v = view(cat, name)?;
    let last = stats::load(dir)
        .map_err(|e| Failure::new(crate::errors::Kind::Storage, e.to_string()))?
        .remove(&v.id);
    let d = strata_store::registry::describe(cat, v, last.as_ref());
    registry_json::describe(&d).map_err(|e| Failure::new(crate::errors::Kind::Internal, e))
}

pub fn search(cat: &Catalog, q: &Query) -> Json {
    registry_json::search(cat, q)
}

pub fn lineage(cat: &Catalog, name: &str) -> Result<Json, Failure> {
    Ok(registry_json::lineage(cat, view(cat, name)?))
}

/// A server's view list: the same entries as the embedded list.
pub fn remote_list(l: &p::RegistryList) -> Json {
    registry_json::list(l)
}

/// A server's description of a view: the same keys as the embedded one.
pub fn remote_describe(d: &p::ViewDescription) -> Result<Json, Failure> {
    registry_json::describe(d).map_err(|e| Failure::new(crate::errors::Kind::Internal, e))
}

/// A server's search hits, grouped by view like the embedded search: one
/// entry per view with the places the text matched (`feature NAME: how`
/// for a feature hit); entity hits come as `{"entity": NAME, ...}`.
pub fn remote_search(hits: &[p::SearchHit]) -> Json {
    let mut out: Vec<Json> = Vec::new();
    for h in hits {
        match h.kind {
            p::HitKind::Entity => out.push(json!({"entity": h.name, "matched": [h.matched]})),
            kind => {
                let reason = if kind == p::HitKind::Feature {
                    format!("feature {}: {}", h.name, h.matched)
                } else {
                    h.matched.clone()
                };
                match out
                    .iter_mut()
                    .find(|j| j.get("name").and_then(Json::as_str) == Some(h.view.as_str()))
                {
                    Some(j) => {
                        if let Some(m) = j["matched"].as_array_mut() {
                            m.push(json!(reason));
                        }
                    }
                    None => out.push(json!({"name": h.view, "matched": [reason]})),
                }
            }
        }
    }
    Json::Array(out)
}

/// A freshness report as `{"now": datetime, "views": [{...}, ...]}`.
pub fn freshness<'py>(py: Python<'py>, r: &Report) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("now", opt_datetime(py, Some(r.now))?)?;
    let views = PyList::empty(py);
    for v in &r.views {
        let x = PyDict::new(py);
        x.set_item("view", &v.view)?;
        x.set_item("status", v.status.name())?;
        x.set_item("sla_seconds", v.sla_micros.map(|s| s as f64 / 1e6))?;
        x.set_item(
            "newest_event_timestamp",
            opt_datetime(py, v.newest_event_ts)?,
        )?;
        x.set_item(
            "lag_seconds",
            v.newest_event_ts
                .map(|t| r.now.saturating_sub(t) as f64 / 1e6),
        )?;
        x.set_item("last_write", opt_datetime(py, v.last_write_micros)?)?;
        x.set_item("rows_since_open", v.rows_since_open)?;
        x.set_item("rows_last_minute", v.rows_last_minute)?;
        x.set_item("rows_last_hour", v.rows_last_hour)?;
        views.append(x)?;
    }
    d.set_item("views", views)?;
    Ok(d)
}
