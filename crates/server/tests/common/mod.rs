//! In-process request handling: a store with the server tests'
//! definitions and tokens, and requests answered by `strata_server::respond`
//! with no network, decoded as the native client decodes them.

#![allow(dead_code)] // each test file uses a part

pub mod wire;
#[allow(unused_imports, reason = "each test file uses a part")]
pub use wire::{error_code, frame, full_history, int_keys, string_keys, user_row};

use std::collections::HashMap;

use strata_format::protocol::{self as p, ErrorCode, FrameHeader, HEADER_LEN, Kind, WireError};
use strata_server::auth::{self, Grant};
use strata_server::{Handler, Limits, Session, respond};
use strata_store::Store;
use strata_store::catalog::defs;

pub const DEFS: &str = include_str!("../fixtures/server.toml");

/// A store with [`DEFS`] applied, its tokens, and a handler over both.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub handler: Handler,
    pub admin: String,
    pub reader: String,
    pub fraud_writer: String,
}

impl Fixture {
    pub fn new(limits: &Limits) -> Fixture {
        let (tmp, handler, mut tokens) = handler_over(
            DEFS,
            &[
                ("admin", &["admin:*"]),
                ("reader", &["read:view:user_stats"]),
                ("fraud", &["write:team:fraud"]),
            ],
            limits,
        );
        let mut token = |name: &str| tokens.remove(name).unwrap();
        Fixture {
            admin: token("admin"),
            reader: token("reader"),
            fraud_writer: token("fraud"),
            tmp,
            handler,
        }
    }

    pub fn dir(&self) -> std::path::PathBuf {
        self.tmp.path().join("data")
    }

    pub fn session(&self, token: &str) -> Session {
        self.handler.session(token).unwrap()
    }
}

/// A store in `TMP/data` with `defs_text` applied, one token per `(name,
/// grants)` (by name), and a handler over both.
pub fn handler_over(
    defs_text: &str,
    tokens: &[(&str, &[&str])],
    limits: &Limits,
) -> (tempfile::TempDir, Handler, HashMap<String, String>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir).unwrap();
    let d = defs::parse(defs_text).unwrap();
    let plan = defs::plan(&store.catalog(), &d).unwrap();
    store.set_catalog(plan.catalog).unwrap();
    let mut made = HashMap::new();
    for (name, grants) in tokens {
        let g: Vec<Grant> = grants.iter().map(|g| Grant::parse(g).unwrap()).collect();
        made.insert(name.to_string(), auth::create(&dir, name, &g).unwrap().1);
    }
    let handler = Handler::new(store, auth::load(&dir).unwrap(), limits);
    (tmp, handler, made)
}

/// A refused request: its code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

pub type Answer<T> = Result<T, Refused>;

/// Answers one frame; checks that the answer is exactly one frame, with
/// the request's id.
pub fn exchange(s: &Session, h: FrameHeader, body: &[u8]) -> (FrameHeader, Vec<u8>) {
    let out = respond(s, h, body);
    assert!(out.len() >= HEADER_LEN, "no answer frame: {out:?}");
    let hdr: [u8; HEADER_LEN] = out[..HEADER_LEN].try_into().unwrap();
    let ah = FrameHeader::parse(&hdr);
    assert_eq!(ah.body_len as usize, out.len() - HEADER_LEN, "one frame");
    assert_eq!(ah.request_id, h.request_id);
    (ah, out[HEADER_LEN..].to_vec())
}

/// A request of `kind` whose answer should be `answer`, decoded by `dec`.
pub fn call<T>(
    s: &Session,
    kind: Kind,
    enc: impl FnOnce(&mut Vec<u8>),
    answer: Kind,
    dec: impl FnOnce(&[u8]) -> Result<T, WireError>,
) -> Answer<T> {
    let mut body = Vec::new();
    enc(&mut body);
    let h = FrameHeader::new(kind, 42, body.len() as u32);
    let (ah, b) = exchange(s, h, &body);
    if ah.kind() == Some(Kind::Error) {
        let e = p::ErrorBody::decode(&b).unwrap();
        return Err(Refused {
            code: e.code().unwrap(),
            message: e.message,
        });
    }
    assert_eq!(ah.kind(), Some(answer));
    Ok(dec(&b).unwrap())
}

pub fn lookup(s: &Session, req: &p::LookupRequest) -> Answer<p::LookupResponse> {
    call(
        s,
        Kind::Lookup,
        |o| req.encode(o),
        Kind::LookupResult,
        p::LookupResponse::decode,
    )
}

pub fn history(s: &Session, req: &p::HistoryRequest) -> Answer<p::HistoryResponse> {
    call(
        s,
        Kind::History,
        |o| req.encode(o),
        Kind::HistoryResult,
        p::HistoryResponse::decode,
    )
}

pub fn push(s: &Session, view: &str, rows: &[p::RowWrite]) -> Answer<p::WriteSummary> {
    push_with(s, view, rows, &p::PushOptions::default())
}

pub fn push_with(
    s: &Session,
    view: &str,
    rows: &[p::RowWrite],
    opts: &p::PushOptions,
) -> Answer<p::WriteSummary> {
    call(
        s,
        Kind::Push,
        |o| p::encode_push_with(o, view, rows, opts),
        Kind::PushAck,
        p::decode_push_ack,
    )
}

pub fn registry_list(s: &Session) -> Answer<p::RegistryList> {
    call(
        s,
        Kind::RegistryList,
        |_| {},
        Kind::RegistryListResult,
        p::RegistryList::decode,
    )
}

pub fn describe(s: &Session, view: &str) -> Answer<p::ViewDescription> {
    call(
        s,
        Kind::Describe,
        |o| p::encode_name(o, view),
        Kind::DescribeResult,
        p::ViewDescription::decode,
    )
}

pub fn search(s: &Session, query: &str, limit: u32) -> Answer<Vec<p::SearchHit>> {
    let req = p::SearchRequest {
        query: query.into(),
        limit,
    };
    call(
        s,
        Kind::Search,
        |o| req.encode(o),
        Kind::SearchResult,
        p::decode_hits,
    )
}

pub fn stats(s: &Session) -> Answer<Vec<(String, u64)>> {
    call(s, Kind::Stats, |_| {}, Kind::StatsResult, p::decode_stats)
}

pub fn health(s: &Session) -> Answer<p::Health> {
    call(
        s,
        Kind::Health,
        |_| {},
        Kind::HealthResult,
        p::Health::decode,
    )
}

/// The code of a refused request.
pub fn code<T: std::fmt::Debug>(r: Answer<T>) -> ErrorCode {
    match r {
        Err(e) => e.code,
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Answers raw frame bytes (a header and its body) as a stream would.
pub fn exchange_raw(s: &Session, bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
    let hdr: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
    exchange(s, FrameHeader::parse(&hdr), &bytes[HEADER_LEN..])
}
