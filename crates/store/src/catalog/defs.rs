//! The definitions file (`strata apply DEFS.toml`) and how it changes a
//! catalog.
//!
//! ```toml
//! [[entities]]
//! name = "user"
//! join_keys = [{ name = "user_id", type = "int64" }]
//! description = "optional"
//!
//! [[feature_views]]
//! name = "user_stats"
//! entities = ["user"]
//! ttl = "30d"            # 0 (the default) = unlimited
//! features = [
//!   { name = "amount_avg", type = "float64" },
//!   { name = "txn_count",  type = "int64", description = "optional", tags = ["optional"] },
//! ]
//! owner = "risk-team"    # any other field is kept as metadata
//! ```
//!
//! Rules checked by [`parse`]:
//! - names of entities, join keys, views and features are identifiers
//!   (`[A-Za-z_][A-Za-z0-9_]*`);
//! - entity names are unique; a view's `(name, version)` is unique (two
//!   versions of one view may be declared side by side);
//! - every entity has at least one join key, of type `int64` or `string`;
//! - every entity a view names is declared in the same file;
//! - the join-key names of a view's entities do not collide; features have
//!   known types, unique names, and none is named like a join key of the
//!   view or `event_timestamp` / `created_timestamp`;
//! - `version` is at least 1 (default 1); `ttl` is a duration
//!   ([`super::duration`]) or an integer of seconds;
//! - the metadata fields Strata knows are checked for type: `description`,
//!   `owner`, `team`, `source` (strings), `online` (bool), `tags` (strings,
//!   as an array or a table), `freshness_sla` and `retention` (durations),
//!   `max_versions` (an integer ≥ 1), `inputs` (view names), `quality`
//!   (`"reject"` or `"warn"`). Other fields are kept as written; `id`,
//!   `created_at`, `changed_at` and `feature_settings` are the store's;
//! - a feature may also declare `default` and the expectations `not_null`,
//!   `min`, `max`, `allowed`, `max_null_fraction`, checked against its type
//!   (see [`super::meta`]); any other field of a feature is refused.
//!
//! A view with `aggregations` is an aggregation view: see
//! [`super::aggregation`] for its fields and rules.
//!
//! `plan` also checks lineage ([`super::lineage`]): every view named by a
//! `source` or `inputs` exists, and no view reads itself, even indirectly.
//!
//! Evolution rules checked by [`plan`] against the current catalog:
//! - a view with a new `(name, version)` gets the next view id;
//! - an existing `(name, version)` keeps its id; features may be appended at
//!   the end (older rows read them as null); removing, renaming or
//!   reordering features, changing a feature's type or the view's entities
//!   is refused: declare a new `version` instead, which is a new view with
//!   its own id and data;
//! - an entity's join-key types may not change while views use it;
//! - views and entities absent from the file are **kept**: applying a file
//!   never removes anything (removal will be an explicit command);
//! - a new view gets `created_at` and `changed_at` (µs); an existing one
//!   keeps `created_at`, and `changed_at` moves when anything changed.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::duration::{self, Duration};
use super::meta;
use super::{Entity, Feature, FeatureView, JoinKey};
use strata_format::schema::{FeatureType, KeyType};

#[path = "defs_evolve.rs"]
mod evolve;
pub use evolve::{Change, Plan, apply, plan, plan_at};

/// Column names every input and export has besides join keys and features.
pub const RESERVED_COLUMNS: [&str; 2] = ["event_timestamp", "created_timestamp"];

/// The validated content of a definitions file. Views have `id = 0` until
/// [`apply`] assigns them one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definitions {
    pub entities: Vec<Entity>,
    pub views: Vec<FeatureView>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    entities: Vec<RawEntity>,
    #[serde(default)]
    feature_views: Vec<RawView>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an entity table with name and join_keys"
)]
struct RawEntity {
    name: String,
    #[serde(default)]
    join_keys: Vec<RawColumn>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a join key such as { name = \"user_id\", type = \"int64\" }"
)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

#[derive(Deserialize)]
#[serde(expecting = "a feature such as { name = \"txn_count\", type = \"int64\" }")]
struct RawFeature {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    /// `default` and the expectations ([`super::meta`]); anything else is refused.
    #[serde(flatten)]
    settings: toml::Table,
}

#[derive(Deserialize)]
#[serde(expecting = "a feature view table with name, entities and features")]
struct RawView {
    name: String,
    #[serde(default)]
    entities: Vec<String>,
    ttl: Option<Duration>,
    version: Option<i64>,
    #[serde(default)]
    features: Vec<RawFeature>,
    #[serde(flatten)]
    metadata: toml::Table,
}

/// Reads and validates a definitions file.
pub fn load(path: &Path) -> Result<Definitions, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the definitions file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("definitions file {}: {e}", path.display()))
}

/// Parses and validates the text of a definitions file.
pub fn parse(text: &str) -> Result<Definitions, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    let mut entities = Vec::with_capacity(raw.entities.len());
    for e in raw.entities {
        let what = format!("entity {:?}", e.name);
        let mut join_keys = Vec::with_capacity(e.join_keys.len());
        for k in e.join_keys {
            let ty = KeyType::parse(&k.ty).ok_or_else(|| {
                format!(
                    "{what}: join key {:?} has the unknown type {:?}; use int64 or string",
                    k.name, k.ty
                )
            })?;
            join_keys.push(JoinKey { name: k.name, ty });
        }
        entities.push(Entity {
            name: e.name,
            join_keys,
            description: e.description,
        });
    }
    let mut views = Vec::with_capacity(raw.feature_views.len());
    for v in raw.feature_views {
        let what = format!("feature view {:?}", v.name);
        let version = match v.version {
            None => 1,
            Some(n) => u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                format!("{what}: version = {n}; a version is an integer from 1 up")
            })?,
        };
        let mut metadata = v.metadata;
        if let Some(k) = meta::SYSTEM_KEYS
            .iter()
            .find(|k| metadata.contains_key(**k))
        {
            return Err(format!(
                "{what}: `{k}` is assigned by the store; remove it from the definitions"
            ));
        }
        let mut settings = toml::Table::new();
        let mut features = Vec::with_capacity(v.features.len());
        for f in v.features {
            let ty = FeatureType::parse(&f.ty).ok_or_else(|| {
                let known: Vec<_> = FeatureType::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "{what}: feature {:?} has the unknown type {:?}; use one of {}",
                    f.name,
                    f.ty,
                    known.join(", ")
                )
            })?;
            let feature = Feature {
                name: f.name,
                ty,
                description: f.description,
                tags: f.tags,
            };
            if let Some(t) =
                meta::feature_settings(&feature, &f.settings).map_err(|e| format!("{what}: {e}"))?
            {
                settings.insert(feature.name.clone(), toml::Value::Table(t));
            }
            features.push(feature);
        }
        check_metadata(&what, &metadata)?;
        if !settings.is_empty() {
            metadata.insert(meta::FEATURE_SETTINGS.into(), toml::Value::Table(settings));
        }
        views.push(FeatureView {
            id: 0,
            name: v.name,
            version,
            entities: v.entities,
            ttl_micros: v.ttl.map_or(0, |d| d.micros),
            features,
            metadata,
        });
    }
    let snapshot = views.clone();
    for v in views.iter_mut().filter(|v| v.is_aggregation()) {
        super::aggregation::complete(v, &snapshot)?;
    }
    let defs = Definitions { entities, views };
    validate(&defs)?;
    Ok(defs)
}

/// Whether `s` is an identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn identifier(what: &str, kind: &str, name: &str) -> Result<(), String> {
    if is_identifier(name) {
        return Ok(());
    }
    Err(format!(
        "{what}: the {kind} name {name:?} is not an identifier; use letters, digits and _ and start with a letter or _"
    ))
}

/// Checks the rules listed in the module docs that need no catalog.
pub fn validate(defs: &Definitions) -> Result<(), String> {
    let mut seen = HashSet::new();
    for e in &defs.entities {
        let what = format!("entity {:?}", e.name);
        identifier(&what, "entity", &e.name)?;
        if !seen.insert(e.name.as_str()) {
            return Err(format!("{what} is declared twice; keep one declaration"));
        }
        if e.join_keys.is_empty() {
            return Err(format!(
                "{what} has no join keys; add join_keys = [{{ name = \"{}_id\", type = \"int64\" }}]",
                e.name
            ));
        }
        let mut keys = HashSet::new();
        for k in &e.join_keys {
            identifier(&what, "join key", &k.name)?;
            if !keys.insert(k.name.as_str()) {
                return Err(format!("{what}: join key {:?} appears twice", k.name));
            }
            if RESERVED_COLUMNS.contains(&k.name.as_str()) {
                return Err(format!(
                    "{what}: {:?} is reserved for the timestamp columns; rename the join key",
                    k.name
                ));
            }
        }
    }
    let mut seen = HashSet::new();
    for v in &defs.views {
        let what = format!("feature view {:?}", v.name);
        identifier(&what, "feature view", &v.name)?;
        if v.version == 0 {
            return Err(format!(
                "{what}: version = 0; a version is an integer from 1 up"
            ));
        }
        if !seen.insert((v.name.as_str(), v.version)) {
            return Err(format!(
                "{what} version {} is declared twice; keep one or give the other a new version",
                v.version
            ));
        }
        if v.ttl_micros < 0 {
            return Err(format!("{what}: ttl cannot be negative"));
        }
        if v.entities.is_empty() {
            return Err(format!(
                "{what} names no entities; add e.g. entities = [\"user\"]"
            ));
        }
        let mut key_names: Vec<(&str, &str)> = Vec::new();
        for (i, name) in v.entities.iter().enumerate() {
            if v.entities[..i].contains(name) {
                return Err(format!("{what}: entity {name:?} is listed twice"));
            }
            let Some(e) = defs.entities.iter().find(|e| &e.name == name) else {
                return Err(format!(
                    "{what} uses the entity {name:?}, which this file does not declare; add an [[entities]] table named {name:?} or fix the name"
                ));
            };
            for k in &e.join_keys {
                if let Some((_, other)) = key_names.iter().find(|(n, _)| *n == k.name) {
                    return Err(format!(
                        "{what}: entities {other:?} and {name:?} both have a join key named {:?}; the view's key columns must have distinct names",
                        k.name
                    ));
                }
                key_names.push((&k.name, name));
            }
        }
        if v.features.is_empty() {
            return Err(format!(
                "{what} has no features; add features = [{{ name = \"...\", type = \"float64\" }}]"
            ));
        }
        let mut names = HashSet::new();
        for f in &v.features {
            identifier(&what, "feature", &f.name)?;
            if !names.insert(f.name.as_str()) {
                return Err(format!("{what}: feature {:?} is declared twice", f.name));
            }
            if RESERVED_COLUMNS.contains(&f.name.as_str()) {
                return Err(format!(
                    "{what}: a feature cannot be named {:?} (a reserved column); rename it",
                    f.name
                ));
            }
            if let Some((_, ent)) = key_names.iter().find(|(n, _)| *n == f.name) {
                return Err(format!(
                    "{what}: feature {:?} has the name of a join key of entity {ent:?}; rename the feature",
                    f.name
                ));
            }
        }
        check_metadata(&what, &v.metadata)?;
    }
    Ok(())
}

/// Type checks of the metadata fields Strata knows.
fn check_metadata(what: &str, m: &toml::Table) -> Result<(), String> {
    if !m.contains_key(super::aggregation::AGGREGATIONS)
        && let Some(k) = super::aggregation::KEYS
            .iter()
            .find(|k| m.contains_key(**k))
    {
        return Err(format!(
            "{what}: {k} applies only to aggregation views (views with aggregations = [...])"
        ));
    }
    for (k, v) in m {
        let ok = match k.as_str() {
            "id" => {
                return Err(format!(
                    "{what}: `id` is assigned by the store; remove it from the definitions"
                ));
            }
            "description" | "owner" | "team" | "source" => v.is_str(),
            "online" => v.is_bool(),
            "quality" => matches!(v.as_str(), Some("reject" | "warn")),
            "late_events" => matches!(v.as_str(), Some("reject" | "correct")),
            super::aggregation::AGGREGATIONS => v.is_array(),
            "inputs" => v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(meta::is_view_ref))),
            meta::CREATED_AT | meta::CHANGED_AT => v.is_integer(),
            meta::FEATURE_SETTINGS => v.is_table(),
            "max_versions" => v.as_integer().is_some_and(|n| n >= 1),
            "tags" => match v {
                toml::Value::Array(a) => a.iter().all(toml::Value::is_str),
                toml::Value::Table(t) => t.values().all(toml::Value::is_str),
                _ => false,
            },
            "freshness_sla" | "retention" | "allowed_lateness" | "tile" => {
                duration::from_toml(v).map_err(|e| format!("{what}: {k}: {e}"))?;
                true
            }
            _ => true,
        };
        if !ok {
            let expected = match k.as_str() {
                "online" => "true or false",
                "quality" => "\"reject\" or \"warn\"",
                "late_events" => "\"reject\" or \"correct\"",
                super::aggregation::AGGREGATIONS => "an array of aggregation tables",
                "inputs" => "an array of view names such as [\"user_stats\", \"orders@2\"]",
                meta::CREATED_AT | meta::CHANGED_AT => "an integer of microseconds",
                meta::FEATURE_SETTINGS => "a table",
                "max_versions" => "an integer of at least 1",
                "tags" => "an array of strings or a table of strings",
                _ => "a string",
            };
            return Err(format!(
                "{what}: {k} = {v} is not valid; expected {expected}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "defs_tests.rs"]
mod tests;
