//! Registry requests: list, describe, search. What a listing, a
//! description and a search mean is [`strata_store::registry`]'s (the CLI
//! shows the same values); a token sees every entity and the views it may
//! read.

use crate::auth::{Level, Token};
use crate::session::{Failure, Session, granted_view, may_read};
use strata_format::protocol::{self as p, ErrorCode, Kind};
use strata_store::catalog::stats;
use strata_store::registry;

pub(crate) fn list(s: &Session, t: &Token, out: &mut Vec<u8>) -> Result<Kind, Failure> {
    let cat = s.shared.store.catalog();
    registry::list(&cat, |v| may_read(&cat, t, v)).encode(out);
    Ok(Kind::RegistryListResult)
}

pub(crate) fn describe(
    s: &Session,
    t: &Token,
    name: &str,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let cat = s.shared.store.catalog();
    let v = granted_view(&cat, t, Level::Read, name)?;
    // The last ingest's statistics, as `strata registry describe` shows them.
    let last = stats::load(s.shared.store.dir())
        .map_err(|e| Failure::new(ErrorCode::Storage, e.to_string()))?
        .remove(&v.id);
    registry::describe(&cat, v, last.as_ref()).encode(out);
    Ok(Kind::DescribeResult)
}

pub(crate) fn search(
    s: &Session,
    t: &Token,
    req: p::SearchRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let cat = s.shared.store.catalog();
    let hits = registry::search(&cat, &req.query, req.limit, |v| may_read(&cat, t, v))
        .map_err(|e| Failure::new(ErrorCode::InvalidArgument, e.to_string()))?;
    p::encode_hits(out, &hits);
    Ok(Kind::SearchResult)
}
