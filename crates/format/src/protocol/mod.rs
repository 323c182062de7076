//! The wire protocol of `strata serve`: frames and message bodies.
//!
//! Pure encode/decode, like the rest of [`crate`]: no sockets, no
//! clock, no policy. The server (`src/server`) and the native client
//! (`src/client`) move these bytes over QUIC streams; everything either side
//! parses from the network goes through a decoder here, and every decoder is
//! fuzzed (`fuzz/fuzz_targets/protocol.rs`). The byte layouts are specified
//! in `docs/PROTOCOL.md`; change that document together with this code.
//!
//! A frame is a 14-byte header and a body:
//!
//! ```text
//! +---------------+----------+-----------+------------------+----------------------+
//! | body_len: u32 | kind: u8 | flags: u8 | request_id: u64  | body (body_len bytes) |
//! +---------------+----------+-----------+------------------+----------------------+
//! ```
//!
//! Decoders never allocate more than a constant factor of the bytes they
//! were given: every count is checked against the bytes that remain (each
//! element takes at least one byte) and against [`DecodeLimits`] before any
//! vector is reserved.

pub mod admin;
pub mod frame;
pub mod freshness;
pub mod lookup;
pub mod messages;
pub mod registry;
pub mod rows;
pub mod summary;
pub mod values;

#[cfg(test)]
mod tests;

use crate::tagged::tagged_enum;

pub use admin::*;
pub use frame::{
    FrameHeader, HEADER_LEN, Kind, WireError, encode_frame, finish_frame, start_frame,
};
pub use freshness::*;
pub use lookup::*;
pub use messages::*;
pub use registry::*;
pub use rows::*;
pub use summary::{PushOptions, WriteSummary};

/// The first bytes of a `Hello` body.
pub const MAGIC: [u8; 4] = *b"STRA";
/// The protocol version this build speaks (and the only one so far).
pub const VERSION: u16 = 4;
/// The ALPN protocol id of the QUIC connection.
pub const ALPN: &[u8] = b"strata/1";

tagged_enum! {
    /// Why a request failed. Sent in `Error` frames and as the application
    /// close code of a connection the server closes.
    /// DO NOT CHANGE THESE CODES: they are part of the protocol.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum ErrorCode: u16, from_u16 {
        /// The first frame of a connection was not a valid `Hello`.
        BadHandshake = 1 => "BAD_HANDSHAKE",
        /// No protocol version both sides speak.
        UnsupportedVersion = 2 => "UNSUPPORTED_VERSION",
        /// The token is unknown, malformed or revoked.
        Unauthenticated = 3 => "UNAUTHENTICATED",
        /// The token does not grant this request on this view.
        PermissionDenied = 4 => "PERMISSION_DENIED",
        /// A frame's header or body does not decode.
        Malformed = 5 => "MALFORMED",
        /// A frame is longer than the server accepts.
        FrameTooLarge = 6 => "FRAME_TOO_LARGE",
        /// A frame kind the server does not know or does not expect here.
        UnknownRequest = 7 => "UNKNOWN_REQUEST",
        /// A request exceeds a limit (keys per lookup, rows per push, response size).
        LimitExceeded = 8 => "LIMIT_EXCEEDED",
        /// An unknown view, feature or entity.
        NotFound = 9 => "NOT_FOUND",
        /// A request that decodes but does not fit the store (key types, rows, ranges).
        InvalidArgument = 10 => "INVALID_ARGUMENT",
        /// The server has as many connections as it accepts.
        TooManyConnections = 11 => "TOO_MANY_CONNECTIONS",
        /// The peer was too slow: a handshake or a frame did not arrive in time.
        Timeout = 12 => "TIMEOUT",
        /// The server is shutting down and takes no new requests.
        ShuttingDown = 13 => "SHUTTING_DOWN",
        /// The store failed (I/O error, corruption, refusing writes).
        Storage = 14 => "STORAGE",
        /// A bug in the server.
        Internal = 15 => "INTERNAL",
    }
}

tagged_enum! {
    /// The status of one returned feature value (as in Feast's serving API).
    /// DO NOT CHANGE THESE TAGS: they are sent over the wire.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Status: u8, from_u8 {
        Present = 0 => "PRESENT",
        NullValue = 1 => "NULL_VALUE",
        NotFound = 2 => "NOT_FOUND",
        OutsideMaxAge = 3 => "OUTSIDE_MAX_AGE",
        /// The version read predates the feature (it was written before the
        /// feature was added, or from a file without its column): the
        /// feature's declared default is served. Protocol version 4.
        Defaulted = 4 => "DEFAULTED",
    }
}

impl Status {
    /// Whether the row has a version whose value (or null) is answered:
    /// `PRESENT` or `NULL_VALUE`. The others carry the feature's default
    /// (`DEFAULTED` names a version, which predates the feature).
    pub fn has_value_or_null(self) -> bool {
        matches!(self, Status::Present | Status::NullValue)
    }

    /// Whether the answer names a version (and so carries its event time).
    pub fn has_version(self) -> bool {
        self != Status::NotFound
    }
}

/// Bounds a decoder checks before it reserves memory. The server passes its
/// configured limits; a count above one is refused with
/// [`ErrorCode::LimitExceeded`] (see [`messages::decode_error_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Entity rows of one lookup.
    pub max_keys: usize,
    /// Feature references of one lookup or export.
    pub max_features: usize,
    /// Join-key columns of one lookup, or values of one key.
    pub max_key_columns: usize,
    /// Rows of one push.
    pub max_rows: usize,
    /// Values (rows × features) of one push.
    pub max_values: usize,
    /// Bytes of a name, token or search query.
    pub max_name: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_keys: 10_000,
            max_features: 1_024,
            max_key_columns: 16,
            max_rows: 50_000,
            max_values: 4 << 20,
            max_name: 4_096,
        }
    }
}

impl DecodeLimits {
    /// No bounds but the frame's size: what a client uses on responses.
    pub fn unbounded() -> DecodeLimits {
        DecodeLimits {
            max_keys: usize::MAX,
            max_features: usize::MAX,
            max_key_columns: usize::MAX,
            max_rows: usize::MAX,
            max_values: usize::MAX,
            max_name: usize::MAX,
        }
    }
}
