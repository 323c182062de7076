//! The rows of an aggregation view in an export: each row's windows read at
//! its `event_timestamp` ([`strata_store::aggregate::read::read`], the same
//! computation as online reads), encoded as a row of the view's schema so
//! that the rest of the join decodes it like any other view's version.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::keys::Keys;
use super::{Error, KnownAt};
use strata_engine::Engine;
use strata_format::row::encode_row;
use strata_format::schema::{FeatureType, Value};
use strata_store::aggregate::Resolved;

/// One thread's answers: encoded rows in `arena`, and per answered row
/// `(row, offset, length)`.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    pub arena: Vec<u8>,
    pub out: Vec<(u32, u64, u32)>,
}

impl Answers {
    /// Encodes `values` as a row of `schema` into the arena, as the answer
    /// of `row`; `what` names the view in the error of a value that does
    /// not fit.
    pub fn push(
        &mut self,
        row: usize,
        schema: &[FeatureType],
        values: &[Value],
        buf: &mut Vec<u8>,
        what: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        encode_row(schema, values, buf)
            .map_err(|e| Error::Internal(format!("encoding {}: {e}", what())))?;
        self.out
            .push((row as u32, self.arena.len() as u64, buf.len() as u32));
        self.arena.extend_from_slice(buf);
        Ok(())
    }
}

/// Rows per chunk that a thread takes at a time.
pub(crate) const CHUNK: usize = 1024;

/// Runs `chunk(rows, answers, buf)` over every chunk of [`CHUNK`] of the
/// `len` rows, on `threads` threads that take the next chunk when done;
/// one [`Answers`] per thread.
pub(crate) fn answer_chunks(
    len: usize,
    threads: usize,
    chunk: impl Fn(Range<usize>, &mut Answers, &mut Vec<u8>) -> Result<(), Error> + Sync,
) -> Result<Vec<Answers>, Error> {
    let next = AtomicUsize::new(0);
    let work = || -> Result<Answers, Error> {
        let mut a = Answers::default();
        let mut buf = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= len {
                return Ok(a);
            }
            chunk(start..(start + CHUNK).min(len), &mut a, &mut buf)?;
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

/// Reads aggregation view `r` for every row with a valid key, on `threads`
/// threads; a row whose key has no event at or before its time gets no
/// answer (null features, as for any view). Without `known_at` (and for a
/// view of windows, not sessions) the rows are answered key by key
/// ([`super::aggregate_keyed`]); otherwise a row at a time.
pub(crate) fn answer(
    engine: &Engine,
    r: &Resolved,
    keys: &Keys,
    times: &[i64],
    known_at: KnownAt,
    threads: usize,
) -> Result<Vec<Answers>, Error> {
    if r.spec.session.is_none() && matches!(known_at, KnownAt::Unbounded) {
        return super::aggregate_keyed::answer(engine, r, keys, times, threads);
    }
    let schema = r.view.schema();
    answer_chunks(keys.len(), threads, |rows, a, buf| {
        for row in rows {
            if !keys.is_valid(row) {
                continue;
            }
            let t = times[row];
            let values = keys.with_key(row, |key| {
                strata_store::aggregate::read::read(engine, r, key, t, known_at.bound(t))
            })?;
            let Some(values) = values else { continue };
            a.push(row, &schema, &values, buf, || {
                format!("an aggregate of {}", r.view.qualified_name())
            })?;
        }
        Ok(())
    })
}
