//! One bidirectional stream: requests in, answers out, in order.
//!
//! A frame whose header is bad (too long, unknown flags) or whose body does
//! not arrive in time ends the stream after an `Error` frame: its framing
//! can no longer be trusted. Any other bad request (a body that does not
//! decode, an unknown kind, a refused request) gets an `Error` frame and the
//! stream goes on. The bytes of a body are reserved (from the connection's,
//! the token's and the server's memory, `quota`) once its first bytes have
//! arrived and while it is handled; an answer's bytes while it is written
//! (a history's and a large lookup's before it is built). Every write has
//! the write timeout: a client that does not read loses the stream, and
//! the memory comes back.

use std::sync::Arc;
use std::time::Instant;

use quinn::{ReadExactError, RecvStream, SendStream};

use crate::quic::finish;
use crate::quota::Reserved;
use crate::session::{Session, error_frame};
use crate::state::Counters;
use crate::{dispatch, export};
use strata_format::protocol::{ErrorCode, FrameHeader, HEADER_LEN, Kind};

/// A lookup body above this size may ask for a large answer.
const LARGE_LOOKUP: usize = 4 << 10;

/// Buffers above this size are not kept between requests.
const KEEP_BUFFER: usize = 1 << 20;

pub(crate) async fn serve(s: Arc<Session>, mut send: SendStream, mut recv: RecvStream) {
    let shared = s.shared.clone();
    let limits = &shared.limits;
    let max = limits.max_frame_bytes as usize;
    let mut hdr = [0u8; HEADER_LEN];
    let mut body: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut stop = shared.shutdown.clone();
    loop {
        let got = tokio::select! {
            biased;
            r = recv.read_exact(&mut hdr) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match got {
            Ok(()) => {}
            // The client finished its side between requests.
            Err(ReadExactError::FinishedEarly(0)) => break,
            Err(_) => return,
        }
        Counters::add(&shared.counters.requests, 1);
        let raw = FrameHeader::parse(&hdr);
        out.clear();
        let refuse = |out: &mut Vec<u8>, code: ErrorCode, msg: &str| {
            Counters::add(&shared.counters.errors, 1);
            error_frame(out, raw.request_id, code, msg);
        };
        let h = match FrameHeader::decode(&hdr, max) {
            Ok(h) => h,
            Err(e) => {
                refuse(&mut out, e.code(), &e.to_string());
                write_last(&mut send, &mut recv, &out, e.code(), limits).await;
                break;
            }
        };
        // The token's requests in flight, all its connections together.
        let quota = s.quota.clone();
        let Ok(in_flight) = quota.requests.try_acquire() else {
            let msg = format!(
                "token {} has {} requests in flight, its limit; wait for answers before sending more",
                s.token_id, limits.max_requests_per_token
            );
            refuse(&mut out, ErrorCode::LimitExceeded, &msg);
            write_last(&mut send, &mut recv, &out, ErrorCode::LimitExceeded, limits).await;
            break;
        };
        let reserved = match read_body(&s, &mut recv, h, &mut body).await {
            Ok(r) => r,
            Err(None) => return,
            Err(Some(msg)) => {
                refuse(&mut out, ErrorCode::Timeout, &msg);
                write_last(&mut send, &mut recv, &out, ErrorCode::Timeout, limits).await;
                break;
            }
        };
        let started = Instant::now();
        if h.kind() == Some(Kind::ExportStart) {
            drop(reserved);
            // Counted by the token's exports instead.
            drop(in_flight);
            // The rest of the stream is the export's.
            export::run(s, h.request_id, body, send, recv).await;
            shared.metrics.observe(h.kind(), started.elapsed());
            return;
        }
        // An answer that may be large (a history, a large lookup) has its
        // memory reserved before it is built, at the answer limit, and
        // shrunk to its size once built; others are reserved once built.
        let large = match h.kind() {
            Some(Kind::History) => true,
            Some(Kind::Lookup) => body.len() > LARGE_LOOKUP,
            _ => false,
        };
        let answer = match large {
            true => Some(s.reserve(limits.max_frame_bytes).await),
            false => None,
        };
        // Errors are counted by dispatch.
        let (b, o, _failed) = dispatch::run(s.clone(), h, body, out).await;
        shared.metrics.observe(h.kind(), started.elapsed());
        // The body's memory back before the answer's is taken (a stream
        // never holds one reservation while waiting for another).
        drop(reserved);
        (body, out) = (b, o);
        let answer = answer.flatten();
        if !write_answer(&s, &mut send, &mut recv, h.request_id, &mut out, answer).await {
            return;
        }
        drop(in_flight);
        if body.capacity() > KEEP_BUFFER {
            body = Vec::new();
        }
        if out.capacity() > KEEP_BUFFER {
            out = Vec::with_capacity(1024);
        }
    }
    finish(&mut send).await;
}

/// Reads the body of `h` into `body`, with its bytes reserved from the
/// connection's, the token's and the server's memory: only once its first
/// bytes have arrived (a header announcing a body that never comes holds
/// nothing), and the whole of it at once (so that bodies waiting for
/// memory never hold part of it). `Err(None)`: the client went away;
/// `Err(Some(why))`: the body did not arrive in time.
async fn read_body<'s>(
    s: &'s Session,
    recv: &mut RecvStream,
    h: FrameHeader,
    body: &mut Vec<u8>,
) -> Result<Option<Reserved<'s>>, Option<String>> {
    let limits = &s.shared.limits;
    let len = h.body_len as usize;
    body.clear();
    if len == 0 {
        return Ok(None);
    }
    let late = || {
        format!(
            "the body of a {len}-byte frame did not arrive within {} ms",
            limits.frame_timeout.as_millis()
        )
    };
    let first = match tokio::time::timeout(limits.frame_timeout, recv.read_chunk(len, true)).await {
        Ok(Ok(Some(c))) => c.bytes,
        Ok(_) => return Err(None),
        Err(_) => return Err(Some(late())),
    };
    let reserved = s.reserve(h.body_len).await.ok_or(None)?;
    body.extend_from_slice(&first);
    drop(first);
    let at = body.len();
    body.resize(len, 0);
    match tokio::time::timeout(limits.frame_timeout, recv.read_exact(&mut body[at..])).await {
        Ok(Ok(())) => Ok(Some(reserved)),
        Ok(Err(_)) => Err(None),
        Err(_) => Err(Some(late())),
    }
}

/// Writes an answer: its bytes reserved as a body's are (waiting at most
/// the write timeout, else a `LIMIT_EXCEEDED` error goes instead), then
/// written within the write timeout. A client that does not take it in
/// time loses the stream (reset) and the answer's memory is freed; returns
/// whether the stream goes on.
async fn write_answer(
    s: &Session,
    send: &mut SendStream,
    recv: &mut RecvStream,
    request_id: u64,
    out: &mut Vec<u8>,
    before: Option<Reserved<'_>>,
) -> bool {
    let limits = &s.shared.limits;
    let bytes = u32::try_from(out.len())
        .unwrap_or(u32::MAX)
        .min(limits.max_frame_bytes);
    let reserved = match before {
        Some(mut r) => {
            r.shrink(bytes);
            Ok(Some(r))
        }
        None => tokio::time::timeout(limits.write_timeout, s.reserve(bytes)).await,
    };
    let _reserved = match reserved {
        Ok(Some(r)) => Some(r),
        Ok(None) => return false,
        Err(_) => {
            out.clear();
            Counters::add(&s.shared.counters.errors, 1);
            error_frame(
                out,
                request_id,
                ErrorCode::LimitExceeded,
                "the server's memory for answers is taken (by this token or connection, or by everyone); the answer was dropped: read earlier answers, or retry",
            );
            None
        }
    };
    match tokio::time::timeout(limits.write_timeout, send.write_all(out)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            Counters::add(&s.shared.counters.errors, 1);
            abandon(send, recv, ErrorCode::Timeout);
            false
        }
    }
}

/// Writes a last `Error` frame (within the write timeout) and stops
/// reading the stream.
async fn write_last(
    send: &mut SendStream,
    recv: &mut RecvStream,
    out: &[u8],
    code: ErrorCode,
    limits: &crate::limits::Limits,
) {
    if !matches!(
        tokio::time::timeout(limits.write_timeout, send.write_all(out)).await,
        Ok(Ok(()))
    ) {
        abandon(send, recv, code);
        return;
    }
    let _ = recv.stop((code as u32).into());
}

/// Gives a stream up: what is unsent is dropped, the client's side is
/// refused.
pub(crate) fn abandon(send: &mut SendStream, recv: &mut RecvStream, code: ErrorCode) {
    let _ = send.reset((code as u32).into());
    let _ = recv.stop((code as u32).into());
}
