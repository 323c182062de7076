//! `get`, `history`, `ingest` and `export` against a server (`--server`):
//! the same arguments and the same output as on a local store, through the
//! native client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;

use strata::catalog::{Catalog, Entity, FeatureView, JoinKey};
use strata::client::{self, ClientConfig, Trust, blocking::Client};
use strata::format::protocol::{self as p, ErrorCode};
use strata::format::schema::KeyType;
use strata::offline::export::{
    ExportReport, FileSink, InputFormat, OutputFormat, output::check_writable,
};
use strata::offline::{self, timestamp};
use strata::store::registry;

use super::export::ExportArgs;
use super::{CliError, GetArgs, ReadArgs, Result, out, output, parse};

/// Where the server is and how to trust it (global options).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Run the command against this server (HOST:PORT) instead of --data (admin commands need an admin:* token)
    #[arg(long, global = true, env = "STRATA_SERVER", value_name = "ADDR")]
    pub server: Option<String>,
    /// The access token (see `strata token create`)
    #[arg(
        long,
        global = true,
        env = "STRATA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Pin the server's certificate (PEM), e.g. its DIR/tls/cert.pem
    #[arg(long, global = true, env = "STRATA_SERVER_CERT", value_name = "FILE")]
    pub server_cert: Option<PathBuf>,
    /// Trust server certificates signed by this CA (PEM) instead of pinning one
    #[arg(long, global = true, env = "STRATA_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The name the server's certificate must carry with --ca [default: the host of --server]
    #[arg(long, global = true, value_name = "NAME")]
    pub server_name: Option<String>,
}

impl RemoteArgs {
    pub fn active(&self) -> bool {
        self.server.is_some()
    }

    pub fn config(&self) -> Result<ClientConfig> {
        use std::net::ToSocketAddrs;
        let server = self.server.as_deref().unwrap_or_default();
        let addr = server
            .to_socket_addrs()
            .map_err(|e| CliError::Usage(format!("--server {server:?}: {e}; give HOST:PORT")))?
            .next()
            .ok_or_else(|| {
                CliError::Usage(format!("--server {server:?} resolves to no address"))
            })?;
        let token = self.token.clone().ok_or_else(|| {
            CliError::Usage(
                "--server needs --token (or STRATA_TOKEN); `strata token create` makes one".into(),
            )
        })?;
        let trust = match (&self.server_cert, &self.ca) {
            (Some(c), None) => Trust::pin_file(c)?,
            (None, Some(c)) => Trust::ca_file(c)?,
            (None, None) => {
                return Err(CliError::Usage(
                    "--server needs --server-cert FILE (the server's DIR/tls/cert.pem, pinned) or --ca FILE".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(CliError::Usage(
                    "give --server-cert or --ca, not both".into(),
                ));
            }
        };
        let mut cfg = ClientConfig::new(addr, token, trust);
        cfg.server_name = match &self.server_name {
            Some(n) => n.clone(),
            None => server
                .rsplit_once(':')
                .map_or(server, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        };
        Ok(cfg)
    }

    pub fn connect(&self) -> Result<Client> {
        Client::connect(self.config()?).map_err(client_error)
    }
}

/// A refused request is a usage error if the request did not fit the store.
pub fn client_error(e: client::Error) -> CliError {
    match e.code() {
        Some(ErrorCode::NotFound | ErrorCode::InvalidArgument) => CliError::Usage(match e {
            client::Error::Server { message, .. } => message,
            e => e.to_string(),
        }),
        _ => CliError::from(e),
    }
}

/// A catalog holding just the view `d` describes (with every declared
/// field: defaults, expectations), so that the local code reads files for
/// it and prints it as it would the store's own.
fn local_view(d: &p::ViewDescription) -> Result<(Catalog, FeatureView)> {
    let key = Entity {
        name: "key".into(),
        join_keys: d
            .join_keys
            .iter()
            .map(|(name, ty)| JoinKey {
                name: name.clone(),
                ty: *ty,
            })
            .collect(),
        description: String::new(),
    };
    let mut view = registry::view_of(d).map_err(CliError::msg)?;
    view.entities = vec!["key".into()];
    let cat = Catalog {
        entities: vec![key],
        views: vec![view.clone()],
        next_view_id: view.id + 1,
    };
    Ok((cat, view))
}

/// `strata get --server`.
pub fn get(r: &RemoteArgs, args: &GetArgs, as_of: Option<i64>) -> Result {
    let c = r.connect()?;
    let d = c.describe(args.view).map_err(client_error)?;
    let (cat, view) = local_view(&d)?;
    let cols = cat.key_columns(&view);
    let keys = super::parse_keys(&cols, args.keys)?;
    // `describe` answers the qualified name (`view`, or `view@N` past the
    // first version); the lookup names the version it described.
    let base = d.name.split_once('@').map_or(d.name.as_str(), |(n, _)| n);
    let view_ref = format!("{base}@{}", d.version);
    let mut req = output::keys_lookup(&view_ref, &cols, &keys, as_of, args.known_at);
    req.request = output::request_columns(args.request, keys.len());
    let resp = c.lookup(&req).map_err(client_error)?;
    super::print_get(&view, &cols, &keys, &resp, args, as_of)
}

/// `strata history --server`.
pub fn history(r: &RemoteArgs, args: &ReadArgs, from: Option<i64>, to: Option<i64>) -> Result {
    let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX - 1));
    if from > to {
        return Err(CliError::Usage("--from is after --to".into()));
    }
    let c = r.connect()?;
    let d = c.describe(args.view).map_err(client_error)?;
    let (cat, view) = local_view(&d)?;
    let cols = cat.key_columns(&view);
    let key = parse::key_arg(&cols, args.key).map_err(CliError::Usage)?;
    let resp = c
        .history(&p::HistoryRequest {
            view: d.name.clone(),
            key: key.clone(),
            from,
            to,
            known_at: args.known_at,
            limit: 0,
        })
        .map_err(client_error)?;
    if resp.truncated {
        eprintln!(
            "warning: the server sent only the newest {} versions; narrow --from/--to to see older ones",
            resp.versions.len()
        );
    }
    super::print_history(&view, &cols, &key, &resp.versions, args.json)
}

/// `strata ingest --server`: the file is read and checked here, then pushed
/// in batches, each durable when acknowledged. Push `i` carries the batch id
/// `ID/i`, ID being `--batch-id` or the digest of the file's bytes: a re-run
/// after a failure writes only the pushes the server does not have.
pub fn ingest(r: &RemoteArgs, args: &super::ingest::IngestArgs, file: &std::path::Path) -> Result {
    let start = Instant::now();
    let c = r.connect()?;
    let d = c.describe(&args.view).map_err(|e| match e.code() {
        // The schema is read first; a token that cannot read the view
        // cannot write it either, and writing is what was asked. (A view
        // the token may not read answers as an unknown one: the server
        // does not tell which it is.)
        Some(ErrorCode::PermissionDenied) => CliError::msg(format!(
            "PERMISSION_DENIED: the token has no write grant on view {:?}; ingest needs one (the server said: {e})",
            args.view
        )),
        Some(ErrorCode::NotFound) => CliError::msg(format!(
            "NOT_FOUND: no view {:?} that this token may use; ingest needs a write grant on it (the server said: {e})",
            args.view
        )),
        _ => client_error(e),
    })?;
    let (cat, view) = local_view(&d)?;
    let base = match &args.batch_id {
        Some(n) => n.clone(),
        None => offline::file_digest(file, &[])?.hex(),
    };
    let rows = offline::read_file(&cat, &view.reference(), file)
        .map_err(|e| offline::Error::NothingWritten(Box::new(e)))?;
    let limits = c.limits().map_err(client_error)?;
    let mut summary = p::WriteSummary::default();
    let mut batches = 0;
    for (i, chunk) in client::push_chunks(&rows, &limits).into_iter().enumerate() {
        let opts = p::PushOptions {
            batch_id: Some(format!("{base}/{i}")),
            backfill: args.backfill,
            force: args.force,
        };
        let s = c.push_with(&d.name, chunk, &opts).map_err(|e| {
            CliError::msg(format!(
                "pushing {} into {} failed after {} of {} rows: {e}; re-running the same ingest writes only the rest",
                file.display(),
                d.name,
                summary.rows,
                rows.len()
            ))
        })?;
        summary.add(&s);
        batches += 1;
    }
    let event_range = rows
        .iter()
        .map(|r| r.event_ts)
        .fold(None, |acc: Option<(i64, i64)>, t| {
            Some(acc.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
        });
    let secs = start.elapsed().as_secs_f64();
    let mut report = format!(
        "ingest into {} from {} in {secs:.2} s: {summary}",
        d.name,
        file.display()
    );
    if secs > 0.0 && summary.written > 0 {
        report.push_str(&format!(
            " ({:.0} rows/s, {batches} push(es) to {})",
            rows.len() as f64 / secs,
            r.server.as_deref().unwrap_or_default()
        ));
    }
    if let Some((lo, hi)) = event_range {
        report.push_str(&format!(
            "; event times {} .. {}",
            timestamp::format(lo),
            timestamp::format(hi)
        ));
    }
    super::ingest::outcome(report, &summary)
}

/// `strata export --server`: the entity table is read here and streamed to
/// the server as Arrow IPC; the training set streams back into the output
/// file.
pub fn export(r: &RemoteArgs, args: ExportArgs) -> Result {
    if args.fill_defaults {
        return Err(CliError::Usage(
            "--fill-defaults is not supported with --server yet: export locally with --data, or omit it".into(),
        ));
    }
    let start = Instant::now();
    let features: Vec<String> = args
        .features
        .split(',')
        .map(|f| f.trim().to_string())
        .collect();
    let known_at = match (args.as_known_at, args.no_future_writes) {
        (Some(t), false) => p::ExportKnownAt::At(t),
        (None, true) => p::ExportKnownAt::EventTime,
        (None, false) => p::ExportKnownAt::Unbounded,
        (Some(_), true) => {
            return Err(CliError::Usage(
                "--as-known-at and --no-future-writes exclude each other; pass one".into(),
            ));
        }
    };
    let out_format = match args.format.as_deref() {
        Some(f) => OutputFormat::parse(f)
            .ok_or_else(|| CliError::Usage(format!("--format {f:?}: use parquet, arrow or csv")))?,
        None => OutputFormat::of(&args.out).ok_or_else(|| {
            CliError::Usage(format!(
                "{}: unknown file type; name it *.parquet, *.arrow or *.csv, or pass --format",
                args.out.display()
            ))
        })?,
    };
    let in_format = match args.entities_format.as_deref() {
        Some(f) => Some(InputFormat::parse(f).ok_or_else(|| {
            CliError::Usage(format!(
                "--entities-format {f:?}: use parquet, arrow or csv"
            ))
        })?),
        None => None,
    };
    let c = r.connect()?;
    let mut key_types: HashMap<String, KeyType> = HashMap::new();
    for f in &features {
        let view = f.split(':').next().unwrap_or(f);
        let d = c.describe(view).map_err(client_error)?;
        key_types.extend(d.join_keys);
    }
    let table = offline::export::EntityTable::open(&args.entities, in_format, &key_types)?;
    let schema = table.schema();
    let batches = table.batches(64 * 1024, 1, 64 * 1024)?;
    let input = offline::export::ipc_pieces(&schema, batches)
        .map_err(|e| CliError::msg(format!("encoding the entity table: {e}")))?;
    let mut dec = StreamDecoder::new();
    let mut sink: Option<FileSink> = None;
    let mut out_cols = 0;
    let done = c
        .export(
            &p::ExportStart {
                features,
                full_feature_names: args.full_feature_names,
                known_at,
            },
            input,
            |bytes| {
                let mut buf = Buffer::from(bytes.to_vec());
                while !buf.is_empty() {
                    let batch = dec.decode(&mut buf).map_err(|e| e.to_string())?;
                    if sink.is_none()
                        && let Some(s) = dec.schema()
                    {
                        check_writable(out_format, &s)
                            .map_err(|e| format!("{}: {e}", args.out.display()))?;
                        out_cols = s.fields().len();
                        sink = Some(
                            FileSink::create(&args.out, out_format, s, 64 * 1024, 1)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    if let (Some(b), Some(s)) = (batch, sink.as_mut()) {
                        s.write(&b).map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            },
        )
        .map_err(client_error)?;
    let sink = sink.ok_or_else(|| CliError::msg("the server sent no training set"))?;
    let rows = sink.finish()?;
    let report = ExportReport {
        out: args.out.clone(),
        format: out_format,
        rows,
        features: out_cols.saturating_sub(schema.fields().len()),
        matched: done.matched,
        elapsed: start.elapsed(),
    };
    out!("{report}");
    Ok(())
}
