//! A lookup's answer encoded straight from the rows read: the server's
//! `Lookup` ([`Store::run_lookup_encoded`]). The same bytes as
//! `run_lookup_within(..)?.encode(out)`, without the [`LookupResponse`]
//! (its columns, names and defaults) and, for stored views, without a
//! [`FeatureRow`] per key: each view's rows are decoded into one flat
//! table ([`FlatRows`]: a few buffers per view, whatever the number of
//! keys), which the columns are encoded from. Lookups that read a derived
//! view take the rows of [`Store::read_lookup`] (its evaluation needs
//! them), as do aggregation views.
//!
//! [`LookupResponse`]: strata_format::protocol::LookupResponse

use strata_format::key;
use strata_format::protocol::{LookupRequest, put_feature_column, put_lookup_header};
use strata_format::schema::Value;

use crate::lookup::{Budget, LookupPlan, ViewRead, value_bytes};
use crate::rows::cells_in;
use crate::{Error, FeatureRow, Result, Status, Store};

/// One stored view's rows, flat: per row its version's event and created
/// times, per row and feature (row-major) a status and a value, as
/// [`FeatureRow`]s would hold them.
#[derive(Default)]
struct FlatRows {
    features: usize,
    times: Vec<(Option<i64>, Option<i64>)>,
    cells: Vec<(Status, Value)>,
}

/// The rows of one view of the answer.
enum ViewRows {
    Rows(Vec<FeatureRow>),
    Flat(FlatRows),
}

impl Store {
    /// [`Store::run_lookup_within`], with the answer's `LookupResult` body
    /// appended to `out` straight from the rows read, without building the
    /// [`strata_format::protocol::LookupResponse`]: the same bytes as
    /// `run_lookup_within(..)?.encode(out)`. The server answers with it.
    pub fn run_lookup_encoded(
        &self,
        req: &LookupRequest,
        plan: &LookupPlan,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let views = &plan.resolved.views;
        let answers: Vec<ViewRows> = if views.iter().any(|v| v.view.is_derived()) {
            self.read_lookup(req, plan, max_bytes)?
                .into_iter()
                .map(ViewRows::Rows)
                .collect()
        } else {
            let now = self.now();
            let mut budget = Budget {
                held: 0,
                max: max_bytes,
            };
            // Every view's keys are checked before any is read (the error
            // `read_lookup` answers for a bad key).
            let keys = views
                .iter()
                .zip(&plan.key_cols)
                .map(|(vp, cols)| self.lookup_keys(req, plan.rows, &vp.view, cols))
                .collect::<Result<Vec<_>>>()?;
            let mut answers = Vec::with_capacity(views.len());
            for (vp, keys) in views.iter().zip(&keys) {
                let read = ViewRead::new(req, plan.rows, vp, keys, now);
                answers.push(match vp.view.is_aggregation() {
                    true => ViewRows::Rows(self.read_view(&read, &mut budget)?),
                    false => ViewRows::Flat(self.read_flat(&read, &mut budget)?),
                });
            }
            answers
        };
        encode_columns(plan, &answers, req.with_created_ts, out)
    }

    /// [`Store::read_view`] of a stored view, into one flat table: the
    /// same cells, statuses, times and budget.
    fn read_flat(&self, r: &ViewRead, budget: &mut Budget) -> Result<FlatRows> {
        let (req, n, vp, keys, now) = (r.req, r.rows, r.vp, r.keys, r.now);
        let features = vp.view.features.len();
        let mut rows = FlatRows {
            features,
            times: Vec::with_capacity(n),
            cells: Vec::with_capacity(n * features),
        };
        let at = req.as_of.unwrap_or(now);
        let t = req.as_of.unwrap_or(key::TOMBSTONE_TS - 1);
        let mut failed: Option<Error> = None;
        self.engine()
            .as_of_many(vp.view.id, keys, t, req.known_at, |_, found| {
                if failed.is_some() {
                    // The rest are read but neither decoded nor kept
                    // (a decoding error of one of them is not reported).
                    return;
                }
                let from = rows.cells.len();
                let cells = cells_in(&vp.view, &vp.schema, &vp.declared, found, at, |v, s| {
                    rows.cells.push((s, v));
                });
                let bytes = rows.cells[from..]
                    .iter()
                    .map(|(_, v)| value_bytes(v))
                    .sum::<usize>()
                    + features
                    + std::mem::size_of::<FeatureRow>();
                match cells.map_err(Error::from).and_then(|times| {
                    budget.add_bytes(bytes)?;
                    Ok(times)
                }) {
                    Ok(times) => rows.times.push(times),
                    Err(e) => {
                        rows = FlatRows::default();
                        failed = Some(e);
                    }
                }
            })?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(rows)
    }
}

/// Appends the `LookupResult` body of per-view rows to `out`, column by
/// column in request order, as `columns` (in `lookup`) and
/// [`strata_format::protocol::LookupResponse::encode`] would, reading the
/// values where the rows hold them.
fn encode_columns(
    plan: &LookupPlan,
    answers: &[ViewRows],
    with_created: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let outputs = &plan.resolved.outputs;
    put_lookup_header(out, plan.rows, outputs.len());
    for o in outputs {
        let vp = &plan.resolved.views[o.view];
        let field = o.field;
        let default = vp.defaults[field].as_ref();
        let put = match &answers[o.view] {
            ViewRows::Rows(rows) => {
                // A column without rows has no created times to send.
                let with_created = with_created && !rows.is_empty();
                let cells = rows.iter().map(|r| {
                    let created = if with_created { r.created_ts } else { None };
                    (r.statuses[field], r.event_ts, created, &r.values[field])
                });
                put_feature_column(out, &o.name, o.ty, with_created, default, cells)
            }
            ViewRows::Flat(rows) => {
                let with_created = with_created && !rows.times.is_empty();
                let n = rows.features;
                let cells = rows.times.iter().enumerate().map(|(r, &(event, created))| {
                    let created = if with_created { created } else { None };
                    let (status, value) = &rows.cells[r * n + field];
                    (*status, event, created, value)
                });
                put_feature_column(out, &o.name, o.ty, with_created, default, cells)
            }
        };
        put.map_err(|e| Error::Internal(format!("encoding the lookup: {e}")))?;
    }
    Ok(())
}
