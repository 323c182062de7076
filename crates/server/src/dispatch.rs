//! From a request frame to its answer frames: decodes the frame's kind,
//! calls its handler ([`crate::handlers`], [`crate::registry`],
//! [`crate::freshness`], [`crate::admin`]; this is the only module that imports them) and
//! frames the answer, or an `Error` frame.
//!
//! [`respond`] is the whole of it, with no I/O: a stream calls it for each
//! request it reads (on the blocking pool for writes and large lookups, see
//! [`run`]); tests call it in-process through a [`crate::Handler`].
//! Exports are not answered here: they own their stream
//! (`export`, called by `stream`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::auth::{Level, Token};
use crate::session::{Failure, Session, error_frame, granted_view, may_read, readable_refs};
use crate::state::Counters;
use crate::{admin, freshness, handlers, registry};
use strata_format::protocol::{self as p, ErrorCode, FrameHeader, HEADER_LEN, Kind};

/// The answer frames to one request frame of `s` (its header already
/// checked against the frame limit): one answer frame, or an `Error`
/// frame. Never panics: a bug in a handler is answered `INTERNAL`.
pub fn respond(s: &Session, h: FrameHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    respond_into(s, h, body, &mut out);
    out
}

/// [`respond`], appending to `out`; returns whether the answer is an
/// `Error` frame (counted in the `errors` counter).
pub(crate) fn respond_into(s: &Session, h: FrameHeader, body: &[u8], out: &mut Vec<u8>) -> bool {
    let at = out.len();
    let failed = match std::panic::catch_unwind(AssertUnwindSafe(|| answer(s, h, body, out))) {
        Ok(failed) => failed,
        Err(_) => {
            out.truncate(at);
            error_frame(
                out,
                h.request_id,
                ErrorCode::Internal,
                "the server failed on this request (a bug); it was not completed",
            );
            true
        }
    };
    if failed {
        Counters::add(&s.shared.counters.errors, 1);
    }
    failed
}

/// Answers a request read from a stream; returns the buffers and whether
/// the answer is an error. Writes (which wait for the WAL's fsync), admin
/// requests and large lookups run on the blocking pool, the rest on the caller's task.
pub(crate) async fn run(
    s: Arc<Session>,
    h: FrameHeader,
    body: Vec<u8>,
    mut out: Vec<u8>,
) -> (Vec<u8>, Vec<u8>, bool) {
    let heavy = match h.kind() {
        // A history's work is its versions', not its body's.
        Some(Kind::Push) | Some(Kind::History) | Some(Kind::Admin) => true,
        Some(Kind::Lookup) => body.len() > 16 << 10,
        _ => false,
    };
    if !heavy {
        let failed = respond_into(&s, h, &body, &mut out);
        return (body, out, failed);
    }
    let id = h.request_id;
    let counters = s.clone();
    // At most `max_blocking_requests` at once: the rest wait here, on no
    // thread, so lookups keep the async workers and the pool stays small.
    let shared = s.shared.clone();
    let Ok(_slot) = shared.blocking.acquire().await else {
        let mut out = Vec::new();
        error_frame(
            &mut out,
            id,
            ErrorCode::ShuttingDown,
            "server shutting down",
        );
        return (body, out, true);
    };
    match tokio::task::spawn_blocking(move || {
        let failed = respond_into(&s, h, &body, &mut out);
        (body, out, failed)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            Counters::add(&counters.shared.counters.errors, 1);
            let mut out = Vec::new();
            error_frame(
                &mut out,
                id,
                ErrorCode::Internal,
                &format!("the request failed: {e}"),
            );
            (Vec::new(), out, true)
        }
    }
}

/// Appends the answer frame; on failure, an `Error` frame instead.
fn answer(s: &Session, h: FrameHeader, body: &[u8], out: &mut Vec<u8>) -> bool {
    let at = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    let max = s.shared.limits.max_frame_bytes as usize;
    let r = handle(s, h, body, out).and_then(|kind| {
        let header = FrameHeader::new(kind, h.request_id, 0).encode();
        if let Some(dst) = out.get_mut(at..at + HEADER_LEN) {
            dst.copy_from_slice(&header);
        }
        p::finish_frame(out, at, max).map_err(|_| {
            Failure::new(
                ErrorCode::LimitExceeded,
                format!(
                    "the answer ({} bytes) exceeds the frame limit of {max} bytes; ask for fewer keys, features or versions",
                    out.len() - at - HEADER_LEN
                ),
            )
        })
    });
    match r {
        Ok(()) => false,
        Err(f) => {
            out.truncate(at);
            error_frame(out, h.request_id, f.code, &f.message);
            true
        }
    }
}

/// Refuses unless `t` may read every view of a lookup's `features` (read
/// from its body before the rest is decoded). A feature list the store
/// planned before is checked on its cached resolution (no reference
/// parsed); any refusal, or a list that does not resolve, is answered by
/// [`readable_refs`] on the references as written, so its answer is the
/// same either way.
fn readable_lookup(s: &Session, t: &Token, features: &[&str]) -> Result<(), Failure> {
    let store = &s.shared.store;
    let readable = store.resolve_lookup_features(features, |cat, v| match may_read(cat, t, v) {
        true => Ok(()),
        false => Err(Unreadable),
    });
    match readable {
        Ok(_) => Ok(()),
        Err(_) => Ok(readable_refs(&store.catalog(), t, features)?),
    }
}

/// A view of a lookup the token may not read, or a feature list that does
/// not resolve: [`readable_lookup`] then answers as [`readable_refs`] does.
struct Unreadable;

impl From<strata_store::Error> for Unreadable {
    fn from(_: strata_store::Error) -> Self {
        Unreadable
    }
}

/// Decodes the body of a request of kind `h.kind()` and runs its handler.
fn handle(s: &Session, h: FrameHeader, body: &[u8], out: &mut Vec<u8>) -> Result<Kind, Failure> {
    let lim = &s.shared.decode;
    let kind = h.kind().ok_or_else(|| {
        Failure::new(
            ErrorCode::UnknownRequest,
            format!("unknown frame kind {:#04x}", h.kind_byte),
        )
    })?;
    // Every body is decoded only after the grants its kind needs are
    // checked on what its first fields name (the views, the admin
    // operation): a token without them makes the server spend nothing on
    // the rest (a push checks its write grant in its handler, the same way).
    s.with_token(|t| match kind {
        Kind::Lookup => {
            readable_lookup(s, t, &p::LookupRequest::peek_features(body, lim)?)?;
            handlers::lookup(s, t, p::LookupRequest::decode(body, lim)?, out)
        }
        Kind::History => {
            let cat = s.shared.store.catalog();
            granted_view(
                &cat,
                t,
                Level::Read,
                p::HistoryRequest::peek_view(body, lim)?,
            )?;
            handlers::history(s, t, p::HistoryRequest::decode(body, lim)?, out)
        }
        Kind::Push => handlers::push(s, t, body, out),
        Kind::RegistryList => {
            p::decode_empty(body, "registry list")?;
            registry::list(s, t, out)
        }
        Kind::Describe => registry::describe(s, t, &p::decode_name(body, lim)?, out),
        Kind::Search => registry::search(s, t, p::SearchRequest::decode(body, lim)?, out),
        Kind::Stats => {
            p::decode_empty(body, "stats")?;
            handlers::stats(s, t, out)
        }
        Kind::Health => {
            p::decode_empty(body, "health")?;
            handlers::health(s, t, out)
        }
        Kind::Freshness => freshness::freshness(s, t, p::FreshnessRequest::decode(body)?, out),
        Kind::Admin => {
            admin::check_op_grant(t, p::AdminRequest::peek_op(body)?)?;
            admin::admin(s, t, p::AdminRequest::decode(body, lim)?, out)
        }
        Kind::Hello => Err(Failure::new(
            ErrorCode::UnknownRequest,
            "Hello is only the first frame of a connection",
        )),
        Kind::ExportStart => Err(Failure::new(
            ErrorCode::UnknownRequest,
            "an export needs a stream of its own (ExportStart is answered by a server's stream)",
        )),
        Kind::ExportData | Kind::ExportEnd => Err(Failure::new(
            ErrorCode::UnknownRequest,
            format!("{kind:?} outside an export (send ExportStart first)"),
        )),
        _ => Err(Failure::new(
            ErrorCode::UnknownRequest,
            format!("{kind:?} is a server frame, not a request"),
        )),
    })
}
