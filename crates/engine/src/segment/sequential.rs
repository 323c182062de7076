//! Reading a segment front to back through the I/O backend: what compaction
//! merges. Instead of faulting in the mmap page by page, the data blocks are
//! read in large chunks of whole blocks, the next chunk being read (by the
//! io_uring thread, when that backend is in use) while the current one is
//! walked. Every block's checksum is verified before any of its bytes are
//! used, and compressed blocks are decompressed.

use std::fs::File;

use strata_format::DecodeError;
use strata_format::block::{self, Block, BlockIter};
use strata_format::segment::{self, BlockHandle, EntryKind};

use super::super::io::{FileKind, Io, IoFile, Pending};
use super::{EntryCursor, Segment};
use crate::{Error, Result};

/// The target size of one read.
const READ_CHUNK: u64 = 1 << 20;

/// Data blocks `first..end` of a segment, stored at file bytes `start..stop`.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    first: usize,
    end: usize,
    start: u64,
    stop: u64,
}

/// A forward cursor over a segment's entries that reads the file through
/// an [`Io`] backend in large sequential chunks; see the module docs.
pub struct SequentialCursor<'a> {
    seg: &'a Segment,
    io: Io,
    file: IoFile,
    /// Where each data block is stored (from the index, checked at open).
    handles: Vec<BlockHandle>,
    /// The chunk holding the current block, and its bytes.
    span: Span,
    bytes: Vec<u8>,
    /// The next chunk, being read.
    ahead: Option<(Span, Pending)>,
    /// A buffer for the read after that.
    spare: Vec<u8>,
    block_no: usize,
    /// Whether a block is loaded (`false` before the start and at the end).
    loaded: bool,
    /// The current block is compressed: its bytes are in `scratch`.
    compressed: bool,
    scratch: Vec<u8>,
    iter: BlockIter,
}

impl Segment {
    /// A cursor over this segment's entries that reads the data blocks
    /// through `io` in large sequential chunks (for compaction), instead of
    /// through the mmap. It opens its own descriptor of the file.
    pub fn sequential_cursor(&self, io: &Io) -> Result<SequentialCursor<'_>> {
        let file = File::open(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
        let index = self.layout.index(&self.map).map_err(|e| self.corrupt(e))?;
        let handles = (0..self.layout.data_blocks())
            .map(|i| self.layout.block_handle(&index, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.corrupt(e))?;
        Ok(SequentialCursor {
            seg: self,
            io: io.clone(),
            file: IoFile::new(file, &self.path, FileKind::Segment),
            handles,
            span: Span::default(),
            bytes: Vec::new(),
            ahead: None,
            spare: Vec::new(),
            block_no: usize::MAX,
            loaded: false,
            compressed: false,
            scratch: Vec::new(),
            iter: BlockIter::default(),
        })
    }
}

impl SequentialCursor<'_> {
    /// The stored extent of block `i`, trailer included.
    fn extent(&self, i: usize) -> Option<(u64, u64)> {
        let h = self.handles.get(i)?;
        let start = h.offset as u64;
        Some((start, start + (h.len + block::TRAILER_LEN) as u64))
    }

    /// The chunk of whole blocks starting at block `first`: blocks are added
    /// while the chunk stays within [`READ_CHUNK`] (at least one block).
    fn plan(&self, first: usize) -> Option<Span> {
        let (start, mut stop) = self.extent(first)?;
        let mut end = first + 1;
        while let Some((s, e)) = self.extent(end) {
            if s < start || e.max(stop) - start > READ_CHUNK {
                break;
            }
            stop = stop.max(e);
            end += 1;
        }
        Some(Span {
            first,
            end,
            start,
            stop,
        })
    }

    fn read(&mut self, span: Span) -> Pending {
        let buf = std::mem::take(&mut self.spare);
        let len = (span.stop - span.start) as usize;
        self.io.read(&self.file, span.start, buf, len)
    }

    /// Makes the chunk holding block `no` current, and starts reading the
    /// one after it.
    fn fetch(&mut self, no: usize) -> Result<()> {
        let Some(span) = self.plan(no) else {
            return Err(self.corrupt(0, format!("no data block {no}")));
        };
        let bytes = match self.ahead.take() {
            Some((s, p)) if s.first == no => p.wait()?,
            stale => {
                drop(stale);
                let p = self.read(span);
                p.wait()?
            }
        };
        if (bytes.len() as u64) < span.stop - span.start {
            let at = span.start + bytes.len() as u64;
            return Err(self.corrupt(at, "the file ends inside its data blocks".into()));
        }
        self.spare = std::mem::replace(&mut self.bytes, bytes);
        self.span = span;
        if let Some(next) = self.plan(span.end) {
            let p = self.read(next);
            self.ahead = Some((next, p));
        }
        Ok(())
    }

    fn corrupt(&self, at: u64, reason: String) -> Error {
        let e = DecodeError::invalid("segment data", 0, reason);
        Error::corruption(&self.seg.path, at, e)
    }

    /// Loads data block `no`: verifies its checksum, decompresses it if needed.
    fn load(&mut self, no: usize) -> Result<()> {
        if !(self.span.first..self.span.end).contains(&no) || self.bytes.is_empty() {
            self.fetch(no)?;
        }
        let h = self.handles[no];
        let rel = BlockHandle {
            offset: h.offset - self.span.start as usize,
            len: h.len,
        };
        self.compressed = segment::read_data_block(&self.bytes, rel, true, &mut self.scratch)
            .map_err(|e| Error::corruption(&self.seg.path, self.span.start, e))?;
        self.block_no = no;
        self.loaded = true;
        Ok(())
    }

    /// The current block and the file offset of its first byte.
    fn block(&self) -> Result<(Block<'_>, u64)> {
        current_block(
            self.seg,
            self.loaded
                .then(|| self.handles.get(self.block_no))
                .flatten(),
            self.span.start,
            self.compressed,
            &self.bytes,
            &self.scratch,
        )
    }

    fn next_block(&mut self) -> Result<bool> {
        loop {
            let no = self.block_no.wrapping_add(1);
            if no >= self.handles.len() {
                self.loaded = false;
                self.iter = BlockIter::default();
                return Ok(false);
            }
            self.load(no)?;
            let key_buf = std::mem::take(&mut self.iter).into_key_buf();
            let (block, at) = self.block()?;
            let mut iter = block.iter_with(key_buf);
            let ok = iter
                .advance(&block)
                .map_err(|e| Error::corruption(&self.seg.path, at, e));
            self.iter = iter;
            if ok? {
                return Ok(true);
            }
        }
    }
}

impl EntryCursor for SequentialCursor<'_> {
    fn seek_first(&mut self) -> Result<bool> {
        self.block_no = usize::MAX;
        self.loaded = false;
        self.next_block()
    }

    fn next(&mut self) -> Result<bool> {
        if !self.loaded {
            return Ok(false);
        }
        let (block, at) = current_block(
            self.seg,
            self.handles.get(self.block_no),
            self.span.start,
            self.compressed,
            &self.bytes,
            &self.scratch,
        )?;
        if self
            .iter
            .advance(&block)
            .map_err(|e| Error::corruption(&self.seg.path, at, e))?
        {
            return Ok(true);
        }
        self.next_block()
    }

    fn valid(&self) -> bool {
        self.loaded && self.iter.valid()
    }

    fn key(&self) -> &[u8] {
        self.iter.key()
    }

    fn entry(&self) -> Result<(EntryKind, &[u8])> {
        let (block, at) = self.block()?;
        let base = at + self.iter.value_offset() as u64;
        segment::decode_value(self.iter.value(&block))
            .map_err(|e| Error::corruption(&self.seg.path, base, e))
    }
}

#[cfg(any(test, feature = "test-util"))]
/// Walks every entry of `segments`, one after the other, as a compaction
/// reads them: through `io` with sequential cursors, or through the mmap
/// without. Returns the number of entries (for benchmarks).
#[cfg_attr(
    not(any(test, feature = "test-util")),
    expect(dead_code, reason = "called only by Engine::scan_segments (test-util)")
)]
pub fn scan_entries(segments: &[crate::sync::Arc<Segment>], io: Option<&Io>) -> Result<u64> {
    fn walk(mut c: impl EntryCursor) -> Result<u64> {
        let mut n = 0;
        let mut more = c.seek_first()?;
        while more {
            std::hint::black_box(c.entry()?);
            n += 1;
            more = c.next()?;
        }
        Ok(n)
    }
    let mut n = 0;
    for seg in segments {
        n += match io {
            Some(io) => walk(seg.sequential_cursor(io)?)?,
            None => walk(seg.cursor())?,
        };
    }
    Ok(n)
}

/// The block at `h` (if any), from the chunk `bytes` read at `span_start`,
/// or from `scratch` if it was compressed; and its file offset.
fn current_block<'s>(
    seg: &Segment,
    h: Option<&BlockHandle>,
    span_start: u64,
    compressed: bool,
    bytes: &'s [u8],
    scratch: &'s [u8],
) -> Result<(Block<'s>, u64)> {
    let at = h.map_or(0, |h| h.offset);
    let stored = match h {
        None => &[][..],
        Some(_) if compressed => scratch,
        Some(h) => {
            let rel = h.offset - span_start as usize;
            bytes.get(rel..rel + h.len).unwrap_or(&[])
        }
    };
    let block = Block::new(stored).map_err(|e| Error::corruption(&seg.path, at as u64, e))?;
    Ok((block, at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{segment_dir, write_segment_with};
    use std::path::Path;
    use strata_format::key::{encode_int_key, internal_key};
    use strata_format::segment::SegmentOptions;

    /// Writes segment `number` with `n` versions (every 7th key a tombstone).
    fn build(io: &Io, dir: &Path, number: u64, n: u64, zstd_level: Option<i32>) -> Segment {
        std::fs::create_dir_all(segment_dir(dir)).unwrap();
        let opts = SegmentOptions {
            block_size: 1024,
            zstd_level,
            ..SegmentOptions::default()
        };
        write_segment_with(io, dir, number, opts, |add| {
            let mut key = Vec::new();
            for i in 0..n {
                let k = encode_int_key(i as i64);
                if i % 7 == 3 {
                    internal_key(1, &k, i64::MAX, i64::MAX, &mut key);
                    add(&key, EntryKind::Tombstone, &[])?;
                } else {
                    internal_key(1, &k, i as i64, 1, &mut key);
                    add(&key, EntryKind::Version, &[(i % 251) as u8; 40])?;
                }
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
        Segment::open(dir, number).unwrap()
    }

    /// Segment 1 with `n` versions, built in a new directory, read through
    /// the plain backend.
    fn built(n: u64) -> (tempfile::TempDir, Io, Segment) {
        let dir = tempfile::tempdir().unwrap();
        let io = Io::detached();
        let seg = build(&io, dir.path(), 1, n, None);
        (dir, io, seg)
    }

    fn all<C: EntryCursor>(mut c: C) -> Vec<(Vec<u8>, EntryKind, Vec<u8>)> {
        let mut out = Vec::new();
        let mut more = c.seek_first().unwrap();
        while more {
            assert!(c.valid());
            let (kind, row) = c.entry().unwrap();
            out.push((c.key().to_vec(), kind, row.to_vec()));
            more = c.next().unwrap();
        }
        assert!(!c.valid());
        assert!(!c.next().unwrap());
        out
    }

    fn backends() -> Vec<Io> {
        let mut v = vec![Io::detached()];
        #[cfg(target_os = "linux")]
        v.push(Io::start(&crate::IoMode::IoUring, Default::default()).unwrap());
        v
    }

    #[test]
    fn reads_what_the_mmap_cursor_reads() {
        let dir = tempfile::tempdir().unwrap();
        for (number, io) in backends().iter().enumerate() {
            for (j, zstd) in [None, Some(3)].into_iter().enumerate() {
                // Several MiB: many chunks, with read-ahead.
                let seg = build(io, dir.path(), (number * 2 + j + 1) as u64, 60_000, zstd);
                assert!(seg.file_size() > 2 * READ_CHUNK || zstd.is_some());
                let expected = all(seg.cursor());
                assert_eq!(expected.len(), 60_000);
                assert_eq!(all(seg.sequential_cursor(io).unwrap()), expected);
                // A restart from the beginning, mid-way.
                let mut c = seg.sequential_cursor(io).unwrap();
                for _ in 0..30_000 {
                    c.next().unwrap();
                }
                assert_eq!(all(c), expected);
            }
        }
    }

    #[test]
    fn detects_a_damaged_block() {
        let (dir, io, seg) = built(5_000);
        let path = seg.path.clone();
        let at = seg.sequential_cursor(&io).unwrap().handles[3].offset + 10;
        drop(seg);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let seg = Segment::open(dir.path(), 1).unwrap();
        let mut c = seg.sequential_cursor(&io).unwrap();
        let mut r = c.seek_first();
        while let Ok(true) = r {
            r = c.next();
        }
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("corruption") && err.contains("000001.seg"),
            "{err}"
        );
    }

    #[test]
    fn empty_cursor_before_start() {
        let (_dir, io, seg) = built(10);
        let c: SequentialCursor<'_> = seg.sequential_cursor(&io).unwrap();
        assert!(!c.valid());
        assert!(c.entry().is_err());
    }
}
