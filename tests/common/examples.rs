//! The runnable examples under `examples/`: their files, and the export
//! their README shows.

use std::path::PathBuf;

/// The path of `file` in `examples/<example>/`.
pub fn example_file(example: &str, file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(example)
        .join(file)
        .display()
        .to_string()
}

/// The lines of the example README's code block after "The export as it
/// prints:".
pub fn readme_export(example: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(example_file(example, "README.md"))
        .expect("the example's README reads");
    let (_, after) = readme
        .split_once("The export as it prints:")
        .expect("the README shows an export");
    let block = after.split("```").nth(1).expect("a code block follows");
    block
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}
