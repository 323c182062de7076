//! Frame headers and the protocol's error type.
//!
//! ```text
//! offset  size  field
//! 0       4     body_len   u32 LE, bytes of body after the header
//! 4       1     kind       frame kind (see [`Kind`])
//! 5       1     flags      0 in version 1; anything else is malformed
//! 6       8     request_id u64 LE, chosen by the client; echoed in responses
//! 14      ...   body
//! ```

use crate::DecodeError;
use crate::tagged::tagged_enum;

use super::ErrorCode;

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 14;

tagged_enum! {
    /// The kind of a frame.
    /// DO NOT CHANGE THESE TAGS: they are part of the protocol.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Kind: u8, from_u8 {
        // Client to server.
        Hello = 0x01,
        Lookup = 0x10,
        History = 0x11,
        Push = 0x12,
        ExportStart = 0x13,
        ExportData = 0x14,
        ExportEnd = 0x15,
        RegistryList = 0x20,
        Describe = 0x21,
        Search = 0x22,
        Stats = 0x30,
        Health = 0x31,
        Freshness = 0x32,
        Admin = 0x33,
        // Server to client.
        Welcome = 0x81,
        LookupResult = 0x90,
        HistoryResult = 0x91,
        PushAck = 0x92,
        ExportBatch = 0x93,
        ExportDone = 0x94,
        RegistryListResult = 0xa0,
        DescribeResult = 0xa1,
        SearchResult = 0xa2,
        StatsResult = 0xb0,
        HealthResult = 0xb1,
        FreshnessResult = 0xb2,
        AdminResult = 0xb3,
        Error = 0xff,
    }
}

impl Kind {
    /// Frames a client sends.
    pub fn is_request(self) -> bool {
        (self as u8) < 0x80
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub body_len: u32,
    /// The raw kind byte; [`FrameHeader::kind`] interprets it.
    pub kind_byte: u8,
    pub flags: u8,
    pub request_id: u64,
}

impl FrameHeader {
    pub fn new(kind: Kind, request_id: u64, body_len: u32) -> FrameHeader {
        FrameHeader {
            body_len,
            kind_byte: kind as u8,
            flags: 0,
            request_id,
        }
    }

    /// Reads the fields of a header; checks nothing.
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        let [l0, l1, l2, l3, kind_byte, flags, r @ ..] = *b;
        FrameHeader {
            body_len: u32::from_le_bytes([l0, l1, l2, l3]),
            kind_byte,
            flags,
            request_id: u64::from_le_bytes(r),
        }
    }

    /// Reads and checks a header: the body must fit in `max_body` bytes and
    /// the flags must be 0. An unknown kind is not an error here (the body
    /// can still be skipped); see [`FrameHeader::kind`].
    pub fn decode(b: &[u8; HEADER_LEN], max_body: usize) -> Result<FrameHeader, WireError> {
        let h = FrameHeader::parse(b);
        if h.body_len as usize > max_body {
            return Err(WireError::FrameTooLarge {
                len: h.body_len,
                max: max_body,
            });
        }
        if h.flags != 0 {
            return Err(WireError::Decode(DecodeError::invalid(
                "frame header",
                5,
                format!("flags {:#04x} are not defined in version 1", h.flags),
            )));
        }
        Ok(h)
    }

    pub fn kind(&self) -> Option<Kind> {
        Kind::from_u8(self.kind_byte)
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&self.body_len.to_le_bytes());
        b[4] = self.kind_byte;
        b[5] = self.flags;
        b[6..].copy_from_slice(&self.request_id.to_le_bytes());
        b
    }
}

/// Appends a header with a zero length to `out`; returns where it starts.
/// Write the body, then call [`finish_frame`].
pub fn start_frame(out: &mut Vec<u8>, kind: Kind, request_id: u64) -> usize {
    let at = out.len();
    out.extend_from_slice(&FrameHeader::new(kind, request_id, 0).encode());
    at
}

/// Sets the length of the frame started at `at` to the bytes written since.
/// Fails if the body is longer than `max_body`.
pub fn finish_frame(out: &mut [u8], at: usize, max_body: usize) -> Result<(), WireError> {
    let body = out.len().saturating_sub(at + HEADER_LEN);
    if body > max_body || body > u32::MAX as usize {
        return Err(WireError::FrameTooLarge {
            len: u32::try_from(body).unwrap_or(u32::MAX),
            max: max_body,
        });
    }
    if let Some(len) = out.get_mut(at..at + 4) {
        len.copy_from_slice(&(body as u32).to_le_bytes());
    }
    Ok(())
}

/// Appends a whole frame.
pub fn encode_frame(out: &mut Vec<u8>, kind: Kind, request_id: u64, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&FrameHeader::new(kind, request_id, len).encode());
    out.extend_from_slice(body);
}

/// What is wrong with bytes received, and so the error code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: u32, max: usize },
    /// A count above a [`super::DecodeLimits`] bound.
    #[error("{what}: {count} exceeds the limit of {limit}")]
    Limit {
        what: &'static str,
        count: u64,
        limit: usize,
    },
}

impl WireError {
    /// The error code a server answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::Decode(_) => ErrorCode::Malformed,
            WireError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            WireError::Limit { .. } => ErrorCode::LimitExceeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_checks() {
        let h = FrameHeader::new(Kind::Lookup, 0x0102_0304_0506_0708, 77);
        let b = h.encode();
        assert_eq!(b[..4], 77u32.to_le_bytes());
        assert_eq!(b[4], 0x10);
        assert_eq!(FrameHeader::decode(&b, 77), Ok(h));
        assert_eq!(
            FrameHeader::decode(&b, 76).unwrap_err().code(),
            ErrorCode::FrameTooLarge
        );
        let mut bad = b;
        bad[5] = 1;
        assert_eq!(
            FrameHeader::decode(&bad, 100).unwrap_err().code(),
            ErrorCode::Malformed
        );
        bad = b;
        bad[4] = 0x77;
        assert_eq!(FrameHeader::decode(&bad, 100).unwrap().kind(), None);
    }

    #[test]
    fn kinds_are_distinct_and_sided() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_u8(k as u8), Some(k));
        }
        assert!(Kind::Lookup.is_request());
        assert!(!Kind::LookupResult.is_request());
        assert!(!Kind::Error.is_request());
    }

    #[test]
    fn start_and_finish_patch_the_length() {
        let mut out = vec![9u8];
        let at = start_frame(&mut out, Kind::Health, 5);
        out.extend_from_slice(b"abc");
        finish_frame(&mut out, at, 10).unwrap();
        let h = FrameHeader::decode(out[1..15].try_into().unwrap(), 10).unwrap();
        assert_eq!((h.body_len, h.request_id), (3, 5));
        assert!(finish_frame(&mut out, at, 2).is_err());
    }
}
