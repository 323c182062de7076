//! Windowed aggregations computed inside the engine, by tiles.
//!
//! An aggregation view ([`crate::catalog::aggregation`]) aggregates the
//! events of a source view. For every key, the events of each tile (a fixed
//! span of `event_ts`, the view's `tile`) are summarised in a [`State`],
//! stored as a version of the aggregation view with `event_ts` = the
//! tile's start and `created_ts` = 0. The store updates the tiles in the
//! same atomic batch as the events ([`write`](mod@write)), so tiles and
//! events never disagree, not even after a crash.
//!
//! A read at time `t` ([`read`]) covers `(t − w, t]` (with a slide, the
//! window ends at the last multiple of the slide): the tiles inside the
//! window, plus the source's raw events at the two ragged edges, so every
//! window is exact and point-in-time correct. A read with `known_at` is
//! computed from raw events only (a tile mixes events written at different
//! times).
//!
//! An aggregation reads an event's columns as a lookup of that event would
//! ([`Resolved::event_values`]): a feature the event predates (added to the
//! source after it was written, or absent from its input) is its declared
//! default, else null. So `sum(level)` over events written before `level`
//! was added with `default = 1` counts 1 for each of them.
//!
//! Rules the store enforces for this to hold: an event rewritten with the
//! same `(key, event_ts, created_ts)` replaces the old one in its tile
//! (the tile is recomputed from the raw events); events older than the
//! source's newest `event_ts` minus `allowed_lateness` are refused
//! (`late_events = "reject"`) or written with their tiles corrected
//! (`"correct"`); a source of aggregations keeps its whole history (no
//! `retention` or `max_versions`); deletes remove events and tiles alike.

pub mod bucket;
pub mod collect;
mod collected;
#[cfg(any(test, feature = "test-util"))]
pub mod fixture;
pub mod layout;
pub mod numeric;
pub mod read;
pub mod sketch;
pub mod state;
pub mod tile;
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::aggregation::{self, Spec};
use crate::catalog::{Catalog, FeatureView};
pub use layout::Layout;
pub use state::State;
use strata_engine as engine;
use strata_format::key::ViewId;
use strata_format::schema::{FeatureType, Value};
pub use tile::{Groups, Tile};

/// An aggregation view with everything a read or write needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub view: FeatureView,
    pub source: FeatureView,
    pub source_schema: Vec<FeatureType>,
    /// The source features' declared defaults, one per feature.
    pub source_defaults: Vec<Option<Value>>,
    pub spec: Spec,
    /// The aggregations grouped by `where` filter; a tile holds one
    /// state per group ([`Tile`]).
    pub groups: Groups,
}

impl Resolved {
    /// The values of a stored event of the source, as every tile and raw
    /// read sees them: a field the event predates reads
    /// [`crate::predated`] of its default (the value a lookup serves).
    pub fn event_values(&self, stored: &[u8]) -> engine::Result<Vec<Value>> {
        let mut values = Vec::with_capacity(self.source_schema.len());
        crate::decode_stored_with(
            &self.source_schema,
            &self.source_defaults,
            stored,
            |_, v, _| values.push(v),
        )
        .map_err(|e| engine::Error::corrupt_row(self.source.id, e))?;
        Ok(values)
    }
}

/// The aggregation views of a catalog, by view and by source.
#[derive(Debug, Default)]
pub struct Index {
    by_view: HashMap<ViewId, Arc<Resolved>>,
    by_source: HashMap<ViewId, Vec<Arc<Resolved>>>,
}

impl Index {
    /// Resolves every aggregation view of `cat` (whose definitions were
    /// validated when applied; a view that no longer resolves is skipped).
    pub fn build(cat: &Catalog) -> Index {
        let mut ix = Index::default();
        for v in cat.views.iter().filter(|v| v.is_aggregation()) {
            let Some(source) = v.metadata.source.as_deref().and_then(|s| cat.view(s)) else {
                continue;
            };
            let Ok(spec) = aggregation::spec(v, source) else {
                continue;
            };
            let source_schema = source.schema();
            let r = Arc::new(Resolved {
                groups: Groups::new(&spec.aggregations, &source_schema),
                view: v.clone(),
                source: source.clone(),
                source_defaults: source.defaults(),
                source_schema,
                spec,
            });
            ix.by_source.entry(source.id).or_default().push(r.clone());
            ix.by_view.insert(v.id, r);
        }
        ix
    }

    /// The aggregation view with this id.
    pub fn view(&self, id: ViewId) -> Option<&Arc<Resolved>> {
        self.by_view.get(&id)
    }

    /// The aggregation views over the source view with this id.
    pub fn over(&self, source: ViewId) -> &[Arc<Resolved>] {
        self.by_source.get(&source).map_or(&[], |v| v.as_slice())
    }
}
