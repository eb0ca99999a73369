//! The parser against the spec's features, its errors, and hostile input.

mod include;
mod substitutions;
mod syntax;

use super::*;
use serde_json::json;

pub(super) fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/spark".into()),
        "PATH" => Some("/bin".into()),
        "JOB_USER" => Some("ana".into()),
        _ => None,
    }
}

pub(super) fn ok(text: &str) -> Value {
    parse_with_env(text, &env).unwrap_or_else(|e| panic!("{text:?} failed: {e}"))
}

/// Asserts that `text` fails at `line`:`column` with a message containing `what`.
pub(super) fn fails(text: &str, line: usize, column: usize, what: &str) -> ParseError {
    let shown: String = text.chars().take(80).collect();
    let error = parse_with_env(text, &env).expect_err(&format!("{shown:?} should not parse"));
    assert_eq!((error.line, error.column), (line, column), "{shown:?}: {error}");
    assert!(error.message.contains(what), "{shown:?}: {error}");
    error
}
