//! `strata registry list|describe|search|lineage`: the registry, as aligned
//! tables for people or `--json` for programs.

use std::path::Path;

use serde_json::{Value as Json, json};
use strata::catalog::search::{self, Query};
use strata::catalog::{Catalog, FeatureView, duration, lineage, stats};
use strata::offline::timestamp;
use strata::store::registry;

use super::{Result, out, outp, store_for_reading, view_of};

#[derive(clap::Subcommand, Debug)]
pub enum RegistryCmd {
    /// Every feature view
    List {
        #[arg(long)]
        json: bool,
    },
    /// One view: metadata, features, and the statistics of its last ingest
    Describe {
        /// The feature view (`name` or `name@version`)
        view: String,
        #[arg(long)]
        json: bool,
    },
    /// Views by text (in names and descriptions), tag, team, owner or entity
    Search {
        /// Text to find in view and feature names and descriptions
        text: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// An entity name or join key
        #[arg(long)]
        entity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The views a view reads from (upstream) and that read it (downstream), transitively
    Lineage {
        view: String,
        #[arg(long)]
        json: bool,
    },
}

/// Aligned columns, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn time(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), timestamp::format)
}

fn or_dash(s: Option<&str>) -> String {
    s.filter(|x| !x.is_empty()).unwrap_or("-").to_string()
}

/// A view's listing line: the store's summary (the server lists the same),
/// with the id and times of the catalog.
fn summary_json(v: &FeatureView) -> Json {
    let s = registry::summary(v);
    json!({
        "name": s.name, "id": v.id, "version": s.version,
        "entities": s.entities, "features": s.features,
        "online": s.online, "owner": non_empty(&s.owner), "team": non_empty(&s.team),
        "tags": s.tags, "description": s.description,
        "created_at": v.created_at().map(timestamp::format),
        "changed_at": v.changed_at().map(timestamp::format),
    })
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn summary_row(v: &FeatureView) -> Vec<String> {
    let s = registry::summary(v);
    vec![
        s.name,
        v.id.to_string(),
        s.entities.join(","),
        s.features.to_string(),
        if s.online { "yes" } else { "export-only" }.into(),
        or_dash(Some(&s.owner)),
        or_dash(Some(&s.team)),
        or_dash(Some(&s.tags.join(","))),
        time(v.changed_at()),
    ]
}

const SUMMARY: [&str; 9] = [
    "VIEW", "ID", "ENTITIES", "FEATURES", "ONLINE", "OWNER", "TEAM", "TAGS", "CHANGED",
];

pub fn run(dir: &Path, cmd: RegistryCmd) -> Result {
    let store = store_for_reading(dir)?;
    let cat = store.catalog();
    match cmd {
        RegistryCmd::List { json } => {
            if json {
                let all: Vec<Json> = cat.views.iter().map(summary_json).collect();
                out!("{}", Json::Array(all));
            } else if cat.views.is_empty() {
                out!("no feature views yet; declare them with `strata apply`");
            } else {
                let rows: Vec<_> = cat.views.iter().map(summary_row).collect();
                outp!("{}", table(&SUMMARY, &rows));
            }
        }
        RegistryCmd::Describe { view, json } => {
            let v = view_of(&cat, &view)?;
            let last = stats::load(dir)?.remove(&v.id);
            if json {
                out!("{}", describe_json(&cat, &v, last.as_ref()));
            } else {
                outp!("{}", describe_text(&cat, &v, last.as_ref()));
            }
        }
        RegistryCmd::Search {
            text,
            tag,
            team,
            owner,
            entity,
            json,
        } => {
            let q = Query {
                text,
                tag,
                team,
                owner,
                entity,
            };
            let hits = search::search(&cat, &q);
            if json {
                let all: Vec<Json> = hits
                    .iter()
                    .map(|h| {
                        let mut s = summary_json(h.view);
                        s["matched"] = json!(h.reasons);
                        s
                    })
                    .collect();
                out!("{}", Json::Array(all));
            } else if hits.is_empty() {
                out!("no view matches");
            } else {
                let rows: Vec<Vec<String>> = hits
                    .iter()
                    .map(|h| {
                        vec![
                            h.view.qualified_name(),
                            h.reasons.join(", "),
                            or_dash(h.view.owner()),
                            or_dash(h.view.team()),
                            h.view.description().to_string(),
                        ]
                    })
                    .collect();
                outp!(
                    "{}",
                    table(&["VIEW", "MATCHED", "OWNER", "TEAM", "DESCRIPTION"], &rows)
                );
            }
        }
        RegistryCmd::Lineage { view, json } => {
            let v = view_of(&cat, &view)?;
            let up = lineage::upstream(&cat, &v);
            let down = lineage::downstream(&cat, &v);
            if json {
                out!(
                    "{}",
                    json!({ "view": v.qualified_name(), "source": source_text(&cat, &v),
                            "upstream": up, "downstream": down })
                );
            } else {
                // Data flows down: sources first, each view's readers below it.
                for l in lineage::tree(&cat, &v) {
                    out!("{l}");
                }
            }
        }
    }
    Ok(())
}

fn source_text(cat: &Catalog, v: &FeatureView) -> String {
    lineage::source_text(cat, v)
}

fn dur(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), duration::format)
}

fn describe_json(cat: &Catalog, v: &FeatureView, last: Option<&stats::IngestStats>) -> Json {
    let mut j = summary_json(v);
    let policy = v.policy();
    j["ttl"] = json!(if v.ttl_micros == 0 {
        "unlimited".into()
    } else {
        duration::format(v.ttl_micros)
    });
    j["retention"] = json!(policy.retention.map(duration::format));
    j["max_versions"] = json!(policy.max_versions);
    j["freshness_sla"] = json!(v.freshness_sla_micros().map(duration::format));
    j["source"] = json!(source_text(cat, v));
    j["inputs"] = json!(v.inputs());
    j["quality"] = json!(v.quality_policy().name());
    // Keys and features as the store describes them (the server's Describe).
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
                "default": v.feature_default(i).map(|d| strata::catalog::meta::value_text(&d)),
                "expectations": v.expectations(i).describe(),
            }))
            .collect::<Vec<_>>()
    );
    j["last_ingest"] = json!(last);
    j
}

fn describe_text(cat: &Catalog, v: &FeatureView, last: Option<&stats::IngestStats>) -> String {
    let policy = v.policy();
    let keys: Vec<String> = cat
        .key_columns(v)
        .iter()
        .map(|k| format!("{}: {}", k.name, k.ty))
        .collect();
    let versions: Vec<String> = cat
        .views
        .iter()
        .filter(|x| x.name == v.name)
        .map(FeatureView::qualified_name)
        .collect();
    let fields: Vec<(&str, String)> = vec![
        ("description", or_dash(Some(v.description()))),
        (
            "entities",
            format!("{} ({})", v.entities.join(", "), keys.join(", ")),
        ),
        ("versions", versions.join(", ")),
        ("owner", or_dash(v.owner())),
        ("team", or_dash(v.team())),
        ("tags", or_dash(Some(&v.tags().join(", ")))),
        (
            "online",
            if v.online() {
                "yes".into()
            } else {
                "no (export-only)".into()
            },
        ),
        (
            "ttl",
            if v.ttl_micros == 0 {
                "unlimited".into()
            } else {
                duration::format(v.ttl_micros)
            },
        ),
        (
            "retention",
            policy.retention.map_or("forever".into(), duration::format),
        ),
        (
            "max_versions",
            policy.max_versions.map_or("all".into(), |n| n.to_string()),
        ),
        ("freshness_sla", dur(v.freshness_sla_micros())),
        ("source", source_text(cat, v)),
        ("inputs", or_dash(Some(&v.inputs().join(", ")))),
        ("quality", v.quality_policy().name().into()),
        ("created", time(v.created_at())),
        ("changed", time(v.changed_at())),
    ];
    let mut s = format!("feature view {} (id {})\n", v.qualified_name(), v.id);
    for (k, val) in fields {
        s.push_str(&format!("  {k:<14}{val}\n"));
    }
    s.push_str("\nfeatures:\n");
    let rows: Vec<Vec<String>> = v
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                format!("  {}", f.name),
                f.ty.to_string(),
                v.feature_default(i)
                    .map_or("-".into(), |d| strata::catalog::meta::value_text(&d)),
                or_dash(Some(&v.expectations(i).describe().join("; "))),
                or_dash(Some(&f.tags.join(","))),
                f.description.clone(),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "  NAME",
            "TYPE",
            "DEFAULT",
            "EXPECTATIONS",
            "TAGS",
            "DESCRIPTION",
        ],
        &rows,
    ));
    match last {
        None => s.push_str("\nlast ingest: none recorded\n"),
        Some(l) => {
            s.push_str(&format!(
                "\nlast ingest: {}, {} row(s) from {} (quality: {})\n",
                timestamp::format(l.at_micros),
                l.rows,
                l.files.join(", "),
                l.policy
            ));
            let num = |x: Option<f64>| {
                x.map_or("-".into(), |v| {
                    format!("{v:.6}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string()
                })
            };
            let rows: Vec<Vec<String>> = l
                .features
                .iter()
                .map(|f| {
                    vec![
                        format!("  {}", f.name),
                        f.rows.to_string(),
                        format!("{:.2}%", f.null_fraction * 100.0),
                        num(f.min),
                        num(f.max),
                        num(f.mean),
                    ]
                })
                .collect();
            s.push_str(&table(
                &["  FEATURE", "ROWS", "NULLS", "MIN", "MAX", "MEAN"],
                &rows,
            ));
            if !l.violations.is_empty() {
                s.push_str("violations (recorded, quality = warn):\n");
                for line in strata::catalog::quality::report(&l.violations).lines() {
                    s.push_str(&format!("  {line}\n"));
                }
            }
        }
    }
    s
}
