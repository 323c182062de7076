//! File globs for `strata ingest`: `*` (any run of characters but `/`),
//! `?` (one character), `[abc]` / `[a-z]` / `[!a]` (one character of a set),
//! and `**` as a whole path component (any number of directories).
//! Hidden files (`.name`) match only a pattern that starts with `.`.
//! Matches are returned sorted, so ingest order is deterministic.

use std::path::{Path, PathBuf};

/// Whether `s` contains glob syntax.
pub fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files matching `pattern`, sorted. A pattern without glob syntax is
/// returned as is (whether or not it exists).
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, String> {
    if !is_pattern(pattern) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let (root, rest) = if let Some(r) = pattern.strip_prefix('/') {
        (PathBuf::from("/"), r)
    } else {
        (PathBuf::from("."), pattern)
    };
    let parts: Vec<&str> = rest
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut out = Vec::new();
    walk(&root, &parts, &mut out).map_err(|e| format!("cannot expand {pattern:?}: {e}"))?;
    out.sort();
    out.dedup();
    Ok(out
        .into_iter()
        .map(|p| p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p))
        .collect())
}

fn walk(dir: &Path, parts: &[&str], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let Some((first, rest)) = parts.split_first() else {
        if dir.is_file() {
            out.push(dir.to_path_buf());
        }
        return Ok(());
    };
    if *first == "**" {
        walk(dir, rest, out)?;
        for e in read_dir(dir)? {
            if e.1 && !e.0.starts_with('.') {
                walk(&dir.join(&e.0), parts, out)?;
            }
        }
        return Ok(());
    }
    if !is_pattern(first) {
        let next = dir.join(first);
        if rest.is_empty() || next.is_dir() {
            walk(&next, rest, out)?;
        }
        return Ok(());
    }
    for (name, is_dir) in read_dir(dir)? {
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if matches(first.as_bytes(), name.as_bytes()) && (rest.is_empty() || is_dir) {
            walk(&dir.join(&name), rest, out)?;
        }
    }
    Ok(())
}

fn read_dir(dir: &Path) -> std::io::Result<Vec<(String, bool)>> {
    let mut v = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        if let Some(name) = e.file_name().to_str() {
            v.push((name.to_string(), e.path().is_dir()));
        }
    }
    Ok(v)
}

/// Whether the name `s` matches the one-component pattern `p`.
pub fn matches(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| matches(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && matches(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return s.first() == Some(&b'[') && matches(rest, &s[1..]);
            };
            let Some((&c, tail)) = s.split_first() else {
                return false;
            };
            let (negate, set) = match rest[..close].split_first() {
                Some((b'!' | b'^', set)) => (true, set),
                _ => (false, &rest[..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && matches(&rest[close + 1..], tail)
        }
        Some((&c, rest)) => s.first() == Some(&c) && matches(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let m = |p: &str, s: &str| matches(p.as_bytes(), s.as_bytes());
        assert!(m("*.parquet", "a.parquet"));
        assert!(!m("*.parquet", "a.parquet.tmp"));
        assert!(m("part-??.csv", "part-01.csv"));
        assert!(!m("part-??.csv", "part-1.csv"));
        assert!(m("day=[0-9]*", "day=7x"));
        assert!(!m("[!a]*", "abc"));
        assert!(m("[!a]*", "bc"));
        assert!(m("*", ""));
    }

    #[test]
    fn expands_in_directories_sorted() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for p in [
            "a/2.csv",
            "a/1.csv",
            "a/x.txt",
            "b/c/3.csv",
            "a/.hidden.csv",
        ] {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "").unwrap();
        }
        let r = root.display();
        let got = expand(&format!("{r}/a/*.csv")).unwrap();
        assert_eq!(got, vec![root.join("a/1.csv"), root.join("a/2.csv")]);
        let got = expand(&format!("{r}/**/*.csv")).unwrap();
        assert_eq!(
            got,
            vec![
                root.join("a/1.csv"),
                root.join("a/2.csv"),
                root.join("b/c/3.csv")
            ]
        );
        assert!(expand(&format!("{r}/nope/*.csv")).unwrap().is_empty());
        assert_eq!(
            expand("plain.csv").unwrap(),
            vec![PathBuf::from("plain.csv")]
        );
    }
}
