//! Administration operations of a [`Store`]: apply (and its plan) and
//! compaction. The CLI on a local store, the server's admin handler and
//! Python call these; they only translate arguments and print
//! [`ApplyReport::lines`].

use crate::catalog::defs::{self, Change, Definitions, Plan};
use crate::{Result, Store};
use strata_engine::MergeStats;

/// What `apply` (or `apply --plan`) did.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    pub plan: Plan,
    /// Whether the definitions were applied (false for a plan, or when
    /// there was nothing to change).
    pub applied: bool,
}

impl ApplyReport {
    /// Changes that are not merely views kept as they are.
    pub fn changed(&self) -> usize {
        self.plan
            .changes
            .iter()
            .filter(|c| !matches!(c, Change::KeepView { .. }))
            .count()
    }

    /// The report as printed: one line per change, then what happened.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.plan.changes.iter().map(|c| c.to_string()).collect();
        out.push(if self.plan.is_noop() {
            "nothing to change".into()
        } else if self.applied {
            format!("applied {} change(s)", self.changed())
        } else {
            "plan only: nothing was changed; run without --plan to apply".into()
        });
        out
    }
}

impl Store {
    /// What applying `defs` would change; changes nothing.
    pub fn plan(&self, defs: &Definitions) -> Result<ApplyReport> {
        Ok(ApplyReport {
            plan: defs::plan(&self.catalog(), defs)?,
            applied: false,
        })
    }

    /// Plans `defs` against the current definitions and applies the plan:
    /// the new catalog is durable, then published at once. A lookup in
    /// flight keeps the catalog it started with (catalogs are immutable
    /// snapshots behind an `Arc`); the next one sees the new definitions.
    /// Applies are serialised, so each plans against the one before.
    pub fn apply(&self, defs: &Definitions) -> Result<ApplyReport> {
        let _one_at_a_time = self.apply_lock.lock();
        let plan = defs::plan(&self.catalog(), defs)?;
        let applied = !plan.is_noop();
        if applied {
            self.set_catalog(plan.catalog.clone())?;
        }
        Ok(ApplyReport { plan, applied })
    }

    /// Merges every segment into one (dropping what retention and
    /// tombstones no longer keep). Readers are not disturbed: a segment
    /// leaves the manifest first and its file goes once no reader uses it.
    pub fn compact(&self) -> Result<MergeStats> {
        Ok(self.engine.compact()?)
    }
}

/// The line `delete` prints: which views lost the entity key's versions.
pub fn deleted_line(
    cat: &crate::catalog::Catalog,
    entity: &str,
    key: &[strata_format::schema::KeyValue],
) -> String {
    let key: Vec<String> = key.iter().map(ToString::to_string).collect();
    let views: Vec<String> = cat
        .views
        .iter()
        .filter(|v| v.entities.iter().any(|n| n == entity))
        .map(crate::catalog::FeatureView::qualified_name)
        .collect();
    format!(
        "deleted every version of {entity} {} in {}",
        key.join(","),
        if views.is_empty() {
            "no view (no view uses this entity)".into()
        } else {
            format!("view(s) {}", views.join(", "))
        }
    )
}

/// The line `compact` prints.
pub fn compacted_line(s: &MergeStats) -> String {
    format!(
        "compacted {} segment(s) into one: {} byte(s) read, {} written, {} entries dropped",
        s.inputs, s.bytes_read, s.bytes_written, s.entries_dropped
    )
}
