//! Segment files on disk: writing them, and reading them through `mmap`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::retire::RemoveWhenUnused;

use memmap2::Mmap;

use strata_format::DecodeError;
use strata_format::block::{Block, BlockIter};
use strata_format::bloom::Bloom;
use strata_format::hash_index::HashIndex;
use strata_format::segment::{
    self, BlockHandle, EntryKind, SegmentBuilder, SegmentLayout, SegmentOptions, SegmentProps,
};

use super::io::{FileKind, Fs, Io, IoFile, Pending, SyncKind};
use super::{Error, Result};

mod sequential;
#[cfg(test)]
mod tests;
#[allow(unused_imports)] // Until `compact.rs` merges through it.
pub use sequential::SequentialCursor;
#[cfg(any(test, feature = "test-util"))]
pub use sequential::scan_entries;

pub fn segment_dir(dir: &Path) -> PathBuf {
    dir.join("segments")
}

pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    segment_dir(dir).join(format!("{number:06}.seg"))
}

/// An open, immutable segment file.
pub struct Segment {
    pub number: u64,
    pub path: PathBuf,
    map: Mmap,
    layout: SegmentLayout,
    /// One bit per data block: its checksum was verified since open.
    verified: Box<[AtomicU64]>,
    /// A copy of the hash index's slots in anonymous memory that asks for
    /// transparent huge pages (see [`resident_slots`]); `None` for a
    /// small index or where the copy could not be made.
    slots: Option<(Mmap, usize)>,
    /// Format 2 with a hash index, and every data block passed its
    /// checksum at open: lookups read a key's newest entry straight from
    /// the mmap through its hash index position (see `read::read_direct`).
    direct: bool,
    /// Replaced by a compaction: the file is removed when the last reader
    /// drops this segment. (A failed removal leaves an orphan file, removed
    /// at the next open.)
    retire: RemoveWhenUnused<Box<dyn FnMut() + Send + Sync>>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("number", &self.number)
            .field("bytes", &self.map.len())
            .finish()
    }
}

impl Segment {
    /// Maps and checks a segment file (footer, index, filter, props); an
    /// obsolete file is removed through the operating system.
    #[cfg(test)]
    pub fn open(dir: &Path, number: u64) -> Result<Segment> {
        Segment::open_with(&Fs::os(), dir, number)
    }

    /// Maps and checks a segment file; once obsolete, it is removed through `fs`.
    pub fn open_with(fs: &Fs, dir: &Path, number: u64) -> Result<Segment> {
        let path = segment_path(dir, number);
        let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        #[expect(
            unsafe_code,
            reason = "UNSAFE.md §1: mmap of an immutable segment file"
        )]
        // SAFETY: segment files are immutable once written and owned by this
        // engine: nothing truncates or rewrites a mapped file (see UNSAFE.md).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("mmap", &path, e))?;
        let layout = SegmentLayout::parse(&map).map_err(|e| Error::corruption(&path, 0, e))?;
        let words = layout.data_blocks().div_ceil(64);
        let retire = RemoveWhenUnused::new(
            Box::new(remove_file(fs.clone(), path.clone())) as Box<dyn FnMut() + Send + Sync>
        );
        let verified = (0..words).map(|_| AtomicU64::new(0)).collect();
        let slots = resident_slots(layout.hash_index(&map).slot_bytes());
        let mut seg = Segment {
            number,
            path,
            map,
            slots,
            layout,
            verified,
            direct: false,
            retire,
        };
        seg.direct = seg.layout.version() >= 2 && seg.hash_index().is_present() && seg.verify_all();
        Ok(seg)
    }

    /// Verifies the checksum of every data block (format 2, at open), so
    /// that the direct lookup path reads entries without checking their
    /// block; `true` if all pass. A block that fails is not an error here:
    /// it stays unverified, the segment reads through the checked path, and
    /// a read that touches that block fails naming it (the other blocks
    /// stay readable, as with format 1).
    fn verify_all(&self) -> bool {
        let hidx = self.hash_index();
        let mut all = true;
        for i in 0..self.layout.data_blocks() {
            let ok = hidx.block(i).is_some_and(|(offset, len)| {
                strata_format::block::read_stored(&self.map, offset, len, true).is_ok()
            });
            if ok && let Some(w) = self.verified.get(i / 64) {
                w.fetch_or(1 << (i % 64), Ordering::Relaxed);
            }
            all &= ok;
        }
        all
    }

    /// `true` if lookups may take the direct path (see the field).
    #[inline]
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The segment's format version (see `strata_format::segment`).
    pub fn format_version(&self) -> u32 {
        self.layout.version()
    }

    pub(crate) fn layout(&self) -> &SegmentLayout {
        &self.layout
    }

    /// Marks the file for removal once no reader holds this segment.
    pub fn mark_obsolete(&self) {
        self.retire.mark_obsolete();
    }

    pub fn props(&self) -> &SegmentProps {
        &self.layout.props
    }

    pub fn file_size(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn bloom(&self) -> Bloom<'_> {
        self.layout.bloom(&self.map)
    }

    /// The mapped file.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    #[inline]
    pub fn hash_index(&self) -> HashIndex<'_> {
        let h = self.layout.hash_index(&self.map);
        match &self.slots {
            Some((map, at)) => h.with_slots(map.get(*at..).unwrap_or_default()),
            None => h,
        }
    }

    pub(crate) fn corrupt(&self, e: DecodeError) -> Error {
        Error::corruption(&self.path, 0, e)
    }

    /// Damage inside the block (or value) stored at `base`. (For a
    /// compressed block the offset within it is in uncompressed bytes.)
    pub(crate) fn corrupt_at(&self, base: usize, e: DecodeError) -> Error {
        Error::corruption(&self.path, base as u64, e)
    }

    /// Checks data block `i` (its checksum, on first use since open) and,
    /// if it is compressed, decompresses it into `scratch` and returns `true`.
    fn load_block(&self, i: usize, h: BlockHandle, scratch: &mut Vec<u8>) -> Result<bool> {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let seen = self
            .verified
            .get(word)
            .is_some_and(|w| w.load(Ordering::Relaxed) & bit != 0);
        let compressed =
            segment::read_data_block(&self.map, h, !seen, scratch).map_err(|e| self.corrupt(e))?;
        if !seen && let Some(w) = self.verified.get(word) {
            w.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(compressed)
    }

    pub fn cursor(&self) -> Cursor<'_> {
        self.cursor_with(Vec::new())
    }

    /// A cursor that reuses `key_buf` for its current key (see
    /// [`Cursor::into_key_buf`]), so a warm lookup does not allocate.
    pub fn cursor_with(&self, key_buf: Vec<u8>) -> Cursor<'_> {
        let iter = Block::EMPTY.iter_with(key_buf);
        Cursor {
            seg: self,
            block_no: usize::MAX,
            handle: None,
            compressed: false,
            scratch: Vec::new(),
            iter,
        }
    }
}

/// Slots of at least this many bytes are kept resident (a smaller index
/// spans few pages, which stay in the TLB while it is read often).
const RESIDENT_SLOTS_MIN: usize = 1 << 20;

/// A copy of a hash index's `slots` in anonymous memory advised
/// `MADV_HUGEPAGE`, or `None` (a small index, or no memory for it).
///
/// Every point read of a segment starts with a random slot. Read through
/// the file's map, whose 4 KiB pages are far more than the TLB holds, the
/// slot costs a page walk before its cache miss (in a VM, a nested walk);
/// a batch of reads is held back by these walks more than by the misses.
/// In 2 MiB pages a 10 MiB table is five TLB entries. The copy costs
/// `8 × 4/3` bytes of memory per key of the segment; the file's own slots
/// are then no longer read and may leave the page cache. The slots were
/// checked (checksum and sizes) when the layout was parsed, before this
/// copy, and segment files never change.
fn resident_slots(slots: &[u8]) -> Option<(Mmap, usize)> {
    const HUGE: usize = 2 << 20;
    if slots.len() < RESIDENT_SLOTS_MIN {
        return None;
    }
    // One huge page more than needed, so that the copy can start on a
    // huge page boundary (only aligned 2 MiB ranges get huge pages).
    let mut copy = memmap2::MmapMut::map_anon(slots.len() + HUGE).ok()?;
    let at = copy.as_ptr().addr().next_multiple_of(HUGE) - copy.as_ptr().addr();
    // Only a hint: where the kernel gives no huge pages the copy is read
    // as the file's slots were.
    #[cfg(target_os = "linux")]
    let _ = copy.advise_range(memmap2::Advice::HugePage, at, slots.len());
    copy.get_mut(at..at + slots.len())?.copy_from_slice(slots);
    Some((copy.make_read_only().ok()?, at))
}

fn remove_file(fs: Fs, path: PathBuf) -> impl FnMut() + Send + Sync {
    move || {
        let _ = fs.remove(&path);
    }
}

/// A position in a segment's entries, moving forward across blocks.
pub struct Cursor<'a> {
    seg: &'a Segment,
    block_no: usize,
    handle: Option<BlockHandle>,
    /// The current block is compressed: its bytes are in `scratch`.
    compressed: bool,
    scratch: Vec<u8>,
    iter: BlockIter,
}

impl<'a> Cursor<'a> {
    fn block(&self) -> Result<Block<'_>> {
        block_of(self.seg, self.handle, self.compressed, &self.scratch)
    }

    fn load(&mut self, block_no: usize, h: BlockHandle) -> Result<()> {
        self.compressed = self.seg.load_block(block_no, h, &mut self.scratch)?;
        self.block_no = block_no;
        self.handle = Some(h);
        Ok(())
    }

    /// Positions in the loaded block `h` at its first entry `>= target`;
    /// `false` if the block has none.
    fn seek_loaded(&mut self, h: BlockHandle, target: &[u8]) -> Result<bool> {
        let block = block_of(self.seg, self.handle, self.compressed, &self.scratch)?;
        let key_buf = std::mem::take(&mut self.iter).into_key_buf();
        self.iter = block
            .seek(target, key_buf)
            .map_err(|e| self.seg.corrupt_at(h.offset, e))?;
        Ok(self.iter.valid())
    }

    /// Positions at the first entry `>= target`; `false` if there is none.
    pub fn seek(&mut self, target: &[u8]) -> Result<bool> {
        let Some((no, h)) = self
            .seg
            .layout
            .find_block(&self.seg.map, target)
            .map_err(|e| self.seg.corrupt(e))?
        else {
            self.handle = None;
            return Ok(false);
        };
        self.load(no, h)?;
        if self.seek_loaded(h, target)? {
            return Ok(true);
        }
        // The index said this block's last key is >= target: damage.
        Err(self.seg.corrupt(DecodeError::invalid(
            "segment index",
            h.offset,
            "block has no key at or after its index key",
        )))
    }

    /// Positions at the first entry `>= target`, scanning from restart point
    /// `restart` of data block `block_no` (a hash index hint, which must not
    /// be past the target); `false` if there is none.
    pub fn seek_at(&mut self, block_no: usize, restart: usize, target: &[u8]) -> Result<bool> {
        let hidx = self.seg.hash_index();
        let bad = || {
            DecodeError::invalid(
                "segment hash index",
                0,
                format!("block {block_no} out of range"),
            )
        };
        let (offset, len) = hidx
            .block(block_no)
            .ok_or_else(|| self.seg.corrupt(bad()))?;
        if block_no >= self.seg.layout.data_blocks() || offset + len > self.seg.map.len() {
            return Err(self.seg.corrupt(bad()));
        }
        self.load(block_no, BlockHandle { offset, len })?;
        let block = block_of(self.seg, self.handle, self.compressed, &self.scratch)?;
        let key_buf = std::mem::take(&mut self.iter).into_key_buf();
        self.iter = block
            .seek_from_restart(restart, target, key_buf)
            .map_err(|e| self.seg.corrupt_at(offset, e))?;
        if self.iter.valid() {
            Ok(true)
        } else {
            self.next_block()
        }
    }

    /// Loads data block `block_no` through the hash index's block offsets.
    fn load_indexed(&mut self, block_no: usize) -> Result<BlockHandle> {
        let bad = || {
            DecodeError::invalid(
                "segment hash index",
                0,
                format!("block {block_no} out of range"),
            )
        };
        let (offset, len) = self
            .seg
            .hash_index()
            .block(block_no)
            .ok_or_else(|| self.seg.corrupt(bad()))?;
        if block_no >= self.seg.layout.data_blocks() || offset + len > self.seg.layout.data_end() {
            return Err(self.seg.corrupt(bad()));
        }
        let h = BlockHandle { offset, len };
        self.load(block_no, h)?;
        Ok(h)
    }

    /// Positions at the entry stored at file offset `at` (a format-2 hash
    /// index position: a key's newest entry, which stores its whole key,
    /// in an uncompressed block). A position in no uncompressed data block,
    /// or an entry there that does not decode on its own, is damage.
    /// Moving on with [`Cursor::next`] crosses into the following blocks.
    pub fn seek_entry(&mut self, at: usize) -> Result<bool> {
        let bad = |why: &str| {
            DecodeError::invalid("segment hash index", 0, format!("entry at {at}: {why}"))
        };
        let Some(no) = self.seg.hash_index().block_containing(at) else {
            return Err(self.seg.corrupt(bad("in no data block")));
        };
        let h = self.load_indexed(no)?;
        if self.compressed {
            return Err(self.seg.corrupt(bad("in a compressed block")));
        }
        let block = block_of(self.seg, self.handle, self.compressed, &self.scratch)?;
        let key_buf = std::mem::take(&mut self.iter).into_key_buf();
        let Some(mut iter) = block.iter_at(at - h.offset, key_buf) else {
            self.iter = BlockIter::default();
            return Err(self.seg.corrupt(bad("past the block's entries")));
        };
        let ok = iter
            .advance(&block)
            .map_err(|e| self.seg.corrupt_at(h.offset, e));
        self.iter = iter;
        ok
    }

    /// Positions at the first entry `>= target` from data block `block_no`
    /// on (a format-2 hash index position for a compressed block); `false`
    /// if there is none.
    pub fn seek_in_block(&mut self, block_no: usize, target: &[u8]) -> Result<bool> {
        let h = self.load_indexed(block_no)?;
        if self.seek_loaded(h, target)? {
            Ok(true)
        } else {
            self.next_block()
        }
    }

    /// Moves to the first entry of the file; `false` if it is empty.
    pub fn seek_first(&mut self) -> Result<bool> {
        self.handle = None;
        self.block_no = usize::MAX;
        self.next_block()
    }

    fn next_block(&mut self) -> Result<bool> {
        loop {
            let no = self.block_no.wrapping_add(1);
            if no >= self.seg.layout.data_blocks() {
                self.handle = None;
                return Ok(false);
            }
            let index = self
                .seg
                .layout
                .index(&self.seg.map)
                .map_err(|e| self.seg.corrupt(e))?;
            let h = self
                .seg
                .layout
                .block_handle(&index, no)
                .map_err(|e| self.seg.corrupt(e))?;
            self.load(no, h)?;
            let block = block_of(self.seg, self.handle, self.compressed, &self.scratch)?;
            let mut iter = block.iter_with(std::mem::take(&mut self.iter).into_key_buf());
            let ok = iter
                .advance(&block)
                .map_err(|e| self.seg.corrupt_at(h.offset, e));
            self.iter = iter;
            if ok? {
                return Ok(true);
            }
        }
    }

    /// Moves to the next entry; `false` at the end of the segment.
    pub fn next(&mut self) -> Result<bool> {
        if self.handle.is_none() {
            return Ok(false);
        }
        let block = block_of(self.seg, self.handle, self.compressed, &self.scratch)?;
        let base = self.handle.map_or(0, |h| h.offset);
        if self
            .iter
            .advance(&block)
            .map_err(|e| self.seg.corrupt_at(base, e))?
        {
            return Ok(true);
        }
        self.next_block()
    }

    pub fn valid(&self) -> bool {
        self.handle.is_some() && self.iter.valid()
    }

    pub fn key(&self) -> &[u8] {
        self.iter.key()
    }

    /// Gives back the key buffer for the next cursor.
    pub fn into_key_buf(self) -> Vec<u8> {
        self.iter.into_key_buf()
    }

    /// The current entry's kind and row.
    pub fn entry(&self) -> Result<(EntryKind, &[u8])> {
        let block = self.block()?;
        let base = self.handle.map_or(0, |h| h.offset) + self.iter.value_offset();
        segment::decode_value(self.iter.value(&block)).map_err(|e| self.seg.corrupt_at(base, e))
    }
}

/// A forward walk over a segment's entries in key order: what compaction
/// merges. [`Cursor`] reads through the mmap; other implementations may read
/// the file through another I/O path.
pub trait EntryCursor {
    /// Moves to the first entry; `false` if there is none.
    fn seek_first(&mut self) -> Result<bool>;
    /// Moves to the next entry; `false` at the end.
    fn next(&mut self) -> Result<bool>;
    fn valid(&self) -> bool;
    fn key(&self) -> &[u8];
    /// The current entry's kind and row.
    fn entry(&self) -> Result<(EntryKind, &[u8])>;
}

impl EntryCursor for Cursor<'_> {
    fn seek_first(&mut self) -> Result<bool> {
        Cursor::seek_first(self)
    }
    fn next(&mut self) -> Result<bool> {
        Cursor::next(self)
    }
    fn valid(&self) -> bool {
        Cursor::valid(self)
    }
    fn key(&self) -> &[u8] {
        Cursor::key(self)
    }
    fn entry(&self) -> Result<(EntryKind, &[u8])> {
        Cursor::entry(self)
    }
}

/// The current block of a cursor, borrowing only the fields it needs.
fn block_of<'s>(
    seg: &'s Segment,
    handle: Option<BlockHandle>,
    compressed: bool,
    scratch: &'s [u8],
) -> Result<Block<'s>> {
    let bytes = match handle {
        Some(_) if compressed => scratch,
        Some(h) => seg.map.get(h.offset..h.offset + h.len).unwrap_or(&[]),
        None => &[],
    };
    Block::new(bytes).map_err(|e| seg.corrupt_at(handle.map_or(0, |h| h.offset), e))
}

/// Receives the entries of a segment being written, in key order.
pub type EntrySink<'a> = &'a mut dyn FnMut(&[u8], EntryKind, &[u8]) -> Result<()>;

/// Bytes of a segment gathered before they are handed to the backend.
const WRITE_CHUNK: u64 = 1 << 20;

/// Writes a segment file from entries in key order, through `io`, synced;
/// returns its props, or `None` if there were no entries (no file is left
/// behind). Finished bytes go out in chunks of
/// about a MiB, each written while the next one is built (with io_uring, by
/// the I/O thread), and the last chunk is linked to the file's `fsync`. A
/// failed write or sync poisons the engine.
pub fn write_segment_with(
    io: &Io,
    dir: &Path,
    number: u64,
    opts: SegmentOptions,
    fill: impl FnOnce(EntrySink<'_>) -> Result<()>,
) -> Result<Option<SegmentProps>> {
    let path = segment_path(dir, number);
    let file = io.fs().create_new(&path, 0o644)?;
    let file = IoFile::new(file, &path, FileKind::Segment);
    let mut builder = SegmentBuilder::new(opts);
    // Bytes taken from the builder so far, and the write of the last chunk.
    let mut taken = 0u64;
    let mut in_flight: Option<Pending> = None;
    let put = |chunk: Vec<u8>, taken: &mut u64, sync, in_flight: &mut Option<Pending>| {
        // One write at a time: the next starts once the previous is done,
        // so the final sync covers every chunk.
        if let Some(p) = in_flight.take() {
            p.wait()?;
        }
        let at = *taken;
        *taken += chunk.len() as u64;
        *in_flight = Some(io.write(&file, at, chunk, sync, "write"));
        Ok::<_, Error>(())
    };
    let mut add = |k: &[u8], kind: EntryKind, row: &[u8]| -> Result<()> {
        builder
            .add(k, kind, row)
            .map_err(|e| Error::InvalidWrite(e.to_string()))?;
        if builder.size() - taken > WRITE_CHUNK {
            put(builder.take_output(), &mut taken, None, &mut in_flight)?;
        }
        Ok(())
    };
    let filled = fill(&mut add);
    let result = match filled {
        Ok(()) if builder.entries() > 0 => {
            let mut last = builder.take_output();
            let (tail, props) = builder.finish();
            last.extend_from_slice(&tail);
            put(last, &mut taken, Some(SyncKind::All), &mut in_flight).map(|()| Some(props))
        }
        other => other.map(|()| None),
    };
    // Whatever happened, the write in flight is waited for (a failure of it
    // poisons the engine too).
    let waited = in_flight.take().map_or(Ok(()), |p| p.wait().map(drop));
    let result = result.and_then(|props| waited.map(|()| props));
    if !matches!(result, Ok(Some(_))) {
        drop(file);
        let _ = io.fs().remove(&path);
    }
    result
}
