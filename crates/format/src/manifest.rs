//! The manifest: which files make up the store.
//!
//! ```text
//! MANIFEST = magic "STRATMAN": 8 bytes | format version: u32 LE | payload len: u32 LE
//!          | payload | crc32c(everything before): u32 LE
//! payload  = next file number: u64 | last seqno: u64 | first live wal: u64
//!          | segment count: varint | segment*
//!          | freshness seqno: u64 | view count: varint | view*     (version 2)
//! segment  = file number: u64 | level: u8 | file size: u64
//! view     = view id: u32 | newest event_ts: i64 | last write: i64  (20 bytes)
//! ```
//! All integers little-endian. Segments are listed newest first: on equal
//! internal keys a segment listed earlier wins. WAL files numbered below
//! `first live wal` hold nothing that is not in a segment and may be removed.
//! Views (version 2) are the engine's freshness marks, in increasing id
//! order: the newest event time written to the view and the engine clock at
//! its last write, accounting for every write numbered up to `freshness
//! seqno`. Version 1 manifests (no views) are still read.
//! The manifest is replaced whole (written to `MANIFEST.tmp`, synced,
//! renamed over `MANIFEST`, directory synced), so it is always one version
//! or the next.

use super::error::{DecodeError, Reader};
use super::varint;

pub const MAGIC: [u8; 8] = *b"STRATMAN";
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version [`Manifest::decode`] still reads (no freshness marks).
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Bytes of one encoded [`ViewMark`].
const VIEW_MARK_LEN: usize = 20;

/// One live segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentEntry {
    pub number: u64,
    pub level: u8,
    pub size: u64,
}

/// The freshness of one view as persisted (see `strata_engine`'s
/// `ViewFreshness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewMark {
    pub view: u32,
    /// The greatest `event_ts` of any version written to the view.
    pub newest_event_ts: i64,
    /// The engine's clock (µs) at the view's last write.
    pub last_write_micros: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub next_file_number: u64,
    pub last_seqno: u64,
    pub first_live_wal: u64,
    /// Newest first.
    pub segments: Vec<SegmentEntry>,
    /// `views` account for every WAL write numbered up to this.
    pub freshness_seqno: u64,
    /// Freshness marks, in strictly increasing view id order.
    pub views: Vec<ViewMark>,
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
        payload.extend_from_slice(&self.freshness_seqno.to_le_bytes());
        varint::put(&mut payload, self.views.len() as u64);
        for v in &self.views {
            payload.extend_from_slice(&v.view.to_le_bytes());
            payload.extend_from_slice(&v.newest_event_ts.to_le_bytes());
            payload.extend_from_slice(&v.last_write_micros.to_le_bytes());
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
        r.magic(MAGIC)?;
        let version = r.u32()?;
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
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
        DecodeError::verify_checksum(
            "manifest",
            covered,
            crc,
            super::checksum(&[&buf[..covered]]),
        )?;
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
            freshness_seqno: 0,
            views: Vec::new(),
        };
        let n = p.len(len / 17)?;
        for _ in 0..n {
            m.segments.push(SegmentEntry {
                number: p.u64()?,
                level: p.u8()?,
                size: p.u64()?,
            });
        }
        if version >= 2 {
            m.freshness_seqno = p.u64()?;
            let n = p.len(covered.saturating_sub(p.pos()) / VIEW_MARK_LEN)?;
            for _ in 0..n {
                let mark = ViewMark {
                    view: p.u32()?,
                    newest_event_ts: p.i64()?,
                    last_write_micros: p.i64()?,
                };
                if m.views.last().is_some_and(|l| l.view >= mark.view) {
                    return Err(p.invalid("view marks out of order or repeated"));
                }
                m.views.push(mark);
            }
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
            freshness_seqno: 1230,
            views: vec![
                ViewMark {
                    view: 1,
                    newest_event_ts: -5,
                    last_write_micros: 1_700_000_000_000_000,
                },
                ViewMark {
                    view: 4,
                    newest_event_ts: i64::MAX - 1,
                    last_write_micros: 0,
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

    /// A version 1 file (no freshness marks): the example of docs/FORMAT.md.
    #[test]
    fn reads_version_1() {
        let mut v1 = Vec::new();
        v1.extend_from_slice(&MAGIC);
        v1.extend_from_slice(&1u32.to_le_bytes());
        let mut payload = Vec::new();
        for v in [4u64, 9, 3] {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        payload.push(1);
        payload.extend_from_slice(&2u64.to_le_bytes());
        payload.push(0);
        payload.extend_from_slice(&4096u64.to_le_bytes());
        v1.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v1.extend_from_slice(&payload);
        let crc = crate::checksum(&[&v1]);
        v1.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            crc.to_le_bytes(),
            [0xde, 0xc3, 0x29, 0x74],
            "the FORMAT.md example"
        );
        let m = Manifest::decode(&v1).unwrap();
        assert_eq!(m.next_file_number, 4);
        assert_eq!(m.segments.len(), 1);
        assert_eq!((m.freshness_seqno, m.views.len()), (0, 0));
        // It is written back as the current version.
        let again = m.encode();
        assert_eq!(
            u32::from_le_bytes(again[8..12].try_into().unwrap()),
            FORMAT_VERSION
        );
        assert_eq!(Manifest::decode(&again), Ok(m));
        // Version 1 may not carry marks: the extra bytes are refused.
        let mut bad = v1[..v1.len() - 4].to_vec();
        bad.extend_from_slice(&[0u8; 9]);
        bad[12..16].copy_from_slice(&((payload.len() + 9) as u32).to_le_bytes());
        let crc = crate::checksum(&[&bad]);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert!(Manifest::decode(&bad).is_err());
    }

    #[test]
    fn refuses_unordered_marks() {
        let mark = |view| ViewMark {
            view,
            newest_event_ts: 1,
            last_write_micros: 2,
        };
        for views in [vec![mark(3), mark(3)], vec![mark(3), mark(2)]] {
            let m = Manifest {
                views,
                ..Manifest::default()
            };
            assert!(Manifest::decode(&m.encode()).is_err());
        }
    }
}
