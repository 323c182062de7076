//! An aggregation view over the network: events pushed to its source
//! through the server (one of them refused as late), windows read by server
//! lookups at several times, and the same answers from the local store once
//! the server has stopped.

use std::time::Duration;

use super::*;

const AGG: &str = include_str!("../fixtures/server-aggregation.toml");

const EVENTS: &str = "user_id,event_timestamp,amount_avg,txn_count,segment\n\
    1,2024-05-01T00:00:00Z,1.0,3,new\n\
    1,2024-05-01T12:00:00Z,2.0,4,regular\n\
    1,2024-05-02T06:00:00Z,3.0,5,vip\n\
    1,2024-04-01T00:00:00Z,9.0,100,late\n";

#[test]
fn aggregations_over_the_server_equal_local_reads() {
    let store = Store::new();
    let dir = store.tmp.path();
    std::fs::write(dir.join("agg.toml"), format!("{DEFS}{AGG}")).unwrap();
    strata(dir, &argv("apply --data data agg.toml"));
    std::fs::write(dir.join("events.csv"), EVENTS).unwrap();
    let times = [
        "2024-05-01T00:00:00Z",
        "2024-05-01T23:59:59Z",
        "2024-05-02T00:00:00Z",
        "2024-05-02T06:00:00Z",
        "2024-05-09T00:00:00Z",
    ];
    let read = |extra: &[&str], at: &str| {
        let mut a = argv("get --view user_spend --key 1 --as-of");
        a.extend([at, "--json"]);
        a.extend_from_slice(extra);
        let (code, out, err) = cli(dir, &a);
        assert_eq!(code, 0, "{err}");
        out
    };
    let server = Server::start(&store, &[]);
    let addr = server.addr.to_string();
    let remote = [
        "--server",
        addr.as_str(),
        "--token",
        store.admin.as_str(),
        "--server-cert",
        "data/tls/cert.pem",
    ];
    let mut push = vec!["ingest", "--view", "user_stats", "events.csv"];
    push.extend_from_slice(&remote);
    let (code, out, err) = cli(dir, &push);
    // The late event is refused: the summary and the exit code say so.
    assert_eq!(code, 4, "{err}");
    assert!(
        out.contains("4 row(s): 3 written, 1 refused as late"),
        "{out}"
    );
    let remote_reads: Vec<String> = times.iter().map(|t| read(&remote, t)).collect();
    server.sigterm();
    let (status, _) = server.wait(Duration::from_secs(20));
    assert!(status.success());
    let local_reads: Vec<String> = times.iter().map(|t| read(&["--data", "data"], t)).collect();
    assert_eq!(remote_reads, local_reads);

    let value = |text: &str, f: &str| {
        let j: serde_json::Value = serde_json::from_str(text).unwrap();
        j["features"][f]["value"].clone()
    };
    // 2024-05-01T00:00 counts the first event; a day later it has left the window.
    assert_eq!(value(&local_reads[0], "count_1d"), 1, "{out}");
    assert_eq!(value(&local_reads[1], "count_1d"), 2);
    assert_eq!(value(&local_reads[1], "txn_count_sum_1d"), 7.0);
    assert_eq!(value(&local_reads[2], "count_1d"), 1);
    assert_eq!(value(&local_reads[3], "count_1d"), 2);
    assert_eq!(value(&local_reads[3], "segment_last_7d"), "vip");
    assert_eq!(value(&local_reads[4], "count_1d"), 0);
    // The event a month late was refused: nothing counts it, it is not stored.
    let (_, hist, _) = cli(dir, &argv("history --data data --view user_stats --key 1"));
    assert!(!hist.contains("late"), "{hist}");
}
