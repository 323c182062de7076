//! Data quality at ingest: per-feature statistics and the expectations of
//! [`super::meta`], checked column by column as a file is read.
//!
//! A [`Checker`] is fed every cell of every feature (with its 1-based row
//! number in the file) and produces the statistics recorded for
//! `strata registry describe` and the violations found. Per rule it keeps
//! the count and the first [`EXAMPLES`] rows. `max_null_fraction` is
//! checked once the whole file has been seen.

use super::FeatureView;
use super::meta::Expectations;
use super::stats::{FeatureStats, Violation};
use strata_format::schema::{FeatureType, Value};

/// Example rows kept per violated rule.
pub const EXAMPLES: usize = 5;

#[derive(Debug, Clone)]
struct Acc {
    rows: u64,
    nulls: u64,
    numeric: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            rows: 0,
            nulls: 0,
            numeric: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
}

#[derive(Debug, Clone)]
struct Feature {
    name: String,
    ty: FeatureType,
    exp: Expectations,
    /// `exp` has a per-cell rule.
    checks_cells: bool,
    acc: Acc,
    violations: Vec<Violation>,
}

impl Feature {
    fn violate(&mut self, rule: &str, row: u64, value: impl FnOnce() -> String) {
        if !self.violations.iter().any(|v| v.rule == rule) {
            self.violations.push(Violation {
                column: self.name.clone(),
                rule: rule.to_string(),
                count: 0,
                examples: Vec::new(),
            });
        }
        let Some(v) = self.violations.iter_mut().find(|v| v.rule == rule) else {
            return;
        };
        v.count += 1;
        if v.examples.len() < EXAMPLES {
            v.examples.push((row, value()));
        }
    }
}

/// Statistics and expectation checks of one ingest.
#[derive(Debug, Clone)]
pub struct Checker {
    features: Vec<Feature>,
}

impl Checker {
    pub fn new(view: &FeatureView) -> Checker {
        Checker {
            features: view
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let exp = view.expectations(i);
                    Feature {
                        name: f.name.clone(),
                        ty: f.ty,
                        checks_cells: exp.not_null
                            || exp.min.is_some()
                            || exp.max.is_some()
                            || exp.allowed.is_some(),
                        exp,
                        acc: Acc::default(),
                        violations: Vec::new(),
                    }
                })
                .collect(),
        }
    }

    /// Whether any feature has a per-cell rule (callers may skip
    /// [`Checker::value`] detail otherwise).
    pub fn checks_cells(&self, f: usize) -> bool {
        self.features[f].checks_cells
    }

    /// A null cell of feature `f` at `row`.
    #[inline]
    pub fn null(&mut self, f: usize, row: u64) {
        let ft = &mut self.features[f];
        ft.acc.rows += 1;
        ft.acc.nulls += 1;
        if ft.exp.not_null {
            ft.violate("not_null", row, || "null".into());
        }
    }

    /// A numeric cell (int64, float, timestamp; `exact` keeps int64 and
    /// timestamp values exact for `allowed`).
    #[inline]
    pub fn number(&mut self, f: usize, row: u64, x: f64, exact: Option<i64>) {
        let ft = &mut self.features[f];
        let a = &mut ft.acc;
        a.rows += 1;
        if !x.is_nan() {
            a.numeric += 1;
            a.sum += x;
            a.min = a.min.min(x);
            a.max = a.max.max(x);
        }
        if !ft.checks_cells {
            return;
        }
        let show = || exact.map_or_else(|| format!("{x:?}"), |i| i.to_string());
        if ft.exp.min.is_some_and(|m| x < m || x.is_nan()) {
            let rule = format!("min {}", ft.exp.min.unwrap_or_default());
            ft.violate(&rule, row, show);
        }
        if ft.exp.max.is_some_and(|m| x > m || x.is_nan()) {
            let rule = format!("max {}", ft.exp.max.unwrap_or_default());
            ft.violate(&rule, row, show);
        }
        if let Some(allowed) = &ft.exp.allowed {
            let ok = allowed.iter().any(|v| match (v, exact) {
                (Value::Int64(a) | Value::Timestamp(a), Some(e)) => *a == e,
                (Value::Float64(a), _) => *a == x,
                (Value::Float32(a), _) => f64::from(*a) == x,
                _ => false,
            });
            if !ok {
                ft.violate("allowed", row, show);
            }
        }
    }

    /// Any cell, as a value.
    pub fn value(&mut self, f: usize, row: u64, v: &Value) {
        match v {
            Value::Null => self.null(f, row),
            Value::Int64(x) | Value::Timestamp(x) => self.number(f, row, *x as f64, Some(*x)),
            Value::Float64(x) => self.number(f, row, *x, None),
            Value::Float32(x) => self.number(f, row, f64::from(*x), None),
            Value::Bool(b) => {
                let ft = &mut self.features[f];
                ft.acc.rows += 1;
                ft.acc.numeric += 1;
                let x = f64::from(u8::from(*b));
                ft.acc.sum += x;
                ft.acc.min = ft.acc.min.min(x);
                ft.acc.max = ft.acc.max.max(x);
                self.allowed(f, row, v);
            }
            _ => {
                self.features[f].acc.rows += 1;
                self.allowed(f, row, v);
            }
        }
    }

    fn allowed(&mut self, f: usize, row: u64, v: &Value) {
        let ft = &mut self.features[f];
        if let Some(a) = &ft.exp.allowed
            && !a.contains(v)
        {
            ft.violate("allowed", row, || super::meta::value_text(v));
        }
    }

    /// Folds in a checker fed another part of the same file.
    pub fn merge(&mut self, other: Checker) {
        for (a, b) in self.features.iter_mut().zip(other.features) {
            a.acc.rows += b.acc.rows;
            a.acc.nulls += b.acc.nulls;
            a.acc.numeric += b.acc.numeric;
            a.acc.sum += b.acc.sum;
            a.acc.min = a.acc.min.min(b.acc.min);
            a.acc.max = a.acc.max.max(b.acc.max);
            for v in b.violations {
                match a.violations.iter_mut().find(|x| x.rule == v.rule) {
                    Some(x) => {
                        x.count += v.count;
                        x.examples.extend(v.examples);
                        x.examples.sort_unstable();
                        x.examples.truncate(EXAMPLES);
                    }
                    None => a.violations.push(v),
                }
            }
        }
    }

    /// The statistics per feature and every violation, `rows` being the
    /// rows of the file.
    pub fn finish(self, rows: u64) -> (Vec<FeatureStats>, Vec<Violation>) {
        let mut stats = Vec::with_capacity(self.features.len());
        let mut violations = Vec::new();
        for mut f in self.features {
            let fraction = if rows == 0 {
                0.0
            } else {
                f.acc.nulls as f64 / rows as f64
            };
            if let Some(m) = f.exp.max_null_fraction
                && fraction > m
            {
                violations.push(Violation {
                    column: f.name.clone(),
                    rule: format!("max_null_fraction {m}"),
                    count: f.acc.nulls,
                    examples: vec![(0, format!("null fraction {fraction:.4}"))],
                });
            }
            violations.append(&mut f.violations);
            let numeric = f.acc.numeric > 0 && !f.ty.is_collection();
            stats.push(FeatureStats {
                name: f.name,
                rows,
                nulls: f.acc.nulls,
                null_fraction: fraction,
                min: numeric.then_some(f.acc.min),
                max: numeric.then_some(f.acc.max),
                mean: numeric.then(|| f.acc.sum / f.acc.numeric as f64),
            });
        }
        (stats, violations)
    }
}

/// The violations as lines naming rule, column, count and example rows.
pub fn report(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            let rows: Vec<String> = v
                .examples
                .iter()
                .map(|(r, val)| {
                    if *r == 0 {
                        val.clone()
                    } else {
                        format!("row {r} ({val})")
                    }
                })
                .collect();
            format!(
                "column {}: {} broken by {} row(s): {}",
                v.column,
                v.rule,
                v.count,
                rows.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, defs};

    fn view(features: &str) -> FeatureView {
        let d = defs::parse(&format!(
            "[[entities]]\nname = \"u\"\njoin_keys = [{{ name = \"id\", type = \"int64\" }}]\n\
             [[feature_views]]\nname = \"v\"\nentities = [\"u\"]\nfeatures = [{features}]\n"
        ))
        .unwrap();
        defs::apply(&Catalog::default(), &d).unwrap().views[0].clone()
    }

    #[test]
    fn statistics() {
        let v = view("{ name = \"a\", type = \"int64\" }, { name = \"s\", type = \"string\" }");
        let mut c = Checker::new(&v);
        for (i, x) in [Some(4), None, Some(-2), Some(7)].into_iter().enumerate() {
            let row = i as u64 + 1;
            match x {
                Some(x) => c.value(0, row, &Value::Int64(x)),
                None => c.null(0, row),
            }
            c.value(1, row, &Value::String("x".into()));
        }
        let (stats, violations) = c.finish(4);
        assert!(violations.is_empty());
        assert_eq!(stats[0].nulls, 1);
        assert_eq!(stats[0].null_fraction, 0.25);
        assert_eq!((stats[0].min, stats[0].max), (Some(-2.0), Some(7.0)));
        assert_eq!(stats[0].mean, Some(3.0));
        assert_eq!((stats[1].min, stats[1].mean), (None, None));
    }

    #[test]
    fn every_rule_is_checked_and_reported() {
        let v = view(
            "{ name = \"age\", type = \"int64\", not_null = true, min = 0, max = 150 },\
             { name = \"tier\", type = \"string\", allowed = [\"gold\", \"silver\"], max_null_fraction = 0.2 }",
        );
        let mut c = Checker::new(&v);
        let rows: [(Option<i64>, Option<&str>); 5] = [
            (Some(30), Some("gold")),
            (Some(-1), Some("bronze")),
            (None, None),
            (Some(200), Some("silver")),
            (Some(3), None),
        ];
        for (i, (a, t)) in rows.iter().enumerate() {
            let row = i as u64 + 1;
            match a {
                Some(x) => c.value(0, row, &Value::Int64(*x)),
                None => c.null(0, row),
            }
            match t {
                Some(s) => c.value(1, row, &Value::String(s.to_string())),
                None => c.null(1, row),
            }
        }
        let (_, violations) = c.finish(5);
        let text = report(&violations);
        assert!(
            text.contains("column age: min 0 broken by 1 row(s): row 2 (-1)"),
            "{text}"
        );
        assert!(
            text.contains("column age: max 150 broken by 1 row(s): row 4 (200)"),
            "{text}"
        );
        assert!(
            text.contains("column age: not_null broken by 1 row(s): row 3 (null)"),
            "{text}"
        );
        assert!(
            text.contains("column tier: allowed broken by 1 row(s): row 2 (\"bronze\")"),
            "{text}"
        );
        assert!(
            text.contains("column tier: max_null_fraction 0.2 broken by 2 row(s)"),
            "{text}"
        );
        assert_eq!(violations.len(), 5);
    }

    #[test]
    fn merged_parts_equal_one_pass() {
        let v = view("{ name = \"a\", type = \"float64\", max = 2.0 }");
        let mut one = Checker::new(&v);
        let (mut p1, mut p2) = (Checker::new(&v), Checker::new(&v));
        for i in 0..20u64 {
            let x = i as f64 / 4.0; // exact, so the sums agree
            one.value(0, i + 1, &Value::Float64(x));
            if i < 10 { &mut p1 } else { &mut p2 }.value(0, i + 1, &Value::Float64(x));
        }
        p1.merge(p2);
        assert_eq!(
            format!("{:?}", one.finish(20)),
            format!("{:?}", p1.finish(20))
        );
    }
}
