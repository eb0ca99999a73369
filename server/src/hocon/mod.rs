//! HOCON, the config format of Lightbend config and Spark Job Server, parsed
//! into a `serde_json::Value`. Users send job configs as HOCON (or plain JSON)
//! in request bodies, and the server's own config file is HOCON; [`parse`]
//! turns either into a value whose root is always an object, or into a
//! [`ParseError`] that names the line and column of the problem in words the
//! author of the config can act on.
//!
//! Supported, following <https://github.com/lightbend/config/blob/main/HOCON.md>:
//! JSON (giving what `serde_json` gives; integers beyond `u64` become floats,
//! as in `serde_json`); optional root braces; `#` and `//` comments; `=`, `:`,
//! `+=` and an omitted separator before `{`; newlines or commas between fields
//! and elements, with one trailing comma; path keys (`a.b.c = 1`) with quoted
//! segments; merging of duplicate object keys; quoted strings with JSON escapes,
//! `"""` multi-line strings, unquoted strings, numbers, `true`/`false`/`null`
//! (`yes`, `on` and the like stay strings); string, array and object
//! concatenation; `${path}` and `${?path}` substitutions resolved against the
//! final document, falling back to environment variables, with
//! self-references (`path = ${path} [x]`, `a += b`) looking at the earlier
//! value.
//!
//! `include` of files works in the server's own config file
//! ([`parse_config_file`]) and nowhere else: a config sent over HTTP that
//! includes is an error. Substitutions in an included file are looked up from
//! the root of the whole config, not from where it was included.
//!
//! Not supported: including URLs or classpath resources, root arrays, and the spec's optional
//! rule that a cycle through `${?path}` counts as undefined (every cycle is an
//! error here). Durations and sizes such as `10 minutes` or `256m` stay
//! strings: interpreting them is up to the code that reads the setting. An
//! unquoted `:` is a reserved character in HOCON, so `url = http://host:9000`
//! is an error (and `//` would start a comment anyway): such values must be
//! quoted.
//!
//! Request bodies are untrusted, so nesting deeper than 200 levels and
//! substitutions that blow a config up (a value copied into itself over and
//! over) are errors rather than a crash or an exhausted machine.

mod errors;
mod include;
mod lexer;
mod parser;
mod resolve;
#[cfg(test)]
mod tests;
mod tree;

use errors::*;
use include::*;
use lexer::*;
use parser::*;
use resolve::*;
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use tree::*;

/// Nesting of objects, arrays and key path elements beyond this is rejected,
/// so that hostile input cannot overflow the stack of the thread parsing it.
const MAX_DEPTH: usize = 200;

/// Resolving recurses once per level of the document and once more per
/// substitution followed, so it gets more room than the document itself.
const MAX_RESOLVE_DEPTH: usize = 3 * MAX_DEPTH;

/// A config that could not be parsed: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, counted in characters.
    pub column: usize,
    /// What is wrong, written for the author of the config.
    pub message: String,
}

/// Parses HOCON (or JSON) text into a JSON object, resolving substitutions
/// against the document itself only. This is the one for text from clients:
/// a `${DATABASE_URL}` in a job config must not read the server's secrets.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    resolve_document(text, None, None)
}

/// [`parse`] for the server's own config file, the text of a file in `dir`:
/// substitutions fall back to environment variables (`${?HOME}`), and
/// `include` reads other files, relative to the one that includes them.
pub fn parse_config_file(text: &str, dir: &std::path::Path) -> Result<Value, ParseError> {
    resolve_document(text, Some(&|name| std::env::var(name).ok()), Some(Includes::at(dir)))
}

/// [`parse_config_file`] with the environment passed in, so tests need not
/// touch the process environment.
#[cfg(test)]
fn parse_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, ParseError> {
    resolve_document(text, Some(env), None)
}

/// A variable's value by name, as the process environment gives it.
type Environment<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Parses and resolves; without `env`, substitutions see the document only.
fn resolve_document(
    text: &str,
    env: Option<&Environment<'_>>,
    includes: Option<Includes>,
) -> Result<Value, ParseError> {
    let tokens = Lexer::new(text).tokens()?;
    let fields = Parser {
        tokens,
        at: 0,
        includes,
    }
    .document()?;
    let mut root = ObjNode::default();
    for field in fields {
        define(&mut root, &mut Vec::new(), field, true);
    }
    let root = Node::Object(root);
    let mut resolver = Resolver {
        root: &root,
        env,
        cache: HashMap::new(),
        active: HashSet::new(),
        chain: Vec::new(),
        depth: 0,
        // Generous for any real config, yet it stops a few lines that copy a
        // value into itself over and over from eating all memory.
        budget: text.len().saturating_mul(10).saturating_add(4_000_000),
        anchor: Pos { line: 1, column: 1 },
    };
    Ok(resolver.resolve(&root)?.unwrap_or_else(|| Value::Object(Map::new())))
}
