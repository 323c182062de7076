//! The registry as JSON, in the shape `strata registry ... --json` prints
//! and the Python SDK returns (as dicts): one rendering for both. Values
//! come from [`crate::registry`] (what the server answers too) plus what
//! only a local catalog knows (ids, times, policies, last ingest).

use serde_json::{Value as Json, json};

use crate::catalog::meta::value_text;
use crate::catalog::search::{self, Query};
use crate::catalog::{Catalog, FeatureView, duration, lineage, stats};
use crate::{registry, timestamp};

/// A view's listing entry: the store's summary (the server lists the
/// same), with the id and times of the catalog.
pub fn summary(v: &FeatureView) -> Json {
    let s = registry::summary(v);
    json!({
        "name": s.name, "id": v.id, "version": s.version,
        "entities": s.entities, "features": s.features, "ttl": ttl(v.ttl_micros),
        "online": s.online, "owner": non_empty(&s.owner), "team": non_empty(&s.team),
        "tags": s.tags, "description": s.description,
        "created_at": v.created_at().map(timestamp::format),
        "changed_at": v.changed_at().map(timestamp::format),
    })
}

/// A ttl as text: `unlimited` for 0.
pub fn ttl(micros: i64) -> String {
    if micros == 0 {
        "unlimited".into()
    } else {
        duration::format(micros)
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Every view's listing entry.
pub fn list(cat: &Catalog) -> Json {
    Json::Array(cat.views.iter().map(summary).collect())
}

/// The views a [`Query`] finds: listing entries with what matched.
pub fn search(cat: &Catalog, q: &Query) -> Json {
    Json::Array(
        search::search(cat, q)
            .iter()
            .map(|h| {
                let mut s = summary(h.view);
                s["matched"] = json!(h.reasons);
                s
            })
            .collect(),
    )
}

/// A view's source, upstream and downstream views.
pub fn lineage(cat: &Catalog, v: &FeatureView) -> Json {
    json!({
        "view": v.qualified_name(), "source": lineage::source_text(cat, v),
        "upstream": lineage::upstream(cat, v), "downstream": lineage::downstream(cat, v),
    })
}

/// A view's description: its listing entry, policies, keys and features
/// (as the server's Describe has them) and its last ingest.
pub fn describe(cat: &Catalog, v: &FeatureView, last: Option<&stats::IngestStats>) -> Json {
    let mut j = summary(v);
    let policy = v.policy();
    j["retention"] = json!(policy.retention.map(duration::format));
    j["max_versions"] = json!(policy.max_versions);
    j["freshness_sla"] = json!(v.freshness_sla_micros().map(duration::format));
    j["source"] = json!(lineage::source_text(cat, v));
    j["inputs"] = json!(v.inputs());
    j["quality"] = json!(v.quality_policy().name());
    let d = registry::describe(cat, v);
    j["join_keys"] = json!(
        d.join_keys
            .iter()
            .map(|(name, ty)| json!({"name": name, "type": ty.name()}))
            .collect::<Vec<_>>()
    );
    j["features"] = json!(
        d.features
            .iter()
            .enumerate()
            .map(|(i, f)| json!({
                "name": f.name, "type": f.ty.name(), "description": f.description, "tags": f.tags,
                "default": v.feature_default(i).map(|d| value_text(&d)),
                "expectations": v.expectations(i).describe(),
            }))
            .collect::<Vec<_>>()
    );
    j["last_ingest"] = json!(last);
    j
}
