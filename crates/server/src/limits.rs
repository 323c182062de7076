//! What the server accepts: [`Limits`], and what it announces of them.

use std::time::Duration;

use strata_format::protocol::{DecodeLimits, ServerLimits};

/// What the server accepts. Every limit, its default and the reason for it
/// are listed in docs/PROTOCOL.md ("Limits") and `strata serve --help`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame body, either direction; also the most an answer may
    /// hold in memory while it is built ([`Limits::answer_bytes`]).
    pub max_frame_bytes: u32,
    pub max_keys_per_lookup: u32,
    pub max_features_per_request: u32,
    pub max_rows_per_push: u32,
    /// Versions one history answer may hold.
    pub max_history_rows: u32,
    /// Bidirectional streams open at once per connection.
    pub max_streams_per_connection: u32,
    /// Authenticated connections (counted once their `Hello` is accepted).
    pub max_connections: u32,
    /// Connections not yet authenticated (before and during the
    /// handshake), counted apart so that they cannot take the slots of
    /// authenticated ones.
    pub max_unauthenticated: u32,
    /// Of those, from one IP address: a newcomer from an address that has
    /// this many evicts that address's oldest, never another's.
    pub max_unauthenticated_per_ip: u32,
    /// Authenticated connections of one token.
    pub max_connections_per_token: u32,
    /// Requests in flight of one token, all its connections together.
    pub max_requests_per_token: u32,
    /// Exports running at once, and per token.
    pub max_exports: u32,
    pub max_exports_per_token: u32,
    /// Requests run on the blocking pool at once (pushes, histories, large
    /// lookups), so that they cannot occupy the async workers.
    pub max_blocking_requests: u32,
    /// A connection silent this long is closed (QUIC idle timeout).
    pub idle_timeout: Duration,
    /// Time for a new connection to send its `Hello`.
    pub handshake_timeout: Duration,
    /// Time for a frame's body to arrive once its header has.
    pub frame_timeout: Duration,
    /// Time for a client to take (acknowledge into QUIC's flow-control
    /// window) each answer frame; a client that does not read loses the
    /// stream, its export, and the memory it held.
    pub write_timeout: Duration,
    /// Bytes of request bodies buffered at once, all connections together.
    pub memory_bytes: u64,
    /// The share of `memory_bytes` one connection may hold, and one token
    /// (all its connections).
    pub connection_memory_bytes: u64,
    pub token_memory_bytes: u64,
    /// QUIC address validation: a Retry (one round trip) before any state
    /// is kept for a new connection. `Always`, or only once
    /// `max_unauthenticated / 2` connections are unauthenticated.
    pub retry: Retry,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

/// When a new connection's address is validated with a QUIC Retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    Always,
    UnderLoad,
    Never,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Limits {
    /// The defaults, and why (docs/PROTOCOL.md, "Limits").
    pub const DEFAULT: Limits = Limits {
        max_frame_bytes: 16 << 20,
        max_keys_per_lookup: 10_000,
        max_features_per_request: 1_024,
        max_rows_per_push: 50_000,
        max_history_rows: 100_000,
        max_streams_per_connection: 64,
        max_connections: 256,
        max_unauthenticated: 64,
        max_unauthenticated_per_ip: 8,
        max_connections_per_token: 64,
        max_requests_per_token: 256,
        max_exports: 4,
        max_exports_per_token: 1,
        max_blocking_requests: 8,
        idle_timeout: Duration::from_secs(30),
        handshake_timeout: Duration::from_secs(5),
        frame_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_secs(10),
        memory_bytes: 512 << 20,
        connection_memory_bytes: 64 << 20,
        token_memory_bytes: 128 << 20,
        retry: Retry::UnderLoad,
        drain_timeout: Duration::from_secs(30),
    };
}

impl Limits {
    /// Bytes an answer may hold in memory while it is built: a frame's
    /// (an answer larger than a frame could not be sent anyway).
    pub fn answer_bytes(&self) -> usize {
        self.max_frame_bytes as usize
    }

    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_keys: self.max_keys_per_lookup as usize,
            max_features: self.max_features_per_request as usize,
            max_key_columns: 16,
            max_rows: self.max_rows_per_push as usize,
            max_values: (self.max_rows_per_push as usize)
                .saturating_mul(64)
                .max(1 << 20),
            max_name: 4096,
        }
    }

    pub(crate) fn announced(&self) -> ServerLimits {
        ServerLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_keys_per_lookup: self.max_keys_per_lookup,
            max_rows_per_push: self.max_rows_per_push,
            max_streams: self.max_streams_per_connection,
            idle_timeout_ms: u32::try_from(self.idle_timeout.as_millis()).unwrap_or(u32::MAX),
        }
    }
}
