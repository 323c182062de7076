//! Issue 15, "request bodies are decoded only after authentication and the
//! grant check of their kind": a lookup's and a history's views and an
//! admin request's operation are read from the first fields of the body,
//! and the grant checked on them, before the rest is decoded. A body that
//! is malformed past those fields shows it: from a token without the
//! grant it is refused as the grant says (`NOT_FOUND` for a view it may
//! not read, as an unknown one; `PERMISSION_DENIED` for an admin
//! operation), and only a token with the grant learns that it is
//! `MALFORMED`. Row 8's bound, for lookups: denied lookups of 10 MB of
//! keys cost no decoded copy of their keys.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;
mod scenario;

use common::{Fixture, exchange, string_keys};
use scenario::{in_own_process, refused_eight_at_once};
use strata_format::protocol::{self as p, AdminOp, ErrorCode, FrameHeader, Kind};
use strata_server::{Limits, Session};

/// Bytes that do not decode as anything (an unterminated varint, then
/// nothing).
const GARBAGE: [u8; 12] = [0xff; 12];

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).unwrap());
    out.extend_from_slice(s.as_bytes());
}

/// A lookup body that names `feature` and is malformed after it.
fn lookup_then_garbage(feature: &str) -> Vec<u8> {
    // flags, as_of absent, known_at absent, one feature reference.
    let mut b = vec![0, 0, 0, 1];
    put_str(&mut b, feature);
    b.extend_from_slice(&GARBAGE);
    b
}

/// A history body that names `view` and is malformed after it.
fn history_then_garbage(view: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, view);
    b.extend_from_slice(&GARBAGE);
    b
}

/// An admin body whose operation is `op` and is malformed after it.
fn admin_then_garbage(op: AdminOp) -> Vec<u8> {
    let mut b = Vec::new();
    p::AdminRequest::new(op, &["user"]).encode(&mut b);
    b.truncate(1);
    b.extend_from_slice(&GARBAGE);
    b
}

fn answer(s: &Session, kind: Kind, body: &[u8]) -> (ErrorCode, String) {
    let (h, b) = exchange(s, FrameHeader::new(kind, 7, body.len() as u32), body);
    assert_eq!(h.kind(), Some(Kind::Error), "{h:?}");
    let e = p::ErrorBody::decode(&b).unwrap();
    (e.code().unwrap(), e.message)
}

#[test]
fn a_denied_body_is_refused_before_the_rest_is_decoded() {
    let f = Fixture::new(&Limits::default());
    let (reader, admin) = (f.session(&f.reader), f.session(&f.admin));

    // The reader may read user_stats: its malformed lookup is MALFORMED.
    let readable = lookup_then_garbage("user_stats:txn_count");
    assert_eq!(
        answer(&reader, Kind::Lookup, &readable).0,
        ErrorCode::Malformed
    );
    // merchant_risk it may not read: refused as an unknown view is, with
    // the same message, before the rows (the garbage) are looked at.
    let denied = answer(
        &reader,
        Kind::Lookup,
        &lookup_then_garbage("merchant_risk:score"),
    );
    let unknown = answer(&reader, Kind::Lookup, &lookup_then_garbage("nope:score"));
    assert_eq!(denied.0, ErrorCode::NotFound, "{}", denied.1);
    assert_eq!(unknown.0, ErrorCode::NotFound, "{}", unknown.1);
    assert_eq!(
        denied.1.replace("merchant_risk", "VIEW"),
        unknown.1.replace("nope", "VIEW")
    );
    // The admin may read it: the same body is MALFORMED for it.
    let (code, _) = answer(
        &admin,
        Kind::Lookup,
        &lookup_then_garbage("merchant_risk:score"),
    );
    assert_eq!(code, ErrorCode::Malformed);

    // Histories: the view first.
    let (code, _) = answer(&reader, Kind::History, &history_then_garbage("user_stats"));
    assert_eq!(code, ErrorCode::Malformed);
    let (code, msg) = answer(
        &reader,
        Kind::History,
        &history_then_garbage("merchant_risk"),
    );
    assert_eq!(code, ErrorCode::NotFound, "{msg}");

    // Admin requests: the operation's grant class first.
    let (code, msg) = answer(&reader, Kind::Admin, &admin_then_garbage(AdminOp::Delete));
    assert_eq!(code, ErrorCode::PermissionDenied, "{msg}");
    assert!(msg.contains("admin:*"), "{msg}");
    let (code, _) = answer(&admin, Kind::Admin, &admin_then_garbage(AdminOp::Delete));
    assert_eq!(code, ErrorCode::Malformed);
    // Lineage needs read on its view, checked once it is decoded.
    let (code, _) = answer(&reader, Kind::Admin, &admin_then_garbage(AdminOp::Lineage));
    assert_eq!(code, ErrorCode::Malformed);
}

const DEFS: &str = include_str!("fixtures/hostile-decode.toml");

/// Row 8, for lookups: 32 lookups (8 at once) of 10,000 keys of 1,000
/// bytes (10 MB) on a view the token may not read are refused before
/// their keys are decoded (a decoded copy is as large again).
#[test]
fn row8_denied_lookups_are_refused_before_decoding() {
    in_own_process("row8_denied_lookups_are_refused_before_decoding", || {
        let keys: Vec<String> = (0..10_000).map(|i| format!("{i:0>1000}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let req = p::LookupRequest {
            features: vec!["risk:score".into()],
            entities: vec![string_keys("merchant", &keys)],
            ..Default::default()
        };
        let mut body = Vec::new();
        req.encode(&mut body);
        drop(req);
        assert!(body.len() > 10_000_000);
        refused_eight_at_once(
            DEFS,
            ("growth", "read:team:growth"),
            (Kind::Lookup, body),
            ErrorCode::NotFound,
            "row 8, denied lookups",
        );
    });
}
