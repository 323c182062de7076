//! The segment's hash index: `view_id | entity key` → where its versions start.
//!
//! ```text
//! hash index = slot: u64 LE × n_slots | block offset: u64 LE × (n_blocks + 1)
//!            | n_slots: u32 LE | n_blocks: u32 LE
//! slot       = 0 (empty), or fingerprint: 24 bits | position: 40 bits
//!              (high bits first, i.e. slot >> 40 is the fingerprint)
//! position   (segment format 1) = restart: 8 bits | block: 32 bits
//! position   (segment format 2) = 1: 1 bit | file offset of the entry: 39 bits
//!                               or 0: 1 bit | block: 39 bits
//! ```
//! The block offsets are where each stored data block starts, followed by
//! where the last one's trailer ends: block `i` is stored at
//! `offset[i] .. offset[i + 1] - 5` (5 = the block trailer), without a trip
//! through the block index.
//! A prefix's 64-bit hash (the bloom filter's, [`super::bloom::hash`]) gives
//! its home slot, `((h as u32) * n_slots) >> 32`, and a fingerprint,
//! `((h >> 40) | 1)` (never 0, so a used slot is never 0). Collisions probe
//! linearly, wrapping. The position names the prefix's first (newest) entry:
//! in format 1, its data block and the restart point at or before it (a
//! lookup scans at most one restart interval); in format 2, the file offset
//! of the entry itself when its block is stored uncompressed (the writer
//! makes it a restart point, so it decodes on its own: a `latest` lookup
//! reads one slot, then one entry), or the block number when the block is
//! compressed. The table is at most 3/4 full. A fingerprint can match
//! another prefix (rate 2⁻²⁴ per probed slot): readers check the key they
//! land on. `n_slots = 0` means the segment has no hash index (a position
//! did not fit); readers then use the block index.

use super::error::{DecodeError, Reader};

const EMPTY: u64 = 0;
/// The position bits of a slot.
const POSITION_BITS: u32 = 40;
/// Format 2: the position is a file offset (else a block number).
const DIRECT: u64 = 1 << 39;
/// Largest format-2 file offset or block number.
pub const MAX_POSITION_V2: u64 = DIRECT - 1;

#[inline]
fn home(h: u64, n: u32) -> usize {
    ((u64::from(h as u32) * u64::from(n)) >> 32) as usize
}

#[inline]
fn fingerprint(h: u64) -> u64 {
    (h >> POSITION_BITS) | 1
}

/// Where a prefix's first entry is, as a slot names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Format 1: data block `block`, scanning from restart point `restart`.
    Restart { block: usize, restart: usize },
    /// Format 2: the entry starts at this file offset, inside an
    /// uncompressed data block, and stores its whole key.
    Entry(usize),
    /// Format 2: the entry is in this (compressed) data block.
    Block(usize),
}

impl Position {
    /// The 40 position bits of a slot, `None` if the numbers do not fit.
    pub fn encode(self) -> Option<u64> {
        match self {
            Position::Restart { block, restart } => {
                let block = u32::try_from(block).ok()?;
                let restart = u8::try_from(restart).ok()?;
                Some((u64::from(restart) << 32) | u64::from(block))
            }
            Position::Entry(off) => {
                let off = u64::try_from(off).ok().filter(|&o| o <= MAX_POSITION_V2)?;
                Some(DIRECT | off)
            }
            Position::Block(b) => u64::try_from(b).ok().filter(|&b| b <= MAX_POSITION_V2),
        }
    }

    #[inline]
    fn decode(bits: u64, direct_format: bool) -> Position {
        if !direct_format {
            Position::Restart {
                block: (bits & 0xffff_ffff) as usize,
                restart: ((bits >> 32) & 0xff) as usize,
            }
        } else if bits & DIRECT != 0 {
            Position::Entry((bits & MAX_POSITION_V2) as usize)
        } else {
            Position::Block((bits & MAX_POSITION_V2) as usize)
        }
    }
}

/// Builds the table from `(hash, position)` of every distinct prefix and
/// the data blocks' offsets (plus the end of the last). The table is empty
/// if a position does not fit.
pub fn build(entries: &[(u64, Position)], block_offsets: &[u64], out: &mut Vec<u8>) {
    let encoded: Option<Vec<(u64, u64)>> = entries
        .iter()
        .map(|&(h, p)| Some((h, p.encode()?)))
        .collect();
    let encoded = encoded.unwrap_or_default();
    let n = if encoded.is_empty() {
        0
    } else {
        (encoded.len() * 4 / 3 + 1).min(u32::MAX as usize) as u32
    };
    let mut slots = vec![EMPTY; n as usize];
    if n > 0 {
        for &(h, bits) in &encoded {
            let slot = (fingerprint(h) << POSITION_BITS) | bits;
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

/// Where a parsed index's arrays lie in the file it was parsed from: a
/// reader keeps it (`SegmentLayout` does) and rebuilds the same
/// [`HashIndex`] with [`HashIndex::from_span`], without reading the
/// index's counts or checking its sizes again on every lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashIndexSpan {
    /// File offset of the first slot.
    start: usize,
    n: u32,
    /// Bytes of block offsets after the slots.
    offsets_len: usize,
    direct: bool,
}

/// A parsed hash index.
#[derive(Debug, Clone, Copy)]
pub struct HashIndex<'a> {
    slots: &'a [u8],
    offsets: &'a [u8],
    n: u32,
    /// Slots hold format-2 positions.
    direct: bool,
}

impl<'a> HashIndex<'a> {
    /// A missing index.
    pub const EMPTY: HashIndex<'static> = HashIndex {
        slots: &[],
        offsets: &[],
        n: 0,
        direct: false,
    };

    /// Parses an index whose slots hold positions of segment format
    /// `format_version` (1, or 2 and later).
    pub fn parse(buf: &'a [u8], format_version: u32) -> Result<HashIndex<'a>, DecodeError> {
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
            direct: format_version >= 2,
        })
    }

    /// The place of this index, parsed from the bytes at file offset
    /// `base` of a file, for [`HashIndex::from_span`].
    pub fn span(&self, base: usize) -> HashIndexSpan {
        HashIndexSpan {
            start: base,
            n: self.n,
            offsets_len: self.offsets.len(),
            direct: self.direct,
        }
    }

    /// The index `span` describes in `file` (the file it was parsed from),
    /// rebuilt without parsing: two bounds checks, no read of the file.
    /// A span that does not fit `file` gives [`HashIndex::EMPTY`].
    #[inline]
    pub fn from_span(file: &'a [u8], span: &HashIndexSpan) -> HashIndex<'a> {
        let slots_end = span.start + span.n as usize * 8;
        match (
            file.get(span.start..slots_end),
            file.get(slots_end..slots_end + span.offsets_len),
        ) {
            (Some(slots), Some(offsets)) => HashIndex {
                slots,
                offsets,
                n: span.n,
                direct: span.direct,
            },
            _ => HashIndex::EMPTY,
        }
    }

    /// The same index reading its slots from the start of `slots`, a copy
    /// of them kept elsewhere (an engine keeps them resident in memory of
    /// its own); `self` unchanged if `slots` is shorter than the slots.
    #[inline]
    pub fn with_slots(self, slots: &'a [u8]) -> HashIndex<'a> {
        if let Some(slots) = slots.get(..self.slots.len()) {
            HashIndex { slots, ..self }
        } else {
            self
        }
    }

    /// The slots' bytes (`8 × n_slots`), to copy them.
    pub fn slot_bytes(&self) -> &'a [u8] {
        self.slots
    }

    /// Number of data blocks the offsets cover (0 without an index).
    pub fn blocks(&self) -> usize {
        (self.offsets.len() / 8).saturating_sub(1)
    }

    #[inline]
    fn offset(&self, i: usize) -> Option<u64> {
        let b = self.offsets.get(i * 8..i * 8 + 8)?;
        Some(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// Where stored data block `i` starts and how long it is (without its
    /// trailer).
    #[inline]
    pub fn block(&self, i: usize) -> Option<(usize, usize)> {
        let start = self.offset(i)?;
        let end = self.offset(i + 1)?;
        let len = end
            .checked_sub(start)?
            .checked_sub(super::block::TRAILER_LEN as u64)?;
        Some((usize::try_from(start).ok()?, usize::try_from(len).ok()?))
    }

    /// The data block whose stored bytes hold file offset `at`, by binary
    /// search over the block offsets; `None` if no block does.
    pub fn block_containing(&self, at: usize) -> Option<usize> {
        let at = at as u64;
        let blocks = self.blocks();
        // The number of blocks starting at or before `at`.
        let (mut lo, mut hi) = (0usize, blocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.offset(mid)? <= at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo.checked_sub(1)?;
        let (start, len) = self.block(i)?;
        (at < (start + len) as u64).then_some(i)
    }

    /// The first byte of the home slot of `h`, the first slot a lookup
    /// reads (`None` without an index). A batch of lookups prefetches the
    /// home slots of many keys before probing any, so that their cache
    /// misses overlap.
    #[inline]
    pub fn home_slot_byte(&self, h: u64) -> Option<&'a u8> {
        if self.n == 0 {
            return None;
        }
        self.slots.get(home(h, self.n) * 8)
    }

    /// `false` if the segment has no hash index.
    pub fn is_present(&self) -> bool {
        self.n > 0
    }

    /// `true` if the slots hold format-2 positions.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    #[inline]
    fn slot(&self, i: usize) -> u64 {
        match self.slots.get(i * 8..i * 8 + 8) {
            Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            None => EMPTY,
        }
    }

    /// Candidate positions for the prefix hashing to `h`, in probe order.
    /// None at all means the prefix is not in the segment.
    #[inline]
    pub fn candidates(&self, h: u64) -> impl Iterator<Item = Position> + '_ {
        let n = self.n as usize;
        let fp = fingerprint(h);
        let start = if n > 0 { home(h, self.n) } else { 0 };
        let direct = self.direct;
        (0..n)
            .map(move |k| {
                self.slot(if start + k >= n {
                    start + k - n
                } else {
                    start + k
                })
            })
            .take_while(|&s| s != EMPTY)
            .filter(move |&s| s >> POSITION_BITS == fp)
            .map(move |s| Position::decode(s & ((1 << POSITION_BITS) - 1), direct))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bloom::hash;

    #[test]
    fn finds_every_prefix_and_rejects_others() {
        let v1 = |i: u64| Position::Restart {
            block: (i / 7) as usize,
            restart: (i % 5) as usize,
        };
        let v2 = |i: u64| {
            if i.is_multiple_of(3) {
                Position::Block((i / 7) as usize)
            } else {
                Position::Entry((i * 100 + 3) as usize)
            }
        };
        for (version, pos) in [(1, &v1 as &dyn Fn(u64) -> Position), (2, &v2)] {
            let entries: Vec<_> = (0..5000u64)
                .map(|i| (hash(&i.to_le_bytes()), pos(i)))
                .collect();
            let mut buf = Vec::new();
            let offsets: Vec<u64> = (0..=715).map(|i| i * 100).collect();
            build(&entries, &offsets, &mut buf);
            let idx = HashIndex::parse(&buf, version).unwrap();
            assert_eq!(idx.is_direct(), version == 2);
            assert_eq!(idx.blocks(), 715);
            assert_eq!(idx.block(3), Some((300, 95)));
            assert_eq!(idx.block(715), None);
            // Rebuilt from its span inside a larger file: the same index.
            let file = [vec![7u8; 13], buf.clone(), vec![9u8; 5]].concat();
            let again = HashIndex::from_span(&file, &idx.span(13));
            assert_eq!((again.slots, again.offsets), (idx.slots, idx.offsets));
            assert_eq!((again.n, again.direct), (idx.n, idx.direct));
            assert!(!HashIndex::from_span(&file[..30], &idx.span(13)).is_present());
            for &(h, p) in &entries {
                assert!(idx.candidates(h).any(|c| c == p), "{p:?}");
            }
            let strays = (5000..105_000u64)
                .filter(|i| idx.candidates(hash(&i.to_le_bytes())).next().is_some())
                .count();
            assert!(
                strays < 10,
                "{strays} fingerprint matches for absent prefixes"
            );
        }
    }

    #[test]
    fn block_containing_finds_the_block_of_an_offset() {
        let mut buf = Vec::new();
        // Blocks at 10..20 (+5 trailer), 25..95, 100..195.
        build(&[(1, Position::Entry(10))], &[10, 25, 100, 200], &mut buf);
        let idx = HashIndex::parse(&buf, 2).unwrap();
        let want = |at: usize| match at {
            10..20 => Some(0),
            25..95 => Some(1),
            100..195 => Some(2),
            _ => None,
        };
        for at in 0..260 {
            assert_eq!(idx.block_containing(at), want(at), "offset {at}");
        }
    }

    #[test]
    fn oversized_positions_give_no_index() {
        for p in [
            Position::Restart {
                block: 0,
                restart: 300,
            },
            Position::Entry(1 << 39),
            Position::Block(1 << 40),
        ] {
            let mut buf = Vec::new();
            build(&[(1, p)], &[0, 10], &mut buf);
            let idx = HashIndex::parse(&buf, 2).unwrap();
            assert!(!idx.is_present());
            assert_eq!(idx.candidates(1).count(), 0);
            assert!(HashIndex::parse(&buf[1..], 2).is_err());
        }
        assert_eq!(Position::Entry((1 << 39) - 1).encode(), Some((1 << 40) - 1));
    }
}
