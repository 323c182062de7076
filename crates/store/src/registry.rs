//! The registry as every surface shows it: a listing, a view's description
//! and a text search, computed from the catalog once and answered as the
//! protocol's types, so the server's `RegistryList`, `Describe` and
//! `Search` answers and the CLI's `registry` command read the same values.
//!
//! Visibility is the caller's: the server passes "the token may read it",
//! the local CLI "everything". Entities are always listed.
//!
//! The text search ([`search`]) is the protocol's: a case-insensitive
//! substring of entity names and descriptions, of view names,
//! descriptions, tags, team and owner, and of feature names, descriptions
//! and tags; one hit per entity, view or feature, with the first field
//! that matched. (`strata registry search`'s criteria — tag, team, owner,
//! entity — are [`crate::catalog::search`].)

use strata_format::protocol::{
    EntityInfo, FeatureInfo, HitKind, RegistryList, SearchHit, ViewDescription, ViewSummary,
};

use crate::catalog::stats::IngestStats;
use crate::catalog::{Catalog, Feature, FeatureView, lineage};

/// A view name that is not in the catalog; the message lists the views
/// that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature view {name:?}; this store has: {known}")]
pub struct UnknownView {
    pub name: String,
    /// [`known_views`] of the store.
    pub known: String,
}

/// The views of a store as an error message lists them.
pub fn known_views(cat: &Catalog) -> String {
    if cat.views.is_empty() {
        return "no views yet (declare them with `strata apply`)".to_string();
    }
    let names: Vec<String> = cat.views.iter().map(FeatureView::qualified_name).collect();
    names.join(", ")
}

/// The view `name` or `name@version`.
pub fn find_view<'a>(cat: &'a Catalog, name: &str) -> Result<&'a FeatureView, UnknownView> {
    cat.view(name).ok_or_else(|| UnknownView {
        name: name.to_string(),
        known: known_views(cat),
    })
}

/// Hits a search returns at most.
pub const MAX_HITS: usize = 1000;

/// A view as a listing shows it.
pub fn summary(v: &FeatureView) -> ViewSummary {
    ViewSummary {
        name: v.qualified_name(),
        version: v.version,
        entities: v.entities.clone(),
        features: v.features.len() as u32,
        ttl_micros: v.ttl_micros,
        description: v.description().to_string(),
        owner: v.owner().unwrap_or_default().to_string(),
        team: v.team().unwrap_or_default().to_string(),
        tags: v.tags(),
        online: v.online(),
        id: v.id,
        created_at: v.created_at(),
        changed_at: v.changed_at(),
    }
}

/// Every entity, and the views `visible` accepts, in catalog order.
pub fn list(cat: &Catalog, visible: impl Fn(&FeatureView) -> bool) -> RegistryList {
    RegistryList {
        entities: cat
            .entities
            .iter()
            .map(|e| EntityInfo {
                name: e.name.clone(),
                description: e.description.clone(),
                join_keys: e.join_keys.iter().map(|k| (k.name.clone(), k.ty)).collect(),
            })
            .collect(),
        views: cat
            .views
            .iter()
            .filter(|v| visible(v))
            .map(summary)
            .collect(),
    }
}

/// One view: its key columns, features, every declared field, its
/// versions, source and last ingest (`last`, the store's record).
pub fn describe(cat: &Catalog, v: &FeatureView, last: Option<&IngestStats>) -> ViewDescription {
    ViewDescription {
        name: v.qualified_name(),
        version: v.version,
        entities: v.entities.clone(),
        join_keys: cat
            .key_columns(v)
            .into_iter()
            .map(|k| (k.name, k.ty))
            .collect(),
        ttl_micros: v.ttl_micros,
        features: v
            .features
            .iter()
            .map(|f| FeatureInfo {
                name: f.name.clone(),
                ty: f.ty,
                description: f.description.clone(),
                tags: f.tags.clone(),
            })
            .collect(),
        metadata: v
            .metadata
            .to_table()
            .iter()
            .map(|(k, x)| (k.clone(), x.to_string()))
            .collect(),
        id: v.id,
        versions: cat
            .views
            .iter()
            .filter(|x| x.name == v.name)
            .map(FeatureView::qualified_name)
            .collect(),
        source: lineage::source_text(cat, v),
        last_ingest: last.map_or_else(String::new, |l| {
            serde_json::to_string(l).unwrap_or_default()
        }),
    }
}

/// The view a description describes (name, version, id, ttl, features and
/// every declared field), so that a client prints and checks it as the
/// store it came from would: defaults, expectations, policies.
pub fn view_of(d: &ViewDescription) -> Result<FeatureView, String> {
    let mut meta = toml::Table::new();
    for (k, text) in &d.metadata {
        let one: toml::Table = toml::from_str(&format!("v = {text}"))
            .map_err(|e| format!("field {k} of view {}: {e}", d.name))?;
        if let Some(v) = one.get("v") {
            meta.insert(k.clone(), v.clone());
        }
    }
    let metadata = crate::catalog::metadata::persisted::deserialize(toml::Value::Table(meta))
        .map_err(|e| format!("view {}: {e}", d.name))?;
    Ok(FeatureView {
        id: d.id,
        name: d.name.split('@').next().unwrap_or(&d.name).to_string(),
        version: d.version,
        entities: d.entities.clone(),
        ttl_micros: d.ttl_micros,
        features: d
            .features
            .iter()
            .map(|f| Feature {
                name: f.name.clone(),
                ty: f.ty,
                description: f.description.clone(),
                tags: f.tags.clone(),
            })
            .collect(),
        metadata,
    })
}

/// The last ingest a description carries.
pub fn last_ingest_of(d: &ViewDescription) -> Option<IngestStats> {
    serde_json::from_str(&d.last_ingest).ok()
}

/// Why a search was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("empty search query")]
pub struct EmptyQuery;

/// The entities, and the views and features of views `visible` accepts,
/// matching `query` (see the module docs); at most `limit` hits (`0`, or
/// above [`MAX_HITS`]: [`MAX_HITS`]).
pub fn search(
    cat: &Catalog,
    query: &str,
    limit: u32,
    visible: impl Fn(&FeatureView) -> bool,
) -> Result<Vec<SearchHit>, EmptyQuery> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Err(EmptyQuery);
    }
    let limit = match limit {
        0 => MAX_HITS,
        n => (n as usize).min(MAX_HITS),
    };
    let has = |text: &str| text.to_lowercase().contains(&q);
    let any = |v: &[String]| v.iter().any(|x| has(x));
    let mut hits = Vec::new();
    let mut hit = |kind, view: &str, name: &str, matched: &str| {
        hits.push(SearchHit {
            kind,
            view: view.to_string(),
            name: name.to_string(),
            matched: matched.to_string(),
        })
    };
    for e in &cat.entities {
        if has(&e.name) {
            hit(HitKind::Entity, "", &e.name, "name");
        } else if has(&e.description) {
            hit(HitKind::Entity, "", &e.name, "description");
        }
    }
    for v in cat.views.iter().filter(|v| visible(v)) {
        let vname = v.qualified_name();
        let matched = if has(&v.name) {
            Some("name")
        } else if has(v.description()) {
            Some("description")
        } else if any(&v.tags()) {
            Some("tags")
        } else if has(v.team().unwrap_or_default()) {
            Some("team")
        } else if has(v.owner().unwrap_or_default()) {
            Some("owner")
        } else {
            None
        };
        if let Some(m) = matched {
            hit(HitKind::View, &vname, &vname, m);
        }
        for f in &v.features {
            let matched = if has(&f.name) {
                Some("name")
            } else if has(&f.description) {
                Some("description")
            } else if any(&f.tags) {
                Some("tags")
            } else {
                None
            };
            if let Some(m) = matched {
                hit(HitKind::Feature, &vname, &f.name, m);
            }
        }
    }
    hits.truncate(limit);
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::defs;

    fn cat() -> Catalog {
        let d = defs::parse(
            r#"
[[entities]]
name = "user"
description = "a customer"
join_keys = [{ name = "user_id", type = "int64" }]

[[feature_views]]
name = "user_stats"
entities = ["user"]
owner = "alice"
tags = { domain = "payments" }
features = [{ name = "amount", type = "float64", tags = ["pii"] }]

[[feature_views]]
name = "hidden"
entities = ["user"]
team = "risk"
features = [{ name = "score", type = "float32" }]
"#,
        )
        .unwrap();
        defs::apply(&Catalog::default(), &d).unwrap()
    }

    #[test]
    fn list_describe_search() {
        let c = cat();
        let visible = |v: &FeatureView| v.name != "hidden";
        let l = list(&c, visible);
        assert_eq!(l.entities.len(), 1);
        assert_eq!(l.views.len(), 1);
        assert_eq!(l.views[0].tags, ["domain=payments"]);
        assert_eq!(l.views[0].owner, "alice");
        assert!(l.views[0].online);
        let v = c.view("user_stats").unwrap();
        let d = describe(&c, v, None);
        assert_eq!(d.join_keys[0].0, "user_id");
        assert_eq!(d.features[0].tags, ["pii"]);
        assert_eq!(
            (d.id, d.versions.as_slice()),
            (v.id, &["user_stats".to_string()][..])
        );
        assert_eq!(d.last_ingest, "");
        // A client rebuilds the very view from its description: every
        // declared field, defaults and expectations included.
        assert_eq!(&view_of(&d).unwrap(), v);
        let kinds = |q: &str| -> Vec<(HitKind, String, String)> {
            search(&c, q, 0, visible)
                .unwrap()
                .into_iter()
                .map(|h| (h.kind, h.name, h.matched))
                .collect()
        };
        assert_eq!(
            kinds("CUSTOMER"),
            [(HitKind::Entity, "user".into(), "description".into())]
        );
        assert_eq!(
            kinds("payments"),
            [(HitKind::View, "user_stats".into(), "tags".into())]
        );
        assert_eq!(
            kinds("pii"),
            [(HitKind::Feature, "amount".into(), "tags".into())]
        );
        assert!(
            kinds("score").is_empty(),
            "invisible views are not searched"
        );
        assert_eq!(search(&c, "user", 1, visible).unwrap().len(), 1);
        assert_eq!(search(&c, " ", 0, visible), Err(EmptyQuery));
    }
}
