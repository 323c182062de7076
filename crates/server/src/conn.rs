//! One connection: its admission, the handshake, the limits on
//! connections, and the streams.
//!
//! Slots (docs/PROTOCOL.md, "Limits"): a new connection is first admitted
//! ([`admit`]: a QUIC Retry when its address is not validated and the
//! server is under load, or always) as *unauthenticated*, a small separate
//! budget where a newcomer evicts the oldest (its own address's oldest
//! once its address has `max_unauthenticated_per_ip`); it must finish the QUIC
//! handshake and its `Hello` within the handshake timeout. Only then does it
//! count toward `max_connections` and its token's
//! `max_connections_per_token`.
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
use crate::limits::Retry;
use crate::quic::close_with;
use crate::quota::Pending;
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

/// Counts an authenticated connection while alive.
struct Authenticated(Arc<Shared>);

impl Drop for Authenticated {
    fn drop(&mut self) {
        self.0.authenticated.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What to do with a new connection attempt, before any state is kept for
/// it: validate its address with a QUIC Retry first (always, or once half
/// the unauthenticated slots are taken: docs/PROTOCOL.md, "Limits"), else
/// count it as unauthenticated (evicting the oldest unauthenticated one
/// if they are all taken).
pub(crate) fn admit(shared: &Arc<Shared>, incoming: quinn::Incoming) -> Option<Admitted> {
    let l = &shared.limits;
    if !incoming.remote_address_validated() && incoming.may_retry() {
        let retry = match l.retry {
            Retry::Always => true,
            Retry::UnderLoad => shared.unauthenticated.len() * 2 >= l.max_unauthenticated as usize,
            Retry::Never => false,
        };
        if retry {
            let _ = incoming.retry();
            return None;
        }
    }
    let (slot, evicted) = shared.unauthenticated.enter(incoming.remote_address().ip());
    if evicted {
        shared
            .counters
            .connections_refused
            .fetch_add(1, Ordering::Relaxed);
    }
    Some(Admitted { incoming, slot })
}

/// A connection attempt counted as unauthenticated.
pub(crate) struct Admitted {
    incoming: quinn::Incoming,
    slot: Pending,
}

pub(crate) async fn handle(shared: Arc<Shared>, admitted: Admitted) {
    let Admitted { incoming, slot } = admitted;
    let c = &shared.counters;
    c.connections_active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(shared.clone());
    let limits = &shared.limits;
    // The QUIC handshake and the Hello within the handshake timeout, on an
    // unauthenticated slot; the authenticated limits count the connection
    // only once its token is known.
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    let Ok(connecting) = incoming.accept() else {
        return;
    };
    let conn = tokio::select! {
        r = tokio::time::timeout_at(deadline, connecting) => match r {
            Ok(Ok(conn)) => conn,
            // A QUIC handshake that fails or does not finish in time:
            // dropping it closes the connection.
            _ => return,
        },
        _ = slot.evicted() => return,
    };
    c.connections.fetch_add(1, Ordering::Relaxed);
    if shared.shutting_down() {
        close_with(&conn, ErrorCode::ShuttingDown, "server shutting down");
        return;
    }
    let hs = tokio::select! {
        r = tokio::time::timeout_at(deadline, handshake(&shared, &conn)) => r,
        _ = slot.evicted() => {
            close_with(
                &conn,
                ErrorCode::TooManyConnections,
                "too many connections without a Hello; this one waited longest",
            );
            return;
        }
    };
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
    drop(slot);
    let too_many = |why: String| {
        c.connections_refused.fetch_add(1, Ordering::Relaxed);
        close_with(&conn, ErrorCode::TooManyConnections, &why);
    };
    let counted = shared
        .authenticated
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limits.max_connections).then_some(n + 1)
        });
    if counted.is_err() {
        too_many(format!(
            "the server has {} connections, its limit; retry later",
            limits.max_connections
        ));
        return;
    }
    let _authenticated = Authenticated(shared.clone());
    let session = Arc::new(Session::new(shared.clone(), token.id));
    let Some(_connected) = session.quota.connect(limits.max_connections_per_token) else {
        too_many(format!(
            "token {} has {} connections, its limit; close one or retry later",
            session.token_id, limits.max_connections_per_token
        ));
        return;
    };
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
