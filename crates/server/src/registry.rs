//! Registry requests: list, describe, search. A token sees every entity and
//! the views it may read.

use super::auth::{Level, Token};
use super::conn::Session;
use super::handlers::{Failure, check_grant, may_read};
use strata_format::protocol::{self as p, ErrorCode, HitKind, Kind};
use strata_store::catalog::Catalog;

/// Hits a search returns at most.
const MAX_HITS: usize = 1000;

fn meta_str(field: Option<&str>) -> String {
    field.unwrap_or_default().to_string()
}

fn entities(cat: &Catalog) -> Vec<p::EntityInfo> {
    cat.entities
        .iter()
        .map(|e| p::EntityInfo {
            name: e.name.clone(),
            description: e.description.clone(),
            join_keys: e.join_keys.iter().map(|k| (k.name.clone(), k.ty)).collect(),
        })
        .collect()
}

pub(crate) fn list(s: &Session, t: &Token, out: &mut Vec<u8>) -> Result<Kind, Failure> {
    let cat = s.shared.store.catalog();
    let views = cat
        .views
        .iter()
        .filter(|v| may_read(t, v))
        .map(|v| p::ViewSummary {
            name: v.qualified_name(),
            version: v.version,
            entities: v.entities.clone(),
            features: v.features.len() as u32,
            ttl_micros: v.ttl_micros,
            description: v.description().to_string(),
            owner: meta_str(v.owner()),
            team: meta_str(v.team()),
            tags: v.tags(),
            online: v.online(),
        })
        .collect();
    p::RegistryList {
        entities: entities(&cat),
        views,
    }
    .encode(out);
    Ok(Kind::RegistryListResult)
}

pub(crate) fn describe(
    s: &Session,
    t: &Token,
    name: &str,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let cat = s.shared.store.catalog();
    let v = cat.view(name).ok_or_else(|| {
        Failure::new(
            ErrorCode::NotFound,
            format!("unknown feature view {name:?}"),
        )
    })?;
    check_grant(t, Level::Read, v)?;
    p::ViewDescription {
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
            .map(|f| p::FeatureInfo {
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
    }
    .encode(out);
    Ok(Kind::DescribeResult)
}

pub(crate) fn search(
    s: &Session,
    t: &Token,
    req: p::SearchRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let q = req.query.trim().to_lowercase();
    if q.is_empty() {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            "empty search query",
        ));
    }
    let limit = match req.limit {
        0 => MAX_HITS,
        n => (n as usize).min(MAX_HITS),
    };
    let has = |text: &str| text.to_lowercase().contains(&q);
    let any = |v: &[String]| v.iter().any(|x| has(x));
    let cat = s.shared.store.catalog();
    let mut hits = Vec::new();
    let mut hit = |kind, view: &str, name: &str, matched: &str| {
        hits.push(p::SearchHit {
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
    for v in cat.views.iter().filter(|v| may_read(t, v)) {
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
    p::encode_hits(out, &hits);
    Ok(Kind::SearchResult)
}
