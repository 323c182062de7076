//! `strata serve`: the store over QUIC (and, with `--http`, Feast's
//! feature-server HTTP API) until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata::server::{self, Config, Limits, Server, auth};

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
    /// Largest frame, bytes
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_frame_bytes)]
    pub max_frame_bytes: u32,
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_keys_per_lookup)]
    pub max_keys_per_lookup: u32,
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_rows_per_push)]
    pub max_rows_per_push: u32,
    /// Streams (requests in flight) per connection
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_streams_per_connection)]
    pub max_streams: u32,
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: u32,
    /// Close connections silent this long
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub idle_timeout_ms: u64,
    /// Time for a new connection to authenticate
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Time for a frame's body to arrive once it started
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub frame_timeout_ms: u64,
    /// Memory for request bodies being received, all connections together
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory_mb: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (TCP; no authentication: keep it private)
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Serve Feast's feature-server HTTP API (POST /get-online-features, GET /health) on this TCP address, with the same tokens (Authorization: Bearer) and TLS certificate
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
        max_streams_per_connection: a.max_streams,
        max_connections: a.max_connections,
        idle_timeout: Duration::from_millis(a.idle_timeout_ms),
        handshake_timeout: Duration::from_millis(a.handshake_timeout_ms),
        frame_timeout: Duration::from_millis(a.frame_timeout_ms),
        memory_bytes: a.memory_mb.saturating_mul(1 << 20),
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
