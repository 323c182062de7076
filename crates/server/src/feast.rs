//! The Feast-compatible HTTP endpoint of `strata serve --http ADDR`: the
//! two routes of Feast's Python feature server that serving clients use,
//! behind the server's tokens.
//!
//! - `POST /get-online-features`: the JSON body ([`crate::feast_json`]) is
//!   translated to a latest-value [`LookupRequest`], answered by the same
//!   store lookup as the QUIC `Lookup` (the session's read grant checked on
//!   every view), and translated back to Feast's JSON.
//! - `GET /health`: `200` with an empty body while serving, `503` once
//!   shutdown has begun. Like Feast's, it needs no token (load balancers
//!   probe it); it tells nothing but liveness.
//!
//! Authentication is `Authorization: Bearer stk_...`, the tokens of the
//! QUIC server (re-read when the token file changes). Errors follow Feast:
//! FastAPI's `{"detail": "..."}` for 401, 404 (no such route), 405, 400
//! and 422 (a body that is not JSON, or not of the request's shape), and
//! for errors Feast raises as a `FeastError` (unknown feature view or
//! service: 404; permission: 403) its error detail, a JSON string holding
//! `{"module", "class", "message"}`, which Feast's client turns back into
//! the exception. docs/PROTOCOL.md's "HTTP endpoint" section lists them.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::Token;
use crate::feast_json::{self as fj, BadBody, Collision};
use crate::http::{Request, Response};
use crate::session::{Failure, Session, authenticate, store_failure};
use crate::state::{Counters, Shared};
use strata_format::protocol::{ErrorCode, Kind};
use strata_store::Error as StoreError;
use strata_store::refs::RefError;

/// Answers one request.
pub(crate) fn route(shared: &Arc<Shared>, req: Request) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET" | "HEAD", "/health") => {
            let mut r = if shared.shutting_down() {
                Response::text(503, "")
            } else {
                Response::text(200, "")
            };
            r.head_only = req.method == "HEAD";
            r
        }
        ("POST", "/get-online-features") => {
            // Counted and timed as a QUIC lookup is.
            let started = Instant::now();
            let r = match session(shared, &req) {
                Ok(s) => online_features(&s, &req.body),
                Err(r) => r,
            };
            let c = &shared.counters;
            Counters::add(&c.requests, 1);
            if r.status != 200 {
                Counters::add(&c.errors, 1);
            }
            shared
                .metrics
                .observe(Some(Kind::Lookup), started.elapsed());
            r
        }
        (_, path) if path == "/health" || path == "/get-online-features" => {
            let mut r = detail(405, "Method Not Allowed");
            let allow = if path == "/health" { "GET" } else { "POST" };
            r.headers.push(format!("Allow: {allow}"));
            r
        }
        _ => detail(404, "Not Found"),
    }
}

/// FastAPI's error body: `{"detail": message}`.
fn detail(status: u16, message: &str) -> Response {
    let mut body = String::from("{\"detail\":");
    fj::push_str(&mut body, message);
    body.push('}');
    Response::json(status, body.into_bytes())
}

/// A Feast error as Feast's server answers it: the body is a JSON string
/// whose text is the JSON object `{"module", "class", "message"}`.
fn feast_error(status: u16, class: &str, message: &str) -> Response {
    let mut inner = String::from("{\"module\": \"feast.errors\", \"class\": ");
    fj::push_str(&mut inner, class);
    inner.push_str(", \"message\": ");
    fj::push_str(&mut inner, message);
    inner.push('}');
    let mut body = String::new();
    fj::push_str(&mut body, &inner);
    Response::json(status, body.into_bytes())
}

fn unauthorized(message: &str) -> Response {
    let mut r = detail(401, message);
    r.headers.push("WWW-Authenticate: Bearer".into());
    r
}

/// Who sends a request's body, judged on its head before the body is
/// read: a lookup's body is its bearer token's (a `401` without a valid
/// one, sent before the body is read); other routes take no body.
pub(crate) fn body_session(
    shared: &Arc<Shared>,
    req: &Request,
) -> Result<Option<Session>, Response> {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/get-online-features") => session(shared, req).map(Some).inspect_err(|_| {
            let c = &shared.counters;
            Counters::add(&c.requests, 1);
            Counters::add(&c.errors, 1);
        }),
        _ => Ok(None),
    }
}

/// The session of the request's bearer token.
fn session(shared: &Arc<Shared>, req: &Request) -> Result<Session, Response> {
    let token = req.header("authorization").and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    });
    let Some(token) = token else {
        return Err(unauthorized("Missing authentication token"));
    };
    authenticate(shared, token).map_err(|_| unauthorized("Invalid or expired access token"))
}

/// Why a lookup was refused.
enum Refused {
    Store(StoreError),
    Session(Failure),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        Refused::Store(e)
    }
}

impl From<Failure> for Refused {
    fn from(f: Failure) -> Refused {
        Refused::Session(f)
    }
}

fn refused(r: Refused) -> Response {
    match r {
        Refused::Store(StoreError::UnknownView(view))
        | Refused::Store(StoreError::Request(RefError::UnknownView { view, .. })) => feast_error(
            404,
            "FeatureViewNotFoundException",
            &format!("Feature view {view} does not exist"),
        ),
        Refused::Store(StoreError::UnknownEntity(e)) => feast_error(
            404,
            "EntityNotFoundException",
            &format!("Entity {e} does not exist"),
        ),
        Refused::Store(e @ StoreError::Request(RefError::UnknownFeature { .. })) => {
            feast_error(404, "FeastObjectNotFoundException", &e.to_string())
        }
        Refused::Store(e) => failure(store_failure(e)),
        Refused::Session(f) => failure(f),
    }
}

fn failure(f: Failure) -> Response {
    match f.code {
        ErrorCode::PermissionDenied => feast_error(
            403,
            "FeastPermissionError",
            &format!("Permission error:\n{}", f.message),
        ),
        ErrorCode::Unauthenticated => unauthorized("Invalid or expired access token"),
        ErrorCode::NotFound => feast_error(404, "FeastObjectNotFoundException", &f.message),
        ErrorCode::InvalidArgument | ErrorCode::LimitExceeded | ErrorCode::Malformed => {
            detail(400, &f.message)
        }
        ErrorCode::ShuttingDown => detail(503, &f.message),
        // Feast answers other exceptions 500 with their text as a JSON string.
        _ => {
            let mut body = String::new();
            fj::push_str(&mut body, &f.message);
            Response::json(500, body.into_bytes())
        }
    }
}

fn collision(c: Collision) -> Response {
    // Feast's FeatureNameCollisionError, with its wording.
    let names: Vec<String> = c
        .refs
        .iter()
        .map(|r| match r.split_once(':') {
            Some((v, n)) if c.full_feature_names => format!("{v}__{n}"),
            Some((_, n)) => n.to_string(),
            None => r.clone(),
        })
        .fold(Vec::new(), |mut acc, n| {
            if !acc.contains(&n) {
                acc.push(n);
            }
            acc
        });
    let fix = if c.full_feature_names {
        "To resolve this collision, please ensure that the feature views or their own features have different names."
    } else {
        "To resolve this collision, either use the full feature name by setting 'full_feature_names=True', or ensure that the features in question have different names."
    };
    feast_error(
        400,
        "FeatureNameCollisionError",
        &format!(
            "Duplicate features named {} found.\n{fix}",
            names.join(", ")
        ),
    )
}

/// `POST /get-online-features`.
fn online_features(s: &Session, body: &[u8]) -> Response {
    let p = match fj::parse(body) {
        Ok(p) => p,
        Err(BadBody::Syntax(m)) => return detail(400, &m),
        Err(BadBody::Shape(m)) => return detail(422, &m),
        Err(BadBody::FeatureService(name)) => {
            return feast_error(
                404,
                "FeatureServiceNotFoundException",
                &format!("Feature service {name} does not exist"),
            );
        }
    };
    let limits = &s.shared.limits;
    let rows = p.lookup.rows();
    if rows > limits.max_keys_per_lookup as usize {
        return detail(
            400,
            &format!(
                "keys per lookup: {rows} exceeds the limit of {}",
                limits.max_keys_per_lookup
            ),
        );
    }
    if p.lookup.features.len() > limits.max_features_per_request as usize {
        return detail(
            400,
            &format!(
                "features per request: {} exceeds the limit of {}",
                p.lookup.features.len(),
                limits.max_features_per_request
            ),
        );
    }
    let token: Result<Token, Failure> = s.with_token(|t| Ok(t.clone()));
    let t = match token {
        Ok(t) => t,
        Err(f) => return failure(f),
    };
    let (plan, resp) = match s.lookup::<Refused>(&t, &p.lookup) {
        Ok(x) => x,
        Err(r) => return refused(r),
    };
    let cat = s.shared.store.catalog();
    let join_keys: Vec<String> = plan
        .views()
        .flat_map(|v| cat.key_columns(v))
        .map(|k| k.name)
        .collect();
    match fj::answer(&p.lookup, &resp, &join_keys, p.full_feature_names) {
        Ok(json) => Response::json(200, json.into_bytes()),
        Err(c) => collision(c),
    }
}
