//! Running the `strata` binary on a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the CLI left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the CLI in `dir` to completion, with no `STRATA_*` settings from
/// the environment.
pub fn strata(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("STRATA_DATA")
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_TOKEN")
        .current_dir(dir)
        .output()
        .expect("run strata");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs and expects success; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let r = strata(dir, args);
    assert_eq!(
        r.code, 0,
        "strata {args:?} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// Runs and expects failure with `code` and an `error: ` message; returns
/// stderr.
pub fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let r = strata(dir, args);
    assert_eq!(
        r.code, code,
        "strata {args:?}:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    r.stderr
}

/// Runs and expects failure with `code` and an `error: ` message that
/// contains `needle`; returns stderr.
pub fn fails_with(dir: &Path, args: &[&str], code: i32, needle: &str) -> String {
    let err = fails(dir, args, code);
    assert!(err.contains(needle), "{needle:?} not in {err}");
    err
}

/// The words of a command line: `argv("get --key 1")` is
/// `["get", "--key", "1"]`. For arguments with no white space in them;
/// write the others as an array.
pub fn argv(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Parses what a `--json` command printed.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts that `text` contains each of `needles`.
#[track_caller]
pub fn assert_contains(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{n:?} is missing from:\n{text}");
    }
}

/// Runs this test binary again as a child process, filtered to exactly
/// `test`, with the environment variable `env` set to `value` (which tells
/// the test that it is the child); its stdout goes to `stdout`, its stderr
/// nowhere.
pub fn rerun_test(
    test: &str,
    (env, value): (&str, String),
    stdout: std::process::Stdio,
) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, value)
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Lets `child` run for `at` (or until it exits), then kills it
/// (SIGKILL) and reaps it: a crash at a random point of its work.
pub fn kill_after(child: &mut std::process::Child, at: std::time::Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < at {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
}

/// One of `examples/NAME/`, as its tests run it through the CLI.
pub struct Example(pub &'static str);

impl Example {
    /// The path of one of its files, as a CLI argument.
    pub fn file(&self, file: &str) -> String {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(self.0)
            .join(file)
            .display()
            .to_string()
    }

    /// The lines of its README's code block after "The export as it
    /// prints:".
    pub fn readme_export(&self) -> Vec<String> {
        let readme = std::fs::read_to_string(self.file("README.md")).unwrap();
        let (_, after) = readme.split_once("The export as it prints:").unwrap();
        let block = after.split("```").nth(1).unwrap();
        block
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }
    /// The export the test wrote at `path`, checked to be what the
    /// README shows.
    pub fn exported_as_readme(&self, path: &Path) -> String {
        let exported = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = exported.lines().collect();
        assert_eq!(
            lines,
            self.readme_export(),
            "the export differs from the README"
        );
        exported
    }
}
