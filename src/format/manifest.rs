//! The manifest: which files make up the store.
//!
//! ```text
//! MANIFEST = magic "STRATMAN": 8 bytes | format version: u32 LE | payload len: u32 LE
//!          | payload | crc32c(everything before): u32 LE
//! payload  = next file number: u64 | last seqno: u64 | first live wal: u64
//!          | segment count: varint | segment*
//! segment  = file number: u64 | level: u8 | file size: u64
//! ```
//! All integers little-endian. Segments are listed newest first: on equal
//! internal keys a segment listed earlier wins. WAL files numbered below
//! `first live wal` hold nothing that is not in a segment and may be removed.
//! The manifest is replaced whole (written to `MANIFEST.tmp`, synced,
//! renamed over `MANIFEST`, directory synced), so it is always one version
//! or the next.

use super::error::{DecodeError, Reader};
use super::varint;

pub const MAGIC: [u8; 8] = *b"STRATMAN";
pub const FORMAT_VERSION: u32 = 1;

/// One live segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentEntry {
    pub number: u64,
    pub level: u8,
    pub size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub next_file_number: u64,
    pub last_seqno: u64,
    pub first_live_wal: u64,
    /// Newest first.
    pub segments: Vec<SegmentEntry>,
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        for v in [self.next_file_number, self.last_seqno, self.first_live_wal] {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        varint::put(&mut payload, self.segments.len() as u64);
        for s in &self.segments {
            payload.extend_from_slice(&s.number.to_le_bytes());
            payload.push(s.level);
            payload.extend_from_slice(&s.size.to_le_bytes());
        }
        let mut out = Vec::with_capacity(payload.len() + 20);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        let crc = super::checksum(&[&out]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(buf: &[u8]) -> Result<Manifest, DecodeError> {
        let mut r = Reader::new(buf, "manifest");
        let magic = r.array::<8>()?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic {
                what: "manifest",
                offset: 0,
                got: u64::from_le_bytes(magic),
            });
        }
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "manifest",
                version,
                supported: FORMAT_VERSION,
            });
        }
        let len = r.u32()? as usize;
        let payload = r.bytes(len)?;
        let covered = r.pos();
        let crc = r.u32()?;
        let got = super::checksum(&[&buf[..covered]]);
        if got != crc {
            return Err(DecodeError::ChecksumMismatch {
                what: "manifest",
                offset: covered,
                expected: crc,
                got,
            });
        }
        if !r.is_empty() {
            return Err(r.invalid("trailing bytes after the checksum"));
        }
        let mut p = Reader::at(buf, 16, "manifest");
        let _ = payload;
        let mut m = Manifest {
            next_file_number: p.u64()?,
            last_seqno: p.u64()?,
            first_live_wal: p.u64()?,
            segments: Vec::new(),
        };
        let n = p.len(len / 17)?;
        for _ in 0..n {
            m.segments.push(SegmentEntry {
                number: p.u64()?,
                level: p.u8()?,
                size: p.u64()?,
            });
        }
        if p.pos() != covered {
            return Err(p.invalid("payload length disagrees with its contents"));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = Manifest {
            next_file_number: 9,
            last_seqno: 1234,
            first_live_wal: 7,
            segments: vec![
                SegmentEntry {
                    number: 8,
                    level: 0,
                    size: 4096,
                },
                SegmentEntry {
                    number: 3,
                    level: 1,
                    size: 1,
                },
            ],
        };
        let buf = m.encode();
        assert_eq!(Manifest::decode(&buf), Ok(m));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x20;
            assert!(Manifest::decode(&bad).is_err(), "flip at {i}");
            assert!(Manifest::decode(&buf[..i]).is_err(), "cut at {i}");
        }
    }
}
