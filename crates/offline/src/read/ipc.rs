//! Arrow IPC: the file format (`ARROW1` magic) or the stream format, told
//! apart by content.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_ipc::reader::{FileReader, StreamReader};
use arrow_schema::{ArrowError, SchemaRef};

use super::{Batches, ReadError, open_file};

/// Whether an Arrow IPC file is in the stream format (no `ARROW1` magic).
fn is_stream(file: &mut File) -> std::io::Result<bool> {
    let mut magic = [0u8; 6];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(!(n == 6 && &magic == b"ARROW1"))
}

fn unreadable(stream: bool) -> impl Fn(ArrowError) -> String {
    move |e| {
        format!(
            "not a readable Arrow IPC {} (damaged or truncated?): {e}",
            if stream { "stream" } else { "file" }
        )
    }
}

type Reader = (
    SchemaRef,
    Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>,
);

fn reader(mut file: File, projection: Option<Vec<usize>>) -> Result<(Reader, bool), ReadError> {
    let stream = is_stream(&mut file).map_err(ReadError::Io)?;
    let bad = |e| ReadError::Invalid(unreadable(stream)(e));
    let r: Reader = if stream {
        let r = StreamReader::try_new(BufReader::new(file), projection).map_err(bad)?;
        (r.schema(), Box::new(r))
    } else {
        let r = FileReader::try_new(BufReader::new(file), projection).map_err(bad)?;
        (r.schema(), Box::new(r))
    };
    Ok((r, stream))
}

/// The schema of an Arrow IPC file.
pub(super) fn open(file: &File) -> Result<SchemaRef, ReadError> {
    let copy = file.try_clone().map_err(ReadError::Io)?;
    let ((schema, _), _) = reader(copy, None)?;
    Ok(schema)
}

pub(super) fn batches(path: &Path, projection: Option<&[usize]>) -> Result<Batches, ReadError> {
    let ((schema, it), stream) = reader(open_file(path)?, projection.map(<[usize]>::to_vec))?;
    let bad = unreadable(stream);
    Ok(Batches::counting(schema, 0, it, move |row, e| {
        ReadError::Invalid(format!("after row {row}: {}", bad(e)))
    }))
}
