//! The `Freshness` request: [`strata_store::freshness::report_of`] over the views
//! the token may read, measured at the request's time or the store's clock.

use crate::auth::Token;
use crate::session::{Failure, Session, may_read};
use strata_format::protocol::{ErrorCode, FreshnessRequest, Kind};

pub(crate) fn freshness(
    s: &Session,
    t: &Token,
    req: FreshnessRequest,
    out: &mut Vec<u8>,
) -> Result<Kind, Failure> {
    let store = &s.shared.store;
    let now = req.at.unwrap_or_else(|| store.engine().clock().now());
    let cat = store.catalog();
    let report = strata_store::freshness::report_of(store, now, |v| may_read(&cat, t, v));
    if report.views.is_empty() && !store.catalog().views.is_empty() {
        return Err(Failure::new(
            ErrorCode::PermissionDenied,
            format!(
                "token {:?} ({}) may read no feature view; freshness needs a read grant",
                t.name, t.id
            ),
        ));
    }
    report.encode(out);
    Ok(Kind::FreshnessResult)
}
