//! Starting `strata serve` on an OS-assigned loopback port and reading the
//! addresses it announces on its first line of output.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A started `strata serve` process. Not killed on drop: the fixtures that
/// own one decide (most kill it; shutdown tests wait for it).
pub struct Serving {
    pub child: Child,
    /// The first line it printed: the addresses it listens on.
    pub first_line: String,
}

/// Starts `exe serve --data DATA --listen 127.0.0.1:0 EXTRA...` and waits
/// for its first line.
pub fn start(exe: &Path, data: &Path, extra: &[&str], stderr: Stdio) -> Serving {
    let mut child = Command::new(exe)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start strata serve");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first_line)
        .expect("read the first line of strata serve");
    Serving { child, first_line }
}

impl Serving {
    /// The QUIC address.
    pub fn addr(&self) -> SocketAddr {
        self.first_line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {:?}", self.first_line))
    }

    /// The Feast-compatible HTTP address (`host:port`), when started with
    /// `--http ... --http-plaintext`.
    pub fn http(&self) -> String {
        self.first_line
            .split("Feast HTTP on http://")
            .nth(1)
            .unwrap_or_else(|| panic!("no HTTP address in {:?}", self.first_line))
            .trim()
            .to_string()
    }
}
