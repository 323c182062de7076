//! End-to-end tests of `strata serve`: a real server process on loopback
//! (an OS-assigned port), driven by the native client, the CLI, and raw
//! QUIC connections that misbehave on purpose. Every test is bounded in
//! time and stops its server.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[path = "../common/mod.rs"]
mod common;
#[path = "../../crates/server/tests/common/wire.rs"]
mod wire;

mod admin;
mod aggregation;
mod cli;
mod errors;
mod freshness;
mod hostile;
mod http;
mod ingest;
mod limits;
mod requests;
mod robustness;
mod shutdown;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub use common::cli::argv;
use strata::client::{Client, ClientConfig, Trust};
use strata::format::protocol::{self as p, FrameHeader, HEADER_LEN, Kind};
pub use wire::{error_code, frame, full_history, int_keys, string_keys, user_row};

pub const DEFS: &str = include_str!("../fixtures/server.toml");

/// Runs the CLI in `dir` (with no `STRATA_*` settings from the
/// environment) to completion: its exit code, stdout and stderr.
pub fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let r = common::cli::strata(dir, args);
    (r.code, r.stdout, r.stderr)
}

/// Runs the CLI to completion; panics on failure.
pub fn strata(dir: &Path, args: &[&str]) -> String {
    common::cli::ok(dir, args)
}

/// A store directory with the definitions applied and tokens created.
pub struct Store {
    pub tmp: tempfile::TempDir,
    pub admin: String,
    pub reader: String,
    pub fraud_writer: String,
}

impl Store {
    #[allow(clippy::new_without_default)] // a test fixture that creates files
    pub fn new() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("defs.toml"), DEFS).unwrap();
        strata(tmp.path(), &argv("apply --data data defs.toml"));
        let token = |name: &str, grants: &[&str]| {
            let mut args = vec!["token", "create", "--data", "data", "--name", name];
            for g in grants {
                args.extend(["--grant", g]);
            }
            strata(tmp.path(), &args).trim().to_string()
        };
        let admin = token("admin", &["admin:*"]);
        let reader = token("reader", &["read:view:user_stats"]);
        let fraud_writer = token("fraud", &["write:team:fraud"]);
        Store {
            tmp,
            admin,
            reader,
            fraud_writer,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn cert(&self) -> PathBuf {
        self.data().join("tls/cert.pem")
    }
}

/// A running `strata serve`; killed when dropped if still running.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub cert: PathBuf,
    /// The first line it printed (the addresses it listens on).
    pub first_line: String,
    stderr: Option<std::process::ChildStderr>,
}

impl Server {
    pub fn start(store: &Store, extra: &[&str]) -> Server {
        let mut serving = common::serve::start(
            Path::new(env!("CARGO_BIN_EXE_strata")),
            &store.data(),
            extra,
            Stdio::piped(),
        );
        Server {
            addr: serving.addr(),
            cert: store.cert(),
            stderr: serving.child.stderr.take(),
            first_line: serving.first_line,
            child: serving.child,
        }
    }

    pub fn config(&self, token: &str) -> ClientConfig {
        let mut c = ClientConfig::new(self.addr, token, Trust::pin_file(&self.cert).unwrap());
        c.request_timeout = Some(Duration::from_secs(20));
        c
    }

    /// Runs the CLI in `dir` against this server: `args`, then `--server`,
    /// `--token token` and `--server-cert data/tls/cert.pem` (the store's
    /// certificate, relative to `dir`).
    pub fn cli(&self, dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
        let addr = self.addr.to_string();
        let mut a = args.to_vec();
        a.extend([
            "--server",
            &addr,
            "--token",
            token,
            "--server-cert",
            "data/tls/cert.pem",
        ]);
        cli(dir, &a)
    }

    /// [`Server::cli`], expected to succeed; returns stdout.
    pub fn ok(&self, dir: &Path, token: &str, args: &[&str]) -> String {
        let (code, out, err) = self.cli(dir, token, args);
        assert_eq!(code, 0, "strata {args:?} --server: {err}");
        out
    }

    pub async fn client(&self, token: &str) -> Client {
        Client::connect(self.config(token)).await.unwrap()
    }

    pub fn sigterm(&self) {
        let r = unsafe_kill(self.child.id(), "TERM");
        assert!(r, "kill -TERM failed");
    }

    /// Waits for the process to exit (bounded); returns its stderr.
    pub fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let start = std::time::Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return (s, err);
            }
            assert!(
                start.elapsed() < limit,
                "the server did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

fn unsafe_kill(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` with a deadline.
pub async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("test exceeded its time bound")
}

/// A raw QUIC connection that speaks whatever the test sends.
pub async fn raw_conn(s: &Server) -> quinn::Connection {
    let trust = Trust::pin_file(&s.cert).unwrap();
    let crypto = strata::client::quic_crypto(&trust).unwrap();
    let mut ep = quinn::Endpoint::client((std::net::Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    ep.connect(s.addr, "localhost").unwrap().await.unwrap()
}

pub fn hello(token: &str) -> Vec<u8> {
    let mut body = Vec::new();
    p::Hello {
        min_version: p::VERSION,
        max_version: p::VERSION,
        token: token.into(),
        client: "test".into(),
    }
    .encode(&mut body);
    frame(Kind::Hello, 0, &body)
}

/// Reads one frame (bounded); `None` at the end of the stream or on error.
pub async fn read_frame(recv: &mut quinn::RecvStream) -> Option<(FrameHeader, Vec<u8>)> {
    let mut hdr = [0u8; HEADER_LEN];
    tokio::time::timeout(Duration::from_secs(20), recv.read_exact(&mut hdr))
        .await
        .ok()?
        .ok()?;
    let h = FrameHeader::parse(&hdr);
    let mut body = vec![0u8; h.body_len as usize];
    recv.read_exact(&mut body).await.ok()?;
    Some((h, body))
}

/// A lookup of `features` for the int64 keys `keys` of the column `col`.
pub fn lookup(features: &[&str], col: &str, keys: &[i64]) -> p::LookupRequest {
    p::LookupRequest {
        features: features.iter().map(|s| s.to_string()).collect(),
        entities: vec![int_keys(col, keys)],
        ..Default::default()
    }
}

/// The body of an `ExportStart` of every feature of `user_stats`.
pub fn export_all_user_stats() -> Vec<u8> {
    let mut start = Vec::new();
    p::ExportStart {
        features: vec!["user_stats:*".into()],
        ..Default::default()
    }
    .encode(&mut start);
    start
}

/// The counter `name` of a `stats` answer.
pub fn stat(stats: &[(String, u64)], name: &str) -> u64 {
    stats
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no counter {name}"))
        .1
}

/// A raw connection whose first stream said `Hello` with `token` and was
/// welcomed: the connection and that stream.
pub async fn welcomed(
    s: &Server,
    token: &str,
) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let conn = raw_conn(s).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&hello(token)).await.unwrap();
    assert_eq!(
        read_frame(&mut recv).await.unwrap().0.kind(),
        Some(Kind::Welcome)
    );
    (conn, send, recv)
}

/// `batch` as an Arrow IPC stream of batches of up to `rows` rows.
pub fn ipc_stream(batch: &arrow_array::RecordBatch, rows: usize) -> Vec<u8> {
    let n = batch.num_rows();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
    for off in (0..n).step_by(rows) {
        w.write(&batch.slice(off, rows.min(n - off))).unwrap();
    }
    w.finish().unwrap();
    w.into_inner().unwrap()
}

/// A new [`Store`] served with the extra flags `extra`.
pub fn started(extra: &[&str]) -> (Store, Server) {
    let store = Store::new();
    let server = Server::start(&store, extra);
    (store, server)
}
