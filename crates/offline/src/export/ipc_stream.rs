//! Entity batches as an Arrow IPC stream in pieces: what a remote export
//! sends (`ExportData` frames) from the CLI and from Python alike.

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

/// The IPC stream of `batches` (all of `schema`), one piece per batch: the
/// first carries the schema, the last the end-of-stream marker. An error
/// of the input or of the encoding ends the pieces with that error.
pub fn ipc_pieces<E: std::fmt::Display>(
    schema: &SchemaRef,
    mut batches: impl Iterator<Item = Result<RecordBatch, E>>,
) -> Result<impl Iterator<Item = std::io::Result<Vec<u8>>>, arrow_schema::ArrowError> {
    let mut writer = Some(StreamWriter::try_new(Vec::new(), schema)?);
    Ok(std::iter::from_fn(move || {
        let w = writer.as_mut()?;
        let step = match batches.next() {
            Some(Ok(b)) => w.write(&b).map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.to_string()),
            None => {
                let r = w.finish().map_err(|e| e.to_string());
                let bytes = std::mem::take(w.get_mut());
                writer = None;
                return Some(r.map(|()| bytes).map_err(std::io::Error::other));
            }
        };
        let piece = step.map(|()| std::mem::take(w.get_mut()));
        if piece.is_err() {
            writer = None; // nothing follows an error, no end marker either
        }
        Some(piece.map_err(std::io::Error::other))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_ipc::reader::StreamReader;
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn the_pieces_read_back_as_the_batches() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = |v: Vec<i64>| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(v))]).unwrap()
        };
        let input = vec![batch(vec![1, 2]), batch(vec![3])];
        let pieces: Vec<Vec<u8>> =
            ipc_pieces(&schema, input.clone().into_iter().map(Ok::<_, String>))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(pieces.len(), 3, "one per batch and the end");
        let bytes: Vec<u8> = pieces.concat();
        let back: Vec<RecordBatch> = StreamReader::try_new(bytes.as_slice(), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, input);
        let failed: Vec<_> = ipc_pieces(
            &schema,
            vec![Ok(batch(vec![1])), Err("bad row 7")].into_iter(),
        )
        .unwrap()
        .collect();
        assert_eq!(failed.len(), 2);
        assert!(
            failed[1]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("bad row 7")
        );
    }
}
