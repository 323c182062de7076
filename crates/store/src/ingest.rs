//! Writes with a report: the one summary every surface prints, the ledger
//! of batches already written (idempotent retries), backfills, and the
//! bulk path that writes a source's events with their tiles as one segment.
//!
//! **The ledger.** A batch may carry a [`BatchId`]: the digest of a file's
//! bytes (CLI and Python ingest), or a name the client chose (a push over
//! the server, `batch_id`). The store keeps, per view, one record per batch
//! id written, in a reserved view of the engine ([`LEDGER_VIEW`]), and
//! writes that record **in the same atomic unit as the batch** (the same
//! WAL batch, or the same segment). So after any crash, a batch's record
//! exists exactly when its rows do, and a batch presented again finds it
//! and writes nothing ([`WriteSummary::already_ingested_at`]) unless
//! `force` is set.
//!
//! **Backfill.** With [`WriteOptions::backfill`], events are written
//! whatever the source's watermark (no `late_events = "reject"` refusal)
//! and every tile they fall in is corrected, exactly as a late event under
//! `late_events = "correct"`.

use strata_engine::{Engine, WriteBatch};
use strata_format::key::{self, ViewId};
use strata_format::protocol as p;
use strata_format::segment::EntryKind;

use crate::aggregate::write::{self as tiles, Event};
use crate::catalog::FeatureView;
use crate::view_locks::ViewGuard;
use crate::{Error, Result, Store};

/// The engine view that holds the ledger: greater than every catalog view
/// id (the catalog never assigns it), so its entries sort after every
/// other entry of a bulk segment.
pub const LEDGER_VIEW: ViewId = u32::MAX;

/// The identity of a batch: 128 bits of XXH3 over a file's bytes (plus the
/// renames applied), or over a client-chosen name. Not cryptographic: it
/// tells retries apart from new data, it does not defend against a writer
/// crafting collisions (a writer can already write anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchId(pub [u8; 16]);

impl BatchId {
    /// The id of a client-chosen batch name.
    pub fn named(name: &str) -> BatchId {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(b"strata batch name\0");
        h.update(name.as_bytes());
        BatchId(h.digest128().to_be_bytes())
    }

    /// Lowercase hex, as reports print it.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Computes the [`BatchId`] of content fed in pieces (a file's bytes).
pub struct ContentDigest(xxhash_rust::xxh3::Xxh3);

impl Default for ContentDigest {
    fn default() -> Self {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(b"strata batch content\0");
        ContentDigest(h)
    }
}

impl ContentDigest {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(&self) -> BatchId {
        BatchId(self.0.digest128().to_be_bytes())
    }
}

/// How to write a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Record the batch under this id; a batch already recorded for the
    /// view is not written again (unless `force`).
    pub batch: Option<BatchId>,
    /// What the ledger records as the batch's origin (file name, batch name).
    pub label: String,
    /// Write even if the ledger has the batch (and record it again).
    pub force: bool,
    /// Write historical events whatever the watermark, correcting tiles.
    pub backfill: bool,
    /// The `created_ts` of rows without one (the store's clock if `None`),
    /// recorded in the ledger: a backfill retrying a batch that was refused
    /// in part gives its rows the created time they had, so the rows
    /// written the first time are replaced, not repeated.
    pub created_at: Option<i64>,
}

/// What a write did: the protocol's, so that the push ack and a local
/// ingest say the same numbers.
pub use strata_format::protocol::WriteSummary;

/// One record of the ledger: when a batch was written and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub at: i64,
    pub label: String,
    pub summary: WriteSummary,
    /// The `created_ts` given to the batch's rows that had none.
    pub created_at: i64,
}

impl LedgerEntry {
    /// `at: i64 LE | created_at: i64 LE | summary (the push ack's body) |
    /// label: string`.
    fn encode(&self) -> Vec<u8> {
        let mut out = self.at.to_le_bytes().to_vec();
        out.extend_from_slice(&self.created_at.to_le_bytes());
        self.summary.encode(&mut out);
        p::values::put_str(&mut out, &self.label);
        out
    }

    fn decode(b: &[u8]) -> Result<LedgerEntry, p::WireError> {
        let mut r = strata_format::error::Reader::new(b, "ledger record");
        let at = r.i64()?;
        let created_at = r.i64()?;
        let summary = WriteSummary::decode_from(&mut r)?;
        let label = p::values::get_string(&mut r, usize::MAX)?;
        Ok(LedgerEntry {
            at,
            label,
            summary,
            created_at,
        })
    }
}

/// The ledger's entity key of `batch` in `view`.
fn ledger_key(view: ViewId, batch: &BatchId) -> Vec<u8> {
    let mut k = Vec::with_capacity(20);
    k.extend_from_slice(&view.to_be_bytes());
    k.extend_from_slice(&batch.0);
    k
}

/// The ledger record of `batch` in `view`, if it was written.
pub fn ledger_lookup(
    engine: &Engine,
    view: ViewId,
    batch: &BatchId,
) -> Result<Option<LedgerEntry>> {
    let Some(v) = engine.as_of(LEDGER_VIEW, &ledger_key(view, batch), 0, None)? else {
        return Ok(None);
    };
    LedgerEntry::decode(&v.row)
        .map(Some)
        .map_err(|e| Error::Internal(format!("ledger record of batch {}: {e}", batch.hex())))
}

/// The ledger record of a batch as an engine entry: `(internal key, row)`.
pub fn ledger_entry(view: ViewId, batch: &BatchId, rec: &LedgerEntry) -> (Vec<u8>, Vec<u8>) {
    let mut ik = Vec::new();
    key::internal_key(LEDGER_VIEW, &ledger_key(view, batch), 0, 0, &mut ik);
    (ik, rec.encode())
}

/// The right to write a batch: held from the ledger check to the write, so
/// that two retries of one batch cannot both write it.
pub enum Claim<'a> {
    /// The batch was written before: nothing to do.
    Done(LedgerEntry),
    /// Write it (and its ledger record) while holding `guard`; `prior` is
    /// the record of an earlier run refused in part, now retried as a
    /// backfill (see [`WriteOptions::created_at`]).
    Fresh {
        guard: Option<ViewGuard<'a>>,
        prior: Option<LedgerEntry>,
    },
}

impl Store {
    /// Checks the ledger for `opts.batch` in `view`. A batch recorded is
    /// done, unless `force`, or unless it was refused in part (late rows)
    /// and is retried as a backfill. Nothing to check without a batch id.
    pub fn claim(&self, view: ViewId, opts: &WriteOptions) -> Result<Claim<'_>> {
        let Some(batch) = &opts.batch else {
            return Ok(Claim::Fresh {
                guard: None,
                prior: None,
            });
        };
        let guard = self.ledger_locks.lock(view);
        let mut prior = None;
        if !opts.force
            && let Some(rec) = ledger_lookup(&self.engine, view, batch)?
        {
            if rec.summary.complete() || !opts.backfill {
                return Ok(Claim::Done(rec));
            }
            prior = Some(rec);
        }
        Ok(Claim::Fresh {
            guard: Some(guard),
            prior,
        })
    }

    /// The ledger record of `batch` in the view `view` (a catalog name).
    pub fn ledger(&self, view: &str, batch: &BatchId) -> Result<Option<LedgerEntry>> {
        let (_, v) = self.resolve(view)?;
        ledger_lookup(&self.engine, v.id, batch)
    }

    /// Writes versions of one view as one atomic, durable batch (through
    /// the WAL), with the tiles of the aggregation views over it, the ledger
    /// record of `opts.batch`, and the view's expectations checked (a
    /// `quality = "reject"` view refuses the whole batch).
    pub fn write_with(
        &self,
        view: &str,
        rows: &[crate::RowWrite],
        opts: &WriteOptions,
    ) -> Result<WriteSummary> {
        let (cat, v) = self.resolve(view)?;
        writable(&v)?;
        let violations = check_quality(&v, rows)?;
        let claim = self.claim(v.id, opts)?;
        let (_guard, prior) = match claim {
            Claim::Done(rec) => return Ok(repeated(rows.len() as u64, &rec)),
            Claim::Fresh { guard, prior } => (guard, prior),
        };
        let schema = v.schema();
        let now = prior
            .map(|p| p.created_at)
            .or(opts.created_at)
            .unwrap_or_else(|| self.now());
        let opts = &WriteOptions {
            created_at: Some(now),
            ..opts.clone()
        };
        let mut events = Vec::with_capacity(rows.len());
        let (mut ek, mut row) = (Vec::new(), Vec::new());
        for (i, r) in rows.iter().enumerate() {
            let bad = |reason: String| Error::BadRow {
                view: v.qualified_name(),
                index: i,
                reason,
            };
            self.encode_key(&cat, &v, &r.key, &mut ek)
                .map_err(|e| bad(e.to_string()))?;
            crate::encode_version_row(&v, &schema, &r.values, &mut row).map_err(bad)?;
            if r.event_ts == key::TOMBSTONE_TS {
                return Err(bad(format!("event_ts {} is reserved", r.event_ts)));
            }
            events.push(Event {
                key: ek.clone(),
                event_ts: r.event_ts,
                created_ts: r.created_ts.unwrap_or(now),
                row: row.clone(),
            });
        }
        let mut s = self.write_events_with(&v, events, opts)?;
        s.violations = violations;
        Ok(s)
    }

    /// Writes encoded events of `view` as one atomic, durable WAL batch,
    /// with the tiles of every aggregation view over it and the ledger
    /// record of `opts.batch` (whose claim the caller holds, see
    /// [`Store::claim`]).
    pub fn write_events_with(
        &self,
        view: &FeatureView,
        events: Vec<Event>,
        opts: &WriteOptions,
    ) -> Result<WriteSummary> {
        writable(view)?;
        let rows = events.len() as u64;
        let mut batch = WriteBatch::default();
        let _catalog = self.tile_lock.read();
        let summary = if self.aggregations().over(view.id).is_empty() {
            let events = tiles::dedup(events);
            for e in &events {
                batch.put(view.id, &e.key, e.event_ts, e.created_ts, &e.row)?;
            }
            self.finish_batch(view, opts, &mut batch, rows, events.len() as u64, 0)?
        } else {
            // Writers of this source wait for each other; writes into any
            // other view go on (`_catalog` is still held: the catalog, and
            // so the aggregations over the view, cannot change).
            let _source = self.source_locks.lock(view.id);
            let index = self.aggregations();
            let aggs = index.over(view.id);
            let (events, late, prior) = self.admit(view, aggs, events, opts.backfill)?;
            for e in &events {
                batch.put(view.id, &e.key, e.event_ts, e.created_ts, &e.row)?;
            }
            for r in aggs {
                tiles::add_tiles(&self.engine, r, &events, &prior, &mut batch)?;
            }
            let n = events.len() as u64;
            self.finish_batch(view, opts, &mut batch, rows, n, late)?
        };
        Ok(summary)
    }

    /// Adds the ledger record to `batch`, writes it, and says what it did.
    fn finish_batch(
        &self,
        view: &FeatureView,
        opts: &WriteOptions,
        batch: &mut WriteBatch,
        rows: u64,
        written: u64,
        rejected_late: u64,
    ) -> Result<WriteSummary> {
        let summary = counted(rows, written, rejected_late);
        if let Some(b) = &opts.batch {
            let rec = self.ledger_record(opts, summary);
            let (ik, row) = ledger_entry(view.id, b, &rec);
            let Ok(kp) = key::split(&ik) else {
                return Err(Error::Internal("ledger key".into()));
            };
            batch.put(LEDGER_VIEW, kp.entity_key(), 0, 0, &row)?;
        }
        if !batch.is_empty() {
            self.engine.write(batch)?;
        }
        Ok(summary)
    }

    /// The ledger record of a batch written now.
    pub fn ledger_record(&self, opts: &WriteOptions, summary: WriteSummary) -> LedgerEntry {
        LedgerEntry {
            created_at: opts.created_at.unwrap_or(0),
            at: crate::now_micros(),
            label: opts.label.clone(),
            summary,
        }
    }

    /// The events of a source of aggregations to write: those admitted
    /// (the late ones counted per view, and their number returned),
    /// deduplicated, with what the store held of their keys.
    fn admit(
        &self,
        view: &FeatureView,
        aggs: &[std::sync::Arc<crate::aggregate::Resolved>],
        events: Vec<Event>,
        backfill: bool,
    ) -> Result<(Vec<Event>, u64, tiles::Prior)> {
        let (accepted, late) = tiles::admit(&self.engine, view.id, aggs, events, backfill);
        let mut counts = self.late.lock();
        for (id, l) in late.per_view {
            let c = counts.entry(id).or_default();
            c.rejected += l.rejected;
            c.corrected += l.corrected;
        }
        drop(counts);
        let events = tiles::dedup(accepted);
        let prior = tiles::prior_for(&self.engine, aggs, view.id, &events)?;
        Ok((events, late.rejected_events as u64, prior))
    }

    /// Writes the events of a source of aggregations (in file order) with
    /// their tiles and the ledger record of `opts.batch` as **one segment**
    /// ([`Engine::ingest_sorted`]): after a crash all of it is in the store
    /// or none. Only other writes into this view wait (its source lock)
    /// while the tiles are computed and the segment written; reads and
    /// writes into other views go on. The caller holds the batch's claim.
    pub fn ingest_events(
        &self,
        view: &FeatureView,
        events: Vec<Event>,
        opts: &WriteOptions,
    ) -> Result<WriteSummary> {
        writable(view)?;
        let rows = events.len() as u64;
        let _catalog = self.tile_lock.read();
        let _source = self.source_locks.lock(view.id);
        let index = self.aggregations();
        let aggs = index.over(view.id);
        let (events, rejected_late, prior) = self.admit(view, aggs, events, opts.backfill)?;
        let written = events.len() as u64;
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(events.len() * 2);
        for r in aggs {
            tiles::tiles_into(
                &self.engine,
                r,
                &events,
                &prior,
                &mut |id, k, start, row| {
                    let mut ik = Vec::new();
                    key::internal_key(id, k, start, 0, &mut ik);
                    entries.push((ik, row.to_vec()));
                    Ok(())
                },
            )?;
        }
        drop(prior);
        for e in events {
            let mut ik = Vec::new();
            key::internal_key(view.id, &e.key, e.event_ts, e.created_ts, &mut ik);
            entries.push((ik, e.row));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let summary = counted(rows, written, rejected_late);
        if let Some(b) = &opts.batch {
            entries.push(ledger_entry(view.id, b, &self.ledger_record(opts, summary)));
        }
        #[cfg(any(test, feature = "test-util"))]
        if let Some(hook) = self.ingest_hook.lock().clone() {
            hook();
        }
        self.engine.ingest_sorted(|add| {
            for (k, r) in &entries {
                add(k, EntryKind::Version, r)?;
            }
            Ok(())
        })?;
        Ok(summary)
    }
}

/// The summary of a batch found in the ledger: nothing written now.
pub fn repeated(rows: u64, rec: &LedgerEntry) -> WriteSummary {
    WriteSummary {
        rows,
        already_ingested_at: Some(rec.at),
        ..WriteSummary::default()
    }
}

/// Checks `rows` against the expectations of `view`: the violations under
/// `quality = "warn"`, an error naming them under `"reject"`.
fn check_quality(view: &FeatureView, rows: &[crate::RowWrite]) -> Result<u64> {
    use crate::catalog::meta::QualityPolicy;
    use crate::catalog::quality::{Checker, report};
    let mut c = Checker::new(view);
    for (i, r) in rows.iter().enumerate() {
        for (f, v) in r.values.iter().enumerate() {
            c.value(f, i as u64 + 1, v);
        }
    }
    let (_, violations) = c.finish(rows.len() as u64);
    if violations.is_empty() {
        return Ok(0);
    }
    if view.quality_policy() == QualityPolicy::Reject {
        return Err(Error::BadRequest(format!(
            "the rows break the expectations of {} (quality = \"reject\"); nothing was written:\n{}",
            view.qualified_name(),
            report(&violations)
        )));
    }
    Ok(violations.iter().map(|v| v.count).sum())
}

/// Refuses writes to views the store computes (aggregation and derived
/// views): only stored views take rows.
fn writable(view: &FeatureView) -> Result<()> {
    if view.is_aggregation() {
        return Err(Error::Computed(view.qualified_name()));
    }
    if view.is_derived() {
        return Err(Error::Derived(view.qualified_name()));
    }
    Ok(())
}

/// The summary of a write of `rows` rows of which `written` were written
/// and `rejected_late` refused as late: the rest were duplicates.
fn counted(rows: u64, written: u64, rejected_late: u64) -> WriteSummary {
    WriteSummary {
        rows,
        written,
        rejected_late,
        duplicates: rows - written - rejected_late,
        violations: 0,
        already_ingested_at: None,
    }
}
