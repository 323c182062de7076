//! What a [`super::State`] keeps: the columns a group of aggregations
//! reads, and per column the partials its functions need.

use crate::catalog::aggregation::{Aggregation, Function};
use strata_format::schema::FeatureType;

/// What the functions over one column need kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// Sum, mean and M2 (`sum`, `mean`, `stddev`, `variance`).
    pub moments: bool,
    /// The least and greatest value (`min`, `max`).
    pub min_max: bool,
    /// The newest event's value (`last`).
    pub last: bool,
    /// A distinct-count sketch (`count_distinct`).
    pub distinct: bool,
    /// A quantile sketch (`percentile`, `quantile`).
    pub quantiles: bool,
    /// The oldest event's value (`first`).
    pub first: bool,
    /// How many distinct values to keep (0: no set).
    pub set_cap: u32,
    /// How many oldest, newest, largest, smallest values to keep.
    pub oldest_k: u32,
    pub newest_k: u32,
    pub largest_k: u32,
    pub smallest_k: u32,
}

/// The columns a view aggregates and what each needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// `(source column index, its type, needs)`, by column index.
    pub columns: Vec<(usize, FeatureType, Needs)>,
}

impl Layout {
    /// The layout of `aggs` over a source of schema `source_schema`: each
    /// aggregated column once, keeping what all its functions need.
    pub fn new(aggs: &[Aggregation], source_schema: &[FeatureType]) -> Layout {
        let mut columns: Vec<(usize, FeatureType, Needs)> = Vec::new();
        for a in aggs {
            let Some(c) = a.column else { continue };
            let at = match columns.iter().position(|x| x.0 == c) {
                Some(i) => i,
                None => {
                    columns.push((c, source_schema[c], Needs::default()));
                    columns.len() - 1
                }
            };
            let n = &mut columns[at].2;
            match a.function {
                Function::Count | Function::AgeOfLast => {}
                Function::Sum | Function::Mean | Function::Stddev => n.moments = true,
                Function::Min | Function::Max => n.min_max = true,
                Function::Last => n.last = true,
                Function::CountDistinct => n.distinct = true,
                Function::Percentile(_) | Function::Quantile(_) => n.quantiles = true,
                Function::First => n.first = true,
                Function::Variance => n.moments = true,
                Function::CountDistinctExact { limit }
                | Function::CollectSet { limit }
                | Function::Histogram { limit, .. } => n.set_cap = n.set_cap.max(limit),
                Function::FirstK(k) => n.oldest_k = n.oldest_k.max(k),
                Function::LastK(k) => n.newest_k = n.newest_k.max(k),
                Function::TopK(k) => n.largest_k = n.largest_k.max(k),
                Function::BottomK(k) => n.smallest_k = n.smallest_k.max(k),
            }
        }
        columns.sort_by_key(|c| c.0);
        Layout { columns }
    }

    /// Position of source column `c` in the layout.
    pub fn position(&self, c: usize) -> Option<usize> {
        self.columns.iter().position(|x| x.0 == c)
    }
}
