//! The connection, the handshake, the stream pool and one request's
//! exchange.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use quinn::{ConnectionError, ReadError, ReadExactError, RecvStream, SendStream, WriteError};

use super::{ClientConfig, Error, Result, protocol};
use strata_format::protocol::{
    self as p, ErrorBody, ErrorCode, FrameHeader, HEADER_LEN, Hello, Kind, VERSION, Welcome,
};

/// The largest answer the client reads, whatever the server announced.
const CLIENT_MAX_FRAME: usize = 1 << 30;

pub(crate) struct Stream {
    pub send: SendStream,
    pub recv: RecvStream,
}

/// One connection and its idle streams.
pub(crate) struct Conn {
    pub conn: quinn::Connection,
    pub welcome: Welcome,
    pool: parking_lot::Mutex<Vec<Stream>>,
    /// One per stream the server allows: a request holds one while it uses
    /// a stream, so idle pooled streams never starve a request that waits
    /// for the server's stream credit.
    pub permits: tokio::sync::Semaphore,
    /// The server's frame limit: requests above it are not sent.
    pub max_request: usize,
}

impl Conn {
    pub async fn open_stream(&self) -> Result<Stream> {
        let (send, recv) = self.conn.open_bi().await.map_err(|e| conn_error(&e))?;
        Ok(Stream { send, recv })
    }

    /// An idle stream (and `true`), or a new one.
    async fn take(&self) -> Result<(Stream, bool)> {
        if let Some(s) = self.pool.lock().pop() {
            return Ok((s, true));
        }
        Ok((self.open_stream().await?, false))
    }

    /// A stream of its own for a request that keeps it to the end (an
    /// export, a raw exchange), with the permit that holds its place: a
    /// fresh stream, not a pooled one (an idle pooled stream is dropped to
    /// make room for it).
    pub async fn own_stream(&self) -> Result<(tokio::sync::SemaphorePermit<'_>, Stream)> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Connection("the connection is closing".into()))?;
        drop(self.pool.lock().pop());
        Ok((permit, self.open_stream().await?))
    }

    fn put(&self, s: Stream) {
        self.pool.lock().push(s);
    }
}

pub(crate) struct Inner {
    pub cfg: ClientConfig,
    endpoint: quinn::Endpoint,
    current: ArcSwapOption<Conn>,
    reconnect: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

pub(crate) fn conn_error(e: &ConnectionError) -> Error {
    match e {
        ConnectionError::ApplicationClosed(c) => Error::server(
            u16::try_from(c.error_code.into_inner()).unwrap_or(u16::MAX),
            String::from_utf8_lossy(&c.reason).into_owned(),
        ),
        ConnectionError::TimedOut => {
            Error::Connection("timed out: the server stopped answering".into())
        }
        e => Error::Connection(e.to_string()),
    }
}

pub(crate) fn write_error(e: &WriteError) -> Error {
    match e {
        WriteError::ConnectionLost(c) => conn_error(c),
        WriteError::Stopped(code) => Error::Connection(format!(
            "the server stopped reading the stream (code {code})"
        )),
        e => Error::Connection(e.to_string()),
    }
}

pub(crate) fn read_error(e: &ReadExactError) -> Error {
    match e {
        ReadExactError::ReadError(ReadError::ConnectionLost(c)) => conn_error(c),
        ReadExactError::FinishedEarly(_) => {
            Error::Connection("the server ended the stream in the middle of a frame".into())
        }
        e => Error::Connection(e.to_string()),
    }
}

/// A request's failure: `Unsent` if the server cannot have run it.
enum Attempt {
    Unsent(Error),
    Failed(Error),
}

/// Reads one frame; `Ok(None)` at a clean end of the stream.
pub(crate) async fn read_frame(recv: &mut RecvStream) -> Result<Option<(FrameHeader, Vec<u8>)>> {
    let mut hdr = [0u8; HEADER_LEN];
    match recv.read_exact(&mut hdr).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(read_error(&e)),
    }
    let h = FrameHeader::decode(&hdr, CLIENT_MAX_FRAME).map_err(protocol)?;
    let mut body = vec![0u8; h.body_len as usize];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| read_error(&e))?;
    Ok(Some((h, body)))
}

/// The error an `Error` frame carries.
pub(crate) fn error_of(body: &[u8]) -> Error {
    match ErrorBody::decode(body) {
        Ok(e) => Error::server(e.code, e.message),
        Err(e) => protocol(e),
    }
}

/// Sends one request frame and reads its answer. Returns the stream if it
/// can carry more requests.
async fn exchange(
    mut st: Stream,
    frame: &[u8],
    id: u64,
    expect: Kind,
) -> (Option<Stream>, std::result::Result<Vec<u8>, Attempt>) {
    if let Err(e) = st.send.write_all(frame).await {
        return (None, Err(Attempt::Unsent(write_error(&e))));
    }
    let (h, body) = match read_frame(&mut st.recv).await {
        Ok(Some(f)) => f,
        // The server ends a stream only between requests: this one was not run.
        Ok(None) => {
            return (
                None,
                Err(Attempt::Unsent(Error::Connection(
                    "the server ended the stream without answering; the request was not run".into(),
                ))),
            );
        }
        Err(e) => return (None, Err(Attempt::Failed(e))),
    };
    if h.request_id != id {
        let e = Error::Protocol(format!(
            "an answer to request {} arrived for request {id}",
            h.request_id
        ));
        return (None, Err(Attempt::Failed(e)));
    }
    match h.kind() {
        Some(k) if k == expect => (Some(st), Ok(body)),
        Some(Kind::Error) => {
            let e = error_of(&body);
            // After these the server ends the stream.
            let keep = !matches!(
                e.code(),
                Some(ErrorCode::FrameTooLarge | ErrorCode::Timeout)
            );
            (keep.then_some(st), Err(Attempt::Failed(e)))
        }
        _ => (
            None,
            Err(Attempt::Failed(Error::Protocol(format!(
                "expected a {expect:?} frame, got kind {:#04x}",
                h.kind_byte
            )))),
        ),
    }
}

impl Inner {
    pub fn new(cfg: ClientConfig) -> Result<Inner> {
        let crypto = super::tls::client_crypto(&cfg.trust)?;
        let mut qc = quinn::ClientConfig::new(Arc::new(crypto));
        let mut t = quinn::TransportConfig::default();
        t.keep_alive_interval(Some(Duration::from_secs(5)));
        qc.transport_config(Arc::new(t));
        let bind: std::net::SocketAddr = if cfg.server.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| Error::Connect {
            addr: cfg.server,
            reason: format!("cannot open a UDP socket: {e}"),
        })?;
        endpoint.set_default_client_config(qc);
        Ok(Inner {
            cfg,
            endpoint,
            current: ArcSwapOption::empty(),
            reconnect: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The live connection, connecting if there is none.
    pub async fn conn(&self) -> Result<Arc<Conn>> {
        if let Some(c) = self.current.load_full()
            && c.conn.close_reason().is_none()
        {
            return Ok(c);
        }
        let _one = self.reconnect.lock().await;
        if let Some(c) = self.current.load_full()
            && c.conn.close_reason().is_none()
        {
            return Ok(c);
        }
        let c = Arc::new(self.open().await?);
        self.current.store(Some(c.clone()));
        Ok(c)
    }

    async fn open(&self) -> Result<Conn> {
        let cfg = &self.cfg;
        let connect = |reason: String| Error::Connect {
            addr: cfg.server,
            reason,
        };
        let connecting = self
            .endpoint
            .connect(cfg.server, &cfg.server_name)
            .map_err(|e| connect(e.to_string()))?;
        let conn = match tokio::time::timeout(cfg.connect_timeout, connecting).await {
            Err(_) => {
                return Err(connect(format!(
                    "no answer within {:?}",
                    cfg.connect_timeout
                )));
            }
            Ok(Err(ConnectionError::ApplicationClosed(c))) => {
                return Err(conn_error(&ConnectionError::ApplicationClosed(c)));
            }
            Ok(Err(e)) => return Err(connect(e.to_string())),
            Ok(Ok(c)) => c,
        };
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| conn_error(&e))?;
        let mut frame = Vec::new();
        let at = p::start_frame(&mut frame, Kind::Hello, 0);
        Hello {
            min_version: VERSION,
            max_version: VERSION,
            token: cfg.token.clone(),
            client: cfg.client_name.clone(),
        }
        .encode(&mut frame);
        let _ = p::finish_frame(&mut frame, at, usize::MAX);
        let answer = async {
            send.write_all(&frame).await.map_err(|e| write_error(&e))?;
            read_frame(&mut recv).await
        };
        let answer = match tokio::time::timeout(cfg.connect_timeout, answer).await {
            Err(_) => return Err(connect("no Welcome from the server".into())),
            Ok(a) => a,
        };
        // A refusal may arrive as the connection's close code instead.
        let closed = || conn.close_reason().map(|e| conn_error(&e));
        let (h, body) = match answer {
            Ok(Some(f)) => f,
            Ok(None) => return Err(closed().unwrap_or_else(|| connect("no Welcome".into()))),
            Err(e) => return Err(closed().unwrap_or(e)),
        };
        match h.kind() {
            Some(Kind::Welcome) => {
                let welcome = Welcome::decode(&body).map_err(protocol)?;
                let max_request = welcome.limits.max_frame_bytes as usize;
                let streams = (welcome.limits.max_streams as usize).max(1);
                Ok(Conn {
                    conn,
                    welcome,
                    pool: parking_lot::Mutex::new(vec![Stream { send, recv }]),
                    permits: tokio::sync::Semaphore::new(streams),
                    max_request,
                })
            }
            Some(Kind::Error) => Err(error_of(&body)),
            _ => Err(Error::Protocol(format!(
                "expected Welcome, got kind {:#04x}",
                h.kind_byte
            ))),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// One request: its frame built by `encode`, the answer's body returned.
    pub async fn call(
        &self,
        kind: Kind,
        encode: impl FnOnce(&mut Vec<u8>),
        expect: Kind,
    ) -> Result<Vec<u8>> {
        let fut = self.call_inner(kind, encode, expect);
        match self.cfg.request_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| Error::Timeout(t))?,
            None => fut.await,
        }
    }

    async fn call_inner(
        &self,
        kind: Kind,
        encode: impl FnOnce(&mut Vec<u8>),
        expect: Kind,
    ) -> Result<Vec<u8>> {
        let conn = self.conn().await?;
        let id = self.next_id();
        let mut frame = Vec::with_capacity(256);
        let at = p::start_frame(&mut frame, kind, id);
        encode(&mut frame);
        p::finish_frame(&mut frame, at, conn.max_request).map_err(|e| {
            Error::Invalid(format!(
                "the request is too large for this server: {e}; split it"
            ))
        })?;
        let _permit = conn
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Connection("the connection is closing".into()))?;
        let (st, reused) = conn.take().await?;
        let (back, r) = exchange(st, &frame, id, expect).await;
        if let Some(s) = back {
            conn.put(s);
        }
        match r {
            Ok(body) => Ok(body),
            // A pooled stream the server had ended: run it on a new one.
            Err(Attempt::Unsent(_)) if reused => {
                let st = conn.open_stream().await?;
                let (back, r) = exchange(st, &frame, id, expect).await;
                if let Some(s) = back {
                    conn.put(s);
                }
                r.map_err(|a| match a {
                    Attempt::Unsent(e) | Attempt::Failed(e) => {
                        conn.conn.close_reason().map_or(e, |c| conn_error(&c))
                    }
                })
            }
            Err(Attempt::Unsent(e) | Attempt::Failed(e)) => {
                Err(conn.conn.close_reason().map_or(e, |c| conn_error(&c)))
            }
        }
    }

    pub async fn close(&self) {
        if let Some(c) = self.current.swap(None) {
            c.conn.close(0u32.into(), b"client closed");
        }
        self.endpoint.wait_idle().await;
    }
}

/// Sends raw bytes, for tests of how the server treats bad input.
#[cfg(any(test, feature = "test-util"))]
impl crate::Client {
    /// Sends `bytes` as they are on a new stream, ends the stream if
    /// `finish`, and returns every frame received until the server ends it
    /// (or `wait` passes).
    pub async fn raw_exchange(
        &self,
        bytes: &[u8],
        finish: bool,
        wait: Duration,
    ) -> Result<Vec<(FrameHeader, Vec<u8>)>> {
        let conn = self.inner.conn().await?;
        let (_permit, mut st) = conn.own_stream().await?;
        st.send
            .write_all(bytes)
            .await
            .map_err(|e| write_error(&e))?;
        if finish {
            let _ = st.send.finish();
        }
        let mut frames = Vec::new();
        let read = async {
            loop {
                match read_frame(&mut st.recv).await {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout(wait, read).await {
            Ok(Err(e)) if frames.is_empty() => Err(e),
            _ => Ok(frames),
        }
    }
}
