//! The metadata of a feature view that the registry understands, read from
//! [`FeatureView::metadata`] (a [`super::metadata::ViewMeta`]).
//!
//! View-level fields (written at the top level of a `[[feature_views]]`
//! table): `description`, `owner`, `team`, `tags`, `freshness_sla`,
//! `source`, `inputs`, `online`, `retention`, `max_versions`, `quality`.
//! The store adds `created_at` and `changed_at` (µs since the epoch) when a
//! definition is applied; a definitions file may not set them.
//!
//! Per-feature fields (written inside the feature's table) are kept in
//! `ViewMeta::feature_settings` (the catalog file's key
//! [`FEATURE_SETTINGS`]), one table per feature name, in a canonical form
//! (timestamps as integer µs, bytes as hex):
//!
//! - `default`: what an online lookup returns for the feature when there is
//!   no value (its status still says `NOT_FOUND` or `OUTSIDE_MAX_AGE`);
//!   exports fill it only when asked (`--fill-defaults`). A version that
//!   predates the feature serves it in every read and export (`DEFAULTED`),
//!   and an input may leave out the last features if each declares one.
//! - expectations checked at ingest: `not_null = true`, `min`, `max`
//!   (numeric and timestamp features), `allowed = [...]` (values of the
//!   feature's type), `max_null_fraction` (0.0 ..= 1.0).
//!
//! `quality = "reject"` (the default) refuses a file that breaks an
//! expectation; `quality = "warn"` ingests it and records the violations.
//!
//! `source` is `push` (written through the API), the name of another view
//! (`view:NAME` or a bare `NAME` of a declared view), or a file glob read by
//! `strata ingest` without a file. `inputs = ["a", "b@2"]` names the views a
//! derived view reads; see [`super::lineage`].
//!
//! The per-feature fields are checked and made canonical by
//! [`super::settings`].

use super::FeatureView;
use super::settings::{as_f64, value_from_toml};
use strata_format::schema::Value;

pub use super::metadata::{
    CHANGED_AT, CREATED_AT, FEATURE_SETTINGS, QualityPolicy, SYSTEM_KEYS, Tags, is_view_ref,
};
pub use super::settings::FEATURE_FIELDS;

/// Per-feature expectations checked at ingest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    pub not_null: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Values of the feature's type.
    pub allowed: Option<Vec<Value>>,
    pub max_null_fraction: Option<f64>,
}
impl Expectations {
    pub fn is_empty(&self) -> bool {
        *self == Expectations::default()
    }

    /// The rules as short text, e.g. `not_null, 0 <= x <= 150`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.not_null {
            out.push("not_null".into());
        }
        if let Some(m) = self.min {
            out.push(format!("min {m}"));
        }
        if let Some(m) = self.max {
            out.push(format!("max {m}"));
        }
        if let Some(a) = &self.allowed {
            let vals: Vec<String> = a.iter().map(value_text).collect();
            out.push(format!("allowed [{}]", vals.join(", ")));
        }
        if let Some(f) = self.max_null_fraction {
            out.push(format!("max_null_fraction {f}"));
        }
        out
    }
}

/// Where a view's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Not declared.
    None,
    /// Written through the API (`source = "push"`).
    Push,
    /// Derived from another view.
    View(String),
    /// Files matching a glob.
    Files(String),
}

/// Reads `source` text: `push`, `view:NAME`, a bare view name that
/// `is_view` accepts, or else a file glob.
/// Whether [`parse_source`] reads `text` as a view, without building
/// the [`Source`].
pub fn names_a_view(text: &str, is_view: impl Fn(&str) -> bool) -> bool {
    let t = text.trim();
    t != "push" && (t.starts_with("view:") || is_view(t))
}

pub fn parse_source(text: &str, is_view: impl Fn(&str) -> bool) -> Source {
    let t = text.trim();
    if t == "push" {
        Source::Push
    } else if names_a_view(t, is_view) {
        Source::View(t.strip_prefix("view:").map_or(t, str::trim).to_string())
    } else {
        Source::Files(t.to_string())
    }
}

impl FeatureView {
    pub fn description(&self) -> &str {
        self.metadata.description.as_deref().unwrap_or("")
    }

    pub fn owner(&self) -> Option<&str> {
        self.metadata.owner.as_deref()
    }

    pub fn team(&self) -> Option<&str> {
        self.metadata.team.as_deref()
    }

    /// Tags as written; a table of tags becomes `key=value` items.
    pub fn tags(&self) -> Vec<String> {
        self.metadata
            .tags
            .as_ref()
            .map(Tags::items)
            .unwrap_or_default()
    }

    /// Whether the view is served online (default) or export-only.
    pub fn online(&self) -> bool {
        self.metadata.online.unwrap_or(true)
    }

    pub fn freshness_sla_micros(&self) -> Option<i64> {
        self.metadata.freshness_sla.map(|d| d.micros)
    }

    /// The declared `source` text, if any.
    pub fn source_text(&self) -> Option<&str> {
        self.metadata.source.as_deref()
    }

    /// The views named by `inputs`.
    pub fn inputs(&self) -> Vec<String> {
        self.metadata.inputs.clone().unwrap_or_default()
    }

    pub fn created_at(&self) -> Option<i64> {
        self.metadata.created_at
    }

    pub fn changed_at(&self) -> Option<i64> {
        self.metadata.changed_at
    }

    pub fn quality_policy(&self) -> QualityPolicy {
        self.metadata.quality.unwrap_or(QualityPolicy::Reject)
    }

    fn settings(&self, feature: &str) -> Option<&toml::Table> {
        self.metadata.feature_settings.as_ref()?.get(feature)
    }
    /// The declared default of feature number `i`, if any.
    pub fn feature_default(&self, i: usize) -> Option<Value> {
        let f = self.features.get(i)?;
        let v = self.settings(&f.name)?.get("default")?;
        value_from_toml(f.ty, v).ok()
    }

    /// Whether a version may be written with only its first `given`
    /// features (an input written before the others were added): each
    /// feature left out must declare a `default`, which the version then
    /// reads (status `DEFAULTED`). The error names those that do not.
    pub fn check_omitted(&self, given: usize) -> Result<(), String> {
        let left: Vec<&str> = self
            .features
            .iter()
            .skip(given)
            .map(|f| f.name.as_str())
            .collect();
        let without: Vec<&str> = (given..self.features.len())
            .filter(|&i| self.feature_default(i).is_none_or(|d| d.is_null()))
            .filter_map(|i| self.features.get(i).map(|f| f.name.as_str()))
            .collect();
        if without.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the row has {given} value(s) for {} feature(s); a row may leave out only trailing features that declare a `default` (it leaves out {}, and {} declare(s) none)",
            self.features.len(),
            left.join(", "),
            without.join(", ")
        ))
    }

    /// The default of every feature, in schema order.
    pub fn defaults(&self) -> Vec<Option<Value>> {
        (0..self.features.len())
            .map(|i| self.feature_default(i))
            .collect()
    }

    /// The expectations of feature number `i`.
    pub fn expectations(&self, i: usize) -> Expectations {
        let Some(f) = self.features.get(i) else {
            return Expectations::default();
        };
        let Some(s) = self.settings(&f.name) else {
            return Expectations::default();
        };
        let num = |k: &str| s.get(k).and_then(as_f64);
        Expectations {
            not_null: s
                .get("not_null")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false),
            min: num("min"),
            max: num("max"),
            allowed: s.get("allowed").and_then(|a| {
                a.as_array()?
                    .iter()
                    .map(|x| value_from_toml(f.ty, x).ok())
                    .collect()
            }),
            max_null_fraction: num("max_null_fraction"),
        }
    }
}

/// Fills the features that have no value with their declared defaults.
/// `present[i]` says whether feature `i` has a value; statuses are left to
/// the caller, so a filled value still reports why it was missing.
pub fn fill_defaults(view: &FeatureView, values: &mut [Value], present: impl Fn(usize) -> bool) {
    if view.metadata.feature_settings.is_none() {
        return;
    }
    for (i, slot) in values.iter_mut().enumerate() {
        if !present(i)
            && let Some(d) = view.feature_default(i)
        {
            *slot = d;
        }
    }
}

/// A value as short text (for plans and reports).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Int64(x) | Value::Timestamp(x) => x.to_string(),
        Value::Float64(x) => format!("{x:?}"),
        Value::Float32(x) => format!("{x:?}"),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Bytes(b) => format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        Value::ListFloat32(l) => format!("{l:?}"),
        Value::ListString(l) => format!("{l:?}"),
        Value::ListInt64(l) => format!("{l:?}"),
        Value::ListFloat64(l) => format!("{l:?}"),
        Value::MapStringInt64(m) => map_literal(m, |n| n.to_string()),
        Value::MapStringFloat64(m) => map_literal(m, |x| format!("{x:?}")),
    }
}

/// A map as `{"key": value, ...}`, each value written by `value`.
fn map_literal<T>(m: &[(String, T)], value: impl Fn(&T) -> String) -> String {
    let entries: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k:?}: {}", value(v)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}
