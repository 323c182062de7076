//! What the store's tests share: definitions with one more view, and
//! tables of refused inputs (some kept in `testdata` files).

use super::defs;
use super::{FeatureView, Result};

/// Definitions, `base`, to which a test adds one feature view, `name`,
/// reading `source`.
pub(crate) struct WithView {
    base: &'static str,
    name: &'static str,
    source: &'static str,
}

impl WithView {
    pub(crate) const fn new(base: &'static str, name: &'static str, source: &'static str) -> Self {
        WithView { base, name, source }
    }

    /// The definitions with the view, declaring `body`, parsed.
    pub(crate) fn with(&self, body: &str) -> Result<defs::Definitions> {
        let WithView { base, name, source } = self;
        defs::parse(&format!(
            "{base}\n[[feature_views]]\nname = \"{name}\"\nsource = \"{source}\"\n{body}"
        ))
    }
}

/// A view's features as `name type`, comma-separated, in order.
pub(crate) fn feature_list(v: &FeatureView) -> String {
    let features: Vec<String> = v
        .features
        .iter()
        .map(|f| format!("{} {}", f.name, f.ty))
        .collect();
    features.join(", ")
}

/// The cases of a refusals file: each is its lines up to one starting with
/// `=> `, which says what the error must contain. Lines starting with `#`
/// are comments.
pub(crate) fn refusals(text: &str) -> Vec<(String, &str)> {
    let mut cases = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        match line.strip_prefix("=> ") {
            Some(want) => cases.push((std::mem::take(&mut lines).join("\n"), want)),
            None if !line.is_empty() => lines.push(line),
            None => {}
        }
    }
    assert!(
        lines.is_empty() && !cases.is_empty(),
        "every case ends with a `=> ` line"
    );
    cases
}

/// Asserts that `f` refuses each input of `cases` with an error that says
/// the text paired with it.
pub(crate) fn assert_each_refused<T, E: std::fmt::Display>(
    cases: &[(&str, &str)],
    f: impl Fn(&str) -> std::result::Result<T, E>,
) {
    for (input, says) in cases {
        let Err(e) = f(input) else {
            panic!("{input:?} is accepted")
        };
        let e = e.to_string();
        assert!(e.contains(says), "{input:?}: {e}");
    }
}
