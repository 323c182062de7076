//! The metadata of a feature view that the registry understands, read from
//! [`FeatureView::metadata`].
//!
//! View-level fields (written at the top level of a `[[feature_views]]`
//! table): `description`, `owner`, `team`, `tags`, `freshness_sla`,
//! `source`, `inputs`, `online`, `retention`, `max_versions`, `quality`.
//! The store adds `created_at` and `changed_at` (µs since the epoch) when a
//! definition is applied; a definitions file may not set them.
//!
//! Per-feature fields (written inside the feature's table) are kept under
//! the metadata key [`FEATURE_SETTINGS`], one table per feature name, in a
//! canonical form (timestamps as integer µs, bytes as hex):
//!
//! - `default`: what an online lookup returns for the feature when there is
//!   no value (its status still says `NOT_FOUND`, `OUTSIDE_MAX_AGE` or
//!   `NULL_VALUE`); exports fill it only when asked (`--fill-defaults`).
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

use super::duration;
use super::{Feature, FeatureView};
use strata_format::schema::{FeatureType, Value};

/// Metadata key of the per-feature settings.
pub const FEATURE_SETTINGS: &str = "feature_settings";
/// Metadata key of the time the view was first applied (µs).
pub const CREATED_AT: &str = "created_at";
/// Metadata key of the time the view's definition last changed (µs).
pub const CHANGED_AT: &str = "changed_at";
/// Keys set by the store, refused in a definitions file.
pub const SYSTEM_KEYS: [&str; 4] = ["id", FEATURE_SETTINGS, CREATED_AT, CHANGED_AT];
/// Per-feature fields besides name, type, description and tags.
pub const FEATURE_FIELDS: [&str; 6] = [
    "default",
    "not_null",
    "min",
    "max",
    "allowed",
    "max_null_fraction",
];

/// What ingest does with a file that breaks an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityPolicy {
    /// The file is refused; nothing is written.
    Reject,
    /// The file is ingested and the violations are recorded.
    Warn,
}

impl QualityPolicy {
    pub fn name(self) -> &'static str {
        match self {
            QualityPolicy::Reject => "reject",
            QualityPolicy::Warn => "warn",
        }
    }
}

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
pub fn parse_source(text: &str, is_view: impl Fn(&str) -> bool) -> Source {
    let t = text.trim();
    if t == "push" {
        Source::Push
    } else if let Some(v) = t.strip_prefix("view:") {
        Source::View(v.trim().to_string())
    } else if is_view(t) {
        Source::View(t.to_string())
    } else {
        Source::Files(t.to_string())
    }
}

/// Whether `s` looks like a view reference (`name` or `name@N`).
pub fn is_view_ref(s: &str) -> bool {
    let (name, version) = s.split_once('@').unwrap_or((s, "1"));
    super::defs::is_identifier(name) && version.parse::<u32>().is_ok_and(|v| v >= 1)
}

impl FeatureView {
    fn meta_str(&self, k: &str) -> Option<&str> {
        self.metadata.get(k).and_then(toml::Value::as_str)
    }

    pub fn description(&self) -> &str {
        self.meta_str("description").unwrap_or("")
    }

    pub fn owner(&self) -> Option<&str> {
        self.meta_str("owner")
    }

    pub fn team(&self) -> Option<&str> {
        self.meta_str("team")
    }

    /// Tags as written; a table of tags becomes `key=value` items.
    pub fn tags(&self) -> Vec<String> {
        match self.metadata.get("tags") {
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            Some(toml::Value::Table(t)) => t
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the view is served online (default) or export-only.
    pub fn online(&self) -> bool {
        self.metadata
            .get("online")
            .and_then(toml::Value::as_bool)
            .unwrap_or(true)
    }

    pub fn freshness_sla_micros(&self) -> Option<i64> {
        self.metadata
            .get("freshness_sla")
            .and_then(|v| duration::from_toml(v).ok())
    }

    /// The declared `source` text, if any.
    pub fn source_text(&self) -> Option<&str> {
        self.meta_str("source")
    }

    /// The views named by `inputs`.
    pub fn inputs(&self) -> Vec<String> {
        match self.metadata.get("inputs") {
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            Some(toml::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    pub fn created_at(&self) -> Option<i64> {
        self.metadata
            .get(CREATED_AT)
            .and_then(toml::Value::as_integer)
    }

    pub fn changed_at(&self) -> Option<i64> {
        self.metadata
            .get(CHANGED_AT)
            .and_then(toml::Value::as_integer)
    }

    pub fn quality_policy(&self) -> QualityPolicy {
        match self.meta_str("quality") {
            Some("warn") => QualityPolicy::Warn,
            _ => QualityPolicy::Reject,
        }
    }

    fn settings(&self, feature: &str) -> Option<&toml::Table> {
        self.metadata
            .get(FEATURE_SETTINGS)?
            .as_table()?
            .get(feature)?
            .as_table()
    }

    /// The declared default of feature number `i`, if any.
    pub fn feature_default(&self, i: usize) -> Option<Value> {
        let f = self.features.get(i)?;
        let v = self.settings(&f.name)?.get("default")?;
        value_from_toml(f.ty, v).ok()
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
    if !view.metadata.contains_key(FEATURE_SETTINGS) {
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

fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
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
    }
}

/// Microseconds of a TOML timestamp: an integer of µs, an RFC 3339 string,
/// or a TOML offset date-time.
fn timestamp_from_toml(v: &toml::Value) -> Result<i64, String> {
    let text = match v {
        toml::Value::Integer(i) => return Ok(*i),
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return Err("expected integer microseconds or an RFC 3339 timestamp".into()),
    };
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|d| d.timestamp_micros())
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp with an offset ({e})"))
}

/// A value of type `ty` written in TOML.
pub fn value_from_toml(ty: FeatureType, v: &toml::Value) -> Result<Value, String> {
    let wrong = || format!("{v} is not a {ty} value");
    Ok(match ty {
        FeatureType::Int64 => Value::Int64(v.as_integer().ok_or_else(wrong)?),
        FeatureType::Float64 => Value::Float64(as_f64(v).ok_or_else(wrong)?),
        FeatureType::Float32 => Value::Float32(as_f64(v).ok_or_else(wrong)? as f32),
        FeatureType::Bool => Value::Bool(v.as_bool().ok_or_else(wrong)?),
        FeatureType::String => Value::String(v.as_str().ok_or_else(wrong)?.to_string()),
        FeatureType::Bytes => {
            let s = v.as_str().ok_or_else(wrong)?;
            let h = s.strip_prefix("0x").unwrap_or(s);
            if !h.len().is_multiple_of(2) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{v} is not hex bytes (e.g. \"0aff\")"));
            }
            Value::Bytes(
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(0))
                    .collect(),
            )
        }
        FeatureType::Timestamp => Value::Timestamp(timestamp_from_toml(v)?),
        FeatureType::ListFloat32 => Value::ListFloat32(
            v.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|x| as_f64(x).map(|f| f as f32).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// The canonical TOML form of a value (timestamps as µs, bytes as hex).
fn canonical(v: &Value) -> toml::Value {
    match v {
        Value::Null => toml::Value::String(String::new()),
        Value::Int64(x) | Value::Timestamp(x) => toml::Value::Integer(*x),
        Value::Float64(x) => toml::Value::Float(*x),
        Value::Float32(x) => toml::Value::Float(f64::from(*x)),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Bytes(b) => {
            toml::Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
        Value::ListFloat32(l) => toml::Value::Array(
            l.iter()
                .map(|x| toml::Value::Float(f64::from(*x)))
                .collect(),
        ),
    }
}

/// Checks the per-feature fields of `f` (as written) and returns their
/// canonical table, or `None` if there are none.
pub fn feature_settings(f: &Feature, raw: &toml::Table) -> Result<Option<toml::Table>, String> {
    let what = format!("feature {:?}", f.name);
    let mut out = toml::Table::new();
    let numeric = matches!(
        f.ty,
        FeatureType::Int64 | FeatureType::Float64 | FeatureType::Float32 | FeatureType::Timestamp
    );
    for (k, v) in raw {
        let canon = match k.as_str() {
            "default" => canonical(
                &value_from_toml(f.ty, v).map_err(|e| format!("{what}: default = {v}: {e}"))?,
            ),
            "not_null" => toml::Value::Boolean(
                v.as_bool()
                    .ok_or_else(|| format!("{what}: not_null = {v}; expected true or false"))?,
            ),
            "min" | "max" => {
                if !numeric {
                    return Err(format!(
                        "{what}: {k} applies to int64, float64, float32 and timestamp features, not {}; use allowed = [...] instead",
                        f.ty
                    ));
                }
                match value_from_toml(f.ty, v).map_err(|e| format!("{what}: {k} = {v}: {e}"))? {
                    Value::Int64(x) | Value::Timestamp(x) => toml::Value::Integer(x),
                    Value::Float64(x) => toml::Value::Float(x),
                    Value::Float32(x) => toml::Value::Float(f64::from(x)),
                    _ => return Err(format!("{what}: {k} = {v} is not a number")),
                }
            }
            "allowed" => {
                if matches!(f.ty, FeatureType::ListFloat32) {
                    return Err(format!(
                        "{what}: allowed does not apply to list<float32> features"
                    ));
                }
                let items = v.as_array().ok_or_else(|| {
                    format!(
                        "{what}: allowed = {v}; expected an array of {} values",
                        f.ty
                    )
                })?;
                toml::Value::Array(
                    items
                        .iter()
                        .map(|x| {
                            value_from_toml(f.ty, x)
                                .map(|v| canonical(&v))
                                .map_err(|e| format!("{what}: allowed: {e}"))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            "max_null_fraction" => {
                let x = as_f64(v)
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| {
                        format!(
                            "{what}: max_null_fraction = {v}; expected a number from 0.0 to 1.0"
                        )
                    })?;
                toml::Value::Float(x)
            }
            other => {
                return Err(format!(
                    "{what}: unknown field {other:?}; a feature takes name, type, description, tags, {}",
                    FEATURE_FIELDS.join(", ")
                ));
            }
        };
        out.insert(k.clone(), canon);
    }
    if let (Some(lo), Some(hi)) = (
        out.get("min").and_then(as_f64),
        out.get("max").and_then(as_f64),
    ) && lo > hi
    {
        return Err(format!("{what}: min {lo} is greater than max {hi}"));
    }
    Ok((!out.is_empty()).then_some(out))
}
