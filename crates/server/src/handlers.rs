//! The request handlers over the [`Store`](strata_store::Store): lookup,
//! history, push, stats and health. Each takes a decoded request and the
//! session's token, checks the grants, calls the store operation and
//! encodes the answer's body into `out`; `dispatch` decodes the
//! frame, picks the handler and frames the answer. They depend on
//! `session` (and the shared state it carries) only.

use crate::auth::{Level, Token};
use crate::session::{Failure, Session, granted_view, store_failure};
use crate::state::Counters;
use strata_format::protocol::{self as p, ErrorCode, Kind};
use strata_store::HistoryBounds;
use tokio::sync::Semaphore;

/// `Lookup`: the store's lookup, with the token's read grant checked on
/// every view it reads.
pub(crate) fn lookup(
    s: &Session,
    t: &Token,
    req: p::LookupRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    s.lookup_encoded(t, &req, out)?;
    Ok(Kind::LookupResult)
}

pub(crate) fn history(
    s: &Session,
    t: &Token,
    req: p::HistoryRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let store = &s.shared.store;
    let cat = store.catalog();
    let view = granted_view(&cat, t, Level::Read, &req.view)?;
    if req.from > req.to {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("from ({}) is after to ({})", req.from, req.to),
        ));
    }
    let name = view.reference();
    let max = s.shared.limits.max_history_rows as usize;
    let cap = match req.limit {
        0 => max,
        n => (n as usize).min(max),
    };
    // The limit and the answer's size stop the scan, so the work and the
    // memory are theirs, not the key's history's.
    let max_bytes = s.shared.limits.answer_bytes();
    let bounds = HistoryBounds {
        from: req.from,
        to: req.to,
        known_at: req.known_at,
        limit: cap,
        max_bytes,
    };
    let (rows, truncated) = store
        .history_newest(&name, &req.key, &bounds)
        .map_err(store_failure)?;
    let resp = p::HistoryResponse {
        view: name,
        features: view
            .features
            .iter()
            .map(|f| (f.name.clone(), f.ty))
            .collect(),
        versions: rows,
        truncated,
    };
    resp.encode(out)
        .map_err(|e| Failure::new(ErrorCode::Internal, format!("encoding the history: {e}")))?;
    Ok(Kind::HistoryResult)
}

/// `Push`: the write grant on the view the body names is checked before
/// its rows are decoded (a decoded row takes many times its encoded bytes,
/// and a token that may not write must not make the server spend them).
pub(crate) fn push(
    s: &Session,
    t: &Token,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let store = &s.shared.store;
    let cat = store.catalog();
    let view = granted_view(
        &cat,
        t,
        Level::Write,
        p::PushRequest::peek_view(body, &s.shared.decode)?,
    )?;
    let req = p::PushRequest::decode(body, &s.shared.decode)?;
    if s.shared.shutting_down() {
        return Err(Failure::new(
            ErrorCode::ShuttingDown,
            "server shutting down; the rows were not written",
        ));
    }
    let opts = strata_store::WriteOptions {
        batch: req
            .options
            .batch_id
            .as_deref()
            .map(strata_store::BatchId::named),
        label: req.options.batch_id.clone().unwrap_or_default(),
        force: req.options.force,
        backfill: req.options.backfill,
        created_at: None,
    };
    let summary = store
        .write_with(&view.reference(), &req.rows, &opts)
        .map_err(store_failure)?;
    Counters::add(&s.shared.counters.rows_pushed, summary.written);
    p::encode_push_ack(out, &summary);
    Ok(Kind::PushAck)
}

pub(crate) fn stats(s: &Session, t: &Token, out: &mut Vec<u8>) -> Result<Kind, Failure> {
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
        (
            "connections_authenticated",
            u64::from(
                s.shared
                    .authenticated
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        ),
        (
            "connections_unauthenticated",
            s.shared.unauthenticated.len() as u64,
        ),
        (
            "memory_reserved_bytes",
            s.shared
                .limits
                .memory_bytes
                .min(Semaphore::MAX_PERMITS as u64)
                - s.shared.memory.available_permits() as u64,
        ),
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

/// `Health`: whether the server serves; the number of views only to an
/// admin token (any other token learns nothing about views from it).
pub(crate) fn health(s: &Session, t: &Token, out: &mut Vec<u8>) -> Result<Kind, Failure> {
    let views = match t.is_admin() {
        true => s.shared.store.catalog().views.len() as u32,
        false => 0,
    };
    p::Health {
        serving: !s.shared.shutting_down(),
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_ms: s.shared.started.elapsed().as_millis() as u64,
        views,
    }
    .encode(out);
    Ok(Kind::HealthResult)
}
