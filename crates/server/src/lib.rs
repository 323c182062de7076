//! `strata serve`: the store over QUIC, and (`--http`) over Feast's
//! feature-server HTTP API (`feast`, over the HTTP/1.1 code of `http`
//! that also serves `--metrics`).
//!
//! One QUIC endpoint (quinn + rustls, TLS 1.3 always); per connection a
//! handshake on its first stream (`conn`), then any number of
//! bidirectional streams, each carrying requests one after another
//! (`stream`); each request is answered by [`respond`] (`dispatch`,
//! which calls the handlers over [`Store`]), an export by `export`.
//! Frames are `docs/PROTOCOL.md`'s, encoded by [`strata_format::protocol`].
//!
//! Modules depend one way (no module imports one above it):
//!
//! ```text
//! lib (Server) ─→ conn ─→ stream ─→ dispatch ─→ handlers, registry, freshness ─→ session ─→ state
//!            │                  └─→ export ─────────────────────────────────────────┘
//!            ├─→ feast ─→ feast_json; http; session
//!            ├─→ metrics ─→ http, latency, state
//!            └─→ http ─→ state            (leaves: auth, limits, quic, tls, latency, feast_json)
//! ```
//!
//! [`Handler`] builds sessions over a [`Store`] without sockets, so request
//! handling is callable in-process: `respond(&session, header, body)`
//! returns exactly the frames a server's stream would send.
//!
//! Every request is checked against the connection's token ([`auth`]),
//! re-read from the token file when it changes, so a revoked token stops
//! working within a second. Limits ([`Limits`]) bound frame sizes, keys,
//! rows, streams, connections, idle and slow peers, and the bytes of
//! request bodies buffered at once across all connections.
//!
//! Shutdown ([`Server::shutdown`], on SIGTERM or SIGINT in `strata serve`):
//! no new connections or streams; each stream finishes the request it is
//! in, waits for the client to acknowledge the answer, and ends; then the
//! connections close with `SHUTTING_DOWN` and the store is closed (its WAL
//! synced). A push is acknowledged only once durable, so nothing
//! acknowledged is lost.

mod admin;
pub mod auth;
mod conn;
mod dispatch;
mod export;
mod feast;
mod feast_json;
mod freshness;
mod handlers;
mod http;
mod latency;
mod limits;
mod metrics;
mod quic;
mod quota;
mod registry;
mod session;
mod state;
mod stream;
pub mod tls;

pub use dispatch::respond;
pub use limits::{Limits, Retry};
pub use session::{Failure, Handler, Session};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use state::Shared;
use strata_store::{Store, StoreOptions};

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Config {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// PEM certificate chain and key; both or neither (then self-signed).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Extra names (hosts, IPs) for a generated certificate.
    pub tls_names: Vec<String>,
    pub limits: Limits,
    pub store: StoreOptions,
    /// Serve Prometheus metrics over HTTP at `http://ADDR/metrics`.
    pub metrics: Option<SocketAddr>,
    /// Serve the Feast-compatible HTTP endpoint (`/get-online-features`,
    /// `/health`) on this TCP address.
    pub http: Option<SocketAddr>,
    /// Serve `http` without TLS (for loopback tests and a TLS-terminating
    /// proxy in front); TLS with the server's certificate otherwise.
    pub http_plaintext: bool,
}

impl Config {
    pub fn new(data: impl Into<PathBuf>, listen: SocketAddr) -> Config {
        Config {
            data: data.into(),
            listen,
            cert: None,
            key: None,
            tls_names: Vec::new(),
            limits: Limits::default(),
            store: StoreOptions::default(),
            metrics: None,
            http: None,
            http_plaintext: false,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("opening the store: {0}")]
    Store(#[from] strata_store::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad limits: {0}")]
    Limits(String),
}

/// A running server.
pub struct Server {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
    reload: tokio::task::JoinHandle<()>,
    cert: tls::CertFiles,
    /// The metrics listener's address and task.
    metrics: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
    /// The Feast-compatible HTTP listener's address and task.
    http: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

/// Connections the metrics listener serves at once.
const METRICS_CONNECTIONS: usize = 32;

/// Bytes a client may send on a stream beyond what the server has read.
const STREAM_WINDOW: u32 = 128 << 10;

fn transport(limits: &Limits) -> Result<quinn::TransportConfig, Error> {
    let mut t = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(limits.idle_timeout)
        .map_err(|e| Error::Limits(format!("idle timeout: {e}")))?;
    t.max_idle_timeout(Some(idle));
    t.max_concurrent_bidi_streams(limits.max_streams_per_connection.into());
    t.max_concurrent_uni_streams(0u32.into());
    // Flow control bounds what QUIC buffers before the server reads it:
    // STREAM_WINDOW per stream, and per connection room for every stream's
    // window plus one more. So streams whose bodies wait for the memory
    // budget can never use up the connection's credit that the stream
    // holding the budget needs to finish its body (no deadlock), and a
    // connection buffers at most (max_streams + 1) × STREAM_WINDOW unread.
    let streams = u64::from(limits.max_streams_per_connection) + 1;
    t.stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW));
    t.receive_window(
        quinn::VarInt::from_u64(streams * u64::from(STREAM_WINDOW)).unwrap_or(quinn::VarInt::MAX),
    );
    Ok(t)
}

impl Server {
    /// Opens the store, sets up TLS and tokens, and starts listening.
    /// Must be called inside a Tokio runtime.
    pub async fn start(cfg: Config) -> Result<Server, Error> {
        let l = &cfg.limits;
        // A body is reserved whole from each share: one above a share
        // could never be.
        let share = l
            .memory_bytes
            .min(l.connection_memory_bytes)
            .min(l.token_memory_bytes);
        if u64::from(l.max_frame_bytes) > share {
            return Err(Error::Limits(format!(
                "the frame limit ({} bytes) is above the memory budget or a connection's or a token's share of it ({share} bytes)",
                l.max_frame_bytes
            )));
        }
        if l.max_unauthenticated == 0
            || l.max_unauthenticated_per_ip == 0
            || l.max_connections_per_token == 0
            || l.max_requests_per_token == 0
        {
            return Err(Error::Limits(
                "unauthenticated connections (in all and per IP address), connections and requests per token need at least 1"
                    .into(),
            ));
        }
        if l.max_frame_bytes < 1024 || l.max_streams_per_connection == 0 || l.max_connections == 0 {
            return Err(Error::Limits(
                "frames need at least 1024 bytes; streams and connections at least 1".into(),
            ));
        }
        std::fs::create_dir_all(&cfg.data).map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;
        let cert = tls::cert_files(
            &cfg.data,
            cfg.cert.as_deref(),
            cfg.key.as_deref(),
            &cfg.tls_names,
        )?;
        let crypto = tls::server_crypto(&cert)?;
        let tokens = auth::load(&cfg.data)?;
        let bind = |addr: Option<SocketAddr>| async move {
            match addr {
                Some(addr) => tokio::net::TcpListener::bind(addr)
                    .await
                    .map(Some)
                    .map_err(|source| Error::Bind { addr, source }),
                None => Ok(None),
            }
        };
        let metrics_listener = bind(cfg.metrics).await?;
        let http_listener = bind(cfg.http).await?;
        let http_tls = match cfg.http_plaintext {
            true => None,
            false => Some(tokio_rustls::TlsAcceptor::from(tls::http_config(&cert)?)),
        };
        let store = Store::open_with(&cfg.data, cfg.store.clone())?;
        let mut sc = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        sc.transport_config(Arc::new(transport(l)?));
        // Attempts waiting to be admitted (`conn::admit` runs at once).
        sc.max_incoming((l.max_unauthenticated as usize).max(64));
        let endpoint = quinn::Endpoint::server(sc, cfg.listen).map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared::new(store, tokens, l, shutdown));
        let accept = tokio::spawn(accept_loop(endpoint.clone(), shared.clone()));
        let reload = tokio::spawn(reload_tokens(cfg.data.clone(), shared.clone()));
        let spawn = |l: Option<tokio::net::TcpListener>, how: http::Listener| {
            l.map(|l| {
                let addr = l.local_addr().map_err(|source| Error::Bind {
                    addr: cfg.listen,
                    source,
                })?;
                Ok::<_, Error>((addr, tokio::spawn(http::run(l, shared.clone(), how))))
            })
            .transpose()
        };
        let metrics = spawn(
            metrics_listener,
            http::Listener {
                tls: None,
                max_body: 0,
                max_connections: METRICS_CONNECTIONS,
                keep_alive: false,
                route: metrics::route,
                body_session: None,
            },
        )?;
        let http = spawn(
            http_listener,
            http::Listener {
                tls: http_tls,
                max_body: l.max_frame_bytes as usize,
                max_connections: l.max_connections as usize,
                keep_alive: true,
                route: feast::route,
                body_session: Some(feast::body_session),
            },
        )?;
        Ok(Server {
            endpoint,
            shared,
            stop,
            accept,
            reload,
            cert,
            metrics,
            http,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The certificate the server presents.
    pub fn cert_files(&self) -> &tls::CertFiles {
        &self.cert
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(a, _)| *a)
    }

    /// Where the Feast-compatible HTTP endpoint is served, if it is.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(a, _)| *a)
    }

    /// Stops gracefully (see the module docs) and closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Refuse new connections from now on.
        self.endpoint.set_server_config(None);
        let drain = self.shared.limits.drain_timeout;
        let mut accept = self.accept;
        if tokio::time::timeout(drain, &mut accept).await.is_err() {
            accept.abort();
            self.endpoint.close(
                (strata_format::protocol::ErrorCode::ShuttingDown as u32).into(),
                b"server shutting down",
            );
        }
        self.reload.abort();
        // They stop on the shutdown signal and let requests in flight
        // finish for a few seconds.
        for (_, mut task) in [self.metrics, self.http].into_iter().flatten() {
            if tokio::time::timeout(Duration::from_secs(10), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        // Every connection task has ended: this is the last reference, and
        // dropping it closes the store (syncing its WAL).
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => drop(shared),
            Err(shared) => {
                // A blocking task still runs (a drain timeout cut it off):
                // close the store once it ends.
                let _ = tokio::task::spawn_blocking(move || drop(shared)).await;
            }
        }
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    let mut stop = shared.shutdown.clone();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(inc) => {
                    if let Some(a) = conn::admit(&shared, inc) {
                        conns.spawn(conn::handle(shared.clone(), a));
                    }
                }
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    while conns.join_next().await.is_some() {}
}

/// Re-reads the token file when its modification time or size changes.
async fn reload_tokens(dir: PathBuf, shared: Arc<Shared>) {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let path = auth::path(&dir);
    let mut last = stamp(&path);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let now = stamp(&path);
        if now == last {
            continue;
        }
        match auth::load(&dir) {
            Ok(t) => {
                shared.tokens.store(Arc::new(t));
                last = now;
            }
            Err(e) => {
                eprintln!("strata serve: keeping the previous tokens: {e}");
                last = now;
            }
        }
    }
}
