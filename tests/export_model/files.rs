//! Entity tables in memory and as Parquet, Arrow IPC or CSV input files;
//! exported files read back.

use super::*;

/// The entity table: user_id, merchant_id, country (dictionary),
/// event_timestamp, row_id.
pub fn entity_batch(case: &Case, rows: &[RowSpec], first: usize) -> RecordBatch {
    let users: Int64Array = rows.iter().map(|r| case.user(r)).collect();
    let merchants: Vec<_> = rows.iter().map(|r| case.merchant(r)).collect();
    let ids: StringArray = merchants.iter().map(|m| m.0.clone()).collect();
    let countries: DictionaryArray<Int32Type> = merchants.iter().map(|m| m.1.as_deref()).collect();
    let times: ArrayRef = if case.nanos {
        Arc::new(TimestampNanosecondArray::from(
            rows.iter().map(|r| r.t * 1000).collect::<Vec<_>>(),
        ))
    } else {
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.t).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let row_ids = Int64Array::from_iter_values((first..first + rows.len()).map(|i| i as i64));
    RecordBatch::try_from_iter_with_nullable(vec![
        ("user_id", Arc::new(users) as ArrayRef, true),
        ("merchant_id", Arc::new(ids), true),
        ("country", Arc::new(countries), true),
        ("event_timestamp", times, false),
        ("row_id", Arc::new(row_ids), false),
    ])
    .unwrap()
}

pub fn entity_batches(case: &Case) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < case.rows.len() {
        let n = case.cuts[i % case.cuts.len()].min(case.rows.len() - at);
        out.push(entity_batch(case, &case.rows[at..at + n], at));
        at += n;
        i += 1;
    }
    out
}

pub fn concat(batches: &[RecordBatch], schema: &arrow_schema::SchemaRef) -> RecordBatch {
    arrow_select::concat::concat_batches(schema, batches).unwrap()
}

pub fn write_input(
    case: &Case,
    dir: &Path,
    batches: &[RecordBatch],
) -> (std::path::PathBuf, InputFormat) {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| entity_batch(case, &[], 0).schema());
    match case.in_format {
        0 => {
            let p = dir.join("entities.parquet");
            let mut w =
                ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
            for b in batches {
                w.write(b).unwrap();
            }
            w.close().unwrap();
            (p, InputFormat::Parquet)
        }
        1 => {
            // The stream format: each batch may bring its own dictionary.
            let p = dir.join("entities.arrows");
            let mut w = arrow_ipc::writer::StreamWriter::try_new(
                std::fs::File::create(&p).unwrap(),
                &schema,
            )
            .unwrap();
            for b in batches {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
            (p, InputFormat::Arrow)
        }
        _ => {
            let p = dir.join("entities.csv");
            let mut w = csv::Writer::from_path(&p).unwrap();
            w.write_record([
                "user_id",
                "merchant_id",
                "country",
                "event_timestamp",
                "row_id",
            ])
            .unwrap();
            for (i, r) in case.rows.iter().enumerate() {
                let (id, c) = case.merchant(r);
                w.write_record([
                    case.user(r).map_or(String::new(), |u| u.to_string()),
                    id.unwrap_or_default(),
                    c.unwrap_or_default(),
                    timestamp::format(r.t),
                    i.to_string(),
                ])
                .unwrap();
            }
            w.flush().unwrap();
            (p, InputFormat::Csv)
        }
    }
}

pub fn read_output(path: &Path, format: OutputFormat) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    match format {
        OutputFormat::Parquet => ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect(),
        _ => arrow_ipc::reader::FileReader::try_new(f, None)
            .unwrap()
            .map(Result::unwrap)
            .collect(),
    }
}
