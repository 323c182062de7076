//! One connection: the limit on connections, the handshake, and the
//! streams.
//!
//! The client's first bidirectional stream starts with a `Hello` (magic,
//! versions, token); the server answers `Welcome` (version, limits) and the
//! stream then carries requests like any other. A bad `Hello` gets an
//! `Error` frame and the connection is closed with the error code as its
//! application close code and the message as its reason, so a client sees
//! the typed error either way.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use quinn::{RecvStream, SendStream};
use tokio::task::JoinSet;

use crate::auth::Token;
use crate::quic::close_with;
use crate::session::{Failure, Session};
use crate::state::Shared;
use crate::stream;
use strata_format::protocol::{
    ErrorBody, ErrorCode, FrameHeader, HEADER_LEN, Hello, Kind, VERSION, Welcome, finish_frame,
    start_frame,
};

/// Counts the connection as active while alive.
struct Active(Arc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0
            .counters
            .connections_active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, incoming: quinn::Incoming) {
    let c = &shared.counters;
    let active = c.connections_active.fetch_add(1, Ordering::Relaxed) + 1;
    let _active = Active(shared.clone());
    let conn = match incoming.accept() {
        Ok(connecting) => match connecting.await {
            Ok(conn) => conn,
            Err(_) => return,
        },
        Err(_) => return,
    };
    c.connections.fetch_add(1, Ordering::Relaxed);
    let limits = &shared.limits;
    if active > u64::from(limits.max_connections) {
        c.connections_refused.fetch_add(1, Ordering::Relaxed);
        close_with(
            &conn,
            ErrorCode::TooManyConnections,
            &format!(
                "the server has {} connections, its limit; retry later",
                limits.max_connections
            ),
        );
        return;
    }
    if shared.shutting_down() {
        close_with(&conn, ErrorCode::ShuttingDown, "server shutting down");
        return;
    }
    let hs = tokio::time::timeout(limits.handshake_timeout, handshake(&shared, &conn)).await;
    let (send, recv, token) = match hs {
        Ok(Ok(x)) => x,
        Ok(Err(f)) => {
            c.errors.fetch_add(1, Ordering::Relaxed);
            close_with(&conn, f.code, &f.message);
            return;
        }
        Err(_) => {
            c.errors.fetch_add(1, Ordering::Relaxed);
            close_with(
                &conn,
                ErrorCode::Timeout,
                &format!(
                    "no Hello within {} ms of connecting",
                    limits.handshake_timeout.as_millis()
                ),
            );
            return;
        }
    };
    let session = Arc::new(Session::new(shared.clone(), token.id));
    let mut streams = JoinSet::new();
    streams.spawn(stream::serve(session.clone(), send, recv));
    let mut stop = shared.shutdown.clone();
    loop {
        tokio::select! {
            s = conn.accept_bi() => match s {
                Ok((send, recv)) => {
                    streams.spawn(stream::serve(session.clone(), send, recv));
                }
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
        }
    }
    // In-flight requests finish; their streams end once answered.
    while streams.join_next().await.is_some() {}
    if shared.shutting_down() {
        close_with(&conn, ErrorCode::ShuttingDown, "server shutting down");
    }
}

/// Reads the `Hello`; answers `Welcome` or an `Error` frame.
async fn handshake(
    shared: &Shared,
    conn: &quinn::Connection,
) -> Result<(SendStream, RecvStream, Token), Failure> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| Failure::new(ErrorCode::BadHandshake, format!("no stream: {e}")))?;
    let mut request_id = 0;
    let r = read_hello(shared, &mut recv, &mut request_id).await;
    let mut out = Vec::with_capacity(128);
    let at = start_frame(&mut out, Kind::Welcome, request_id);
    match r {
        Ok(token) => {
            Welcome {
                version: VERSION,
                server: format!("strata {}", env!("CARGO_PKG_VERSION")),
                limits: shared.announced,
            }
            .encode(&mut out);
            let _ = finish_frame(&mut out, at, usize::MAX);
            send.write_all(&out).await.map_err(|e| {
                Failure::new(ErrorCode::BadHandshake, format!("writing Welcome: {e}"))
            })?;
            Ok((send, recv, token))
        }
        Err(f) => {
            out.clear();
            let at = start_frame(&mut out, Kind::Error, request_id);
            ErrorBody::new(f.code, f.message.clone()).encode(&mut out);
            let _ = finish_frame(&mut out, at, usize::MAX);
            if send.write_all(&out).await.is_ok() && send.finish().is_ok() {
                // Give the frame a moment to arrive before the close.
                let _ = tokio::time::timeout(std::time::Duration::from_millis(200), send.stopped())
                    .await;
            }
            Err(f)
        }
    }
}

async fn read_hello(
    shared: &Shared,
    recv: &mut RecvStream,
    request_id: &mut u64,
) -> Result<Token, Failure> {
    let bad = |m: String| Failure::new(ErrorCode::BadHandshake, m);
    let mut hdr = [0u8; HEADER_LEN];
    recv.read_exact(&mut hdr)
        .await
        .map_err(|e| bad(format!("the first stream ended before a Hello: {e}")))?;
    let raw = FrameHeader::parse(&hdr);
    *request_id = raw.request_id;
    let h = FrameHeader::decode(&hdr, 64 << 10)
        .map_err(|e| bad(format!("the first frame is not a Hello: {e}")))?;
    if h.kind() != Some(Kind::Hello) {
        return Err(bad(format!(
            "the first frame must be a Hello (kind 0x01), got kind {:#04x}",
            h.kind_byte
        )));
    }
    let mut body = vec![0u8; h.body_len as usize];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| bad(format!("the Hello was cut short: {e}")))?;
    let hello = Hello::decode(&body, &shared.decode).map_err(|e| bad(format!("bad Hello: {e}")))?;
    if hello.min_version > VERSION || hello.max_version < VERSION {
        return Err(Failure::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "the client speaks versions {}..={}, this server {VERSION}",
                hello.min_version, hello.max_version
            ),
        ));
    }
    let tokens = shared.tokens.load();
    tokens.verify(&hello.token).cloned().ok_or_else(|| {
        Failure::new(
            ErrorCode::Unauthenticated,
            "unknown, malformed or revoked token; create one with `strata token create`",
        )
    })
}
