//! The store's published definitions, and a small cache of resolved
//! lookup features beside them, so that a repeated request shape (the
//! same feature list) skips parsing and resolving its references: no
//! reference parsed, no view definition copied, no output name built.
//!
//! [`Published`] is one immutable value: the catalog, its resolved
//! aggregation and derived views, and the plan cache *of that catalog*.
//! The store holds it in an [`ArcSwap`]: a reader loads it without a lock
//! (and, in the common case, without touching a reference count), and
//! every catalog change ([`crate::Store::set_catalog`], which `apply`
//! calls) swaps in a new one whose cache starts empty. A cached plan can
//! therefore never outlive its definitions: it is only reachable through
//! the catalog it was resolved against.
//!
//! The cache itself is an immutable table swapped in on a miss (copy on
//! write; a table holds at most [`ENTRIES`] entries, and misses are as
//! rare as new request shapes), so a hit takes no lock either: one atomic
//! load, a comparison of the feature list, one reference count.
//!
//! Only what depends on the feature list and the catalog is cached: the
//! request's key and request columns, the online check and the caller's
//! grant checks run on every request ([`crate::Store::plan_lookup`]).

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::aggregate;
use crate::catalog::{Catalog, FeatureView};
use crate::derived;
use crate::refs::Resolved;

/// Entries kept; the oldest is replaced when full.
const ENTRIES: usize = 16;
/// Feature lists longer than this are not cached (a bound on the key's
/// memory).
const MAX_FEATURES: usize = 64;

/// The definitions a store serves, all from one catalog change.
pub(crate) struct Published {
    pub catalog: Arc<Catalog>,
    pub aggregations: Arc<aggregate::Index>,
    pub derived: Arc<derived::Index>,
    /// Lookups' resolutions against these definitions only.
    plans: ArcSwap<Plans>,
}

impl Published {
    pub(crate) fn new(catalog: Catalog) -> Published {
        let aggregations = aggregate::Index::build(&catalog);
        Published::with_aggregations(catalog, aggregations)
    }

    pub(crate) fn with_aggregations(catalog: Catalog, aggregations: aggregate::Index) -> Published {
        Published {
            derived: Arc::new(derived::Index::build(&catalog, &aggregations)),
            aggregations: Arc::new(aggregations),
            catalog: Arc::new(catalog),
            plans: ArcSwap::from_pointee(Plans::default()),
        }
    }

    /// The cached resolution of `features`, if any.
    fn cached<S: AsRef<str>>(&self, features: &[S]) -> Option<Arc<Resolved>> {
        self.plans
            .load()
            .entries
            .iter()
            .find(|(k, _)| same_list(k, features))
            .map(|(_, r)| Arc::clone(r))
    }

    /// Remembers `resolved` as the resolution of `features` (unless a
    /// concurrent miss already did).
    fn remember<S: AsRef<str>>(&self, features: &[S], resolved: &Arc<Resolved>) {
        if features.len() > MAX_FEATURES {
            return;
        }
        let key: Arc<[String]> = features.iter().map(|f| f.as_ref().to_string()).collect();
        self.plans.rcu(|plans| {
            if plans.entries.iter().any(|(k, _)| same_list(k, &key[..])) {
                return Arc::clone(plans);
            }
            let mut next = Plans::clone(plans);
            let entry = (Arc::clone(&key), Arc::clone(resolved));
            if next.entries.len() < ENTRIES {
                next.entries.push(entry);
            } else {
                if let Some(slot) = next.entries.get_mut(next.next) {
                    *slot = entry;
                }
                next.next = (next.next + 1) % ENTRIES;
            }
            Arc::new(next)
        });
    }
}

fn same_list<S: AsRef<str>>(cached: &[String], features: &[S]) -> bool {
    cached.len() == features.len()
        && cached
            .iter()
            .zip(features)
            .all(|(c, f)| c.as_str() == f.as_ref())
}

/// One version of the cache's table.
#[derive(Default, Clone)]
struct Plans {
    /// Feature lists shared between versions of the table (a miss copies
    /// the table's pointers, not its strings).
    entries: Vec<(Arc<[String]>, Arc<Resolved>)>,
    /// The next entry replaced when full.
    next: usize,
}

/// Look-ups answered from the cache (tests read it).
#[cfg(any(test, feature = "test-util"))]
#[derive(Default)]
pub(crate) struct Hits(std::sync::atomic::AtomicU64);

impl crate::Store {
    /// The current definitions, without a lock or a reference count.
    pub(crate) fn published(&self) -> arc_swap::Guard<Arc<Published>> {
        self.published.load()
    }

    /// A lookup's features (`view:feature` references, each item possibly
    /// a comma-separated list) resolved with qualified names and defaults,
    /// from the plan cache when the current catalog resolved the same list
    /// before. `authorize` is called for every view the resolution reads,
    /// with the catalog it was resolved against (so grants and lineage are
    /// checked on the definitions the lookup will read); a new resolution
    /// is cached only once `authorize` accepted all of them, so a caller
    /// without grants neither fills nor churns the cache.
    pub fn resolve_lookup_features<S: AsRef<str>, E: From<crate::Error>>(
        &self,
        features: &[S],
        mut authorize: impl FnMut(&Catalog, &FeatureView) -> Result<(), E>,
    ) -> Result<Arc<crate::refs::Resolved>, E> {
        let current = self.published();
        let cached = current.cached(features);
        #[cfg(any(test, feature = "test-util"))]
        if cached.is_some() {
            self.plan_cache_hits
                .0
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let resolved = match &cached {
            Some(r) => Arc::clone(r),
            None => {
                let parsed = crate::refs::parse_each(features).map_err(crate::Error::from)?;
                let names = crate::refs::Names::Qualified;
                Arc::new(resolve_in(&current, &parsed, names, true).map_err(E::from)?)
            }
        };
        for vp in &resolved.views {
            authorize(&current.catalog, &vp.view)?;
        }
        if cached.is_none() {
            current.remember(features, &resolved);
        }
        Ok(resolved)
    }

    /// Lookups planned from the plan cache since the store opened (tests
    /// check that a catalog change is not served from it).
    #[cfg(any(test, feature = "test-util"))]
    pub fn lookup_plan_cache_hits(&self) -> u64 {
        self.plan_cache_hits
            .0
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// [`crate::Store::resolve_features`] against one set of definitions.
pub(crate) fn resolve_in(
    published: &Published,
    features: &[crate::refs::FeatureRef],
    names: crate::refs::Names,
    fill_defaults: bool,
) -> crate::Result<crate::refs::Resolved> {
    let mut resolved = crate::refs::resolve(&published.catalog, features, names)?;
    for vp in &mut resolved.views {
        if fill_defaults {
            vp.defaults = vp.view.defaults();
        }
        vp.aggregation = published.aggregations.view(vp.view.id).cloned();
        vp.derived = published.derived.view(vp.view.id).cloned();
    }
    Ok(resolved)
}
