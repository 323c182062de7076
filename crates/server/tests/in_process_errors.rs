//! Every error code a request can get, and auth refusals, answered by
//! `strata_server::respond` in-process (no network). What needs a
//! connection (the handshake, frame headers read from a stream, slow
//! peers, connection limits) is in the root package's `tests/server/`.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use common::*;
use strata_format::protocol::{self as p, ErrorCode, Kind};
use strata_format::schema::{KeyValue, Value};
use strata_server::Limits;
use strata_server::auth;

fn lookup_req(features: &[&str], col: &str, keys: &[i64]) -> p::LookupRequest {
    p::LookupRequest {
        features: features.iter().map(|s| s.to_string()).collect(),
        entities: vec![int_keys(col, keys)],
        ..Default::default()
    }
}

#[test]
fn request_errors() {
    let f = Fixture::new(&Limits {
        max_keys_per_lookup: 100,
        max_rows_per_push: 10,
        ..Limits::default()
    });
    let c = f.session(&f.admin);
    // NOT_FOUND: view, feature.
    assert_eq!(
        code(lookup(&c, &lookup_req(&["nope:*"], "user_id", &[1]))),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(lookup(
            &c,
            &lookup_req(&["user_stats:nope"], "user_id", &[1])
        )),
        ErrorCode::NotFound
    );
    assert_eq!(code(describe(&c, "nope")), ErrorCode::NotFound);
    assert_eq!(
        code(push(&c, "nope", &[user_row(1, 1, 1.0, 1)])),
        ErrorCode::NotFound
    );
    // INVALID_ARGUMENT: missing key column, wrong key type, bad row, from > to.
    assert_eq!(
        code(lookup(&c, &lookup_req(&["user_stats:*"], "uid", &[1]))),
        ErrorCode::InvalidArgument
    );
    let wrong = p::LookupRequest {
        features: vec!["user_stats:*".into()],
        entities: vec![string_keys("user_id", &["1"])],
        ..Default::default()
    };
    assert_eq!(code(lookup(&c, &wrong)), ErrorCode::InvalidArgument);
    let mut bad = user_row(1, 1, 1.0, 1);
    bad.values[1] = Value::String("x".into());
    let e = push(&c, "user_stats", &[bad]).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(e.message.contains("field 1"), "{e}");
    let mut reserved = user_row(1, i64::MAX, 1.0, 1);
    reserved.values.pop();
    assert_eq!(
        code(push(&c, "user_stats", &[reserved])),
        ErrorCode::InvalidArgument
    );
    let h = p::HistoryRequest {
        view: "user_stats".into(),
        key: vec![KeyValue::Int64(1)],
        from: 5,
        to: 4,
        known_at: None,
        limit: 0,
    };
    assert_eq!(code(history(&c, &h)), ErrorCode::InvalidArgument);
    assert_eq!(code(search(&c, "  ", 0)), ErrorCode::InvalidArgument);
    // LIMIT_EXCEEDED: keys per lookup, rows per push.
    let keys: Vec<i64> = (0..101).collect();
    let e = lookup(&c, &lookup_req(&["user_stats:*"], "user_id", &keys)).unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert!(
        e.message
            .contains("keys per lookup: 101 exceeds the limit of 100"),
        "{e}"
    );
    let rows: Vec<_> = (0..11).map(|i| user_row(i, 1, 1.0, 1)).collect();
    assert_eq!(
        code(push(&c, "user_stats", &rows)),
        ErrorCode::LimitExceeded
    );
    // Nothing of the refused push was written.
    let r = lookup(&c, &lookup_req(&["user_stats:txn_count"], "user_id", &[1])).unwrap();
    assert_eq!(r.features[0].statuses, [p::Status::NotFound]);
    // Every refusal was counted.
    let stats = stats(&c).unwrap();
    assert!(stats.iter().find(|(k, _)| k == "errors").unwrap().1 >= 12);
}

#[test]
fn auth_refusals() {
    let f = Fixture::new(&Limits::default());
    // UNAUTHENTICATED: unknown, malformed, altered tokens.
    for t in [
        "",
        "garbage",
        "stk_0000000000000000_00",
        &format!("{}0", f.admin),
    ] {
        let e = f.handler.session(t).err().expect("refused");
        assert_eq!(e.code, ErrorCode::Unauthenticated, "{t:?}: {e}");
    }
    // PERMISSION_DENIED: a reader of user_stats only.
    let r = f.session(&f.reader);
    lookup(&r, &lookup_req(&["user_stats:*"], "user_id", &[1])).unwrap();
    let risk = p::LookupRequest {
        features: vec!["merchant_risk:*".into()],
        entities: vec![string_keys("merchant", &["a"])],
        ..Default::default()
    };
    // A view the token may not read answers exactly as an unknown one.
    let mut unknown = risk.clone();
    unknown.features = vec!["merchant_rizk:*".into()];
    let denied = lookup(&r, &risk).unwrap_err();
    assert_eq!(denied.code, ErrorCode::NotFound);
    assert_eq!(
        denied.message,
        lookup(&r, &unknown)
            .unwrap_err()
            .message
            .replace("merchant_rizk", "merchant_risk")
    );
    // Nor does a wrong feature name on it tell its features.
    unknown.features = vec!["merchant_risk:nope".into()];
    assert_eq!(lookup(&r, &unknown).unwrap_err(), denied);
    let d = describe(&r, "merchant_risk").unwrap_err();
    assert_eq!(d.code, ErrorCode::NotFound);
    let u = describe(&r, "merchant_rizk").unwrap_err();
    assert_eq!(u.code, d.code);
    assert_eq!(
        u.message.replace("merchant_rizk", "merchant_risk"),
        d.message
    );
    // A readable view without the grant asked for: PERMISSION_DENIED.
    assert_eq!(
        code(push(&r, "user_stats", &[user_row(1, 1, 1.0, 1)])),
        ErrorCode::PermissionDenied
    );
    assert_eq!(code(push(&r, "merchant_risk", &[])), ErrorCode::NotFound);
    assert_eq!(code(stats(&r)), ErrorCode::PermissionDenied);
    // Health tells a non-admin token nothing about views.
    assert_eq!(health(&r).unwrap().views, 0);
    assert_eq!(health(&f.session(&f.admin)).unwrap().views, 2);
    let list = registry_list(&r).unwrap();
    assert_eq!(
        list.views
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        ["user_stats"]
    );
    assert!(
        search(&r, "score", 0).unwrap().is_empty(),
        "search hides unreadable views"
    );
    // A team grant: write on fraud's views, nothing on risk's.
    let w = f.session(&f.fraud_writer);
    push(&w, "user_stats", &[user_row(1, 1, 1.0, 1)]).unwrap();
    assert_eq!(code(lookup(&w, &risk)), ErrorCode::NotFound);
    // Revocation takes effect on the next request of an open session.
    let id = &f.reader[4..20];
    assert!(auth::revoke(&f.dir(), id).unwrap());
    f.handler.set_tokens(auth::load(&f.dir()).unwrap());
    assert_eq!(
        code(lookup(&r, &lookup_req(&["user_stats:*"], "user_id", &[1]))),
        ErrorCode::Unauthenticated
    );
    let e = f.handler.session(&f.reader).err().unwrap();
    assert_eq!(e.code, ErrorCode::Unauthenticated);
}

#[test]
fn malformed_and_unknown_requests() {
    let f = Fixture::new(&Limits {
        max_frame_bytes: 4096,
        ..Limits::default()
    });
    let c = f.session(&f.admin);
    // MALFORMED bodies.
    let got = exchange_raw(&c, &frame(Kind::Lookup, 1, &[0xff, 0xff, 0xff]));
    assert_eq!(error_code(&got), ErrorCode::Malformed);
    assert_eq!(got.0.request_id, 1);
    let got = exchange_raw(&c, &frame(Kind::Push, 2, b"\x0auser_stats\x99"));
    assert_eq!(error_code(&got), ErrorCode::Malformed);
    // A push's view is checked before its rows are decoded.
    let got = exchange_raw(&c, &frame(Kind::Push, 2, b"\x05hello\x99"));
    assert_eq!(error_code(&got), ErrorCode::NotFound);
    // UNKNOWN_REQUEST: an unknown kind, a server frame, a second Hello,
    // export data outside an export.
    let mut unknown = frame(Kind::Health, 3, &[]);
    unknown[4] = 0x77;
    let mut hello = Vec::new();
    p::Hello {
        min_version: p::VERSION,
        max_version: p::VERSION,
        token: f.admin.clone(),
        client: "test".into(),
    }
    .encode(&mut hello);
    for bytes in [
        unknown,
        frame(Kind::Welcome, 4, &[]),
        frame(Kind::Hello, 0, &hello),
        frame(Kind::ExportData, 5, b"x"),
    ] {
        assert_eq!(
            error_code(&exchange_raw(&c, &bytes)),
            ErrorCode::UnknownRequest
        );
    }
    let got = exchange_raw(&c, &frame(Kind::Health, 9, &[]));
    assert_eq!(got.0.kind(), Some(Kind::HealthResult));
    // An answer above the frame limit: LIMIT_EXCEEDED.
    let rows: Vec<_> = (0..300).map(|i| user_row(i, 1, 1.0, 1)).collect();
    for chunk in rows.chunks(50) {
        push(&c, "user_stats", chunk).unwrap();
    }
    let keys: Vec<i64> = (0..300).collect();
    let e = lookup(&c, &lookup_req(&["user_stats:*"], "user_id", &keys)).unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e}");
    health(&c).unwrap();
}
