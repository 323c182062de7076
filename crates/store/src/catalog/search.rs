//! Finding views in the registry: `strata registry search`.
//!
//! A [`Query`] matches a view when every criterion given matches:
//! - `text`: a case-insensitive substring of the view's name, its
//!   description, or a feature's name or description;
//! - `tag`: one of the view's tags (or a feature's tags), exactly, ignoring
//!   case; a tag table item `k=v` also matches `k`;
//! - `team`, `owner`: equal, ignoring case;
//! - `entity`: one of the view's entities, or one of their join keys.
//!
//! Results are in catalog order, each with the reasons it matched.

use super::{Catalog, FeatureView};

/// What to look for; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub text: Option<String>,
    pub tag: Option<String>,
    pub team: Option<String>,
    pub owner: Option<String>,
    pub entity: Option<String>,
}

/// A view that matched, and where the text or tag was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub view: &'a FeatureView,
    pub reasons: Vec<String>,
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The views matching `q`.
pub fn search<'a>(cat: &'a Catalog, q: &Query) -> Vec<Hit<'a>> {
    cat.views
        .iter()
        .filter_map(|v| matches(cat, v, q))
        .collect()
}

fn matches<'a>(cat: &Catalog, v: &'a FeatureView, q: &Query) -> Option<Hit<'a>> {
    let mut reasons = Vec::new();
    if let Some(t) = &q.text {
        let needle = t.to_lowercase();
        let has = |s: &str| s.to_lowercase().contains(&needle);
        if has(&v.qualified_name()) {
            reasons.push("name".to_string());
        }
        if has(v.description()) {
            reasons.push("description".to_string());
        }
        for f in &v.features {
            if has(&f.name) {
                reasons.push(format!("feature {}", f.name));
            } else if has(&f.description) {
                reasons.push(format!("feature {} description", f.name));
            }
        }
        if reasons.is_empty() {
            return None;
        }
    }
    if let Some(t) = &q.tag {
        let tag_hit = |tag: &str| eq(tag, t) || tag.split_once('=').is_some_and(|(k, _)| eq(k, t));
        if v.tags().iter().any(|x| tag_hit(x)) {
            reasons.push(format!("tag {t}"));
        } else if let Some(f) = v
            .features
            .iter()
            .find(|f| f.tags.iter().any(|x| tag_hit(x)))
        {
            reasons.push(format!("feature {} tag {t}", f.name));
        } else {
            return None;
        }
    }
    if let Some(t) = &q.team {
        if !v.team().is_some_and(|x| eq(x, t)) {
            return None;
        }
        reasons.push(format!("team {t}"));
    }
    if let Some(o) = &q.owner {
        if !v.owner().is_some_and(|x| eq(x, o)) {
            return None;
        }
        reasons.push(format!("owner {o}"));
    }
    if let Some(e) = &q.entity {
        let by_entity = v.entities.iter().any(|x| eq(x, e));
        let by_key = cat.key_columns(v).iter().any(|k| eq(&k.name, e));
        if !by_entity && !by_key {
            return None;
        }
        reasons.push(format!("entity {e}"));
    }
    Some(Hit { view: v, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::defs;

    fn cat() -> Catalog {
        let d = defs::parse(include_str!("testdata/search.toml")).unwrap();
        defs::apply(&Catalog::default(), &d).unwrap()
    }

    fn names(hits: Vec<Hit>) -> Vec<String> {
        hits.iter().map(|h| h.view.qualified_name()).collect()
    }

    #[test]
    fn by_text_tag_team_owner_entity() {
        let c = cat();
        let q = |f: &dyn Fn(&mut Query)| {
            let mut q = Query::default();
            f(&mut q);
            names(search(&c, &q))
        };
        assert_eq!(q(&|_| {}), ["user_stats", "merchant_stats"]);
        assert_eq!(
            q(&|q| q.text = Some("STATS".into())),
            ["user_stats", "merchant_stats"]
        );
        assert_eq!(q(&|q| q.text = Some("spending".into())), ["user_stats"]);
        assert_eq!(q(&|q| q.text = Some("basket".into())), ["user_stats"]);
        assert_eq!(q(&|q| q.text = Some("refund".into())), ["merchant_stats"]);
        assert!(q(&|q| q.text = Some("nothing".into())).is_empty());
        assert_eq!(q(&|q| q.tag = Some("pii".into())), ["user_stats"]);
        assert_eq!(q(&|q| q.tag = Some("domain".into())), ["merchant_stats"]);
        assert_eq!(q(&|q| q.tag = Some("counts".into())), ["user_stats"]);
        assert_eq!(q(&|q| q.team = Some("risk".into())), ["user_stats"]);
        assert_eq!(q(&|q| q.owner = Some("bob".into())), ["merchant_stats"]);
        assert_eq!(
            q(&|q| q.entity = Some("merchant".into())),
            ["merchant_stats"]
        );
        assert_eq!(q(&|q| q.entity = Some("user_id".into())), ["user_stats"]);
        assert!(
            q(&|q| {
                q.team = Some("risk".into());
                q.owner = Some("bob".into());
            })
            .is_empty(),
            "criteria combine with AND"
        );
        let hits = search(
            &c,
            &Query {
                text: Some("amount".into()),
                ..Query::default()
            },
        );
        assert_eq!(hits[0].reasons, ["feature amount_avg"]);
    }
}
