//! The rows of a derived view in an export: for each chunk of rows, the
//! rows of its input views read at each row's `event_timestamp`
//! ([`strata_store::derived::read_inputs`], the reads of an online
//! `as_of`), then every expression evaluated a column at a time over the
//! chunk ([`strata_store::derived::evaluate_columns`], the same operator
//! functions as the online per-row evaluation), encoded as rows of the
//! view's schema so that the join decodes them like any view's versions.
//! Request inputs come from the entity table's columns of the same name.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::aggregate::Answers;
use super::keys::Keys;
use super::{Error, KnownAt};
use strata_engine::Engine;
use strata_format::row::encode_row;
use strata_format::schema::Value;
use strata_store::derived::{Resolved, evaluate_columns, read_inputs};

/// Rows per column-at-a-time evaluation.
const CHUNK: usize = 1024;

/// Evaluates derived view `d` for every row with a valid key, on `threads`
/// threads; `request[j]` holds request input `j`'s value of every row. A
/// row none of whose inputs has a version gets no answer (null features).
pub(crate) fn answer(
    engine: &Engine,
    d: &Resolved,
    keys: &Keys,
    times: &[i64],
    request: &[Vec<Value>],
    known_at: KnownAt,
    threads: usize,
) -> Result<Vec<Answers>, Error> {
    let next = AtomicUsize::new(0);
    let schema = d.view.schema();
    let work = || -> Result<Answers, Error> {
        let mut a = Answers::default();
        let mut buf = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= keys.len() {
                return Ok(a);
            }
            let end = (start + CHUNK).min(keys.len());
            // The rows of the chunk with a version of some input.
            let mut rows: Vec<usize> = Vec::with_capacity(end - start);
            let mut inputs: Vec<Vec<Vec<Value>>> = d
                .inputs
                .iter()
                .map(|v| vec![Vec::with_capacity(end - start); v.features.len()])
                .collect();
            for (row, &t) in times.iter().enumerate().take(end).skip(start) {
                if !keys.is_valid(row) {
                    continue;
                }
                let known = match known_at {
                    KnownAt::Unbounded => None,
                    KnownAt::At(k) => Some(k),
                    KnownAt::EventTime => Some(t),
                };
                let found = keys.with_key(row, |key| read_inputs(engine, d, key, t, known))?;
                if found.iter().all(|r| r.event_ts.is_none()) {
                    continue;
                }
                rows.push(row);
                for (cols, r) in inputs.iter_mut().zip(found) {
                    for (col, v) in cols.iter_mut().zip(r.values) {
                        col.push(v);
                    }
                }
            }
            let req: Vec<Vec<Value>> = request
                .iter()
                .map(|c| rows.iter().map(|&r| c[r].clone()).collect())
                .collect();
            let out = evaluate_columns(d, &inputs, &req, rows.len());
            let mut values = Vec::with_capacity(out.len());
            for (i, &row) in rows.iter().enumerate() {
                values.clear();
                values.extend(out.iter().map(|c| c[i].clone()));
                encode_row(&schema, &values, &mut buf).map_err(|e| {
                    Error::Internal(format!(
                        "encoding a derived row of {}: {e}",
                        d.view.qualified_name()
                    ))
                })?;
                a.out
                    .push((row as u32, a.arena.len() as u64, buf.len() as u32));
                a.arena.extend_from_slice(&buf);
            }
        }
    };
    if threads <= 1 {
        return Ok(vec![work()?]);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
