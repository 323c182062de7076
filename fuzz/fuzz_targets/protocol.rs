//! The protocol codec: frame headers, every request body (as the server
//! decodes them, with its limits) and every answer body (as the client
//! decodes them). None may panic, and a request that decodes re-encodes to
//! something that decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_format::protocol::{self as p, DecodeLimits, FrameHeader, HEADER_LEN, Kind};

fuzz_target!(|data: &[u8]| {
    let lim = DecodeLimits::default();
    // A byte stream cut into frames as the server reads it.
    let mut rest = data;
    while rest.len() >= HEADER_LEN {
        let mut hdr = [0u8; HEADER_LEN];
        hdr.copy_from_slice(&rest[..HEADER_LEN]);
        let Ok(h) = FrameHeader::decode(&hdr, 1 << 16) else {
            break;
        };
        let end = HEADER_LEN + h.body_len as usize;
        let Some(body) = rest.get(HEADER_LEN..end) else {
            break;
        };
        if let Some(kind) = h.kind() {
            let _ = p::check_request(kind, body, &lim);
        }
        rest = &rest[end..];
    }
    let Some((&k, body)) = data.split_first() else {
        return;
    };
    if let Some(kind) = Kind::from_u8(k) {
        let _ = p::check_request(kind, body, &lim);
    }
    // The client's decoders.
    let _ = p::Welcome::decode(body);
    let _ = p::ErrorBody::decode(body);
    let _ = p::LookupResponse::decode(body);
    let _ = p::HistoryResponse::decode(body);
    let _ = p::RegistryList::decode(body);
    let _ = p::ViewDescription::decode(body);
    let _ = p::decode_hits(body);
    let _ = p::decode_stats(body);
    let _ = p::decode_push_ack(body);
    let _ = p::Health::decode(body);
    let _ = p::ExportDone::decode(body);
    let _ = p::FreshnessResponse::decode(body);
    // Round trips.
    if let Ok(req) = p::LookupRequest::decode(body, &lim) {
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(p::LookupRequest::decode(&out, &lim).as_ref(), Ok(&req));
    }
    if let Ok(req) = p::PushRequest::decode(body, &lim) {
        let mut out = Vec::new();
        req.encode(&mut out);
        let again = p::PushRequest::decode(&out, &lim).expect("re-encoded push decodes");
        assert_eq!(again.rows.len(), req.rows.len());
    }
    if let Ok(req) = p::FreshnessRequest::decode(body) {
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(p::FreshnessRequest::decode(&out), Ok(req));
    }
    if let Ok(resp) = p::FreshnessResponse::decode(body) {
        let mut out = Vec::new();
        resp.encode(&mut out);
        assert_eq!(p::FreshnessResponse::decode(&out).as_ref(), Ok(&resp));
    }
    if let Ok(resp) = p::LookupResponse::decode(body) {
        let mut out = Vec::new();
        resp.encode(&mut out).expect("a decoded answer re-encodes");
        assert_eq!(
            p::LookupResponse::decode(&out).map(|r| r.rows),
            Ok(resp.rows)
        );
    }
});
