//! The metrics listener of `strata serve --metrics ADDR`: a minimal
//! HTTP/1.1 server over TCP that answers `GET /metrics` (and `HEAD`) with
//! [`crate::metrics::render`], `404` for any other path and `405` for any
//! other method. One request per connection (`Connection: close`); a
//! request head is at most [`MAX_HEAD`] bytes and must arrive within
//! [`HEAD_TIMEOUT`]; at most [`MAX_CONNECTIONS`] are served at once (more
//! wait in the kernel's backlog). No authentication: bind it to an address
//! only your monitoring can reach.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::state::Shared;

/// Largest request head (request line and headers), bytes.
pub const MAX_HEAD: usize = 8 << 10;
/// Time for a request head to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;

/// Serves until shutdown begins.
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let _ = serve(sock, &shared).await;
                        drop(permit);
                    });
                }
            }
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// What arrived of a request head.
enum Head {
    /// The request line and headers, without the blank line.
    Complete(Vec<u8>),
    TooLong,
    /// The peer closed the connection first.
    Closed,
}

async fn read_head(sock: &mut TcpStream) -> std::io::Result<Head> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            return Ok(Head::Complete(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(Head::TooLong);
        }
    }
}

async fn serve(mut sock: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut sock)).await {
        Ok(Ok(Head::Complete(h))) => h,
        Ok(Ok(Head::Closed)) => return Ok(()),
        Ok(Ok(Head::TooLong)) => {
            return respond(sock, "431 Request Header Fields Too Large", "").await;
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return respond(sock, "408 Request Timeout", "").await,
    };
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) || parts.next().is_some() {
        return respond(sock, "400 Bad Request", "bad request line\n").await;
    }
    let path = target.unwrap_or("").split('?').next().unwrap_or("");
    let head_only = method == Some("HEAD");
    if method != Some("GET") && !head_only {
        return respond(sock, "405 Method Not Allowed", "only GET /metrics\n").await;
    }
    if path != "/metrics" {
        return respond(sock, "404 Not Found", "only /metrics is served\n").await;
    }
    let body = crate::metrics::render(shared);
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    sock.write_all(&out).await?;
    close(sock).await
}

async fn respond(mut sock: TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let out = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(out.as_bytes()).await?;
    close(sock).await
}

/// Ends the response, then reads (and drops) what the client still sends,
/// a little, so that closing does not reset the connection before the
/// client has read the answer.
async fn close(mut sock: TcpStream) -> std::io::Result<()> {
    sock.shutdown().await?;
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
    Ok(())
}
