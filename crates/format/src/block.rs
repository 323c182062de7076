//! Sorted key/value blocks with prefix compression and restart points.
//!
//! ```text
//! block   = entry* | restart: u32 LE * n_restarts | n_restarts: u32 LE
//! entry   = shared: varint | unshared: varint | value_len: varint
//!         | key[shared..]: unshared bytes | value: value_len bytes
//! ```
//!
//! Each entry stores only the part of its key that differs from the previous
//! key (`shared` bytes are taken from it). Every `restart_interval`-th entry
//! is a *restart point*: it stores its whole key (`shared = 0`) and its
//! offset is listed in the restart array, so a seek binary-searches the
//! restart points and then scans at most `restart_interval` entries.
//! A writer may also start a restart point at any entry
//! ([`BlockBuilder::add_restart`]): segments of format version 2 start one
//! at the first entry of every `view | entity key` prefix, so that entry
//! decodes on its own ([`entry_at`]) straight from the hash index.
//! Keys are strictly increasing in byte order.
//!
//! A block is stored followed by a 5-byte trailer (see [`BlockTrailer`]):
//! its compression and a crc32c of the stored bytes and the compression byte.

use super::error::{DecodeError, Reader};
use super::varint;

/// Compression of a stored block.
/// DO NOT CHANGE THESE TAGS: they are part of the stored format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None = 0,
    Zstd = 1,
}

/// Bytes of the trailer after each stored block.
pub const TRAILER_LEN: usize = 5;
/// Largest uncompressed block accepted by a reader.
pub const MAX_BLOCK_LEN: usize = 64 << 20;

/// Builds one block. Keys must be added in strictly increasing order.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    since_restart: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            restart_interval: restart_interval.max(1),
            since_restart: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Bytes the finished block will take.
    pub fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// The restart point of the entry added last.
    pub fn current_restart(&self) -> usize {
        self.restarts.len() - 1
    }

    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        self.add_entry(key, value, false);
    }

    /// Adds an entry that is a restart point, storing its whole key, and
    /// returns its offset in the block.
    pub fn add_restart(&mut self, key: &[u8], value: &[u8]) -> usize {
        self.add_entry(key, value, true)
    }

    fn add_entry(&mut self, key: &[u8], value: &[u8], restart: bool) -> usize {
        debug_assert!(
            self.entries == 0 || key > self.last_key.as_slice(),
            "keys out of order"
        );
        let at = self.buf.len();
        let shared = if self.entries == 0 {
            self.since_restart = 0;
            0
        } else if restart || self.since_restart == self.restart_interval {
            self.restarts.push(self.buf.len() as u32);
            self.since_restart = 0;
            0
        } else {
            key.iter()
                .zip(&self.last_key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        varint::put(&mut self.buf, shared as u64);
        varint::put(&mut self.buf, (key.len() - shared) as u64);
        varint::put(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.since_restart += 1;
        self.entries += 1;
        at
    }

    /// Finishes the block and returns its bytes; the builder is reset.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        *self = BlockBuilder::new(self.restart_interval);
        out
    }
}

/// The trailer stored after each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTrailer {
    pub compression: Compression,
    pub crc: u32,
}

/// Appends `block` to `out` as stored: compressed with zstd at `zstd_level`
/// if that saves at least 1/8 of its size, then the trailer. Returns the
/// stored length (without trailer).
pub fn write_stored(out: &mut Vec<u8>, block: &[u8], zstd_level: Option<i32>) -> usize {
    let start = out.len();
    let mut compression = Compression::None;
    if let Some(level) = zstd_level {
        match zstd::bulk::compress(block, level) {
            Ok(c) if c.len() + c.len() / 7 < block.len() => {
                out.extend_from_slice(&c);
                compression = Compression::Zstd;
            }
            _ => out.extend_from_slice(block),
        }
    } else {
        out.extend_from_slice(block);
    }
    let stored = out.len() - start;
    let tag = [compression as u8];
    let crc = super::checksum(&[&out[start..], &tag]);
    out.push(tag[0]);
    out.extend_from_slice(&crc.to_le_bytes());
    stored
}

/// Where restart point `restart` of the uncompressed stored block
/// `buf[offset..offset + len]` points, as an offset into `buf`; `None` if
/// the block is compressed or the numbers do not fit. It reads the block's
/// tail and one restart entry and checks nothing else: a batch of lookups
/// uses it to bring entries into the cache early, and then reads them
/// through the checked path.
pub fn peek_restart(buf: &[u8], offset: usize, len: usize, restart: usize) -> Option<usize> {
    let end = offset.checked_add(len)?;
    if *buf.get(end)? != 0 {
        return None; // compressed
    }
    let word = |at: usize| -> Option<usize> {
        let b = buf.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = word(end.checked_sub(4)?)?;
    if restart >= n {
        return None;
    }
    let restarts = end.checked_sub(4)?.checked_sub(n.checked_mul(4)?)?;
    let entry = word(restarts.checked_add(restart * 4)?)?;
    let at = offset.checked_add(entry)?;
    (at < restarts).then_some(at)
}

/// Checks the trailer of the stored block `buf[offset..offset + len]` (the
/// trailer follows it) and returns the stored bytes and compression.
pub fn read_stored(
    buf: &[u8],
    offset: usize,
    len: usize,
    verify: bool,
) -> Result<(&[u8], Compression), DecodeError> {
    let mut r = Reader::at(buf, offset, "block");
    let data = r.bytes(len)?;
    let tag = r.u8()?;
    let crc = r.u32()?;
    if verify {
        DecodeError::verify_checksum("block", offset, crc, super::checksum(&[data, &[tag]]))?;
    }
    let compression = match tag {
        0 => Compression::None,
        1 => Compression::Zstd,
        t => {
            return Err(DecodeError::invalid(
                "block",
                offset + len,
                format!("unknown compression {t}"),
            ));
        }
    };
    Ok((data, compression))
}

/// Decompresses a stored block into `out` (replacing its contents).
pub fn decompress_into(data: &[u8], out: &mut Vec<u8>, offset: usize) -> Result<(), DecodeError> {
    out.clear();
    let cap = zstd::bulk::Decompressor::upper_bound(data)
        .unwrap_or(MAX_BLOCK_LEN)
        .min(MAX_BLOCK_LEN);
    let mut d = zstd::bulk::Decompressor::new()
        .map_err(|e| DecodeError::invalid("block", offset, format!("zstd: {e}")))?;
    out.reserve(cap);
    d.decompress_to_buffer(data, out)
        .map_err(|e| DecodeError::invalid("block", offset, format!("zstd: {e}")))?;
    Ok(())
}

/// A decoded view of one (uncompressed) block.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// The entries, without the restart array.
    entries: &'a [u8],
    /// The restart array, `n_restarts` little-endian u32s.
    restarts: &'a [u8],
}

impl<'a> Block<'a> {
    /// A block with no entries.
    pub const EMPTY: Block<'static> = Block {
        entries: &[],
        restarts: &[],
    };

    /// Parses the restart array. Entries are checked lazily as they are read.
    pub fn new(buf: &'a [u8]) -> Result<Block<'a>, DecodeError> {
        if buf.len() < 4 {
            return Err(DecodeError::Truncated {
                what: "block",
                offset: 0,
                needed: 4,
                available: buf.len(),
            });
        }
        let (body, n) = buf.split_at(buf.len() - 4);
        let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
        let restarts_len = n
            .checked_mul(4)
            .filter(|&l| l <= body.len() && n > 0)
            .ok_or_else(|| {
                DecodeError::invalid(
                    "block",
                    body.len(),
                    format!("{n} restart points do not fit"),
                )
            })?;
        let (entries, restarts) = body.split_at(body.len() - restarts_len);
        let block = Block { entries, restarts };
        // Restart offsets are checked when used: a bad one fails the entry read.
        Ok(block)
    }

    /// A cursor positioned before the first entry.
    pub fn iter(&self) -> BlockIter {
        self.iter_with(Vec::new())
    }

    /// A cursor positioned before the first entry, reusing `key_buf`.
    pub fn iter_with(&self, mut key_buf: Vec<u8>) -> BlockIter {
        key_buf.clear();
        BlockIter {
            next: 0,
            key: key_buf,
            value: (0, 0),
            valid: false,
        }
    }

    /// A cursor positioned before the entry at `offset` (from the start of
    /// the block), which must store its whole key (a restart point, or any
    /// entry added with [`BlockBuilder::add_restart`]): its first
    /// [`BlockIter::advance`] fails otherwise. `None` if `offset` is not
    /// inside the entries.
    pub fn iter_at(&self, offset: usize, mut key_buf: Vec<u8>) -> Option<BlockIter> {
        key_buf.clear();
        (offset < self.entries.len()).then_some(BlockIter {
            next: offset,
            key: key_buf,
            value: (0, 0),
            valid: false,
        })
    }

    /// Key and value of the entry at restart point `i`, which stores its key
    /// whole. In a block built with restart interval 1 (the segment index)
    /// that is entry `i`.
    pub fn restart_entry(&self, i: usize) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
        let off = self.restart(i) as usize;
        let e = decode_entry(self.entries, off)?;
        if e.shared != 0 {
            return Err(DecodeError::invalid(
                "block",
                off,
                "restart entry shares a prefix",
            ));
        }
        Ok((e.key_delta, e.value))
    }

    pub fn n_restarts(&self) -> usize {
        self.restarts.len() / 4
    }

    /// The first restart point whose key is `>= target`, if any.
    pub fn search_restarts(&self, target: &[u8]) -> Result<Option<usize>, DecodeError> {
        let (mut lo, mut hi) = (0usize, self.n_restarts());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.restart_entry(mid)?.0 < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok((lo < self.n_restarts()).then_some(lo))
    }

    /// A cursor positioned at the first entry with key `>= target` (not
    /// valid if there is none), reusing `key_buf`'s allocation.
    pub fn seek(&self, target: &[u8], key_buf: Vec<u8>) -> Result<BlockIter, DecodeError> {
        // Start from the last restart point whose key is < target: every
        // entry before it is < target too.
        let first_ge = self.search_restarts(target)?.unwrap_or(self.n_restarts());
        self.scan_from(first_ge.saturating_sub(1), target, key_buf)
    }

    /// A cursor at the first entry `>= target`, scanning forward from
    /// restart point `restart` (which must precede it; not valid if no entry
    /// from there on is `>= target`).
    pub fn seek_from_restart(
        &self,
        restart: usize,
        target: &[u8],
        key_buf: Vec<u8>,
    ) -> Result<BlockIter, DecodeError> {
        if restart >= self.n_restarts() {
            return Err(DecodeError::invalid(
                "block",
                self.entries.len(),
                format!("restart point {restart} out of range"),
            ));
        }
        self.scan_from(restart, target, key_buf)
    }

    /// Scans forward from restart point `restart` (in range) to the first
    /// entry `>= target`.
    fn scan_from(
        &self,
        restart: usize,
        target: &[u8],
        key_buf: Vec<u8>,
    ) -> Result<BlockIter, DecodeError> {
        let mut it = BlockIter {
            next: self.restart(restart) as usize,
            key: key_buf,
            value: (0, 0),
            valid: false,
        };
        it.key.clear();
        while it.advance(self)? {
            if it.key.as_slice() >= target {
                break;
            }
        }
        Ok(it)
    }

    #[inline]
    fn restart(&self, i: usize) -> u32 {
        match self.restarts.get(4 * i..4 * i + 4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => u32::MAX,
        }
    }
}

struct RawEntry<'a> {
    shared: usize,
    key_delta: &'a [u8],
    value: &'a [u8],
    value_at: usize,
    end: usize,
}

#[inline]
fn decode_entry(buf: &[u8], off: usize) -> Result<RawEntry<'_>, DecodeError> {
    let mut r = Reader::at(buf, off, "block entry");
    let shared = r.len(buf.len())?;
    let unshared = r.len(buf.len())?;
    let value_len = r.len(buf.len())?;
    let key_delta = r.bytes(unshared)?;
    let value_at = r.pos();
    let value = r.bytes(value_len)?;
    Ok(RawEntry {
        shared,
        key_delta,
        value,
        value_at,
        end: r.pos(),
    })
}

/// An entry that stores its whole key, decoded on its own.
#[derive(Debug, Clone, Copy)]
pub struct WholeEntry<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Where the value starts in the buffer the entry was decoded from.
    pub value_at: usize,
}

/// Decodes the entry at `buf[off..]`, which must be a restart point
/// (`shared = 0`, checked); lengths are bounded by `buf`. Nothing else is
/// read: no restart array, no trailer, no checksum. A segment of format
/// version 2 reads a key's newest entry this way, straight from its hash
/// index slot (`buf` is then the file's data region).
#[inline]
pub fn entry_at(buf: &[u8], off: usize) -> Result<WholeEntry<'_>, DecodeError> {
    let e = decode_entry(buf, off)?;
    if e.shared != 0 {
        return Err(DecodeError::invalid(
            "block entry",
            off,
            "an entry read on its own shares a prefix",
        ));
    }
    Ok(WholeEntry {
        key: e.key_delta,
        value: e.value,
        value_at: e.value_at,
    })
}

/// A cursor over the entries of a block, in key order. It holds no borrow of
/// the block (which may live in a buffer its owner replaces); every call
/// takes the block it was made from.
#[derive(Debug, Clone, Default)]
pub struct BlockIter {
    /// Offset of the next entry to decode.
    next: usize,
    key: Vec<u8>,
    /// Offset and length of the current value.
    value: (usize, usize),
    valid: bool,
}

impl BlockIter {
    /// Moves to the next entry; `false` when the block is exhausted.
    pub fn advance(&mut self, block: &Block<'_>) -> Result<bool, DecodeError> {
        if self.next >= block.entries.len() {
            self.key.clear();
            self.valid = false;
            return Ok(false);
        }
        let e = decode_entry(block.entries, self.next)?;
        if e.shared > self.key.len() {
            return Err(DecodeError::invalid(
                "block entry",
                self.next,
                "shares more than the previous key",
            ));
        }
        self.key.truncate(e.shared);
        self.key.extend_from_slice(e.key_delta);
        self.value = (e.value_at, e.value.len());
        self.next = e.end;
        self.valid = true;
        Ok(true)
    }

    /// `true` while positioned on an entry.
    pub fn valid(&self) -> bool {
        self.valid
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Where the current value starts in its block.
    pub fn value_offset(&self) -> usize {
        self.value.0
    }

    /// The current value, from the block this cursor walks.
    pub fn value<'b>(&self, block: &Block<'b>) -> &'b [u8] {
        block
            .entries
            .get(self.value.0..self.value.0 + self.value.1)
            .unwrap_or(&[])
    }

    /// Gives back the key buffer for reuse.
    pub fn into_key_buf(self) -> Vec<u8> {
        self.key
    }
}

#[cfg(test)]
mod tests;
