//! `strata registry list|describe|search|lineage`: the registry, as aligned
//! tables for people or `--json` for programs.

use std::path::Path;

use strata::catalog::search::{self, Query};
use strata::catalog::{duration, lineage, stats};
use strata::format::protocol::{RegistryList, ViewDescription, ViewSummary};
use strata::offline::timestamp;
use strata::store::registry;
use strata::store::registry_json;

use super::output::table;
use super::{CliError, Result, out, outp, store_for_reading, view_of};

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
        #[command(flatten)]
        filters: SearchArgs,
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

/// What `registry search` looks for: the store's search [`Query`].
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
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
}

impl SearchArgs {
    /// The text to search for when no filter but text is given (a server
    /// searches text only), or `None`.
    pub fn text_only(self) -> Option<String> {
        let q = self.query();
        let filtered =
            q.tag.is_some() || q.team.is_some() || q.owner.is_some() || q.entity.is_some();
        (!filtered).then(|| q.text.unwrap_or_default())
    }

    pub fn query(self) -> Query {
        Query {
            text: self.text,
            tag: self.tag,
            team: self.team,
            owner: self.owner,
            entity: self.entity,
        }
    }
}

/// Prints the rows of a search's hits under `headers`, or that no view
/// matched.
pub fn print_hits(headers: &[&str], rows: &[Vec<String>]) -> Result<()> {
    if rows.is_empty() {
        out!("no view matches");
    } else {
        outp!("{}", table(headers, rows));
    }
    Ok(())
}

fn time(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), timestamp::format)
}

fn or_dash(s: Option<&str>) -> String {
    s.filter(|x| !x.is_empty()).unwrap_or("-").to_string()
}

fn summary_row(s: &ViewSummary) -> Vec<String> {
    vec![
        s.name.clone(),
        s.id.to_string(),
        s.entities.join(","),
        s.features.to_string(),
        if s.online { "yes" } else { "export-only" }.into(),
        or_dash(Some(&s.owner)),
        or_dash(Some(&s.team)),
        or_dash(Some(&s.tags.join(","))),
        time(s.changed_at),
    ]
}

/// Prints a listing (the store's, or a server's: the same type), or
/// `empty` when it has no view.
pub fn print_list(l: &RegistryList, json: bool, empty: &str) -> Result {
    if json {
        out!("{}", registry_json::list(l));
    } else if l.views.is_empty() {
        out!("{empty}");
    } else {
        let rows: Vec<_> = l.views.iter().map(summary_row).collect();
        outp!("{}", table(&SUMMARY, &rows));
    }
    Ok(())
}

/// Prints a view's description (the store's, or a server's: the same
/// type).
pub fn print_describe(d: &ViewDescription, json: bool) -> Result {
    if json {
        out!("{}", registry_json::describe(d).map_err(CliError::msg)?);
    } else {
        outp!("{}", describe_text(d).map_err(CliError::msg)?);
    }
    Ok(())
}

const SUMMARY: [&str; 9] = [
    "VIEW", "ID", "ENTITIES", "FEATURES", "ONLINE", "OWNER", "TEAM", "TAGS", "CHANGED",
];

pub fn run(dir: &Path, cmd: RegistryCmd) -> Result {
    let store = store_for_reading(dir)?;
    let cat = store.catalog();
    match cmd {
        RegistryCmd::List { json } => print_list(
            &registry::list(&cat, |_| true),
            json,
            "no feature views yet; declare them with `strata apply`",
        )?,
        RegistryCmd::Describe { view, json } => {
            let v = view_of(&cat, &view)?;
            let last = stats::load(dir)?.remove(&v.id);
            print_describe(&registry::describe(&cat, &v, last.as_ref()), json)?;
        }
        RegistryCmd::Search { filters, json } => {
            let q = filters.query();
            if json {
                out!("{}", registry_json::search(&cat, &q));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = search::search(&cat, &q)
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
            print_hits(&["VIEW", "MATCHED", "OWNER", "TEAM", "DESCRIPTION"], &rows)?;
        }
        RegistryCmd::Lineage { view, json } => {
            let v = view_of(&cat, &view)?;
            if json {
                out!("{}", registry_json::lineage(&cat, &v));
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

fn dur(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), duration::format)
}

fn describe_text(d: &ViewDescription) -> std::result::Result<String, String> {
    let view = registry::view_of(d)?;
    let v = &view;
    let last = registry::last_ingest_of(d);
    let last = last.as_ref();
    let policy = v.policy();
    let keys: Vec<String> = d
        .join_keys
        .iter()
        .map(|(name, ty)| format!("{name}: {ty}"))
        .collect();
    let versions = &d.versions;
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
        ("source", d.source.clone()),
        ("inputs", or_dash(Some(&v.inputs().join(", ")))),
        ("quality", v.quality_policy().name().into()),
        ("created", time(v.created_at())),
        ("changed", time(v.changed_at())),
    ];
    let mut s = format!("feature view {} (id {})\n", d.name, d.id);
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
    Ok(s)
}
