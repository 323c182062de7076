//! Exports (`strata export`) of aggregation, derived, filtered and session
//! views: the same CSV locally and over the server, and the cells a brute
//! force over the events computes.

use strata::offline::timestamp;
use tempfile::TempDir;

use crate::fixture::{Remote, TXN, build, entity_rows, export_both};
use crate::{HOUR, T0};

/// An export's setup: the store built in a new directory, its
/// `entities.csv` (`user_id,event_timestamp`, then an extra column when
/// asked for) and a server over it.
struct Exports {
    tmp: TempDir,
    remote: Remote,
}

impl Exports {
    /// `rows` as the entity table; `extra`: the name of a third column and
    /// its cell in the row at each index.
    fn new(rows: &[(i64, i64)], extra: Option<(&str, &dyn Fn(usize) -> String)>) -> Exports {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let data = build(dir);
        let mut csv = String::from("user_id,event_timestamp");
        if let Some((name, _)) = extra {
            csv.push_str(&format!(",{name}"));
        }
        csv.push('\n');
        for (i, (user, t)) in rows.iter().enumerate() {
            csv.push_str(&format!("{user},{}", timestamp::format(*t)));
            if let Some((_, cell)) = extra {
                csv.push_str(&format!(",{}", cell(i)));
            }
            csv.push('\n');
        }
        std::fs::write(dir.join("entities.csv"), &csv).unwrap();
        let remote = Remote::start(dir, &data);
        Exports { tmp, remote }
    }

    /// [`export_both`] of `features` with the arguments `extra`.
    fn both(&self, features: &str, extra: &[&str]) -> String {
        export_both(self.tmp.path(), &self.remote, features, extra)
    }
}

/// Brute force: `count_1h` and `amount_sum_1d` of `user` at `t` over TXN,
/// as CSV cells: both empty (NOT_FOUND) when the key has no event at or
/// before `t`.
fn brute_force(user: i64, t: i64) -> (String, String) {
    let any = TXN.iter().any(|&(u, ts, _)| u == user && ts <= t);
    if !any {
        return (String::new(), String::new());
    }
    let in_window = |w: i64, ts: i64| t - w < ts && ts <= t;
    let count = TXN
        .iter()
        .filter(|&&(u, ts, _)| u == user && in_window(HOUR, ts))
        .count();
    let amounts: Vec<f64> = TXN
        .iter()
        .filter(|&&(u, ts, _)| u == user && in_window(24 * HOUR, ts))
        .map(|&(_, _, a)| a)
        .collect();
    // The sum over an empty window is null; a count is 0.
    let sum = match amounts.is_empty() {
        true => String::new(),
        false => amounts.iter().sum::<f64>().to_string(),
    };
    (count.to_string(), sum)
}

#[test]
fn aggregation_exports_agree_with_brute_force_locally_and_over_the_server() {
    let label = |i: usize| (i % 2).to_string();
    let exports = Exports::new(&entity_rows(), Some(("label", &label)));
    let local = exports.both("txn_stats:*,profile:tier", &[]);

    let mut lines = local.lines();
    assert_eq!(
        lines.next(),
        Some("user_id,event_timestamp,label,count_1h,amount_sum_1d,tier")
    );
    for ((user, t), line) in entity_rows().into_iter().zip(lines) {
        let cells: Vec<&str> = line.split(',').collect();
        let (count, sum) = brute_force(user, t);
        let number = |c: &str| (!c.is_empty()).then(|| c.parse::<f64>().unwrap());
        assert_eq!(
            (cells[3], number(cells[4])),
            (count.as_str(), number(&sum)),
            "user {user} at {}: {line}",
            timestamp::format(t)
        );
    }
}

#[test]
fn derived_and_filtered_exports_agree_locally_over_the_server_and_with_brute_force() {
    let amount = |i: usize| {
        if i.is_multiple_of(3) {
            String::new()
        } else {
            format!("{}", i as f64 * 1.5)
        }
    };
    let exports = Exports::new(&entity_rows(), Some(("txn_amount", &amount)));
    for mode in [
        &[][..],
        &["--no-future-writes"][..],
        &["--as-known-at", "2024-01-01T00:30:00Z"][..],
    ] {
        let local = exports.both("txn_derived:*,txn_big:*", mode);
        let mut lines = local.lines();
        assert_eq!(
            lines.next(),
            Some("user_id,event_timestamp,txn_amount,avg_txn,txn_ratio,gold,big_1d")
        );
        if !mode.is_empty() {
            continue;
        }
        // Unbounded: the brute force of avg_txn, txn_ratio and big_1d.
        for ((i, (user, t)), line) in entity_rows().into_iter().enumerate().zip(lines) {
            let cells: Vec<&str> = line.split(',').collect();
            let (count, sum) = brute_force(user, t);
            let num = |c: &str| (!c.is_empty()).then(|| c.parse::<f64>().unwrap());
            let (count, sum) = (num(&count), num(&sum));
            let avg = sum.zip(count).map(|(s, c)| s / c).filter(|x| x.is_finite());
            let txn = (i % 3 != 0).then_some(i as f64 * 1.5);
            let ratio = txn.zip(sum).map(|(x, s)| x / s).filter(|x| x.is_finite());
            let big = TXN
                .iter()
                .filter(|&&(u, ts, a)| u == user && t - 24 * HOUR < ts && ts <= t && a >= 5.0)
                .count();
            let any = TXN.iter().any(|&(u, ts, _)| u == user && ts <= t);
            let big = any.then_some(big as f64);
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-9,
                (x, y) => x == y,
            };
            let at = timestamp::format(t);
            assert!(
                close(num(cells[3]), avg),
                "avg_txn of {user} at {at}: {line}"
            );
            assert!(
                close(num(cells[4]), ratio),
                "txn_ratio of {user} at {at}: {line}"
            );
            assert!(
                close(num(cells[6]), big),
                "big_1d of {user} at {at}: {line}"
            );
        }
    }
}

/// Brute force: the CSV cells of `txn_sessions:*` for `user` at `t` over
/// TXN (gap 1 h): all empty (NOT_FOUND) when the key has no event at or
/// before `t`.
fn brute_force_session(user: i64, t: i64) -> Vec<String> {
    let mut evs: Vec<(i64, f64)> = TXN
        .iter()
        .filter(|&&(u, ts, _)| u == user && ts <= t)
        .map(|&(_, ts, a)| (ts, a))
        .collect();
    evs.sort_by_key(|e| e.0);
    let Some(&(end, _)) = evs.last() else {
        return vec![String::new(); 7];
    };
    let mut first = evs.len() - 1;
    while first > 0 && evs[first].0 - evs[first - 1].0 <= HOUR {
        first -= 1;
    }
    let s = &evs[first..];
    let start = s[0].0;
    vec![
        s.len().to_string(),
        s.iter().map(|e| e.1).sum::<f64>().to_string(),
        s[0].1.to_string(),
        timestamp::format(start),
        timestamp::format(end),
        (end - start).to_string(),
        (t - end <= HOUR).to_string(),
    ]
}

#[test]
fn session_exports_agree_with_brute_force_locally_and_over_the_server() {
    let mut rows = entity_rows();
    // At exactly each event, just after the 10-min gap closes, and at the
    // edge of the 1 h gap after the event at 2 h.
    rows.extend([
        (1, T0 + HOUR / 3 + HOUR),
        (1, T0 + HOUR / 3 + HOUR + 1),
        (1, T0 + 3 * HOUR),
        (1, T0 + 3 * HOUR + 1),
    ]);
    let local = Exports::new(&rows, None).both("txn_sessions:*", &[]);

    let mut lines = local.lines();
    assert_eq!(
        lines.next(),
        Some(
            "user_id,event_timestamp,count,amount_sum,amount_first,session_start,session_end,duration,is_open"
        )
    );
    for ((user, t), line) in rows.into_iter().zip(lines) {
        let cells: Vec<String> = line.split(',').skip(2).map(String::from).collect();
        let number = |c: &str| c.parse::<f64>().ok();
        let want = brute_force_session(user, t);
        assert_eq!(cells.len(), want.len(), "{line}");
        for (i, (got, want)) in cells.iter().zip(&want).enumerate() {
            let same =
                got == want || (i < 3 && number(got).is_some() && number(got) == number(want));
            assert!(
                same,
                "user {user} at {} cell {i}: got {got:?}, want {want:?}: {line}",
                timestamp::format(t)
            );
        }
    }
}
