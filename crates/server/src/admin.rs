//! `Admin` requests: apply, plan, lineage, snapshot, delete, flush,
//! compact and token admin over a running server. Each handler checks the
//! grant, calls the store (or `strata_offline`, or [`crate::auth`])
//! operation the local CLI calls, and answers the lines the CLI prints
//! ([`p::AdminReport`]). Apply publishes the new catalog at once: lookups
//! in flight keep the catalog they started with.

use crate::auth::{self, Grant, Level, Scope, Token};
use crate::session::{Failure, Session, granted_view, store_failure};
use strata_format::protocol::{self as p, AdminOp, AdminReport, ErrorCode, Kind};
use strata_offline::export::snapshot::{SnapshotRequest, snapshot};
use strata_store::{admin, catalog};

pub(crate) fn admin(
    s: &Session,
    t: &Token,
    req: p::AdminRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let report = match req.op {
        AdminOp::Lineage => lineage(s, t, &req)?,
        op => {
            require_admin_all(t, op)?;
            run(s, &req)?
        }
    };
    report.encode(out);
    Ok(Kind::AdminResult)
}

/// The grant class `op` needs, checked before its body's arguments are
/// decoded: lineage needs a read grant (checked on its view by
/// [`admin`]), every other operation `admin:*`.
pub(crate) fn check_op_grant(t: &Token, op: AdminOp) -> Result<(), Failure> {
    match op {
        AdminOp::Lineage => Ok(()),
        op => require_admin_all(t, op),
    }
}

/// Refuses unless `t` has `admin:*`: these operations change or write
/// the whole store (or files on the server), not one view.
fn require_admin_all(t: &Token, op: AdminOp) -> Result<(), Failure> {
    if t.grants
        .iter()
        .any(|g| g.level == Level::Admin && g.scope == Scope::All)
    {
        return Ok(());
    }
    Err(Failure::new(
        ErrorCode::PermissionDenied,
        format!(
            "token {:?} ({}) has no admin grant on every view (admin:*); {} needs one",
            t.name,
            t.id,
            op.name()
        ),
    ))
}

fn arg<'r>(req: &'r p::AdminRequest, i: usize, what: &str) -> Result<&'r str, Failure> {
    req.args.get(i).map(String::as_str).ok_or_else(|| {
        Failure::new(
            ErrorCode::InvalidArgument,
            format!("{} needs its {what} (argument {})", req.op.name(), i + 1),
        )
    })
}

fn invalid(e: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorCode::InvalidArgument, e.to_string())
}

/// A store error; bad definitions are the request's fault.
fn store_error(e: strata_store::Error) -> Failure {
    match e {
        strata_store::Error::Catalog(c) => invalid(c),
        e => store_failure(e),
    }
}

fn lines(lines: Vec<String>, counts: &[(&str, u64)]) -> AdminReport {
    AdminReport {
        lines,
        counts: counts.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    }
}

/// `registry lineage` of one view: a registry read, so a read grant on
/// the view is enough.
fn lineage(s: &Session, t: &Token, req: &p::AdminRequest) -> Result<AdminReport, Failure> {
    let cat = s.shared.store.catalog();
    let v = granted_view(&cat, t, Level::Read, arg(req, 0, "view")?)?;
    Ok(lines(catalog::lineage::tree(&cat, v), &[]))
}

fn opt_time(req: &p::AdminRequest, i: usize) -> Result<Option<i64>, Failure> {
    match req.args.get(i).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| invalid(format!("snapshot: {t:?} is not a time in µs"))),
    }
}

fn run(s: &Session, req: &p::AdminRequest) -> Result<AdminReport, Failure> {
    let store = &s.shared.store;
    Ok(match req.op {
        AdminOp::Apply | AdminOp::Plan => {
            let defs = catalog::defs::parse(arg(req, 0, "definitions")?).map_err(invalid)?;
            let r = if req.op == AdminOp::Apply {
                if s.shared.shutting_down() {
                    return Err(Failure::new(
                        ErrorCode::ShuttingDown,
                        "server shutting down; nothing was applied",
                    ));
                }
                store.apply(&defs)
            } else {
                store.plan(&defs)
            }
            .map_err(store_error)?;
            let changed = r.changed() as u64;
            lines(
                r.lines(),
                &[("changes", changed), ("applied", u64::from(r.applied))],
            )
        }
        AdminOp::Snapshot => {
            let view = arg(req, 0, "view")?;
            let dir = arg(req, 1, "output directory")?;
            let mut sr = SnapshotRequest::new(view);
            if let Some(f) = opt_time(req, 2)? {
                sr.from = f;
            }
            if let Some(t) = opt_time(req, 3)? {
                sr.to = t;
            }
            sr.known_at = opt_time(req, 4)?;
            if sr.from > sr.to {
                return Err(invalid("snapshot: from is after to"));
            }
            let r = snapshot(store, &sr, std::path::Path::new(dir), &|_, _| {})
                .map_err(|e| Failure::new(ErrorCode::Storage, e.to_string()))?;
            lines(
                vec![r.to_string()],
                &[
                    ("versions", r.versions),
                    ("keys", r.keys),
                    ("files", r.files as u64),
                ],
            )
        }
        AdminOp::Delete => {
            let entity = arg(req, 0, "entity")?;
            store.delete(entity, &req.key).map_err(store_error)?;
            lines(
                vec![admin::deleted_line(&store.catalog(), entity, &req.key)],
                &[],
            )
        }
        AdminOp::Flush => {
            store.flush().map_err(store_error)?;
            lines(vec![format!("flushed {}", store.dir().display())], &[])
        }
        AdminOp::Compact => {
            let m = store.compact().map_err(store_error)?;
            lines(
                vec![admin::compacted_line(&m)],
                &[("inputs", m.inputs as u64)],
            )
        }
        AdminOp::TokenCreate => {
            let name = arg(req, 0, "name")?;
            let grants = req
                .args
                .iter()
                .skip(1)
                .map(|g| Grant::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            if grants.is_empty() {
                return Err(invalid("token create needs at least one grant"));
            }
            let (entry, token) = auth::create(store.dir(), name, &grants)
                .map_err(|e| Failure::new(ErrorCode::Storage, e.to_string()))?;
            lines(
                vec![
                    token,
                    format!(
                        "created token {} ({name}) with {}",
                        entry.id,
                        entry.grants.join(", ")
                    ),
                ],
                &[],
            )
        }
        AdminOp::TokenList => {
            let list = auth::list(store.dir())
                .map_err(|e| Failure::new(ErrorCode::Storage, e.to_string()))?;
            lines(
                list.iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            t.id,
                            t.name,
                            t.grants.join(" "),
                            strata_offline::timestamp::format(t.created)
                        )
                    })
                    .collect(),
                &[("tokens", list.len() as u64)],
            )
        }
        AdminOp::TokenRevoke => {
            let id = arg(req, 0, "token id")?;
            let done = auth::revoke(store.dir(), id)
                .map_err(|e| Failure::new(ErrorCode::Storage, e.to_string()))?;
            if !done {
                return Err(Failure::new(
                    ErrorCode::NotFound,
                    format!("no token {id:?}; `strata token list` shows them"),
                ));
            }
            lines(vec![format!("revoked {id}")], &[])
        }
        AdminOp::Lineage => {
            return Err(Failure::new(
                ErrorCode::Internal,
                "lineage is not a store-wide operation",
            ));
        }
    })
}
