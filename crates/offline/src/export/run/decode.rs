//! Step 4 of a run's join (see [`super`]): every batch's records decoded
//! straight into its output columns, batches in parallel, emitted in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use arrow_array::{ArrayRef, RecordBatch};

use super::super::join::{FeatureBuilder, FixedColumn, JoinSpec, all_fixed, decode_fixed_row};
use super::{Error, Found, RECORD_HEADER};
use strata_engine as engine;
use strata_format::row::stored_fields;
use strata_store::refs::ViewPlan;
use strata_store::{decode_stored_with, predated};

/// Decodes every row into the output columns, batches in parallel, and
/// emits the output batches in order.
pub(super) fn decode_all(
    spec: &JoinSpec,
    run: &[RecordBatch],
    starts: &[usize],
    found: &[Found],
    emit: &mut dyn FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<(), Error> {
    let decode = |b: usize| -> Result<RecordBatch, Error> {
        let batch = &run[b];
        let rows = starts[b + 1] - starts[b];
        let mut out: Vec<Option<Column>> = spec.outputs.iter().map(|_| None).collect();
        let mut index = Vec::new();
        for (vp, f) in spec.views.iter().zip(found) {
            decode_view(vp, f, b, rows, &mut index, &mut out)?;
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for c in out {
            columns.push(match c {
                Some(Column::Fixed(c)) => c.finish(),
                Some(Column::Built(b)) => b.finish(),
                None => return Err(Error::Internal("an output column was not filled".into())),
            });
        }
        RecordBatch::try_new(spec.schema.clone(), columns)
            .map_err(|e| Error::Internal(format!("assembling an output batch: {e}")))
    };
    if spec.threads <= 1 || run.len() <= 1 {
        for b in 0..run.len() {
            emit(decode(b)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = sync_channel::<(usize, Result<RecordBatch, Error>)>(spec.threads * 2);
    std::thread::scope(|s| {
        for _ in 0..spec.threads.min(run.len()) {
            let tx = tx.clone();
            let (next, decode) = (&next, &decode);
            s.spawn(move || {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= run.len() || tx.send((b, decode(b))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // In order; a failure drops `rx`, which stops the decoders.
        let mut pending = std::collections::BTreeMap::new();
        let mut want = 0;
        for (b, r) in rx {
            pending.insert(b, r);
            while let Some(r) = pending.remove(&want) {
                emit(r?)?;
                want += 1;
            }
        }
        if want < run.len() {
            return Err(Error::Internal("a decoding thread stopped early".into()));
        }
        Ok(())
    })
}

/// An output feature column of a batch being filled.
enum Column {
    /// Filled in the order the answers come (fixed-width types).
    Fixed(FixedColumn),
    /// Filled row by row.
    Built(FeatureBuilder),
}

/// Decodes one view's versions (or nulls, or defaults) for the `rows` rows
/// of batch `b` into its output columns. If every feature wanted of the
/// view has a fixed width, each part's records are decoded in the order
/// they were found (sequential reads) and scattered to their rows; else
/// the records are indexed by row (`index` is scratch space) and decoded
/// row by row.
fn decode_view(
    vp: &ViewPlan,
    found: &Found,
    b: usize,
    rows: usize,
    index: &mut Vec<u64>,
    out: &mut [Option<Column>],
) -> Result<(), Error> {
    let corrupt = |e| Error::Engine(engine::Error::corrupt_row(vp.view.id, e));
    let lost = || Error::Internal("a joined version went astray".into());
    let mistyped = |f: usize| {
        Error::Internal(format!(
            "field {f} of a row of view {} does not decode as {}",
            vp.view.qualified_name(),
            vp.schema[f]
        ))
    };
    let records = found.streams.iter().filter_map(|s| s.get(b));
    let fixed: Option<Vec<Option<FixedColumn>>> = vp
        .wanted
        .iter()
        .zip(&vp.schema)
        .map(|(o, ty)| match o {
            None => Some(None),
            Some(_) => FixedColumn::new(*ty, rows).map(Some),
        })
        .collect();
    if let Some(mut cols) = fixed {
        let fill = vp.defaults.iter().any(Option::is_some);
        let any_declared = vp.declared.iter().any(Option::is_some);
        let all_fixed = all_fixed(&vp.schema);
        let mut answered = vec![0u64; if fill { rows.div_ceil(64) } else { 0 }];
        for s in records {
            let mut at = 0;
            while at < s.len() {
                let (row, len) = record_header(s, at).ok_or_else(lost)?;
                let bytes = s
                    .get(at + RECORD_HEADER..at + RECORD_HEADER + len)
                    .ok_or_else(lost)?;
                if row >= rows {
                    return Err(lost());
                }
                if all_fixed {
                    decode_fixed_row(&vp.schema, bytes, row, &mut cols).map_err(corrupt)?;
                    if any_declared {
                        // Fields the row predates read their declared default.
                        let n = stored_fields(bytes).map_err(corrupt)?;
                        for (f, c) in cols.iter_mut().enumerate().skip(n) {
                            if let Some(c) = c {
                                let (v, _) = predated(vp.declared[f].as_ref());
                                if !v.is_null() && !c.set(row, v) {
                                    return Err(mistyped(f));
                                }
                            }
                        }
                    }
                } else {
                    let mut bad = None;
                    decode_stored_with(&vp.schema, &vp.declared, bytes, |f, v, _| {
                        if let Some(c) = &mut cols[f]
                            && !c.set(row, v)
                        {
                            bad.get_or_insert(f);
                        }
                    })
                    .map_err(corrupt)?;
                    if let Some(f) = bad {
                        return Err(mistyped(f));
                    }
                }
                if let Some(w) = answered.get_mut(row / 64) {
                    *w |= 1 << (row % 64);
                }
                at += RECORD_HEADER + len;
            }
        }
        if fill {
            for row in (0..rows).filter(|r| answered[r / 64] & (1 << (r % 64)) == 0) {
                for (c, d) in cols.iter_mut().zip(&vp.defaults) {
                    if let (Some(c), Some(d)) = (c, d) {
                        c.set(row, d.clone());
                    }
                }
            }
        }
        for (c, o) in cols.into_iter().zip(&vp.wanted) {
            if let (Some(c), Some(o)) = (c, o) {
                out[*o] = Some(Column::Fixed(c));
            }
        }
        return Ok(());
    }
    // Where each row's record is: `part << 48 | offset + 1`, 0 for none.
    index.clear();
    index.resize(rows, 0);
    for (p, streams) in found.streams.iter().enumerate() {
        let Some(s) = streams.get(b) else { continue };
        let mut at = 0;
        while at < s.len() {
            let (row, len) = record_header(s, at).ok_or_else(lost)?;
            *index.get_mut(row).ok_or_else(lost)? = ((p as u64) << 48) | (at as u64 + 1);
            at += RECORD_HEADER + len;
        }
    }
    let mut builders: Vec<Option<FeatureBuilder>> = vp
        .wanted
        .iter()
        .zip(&vp.schema)
        .map(|(o, ty)| o.map(|_| FeatureBuilder::new(*ty, rows)))
        .collect();
    for &slot in index.iter() {
        if slot == 0 {
            for (f, b) in builders.iter_mut().enumerate() {
                let Some(b) = b else { continue };
                match vp.defaults.get(f).and_then(Option::as_ref) {
                    // Defaults were type-checked when the definitions were applied.
                    Some(d) => {
                        b.push(d.clone());
                    }
                    None => b.push_null(),
                }
            }
            continue;
        }
        let s = &found.streams[(slot >> 48) as usize][b];
        let at = ((slot & ((1 << 48) - 1)) - 1) as usize;
        let (_, len) = record_header(s, at).ok_or_else(lost)?;
        let bytes = s
            .get(at + RECORD_HEADER..at + RECORD_HEADER + len)
            .ok_or_else(lost)?;
        let mut bad = None;
        decode_stored_with(&vp.schema, &vp.declared, bytes, |f, v, _| {
            if let Some(b) = &mut builders[f]
                && !b.push(v)
            {
                bad.get_or_insert(f);
            }
        })
        .map_err(corrupt)?;
        if let Some(f) = bad {
            return Err(mistyped(f));
        }
    }
    for (bl, o) in builders.into_iter().zip(&vp.wanted) {
        if let (Some(bl), Some(o)) = (bl, o) {
            out[*o] = Some(Column::Built(bl));
        }
    }
    Ok(())
}

/// The row (in its batch) and version length of the record at `at`.
#[inline]
fn record_header(s: &[u8], at: usize) -> Option<(usize, usize)> {
    let h = s.get(at..at + RECORD_HEADER)?;
    let row = u32::from_le_bytes(h[..4].try_into().ok()?);
    let len = u32::from_le_bytes(h[4..].try_into().ok()?);
    Some((row as usize, len as usize))
}
