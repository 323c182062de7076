//! `strata serve`: the store over QUIC (and, with `--http`, Feast's
//! feature-server HTTP API) until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata::server::{self, Config, Limits, Retry, Server, auth};

/// The server's defaults, shown by `--help`.
const D: Limits = Limits::DEFAULT;

use super::{CliError, Result};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The UDP address to listen on (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7435")]
    pub listen: SocketAddr,
    /// The certificate chain (PEM) [default: a self-signed one in DIR/tls/, generated on first start]
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Another host name or IP for the generated certificate (repeatable)
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,
    /// Runtime threads; 1 runs everything on one thread (lowest latency) [default: one per core]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Largest frame, bytes; also the most an answer may hold while it is built (a lookup above it is refused LIMIT_EXCEEDED before it is complete; a history stops reading there and says truncated)
    #[arg(long, value_name = "BYTES", default_value_t = D.max_frame_bytes)]
    pub max_frame_bytes: u32,
    /// Entity rows per lookup (each is read and answered)
    #[arg(long, value_name = "N", default_value_t = D.max_keys_per_lookup)]
    pub max_keys_per_lookup: u32,
    /// Rows per push (decoded in memory before they are written)
    #[arg(long, value_name = "N", default_value_t = D.max_rows_per_push)]
    pub max_rows_per_push: u32,
    /// Versions per history answer
    #[arg(long, value_name = "N", default_value_t = D.max_history_rows)]
    pub max_history_rows: u32,
    /// Streams (requests in flight) per connection
    #[arg(long, value_name = "N", default_value_t = D.max_streams_per_connection)]
    pub max_streams: u32,
    /// Authenticated connections (counted once their Hello is accepted)
    #[arg(long, value_name = "N", default_value_t = D.max_connections)]
    pub max_connections: u32,
    /// Connections not yet authenticated (a separate small budget, so that clients that never say Hello cannot take the slots of those that do)
    #[arg(long, value_name = "N", default_value_t = D.max_unauthenticated)]
    pub max_unauthenticated: u32,
    /// Of those, from one IP address (IPv6: one /64): a new one from an address that has this many evicts that address's oldest, so that one address cannot evict the handshakes of others
    #[arg(long, value_name = "N", default_value_t = D.max_unauthenticated_per_ip)]
    pub max_unauthenticated_per_ip: u32,
    /// Authenticated connections of one token
    #[arg(long, value_name = "N", default_value_t = D.max_connections_per_token)]
    pub max_connections_per_token: u32,
    /// Requests in flight of one token, all its connections together
    #[arg(long, value_name = "N", default_value_t = D.max_requests_per_token)]
    pub max_requests_per_token: u32,
    /// Exports running at once (each joins with a 128 MiB budget)
    #[arg(long, value_name = "N", default_value_t = D.max_exports)]
    pub max_exports: u32,
    /// Exports running at once per token (so that one token cannot take every export slot)
    #[arg(long, value_name = "N", default_value_t = D.max_exports_per_token)]
    pub max_exports_per_token: u32,
    /// Pushes, histories and large lookups run at once on the blocking pool (the rest wait on no thread, so lookups keep the async workers)
    #[arg(long, value_name = "N", default_value_t = D.max_blocking_requests)]
    pub max_blocking_requests: u32,
    /// Close connections silent this long
    #[arg(long, value_name = "MS", default_value_t = D.idle_timeout.as_millis() as u64)]
    pub idle_timeout_ms: u64,
    /// Time for a new connection to finish its QUIC handshake and authenticate (it holds an unauthenticated slot meanwhile)
    #[arg(long, value_name = "MS", default_value_t = D.handshake_timeout.as_millis() as u64)]
    pub handshake_timeout_ms: u64,
    /// Time for a frame's body to arrive once it started
    #[arg(long, value_name = "MS", default_value_t = D.frame_timeout.as_millis() as u64)]
    pub frame_timeout_ms: u64,
    /// Time for a client to take each answer frame; a client that does not read loses the stream (and its export), and the memory is freed
    #[arg(long, value_name = "MS", default_value_t = D.write_timeout.as_millis() as u64)]
    pub write_timeout_ms: u64,
    /// Memory for request bodies (QUIC, and HTTP with --http: reserved once their first bytes arrive) and answers being sent, all connections together
    #[arg(long, value_name = "MIB", default_value_t = D.memory_bytes >> 20)]
    pub memory_mb: u64,
    /// The share of --memory-mb one connection (or HTTP request) may hold
    #[arg(long, value_name = "MIB", default_value_t = D.connection_memory_bytes >> 20)]
    pub connection_memory_mb: u64,
    /// The share of --memory-mb one token may hold, all its connections together (QUIC and HTTP)
    #[arg(long, value_name = "MIB", default_value_t = D.token_memory_bytes >> 20)]
    pub token_memory_mb: u64,
    /// QUIC address validation (a Retry round trip before the server keeps any state for a new connection): always, under-load (once half the unauthenticated slots are taken) or never
    #[arg(long, value_name = "WHEN", default_value = "under-load", value_parser = ["always", "under-load", "never"])]
    pub retry: String,
    /// Serve Prometheus metrics at http://ADDR/metrics (TCP; no authentication: keep it private)
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Serve Feast's feature-server HTTP API (POST /get-online-features, GET /health) on this TCP address, with the same tokens (Authorization: Bearer) and TLS certificate; a body (at most --max-frame-bytes) needs a valid token, checked on the request head before the body is read
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Serve --http without TLS (loopback tests, or behind a TLS-terminating proxy)
    #[arg(long, requires = "http")]
    pub http_plaintext: bool,
}

pub fn serve(dir: &Path, a: ServeArgs) -> Result {
    let limits = Limits {
        max_frame_bytes: a.max_frame_bytes,
        max_keys_per_lookup: a.max_keys_per_lookup,
        max_rows_per_push: a.max_rows_per_push,
        max_history_rows: a.max_history_rows,
        max_streams_per_connection: a.max_streams,
        max_connections: a.max_connections,
        max_unauthenticated: a.max_unauthenticated,
        max_unauthenticated_per_ip: a.max_unauthenticated_per_ip,
        max_connections_per_token: a.max_connections_per_token,
        max_requests_per_token: a.max_requests_per_token,
        max_exports: a.max_exports,
        max_exports_per_token: a.max_exports_per_token,
        max_blocking_requests: a.max_blocking_requests,
        idle_timeout: Duration::from_millis(a.idle_timeout_ms),
        handshake_timeout: Duration::from_millis(a.handshake_timeout_ms),
        frame_timeout: Duration::from_millis(a.frame_timeout_ms),
        write_timeout: Duration::from_millis(a.write_timeout_ms),
        memory_bytes: a.memory_mb.saturating_mul(1 << 20),
        connection_memory_bytes: a.connection_memory_mb.saturating_mul(1 << 20),
        token_memory_bytes: a.token_memory_mb.saturating_mul(1 << 20),
        retry: match a.retry.as_str() {
            "always" => Retry::Always,
            "never" => Retry::Never,
            _ => Retry::UnderLoad,
        },
        ..Limits::default()
    };
    let mut cfg = Config::new(dir, a.listen);
    cfg.cert = a.cert;
    cfg.key = a.key;
    cfg.tls_names = a.tls_names;
    cfg.limits = limits;
    cfg.metrics = a.metrics;
    cfg.http = a.http;
    cfg.http_plaintext = a.http_plaintext;
    let rt = match a.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(0) => return Err(CliError::Usage("--threads must be at least 1".into())),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .map_err(|e| CliError::msg(format!("cannot start the runtime: {e}")))?;
    rt.block_on(run(dir, cfg))
}

async fn run(dir: &Path, cfg: Config) -> Result {
    let http_plaintext = cfg.http_plaintext;
    let server = Server::start(cfg).await.map_err(|e| match e {
        server::Error::Limits(m) => CliError::Usage(m),
        e => CliError::from(e),
    })?;
    let addr = server.local_addr()?;
    let plaintext = http_plaintext;
    let cert = server.cert_files();
    {
        use std::io::Write as _;
        let mut o = std::io::stdout();
        // One line (scripts read the addresses from it).
        writeln!(
            o,
            "strata serve: listening on {addr} (QUIC); certificate {}{}{}{}",
            cert.cert.display(),
            if cert.generated {
                " (generated now)"
            } else {
                ""
            },
            server.metrics_addr().map_or(String::new(), |m| format!(
                "; metrics on http://{m}/metrics"
            )),
            server.http_addr().map_or(String::new(), |h| format!(
                "; Feast HTTP on {}://{h}",
                if plaintext { "http" } else { "https" }
            ))
        )?;
        o.flush()?;
    }
    if let Some(w) = auth::permission_warning(dir) {
        eprintln!("warning: {w}");
    }
    if auth::load(dir).map(|t| t.is_empty()).unwrap_or(false) {
        eprintln!(
            "note: no tokens yet, so every request is refused; create one with `strata token create --data {} --name NAME --grant read:*`",
            dir.display()
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("strata serve: shutting down; finishing requests in flight");
    server.shutdown().await;
    eprintln!("strata serve: stopped");
    Ok(())
}
