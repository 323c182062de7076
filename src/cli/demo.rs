//! `strata demo`: a small store built end to end, read back three ways,
//! and a point-in-time training set exported from it.
//!
//! Ten users with four versions each, written out of order, then a late
//! backfill of older versions; the reads show that the backfill does not
//! hide the newer values and what as-of reads return; the export joins an
//! entity table with a label column to the features as of each row. Event times are
//! relative to now (whole hours), so the 30-day ttl leaves them servable.
//! Last, transactions written to an event view feed an aggregation view
//! (counts, sum and max over sliding windows), and a late one is refused.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strata::catalog;
use strata::format::schema::{KeyValue, Value};
use strata::offline::{self, export, timestamp};
use strata::store::{ReadOptions, RowWrite, Store, now_micros};

use super::{CliError, Result, out, outp, output};

const DEFINITIONS: &str = include_str!("../../examples/demo.toml");

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
const USERS: std::ops::RangeInclusive<i64> = 1001..=1010;
/// Event times of the regular versions, in days before now, in file order.
const DAYS_AGO: [i64; 4] = [10, 2, 20, 5];
const BACKFILL_DAYS_AGO: i64 = 25;
const SHOWN_USER: i64 = 1003;

fn write_file(path: &Path, text: &str) -> Result {
    std::fs::write(path, text)
        .map_err(|e| CliError::msg(format!("cannot write {}: {e}", path.display())))
}

/// Writes the CSV `text` to `path` and ingests it into `user_stats`.
fn ingest_csv(store: &Store, path: &Path, text: &str) -> Result<offline::IngestReport> {
    write_file(path, text)?;
    Ok(offline::ingest_file(store, "user_stats", path, false)?)
}

/// One CSV row of the regular data.
fn csv_row(out: &mut String, user: i64, days_ago: i64, now: i64) {
    let amount = ((user % 100) * 3 + days_ago * 7) as f64 / 4.0;
    let count = 100 - days_ago * 3 + user % 10;
    let segment = match days_ago {
        0..5 => "vip",
        5..15 => "regular",
        _ => "new",
    };
    let emb = format!(
        "{};{};0.5",
        (user % 10) as f32 / 10.0,
        days_ago as f32 / 100.0
    );
    let ts = timestamp::format(now - days_ago * DAY);
    let _ = writeln!(out, "{user},{ts},{amount},{count},{segment},{emb}");
}

const HEADER: &str = "user_id,event_timestamp,amount_avg,txn_count,segment,embedding\n";

/// Runs the demo in `data` or a new kept temporary directory.
pub fn run(data: Option<PathBuf>) -> Result {
    let dir = match data {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("strata-demo-")
            .tempdir()?
            .keep(),
    };
    let input = dir.join("demo-input");
    std::fs::create_dir_all(&input)
        .map_err(|e| CliError::msg(format!("cannot create {}: {e}", input.display())))?;
    let d = dir.display();
    out!("Strata demo: the store is in {d}\n");

    let store = Store::open(&dir)?;
    let defs_path = input.join("definitions.toml");
    write_file(&defs_path, DEFINITIONS)?;
    let defs = catalog::defs::load(&defs_path)?;
    let plan = catalog::defs::plan(&store.catalog(), &defs)?;
    out!("1. Applied {}:", defs_path.display());
    for c in &plan.changes {
        out!("   {c}");
    }
    if plan.is_noop() {
        out!("   (already applied)");
    }
    store.set_catalog(plan.catalog)?;

    let now = now_micros() / HOUR * HOUR;
    let mut csv = String::from(HEADER);
    for days_ago in DAYS_AGO {
        for user in USERS {
            csv_row(&mut csv, user, days_ago, now);
        }
    }
    let csv_path = input.join("user_stats.csv");
    let report = ingest_csv(&store, &csv_path, &csv)?;
    out!(
        "2. Ingested {} rows from {}: {} users x {} versions (event times {} days ago, in that order)",
        report.rows,
        csv_path.display(),
        USERS.count(),
        DAYS_AGO.len(),
        DAYS_AGO.map(|x| x.to_string()).join(", ")
    );

    let mut late = String::from(HEADER);
    for user in USERS {
        let ts = timestamp::format(now - BACKFILL_DAYS_AGO * DAY);
        let _ = writeln!(late, "{user},{ts},0.0,1,backfill,0;0;0");
    }
    let late_path = input.join("backfill.csv");
    let report = ingest_csv(&store, &late_path, &late)?;
    out!(
        "3. Ingested a late backfill of {} rows from {}: event times {BACKFILL_DAYS_AGO} days ago, written last",
        report.rows,
        late_path.display()
    );
    store.flush()?;
    out!("4. Flushed the store to segment files");

    let cat = store.catalog();
    let view = cat
        .view("user_stats")
        .cloned()
        .ok_or_else(|| CliError::msg("the demo view vanished"))?;
    let key = [KeyValue::Int64(SHOWN_USER)];

    let latest = store.get("user_stats", &key, ReadOptions::default())?;
    out!(
        "\nLatest features of user {SHOWN_USER} (`strata get --data {d} --view user_stats --key {SHOWN_USER}`):"
    );
    outp!("{}", output::feature_row_table(&view, &latest));
    out!(
        "The backfill was written last, but its event time is older, so it does not hide the version of 2 days ago."
    );

    let t = now - 15 * DAY;
    let ts = timestamp::format(t);
    let as_of = store.get(
        "user_stats",
        &key,
        ReadOptions {
            as_of: Some(t),
            known_at: None,
        },
    )?;
    out!(
        "\nAs of 15 days ago (`... --as-of {ts}`): the newest version at that time is the one of 20 days ago:"
    );
    outp!("{}", output::feature_row_table(&view, &as_of));

    let history = store.history("user_stats", &key, i64::MIN, i64::MAX - 1, None)?;
    out!(
        "\nEvery version of user {SHOWN_USER} (`strata history --data {d} --view user_stats --key {SHOWN_USER}`):"
    );
    outp!("{}", output::history_table(&view, &history));

    let entities = input.join("training_entities.csv");
    let mut table = String::from("user_id,event_timestamp,label\n");
    for (user, days_ago, label) in TRAINING_ROWS {
        let ts = timestamp::format(now - days_ago * DAY - HOUR);
        let _ = writeln!(table, "{user},{ts},{label}");
    }
    write_file(&entities, &table)?;
    let training = dir.join("training_set.csv");
    let req = export::ExportRequest::new("user_stats:segment,user_stats:txn_count")
        .map_err(|e| CliError::msg(e.to_string()))?;
    let report = export::export_to_file(
        &store,
        &req,
        &export::ExportFiles {
            entities: entities.clone(),
            entities_format: None,
            out: training.clone(),
            out_format: None,
        },
        &|_| {},
    )?;
    out!(
        "\n5. Exported a point-in-time training set (`strata export --data {d} --entities {} --features user_stats:segment,user_stats:txn_count --out {}`):",
        entities.display(),
        training.display()
    );
    let text = std::fs::read_to_string(&training)
        .map_err(|e| CliError::msg(format!("cannot read {}: {e}", training.display())))?;
    for line in text.lines() {
        out!("   {line}");
    }
    out!(
        "   {} of {} rows found a version: each row gets the features as they were at its event_timestamp (within the 30-day ttl).",
        report.matched.first().map_or(0, |m| m.1),
        report.rows
    );
    out!(
        "   User 1004's row predates every version of it, user 4242 is unknown: nulls. User 1006's row sees the backfill, written today;"
    );
    out!("   --no-future-writes would hide it from rows dated before it was written.");

    aggregations(&store, &key, now, &d.to_string())?;

    out!("\nNext:");
    out!("  strata get --data {d} --view user_stats --key 1001 --json");
    out!(
        "  strata get --data {d} --view user_stats --key 1001 --as-of {}",
        timestamp::format(now - 7 * DAY)
    );
    out!(
        "  strata export --data {d} --entities {} --features 'user_stats:*' --out training.parquet --no-future-writes",
        entities.display()
    );
    out!("  strata snapshot --data {d} --view user_stats --out snapshot/");
    Ok(())
}

/// Writes transactions of one user every 15 minutes over the last 3 hours
/// and one 3 days late, and reads the windowed aggregates.
fn aggregations(store: &Store, key: &[KeyValue], now: i64, d: &str) -> Result {
    let minute = HOUR / 60;
    // Explicit created times make the events the same versions on every
    // run of the demo (a rewrite replaces, it does not count twice).
    let txn = |t: i64, amount: f64| RowWrite {
        key: key.to_vec(),
        event_ts: t,
        created_ts: Some(t),
        values: vec![Value::Float64(amount)],
    };
    let rows: Vec<RowWrite> = (0..12)
        .map(|i| txn(now - 3 * HOUR + i * 15 * minute, 10.0 + i as f64))
        .collect();
    let written = store.write("txn", &rows)?;
    let late = store.write("txn", &[txn(now - 3 * DAY, 999.0)])?;
    out!(
        "\n6. Wrote {} transactions of user {SHOWN_USER} (every 15 minutes over the last 3 hours) to the event view txn;",
        written.written
    );
    out!(
        "   one more, dated 3 days ago, was refused as late (allowed_lateness 1d): {} refused.",
        late.rejected_late
    );
    let cat = store.catalog();
    let spend = cat
        .view("user_spend")
        .cloned()
        .ok_or_else(|| CliError::msg("the demo view user_spend vanished"))?;
    let row = store.get("user_spend", key, ReadOptions::default())?;
    out!(
        "   The aggregation view user_spend, latest (`strata get --data {d} --view user_spend --key {SHOWN_USER}`):"
    );
    outp!("{}", output::feature_row_table(&spend, &row));
    out!("   The same windows are what `--as-of` reads and exports compute at each row's time.");
    Ok(())
}

/// The demo's entity table: (user, days before now (less an hour), label).
const TRAINING_ROWS: [(i64, i64, i64); 6] = [
    (1001, 15, 1),
    (1002, 3, 0),
    (1003, 1, 1),
    (1004, 40, 0),
    (1006, 24, 1),
    (4242, 0, 0),
];
