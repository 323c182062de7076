//! `strata._strata.Client`: a connection to `strata serve` through the
//! native client (`strata_client::blocking::Client`).
//!
//! The protocol has lookups, history, pushes, exports, the registry's
//! list / describe / text search / lineage, freshness, and administration
//! (apply and its plan, flush); the Python package raises
//! `strata.Unsupported` for the rest (delete, search filters).

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value as Json;

use strata_client::{ClientConfig, Trust, blocking};
use strata_format::protocol::{
    self as p, HistoryRequest, LookupRequest, LookupResponse, WriteSummary,
};
use strata_store::freshness::Report;

use crate::backend::{Backend, shared_methods};
use crate::convert::{self, Definitions, RowShape};
use crate::errors::{Kind, write_pieces};
use crate::{Failure, arrow_out, registry, run};

/// A connection to a Strata server (QUIC + TLS), shared by every thread.
#[pyclass(frozen, module = "strata._strata")]
pub struct Client {
    client: blocking::Client,
    addr: String,
}

impl Client {
    fn describe_shape(&self, view: &str) -> Result<(p::ViewDescription, RowShape), Failure> {
        let d = self.client.describe(view)?;
        let shape = RowShape {
            view: d.name.clone(),
            keys: d.join_keys.clone(),
            features: d.features.iter().map(|f| (f.name.clone(), f.ty)).collect(),
        };
        Ok((d, shape))
    }

    /// The view reference a description names exactly (`name@version`).
    fn reference(d: &p::ViewDescription) -> String {
        let base = d.name.split_once('@').map_or(d.name.as_str(), |(n, _)| n);
        format!("{base}@{}", d.version)
    }
}

shared_methods!(Client {
    /// Connects and authenticates. Trust the server by pinning its
    /// certificate (`server_cert`, e.g. its `DIR/tls/cert.pem`) or by a CA
    /// (`ca`), not both.
    #[new]
    #[pyo3(signature = (addr, token, server_cert = None, ca = None, server_name = None, timeout = 60.0))]
    fn new(
        py: Python<'_>,
        addr: String,
        token: String,
        server_cert: Option<PathBuf>,
        ca: Option<PathBuf>,
        server_name: Option<String>,
        timeout: f64,
    ) -> PyResult<Client> {
        let shown = addr.clone();
        let client = run(py, move || {
            let sock = addr
                .to_socket_addrs()
                .map_err(|e| {
                    Failure::invalid(format!("server address {addr:?}: {e}; give HOST:PORT"))
                })?
                .next()
                .ok_or_else(|| {
                    Failure::invalid(format!("server address {addr:?} resolves to no address"))
                })?;
            if !(timeout > 0.0 && timeout.is_finite()) {
                return Err(Failure::invalid(format!(
                    "timeout {timeout}: give a positive number of seconds"
                )));
            }
            // A certificate file that cannot be read is the caller's mistake.
            let file = |e: strata_client::Error| Failure::invalid(e.to_string());
            let trust = match (&server_cert, &ca) {
                (Some(c), None) => Trust::pin_file(c).map_err(file)?,
                (None, Some(c)) => Trust::ca_file(c).map_err(file)?,
                (None, None) => {
                    return Err(Failure::invalid(
                        "connect needs server_cert=FILE (the server's DIR/tls/cert.pem, pinned) or ca=FILE",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(Failure::invalid("give server_cert or ca, not both"));
                }
            };
            let mut cfg = ClientConfig::new(sock, token, trust);
            cfg.client_name = format!("strata-python {}", env!("CARGO_PKG_VERSION"));
            cfg.request_timeout = Some(Duration::from_secs_f64(timeout));
            cfg.connect_timeout = Duration::from_secs_f64(timeout.min(10.0));
            cfg.server_name = match server_name {
                Some(n) => n,
                None => addr
                    .rsplit_once(':')
                    .map_or(addr.as_str(), |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            };
            Ok(blocking::Client::connect(cfg)?)
        })?;
        Ok(Client {
            client,
            addr: shown,
        })
    }

    #[getter]
    fn addr(&self) -> String {
        self.addr.clone()
    }

    fn search<'py>(&self, py: Python<'py>, text: String) -> PyResult<Bound<'py, PyAny>> {
        let hits = run(py, || Ok(self.client.search(&text, 0)?))?;
        registry::to_py(py, &registry::remote_search(&hits))
    }

    /// The server's health answer, as a dict.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = run(py, || Ok(self.client.health()?))?;
        let d = PyDict::new(py);
        d.set_item("serving", h.serving)?;
        d.set_item("server_version", &h.server_version)?;
        d.set_item("uptime_seconds", h.uptime_ms as f64 / 1e3)?;
        d.set_item("views", h.views)?;
        Ok(d)
    }

    /// The lineage tree of `view`, one line each, sources first.
    fn lineage(&self, py: Python<'_>, view: String) -> PyResult<Vec<String>> {
        let r = run(py, || {
            Ok(self
                .client
                .admin(&p::AdminRequest::new(p::AdminOp::Lineage, &[&view]))?)
        })?;
        Ok(r.lines)
    }
});

impl Backend for Client {
    fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse, Failure> {
        Ok(self.client.lookup(req)?)
    }

    /// In pushes that fit the server's limits, each durable when
    /// acknowledged; the summary is the sum of the acknowledgements.
    fn push(
        &self,
        view: &str,
        reader: RecordBatchStreamReader,
        opts: &p::PushOptions,
    ) -> Result<WriteSummary, Failure> {
        let (d, shape) = self.describe_shape(view)?;
        let rows = convert::rows_of_stream(&shape, reader)?;
        let limits = self.client.limits()?;
        let name = Self::reference(&d);
        write_pieces(
            strata_client::push_chunks(&rows, &limits),
            rows.len(),
            |i, piece| {
                let piece_opts = p::PushOptions {
                    batch_id: opts.batch_id.as_ref().map(|b| format!("{b}/{i}")),
                    ..*opts
                };
                Ok(self.client.push_with(&name, piece, &piece_opts)?)
            },
        )
    }

    /// The entity rows sent as Arrow IPC, the training set decoded as it
    /// streams back.
    fn historical(
        &self,
        reader: RecordBatchStreamReader,
        start: p::ExportStart,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), Failure> {
        let schema = reader.schema();
        let input = strata_offline::export::ipc_pieces(&schema, reader)
            .map_err(|e| Failure::invalid(format!("encoding the entity rows: {e}")))?;
        let mut dec = StreamDecoder::new();
        let mut out: Vec<RecordBatch> = Vec::new();
        self.client.export(&start, input, |bytes| {
            let mut buf = Buffer::from(bytes.to_vec());
            while !buf.is_empty() {
                if let Some(b) = dec.decode(&mut buf).map_err(|e| e.to_string())? {
                    out.push(b);
                }
            }
            Ok(())
        })?;
        let schema = dec
            .schema()
            .ok_or_else(|| Failure::new(Kind::Internal, "the server sent no training set"))?;
        Ok((schema, out))
    }

    /// As many as the server's limit allows.
    fn history(&self, req: HistoryRequest) -> Result<(RecordBatch, bool), Failure> {
        let resp = self.client.history(&req)?;
        Ok((
            arrow_out::history_batch(&resp.features, &resp.versions)?,
            resp.truncated,
        ))
    }

    /// On the server, live (needs admin:*); the file at `path` is read
    /// here.
    fn apply(&self, defs: Definitions, plan_only: bool) -> Result<(Vec<String>, bool), Failure> {
        let text = match defs {
            Definitions::Text(t) => t,
            Definitions::File(p) => std::fs::read_to_string(&p)
                .map_err(|e| Failure::invalid(format!("cannot read {}: {e}", p.display())))?,
        };
        let op = if plan_only {
            p::AdminOp::Plan
        } else {
            p::AdminOp::Apply
        };
        let r = self.client.admin(&p::AdminRequest::new(op, &[&text]))?;
        let applied = r.count("applied") == Some(1);
        // The report's last line says what happened; the changes precede it.
        let mut lines = r.lines;
        lines.pop();
        Ok((lines, applied))
    }

    /// The server's memtable into segments (needs admin:*).
    fn flush(&self) -> Result<(), Failure> {
        self.client
            .admin(&p::AdminRequest::new(p::AdminOp::Flush, &[]))?;
        Ok(())
    }

    fn freshness(&self, at: Option<i64>) -> Result<Report, Failure> {
        Ok(self.client.freshness(&p::FreshnessRequest { at })?)
    }

    fn registry_list(&self) -> Result<Json, Failure> {
        Ok(registry::remote_list(&self.client.registry_list()?))
    }

    fn describe(&self, view: &str) -> Result<Json, Failure> {
        registry::remote_describe(&self.client.describe(view)?)
    }
}
