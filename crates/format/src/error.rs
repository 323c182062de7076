//! The decoders' error type.

/// Damage found while decoding. `offset` is relative to the start of the
/// buffer handed to the decoder; the engine adds the file name and the
/// buffer's position in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before `what` is complete.
    #[error("{what} truncated at offset {offset}: needs {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// A stored checksum does not match the bytes it covers.
    #[error(
        "{what} checksum mismatch at offset {offset}: stored {expected:#010x}, computed {got:#010x}"
    )]
    ChecksumMismatch {
        what: &'static str,
        offset: usize,
        expected: u32,
        got: u32,
    },
    /// A magic number is not the one expected: not a file of this kind.
    #[error("{what}: bad magic number {got:#x} at offset {offset}")]
    BadMagic {
        what: &'static str,
        offset: usize,
        got: u64,
    },
    /// A format version this build cannot read.
    #[error("{what}: unsupported format version {version} (this build reads {supported})")]
    UnsupportedVersion {
        what: &'static str,
        version: u32,
        supported: u32,
    },
    /// Bytes that are complete and checksummed but make no sense.
    #[error("{what} invalid at offset {offset}: {reason}")]
    Invalid {
        what: &'static str,
        offset: usize,
        reason: String,
    },
}

impl DecodeError {
    pub fn invalid(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            offset,
            reason: reason.into(),
        }
    }

    /// `Ok` if `computed`, the checksum of bytes of `what` at `offset`, is
    /// the one `stored` with them; else [`DecodeError::ChecksumMismatch`].
    pub fn verify_checksum(
        what: &'static str,
        offset: usize,
        stored: u32,
        computed: u32,
    ) -> Result<(), DecodeError> {
        if computed == stored {
            return Ok(());
        }
        Err(DecodeError::ChecksumMismatch {
            what,
            offset,
            expected: stored,
            got: computed,
        })
    }

    /// The offset, relative to the decoded buffer, where the damage was found.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::ChecksumMismatch { offset, .. }
            | DecodeError::BadMagic { offset, .. }
            | DecodeError::Invalid { offset, .. } => *offset,
            DecodeError::UnsupportedVersion { .. } => 0,
        }
    }
}

/// A bounds-checked reader over a byte slice: every decoder reads through it,
/// so none can index out of bounds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub fn at(buf: &'a [u8], pos: usize, what: &'static str) -> Self {
        Reader { buf, pos, what }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn what(&self) -> &'static str {
        self.what
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(DecodeError::Truncated {
                what: self.what,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads an 8-byte magic number: [`DecodeError::BadMagic`] if it is not
    /// `want`.
    pub fn magic(&mut self, want: [u8; 8]) -> Result<(), DecodeError> {
        let offset = self.pos;
        let got = self.array::<8>()?;
        if got != want {
            return Err(DecodeError::BadMagic {
                what: self.what,
                offset,
                got: u64::from_le_bytes(got),
            });
        }
        Ok(())
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        match super::varint::decode(rest) {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(DecodeError::invalid(
                self.what,
                start,
                "bad or truncated varint",
            )),
        }
    }

    /// A varint that must fit in `usize` and be at most `max`.
    pub fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let v = self.varint()?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(DecodeError::invalid(
                self.what,
                start,
                format!("length {v} exceeds the limit {max}"),
            )),
        }
    }

    pub fn invalid(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::invalid(self.what, self.pos, reason)
    }
}
