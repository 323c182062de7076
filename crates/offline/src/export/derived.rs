//! The rows of a derived view in an export: for each chunk of rows, the
//! rows of its input views read at each row's `event_timestamp`
//! ([`strata_store::derived::read_inputs`], the reads of an online
//! `as_of`), then every expression evaluated a column at a time over the
//! chunk ([`strata_store::derived::evaluate_columns`], the same operator
//! functions as the online per-row evaluation), encoded as rows of the
//! view's schema so that the join decodes them like any view's versions.
//! Request inputs (the view's own and those of the derived views it reads)
//! come from the entity table's columns of the same name.

use super::aggregate::{Answers, answer_chunks};
use super::keys::Keys;
use super::{Error, KnownAt};
use strata_engine::Engine;
use strata_format::schema::Value;
use strata_store::derived::{Resolved, evaluate_columns, read_inputs};

/// Evaluates derived view `d` for every row with a valid key, on `threads`
/// threads, a column at a time over each chunk of rows; `request[j]`
/// holds request input `j`'s value of every row (in
/// [`Resolved::request`] order). A row none of whose
/// inputs has a version gets no answer (null features).
pub(crate) fn answer(
    engine: &Engine,
    d: &Resolved,
    keys: &Keys,
    times: &[i64],
    request: &[Vec<Value>],
    known_at: KnownAt,
    threads: usize,
) -> Result<Vec<Answers>, Error> {
    let schema = d.view.schema();
    answer_chunks(keys.len(), threads, |chunk, a, buf| {
        // The rows of the chunk with a version of some input.
        let mut rows: Vec<usize> = Vec::with_capacity(chunk.len());
        let mut inputs: Vec<Vec<Vec<Value>>> = d
            .inputs
            .iter()
            .map(|v| vec![Vec::with_capacity(chunk.len()); v.features.len()])
            .collect();
        // Per input, whether each of those rows has a version of it.
        let mut found_in: Vec<Vec<bool>> = d
            .inputs
            .iter()
            .map(|_| Vec::with_capacity(chunk.len()))
            .collect();
        for row in chunk {
            if !keys.is_valid(row) {
                continue;
            }
            let t = times[row];
            let found =
                keys.with_key(row, |key| read_inputs(engine, d, key, t, known_at.bound(t)))?;
            if found.iter().all(|r| r.event_ts.is_none()) {
                continue;
            }
            rows.push(row);
            for ((cols, has), r) in inputs.iter_mut().zip(&mut found_in).zip(found) {
                has.push(r.event_ts.is_some());
                for (col, v) in cols.iter_mut().zip(r.values) {
                    col.push(v);
                }
            }
        }
        let req: Vec<Vec<Value>> = request
            .iter()
            .map(|c| rows.iter().map(|&r| c[r].clone()).collect())
            .collect();
        let out = evaluate_columns(d, &inputs, &found_in, &req, rows.len());
        let mut values = Vec::with_capacity(out.len());
        for (i, &row) in rows.iter().enumerate() {
            values.clear();
            values.extend(out.iter().map(|c| c[i].clone()));
            a.push(row, &schema, &values, buf, || {
                format!("a derived row of {}", d.view.qualified_name())
            })?;
        }
        Ok(())
    })
}
