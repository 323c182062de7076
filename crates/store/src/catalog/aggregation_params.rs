//! The parameters of the aggregate functions that take some (`quantiles`,
//! `k`, `limit`), the column types each function accepts, and the feature
//! type it gives.
//!
//! | function | parameters | column | feature type | over an empty window |
//! |---|---|---|---|---|
//! | `first` (value of the oldest event) | | any | the column's | null |
//! | `variance` (sample, n − 1) | | numeric | float64 | null (n < 2) |
//! | `percentile` | `quantiles = [0.5, 0.9]` (0 ≤ q ≤ 1, 4 decimals) | numeric | float64 per quantile | null |
//! | `count_distinct_exact` | `limit` (1..=100 000) | int64, float, string, bool, timestamp | int64; null beyond `limit` | 0 |
//! | `collect_set` (the `limit` smallest distinct values, ascending) | `limit` (1..=100 000) | int64, float, string | list of the column's | null |
//! | `first_k`, `last_k` (oldest first / newest first) | `k` (1..=1 000) | int64, float, string | list | null |
//! | `top_k`, `bottom_k` (largest first / smallest first, repeats kept) | `k` (1..=1 000) | int64, float, string | list | null |
//! | `histogram` (the `k` most frequent values) | `k`, optional `limit` (default 1 000) | string, int64, bool | map<string,int64>; null beyond `limit` | null |

use super::aggregation::Function;
use strata_format::schema::FeatureType;

/// The largest `k`.
pub const MAX_K: i64 = 1_000;
/// The largest `limit`.
pub const MAX_LIMIT: i64 = 100_000;
/// `histogram`'s `limit` when none is given.
pub const DEFAULT_HISTOGRAM_LIMIT: u32 = 1_000;

/// The functions of one `aggregations` entry with their parameters filled
/// in from its table (one per quantile for `percentile`), or the field and
/// why it is wrong.
pub fn expand(f: Function, t: &toml::Table) -> Result<Vec<Function>, (&'static str, String)> {
    let name = f.base_name();
    let takes = |field: &str| match field {
        "quantiles" => matches!(f, Function::Quantile(_)),
        "k" => matches!(
            f,
            Function::FirstK(_)
                | Function::LastK(_)
                | Function::TopK(_)
                | Function::BottomK(_)
                | Function::Histogram { .. }
        ),
        _ => matches!(
            f,
            Function::CountDistinctExact { .. }
                | Function::CollectSet { .. }
                | Function::Histogram { .. }
        ),
    };
    for field in ["quantiles", "k", "limit"] {
        if t.contains_key(field) && !takes(field) {
            return Err((field, format!("{name} takes no {field}")));
        }
    }
    let int = |field: &'static str, max: i64| -> Result<Option<u32>, (&'static str, String)> {
        match t.get(field) {
            None => Ok(None),
            Some(v) => match v.as_integer() {
                Some(n) if (1..=max).contains(&n) => Ok(Some(n as u32)),
                _ => Err((
                    field,
                    format!("{field} = {v}: {name} needs an integer from 1 to {max}"),
                )),
            },
        }
    };
    let need = |field: &'static str, max: i64, example: &str| {
        int(field, max)?.ok_or((
            field,
            format!("{name} needs {field} (e.g. {field} = {example})"),
        ))
    };
    Ok(match f {
        Function::Quantile(_) => {
            let qs = t
                .get("quantiles")
                .and_then(|v| v.as_array())
                .filter(|a| !a.is_empty())
                .ok_or((
                    "quantiles",
                    "percentile needs quantiles, a non-empty array such as [0.5, 0.9]".to_string(),
                ))?;
            let mut out = Vec::new();
            for q in qs {
                let x = q.as_float().or(q.as_integer().map(|i| i as f64));
                let parts = x.map(|x| x * 10_000.0);
                match parts {
                    Some(p) if (0.0..=10_000.0).contains(&p) && (p - p.round()).abs() < 1e-6 => {
                        let f = Function::Quantile(p.round() as u16);
                        if out.contains(&f) {
                            return Err(("quantiles", format!("quantile {q} is listed twice")));
                        }
                        out.push(f);
                    }
                    _ => {
                        return Err((
                            "quantiles",
                            format!(
                                "quantile {q} must be a number from 0 to 1 with at most 4 decimals"
                            ),
                        ));
                    }
                }
            }
            out
        }
        Function::CountDistinctExact { .. } => vec![Function::CountDistinctExact {
            limit: need("limit", MAX_LIMIT, "1000")?,
        }],
        Function::CollectSet { .. } => vec![Function::CollectSet {
            limit: need("limit", MAX_LIMIT, "100")?,
        }],
        Function::FirstK(_) => vec![Function::FirstK(need("k", MAX_K, "5")?)],
        Function::LastK(_) => vec![Function::LastK(need("k", MAX_K, "5")?)],
        Function::TopK(_) => vec![Function::TopK(need("k", MAX_K, "5")?)],
        Function::BottomK(_) => vec![Function::BottomK(need("k", MAX_K, "5")?)],
        Function::Histogram { .. } => vec![Function::Histogram {
            k: need("k", MAX_K, "10")?,
            limit: int("limit", MAX_LIMIT)?.unwrap_or(DEFAULT_HISTOGRAM_LIMIT),
        }],
        f => vec![f],
    })
}

/// Why a new function cannot aggregate a column of type `ty`, if it cannot
/// (`None` also for the functions this module does not describe).
pub fn column_error(f: Function, ty: FeatureType) -> Option<String> {
    use FeatureType as T;
    let (ok, accepted) = match f {
        Function::CountDistinctExact { .. } => (
            matches!(
                ty,
                T::Int64 | T::Float64 | T::Float32 | T::String | T::Bool | T::Timestamp
            ),
            "int64, float64, float32, string, bool or timestamp",
        ),
        Function::CollectSet { .. }
        | Function::FirstK(_)
        | Function::LastK(_)
        | Function::TopK(_)
        | Function::BottomK(_) => (
            matches!(ty, T::Int64 | T::Float64 | T::Float32 | T::String),
            "int64, float64, float32 or string",
        ),
        Function::Histogram { .. } => (
            matches!(ty, T::String | T::Int64 | T::Bool),
            "string, int64 or bool",
        ),
        _ => (true, ""),
    };
    (!ok).then(|| format!("{} needs a {accepted} column, not {ty}", f.base_name()))
}

/// The type of the feature a new function computes over a column of type
/// `column` (`None` for the other functions).
pub fn feature_type(f: Function, column: FeatureType) -> Option<FeatureType> {
    let list = match column {
        FeatureType::String => FeatureType::ListString,
        FeatureType::Float64 | FeatureType::Float32 => FeatureType::ListFloat64,
        _ => FeatureType::ListInt64,
    };
    Some(match f {
        Function::First => column,
        Function::Variance | Function::Quantile(_) => FeatureType::Float64,
        Function::CountDistinctExact { .. } => FeatureType::Int64,
        Function::CollectSet { .. }
        | Function::FirstK(_)
        | Function::LastK(_)
        | Function::TopK(_)
        | Function::BottomK(_) => list,
        Function::Histogram { .. } => FeatureType::MapStringInt64,
        _ => return None,
    })
}

/// The name of a quantile in feature names: `p50`, `p90`, `p99_9`, `p0`,
/// `p100` (`parts` per 10 000).
pub fn quantile_name(parts: u16) -> String {
    let (whole, frac) = (parts / 100, parts % 100);
    match frac {
        0 => format!("p{whole}"),
        f if f % 10 == 0 => format!("p{whole}_{}", f / 10),
        f => format!("p{whole}_{f:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_names() {
        for (q, name) in [
            (5000, "p50"),
            (9990, "p99_9"),
            (9995, "p99_95"),
            (0, "p0"),
            (10_000, "p100"),
            (5, "p0_05"),
        ] {
            assert_eq!(quantile_name(q), name);
        }
    }
}
