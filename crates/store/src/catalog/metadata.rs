//! The metadata of a feature view as a typed struct, [`ViewMeta`]: parsed
//! once when a definitions file is read ([`ViewMeta::from_definition`]),
//! and read field by field by search, lineage, describe and freshness.
//!
//! In a definitions file the fields are written at the top level of a
//! `[[feature_views]]` table (see [`super::meta`] for what they mean). A
//! field Strata does not know is refused, naming the view and the field;
//! free-form information goes in `tags = { key = "value" }`.
//!
//! In the catalog file the metadata is one JSON object, keyed by field name
//! as in the definitions ([`persisted`]). Catalogs written before unknown
//! fields were refused may hold such fields: they are kept, as written, in
//! [`ViewMeta::legacy`] and written back unchanged.
//!
//! This module depends only on [`super::duration`] and [`super::error`]:
//! the rest of the catalog depends on it, never the other way.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration::{self, Duration};
use super::error::{Error, Subject};

/// What ingest does with a file that breaks an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// What ingest does with an event older than the watermark minus the
/// allowed lateness (aggregation views).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatePolicy {
    /// The event is refused (not written at all) and counted.
    Reject,
    /// The event is written and the tiles it falls in are corrected.
    Correct,
}

impl LatePolicy {
    pub fn name(self) -> &'static str {
        match self {
            LatePolicy::Reject => "reject",
            LatePolicy::Correct => "correct",
        }
    }
}

/// `tags`: a list of strings, or a table of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    List(Vec<String>),
    Table(BTreeMap<String, String>),
}

impl Tags {
    /// The tags as text; a table's items become `key=value`.
    pub fn items(&self) -> Vec<String> {
        match self {
            Tags::List(l) => l.clone(),
            Tags::Table(t) => t.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        }
    }
}

/// The metadata of a feature view. Every field is `None` unless declared
/// (or, for the store's fields, set when the view was applied).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewMeta {
    pub description: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub tags: Option<Tags>,
    /// How old the newest write may be before `strata freshness` flags it.
    pub freshness_sla: Option<Duration>,
    /// `push`, a view (`view:NAME` or `NAME`) or a file glob.
    pub source: Option<String>,
    /// The views a derived view reads (`name` or `name@N`).
    pub inputs: Option<Vec<String>>,
    /// Served online (the default) or export-only.
    pub online: Option<bool>,
    /// A computed view (a `source` view, `inputs`) whose values its owner
    /// publishes: reading it needs read on it alone, not on what it reads
    /// (the server's policy, docs/PROTOCOL.md).
    pub expose_sources: Option<bool>,
    /// How long history is kept (0: forever).
    pub retention: Option<Duration>,
    /// Versions kept per key (at least 1).
    pub max_versions: Option<u32>,
    pub quality: Option<QualityPolicy>,
    /// Aggregation views only: see [`super::aggregation`].
    pub aggregations: Option<Vec<toml::Table>>,
    pub tile: Option<Duration>,
    pub allowed_lateness: Option<Duration>,
    pub late_events: Option<LatePolicy>,
    /// Session views only (aggregation views whose features describe the
    /// entity's session): see [`super::session`].
    pub session_gap: Option<Duration>,
    /// The version an unversioned name of this view reads and writes (see
    /// `Catalog::view`); declared on any version of the view.
    pub serving_version: Option<u32>,
    /// Set by the store: this version was added beside a serving one and
    /// is not served by the unversioned name until promoted (a
    /// `serving_version` at or above it).
    pub staged: Option<bool>,
    /// Derived views only: see [`super::derived`].
    pub derived: Option<Vec<toml::Table>>,
    /// Derived views only: the values a lookup sends with its request.
    pub request: Option<Vec<toml::Table>>,
    /// Set by the store: when the view was first applied (µs).
    pub created_at: Option<i64>,
    /// Set by the store: when the view's definition last changed (µs).
    pub changed_at: Option<i64>,
    /// Set by the store: the per-feature settings (default, expectations)
    /// in canonical form, by feature name; see [`super::meta`].
    pub feature_settings: Option<BTreeMap<String, toml::Table>>,
    /// Fields of a catalog written before unknown fields were refused,
    /// kept as written. Never set from a definitions file.
    #[serde(skip)]
    pub legacy: toml::Table,
}

/// The fields a definitions file may declare.
pub const DECLARED: [&str; 20] = [
    "description",
    "owner",
    "team",
    "tags",
    "freshness_sla",
    "source",
    "inputs",
    "online",
    "expose_sources",
    "retention",
    "max_versions",
    "quality",
    AGGREGATIONS,
    "tile",
    "allowed_lateness",
    "late_events",
    SESSION_GAP,
    "serving_version",
    DERIVED,
    REQUEST,
];
/// The derived features of a derived view.
pub const DERIVED: &str = "derived";
/// The request-time inputs of a derived view.
pub const REQUEST: &str = "request";
/// The aggregation list.
pub const AGGREGATIONS: &str = "aggregations";
/// Fields of aggregation views only.
pub const AGGREGATION_ONLY: [&str; 5] = [
    AGGREGATIONS,
    "tile",
    "allowed_lateness",
    "late_events",
    SESSION_GAP,
];
/// The inactivity gap that ends a session (session views).
pub const SESSION_GAP: &str = "session_gap";
/// The per-feature settings.
pub const FEATURE_SETTINGS: &str = "feature_settings";
/// The time the view was first applied (µs).
pub const CREATED_AT: &str = "created_at";
/// The time the view's definition last changed (µs).
pub const CHANGED_AT: &str = "changed_at";
/// Whether a version waits to be promoted (see [`ViewMeta::staged`]).
pub const STAGED: &str = "staged";
/// Fields set by the store, refused in a definitions file.
pub const SYSTEM_KEYS: [&str; 5] = ["id", FEATURE_SETTINGS, CREATED_AT, CHANGED_AT, STAGED];

/// Whether `s` is an identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Whether `s` looks like a view reference (`name` or `name@N`).
pub fn is_view_ref(s: &str) -> bool {
    let (name, version) = s.split_once('@').unwrap_or((s, "1"));
    is_identifier(name) && version.parse::<u32>().is_ok_and(|v| v >= 1)
}

fn from_table(t: toml::Table) -> Result<ViewMeta, toml::de::Error> {
    ViewMeta::deserialize(toml::Value::Table(t))
}

impl ViewMeta {
    /// Reads the metadata fields of the view `view` of a definitions file
    /// (every field of its table but name, version, entities, ttl and
    /// features). Refuses unknown fields, the store's fields and values of
    /// the wrong type, naming the view and the field.
    pub fn from_definition(view: &str, fields: toml::Table) -> Result<ViewMeta, Error> {
        let subject = || Subject::View(view.to_string());
        for (k, v) in &fields {
            if SYSTEM_KEYS.contains(&k.as_str()) {
                return Err(Error::invalid(
                    subject(),
                    k,
                    format!("`{k}` is assigned by the store; remove it from the definitions"),
                ));
            }
            if !DECLARED.contains(&k.as_str()) {
                return Err(Error::UnknownField {
                    subject: subject(),
                    field: k.clone(),
                    expected: format!(
                        "a feature view takes name, version, entities, ttl, features, {}; put other information in tags = {{ key = \"value\" }}",
                        DECLARED.join(", ")
                    ),
                });
            }
            // One field at a time, so that an error names its field.
            let one = toml::Table::from_iter([(k.clone(), v.clone())]);
            if let Err(e) = from_table(one) {
                return Err(Error::invalid(subject(), k, type_error(k, v, &e)));
            }
        }
        let meta = from_table(fields)
            .map_err(|e| Error::invalid(subject(), "", e.to_string().trim_end().to_string()))?;
        meta.check(&subject())?;
        Ok(meta)
    }

    /// The rules the field types do not express: `max_versions` ≥ 1,
    /// `inputs` are view names, and the aggregation fields belong to
    /// aggregation views.
    pub fn check(&self, subject: &Subject) -> Result<(), Error> {
        let bad = |field: &str, v: toml::Value, expected: &str| {
            Error::invalid(
                subject.clone(),
                field,
                format!("{field} = {v} is not valid; expected {expected}"),
            )
        };
        if self.serving_version == Some(0) {
            return Err(bad(
                "serving_version",
                toml::Value::Integer(0),
                "a version of the view (at least 1)",
            ));
        }
        if self.max_versions == Some(0) {
            return Err(bad(
                "max_versions",
                toml::Value::Integer(0),
                expected("max_versions"),
            ));
        }
        if let Some(inputs) = &self.inputs
            && !inputs.iter().all(|i| is_view_ref(i))
        {
            return Err(bad("inputs", strings(inputs), expected("inputs")));
        }
        if self.derived.is_none() && self.request.is_some() {
            return Err(Error::invalid(
                subject.clone(),
                REQUEST,
                "request applies only to derived views (views with derived = [...])",
            ));
        }
        if self.derived.is_some() && self.aggregations.is_some() {
            return Err(Error::invalid(
                subject.clone(),
                DERIVED,
                "a view has either aggregations or derived features; declare them in two views",
            ));
        }
        if self.aggregations.is_none()
            && let Some(k) = self.aggregation_fields().first()
        {
            return Err(Error::invalid(
                subject.clone(),
                k,
                format!("{k} applies only to aggregation views (views with aggregations = [...])"),
            ));
        }
        Ok(())
    }

    /// The aggregation-only fields that are set.
    fn aggregation_fields(&self) -> Vec<&'static str> {
        let set = [
            self.aggregations.is_some(),
            self.tile.is_some(),
            self.allowed_lateness.is_some(),
            self.late_events.is_some(),
            self.session_gap.is_some(),
        ];
        AGGREGATION_ONLY
            .iter()
            .zip(set)
            .filter_map(|(k, s)| s.then_some(*k))
            .collect()
    }

    /// The metadata as a TOML table, keyed as in a definitions file, with
    /// durations in their shortest form: for display and for the catalog
    /// file.
    pub fn to_table(&self) -> toml::Table {
        use toml::Value as V;
        let mut t = self.legacy.clone();
        let mut put = |k: &str, v: Option<V>| {
            if let Some(v) = v {
                t.insert(k.to_string(), v);
            }
        };
        let text = |s: &Option<String>| s.clone().map(V::String);
        let dur = |d: Option<Duration>| d.map(|d| V::String(d.to_string()));
        put("description", text(&self.description));
        put("owner", text(&self.owner));
        put("team", text(&self.team));
        put(
            "tags",
            self.tags.as_ref().map(|t| match t {
                Tags::List(l) => strings(l),
                Tags::Table(m) => V::Table(
                    m.iter()
                        .map(|(k, v)| (k.clone(), V::String(v.clone())))
                        .collect(),
                ),
            }),
        );
        put("freshness_sla", dur(self.freshness_sla));
        put("source", text(&self.source));
        put("inputs", self.inputs.as_deref().map(strings));
        put("online", self.online.map(V::Boolean));
        put("expose_sources", self.expose_sources.map(V::Boolean));
        put("retention", dur(self.retention));
        put(
            "max_versions",
            self.max_versions.map(|n| V::Integer(n.into())),
        );
        put("quality", self.quality.map(|q| V::String(q.name().into())));
        put(
            AGGREGATIONS,
            self.aggregations
                .as_ref()
                .map(|a| V::Array(a.iter().cloned().map(V::Table).collect())),
        );
        put("tile", dur(self.tile));
        put("allowed_lateness", dur(self.allowed_lateness));
        put(
            "late_events",
            self.late_events.map(|p| V::String(p.name().into())),
        );
        put(SESSION_GAP, dur(self.session_gap));
        put(
            "serving_version",
            self.serving_version.map(|n| V::Integer(n.into())),
        );
        put(STAGED, self.staged.map(V::Boolean));
        let tables = |t: &Option<Vec<toml::Table>>| {
            t.as_ref()
                .map(|a| V::Array(a.iter().cloned().map(V::Table).collect()))
        };
        put(DERIVED, tables(&self.derived));
        put(REQUEST, tables(&self.request));
        put(CREATED_AT, self.created_at.map(V::Integer));
        put(CHANGED_AT, self.changed_at.map(V::Integer));
        put(
            FEATURE_SETTINGS,
            self.feature_settings.as_ref().map(|s| {
                V::Table(
                    s.iter()
                        .map(|(k, v)| (k.clone(), V::Table(v.clone())))
                        .collect(),
                )
            }),
        );
        t
    }
}

fn strings(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
}

/// What a field's value must be, for messages.
fn expected(field: &str) -> &'static str {
    match field {
        "online" | "expose_sources" => "true or false",
        "quality" => "\"reject\" or \"warn\"",
        "late_events" => "\"reject\" or \"correct\"",
        AGGREGATIONS => "an array of aggregation tables",
        DERIVED => "an array of tables such as { name = \"range\", expr = \"a - b\" }",
        REQUEST => "an array of tables such as { name = \"amount\", type = \"float64\" }",
        "inputs" => "an array of view names such as [\"user_stats\", \"orders@2\"]",
        "max_versions" => "an integer of at least 1",
        "serving_version" => "a version of the view (an integer of at least 1)",
        "tags" => "an array of strings or a table of strings",
        _ => "a string",
    }
}

/// Why `field = v` does not fit its type.
fn type_error(field: &str, v: &toml::Value, e: &toml::de::Error) -> String {
    match field {
        "freshness_sla" | "retention" | "tile" | "allowed_lateness" | SESSION_GAP => {
            match duration::from_toml(v) {
                Err(d) => format!("{field}: {d}"),
                Ok(_) => format!("{field}: {}", e.to_string().trim_end()),
            }
        }
        _ => format!("{field} = {v} is not valid; expected {}", expected(field)),
    }
}

/// The catalog file's form of [`ViewMeta`]: one object keyed by field name
/// ([`ViewMeta::to_table`]). Reading keeps unknown fields in
/// [`ViewMeta::legacy`] (catalogs written before they were refused).
pub mod persisted {
    use super::{DECLARED, SYSTEM_KEYS, ViewMeta, from_table};

    pub fn serialize<S: serde::Serializer>(m: &ViewMeta, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&m.to_table(), s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ViewMeta, D::Error> {
        let all: toml::Table = serde::Deserialize::deserialize(d)?;
        let (known, legacy): (toml::Table, toml::Table) = all.into_iter().partition(|(k, _)| {
            DECLARED.contains(&k.as_str()) || (SYSTEM_KEYS.contains(&k.as_str()) && k != "id")
        });
        let mut meta = from_table(known).map_err(|e| {
            serde::de::Error::custom(format!("metadata: {}", e.to_string().trim_end()))
        })?;
        meta.legacy = legacy;
        Ok(meta)
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
