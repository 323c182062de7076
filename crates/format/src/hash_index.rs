//! The segment's hash index: `view_id | entity key` → where its versions start.
//!
//! ```text
//! hash index = slot: u64 LE × n_slots | block offset: u64 LE × (n_blocks + 1)
//!            | n_slots: u32 LE | n_blocks: u32 LE
//! slot       = 0 (empty), or fingerprint: 24 bits | restart: 8 bits | block: 32 bits
//!              (high bits first, i.e. slot >> 40 is the fingerprint)
//! ```
//! The block offsets are where each stored data block starts, followed by
//! where the last one's trailer ends: block `i` is stored at
//! `offset[i] .. offset[i + 1] - 5` (5 = the block trailer), without a trip
//! through the block index.
//! A prefix's 64-bit hash (the bloom filter's, [`super::bloom::hash`]) gives
//! its home slot, `((h as u32) * n_slots) >> 32`, and a fingerprint,
//! `((h >> 40) | 1)` (never 0, so a used slot is never 0). Collisions probe
//! linearly, wrapping. The slot names the data block holding the prefix's
//! first (newest) entry and the restart point in that block at or before it,
//! so a `latest` lookup reads one slot, then scans at most one restart
//! interval. The table is at most 3/4 full. A fingerprint can match another
//! prefix (rate 2⁻²⁴ per probed slot): readers check the key they land on.
//! `n_slots = 0` means the segment has no hash index (a block number or
//! restart point did not fit); readers then use the block index.

use super::error::{DecodeError, Reader};

const EMPTY: u64 = 0;

#[inline]
fn home(h: u64, n: u32) -> usize {
    ((u64::from(h as u32) * u64::from(n)) >> 32) as usize
}

#[inline]
fn fingerprint(h: u64) -> u64 {
    (h >> 40) | 1
}

/// Builds the table from `(hash, block, restart)` of every distinct prefix
/// and the data blocks' offsets (plus the end of the last). The table is
/// empty if a block or restart number does not fit.
pub fn build(entries: &[(u64, u64, usize)], block_offsets: &[u64], out: &mut Vec<u8>) {
    let fits = entries
        .iter()
        .all(|&(_, b, r)| b <= u64::from(u32::MAX) && r <= 255);
    let n = if fits && !entries.is_empty() {
        (entries.len() * 4 / 3 + 1).min(u32::MAX as usize) as u32
    } else {
        0
    };
    let mut slots = vec![EMPTY; n as usize];
    if n > 0 {
        for &(h, block, restart) in entries {
            let slot = (fingerprint(h) << 40) | ((restart as u64) << 32) | block;
            let mut i = home(h, n);
            while slots[i] != EMPTY {
                i = if i + 1 == n as usize { 0 } else { i + 1 };
            }
            slots[i] = slot;
        }
    }
    out.reserve(slots.len() * 8 + 4);
    for s in slots {
        out.extend_from_slice(&s.to_le_bytes());
    }
    let offsets = if n > 0 { block_offsets } else { &[] };
    for o in offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(offsets.len().saturating_sub(1) as u32).to_le_bytes());
}

/// A parsed hash index.
#[derive(Debug, Clone, Copy)]
pub struct HashIndex<'a> {
    slots: &'a [u8],
    offsets: &'a [u8],
    n: u32,
}

impl<'a> HashIndex<'a> {
    /// A missing index.
    pub const EMPTY: HashIndex<'static> = HashIndex {
        slots: &[],
        offsets: &[],
        n: 0,
    };

    pub fn parse(buf: &'a [u8]) -> Result<HashIndex<'a>, DecodeError> {
        let at = buf.len().checked_sub(8).ok_or(DecodeError::Truncated {
            what: "hash index",
            offset: 0,
            needed: 8,
            available: buf.len(),
        })?;
        let mut r = Reader::at(buf, at, "hash index");
        let (n, blocks) = (r.u32()? as usize, r.u32()? as usize);
        let n_offsets = if n > 0 { blocks + 1 } else { 0 };
        if n * 8 + n_offsets * 8 != at {
            return Err(DecodeError::invalid(
                "hash index",
                at,
                format!("{n} slots and {blocks} blocks do not fit {at} bytes"),
            ));
        }
        let (slots, offsets) = buf[..at].split_at(n * 8);
        Ok(HashIndex {
            slots,
            offsets,
            n: n as u32,
        })
    }

    /// Number of data blocks the offsets cover (0 without an index).
    pub fn blocks(&self) -> usize {
        (self.offsets.len() / 8).saturating_sub(1)
    }

    /// Where stored data block `i` starts and how long it is (without its
    /// trailer).
    #[inline]
    pub fn block(&self, i: usize) -> Option<(usize, usize)> {
        let b = self.offsets.get(i * 8..i * 8 + 16)?;
        let start = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let end = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        let len = end
            .checked_sub(start)?
            .checked_sub(super::block::TRAILER_LEN as u64)?;
        Some((usize::try_from(start).ok()?, usize::try_from(len).ok()?))
    }

    /// The home slot of `h`, the first a lookup reads (0 without an
    /// index). A batch of lookups loads the home slots of several keys
    /// before probing any, so that their cache misses overlap.
    #[inline]
    pub fn home_slot(&self, h: u64) -> u64 {
        if self.n == 0 {
            return EMPTY;
        }
        self.slot(home(h, self.n))
    }

    /// `false` if the segment has no hash index.
    pub fn is_present(&self) -> bool {
        self.n > 0
    }

    #[inline]
    fn slot(&self, i: usize) -> u64 {
        match self.slots.get(i * 8..i * 8 + 8) {
            Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            None => EMPTY,
        }
    }

    /// Candidate `(block, restart)` positions for the prefix hashing to `h`,
    /// in probe order. None at all means the prefix is not in the segment.
    #[inline]
    pub fn candidates(&self, h: u64) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.n as usize;
        let fp = fingerprint(h);
        let start = if n > 0 { home(h, self.n) } else { 0 };
        (0..n)
            .map(move |k| {
                self.slot(if start + k >= n {
                    start + k - n
                } else {
                    start + k
                })
            })
            .take_while(|&s| s != EMPTY)
            .filter(move |&s| s >> 40 == fp)
            .map(|s| ((s & 0xffff_ffff) as usize, ((s >> 32) & 0xff) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bloom::hash;

    #[test]
    fn finds_every_prefix_and_rejects_others() {
        let entries: Vec<_> = (0..5000u64)
            .map(|i| (hash(&i.to_le_bytes()), i / 7, (i % 5) as usize))
            .collect();
        let mut buf = Vec::new();
        let offsets: Vec<u64> = (0..=715).map(|i| i * 100).collect();
        build(&entries, &offsets, &mut buf);
        let idx = HashIndex::parse(&buf).unwrap();
        assert_eq!(idx.blocks(), 715);
        assert_eq!(idx.block(3), Some((300, 95)));
        assert_eq!(idx.block(715), None);
        for &(h, b, r) in &entries {
            assert!(idx.candidates(h).any(|c| c == (b as usize, r)));
        }
        let strays = (5000..105_000u64)
            .filter(|i| idx.candidates(hash(&i.to_le_bytes())).next().is_some())
            .count();
        assert!(
            strays < 10,
            "{strays} fingerprint matches for absent prefixes"
        );
    }

    #[test]
    fn oversized_positions_give_no_index() {
        let mut buf = Vec::new();
        build(&[(1, 0, 300)], &[0, 10], &mut buf);
        let idx = HashIndex::parse(&buf).unwrap();
        assert!(!idx.is_present());
        assert_eq!(idx.candidates(1).count(), 0);
        assert!(HashIndex::parse(&buf[1..]).is_err());
    }
}
