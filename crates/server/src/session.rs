//! Who is asking: a [`Session`] is the shared state and the id of the token
//! a client authenticated with. Every request handler takes one, whatever
//! carried the request (a QUIC stream, an HTTP request, a test calling
//! `respond` in-process through a [`Handler`]).
//!
//! Grants are checked against the token file as it is *now*: the session
//! holds the token's id and looks the token up again for every request, so
//! a revoked token fails its next request with `UNAUTHENTICATED`.
//!
//! This module depends on `auth`, `limits` and `state` only.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

use crate::auth::{Level, Token, Tokens};
use crate::limits::Limits;
use crate::quota::{Reserved, TokenQuota};
use crate::state::{Counters, Shared};
use strata_format::protocol::{
    self as p, ErrorBody, ErrorCode, Kind, LookupRequest, LookupResponse, WireError,
};
use strata_store::catalog::{Catalog, FeatureView, lineage};
use strata_store::lookup::LookupPlan;
use strata_store::refs::{self, RefError};
use strata_store::{self as store, Store};

/// Why a request was refused: the protocol's error code and a message
/// saying what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
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

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
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

/// Bytes an answer's cell takes in memory before its value: a status and
/// an event and a created time.
const CELL_BYTES: usize = 33;

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
        | store::Error::Derived(_)
        | store::Error::NoHistory(_)
        | store::Error::DerivedNoHistory(_)
        | store::Error::NotOnline(_) => ErrorCode::InvalidArgument,
        store::Error::Engine(E::InvalidWrite(_)) => ErrorCode::InvalidArgument,
        store::Error::Internal(_) => ErrorCode::Internal,
        store::Error::TooLarge(_) => ErrorCode::LimitExceeded,
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

/// A client's requests: the shared state and its token.
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    /// The token the client authenticated with; looked up again on every
    /// request, so that a revoked token stops working.
    pub(crate) token_id: String,
    /// The token's quotas (shared by all its sessions).
    pub(crate) quota: Arc<TokenQuota>,
    /// The connection's share of the memory budget, in bytes.
    pub(crate) memory: Semaphore,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, token_id: String) -> Session {
        let quota = shared.quotas.of(&token_id, &shared.limits);
        let memory = Semaphore::new(
            usize::try_from(shared.limits.connection_memory_bytes)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS),
        );
        Session {
            shared,
            token_id,
            quota,
            memory,
        }
    }

    /// Waits until `bytes` of the connection's, the token's and the
    /// server's memory are free, and holds them until dropped.
    pub(crate) async fn reserve(&self, bytes: u32) -> Option<Reserved<'_>> {
        Reserved::wait(
            [&self.memory, &self.quota.memory, &self.shared.memory],
            bytes,
        )
        .await
    }

    /// The id of the session's token (`stk_<id>_...`).
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// The store's lookup (the one feature read), with the token's read
    /// grant checked on every view it reads before anything is read (a
    /// view it may not read answers as an unknown one), and the answer's
    /// memory bounded while it is built ([`Limits::answer_bytes`]); counted
    /// in the `lookups` and `keys_looked_up` counters.
    pub(crate) fn lookup<E: From<store::Error> + From<Failure>>(
        &self,
        t: &Token,
        req: &LookupRequest,
    ) -> Result<(LookupPlan, LookupResponse), E> {
        let plan = self.plan_lookup::<E>(t, req)?;
        let limit = self.shared.limits.answer_bytes();
        let resp = self.shared.store.run_lookup_within(req, &plan, limit)?;
        self.count_lookup(&plan);
        Ok((plan, resp))
    }

    /// [`Session::lookup`], with the answer's `LookupResult` body appended
    /// to `out` straight from the rows the store read (no
    /// [`LookupResponse`] built): the server's `Lookup`.
    pub(crate) fn lookup_encoded(
        &self,
        t: &Token,
        req: &LookupRequest,
        out: &mut Vec<u8>,
    ) -> Result<(), Failure> {
        let plan = self.plan_lookup::<Failure>(t, req)?;
        let limit = self.shared.limits.answer_bytes();
        self.shared
            .store
            .run_lookup_encoded(req, &plan, limit, out)?;
        self.count_lookup(&plan);
        Ok(())
    }

    /// The grants and the answer's size checked, the lookup planned.
    fn plan_lookup<E: From<store::Error> + From<Failure>>(
        &self,
        t: &Token,
        req: &LookupRequest,
    ) -> Result<LookupPlan, E> {
        let store = &self.shared.store;
        let planned = store.plan_lookup(req, |planned_in, v| {
            check_grant(planned_in, t, Level::Read, v, &v.name).map_err(E::from)
        });
        // A plan is only made once every view it reads passed the read
        // grant (which a view the token may not read fails), so the
        // references are checked again only to choose a refusal's answer:
        // a view the token may not read answers as an unknown one, before
        // the store's messages, which name the views and features it has.
        // (A repeated request shape is planned from the store's cache
        // without parsing its references.)
        let plan = match planned {
            Ok(plan) => plan,
            Err(e) => {
                readable_refs(&store.catalog(), t, &req.features)?;
                return Err(e);
            }
        };
        let limit = self.shared.limits.answer_bytes();
        // What the request alone says the answer needs: per row and
        // feature a status and up to two times, before any value.
        let cells = plan.rows().saturating_mul(plan.outputs());
        if cells.saturating_mul(CELL_BYTES) > limit {
            return Err(Failure::new(
                ErrorCode::LimitExceeded,
                format!(
                    "{} rows × {} features need at least {} bytes, above the answer limit of {limit} bytes; ask for fewer keys or features",
                    plan.rows(),
                    plan.outputs(),
                    cells.saturating_mul(CELL_BYTES)
                ),
            )
            .into());
        }
        Ok(plan)
    }

    /// Counts a lookup that was answered.
    fn count_lookup(&self, plan: &LookupPlan) {
        let c = &self.shared.counters;
        Counters::add(&c.lookups, 1);
        Counters::add(
            &c.keys_looked_up,
            (plan.rows() * plan.views().count()) as u64,
        );
    }

    /// Runs `f` with the session's token as the token file has it now.
    pub(crate) fn with_token<T>(
        &self,
        f: impl FnOnce(&Token) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let tokens = self.shared.tokens.load();
        let t = tokens.get(&self.token_id).ok_or_else(|| {
            Failure::new(
                ErrorCode::Unauthenticated,
                "the connection's token was revoked",
            )
        })?;
        f(t)
    }
}

/// The token a client presents, checked as a `Hello`'s is.
pub(crate) fn authenticate(shared: &Arc<Shared>, presented: &str) -> Result<Session, Failure> {
    let tokens = shared.tokens.load();
    let t = tokens.verify(presented).ok_or_else(|| {
        Failure::new(
            ErrorCode::Unauthenticated,
            "unknown, malformed or revoked token; create one with `strata token create`",
        )
    })?;
    Ok(Session::new(shared.clone(), t.id.clone()))
}

fn team(view: &FeatureView) -> Option<&str> {
    view.team()
}

/// Whether `t` may read `view`: a read grant on the view itself and on
/// every view it reads from, transitively (an aggregation's source, a
/// derived view's inputs), so that a computed view never shows what its
/// sources would not; unless its definition says `expose_sources = true`
/// (its owner publishes it to its readers; docs/PROTOCOL.md, "Policy").
pub(crate) fn may_read(cat: &Catalog, t: &Token, view: &FeatureView) -> bool {
    t.allows(Level::Read, &view.name, team(view))
        && (view.metadata.expose_sources == Some(true)
            || lineage::upstream(cat, view).iter().all(|r| {
                cat.view(&r.view)
                    .is_some_and(|u| t.allows(Level::Read, &u.name, team(u)))
            }))
}

/// Refuses unless `t` may read the view of every feature reference in
/// `features` (a view it may not read answers as an unknown one). Checked
/// on a lookup body's references before its rows are decoded, and again
/// by [`Session::lookup`].
pub(crate) fn readable_refs<S: AsRef<str>>(
    cat: &Catalog,
    t: &Token,
    features: &[S],
) -> Result<(), store::Error> {
    for r in refs::parse_each(features)? {
        if !cat.view(&r.view).is_some_and(|v| may_read(cat, t, v)) {
            return Err(store::Error::UnknownView(r.view));
        }
    }
    Ok(())
}

/// The answer to a view the token may not read, the same as to an
/// unknown view (`written` is the name as the request wrote it), so that
/// a token cannot learn which views exist.
pub(crate) fn unknown_view(written: &str) -> Failure {
    store_failure(store::Error::UnknownView(written.to_string()))
}

/// Refuses unless `t` has `level` on `view` (written `written` in the
/// request): a view it may not read ([`may_read`]) is `NOT_FOUND` as an
/// unknown view is; a readable view without a `level` grant is
/// `PERMISSION_DENIED`.
pub(crate) fn check_grant(
    cat: &Catalog,
    t: &Token,
    level: Level,
    view: &FeatureView,
    written: &str,
) -> Result<(), Failure> {
    if !may_read(cat, t, view) {
        return Err(unknown_view(written));
    }
    if t.allows(level, &view.name, team(view)) {
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

/// View `name` of `cat` if `t` has `level` on it: `NOT_FOUND` for an
/// unknown or unreadable view, `PERMISSION_DENIED` for a readable one
/// without the grant.
pub(crate) fn granted_view<'c>(
    cat: &'c Catalog,
    t: &Token,
    level: Level,
    name: &str,
) -> Result<&'c FeatureView, Failure> {
    let view = cat.view(name).ok_or_else(|| unknown_view(name))?;
    check_grant(cat, t, level, view, name)?;
    Ok(view)
}

/// Request handling without a network: a store, tokens and limits, and
/// sessions over them. `respond` answers a frame of a session
/// exactly as a server's stream would (the same handlers, checks and
/// error frames); what needs a connection (the handshake, frame headers
/// read from a stream, exports, flow control) is the server's.
pub struct Handler {
    shared: Arc<Shared>,
    /// Keeps the shutdown signal "not shutting down".
    _stop: watch::Sender<bool>,
}

impl Handler {
    pub fn new(store: Store, tokens: Tokens, limits: &Limits) -> Handler {
        let (stop, shutdown) = watch::channel(false);
        Handler {
            shared: Arc::new(Shared::new(store, tokens, limits, shutdown)),
            _stop: stop,
        }
    }

    /// A session for the token `stk_<id>_<secret>`, or `UNAUTHENTICATED`
    /// as a `Hello` with that token would get.
    pub fn session(&self, token: &str) -> Result<Session, Failure> {
        authenticate(&self.shared, token)
    }

    /// Replaces the tokens (as a server does when its token file changes).
    pub fn set_tokens(&self, tokens: Tokens) {
        self.shared.tokens.store(Arc::new(tokens));
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }
}
