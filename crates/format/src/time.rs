//! Times as text.

/// `YYYY-MM-DDTHH:MM:SS` (UTC, no zone suffix) of the second of `micros`
/// (microseconds since the Unix epoch), in the proleptic Gregorian
/// calendar; the fraction of a second is dropped.
pub fn utc_seconds(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 0000-03-01 in 400-year eras of 146 097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_seconds;

    #[test]
    fn civil_dates_around_the_epoch_and_leap_days() {
        assert_eq!(utc_seconds(0), "1970-01-01T00:00:00");
        assert_eq!(utc_seconds(-1), "1969-12-31T23:59:59");
        assert_eq!(utc_seconds(951_782_400_000_000), "2000-02-29T00:00:00");
        assert_eq!(utc_seconds(1_704_067_200_123_456), "2024-01-01T00:00:00");
        assert_eq!(utc_seconds(4_107_542_399_000_000), "2100-02-28T23:59:59");
    }
}
