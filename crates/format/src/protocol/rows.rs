//! Bodies that carry rows: history (versions of one key) and push (rows
//! to write). Layouts are in `docs/PROTOCOL.md`.

use crate::error::Reader;
use crate::row;
use crate::schema::{FeatureType, KeyValue, Value};
use crate::varint;

use super::DecodeLimits;
use super::frame::WireError;
use super::messages::expect_end;
use super::summary::{PushOptions, WriteSummary};
use super::values::*;

/// Every version of one key of one view in `[from, to]`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    pub view: String,
    pub key: Vec<KeyValue>,
    pub from: i64,
    pub to: i64,
    pub known_at: Option<i64>,
    /// At most this many versions (the newest); 0 = the server's maximum.
    pub limit: u32,
}

impl HistoryRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, &self.view);
        varint::put(out, self.key.len() as u64);
        for k in &self.key {
            put_key_value(out, k);
        }
        out.extend_from_slice(&self.from.to_le_bytes());
        out.extend_from_slice(&self.to.to_le_bytes());
        put_opt_i64(out, self.known_at);
        out.extend_from_slice(&self.limit.to_le_bytes());
    }

    /// The view a history body names (its first field), without decoding
    /// the rest: a server checks the read grant first.
    pub fn peek_view<'a>(body: &'a [u8], lim: &DecodeLimits) -> Result<&'a str, WireError> {
        let mut r = Reader::new(body, "history");
        get_str(&mut r, lim.max_name)
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<HistoryRequest, WireError> {
        let mut r = Reader::new(body, "history");
        let view = get_string(&mut r, lim.max_name)?;
        let key = get_key(&mut r, lim)?;
        let from = r.i64()?;
        let to = r.i64()?;
        let known_at = get_opt_i64(&mut r)?;
        let limit = r.u32()?;
        expect_end(&r)?;
        Ok(HistoryRequest {
            view,
            key,
            from,
            to,
            known_at,
            limit,
        })
    }
}

fn get_key(r: &mut Reader<'_>, lim: &DecodeLimits) -> Result<Vec<KeyValue>, WireError> {
    let n = get_count(r, "key values", lim.max_key_columns, 2)?;
    let mut key = Vec::with_capacity(n);
    for _ in 0..n {
        key.push(get_key_value(r, crate::key::MAX_ENTITY_KEY_LEN)?);
    }
    Ok(key)
}

/// One version in a history answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryVersion {
    pub event_ts: i64,
    pub created_ts: i64,
    pub values: Vec<Value>,
}

/// The answer to a history request.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryResponse {
    /// The view as `name` or `name@version`.
    pub view: String,
    pub features: Vec<(String, FeatureType)>,
    /// Newest first.
    pub versions: Vec<HistoryVersion>,
    /// More versions matched than were sent (the limit cut them).
    pub truncated: bool,
}

impl HistoryResponse {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        put_str(out, &self.view);
        varint::put(out, self.features.len() as u64);
        for (n, t) in &self.features {
            put_str(out, n);
            out.push(*t as u8);
        }
        out.push(u8::from(self.truncated));
        varint::put(out, self.versions.len() as u64);
        let schema: Vec<FeatureType> = self.features.iter().map(|f| f.1).collect();
        let mut buf = Vec::new();
        for v in &self.versions {
            out.extend_from_slice(&v.event_ts.to_le_bytes());
            out.extend_from_slice(&v.created_ts.to_le_bytes());
            row::encode_row(&schema, &v.values, &mut buf)?;
            put_bytes(out, &buf);
        }
        Ok(())
    }

    pub fn decode(body: &[u8]) -> Result<HistoryResponse, WireError> {
        let mut r = Reader::new(body, "history result");
        let view = get_string(&mut r, usize::MAX)?;
        let nf = get_count(&mut r, "features", usize::MAX, 2)?;
        let mut features = Vec::with_capacity(nf);
        for _ in 0..nf {
            let n = get_string(&mut r, usize::MAX)?;
            features.push((n, get_feature_type(&mut r)?));
        }
        let truncated = get_bool(&mut r)?;
        let n = get_count(&mut r, "versions", usize::MAX, 17)?;
        let schema: Vec<FeatureType> = features.iter().map(|f| f.1).collect();
        let mut versions = Vec::with_capacity(n);
        for _ in 0..n {
            let event_ts = r.i64()?;
            let created_ts = r.i64()?;
            let bytes = get_bytes(&mut r, usize::MAX)?;
            let values = row::decode_row(&schema, bytes)?;
            versions.push(HistoryVersion {
                event_ts,
                created_ts,
                values,
            });
        }
        expect_end(&r)?;
        Ok(HistoryResponse {
            view,
            features,
            versions,
            truncated,
        })
    }
}

/// One version to write.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWrite {
    pub key: Vec<KeyValue>,
    pub event_ts: i64,
    /// The server's clock if `None`.
    pub created_ts: Option<i64>,
    /// One per feature of the view, in schema order.
    pub values: Vec<Value>,
}

/// A batch of rows for one view, written atomically and acknowledged once
/// durable.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushRequest {
    pub view: String,
    pub rows: Vec<RowWrite>,
    /// Batch id, backfill, force: a trailer after the rows, absent when
    /// all are defaults.
    pub options: PushOptions,
}

impl PushRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_push(out, &self.view, &self.rows);
        self.options.encode(out);
    }

    /// The view a push body names (its first field), without decoding its
    /// rows: a server checks the write grant before it spends memory on
    /// them.
    pub fn peek_view<'a>(body: &'a [u8], lim: &DecodeLimits) -> Result<&'a str, WireError> {
        let mut r = Reader::new(body, "push");
        get_str(&mut r, lim.max_name)
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<PushRequest, WireError> {
        let mut r = Reader::new(body, "push");
        let view = get_string(&mut r, lim.max_name)?;
        let n = get_count(&mut r, "rows per push", lim.max_rows, 11)?;
        let mut rows = Vec::with_capacity(n);
        let mut cells = 0usize;
        for _ in 0..n {
            let key = get_key(&mut r, lim)?;
            let event_ts = r.i64()?;
            let created_ts = get_opt_i64(&mut r)?;
            let nv = get_count(&mut r, "values per row", lim.max_values, 1)?;
            cells = cells.saturating_add(nv);
            if cells > lim.max_values {
                return Err(WireError::Limit {
                    what: "values per push",
                    count: cells as u64,
                    limit: lim.max_values,
                });
            }
            let mut values = Vec::with_capacity(nv);
            for _ in 0..nv {
                values.push(get_tagged_value(&mut r)?);
            }
            rows.push(RowWrite {
                key,
                event_ts,
                created_ts,
                values,
            });
        }
        let options = PushOptions::decode_from(&mut r, lim.max_name)?;
        expect_end(&r)?;
        Ok(PushRequest {
            view,
            rows,
            options,
        })
    }
}

/// Encodes a push body without owning the rows.
pub fn encode_push(out: &mut Vec<u8>, view: &str, rows: &[RowWrite]) {
    put_str(out, view);
    varint::put(out, rows.len() as u64);
    for row in rows {
        varint::put(out, row.key.len() as u64);
        for k in &row.key {
            put_key_value(out, k);
        }
        out.extend_from_slice(&row.event_ts.to_le_bytes());
        put_opt_i64(out, row.created_ts);
        varint::put(out, row.values.len() as u64);
        for v in &row.values {
            put_tagged_value(out, v);
        }
    }
}

/// A push body with options (see [`PushOptions::encode`]).
pub fn encode_push_with(out: &mut Vec<u8>, view: &str, rows: &[RowWrite], opts: &PushOptions) {
    encode_push(out, view, rows);
    opts.encode(out);
}

/// A `PushAck` body: what the push did.
pub fn encode_push_ack(out: &mut Vec<u8>, summary: &WriteSummary) {
    summary.encode(out);
}

pub fn decode_push_ack(body: &[u8]) -> Result<WriteSummary, WireError> {
    WriteSummary::decode(body)
}
