//! Splitting a large write into pushes the server accepts.

use strata_format::protocol::{self as p, RowWrite, ServerLimits};

/// `rows` cut into consecutive pieces that each fit `limits`: at most
/// `max_rows_per_push` rows, and an encoded body that leaves 4 KiB of the
/// frame for the header and the view's name. A single row larger than that
/// stays alone in its piece (the server then says why it is refused).
pub fn push_chunks<'r>(rows: &'r [RowWrite], limits: &ServerLimits) -> Vec<&'r [RowWrite]> {
    let max_rows = limits.max_rows_per_push.max(1) as usize;
    let max_bytes = (limits.max_frame_bytes as usize)
        .saturating_sub(4096)
        .max(1024);
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    let mut scratch = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        scratch.clear();
        p::encode_push(&mut scratch, "", std::slice::from_ref(r));
        let size = scratch.len();
        if i > start && (i - start >= max_rows || bytes + size > max_bytes) {
            out.push(&rows[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_format::schema::{KeyValue, Value};

    fn row(i: i64, text: usize) -> RowWrite {
        RowWrite {
            key: vec![KeyValue::Int64(i)],
            event_ts: i,
            created_ts: None,
            values: vec![Value::String("x".repeat(text))],
        }
    }

    fn limits(rows: u32, frame: u32) -> ServerLimits {
        ServerLimits {
            max_frame_bytes: frame,
            max_keys_per_lookup: 1,
            max_rows_per_push: rows,
            max_streams: 1,
            idle_timeout_ms: 1,
        }
    }

    #[test]
    fn pieces_cover_every_row_in_order_within_the_limits() {
        let rows: Vec<RowWrite> = (0..100).map(|i| row(i, (i as usize * 37) % 900)).collect();
        for (max_rows, frame) in [(7, 1 << 20), (1000, 4096 + 2000), (3, 4096 + 1024)] {
            let l = limits(max_rows, frame);
            let pieces = push_chunks(&rows, &l);
            let flat: Vec<&RowWrite> = pieces.iter().flat_map(|p| p.iter()).collect();
            assert_eq!(flat.len(), rows.len());
            assert!(flat.iter().zip(&rows).all(|(a, b)| *a == b), "order kept");
            for piece in &pieces {
                assert!(!piece.is_empty() && piece.len() <= max_rows as usize);
                let mut body = Vec::new();
                p::encode_push(&mut body, "", piece);
                let budget = (frame as usize - 4096).max(1024);
                assert!(
                    piece.len() == 1 || body.len() <= budget,
                    "{} bytes",
                    body.len()
                );
            }
        }
        assert!(push_chunks(&[], &limits(5, 1 << 20)).is_empty());
    }
}
