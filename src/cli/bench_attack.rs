//! `strata bench-client --attack`: the red-team scenarios of issue 15, all
//! at once, against a running server, while the normal client of
//! `bench-client` measures its lookups' latency; first without attack,
//! then under attack, in the same run, and printed side by side with their
//! ratio (docs/PROTOCOL.md, "Under attack").
//!
//! The attackers use `--attack-token` (a token that may read `--view`,
//! nothing more); the normal client `--token` (which must also write
//! `--view`, to store the attack's wide key). The attacks, each in a loop:
//!
//! - rows 1 and 7: lookups of 10 000 copies of a key with 20 000 versions
//!   of 4 KB strings, and histories of it with `limit = 1`;
//! - row 8: pushes of 20 000 rows of nulls (refused: no write grant);
//! - rows 3, 4 and 5, on a raw connection renewed every 3 s: 30 full
//!   histories of the wide key never read, an export never read, and 30
//!   frame headers announcing 16 MiB bodies that never come;
//! - row 6: 50 connections a second that never say `Hello`;
//! - with `--http ADDR` (plaintext): 24 lookup bodies of 4 MB that stop
//!   after one byte, renewed every 5 s.
//!
//! The lookups under attack are measured once every attack has been made
//! at least once, and the number of each made is printed, with what the
//! server refused.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata::client::{Client, ClientConfig};
use strata::format::protocol::{self as p, FrameHeader, Kind};
use strata::format::schema::{FeatureType, KeyType, KeyValue, Value};

use super::bench::{BenchArgs, Sample, measure_lookups, quantile_us, value};
use super::remote::client_error;
use super::{CliError, Result, out};

/// Versions of the attack's wide key, and the bytes of each string value.
const WIDE_VERSIONS: i64 = 20_000;
const WIDE_BYTES: usize = 4_000;

/// Runs the attack scenario; `key_col` is `d`'s int64 join key.
pub(super) async fn run(
    c: &Client,
    cfg: &ClientConfig,
    d: &p::ViewDescription,
    key_col: &str,
    a: &BenchArgs,
) -> Result {
    let attack_token = a.attack_token.clone().ok_or_else(|| {
        CliError::Usage(
            "--attack needs --attack-token: a token that may read --view (e.g. `strata token create --grant read:view:VIEW`)".into(),
        )
    })?;
    let wide = a.key_space;
    write_wide_key(c, d, wide).await?;
    let table = entity_table(key_col, 300_000)?;
    let base = measure_lookups(c, &d.name, key_col, a).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut attacker_cfg = cfg.clone();
    attacker_cfg.token = attack_token;
    attacker_cfg.request_timeout = Some(Duration::from_secs(30));
    let target = Arc::new(Target {
        cfg: attacker_cfg,
        view: d.name.clone(),
        key_col: key_col.to_string(),
        wide,
        features: d.features.len(),
        table,
        done: Done::default(),
    });
    let attacks = {
        let (stop, target, http) = (stop.clone(), target.clone(), a.http);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(attack(target, http, stop));
                rt.shutdown_background();
            }
        })
    };
    // Measured once every attack has been made (at most a minute).
    let ready = Instant::now() + Duration::from_secs(60);
    while !target.done.every_one(a.http.is_some()) && Instant::now() < ready {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let under = measure_lookups(c, &d.name, key_col, a).await;
    stop.store(true, Ordering::Relaxed);
    attacks
        .join()
        .map_err(|_| CliError::msg("the attackers' thread failed"))?;
    let under = under?;
    let made = target.done.line();
    let line = |what: &str, s: &Sample| {
        format!(
            "{what}: {} lookups, p50 {:.0} µs, p99 {:.0} µs",
            s.lat.len(),
            quantile_us(&s.lat, 0.50),
            quantile_us(&s.lat, 0.99)
        )
    };
    let (mut base, mut under) = (base, under);
    base.lat.sort_unstable();
    under.lat.sort_unstable();
    out!("{}", line("without attack", &base));
    out!("{}", line("under every attack", &under));
    out!("{made}");
    out!(
        "under attack / without: p50 {:.1}×, p99 {:.1}×",
        quantile_us(&under.lat, 0.50) / quantile_us(&base.lat, 0.50),
        quantile_us(&under.lat, 0.99) / quantile_us(&base.lat, 0.99)
    );
    if let Ok(stats) = c.stats().await {
        let get = |n: &str| stats.iter().find(|(k, _)| k == n).map_or(0, |(_, v)| *v);
        out!(
            "server: {} connections refused or evicted, {} errors, {} bytes reserved now",
            get("connections_refused"),
            get("errors"),
            get("memory_reserved_bytes")
        );
    }
    if let Some(pid) = a.server_pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        if let Some(hwm) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
            out!("server peak memory (VmHWM): {}", hwm.trim());
        }
    }
    Ok(())
}

/// Key `wide` gets [`WIDE_VERSIONS`] versions, its string and bytes
/// features [`WIDE_BYTES`] each.
async fn write_wide_key(c: &Client, d: &p::ViewDescription, wide: i64) -> Result {
    if !d
        .features
        .iter()
        .any(|f| matches!(f.ty, FeatureType::String | FeatureType::Bytes))
    {
        eprintln!(
            "note: view {} has no string or bytes feature; the wide key's versions are narrow",
            d.name
        );
    }
    let now = strata::store::now_micros();
    for chunk in 0..WIDE_VERSIONS / 2_000 {
        let rows: Vec<p::RowWrite> = (0..2_000)
            .map(|i| p::RowWrite {
                key: vec![KeyValue::Int64(wide)],
                event_ts: now - 10_000_000_000 + chunk * 2_000 + i,
                created_ts: None,
                values: d
                    .features
                    .iter()
                    .map(|f| match f.ty {
                        FeatureType::String => Value::String("w".repeat(WIDE_BYTES)),
                        FeatureType::Bytes => Value::Bytes(vec![7; WIDE_BYTES]),
                        ty => value(ty, i, now),
                    })
                    .collect(),
            })
            .collect();
        c.push(&d.name, &rows).await.map_err(client_error)?;
    }
    eprintln!(
        "wrote {WIDE_VERSIONS} versions of key {wide} of {} for the attacks",
        d.name
    );
    Ok(())
}

/// What the attackers aim at, and how often they did.
struct Target {
    cfg: ClientConfig,
    view: String,
    key_col: String,
    wide: i64,
    features: usize,
    /// The entity table of the unread exports (Arrow IPC).
    table: Vec<u8>,
    done: Done,
}

/// Attacks made: (huge lookups, their refusals), limit-1 histories,
/// (pushes, their refusals), raw connections with unread requests, silent
/// connections, slow HTTP bodies.
#[derive(Default)]
struct Done {
    lookups: AtomicU64,
    lookups_refused: AtomicU64,
    histories: AtomicU64,
    pushes: AtomicU64,
    pushes_refused: AtomicU64,
    unread: AtomicU64,
    silent: AtomicU64,
    http: AtomicU64,
}

impl Done {
    fn add(n: &AtomicU64, by: u64) {
        n.fetch_add(by, Ordering::Relaxed);
    }

    /// Whether each attack (but the HTTP one unless `http`) was made.
    fn every_one(&self, http: bool) -> bool {
        let g = |n: &AtomicU64| n.load(Ordering::Relaxed) > 0;
        g(&self.lookups)
            && g(&self.histories)
            && g(&self.pushes)
            && g(&self.unread)
            && g(&self.silent)
            && (!http || g(&self.http))
    }

    fn line(&self) -> String {
        let g = |n: &AtomicU64| n.load(Ordering::Relaxed);
        format!(
            "attacks made: {} huge lookups ({} refused), {} histories of limit one, {} pushes from a reader ({} refused), {} connections of unread histories, exports and stalled bodies, {} silent connections, {} slow HTTP bodies",
            g(&self.lookups),
            g(&self.lookups_refused),
            g(&self.histories),
            g(&self.pushes),
            g(&self.pushes_refused),
            g(&self.unread),
            g(&self.silent),
            g(&self.http)
        )
    }
}

/// Every attack until `stop`.
async fn attack(t: Arc<Target>, http: Option<SocketAddr>, stop: Arc<AtomicBool>) {
    let going = move || !stop.load(Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    // Rows 1 and 7.
    {
        let (t, going) = (t.clone(), going.clone());
        tasks.spawn(async move {
            let Ok(r) = Client::connect(t.cfg.clone()).await else {
                return;
            };
            let huge = p::LookupRequest {
                features: vec![format!("{}:*", t.view)],
                entities: vec![p::KeyColumn {
                    name: t.key_col.clone(),
                    values: p::KeyColumnValues::Int64(vec![t.wide; 10_000]),
                }],
                ..Default::default()
            };
            let newest = p::HistoryRequest {
                limit: 1,
                ..history(&t)
            };
            while going() {
                let refused = r.lookup(&huge).await.is_err();
                Done::add(&t.done.lookups, 1);
                Done::add(&t.done.lookups_refused, u64::from(refused));
                let _ = r.history(&newest).await;
                Done::add(&t.done.histories, 1);
            }
        });
    }
    // Row 8.
    {
        let (t, going) = (t.clone(), going.clone());
        tasks.spawn(async move {
            let Ok(r) = Client::connect(t.cfg.clone()).await else {
                return;
            };
            let nulls: Vec<p::RowWrite> = (0..20_000)
                .map(|i| p::RowWrite {
                    key: vec![KeyValue::Int64(i)],
                    event_ts: 1,
                    created_ts: None,
                    values: vec![Value::Null; t.features],
                })
                .collect();
            while going() {
                let refused = r.push(&t.view, &nulls).await.is_err();
                Done::add(&t.done.pushes, 1);
                Done::add(&t.done.pushes_refused, u64::from(refused));
            }
        });
    }
    // Rows 3, 4 and 5.
    {
        let (t, going) = (t.clone(), going.clone());
        tasks.spawn(async move {
            while going() {
                let _held = unread_requests(&t).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        });
    }
    // Row 6.
    {
        let (t, going) = (t.clone(), going.clone());
        tasks.spawn(async move {
            let mut silent = std::collections::VecDeque::new();
            while going() {
                silent.extend(quic_conn(&t.cfg).await);
                Done::add(&t.done.silent, 1);
                if silent.len() > 256 {
                    silent.pop_front();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    if let Some(addr) = http {
        let (t, going) = (t.clone(), going.clone());
        tasks.spawn(async move {
            while going() {
                let held = slow_http_bodies(addr, &t.cfg.token, 24).await;
                Done::add(&t.done.http, held.len() as u64);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
    while going() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tasks.abort_all();
}

fn history(t: &Target) -> p::HistoryRequest {
    p::HistoryRequest {
        view: t.view.clone(),
        key: vec![KeyValue::Int64(t.wide)],
        from: i64::MIN,
        to: i64::MAX - 1,
        known_at: None,
        limit: 0,
    }
}

/// A QUIC connection (handshake done) that has said nothing yet.
async fn quic_conn(cfg: &ClientConfig) -> Option<(quinn::Endpoint, quinn::Connection)> {
    let crypto = strata::client::quic_crypto(&cfg.trust).ok()?;
    let mut ep = quinn::Endpoint::client((std::net::Ipv4Addr::UNSPECIFIED, 0).into()).ok()?;
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let connecting = ep.connect(cfg.server, &cfg.server_name).ok()?;
    let conn = tokio::time::timeout(Duration::from_secs(2), connecting)
        .await
        .ok()?
        .ok()?;
    Some((ep, conn))
}

type Held = Vec<(quinn::SendStream, quinn::RecvStream)>;

/// Rows 3, 4 and 5 on one raw connection: unread histories, an unread
/// export, bodies that never come. Held until dropped.
async fn unread_requests(t: &Target) -> Option<(quinn::Endpoint, quinn::Connection, Held)> {
    let (ep, conn) = quic_conn(&t.cfg).await?;
    let frame = |kind: Kind, id: u64, body: &[u8]| {
        let mut f = Vec::new();
        p::encode_frame(&mut f, kind, id, body);
        f
    };
    let mut held = Held::new();
    let (mut send, recv) = conn.open_bi().await.ok()?;
    let mut hello = Vec::new();
    p::Hello {
        min_version: p::VERSION,
        max_version: p::VERSION,
        token: t.cfg.token.clone(),
        client: "bench-client attack".into(),
    }
    .encode(&mut hello);
    send.write_all(&frame(Kind::Hello, 0, &hello)).await.ok()?;
    held.push((send, recv));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut body = Vec::new();
    history(t).encode(&mut body);
    for i in 0..30u64 {
        let (mut send, recv) = conn.open_bi().await.ok()?;
        send.write_all(&frame(Kind::History, i, &body)).await.ok()?;
        held.push((send, recv));
    }
    Done::add(&t.done.unread, 1);
    if let Ok((mut send, recv)) = conn.open_bi().await {
        let mut start = Vec::new();
        p::ExportStart {
            features: vec![format!("{}:*", t.view)],
            ..Default::default()
        }
        .encode(&mut start);
        let mut ok = send
            .write_all(&frame(Kind::ExportStart, 1, &start))
            .await
            .is_ok();
        for chunk in t.table.chunks(256 << 10) {
            ok = ok
                && send
                    .write_all(&frame(Kind::ExportData, 1, chunk))
                    .await
                    .is_ok();
        }
        if ok
            && send
                .write_all(&frame(Kind::ExportEnd, 1, &[]))
                .await
                .is_ok()
        {
            held.push((send, recv));
        }
    }
    for i in 0..30u64 {
        let Ok((mut send, recv)) = conn.open_bi().await else {
            break;
        };
        let h = FrameHeader::new(Kind::Push, 100 + i, (16 << 20) - 1).encode();
        let _ = send.write_all(&h).await;
        held.push((send, recv));
    }
    Some((ep, conn, held))
}

/// An entity table of `rows` rows (keys 0 to 2 999, all at time 10) as an
/// Arrow IPC stream, for the unread export.
fn entity_table(key_col: &str, rows: usize) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("entities.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(f, "{key_col},event_timestamp")?;
    for i in 0..rows {
        writeln!(f, "{},10", i % 3000)?;
    }
    f.flush()?;
    drop(f);
    let types = [(key_col.to_string(), KeyType::Int64)]
        .into_iter()
        .collect();
    let table = strata::offline::export::EntityTable::open(&path, None, &types)?;
    let schema = table.schema();
    let pieces =
        strata::offline::export::ipc_pieces(&schema, table.batches(64 << 10, 1, 64 << 10)?)
            .map_err(|e| CliError::msg(format!("encoding the entity table: {e}")))?;
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(piece?);
    }
    Ok(out)
}

/// `n` lookup bodies of 4 MB to the Feast HTTP endpoint that stop after
/// one byte. Held until dropped.
async fn slow_http_bodies(addr: SocketAddr, token: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt as _;
    let mut held = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        let head = format!(
            "POST /get-online-features HTTP/1.1\r\nHost: strata\r\nAuthorization: Bearer {token}\r\nContent-Length: 4000000\r\n\r\n "
        );
        if s.write_all(head.as_bytes()).await.is_ok() {
            held.push(s);
        }
    }
    held
}
