//! Timestamps in text: what input files and the command line accept, and
//! how Strata prints them.
//!
//! Accepted: RFC 3339 with an offset (`2024-05-01T12:00:00Z`,
//! `2024-05-01T14:00:00.5+02:00`; a space may replace the `T`), a date
//! (`2024-05-01`, midnight UTC), or an integer of microseconds since the
//! Unix epoch. Values are `i64` microseconds, UTC. Sub-microsecond digits are
//! truncated toward the past.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// What a bad timestamp error suggests.
pub const HINT: &str = "use RFC 3339 (e.g. 2024-05-01T12:00:00Z), a date (2024-05-01) or integer microseconds since the epoch";

/// Parses a timestamp into microseconds since the epoch. The error is a
/// short reason, without the text itself.
pub fn parse(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| "out of range for microseconds since the epoch".to_string());
    }
    if let Some(d) = (t.len() == 10)
        .then(|| t.parse::<NaiveDate>().ok())
        .flatten()
    {
        let dt = d.and_hms_opt(0, 0, 0).ok_or("not a valid date")?;
        return Ok(dt.and_utc().timestamp_micros());
    }
    match DateTime::parse_from_rfc3339(t) {
        Ok(dt) => {
            // timestamp_micros cannot overflow for the years RFC 3339 allows (0..=9999).
            Ok(dt.timestamp_micros())
        }
        Err(e) => {
            let no_offset =
                t.len() >= 19 && !t.ends_with(['Z', 'z']) && !t[19..].contains(['+', '-']);
            if no_offset && DateTime::parse_from_rfc3339(&format!("{t}Z")).is_ok() {
                Err("no UTC offset; add Z (UTC) or an offset such as +02:00".into())
            } else {
                Err(format!("not a timestamp ({e}); {HINT}"))
            }
        }
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed
/// (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.250Z`); a value outside
/// what RFC 3339 can show is printed as its integer.
pub fn format(micros: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(dt) if (0..=9999).contains(&chrono::Datelike::year(&dt)) => {
            dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        }
        _ => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn parses_forms() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("1970-01-02T00:00:00Z"), Ok(DAY));
        assert_eq!(parse("1970-01-01T02:00:00+02:00"), Ok(0));
        assert_eq!(parse("1970-01-01 00:00:01.5Z"), Ok(1_500_000));
        assert_eq!(parse("1970-01-01T00:00:00.000001999Z"), Ok(1));
        assert_eq!(parse("1970-01-03"), Ok(2 * DAY));
        assert_eq!(parse("1714521600000000"), Ok(1_714_521_600_000_000));
        assert_eq!(parse("-5"), Ok(-5));
        assert_eq!(parse(" 7 "), Ok(7));
        assert_eq!(parse("2024-05-01T00:00:00Z"), Ok(1_714_521_600_000_000));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Ok(-1_000_000));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(""), Err("empty".to_string()));
        assert!(parse("yesterday").unwrap_err().contains(HINT));
        assert!(
            parse("2024-05-01T00:00:00")
                .unwrap_err()
                .contains("no UTC offset")
        );
        assert!(parse("2024-13-01").unwrap_err().contains("not a timestamp"));
        assert!(
            parse("99999999999999999999")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(parse("-").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_500_000), "1970-01-01T00:00:01.500Z");
        assert_eq!(format(1), "1970-01-01T00:00:00.000001Z");
        assert_eq!(format(i64::MAX), i64::MAX.to_string());
        for t in [0, 1, -1, 1_714_521_600_123_456, -62_135_596_800_000_000] {
            assert_eq!(parse(&format(t)), Ok(t), "{}", format(t));
        }
    }
}
