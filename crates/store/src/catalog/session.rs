//! Session views: aggregation views whose features describe the entity's
//! *session* at the read time (Spark's `session_window`).
//!
//! ```toml
//! [[feature_views]]
//! name = "user_sessions"
//! source = "page_views"          # the event view (declared in the same file)
//! session_gap = "30m"            # inactivity that ends a session
//! allowed_lateness = "1h"        # as for aggregation views; default 0
//! late_events = "correct"        # or "reject" (the default)
//! aggregations = [
//!   { function = "count", name = "session_length" },
//!   { function = "count_distinct", column = "page", name = "unique_pages" },
//!   { function = "count", where = "event_type = 'click'", name = "clicks" },
//!   { function = "first", column = "page", name = "landing_page" },
//!   { function = "last", column = "page", name = "exit_page" },
//!   { function = "session_start" },
//!   { function = "duration" },
//!   { function = "is_open" },
//! ]
//! ```
//!
//! The session at time `t` is the maximal run of the source's events, in
//! `event_ts` order, whose consecutive gaps are ≤ `session_gap` and which
//! contains the newest event at or before `t`. Events after `t` never
//! count. A key with no event at or before `t` is `NOT_FOUND`. The
//! semantics, and how a read computes them, are in `docs/SESSIONS.md`.
//!
//! A session view declares no `features`, `entities`, `tile`, `window`,
//! `windows` or `slide`; each entry of `aggregations` takes `function`,
//! `column`, `name` and `where`, and is one feature named `name`, or
//! `{column}_{function}` (`{function}` without a column).
//!
//! `where = "event_type = 'click'"` (the expression language of
//! docs/EXPRESSIONS.md, over the source's columns) lets only the session's
//! events for which it is true enter that feature: `count` with `where` is
//! the session's clicks, `first` with `where` the value of its first
//! matching event (null if none). It does not change what the session is
//! (all events make it), so `session_start`, `session_end`, `duration`
//! and `is_open` take no `where`. A feature with `where` needs a `name`.
//!
//! | function | column | type | value |
//! |---|---|---|---|
//! | `count` | optional: without, events; with, non-null values | int64 | |
//! | `count_distinct` (exact) | any | int64 | distinct non-null values |
//! | `first`, `last` | any | the column's | value of the oldest / newest event (may be null) |
//! | `min`, `max`, `sum`, `mean` | numeric | float64 | over non-null values; null if none |
//! | `session_start`, `session_end` | none | timestamp | `event_ts` of the oldest / newest event |
//! | `duration` | none | int64 | `session_end − session_start`, µs |
//! | `is_open` | none | bool | `t − session_end ≤ session_gap` |
//!
//! Events with the same `event_ts` are ordered by `created_ts` for
//! `first` and `last`.

use super::FeatureView;
use super::aggregation::Filter;
use super::aggregation_entry::{entry_column, entry_filter, numeric_column, parse_entries};
use super::error::{Error, Result, Subject};
use super::metadata::SESSION_GAP;
use strata_format::schema::FeatureType;

/// Declares [`Function`] and `NAMES`, each function with its name in a
/// definitions file.
macro_rules! functions {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A session function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Function {
            $($variant),+
        }

        /// The functions, as written in a definitions file.
        const NAMES: [(&str, Function); [$($name),+].len()] = [$(($name, Function::$variant)),+];
    };
}

functions! {
    Count => "count",
    CountDistinct => "count_distinct",
    First => "first",
    Last => "last",
    Min => "min",
    Max => "max",
    Sum => "sum",
    Mean => "mean",
    SessionStart => "session_start",
    SessionEnd => "session_end",
    Duration => "duration",
    IsOpen => "is_open",
}

impl Function {
    pub fn parse(name: &str) -> Option<Function> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    fn column(self) -> ColumnRule {
        match self {
            Function::Count => ColumnRule::Optional,
            Function::CountDistinct | Function::First | Function::Last => ColumnRule::Any,
            Function::Min | Function::Max | Function::Sum | Function::Mean => ColumnRule::Numeric,
            Function::SessionStart
            | Function::SessionEnd
            | Function::Duration
            | Function::IsOpen => ColumnRule::None,
        }
    }
}

/// What column a function takes.
enum ColumnRule {
    Optional,
    Any,
    Numeric,
    None,
}

/// One feature of a session view.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFeature {
    pub feature: String,
    pub function: Function,
    /// Index of the column in the source view's schema.
    pub column: Option<usize>,
    /// `where`: only the session's events it matches enter the feature.
    pub filter: Option<Filter>,
}

/// The parsed specification of a session view.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The inactivity gap, µs (> 0): consecutive events at most this far
    /// apart are in one session.
    pub gap: i64,
    /// In the view's feature order.
    pub features: Vec<SessionFeature>,
}

impl FeatureView {
    /// Whether this view is a session view (an aggregation view with a
    /// `session_gap`).
    pub fn is_session(&self) -> bool {
        self.metadata.session_gap.is_some()
    }
}

/// The specification of session view `view` over `source`, or `None` when
/// `view` declares no `session_gap`.
pub fn spec(view: &FeatureView, source: &FeatureView) -> Result<Option<Spec>> {
    let m = &view.metadata;
    let Some(gap) = m.session_gap else {
        return Ok(None);
    };
    let subject = || Subject::AggregationView(view.name.clone());
    if gap.micros <= 0 {
        return Err(Error::invalid(
            subject(),
            SESSION_GAP,
            "session_gap must be longer than 0",
        ));
    }
    if m.tile.is_some() {
        return Err(Error::invalid(
            subject(),
            "tile",
            "a session view has no tiles (its sessions are read from the source's events); remove tile",
        ));
    }
    let features = parse_entries(
        &view.name,
        m.aggregations.as_deref(),
        "a session view needs aggregations = [...], e.g. [{ function = \"count\" }, { function = \"duration\" }]",
        |bad, t| one(bad, t, source).map(Some),
    )?;
    Ok(Some(Spec {
        gap: gap.micros,
        features,
    }))
}

/// The feature of one `aggregations` entry; `bad` makes the error of a field.
fn one(
    bad: impl Fn(&str, String) -> Error,
    t: &toml::Table,
    source: &FeatureView,
) -> Result<SessionFeature> {
    const FIELDS: [&str; 4] = ["function", "column", "name", "where"];
    if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let why = if matches!(k.as_str(), "window" | "windows" | "slide") {
            format!(
                "{k} does not apply to a session view: its features cover the session (function, column, name, where)"
            )
        } else {
            format!("unknown field {k:?} (function, column, name, where)")
        };
        return Err(bad(k, why));
    }
    let all = || NAMES.map(|(n, _)| n).join(", ");
    let fname = t
        .get("function")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("function", format!("function is missing ({})", all())))?;
    let function = Function::parse(fname).ok_or_else(|| {
        bad(
            "function",
            format!("unknown session function {fname:?} ({})", all()),
        )
    })?;
    let column = entry_column(&bad, t, source)?;
    let f = function.name();
    match (function.column(), column) {
        (ColumnRule::None, Some(_)) => {
            return Err(bad("column", format!("{f} takes no column")));
        }
        (ColumnRule::Any | ColumnRule::Numeric, None) => {
            return Err(bad("column", format!("{f} needs a column")));
        }
        (ColumnRule::Numeric, Some(c)) => numeric_column(&bad, source, f, c)?,
        _ => {}
    }
    let name = match t.get("name") {
        Some(n) => Some(
            n.as_str()
                .ok_or_else(|| bad("name", "name must be a string".into()))?
                .to_string(),
        ),
        None => None,
    };
    if t.contains_key("where") && matches!(function.column(), ColumnRule::None) {
        return Err(bad(
            "where",
            format!(
                "{f} describes the whole session and takes no where (a filter selects the events of a count, sum, first, ...)"
            ),
        ));
    }
    let filter = entry_filter(
        &bad,
        t,
        source,
        name.as_deref(),
        "a feature with where needs a name (its default name is the unfiltered feature's)",
    )?;
    let feature = name.unwrap_or_else(|| match column {
        Some((c, _)) => format!("{c}_{f}"),
        None => f.to_string(),
    });
    Ok(SessionFeature {
        feature,
        function,
        column: column.map(|c| c.1),
        filter,
    })
}

/// The type of the feature `f` computes.
pub fn feature_type(f: &SessionFeature, source: &FeatureView) -> FeatureType {
    match f.function {
        Function::Count | Function::CountDistinct | Function::Duration => FeatureType::Int64,
        Function::First | Function::Last => f
            .column
            .and_then(|c| source.features.get(c))
            .map_or(FeatureType::Int64, |f| f.ty),
        Function::Min | Function::Max | Function::Sum | Function::Mean => FeatureType::Float64,
        Function::SessionStart | Function::SessionEnd => FeatureType::Timestamp,
        Function::IsOpen => FeatureType::Bool,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
