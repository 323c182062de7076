//! Lineage between feature views.
//!
//! A view reads another when its `source` names it (`view:NAME`, or a bare
//! name of a view in the catalog) or when its `inputs` list names it. A
//! name without `@N` means the serving version of that view
//! (`Catalog::serving`). [`check`]
//! (run by `strata apply`) refuses references to unknown views, a view that
//! reads itself, and cycles; [`upstream`] and [`downstream`] walk the graph
//! transitively, breadth first, each view once.

use std::collections::{BTreeSet, VecDeque};

use super::error::Error;
use super::meta::{self, Source};
use super::{Catalog, FeatureView};

/// The source of `view` as the catalog resolves it.
pub fn source(cat: &Catalog, view: &FeatureView) -> Source {
    match view.source_text() {
        None => Source::None,
        Some(t) => meta::parse_source(t, |n| meta::is_view_ref(n) && cat.view(n).is_some()),
    }
}

/// The names (as written) of the views `view` reads directly.
fn reads(cat: &Catalog, view: &FeatureView) -> Vec<String> {
    let mut out = Vec::new();
    if let Source::View(v) = source(cat, view) {
        out.push(v);
    }
    for i in view.inputs() {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Whether `view` reads no other view ([`reads`] is empty), found
/// without allocating.
fn reads_none(cat: &Catalog, view: &FeatureView) -> bool {
    let no_inputs = view.metadata.inputs.as_ref().is_none_or(Vec::is_empty);
    no_inputs
        && view.source_text().is_none_or(|t| {
            !meta::names_a_view(t, |n| meta::is_view_ref(n) && cat.view(n).is_some())
        })
}

/// The qualified names of the views `view` reads directly (unknown
/// references are left out).
pub fn parents(cat: &Catalog, view: &FeatureView) -> Vec<String> {
    reads(cat, view)
        .iter()
        .filter_map(|n| cat.view(n).map(FeatureView::qualified_name))
        .collect()
}

/// The qualified names of the views that read `view` directly.
pub fn children(cat: &Catalog, view: &FeatureView) -> Vec<String> {
    let me = view.qualified_name();
    cat.views
        .iter()
        .filter(|v| parents(cat, v).contains(&me))
        .map(FeatureView::qualified_name)
        .collect()
}

/// One view reached by a walk, and how many edges away it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reached {
    pub view: String,
    pub depth: usize,
    /// The view it was reached from.
    pub via: String,
}

fn walk(
    cat: &Catalog,
    start: &FeatureView,
    next: impl Fn(&Catalog, &FeatureView) -> Vec<String>,
) -> Vec<Reached> {
    let mut seen = BTreeSet::from([start.qualified_name()]);
    let mut queue = VecDeque::from([(start.qualified_name(), 0)]);
    let mut out = Vec::new();
    while let Some((name, depth)) = queue.pop_front() {
        let Some(v) = cat.view(&name) else { continue };
        for n in next(cat, v) {
            if seen.insert(n.clone()) {
                out.push(Reached {
                    view: n.clone(),
                    depth: depth + 1,
                    via: name.clone(),
                });
                queue.push_back((n, depth + 1));
            }
        }
    }
    out
}

/// Every view `view` reads from, transitively.
pub fn upstream(cat: &Catalog, view: &FeatureView) -> Vec<Reached> {
    // Most views read no other (checked on every served lookup's grants):
    // no walk, no allocation.
    if reads_none(cat, view) {
        return Vec::new();
    }
    walk(cat, view, parents)
}

/// Every view that reads from `view`, transitively.
pub fn downstream(cat: &Catalog, view: &FeatureView) -> Vec<Reached> {
    walk(cat, view, children)
}

/// The source of `view` in words: `push`, `files GLOB`, `view NAME` or
/// `not declared`.
pub fn source_text(cat: &Catalog, view: &FeatureView) -> String {
    match source(cat, view) {
        Source::None => "not declared".into(),
        Source::Push => "push".into(),
        Source::View(n) => format!("view {n}"),
        Source::Files(g) => format!("files {g}"),
    }
}

/// The lineage of `view` as a tree in the direction data flows: each root
/// of its upstream (a view that reads no other) first, each view's readers
/// below it (`└─>`), down through `view` (marked) to every view that reads
/// it, transitively. A view reached twice is expanded once and then
/// marked `(see above)`.
pub fn tree(cat: &Catalog, view: &FeatureView) -> Vec<String> {
    let me = view.qualified_name();
    let up = upstream(cat, view);
    let mut relevant: BTreeSet<String> = up.iter().map(|r| r.view.clone()).collect();
    relevant.insert(me.clone());
    relevant.extend(downstream(cat, view).into_iter().map(|r| r.view));
    let mut roots: Vec<String> = up
        .iter()
        .map(|r| r.view.clone())
        .chain([me.clone()])
        .filter(|n| cat.view(n).is_some_and(|v| parents(cat, v).is_empty()))
        .collect();
    roots.dedup();
    let mut out = Vec::new();
    let mut shown = BTreeSet::new();
    for r in roots {
        branch(cat, &r, &me, &relevant, "", None, &mut shown, &mut out);
    }
    out
}

/// One line of [`tree`] and the branches below it; `last` is `None` for a
/// root, else whether this is its parent's last reader.
#[expect(clippy::too_many_arguments, reason = "a recursive walk's state")]
fn branch(
    cat: &Catalog,
    name: &str,
    me: &str,
    relevant: &BTreeSet<String>,
    prefix: &str,
    last: Option<bool>,
    shown: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let Some(v) = cat.view(name) else { return };
    let (connector, below) = match last {
        None => ("", String::new()),
        Some(true) => ("\u{2514}\u{2500}> ", format!("{prefix}    ")),
        Some(false) => ("\u{251c}\u{2500}> ", format!("{prefix}\u{2502}   ")),
    };
    let mark = if name == me { "  <- this view" } else { "" };
    if !shown.insert(name.to_string()) {
        out.push(format!("{prefix}{connector}{name} (see above){mark}"));
        return;
    }
    out.push(format!(
        "{prefix}{connector}{name} (source: {}){mark}",
        source_text(cat, v)
    ));
    let readers: Vec<String> = children(cat, v)
        .into_iter()
        .filter(|c| relevant.contains(c))
        .collect();
    for (i, c) in readers.iter().enumerate() {
        let is_last = i + 1 == readers.len();
        branch(cat, c, me, relevant, &below, Some(is_last), shown, out);
    }
}

/// Every lineage problem of the catalog: [`Error::UndeclaredInput`] and
/// [`Error::Cycle`] (a view that reads itself is a cycle through itself).
pub fn check(cat: &Catalog) -> Vec<Error> {
    let mut errors = Vec::new();
    for v in &cat.views {
        let name = v.qualified_name();
        for r in reads(cat, v) {
            match cat.view(&r) {
                None => errors.push(Error::UndeclaredInput {
                    view: name.clone(),
                    target: r,
                }),
                Some(p) if p.qualified_name() == name => errors.push(Error::Cycle {
                    view: name.clone(),
                    via: name.clone(),
                }),
                Some(_) => {}
            }
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    for v in &cat.views {
        let name = v.qualified_name();
        if let Some(r) = upstream(cat, v).iter().find(|r| {
            cat.view(&r.view)
                .is_some_and(|p| parents(cat, p).contains(&name))
        }) {
            errors.push(Error::Cycle {
                view: name.clone(),
                via: r.view.clone(),
            });
            break;
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::defs;

    /// `user` and the view `raw`, read from files, with `extra`.
    fn cat(extra: &str) -> crate::catalog::Result<Catalog> {
        let raw = include_str!("testdata/lineage-raw.toml");
        let d = defs::parse(&format!("{raw}{extra}\n"))?;
        defs::apply(&Catalog::default(), &d)
    }

    const CHAIN: &str = include_str!("testdata/lineage-chain.toml");

    #[test]
    fn sources_are_classified() {
        let c = cat(CHAIN).unwrap();
        assert_eq!(
            source(&c, c.view("raw").unwrap()),
            Source::Files("/data/raw/*.parquet".into())
        );
        assert_eq!(
            source(&c, c.view("clean").unwrap()),
            Source::View("raw".into())
        );
        assert_eq!(source(&c, c.view("agg").unwrap()), Source::Push);
        assert_eq!(
            source(&c, c.view("model_input").unwrap()),
            Source::View("agg".into())
        );
    }

    #[test]
    fn upstream_and_downstream_are_transitive() {
        let c = cat(CHAIN).unwrap();
        let names = |r: Vec<Reached>| r.into_iter().map(|r| (r.view, r.depth)).collect::<Vec<_>>();
        assert_eq!(
            names(upstream(&c, c.view("model_input").unwrap())),
            vec![("agg".into(), 1), ("clean".into(), 2), ("raw".into(), 2)]
        );
        assert_eq!(
            names(downstream(&c, c.view("raw").unwrap())),
            vec![
                ("clean".into(), 1),
                ("agg".into(), 1),
                ("model_input".into(), 2)
            ]
        );
        assert!(upstream(&c, c.view("raw").unwrap()).is_empty());
        assert!(downstream(&c, c.view("model_input").unwrap()).is_empty());
    }

    #[test]
    fn unknown_self_and_cyclic_references_are_refused() {
        let e = cat(&CHAIN.replace("inputs = [\"clean\", \"raw\"]", "inputs = [\"nope\"]"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agg") && e.contains("\"nope\"") && e.contains("not declared"),
            "{e}"
        );
        let e = cat(&CHAIN.replace("source = \"view:agg\"", "source = \"view:model_input\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("reads itself"), "{e}");
        let e = cat(&CHAIN.replace("source = \"raw\"", "source = \"view:model_input\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle"), "{e}");
        let e = cat("inputs = [\"not a name\"]").unwrap_err().to_string();
        assert!(e.contains("inputs"), "{e}");
    }

    #[test]
    fn the_tree_reads_from_sources_down_to_readers() {
        let c = cat(CHAIN).unwrap();
        let t = tree(&c, c.view("agg").unwrap());
        assert_eq!(
            t,
            vec![
                "raw (source: files /data/raw/*.parquet)",
                "\u{251c}\u{2500}> clean (source: view raw)",
                "\u{2502}   \u{2514}\u{2500}> agg (source: push)  <- this view",
                "\u{2502}       \u{2514}\u{2500}> model_input (source: view agg)",
                "\u{2514}\u{2500}> agg (see above)  <- this view",
            ],
            "{}",
            t.join("\n")
        );
        // A view with neither parents nor readers is a tree of one line.
        let lone = cat("").unwrap();
        assert_eq!(
            tree(&lone, lone.view("raw").unwrap()),
            vec!["raw (source: files /data/raw/*.parquet)  <- this view"]
        );
        // From the top, only the branches through the view: raw's tree
        // seen from model_input keeps every path to it.
        let t = tree(&c, c.view("model_input").unwrap());
        assert_eq!(
            t.first().map(String::as_str),
            Some("raw (source: files /data/raw/*.parquet)")
        );
        assert!(
            t.iter()
                .all(|l| !l.contains("model_input") || l.contains("<- this view"))
        );
    }
}
