//! A blocked bloom filter on `view_id | entity key`.
//!
//! ```text
//! filter = bits: n_lines × 64 bytes | n_lines: u32 LE | k: u8
//! ```
//!
//! A key's 64-bit hash (xxh3) picks one 64-byte line (a cache line) from its
//! high half; `k` bit positions inside that line come from the low half by
//! double hashing. A lookup touches one cache line. About 10 bits per key
//! give a false-positive rate near 1 %.

use super::error::{DecodeError, Reader};

const LINE_BITS: u32 = 512;
const LINE_BYTES: usize = 64;

/// The hash a filter is keyed on; compute it once per lookup.
#[inline]
pub fn hash(prefix: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(prefix)
}

/// The line (of `n_lines`) that key hash `h` uses.
#[inline]
pub fn line_of(h: u64, n_lines: u32) -> usize {
    (((h >> 32) * u64::from(n_lines)) >> 32) as usize
}

/// The `k` bit positions (within a 512-bit line) that key hash `h` sets.
#[inline]
pub fn probes(h: u64, k: u8) -> impl Iterator<Item = u32> {
    let h1 = h as u32;
    let h2 = h1.rotate_left(15) | 1;
    (0..u32::from(k)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % LINE_BITS)
}

/// Builds a filter from the hashes of the distinct keys.
pub fn build(hashes: &[u64], bits_per_key: u32, out: &mut Vec<u8>) {
    let bits = (hashes.len() as u64 * u64::from(bits_per_key)).max(u64::from(LINE_BITS));
    let n_lines = bits.div_ceil(u64::from(LINE_BITS)).min(u64::from(u32::MAX)) as u32;
    // ln 2 × bits per key, rounded, within [1, 16].
    let k = ((f64::from(bits_per_key) * 0.69).round() as u8).clamp(1, 16);
    let start = out.len();
    out.resize(start + n_lines as usize * LINE_BYTES, 0);
    let bits = &mut out[start..];
    for &h in hashes {
        let line = line_of(h, n_lines) * LINE_BYTES;
        for p in probes(h, k) {
            bits[line + (p / 8) as usize] |= 1 << (p % 8);
        }
    }
    out.extend_from_slice(&n_lines.to_le_bytes());
    out.push(k);
}

/// A filter read from its stored bytes.
#[derive(Debug, Clone, Copy)]
pub struct Bloom<'a> {
    bits: &'a [u8],
    n_lines: u32,
    k: u8,
}

impl<'a> Bloom<'a> {
    /// A filter that admits every key.
    pub const EMPTY_ALL: Bloom<'static> = Bloom {
        bits: &[],
        n_lines: 1,
        k: 1,
    };

    pub fn parse(buf: &'a [u8]) -> Result<Bloom<'a>, DecodeError> {
        let tail = buf.len().checked_sub(5).ok_or(DecodeError::Truncated {
            what: "bloom filter",
            offset: 0,
            needed: 5,
            available: buf.len(),
        })?;
        let mut r = Reader::at(buf, tail, "bloom filter");
        let n_lines = r.u32()?;
        let k = r.u8()?;
        if n_lines == 0 || n_lines as usize * LINE_BYTES != tail || k == 0 || k > 16 {
            return Err(DecodeError::invalid(
                "bloom filter",
                tail,
                format!("{n_lines} lines and k = {k} do not fit {tail} bytes"),
            ));
        }
        Ok(Bloom {
            bits: &buf[..tail],
            n_lines,
            k,
        })
    }

    /// `false` means the key is certainly absent.
    #[inline]
    pub fn may_contain(&self, h: u64) -> bool {
        let base = line_of(h, self.n_lines) * LINE_BYTES;
        let Some(line) = self.bits.get(base..base + LINE_BYTES) else {
            return true;
        };
        probes(h, self.k).all(|p| line[(p / 8) as usize] & (1 << (p % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<u64> = (0..20_000u64).map(|i| hash(&i.to_le_bytes())).collect();
        let mut buf = Vec::new();
        build(&keys, 10, &mut buf);
        let bloom = Bloom::parse(&buf).unwrap();
        assert!(keys.iter().all(|&h| bloom.may_contain(h)));
        let fp = (20_000..120_000u64)
            .filter(|i| bloom.may_contain(hash(&i.to_le_bytes())))
            .count();
        // Blocked filters pay a little over the classic 0.8 % at 10 bits per key.
        assert!(fp < 2_000, "false-positive rate {} / 100000", fp);
    }

    #[test]
    fn rejects_inconsistent_sizes() {
        let mut buf = Vec::new();
        build(&[1, 2, 3], 10, &mut buf);
        assert!(Bloom::parse(&buf[1..]).is_err());
        assert!(Bloom::parse(&[]).is_err());
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() = 0;
        assert!(Bloom::parse(&bad).is_err());
    }
}
