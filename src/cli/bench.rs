//! `strata bench-client`: a load generator for `strata serve`, and the bare
//! QUIC echo it is compared with.
//!
//! - `strata bench-client --server ADDR --token T --server-cert F --view V
//!   --keys 100 --in-flight 32`: lookups of random int64 keys from `V` on
//!   one connection, `--in-flight` at once, for `--seconds`; prints
//!   p50/p99/p99.9 latency and lookups/s. `--populate` first pushes
//!   `--key-space` rows.
//! - `strata bench-client --echo-server ADDR --data DIR`: a bare quinn
//!   server that echoes each frame back on its stream (TLS with the store's
//!   certificate), and `--echo ADDR` measures it with frames the size of a
//!   one-key lookup: the round trip that no request can beat.
//! - `--attack --attack-token R`: the same lookups without and then under
//!   every attack of issue 15 at once, side by side (`bench_attack`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::client::Client;
use strata::format::protocol::{self as p, FrameHeader, HEADER_LEN};
use strata::format::schema::{FeatureType, KeyType, Value};

use super::remote::{RemoteArgs, client_error};
use super::{CliError, Result, out};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The feature view to look up (keyed by one int64 join key)
    #[arg(long, default_value = "bench")]
    pub view: String,
    /// Entity keys per lookup
    #[arg(long, default_value_t = 1)]
    pub keys: usize,
    /// Lookups in flight at once on the one connection
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Keys are drawn from 0..N
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub key_space: i64,
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// Push --key-space rows into the view first
    #[arg(long)]
    pub populate: bool,
    /// Measure the bare quinn echo at ADDR (see --echo-server) instead of lookups
    #[arg(long, value_name = "ADDR")]
    pub echo: Option<SocketAddr>,
    /// Run the bare quinn echo server on ADDR (TLS with DIR/tls/) until killed
    #[arg(long, value_name = "ADDR")]
    pub echo_server: Option<SocketAddr>,
    /// Measure the lookups without, then under, every attack of issue 15 at once (--token must write --view: the attacks' wide key is stored first)
    #[arg(long)]
    pub attack: bool,
    /// The attackers' token (read on --view only), with --attack
    #[arg(long, value_name = "TOKEN", requires = "attack")]
    pub attack_token: Option<String>,
    /// With --attack, also send slow bodies to the Feast HTTP endpoint at ADDR (plaintext)
    #[arg(long, value_name = "ADDR", requires = "attack")]
    pub http: Option<SocketAddr>,
    /// With --attack, report the peak memory (VmHWM) of this local server process
    #[arg(long, value_name = "PID", requires = "attack")]
    pub server_pid: Option<u32>,
}

/// Latencies in nanoseconds and the wall time they were taken over.
pub(super) struct Sample {
    pub lat: Vec<u64>,
    pub wall: Duration,
}

/// The `q` quantile of sorted latencies in nanoseconds, in µs.
pub(super) fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    sorted[((n as f64 * q) as usize).min(n - 1)] as f64 / 1000.0
}

fn report(what: &str, mut s: Sample, keys: usize) -> Result {
    s.lat.sort_unstable();
    let n = s.lat.len();
    if n == 0 {
        return Err(CliError::msg("no request completed"));
    }
    let q = |f: f64| quantile_us(&s.lat, f);
    let rate = n as f64 / s.wall.as_secs_f64();
    out!(
        "{what}: {n} requests, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, {:.0} requests/s, {:.0} keys/s",
        q(0.50),
        q(0.99),
        q(0.999),
        rate,
        rate * keys as f64
    );
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::msg(format!("cannot start a runtime: {e}")))
}

pub fn run(dir: &Path, r: &RemoteArgs, a: BenchArgs) -> Result {
    if let Some(addr) = a.echo_server {
        return runtime()?.block_on(echo_server(dir, addr));
    }
    if a.keys == 0 || a.in_flight == 0 || a.key_space <= 0 {
        return Err(CliError::Usage(
            "--keys, --in-flight and --key-space must be at least 1".into(),
        ));
    }
    let cfg = r.config()?;
    let rt = runtime()?;
    rt.block_on(async {
        if let Some(addr) = a.echo {
            let s = measure_echo(addr, cfg, &a).await?;
            return report(&format!("echo, {} in flight", a.in_flight), s, 1);
        }
        let client = Client::connect(cfg.clone()).await.map_err(client_error)?;
        let d = client.describe(&a.view).await.map_err(client_error)?;
        let [(key_col, KeyType::Int64)] = d.join_keys.as_slice() else {
            return Err(CliError::Usage(format!(
                "view {} must have one int64 join key to be benchmarked",
                d.name
            )));
        };
        if a.populate {
            populate(&client, &d, a.key_space).await?;
        }
        if a.attack {
            return super::bench_attack::run(&client, &cfg, &d, key_col, &a).await;
        }
        let s = measure_lookups(&client, &d.name, key_col, &a).await?;
        report(
            &format!("lookup of {} key(s), {} in flight", a.keys, a.in_flight),
            s,
            a.keys,
        )
    })
}

/// A value of type `ty` for row `i` (`now` for timestamps).
pub(super) fn value(ty: FeatureType, i: i64, now: i64) -> Value {
    match ty {
        FeatureType::Int64 => Value::Int64(i),
        FeatureType::Float64 => Value::Float64(i as f64 / 3.0),
        FeatureType::Float32 => Value::Float32(i as f32 / 3.0),
        FeatureType::Bool => Value::Bool(i % 2 == 0),
        FeatureType::String => Value::String(format!("s{i}")),
        FeatureType::Bytes => Value::Bytes(i.to_le_bytes().to_vec()),
        FeatureType::Timestamp => Value::Timestamp(now - i),
        FeatureType::ListFloat32 => Value::ListFloat32(vec![i as f32; 4]),
        FeatureType::ListFloat64 => Value::ListFloat64(vec![i as f64; 4]),
        FeatureType::ListInt64 => Value::ListInt64(vec![i; 4]),
        FeatureType::ListString => Value::ListString(vec![format!("s{i}"); 2]),
        FeatureType::MapStringInt64 => Value::MapStringInt64(vec![(format!("s{i}"), i)]),
        FeatureType::MapStringFloat64 => Value::MapStringFloat64(vec![(format!("s{i}"), i as f64)]),
    }
}

async fn populate(c: &Client, d: &p::ViewDescription, n: i64) -> Result {
    let now = strata::store::now_micros();
    let mut start = 0;
    while start < n {
        let end = (start + 10_000).min(n);
        let rows: Vec<p::RowWrite> = (start..end)
            .map(|i| p::RowWrite {
                key: vec![strata::format::schema::KeyValue::Int64(i)],
                event_ts: now - 1_000_000,
                created_ts: None,
                values: d.features.iter().map(|f| value(f.ty, i, now)).collect(),
            })
            .collect();
        c.push(&d.name, &rows).await.map_err(client_error)?;
        start = end;
    }
    eprintln!("populated {n} keys of {}", d.name);
    Ok(())
}

/// A small xorshift generator: benchmarks need no better.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

pub(super) async fn measure_lookups(
    c: &Client,
    view: &str,
    key_col: &str,
    a: &BenchArgs,
) -> Result<Sample> {
    let warm_until = Instant::now() + Duration::from_secs_f64(a.warmup_seconds);
    let end = warm_until + Duration::from_secs_f64(a.seconds);
    let feature = format!("{view}:*");
    let mut tasks = Vec::new();
    for t in 0..a.in_flight {
        let c = c.clone();
        let (feature, key_col) = (feature.clone(), key_col.to_string());
        let (keys, space) = (a.keys, a.key_space as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
            let mut lat = Vec::with_capacity(1 << 16);
            let mut req = p::LookupRequest {
                features: vec![feature],
                entities: vec![p::KeyColumn {
                    name: key_col,
                    values: p::KeyColumnValues::Int64(vec![0; keys]),
                }],
                ..Default::default()
            };
            loop {
                if let p::KeyColumnValues::Int64(v) = &mut req.entities[0].values {
                    for k in v.iter_mut() {
                        *k = (next(&mut rng) % space) as i64;
                    }
                }
                let t0 = Instant::now();
                let r = c.lookup(&req).await?;
                let now = Instant::now();
                if r.rows != keys {
                    return Err(strata::client::Error::Protocol("wrong row count".into()));
                }
                if now >= end {
                    return Ok(lat);
                }
                if t0 >= warm_until {
                    lat.push((now - t0).as_nanos() as u64);
                }
            }
        }));
    }
    gather(tasks, warm_until).await
}

async fn gather(
    tasks: Vec<tokio::task::JoinHandle<std::result::Result<Vec<u64>, strata::client::Error>>>,
    from: Instant,
) -> Result<Sample> {
    let mut lat = Vec::new();
    for t in tasks {
        let l = t
            .await
            .map_err(|e| CliError::msg(format!("a load task failed: {e}")))?
            .map_err(client_error)?;
        lat.extend(l);
    }
    Ok(Sample {
        lat,
        wall: from.elapsed(),
    })
}

async fn measure_echo(
    addr: SocketAddr,
    cfg: strata::client::ClientConfig,
    a: &BenchArgs,
) -> Result<Sample> {
    // A frame the size of a one-key lookup request.
    let mut body = Vec::new();
    p::LookupRequest {
        features: vec![format!("{}:*", a.view)],
        entities: vec![p::KeyColumn {
            name: "user_id".into(),
            values: p::KeyColumnValues::Int64(vec![42; a.keys]),
        }],
        ..Default::default()
    }
    .encode(&mut body);
    let mut frame = Vec::new();
    p::encode_frame(&mut frame, p::Kind::Lookup, 1, &body);
    let crypto = strata::client::quic_crypto(&cfg.trust).map_err(client_error)?;
    let mut ep = quinn::Endpoint::client((std::net::Ipv4Addr::UNSPECIFIED, 0).into())?;
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let conn = ep
        .connect(addr, &cfg.server_name)
        .map_err(|e| CliError::msg(e.to_string()))?
        .await
        .map_err(|e| CliError::msg(format!("echo server: {e}")))?;
    let warm_until = Instant::now() + Duration::from_secs_f64(a.warmup_seconds);
    let end = warm_until + Duration::from_secs_f64(a.seconds);
    let mut tasks = Vec::new();
    for _ in 0..a.in_flight {
        let (conn, frame) = (conn.clone(), frame.clone());
        tasks.push(tokio::spawn(async move {
            let err = |e: String| strata::client::Error::Connection(e);
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| err(e.to_string()))?;
            let mut back = vec![0u8; frame.len()];
            let mut lat = Vec::with_capacity(1 << 16);
            loop {
                let t0 = Instant::now();
                send.write_all(&frame)
                    .await
                    .map_err(|e| err(e.to_string()))?;
                recv.read_exact(&mut back)
                    .await
                    .map_err(|e| err(e.to_string()))?;
                let now = Instant::now();
                if now >= end {
                    return Ok(lat);
                }
                if t0 >= warm_until {
                    lat.push((now - t0).as_nanos() as u64);
                }
            }
        }));
    }
    gather(tasks, warm_until).await
}

/// Echoes every frame back on its stream.
async fn echo_server(dir: &Path, addr: SocketAddr) -> Result {
    let files = strata::server::tls::cert_files(dir, None, None, &[])?;
    let crypto = strata::server::tls::server_crypto(&files)?;
    let ep = quinn::Endpoint::server(quinn::ServerConfig::with_crypto(Arc::new(crypto)), addr)?;
    out!(
        "echo server on {}; certificate {}",
        ep.local_addr()?,
        files.cert.display()
    );
    {
        use std::io::Write as _;
        std::io::stdout().flush()?;
    }
    while let Some(inc) = ep.accept().await {
        tokio::spawn(async move {
            let Ok(conn) = inc.await else { return };
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; HEADER_LEN];
                    loop {
                        buf.truncate(HEADER_LEN);
                        if recv.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let mut hdr = [0u8; HEADER_LEN];
                        hdr.copy_from_slice(&buf);
                        let len = FrameHeader::parse(&hdr).body_len.min(1 << 20) as usize;
                        buf.resize(HEADER_LEN + len, 0);
                        if recv.read_exact(&mut buf[HEADER_LEN..]).await.is_err()
                            || send.write_all(&buf).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
    }
    Ok(())
}
