//! Administration bodies (`Admin` → `AdminResult`): apply, plan, lineage,
//! snapshot, delete, flush, compact and token admin over the server. One
//! request kind carries an [`AdminOp`] and its arguments; the answer is a
//! report: the lines the CLI prints and named counts.

use crate::error::Reader;
use crate::schema::KeyValue;
use crate::tagged::tagged_enum;
use crate::varint;

use super::DecodeLimits;
use super::frame::WireError;
use super::messages::{decode_stats, encode_stats, expect_end};
use super::values::*;

tagged_enum! {
    /// What an `Admin` request asks for.
    /// DO NOT CHANGE THESE TAGS: they are part of the protocol.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AdminOp: u8, from_u8 {
        /// args: [definitions TOML]. Applies them; answers the plan's lines.
        Apply = 1 => "apply",
        /// args: [definitions TOML]. The plan only; changes nothing.
        Plan = 2 => "apply --plan",
        /// args: [view]. The view's lineage tree.
        Lineage = 3 => "registry lineage",
        /// args: [view, output directory on the server, from, to, known_at]
        /// (times as decimal µs, empty for none).
        Snapshot = 4 => "snapshot",
        /// args: [entity]; key: the entity key's values.
        Delete = 5 => "delete",
        /// No args. Moves the memtable into segments.
        Flush = 6 => "flush",
        /// No args. Merges every segment into one.
        Compact = 7 => "compact",
        /// args: [name, grant, grant, ...]. The first line is the new token.
        TokenCreate = 8 => "token create",
        /// No args. One line per token: id, name, grants, created (tab-separated).
        TokenList = 9 => "token list",
        /// args: [id or token].
        TokenRevoke = 10 => "token revoke",
    }
}

/// An `Admin` request body.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminRequest {
    pub op: AdminOp,
    pub args: Vec<String>,
    /// The entity key of a `Delete`; empty otherwise.
    pub key: Vec<KeyValue>,
}

/// An `AdminResult` body: what the operation did, as the lines the CLI
/// prints, and its counts by name (`changes`, `rows`, `segments`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminReport {
    pub lines: Vec<String>,
    pub counts: Vec<(String, u64)>,
}

impl AdminReport {
    /// The count called `name`, if the report has one.
    pub fn count(&self, name: &str) -> Option<u64> {
        self.counts.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Largest number of arguments of one admin request.
const MAX_ARGS: usize = 256;

impl AdminRequest {
    pub fn new(op: AdminOp, args: &[&str]) -> AdminRequest {
        AdminRequest {
            op,
            args: args.iter().map(|s| s.to_string()).collect(),
            key: Vec::new(),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.op as u8);
        varint::put(out, self.args.len() as u64);
        for a in &self.args {
            put_str(out, a);
        }
        varint::put(out, self.key.len() as u64);
        for k in &self.key {
            put_key_value(out, k);
        }
    }

    /// Arguments are bounded by the frame (a definitions file is one);
    /// their number and the key's columns by `lim`.
    /// The operation an admin body asks for (its first byte), without
    /// decoding its arguments: a server checks the grant it needs first.
    pub fn peek_op(body: &[u8]) -> Result<AdminOp, WireError> {
        let mut r = Reader::new(body, "admin request");
        let b = r.u8()?;
        AdminOp::from_u8(b).ok_or_else(|| r.invalid(format!("unknown admin op {b:#04x}")).into())
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<AdminRequest, WireError> {
        let mut r = Reader::new(body, "admin request");
        let b = r.u8()?;
        let op =
            AdminOp::from_u8(b).ok_or_else(|| r.invalid(format!("unknown admin op {b:#04x}")))?;
        let n = get_count(&mut r, "admin arguments", MAX_ARGS, 1)?;
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            args.push(get_string(&mut r, usize::MAX)?);
        }
        let n = get_count(&mut r, "key columns", lim.max_key_columns, 2)?;
        let mut key = Vec::with_capacity(n);
        for _ in 0..n {
            key.push(get_key_value(&mut r, lim.max_name)?);
        }
        expect_end(&r)?;
        Ok(AdminRequest { op, args, key })
    }
}

impl AdminReport {
    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::put(out, self.lines.len() as u64);
        for l in &self.lines {
            put_str(out, l);
        }
        encode_stats(out, &self.counts);
    }

    pub fn decode(body: &[u8]) -> Result<AdminReport, WireError> {
        let mut r = Reader::new(body, "admin report");
        let n = get_count(&mut r, "lines", usize::MAX, 1)?;
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            lines.push(get_string(&mut r, usize::MAX)?);
        }
        let counts = decode_stats(body.get(r.pos()..).unwrap_or(&[]))?;
        Ok(AdminReport { lines, counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_request_and_report_round_trip() {
        let lim = DecodeLimits::default();
        let mut req = AdminRequest::new(AdminOp::Delete, &["user"]);
        req.key = vec![KeyValue::Int64(7), KeyValue::String("fr".into())];
        let mut b = Vec::new();
        req.encode(&mut b);
        assert_eq!(AdminRequest::decode(&b, &lim).unwrap(), req);
        for cut in 0..b.len() {
            assert!(AdminRequest::decode(&b[..cut], &lim).is_err(), "cut {cut}");
        }
        let mut bad = b.clone();
        bad[0] = 0x7f;
        assert!(AdminRequest::decode(&bad, &lim).is_err());

        let rep = AdminReport {
            lines: vec!["+ view a@1".into(), String::new()],
            counts: vec![("changes".into(), 1)],
        };
        let mut b = Vec::new();
        rep.encode(&mut b);
        assert_eq!(AdminReport::decode(&b).unwrap(), rep);
        assert_eq!(rep.count("changes"), Some(1));
        b.push(0);
        assert!(AdminReport::decode(&b).is_err());
    }
}
