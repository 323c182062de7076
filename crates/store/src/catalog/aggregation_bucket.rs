//! Bucketed aggregations: `bucket = "category"` makes an aggregation give
//! one value per distinct value of a source column, as a map from the
//! bucket (as text) to the aggregate.
//!
//! ```toml
//! aggregations = [
//!   { function = "sum", column = "amount", bucket = "category", buckets = 50, window = "30d" },
//!                                                  # amount_sum_by_category_30d
//!   { function = "count", bucket = "category", window = "30d" },   # count_by_category_30d
//! ]
//! ```
//!
//! | function | column | feature type |
//! |---|---|---|
//! | `count` | optional (as unbucketed) | `map<string,int64>` |
//! | `sum`, `mean` (`avg`), `min`, `max`, `last` | numeric | `map<string,float64>` |
//!
//! The bucket column is a `string`, `int64` or `bool` column of the source;
//! its values are the map's keys as text (`int64` in decimal, `bool` as
//! `true`/`false`); an event whose bucket is null enters no bucket.
//! `buckets` (1..=[`MAX_BUCKETS`], default [`DEFAULT_BUCKETS`]) bounds the
//! distinct buckets of a window: with more, the feature is null (the state
//! keeps the `buckets` smallest keys, so the answer is exact or null, never
//! a silently truncated map).

use super::FeatureView;
use super::aggregation::Function;
use strata_format::schema::{FeatureType, Value};

/// The largest `buckets`.
pub const MAX_BUCKETS: i64 = 10_000;
/// `buckets` when none is given.
pub const DEFAULT_BUCKETS: u32 = 100;

/// The bucket of an aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// Index of the bucket column in the source view's schema.
    pub column: usize,
    /// The most distinct buckets a window may have (beyond: null).
    pub limit: u32,
}

/// The bucket of one `aggregations` entry (its table `t`), if it has one,
/// or the field and why it is wrong.
pub fn parse(
    t: &toml::Table,
    function: Function,
    column: Option<usize>,
    source: &FeatureView,
) -> Result<Option<Bucket>, (&'static str, String)> {
    let Some(b) = t.get("bucket") else {
        if t.contains_key("buckets") {
            return Err((
                "buckets",
                "buckets bounds the buckets of a bucketed aggregation; add bucket = \"<column>\""
                    .into(),
            ));
        }
        return Ok(None);
    };
    let name = b.as_str().ok_or((
        "bucket",
        "bucket must be a string naming a column of the source, e.g. bucket = \"category\"".into(),
    ))?;
    let idx = source.feature_index(name).ok_or_else(|| {
        let have: Vec<&str> = source.features.iter().map(|f| f.name.as_str()).collect();
        (
            "bucket",
            format!(
                "bucket {name:?}: the source view {:?} has no column {name:?} (it has {})",
                source.name,
                have.join(", ")
            ),
        )
    })?;
    let ty = source.features[idx].ty;
    if !matches!(
        ty,
        FeatureType::String | FeatureType::Int64 | FeatureType::Bool
    ) {
        return Err((
            "bucket",
            format!(
                "bucket column {name:?} is {ty}; a bucket needs a string, int64 or bool column"
            ),
        ));
    }
    let numeric = column
        .and_then(|c| source.features.get(c))
        .is_some_and(|f| {
            matches!(
                f.ty,
                FeatureType::Int64 | FeatureType::Float64 | FeatureType::Float32
            )
        });
    match function {
        Function::Count | Function::Sum | Function::Mean | Function::Min | Function::Max => {}
        Function::Last if numeric => {}
        Function::Last => {
            return Err((
                "bucket",
                "last with a bucket needs a numeric column (its values are map<string,float64>)"
                    .into(),
            ));
        }
        f => {
            return Err((
                "bucket",
                format!(
                    "{} cannot be bucketed; bucket supports count, sum, mean (avg), min, max and last",
                    f.base_name()
                ),
            ));
        }
    }
    let limit = match t.get("buckets") {
        None => DEFAULT_BUCKETS,
        Some(v) => match v.as_integer() {
            Some(n) if (1..=MAX_BUCKETS).contains(&n) => n as u32,
            _ => {
                return Err((
                    "buckets",
                    format!("buckets = {v}: needs an integer from 1 to {MAX_BUCKETS}"),
                ));
            }
        },
    };
    Ok(Some(Bucket { column: idx, limit }))
}

/// The type of a bucketed feature of function `f`.
pub fn feature_type(f: Function) -> FeatureType {
    match f {
        Function::Count => FeatureType::MapStringInt64,
        _ => FeatureType::MapStringFloat64,
    }
}

/// The map key of a bucket value; `None` for null (no bucket).
pub fn key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Int64(x) => Some(x.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
