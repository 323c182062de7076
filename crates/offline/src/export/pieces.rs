//! A run joined in pieces that fit the export's memory budget.
//!
//! A run is sized from an estimate of its rows' widths ([`super::Plan`]);
//! the versions it copies may be far wider (a string of megabytes). So the
//! join counts the real bytes of the answers it holds, and a piece above
//! the budget ([`super::join::JoinSpec::record_budget`]) stops, emits
//! nothing, and is split in two halves joined one after the other, down to
//! one row (joined whatever its size). The output is the same batches in
//! the same order: each piece's rows are a contiguous range of the run.

use arrow_array::RecordBatch;

use super::Error;
use super::join::JoinSpec;
use super::run::join_piece;

/// Joins a run of batches (`first_row` is the 0-based table row of its
/// first row); `emit` gets the output batches in order. Returns, per view,
/// the rows that got a version.
pub(crate) fn join_run(
    spec: &JoinSpec,
    run: &[RecordBatch],
    first_row: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<Vec<u64>, Error> {
    let mut hits = vec![0u64; spec.views.len()];
    let mut todo = vec![(run.to_vec(), first_row)];
    while let Some((_, h)) = join_next_piece(spec, &mut todo, emit)? {
        for (a, b) in hits.iter_mut().zip(h) {
            *a += b;
        }
    }
    Ok(hits)
}

/// Pieces of runs still to join, each with its first row's 0-based place
/// in the table; the next on top.
pub(crate) type Pieces = Vec<(Vec<RecordBatch>, usize)>;

/// Joins the next piece of `todo` that fits the budget and emits its
/// batches; returns its rows and its hits per view, or `None` when `todo`
/// is empty. A piece whose answers exceed the budget is split in two
/// (nothing of it emitted), down to one row.
pub(crate) fn join_next_piece(
    spec: &JoinSpec,
    todo: &mut Pieces,
    emit: &mut dyn FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<Option<(usize, Vec<u64>)>, Error> {
    while let Some((piece, first)) = todo.pop() {
        let rows: usize = piece.iter().map(RecordBatch::num_rows).sum();
        let limit = if rows > 1 {
            spec.record_budget
        } else {
            usize::MAX
        };
        match join_piece(spec, &piece, first, limit, emit) {
            Ok(h) => return Ok(Some((rows, h))),
            Err(Error::RunTooLarge) => {
                let (a, b) = split_rows(&piece, rows / 2);
                todo.push((b, first + rows / 2));
                todo.push((a, first));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// `run` cut after its first `at` rows.
fn split_rows(run: &[RecordBatch], at: usize) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut seen = 0;
    for batch in run {
        let n = batch.num_rows();
        if seen + n <= at {
            a.push(batch.clone());
        } else if seen >= at {
            b.push(batch.clone());
        } else {
            let k = at - seen;
            a.push(batch.slice(0, k));
            b.push(batch.slice(k, n - k));
        }
        seen += n;
    }
    (a, b)
}

#[cfg(test)]
#[path = "pieces_tests.rs"]
mod tests;
