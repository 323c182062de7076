//! Point-in-time export over a stream.
//!
//! ```text
//! client: ExportStart, ExportData*, ExportEnd        (entity table as one Arrow IPC stream)
//! server: ExportBatch*, then ExportDone or Error     (training set as one Arrow IPC stream)
//! ```
//!
//! The stream belongs to the export until it ends; the server then finishes
//! it. Three parties run at once so that neither direction can block the
//! other: a task reading the client's frames, the join on the blocking pool
//! ([`strata_offline::export::export`], which decodes the input with
//! arrow's push decoder and encodes each output batch), and this task
//! writing the output. Channels between them hold a few frames each; an
//! input IPC message may not exceed [`MAX_MESSAGE_FACTOR`] frames, and at
//! most `max_exports` run at once (`max_exports_per_token` per token),
//! and every write has the write timeout, so memory and slots stay bounded.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;
use quinn::{RecvStream, SendStream};
use tokio::sync::mpsc;

use crate::auth::Level;
use crate::quic::finish;
use crate::session::{Failure, Session, check_grant, error_frame, store_failure, unknown_view};
use crate::state::Counters;
use strata_format::protocol::{self as p, ErrorCode, FrameHeader, HEADER_LEN, Kind};
use strata_offline::export::{self as ex, ExportRequest, Plan, parse_refs};

/// An input IPC message may be this many frames long at most.
pub const MAX_MESSAGE_FACTOR: usize = 4;
/// Memory budget of one export's join.
const EXPORT_MEMORY: usize = 128 << 20;

enum Out {
    Bytes(Vec<u8>),
    Done(p::ExportDone),
    Failed(Failure),
}

pub(crate) async fn run(
    s: Arc<Session>,
    id: u64,
    body: Vec<u8>,
    mut send: SendStream,
    recv: RecvStream,
) {
    if let Err(f) = go(&s, id, &body, &mut send, recv).await {
        Counters::add(&s.shared.counters.errors, 1);
        let mut out = Vec::new();
        error_frame(&mut out, id, f.code, &f.message);
        let wt = s.shared.limits.write_timeout;
        if tokio::time::timeout(wt, send.write_all(&out))
            .await
            .is_err()
        {
            let _ = send.reset((ErrorCode::Timeout as u32).into());
        }
    }
    finish(&mut send).await;
}

fn request(s: &Session, start: &p::ExportStart) -> Result<ExportRequest, Failure> {
    let invalid = |m: String| Failure::new(ErrorCode::InvalidArgument, m);
    let mut features = Vec::new();
    for f in &start.features {
        features.extend(parse_refs(f).map_err(|e| invalid(e.to_string()))?);
    }
    let cat = s.shared.store.catalog();
    s.with_token(|t| {
        for r in &features {
            let unknown = || {
                let f = unknown_view(&r.view);
                Failure::new(f.code, format!("{r}: {}", f.message))
            };
            let v = cat.view(&r.view).ok_or_else(unknown)?;
            check_grant(&cat, t, Level::Read, v, &r.view).map_err(|f| match f.code {
                ErrorCode::NotFound => unknown(),
                _ => f,
            })?;
        }
        Ok(())
    })?;
    Ok(ExportRequest {
        features,
        full_feature_names: start.full_feature_names,
        // The protocol does not carry --fill-defaults yet.
        fill_defaults: false,
        known_at: start.known_at.into(),
        memory_budget: EXPORT_MEMORY,
        threads: 0,
    })
}

async fn go(
    s: &Arc<Session>,
    id: u64,
    body: &[u8],
    send: &mut SendStream,
    recv: RecvStream,
) -> Result<(), Failure> {
    let start = p::ExportStart::decode(body, &s.shared.decode)?;
    let req = request(s, &start)?;
    let limits = &s.shared.limits;
    let _mine = s.quota.exports.try_acquire().map_err(|_| {
        Failure::new(
            ErrorCode::LimitExceeded,
            format!(
                "token {} has {} export(s) running, its limit; retry when one ends",
                s.token_id, limits.max_exports_per_token
            ),
        )
    })?;
    let _permit = s.shared.exports.try_acquire().map_err(|_| {
        Failure::new(
            ErrorCode::LimitExceeded,
            format!(
                "{} exports are already running on this server; retry when one ends",
                limits.max_exports
            ),
        )
    })?;
    // Every frame must be taken within the write timeout; a client that
    // does not read loses the export (its slot and memory) and the stream.
    let wt = limits.write_timeout;
    let late = || {
        Failure::new(
            ErrorCode::Timeout,
            format!(
                "the client did not read the export's output within {} ms",
                wt.as_millis()
            ),
        )
    };
    let max = s.shared.limits.max_frame_bytes as usize;
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(4);
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(4);
    let worker_s = s.clone();
    let worker = tokio::task::spawn_blocking(move || join(&worker_s, &req, in_rx, &out_tx, max));
    let mut pump = tokio::spawn(pump(recv, in_tx, s.clone()));
    let mut pump_done = false;
    let mut frame = Vec::new();
    let r = loop {
        tokio::select! {
            m = out_rx.recv() => match m {
                Some(Out::Bytes(bytes)) => {
                    let mut gone = None;
                    for chunk in bytes.chunks(max.max(1)) {
                        frame.clear();
                        p::encode_frame(&mut frame, Kind::ExportBatch, id, chunk);
                        match tokio::time::timeout(wt, send.write_all(&frame)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => {
                                gone = Some(Failure::new(ErrorCode::Internal, "the client went away"));
                                break;
                            }
                            Err(_) => {
                                let _ = send.reset((ErrorCode::Timeout as u32).into());
                                gone = Some(late());
                                break;
                            }
                        }
                    }
                    if let Some(f) = gone {
                        break Err(f);
                    }
                }
                Some(Out::Done(d)) => {
                    Counters::add(&s.shared.counters.rows_exported, d.rows);
                    frame.clear();
                    let at = p::start_frame(&mut frame, Kind::ExportDone, id);
                    d.encode(&mut frame);
                    let _ = p::finish_frame(&mut frame, at, usize::MAX);
                    if tokio::time::timeout(wt, send.write_all(&frame)).await.is_err() {
                        let _ = send.reset((ErrorCode::Timeout as u32).into());
                    }
                    break Ok(());
                }
                Some(Out::Failed(f)) => break Err(f),
                None => break Err(Failure::new(ErrorCode::Internal, "the export ended without an answer")),
            },
            r = &mut pump, if !pump_done => {
                pump_done = true;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(f)) => break Err(f),
                    Err(e) => break Err(Failure::new(ErrorCode::Internal, format!("reading the input: {e}"))),
                }
            }
        }
    };
    pump.abort();
    drop(out_rx);
    let _ = worker.await;
    r
}

/// Reads `ExportData` frames into `tx` until `ExportEnd`.
async fn pump(
    mut recv: RecvStream,
    tx: mpsc::Sender<Vec<u8>>,
    s: Arc<Session>,
) -> Result<(), Failure> {
    let max = s.shared.limits.max_frame_bytes as usize;
    let timeout = s.shared.limits.frame_timeout;
    loop {
        let mut hdr = [0u8; HEADER_LEN];
        // A client that stops sending its input loses the export too.
        match tokio::time::timeout(timeout, recv.read_exact(&mut hdr)).await {
            Ok(r) => r.map_err(|e| {
                Failure::new(
                    ErrorCode::Malformed,
                    format!("the export's input ended early: {e}"),
                )
            })?,
            Err(_) => {
                return Err(Failure::new(
                    ErrorCode::Timeout,
                    format!("no ExportData frame within {} ms", timeout.as_millis()),
                ));
            }
        }
        let h = FrameHeader::decode(&hdr, max)?;
        let mut body = vec![0u8; h.body_len as usize];
        match tokio::time::timeout(timeout, recv.read_exact(&mut body)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(Failure::new(
                    ErrorCode::Malformed,
                    format!("the export's input ended early: {e}"),
                ));
            }
            Err(_) => {
                return Err(Failure::new(
                    ErrorCode::Timeout,
                    "an ExportData frame did not arrive in time",
                ));
            }
        }
        match h.kind() {
            Some(Kind::ExportData) => {
                if tx.send(body).await.is_err() {
                    // The join stopped reading (it failed or finished).
                    return Ok(());
                }
            }
            Some(Kind::ExportEnd) => {
                p::decode_empty(&body, "export end")?;
                return Ok(());
            }
            _ => {
                return Err(Failure::new(
                    ErrorCode::UnknownRequest,
                    format!(
                        "frame kind {:#04x} inside an export; only ExportData and ExportEnd may follow ExportStart",
                        h.kind_byte
                    ),
                ));
            }
        }
    }
}

/// The entity table, decoded as its bytes arrive.
struct Input {
    rx: mpsc::Receiver<Vec<u8>>,
    dec: StreamDecoder,
    buf: Buffer,
    /// Bytes received since the last complete message.
    pending: usize,
    max_message: usize,
    too_large: bool,
    ended: bool,
    /// A batch decoded while looking for the schema.
    peeked: Option<RecordBatch>,
}

impl Input {
    /// The schema, once its message has arrived.
    fn schema(&mut self) -> Result<SchemaRef, ex::Error> {
        loop {
            if let Some(s) = self.dec.schema() {
                return Ok(s);
            }
            match self.step()? {
                Some(b) => self.peeked = Some(b),
                None => {
                    return Err(ex::Error::Table(
                        "is empty: no Arrow IPC schema arrived".into(),
                    ));
                }
            }
        }
    }

    /// The next batch, or the end.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ex::Error> {
        match self.peeked.take() {
            Some(b) => Ok(Some(b)),
            None => self.step(),
        }
    }

    fn step(&mut self) -> Result<Option<RecordBatch>, ex::Error> {
        let bad = |e: arrow_schema::ArrowError| {
            ex::Error::Table(format!("is not a valid Arrow IPC stream: {e}"))
        };
        loop {
            if !self.buf.is_empty() {
                let got = self.dec.decode(&mut self.buf).map_err(bad)?;
                if let Some(b) = got {
                    self.pending = self.buf.len();
                    return Ok(Some(b));
                }
                continue;
            }
            if self.ended {
                return Ok(None);
            }
            match self.rx.blocking_recv() {
                Some(bytes) => {
                    self.pending += bytes.len();
                    if self.pending > self.max_message {
                        self.too_large = true;
                        return Err(ex::Error::Table(format!(
                            "has an Arrow IPC message over {} bytes; send smaller record batches",
                            self.max_message
                        )));
                    }
                    self.buf = Buffer::from_vec(bytes);
                }
                None => {
                    self.ended = true;
                    self.dec.finish().map_err(bad)?;
                    return Ok(None);
                }
            }
        }
    }
}

fn failure(e: ex::Error, too_large: bool) -> Failure {
    let e = match e {
        ex::Error::Resolve(e) if !too_large => return store_failure(e),
        e => e,
    };
    let code = match &e {
        _ if too_large => ErrorCode::LimitExceeded,
        ex::Error::Request(_)
        | ex::Error::Table(_)
        | ex::Error::BadRow { .. }
        | ex::Error::Input { .. } => ErrorCode::InvalidArgument,
        ex::Error::Engine(_) => ErrorCode::Storage,
        _ => ErrorCode::Internal,
    };
    let text = match e {
        ex::Error::Table(m) => format!("the entity table {m}"),
        e => e.to_string(),
    };
    Failure::new(code, text)
}

/// The join, on the blocking pool.
fn join(
    s: &Session,
    req: &ExportRequest,
    rx: mpsc::Receiver<Vec<u8>>,
    out: &mpsc::Sender<Out>,
    max: usize,
) {
    let mut input = Input {
        rx,
        dec: StreamDecoder::new(),
        buf: Buffer::from_vec(Vec::<u8>::new()),
        pending: 0,
        max_message: max.saturating_mul(MAX_MESSAGE_FACTOR),
        too_large: false,
        ended: false,
        peeked: None,
    };
    let r = join_inner(s, req, &mut input, out);
    if let Err(e) = r {
        let _ = out.blocking_send(Out::Failed(failure(e, input.too_large)));
    }
}

fn join_inner(
    s: &Session,
    req: &ExportRequest,
    input: &mut Input,
    out: &mpsc::Sender<Out>,
) -> Result<(), ex::Error> {
    let store = &s.shared.store;
    let schema = input.schema()?;
    let plan = Plan::new(store, req, &schema)?;
    let ipc = |e: arrow_schema::ArrowError| ex::Error::Internal(format!("encoding Arrow IPC: {e}"));
    let mut w = StreamWriter::try_new(Vec::new(), &plan.schema()).map_err(ipc)?;
    let send = |w: &mut StreamWriter<Vec<u8>>| -> Result<(), ex::Error> {
        let bytes = std::mem::take(w.get_mut());
        if !bytes.is_empty() && out.blocking_send(Out::Bytes(bytes)).is_err() {
            return Err(ex::Error::Internal("the client went away".into()));
        }
        Ok(())
    };
    send(&mut w)?;
    let batches = std::iter::from_fn(|| input.next_batch().transpose());
    let mut exp = ex::export(store, &plan, batches);
    for b in &mut exp {
        w.write(&b?).map_err(ipc)?;
        send(&mut w)?;
    }
    w.finish().map_err(ipc)?;
    send(&mut w)?;
    let stats = exp.stats().clone();
    let done = p::ExportDone {
        rows: stats.rows,
        matched: plan.view_names().into_iter().zip(stats.matched).collect(),
    };
    let _ = out.blocking_send(Out::Done(done));
    Ok(())
}
