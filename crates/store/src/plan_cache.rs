//! A small cache of resolved lookup features, so that a repeated request
//! shape (the same feature list) skips parsing and resolving its
//! references: no reference parsed, no view definition copied, no output
//! name built.
//!
//! Staleness: an entry is only valid for the catalog it was resolved
//! against. The cache remembers the `Arc`s of the catalog, the aggregation
//! index and the derived index it was filled from, and holds them (so their
//! addresses cannot be reused); every look-up compares them by pointer with
//! the store's current ones, and any difference empties the cache. Every
//! catalog change ([`crate::Store::set_catalog`], which `apply` calls)
//! publishes new `Arc`s, so no cached plan outlives its definitions.
//!
//! Only what depends on the feature list and the catalog is cached: the
//! request's key and request columns, the online check and the caller's
//! grant checks run on every request ([`crate::Store::plan_lookup`]).

use std::sync::Arc;

use parking_lot::Mutex;

use crate::aggregate;
use crate::catalog::Catalog;
use crate::derived;
use crate::refs::Resolved;

/// Entries kept; the oldest is replaced when full.
const ENTRIES: usize = 16;
/// Feature lists longer than this are not cached (a bound on the key's
/// memory).
const MAX_FEATURES: usize = 64;

/// The catalog snapshot a cached resolution belongs to.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub catalog: Arc<Catalog>,
    pub aggregations: Arc<aggregate::Index>,
    pub derived: Arc<derived::Index>,
}

impl Snapshot {
    fn same(&self, other: &Snapshot) -> bool {
        Arc::ptr_eq(&self.catalog, &other.catalog)
            && Arc::ptr_eq(&self.aggregations, &other.aggregations)
            && Arc::ptr_eq(&self.derived, &other.derived)
    }
}

#[derive(Default)]
pub(crate) struct PlanCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    snapshot: Option<Snapshot>,
    entries: Vec<(Vec<String>, Arc<Resolved>)>,
    /// The next entry replaced when full.
    next: usize,
    /// Look-ups answered from the cache (tests read it).
    #[cfg(any(test, feature = "test-util"))]
    hits: u64,
}

impl PlanCache {
    /// The resolution of `features` cached for `snapshot`, if any.
    pub(crate) fn get(&self, snapshot: &Snapshot, features: &[String]) -> Option<Arc<Resolved>> {
        let mut inner = self.inner.lock();
        if !inner.snapshot.as_ref().is_some_and(|s| s.same(snapshot)) {
            // The catalog changed: nothing cached is valid.
            inner.entries.clear();
            inner.next = 0;
            inner.snapshot = None;
            return None;
        }
        let found = inner
            .entries
            .iter()
            .find(|(k, _)| k.as_slice() == features)
            .map(|(_, r)| Arc::clone(r));
        #[cfg(any(test, feature = "test-util"))]
        if found.is_some() {
            inner.hits += 1;
        }
        found
    }

    /// Remembers `resolved` as the resolution of `features` in `snapshot`.
    pub(crate) fn put(&self, snapshot: &Snapshot, features: &[String], resolved: &Arc<Resolved>) {
        if features.len() > MAX_FEATURES {
            return;
        }
        let mut inner = self.inner.lock();
        if !inner.snapshot.as_ref().is_some_and(|s| s.same(snapshot)) {
            inner.entries.clear();
            inner.next = 0;
            inner.snapshot = Some(snapshot.clone());
        }
        if inner.entries.iter().any(|(k, _)| k.as_slice() == features) {
            return;
        }
        let entry = (features.to_vec(), Arc::clone(resolved));
        if inner.entries.len() < ENTRIES {
            inner.entries.push(entry);
        } else {
            let i = inner.next;
            if let Some(slot) = inner.entries.get_mut(i) {
                *slot = entry;
            }
            inner.next = (i + 1) % ENTRIES;
        }
    }

    /// Look-ups answered from the cache since the store opened.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn hits(&self) -> u64 {
        self.inner.lock().hits
    }
}

impl crate::Store {
    /// The current catalog with its resolved aggregation and derived views.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            catalog: self.catalog(),
            aggregations: self.aggregations(),
            derived: self.derived(),
        }
    }

    /// A lookup's features (`view:feature` references, each item possibly
    /// a comma-separated list) resolved with qualified names and defaults,
    /// from the plan cache when the current catalog resolved the same list
    /// before.
    pub(crate) fn resolve_lookup_features(
        &self,
        features: &[String],
    ) -> crate::Result<Arc<crate::refs::Resolved>> {
        let snapshot = self.snapshot();
        if let Some(r) = self.plan_cache.get(&snapshot, features) {
            return Ok(r);
        }
        let parsed = crate::refs::parse_each(features)?;
        let resolved = Arc::new(resolve_in(
            &snapshot,
            &parsed,
            crate::refs::Names::Qualified,
            true,
        )?);
        self.plan_cache.put(&snapshot, features, &resolved);
        Ok(resolved)
    }

    /// Lookups planned from the plan cache since the store opened (tests
    /// check that a catalog change is not served from it).
    #[cfg(any(test, feature = "test-util"))]
    pub fn lookup_plan_cache_hits(&self) -> u64 {
        self.plan_cache.hits()
    }
}

/// [`crate::Store::resolve_features`] against one catalog snapshot.
pub(crate) fn resolve_in(
    snapshot: &Snapshot,
    features: &[crate::refs::FeatureRef],
    names: crate::refs::Names,
    fill_defaults: bool,
) -> crate::Result<crate::refs::Resolved> {
    let mut resolved = crate::refs::resolve(&snapshot.catalog, features, names)?;
    for vp in &mut resolved.views {
        if fill_defaults {
            vp.defaults = vp.view.defaults();
        }
        vp.aggregation = snapshot.aggregations.view(vp.view.id).cloned();
        vp.derived = snapshot.derived.view(vp.view.id).cloned();
    }
    Ok(resolved)
}
