//! One bidirectional stream: requests in, answers out, in order.
//!
//! A frame whose header is bad (too long, unknown flags) or whose body does
//! not arrive in time ends the stream after an `Error` frame: its framing
//! can no longer be trusted. Any other bad request (a body that does not
//! decode, an unknown kind, a refused request) gets an `Error` frame and the
//! stream goes on. The bytes of a body are counted against the server's
//! memory budget while it is buffered and handled.

use std::sync::Arc;
use std::time::Instant;

use quinn::{ReadExactError, RecvStream, SendStream};

use crate::quic::finish;
use crate::session::{Session, error_frame};
use crate::state::Counters;
use crate::{dispatch, export};
use strata_format::protocol::{FrameHeader, HEADER_LEN, Kind};

/// Buffers above this size are not kept between requests.
const KEEP_BUFFER: usize = 1 << 20;

pub(crate) async fn serve(s: Arc<Session>, mut send: SendStream, mut recv: RecvStream) {
    let shared = s.shared.clone();
    let max = shared.limits.max_frame_bytes as usize;
    let mut hdr = [0u8; HEADER_LEN];
    let mut body: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut stop = shared.shutdown.clone();
    loop {
        let got = tokio::select! {
            biased;
            r = recv.read_exact(&mut hdr) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match got {
            Ok(()) => {}
            // The client finished its side between requests.
            Err(ReadExactError::FinishedEarly(0)) => break,
            Err(_) => return,
        }
        Counters::add(&shared.counters.requests, 1);
        let raw = FrameHeader::parse(&hdr);
        out.clear();
        let h = match FrameHeader::decode(&hdr, max) {
            Ok(h) => h,
            Err(e) => {
                Counters::add(&shared.counters.errors, 1);
                error_frame(&mut out, raw.request_id, e.code(), &e.to_string());
                let _ = send.write_all(&out).await;
                let _ = recv.stop((e.code() as u32).into());
                break;
            }
        };
        let len = h.body_len as usize;
        let Ok(permit) = shared.memory.acquire_many(h.body_len).await else {
            return;
        };
        body.clear();
        body.resize(len, 0);
        match tokio::time::timeout(shared.limits.frame_timeout, recv.read_exact(&mut body)).await {
            Ok(Ok(())) => {}
            // The client went away mid-frame.
            Ok(Err(_)) => return,
            Err(_) => {
                Counters::add(&shared.counters.errors, 1);
                let code = strata_format::protocol::ErrorCode::Timeout;
                let msg = format!(
                    "the body of a {len}-byte frame did not arrive within {} ms",
                    shared.limits.frame_timeout.as_millis()
                );
                error_frame(&mut out, h.request_id, code, &msg);
                let _ = send.write_all(&out).await;
                let _ = recv.stop((code as u32).into());
                break;
            }
        }
        let started = Instant::now();
        if h.kind() == Some(Kind::ExportStart) {
            drop(permit);
            // The rest of the stream is the export's.
            export::run(s, h.request_id, body, send, recv).await;
            shared.metrics.observe(h.kind(), started.elapsed());
            return;
        }
        // Errors are counted by dispatch.
        let (b, o, _failed) = dispatch::run(s.clone(), h, body, out).await;
        shared.metrics.observe(h.kind(), started.elapsed());
        drop(permit);
        (body, out) = (b, o);
        if send.write_all(&out).await.is_err() {
            return;
        }
        if body.capacity() > KEEP_BUFFER {
            body = Vec::new();
        }
        if out.capacity() > KEEP_BUFFER {
            out = Vec::with_capacity(1024);
        }
    }
    finish(&mut send).await;
}
