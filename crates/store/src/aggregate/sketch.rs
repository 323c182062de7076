//! Mergeable sketches for the approximate aggregate functions.
//!
//! - [`Distinct`]: HyperLogLog with 2^11 registers (standard error
//!   1.04 / √2048 ≈ 2.3 %), kept sparse while few registers are set and
//!   estimated by linear counting while many registers are empty, which is
//!   nearly exact for small counts.
//! - [`Quantiles`]: a log-bucketed histogram (the DDSketch scheme): a value
//!   `x > 0` falls in bucket `ceil(log_γ x)` with `γ = (1 + α) / (1 − α)`,
//!   `α = 1 %`, negatives mirrored, `|x| < 1e-12` counted as zero. The
//!   quantile `q` of `n` values is the value of rank `floor(q · (n − 1))`
//!   (0-based) in sorted order, returned with a relative error of at most
//!   `α`: `|estimate − exact| ≤ 0.01 · |exact|`.
//!
//! Both merge exactly (register max; bucket counts add), so a window's
//! sketch built from tiles equals the sketch of its events.

use strata_format::error::{DecodeError, Reader};
use strata_format::varint;

/// log2 of the number of HyperLogLog registers.
const P: u32 = 11;
const M: usize = 1 << P;
/// A sparse register list is converted to dense registers beyond this.
const SPARSE_MAX: usize = M / 4;

/// An approximate distinct count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Distinct {
    /// Sorted by register: `(register, rank)`, while short.
    sparse: Vec<(u16, u8)>,
    /// `M` ranks once dense (then `sparse` is empty).
    dense: Vec<u8>,
}

impl Distinct {
    /// Adds an element by its 64-bit hash.
    pub fn add_hash(&mut self, h: u64) {
        let reg = (h >> (64 - P)) as u16;
        let rest = (h << P) | (1 << (P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        self.set(reg, rank);
    }

    fn set(&mut self, reg: u16, rank: u8) {
        if !self.dense.is_empty() {
            let r = &mut self.dense[reg as usize];
            *r = (*r).max(rank);
            return;
        }
        match self.sparse.binary_search_by_key(&reg, |e| e.0) {
            Ok(i) => self.sparse[i].1 = self.sparse[i].1.max(rank),
            Err(i) => {
                self.sparse.insert(i, (reg, rank));
                if self.sparse.len() > SPARSE_MAX {
                    let mut dense = vec![0u8; M];
                    for &(r, k) in &self.sparse {
                        dense[r as usize] = k;
                    }
                    self.dense = dense;
                    self.sparse = Vec::new();
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Distinct) {
        if other.dense.is_empty() {
            for &(r, k) in &other.sparse {
                self.set(r, k);
            }
        } else {
            if self.dense.is_empty() {
                let mut dense = vec![0u8; M];
                for &(r, k) in &self.sparse {
                    dense[r as usize] = k;
                }
                self.dense = dense;
                self.sparse = Vec::new();
            }
            for (a, b) in self.dense.iter_mut().zip(&other.dense) {
                *a = (*a).max(*b);
            }
        }
    }

    /// The estimated number of distinct elements added.
    pub fn estimate(&self) -> u64 {
        let (set, inv_sum) = if self.dense.is_empty() {
            let s: f64 = self
                .sparse
                .iter()
                .map(|&(_, k)| 2f64.powi(-(k as i32)))
                .sum();
            (self.sparse.len(), s + (M - self.sparse.len()) as f64)
        } else {
            let set = self.dense.iter().filter(|&&k| k > 0).count();
            let s: f64 = self.dense.iter().map(|&k| 2f64.powi(-(k as i32))).sum();
            (set, s)
        };
        let m = M as f64;
        let zeros = (M - set) as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / inv_sum;
        let est = if raw <= 2.5 * m && zeros > 0.0 {
            m * (m / zeros).ln()
        } else {
            raw
        };
        est.round() as u64
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        if self.dense.is_empty() {
            out.push(0);
            varint::put(out, self.sparse.len() as u64);
            for &(r, k) in &self.sparse {
                out.extend_from_slice(&r.to_le_bytes());
                out.push(k);
            }
        } else {
            out.push(1);
            out.extend_from_slice(&self.dense);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Distinct, DecodeError> {
        match r.u8()? {
            0 => {
                let n = r.len(SPARSE_MAX)?;
                let mut sparse = Vec::with_capacity(n);
                for _ in 0..n {
                    let reg = u16::from_le_bytes(r.array::<2>()?);
                    let rank = r.u8()?;
                    if reg as usize >= M || sparse.last().is_some_and(|&(p, _)| p >= reg) {
                        return Err(r.invalid("distinct sketch registers out of order"));
                    }
                    sparse.push((reg, rank));
                }
                Ok(Distinct {
                    sparse,
                    dense: Vec::new(),
                })
            }
            1 => Ok(Distinct {
                sparse: Vec::new(),
                dense: r.bytes(M)?.to_vec(),
            }),
            k => Err(r.invalid(format!("unknown distinct sketch kind {k}"))),
        }
    }
}

/// Relative accuracy of [`Quantiles`].
pub const QUANTILE_ALPHA: f64 = 0.01;
const ZERO_BELOW: f64 = 1e-12;

fn gamma_ln() -> f64 {
    ((1.0 + QUANTILE_ALPHA) / (1.0 - QUANTILE_ALPHA)).ln()
}

/// Approximate quantiles with a relative error bound.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantiles {
    /// Sorted by bucket index.
    positive: Vec<(i32, u64)>,
    /// Sorted by bucket index (of `|x|`).
    negative: Vec<(i32, u64)>,
    zeros: u64,
}

fn bump(buckets: &mut Vec<(i32, u64)>, index: i32, by: u64) {
    match buckets.binary_search_by_key(&index, |b| b.0) {
        Ok(i) => buckets[i].1 = buckets[i].1.saturating_add(by),
        Err(i) => buckets.insert(i, (index, by)),
    }
}

impl Quantiles {
    pub fn add(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        let a = x.abs();
        if a < ZERO_BELOW {
            self.zeros = self.zeros.saturating_add(1);
            return;
        }
        let index = (a.ln() / gamma_ln()).ceil().clamp(-1e6, 1e6) as i32;
        if x > 0.0 {
            bump(&mut self.positive, index, 1);
        } else {
            bump(&mut self.negative, index, 1);
        }
    }

    pub fn merge(&mut self, other: &Quantiles) {
        for &(i, c) in &other.positive {
            bump(&mut self.positive, i, c);
        }
        for &(i, c) in &other.negative {
            bump(&mut self.negative, i, c);
        }
        self.zeros = self.zeros.saturating_add(other.zeros);
    }

    pub fn count(&self) -> u64 {
        let s = |b: &[(i32, u64)]| b.iter().fold(0u64, |n, x| n.saturating_add(x.1));
        s(&self.positive)
            .saturating_add(s(&self.negative))
            .saturating_add(self.zeros)
    }

    /// The `q`-quantile (0 ≤ q ≤ 1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
        let g = gamma_ln().exp();
        let value = |i: i32| 2.0 * g.powi(i) / (g + 1.0);
        let mut seen = 0u64;
        // Ascending values: the most negative first.
        for &(i, c) in self.negative.iter().rev() {
            seen = seen.saturating_add(c);
            if seen > rank {
                return Some(-value(i));
            }
        }
        seen = seen.saturating_add(self.zeros);
        if seen > rank {
            return Some(0.0);
        }
        for &(i, c) in &self.positive {
            seen = seen.saturating_add(c);
            if seen > rank {
                return Some(value(i));
            }
        }
        None
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::put(out, self.zeros);
        for b in [&self.positive, &self.negative] {
            varint::put(out, b.len() as u64);
            for &(i, c) in b {
                out.extend_from_slice(&i.to_le_bytes());
                varint::put(out, c);
            }
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Quantiles, DecodeError> {
        let zeros = r.varint()?;
        let mut sides = [Vec::new(), Vec::new()];
        for side in &mut sides {
            let n = r.len(1 << 20)?;
            for _ in 0..n {
                let i = i32::from_le_bytes(r.array::<4>()?);
                let c = r.varint()?;
                if side.last().is_some_and(|&(p, _)| p >= i) {
                    return Err(r.invalid("quantile buckets out of order"));
                }
                side.push((i, c));
            }
        }
        let [positive, negative] = sides;
        Ok(Quantiles {
            positive,
            negative,
            zeros,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())
    }

    #[test]
    fn distinct_is_close_at_every_scale_and_merges_exactly() {
        for n in [0u64, 1, 10, 100, 1_000, 10_000, 100_000] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.add_hash(hash(i));
                d.add_hash(hash(i)); // duplicates do not count
            }
            let est = d.estimate() as f64;
            let tol = 2.0 + 0.07 * n as f64;
            assert!((est - n as f64).abs() <= tol, "n {n}: estimate {est}");
            // Two halves merged equal the whole.
            let (mut a, mut b) = (Distinct::default(), Distinct::default());
            for i in 0..n {
                if i % 2 == 0 { &mut a } else { &mut b }.add_hash(hash(i));
            }
            a.merge(&b);
            assert_eq!(a.estimate(), d.estimate(), "n {n}");
            let mut buf = Vec::new();
            d.encode(&mut buf);
            let back = Distinct::decode(&mut Reader::new(&buf, "test")).unwrap();
            assert_eq!(back, d);
        }
    }

    #[test]
    fn quantiles_are_within_the_relative_error() {
        let xs: Vec<f64> = (0..5_000)
            .map(|i| ((i * 7919) % 5_000) as f64 * 0.37 - 400.0)
            .collect();
        let mut q = Quantiles::default();
        for &x in &xs {
            q.add(x);
        }
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.01, 0.5, 0.95, 0.99, 1.0] {
            let exact = sorted[(p * (xs.len() - 1) as f64).floor() as usize];
            let est = q.quantile(p).unwrap();
            assert!(
                (est - exact).abs() <= QUANTILE_ALPHA * exact.abs() + 1e-9,
                "p {p}: {est} vs {exact}"
            );
        }
        let mut buf = Vec::new();
        q.encode(&mut buf);
        assert_eq!(
            Quantiles::decode(&mut Reader::new(&buf, "test")).unwrap(),
            q
        );
        assert_eq!(Quantiles::default().quantile(0.5), None);
    }
}
