//! Request handlers over the [`Store`](strata_store::Store).
//!
//! Each handler decodes its body, checks the connection's token, does the
//! work and appends one answer frame (or an `Error` frame) to `out`. Reads
//! are microseconds and run on the connection's task; writes (which wait
//! for the WAL's fsync) and large lookups run on the blocking pool.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::auth::{Level, Token};
use super::conn::Session;
use strata_format::protocol::{
    self as p, ErrorBody, ErrorCode, FrameHeader, HEADER_LEN, Kind, WireError,
};
use strata_store::catalog::FeatureView;
use strata_store::refs::RefError;
use strata_store::{self as store};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Failure {
        store_failure(e)
    }
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Failure {
        Failure::new(e.code(), e.to_string())
    }
}

/// The error code of a store error.
pub(crate) fn store_failure(e: store::Error) -> Failure {
    use strata_engine::Error as E;
    let code = match &e {
        store::Error::UnknownView(_)
        | store::Error::UnknownEntity(_)
        | store::Error::Request(RefError::UnknownView { .. } | RefError::UnknownFeature { .. }) => {
            ErrorCode::NotFound
        }
        store::Error::BadKey { .. }
        | store::Error::BadRow { .. }
        | store::Error::BadRequest(_)
        | store::Error::Request(_)
        | store::Error::Computed(_)
        | store::Error::NoHistory(_)
        | store::Error::NotOnline(_) => ErrorCode::InvalidArgument,
        store::Error::Engine(E::InvalidWrite(_)) => ErrorCode::InvalidArgument,
        store::Error::Internal(_) => ErrorCode::Internal,
        _ => ErrorCode::Storage,
    };
    Failure::new(code, e.to_string())
}

/// Appends an `Error` frame.
pub(crate) fn error_frame(out: &mut Vec<u8>, request_id: u64, code: ErrorCode, message: &str) {
    let at = p::start_frame(out, Kind::Error, request_id);
    ErrorBody::new(code, message).encode(out);
    let _ = p::finish_frame(out, at, usize::MAX);
}

/// Runs a request; returns the buffers and whether the answer is an error.
pub(crate) async fn dispatch(
    s: Arc<Session>,
    h: FrameHeader,
    body: Vec<u8>,
    mut out: Vec<u8>,
) -> (Vec<u8>, Vec<u8>, bool) {
    let heavy = match h.kind() {
        Some(Kind::Push) => true,
        Some(Kind::Lookup) | Some(Kind::History) => body.len() > 16 << 10,
        _ => false,
    };
    if !heavy {
        let failed = respond_guarded(&s, h, &body, &mut out);
        return (body, out, failed);
    }
    let id = h.request_id;
    match tokio::task::spawn_blocking(move || {
        let failed = respond_guarded(&s, h, &body, &mut out);
        (body, out, failed)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
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

/// [`respond`], turning a panic into an `INTERNAL` error.
fn respond_guarded(s: &Session, h: FrameHeader, body: &[u8], out: &mut Vec<u8>) -> bool {
    let at = out.len();
    match std::panic::catch_unwind(AssertUnwindSafe(|| respond(s, h, body, out))) {
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
    }
}

fn respond(s: &Session, h: FrameHeader, body: &[u8], out: &mut Vec<u8>) -> bool {
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

/// The connection's token as the token file has it now.
fn with_token<T>(s: &Session, f: impl FnOnce(&Token) -> Result<T, Failure>) -> Result<T, Failure> {
    let tokens = s.shared.tokens.load();
    let t = tokens.get(&s.token_id).ok_or_else(|| {
        Failure::new(
            ErrorCode::Unauthenticated,
            "the connection's token was revoked",
        )
    })?;
    f(t)
}

fn team(view: &FeatureView) -> Option<&str> {
    view.team()
}

fn may(t: &Token, level: Level, view: &FeatureView) -> bool {
    t.allows(level, &view.name, team(view))
}

pub(crate) fn check_grant(t: &Token, level: Level, view: &FeatureView) -> Result<(), Failure> {
    if may(t, level, view) {
        return Ok(());
    }
    Err(Failure::new(
        ErrorCode::PermissionDenied,
        format!(
            "token {:?} ({}) has no {} grant on view {}{}",
            t.name,
            t.id,
            level.name(),
            view.qualified_name(),
            team(view).map_or(String::new(), |t| format!(" (team {t})"))
        ),
    ))
}

fn handle(s: &Session, h: FrameHeader, body: &[u8], out: &mut Vec<u8>) -> Result<Kind, Failure> {
    let lim = &s.shared.decode;
    let kind = h.kind().ok_or_else(|| {
        Failure::new(
            ErrorCode::UnknownRequest,
            format!("unknown frame kind {:#04x}", h.kind_byte),
        )
    })?;
    with_token(s, |t| match kind {
        Kind::Lookup => lookup(s, t, p::LookupRequest::decode(body, lim)?, out),
        Kind::History => history(s, t, p::HistoryRequest::decode(body, lim)?, out),
        Kind::Push => push(s, t, p::PushRequest::decode(body, lim)?, out),
        Kind::RegistryList => {
            p::decode_empty(body, "registry list")?;
            super::registry::list(s, t, out)
        }
        Kind::Describe => super::registry::describe(s, t, &p::decode_name(body, lim)?, out),
        Kind::Search => super::registry::search(s, t, p::SearchRequest::decode(body, lim)?, out),
        Kind::Stats => {
            p::decode_empty(body, "stats")?;
            stats(s, t, out)
        }
        Kind::Health => {
            p::decode_empty(body, "health")?;
            health(s, out)
        }
        Kind::Freshness => {
            super::freshness::freshness(s, t, p::FreshnessRequest::decode(body)?, out)
        }
        Kind::Hello => Err(Failure::new(
            ErrorCode::UnknownRequest,
            "Hello is only the first frame of a connection",
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

/// `Lookup`: the store's lookup, with the token's read grant checked on
/// every view it reads.
fn lookup(
    s: &Session,
    t: &Token,
    req: p::LookupRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let store = &s.shared.store;
    let plan = store.plan_lookup(&req, |v| check_grant(t, Level::Read, v))?;
    let resp = store.run_lookup(&req, &plan)?;
    super::Counters::add(&s.shared.counters.lookups, 1);
    super::Counters::add(
        &s.shared.counters.keys_looked_up,
        (plan.rows() * plan.views().count()) as u64,
    );
    resp.encode(out)
        .map_err(|e| Failure::new(ErrorCode::Internal, format!("encoding the lookup: {e}")))?;
    Ok(Kind::LookupResult)
}

fn history(
    s: &Session,
    t: &Token,
    req: p::HistoryRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let store = &s.shared.store;
    let cat = store.catalog();
    let view = cat.view(&req.view).ok_or_else(|| {
        Failure::new(
            ErrorCode::NotFound,
            format!("unknown feature view {:?}", req.view),
        )
    })?;
    check_grant(t, Level::Read, view)?;
    if req.from > req.to {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("from ({}) is after to ({})", req.from, req.to),
        ));
    }
    let name = view.reference();
    let rows = store
        .history(&name, &req.key, req.from, req.to, req.known_at)
        .map_err(store_failure)?;
    let max = s.shared.limits.max_history_rows as usize;
    let cap = match req.limit {
        0 => max,
        n => (n as usize).min(max),
    };
    let truncated = rows.len() > cap;
    let resp = p::HistoryResponse {
        view: name,
        features: view
            .features
            .iter()
            .map(|f| (f.name.clone(), f.ty))
            .collect(),
        versions: rows
            .into_iter()
            .take(cap)
            .map(|r| p::HistoryVersion {
                event_ts: r.event_ts,
                created_ts: r.created_ts,
                values: r.values,
            })
            .collect(),
        truncated,
    };
    resp.encode(out)
        .map_err(|e| Failure::new(ErrorCode::Internal, format!("encoding the history: {e}")))?;
    Ok(Kind::HistoryResult)
}

fn push(s: &Session, t: &Token, req: p::PushRequest, out: &mut Vec<u8>) -> Result<Kind, Failure> {
    let store = &s.shared.store;
    let cat = store.catalog();
    let view = cat.view(&req.view).ok_or_else(|| {
        Failure::new(
            ErrorCode::NotFound,
            format!("unknown feature view {:?}", req.view),
        )
    })?;
    check_grant(t, Level::Write, view)?;
    if s.shared.shutting_down() {
        return Err(Failure::new(
            ErrorCode::ShuttingDown,
            "server shutting down; the rows were not written",
        ));
    }
    let summary = store
        .write(&view.reference(), &req.rows)
        .map_err(store_failure)?;
    let written = summary.written as u64;
    super::Counters::add(&s.shared.counters.rows_pushed, written);
    p::encode_push_ack(out, written);
    Ok(Kind::PushAck)
}

fn stats(s: &Session, t: &Token, out: &mut Vec<u8>) -> Result<Kind, Failure> {
    if !t.is_admin() {
        return Err(Failure::new(
            ErrorCode::PermissionDenied,
            format!(
                "token {:?} ({}) has no admin grant; stats need one",
                t.name, t.id
            ),
        ));
    }
    let e = s.shared.store.engine().stats();
    let c = &s.shared.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let list: Vec<(String, u64)> = [
        ("uptime_ms", s.shared.started.elapsed().as_millis() as u64),
        ("connections_total", get(&c.connections)),
        ("connections_active", get(&c.connections_active)),
        ("connections_refused", get(&c.connections_refused)),
        ("requests", get(&c.requests)),
        ("errors", get(&c.errors)),
        ("lookups", get(&c.lookups)),
        ("keys_looked_up", get(&c.keys_looked_up)),
        ("rows_pushed", get(&c.rows_pushed)),
        ("rows_exported", get(&c.rows_exported)),
        ("memtable_bytes", e.memtable_bytes as u64),
        ("sealed_memtables", e.sealed_memtables as u64),
        ("segments", e.segments as u64),
        ("segment_bytes", e.segment_bytes),
        ("last_seqno", e.last_seqno),
        ("flushed_bytes", e.flushed_bytes),
        ("compacted_bytes", e.compacted_bytes),
        ("compactions", e.compactions),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    p::encode_stats(out, &list);
    Ok(Kind::StatsResult)
}

fn health(s: &Session, out: &mut Vec<u8>) -> Result<Kind, Failure> {
    p::Health {
        serving: !s.shared.shutting_down(),
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_ms: s.shared.started.elapsed().as_millis() as u64,
        views: s.shared.store.catalog().views.len() as u32,
    }
    .encode(out);
    Ok(Kind::HealthResult)
}

/// Whether `t` may read `view` (registry listings show only those).
pub(crate) fn may_read(t: &Token, view: &FeatureView) -> bool {
    may(t, Level::Read, view)
}
