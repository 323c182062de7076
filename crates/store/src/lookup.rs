//! Online lookups: the features of several views for many entity rows.
//!
//! This is the one implementation of a feature read that every surface
//! calls: [`Store::get`] (one key of one view), the local CLI, the server's
//! `Lookup` request and the Python module. It owns what a read means:
//!
//! - references resolve as an export's do ([`crate::refs`]): `view:feature`,
//!   `view:*`, `view@N:feature`; a feature named twice is an error;
//! - each view takes its join keys from the entity columns of the same
//!   name and type; every column has one value per entity row;
//! - a latest read (no `as_of`) of an export-only view is refused
//!   ([`Error::NotOnline`]);
//! - per row and view: an aggregation view is computed at the read time;
//!   any other view reads `as_of(view, key, t)` (or `latest`) with
//!   `known_at`, and the version's age is checked against the ttl;
//! - rows without a value (`NOT_FOUND`, `OUTSIDE_MAX_AGE`) carry the
//!   feature's declared default, and the status says why; so does a
//!   version that predates a feature with a default (`DEFAULTED`,
//!   [`crate::predated`]);
//! - an entity key longer than [`MAX_ENTITY_KEY_LEN`] is a bad request
//!   ([`Error::BadKey`]): no such key can be stored.
//!
//! The answer is the protocol's [`LookupResponse`] (column-major, the shape
//! of Feast's `GetOnlineFeaturesResponse`), so a local read and a server's
//! answer are the same value.

use strata_format::key::{self, MAX_ENTITY_KEY_LEN};
use strata_format::protocol::{FeatureColumn, KeyColumnValues, LookupRequest, LookupResponse};
use strata_format::schema::Value;

use crate::catalog::FeatureView;
use std::sync::Arc;

use crate::refs::Resolved;
use crate::rows::feature_row_in;
use crate::{Error, FeatureRow, Result, Store, aggregate_row, feature_row};
use strata_engine::KeyBatch;

/// A lookup resolved against the catalog and bound to the request's entity
/// columns; [`Store::run_lookup`] reads it.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    /// Shared with the plan cache ([`Store::resolve_lookup_features`]).
    pub(crate) resolved: Arc<Resolved>,
    /// Per view, the request's entity column of each join key.
    pub(crate) key_cols: Vec<Vec<usize>>,
    pub(crate) rows: usize,
}

impl LookupPlan {
    /// The views the lookup reads, in request order.
    pub fn views(&self) -> impl Iterator<Item = &FeatureView> {
        self.resolved.views.iter().map(|v| &v.view)
    }

    /// Output feature columns (a `view:*` counts each of its features).
    pub fn outputs(&self) -> usize {
        self.resolved.outputs.len()
    }

    /// Entity rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl Store {
    /// Reads `req`: see the module docs.
    pub fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse> {
        let plan = self.plan_lookup(req, |_, _| Ok::<(), Error>(()))?;
        self.run_lookup(req, &plan)
    }

    /// Resolves and checks `req` without reading; `authorize` is asked about
    /// every view, with the catalog the plan was resolved against, before
    /// its key columns are checked (the server refuses the views a token
    /// may not read). The resolution of a feature list
    /// seen before comes from the store's plan cache (for the current
    /// catalog only); the checks and `authorize` run on every request.
    pub fn plan_lookup<E: From<Error>>(
        &self,
        req: &LookupRequest,
        mut authorize: impl FnMut(&crate::catalog::Catalog, &FeatureView) -> std::result::Result<(), E>,
    ) -> std::result::Result<LookupPlan, E> {
        let rows = req.rows();
        if let Some(c) = req.entities.iter().find(|c| c.values.len() != rows) {
            return Err(Error::BadRequest(format!(
                "key column {} has {} value(s), column {} has {rows}: every column needs one value per entity row",
                c.name,
                c.values.len(),
                req.entities.first().map_or("", |c| c.name.as_str()),
            ))
            .into());
        }
        let resolved = self.resolve_lookup_features(&req.features, &mut authorize)?;
        let mut key_cols = Vec::with_capacity(resolved.views.len());
        for vp in &resolved.views {
            let mut cols = Vec::with_capacity(vp.keys.len());
            for k in &vp.keys {
                let Some(i) = req.entities.iter().position(|c| c.name == k.name) else {
                    let have: Vec<&str> = req.entities.iter().map(|c| c.name.as_str()).collect();
                    return Err(Error::BadRequest(format!(
                        "view {} needs the join key column {} ({}); the request has {}",
                        vp.view.qualified_name(),
                        k.name,
                        k.ty,
                        if have.is_empty() {
                            "none".into()
                        } else {
                            have.join(", ")
                        }
                    ))
                    .into());
                };
                let sent = req.entities[i].values.key_type();
                if sent != k.ty {
                    return Err(Error::BadRequest(format!(
                        "join key column {} is {} in view {}, the request sends {sent}",
                        k.name,
                        k.ty,
                        vp.view.qualified_name(),
                    ))
                    .into());
                }
                cols.push(i);
            }
            key_cols.push(cols);
        }
        for c in &req.request {
            if c.values.len() != rows {
                return Err(Error::BadRequest(format!(
                    "request column {} has {} value(s) for {rows} entity row(s): every column needs one value per entity row",
                    c.name,
                    c.values.len()
                ))
                .into());
            }
            let used = resolved
                .views
                .iter()
                .filter_map(|v| v.derived.as_deref())
                .any(|d| d.request_index(&c.name).is_some());
            if !used {
                return Err(Error::BadRequest(format!(
                    "request value {} is not a request input of any derived view the lookup reads",
                    c.name
                ))
                .into());
            }
        }
        if req.as_of.is_none()
            && let Some(v) = resolved.views.iter().find(|v| !v.view.online())
        {
            return Err(Error::NotOnline(v.view.qualified_name()).into());
        }
        Ok(LookupPlan {
            resolved,
            key_cols,
            rows,
        })
    }

    /// Reads a planned lookup (`req` must be the request it was planned
    /// from). Derived views are evaluated last, reusing the rows of their
    /// inputs when the request reads those too.
    pub fn run_lookup(&self, req: &LookupRequest, plan: &LookupPlan) -> Result<LookupResponse> {
        self.run_lookup_within(req, plan, usize::MAX)
    }

    /// [`Store::run_lookup`], refused with [`Error::TooLarge`] as soon as
    /// the rows read so far hold more than `max_bytes` ([`row_bytes`]: the
    /// real sizes of their values), so that the answer's memory is bounded
    /// while it is built, whatever the request asks for.
    pub fn run_lookup_within(
        &self,
        req: &LookupRequest,
        plan: &LookupPlan,
        max_bytes: usize,
    ) -> Result<LookupResponse> {
        let answers = self.read_lookup(req, plan, max_bytes)?;
        Ok(columns(plan, answers, req.with_created_ts))
    }

    /// The rows of every view of a planned lookup, in the plan's view order.
    pub(crate) fn read_lookup(
        &self,
        req: &LookupRequest,
        plan: &LookupPlan,
        max_bytes: usize,
    ) -> Result<Vec<Vec<FeatureRow>>> {
        let now = self.now();
        let views = &plan.resolved.views;
        let mut budget = Budget {
            held: 0,
            max: max_bytes,
        };
        let mut answers: Vec<Option<Vec<FeatureRow>>> = vec![None; views.len()];
        let mut keys: Vec<KeyBatch> = Vec::with_capacity(views.len());
        for (vp, cols) in views.iter().zip(&plan.key_cols) {
            keys.push(self.lookup_keys(req, plan.rows, &vp.view, cols)?);
        }
        for (i, vp) in views.iter().enumerate() {
            if vp.view.is_derived() {
                continue;
            }
            let read = ViewRead::new(req, plan.rows, vp, &keys[i], now);
            answers[i] = Some(self.read_view(&read, &mut budget)?);
        }
        let mut evaluated = Vec::new();
        for (i, vp) in views.iter().enumerate() {
            let Some(d) = vp.derived.as_deref() else {
                continue;
            };
            let request = request_values(req, d, plan.rows)?;
            // Inputs the request does not read themselves are read here.
            let mut own: Vec<Vec<FeatureRow>> = Vec::new();
            let mut from: Vec<Option<usize>> = Vec::with_capacity(d.inputs.len());
            for (k, input) in d.inputs.iter().enumerate() {
                let j = views
                    .iter()
                    .position(|v| v.view.id == input.id && !v.view.is_derived());
                if j.is_none() {
                    // Held until the view is evaluated: counted as the
                    // answer's rows are.
                    own.push(
                        (0..plan.rows)
                            .map(|row| {
                                let ek = keys[i].get(row);
                                let r = self.read_leaf(d, k, ek, req.as_of, req.known_at, now)?;
                                budget.add(&r)?;
                                Ok(r)
                            })
                            .collect::<Result<_>>()?,
                    );
                }
                from.push(j);
            }
            let mut own_iter = own.iter();
            let input_rows: Vec<&Vec<FeatureRow>> = from
                .iter()
                .filter_map(|j| match j {
                    Some(j) => answers[*j].as_ref(),
                    None => own_iter.next(),
                })
                .collect();
            let mut row_request = vec![Value::Null; request.len()];
            let mut inputs: Vec<&FeatureRow> = Vec::with_capacity(input_rows.len());
            let rows = (0..plan.rows)
                .map(|row| {
                    inputs.clear();
                    inputs.extend(input_rows.iter().map(|r| &r[row]));
                    for (slot, col) in row_request.iter_mut().zip(&request) {
                        *slot = col[row].clone();
                    }
                    let r = crate::derived::evaluate_row(d, &inputs, &row_request);
                    budget.add(&r)?;
                    Ok(r)
                })
                .collect::<Result<Vec<_>>>()?;
            evaluated.push((i, rows));
        }
        for (i, rows) in evaluated {
            answers[i] = Some(rows);
        }
        answers
            .into_iter()
            .map(|a| a.ok_or_else(|| Error::Internal("a lookup view was not read".into())))
            .collect::<Result<Vec<_>>>()
    }

    /// The encoded keys of `view` for every entity row of `req`.
    pub(crate) fn lookup_keys(
        &self,
        req: &LookupRequest,
        rows: usize,
        view: &FeatureView,
        cols: &[usize],
    ) -> Result<KeyBatch> {
        let mut keys = KeyBatch::new();
        for row in 0..rows {
            keys.push_with(|ek| {
                for &c in cols {
                    match &req.entities[c].values {
                        KeyColumnValues::Int64(x) => {
                            ek.extend_from_slice(&key::encode_int_key(x[row]))
                        }
                        KeyColumnValues::String(x) => key::encode_key_string(x[row].as_bytes(), ek),
                    }
                }
            });
            let len = keys.key_len(row);
            if len > MAX_ENTITY_KEY_LEN {
                return Err(Error::BadKey {
                    what: view.qualified_name(),
                    reason: format!(
                        "entity row {}: the key is {len} bytes encoded, longer than {MAX_ENTITY_KEY_LEN}: no such key can be stored",
                        row + 1,
                    ),
                });
            }
        }
        Ok(keys)
    }

    /// The rows of one stored or aggregation view for every key.
    pub(crate) fn read_view(&self, r: &ViewRead, budget: &mut Budget) -> Result<Vec<FeatureRow>> {
        let (req, n, vp, keys, now) = (r.req, r.rows, r.vp, r.keys, r.now);
        let mut rows = Vec::with_capacity(n);
        let at = req.as_of.unwrap_or(now);
        if vp.view.is_aggregation() {
            let agg = vp
                .aggregation
                .as_deref()
                .ok_or_else(|| unresolved(&vp.view))?;
            for row in 0..n {
                let values = crate::aggregate::read::read(
                    self.engine(),
                    agg,
                    keys.get(row),
                    at,
                    req.known_at,
                )?;
                let r = aggregate_row(&vp.view, values, at);
                budget.add(&r)?;
                rows.push(r);
            }
            return Ok(rows);
        }
        // All keys of the view at once (the engine overlaps their cache
        // misses), decoded as they come.
        let t = req.as_of.unwrap_or(key::TOMBSTONE_TS - 1);
        let mut failed = None;
        self.engine().as_of_many(
            vp.view.id,
            keys,
            t,
            req.known_at,
            |_, found| match feature_row_in(&vp.view, &vp.schema, &vp.declared, found, at) {
                Ok(r) if failed.is_none() => match budget.add(&r) {
                    Ok(()) => rows.push(r),
                    // The rows read so far are dropped; the rest are read
                    // but not kept.
                    Err(e) => {
                        rows = Vec::new();
                        failed = Some(e);
                    }
                },
                Ok(_) => {}
                Err(e) => failed = failed.take().or(Some(e.into())),
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(rows)
    }

    /// Reads leaf input `k` of derived view `d` for one encoded key, as
    /// [`Store::read_row`] does, an aggregation leaf with the definition `d`
    /// was resolved with (not the store's current one, which an `apply`
    /// may have replaced since the lookup was planned).
    fn read_leaf(
        &self,
        d: &crate::derived::Resolved,
        k: usize,
        ek: &[u8],
        as_of: Option<i64>,
        known_at: Option<i64>,
        now: i64,
    ) -> Result<FeatureRow> {
        let view = &d.inputs[k];
        match d.aggregations.get(k).and_then(Option::as_deref) {
            Some(agg) => {
                let at = as_of.unwrap_or(now);
                let values = crate::aggregate::read::read(self.engine(), agg, ek, at, known_at)?;
                Ok(aggregate_row(view, values, at))
            }
            None => self.read_row(view, ek, as_of, known_at, now),
        }
    }

    /// Reads one encoded key of `view` as of `as_of` (latest if `None`,
    /// its age measured at `now`), ignoring versions created after
    /// `known_at`. The one per-key read of the store.
    pub(crate) fn read_row(
        &self,
        view: &FeatureView,
        ek: &[u8],
        as_of: Option<i64>,
        known_at: Option<i64>,
        now: i64,
    ) -> Result<FeatureRow> {
        let at = as_of.unwrap_or(now);
        if view.is_derived() {
            let index = self.derived();
            let d = index.view(view.id).ok_or_else(|| unresolved(view))?;
            let inputs = (0..d.inputs.len())
                .map(|k| self.read_leaf(d, k, ek, as_of, known_at, now))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&FeatureRow> = inputs.iter().collect();
            let request = vec![Value::Null; d.spec.request.len()];
            return Ok(crate::derived::evaluate_row(d, &refs, &request));
        }
        if view.is_aggregation() {
            let index = self.aggregations();
            let r = index.view(view.id).ok_or_else(|| unresolved(view))?;
            let values = crate::aggregate::read::read(self.engine(), r, ek, at, known_at)?;
            return Ok(aggregate_row(view, values, at));
        }
        let found = match as_of {
            Some(t) => self.engine().as_of(view.id, ek, t, known_at)?,
            None => self.engine().latest(view.id, ek, known_at)?,
        };
        Ok(feature_row(view, found.as_ref(), at)?)
    }
}

/// The memory a row read by a lookup holds: per value its inline size and
/// the bytes it owns, per feature its status, and the row's own fields.
pub fn row_bytes(r: &FeatureRow) -> usize {
    r.values.iter().map(value_bytes).sum::<usize>()
        + r.statuses.len()
        + std::mem::size_of::<FeatureRow>()
}

/// A value's inline size and the bytes it owns (its part of
/// [`row_bytes`]).
pub(crate) fn value_bytes(v: &Value) -> usize {
    const STRING: usize = std::mem::size_of::<String>();
    std::mem::size_of::<Value>()
        + match v {
            Value::String(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::ListFloat32(l) => l.len() * 4,
            Value::ListInt64(l) => l.len() * 8,
            Value::ListFloat64(l) => l.len() * 8,
            Value::ListString(l) => l.iter().map(|s| STRING + s.len()).sum(),
            Value::MapStringInt64(m) => m.iter().map(|(k, _)| STRING + 8 + k.len()).sum(),
            Value::MapStringFloat64(m) => m.iter().map(|(k, _)| STRING + 8 + k.len()).sum(),
            _ => 0,
        }
}

/// One view's read in a lookup: the request, its number of rows, the
/// view's plan, its keys (one per row) and the time ages are measured at.
#[derive(Clone, Copy)]
pub(crate) struct ViewRead<'a> {
    pub(crate) req: &'a LookupRequest,
    pub(crate) rows: usize,
    pub(crate) vp: &'a crate::refs::ViewPlan,
    pub(crate) keys: &'a KeyBatch,
    pub(crate) now: i64,
}

impl<'a> ViewRead<'a> {
    pub(crate) fn new(
        req: &'a LookupRequest,
        rows: usize,
        vp: &'a crate::refs::ViewPlan,
        keys: &'a KeyBatch,
        now: i64,
    ) -> Self {
        Self {
            req,
            rows,
            vp,
            keys,
            now,
        }
    }
}

/// What the rows of a lookup hold so far, against its limit.
pub(crate) struct Budget {
    pub(crate) held: usize,
    pub(crate) max: usize,
}

impl Budget {
    /// Counts `r`; refused once the rows hold more than the limit.
    fn add(&mut self, r: &FeatureRow) -> Result<()> {
        self.add_bytes(row_bytes(r))
    }

    /// Counts `bytes` of rows; refused once they hold more than the limit.
    pub(crate) fn add_bytes(&mut self, bytes: usize) -> Result<()> {
        self.held = self.held.saturating_add(bytes);
        if self.held > self.max {
            return Err(Error::TooLarge(format!(
                "the answer holds more than {} bytes after {} bytes of rows were read; ask for fewer keys or features",
                self.max, self.held
            )));
        }
        Ok(())
    }
}

/// A computed view the store's index does not hold: a bug.
fn unresolved(view: &FeatureView) -> Error {
    Error::Internal(format!(
        "computed view {} does not resolve",
        view.qualified_name()
    ))
}

/// The request values of derived view `d`'s inputs, one column each (in
/// [`crate::derived::Resolved::request`]'s order: its own, then those of
/// the derived views it reads), parsed from the request's text; an input
/// the request does not send is null.
fn request_values(
    req: &LookupRequest,
    d: &crate::derived::Resolved,
    rows: usize,
) -> Result<Vec<Vec<Value>>> {
    d.request()
        .enumerate()
        .map(|(i, (name, ty))| {
            let Some(col) = req.request.iter().find(|c| c.name == name) else {
                return Ok(vec![Value::Null; rows]);
            };
            col.values
                .iter()
                .enumerate()
                .map(|(row, v)| match v {
                    None => Ok(Value::Null),
                    Some(text) => crate::derived::parse_request_value(ty, text).ok_or_else(|| {
                        Error::BadRequest(format!(
                            "request value {name} of entity row {}: {text:?} is not a {ty} (view {})",
                            row + 1,
                            d.request_declared_by(i)
                        ))
                    }),
                })
                .collect()
        })
        .collect()
}

/// Turns per-view rows into the answer's feature columns, in request order.
fn columns(
    plan: &LookupPlan,
    mut answers: Vec<Vec<FeatureRow>>,
    with_created: bool,
) -> LookupResponse {
    let outputs = &plan.resolved.outputs;
    let mut features = Vec::with_capacity(outputs.len());
    for o in outputs {
        let vp = &plan.resolved.views[o.view];
        let rows = &mut answers[o.view];
        let field = o.field;
        // Each (view, field) is named once (refs refuses duplicates), so
        // its values move out of the rows.
        let values: Vec<Value> = rows
            .iter_mut()
            .map(|r| std::mem::replace(&mut r.values[field], Value::Null))
            .collect();
        features.push(FeatureColumn {
            name: o.name.clone(),
            ty: o.ty,
            statuses: rows.iter().map(|r| r.statuses[field]).collect(),
            event_ts: rows.iter().map(|r| r.event_ts).collect(),
            created_ts: if with_created {
                rows.iter().map(|r| r.created_ts).collect()
            } else {
                Vec::new()
            },
            values,
            default: vp.defaults[field].clone(),
        });
    }
    LookupResponse {
        rows: plan.rows,
        features,
    }
}
