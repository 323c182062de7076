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

use tokio::sync::watch;

use crate::auth::{Level, Token, Tokens};
use crate::limits::Limits;
use crate::state::{Counters, Shared};
use strata_format::protocol::{
    self as p, ErrorBody, ErrorCode, Kind, LookupRequest, LookupResponse, WireError,
};
use strata_store::catalog::{Catalog, FeatureView};
use strata_store::lookup::LookupPlan;
use strata_store::refs::RefError;
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
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, token_id: String) -> Session {
        Session { shared, token_id }
    }

    /// The id of the session's token (`stk_<id>_...`).
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// The store's lookup (the one feature read), with the token's read
    /// grant checked on every view it reads before anything is read;
    /// counted in the `lookups` and `keys_looked_up` counters.
    pub(crate) fn lookup<E: From<store::Error> + From<Failure>>(
        &self,
        t: &Token,
        req: &LookupRequest,
    ) -> Result<(LookupPlan, LookupResponse), E> {
        let store = &self.shared.store;
        let plan = store.plan_lookup(req, |v| check_grant(t, Level::Read, v).map_err(E::from))?;
        let resp = store.run_lookup(req, &plan)?;
        let c = &self.shared.counters;
        Counters::add(&c.lookups, 1);
        Counters::add(
            &c.keys_looked_up,
            (plan.rows() * plan.views().count()) as u64,
        );
        Ok((plan, resp))
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

/// Refuses with `PERMISSION_DENIED` unless `t` has `level` on `view`.
pub(crate) fn check_grant(t: &Token, level: Level, view: &FeatureView) -> Result<(), Failure> {
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
/// unknown view, `PERMISSION_DENIED` without the grant.
pub(crate) fn granted_view<'c>(
    cat: &'c Catalog,
    t: &Token,
    level: Level,
    name: &str,
) -> Result<&'c FeatureView, Failure> {
    let view = cat.view(name).ok_or_else(|| {
        Failure::new(
            ErrorCode::NotFound,
            format!("unknown feature view {name:?}"),
        )
    })?;
    check_grant(t, level, view)?;
    Ok(view)
}

/// Whether `t` may read `view` (listings show only those).
pub(crate) fn may_read(t: &Token, view: &FeatureView) -> bool {
    t.allows(Level::Read, &view.name, team(view))
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
