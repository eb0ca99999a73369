//! `include` in the server's own config file, as Lightbend config reads it
//! (Spark Job Server's `application.conf` files use it): `include "a.conf"`,
//! `include file("a.conf")` and `include required(...)` of either, relative to
//! the including file's directory. A missing file is skipped unless required.
//! Request bodies never include: a config sent over HTTP must not read the
//! server's files, so the parser of client text has no `Includes` at all.

use super::*;
use std::path::{Path, PathBuf};

/// Included files within included files, at most this deep.
const MAX_INCLUDE_DEPTH: usize = 10;

/// Where includes are read from, and the files being read (for cycles).
#[derive(Debug, Clone)]
pub(super) struct Includes {
    dir: PathBuf,
    chain: Vec<PathBuf>,
}

impl Includes {
    pub(super) fn at(dir: &Path) -> Includes {
        Includes {
            dir: dir.to_owned(),
            chain: Vec::new(),
        }
    }

    /// The fields of the file `name`, for an include written at `pos`.
    fn fields_of(&self, name: &str, required: bool, pos: Pos) -> Result<Vec<Field>, ParseError> {
        let path = self.dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Vec::new()),
            Err(error) => return Err(pos.error(format!("cannot read the included file {}: {error}", path.display()))),
        };
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.chain.contains(&canonical) {
            return Err(pos.error(format!("{} includes itself", path.display())));
        }
        if self.chain.len() >= MAX_INCLUDE_DEPTH {
            return Err(pos.error(format!("includes nest more than {MAX_INCLUDE_DEPTH} files deep")));
        }
        let mut chain = self.chain.clone();
        chain.push(canonical);
        let inner = Includes {
            dir: path.parent().map(Path::to_owned).unwrap_or_default(),
            chain,
        };
        let parsed = Lexer::new(&text).tokens().and_then(|tokens| {
            Parser {
                tokens,
                at: 0,
                includes: Some(inner),
            }
            .document()
        });
        parsed.map_err(|error| pos.error(format!("in the included file {}: {error}", path.display())))
    }
}

impl Parser {
    /// An include statement, the `include` keyword first: the fields of the
    /// file it names.
    pub(super) fn include(&mut self) -> Result<Vec<Field>, ParseError> {
        let start = self.bump().pos;
        let Some(includes) = self.includes.clone() else {
            return Err(start.error(
                "include is not supported here: a config sent to the server must be self-contained \
                 (write \"include\" in quotes for a field of that name)",
            ));
        };
        let mut before = String::new();
        while let Tok::Unquoted(text) = &self.peek().tok {
            before.push_str(text.trim());
            self.bump();
        }
        let Tok::Quoted(name) = self.peek().tok.clone() else {
            return Err(self.unexpected("the name of the file to include, in quotes"));
        };
        self.bump();
        let mut after = String::new();
        while let Tok::Unquoted(text) = &self.peek().tok {
            after.push_str(text.trim());
            self.bump();
        }
        let required = match (before.as_str(), after.as_str()) {
            ("" | "file(", _) if after.len() == before.matches('(').count() && after.chars().all(|c| c == ')') => false,
            ("required(" | "required(file(", _)
                if after.len() == before.matches('(').count() && after.chars().all(|c| c == ')') =>
            {
                true
            }
            _ if before.contains("url(") || before.contains("classpath(") => {
                return Err(start.error("only files can be included: url(...) and classpath(...) are not supported"));
            }
            _ => {
                return Err(start.error(
                    "an include is written include \"file.conf\", include file(\"file.conf\") or include required(file(\"file.conf\"))",
                ));
            }
        };
        includes.fields_of(&name, required, start)
    }
}
