//! Reading and atomically replacing the `MANIFEST` file.

use std::fs;
use std::io::Write;
use std::path::Path;

use strata_format::manifest::Manifest;

use super::wal::sync_dir;
use super::{Error, Result};

pub const FILE: &str = "MANIFEST";
const TMP: &str = "MANIFEST.tmp";

/// Reads the manifest; `None` if the store has none yet.
pub fn load(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => Manifest::decode(&bytes)
            .map(Some)
            .map_err(|e| Error::corruption(&path, 0, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// Replaces the manifest: write a temporary file, sync it, rename it over
/// the old one, sync the directory.
pub fn store(dir: &Path, m: &Manifest) -> Result<()> {
    let tmp = dir.join(TMP);
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(&m.encode())
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
    drop(f);
    let path = dir.join(FILE);
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    sync_dir(dir)
}
