//! Segment files: immutable sorted runs of versions.
//!
//! ```text
//! segment = data block* | bloom block | index block | props block | hash index block | footer
//! stored block = bytes | compression: u8 | crc32c(bytes | compression): u32 LE
//! footer (64 bytes) =
//!     index offset: u64 | index len: u32      (the stored index block)
//!     bloom offset: u64 | bloom len: u32      (the stored bloom block)
//!     props offset: u64 | props len: u32      (the stored props block)
//!     hash offset: u64  | hash len: u32       (the stored hash index block)
//!     format version: u32
//!     crc32c of the 52 bytes above: u32
//!     magic "STRATSEG": 8 bytes
//! ```
//! All integers little-endian. Data blocks hold entries `internal key ->
//! value` in key order, where `value = kind: u8 | payload` (kind 0: a version,
//! payload = encoded row; kind 1: a tombstone, no payload). The index block
//! (restart interval 1) maps the last key of each data block to
//! `offset: varint | len: varint` of that stored block. The bloom block is a
//! [`super::bloom`] filter over every distinct `view_id | entity key`. The
//! props block holds counts, timestamp bounds and the first and last keys.
//! The hash index block ([`super::hash_index`]) maps each prefix to its
//! first entry, and lists the data blocks' offsets.
//!
//! Format version 2 (written now) differs from version 1 (still read) in
//! two ways: the first entry of every prefix is a restart point of its data
//! block (it stores its whole key), and the hash index names that entry by
//! its file offset when its block is stored uncompressed (by the block
//! number when it is compressed), instead of by block and restart point.

use super::block::{self, Block, BlockBuilder, Compression, WholeEntry};
use super::bloom::{self, Bloom};
use super::error::{DecodeError, Reader};
use super::hash_index::{self, HashIndex, HashIndexSpan, Position};
use super::key;
use super::varint;

pub const MAGIC: [u8; 8] = *b"STRATSEG";
/// The version written; readers also read every version from
/// [`OLDEST_FORMAT_VERSION`] on.
pub const FORMAT_VERSION: u32 = 2;
pub const OLDEST_FORMAT_VERSION: u32 = 1;
pub const FOOTER_LEN: usize = 64;
const HANDLES: usize = 4;

/// What an entry of a data block is.
/// DO NOT CHANGE THESE TAGS: they are part of the stored format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Version = 0,
    Tombstone = 1,
}

/// Splits a data-block value into its kind and payload.
#[inline]
pub fn decode_value(v: &[u8]) -> Result<(EntryKind, &[u8]), DecodeError> {
    match v.split_first() {
        Some((0, row)) => Ok((EntryKind::Version, row)),
        Some((1, [])) => Ok((EntryKind::Tombstone, &[])),
        Some((k, _)) => Err(DecodeError::invalid(
            "entry value",
            0,
            format!("unknown entry kind {k}"),
        )),
        None => Err(DecodeError::invalid("entry value", 0, "empty value")),
    }
}

/// Knobs of the segment writer.
#[derive(Debug, Clone, Copy)]
pub struct SegmentOptions {
    /// Target uncompressed size of a data block.
    pub block_size: usize,
    pub restart_interval: usize,
    pub bloom_bits_per_key: u32,
    /// zstd level to try on every data block (kept only where it saves 1/8).
    pub zstd_level: Option<i32>,
    /// The format version to write: [`FORMAT_VERSION`]; tests may ask for
    /// an older one the reader still reads, to compare the two.
    pub format_version: u32,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            block_size: 4096,
            restart_interval: 16,
            bloom_bits_per_key: 10,
            zstd_level: None,
            format_version: FORMAT_VERSION,
        }
    }
}

/// Statistics kept in the props block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentProps {
    pub entries: u64,
    pub tombstones: u64,
    /// Distinct `view_id | entity key` prefixes.
    pub prefixes: u64,
    pub data_blocks: u64,
    /// Bounds over versions (tombstones excluded); `i64::MAX..i64::MIN` if none.
    pub min_event_ts: i64,
    pub max_event_ts: i64,
    pub min_created_ts: i64,
    pub max_created_ts: i64,
    pub first_key: Vec<u8>,
    pub last_key: Vec<u8>,
}

impl SegmentProps {
    fn encode(&self, out: &mut Vec<u8>) {
        for le_bytes in [
            self.entries.to_le_bytes(),
            self.tombstones.to_le_bytes(),
            self.prefixes.to_le_bytes(),
            self.data_blocks.to_le_bytes(),
            self.min_event_ts.to_le_bytes(),
            self.max_event_ts.to_le_bytes(),
            self.min_created_ts.to_le_bytes(),
            self.max_created_ts.to_le_bytes(),
        ] {
            out.extend_from_slice(&le_bytes);
        }
        for k in [&self.first_key, &self.last_key] {
            varint::put(out, k.len() as u64);
            out.extend_from_slice(k);
        }
    }

    fn decode(buf: &[u8]) -> Result<SegmentProps, DecodeError> {
        let mut r = Reader::new(buf, "segment props");
        let mut p = SegmentProps {
            entries: r.u64()?,
            tombstones: r.u64()?,
            prefixes: r.u64()?,
            data_blocks: r.u64()?,
            min_event_ts: r.i64()?,
            max_event_ts: r.i64()?,
            min_created_ts: r.i64()?,
            max_created_ts: r.i64()?,
            ..SegmentProps::default()
        };
        let n = r.len(buf.len())?;
        p.first_key = r.bytes(n)?.to_vec();
        let n = r.len(buf.len())?;
        p.last_key = r.bytes(n)?.to_vec();
        Ok(p)
    }
}

/// Writes a segment. Entries are added in strictly increasing key order;
/// finished bytes are taken out with [`SegmentBuilder::take_output`] as they
/// accumulate, so a large segment never sits whole in memory.
#[derive(Debug)]
pub struct SegmentBuilder {
    opts: SegmentOptions,
    out: Vec<u8>,
    /// Bytes already handed out by `take_output`.
    flushed: u64,
    block: BlockBuilder,
    index: BlockBuilder,
    /// `(hash, position)` of each prefix's first entry, in finished blocks.
    prefixes: Vec<(u64, Position)>,
    /// `(hash, offset in the block, restart point)` of each prefix's first
    /// entry in the block being built.
    block_prefixes: Vec<(u64, usize, usize)>,
    block_offsets: Vec<u64>,
    last_prefix: Vec<u8>,
    props: SegmentProps,
    handle_buf: Vec<u8>,
}

impl SegmentBuilder {
    pub fn new(mut opts: SegmentOptions) -> Self {
        opts.format_version = opts
            .format_version
            .clamp(OLDEST_FORMAT_VERSION, FORMAT_VERSION);
        SegmentBuilder {
            opts,
            out: Vec::new(),
            flushed: 0,
            block: BlockBuilder::new(opts.restart_interval),
            index: BlockBuilder::new(1),
            prefixes: Vec::new(),
            block_prefixes: Vec::new(),
            block_offsets: Vec::new(),
            last_prefix: Vec::new(),
            props: SegmentProps {
                min_event_ts: i64::MAX,
                max_event_ts: i64::MIN,
                min_created_ts: i64::MAX,
                max_created_ts: i64::MIN,
                ..SegmentProps::default()
            },
            handle_buf: Vec::new(),
        }
    }

    /// Adds one entry. `key` is an internal key; keys must increase.
    pub fn add(&mut self, key: &[u8], kind: EntryKind, row: &[u8]) -> Result<(), DecodeError> {
        let parts = key::split(key)?;
        if self.props.entries > 0 && key <= self.props.last_key.as_slice() {
            return Err(DecodeError::invalid(
                "segment builder",
                0,
                "keys added out of order",
            ));
        }
        if self.props.entries == 0 {
            self.props.first_key = key.to_vec();
        }
        let new_prefix = self.props.entries == 0 || parts.prefix != self.last_prefix.as_slice();
        if new_prefix {
            self.last_prefix.clear();
            self.last_prefix.extend_from_slice(parts.prefix);
            self.props.prefixes += 1;
        }
        match kind {
            EntryKind::Tombstone => self.props.tombstones += 1,
            EntryKind::Version => {
                let p = &mut self.props;
                p.min_event_ts = p.min_event_ts.min(parts.event_ts);
                p.max_event_ts = p.max_event_ts.max(parts.event_ts);
                p.min_created_ts = p.min_created_ts.min(parts.created_ts);
                p.max_created_ts = p.max_created_ts.max(parts.created_ts);
            }
        }
        self.props.entries += 1;
        self.props.last_key.clear();
        self.props.last_key.extend_from_slice(key);
        // Value = kind | row, written without an intermediate buffer.
        self.handle_buf.clear();
        self.handle_buf.push(kind as u8);
        self.handle_buf.extend_from_slice(row);
        if new_prefix {
            // Format 2: a prefix's first entry stores its whole key, so
            // the hash index can point at it directly.
            let at = if self.opts.format_version >= 2 {
                self.block.add_restart(key, &self.handle_buf)
            } else {
                self.block.add(key, &self.handle_buf);
                0
            };
            let h = bloom::hash(parts.prefix);
            self.block_prefixes
                .push((h, at, self.block.current_restart()));
        } else {
            self.block.add(key, &self.handle_buf);
        }
        if self.block.size_estimate() >= self.opts.block_size {
            self.finish_block();
        }
        Ok(())
    }

    fn offset(&self) -> u64 {
        self.flushed + self.out.len() as u64
    }

    fn finish_block(&mut self) {
        if self.block.is_empty() {
            return;
        }
        let last = self.block.last_key().to_vec();
        let raw = self.block.finish();
        let offset = self.offset();
        self.block_offsets.push(offset);
        let len = block::write_stored(&mut self.out, &raw, self.opts.zstd_level);
        let compressed = self.out.get(self.out.len() - block::TRAILER_LEN) != Some(&0);
        let block_no = self.props.data_blocks as usize;
        let file_offset = offset as usize;
        for (h, at, restart) in self.block_prefixes.drain(..) {
            let position = if self.opts.format_version < 2 {
                Position::Restart {
                    block: block_no,
                    restart,
                }
            } else if compressed {
                Position::Block(block_no)
            } else {
                Position::Entry(file_offset + at)
            };
            self.prefixes.push((h, position));
        }
        self.handle_buf.clear();
        varint::put(&mut self.handle_buf, offset);
        varint::put(&mut self.handle_buf, len as u64);
        self.index.add(&last, &self.handle_buf);
        self.props.data_blocks += 1;
    }

    /// Bytes finished so far, to be appended to the file.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.flushed += self.out.len() as u64;
        std::mem::take(&mut self.out)
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.props.entries
    }

    /// Bytes the segment takes so far (approximately, before index and filter).
    pub fn size(&self) -> u64 {
        self.offset() + self.block.size_estimate() as u64
    }

    /// Finishes the segment: the last bytes to append, and its statistics.
    pub fn finish(mut self) -> (Vec<u8>, SegmentProps) {
        self.finish_block();
        self.block_offsets.push(self.offset());
        let mut handles = [(0u64, 0u32); HANDLES];
        let mut filter = Vec::new();
        let hashes: Vec<u64> = self.prefixes.iter().map(|p| p.0).collect();
        bloom::build(&hashes, self.opts.bloom_bits_per_key, &mut filter);
        handles[1].0 = self.offset();
        handles[1].1 = block::write_stored(&mut self.out, &filter, None) as u32;
        let index = self.index.finish();
        handles[0].0 = self.offset();
        handles[0].1 = block::write_stored(&mut self.out, &index, None) as u32;
        let mut props = Vec::new();
        self.props.encode(&mut props);
        handles[2].0 = self.offset();
        handles[2].1 = block::write_stored(&mut self.out, &props, None) as u32;
        let mut hash = Vec::new();
        hash_index::build(&self.prefixes, &self.block_offsets, &mut hash);
        handles[3].0 = self.offset();
        handles[3].1 = block::write_stored(&mut self.out, &hash, None) as u32;
        let footer_at = self.out.len();
        for (off, len) in handles {
            self.out.extend_from_slice(&off.to_le_bytes());
            self.out.extend_from_slice(&len.to_le_bytes());
        }
        self.out
            .extend_from_slice(&self.opts.format_version.to_le_bytes());
        let crc = super::checksum(&[&self.out[footer_at..]]);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out.extend_from_slice(&MAGIC);
        (self.out, self.props)
    }
}

/// Where a stored block is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: usize,
    pub len: usize,
}

/// The parsed structure of a segment: footer, props, filter and index
/// positions. It holds no borrow of the file's bytes; every method takes them.
#[derive(Debug, Clone)]
pub struct SegmentLayout {
    version: u32,
    index: BlockHandle,
    bloom: BlockHandle,
    /// The hash index, parsed and checked once (see [`HashIndexSpan`]).
    hash_span: HashIndexSpan,
    pub props: SegmentProps,
}

impl SegmentLayout {
    /// Parses and verifies the footer, props, filter and index of `file`.
    pub fn parse(file: &[u8]) -> Result<SegmentLayout, DecodeError> {
        let footer_at = file
            .len()
            .checked_sub(FOOTER_LEN)
            .ok_or(DecodeError::Truncated {
                what: "segment footer",
                offset: 0,
                needed: FOOTER_LEN,
                available: file.len(),
            })?;
        let mut r = Reader::at(file, footer_at, "segment footer");
        let mut handles = [BlockHandle { offset: 0, len: 0 }; HANDLES];
        for h in &mut handles {
            h.offset = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
            h.len = r.u32()? as usize;
        }
        let version = r.u32()?;
        let crc = r.u32()?;
        r.magic(MAGIC)?;
        let got = super::checksum(&[&file[footer_at..footer_at + FOOTER_LEN - 12]]);
        DecodeError::verify_checksum("segment footer", footer_at, crc, got)?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion {
                what: "segment",
                version,
                supported: FORMAT_VERSION,
            });
        }
        let [index, bloom_h, props_h, hash_h] = handles;
        for h in handles {
            if h.offset
                .checked_add(h.len + block::TRAILER_LEN)
                .is_none_or(|end| end > footer_at)
            {
                return Err(DecodeError::invalid(
                    "segment footer",
                    footer_at,
                    "a block handle points past the footer",
                ));
            }
        }
        let props = SegmentProps::decode(read_plain(file, props_h)?)
            .map_err(|e| DecodeError::invalid("segment props", props_h.offset, e.to_string()))?;
        let mut layout = SegmentLayout {
            version,
            index,
            bloom: bloom_h,
            hash_span: HashIndexSpan::default(),
            props,
        };
        Bloom::parse(layout.bloom_bytes(file)?)?;
        let hash = HashIndex::parse(read_plain(file, hash_h)?, version)?;
        layout.hash_span = hash.span(hash_h.offset);
        if hash.is_present()
            && (hash.blocks() as u64 != layout.props.data_blocks
                || hash
                    .block(hash.blocks().saturating_sub(1))
                    .is_some_and(|(o, l)| o + l > bloom_h.offset))
        {
            return Err(DecodeError::invalid(
                "segment hash index",
                hash_h.offset,
                "block offsets disagree with the segment",
            ));
        }
        let idx = Block::new(read_plain(file, index)?)?;
        if idx.n_restarts() as u64 != layout.props.data_blocks {
            return Err(DecodeError::invalid(
                "segment index",
                index.offset,
                "index and props disagree on the block count",
            ));
        }
        Ok(layout)
    }

    fn bloom_bytes<'a>(&self, file: &'a [u8]) -> Result<&'a [u8], DecodeError> {
        read_plain(file, self.bloom)
    }

    /// The filter, without re-verifying its checksum (checked at parse).
    pub fn bloom<'a>(&self, file: &'a [u8]) -> Bloom<'a> {
        file.get(self.bloom.offset..self.bloom.offset + self.bloom.len)
            .and_then(|b| Bloom::parse(b).ok())
            .unwrap_or(Bloom::EMPTY_ALL)
    }

    /// The hash index, without re-verifying its checksum or parsing it
    /// again (both done at parse): `file` must be the file this layout
    /// was parsed from.
    #[inline]
    pub fn hash_index<'a>(&self, file: &'a [u8]) -> HashIndex<'a> {
        HashIndex::from_span(file, &self.hash_span)
    }

    /// The index block, without re-verifying its checksum (checked at parse).
    pub fn index<'a>(&self, file: &'a [u8]) -> Result<Block<'a>, DecodeError> {
        Block::new(
            file.get(self.index.offset..self.index.offset + self.index.len)
                .unwrap_or(&[]),
        )
    }

    /// The first data block whose last key is `>= target`: its number and
    /// handle. `None` if every key of the segment is `< target`.
    pub fn find_block(
        &self,
        file: &[u8],
        target: &[u8],
    ) -> Result<Option<(usize, BlockHandle)>, DecodeError> {
        let index = self.index(file)?;
        match index.search_restarts(target)? {
            Some(i) => Ok(Some((i, self.block_handle(&index, i)?))),
            None => Ok(None),
        }
    }

    /// The handle of data block `i`.
    pub fn block_handle(&self, index: &Block<'_>, i: usize) -> Result<BlockHandle, DecodeError> {
        let (_, v) = index.restart_entry(i)?;
        let mut r = Reader::new(v, "segment index entry");
        let offset = r.len(usize::MAX)?;
        let len = r.len(block::MAX_BLOCK_LEN)?;
        if offset
            .checked_add(len)
            .is_none_or(|e| e > self.bloom.offset)
        {
            return Err(DecodeError::invalid(
                "segment index",
                self.index.offset,
                format!("data block {i} out of range"),
            ));
        }
        Ok(BlockHandle { offset, len })
    }

    pub fn data_blocks(&self) -> usize {
        self.props.data_blocks as usize
    }

    /// The segment's format version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The end of the data region: every data block (with its trailer) is
    /// stored before this offset.
    pub fn data_end(&self) -> usize {
        self.bloom.offset
    }

    /// The entry at file offset `at` (a format-2 hash index position),
    /// decoded on its own within the data region; see [`block::entry_at`].
    /// The value offset it returns is a file offset. It verifies no
    /// checksum: the caller has verified the data blocks.
    #[inline]
    pub fn entry_at<'a>(&self, file: &'a [u8], at: usize) -> Result<WholeEntry<'a>, DecodeError> {
        block::entry_at(file.get(..self.bloom.offset).unwrap_or(&[]), at)
    }
}

/// Reads and verifies an uncompressed stored block.
fn read_plain(file: &[u8], h: BlockHandle) -> Result<&[u8], DecodeError> {
    match block::read_stored(file, h.offset, h.len, true)? {
        (data, Compression::None) => Ok(data),
        _ => Err(DecodeError::invalid(
            "segment",
            h.offset,
            "metadata block must not be compressed",
        )),
    }
}

/// Reads data block `h`: verifies its checksum if `verify`, and if it is
/// compressed decompresses it into `scratch` and returns `true`. Otherwise
/// the block is `file[h.offset..h.offset + h.len]`.
pub fn read_data_block(
    file: &[u8],
    h: BlockHandle,
    verify: bool,
    scratch: &mut Vec<u8>,
) -> Result<bool, DecodeError> {
    match block::read_stored(file, h.offset, h.len, verify)? {
        (_, Compression::None) => Ok(false),
        (data, Compression::Zstd) => {
            block::decompress_into(data, scratch, h.offset)?;
            Ok(true)
        }
    }
}

/// The bytes of data block `h` ([`read_data_block`]): decompressed into
/// `scratch` if it is compressed, else where they stand in `file`.
pub fn data_block<'a>(
    file: &'a [u8],
    h: BlockHandle,
    verify: bool,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    if read_data_block(file, h, verify, scratch)? {
        let decompressed: &'a [u8] = scratch;
        return Ok(decompressed);
    }
    Ok(&file[h.offset..h.offset + h.len])
}

#[cfg(test)]
mod tests;
