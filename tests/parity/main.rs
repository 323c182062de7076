//! Surface parity: one table of read scenarios, each run through every way
//! into Strata — the library (`Store::get`), the local CLI (`strata get
//! --data`), the CLI over a real server (`strata get --server`), the
//! native client's lookup and the Feast-compatible HTTP endpoint (latest
//! reads only: Feast's API has no `as_of`) — asserting that all answer the same values,
//! statuses, event times and errors, and that the answer is the expected
//! one. Exports of an aggregation view are compared the same way: locally,
//! over the server, and against a brute-force computation of the windows.
//!
//! - [`fixture`]: the store every test builds, the CLI, a running server;
//! - [`scenarios`]: the table of reads and what each must answer;
//! - [`surfaces`]: each way in, answering one scenario;
//! - [`reads`]: the scenarios through every surface, and multi-key gets;
//! - [`exports`]: exports, locally and over the server, against brute force;
//! - [`admin`]: administration, locally and over the server.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[path = "../common/mod.rs"]
mod common;

mod admin;
mod exports;
mod fixture;
mod reads;
mod scenarios;
mod surfaces;

const HOUR: i64 = 3_600_000_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000_000;
