//! A minimal HTTP/1.1 server over TCP, optionally TLS, shared by the
//! metrics listener (`--metrics ADDR`, plain, [`crate::metrics::route`])
//! and the Feast-compatible endpoint (`--http ADDR`, [`crate::feast::route`]).
//!
//! Bounded everywhere: a request head is at most [`MAX_HEAD`] bytes and must
//! arrive within [`HEAD_TIMEOUT`]; a body needs a `Content-Length` (no
//! chunked bodies) of at most the listener's `max_body` and a sender the
//! listener accepts from the head alone (`body_session`: a token), is
//! reserved from that session's memory shares once its first bytes have
//! arrived and while it is handled ([`read_body`]), and must arrive within
//! [`BODY_TIMEOUT`]; at most `max_connections` connections are served
//! at once (more wait in the kernel's backlog). A listener either answers
//! one request per connection (`Connection: close`) or keeps connections
//! alive between requests ([`KEEP_ALIVE`] at most idle). A request whose
//! body is large is handled on the blocking pool.
//!
//! Routes are plain functions from a [`Request`] to a [`Response`]; this
//! module knows nothing of what they serve.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::quota::Reserved;
use crate::session::Session;
use crate::state::Shared;

/// Largest request head (request line and headers), bytes.
pub const MAX_HEAD: usize = 8 << 10;
/// Time for a request head to arrive (once its first byte has).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a request body to arrive once its head has.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a kept-alive connection may sit idle between requests.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Bodies above this size are handled on the blocking pool.
const HEAVY_BODY: usize = 16 << 10;

/// One request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// HTTP/1.1 without `Connection: close`.
    pub keep_alive: bool,
}

impl Request {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// More header lines, `Name: value` without the line end.
    pub headers: Vec<String>,
    /// Send the headers only (a `HEAD` request).
    pub head_only: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
            head_only: false,
        }
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response::new(status, "application/json", body)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// How a listener serves.
#[derive(Clone)]
pub(crate) struct Listener {
    /// TLS, or plain TCP.
    pub tls: Option<TlsAcceptor>,
    pub max_body: usize,
    pub max_connections: usize,
    /// Keep connections open between requests.
    pub keep_alive: bool,
    pub route: fn(&Arc<Shared>, Request) -> Response,
    /// Who may send a body, judged on the request head before the body
    /// is read: the session whose memory shares the body is reserved
    /// from; `Ok(None)`: the route takes no body (it is read and
    /// dropped, never held); `Err`: the answer, sent before the body is
    /// read (a `401`). Without it, a listener takes no body.
    pub body_session: Option<BodySession>,
}

/// Judges a request head: the session its body is reserved from.
pub(crate) type BodySession = fn(&Arc<Shared>, &Request) -> Result<Option<Session>, Response>;

/// Serves until shutdown begins; then lets the requests in flight finish
/// (for a little while).
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>, how: Listener) {
    let permits = Arc::new(Semaphore::new(how.max_connections));
    let mut stop = shared.shutdown.clone();
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        tokio::select! {
            r = listener.accept() => {
                if let Ok((sock, _)) = r {
                    let _ = sock.set_nodelay(true);
                    let (shared, how) = (shared.clone(), how.clone());
                    conns.spawn(async move {
                        match &how.tls {
                            None => serve(sock, &shared, &how).await,
                            Some(tls) => {
                                let hs = tokio::time::timeout(HEAD_TIMEOUT, tls.accept(sock)).await;
                                if let Ok(Ok(s)) = hs {
                                    serve(s, &shared, &how).await;
                                }
                            }
                        }
                        drop(permit);
                    });
                }
            }
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

/// What arrived of a request.
enum Read {
    /// The request's head (its body not read yet), and its body's length.
    Head(Request, usize),
    /// The peer closed the connection (or went silent) between requests.
    Gone,
    /// Answer this and close.
    Refuse(Response),
}

/// Serves the requests of one connection.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    shared: &Arc<Shared>,
    how: &Listener,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut stop = shared.shutdown.clone();
    let mut first = true;
    loop {
        let got = tokio::select! {
            r = read_head(&mut sock, &mut buf, how, first) => r,
            _ = stop.wait_for(|s| *s), if buf.is_empty() && !first => Read::Gone,
        };
        first = false;
        let (mut req, len) = match got {
            Read::Head(r, len) => (r, len),
            Read::Gone => break,
            Read::Refuse(resp) => {
                let _ = write(&mut sock, &resp, false).await;
                break;
            }
        };
        // Who sends the body, from the head alone: a body nobody may send
        // is refused before it is read.
        let session = match (len, how.body_session) {
            (0, _) | (_, None) => None,
            (_, Some(judge)) => match judge(shared, &req) {
                Ok(s) => s,
                Err(resp) => {
                    let _ = write(&mut sock, &resp, false).await;
                    break;
                }
            },
        };
        let body = read_body(&mut sock, &mut buf, &req, len, session.as_ref()).await;
        let permit = match body {
            Body::Read(b, permit) => {
                req.body = b;
                permit
            }
            Body::Gone => break,
            Body::Refuse(resp) => {
                let _ = write(&mut sock, &resp, false).await;
                break;
            }
        };
        let keep = how.keep_alive && req.keep_alive && !shared.shutting_down();
        let resp = if req.body.len() > HEAVY_BODY {
            let (s, route) = (shared.clone(), how.route);
            match tokio::task::spawn_blocking(move || route(&s, req)).await {
                Ok(r) => r,
                Err(_) => Response::text(500, "the server failed on this request\n"),
            }
        } else {
            let route = how.route;
            std::panic::catch_unwind(AssertUnwindSafe(|| route(shared, req))).unwrap_or_else(|_| {
                Response::text(500, "the server failed on this request (a bug)\n")
            })
        };
        drop(permit);
        if write(&mut sock, &resp, keep).await.is_err() || !keep {
            break;
        }
    }
    close(&mut sock).await;
}

fn refuse(status: u16, message: &str) -> Read {
    Read::Refuse(Response::text(status, &format!("{message}\n")))
}

/// Reads one request's head (bounded in size and time) and checks its
/// body's length; the body is left unread.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(
    sock: &mut S,
    buf: &mut Vec<u8>,
    how: &Listener,
    first: bool,
) -> Read {
    let mut chunk = [0u8; 4096];
    let mut started = (!buf.is_empty()).then(Instant::now);
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return refuse(431, "the request head is too long");
        }
        let wait = match started {
            Some(t) => HEAD_TIMEOUT.saturating_sub(t.elapsed()),
            None if first => HEAD_TIMEOUT,
            None => KEEP_ALIVE,
        };
        match tokio::time::timeout(wait, sock.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Read::Gone,
            Ok(Ok(n)) => {
                started.get_or_insert_with(Instant::now);
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(_) if started.is_some() => {
                return refuse(408, "the request head did not arrive in time");
            }
            Err(_) => return Read::Gone,
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return refuse(400, "bad request line");
    };
    if parts.next().is_some() || !matches!(version, "HTTP/1.1" | "HTTP/1.0") || method.is_empty() {
        return refuse(400, "bad request line");
    }
    let mut headers = Vec::new();
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return refuse(400, "bad header line");
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut req = Request {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or_default().to_string(),
        keep_alive: version == "HTTP/1.1",
        headers,
        body: Vec::new(),
    };
    if req
        .header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    {
        req.keep_alive = false;
    }
    if req.header("transfer-encoding").is_some() {
        return refuse(
            501,
            "chunked request bodies are not supported; send a Content-Length",
        );
    }
    let mut lengths = req
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>());
    let len = match (lengths.next(), lengths.next()) {
        (None, _) => 0,
        (Some(Ok(n)), None) => n,
        _ => return refuse(400, "bad Content-Length"),
    };
    if len > how.max_body {
        return refuse(
            413,
            &format!(
                "the request body ({len} bytes) is above the limit of {} bytes",
                how.max_body
            ),
        );
    }
    Read::Head(req, len)
}

/// What arrived of a request's body.
enum Body<'s> {
    /// The body, and its memory while the request is handled.
    Read(Vec<u8>, Option<Reserved<'s>>),
    Gone,
    Refuse(Response),
}

/// Reads the `len` bytes of `req`'s body (some may be in `buf` already),
/// within [`BODY_TIMEOUT`] of its head. With a session, the body is
/// reserved whole from its memory shares (the connection's, the token's,
/// the server's: [`Session::reserve`], as a QUIC body is) once its first
/// bytes have arrived, so a head announcing a body that never comes holds
/// nothing, and slow bodies hold at most their token's share; the wait
/// for memory counts in the timeout (`408` when it runs out). Without
/// one, the body is read and dropped, never held.
async fn read_body<'s, S: AsyncRead + AsyncWrite + Unpin>(
    sock: &mut S,
    buf: &mut Vec<u8>,
    req: &Request,
    len: usize,
    session: Option<&'s Session>,
) -> Body<'s> {
    if len == 0 {
        return Body::Read(Vec::new(), None);
    }
    let expect = req.header("expect");
    if len > buf.len()
        && expect.is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        && sock
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return Body::Gone;
    }
    let mut chunk = [0u8; 4096];
    let read = async {
        // The first bytes, then the memory, then the rest.
        while buf.is_empty() {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let Some(session) = session else {
            // Dropped as it comes: nothing is held.
            let mut left = len;
            loop {
                let n = left.min(buf.len());
                buf.drain(..n);
                left -= n;
                if left == 0 {
                    return Some(Body::Read(Vec::new(), None));
                }
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        let bytes = u32::try_from(len).unwrap_or(u32::MAX);
        let reserved = session.reserve(bytes).await?;
        buf.reserve_exact(len.saturating_sub(buf.len()));
        while buf.len() < len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        // The body moves out; what follows it (a pipelined request) stays.
        let rest = buf.split_off(len);
        Some(Body::Read(std::mem::replace(buf, rest), Some(reserved)))
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Some(body)) => body,
        Ok(None) => Body::Gone,
        Err(_) => Body::Refuse(Response::text(
            408,
            "the request body did not arrive in time (or the server's memory for bodies stayed taken)\n",
        )),
    }
}

async fn write<S: AsyncWrite + Unpin>(
    sock: &mut S,
    r: &Response,
    keep: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if keep { "keep-alive" } else { "close" }
    )
    .into_bytes();
    for h in &r.headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !r.head_only {
        out.extend_from_slice(&r.body);
    }
    sock.write_all(&out).await?;
    sock.flush().await
}

/// Ends the connection, then reads (and drops) what the client still
/// sends, a little, so that closing does not reset the connection before
/// the client has read the answer.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(sock: &mut S) {
    if sock.shutdown().await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let drain = async {
        let mut left = 64usize << 10;
        while left > 0 {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}
