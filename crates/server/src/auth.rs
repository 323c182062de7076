//! Access tokens: `DIR/tokens.json`, readable by its owner only.
//!
//! A token is shown once, when created: `stk_<id>_<secret>`, `id` 16 hex
//! digits (public: it names the token in `token list` and `token revoke`),
//! `secret` 64 hex digits (32 random bytes). The file keeps the id, a name,
//! the grants and the SHA-256 of the secret, never the secret itself, so a
//! copy of the file grants nothing. A presented token is checked by finding
//! its id and comparing the hash of its secret in constant time.
//!
//! A grant is `LEVEL:SCOPE`: `LEVEL` is `read`, `write` (implies read) or
//! `admin` (implies both, and allows `stats`); `SCOPE` is `view:NAME` (every
//! version of that view), `team:NAME` (every view whose `team` metadata is
//! NAME) or `*` (every view).
//!
//! Changes go through a lock file (`tokens.lock`) and an atomic replace, so
//! concurrent `strata token` commands do not lose each other's edits; a
//! running server re-reads the file when it changes.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// The token file of a store directory.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("tokens.json")
}

/// What a grant allows. Ordered: each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Read,
    Write,
    Admin,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }
}

/// Which views a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    View(String),
    Team(String),
}

/// One grant of a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    pub level: Level,
    pub scope: Scope,
}

impl Grant {
    /// Parses `read:view:NAME`, `write:team:NAME`, `admin:*`.
    pub fn parse(text: &str) -> Result<Grant, String> {
        let hint = "write a grant as LEVEL:view:NAME, LEVEL:team:NAME or LEVEL:* with LEVEL read, write or admin";
        let (level, scope) = text
            .split_once(':')
            .ok_or_else(|| format!("grant {text:?}: {hint}"))?;
        let level = match level {
            "read" => Level::Read,
            "write" => Level::Write,
            "admin" => Level::Admin,
            _ => return Err(format!("grant {text:?}: unknown level {level:?}; {hint}")),
        };
        let scope = match scope.split_once(':') {
            None if scope == "*" => Scope::All,
            Some(("view", n)) if !n.is_empty() => Scope::View(n.to_string()),
            Some(("team", n)) if !n.is_empty() => Scope::Team(n.to_string()),
            _ => return Err(format!("grant {text:?}: bad scope {scope:?}; {hint}")),
        };
        Ok(Grant { level, scope })
    }

    /// Whether this grant allows `level` on a view named `view` (without
    /// `@version`) whose team is `team`.
    pub fn allows(&self, level: Level, view: &str, team: Option<&str>) -> bool {
        self.level >= level
            && match &self.scope {
                Scope::All => true,
                Scope::View(n) => n == view,
                Scope::Team(t) => team == Some(t.as_str()),
            }
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.scope {
            Scope::All => write!(f, "{}:*", self.level.name()),
            Scope::View(n) => write!(f, "{}:view:{n}", self.level.name()),
            Scope::Team(t) => write!(f, "{}:team:{t}", self.level.name()),
        }
    }
}

/// One token as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenEntry {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret part.
    pub secret_sha256: String,
    /// Grants in their text form.
    pub grants: Vec<String>,
    /// µs since the epoch.
    pub created: i64,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenEntry>,
}

/// A token as the server uses it: grants parsed, hash decoded.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    pub name: String,
    hash: [u8; 32],
    pub grants: Vec<Grant>,
}

impl Token {
    pub fn allows(&self, level: Level, view: &str, team: Option<&str>) -> bool {
        self.grants.iter().any(|g| g.allows(level, view, team))
    }

    /// Whether any grant is `admin`.
    pub fn is_admin(&self) -> bool {
        self.grants.iter().any(|g| g.level == Level::Admin)
    }
}

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged: {reason}; fix or remove it (tokens in it stop working)")]
    Damaged { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

fn engine_error(e: strata_engine::Error) -> AuthError {
    match e {
        strata_engine::Error::Io { path, source, .. } => AuthError::Io { path, source },
        other => AuthError::Invalid(other.to_string()),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The tokens of a store, ready for checks.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_id: HashMap<String, Token>,
}

/// Compares in time that depends only on the lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let pair = std::str::from_utf8(b.get(2 * i..2 * i + 2)?).ok()?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    /// The token `presented` (`stk_<id>_<secret>`) if it is valid.
    pub fn verify(&self, presented: &str) -> Option<&Token> {
        let rest = presented.strip_prefix("stk_")?;
        let (id, secret) = rest.split_once('_')?;
        let hash = sha256(secret.as_bytes());
        match self.by_id.get(id) {
            Some(t) => ct_eq(&t.hash, &hash).then_some(t),
            None => {
                // Same work for an unknown id.
                let _ = ct_eq(&[0u8; 32], &hash);
                None
            }
        }
    }

    /// A token by id (to re-check a connection's token after a reload).
    pub fn get(&self, id: &str) -> Option<&Token> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

fn read_file(path: &Path) -> Result<TokenFile, AuthError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFile::default()),
        Err(e) => return Err(io(path)(e)),
    };
    serde_json::from_str(&text).map_err(|e| AuthError::Damaged {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Loads the tokens of `dir` (none if there is no file).
pub fn load(dir: &Path) -> Result<Tokens, AuthError> {
    let path = path(dir);
    let file = read_file(&path)?;
    let mut by_id = HashMap::new();
    for e in file.tokens {
        let damaged = |reason: String| AuthError::Damaged {
            path: path.clone(),
            reason: format!("token {}: {reason}", e.id),
        };
        let hash = unhex32(&e.secret_sha256).ok_or_else(|| damaged("bad secret hash".into()))?;
        let grants = e
            .grants
            .iter()
            .map(|g| Grant::parse(g))
            .collect::<Result<Vec<_>, _>>()
            .map_err(damaged)?;
        by_id.insert(
            e.id.clone(),
            Token {
                id: e.id,
                name: e.name,
                hash,
                grants,
            },
        );
    }
    Ok(Tokens { by_id })
}

/// A warning if the token file is readable by others.
pub fn permission_warning(dir: &Path) -> Option<String> {
    let path = path(dir);
    let mode = std::fs::metadata(&path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )
    })
}

/// Runs `f` on the file's contents under the lock and writes the result
/// back atomically with mode 0600.
fn modify<T>(
    dir: &Path,
    f: impl FnOnce(&mut TokenFile) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    let lock_path = dir.join("tokens.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let path = path(dir);
    let mut file = read_file(&path)?;
    file.version = 1;
    let out = f(&mut file)?;
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| AuthError::Invalid(format!("cannot encode the token file: {e}")))?;
    // A new `tokens.json.tmp` (a leftover one is removed first), mode 0600.
    strata_engine::replace_with_mode(dir, "tokens.json", text.as_bytes(), 0o600)
        .map_err(engine_error)?;
    drop(lock);
    Ok(out)
}

fn random_hex(n: usize) -> Result<String, AuthError> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| AuthError::Invalid("the system random source failed".into()))?;
    Ok(hex(&b))
}

/// Creates a token; returns its entry and the token text (shown once).
pub fn create(dir: &Path, name: &str, grants: &[Grant]) -> Result<(TokenEntry, String), AuthError> {
    if grants.is_empty() {
        return Err(AuthError::Invalid(
            "a token needs at least one --grant (e.g. read:view:user_stats, write:team:fraud, admin:*)"
                .into(),
        ));
    }
    if !dir.is_dir() {
        return Err(AuthError::Invalid(format!(
            "{} is not a directory; create the store first",
            dir.display()
        )));
    }
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let entry = TokenEntry {
        id: id.clone(),
        name: name.to_string(),
        secret_sha256: hex(&sha256(secret.as_bytes())),
        grants: grants.iter().map(Grant::to_string).collect(),
        created: strata_store::now_micros(),
    };
    let e = entry.clone();
    modify(dir, move |f| {
        f.tokens.push(e);
        Ok(())
    })?;
    Ok((entry, format!("stk_{id}_{secret}")))
}

/// The stored tokens (without secrets, which are not stored).
pub fn list(dir: &Path) -> Result<Vec<TokenEntry>, AuthError> {
    Ok(read_file(&path(dir))?.tokens)
}

/// Removes the token `id`; false if there is none.
pub fn revoke(dir: &Path, id: &str) -> Result<bool, AuthError> {
    let id = id
        .strip_prefix("stk_")
        .map_or(id, |rest| rest.split('_').next().unwrap_or(rest));
    modify(dir, |f| {
        let before = f.tokens.len();
        f.tokens.retain(|t| t.id != id);
        Ok(f.tokens.len() != before)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_check() {
        let g = Grant::parse("write:team:fraud").unwrap();
        assert!(g.allows(Level::Read, "v", Some("fraud")));
        assert!(g.allows(Level::Write, "v", Some("fraud")));
        assert!(!g.allows(Level::Admin, "v", Some("fraud")));
        assert!(!g.allows(Level::Read, "v", Some("growth")));
        assert!(!g.allows(Level::Read, "v", None));
        let g = Grant::parse("read:view:user_stats").unwrap();
        assert!(g.allows(Level::Read, "user_stats", None));
        assert!(!g.allows(Level::Write, "user_stats", None));
        assert!(!g.allows(Level::Read, "other", None));
        assert!(
            Grant::parse("admin:*")
                .unwrap()
                .allows(Level::Admin, "x", None)
        );
        for bad in ["read", "own:*", "read:view:", "read:team", "read:views:x"] {
            assert!(Grant::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Grant::parse("read:view:a").unwrap().to_string(),
            "read:view:a"
        );
    }

    #[test]
    fn create_verify_revoke() {
        let d = tempfile::tempdir().unwrap();
        let (e, text) = create(d.path(), "ci", &[Grant::parse("read:*").unwrap()]).unwrap();
        let mode = std::fs::metadata(path(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            !std::fs::read_to_string(path(d.path()))
                .unwrap()
                .contains(&text[21..])
        );
        let t = load(d.path()).unwrap();
        assert_eq!(t.verify(&text).map(|t| t.id.as_str()), Some(e.id.as_str()));
        let mut wrong = text.clone();
        wrong.pop();
        wrong.push('x');
        assert!(t.verify(&wrong).is_none());
        assert!(t.verify("stk_nope_abc").is_none());
        assert!(t.verify("garbage").is_none());
        assert!(revoke(d.path(), &e.id).unwrap());
        assert!(!revoke(d.path(), &e.id).unwrap());
        assert!(load(d.path()).unwrap().verify(&text).is_none());
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
