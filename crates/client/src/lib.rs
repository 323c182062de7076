//! The native client of `strata serve`.
//!
//! [`Client`] is async (Tokio) and cheap to clone; [`blocking::Client`]
//! wraps it for synchronous code. One client keeps one QUIC connection and
//! reuses it (reconnecting once it is lost), and a pool of idle streams on
//! it: a request takes an idle stream or opens one, so many requests run at
//! once on one connection (up to the server's stream limit), and a
//! sequential caller pays no stream set-up per request.
//!
//! The client depends only on [`strata_format`] (the protocol codec), not
//! on the engine or the store.

pub mod blocking;
mod call;
mod export;
mod push;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use push::push_chunks;
pub use tls::Trust;
/// The QUIC/TLS client configuration the client uses (for tools that
/// speak QUIC directly, like the echo baseline of `strata bench-client`).
pub use tls::client_crypto as quic_crypto;

use strata_format::protocol::{
    self as p, ErrorCode, HistoryRequest, HistoryResponse, Kind, LookupRequest, LookupResponse,
    RowWrite, ServerLimits,
};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request (an `Error` frame, or the close code
    /// of the connection).
    #[error("{}: {message}", code.map_or_else(|| format!("error {raw_code}"), |c| c.name().to_string()))]
    Server {
        code: Option<ErrorCode>,
        raw_code: u16,
        message: String,
    },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    /// The connection or stream broke; the request may not have run.
    #[error("connection to the server lost: {0}")]
    Connection(String),
    /// The server sent bytes that do not decode.
    #[error("the server sent bad data: {0}")]
    Protocol(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A request this client refuses to send (e.g. larger than the server's
    /// frame limit).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The server's error code, if the server refused the request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server { code, .. } => *code,
            _ => None,
        }
    }

    pub(crate) fn server(raw_code: u16, message: impl Into<String>) -> Error {
        Error::Server {
            code: ErrorCode::from_u16(raw_code),
            raw_code,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to reach a server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: SocketAddr,
    /// The name checked against the certificate (with [`Trust::Ca`]).
    pub server_name: String,
    pub token: String,
    pub trust: Trust,
    /// Sent in the `Hello`, for the server's log.
    pub client_name: String,
    pub connect_timeout: Duration,
    /// Per request; `None` waits as long as the connection lives.
    pub request_timeout: Option<Duration>,
}

impl ClientConfig {
    pub fn new(server: SocketAddr, token: impl Into<String>, trust: Trust) -> ClientConfig {
        ClientConfig {
            server,
            server_name: "localhost".into(),
            token: token.into(),
            trust,
            client_name: format!("strata-client {}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// An async client; clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<call::Inner>,
}

impl Client {
    /// Connects and authenticates (so that a bad token fails here).
    pub async fn connect(cfg: ClientConfig) -> Result<Client> {
        let inner = Arc::new(call::Inner::new(cfg)?);
        inner.conn().await?;
        Ok(Client { inner })
    }

    /// The limits the server announced.
    pub async fn limits(&self) -> Result<ServerLimits> {
        Ok(self.inner.conn().await?.welcome.limits)
    }

    /// Features of several views for many entity rows.
    pub async fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse> {
        let body = self
            .inner
            .call(Kind::Lookup, |out| req.encode(out), Kind::LookupResult)
            .await?;
        LookupResponse::decode(&body).map_err(protocol)
    }

    /// Every version of one key, newest first.
    pub async fn history(&self, req: &HistoryRequest) -> Result<HistoryResponse> {
        let body = self
            .inner
            .call(Kind::History, |out| req.encode(out), Kind::HistoryResult)
            .await?;
        HistoryResponse::decode(&body).map_err(protocol)
    }

    /// Writes `rows` into `view` atomically; returns once they are durable,
    /// with what the server did (rows refused as late are not written).
    pub async fn push(&self, view: &str, rows: &[RowWrite]) -> Result<p::WriteSummary> {
        self.push_with(view, rows, &p::PushOptions::default()).await
    }

    /// [`Client::push`] with a batch id (a retry of a batch the server has
    /// written is acknowledged without writing), backfill or force.
    pub async fn push_with(
        &self,
        view: &str,
        rows: &[RowWrite],
        opts: &p::PushOptions,
    ) -> Result<p::WriteSummary> {
        let body = self
            .inner
            .call(
                Kind::Push,
                |out| p::encode_push_with(out, view, rows, opts),
                Kind::PushAck,
            )
            .await?;
        p::decode_push_ack(&body).map_err(protocol)
    }

    /// The entities and the views this token may read.
    pub async fn registry_list(&self) -> Result<p::RegistryList> {
        let body = self
            .inner
            .call(Kind::RegistryList, |_| {}, Kind::RegistryListResult)
            .await?;
        p::RegistryList::decode(&body).map_err(protocol)
    }

    /// One view: keys, features, metadata.
    pub async fn describe(&self, view: &str) -> Result<p::ViewDescription> {
        let body = self
            .inner
            .call(
                Kind::Describe,
                |out| p::encode_name(out, view),
                Kind::DescribeResult,
            )
            .await?;
        p::ViewDescription::decode(&body).map_err(protocol)
    }

    /// Entities, views and features whose name, description or tags
    /// contain `query` (case-insensitive).
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<p::SearchHit>> {
        let req = p::SearchRequest {
            query: query.to_string(),
            limit,
        };
        let body = self
            .inner
            .call(Kind::Search, |out| req.encode(out), Kind::SearchResult)
            .await?;
        p::decode_hits(&body).map_err(protocol)
    }

    /// Server and store counters (needs an admin grant).
    pub async fn stats(&self) -> Result<Vec<(String, u64)>> {
        let body = self
            .inner
            .call(Kind::Stats, |_| {}, Kind::StatsResult)
            .await?;
        p::decode_stats(&body).map_err(protocol)
    }

    pub async fn health(&self) -> Result<p::Health> {
        let body = self
            .inner
            .call(Kind::Health, |_| {}, Kind::HealthResult)
            .await?;
        p::Health::decode(&body).map_err(protocol)
    }

    /// The freshness of every view the token may read, against its
    /// `freshness_sla`, at `req.at` (or the server's clock).
    pub async fn freshness(&self, req: &p::FreshnessRequest) -> Result<p::FreshnessResponse> {
        let body = self
            .inner
            .call(
                Kind::Freshness,
                |out| req.encode(out),
                Kind::FreshnessResult,
            )
            .await?;
        p::FreshnessResponse::decode(&body).map_err(protocol)
    }

    /// An administration request (needs an admin grant): apply, plan,
    /// lineage, snapshot, delete, flush, compact, token admin.
    pub async fn admin(&self, req: &p::AdminRequest) -> Result<p::AdminReport> {
        let body = self
            .inner
            .call(Kind::Admin, |out| req.encode(out), Kind::AdminResult)
            .await?;
        p::AdminReport::decode(&body).map_err(protocol)
    }

    /// Point-in-time export: `input` yields the entity table as Arrow IPC
    /// stream bytes (in pieces of any size); `output` receives the training
    /// set's Arrow IPC stream bytes as they arrive.
    pub async fn export(
        &self,
        start: &p::ExportStart,
        input: impl Iterator<Item = std::io::Result<Vec<u8>>>,
        output: impl FnMut(&[u8]) -> std::result::Result<(), String>,
    ) -> Result<p::ExportDone> {
        export::run(&self.inner, start, input, output).await
    }

    /// Closes the connection (requests in flight fail).
    pub async fn close(&self) {
        self.inner.close().await;
    }
}

pub(crate) fn protocol(e: p::WireError) -> Error {
    Error::Protocol(e.to_string())
}
