//! The client side of an export: the entity table's bytes go out while the
//! training set's bytes come back, on one stream.

use super::call::{Inner, error_of, read_frame, write_error};
use super::{Error, Result, protocol};
use strata_format::protocol::{self as p, ExportDone, ExportStart, Kind};

pub(crate) async fn run(
    inner: &Inner,
    start: &ExportStart,
    input: impl Iterator<Item = std::io::Result<Vec<u8>>>,
    mut output: impl FnMut(&[u8]) -> std::result::Result<(), String>,
) -> Result<ExportDone> {
    let conn = inner.conn().await?;
    let id = inner.next_id();
    let (_permit, st) = conn.own_stream().await?;
    let (mut send, mut recv) = (st.send, st.recv);
    let max = conn.max_request.max(1);
    let sending = async {
        let mut frame = Vec::new();
        let at = p::start_frame(&mut frame, Kind::ExportStart, id);
        start.encode(&mut frame);
        p::finish_frame(&mut frame, at, max)
            .map_err(|e| Error::Invalid(format!("the export request is too large: {e}")))?;
        send.write_all(&frame).await.map_err(|e| write_error(&e))?;
        for chunk in input {
            let chunk =
                chunk.map_err(|e| Error::Invalid(format!("reading the entity table: {e}")))?;
            for piece in chunk.chunks(max) {
                frame.clear();
                p::encode_frame(&mut frame, Kind::ExportData, id, piece);
                send.write_all(&frame).await.map_err(|e| write_error(&e))?;
            }
        }
        frame.clear();
        p::encode_frame(&mut frame, Kind::ExportEnd, id, &[]);
        send.write_all(&frame).await.map_err(|e| write_error(&e))?;
        Ok::<(), Error>(())
    };
    let receiving = async {
        loop {
            let Some((h, body)) = read_frame(&mut recv).await? else {
                return Err(Error::Connection(
                    "the server ended the export before it was done".into(),
                ));
            };
            if h.request_id != id {
                return Err(Error::Protocol(format!(
                    "export frame for request {} on the stream of request {id}",
                    h.request_id
                )));
            }
            match h.kind() {
                Some(Kind::ExportBatch) => output(&body).map_err(Error::Invalid)?,
                Some(Kind::ExportDone) => return ExportDone::decode(&body).map_err(protocol),
                Some(Kind::Error) => return Err(error_of(&body)),
                _ => {
                    return Err(Error::Protocol(format!(
                        "unexpected frame kind {:#04x} in an export",
                        h.kind_byte
                    )));
                }
            }
        }
    };
    tokio::pin!(sending, receiving);
    let mut sent = false;
    loop {
        tokio::select! {
            r = &mut receiving => return r,
            r = &mut sending, if !sent => {
                sent = true;
                // A local failure ends the export; a refused write means the
                // server stopped reading, and its answer says why.
                if let Err(e @ Error::Invalid(_)) = r {
                    return Err(e);
                }
            }
        }
    }
}
