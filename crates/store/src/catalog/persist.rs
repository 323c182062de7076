//! The `catalog` file of a store directory.
//!
//! ```text
//! STRATCAT <format version> <crc32c of the body, 8 hex digits> <body length>\n
//! <body: the Catalog as JSON>
//! ```
//!
//! The header is one line of ASCII so the file stays readable with `head`;
//! the body is the [`Catalog`] as JSON. The checksum covers the body bytes
//! exactly. [`save`] replaces the file atomically (write `catalog.tmp`,
//! fsync, rename, fsync the directory), so a crash leaves either the old or
//! the new catalog, never a mix. [`load`] refuses any damage and says what
//! is wrong; it never guesses.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::Catalog;
use super::error::{Error, Result};

/// File name of the catalog inside a store directory.
pub const FILE_NAME: &str = "catalog";
/// Magic word at the start of the file.
pub const MAGIC: &str = "STRATCAT";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The path of the catalog file of the store in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the catalog of the store in `dir`. A store without a catalog file
/// (a new store) has an empty catalog whose first view id is 1.
pub fn load(dir: &Path) -> Result<Catalog> {
    let path = path(dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(empty()),
        Err(e) => return Err(Error::io("read the catalog file", &path)(e)),
    };
    decode(&bytes).map_err(|e| match e {
        Error::Corrupt { offset, reason, .. } => Error::Corrupt {
            path: Some(path),
            offset,
            reason,
        },
        Error::UnsupportedVersion {
            version, supported, ..
        } => Error::UnsupportedVersion {
            path: Some(path),
            version,
            supported,
        },
        other => other,
    })
}

/// Writes `cat` as the catalog of the store in `dir`, atomically and durably
/// (through the backend for `dir`, [`strata_engine::Fs::for_dir`]).
pub fn save(dir: &Path, cat: &Catalog) -> Result<()> {
    save_with(&strata_engine::Fs::for_dir(dir), dir, cat)
}

/// [`save`] through `fs` (the store's engine's backend, so that fault
/// injection and the crash simulator see the catalog's writes).
pub fn save_with(fs: &strata_engine::Fs, dir: &Path, cat: &Catalog) -> Result<()> {
    let bytes = encode(cat)?;
    fs.replace(dir, FILE_NAME, &bytes)
        .map_err(|e| Error::from_engine("save the catalog", &path(dir), e))
}

fn empty() -> Catalog {
    Catalog {
        entities: Vec::new(),
        views: Vec::new(),
        next_view_id: 1,
    }
}

/// The file's bytes for `cat`.
pub fn encode(cat: &Catalog) -> Result<Vec<u8>> {
    let body = serde_json::to_vec_pretty(cat).map_err(|source| Error::Encode {
        what: "catalog",
        source,
    })?;
    let crc = crc32c::crc32c(&body);
    let mut out = format!("{MAGIC} {FORMAT_VERSION} {crc:08x} {}\n", body.len()).into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// A damage report at byte `offset` of the file.
fn corrupt(offset: usize, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: None,
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Parses and checks the file's bytes. A damaged file is
/// [`Error::Corrupt`] with the byte offset (from the start of the file) of
/// the damage, or of the part that holds it; `path` is left `None`.
pub fn decode(bytes: &[u8]) -> Result<Catalog> {
    if bytes.is_empty() {
        return Err(corrupt(0, "the file is empty"));
    }
    let nl = bytes.iter().take(128).position(|&b| b == b'\n').ok_or_else(|| {
        corrupt(
            0,
            "no header line in the first 128 bytes (expected \"STRATCAT <version> <crc32c> <length>\")",
        )
    })?;
    let (head, body) = bytes.split_at(nl);
    let body = body.get(1..).unwrap_or_default();
    let body_at = nl + 1;
    let header = std::str::from_utf8(head)
        .map_err(|e| corrupt(e.valid_up_to(), "the header line is not text"))?;
    // Each field with its offset in the file.
    let mut at = 0;
    let mut parts = header.split(' ').map(|p| {
        let field = (at, p);
        at += p.len() + 1;
        field
    });
    let (_, magic) = parts.next().unwrap_or((0, ""));
    if magic != MAGIC {
        return Err(corrupt(
            0,
            format!("bad magic {magic:?} (expected {MAGIC:?}): not a Strata catalog file"),
        ));
    }
    let fields: Vec<(usize, &str)> = parts.collect();
    let [(version_at, version), (crc_at, crc), (len_at, len)] = fields[..] else {
        return Err(corrupt(
            0,
            format!("bad header {header:?}: expected \"{MAGIC} <version> <crc32c> <length>\""),
        ));
    };
    let version: u32 = version.parse().map_err(|_| {
        corrupt(
            version_at,
            format!("bad format version {version:?} in the header"),
        )
    })?;
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: None,
            version,
            supported: FORMAT_VERSION,
        });
    }
    let stored = u32::from_str_radix(crc, 16)
        .ok()
        .filter(|_| crc.len() == 8)
        .ok_or_else(|| corrupt(crc_at, format!("bad checksum field {crc:?} in the header")))?;
    let len: usize = len
        .parse()
        .map_err(|_| corrupt(len_at, format!("bad length field {len:?} in the header")))?;
    if body.len() != len {
        return Err(corrupt(
            body_at,
            format!(
                "the body is {} bytes long, the header says {len} (truncated or appended to)",
                body.len()
            ),
        ));
    }
    let computed = crc32c::crc32c(body);
    if computed != stored {
        return Err(corrupt(
            body_at,
            format!(
                "checksum mismatch over bytes {body_at}..{}: stored {stored:08x}, computed {computed:08x}",
                bytes.len()
            ),
        ));
    }
    let cat: Catalog = serde_json::from_slice(body).map_err(|e| {
        corrupt(
            body_at + json_offset(body, &e),
            format!("the body is not a valid catalog: {e}"),
        )
    })?;
    check(&cat).map_err(|why| corrupt(body_at, why))?;
    Ok(cat)
}

/// The offset in `body` of the line and column a JSON error names.
fn json_offset(body: &[u8], e: &serde_json::Error) -> usize {
    let line_start = if e.line() <= 1 {
        0
    } else {
        body.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(e.line() - 2)
            .map_or(body.len(), |(i, _)| i + 1)
    };
    (line_start + e.column().saturating_sub(1)).min(body.len())
}

/// Invariants a catalog written by this crate always has; the reason if
/// one does not hold.
fn check(cat: &Catalog) -> Result<(), String> {
    if cat.next_view_id == 0 {
        return Err("next_view_id is 0 (ids start at 1)".into());
    }
    for (i, v) in cat.views.iter().enumerate() {
        if v.id == 0 || v.id >= cat.next_view_id {
            return Err(format!(
                "view {} has id {}, outside 1..{}",
                v.qualified_name(),
                v.id,
                cat.next_view_id
            ));
        }
        if let Some(w) = cat.views.iter().take(i).find(|w| w.id == v.id) {
            return Err(format!(
                "views {} and {} share the id {}",
                w.qualified_name(),
                v.qualified_name(),
                v.id
            ));
        }
        if let Some(e) = v.entities.iter().find(|e| cat.entity(e).is_none()) {
            return Err(format!(
                "view {} uses the entity {e:?}, which is not in the catalog",
                v.qualified_name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Entity, Feature, FeatureView, JoinKey};
    use strata_format::schema::{FeatureType, KeyType};

    fn sample() -> Catalog {
        let metadata = crate::catalog::ViewMeta {
            owner: Some("risk-team".into()),
            online: Some(false),
            max_versions: Some(3),
            tags: Some(crate::catalog::metadata::Tags::List(vec![
                "a".into(),
                "b".into(),
            ])),
            ..Default::default()
        };
        Catalog {
            entities: vec![Entity {
                name: "user".into(),
                join_keys: vec![JoinKey {
                    name: "user_id".into(),
                    ty: KeyType::Int64,
                }],
                description: "a user".into(),
            }],
            views: vec![FeatureView {
                id: 1,
                name: "user_stats".into(),
                version: 1,
                entities: vec!["user".into()],
                ttl_micros: 30 * 86_400_000_000,
                features: vec![
                    Feature {
                        name: "amount_avg".into(),
                        ty: FeatureType::Float64,
                        description: String::new(),
                        tags: vec![],
                    },
                    Feature {
                        name: "emb".into(),
                        ty: FeatureType::ListFloat32,
                        description: "x".into(),
                        tags: vec!["t".into()],
                    },
                ],
                metadata,
            }],
            next_view_id: 2,
        }
    }

    #[test]
    fn missing_file_is_an_empty_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let cat = load(dir.path()).unwrap();
        assert_eq!(
            cat,
            Catalog {
                entities: vec![],
                views: vec![],
                next_view_id: 1
            }
        );
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cat = sample();
        save(dir.path(), &cat).unwrap();
        assert_eq!(load(dir.path()).unwrap(), cat);
        assert!(
            !dir.path().join("catalog.tmp").exists(),
            "the temporary file is renamed away"
        );
        let text = fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.starts_with("STRATCAT 1 "), "{text}");
        // Saving again replaces the file.
        let mut next = cat.clone();
        next.next_view_id = 9;
        save(dir.path(), &next).unwrap();
        assert_eq!(load(dir.path()).unwrap().next_view_id, 9);
    }

    #[test]
    fn every_bit_flip_in_the_body_is_detected() {
        let bytes = encode(&sample()).unwrap();
        let body_start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        for i in (body_start..bytes.len()).step_by(7) {
            for bit in [0, 5] {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                let err = decode(&damaged).unwrap_err().to_string();
                assert!(err.contains("checksum mismatch"), "byte {i}: {err}");
            }
        }
    }

    #[test]
    fn damage_in_the_header_is_detected() {
        let bytes = encode(&sample()).unwrap();
        for i in 0..bytes.iter().position(|&b| b == b'\n').unwrap() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            assert!(
                decode(&damaged).is_err(),
                "flip at header byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn damaged_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &sample()).unwrap();
        let p = path(dir.path());
        let mut bytes = fs::read(&p).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x10;
        fs::write(&p, &bytes).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&p.display().to_string()), "{err}");
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(err.contains("restore it from a backup"), "{err}");
    }

    #[test]
    fn truncated_empty_and_foreign_files() {
        let bytes = encode(&sample()).unwrap();
        let err = decode(&bytes[..bytes.len() - 10]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        assert!(decode(b"").unwrap_err().to_string().contains("empty"));
        let err = decode(b"{\"entities\": []}\n").unwrap_err().to_string();
        assert!(err.contains("bad magic"), "{err}");
        let err = decode(b"STRATCAT 7 00000000 0\n").unwrap_err().to_string();
        assert!(err.contains("format version 7"), "{err}");
        let err = decode(b"STRATCAT 1 zz 0\n").unwrap_err().to_string();
        assert!(err.contains("checksum field"), "{err}");
    }

    #[test]
    fn inconsistent_catalog_is_refused() {
        let mut cat = sample();
        cat.next_view_id = 1;
        let err = decode(&encode(&cat).unwrap()).unwrap_err().to_string();
        assert!(err.contains("outside 1..1"), "{err}");
        let mut cat = sample();
        cat.views[0].entities = vec!["merchant".into()];
        let err = decode(&encode(&cat).unwrap()).unwrap_err().to_string();
        assert!(err.contains("merchant"), "{err}");
    }

    fn offset(e: &Error) -> u64 {
        match e {
            Error::Corrupt { offset, .. } => *offset,
            other => panic!("not Corrupt: {other:?}"),
        }
    }

    #[test]
    fn damage_is_reported_at_its_offset() {
        let bytes = encode(&sample()).unwrap();
        let body_at = bytes.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
        let mut flipped = bytes.clone();
        flipped[200] ^= 4;
        assert_eq!(offset(&decode(&flipped).unwrap_err()), body_at);
        assert_eq!(
            offset(&decode(&bytes[..bytes.len() - 1]).unwrap_err()),
            body_at
        );
        // Header fields: "STRATCAT 1 <crc> <len>".
        let header = std::str::from_utf8(&bytes[..body_at as usize - 1]).unwrap();
        let damaged = |field: usize, with: &str| {
            let mut parts: Vec<&str> = header.split(' ').collect();
            parts[field] = with;
            let mut b = parts.join(" ").into_bytes();
            b.extend_from_slice(&bytes[body_at as usize - 1..]);
            decode(&b).unwrap_err()
        };
        assert_eq!(offset(&damaged(0, "STRATCAX")), 0);
        assert_eq!(offset(&damaged(1, "x")), 9);
        assert_eq!(offset(&damaged(2, "zz")), 11);
        let e = damaged(3, "12x");
        assert_eq!(offset(&e), 20);
        assert!(
            e.to_string()
                .contains("damaged at byte 20: bad length field \"12x\""),
            "{e}"
        );
        assert!(matches!(
            damaged(1, "2"),
            Error::UnsupportedVersion {
                version: 2,
                path: None,
                supported: 1,
            }
        ));
    }

    #[test]
    fn a_body_that_is_not_a_catalog_is_reported_where_it_breaks() {
        let body = b"{\n  \"entities\": [],\n  \"views\": 7\n}";
        let mut bytes = format!(
            "{MAGIC} {FORMAT_VERSION} {:08x} {}\n",
            crc32c::crc32c(body),
            body.len()
        )
        .into_bytes();
        let body_at = bytes.len();
        bytes.extend_from_slice(body);
        let e = decode(&bytes).unwrap_err();
        let at = offset(&e) as usize;
        let seven = body.iter().position(|&b| b == b'7').unwrap();
        // serde_json names the position just after the bad value.
        assert!(
            (body_at + seven..=body_at + seven + 1).contains(&at),
            "{at}: {e}"
        );
        assert!(e.to_string().contains("not a valid catalog"), "{e}");
    }

    #[test]
    fn io_errors_name_the_operation_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(path(dir.path())).unwrap(); // a directory where the file should be
        let e = load(dir.path()).unwrap_err();
        let Error::Io { op, path: p, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            (*op, p.as_path()),
            ("read the catalog file", path(dir.path()).as_path())
        );
        assert!(
            e.to_string().starts_with("cannot read the catalog file "),
            "{e}"
        );
        let e = save(&dir.path().join("missing"), &sample()).unwrap_err();
        assert!(matches!(e, Error::Io { op: "create", .. }), "{e:?}");
    }

    /// `testdata/catalog-v1` was written by the code of commit ad1570e,
    /// which kept metadata fields as written (integer durations, unknown
    /// fields).
    #[test]
    fn a_catalog_written_before_typed_metadata_opens() {
        let dir = tempfile::tempdir().unwrap();
        let old = include_bytes!("testdata/catalog-v1");
        fs::write(path(dir.path()), old).unwrap();
        let cat = load(dir.path()).unwrap();
        let txn = cat.view("txn").unwrap();
        assert_eq!(txn.owner(), Some("alice"));
        assert_eq!(txn.tags(), ["payments", "pii"]);
        assert_eq!(txn.freshness_sla_micros(), Some(3_600_000_000));
        assert!(!txn.online());
        assert_eq!(txn.quality_policy().name(), "warn");
        assert_eq!(txn.created_at(), Some(1_780_000_000_000_000));
        assert_eq!(
            txn.metadata.legacy.keys().collect::<Vec<_>>(),
            ["sla_pager", "weights"]
        );
        assert_eq!(txn.expectations(0).min, Some(0.0));
        let clean = cat.view("clean@2").unwrap();
        assert_eq!(clean.policy().retention, Some(604_800_000_000));
        assert_eq!(clean.policy().max_versions, Some(3));
        assert_eq!(clean.inputs(), ["txn"]);
        let stats = cat.view("txn_stats").unwrap();
        assert_eq!(stats.tags(), ["domain=payments"]);
        let spec = crate::catalog::aggregation::spec(stats, txn).unwrap();
        assert_eq!(spec.allowed_lateness, 3_600_000_000);
        assert_eq!(spec.aggregations.len(), 3);
        // Written again, it reads back the same (unknown fields included).
        save(dir.path(), &cat).unwrap();
        assert_eq!(load(dir.path()).unwrap(), cat);
        let text = fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("\"sla_pager\"") && text.contains("\"freshness_sla\": \"1h\""));
    }
}
