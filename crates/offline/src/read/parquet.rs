//! Parquet, read through Arrow: only the projected columns are decoded,
//! and parts of a file (row groups, or rows of one group) can be read by
//! several threads, each with its own descriptor.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatchReader;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};

use super::{Batches, ReadError, open_file};

/// Which rows of a Parquet file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    All,
    /// These row groups; `first_row` is the 0-based row of the file they
    /// start at (for messages).
    Groups {
        groups: Vec<usize>,
        first_row: u64,
    },
    /// `len` rows from row `offset` of one row group that starts at row
    /// `first_row` of the file.
    Rows {
        group: usize,
        first_row: u64,
        offset: usize,
        len: usize,
    },
}

/// The metadata of a Parquet file.
pub(super) fn open(file: &File) -> Result<ArrowReaderMetadata, ReadError> {
    ArrowReaderMetadata::load(file, ArrowReaderOptions::default()).map_err(|e| {
        ReadError::Invalid(format!(
            "not a readable Parquet file (damaged or truncated?): {e}"
        ))
    })
}

pub(super) fn batches(
    path: &Path,
    meta: &ArrowReaderMetadata,
    projection: Option<&[usize]>,
    part: &Part,
    batch_rows: usize,
) -> Result<Batches, ReadError> {
    let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(open_file(path)?, meta.clone())
        .with_batch_size(batch_rows);
    if let Some(p) = projection {
        b = b.with_projection(ProjectionMask::roots(
            meta.parquet_schema(),
            p.iter().copied(),
        ));
    }
    let mut row = 0;
    match part {
        Part::All => {}
        Part::Groups { groups, first_row } => {
            b = b.with_row_groups(groups.clone());
            row = *first_row;
        }
        Part::Rows {
            group,
            first_row,
            offset,
            len,
        } => {
            b = b
                .with_row_groups(vec![*group])
                .with_row_selection(RowSelection::from(vec![
                    RowSelector::skip(*offset),
                    RowSelector::select(*len),
                ]));
            row = first_row + *offset as u64;
        }
    }
    let reader = b
        .build()
        .map_err(|e| ReadError::Invalid(format!("cannot read the Parquet data: {e}")))?;
    let schema = reader.schema();
    Ok(Batches::counting(schema, row, reader, |row, e| {
        ReadError::Invalid(format!("cannot read the Parquet data after row {row}: {e}"))
    }))
}
