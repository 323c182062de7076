//! Round trips of every message, and the decoders' refusals.

use super::*;
use crate::schema::{FeatureType, KeyType, KeyValue, Value};

fn lookup_req() -> LookupRequest {
    LookupRequest {
        features: vec!["user_stats:*".into(), "risk@2:score".into()],
        entities: vec![
            KeyColumn {
                name: "user_id".into(),
                values: KeyColumnValues::Int64(vec![1, -2, i64::MAX]),
            },
            KeyColumn {
                name: "merchant".into(),
                values: KeyColumnValues::String(vec!["a".into(), "".into(), "é\0x".into()]),
            },
        ],
        as_of: Some(-5),
        known_at: None,
        with_created_ts: true,
        request: vec![RequestColumn {
            name: "txn_amount".into(),
            values: vec![Some("12.5".into()), None, Some(String::new())],
        }],
    }
}

/// Whether a decoding was refused as over a limit.
fn over_limit<T>(decoded: Result<T, WireError>) -> bool {
    matches!(decoded, Err(e) if e.code() == ErrorCode::LimitExceeded)
}

#[test]
fn lookup_round_trips_and_is_bounded() {
    let req = lookup_req();
    let mut b = Vec::new();
    req.encode(&mut b);
    let lim = DecodeLimits::default();
    assert_eq!(LookupRequest::decode(&b, &lim), Ok(req.clone()));
    // Every truncation is refused, never a panic.
    for cut in 0..b.len() {
        assert!(LookupRequest::decode(&b[..cut], &lim).is_err(), "cut {cut}");
    }
    let small = DecodeLimits { max_keys: 2, ..lim };
    assert!(over_limit(LookupRequest::decode(&b, &small)));
    let few = DecodeLimits {
        max_features: 1,
        ..lim
    };
    assert!(over_limit(LookupRequest::decode(&b, &few)));
    // A huge row count with no bytes behind it is refused before any allocation.
    let mut huge = Vec::new();
    LookupRequest {
        entities: vec![],
        request: vec![],
        ..req
    }
    .encode(&mut huge);
    let bogus = [0u8, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f, 1, 1, b'k', 1];
    assert!(LookupRequest::decode(&bogus, &DecodeLimits::unbounded()).is_err());
    assert!(LookupRequest::decode(&huge, &lim).is_ok());
    // Rows without a key column are refused (found by the fuzz target:
    // a request column's values would not survive a round trip, as the
    // encoder counts rows from the key columns).
    let mut b = vec![2u8, 0, 0, 0]; // request flag, no as_of, known_at, features
    b.extend([1, 0, 1, 0, 1, 1, 0]); // 1 row, 0 key columns, 1 request column "" = [None]
    let e = LookupRequest::decode(&b, &lim).unwrap_err();
    assert!(e.to_string().contains("no key column"), "{e}");
    // Request columns of no rows round trip (a name is their only byte).
    let no_rows = LookupRequest {
        features: vec![],
        entities: vec![],
        as_of: None,
        known_at: None,
        with_created_ts: false,
        request: ["", "&"]
            .map(|name| RequestColumn {
                name: name.into(),
                values: vec![],
            })
            .to_vec(),
    };
    let mut b = Vec::new();
    no_rows.encode(&mut b);
    assert_eq!(LookupRequest::decode(&b, &lim), Ok(no_rows));
}

#[test]
fn lookup_response_round_trips() {
    let resp = LookupResponse {
        rows: 4,
        features: vec![
            FeatureColumn {
                name: "v:a".into(),
                ty: FeatureType::String,
                statuses: vec![
                    Status::Present,
                    Status::NotFound,
                    Status::OutsideMaxAge,
                    Status::Defaulted,
                ],
                event_ts: vec![Some(1), None, Some(3), Some(4)],
                created_ts: vec![Some(10), None, Some(30), Some(40)],
                values: vec![
                    Value::String("x".into()),
                    Value::String("dflt".into()),
                    Value::String("dflt".into()),
                    Value::String("dflt".into()),
                ],
                default: Some(Value::String("dflt".into())),
            },
            FeatureColumn {
                name: "v:b".into(),
                ty: FeatureType::ListFloat32,
                statuses: vec![
                    Status::NullValue,
                    Status::Present,
                    Status::Present,
                    Status::Present,
                ],
                event_ts: vec![Some(1), Some(2), Some(3), Some(4)],
                created_ts: vec![],
                values: vec![
                    Value::Null,
                    Value::ListFloat32(vec![1.0]),
                    Value::ListFloat32(vec![]),
                    Value::ListFloat32(vec![2.0]),
                ],
                default: None,
            },
        ],
    };
    let mut b = Vec::new();
    resp.encode(&mut b).unwrap();
    assert_eq!(LookupResponse::decode(&b), Ok(resp));
    for cut in 0..b.len() {
        assert!(LookupResponse::decode(&b[..cut]).is_err(), "cut {cut}");
    }
    b.push(0);
    assert!(LookupResponse::decode(&b).is_err(), "trailing byte");
    // A status byte past DEFAULTED (4) is malformed.
    assert_eq!(
        Status::from_u8(Status::Defaulted as u8),
        Some(Status::Defaulted)
    );
    assert_eq!(Status::from_u8(5), None);
}

#[test]
fn other_messages_round_trip() {
    let lim = DecodeLimits::default();
    let hello = Hello {
        min_version: 1,
        max_version: 3,
        token: "stk_a_b".into(),
        client: "c".into(),
    };
    let mut b = Vec::new();
    hello.encode(&mut b);
    assert_eq!(Hello::decode(&b, &lim), Ok(hello));
    b[0] = b'X';
    assert!(matches!(Hello::decode(&b, &lim), Err(WireError::Decode(_))));

    let w = Welcome {
        version: 1,
        server: "s".into(),
        limits: ServerLimits {
            max_frame_bytes: 1,
            max_keys_per_lookup: 2,
            max_rows_per_push: 3,
            max_streams: 4,
            idle_timeout_ms: 5,
        },
    };
    let mut b = Vec::new();
    w.encode(&mut b);
    assert_eq!(Welcome::decode(&b), Ok(w));

    let h = HistoryRequest {
        view: "v".into(),
        key: vec![KeyValue::Int64(1), KeyValue::String("x".into())],
        from: i64::MIN,
        to: 7,
        known_at: Some(9),
        limit: 4,
    };
    let mut b = Vec::new();
    h.encode(&mut b);
    assert_eq!(HistoryRequest::decode(&b, &lim), Ok(h));

    let hr = HistoryResponse {
        view: "v@2".into(),
        features: vec![
            ("a".into(), FeatureType::Int64),
            ("b".into(), FeatureType::Bool),
        ],
        versions: vec![HistoryVersion {
            event_ts: 5,
            created_ts: 6,
            values: vec![Value::Int64(1), Value::Null],
        }],
        truncated: true,
    };
    let mut b = Vec::new();
    hr.encode(&mut b).unwrap();
    assert_eq!(HistoryResponse::decode(&b), Ok(hr));

    let push = PushRequest {
        view: "v".into(),
        rows: vec![RowWrite {
            key: vec![KeyValue::Int64(1)],
            event_ts: 2,
            created_ts: None,
            values: vec![Value::Float64(1.5), Value::Null, Value::Bytes(vec![1])],
        }],
        options: PushOptions::default(),
    };
    let mut with = push.clone();
    with.options = PushOptions {
        batch_id: Some("nightly-2024-05-01".into()),
        backfill: true,
        force: false,
    };
    let mut b = Vec::new();
    with.encode(&mut b);
    assert_eq!(PushRequest::decode(&b, &lim), Ok(with));
    let mut b = Vec::new();
    push.encode(&mut b);
    assert_eq!(PushRequest::decode(&b, &lim), Ok(push.clone()));
    let few = DecodeLimits {
        max_values: 2,
        ..lim
    };
    assert!(over_limit(PushRequest::decode(&b, &few)));

    let list = RegistryList {
        entities: vec![EntityInfo {
            name: "user".into(),
            description: "d".into(),
            join_keys: vec![("user_id".into(), KeyType::Int64)],
        }],
        views: vec![ViewSummary {
            name: "v".into(),
            version: 1,
            entities: vec!["user".into()],
            features: 2,
            ttl_micros: 0,
            description: "x".into(),
            owner: "o".into(),
            team: "t".into(),
            tags: vec!["a".into()],
            online: true,
            id: 7,
            created_at: Some(-3),
            changed_at: None,
        }],
    };
    let mut b = Vec::new();
    list.encode(&mut b);
    assert_eq!(RegistryList::decode(&b), Ok(list));

    let d = ViewDescription {
        name: "v".into(),
        version: 2,
        entities: vec!["user".into()],
        join_keys: vec![("user_id".into(), KeyType::Int64)],
        ttl_micros: 5,
        features: vec![FeatureInfo {
            name: "f".into(),
            ty: FeatureType::Timestamp,
            description: "".into(),
            tags: vec![],
        }],
        metadata: vec![("team".into(), "\"t\"".into())],
        id: 4,
        versions: vec!["v".into(), "v@2".into()],
        source: "push".into(),
        last_ingest: "{}".into(),
    };
    let mut b = Vec::new();
    d.encode(&mut b);
    assert_eq!(ViewDescription::decode(&b), Ok(d));

    let hits = vec![SearchHit {
        kind: HitKind::Feature,
        view: "v".into(),
        name: "f".into(),
        matched: "tags".into(),
    }];
    let mut b = Vec::new();
    encode_hits(&mut b, &hits);
    assert_eq!(decode_hits(&b), Ok(hits));

    let e = ExportStart {
        features: vec!["v:*".into()],
        full_feature_names: true,
        known_at: ExportKnownAt::At(-1),
    };
    let mut b = Vec::new();
    e.encode(&mut b);
    assert_eq!(ExportStart::decode(&b, &lim), Ok(e));
    let done = ExportDone {
        rows: 9,
        matched: vec![("v".into(), 3)],
    };
    let mut b = Vec::new();
    done.encode(&mut b);
    assert_eq!(ExportDone::decode(&b), Ok(done));

    let err = ErrorBody::new(ErrorCode::NotFound, "no view");
    let mut b = Vec::new();
    err.encode(&mut b);
    assert_eq!(ErrorBody::decode(&b), Ok(err));
    let health = Health {
        serving: false,
        server_version: "1".into(),
        uptime_ms: 3,
        views: 2,
    };
    let mut b = Vec::new();
    health.encode(&mut b);
    assert_eq!(Health::decode(&b), Ok(health));
}

#[test]
fn check_request_names_the_code() {
    let lim = DecodeLimits::default();
    assert_eq!(check_request(Kind::Health, &[], &lim), Ok(()));
    assert_eq!(
        check_request(Kind::Health, &[1], &lim),
        Err(ErrorCode::Malformed)
    );
    assert_eq!(
        check_request(Kind::Welcome, &[], &lim),
        Err(ErrorCode::UnknownRequest)
    );
    assert_eq!(
        check_request(Kind::Lookup, &[9], &lim),
        Err(ErrorCode::Malformed)
    );
    for c in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_u16(c as u16), Some(c));
    }
    assert_eq!(ErrorCode::from_u16(0), None);
}
