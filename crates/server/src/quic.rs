//! Small QUIC helpers shared by the connection, stream and export code.

use std::time::Duration;

use quinn::SendStream;
use strata_format::protocol::ErrorCode;

/// Closes `conn` with a typed error: the code, and the message as reason.
pub(crate) fn close_with(conn: &quinn::Connection, code: ErrorCode, message: &str) {
    // The reason must fit in one packet.
    let mut end = message.len().min(900);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    conn.close((code as u32).into(), &message.as_bytes()[..end]);
}

/// Ends the stream and waits (a little) for the client to have every byte,
/// so that closing the connection afterwards loses no answer.
pub(crate) async fn finish(send: &mut SendStream) {
    if send.finish().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
    }
}
