//! The store every scenario reads, and the fixtures that reach it: the CLI,
//! a running server, the native client.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use strata::client::{ClientConfig, Trust, blocking::Client};
use strata::format::schema::{KeyValue, Value};
use strata::store::{RowWrite, Store};

use crate::common;
use crate::{HOUR, T0};

pub const DEFS: &str = include_str!("../fixtures/parity.toml");

/// `device` gets a second version with another feature.
pub const DEFS_V2: &str = r#"
[[feature_views]]
name = "device"
version = 2
entities = ["user"]
team = "growth"
features = [{ name = "os", type = "string" }, { name = "model", type = "string" }]
"#;

/// `kyc` as evolved: a feature added with a default, which the versions
/// written before it (and files without its column) read as `DEFAULTED`.
pub const KYC_V1: &str = r#"features = [{ name = "checked", type = "bool" }]"#;
pub const KYC_V2: &str = r#"features = [
  { name = "checked", type = "bool" },
  { name = "kyc_level", type = "int64", default = 1 },
]"#;

/// The events of `txn` (user, event time, amount).
pub const TXN: &[(i64, i64, f64)] = &[
    (1, T0 + HOUR / 6, 5.0),
    (1, T0 + HOUR / 3, 7.5),
    (1, T0 + 2 * HOUR, 1.0),
    (2, T0 + 5 * HOUR, 2.25),
];

/// `strata ARGS` in `dir`: exit code, stdout, stderr.
pub fn cli(dir: &Path, args: &[String]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::cli::strata(dir, &args);
    (r.code, r.stdout, r.stderr)
}

/// `strata ARGS` in `dir`, which must succeed: its stdout.
pub fn strata(dir: &Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (code, out, err) = cli(dir, &args);
    assert_eq!(code, 0, "strata {args:?}: {out}\n{err}");
    out
}

/// `strata SURFACE ARGS` in `dir`, which must succeed: its stdout.
pub fn strata_on(dir: &Path, surface: &[&str], args: &[&str]) -> String {
    strata(dir, &[surface, args].concat())
}

/// The arguments that make the CLI read the store `data` of its directory.
pub const LOCAL: [&str; 2] = ["--data", "data"];

/// A running `strata serve`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: std::net::SocketAddr,
    /// The Feast-compatible HTTP endpoint (plain HTTP).
    pub http: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let serving = common::serve::start(
            Path::new(env!("CARGO_BIN_EXE_strata")),
            data,
            &["--http", "127.0.0.1:0", "--http-plaintext"],
            Stdio::null(),
        );
        Server {
            addr: serving.addr(),
            http: serving.http(),
            child: serving.child,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token of the store `data` in `dir` named `name` with `grant`
/// (`strata token create`).
pub fn token(dir: &Path, name: &str, grant: &str) -> String {
    strata(
        dir,
        &[
            "token", "create", "--data", "data", "--name", name, "--grant", grant,
        ],
    )
    .trim()
    .to_string()
}

/// A server over the store `data` of `dir` with an admin token, and the
/// CLI's arguments that reach it.
pub struct Remote {
    /// Serving while the test runs: killed on drop.
    pub server: Server,
    pub admin: String,
    /// The server's certificate, which its clients pin.
    pub cert: PathBuf,
    args: Vec<String>,
}

impl Remote {
    /// Makes an admin token of the store, then serves it.
    pub fn start(dir: &Path, data: &Path) -> Remote {
        let admin = token(dir, "admin", "admin:*");
        let server = Server::start(data);
        let cert = data.join("tls/cert.pem");
        let args = Remote::args_with(&server, &admin, &cert);
        Remote {
            server,
            admin,
            cert,
            args,
        }
    }

    fn args_with(server: &Server, token: &str, cert: &Path) -> Vec<String> {
        let addr = server.addr.to_string();
        let cert = cert.display().to_string();
        ["--server", &addr, "--token", token, "--server-cert", &cert]
            .map(String::from)
            .to_vec()
    }

    /// The CLI's arguments that reach the server with the admin token.
    pub fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }

    /// The CLI's arguments that reach the server with `token`.
    pub fn args_for(&self, token: &str) -> Vec<String> {
        Remote::args_with(&self.server, token, &self.cert)
    }

    /// A native client of the server with `token`.
    pub fn client(&self, token: &str) -> Client {
        let mut config = ClientConfig::new(
            self.server.addr,
            token,
            Trust::pin_file(&self.cert).unwrap(),
        );
        config.request_timeout = Some(Duration::from_secs(20));
        Client::connect(config).unwrap()
    }
}

/// Exports `features` for the rows of `entities.csv` in `dir`, with the
/// arguments `extra`, once from the store (`--data`) and once over
/// `remote`; asserts that the two CSVs are the same and returns it.
pub fn export_both(dir: &Path, remote: &Remote, features: &str, extra: &[&str]) -> String {
    let export = |surface: &[&str], out: &str| {
        let mut args = vec![
            "export",
            "--entities",
            "entities.csv",
            "--features",
            features,
            "--out",
            out,
        ];
        args.extend(surface);
        args.extend(extra);
        strata(dir, &args);
        std::fs::read_to_string(dir.join(out)).unwrap()
    };
    let local = export(&LOCAL, "local.csv");
    let over_the_server = export(&remote.args(), "remote.csv");
    assert_eq!(
        local, over_the_server,
        "{extra:?}: the local and the server's export differ"
    );
    local
}

/// Builds the store: definitions (two versions of `device`), versions
/// written through the library.
pub fn build(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("defs.toml"), DEFS).unwrap();
    let evolved = DEFS.replace(KYC_V1, KYC_V2);
    std::fs::write(dir.join("defs2.toml"), format!("{evolved}{DEFS_V2}")).unwrap();
    strata(dir, &["apply", "--data", "data", "defs.toml"]);
    let data = dir.join("data");
    let store = Store::open(&data).unwrap();
    let w = |view: &str, key: KeyValue, ts: i64, values: Vec<Value>| {
        store
            .write(
                view,
                &[RowWrite {
                    key: vec![key],
                    event_ts: ts,
                    created_ts: Some(ts),
                    values,
                }],
            )
            .unwrap();
    };
    let t1 = T0 + HOUR;
    let s = |x: &str| Value::String(x.into());
    w(
        "profile",
        KeyValue::Int64(1),
        t1,
        vec![s("gold"), Value::Float64(0.9)],
    );
    w(
        "profile",
        KeyValue::Int64(2),
        t1,
        vec![Value::Null, Value::Float64(0.5)],
    );
    w("activity", KeyValue::Int64(1), T0, vec![Value::Int64(7)]);
    w("device", KeyValue::Int64(1), t1, vec![s("ios")]);
    w("kyc", KeyValue::Int64(1), t1, vec![Value::Bool(true)]);
    w(
        "label_only",
        KeyValue::Int64(1),
        T0,
        vec![Value::Bool(true)],
    );
    w(
        "merchant_risk",
        KeyValue::String("m-1".into()),
        t1,
        vec![Value::Float64(0.25)],
    );
    for &(user, ts, amount) in TXN {
        w(
            "txn",
            KeyValue::Int64(user),
            ts,
            vec![Value::Float64(amount)],
        );
    }
    for (ts, amount, cat) in [
        (T0 + HOUR / 6, 1.5, "a"),
        (T0 + HOUR / 3, 4.0, "b"),
        (T0 + HOUR, 2.0, "a"),
    ] {
        w(
            "shop",
            KeyValue::Int64(1),
            ts,
            vec![Value::Float64(amount), s(cat)],
        );
    }
    drop(store);
    strata(dir, &["apply", "--data", "data", "defs2.toml"]);
    let store = Store::open(&data).unwrap();
    store
        .write(
            "device@2",
            &[RowWrite {
                key: vec![KeyValue::Int64(1)],
                event_ts: t1,
                created_ts: Some(t1),
                values: vec![s("android"), s("pixel")],
            }],
        )
        .unwrap();
    store
        .write(
            "kyc",
            &[RowWrite {
                key: vec![KeyValue::Int64(2)],
                event_ts: t1,
                created_ts: Some(t1),
                values: vec![Value::Bool(false), Value::Int64(3)],
            }],
        )
        .unwrap();
    drop(store);
    // A file written before `kyc_level` existed still ingests.
    std::fs::write(
        dir.join("kyc-old.csv"),
        format!("user_id,event_timestamp,checked\n4,{t1},true\n"),
    )
    .unwrap();
    strata(
        dir,
        &["ingest", "--data", "data", "--view", "kyc", "kyc-old.csv"],
    );
    data
}

/// The export's entity table: every TXN user at several times.
pub fn entity_rows() -> Vec<(i64, i64)> {
    let mut rows = Vec::new();
    for user in [1, 2, 3] {
        for t in [
            T0,
            T0 + HOUR / 6,
            T0 + HOUR / 2,
            T0 + HOUR,
            T0 + 2 * HOUR,
            T0 + 26 * HOUR,
        ] {
            rows.push((user, t));
        }
    }
    rows
}
