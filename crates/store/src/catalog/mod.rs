//! The registry: entities and feature views.
//!
//! Definitions come from a TOML file (`strata apply`, see [`defs`]), are
//! given stable numeric view ids here, and are persisted in the store
//! directory's `catalog` file ([`persist`]). The engine knows views only by
//! id; everything that speaks names goes through a [`Catalog`].
//!
//! The registry's other parts: the metadata a view may declare
//! ([`metadata`], typed, and [`meta`]: what it means, defaults,
//! expectations), [`search`], [`lineage`] between views, the data-quality
//! checks of ingest ([`quality`]) and the statistics of each view's last
//! ingest ([`stats`]). Every failure is an [`Error`].
//!
//! Dependencies inside the catalog point one way: [`duration`] and
//! [`error`] <- [`metadata`] <- this module's types <- [`meta`] <-
//! [`aggregation`], [`lineage`], [`search`], [`quality`] <- [`defs`];
//! [`persist`] and [`stats`] read and write files.

pub mod aggregation;
pub mod aggregation_bucket;
mod aggregation_entry;
pub mod aggregation_params;
pub mod defs;
pub mod derived;
pub mod duration;
pub mod error;
pub mod lineage;
pub mod meta;
pub mod metadata;
pub mod persist;
pub mod quality;
pub mod search;
pub mod session;
pub mod settings;
pub mod stats;

#[cfg(test)]
mod serving_tests;
#[cfg(test)]
pub(crate) mod test_support;

use strata_format::key::ViewId;
use strata_format::schema::{FeatureType, KeyType};

pub use error::{Error, Result, Subject};
pub use metadata::ViewMeta;

/// One join-key column of an entity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinKey {
    pub name: String,
    #[serde(with = "key_type_name")]
    pub ty: KeyType,
}

/// A named key type, e.g. `user` keyed by `user_id: int64`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entity {
    pub name: String,
    pub join_keys: Vec<JoinKey>,
    #[serde(default)]
    pub description: String,
}

/// One feature of a view.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(with = "feature_type_name")]
    pub ty: FeatureType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A named group of features about one or more entities.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureView {
    /// Stable id used in the engine's keys; never reused within a store.
    pub id: ViewId,
    pub name: String,
    /// Schema version (`name@version`); 1 unless declared.
    pub version: u32,
    /// Entity names, in key order: the view's key is their join keys concatenated.
    pub entities: Vec<String>,
    /// Max age of a value that may be served or joined, µs; 0 = unlimited.
    pub ttl_micros: i64,
    pub features: Vec<Feature>,
    /// Every other declared field (description, owner, team, tags,
    /// freshness_sla, source, online, retention, ...), typed.
    #[serde(default, with = "metadata::persisted")]
    pub metadata: ViewMeta,
}

impl FeatureView {
    /// The feature types in schema order, as rows are encoded.
    pub fn schema(&self) -> Vec<FeatureType> {
        self.features.iter().map(|f| f.ty).collect()
    }

    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// How compaction prunes this view's history: its `retention` and
    /// `max_versions` metadata (validated when the definitions were applied;
    /// retention `0` means forever).
    pub fn policy(&self) -> strata_engine::ViewPolicy {
        let retention = self.metadata.retention.map(|d| d.micros).filter(|&r| r > 0);
        let max_versions = self.metadata.max_versions.filter(|&n| n > 0);
        strata_engine::ViewPolicy {
            retention,
            max_versions,
        }
    }

    /// `name@version`, always: the reference [`Catalog::view`] resolves to
    /// exactly this view. (A bare `name` means the serving version, so
    /// passing [`FeatureView::qualified_name`] of version 1 back to a
    /// lookup reaches version 2 once that is promoted.)
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// `name` for version 1, `name@N` otherwise: for display.
    pub fn qualified_name(&self) -> String {
        if self.version == 1 {
            self.name.clone()
        } else {
            format!("{}@{}", self.name, self.version)
        }
    }
}

/// All definitions of one store.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    pub entities: Vec<Entity>,
    pub views: Vec<FeatureView>,
    /// The id the next new view gets.
    pub next_view_id: ViewId,
}

impl Catalog {
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    /// A view by `name@version`, or by `name`: its serving version
    /// ([`Catalog::serving`]).
    pub fn view(&self, name: &str) -> Option<&FeatureView> {
        match name.split_once('@') {
            Some((n, v)) => {
                let v: u32 = v.parse().ok()?;
                self.views.iter().find(|x| x.name == n && x.version == v)
            }
            None => self.serving(name),
        }
    }

    /// The version an unversioned `name` reads and writes (docs/DESIGN.md,
    /// "Versions"): the `serving_version` declared on the newest version
    /// that declares one, if that version exists; else the newest version
    /// that is not staged (a version `apply` added beside a served one
    /// stays staged until a `serving_version` promotes it); else the
    /// newest.
    pub fn serving(&self, name: &str) -> Option<&FeatureView> {
        let versions = || self.views.iter().filter(move |x| x.name == name);
        let declared = versions()
            .filter(|x| x.metadata.serving_version.is_some())
            .max_by_key(|x| x.version)
            .and_then(|x| x.metadata.serving_version);
        if let Some(v) = declared.and_then(|n| versions().find(|x| x.version == n)) {
            return Some(v);
        }
        versions()
            .filter(|x| x.metadata.staged != Some(true))
            .max_by_key(|x| x.version)
            .or_else(|| versions().max_by_key(|x| x.version))
    }

    /// [`Catalog::view`], or [`Error::UnknownView`].
    pub fn require_view(&self, name: &str) -> Result<&FeatureView> {
        self.view(name).ok_or_else(|| Error::UnknownView {
            name: name.to_string(),
        })
    }

    /// [`Catalog::entity`], or [`Error::UnknownEntity`].
    pub fn require_entity(&self, name: &str) -> Result<&Entity> {
        self.entity(name).ok_or_else(|| Error::UnknownEntity {
            name: name.to_string(),
        })
    }

    pub fn view_by_id(&self, id: ViewId) -> Option<&FeatureView> {
        self.views.iter().find(|v| v.id == id)
    }

    /// The join keys of a view: its entities' join keys, concatenated.
    pub fn key_columns(&self, view: &FeatureView) -> Vec<JoinKey> {
        view.entities
            .iter()
            .filter_map(|e| self.entity(e))
            .flat_map(|e| e.join_keys.iter().cloned())
            .collect()
    }
}

/// A serde module (for `#[serde(with)]`) that writes a `$ty` by its name
/// and reads it back, refusing an unknown name as not a `$what`, one of
/// `$names`.
macro_rules! by_name {
    ($module:ident, $ty:ident, $what:literal, $names:literal) => {
        mod $module {
            use strata_format::schema::$ty;
            pub fn serialize<S: serde::Serializer>(t: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(t.name())
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let n: String = serde::Deserialize::deserialize(d)?;
                $ty::parse(&n).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {n:?} ({})", $what, $names))
                })
            }
        }
    };
}

by_name!(key_type_name, KeyType, "join key type", "int64 or string");
by_name!(
    feature_type_name,
    FeatureType,
    "feature type",
    "int64, float64, float32, bool, string, bytes, timestamp, list<float32>, list<string>, list<int64>, list<float64>, map<string,int64>"
);
