//! Bytes on disk and on the wire.
//!
//! Pure encode/decode: no threads, no files, no policy. Every decoder takes a
//! byte slice and returns a typed [`DecodeError`] on damage, never panics;
//! each is fuzzed (`fuzz/`). The byte layouts are specified in
//! `docs/FORMAT.md`; change that document together with this code.
//!
//! Nothing here depends on any other module of the crate.

pub mod block;
pub mod bloom;
pub mod collection;
pub mod error;
pub mod hash_index;
pub mod key;
pub mod manifest;
pub mod protocol;
pub mod row;
pub mod schema;
pub mod segment;
mod tagged;
pub mod time;
pub mod varint;
pub mod wal;

pub use error::DecodeError;

/// Checksum used by every block, record and file of the format.
pub fn checksum(parts: &[&[u8]]) -> u32 {
    parts.iter().fold(0, |crc, p| crc32c::crc32c_append(crc, p))
}
