//! The table of read scenarios every surface answers, and what each must
//! answer.

use serde_json::{Value as Json, json};
use strata::offline::timestamp;

use crate::surfaces::Answer;
use crate::{HOUR, T0};

/// One read and what it must answer.
pub struct Scenario {
    pub name: &'static str,
    pub view: &'static str,
    pub key: String,
    pub as_of: Option<i64>,
    /// A request-time value (`--request NAME=VALUE`) of a derived view.
    pub request: Option<(&'static str, &'static str)>,
    pub expect: Expect,
    /// A latest read of a computed view: its event time is the read time,
    /// which differs between surfaces, so only its presence is compared.
    pub read_time: bool,
}

pub enum Expect {
    /// The row's event time, and per feature, in schema order: value and
    /// status.
    Row {
        event_ts: Option<i64>,
        features: Vec<(&'static str, Json, &'static str)>,
    },
    /// Every surface fails with a message containing this.
    Error(&'static str),
}

impl Scenario {
    /// A read of `key` in `view`, latest or `as_of`.
    pub fn new(
        name: &'static str,
        view: &'static str,
        key: &str,
        as_of: Option<i64>,
        expect: Expect,
    ) -> Scenario {
        Scenario {
            name,
            view,
            key: key.to_string(),
            as_of,
            request: None,
            expect,
            read_time: false,
        }
    }
}

/// A row whose features all carry the event time `event_ts`.
fn row(event_ts: Option<i64>, features: Vec<(&'static str, Json, &'static str)>) -> Expect {
    Expect::Row { event_ts, features }
}

/// A row of values read at `event_ts`: `PRESENT`, or `NULL_VALUE` where
/// the value is null.
fn values(event_ts: Option<i64>, features: &[&'static str], values: Vec<Json>) -> Expect {
    assert_eq!(features.len(), values.len());
    let status = |v: &Json| if v.is_null() { "NULL_VALUE" } else { "PRESENT" };
    row(
        event_ts,
        features
            .iter()
            .zip(values)
            .map(|(f, v)| (*f, v.clone(), status(&v)))
            .collect(),
    )
}

/// A row whose every feature is `NOT_FOUND` and null.
fn not_found(features: &[&'static str]) -> Expect {
    row(
        None,
        features
            .iter()
            .map(|f| (*f, Json::Null, "NOT_FOUND"))
            .collect(),
    )
}

const TXN_STATS: [&str; 2] = ["count_1h", "amount_sum_1d"];
const SHOP_BUCKETS: [&str; 2] = ["count_by_cat_1d", "amount_sum_by_cat_1d"];
const TXN_LISTS: [&str; 6] = [
    "amount_last2_1d",
    "amount_collect_set_1d",
    "amount_first_1d",
    "amount_variance_1d",
    "amount_count_distinct_exact_1d",
    "amount_top5_1h",
];
const TXN_SESSIONS: [&str; 7] = [
    "count",
    "amount_sum",
    "amount_first",
    "session_start",
    "session_end",
    "duration",
    "is_open",
];

pub fn scenarios() -> Vec<Scenario> {
    let s = Scenario::new;
    let r = |name, view, key: &str, as_of, request, expect| Scenario {
        request: Some(request),
        ..s(name, view, key, as_of, expect)
    };
    let t1 = Some(T0 + HOUR);
    let ts = |t: i64| json!(timestamp::format(t));
    let min = 60_000_000;
    let half = Some(T0 + HOUR / 2);
    let two = Some(T0 + 2 * HOUR);
    let day_after = Some(T0 + 30 * HOUR);
    // A session of `txn_sessions` read at `at`: count, amount sum, first
    // amount, start, end (duration end - start), open or closed.
    let session = |at, count: i64, sum: f64, first: f64, (start, end): (i64, i64), open: bool| {
        values(
            at,
            &TXN_SESSIONS,
            vec![
                json!(count),
                json!(sum),
                json!(first),
                ts(start),
                ts(end),
                json!(end - start),
                json!(open),
            ],
        )
    };
    let kyc = |checked: bool, level: i64, level_status| {
        row(
            t1,
            vec![
                ("checked", json!(checked), "PRESENT"),
                ("kyc_level", json!(level), level_status),
            ],
        )
    };
    // `profile` without a version: not found, its tier default-valued.
    let profile_not_found = || {
        row(
            None,
            vec![
                ("tier", json!("bronze"), "NOT_FOUND"),
                ("score", Json::Null, "NOT_FOUND"),
            ],
        )
    };
    vec![
        s(
            "filtered aggregation",
            "txn_big",
            "1",
            two,
            values(two, &["big_1d"], vec![json!(2)]),
        ),
        r(
            "derived with a request value, as of",
            "txn_derived",
            "1",
            half,
            ("txn_amount", "25"),
            // The profile has no version yet: tier reads as its default.
            values(
                half,
                &["avg_txn", "txn_ratio", "gold"],
                vec![json!(6.25), json!(2.0), json!(false)],
            ),
        ),
        s(
            "derived without the request value",
            "txn_derived",
            "1",
            half,
            values(
                half,
                &["avg_txn", "txn_ratio", "gold"],
                vec![json!(6.25), Json::Null, json!(false)],
            ),
        ),
        r(
            "derived, latest",
            "profile_plus",
            "1",
            None,
            ("bonus", "0.25"),
            values(t1, &["score_plus"], vec![json!(0.9 + 0.25)]),
        ),
        r(
            "derived, unknown key",
            "profile_plus",
            "7",
            None,
            ("bonus", "0.25"),
            not_found(&["score_plus"]),
        ),
        r(
            "derived, a request value of the wrong type",
            "profile_plus",
            "1",
            None,
            ("bonus", "lots"),
            Expect::Error("\"lots\" is not a float64"),
        ),
        s(
            "plain",
            "profile",
            "1",
            None,
            values(t1, &["tier", "score"], vec![json!("gold"), json!(0.9)]),
        ),
        s(
            "null value",
            "profile",
            "2",
            None,
            values(t1, &["tier", "score"], vec![Json::Null, json!(0.5)]),
        ),
        s(
            "unknown key, default-valued",
            "profile",
            "3",
            None,
            profile_not_found(),
        ),
        s(
            "as of before the first version",
            "profile",
            "1",
            Some(T0),
            profile_not_found(),
        ),
        s(
            "a feature added with a default, on a version written before it",
            "kyc",
            "1",
            None,
            kyc(true, 1, "DEFAULTED"),
        ),
        s(
            "a feature added with a default, as of",
            "kyc",
            "1",
            Some(T0 + 3 * HOUR),
            kyc(true, 1, "DEFAULTED"),
        ),
        s(
            "a feature added with a default, written since",
            "kyc",
            "2",
            None,
            kyc(false, 3, "PRESENT"),
        ),
        s(
            "a feature added with a default, from a file without its column",
            "kyc",
            "4",
            None,
            kyc(true, 1, "DEFAULTED"),
        ),
        s(
            "a feature added with a default, unknown key",
            "kyc",
            "3",
            None,
            row(
                None,
                vec![
                    ("checked", Json::Null, "NOT_FOUND"),
                    ("kyc_level", json!(1), "NOT_FOUND"),
                ],
            ),
        ),
        s(
            "ttl: inside",
            "activity",
            "1",
            two,
            values(Some(T0), &["clicks"], vec![json!(7)]),
        ),
        s(
            "ttl: expired as of",
            "activity",
            "1",
            day_after,
            row(Some(T0), vec![("clicks", Json::Null, "OUTSIDE_MAX_AGE")]),
        ),
        s(
            "ttl: expired latest",
            "activity",
            "1",
            None,
            row(Some(T0), vec![("clicks", Json::Null, "OUTSIDE_MAX_AGE")]),
        ),
        s(
            "versioned @1",
            "device@1",
            "1",
            None,
            values(t1, &["os"], vec![json!("ios")]),
        ),
        s(
            "unversioned: the serving version (@2 is staged, never promoted)",
            "device",
            "1",
            None,
            values(t1, &["os"], vec![json!("ios")]),
        ),
        s(
            "versioned @2",
            "device@2",
            "1",
            None,
            values(t1, &["os", "model"], vec![json!("android"), json!("pixel")]),
        ),
        s(
            "aggregation",
            "txn_stats",
            "1",
            half,
            values(half, &TXN_STATS, vec![json!(2), json!(12.5)]),
        ),
        s(
            "aggregation, window edge",
            "txn_stats",
            "1",
            two,
            values(two, &TXN_STATS, vec![json!(1), json!(13.5)]),
        ),
        s(
            "bucketed aggregation",
            "shop_buckets",
            "1",
            two,
            values(
                two,
                &SHOP_BUCKETS,
                vec![json!({"a": 2, "b": 1}), json!({"a": 3.5, "b": 4.0})],
            ),
        ),
        s(
            "bucketed aggregation, empty window",
            "shop_buckets",
            "1",
            day_after,
            values(day_after, &SHOP_BUCKETS, vec![Json::Null, Json::Null]),
        ),
        s(
            "aggregation to lists",
            "txn_lists",
            "1",
            two,
            values(
                two,
                &TXN_LISTS,
                vec![
                    json!([1.0, 7.5]),
                    json!([1.0, 5.0, 7.5]),
                    json!(5.0),
                    json!(10.75),
                    json!(3),
                    json!([1.0]),
                ],
            ),
        ),
        s(
            "aggregation to lists, empty window",
            "txn_lists",
            "2",
            day_after,
            // A distinct count over nothing is 0; every other function null.
            values(
                day_after,
                &TXN_LISTS,
                vec![
                    Json::Null,
                    Json::Null,
                    Json::Null,
                    Json::Null,
                    json!(0),
                    Json::Null,
                ],
            ),
        ),
        s(
            "aggregation, unknown key",
            "txn_stats",
            "9",
            t1,
            not_found(&TXN_STATS),
        ),
        s(
            "session: two events 10 min apart, open",
            "txn_sessions",
            "1",
            half,
            session(half, 2, 12.5, 5.0, (T0 + 10 * min, T0 + 20 * min), true),
        ),
        s(
            "session: a gap over 1 h starts a new one, at its event",
            "txn_sessions",
            "1",
            two,
            session(two, 1, 1.0, 1.0, (T0 + 2 * HOUR, T0 + 2 * HOUR), true),
        ),
        s(
            "session: no event at or before t",
            "txn_sessions",
            "2",
            t1,
            not_found(&TXN_SESSIONS),
        ),
        Scenario {
            read_time: true,
            ..s(
                "session: latest, closed",
                "txn_sessions",
                "1",
                None,
                session(Some(0), 1, 1.0, 1.0, (T0 + 2 * HOUR, T0 + 2 * HOUR), false),
            )
        },
        s(
            "export-only view, as of",
            "label_only",
            "1",
            t1,
            values(Some(T0), &["fraud"], vec![json!(true)]),
        ),
        s(
            "export-only view, latest",
            "label_only",
            "1",
            None,
            Expect::Error("is export-only (online = false)"),
        ),
        s(
            "unknown view",
            "nope",
            "1",
            None,
            Expect::Error("unknown feature view \"nope\""),
        ),
        s(
            "over-long key",
            "merchant_risk",
            &"m".repeat(5000),
            None,
            Expect::Error("longer than 4096"),
        ),
        s(
            "string key",
            "merchant_risk",
            "m-1",
            None,
            values(t1, &["risk"], vec![json!(0.25)]),
        ),
    ]
}

/// The answer `e` expects, when it expects a row.
pub fn expected(e: &Expect) -> Option<Answer> {
    match e {
        Expect::Row { event_ts, features } => Some(Ok(features
            .iter()
            .map(|(f, v, s)| {
                (
                    f.to_string(),
                    v.clone(),
                    s.to_string(),
                    event_ts.map(timestamp::format),
                )
            })
            .collect())),
        Expect::Error(_) => None,
    }
}
