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
//! owner = "risk-team"    # metadata: see below; unknown fields are refused
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
//! - the metadata fields are read into a [`ViewMeta`] and checked for type:
//!   `description`, `owner`, `team`, `source` (strings), `online` and
//!   `expose_sources` (bools),
//!   `tags` (strings, as an array or a table), `freshness_sla` and
//!   `retention` (durations), `max_versions` (an integer ≥ 1), `inputs`
//!   (view names), `quality` (`"reject"` or `"warn"`), and the fields of
//!   aggregation views. Any other field is refused, naming the view and the
//!   field (free-form information goes in `tags = { key = "value" }`); `id`,
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::duration::Duration;
use super::error::{Error, Result, Subject};
use super::metadata::ViewMeta;
use super::settings;
use super::{Entity, Feature, FeatureView, JoinKey};
use strata_format::schema::{FeatureType, KeyType};

#[path = "defs_evolve.rs"]
mod evolve;
pub use super::metadata::is_identifier;
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
    /// `default` and the expectations ([`super::settings`]); anything else is refused.
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
    /// Read by [`ViewMeta::from_definition`], which refuses unknown fields.
    #[serde(flatten)]
    metadata: toml::Table,
}

/// Reads and validates a definitions file.
pub fn load(path: &Path) -> Result<Definitions> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io("read the definitions file", path))?;
    parse(&text).map_err(|e| Error::InFile {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Parses and validates the text of a definitions file.
pub fn parse(text: &str) -> Result<Definitions> {
    let raw: RawFile = toml::from_str(text).map_err(Error::Toml)?;
    let mut entities = Vec::with_capacity(raw.entities.len());
    for e in raw.entities {
        let mut join_keys = Vec::with_capacity(e.join_keys.len());
        for k in e.join_keys {
            let ty = KeyType::parse(&k.ty).ok_or_else(|| {
                Error::invalid(
                    Subject::Entity(e.name.clone()),
                    "join_keys",
                    format!(
                        "join key {:?} has the unknown type {:?}; use int64 or string",
                        k.name, k.ty
                    ),
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
        let subject = || Subject::View(v.name.clone());
        let version = match v.version {
            None => 1,
            Some(n) => u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                Error::invalid(
                    subject(),
                    "version",
                    format!("version = {n}; a version is an integer from 1 up"),
                )
            })?,
        };
        let mut metadata = ViewMeta::from_definition(&v.name, v.metadata)?;
        let mut settings = BTreeMap::new();
        let mut features = Vec::with_capacity(v.features.len());
        for f in v.features {
            let ty = FeatureType::parse(&f.ty).ok_or_else(|| {
                let known: Vec<_> = FeatureType::ALL.iter().map(|t| t.name()).collect();
                Error::invalid(
                    subject(),
                    "features",
                    format!(
                        "feature {:?} has the unknown type {:?}; use one of {}",
                        f.name,
                        f.ty,
                        known.join(", ")
                    ),
                )
            })?;
            let feature = Feature {
                name: f.name,
                ty,
                description: f.description,
                tags: f.tags,
            };
            if let Some(t) = settings::feature_settings(&v.name, &feature, &f.settings)? {
                settings.insert(feature.name.clone(), t);
            }
            features.push(feature);
        }
        if !settings.is_empty() {
            metadata.feature_settings = Some(settings);
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
    for i in super::derived::order(&views)? {
        let snapshot = views.clone();
        super::derived::complete(&mut views[i], &snapshot)?;
    }
    let defs = Definitions { entities, views };
    validate(&defs)?;
    Ok(defs)
}

/// Checks the name of a column declared in `field` (`join_keys` or
/// `features`): an identifier, not one `seen` before in the list, not a
/// reserved column.
fn column_name<'a>(
    subject: &Subject,
    field: &'static str,
    name: &'a str,
    seen: &mut HashSet<&'a str>,
) -> Result<()> {
    let join_key = field == "join_keys";
    identifier(subject, if join_key { "join key" } else { "feature" }, name)?;
    let why = if !seen.insert(name) {
        if join_key {
            format!("join key {name:?} appears twice")
        } else {
            format!("feature {name:?} is declared twice")
        }
    } else if RESERVED_COLUMNS.contains(&name) {
        if join_key {
            format!("{name:?} is reserved for the timestamp columns; rename the join key")
        } else {
            format!("a feature cannot be named {name:?} (a reserved column); rename it")
        }
    } else {
        return Ok(());
    };
    Err(Error::invalid(subject.clone(), field, why))
}

fn identifier(subject: &Subject, kind: &str, name: &str) -> Result<()> {
    if is_identifier(name) {
        return Ok(());
    }
    Err(Error::invalid(
        subject.clone(),
        "name",
        format!(
            "the {kind} name {name:?} is not an identifier; use letters, digits and _ and start with a letter or _"
        ),
    ))
}

/// Checks the rules listed in the module docs that need no catalog.
pub fn validate(defs: &Definitions) -> Result<()> {
    let mut seen = HashSet::new();
    for e in &defs.entities {
        let subject = Subject::Entity(e.name.clone());
        identifier(&subject, "entity", &e.name)?;
        if !seen.insert(e.name.as_str()) {
            return Err(Error::Duplicate {
                subject,
                reason: "is declared twice; keep one declaration".into(),
            });
        }
        if e.join_keys.is_empty() {
            return Err(Error::Missing {
                subject,
                field: "join_keys",
                reason: format!(
                    "has no join keys; add join_keys = [{{ name = \"{}_id\", type = \"int64\" }}]",
                    e.name
                ),
            });
        }
        let mut keys = HashSet::new();
        for k in &e.join_keys {
            column_name(&subject, "join_keys", &k.name, &mut keys)?;
        }
    }
    let mut seen = HashSet::new();
    for v in &defs.views {
        validate_view(defs, v, &mut seen)?;
    }
    Ok(())
}

fn validate_view<'a>(
    defs: &'a Definitions,
    v: &'a FeatureView,
    seen: &mut HashSet<(&'a str, u32)>,
) -> Result<()> {
    let subject = Subject::View(v.name.clone());
    let bad = |field: &str, reason: String| Error::invalid(subject.clone(), field, reason);
    identifier(&subject, "feature view", &v.name)?;
    if v.version == 0 {
        return Err(bad(
            "version",
            "version = 0; a version is an integer from 1 up".into(),
        ));
    }
    if !seen.insert((v.name.as_str(), v.version)) {
        return Err(Error::Duplicate {
            subject,
            reason: format!(
                "version {} is declared twice; keep one or give the other a new version",
                v.version
            ),
        });
    }
    if v.ttl_micros < 0 {
        return Err(bad("ttl", "ttl cannot be negative".into()));
    }
    if v.entities.is_empty() {
        return Err(Error::Missing {
            subject,
            field: "entities",
            reason: "names no entities; add e.g. entities = [\"user\"]".into(),
        });
    }
    let mut key_names: HashMap<&str, &str> = HashMap::new();
    for (i, name) in v.entities.iter().enumerate() {
        if v.entities[..i].contains(name) {
            return Err(bad("entities", format!("entity {name:?} is listed twice")));
        }
        let Some(e) = defs.entities.iter().find(|e| &e.name == name) else {
            return Err(Error::UndeclaredEntity {
                view: v.name.clone(),
                entity: name.clone(),
            });
        };
        for k in &e.join_keys {
            let key = k.name.as_str();
            if let Some(other) = key_names.insert(key, name.as_str()) {
                let why = format!(
                    "entities {other:?} and {name:?} both have a join key named {key:?}; the view's key columns must have distinct names"
                );
                return Err(bad("entities", why));
            }
        }
    }
    if v.features.is_empty() {
        return Err(Error::Missing {
            subject,
            field: "features",
            reason: "has no features; add features = [{ name = \"...\", type = \"float64\" }]"
                .into(),
        });
    }
    let mut names = HashSet::new();
    for f in &v.features {
        column_name(&subject, "features", &f.name, &mut names)?;
        if let Some(ent) = key_names.get(f.name.as_str()) {
            let why = format!(
                "feature {:?} has the name of a join key of entity {ent:?}; rename the feature",
                f.name
            );
            return Err(bad("features", why));
        }
    }
    v.metadata.check(&subject)
}

#[cfg(test)]
#[path = "defs_tests.rs"]
mod tests;
