//! Message bodies: handshake, errors, stats and health (lookups are in
//! [`super::lookup`]). Layouts are in `docs/PROTOCOL.md`; the primitives in
//! [`super::values`].

use crate::error::Reader;
use crate::varint;

use super::frame::WireError;
use super::values::*;
use super::{DecodeLimits, ErrorCode, MAGIC};

/// Fails unless the whole body was read.
pub fn expect_end(r: &Reader<'_>) -> Result<(), WireError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(r
            .invalid(format!("{} trailing byte(s)", r.remaining()))
            .into())
    }
}

/// The first frame of a connection (client to server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub min_version: u16,
    pub max_version: u16,
    pub token: String,
    /// Free text naming the client, for the server's log.
    pub client: String,
}

impl Hello {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.min_version.to_le_bytes());
        out.extend_from_slice(&self.max_version.to_le_bytes());
        put_str(out, &self.token);
        put_str(out, &self.client);
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<Hello, WireError> {
        let mut r = Reader::new(body, "hello");
        let magic: [u8; 4] = r.array()?;
        if magic != MAGIC {
            return Err(crate::DecodeError::BadMagic {
                what: "hello",
                offset: 0,
                got: u64::from(u32::from_le_bytes(magic)),
            }
            .into());
        }
        let min_version = u16::from_le_bytes(r.array()?);
        let max_version = u16::from_le_bytes(r.array()?);
        let token = get_string(&mut r, lim.max_name)?;
        let client = get_string(&mut r, lim.max_name)?;
        expect_end(&r)?;
        Ok(Hello {
            min_version,
            max_version,
            token,
            client,
        })
    }
}

/// The limits a server enforces, announced in its `Welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerLimits {
    pub max_frame_bytes: u32,
    pub max_keys_per_lookup: u32,
    pub max_rows_per_push: u32,
    pub max_streams: u32,
    pub idle_timeout_ms: u32,
}

/// The server's answer to a good `Hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub version: u16,
    /// Free text naming the server.
    pub server: String,
    pub limits: ServerLimits,
}

impl Welcome {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        put_str(out, &self.server);
        let l = &self.limits;
        for v in [
            l.max_frame_bytes,
            l.max_keys_per_lookup,
            l.max_rows_per_push,
            l.max_streams,
            l.idle_timeout_ms,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn decode(body: &[u8]) -> Result<Welcome, WireError> {
        let mut r = Reader::new(body, "welcome");
        let version = u16::from_le_bytes(r.array()?);
        let server = get_string(&mut r, 4096)?;
        let limits = ServerLimits {
            max_frame_bytes: r.u32()?,
            max_keys_per_lookup: r.u32()?,
            max_rows_per_push: r.u32()?,
            max_streams: r.u32()?,
            idle_timeout_ms: r.u32()?,
        };
        expect_end(&r)?;
        Ok(Welcome {
            version,
            server,
            limits,
        })
    }
}

/// An `Error` frame's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The raw code: a newer server may send codes this build does not know.
    pub code: u16,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code: code as u16,
            message: message.into(),
        }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_u16(self.code)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.code.to_le_bytes());
        put_str(out, &self.message);
    }

    pub fn decode(body: &[u8]) -> Result<ErrorBody, WireError> {
        let mut r = Reader::new(body, "error");
        let code = u16::from_le_bytes(r.array()?);
        let message = get_string(&mut r, usize::MAX)?;
        expect_end(&r)?;
        Ok(ErrorBody { code, message })
    }
}

/// Named counters (`StatsResult`).
pub fn encode_stats(out: &mut Vec<u8>, stats: &[(String, u64)]) {
    varint::put(out, stats.len() as u64);
    for (n, v) in stats {
        put_str(out, n);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub fn decode_stats(body: &[u8]) -> Result<Vec<(String, u64)>, WireError> {
    let mut r = Reader::new(body, "stats");
    let n = get_count(&mut r, "counters", usize::MAX, 9)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = get_string(&mut r, usize::MAX)?;
        out.push((name, r.u64()?));
    }
    expect_end(&r)?;
    Ok(out)
}

/// The answer to a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// False once the server is shutting down.
    pub serving: bool,
    pub server_version: String,
    pub uptime_ms: u64,
    pub views: u32,
}

impl Health {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.serving));
        put_str(out, &self.server_version);
        out.extend_from_slice(&self.uptime_ms.to_le_bytes());
        out.extend_from_slice(&self.views.to_le_bytes());
    }

    pub fn decode(body: &[u8]) -> Result<Health, WireError> {
        let mut r = Reader::new(body, "health");
        let serving = get_bool(&mut r)?;
        let server_version = get_string(&mut r, 4096)?;
        let uptime_ms = r.u64()?;
        let views = r.u32()?;
        expect_end(&r)?;
        Ok(Health {
            serving,
            server_version,
            uptime_ms,
            views,
        })
    }
}

/// Fails unless `body` is empty (requests without a body).
pub fn decode_empty(body: &[u8], what: &'static str) -> Result<(), WireError> {
    expect_end(&Reader::new(body, what))
}
