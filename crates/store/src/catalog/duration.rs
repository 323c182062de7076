//! Durations as written in definitions files: `30d`, `12h`, `90m`, `45s`,
//! `500ms`, `2w`, or several parts such as `1d12h`; `0` is zero (for a ttl:
//! unlimited). Values are microseconds (`i64`).
//!
//! Units: `w` (7 days), `d`, `h`, `m` (minutes), `s`, `ms`, and `us` (for
//! values that are not whole milliseconds, so that [`format()`] always
//! round-trips). In TOML a duration may also be an integer, read as seconds.

use std::fmt;

const MICROS_PER_MS: i64 = 1_000;
const MICROS_PER_S: i64 = 1_000_000;

/// The units, largest first, with their length in microseconds.
const UNITS: [(&str, i64); 7] = [
    ("w", 7 * 86_400 * MICROS_PER_S),
    ("d", 86_400 * MICROS_PER_S),
    ("h", 3_600 * MICROS_PER_S),
    ("m", 60 * MICROS_PER_S),
    ("s", MICROS_PER_S),
    ("ms", MICROS_PER_MS),
    ("us", 1),
];

/// A duration that cannot be read: the text as written and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad duration {text}: {reason}")]
pub struct DurationError {
    /// The value as written: a quoted string, or a TOML value.
    pub text: String,
    pub reason: String,
}

impl DurationError {
    fn new(text: impl Into<String>, reason: impl Into<String>) -> DurationError {
        DurationError {
            text: text.into(),
            reason: reason.into(),
        }
    }
}

/// Parses a duration into microseconds.
pub fn parse(text: &str) -> Result<i64, DurationError> {
    let t = text.trim();
    let bad = |why: String| DurationError::new(format!("{text:?}"), why);
    if t.is_empty() {
        return Err(bad("it is empty; write e.g. 30d, 12h, 90m, 45s or 0".into()));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<u64>() {
            Ok(0) => Ok(0),
            _ => Err(bad(format!("missing unit; write e.g. {t}s or {t}d"))),
        };
    }
    if t.starts_with('-') {
        return Err(bad("durations cannot be negative".into()));
    }
    let mut total: i64 = 0;
    let mut rest = t;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            return Err(bad(format!("expected a number at {rest:?}, found {c:?}")));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number too large".into()))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(bad(
                "fractions are not supported; use a smaller unit, e.g. 90m for 1.5h".into(),
            ));
        }
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(bad(format!(
                "missing unit after {n}; use ms, s, m, h, d or w"
            )));
        }
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad(format!("unknown unit {unit}; use ms, s, m, h, d or w")));
        };
        if last_unit.is_some_and(|l| idx <= l) {
            return Err(bad(format!(
                "unit {unit} repeated or out of order; write larger units first, e.g. 1d12h"
            )));
        }
        last_unit = Some(idx);
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| bad("too large (the limit is about 292,000 years)".into()))?;
    }
    Ok(total)
}

/// The shortest text that [`parse`] reads back as `micros`, e.g. `30d`,
/// `36h` (not `1d12h`), `1h1m`. Negative values (which [`parse`] refuses)
/// are written with a leading `-`.
pub fn format(micros: i64) -> String {
    if micros == 0 {
        return "0".into();
    }
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    // Try every subset of the units above `us` (64 subsets), decomposing
    // greedily within each; keep the shortest text, preferring smaller units
    // on ties. `us` is always allowed last, so every subset can represent
    // every value.
    let mut best: Option<String> = None;
    for mask in 0u32..(1 << (UNITS.len() - 1)) {
        let mut left = abs;
        let mut s = String::new();
        for (i, (unit, len)) in UNITS.iter().enumerate() {
            let allowed = i == UNITS.len() - 1 || mask & (1 << i) != 0;
            let len = *len as u64;
            if allowed && left >= len {
                s.push_str(&(left / len).to_string());
                s.push_str(unit);
                left %= len;
            }
        }
        if best
            .as_ref()
            .is_none_or(|b| s.len() < b.len() || (s.len() == b.len() && smaller_first(&s, b)))
        {
            best = Some(s);
        }
    }
    format!("{sign}{}", best.unwrap_or_default())
}

/// Whether `a` starts with a smaller unit than `b`: the tie-break of
/// [`format()`], so that a week is `7d` rather than `1w`.
fn smaller_first(a: &str, b: &str) -> bool {
    let first_unit = |s: &str| {
        let u: String = s
            .chars()
            .skip_while(char::is_ascii_digit)
            .take_while(char::is_ascii_alphabetic)
            .collect();
        UNITS
            .iter()
            .position(|(x, _)| *x == u)
            .unwrap_or(UNITS.len())
    };
    first_unit(a) > first_unit(b)
}

/// A duration as written in TOML: a string such as `"30d"` or an integer
/// number of seconds. Serializes as the string [`format()`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration {
    pub micros: i64,
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.micros))
    }
}

impl std::str::FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse(s).map(|micros| Duration { micros })
    }
}

/// Reads a duration from a TOML value: a string, or an integer of seconds.
pub fn from_toml(v: &toml::Value) -> Result<i64, DurationError> {
    match v {
        toml::Value::String(s) => parse(s),
        toml::Value::Integer(n) => seconds(*n),
        other => Err(DurationError::new(
            other.to_string(),
            "expected a string such as \"30d\" or an integer number of seconds",
        )),
    }
}

fn seconds(n: i64) -> Result<i64, DurationError> {
    if n < 0 {
        return Err(DurationError::new(
            n.to_string(),
            "durations cannot be negative",
        ));
    }
    n.checked_mul(MICROS_PER_S)
        .ok_or_else(|| DurationError::new(n.to_string(), "too many seconds"))
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.micros))
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30d\", \"12h\", \"1d12h\" or \"0\", or an integer number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v)
                    .map(|micros| Duration { micros })
                    .map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                seconds(v)
                    .map(|micros| Duration { micros })
                    .map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                let v = i64::try_from(v).map_err(|_| {
                    E::custom(DurationError::new(v.to_string(), "too many seconds"))
                })?;
                self.visit_i64(v)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_support::assert_each_refused;

    const S: i64 = 1_000_000;

    #[test]
    fn parses_single_units() {
        assert_eq!(parse("30d"), Ok(30 * 86_400 * S));
        assert_eq!(parse("12h"), Ok(12 * 3_600 * S));
        assert_eq!(parse("90m"), Ok(90 * 60 * S));
        assert_eq!(parse("45s"), Ok(45 * S));
        assert_eq!(parse("500ms"), Ok(500_000));
        assert_eq!(parse("2w"), Ok(14 * 86_400 * S));
        assert_eq!(parse("7us"), Ok(7));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0s"), Ok(0));
        assert_eq!(parse(" 3h "), Ok(3 * 3_600 * S));
    }

    #[test]
    fn parses_compound() {
        assert_eq!(parse("1d12h"), Ok(36 * 3_600 * S));
        assert_eq!(
            parse("1h30m15s500ms"),
            Ok((3_600 + 30 * 60 + 15) * S + 500_000)
        );
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(
            parse("3x").unwrap_err().to_string(),
            "bad duration \"3x\": unknown unit x; use ms, s, m, h, d or w"
        );
        assert_each_refused(
            &[
                ("30", "missing unit; write e.g. 30s"),
                ("", "empty"),
                ("-5s", "negative"),
                ("d", "expected a number"),
                ("1h2", "missing unit after 2"),
                ("1m1h", "out of order"),
                ("1h1h", "repeated"),
                ("1.5h", "fractions are not supported"),
                ("99999999999999999999s", "too large"),
                ("999999999w", "too large"),
            ],
            parse,
        );
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(format(0), "0");
        assert_eq!(format(30 * 86_400 * S), "30d");
        assert_eq!(format(14 * 86_400 * S), "2w");
        assert_eq!(format(7 * 86_400 * S), "7d");
        assert_eq!(format(36 * 3_600 * S), "36h");
        assert_eq!(format(90 * 60 * S), "90m");
        assert_eq!(format(3_600 * S), "1h");
        assert_eq!(format(3_660 * S), "61m");
        assert_eq!(format(86_400 * S + 1_000), "1d1ms");
        assert_eq!(format(1_500_000), "1500ms");
        assert_eq!(format(7), "7us");
        assert_eq!(format(-2 * S), "-2s");
    }

    #[test]
    fn format_round_trips() {
        let samples = [
            1,
            999,
            1_000,
            59 * S,
            61 * S,
            3_601 * S,
            8 * 86_400 * S + 5,
            i64::MAX,
            123_456_789_012,
        ];
        for v in samples {
            assert_eq!(parse(&format(v)), Ok(v), "{v} -> {}", format(v));
        }
        let mut x: i64 = 1;
        while x < i64::MAX / 3 {
            assert_eq!(parse(&format(x)), Ok(x), "{x}");
            x = x * 3 + 7;
        }
    }

    #[test]
    fn reads_toml_strings_and_integer_seconds() {
        #[derive(serde::Deserialize)]
        struct T {
            a: Duration,
            b: Duration,
        }
        let t: T = toml::from_str("a = \"1d\"\nb = 90\n").unwrap();
        assert_eq!(t.a.micros, 86_400 * S);
        assert_eq!(t.b.micros, 90 * S);
        assert_each_refused(
            &[
                ("a = \"3x\"\nb = 1\n", "unknown unit x"),
                ("a = \"1d\"\nb = -1\n", "negative"),
                ("a = 1.5\nb = 1\n", "a duration such as"),
            ],
            |text| toml::from_str::<T>(text),
        );
        assert_eq!(from_toml(&toml::Value::Integer(2)), Ok(2 * S));
        assert_eq!(from_toml(&toml::Value::String("2s".into())), Ok(2 * S));
        assert!(from_toml(&toml::Value::Boolean(true)).is_err());
        assert_eq!(
            toml::to_string(&std::collections::BTreeMap::from([(
                "a",
                Duration { micros: 60 * S }
            )]))
            .unwrap()
            .trim(),
            "a = \"1m\""
        );
    }
}
