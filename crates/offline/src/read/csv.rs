//! CSV: a header row naming the columns, then one row per record, read
//! into typed Arrow batches ([`super::Columns`] says the types, [`cells`]
//! the cell rules).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};

use super::cells::{self, Builder, Cell, CellType};
use super::text::{Rows, TextBatches};
use super::{Batches, Columns, ReadError, open_file};

/// How one column of the file is read.
#[derive(Debug, Clone)]
struct Column {
    ty: CellType,
    label: String,
    required: Option<String>,
}

/// A CSV file's header and column types.
pub(super) struct Table {
    columns: Vec<Column>,
    schema: SchemaRef,
    /// Rows, when a first pass read them all.
    rows: Option<usize>,
}

fn reader(file: File) -> ::csv::Reader<BufReader<File>> {
    ::csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 20, file))
}

/// The column names of a CSV header (a byte-order mark and spaces trimmed).
fn header(reader: &mut ::csv::Reader<BufReader<File>>) -> Result<Vec<String>, ReadError> {
    let h = reader
        .headers()
        .map_err(|e| ReadError::Invalid(format!("bad header row: {e}")))?;
    Ok(h.iter()
        .enumerate()
        .map(|(i, n)| {
            let n = if i == 0 {
                n.trim_start_matches('\u{feff}')
            } else {
                n
            };
            n.trim().to_string()
        })
        .collect())
}

/// Reads the next record; `row` is the 1-based number it would have.
fn next_record(
    reader: &mut ::csv::Reader<BufReader<File>>,
    rec: &mut ::csv::StringRecord,
    row: usize,
) -> Result<bool, ReadError> {
    reader
        .read_record(rec)
        .map_err(|e| ReadError::Invalid(format!("row {row}: {e}")))
}

/// Reads a cell of `col`; `row` is 1-based.
fn cell<'a>(col: &Column, text: &'a str, row: usize) -> Result<Cell<'a>, ReadError> {
    let at = |why: &str| ReadError::Invalid(format!("row {row}, column {}: {why}", col.label));
    match cells::parse_text(col.ty, text) {
        Ok(Cell::Null) => match &col.required {
            Some(why) => Err(at(why)),
            None => Ok(Cell::Null),
        },
        Ok(c) => Ok(c),
        Err(why) => Err(at(&why)),
    }
}

impl Table {
    pub(super) fn open(file: File, spec: &Columns) -> Result<Table, ReadError> {
        let mut rdr = reader(file);
        let names = header(&mut rdr)?;
        for (i, n) in names.iter().enumerate() {
            let counts = spec.infer_rest || spec.declared.iter().any(|d| &d.name == n);
            if counts && names[..i].contains(n) {
                return Err(ReadError::Invalid(format!(
                    "the header names the column {n} more than once"
                )));
            }
        }
        let declared: Vec<Option<Column>> = names
            .iter()
            .map(|n| {
                spec.declared.iter().find(|d| &d.name == n).map(|d| Column {
                    ty: d.ty,
                    label: d.label.clone(),
                    required: d.required.clone(),
                })
            })
            .collect();
        let (types, rows) = if spec.infer_rest {
            let (t, rows) = infer(&mut rdr, &declared)?;
            (t, Some(rows))
        } else {
            (vec![CellType::Utf8; names.len()], None)
        };
        let columns: Vec<Column> = declared
            .into_iter()
            .zip(types)
            .zip(&names)
            .map(|((d, ty), n)| {
                d.unwrap_or_else(|| Column {
                    ty,
                    label: n.clone(),
                    required: None,
                })
            })
            .collect();
        let fields: Vec<Field> = names
            .iter()
            .zip(&columns)
            .map(|(n, c)| Field::new(n, c.ty.arrow(), true))
            .collect();
        Ok(Table {
            columns,
            schema: Arc::new(Schema::new(fields)),
            rows,
        })
    }

    pub(super) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(super) fn rows(&self) -> Option<usize> {
        self.rows
    }

    pub(super) fn batches(
        &self,
        path: &Path,
        projection: Option<&[usize]>,
        batch_rows: usize,
    ) -> Result<Batches, ReadError> {
        let mut reader = reader(open_file(path)?);
        header(&mut reader)?;
        let cols: Vec<usize> = match projection {
            Some(p) => p.to_vec(),
            None => (0..self.columns.len()).collect(),
        };
        let fields: Vec<Field> = cols
            .iter()
            .filter_map(|&c| self.schema.fields().get(c).map(|f| f.as_ref().clone()))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let columns: Vec<(usize, Column)> = cols
            .iter()
            .filter_map(|&c| self.columns.get(c).map(|col| (c, col.clone())))
            .collect();
        let types = columns.iter().map(|(_, c)| c.ty).collect();
        let rows = CsvRows {
            reader,
            record: ::csv::StringRecord::new(),
            columns,
            row: 0,
        };
        let iter = TextBatches::new(rows, schema.clone(), types, batch_rows);
        Ok(Batches::new(schema, iter))
    }
}

/// The types of the undeclared columns (declared ones keep theirs), from
/// a pass that checks every declared cell; and the number of rows.
fn infer(
    reader: &mut ::csv::Reader<BufReader<File>>,
    declared: &[Option<Column>],
) -> Result<(Vec<CellType>, usize), ReadError> {
    // Per undeclared column: could it still be an int, a float, a bool?
    let mut maybe = vec![[true; 3]; declared.len()];
    let mut filled = vec![false; declared.len()];
    let mut rec = ::csv::StringRecord::new();
    let mut row = 0usize;
    while next_record(reader, &mut rec, row + 1)? {
        row += 1;
        for ((text, d), (m, f)) in rec
            .iter()
            .zip(declared)
            .zip(maybe.iter_mut().zip(filled.iter_mut()))
        {
            match d {
                Some(col) => {
                    cell(col, text, row)?;
                }
                None if text.is_empty() => {}
                None => {
                    *f = true;
                    let t = text.trim();
                    m[0] = m[0] && t.parse::<i64>().is_ok();
                    m[1] = m[1] && t.parse::<f64>().is_ok();
                    m[2] =
                        m[2] && (t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"));
                }
            }
        }
    }
    let types = declared
        .iter()
        .zip(maybe.iter().zip(&filled))
        .map(|(d, (m, any))| match (d, m) {
            (Some(c), _) => c.ty,
            // A column with no non-empty cell is Utf8 (all null).
            _ if !any => CellType::Utf8,
            (None, [true, _, _]) => CellType::Int64,
            (None, [_, true, _]) => CellType::Float64,
            (None, [_, _, true]) => CellType::Bool,
            (None, _) => CellType::Utf8,
        })
        .collect();
    Ok((types, row))
}

/// The records of a CSV file, read into the columns `columns`.
struct CsvRows {
    reader: ::csv::Reader<BufReader<File>>,
    record: ::csv::StringRecord,
    /// The columns read (file position, how), in output order.
    columns: Vec<(usize, Column)>,
    /// Data rows read so far.
    row: usize,
}

impl Rows for CsvRows {
    fn next_row(&mut self, builders: &mut [Builder]) -> Result<bool, ReadError> {
        let row = self.row + 1;
        if !next_record(&mut self.reader, &mut self.record, row)? {
            return Ok(false);
        }
        let rec = &self.record;
        let cells = self
            .columns
            .iter()
            .map(|(c, col)| cell(col, rec.get(*c).unwrap_or(""), row))
            .collect::<Result<Vec<Cell<'_>>, ReadError>>()?;
        for (b, c) in builders.iter_mut().zip(cells) {
            b.append(c);
        }
        self.row = row;
        Ok(true)
    }
}
