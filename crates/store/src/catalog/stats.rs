//! The `stats` file of a store directory: per view, the statistics and
//! quality violations of its last ingest, shown by `strata registry
//! describe`.
//!
//! ```text
//! STRATSTS 1 <crc32c of the body, 8 hex digits> <body length>\n
//! <body: JSON, {"views": {"<view id>": IngestStats, ...}}>
//! ```
//!
//! Written atomically like the catalog (`stats.tmp`, fsync, rename, fsync of
//! the directory) after the ingest's data is durable; a crash in between
//! leaves the previous statistics. A damaged file is reported by [`load`]
//! and replaced by the next [`record`].

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use strata_format::key::ViewId;

use super::error::{Error, Result};

pub const FILE_NAME: &str = "stats";
const MAGIC: &str = "STRATSTS";
const FORMAT_VERSION: u32 = 1;

/// Statistics of one feature over one ingested file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureStats {
    pub name: String,
    pub rows: u64,
    pub nulls: u64,
    pub null_fraction: f64,
    /// Numeric, timestamp (µs) and bool (0/1) features only.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

/// One broken expectation: how many rows, and the first few `(row, value)`
/// (row 0 for a file-wide rule such as `max_null_fraction`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    pub column: String,
    pub rule: String,
    pub count: u64,
    pub examples: Vec<(u64, String)>,
}

/// What the last ingest of a view saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestStats {
    pub view: String,
    /// When the ingest finished, µs since the epoch.
    pub at_micros: i64,
    pub files: Vec<String>,
    pub rows: u64,
    /// `reject` or `warn`.
    pub policy: String,
    pub features: Vec<FeatureStats>,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct StatsFile {
    views: BTreeMap<String, IngestStats>,
}

/// The recorded statistics of every view, by view id.
pub fn load(dir: &Path) -> Result<BTreeMap<ViewId, IngestStats>> {
    let path = dir.join(FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::io("read the statistics file", &path)(e)),
    };
    let damaged = |offset: usize, reason: String| Error::StatsCorrupt {
        path: path.clone(),
        offset: offset as u64,
        reason,
    };
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| damaged(0, "no header line".into()))?;
    let (head, body) = bytes.split_at(nl);
    let body = body.get(1..).unwrap_or_default();
    let header = std::str::from_utf8(head).map_err(|_| damaged(0, "bad header".into()))?;
    let parts: Vec<&str> = header.split(' ').collect();
    let [MAGIC, version, crc, len] = parts[..] else {
        return Err(damaged(0, format!("bad header {header:?}")));
    };
    if version != FORMAT_VERSION.to_string() {
        return Err(damaged(
            MAGIC.len() + 1,
            format!("format version {version} is not supported"),
        ));
    }
    if len.parse::<usize>().ok() != Some(body.len()) {
        return Err(damaged(
            nl + 1,
            "the length does not match (truncated?)".into(),
        ));
    }
    if u32::from_str_radix(crc, 16).ok() != Some(crc32c::crc32c(body)) {
        return Err(damaged(nl + 1, "checksum mismatch".into()));
    }
    let file: StatsFile =
        serde_json::from_slice(body).map_err(|e| damaged(nl + 1, format!("bad JSON: {e}")))?;
    Ok(file
        .views
        .into_iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
        .collect())
}

/// Records `stats` as the last ingest of view `id`, atomically. A damaged
/// file is replaced.
pub fn record(dir: &Path, id: ViewId, stats: IngestStats) -> Result<()> {
    static LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _guard = LOCK.lock();
    let mut all = load(dir).unwrap_or_default();
    all.insert(id, stats);
    let file = StatsFile {
        views: all.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    };
    let body = serde_json::to_vec(&file).map_err(|source| Error::Encode {
        what: "statistics",
        source,
    })?;
    let mut out = format!(
        "{MAGIC} {FORMAT_VERSION} {:08x} {}\n",
        crc32c::crc32c(&body),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    strata_engine::replace(dir, FILE_NAME, &out)
        .map_err(|e| Error::from_engine("save the statistics", &dir.join(FILE_NAME), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: u64) -> IngestStats {
        IngestStats {
            view: "v".into(),
            at_micros: 5,
            files: vec!["a.parquet".into()],
            rows,
            policy: "warn".into(),
            features: vec![FeatureStats {
                name: "x".into(),
                rows,
                nulls: 1,
                null_fraction: 1.0 / rows as f64,
                min: Some(-1.5),
                max: Some(3.0),
                mean: Some(0.5),
            }],
            violations: vec![Violation {
                column: "x".into(),
                rule: "min 0".into(),
                count: 1,
                examples: vec![(2, "-1.5".into())],
            }],
        }
    }

    #[test]
    fn record_load_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        record(dir.path(), 3, sample(4)).unwrap();
        record(dir.path(), 7, sample(9)).unwrap();
        record(dir.path(), 3, sample(8)).unwrap();
        let all = load(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[&3], sample(8));
        assert_eq!(all[&7], sample(9));
        let p = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&p).unwrap();
        let n = bytes.len() - 5;
        bytes[n] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("checksum mismatch") && e.contains("damaged"),
            "{e}"
        );
        record(dir.path(), 1, sample(2)).unwrap();
        assert_eq!(
            load(dir.path()).unwrap().len(),
            1,
            "a damaged file is replaced"
        );
    }

    #[test]
    fn damage_is_typed_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), 1, sample(2)).unwrap();
        let p = dir.path().join(FILE_NAME);
        let bytes = fs::read(&p).unwrap();
        let body_at = bytes.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
        fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        match load(dir.path()).unwrap_err() {
            Error::StatsCorrupt {
                path,
                offset,
                reason,
            } => {
                assert_eq!((path, offset), (p.clone(), body_at));
                assert!(reason.contains("truncated"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        fs::write(&p, b"STRATSTS 9 0 0\n").unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(matches!(e, Error::StatsCorrupt { offset: 9, .. }), "{e:?}");
    }
}
