//! The rows of an aggregation view in an export: each row's windows read at
//! its `event_timestamp` ([`strata_store::aggregate::read::read`], the same
//! computation as online reads), encoded as a row of the view's schema so
//! that the rest of the join decodes it like any other view's version.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::keys::Keys;
use super::{Error, KnownAt};
use strata_engine::Engine;
use strata_format::row::encode_row;
use strata_store::aggregate::Resolved;

/// One thread's answers: encoded rows in `arena`, and per answered row
/// `(row, offset, length)`.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    pub arena: Vec<u8>,
    pub out: Vec<(u32, u64, u32)>,
}

/// Reads aggregation view `r` for every row with a valid key, on `threads`
/// threads; a row whose key has no event at or before its time gets no
/// answer (null features, as for any view).
pub(crate) fn answer(
    engine: &Engine,
    r: &Resolved,
    keys: &Keys,
    times: &[i64],
    known_at: KnownAt,
    threads: usize,
) -> Result<Vec<Answers>, Error> {
    const CHUNK: usize = 1024;
    let next = AtomicUsize::new(0);
    let schema = r.view.schema();
    let work = || -> Result<Answers, Error> {
        let mut a = Answers::default();
        let mut buf = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= keys.len() {
                return Ok(a);
            }
            let end = (start + CHUNK).min(keys.len());
            for (row, &t) in times.iter().enumerate().take(end).skip(start) {
                if !keys.is_valid(row) {
                    continue;
                }
                let known = match known_at {
                    KnownAt::Unbounded => None,
                    KnownAt::At(k) => Some(k),
                    KnownAt::EventTime => Some(t),
                };
                let values = keys.with_key(row, |key| {
                    strata_store::aggregate::read::read(engine, r, key, t, known)
                })?;
                let Some(values) = values else { continue };
                encode_row(&schema, &values, &mut buf).map_err(|e| {
                    Error::Internal(format!(
                        "encoding an aggregate of {}: {e}",
                        r.view.qualified_name()
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
