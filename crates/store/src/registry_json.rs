//! The registry as JSON, in the shape `strata registry ... --json` prints
//! and the Python SDK returns (as dicts): one rendering for both. Values
//! come from [`crate::registry`] (what the server answers too) plus what
//! only a local catalog knows (ids, times, policies, last ingest).

use serde_json::{Value as Json, json};

use crate::catalog::meta::value_text;
use crate::catalog::search::{self, Query};
use crate::catalog::{Catalog, FeatureView, duration, lineage};
use crate::{registry, timestamp};
use strata_format::protocol::{RegistryList, ViewDescription, ViewSummary};

/// A view's listing entry: the store's summary, which the server lists
/// too (so a local listing and a server's print the same).
pub fn summary(s: &ViewSummary) -> Json {
    json!({
        "name": s.name, "id": s.id, "version": s.version,
        "entities": s.entities, "features": s.features, "ttl": ttl(s.ttl_micros),
        "online": s.online, "owner": non_empty(&s.owner), "team": non_empty(&s.team),
        "tags": s.tags, "description": s.description,
        "created_at": s.created_at.map(timestamp::format),
        "changed_at": s.changed_at.map(timestamp::format),
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
pub fn list(l: &RegistryList) -> Json {
    Json::Array(l.views.iter().map(summary).collect())
}

/// The views a [`Query`] finds: listing entries with what matched.
pub fn search(cat: &Catalog, q: &Query) -> Json {
    Json::Array(
        search::search(cat, q)
            .iter()
            .map(|h| {
                let mut s = summary(&registry::summary(h.view));
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

/// A view's description: its listing entry, policies, keys, features and
/// last ingest, from the store's description (a server's `Describe`
/// answer, or [`registry::describe`] of a local catalog).
pub fn describe(d: &ViewDescription) -> Result<Json, String> {
    let v = registry::view_of(d)?;
    let mut j = summary(&registry::summary(&v));
    let policy = v.policy();
    j["retention"] = json!(policy.retention.map(duration::format));
    j["max_versions"] = json!(policy.max_versions);
    j["freshness_sla"] = json!(v.freshness_sla_micros().map(duration::format));
    j["source"] = json!(d.source);
    j["inputs"] = json!(v.inputs());
    j["quality"] = json!(v.quality_policy().name());
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
    j["last_ingest"] = serde_json::from_str::<Json>(&d.last_ingest).unwrap_or(Json::Null);
    Ok(j)
}
