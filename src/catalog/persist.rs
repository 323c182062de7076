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
pub fn load(dir: &Path) -> Result<Catalog, String> {
    let path = path(dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(empty()),
        Err(e) => {
            return Err(format!(
                "cannot read the catalog file {}: {e}",
                path.display()
            ));
        }
    };
    decode(&bytes).map_err(|what| {
        format!(
            "the catalog file {} is damaged: {what}; restore it from a backup \
             (the view ids in it must stay as they were for the stored data to be readable)",
            path.display()
        )
    })
}

/// Writes `cat` as the catalog of the store in `dir`, atomically and durably
/// (through the backend for `dir`, [`crate::engine::Fs::for_dir`]).
pub fn save(dir: &Path, cat: &Catalog) -> Result<(), String> {
    save_with(&crate::engine::Fs::for_dir(dir), dir, cat)
}

/// [`save`] through `fs` (the store's engine's backend).
pub fn save_with(fs: &crate::engine::Fs, dir: &Path, cat: &Catalog) -> Result<(), String> {
    let bytes = encode(cat)?;
    fs.replace(dir, FILE_NAME, &bytes)
        .map_err(|e| format!("cannot save the catalog: {e}"))
}

fn empty() -> Catalog {
    Catalog {
        entities: Vec::new(),
        views: Vec::new(),
        next_view_id: 1,
    }
}

/// The file's bytes for `cat`.
pub fn encode(cat: &Catalog) -> Result<Vec<u8>, String> {
    let body = serde_json::to_vec_pretty(cat)
        .map_err(|e| format!("cannot encode the catalog as JSON: {e}"))?;
    let crc = crc32c::crc32c(&body);
    let mut out = format!("{MAGIC} {FORMAT_VERSION} {crc:08x} {}\n", body.len()).into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses and checks the file's bytes. The error says what is wrong and
/// where (byte offsets are from the start of the file).
pub fn decode(bytes: &[u8]) -> Result<Catalog, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let nl = bytes.iter().take(128).position(|&b| b == b'\n').ok_or(
        "no header line in the first 128 bytes (expected \"STRATCAT <version> <crc32c> <length>\")",
    )?;
    let header =
        std::str::from_utf8(&bytes[..nl]).map_err(|_| "the header line is not text".to_string())?;
    let mut parts = header.split(' ');
    let magic = parts.next().unwrap_or("");
    if magic != MAGIC {
        return Err(format!(
            "bad magic {magic:?} at byte 0 (expected {MAGIC:?}): not a Strata catalog file"
        ));
    }
    let fields: Vec<&str> = parts.collect();
    let [version, crc, len] = fields[..] else {
        return Err(format!(
            "bad header {header:?}: expected \"{MAGIC} <version> <crc32c> <length>\""
        ));
    };
    let version: u32 = version
        .parse()
        .map_err(|_| format!("bad format version {version:?} in the header"))?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version} is not supported (this build reads version {FORMAT_VERSION}); use a matching strata build"
        ));
    }
    let stored = u32::from_str_radix(crc, 16)
        .ok()
        .filter(|_| crc.len() == 8)
        .ok_or_else(|| format!("bad checksum field {crc:?} in the header"))?;
    let len: usize = len
        .parse()
        .map_err(|_| format!("bad length field {len:?} in the header"))?;
    let body = &bytes[nl + 1..];
    if body.len() != len {
        return Err(format!(
            "the body at byte {} is {} bytes long, the header says {len} (truncated or appended to)",
            nl + 1,
            body.len()
        ));
    }
    let computed = crc32c::crc32c(body);
    if computed != stored {
        return Err(format!(
            "checksum mismatch over bytes {}..{}: stored {stored:08x}, computed {computed:08x}",
            nl + 1,
            bytes.len()
        ));
    }
    let cat: Catalog = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body (from byte {}) is not a valid catalog: {e}",
            nl + 1
        )
    })?;
    check(&cat)?;
    Ok(cat)
}

/// Invariants a catalog written by this crate always has.
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
        if let Some(w) = cat.views[..i].iter().find(|w| w.id == v.id) {
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
    use crate::format::schema::{FeatureType, KeyType};

    fn sample() -> Catalog {
        let mut metadata = toml::Table::new();
        metadata.insert("owner".into(), toml::Value::String("risk-team".into()));
        metadata.insert("online".into(), toml::Value::Boolean(false));
        metadata.insert("max_versions".into(), toml::Value::Integer(3));
        metadata.insert(
            "tags".into(),
            toml::Value::Array(vec![
                toml::Value::String("a".into()),
                toml::Value::String("b".into()),
            ]),
        );
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
                let err = decode(&damaged).unwrap_err();
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
        let err = load(dir.path()).unwrap_err();
        assert!(err.contains(&p.display().to_string()), "{err}");
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(err.contains("restore it from a backup"), "{err}");
    }

    #[test]
    fn truncated_empty_and_foreign_files() {
        let bytes = encode(&sample()).unwrap();
        let err = decode(&bytes[..bytes.len() - 10]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(decode(b"").unwrap_err().contains("empty"));
        let err = decode(b"{\"entities\": []}\n").unwrap_err();
        assert!(err.contains("bad magic"), "{err}");
        let err = decode(b"STRATCAT 7 00000000 0\n").unwrap_err();
        assert!(err.contains("format version 7"), "{err}");
        let err = decode(b"STRATCAT 1 zz 0\n").unwrap_err();
        assert!(err.contains("checksum field"), "{err}");
    }

    #[test]
    fn inconsistent_catalog_is_refused() {
        let mut cat = sample();
        cat.next_view_id = 1;
        let err = decode(&encode(&cat).unwrap()).unwrap_err();
        assert!(err.contains("outside 1..1"), "{err}");
        let mut cat = sample();
        cat.views[0].entities = vec!["merchant".into()];
        let err = decode(&encode(&cat).unwrap()).unwrap_err();
        assert!(err.contains("merchant"), "{err}");
    }
}
