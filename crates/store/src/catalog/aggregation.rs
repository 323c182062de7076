//! Aggregation views: features computed by the engine over the events of
//! another view, in time windows.
//!
//! ```toml
//! [[feature_views]]
//! name = "user_txn_stats"
//! source = "transactions"        # the event view (declared in the same file)
//! allowed_lateness = "1h"        # default 0
//! late_events = "reject"         # or "correct"; default "reject"
//! tile = "5m"                    # optional; see below
//! aggregations = [
//!   { function = "count", windows = ["1h", "1d"] },                   # count_1h, count_1d
//!   { function = "sum", column = "amount", windows = ["1h", "30d"] },  # amount_sum_1h, ...
//!   { function = "p95", column = "amount", window = "1d", slide = "1h", name = "amount_p95_hourly" },
//! ]
//! ```
//!
//! An aggregation view declares no `features` and no `entities`: its
//! entities are its source's, and it has one feature per (aggregation,
//! window), named `name` when given (one window only) or
//! `{column}_{function}_{window}` (`{function}_{window}` without a column).
//!
//! An aggregation may carry a filter, `where = "event_type = 'click'"`: a
//! condition over the source event's columns in the expression language
//! (docs/EXPRESSIONS.md); only the events for which it is true (not false,
//! not null) enter that aggregation. An aggregation with `where` needs a
//! `name` (its default name would be that of the unfiltered one).
//!
//! Functions and the feature types they give:
//!
//! | function | column | type | over an empty window |
//! |---|---|---|---|
//! | `count` | optional: without, events; with, non-null values | int64 | 0 |
//! | `sum`, `mean`, `min`, `max` | numeric | float64 | null |
//! | `stddev` (sample, n − 1) | numeric | float64 | null (n < 2) |
//! | `last` (value of the newest event) | any | the column's | null |
//! | `age_of_last` (read time − newest event's `event_ts`, µs) | none | int64 | null |
//! | `count_distinct` (HyperLogLog, ≈ 2.3 % standard error) | any | int64 | 0 |
//! | `p50`, `p95`, `p99` (relative error ≤ 1 %) | numeric | float64 | null |
//!
//! and `first`, `variance`, `percentile`, `count_distinct_exact`,
//! `collect_set`, `first_k`, `last_k`, `top_k`, `bottom_k`, `histogram`,
//! whose parameters and types are in [`super::aggregation_params`].
//!
//! Numeric columns are `int64`, `float64`, `float32`. Nulls are skipped by
//! every function with a column except `last` and `first`.
//!
//! A read at time `t` covers events with `t − window < event_ts <= t`; with
//! a `slide`, the window ends at the last multiple of `slide` not after `t`
//! (a hopping window: the value changes once per slide).
//!
//! `tile` (default: the greatest common divisor of every window, every
//! slide and the smallest window / 12, rounded down to whole seconds) is
//! the width of the partial aggregates kept per key; it changes speed, not
//! results. The specification of an existing view version cannot change
//! (its tiles were computed for it), except `allowed_lateness` and
//! `late_events`.

use super::aggregation_bucket as bucket;
pub use super::aggregation_bucket::Bucket;
pub use super::aggregation_entry::Filter;
use super::aggregation_entry::{entry_column, entry_filter, numeric_column, parse_entries};
use super::aggregation_params as params;
use super::duration;
use super::error::{Error, Result, Subject};
use super::{Feature, FeatureView};
use strata_format::schema::FeatureType;

pub use super::metadata::{AGGREGATION_ONLY as KEYS, AGGREGATIONS, LatePolicy};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    Stddev,
    Last,
    AgeOfLast,
    CountDistinct,
    /// A percentile, 1..=99.
    Percentile(u8),
    /// The value of the oldest event.
    First,
    /// Sample variance (n − 1).
    Variance,
    /// Any quantile, in parts per 10 000 (`percentile`, `quantiles = [...]`).
    Quantile(u16),
    /// The exact number of distinct values; null beyond `limit`.
    CountDistinctExact {
        limit: u32,
    },
    /// The `limit` smallest distinct values, ascending.
    CollectSet {
        limit: u32,
    },
    /// The `k` oldest values, oldest first.
    FirstK(u32),
    /// The `k` newest values, newest first.
    LastK(u32),
    /// The `k` largest values, largest first.
    TopK(u32),
    /// The `k` smallest values, smallest first.
    BottomK(u32),
    /// The `k` most frequent values with their counts; null beyond `limit`
    /// distinct values.
    Histogram {
        k: u32,
        limit: u32,
    },
}

impl Function {
    pub fn parse(name: &str) -> Option<Function> {
        Some(match name {
            "count" => Function::Count,
            "sum" => Function::Sum,
            "mean" | "avg" => Function::Mean,
            "min" => Function::Min,
            "max" => Function::Max,
            "stddev" => Function::Stddev,
            "last" => Function::Last,
            "age_of_last" => Function::AgeOfLast,
            "count_distinct" => Function::CountDistinct,
            "p50" => Function::Percentile(50),
            "p95" => Function::Percentile(95),
            "p99" => Function::Percentile(99),
            // Parameters (0 here) come from the definition: see
            // `aggregation_params::expand`.
            "first" => Function::First,
            "variance" => Function::Variance,
            "percentile" => Function::Quantile(0),
            "count_distinct_exact" => Function::CountDistinctExact { limit: 0 },
            "collect_set" => Function::CollectSet { limit: 0 },
            "first_k" => Function::FirstK(0),
            "last_k" => Function::LastK(0),
            "top_k" => Function::TopK(0),
            "bottom_k" => Function::BottomK(0),
            "histogram" => Function::Histogram { k: 0, limit: 0 },
            _ => return None,
        })
    }

    /// The function's name as written in definitions (`first_k`, `percentile`).
    pub fn base_name(self) -> String {
        match self {
            Function::Quantile(_) => "percentile".into(),
            Function::FirstK(_) => "first_k".into(),
            Function::LastK(_) => "last_k".into(),
            Function::TopK(_) => "top_k".into(),
            Function::BottomK(_) => "bottom_k".into(),
            f => f.name(),
        }
    }

    pub fn name(self) -> String {
        match self {
            Function::Count => "count".into(),
            Function::Sum => "sum".into(),
            Function::Mean => "mean".into(),
            Function::Min => "min".into(),
            Function::Max => "max".into(),
            Function::Stddev => "stddev".into(),
            Function::Last => "last".into(),
            Function::AgeOfLast => "age_of_last".into(),
            Function::CountDistinct => "count_distinct".into(),
            Function::Percentile(p) => format!("p{p}"),
            Function::First => "first".into(),
            Function::Variance => "variance".into(),
            Function::Quantile(q) => params::quantile_name(q),
            Function::CountDistinctExact { .. } => "count_distinct_exact".into(),
            Function::CollectSet { .. } => "collect_set".into(),
            Function::FirstK(k) => format!("first{k}"),
            Function::LastK(k) => format!("last{k}"),
            Function::TopK(k) => format!("top{k}"),
            Function::BottomK(k) => format!("bottom{k}"),
            Function::Histogram { .. } => "histogram".into(),
        }
    }

    fn needs_number(self) -> bool {
        matches!(
            self,
            Function::Sum
                | Function::Mean
                | Function::Min
                | Function::Max
                | Function::Stddev
                | Function::Percentile(_)
                | Function::Variance
                | Function::Quantile(_)
        )
    }
}

/// One computed feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub feature: String,
    pub function: Function,
    /// Index of the column in the source view's schema.
    pub column: Option<usize>,
    /// Window width, µs (> 0).
    pub window: i64,
    /// Hop, µs; 0 = a sliding window ending at the read time.
    pub slide: i64,
    /// `where`: only the events it matches enter the aggregation.
    pub filter: Option<Filter>,
    /// `bucket`: one value per distinct value of this column.
    pub bucket: Option<Bucket>,
}

impl Aggregation {
    /// The window `(start, end]` of a read at `t`.
    pub fn window_at(&self, t: i64) -> (i64, i64) {
        let end = if self.slide > 0 {
            t.div_euclid(self.slide).saturating_mul(self.slide)
        } else {
            t
        };
        (end.saturating_sub(self.window), end)
    }
}

/// The parsed specification of an aggregation view.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The source view, `name@version`.
    pub source: String,
    pub tile: i64,
    pub allowed_lateness: i64,
    pub late: LatePolicy,
    /// In the view's feature order (empty for a session view).
    pub aggregations: Vec<Aggregation>,
    /// A session view's sessions ([`super::session`]); its features are
    /// computed from the source's events at each read, without tiles.
    pub session: Option<super::session::Spec>,
}

impl FeatureView {
    /// Whether this view is an aggregation view.
    pub fn is_aggregation(&self) -> bool {
        self.metadata.aggregations.is_some()
    }
}

/// The specification of `view`, an aggregation view of a valid catalog,
/// given its source view.
pub fn spec(view: &FeatureView, source: &FeatureView) -> Result<Spec> {
    let m = &view.metadata;
    if let Some(session) = super::session::spec(view, source)? {
        return Ok(Spec {
            source: source.reference(),
            tile: default_tile(&[]),
            allowed_lateness: m.allowed_lateness.map_or(0, |d| d.micros),
            late: m.late_events.unwrap_or(LatePolicy::Reject),
            aggregations: Vec::new(),
            session: Some(session),
        });
    }
    let subject = || Subject::AggregationView(view.name.clone());
    let aggregations = parse_entries(
        &view.name,
        m.aggregations.as_deref(),
        "aggregations must be an array of tables such as { function = \"count\", window = \"1h\" }",
        |bad, a| one(bad, a, source),
    )?;
    let tile = match m.tile {
        Some(t) if t.micros == 0 => {
            return Err(Error::invalid(subject(), "tile", "tile cannot be 0"));
        }
        Some(t) => t.micros,
        None => default_tile(&aggregations),
    };
    Ok(Spec {
        source: source.reference(),
        tile,
        allowed_lateness: m.allowed_lateness.map_or(0, |d| d.micros),
        late: m.late_events.unwrap_or(LatePolicy::Reject),
        aggregations,
        session: None,
    })
}

/// The features of one `aggregations` entry (one per window); `bad` makes
/// the error of a field.
fn one(
    bad: impl Fn(&str, String) -> Error,
    t: &toml::Table,
    source: &FeatureView,
) -> Result<Vec<Aggregation>> {
    const FIELDS: [&str; 12] = [
        "function",
        "column",
        "window",
        "windows",
        "slide",
        "name",
        "where",
        "quantiles",
        "k",
        "limit",
        "bucket",
        "buckets",
    ];
    const FUNCTIONS: &str = "count, sum, mean, min, max, stddev, variance, first, last, age_of_last, count_distinct, count_distinct_exact, p50, p95, p99, percentile, collect_set, first_k, last_k, top_k, bottom_k, histogram";
    if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(
            k,
            format!(
                "unknown field {k:?} (function, column, window(s), slide, name, where, quantiles, k, limit, bucket, buckets)"
            ),
        ));
    }
    let fname = t
        .get("function")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("function", format!("function is missing ({FUNCTIONS})")))?;
    let function = Function::parse(fname).ok_or_else(|| {
        bad(
            "function",
            format!("unknown function {fname:?} ({FUNCTIONS})"),
        )
    })?;
    let functions = params::expand(function, t).map_err(|(field, why)| bad(field, why))?;
    let column = entry_column(&bad, t, source)?;
    match (function, column) {
        (Function::AgeOfLast, Some(_)) => {
            return Err(bad(
                "column",
                "age_of_last takes no column (it is the age of the newest event)".into(),
            ));
        }
        (f, None) if f != Function::Count && f != Function::AgeOfLast => {
            return Err(bad("column", format!("{} needs a column", f.base_name())));
        }
        (f, Some(c)) if f.needs_number() => numeric_column(&bad, source, &f.base_name(), c)?,
        (f, Some((name, idx))) => {
            let ty = source.features.get(idx).map(|f| f.ty);
            if let Some(why) = ty.and_then(|ty| params::column_error(f, ty)) {
                return Err(bad(
                    "column",
                    format!(
                        "{why} ({name:?} is {})",
                        ty.map_or("missing".to_string(), |t| t.to_string())
                    ),
                ));
            }
        }
        _ => {}
    }
    let bucket = bucket::parse(t, function, column.map(|c| c.1), source)
        .map_err(|(field, why)| bad(field, why))?;
    let windows: Vec<i64> = match (t.get("window"), t.get("windows")) {
        (Some(w), None) => {
            vec![duration::from_toml(w).map_err(|e| bad("window", format!("window: {e}")))?]
        }
        (None, Some(ws)) => ws
            .as_array()
            .ok_or_else(|| {
                bad(
                    "windows",
                    "windows must be an array such as [\"1h\", \"1d\"]".into(),
                )
            })?
            .iter()
            .map(|w| duration::from_toml(w).map_err(|e| bad("windows", format!("windows: {e}"))))
            .collect::<Result<_>>()?,
        _ => {
            return Err(bad(
                "window",
                "give exactly one of window = \"1h\" or windows = [\"1h\", \"1d\"]".into(),
            ));
        }
    };
    if windows.is_empty() || windows.contains(&0) {
        return Err(bad("window", "every window must be longer than 0".into()));
    }
    let slide = match t.get("slide") {
        None => 0,
        Some(s) => duration::from_toml(s).map_err(|e| bad("slide", format!("slide: {e}")))?,
    };
    let name = t.get("name").map(|n| n.as_str());
    let filter = entry_filter(
        &bad,
        t,
        source,
        name.flatten(),
        "an aggregation with where needs a name (its default name is the unfiltered aggregation's)",
    )?;
    if name.is_some() && windows.len() * functions.len() != 1 {
        return Err(bad(
            "name",
            "name is only allowed with one window and one quantile (each is a feature)".into(),
        ));
    }
    windows
        .into_iter()
        .flat_map(|window| functions.iter().map(move |f| (window, *f)))
        .map(|(window, function)| {
            let feature = match name {
                Some(Some(n)) => n.to_string(),
                Some(None) => return Err(bad("name", "name must be a string".into())),
                None => {
                    let w = duration::format(window);
                    let by = bucket
                        .and_then(|b| source.features.get(b.column))
                        .map_or(String::new(), |f| format!("_by_{}", f.name));
                    match column {
                        Some((c, _)) => format!("{c}_{}{by}_{w}", function.name()),
                        None => format!("{}{by}_{w}", function.name()),
                    }
                }
            };
            Ok(Aggregation {
                feature,
                function,
                column: column.map(|c| c.1),
                window,
                slide,
                filter: filter.clone(),
                bucket,
            })
        })
        .collect()
}

/// The greatest common divisor of every window, every slide and the
/// smallest window / 12 (whole seconds, at least 1 s).
fn default_tile(aggs: &[Aggregation]) -> i64 {
    const SECOND: i64 = 1_000_000;
    let smallest = aggs.iter().map(|a| a.window).min().unwrap_or(SECOND);
    let twelfth = (smallest / 12 / SECOND).max(1) * SECOND;
    aggs.iter()
        .flat_map(|a| [a.window, a.slide])
        .filter(|&d| d > 0)
        .fold(twelfth, gcd)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The type of the feature an aggregation computes.
pub fn feature_type(a: &Aggregation, source: &FeatureView) -> FeatureType {
    if a.bucket.is_some() {
        return bucket::feature_type(a.function);
    }
    let column = a.column.and_then(|c| source.features.get(c)).map(|f| f.ty);
    if let Some(ty) = column.and_then(|c| params::feature_type(a.function, c)) {
        return ty;
    }
    match a.function {
        Function::Count | Function::CountDistinct | Function::AgeOfLast => FeatureType::Int64,
        Function::Last => a
            .column
            .and_then(|c| source.features.get(c))
            .map_or(FeatureType::Int64, |f| f.ty),
        _ => FeatureType::Float64,
    }
}

/// Completes an aggregation view read from a definitions file: entities
/// from its source, features from its aggregations, and `source`
/// canonicalised to `name@version`. `views` are the file's views.
pub fn complete(view: &mut FeatureView, views: &[FeatureView]) -> Result<()> {
    let subject = || Subject::AggregationView(view.name.clone());
    let bad = |field: &str, reason: String| Error::invalid(subject(), field, reason);
    if !view.features.is_empty() || !view.entities.is_empty() {
        return Err(bad(
            "features",
            "declares features or entities; an aggregation view takes them from its source and aggregations".into(),
        ));
    }
    if view.ttl_micros != 0 {
        return Err(bad(
            "ttl",
            "ttl does not apply to an aggregation view (its windows say how far back it reads)"
                .into(),
        ));
    }
    let src = view
        .metadata
        .source
        .as_deref()
        .map(|s| s.strip_prefix("view:").unwrap_or(s).trim().to_string())
        .ok_or_else(|| {
            bad("source", "source is missing; name the event view it aggregates, e.g. source = \"transactions\"".into())
        })?;
    let (name, version) = match src.split_once('@') {
        Some((n, v)) => (n, v.parse::<u32>().ok()),
        None => (src.as_str(), None),
    };
    let source = views
        .iter()
        .filter(|v| v.name == name && version.is_none_or(|x| x == v.version))
        .max_by_key(|v| v.version)
        .ok_or_else(|| {
            bad("source", format!("the source view {src:?} is not declared in this file; declare it beside the aggregation view"))
        })?;
    if source.is_aggregation() {
        return Err(bad(
            "source",
            format!(
                "the source {src:?} is itself an aggregation view; aggregate raw events instead"
            ),
        ));
    }
    let declared = [
        ("retention", source.metadata.retention.is_some()),
        ("max_versions", source.metadata.max_versions.is_some()),
    ];
    if let Some((k, _)) = declared.iter().find(|(_, set)| *set) {
        return Err(bad(
            "source",
            format!(
                "its source {:?} declares {k}, but windows at any time in the past are read from the source's events; remove {k} from the source",
                source.name
            ),
        ));
    }
    let spec = spec(view, source)?;
    view.entities = source.entities.clone();
    let feature = |name: &str, ty| Feature {
        name: name.to_string(),
        ty,
        description: String::new(),
        tags: Vec::new(),
    };
    view.features = match &spec.session {
        Some(s) => s
            .features
            .iter()
            .map(|f| feature(&f.feature, super::session::feature_type(f, source)))
            .collect(),
        None => spec
            .aggregations
            .iter()
            .map(|a| feature(&a.feature, feature_type(a, source)))
            .collect(),
    };
    view.metadata.source = Some(source.reference());
    Ok(())
}

/// Why `new` cannot replace `old` (both versions of one aggregation view):
/// only `allowed_lateness` and `late_events` may change. The reason
/// completes "feature view NAME: ..." ([`Error::ViewEvolution`]).
pub(crate) fn evolution(old: &FeatureView, new: &FeatureView) -> Result<(), String> {
    if old.is_aggregation() != new.is_aggregation() {
        return Err("it changes between a plain and an aggregation view".into());
    }
    if old.is_session() != new.is_session() {
        return Err("it changes between a session and a windowed aggregation view".into());
    }
    let (o, n) = (&old.metadata, &new.metadata);
    let changed = [
        (AGGREGATIONS, o.aggregations != n.aggregations),
        ("tile", o.tile != n.tile),
        ("source", o.source != n.source),
        (super::metadata::SESSION_GAP, o.session_gap != n.session_gap),
    ];
    if old.is_aggregation()
        && let Some((k, _)) = changed.iter().find(|(_, c)| *c)
    {
        let why = if old.is_session() {
            "a version's sessions cannot change meaning; declare a new version"
        } else {
            "its stored tiles were computed for the old one"
        };
        return Err(format!("its {k} changes, and {why}"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "aggregation_tests.rs"]
mod tests;
