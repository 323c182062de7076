//! Reading and atomically replacing the `MANIFEST` file.

use std::fs;
use std::path::Path;

use strata_format::manifest::Manifest;

use super::io::Fs;
use super::{Error, Result};

pub const FILE: &str = "MANIFEST";

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

/// Replaces the manifest atomically ([`Fs::replace`]: `MANIFEST.tmp`,
/// sync, rename, sync the directory).
pub fn store(fs: &Fs, dir: &Path, m: &Manifest) -> Result<()> {
    fs.replace(dir, FILE, &m.encode())
}
