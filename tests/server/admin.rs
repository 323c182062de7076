//! Administration of a running server (`--server`): apply (a new view, an
//! evolved one whose older versions then read a default, an aggregation),
//! registry, lineage, snapshot, a backfill, flush and compaction while a
//! client reads in a loop (none of its lookups may fail), an export from
//! another process beside the server, permission errors that name the missing grant, and a
//! thousand CLI `get --server` processes that leave no connection behind.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;
use strata::client::blocking::Client as Blocking;
use strata::format::protocol::Status;

/// `user_stats` gains a feature (with a default); a new view and an
/// aggregation over `user_stats` appear.
fn evolved() -> String {
    let stats = DEFS.replace(
        "  { name = \"segment\", type = \"string\", tags = [\"pii\"] },\n]",
        "  { name = \"segment\", type = \"string\", tags = [\"pii\"] },\n  { name = \"risk\", type = \"float64\", default = 0.5 },\n]",
    );
    assert_ne!(stats, DEFS, "the fixture changed: nothing evolved");
    format!(
        "{stats}\n[[feature_views]]\nname = \"user_device\"\nentities = [\"user\"]\nsource = \"view:user_stats\"\nfeatures = [{{ name = \"os\", type = \"string\" }}]\n\n[[feature_views]]\nname = \"user_counts\"\nsource = \"user_stats\"\nteam = \"fraud\"\naggregations = [{{ function = \"count\", window = \"1d\" }}]\n"
    )
}

const KEYS: i64 = 40;

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn remote<'a>(
    server: &'a Server,
    token: &'a str,
) -> impl Fn(&[&str]) -> (i32, String, String) + 'a {
    move |args: &[&str]| {
        let dir = server
            .cert
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        server.cli(&dir, token, args)
    }
}

#[test]
fn admin_over_the_server_disturbs_no_lookup_in_flight() {
    let store = Store::new();
    let dir = store.tmp.path().to_path_buf();
    let server = Server::start(&store, &[]);
    let admin = Blocking::connect(server.config(&store.admin)).unwrap();
    let t0 = 1_714_521_600_000_000; // 2024-05-01
    let rows: Vec<_> = (1..=KEYS)
        .map(|k| user_row(k, t0 + k, k as f64, k))
        .collect();
    assert_eq!(
        admin.push("user_stats", &rows).unwrap().written,
        KEYS as u64
    );

    // The reader: lookups of every key in a loop until told to stop.
    let stop = AtomicBool::new(false);
    let (done, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let keys: Vec<i64> = (1..=KEYS).collect();
    std::thread::scope(|scope| {
        // Stops the reader however the steps below end (a failed
        // assertion must not leave the scope waiting for it forever).
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            let c = Blocking::connect(server.config(&store.reader)).unwrap();
            let req = lookup(
                &["user_stats:amount_avg", "user_stats:txn_count"],
                "user_id",
                &keys,
            );
            while !stop.load(Ordering::Relaxed) {
                match c.lookup(&req) {
                    Ok(r) => {
                        let all_present = r
                            .features
                            .iter()
                            .all(|f| f.statuses.iter().all(|s| *s == Status::Present));
                        if !all_present {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        eprintln!("lookup failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
        let ok = |args: &[&str]| {
            let (code, out, err) = remote(&server, &store.admin)(args);
            assert_eq!(code, 0, "{args:?}: {out}\n{err}");
            out
        };
        std::fs::write(dir.join("evolved.toml"), evolved()).unwrap();
        let plan = ok(&argv("apply --plan evolved.toml"));
        assert!(
            plan.contains("+ feature view user_device")
                && plan.contains("user_stats")
                && plan.contains("plan only: nothing was changed"),
            "{plan}"
        );
        // The plan changed nothing: the new view is not there yet.
        assert!(admin.describe("user_device").is_err());
        let applied = ok(&argv("apply evolved.toml"));
        assert!(applied.contains("applied 4 change(s)"), "{applied}");
        assert!(ok(&argv("apply evolved.toml")).contains("nothing to change"));

        // Live: the new view takes writes and reads at once.
        let d = admin.describe("user_device").unwrap();
        assert_eq!(d.features.len(), 1);
        use strata::format::schema::{KeyValue, Value};
        let w = p::RowWrite {
            key: vec![KeyValue::Int64(1)],
            event_ts: t0,
            created_ts: None,
            values: vec![Value::String("ios".into())],
        };
        assert_eq!(admin.push("user_device", &[w]).unwrap().written, 1);
        let r = admin
            .lookup(&lookup(
                &["user_device:os", "user_stats:risk"],
                "user_id",
                &[1],
            ))
            .unwrap();
        assert_eq!(r.features[0].statuses, vec![Status::Present]);
        // `risk` was added with a default: versions written before it
        // serve it, and say so.
        assert_eq!(r.features[1].statuses, vec![Status::Defaulted]);
        assert_eq!(r.features[1].values, vec![Value::Float64(0.5)]);

        // Registry reads and lineage.
        let list = ok(&argv("registry list"));
        assert!(
            list.contains("user_device") && list.contains("merchant_risk"),
            "{list}"
        );
        let desc = ok(&argv("registry describe user_stats"));
        assert!(desc.contains("risk") && desc.contains("float64"), "{desc}");
        let tree = ok(&argv("registry lineage user_device"));
        assert_eq!(
            tree.lines().collect::<Vec<_>>(),
            [
                "user_stats (source: not declared)",
                "\u{2514}\u{2500}> user_device (source: view user_stats)  <- this view"
            ],
            "{tree}"
        );

        // A snapshot written by the server, and an export from another
        // process reading the store beside it.
        let snap = dir.join("snap");
        let out = ok(&[
            "snapshot",
            "--view",
            "user_stats",
            "--out",
            snap.to_str().unwrap(),
        ]);
        assert!(
            out.starts_with(&format!("wrote {KEYS} version(s) of {KEYS} key(s)")),
            "{out}"
        );
        assert!(snap.join("view=user_stats").is_dir());
        std::fs::write(
            dir.join("entities.csv"),
            "user_id,event_timestamp\n1,2024-06-01T00:00:00Z\n2,2024-06-01T00:00:00Z\n",
        )
        .unwrap();
        ok(&argv("flush"));
        let local = strata(
            &dir,
            &argv(
                "export --data data --entities entities.csv --features user_stats:txn_count --out local.csv",
            ),
        );
        assert!(local.starts_with("exported 2 row(s)"), "{local}");
        let csv = std::fs::read_to_string(dir.join("local.csv")).unwrap();
        assert!(csv.contains(",1\n") && csv.contains(",2\n"), "{csv}");

        // A backfill beside the live pushes: a file of events a day older
        // than every live one (written before `risk` existed: no column).
        // Without --backfill they are late for `user_counts`.
        let day = 86_400_000_000;
        std::fs::write(
            dir.join("history.csv"),
            format!(
                "user_id,event_timestamp,amount_avg,txn_count,segment\n1,{},1.0,1,old\n1,{},2.0,2,old\n",
                t0 - day,
                t0 - day + 1
            ),
        )
        .unwrap();
        let (code, out, err) =
            remote(&server, &store.admin)(&argv("ingest --view user_stats history.csv"));
        assert_eq!(code, 4, "{out}\n{err}");
        assert!(out.contains("2 refused as late"), "{out}");
        let out = ok(&argv("ingest --view user_stats history.csv --backfill"));
        assert!(out.contains("2 row(s): 2 written"), "{out}");
        let counts = |at: i64| {
            let mut req = lookup(&["user_counts:count_1d"], "user_id", &[1]);
            req.as_of = Some(at);
            admin.lookup(&req).unwrap().features[0].values[0].clone()
        };
        // Both backfilled events are counted at their time; a day later
        // only the live event is in the window (t - 1d, t].
        assert_eq!(counts(t0 - day + 1), Value::Int64(2));
        assert_eq!(counts(t0 + 1), Value::Int64(1));

        // Compaction under the reader.
        ok(&argv("flush"));
        let out = ok(&argv("compact"));
        assert!(out.starts_with("compacted "), "{out}");
        assert_eq!(stat(&admin.stats().unwrap(), "segments"), 1, "{out}");
        // Let the reader run over the compacted store too.
        let seen = done.load(Ordering::Relaxed);
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while done.load(Ordering::Relaxed) < seen + 5 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let n = done.load(Ordering::Relaxed);
    assert!(n >= 5, "the reader ran only {n} lookup(s)");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{n} lookups");
}

/// An ingest by `client` of the file `name`, holding `rows`, into `view`:
/// refused; its message.
fn refused_ingest(
    dir: &Path,
    client: impl Fn(&[&str]) -> (i32, String, String),
    (name, rows): (&str, &str),
    view: &str,
) -> String {
    std::fs::write(dir.join(name), rows).unwrap();
    let (code, _, err) = client(&argv(&format!("ingest --view {view} {name}")));
    assert_eq!(code, 1, "{err}");
    err
}

#[test]
fn denied_admin_and_writes_name_the_missing_grant() {
    let store = Store::new();
    let dir = store.tmp.path().to_path_buf();
    let server = Server::start(&store, &[]);
    std::fs::write(dir.join("evolved.toml"), evolved()).unwrap();
    let reader = remote(&server, &store.reader);
    for args in [
        argv("apply evolved.toml"),
        argv("apply --plan evolved.toml"),
        argv("flush"),
        argv("compact"),
        argv("token list"),
    ] {
        let (code, _, err) = reader(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("PERMISSION_DENIED") && err.contains("no admin grant"),
            "{args:?}: {err}"
        );
    }
    // Lineage is a registry read: the read grant is enough.
    let (code, out, err) = reader(&argv("registry lineage user_stats"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("<- this view"), "{out}");
    // A write with only a read grant, and a write without any grant, both
    // say write.
    let err = refused_ingest(
        &dir,
        &reader,
        (
            "rows.csv",
            "user_id,event_timestamp,amount_avg,txn_count,segment\n1,2024-05-01T00:00:00Z,1.5,3,new\n",
        ),
        "user_stats",
    );
    assert!(err.contains("no write grant"), "{err}");
    let err = refused_ingest(
        &dir,
        remote(&server, &store.fraud_writer),
        (
            "m.csv",
            "merchant,event_timestamp,score\nm1,2024-05-01T00:00:00Z,0.5\n",
        ),
        "merchant_risk",
    );
    // The token may not read merchant_risk, so the server answers as for
    // an unknown view; the CLI still names the grant ingest needs.
    assert!(
        err.contains("needs a write grant") && !err.contains("no read grant;"),
        "{err}"
    );
    // Nothing was applied.
    let admin = Blocking::connect(server.config(&store.admin)).unwrap();
    assert!(admin.describe("user_device").is_err());
}

/// Each CLI process opens a connection and closes it before it exits: a
/// thousand in a row never meet TOO_MANY_CONNECTIONS, even with room for
/// only sixteen at once (a process that left its connection to the idle
/// timeout would fill them within a few seconds), and the server counts
/// none left but the asker's.
#[test]
fn a_thousand_sequential_cli_gets_leave_no_connection_open() {
    let store = Store::new();
    let server = Server::start(&store, &["--max-connections", "16"]);
    Blocking::connect(server.config(&store.admin))
        .unwrap()
        .push("user_stats", &[user_row(1, 1, 1.5, 3)])
        .unwrap();
    let get = remote(&server, &store.reader);
    let args = argv("get --view user_stats --key 1 --json");
    let mut first = None;
    for i in 0..1000 {
        let (code, out, err) = get(&args);
        assert_eq!(code, 0, "call {i}: {err}");
        match &first {
            None => first = Some(out),
            Some(f) => assert_eq!(&out, f, "call {i}"),
        }
    }
    // A new connection: one opened before the loop may have idled out.
    let admin = Blocking::connect(server.config(&store.admin)).unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = admin.stats().unwrap();
        let active = stat(&stats, "connections_active");
        if active == 1 {
            assert_eq!(stat(&stats, "connections_refused"), 0);
            assert!(stat(&stats, "connections_total") > 1000);
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "{active} connections still active"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
