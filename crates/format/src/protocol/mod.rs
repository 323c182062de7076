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
pub mod messages;
pub mod registry;
pub mod rows;
pub mod summary;
pub mod values;

#[cfg(test)]
mod tests;

pub use admin::*;
pub use frame::{
    FrameHeader, HEADER_LEN, Kind, WireError, encode_frame, finish_frame, start_frame,
};
pub use freshness::*;
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

/// Why a request failed. Sent in `Error` frames and as the application
/// close code of a connection the server closes.
/// DO NOT CHANGE THESE CODES: they are part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The first frame of a connection was not a valid `Hello`.
    BadHandshake = 1,
    /// No protocol version both sides speak.
    UnsupportedVersion = 2,
    /// The token is unknown, malformed or revoked.
    Unauthenticated = 3,
    /// The token does not grant this request on this view.
    PermissionDenied = 4,
    /// A frame's header or body does not decode.
    Malformed = 5,
    /// A frame is longer than the server accepts.
    FrameTooLarge = 6,
    /// A frame kind the server does not know or does not expect here.
    UnknownRequest = 7,
    /// A request exceeds a limit (keys per lookup, rows per push, response size).
    LimitExceeded = 8,
    /// An unknown view, feature or entity.
    NotFound = 9,
    /// A request that decodes but does not fit the store (key types, rows, ranges).
    InvalidArgument = 10,
    /// The server has as many connections as it accepts.
    TooManyConnections = 11,
    /// The peer was too slow: a handshake or a frame did not arrive in time.
    Timeout = 12,
    /// The server is shutting down and takes no new requests.
    ShuttingDown = 13,
    /// The store failed (I/O error, corruption, refusing writes).
    Storage = 14,
    /// A bug in the server.
    Internal = 15,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadHandshake,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::Malformed,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnknownRequest,
        ErrorCode::LimitExceeded,
        ErrorCode::NotFound,
        ErrorCode::InvalidArgument,
        ErrorCode::TooManyConnections,
        ErrorCode::Timeout,
        ErrorCode::ShuttingDown,
        ErrorCode::Storage,
        ErrorCode::Internal,
    ];

    pub fn from_u16(code: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| *c as u16 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadHandshake => "BAD_HANDSHAKE",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::FrameTooLarge => "FRAME_TOO_LARGE",
            ErrorCode::UnknownRequest => "UNKNOWN_REQUEST",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ShuttingDown => "SHUTTING_DOWN",
            ErrorCode::Storage => "STORAGE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The status of one returned feature value (as in Feast's serving API).
/// DO NOT CHANGE THESE TAGS: they are sent over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Present = 0,
    NullValue = 1,
    NotFound = 2,
    OutsideMaxAge = 3,
}

impl Status {
    pub fn from_u8(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Present,
            1 => Status::NullValue,
            2 => Status::NotFound,
            3 => Status::OutsideMaxAge,
            _ => return None,
        })
    }

    /// Whether the row has a version whose value (or null) is answered:
    /// `PRESENT` or `NULL_VALUE`. The others carry the feature's default.
    pub fn has_value_or_null(self) -> bool {
        matches!(self, Status::Present | Status::NullValue)
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Present => "PRESENT",
            Status::NullValue => "NULL_VALUE",
            Status::NotFound => "NOT_FOUND",
            Status::OutsideMaxAge => "OUTSIDE_MAX_AGE",
        }
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
