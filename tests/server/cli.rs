//! `strata get|history|ingest|export --server` print what they print on a
//! local directory.

use super::*;

const CSV: &str = "user_id,event_timestamp,amount_avg,txn_count,segment\n\
    1,2024-05-03T00:00:00Z,2.5,7,vip\n\
    1,2024-05-01T00:00:00Z,1.5,3,new\n\
    2,2024-05-02T00:00:00Z,,9,regular\n";

const ENTITIES: &str = "user_id,event_timestamp,label\n\
    1,2024-05-02T00:00:00Z,1\n\
    1,2024-05-04T00:00:00Z,0\n\
    3,2024-05-04T00:00:00Z,1\n";

#[test]
fn remote_commands_match_local_ones() {
    let store = Store::new();
    let dir = store.tmp.path();
    std::fs::write(dir.join("rows.csv"), CSV).unwrap();
    std::fs::write(dir.join("entities.csv"), ENTITIES).unwrap();
    let server = Server::start(&store, &[]);
    let remote = |args: &[&str]| server.cli(dir, &store.admin, args);
    let (code, out, err) = remote(&argv("ingest --view user_stats rows.csv"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ingest into user_stats from rows.csv")
            && out.contains(": 3 row(s): 3 written"),
        "{out}"
    );
    let reads: [&[&str]; 6] = [
        &argv("get --view user_stats --key 1"),
        &argv("get --view user_stats --key 1 --json"),
        &argv("get --view user_stats --key 2 --as-of 2024-05-01T12:00:00Z"),
        &argv("get --view user_stats --key 404 --json"),
        &argv("history --view user_stats --key 1"),
        &argv("history --view user_stats --key 1 --json --to 2024-05-02T00:00:00Z"),
    ];
    let remote_out: Vec<String> = reads
        .iter()
        .map(|a| {
            let (code, out, err) = remote(a);
            assert_eq!(code, 0, "{a:?}: {err}");
            out
        })
        .collect();
    let (code, out, err) = remote(&argv(
        "export --entities entities.csv --features user_stats:txn_count,user_stats:segment --out remote.csv",
    ));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("exported 3 row(s) with 2 feature(s) to remote.csv (csv)"),
        "{out}"
    );
    // Usage errors keep their exit code and message.
    let (code, _, err) = remote(&argv("get --view nope --key 1"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown feature view \"nope\""), "{err}");
    let (code, _, err) = remote(&argv("get --view user_stats --key x"));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = remote(&["demo"]);
    assert_eq!(code, 2, "{err}");
    // Connection options: none, an unknown token, a certificate that is not
    // the server's (refused), and the self-signed certificate trusted as a
    // CA (for `localhost`), which works too.
    let other = tempfile::tempdir().unwrap();
    let files = strata::server::tls::cert_files(other.path(), None, None, &[]).unwrap();
    let cases: [(&str, Vec<&str>, i32, Option<&str>); 4] = [
        (
            "no token",
            vec!["--server-cert", "data/tls/cert.pem"],
            2,
            Some("--token"),
        ),
        (
            "an unknown token",
            argv("--token stk_x_y --server-cert data/tls/cert.pem"),
            1,
            Some("UNAUTHENTICATED"),
        ),
        (
            "another certificate",
            vec![
                "--token",
                &store.admin,
                "--server-cert",
                files.cert.to_str().unwrap(),
            ],
            1,
            Some("cannot connect"),
        ),
        (
            "the certificate as a CA",
            vec![
                "--token",
                &store.admin,
                "--ca",
                "data/tls/cert.pem",
                "--server-name",
                "localhost",
            ],
            0,
            None,
        ),
    ];
    let addr = server.addr.to_string();
    for (name, options, want, message) in cases {
        let mut a = argv("get --view user_stats --key 1 --server");
        a.push(&addr);
        a.extend(options);
        let (code, _, err) = cli(dir, &a);
        assert_eq!(code, want, "{name}: {err}");
        if let Some(m) = message {
            assert!(err.contains(m), "{name}: {err}");
        }
    }

    server.sigterm();
    let (status, _) = server.wait(Duration::from_secs(30));
    assert!(status.success());
    for (a, remote) in reads.iter().zip(&remote_out) {
        let mut local = a.to_vec();
        local.extend(["--data", "data"]);
        let (code, out, err) = cli(dir, &local);
        assert_eq!(code, 0, "{err}");
        assert_eq!(&out, remote, "{a:?}");
    }
    let (code, _, err) = cli(
        dir,
        &argv(
            "export --data data --entities entities.csv --features user_stats:txn_count,user_stats:segment --out local.csv",
        ),
    );
    assert_eq!(code, 0, "{err}");
    let local = std::fs::read_to_string(dir.join("local.csv")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("remote.csv")).unwrap(),
        local
    );
    assert!(local.contains("vip"), "{local}");
}
