//! What a write did ([`WriteSummary`]): the push ack's body, the ledger's
//! record, and the line every surface prints; and the options of a push
//! ([`PushOptions`]).

use std::fmt;

use crate::error::Reader;

use super::frame::WireError;
use super::messages::expect_end;
use super::values::{get_opt_i64, get_string, put_opt_i64, put_str};

/// What a write did: produced by the store (and the offline ingest, which
/// adds the quality check of a file), carried by the push ack, printed by
/// every surface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows received.
    pub rows: u64,
    /// Versions written.
    pub written: u64,
    /// Events refused because an aggregation view over the view found them
    /// too late (`late_events = "reject"`, and not a backfill).
    pub rejected_late: u64,
    /// Rows dropped because a later row of the same batch has the same
    /// `(key, event_ts, created_ts)` (the later one is written).
    pub duplicates: u64,
    /// Expectation violations recorded (`quality = "warn"`).
    pub violations: u64,
    /// The batch was already written at this time (µs since the epoch,
    /// UTC): nothing of it was written now.
    pub already_ingested_at: Option<i64>,
}

impl WriteSummary {
    /// Whether every row received is in the store (now, or from an earlier
    /// run of the same batch): none was refused as late.
    pub fn complete(&self) -> bool {
        self.rejected_late == 0
    }

    /// Adds the counts of another batch (keeping the earliest
    /// `already_ingested_at`).
    pub fn add(&mut self, o: &WriteSummary) {
        self.rows += o.rows;
        self.written += o.written;
        self.rejected_late += o.rejected_late;
        self.duplicates += o.duplicates;
        self.violations += o.violations;
        self.already_ingested_at = match (self.already_ingested_at, o.already_ingested_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The `PushAck` body (and the ledger's record of a batch).
    pub fn encode(&self, out: &mut Vec<u8>) {
        for n in [
            self.rows,
            self.written,
            self.rejected_late,
            self.duplicates,
            self.violations,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        put_opt_i64(out, self.already_ingested_at);
    }

    pub fn decode_from(r: &mut Reader<'_>) -> Result<WriteSummary, WireError> {
        Ok(WriteSummary {
            rows: r.u64()?,
            written: r.u64()?,
            rejected_late: r.u64()?,
            duplicates: r.u64()?,
            violations: r.u64()?,
            already_ingested_at: get_opt_i64(r)?,
        })
    }

    pub fn decode(body: &[u8]) -> Result<WriteSummary, WireError> {
        let mut r = Reader::new(body, "push ack");
        let s = WriteSummary::decode_from(&mut r)?;
        expect_end(&r)?;
        Ok(s)
    }
}

/// `N row(s): W written, L refused as late, D duplicate(s) dropped, V
/// expectation violation(s)` (zero counts after `written` left out), or
/// that the batch was already ingested: the line every surface prints.
impl fmt::Display for WriteSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = self.already_ingested_at.map(utc);
        if let Some(when) = &when
            && self.written == 0
            && self.rejected_late == 0
        {
            return write!(
                f,
                "{} row(s): already ingested at {when}, nothing written (--force writes again)",
                self.rows
            );
        }
        write!(f, "{} row(s): {} written", self.rows, self.written)?;
        if self.rejected_late > 0 {
            write!(
                f,
                ", {} refused as late (late_events = \"reject\"; --backfill writes them)",
                self.rejected_late
            )?;
        }
        if self.duplicates > 0 {
            write!(f, ", {} duplicate(s) dropped", self.duplicates)?;
        }
        if self.violations > 0 {
            write!(f, ", {} expectation violation(s)", self.violations)?;
        }
        if let Some(when) = when {
            write!(f, "; part of it was already ingested at {when}")?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of microseconds since the epoch.
fn utc(micros: i64) -> String {
    format!("{}Z", crate::time::utc_seconds(micros))
}

/// How a push is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// The client's name for this batch: a push whose `(view, batch_id)` the
    /// server has written before is acknowledged without writing anything.
    pub batch_id: Option<String>,
    /// Write historical events whatever the watermark, correcting tiles.
    pub backfill: bool,
    /// Write even if the batch id was written before.
    pub force: bool,
}

const BACKFILL: u8 = 1;
const FORCE: u8 = 2;
const BATCH_ID: u8 = 4;

impl PushOptions {
    /// The options' trailer of a push body: nothing for the defaults (the
    /// body of a plain push is unchanged), else a flags byte and the batch id.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if *self == PushOptions::default() {
            return;
        }
        let mut flags = 0;
        for (on, bit) in [
            (self.backfill, BACKFILL),
            (self.force, FORCE),
            (self.batch_id.is_some(), BATCH_ID),
        ] {
            if on {
                flags |= bit;
            }
        }
        out.push(flags);
        if let Some(id) = &self.batch_id {
            put_str(out, id);
        }
    }

    /// The trailer, if any bytes remain.
    pub fn decode_from(r: &mut Reader<'_>, max_name: usize) -> Result<PushOptions, WireError> {
        if r.is_empty() {
            return Ok(PushOptions::default());
        }
        let flags = r.u8()?;
        if flags & !(BACKFILL | FORCE | BATCH_ID) != 0 {
            return Err(r.invalid(format!("push flags {flags:#x}")).into());
        }
        let batch_id = if flags & BATCH_ID != 0 {
            Some(get_string(r, max_name)?)
        } else {
            None
        };
        Ok(PushOptions {
            batch_id,
            backfill: flags & BACKFILL != 0,
            force: flags & FORCE != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_round_trip_and_read_as_one_line() {
        let s = WriteSummary {
            rows: 5,
            written: 2,
            rejected_late: 2,
            duplicates: 1,
            violations: 3,
            already_ingested_at: None,
        };
        let mut b = Vec::new();
        s.encode(&mut b);
        assert_eq!(WriteSummary::decode(&b), Ok(s));
        assert!(WriteSummary::decode(&b[..b.len() - 1]).is_err());
        assert_eq!(
            s.to_string(),
            "5 row(s): 2 written, 2 refused as late (late_events = \"reject\"; --backfill writes them), 1 duplicate(s) dropped, 3 expectation violation(s)"
        );
        assert!(!s.complete());
        let again = WriteSummary {
            rows: 5,
            already_ingested_at: Some(1_700_000_000_123_456),
            ..WriteSummary::default()
        };
        assert_eq!(
            again.to_string(),
            "5 row(s): already ingested at 2023-11-14T22:13:20Z, nothing written (--force writes again)"
        );
        assert!(again.complete());
    }

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(-1_000_000), "1969-12-31T23:59:59Z");
        assert_eq!(utc(4_102_444_800_000_000), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn options_trailer_round_trips_and_is_absent_by_default() {
        let mut b = Vec::new();
        PushOptions::default().encode(&mut b);
        assert!(b.is_empty());
        for o in [
            PushOptions {
                batch_id: Some("job-7/3".into()),
                backfill: true,
                force: false,
            },
            PushOptions {
                batch_id: None,
                backfill: false,
                force: true,
            },
        ] {
            let mut b = Vec::new();
            o.encode(&mut b);
            let mut r = Reader::new(&b, "push");
            assert_eq!(PushOptions::decode_from(&mut r, 64), Ok(o));
            assert!(r.is_empty());
        }
        let mut r = Reader::new(&[0x80], "push");
        assert!(PushOptions::decode_from(&mut r, 64).is_err());
    }
}
