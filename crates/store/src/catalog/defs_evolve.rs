//! The evolution rules: how a definitions file changes a catalog. Part of
//! [`super`] (`catalog::defs`), whose docs list the rules.

use std::fmt;

use super::Definitions;
use super::validate;
use crate::catalog::error::{Error, Result};
use crate::catalog::metadata::{CHANGED_AT, CREATED_AT, FEATURE_SETTINGS, STAGED};
use crate::catalog::{Catalog, Entity, Feature, FeatureView, JoinKey};
use crate::catalog::{duration, lineage};
use strata_format::key::ViewId;

/// One difference between the current catalog and a definitions file.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    AddEntity {
        name: String,
        join_keys: Vec<JoinKey>,
    },
    /// Allowed edits of an existing entity (description, join-key names).
    ChangeEntity { name: String, what: Vec<String> },
    AddView {
        view: String,
        id: ViewId,
        ttl_micros: i64,
        features: Vec<Feature>,
    },
    /// Features appended to an existing view.
    AddFeatures {
        view: String,
        features: Vec<Feature>,
    },
    /// Other allowed edits of an existing view (ttl, metadata, descriptions).
    ChangeView { view: String, what: Vec<String> },
    /// A view of the catalog that the file does not declare: kept as it is.
    KeepView { view: String },
    /// A new version added beside a served one: the unversioned name
    /// keeps reading `serving` until a `serving_version` promotes it.
    StagedVersion {
        view: String,
        name: String,
        serving: u32,
        version: u32,
    },
    /// The version the unversioned name reads changes.
    Serving { name: String, from: u32, to: u32 },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feats = |fs: &[Feature]| {
            fs.iter()
                .map(|x| format!("{} {}", x.name, x.ty))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Change::AddEntity { name, join_keys } => {
                let keys: Vec<_> = join_keys
                    .iter()
                    .map(|k| format!("{}: {}", k.name, k.ty))
                    .collect();
                write!(f, "+ entity {name} ({})", keys.join(", "))
            }
            Change::ChangeEntity { name, what } => {
                write!(f, "~ entity {name}: {}", what.join("; "))
            }
            Change::AddView {
                view,
                id,
                ttl_micros,
                features,
            } => {
                let ttl = if *ttl_micros == 0 {
                    "unlimited".to_string()
                } else {
                    duration::format(*ttl_micros)
                };
                write!(
                    f,
                    "+ feature view {view} (id {id}, ttl {ttl}): {}",
                    feats(features)
                )
            }
            Change::AddFeatures { view, features } => {
                write!(f, "~ feature view {view}: + {}", feats(features))
            }
            Change::ChangeView { view, what } => {
                write!(f, "~ feature view {view}: {}", what.join("; "))
            }
            Change::KeepView { view } => {
                write!(
                    f,
                    "= feature view {view}: not in the file, kept (applying never removes a view)"
                )
            }
            Change::StagedVersion {
                view,
                name,
                serving,
                version,
            } => write!(
                f,
                "~ readers of {name} stay on @{serving}: {view} is staged (read and write it as {view}) until `serving_version = {version}` promotes it"
            ),
            Change::Serving { name, from, to } => {
                write!(f, "~ readers of {name} move from @{from} to @{to}")
            }
        }
    }
}

/// What [`apply`] would do: the changes, and the catalog that results.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub catalog: Catalog,
}

impl Plan {
    /// Whether applying changes nothing (views merely kept do not count).
    pub fn is_noop(&self) -> bool {
        self.changes
            .iter()
            .all(|c| matches!(c, Change::KeepView { .. }))
    }
}

/// The catalog that results from applying `defs` to `current`, and the
/// changes, or every reason the definitions cannot be applied
/// ([`Error::Many`] when there are several, one per line).
pub fn plan(current: &Catalog, defs: &Definitions) -> Result<Plan> {
    plan_at(current, defs, now_micros())
}

/// [`plan`] with the clock given: new and changed views get `now` as their
/// `changed_at` (and new ones as `created_at`).
pub fn plan_at(current: &Catalog, defs: &Definitions, now: i64) -> Result<Plan> {
    validate(defs)?;
    let mut cat = current.clone();
    let max_id = cat.views.iter().map(|v| v.id).max().unwrap_or(0);
    cat.next_view_id = cat.next_view_id.max(max_id.saturating_add(1)).max(1);
    let mut changes = Vec::new();
    let mut errors = Vec::new();

    for e in &defs.entities {
        let Some(pos) = cat.entities.iter().position(|x| x.name == e.name) else {
            changes.push(Change::AddEntity {
                name: e.name.clone(),
                join_keys: e.join_keys.clone(),
            });
            cat.entities.push(e.clone());
            continue;
        };
        let Some(old) = cat.entities.get(pos) else {
            continue;
        };
        let types = |x: &Entity| x.join_keys.iter().map(|k| k.ty).collect::<Vec<_>>();
        if types(old) != types(e) {
            let users: Vec<_> = current
                .views
                .iter()
                .filter(|v| v.entities.contains(&e.name))
                .map(FeatureView::qualified_name)
                .collect();
            if !users.is_empty() {
                let show = |x: &Entity| {
                    x.join_keys
                        .iter()
                        .map(|k| format!("{}: {}", k.name, k.ty))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                errors.push(Error::EntityEvolution {
                    entity: e.name.clone(),
                    reason: format!(
                        "join keys change from ({}) to ({}), but feature view(s) {} store keys of the old types; \
                         declare a new entity (e.g. {}_v2) and the views on it as version = 2 instead",
                        show(old),
                        show(e),
                        users.join(", "),
                        e.name
                    ),
                });
                continue;
            }
        }
        let mut what = Vec::new();
        if types(old) != types(e) {
            what.push("join key types changed (no view uses it yet)".to_string());
        } else {
            for (a, b) in old.join_keys.iter().zip(&e.join_keys) {
                if a.name != b.name {
                    what.push(format!("join key {} renamed to {}", a.name, b.name));
                }
            }
        }
        if old.description != e.description {
            what.push("description changed".into());
        }
        if !what.is_empty() {
            changes.push(Change::ChangeEntity {
                name: e.name.clone(),
                what,
            });
            if let Some(slot) = cat.entities.get_mut(pos) {
                *slot = e.clone();
            }
        }
    }

    for v in &defs.views {
        let Some(pos) = cat
            .views
            .iter()
            .position(|x| x.name == v.name && x.version == v.version)
        else {
            let mut nv = v.clone();
            nv.id = cat.next_view_id;
            // Beside a version that is already served, a new one waits
            // for its promotion (see `Catalog::serving`).
            if current.views.iter().any(|x| x.name == v.name) {
                nv.metadata.staged = Some(true);
            }
            nv.metadata.created_at = Some(now);
            nv.metadata.changed_at = Some(now);
            let Some(next) = cat.next_view_id.checked_add(1) else {
                errors.push(Error::IdsExhausted {
                    view: v.name.clone(),
                });
                continue;
            };
            cat.next_view_id = next;
            changes.push(Change::AddView {
                view: nv.qualified_name(),
                id: nv.id,
                ttl_micros: nv.ttl_micros,
                features: nv.features.clone(),
            });
            cat.views.push(nv);
            continue;
        };
        let Some(old) = cat.views.get(pos) else {
            continue;
        };
        let next_version = cat
            .views
            .iter()
            .filter(|x| x.name == v.name)
            .map(|x| x.version)
            .max()
            .unwrap_or(1)
            + 1;
        if let Err(reason) = evolution(old, v) {
            errors.push(Error::ViewEvolution {
                view: old.qualified_name(),
                reason,
                next_version,
            });
            continue;
        }
        let added = v
            .features
            .get(old.features.len()..)
            .unwrap_or_default()
            .to_vec();
        let appended = !added.is_empty();
        if appended {
            changes.push(Change::AddFeatures {
                view: v.qualified_name(),
                features: added,
            });
        }
        let what = edits(old, v);
        let changed = appended || !what.is_empty();
        if !what.is_empty() {
            changes.push(Change::ChangeView {
                view: v.qualified_name(),
                what,
            });
        }
        let mut nv = v.clone();
        nv.id = old.id;
        nv.metadata.created_at = old.metadata.created_at;
        nv.metadata.changed_at = old.metadata.changed_at;
        nv.metadata.staged = old.metadata.staged;
        if changed {
            nv.metadata.changed_at = Some(now);
        }
        if let Some(slot) = cat.views.get_mut(pos) {
            *slot = nv;
        }
    }

    for old in &current.views {
        if !defs
            .views
            .iter()
            .any(|v| v.name == old.name && v.version == old.version)
        {
            changes.push(Change::KeepView {
                view: old.qualified_name(),
            });
        }
    }
    serving(current, &mut cat, &mut changes, &mut errors);
    errors.extend(lineage::check(&cat));
    if errors.is_empty() {
        errors.extend(crate::catalog::derived::check_chains(&cat));
    }
    if let Some(e) = Error::many(errors) {
        return Err(e);
    }
    Ok(Plan {
        changes,
        catalog: cat,
    })
}

/// The catalog that results from applying `defs` to `current`; see [`plan`].
pub fn apply(current: &Catalog, defs: &Definitions) -> Result<Catalog> {
    plan(current, defs).map(|p| p.catalog)
}

/// Why `new` cannot replace `old` in place, if it cannot.
fn evolution(old: &FeatureView, new: &FeatureView) -> Result<(), String> {
    // The reason completes "feature view NAME: ..." in an
    // [`Error::ViewEvolution`], which adds what to do.
    crate::catalog::aggregation::evolution(old, new)?;
    if old.entities != new.entities {
        return Err(format!(
            "its entities change from [{}] to [{}], so stored keys would no longer match",
            old.entities.join(", "),
            new.entities.join(", ")
        ));
    }
    for (i, f) in old.features.iter().enumerate() {
        match new.features.get(i) {
            Some(n) if n.name == f.name => {
                if n.ty != f.ty {
                    return Err(format!(
                        "feature {:?} changes type from {} to {}; stored rows could not be read as the new type",
                        f.name, f.ty, n.ty
                    ));
                }
            }
            Some(n) if new.features.iter().any(|x| x.name == f.name) => {
                return Err(format!(
                    "features are reordered (position {} was {:?}, is now {:?}); stored rows are encoded by position, \
                     so new features may only be added at the end",
                    i + 1,
                    f.name,
                    n.name
                ));
            }
            _ => {
                return Err(format!(
                    "feature {:?} is removed or renamed; stored rows hold it, so features may only be added at the end",
                    f.name
                ));
            }
        }
    }
    Ok(())
}

/// Human-readable list of the allowed edits from `old` to `new`.
fn edits(old: &FeatureView, new: &FeatureView) -> Vec<String> {
    let mut what = Vec::new();
    if old.ttl_micros != new.ttl_micros {
        let show = |t: i64| {
            if t == 0 {
                "unlimited".to_string()
            } else {
                duration::format(t)
            }
        };
        what.push(format!(
            "ttl {} -> {}",
            show(old.ttl_micros),
            show(new.ttl_micros)
        ));
    }
    for (a, b) in old.features.iter().zip(&new.features) {
        if a.description != b.description || a.tags != b.tags {
            what.push(format!("feature {} description or tags changed", a.name));
        }
    }
    let (os, ns) = (settings(old), settings(new));
    for f in &new.features {
        let (a, b) = (os.get(&f.name), ns.get(&f.name));
        if a != b {
            let show = |x: Option<&toml::Table>| {
                x.map_or("none".to_string(), |t| {
                    toml::Value::Table(t.clone()).to_string()
                })
            };
            what.push(format!(
                "feature {} settings {} -> {}",
                f.name,
                show(a),
                show(b)
            ));
        }
    }
    // The declared fields, as written in a definitions file; the store's
    // fields are compared above (settings) or not at all (times).
    let declared = |v: &FeatureView| {
        let mut t = v.metadata.to_table();
        for k in [CREATED_AT, CHANGED_AT, FEATURE_SETTINGS, STAGED] {
            t.remove(k);
        }
        t
    };
    let (om, nm) = (declared(old), declared(new));
    for (k, v) in &nm {
        match om.get(k) {
            None => what.push(format!("{k} = {v} added")),
            Some(o) if o != v => what.push(format!("{k} {o} -> {v}")),
            Some(_) => {}
        }
    }
    for k in om.keys().filter(|k| !nm.contains_key(*k)) {
        what.push(format!("{k} removed"));
    }
    what
}

/// Promotes the versions a declared `serving_version` reaches (unstaging
/// every version up to it), refuses one that names no version, and states
/// where the readers of each unversioned name go.
fn serving(
    current: &Catalog,
    cat: &mut Catalog,
    changes: &mut Vec<Change>,
    errors: &mut Vec<Error>,
) {
    let mut names: Vec<String> = cat.views.iter().map(|v| v.name.clone()).collect();
    names.dedup();
    names.sort();
    names.dedup();
    for name in names {
        let declared = cat
            .views
            .iter()
            .filter(|x| x.name == name && x.metadata.serving_version.is_some())
            .max_by_key(|x| x.version)
            .and_then(|x| x.metadata.serving_version);
        if let Some(n) = declared {
            if !cat.views.iter().any(|x| x.name == name && x.version == n) {
                errors.push(Error::invalid(
                    crate::catalog::error::Subject::View(name.clone()),
                    "serving_version",
                    format!("serving_version = {n}, but {name} has no version {n}"),
                ));
                continue;
            }
            for v in cat
                .views
                .iter_mut()
                .filter(|x| x.name == name && x.version <= n)
            {
                v.metadata.staged = None;
            }
        }
        let Some(to) = cat.serving(&name).map(|v| v.version) else {
            continue;
        };
        if let Some(from) = current.serving(&name).map(|v| v.version)
            && from != to
        {
            changes.push(Change::Serving {
                name: name.clone(),
                from,
                to,
            });
        }
        for v in cat
            .views
            .iter()
            .filter(|x| x.name == name && x.metadata.staged == Some(true))
        {
            if !current.views.iter().any(|x| x.id == v.id) {
                changes.push(Change::StagedVersion {
                    view: v.qualified_name(),
                    name: name.clone(),
                    serving: to,
                    version: v.version,
                });
            }
        }
    }
}

fn settings(v: &FeatureView) -> std::collections::BTreeMap<String, toml::Table> {
    v.metadata.feature_settings.clone().unwrap_or_default()
}

/// Microseconds since the Unix epoch, now.
fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
