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
//! Not supported: `include` (rejected with an error, since a config sent over
//! HTTP has nothing it could include), root arrays, and the spec's optional
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

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::{Map, Number, Value};

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
    resolve_document(text, None)
}

/// [`parse`] for the server's own config file, where HOCON's fallback from
/// substitutions to environment variables is wanted (`${?HOME}`).
pub fn parse_with_environment(text: &str) -> Result<Value, ParseError> {
    resolve_document(text, Some(&|name| std::env::var(name).ok()))
}

/// [`parse_with_environment`] with the environment passed in, so tests need
/// not touch the process environment.
#[cfg(test)]
fn parse_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, ParseError> {
    resolve_document(text, Some(env))
}

/// A variable's value by name, as the process environment gives it.
type Environment<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Parses and resolves; without `env`, substitutions see the document only.
fn resolve_document(text: &str, env: Option<&Environment<'_>>) -> Result<Value, ParseError> {
    let tokens = Lexer::new(text).tokens()?;
    let fields = Parser { tokens, at: 0 }.document()?;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl Pos {
    fn error(self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    OpenBrace,
    CloseBrace,
    OpenBracket,
    CloseBracket,
    Comma,
    Colon,
    Equals,
    PlusEquals,
    Newline,
    Quoted(String),
    Unquoted(String),
    /// `${` or `${?`; the path and the closing `}` are separate tokens.
    SubstOpen {
        optional: bool,
    },
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
    /// The whitespace just before the token on the same line, which value
    /// concatenation keeps between pieces.
    space_before: String,
}

/// Characters that may not appear in unquoted text.
fn is_reserved(c: char) -> bool {
    "$\"{}[]:=,+#`^?!@*&\\".contains(c)
}

/// HOCON's whitespace, as the spec lists it: Unicode whitespace, the ASCII
/// information separators, and the byte order mark.
fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

struct Lexer<'t> {
    /// What is left to read.
    rest: &'t str,
    line: usize,
    column: usize,
}

impl<'t> Lexer<'t> {
    fn new(text: &'t str) -> Self {
        Lexer {
            rest: text,
            line: 1,
            column: 1,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.rest.chars().nth(ahead)
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.rest = &self.rest[c.len_utf8()..];
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn tokens(mut self) -> Result<Vec<Token>, ParseError> {
        let mut tokens = Vec::new();
        loop {
            let mut space_before = String::new();
            while let Some(c) = self.peek(0).filter(|&c| c != '\n' && is_space(c)) {
                space_before.push(c);
                self.bump();
            }
            let pos = self.pos();
            let Some(c) = self.peek(0) else {
                tokens.push(Token {
                    tok: Tok::End,
                    pos,
                    space_before,
                });
                return Ok(tokens);
            };
            let tok = match c {
                '#' => {
                    self.skip_comment();
                    continue;
                }
                '/' if self.peek(1) == Some('/') => {
                    self.skip_comment();
                    continue;
                }
                '\n' | '{' | '}' | '[' | ']' | ',' | ':' | '=' => {
                    self.bump();
                    match c {
                        '\n' => Tok::Newline,
                        '{' => Tok::OpenBrace,
                        '}' => Tok::CloseBrace,
                        '[' => Tok::OpenBracket,
                        ']' => Tok::CloseBracket,
                        ',' => Tok::Comma,
                        ':' => Tok::Colon,
                        _ => Tok::Equals,
                    }
                }
                '+' if self.peek(1) == Some('=') => {
                    self.bump();
                    self.bump();
                    Tok::PlusEquals
                }
                '$' if self.peek(1) == Some('{') => {
                    self.bump();
                    self.bump();
                    let optional = self.peek(0) == Some('?');
                    if optional {
                        self.bump();
                    }
                    Tok::SubstOpen { optional }
                }
                '"' if self.peek(1) == Some('"') && self.peek(2) == Some('"') => self.triple_quoted(pos)?,
                '"' => self.quoted(pos)?,
                '$' => {
                    return Err(pos.error(
                        "'$' may only start a substitution such as ${path}; \
                         put the value in double quotes if it contains '$'",
                    ));
                }
                '+' => {
                    return Err(pos.error(
                        "'+' may only appear in '+='; \
                         put the value in double quotes if it contains '+'",
                    ));
                }
                c if is_reserved(c) => {
                    return Err(pos.error(format!(
                        "reserved character '{c}' is not allowed outside quotes; \
                         put the value in double quotes"
                    )));
                }
                _ => self.unquoted(),
            };
            tokens.push(Token { tok, pos, space_before });
        }
    }

    /// Skips to the end of the line, leaving the newline itself, which still
    /// separates fields.
    fn skip_comment(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn unquoted(&mut self) -> Tok {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            let allowed = if c == '+' {
                exponent_sign_allowed(&text)
            } else {
                !(is_space(c) || is_reserved(c) || (c == '/' && self.peek(1) == Some('/')))
            };
            if !allowed {
                break;
            }
            text.push(c);
            self.bump();
        }
        Tok::Unquoted(text)
    }

    fn quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
        let unterminated = || {
            start.error(
                "unterminated quoted string: it must end on the same line \
                 (use \"\"\" for a multi-line string)",
            )
        };
        self.bump();
        let mut text = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None | Some('\n') => return Err(unterminated()),
                Some('"') => return Ok(Tok::Quoted(text)),
                Some('\\') => match self.peek(0) {
                    None | Some('\n') => return Err(unterminated()),
                    Some(_) => text.push(self.escape(here)?),
                },
                Some(c) if c.is_control() => {
                    return Err(here.error(format!(
                        "control character U+{:04X} is not allowed in a quoted string; \
                         write it as an escape such as \\t or \\u{:04x}",
                        c as u32, c as u32
                    )));
                }
                Some(c) => text.push(c),
            }
        }
    }

    /// Decodes the escape after a backslash at `at`, as JSON defines them.
    fn escape(&mut self, at: Pos) -> Result<char, ParseError> {
        let c = self.bump().unwrap_or('\\');
        Ok(match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let first = self.hex4(at)?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    // JSON spells characters beyond the BMP as a surrogate pair.
                    if self.peek(0) != Some('\\') || self.peek(1) != Some('u') {
                        return Err(at.error(format!(
                            "invalid escape \\u{first:04x}: a high surrogate must be \
                             followed by a low surrogate escape"
                        )));
                    }
                    self.bump();
                    self.bump();
                    let second = self.hex4(at)?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(at.error(format!(
                            "invalid escape \\u{first:04x}\\u{second:04x}: not a valid surrogate pair"
                        )));
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                char::from_u32(code)
                    .ok_or_else(|| at.error(format!("invalid escape \\u{code:04x}: a lone low surrogate")))?
            }
            other => {
                return Err(at.error(format!(
                    "invalid escape '\\{}' in quoted string; the valid escapes are \
                     \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                    other.escape_default()
                )));
            }
        })
    }

    fn hex4(&mut self, at: Pos) -> Result<u32, ParseError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek(0)
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| at.error("invalid escape: \\u must be followed by four hexadecimal digits"))?;
            self.bump();
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn triple_quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
        for _ in 0..3 {
            self.bump();
        }
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(start.error("unterminated multi-line string: missing the closing \"\"\""));
                }
                Some('"') if self.peek(0) == Some('"') && self.peek(1) == Some('"') => {
                    self.bump();
                    self.bump();
                    // Quotes beyond three belong to the string: `"""a""""` is `a"`.
                    while self.peek(0) == Some('"') {
                        text.push('"');
                        self.bump();
                    }
                    return Ok(Tok::Quoted(text));
                }
                Some(c) => text.push(c),
            }
        }
    }
}

/// `+` is reserved, yet JSON numbers such as `1e+5` contain it: allow it
/// right after the exponent marker of something that is so far a number.
fn exponent_sign_allowed(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let Some(mantissa) = unsigned.strip_suffix(['e', 'E']) else {
        return false;
    };
    mantissa.starts_with(|c: char| c.is_ascii_digit()) && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Keeps a message readable when it quotes a huge piece of input.
fn shorten(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// A key as written, for a message: in quotes, unless it has its own.
fn quote_key(raw: &str) -> String {
    if raw.contains('"') {
        shorten(raw)
    } else {
        format!("\"{}\"", shorten(raw))
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::OpenBrace => "'{'".into(),
        Tok::CloseBrace => "'}'".into(),
        Tok::OpenBracket => "'['".into(),
        Tok::CloseBracket => "']'".into(),
        Tok::Comma => "','".into(),
        Tok::Colon => "':'".into(),
        Tok::Equals => "'='".into(),
        Tok::PlusEquals => "'+='".into(),
        Tok::Newline => "the end of the line".into(),
        Tok::End => "the end of the input".into(),
        Tok::Quoted(text) => format!("the string \"{}\"", shorten(text)),
        Tok::Unquoted(text) => format!("'{}'", shorten(text)),
        Tok::SubstOpen { optional: false } => "'${'".into(),
        Tok::SubstOpen { optional: true } => "'${?'".into(),
    }
}

// ---------------------------------------------------------------------------
// Parser: tokens to the syntax tree, one object field at a time.

/// One `key = value` (or `key += value`, or `key { ... }`) as written.
#[derive(Debug)]
struct Field {
    path: Vec<String>,
    append: bool,
    value: Ast,
    pos: Pos,
}

/// A value as written, before fields merge and substitutions resolve.
#[derive(Debug)]
enum Ast {
    Literal(Value),
    Object(Vec<Field>),
    Array(Vec<Ast>),
    Subst(Subst),
    Concat(Vec<Piece<Ast>>),
}

#[derive(Debug, Clone)]
struct Subst {
    path: Vec<String>,
    optional: bool,
    pos: Pos,
}

impl Subst {
    fn display(&self, optional: bool) -> String {
        let mark = if optional { "?" } else { "" };
        format!("${{{mark}{}}}", render_path(&self.path))
    }
}

/// Part of a value concatenation.
#[derive(Debug, Clone)]
enum Piece<T> {
    /// Whitespace between two values, kept only when they join into a string.
    Space(String),
    Value(T, Pos),
}

impl<T> Piece<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Piece<U> {
        match self {
            Piece::Space(space) => Piece::Space(space),
            Piece::Value(value, pos) => Piece::Value(f(value), pos),
        }
    }
}

/// A piece of a value before the pieces are known to be one value or many.
enum Part {
    Space(String),
    Text { text: String, quoted: bool, pos: Pos },
    Value(Ast, Pos),
}

struct Parser {
    /// Always ends with `Tok::End`.
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    /// Takes the next token; at the end it keeps returning `End`.
    fn bump(&mut self) -> Token {
        let token = &mut self.tokens[self.at];
        if token.tok == Tok::End {
            return token.clone();
        }
        self.at += 1;
        let pos = token.pos;
        std::mem::replace(
            token,
            Token {
                tok: Tok::End,
                pos,
                space_before: String::new(),
            },
        )
    }

    fn skip_newlines(&mut self) {
        while self.peek().tok == Tok::Newline {
            self.bump();
        }
    }

    /// Consumes what separates two fields or elements: newlines, and one
    /// comma that may come after them (comma-first JSON puts it there).
    fn separator(&mut self) -> bool {
        let newline = self.peek().tok == Tok::Newline;
        self.skip_newlines();
        let comma = self.peek().tok == Tok::Comma;
        if comma {
            self.bump();
        }
        newline || comma
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        let token = self.peek();
        token
            .pos
            .error(format!("expected {expected}, found {}", describe(&token.tok)))
    }

    fn document(mut self) -> Result<Vec<Field>, ParseError> {
        self.skip_newlines();
        match self.peek().tok {
            Tok::OpenBrace => {
                let open = self.bump().pos;
                let fields = self.object_body(Some(open), 1)?;
                self.skip_newlines();
                if self.peek().tok != Tok::End {
                    return Err(self.unexpected("nothing after the closing '}' of the root object"));
                }
                Ok(fields)
            }
            Tok::OpenBracket => Err(self
                .peek()
                .pos
                .error("the root of a config must be an object, not an array")),
            _ => self.object_body(None, 0),
        }
    }

    /// Fields up to the closing brace (when `open` says where the opening one
    /// was) or up to the end of the input (for a root without braces).
    fn object_body(&mut self, open: Option<Pos>, depth: usize) -> Result<Vec<Field>, ParseError> {
        let mut fields = Vec::new();
        loop {
            self.skip_newlines();
            let token = self.peek();
            match (&token.tok, open) {
                (Tok::CloseBrace, Some(_)) => {
                    self.bump();
                    return Ok(fields);
                }
                (Tok::End, None) => return Ok(fields),
                (Tok::End, Some(open)) => {
                    return Err(token.pos.error(format!(
                        "expected '}}' to close the object opened at line {}, column {}",
                        open.line, open.column
                    )));
                }
                (Tok::CloseBrace, None) => {
                    return Err(token.pos.error("unexpected '}': no object is open here"));
                }
                _ => {}
            }
            fields.push(self.field(depth)?);
            if !self.separator() {
                match self.peek().tok {
                    Tok::End => {}
                    Tok::CloseBrace if open.is_some() => {}
                    _ if open.is_some() => {
                        return Err(self.unexpected("',', a newline or '}' after a field"));
                    }
                    _ => return Err(self.unexpected("',' or a newline after a field")),
                }
            }
        }
    }

    fn field(&mut self, depth: usize) -> Result<Field, ParseError> {
        let start = self.peek().pos;
        if matches!(&self.peek().tok, Tok::Unquoted(word) if word == "include") {
            return Err(start.error(
                "include is not supported: the config must be self-contained \
                 (write \"include\" in quotes for a field of that name)",
            ));
        }
        let Some((path, raw)) = self.path()? else {
            return Err(self.unexpected("a key (a field name)"));
        };
        if depth + path.len() > MAX_DEPTH {
            return Err(start.error(format!(
                "nesting is too deep: more than {MAX_DEPTH} levels of objects, arrays and key path elements"
            )));
        }
        // Valid JSON may break the line between a key and its ':'.
        let mut ahead = self.at;
        while self.tokens[ahead].tok == Tok::Newline {
            ahead += 1;
        }
        let append = match self.tokens[ahead].tok {
            Tok::Equals | Tok::Colon | Tok::PlusEquals => {
                self.at = ahead;
                let append = self.bump().tok == Tok::PlusEquals;
                self.skip_newlines();
                append
            }
            Tok::OpenBrace => {
                self.at = ahead;
                false
            }
            _ => {
                let token = self.peek();
                let found = match token.tok {
                    Tok::Newline | Tok::End => String::new(),
                    ref other => format!(", found {}", describe(other)),
                };
                return Err(token
                    .pos
                    .error(format!("expected '=' or ':' after key {}{found}", quote_key(&raw))));
            }
        };
        match self.value(depth + path.len())? {
            Some(value) => Ok(Field {
                path,
                append,
                value,
                pos: start,
            }),
            None => Err(self.unexpected(&format!("a value for key {}", quote_key(&raw)))),
        }
    }

    /// A path expression (a key, or the inside of `${...}`): quoted and
    /// unquoted pieces on one line, split at the dots outside quotes. Also
    /// returns the path as written, for messages.
    fn path(&mut self) -> Result<Option<(Vec<String>, String)>, ParseError> {
        let start = self.peek().pos;
        let mut elements = Vec::new();
        let mut current = String::new();
        // A quoted "" is an element even though it adds no characters.
        let mut started = false;
        let mut empty_element = false;
        let mut raw = String::new();
        while matches!(self.peek().tok, Tok::Quoted(_) | Tok::Unquoted(_)) {
            let token = self.bump();
            if !raw.is_empty() && !token.space_before.is_empty() {
                current.push_str(&token.space_before);
                raw.push_str(&token.space_before);
                started = true;
            }
            match token.tok {
                Tok::Quoted(text) => {
                    raw.push_str(&format!("\"{text}\""));
                    current.push_str(&text);
                    started = true;
                }
                Tok::Unquoted(text) => {
                    raw.push_str(&text);
                    for (i, part) in text.split('.').enumerate() {
                        if i > 0 {
                            empty_element |= !started;
                            elements.push(std::mem::take(&mut current));
                            started = false;
                        }
                        current.push_str(part);
                        started |= !part.is_empty();
                    }
                }
                _ => {}
            }
        }
        if raw.is_empty() {
            return Ok(None);
        }
        if empty_element || !started {
            return Err(start.error(format!(
                "invalid path {}: it has an empty element (a leading, trailing or doubled '.'); \
                 put a name that contains dots in quotes, e.g. \"a.b\"",
                quote_key(&raw)
            )));
        }
        elements.push(current);
        if elements.len() > MAX_DEPTH {
            return Err(start.error(format!(
                "path {} is too long: more than {MAX_DEPTH} elements",
                quote_key(&raw)
            )));
        }
        Ok(Some((elements, raw)))
    }

    /// A value: everything up to the end of the line, a ',' or a closing
    /// bracket, concatenated. `None` when there is no value at all.
    fn value(&mut self, depth: usize) -> Result<Option<Ast>, ParseError> {
        let mut parts = Vec::new();
        loop {
            let token = self.peek();
            if !matches!(
                token.tok,
                Tok::Quoted(_) | Tok::Unquoted(_) | Tok::SubstOpen { .. } | Tok::OpenBrace | Tok::OpenBracket
            ) {
                break;
            }
            if (matches!(token.tok, Tok::OpenBrace | Tok::OpenBracket)) && depth >= MAX_DEPTH {
                return Err(token.pos.error(format!(
                    "nesting is too deep: more than {MAX_DEPTH} levels of objects, arrays and key path elements"
                )));
            }
            let Token { tok, pos, space_before } = self.bump();
            if !parts.is_empty() && !space_before.is_empty() {
                parts.push(Part::Space(space_before));
            }
            parts.push(match tok {
                Tok::Quoted(text) => Part::Text {
                    text,
                    quoted: true,
                    pos,
                },
                Tok::Unquoted(text) => Part::Text {
                    text,
                    quoted: false,
                    pos,
                },
                Tok::SubstOpen { optional } => Part::Value(self.substitution(pos, optional)?, pos),
                Tok::OpenBrace => Part::Value(Ast::Object(self.object_body(Some(pos), depth + 1)?), pos),
                // The check above leaves only '['.
                _ => Part::Value(Ast::Array(self.array(pos, depth + 1)?), pos),
            });
        }
        if !parts.is_empty() {
            // The two usual slips: an unquoted URL or host:port, and two
            // fields written on one line.
            let token = self.peek();
            match token.tok {
                Tok::Colon => {
                    return Err(token.pos.error(
                        "':' is not allowed in an unquoted value; put the whole value in \
                         double quotes, e.g. \"http://host:9000/path\"",
                    ));
                }
                Tok::Equals | Tok::PlusEquals => {
                    return Err(token.pos.error(format!(
                        "unexpected {} in a value; separate fields with a newline or ',', \
                         or put a value containing it in double quotes",
                        describe(&token.tok)
                    )));
                }
                _ => {}
            }
        }
        Ok(combine(parts))
    }

    fn substitution(&mut self, open: Pos, optional: bool) -> Result<Ast, ParseError> {
        let Some((path, _)) = self.path()? else {
            return Err(self.unexpected("a path such as ${a.b} inside the substitution"));
        };
        if self.peek().tok != Tok::CloseBrace {
            let token = self.peek();
            return Err(open.error(format!(
                "unterminated substitution: expected '}}' to close it, found {}",
                describe(&token.tok)
            )));
        }
        self.bump();
        Ok(Ast::Subst(Subst {
            path,
            optional,
            pos: open,
        }))
    }

    fn array(&mut self, open: Pos, depth: usize) -> Result<Vec<Ast>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            let token = self.peek();
            match token.tok {
                Tok::CloseBracket => {
                    self.bump();
                    return Ok(items);
                }
                Tok::End => {
                    return Err(token.pos.error(format!(
                        "expected ']' to close the array opened at line {}, column {}",
                        open.line, open.column
                    )));
                }
                _ => {}
            }
            match self.value(depth)? {
                Some(item) => items.push(item),
                None => return Err(self.unexpected("a value or ']' in the array")),
            }
            if !self.separator() && !matches!(self.peek().tok, Tok::CloseBracket | Tok::End) {
                return Err(self.unexpected("',', a newline or ']' after an array element"));
            }
        }
    }
}

/// Turns the pieces of one value into a single value when they are one, or
/// join without substitutions; the rest is left to resolution.
fn combine(mut parts: Vec<Part>) -> Option<Ast> {
    if parts.len() <= 1 {
        return match parts.pop()? {
            Part::Text {
                text, quoted: false, ..
            } => Some(Ast::Literal(unquoted_scalar(text))),
            Part::Text { text, .. } | Part::Space(text) => Some(Ast::Literal(Value::String(text))),
            Part::Value(ast, _) => Some(ast),
        };
    }
    let values = || {
        parts.iter().filter_map(|part| match part {
            Part::Space(_) => None,
            Part::Text { .. } => Some(None),
            Part::Value(ast, _) => Some(Some(ast)),
        })
    };
    if values().all(|ast| matches!(ast, Some(Ast::Object(_)))) {
        // Object concatenation is a merge, which is what a series of field
        // definitions does anyway.
        let fields = parts.into_iter().flat_map(|part| match part {
            Part::Value(Ast::Object(fields), _) => fields,
            _ => Vec::new(),
        });
        return Some(Ast::Object(fields.collect()));
    }
    if values().all(|ast| matches!(ast, Some(Ast::Array(_)))) {
        let items = parts.into_iter().flat_map(|part| match part {
            Part::Value(Ast::Array(items), _) => items,
            _ => Vec::new(),
        });
        return Some(Ast::Array(items.collect()));
    }
    if values().all(|ast| ast.is_none()) {
        let text = parts.into_iter().map(|part| match part {
            Part::Space(text) | Part::Text { text, .. } => text,
            Part::Value(..) => String::new(),
        });
        return Some(Ast::Literal(Value::String(text.collect())));
    }
    let pieces = parts.into_iter().map(|part| match part {
        Part::Space(space) => Piece::Space(space),
        Part::Text { text, pos, .. } => Piece::Value(Ast::Literal(Value::String(text)), pos),
        Part::Value(ast, pos) => Piece::Value(ast, pos),
    });
    Some(Ast::Concat(pieces.collect()))
}

/// A lone unquoted token is a boolean, null or number when it is exactly
/// one; anything else (including `yes`, `on`, `01` and `1.2.3`) is a string.
fn unquoted_scalar(text: String) -> Value {
    match text.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
            match serde_json::from_str::<Number>(&text) {
                Ok(number) => Value::Number(number),
                Err(_) => Value::String(text),
            }
        }
        _ => Value::String(text),
    }
}

fn render_path(path: &[String]) -> String {
    let element = |e: &String| {
        if !e.is_empty() && e.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            e.clone()
        } else {
            format!("\"{e}\"")
        }
    };
    path.iter().map(element).collect::<Vec<_>>().join(".")
}

// ---------------------------------------------------------------------------
// Building: field definitions applied in order to one tree of nodes.

/// A value after duplicate keys are merged, before substitutions resolve.
#[derive(Debug, Clone)]
enum Node {
    Literal(Value),
    Object(ObjNode),
    Array(Vec<Node>),
    Subst(Subst),
    Concat(Vec<Piece<Node>>),
    /// Definitions of one field whose merge has to wait until substitutions
    /// resolve: each later one merges into, or replaces, the earlier ones.
    Merge(Vec<Node>),
    /// A self-reference: the field's value before this definition (`None`
    /// if there was none), narrowed to `select`.
    Previous {
        before: Option<Rc<Node>>,
        select: Vec<String>,
        subst: Subst,
    },
}

impl Default for Node {
    fn default() -> Self {
        Node::Literal(Value::Null)
    }
}

/// An object's fields in the order they were first defined.
#[derive(Debug, Clone, Default)]
struct ObjNode {
    entries: Vec<(String, Node)>,
    index: HashMap<String, usize>,
}

impl ObjNode {
    /// Most objects are small, and scanning them beats hashing every key.
    const INDEX_FROM: usize = 8;

    fn position(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= Self::INDEX_FROM {
            self.entries.iter().position(|(name, _)| name == key)
        } else {
            self.index.get(key).copied()
        }
    }

    fn get(&self, key: &str) -> Option<&Node> {
        let i = self.position(key)?;
        self.entries.get(i).map(|(_, node)| node)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        let i = self.position(key)?;
        self.entries.get_mut(i).map(|(_, node)| node)
    }

    fn insert(&mut self, key: String, node: Node) {
        if let Some(slot) = self.get_mut(&key) {
            *slot = node;
            return;
        }
        self.entries.push((key, node));
        let len = self.entries.len();
        if len == Self::INDEX_FROM + 1 {
            let keys = self.entries.iter().enumerate();
            self.index = keys.map(|(i, (name, _))| (name.clone(), i)).collect();
        } else if len > Self::INDEX_FROM + 1
            && let Some((name, _)) = self.entries.last()
        {
            self.index.insert(name.clone(), len - 1);
        }
    }

    /// The field `key`, created as an empty object if missing.
    fn slot(&mut self, key: &str) -> Option<&mut Node> {
        if self.position(key).is_none() {
            self.insert(key.to_owned(), Node::Object(ObjNode::default()));
        }
        self.get_mut(key)
    }
}

/// Applies one field definition to `target`: the document root when
/// `is_root`, else an object nested in an array or a concatenation. `path`
/// is where the field's object sits in `target`; it comes back unchanged.
fn define(target: &mut ObjNode, path: &mut Vec<String>, field: Field, is_root: bool) {
    let outer = path.len();
    path.extend(field.path);
    match field.value {
        Ast::Object(fields) if !field.append => {
            // Even `a {}` defines `a`, so make the object exist first.
            object_at(target, path);
            for nested in fields {
                define(target, path, nested, is_root);
            }
        }
        value => {
            let (node, looks_back) = field_node(value, path, target, is_root);
            if !field.append {
                put(target, path, node, looks_back);
            } else if let Some(Node::Array(items)) = node_at_mut(target, path) {
                // Appending to a plain array needs no self-reference, which
                // keeps long runs of `+=` flat instead of nesting them.
                items.push(node);
            } else {
                let node = appended(target, path, node, field.pos);
                put(target, path, node, true);
            }
        }
    }
    path.truncate(outer);
}

/// Converts a field's value. Substitution paths are absolute, so only in
/// the root can a substitution name the field being defined; there (and
/// only as the whole value or a piece of a concatenation, as the spec says)
/// it means the field's earlier value.
fn field_node(value: Ast, path: &[String], target: &ObjNode, is_root: bool) -> (Node, bool) {
    let mut earlier = None;
    let mut looks_back = false;
    let mut convert = |ast: Ast| match ast {
        Ast::Subst(subst) if is_root && subst.path.starts_with(path) => {
            looks_back = true;
            // One shared copy of the earlier value however often it is named.
            let (before, mut select) = earlier
                .get_or_insert_with(|| previous(target, path))
                .clone()
                .map_or((None, Vec::new()), |(node, select)| (Some(node), select));
            select.extend(subst.path.iter().skip(path.len()).cloned());
            Node::Previous { before, select, subst }
        }
        other => to_node(other),
    };
    let node = match value {
        Ast::Concat(pieces) => Node::Concat(pieces.into_iter().map(|piece| piece.map(&mut convert)).collect()),
        other => convert(other),
    };
    (node, looks_back)
}

fn to_node(ast: Ast) -> Node {
    match ast {
        Ast::Literal(value) => Node::Literal(value),
        Ast::Subst(subst) => Node::Subst(subst),
        Ast::Array(items) => Node::Array(items.into_iter().map(to_node).collect()),
        Ast::Concat(pieces) => Node::Concat(pieces.into_iter().map(|piece| piece.map(to_node)).collect()),
        Ast::Object(fields) => {
            let mut object = ObjNode::default();
            for field in fields {
                define(&mut object, &mut Vec::new(), field, false);
            }
            Node::Object(object)
        }
    }
}

/// `a += x` is `a = ${?a} [x]`, except that a first `+=` does not consult
/// the environment.
fn appended(target: &ObjNode, path: &[String], item: Node, pos: Pos) -> Node {
    let array = Node::Array(vec![item]);
    match previous(target, path) {
        None => array,
        Some((before, select)) => {
            let earlier = Node::Previous {
                before: Some(before),
                select,
                subst: Subst {
                    path: path.to_vec(),
                    optional: true,
                    pos,
                },
            };
            Node::Concat(vec![Piece::Value(earlier, pos), Piece::Value(array, pos)])
        }
    }
}

/// The node currently defined at `path`, or the nearest enclosing node that
/// is not a plain object together with the rest of the path to select in it.
fn previous(target: &ObjNode, path: &[String]) -> Option<(Rc<Node>, Vec<String>)> {
    let (last, parents) = path.split_last()?;
    let mut object = target;
    for (i, key) in parents.iter().enumerate() {
        match object.get(key)? {
            Node::Object(inner) => object = inner,
            other => return Some((Rc::new(other.clone()), path[i + 1..].to_vec())),
        }
    }
    object.get(last).map(|node| (Rc::new(node.clone()), Vec::new()))
}

fn node_at_mut<'o>(mut object: &'o mut ObjNode, path: &[String]) -> Option<&'o mut Node> {
    let (last, parents) = path.split_last()?;
    for key in parents {
        match object.get_mut(key)? {
            Node::Object(inner) => object = inner,
            _ => return None,
        }
    }
    object.get_mut(last)
}

/// The object at `path`, created or layered over whatever is there. `None`
/// cannot happen; it only spares the code a panic path.
fn object_at<'o>(mut object: &'o mut ObjNode, path: &[String]) -> Option<&'o mut ObjNode> {
    for key in path {
        object = object_slot(object.slot(key)?)?;
    }
    Some(object)
}

/// Makes `slot` hold an object that later fields can go into: a scalar or
/// array is replaced, while a value that may still turn out to be an object
/// (a substitution, say) gets the new object merged over it later.
fn object_slot(slot: &mut Node) -> Option<&mut ObjNode> {
    match slot {
        Node::Object(_) | Node::Merge(_) => {}
        Node::Literal(_) | Node::Array(_) => *slot = Node::Object(ObjNode::default()),
        _ => {
            let earlier = std::mem::take(slot);
            *slot = Node::Merge(vec![earlier]);
        }
    }
    match slot {
        Node::Object(object) => Some(object),
        Node::Merge(layers) => {
            if !matches!(layers.last(), Some(Node::Object(_))) {
                layers.push(Node::Object(ObjNode::default()));
            }
            match layers.last_mut() {
                Some(Node::Object(object)) => Some(object),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Sets the field at `path`. A value that is only known after resolution
/// (it may be an object to merge, or an undefined `${?x}` that keeps the
/// earlier value) is layered over the earlier one, unless it already refers
/// to the earlier value itself.
fn put(target: &mut ObjNode, path: &[String], node: Node, replace: bool) {
    let Some((key, parents)) = path.split_last() else {
        return;
    };
    let Some(parent) = object_at(target, parents) else {
        return;
    };
    let deferred = !matches!(node, Node::Literal(_) | Node::Array(_));
    match parent.get_mut(key) {
        Some(Node::Merge(layers)) if deferred && !replace => layers.push(node),
        Some(slot) if deferred && !replace => {
            let earlier = std::mem::take(slot);
            *slot = Node::Merge(vec![earlier, node]);
        }
        _ => parent.insert(key.clone(), node),
    }
}

// ---------------------------------------------------------------------------
// Resolution: the node tree to JSON, substitutions looked up in the final tree.

struct Resolver<'a> {
    root: &'a Node,
    /// Where substitutions not in the document are looked up; `None` for
    /// text from clients, which must not see the server's environment.
    env: Option<&'a Environment<'a>>,
    /// Substitution results by path, so each is resolved once.
    cache: HashMap<Vec<String>, Option<Value>>,
    /// Nodes that substitutions led to and that are still being resolved.
    active: HashSet<*const Node>,
    /// The substitutions being resolved, for the message about a cycle.
    chain: Vec<String>,
    depth: usize,
    /// Work left before giving up on an exploding config.
    budget: usize,
    /// Where to report problems found deep inside a substitution.
    anchor: Pos,
}

impl Resolver<'_> {
    /// The value of a node; `None` when it is undefined (an unset `${?x}`).
    fn resolve(&mut self, node: &Node) -> Result<Option<Value>, ParseError> {
        self.enter()?;
        let result = self.resolve_inner(node);
        self.depth -= 1;
        result
    }

    /// [`Self::resolve`] for a node that a substitution leads to. Only
    /// substitutions lead back up the tree, so an endless recursion has to
    /// reach one of these nodes again while it is still being resolved (and
    /// resolving a node does not depend on how it was reached, so reaching
    /// it again means the recursion would not end).
    fn resolve_target(&mut self, node: &Node) -> Result<Option<Value>, ParseError> {
        let id: *const Node = node;
        if !self.active.insert(id) {
            return Err(self.cycle_error());
        }
        let result = self.resolve(node);
        self.active.remove(&id);
        result
    }

    #[cold]
    fn cycle_error(&self) -> ParseError {
        // Leave out the substitutions that only led into the cycle.
        let chain = &self.chain;
        let start = chain
            .last()
            .and_then(|last| chain.iter().position(|step| step == last))
            .filter(|&first| first + 1 < chain.len())
            .unwrap_or(0);
        self.anchor
            .error(format!("substitution cycle: {}", chain[start..].join(" -> ")))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_RESOLVE_DEPTH {
            return Err(self.anchor.error(format!(
                "substitutions nest too deeply (more than {MAX_RESOLVE_DEPTH} levels)"
            )));
        }
        self.charge(1)
    }

    fn charge(&mut self, units: usize) -> Result<(), ParseError> {
        self.budget = self.budget.checked_sub(units).ok_or_else(|| {
            self.anchor.error(
                "the config grows too large as its substitutions are resolved \
                 (a value seems to be copied into itself many times)",
            )
        })?;
        Ok(())
    }

    // The work is split into small functions because they recurse into each
    // other once per nesting level, and small frames keep deep (but
    // allowed) configs within a thread's stack, even in debug builds.
    fn resolve_inner(&mut self, node: &Node) -> Result<Option<Value>, ParseError> {
        match node {
            Node::Literal(value) => {
                self.charge(measure(value).0)?;
                Ok(Some(value.clone()))
            }
            Node::Object(object) => self.resolve_object(object),
            Node::Array(items) => self.resolve_array(items),
            Node::Subst(subst) => self.substitute(subst),
            Node::Previous { before, select, subst } => self.resolve_previous(before.as_deref(), select, subst),
            Node::Concat(pieces) => self.concat(pieces),
            Node::Merge(layers) => self.resolve_merge(layers),
        }
    }

    fn resolve_object(&mut self, object: &ObjNode) -> Result<Option<Value>, ParseError> {
        let mut map = Map::new();
        for (key, child) in &object.entries {
            if let Some(value) = self.resolve(child)? {
                map.insert(key.clone(), value);
            }
        }
        Ok(Some(Value::Object(map)))
    }

    fn resolve_array(&mut self, items: &[Node]) -> Result<Option<Value>, ParseError> {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.extend(self.resolve(item)?);
        }
        Ok(Some(Value::Array(values)))
    }

    fn resolve_previous(
        &mut self,
        before: Option<&Node>,
        select: &[String],
        subst: &Subst,
    ) -> Result<Option<Value>, ParseError> {
        let outer = std::mem::replace(&mut self.anchor, subst.pos);
        let found = match before {
            Some(node) => self.resolve(node)?.and_then(|value| select_path(value, select)),
            None => None,
        };
        self.anchor = outer;
        self.fall_back(subst, found)
    }

    fn resolve_merge(&mut self, layers: &[Node]) -> Result<Option<Value>, ParseError> {
        let mut merged = None;
        for layer in layers {
            if let Some(value) = self.resolve(layer)? {
                merged = Some(merge(merged, value));
            }
        }
        Ok(merged)
    }

    fn substitute(&mut self, subst: &Subst) -> Result<Option<Value>, ParseError> {
        let outer = std::mem::replace(&mut self.anchor, subst.pos);
        let cached = self
            .cache
            .get(&subst.path)
            .map(|hit| hit.as_ref().map_or(1, |value| measure(value).0));
        let found = match cached {
            Some(cost) => {
                self.charge(cost)?;
                self.cache.get(&subst.path).cloned().flatten()
            }
            None => {
                self.chain.push(subst.display(false));
                let root = self.root;
                let found = self.lookup(root, &subst.path)?;
                self.chain.pop();
                if let Some(value) = &found {
                    let (weight, depth) = measure(value);
                    self.charge(weight)?;
                    // Cached values are not bounded by the recursion limit,
                    // so chains of them must be bounded here.
                    if depth > MAX_DEPTH {
                        return Err(subst.pos.error(format!(
                            "the value of {} nests more than {MAX_DEPTH} levels deep",
                            subst.display(false)
                        )));
                    }
                }
                self.cache.insert(subst.path.clone(), found.clone());
                found
            }
        };
        self.anchor = outer;
        self.fall_back(subst, found)
    }

    /// What a substitution not defined in the config becomes: the
    /// environment variable of that name, nothing if optional, else an error.
    fn fall_back(&mut self, subst: &Subst, found: Option<Value>) -> Result<Option<Value>, ParseError> {
        if found.is_some() {
            return Ok(found);
        }
        let name = subst.path.join(".");
        let Some(env) = self.env else {
            if subst.optional {
                return Ok(None);
            }
            return Err(subst.pos.error(format!(
                "could not resolve substitution {}: it is not set in this config, and configs sent \
                 to the server do not read its environment variables; write {} if it is optional",
                subst.display(false),
                subst.display(true)
            )));
        };
        if let Some(value) = env(&name) {
            self.charge(1 + value.len() / 8)?;
            return Ok(Some(Value::String(value)));
        }
        if subst.optional {
            return Ok(None);
        }
        Err(subst.pos.error(format!(
            "could not resolve substitution {}: it is not set in the config and there is \
             no environment variable {name}; write {} if it is optional",
            subst.display(false),
            subst.display(true)
        )))
    }

    /// The value at `path` below `node`, resolving no more than needed: an
    /// object may refer to its own fields (`a { x = 1, y = ${a.x} }`) without
    /// that being a cycle.
    fn lookup(&mut self, node: &Node, path: &[String]) -> Result<Option<Value>, ParseError> {
        let Some((key, rest)) = path.split_first() else {
            return self.resolve_target(node);
        };
        self.enter()?;
        let found = match node {
            Node::Object(object) => match object.get(key) {
                Some(child) => self.lookup(child, rest),
                None => Ok(None),
            },
            Node::Merge(layers) => self.lookup_layers(layers, path),
            other => self
                .resolve_target(other)
                .map(|value| value.and_then(|value| select_path(value, path))),
        };
        self.depth -= 1;
        found
    }

    /// [`Self::lookup`] through the definitions of one field, as they will
    /// merge, so that `app = ${defaults}` followed by `app.y = ${app.x}`
    /// works.
    fn lookup_layers(&mut self, layers: &[Node], path: &[String]) -> Result<Option<Value>, ParseError> {
        let mut found = None;
        for layer in layers {
            if let Node::Object(_) = layer {
                if let Some(value) = self.lookup(layer, path)? {
                    found = Some(merge(found, value));
                }
                continue;
            }
            match self.resolve_target(layer)? {
                Some(value @ Value::Object(_)) => {
                    if let Some(value) = select_path(value, path) {
                        found = Some(merge(found, value));
                    }
                }
                // A non-object hides everything defined before it.
                Some(_) => found = None,
                None => {}
            }
        }
        Ok(found)
    }

    fn concat(&mut self, pieces: &[Piece<Node>]) -> Result<Option<Value>, ParseError> {
        let mut joined: Option<Value> = None;
        let mut space = String::new();
        for piece in pieces {
            let (node, pos) = match piece {
                Piece::Space(text) => {
                    space.push_str(text);
                    continue;
                }
                Piece::Value(node, pos) => (node, *pos),
            };
            // An undefined `${?x}` adds nothing.
            let Some(value) = self.resolve(node)? else {
                continue;
            };
            joined = Some(self.join(joined.take(), value, &space, pos)?);
            space.clear();
        }
        Ok(joined)
    }

    fn join(&mut self, left: Option<Value>, right: Value, space: &str, pos: Pos) -> Result<Value, ParseError> {
        Ok(match (left, right) {
            (None, right) => right,
            (Some(Value::Object(mut into)), Value::Object(from)) => {
                merge_maps(&mut into, from);
                Value::Object(into)
            }
            (Some(Value::Array(mut into)), Value::Array(from)) => {
                into.extend(from);
                Value::Array(into)
            }
            (Some(left), right) if is_simple(&left) && is_simple(&right) => {
                let right = simple_text(right);
                self.charge(1 + (space.len() + right.len()) / 8)?;
                let mut text = simple_text(left);
                text.push_str(space);
                text.push_str(&right);
                Value::String(text)
            }
            (Some(left), right) => {
                return Err(pos.error(format!(
                    "cannot concatenate {} with {}: values written side by side on one \
                     line are joined into one value",
                    kind(&right),
                    kind(&left)
                )));
            }
        })
    }
}

/// `later` merged over `earlier`: objects merge key by key, anything else
/// replaces what came before.
fn merge(earlier: Option<Value>, later: Value) -> Value {
    match (earlier, later) {
        (Some(Value::Object(mut into)), Value::Object(from)) => {
            merge_maps(&mut into, from);
            Value::Object(into)
        }
        (_, later) => later,
    }
}

fn merge_maps(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(value)) => merge_maps(inner, value),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn select_path(mut value: Value, path: &[String]) -> Option<Value> {
    for key in path {
        value = match value {
            Value::Object(mut map) => map.swap_remove(key)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Roughly what copying a value costs (for the resolution budget), and how
/// deeply it nests.
fn measure(value: &Value) -> (usize, usize) {
    let (mut weight, mut depth) = (0, 0);
    let mut pending = vec![(value, 1)];
    while let Some((value, level)) = pending.pop() {
        weight += 1;
        depth = depth.max(level);
        match value {
            Value::String(text) => weight += text.len() / 8,
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, level + 1))),
            Value::Object(map) => {
                for (key, value) in map {
                    weight += key.len() / 8;
                    pending.push((value, level + 1));
                }
            }
            _ => {}
        }
    }
    (weight, depth)
}

fn is_simple(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

fn simple_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => "null".to_owned(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/spark".into()),
            "PATH" => Some("/bin".into()),
            "JOB_USER" => Some("ana".into()),
            _ => None,
        }
    }

    fn ok(text: &str) -> Value {
        parse_with_env(text, &env).unwrap_or_else(|e| panic!("{text:?} failed: {e}"))
    }

    /// Asserts that `text` fails at `line`:`column` with a message containing `what`.
    fn fails(text: &str, line: usize, column: usize, what: &str) -> ParseError {
        let shown: String = text.chars().take(80).collect();
        let error = parse_with_env(text, &env).expect_err(&format!("{shown:?} should not parse"));
        assert_eq!((error.line, error.column), (line, column), "{shown:?}: {error}");
        assert!(error.message.contains(what), "{shown:?}: {error}");
        error
    }

    #[test]
    fn spark_job_server_request_body() {
        assert_eq!(
            ok("input.string = a b c a b see"),
            json!({"input": {"string": "a b c a b see"}})
        );
    }

    #[test]
    fn spark_job_server_application_conf() {
        let text = r#"
# Spark Job Server style settings
jobserver {
  listen = "0.0.0.0:8090"
  limits {
    job-timeout = 10 minutes
    job-memory = 256m
  }
}
spark.context-settings.num-cpu-cores = 2
spark.context-settings {
  memory-per-node = 512m   // per executor
  passthrough { spark.driver.allowMultipleContexts = true }
}
"#;
        assert_eq!(
            ok(text),
            json!({
                "jobserver": {
                    "listen": "0.0.0.0:8090",
                    "limits": {"job-timeout": "10 minutes", "job-memory": "256m"}
                },
                "spark": {"context-settings": {
                    "num-cpu-cores": 2,
                    "memory-per-node": "512m",
                    "passthrough": {"spark": {"driver": {"allowMultipleContexts": true}}}
                }}
            })
        );
    }

    #[test]
    fn json_gives_what_serde_json_gives() {
        let documents = [
            r#"{}"#,
            r#"{"a": 1, "b": -2, "c": 1.5, "d": -0.0, "e": 1e5, "f": 2E-3, "g": 1.5e+10}"#,
            r#"{"big": 123456789012345678901234567890, "max": 18446744073709551615, "min": -9223372036854775808}"#,
            r#"{"s": "x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00", "n": null, "t": true, "f": false}"#,
            "{\"nested\": {\"list\": [1, [2, [3, {}]], {\"k\": []}]},\n \"a.b\": \"dots stay\",\r\n \"${x}\": \"${not a substitution}\"}",
            "{\n  \"pretty\" : [\n    1,\n    2\n  ]\n}\n",
            r##"{"a" : "# not a comment", "b": "// nor this"}"##,
        ];
        for text in documents {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ok(text), expected, "{text}");
        }
        // Integers stay integers and floats stay floats.
        let value = ok(r#"{"i": 3, "f": 3.0}"#);
        assert!(value["i"].is_u64());
        assert!(value["f"].is_f64());
        // Beyond u64 an integer becomes a float, as in serde_json.
        assert!(ok("big = 123456789012345678901234567890")["big"].is_f64());
    }

    #[test]
    fn root_braces_are_optional() {
        assert_eq!(ok("{ a = 1 }"), ok("a = 1"));
        assert_eq!(ok("\n\n { a: 1 } \n\n"), json!({"a": 1}));
        assert_eq!(ok(""), json!({}));
        assert_eq!(ok("  \n# only a comment\n"), json!({}));
        assert_eq!(ok("\u{feff}a = 1"), json!({"a": 1}));
        // Unicode spaces separate like ASCII ones.
        assert_eq!(ok("a\u{a0}=\u{2003}x\u{3000}y"), json!({"a": "x\u{3000}y"}));
    }

    #[test]
    fn comments() {
        let text =
            "# hash\n// slashes\na = 1 # trailing\nb = two words // trailing\nc = \"# kept\" # dropped\nd = x#y\n";
        assert_eq!(ok(text), json!({"a": 1, "b": "two words", "c": "# kept", "d": "x"}));
    }

    #[test]
    fn separators() {
        assert_eq!(
            ok("a = 1\nb : 2\nc { d = 3 }\ne {}\nf = [1]\nf += 2\ng += x"),
            json!({"a": 1, "b": 2, "c": {"d": 3}, "e": {}, "f": [1, 2], "g": ["x"]})
        );
        // A key may be followed by its separator or value on a later line.
        assert_eq!(
            ok("a\n= 1\nb =\n  2\nc\n{ d = 3 }"),
            json!({"a": 1, "b": 2, "c": {"d": 3}})
        );
    }

    #[test]
    fn commas_and_newlines() {
        assert_eq!(ok("a = 1, b = 2,"), json!({"a": 1, "b": 2}));
        assert_eq!(ok("{a = 1\n\n b = 2\n,c = 3,}"), json!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(ok("x = [1\n, 2\n, 3\n]"), json!({"x": [1, 2, 3]}));
        fails("a = 1\n,\n,b = 2", 3, 1, "expected a key");
        assert_eq!(ok("x = [1, 2, 3,]"), json!({"x": [1, 2, 3]}));
        assert_eq!(ok("x = [\n 1\n 2\n\n 3\n]"), json!({"x": [1, 2, 3]}));
        assert_eq!(ok("x = [1 2 3]"), json!({"x": ["1 2 3"]}));
        assert_eq!(ok("x = [[1, 2] [3, 4]]"), json!({"x": [[1, 2, 3, 4]]}));
        fails("x = [1,,2]", 1, 8, "expected a value or ']' in the array, found ','");
        fails("x = [,1]", 1, 6, "expected a value or ']'");
        fails("x = [1,2,,]", 1, 10, "expected a value or ']'");
        fails("a = 1,, b = 2", 1, 7, "expected a key (a field name), found ','");
        fails("{, a = 1}", 1, 2, "expected a key");
    }

    #[test]
    fn path_keys() {
        assert_eq!(ok("a.b.c = 1"), json!({"a": {"b": {"c": 1}}}));
        assert_eq!(ok("a.b = 1, a.c = 2"), json!({"a": {"b": 1, "c": 2}}));
        assert_eq!(ok("\"a.b\".c = 1"), json!({"a.b": {"c": 1}}));
        assert_eq!(ok("a.\"\".b = 1"), json!({"a": {"": {"b": 1}}}));
        assert_eq!(ok("a b c = 1"), json!({"a b c": 1}));
        assert_eq!(ok("foo\"10.0\" = 1"), json!({"foo10.0": 1}));
        assert_eq!(
            ok("10.0foo = 1, true = 2, 3.14 = 3"),
            json!({"10": {"0foo": 1}, "true": 2, "3": {"14": 3}})
        );
        assert_eq!(
            ok("akka.actor.default-dispatcher.fork_join = 1"),
            json!({"akka": {"actor": {"default-dispatcher": {"fork_join": 1}}}})
        );
        assert_eq!(
            ok("\"include\" = 1, foo include = 2, bar = include, include.x = 3"),
            json!({"include": {"x": 3}, "foo include": 2, "bar": "include"})
        );
        fails("{ \"a.b\" }", 1, 9, "expected '=' or ':' after key \"a.b\", found '}'");
        fails("a..b = 1", 1, 1, "invalid path \"a..b\": it has an empty element");
        fails("x = 1\n  .a = 1", 2, 3, "empty element");
        fails("a. = 1", 1, 1, "empty element");
    }

    #[test]
    fn duplicate_keys_merge_objects_and_otherwise_the_last_wins() {
        assert_eq!(ok("a = 1, a = 2"), json!({"a": 2}));
        assert_eq!(
            ok("a { x = 1, y { z = 1 } }\na { y { w = 2 } }"),
            json!({"a": {"x": 1, "y": {"z": 1, "w": 2}}})
        );
        assert_eq!(ok("a { x = 1 }\na = null\na { y = 2 }"), json!({"a": {"y": 2}}));
        assert_eq!(ok("a = 5\na.b = 1"), json!({"a": {"b": 1}}));
        assert_eq!(ok("a { b = 1 }\na = [1]"), json!({"a": [1]}));
        // The order of first definition is kept.
        let value = ok("b = 1\na = 2\nb = 3");
        assert_eq!(value.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a"]);
        // JSON with duplicate keys follows HOCON.
        assert_eq!(ok(r#"{"a": {"x": 1}, "a": {"y": 2}}"#), json!({"a": {"x": 1, "y": 2}}));
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(
            ok(r#"a = "tab\there \u00e9 \ud83d\ude00 \/ \\ \"""#),
            json!({"a": "tab\there é 😀 / \\ \""})
        );
        assert_eq!(ok(r#"a = """#), json!({"a": ""}));
        assert_eq!(
            ok("a = \"x = y, z: ${w} [1] {}\""),
            json!({"a": "x = y, z: ${w} [1] {}"})
        );
        fails("a = \"bad \\q escape\"", 1, 10, "invalid escape '\\q' in quoted string");
        fails("a = \"\\u12G4\"", 1, 6, "four hexadecimal digits");
        fails("a = \"\\ud83d\"", 1, 6, "surrogate");
        fails("a = \"\\udc00\"", 1, 6, "surrogate");
        fails("a = \"tab\there\"", 1, 9, "control character U+0009");
        fails("input = \"abc", 1, 9, "unterminated quoted string");
        fails("a = 1\nb = \"abc\nc = 2\"", 2, 5, "unterminated quoted string");
        fails("a = \"abc\\", 1, 5, "unterminated quoted string");
    }

    #[test]
    fn multi_line_strings() {
        assert_eq!(
            ok("sql = \"\"\"\n  SELECT \"x\"\n  FROM t -- ${not} # kept \\n\n\"\"\""),
            json!({"sql": "\n  SELECT \"x\"\n  FROM t -- ${not} # kept \\n\n"})
        );
        assert_eq!(ok("a = \"\"\"x\"\"\"\""), json!({"a": "x\""}));
        assert_eq!(ok("a = \"\"\"\"\"x\"\"\"\"\""), json!({"a": "\"\"x\"\""}));
        assert_eq!(ok("a = \"\"\"\"\"\""), json!({"a": ""}));
        let error = fails("a = 1\nb = \"\"\"never\nclosed", 2, 5, "unterminated multi-line string");
        assert_eq!(
            error.to_string(),
            "line 2, column 5: unterminated multi-line string: missing the closing \"\"\""
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(
            ok("t = true, f = false, n = null, i = 42, neg = -7, fl = 2.5, e = 1e+5, z = 0"),
            json!({"t": true, "f": false, "n": null, "i": 42, "neg": -7, "fl": 2.5, "e": 1e5, "z": 0})
        );
        // Only exact JSON literals convert; the rest stay strings.
        assert_eq!(
            ok(
                "a = yes, b = no, c = on, d = off, e = True, f = 01, g = 1.2.3, h = -, i = truex, j = 0x10, k = .5, l = 1e400"
            ),
            json!({"a": "yes", "b": "no", "c": "on", "d": "off", "e": "True", "f": "01",
                   "g": "1.2.3", "h": "-", "i": "truex", "j": "0x10", "k": ".5", "l": "1e400"})
        );
        assert_eq!(ok("q = \"42\", r = \"true\""), json!({"q": "42", "r": "true"}));
    }

    #[test]
    fn unquoted_strings_and_the_reserved_characters() {
        assert_eq!(
            ok("path = /usr/local/bin\nhost = 10.0.0.1\nv = a.b-c_d~e%f\nw = x/y"),
            json!({"path": "/usr/local/bin", "host": "10.0.0.1", "v": "a.b-c_d~e%f", "w": "x/y"})
        );
        // ':' is reserved outside quotes, and `//` would start a comment anyway,
        // so a URL or host:port must be quoted, as the spec says.
        fails(
            "url = http://host:9000/x",
            1,
            11,
            "':' is not allowed in an unquoted value",
        );
        fails(
            "listen = 0.0.0.0:8090",
            1,
            17,
            "':' is not allowed in an unquoted value",
        );
        assert_eq!(ok("url = \"http://host:9000/x\""), json!({"url": "http://host:9000/x"}));
        assert_eq!(ok("a = x//comment"), json!({"a": "x"}));
        fails("a = b!", 1, 6, "reserved character '!' is not allowed outside quotes");
        fails("a = 50%+", 1, 8, "'+' may only appear in '+='");
        fails("a = $HOME", 1, 5, "'$' may only start a substitution");
        fails("a = 1 b = 2", 1, 9, "unexpected '=' in a value");
    }

    #[test]
    fn value_concatenation() {
        assert_eq!(ok("x = foo \"bar\" 1"), json!({"x": "foo bar 1"}));
        assert_eq!(ok("x = a  \t b   "), json!({"x": "a  \t b"}));
        assert_eq!(ok("timeout = 10 seconds"), json!({"timeout": "10 seconds"}));
        assert_eq!(ok("x = 1.50 true null"), json!({"x": "1.50 true null"}));
        assert_eq!(ok("x = \"a\"\"b\"c"), json!({"x": "abc"}));
        assert_eq!(ok("x = {a: 1} {b: 2} {a: 3}"), json!({"x": {"a": 3, "b": 2}}));
        assert_eq!(ok("x = [1] [2, 3] []"), json!({"x": [1, 2, 3]}));
        // A newline ends a value, so these are not concatenated.
        fails("x = [1]\n[2]", 2, 1, "expected a key (a field name), found '['");
        fails("x = [1] foo", 1, 9, "cannot concatenate a string with an array");
        fails("x = {a: 1} [2]", 1, 12, "cannot concatenate an array with an object");
        fails("x = foo {a: 1}", 1, 9, "cannot concatenate an object with a string");
    }

    #[test]
    fn substitutions() {
        assert_eq!(ok("a = 1\nb = ${a}"), json!({"a": 1, "b": 1}));
        assert_eq!(ok("b = ${a}\na = {x: [1]}"), json!({"b": {"x": [1]}, "a": {"x": [1]}}));
        // A later definition wins, wherever the substitution is.
        assert_eq!(ok("a = 1\nb = ${a}\na = 2"), json!({"a": 2, "b": 2}));
        assert_eq!(
            ok("a { x = 1 }\nb = ${a}\na { y = 2 }"),
            json!({"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2}})
        );
        assert_eq!(ok("a.b.c = 5\nd = ${a.b.c}"), json!({"a": {"b": {"c": 5}}, "d": 5}));
        assert_eq!(ok("\"x.y\" = 1\nz = ${\"x.y\"}"), json!({"x.y": 1, "z": 1}));
        assert_eq!(
            ok("name = world\ngreeting = hello ${name}\"!!\""),
            ok("name = world\ngreeting = \"hello world!!\"")
        );
        assert_eq!(
            ok("n = 8090\nport = ${n}\nlisten = \"0.0.0.0:\"${n}"),
            json!({"n": 8090, "port": 8090, "listen": "0.0.0.0:8090"})
        );
        assert_eq!(ok("x = [${a}, ${a}]\na = 1"), json!({"x": [1, 1], "a": 1}));
        assert_eq!(ok("x = ${ a }\na = 1"), json!({"x": 1, "a": 1}));
        assert_eq!(ok("a = null\nb = ${a} x"), json!({"a": null, "b": "null x"}));
    }

    #[test]
    fn object_and_array_inheritance_through_substitutions() {
        let text = "defaults { cores = 2, memory = 512m }\n\
                    ctx = ${defaults} { memory = 1g }\n\
                    ctx2 = ${defaults}\nctx2.name = two\nctx2.alias = ${ctx2.name}-${ctx2.cores}\n\
                    paths = [/bin]\npaths = ${paths} [/usr/bin]";
        assert_eq!(
            ok(text),
            json!({
                "defaults": {"cores": 2, "memory": "512m"},
                "ctx": {"cores": 2, "memory": "1g"},
                "ctx2": {"cores": 2, "memory": "512m", "name": "two", "alias": "two-2"},
                "paths": ["/bin", "/usr/bin"]
            })
        );
        // Objects may refer to their own fields, and to each other.
        assert_eq!(
            ok("bar { foo = 42, baz = ${bar.foo} }\nbar { foo = 43 }"),
            json!({"bar": {"foo": 43, "baz": 43}})
        );
        assert_eq!(
            ok("bar : { a : ${foo.d}, b : 1 }\nbar.b = 3\nfoo : { c : ${bar.b}, d : 2 }\nfoo.d = 4"),
            json!({"bar": {"a": 4, "b": 3}, "foo": {"c": 3, "d": 4}})
        );
    }

    #[test]
    fn optional_substitutions() {
        assert_eq!(ok("a = ${?missing}"), json!({}));
        assert_eq!(ok("a = 1\na = ${?missing}"), json!({"a": 1}));
        assert_eq!(ok("a { x = 1 }\na = ${?missing}"), json!({"a": {"x": 1}}));
        assert_eq!(ok("a = [1, ${?missing}, 2]"), json!({"a": [1, 2]}));
        assert_eq!(ok("a = ${?missing}${?other}"), json!({}));
        assert_eq!(ok("a = x ${?missing} y"), json!({"a": "x  y"}));
        assert_eq!(ok("a = {p: 1} ${?missing}"), json!({"a": {"p": 1}}));
        assert_eq!(ok("a = 5\nb = ${?a}"), json!({"a": 5, "b": 5}));
    }

    #[test]
    fn environment_variables_are_the_fallback() {
        assert_eq!(
            ok("home = ${HOME}\nuser = ${?JOB_USER}"),
            json!({"home": "/home/spark", "user": "ana"})
        );
        // The document wins over the environment, even with null.
        assert_eq!(ok("HOME = /x\nh = ${HOME}"), json!({"HOME": "/x", "h": "/x"}));
        assert_eq!(ok("HOME = null\nh = ${HOME}"), json!({"HOME": null, "h": null}));
        assert_eq!(ok("PATH = ${PATH}\":/usr/bin\""), json!({"PATH": "/bin:/usr/bin"}));
        // The config file's parse reads the process environment; PATH is always set.
        assert!(parse_with_environment("p = ${PATH}").unwrap()["p"].is_string());
    }

    #[test]
    fn self_references_look_at_the_earlier_value() {
        assert_eq!(ok("path = [a]\npath = ${path} [x]"), json!({"path": ["a", "x"]}));
        assert_eq!(ok("path = \"a:b:c\"\npath = ${path}\":d\""), json!({"path": "a:b:c:d"}));
        assert_eq!(ok("path = ${?path}\"more\""), json!({"path": "more"}));
        assert_eq!(ok("a = ${?a}foo"), json!({"a": "foo"}));
        assert_eq!(ok("foo = ${?foo}"), json!({}));
        assert_eq!(ok("a = [1]\na += 2\na += {b: 3}"), json!({"a": [1, 2, {"b": 3}]}));
        assert_eq!(ok("x { list += 1 }\nx { list += 2 }"), json!({"x": {"list": [1, 2]}}));
        assert_eq!(ok("a = 1\na = ${a} ${a}"), json!({"a": "1 1"}));
        assert_eq!(
            ok("foo { a { c = 1 } }\nfoo = ${foo.a}\nfoo { a = 2 }"),
            json!({"foo": {"c": 1, "a": 2}})
        );
        assert_eq!(ok("foo { a = 1 }\nfoo = ${foo}"), json!({"foo": {"a": 1}}));
        assert_eq!(ok("a = ${b}\nb = 1\nb = ${b} 2"), json!({"a": "1 2", "b": "1 2"}));
        // Hidden by a later non-object, a broken value is never looked at.
        assert_eq!(ok("foo = ${does-not-exist}\nfoo = 42"), json!({"foo": 42}));
        assert_eq!(ok("foo = ${foo}\nfoo = 42"), json!({"foo": 42}));
        fails("a = 1\na += 2", 2, 1, "cannot concatenate an array with a number");
        fails("foo = ${foo}", 1, 7, "could not resolve substitution ${foo}");
        // Reversed, the self-reference comes before any value, as the spec says.
        fails(
            "foo = ${foo}\nfoo { a = 1 }",
            1,
            7,
            "could not resolve substitution ${foo}",
        );
    }

    #[test]
    fn substitution_errors() {
        let error = fails(
            "a = 1\nb = x ${nope.x}",
            2,
            7,
            "could not resolve substitution ${nope.x}",
        );
        assert!(error.message.contains("${?nope.x}"), "{error}");
        let error = fails("a = ${b}\nb = ${c}\nc = ${a}", 1, 5, "substitution cycle");
        assert_eq!(error.message, "substitution cycle: ${b} -> ${c} -> ${a} -> ${b}");
        let error = fails("x = ${p}\np = ${a}\na = ${b}\nb = ${a}", 4, 5, "cycle");
        assert_eq!(error.message, "substitution cycle: ${a} -> ${b} -> ${a}");
        fails("a = { b = ${a} }", 1, 11, "substitution cycle: ${a}");
        fails("a = [${a}]", 1, 6, "substitution cycle");
        fails(
            "a = ${b}\nb = { c = ${a} }",
            1,
            5,
            "substitution cycle: ${b} -> ${a} -> ${b}",
        );
        fails("a = ${}", 1, 7, "expected a path such as ${a.b}");
        fails("a = ${b", 1, 5, "unterminated substitution");
        fails("a = ${b\n}", 1, 5, "unterminated substitution");
        fails("a = ${b.}", 1, 7, "empty element");
        fails("${a} = 1", 1, 1, "expected a key (a field name), found '${'");
        fails(
            "o = {x: 1}\ns = str ${o}",
            2,
            9,
            "cannot concatenate an object with a string",
        );
    }

    #[test]
    fn structural_errors() {
        let error = fails(
            "a = 1\nb = 2\ninput.string 5",
            3,
            15,
            "expected '=' or ':' after key \"input.string 5\"",
        );
        assert_eq!(error.message, "expected '=' or ':' after key \"input.string 5\"");
        fails("a {\n  b = 1\n  c\n}", 3, 4, "expected '=' or ':' after key \"c\"");
        fails(
            "a = 1\ninput.string , x",
            2,
            14,
            "expected '=' or ':' after key \"input.string\", found ','",
        );
        fails(
            "a {\n b = 1\n",
            3,
            1,
            "expected '}' to close the object opened at line 1, column 3",
        );
        fails(
            "a = [1, 2",
            1,
            10,
            "expected ']' to close the array opened at line 1, column 5",
        );
        fails("a = 1\n}", 2, 1, "unexpected '}': no object is open here");
        fails("a = 1 ]", 1, 7, "expected ',' or a newline after a field, found ']'");
        fails(
            "{ a = 1 ]",
            1,
            9,
            "expected ',', a newline or '}' after a field, found ']'",
        );
        fails(
            "a = [1 }",
            1,
            8,
            "expected ',', a newline or ']' after an array element, found '}'",
        );
        fails(
            "a =",
            1,
            4,
            "expected a value for key \"a\", found the end of the input",
        );
        fails("a = }", 1, 5, "expected a value for key \"a\"");
        fails(
            "{ a = 1 } b = 2",
            1,
            11,
            "expected nothing after the closing '}' of the root object",
        );
        fails("[1, 2]", 1, 1, "the root of a config must be an object, not an array");
        fails("a = 1\ninclude \"other.conf\"", 2, 1, "include is not supported");
        fails("include required(\"x\")", 1, 1, "include is not supported");
        fails("a = `x`", 1, 5, "reserved character '`'");
    }

    #[test]
    fn error_display_names_line_and_column() {
        let error = parse("a = 1\nb = \"open").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2, column 5: unterminated quoted string: it must end on the same line (use \"\"\" for a multi-line string)"
        );
    }

    #[test]
    fn columns_count_characters_and_crlf_works() {
        fails("é = \"é\\x\"", 1, 7, "invalid escape");
        assert_eq!(ok("a = 1\r\nb = two words \r\n"), json!({"a": 1, "b": "two words"}));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let depth = MAX_DEPTH - 5;
        let nested = format!("a = {}1{}", "[".repeat(depth), "]".repeat(depth));
        assert!(ok(&nested)["a"].is_array());
        fails(
            &format!("a = {}", "[".repeat(100_000)),
            1,
            4 + MAX_DEPTH,
            "nesting is too deep",
        );
        // Each `{a:` is two levels: the object and the key path element.
        fails(
            &format!("a = {}", "{a:".repeat(100_000)),
            1,
            3 + 3 * MAX_DEPTH / 2,
            "nesting is too deep",
        );
        let long_key = vec!["k"; 10_000].join(".");
        fails(&format!("{long_key} = 1"), 1, 1, "too long");
        let deep_keys = format!("{} = 1", vec!["a"; MAX_DEPTH].join(" { ") + " { b");
        fails(&deep_keys, 1, 1 + 4 * (MAX_DEPTH / 2), "nesting is too deep");
    }

    #[test]
    fn long_substitution_chains_are_an_error_not_a_crash() {
        let mut text = String::from("v0 = x\n");
        for i in 1..5_000 {
            text.push_str(&format!("v{i} = [${{v{}}}]\n", i - 1));
        }
        let error = parse_with_env(&text, &env).unwrap_err();
        assert!(error.message.contains("nests more than 200 levels"), "{error}");
        // Many appends to one field are fine.
        let appends = "a += 1\n".repeat(5_000);
        assert_eq!(ok(&appends)["a"].as_array().unwrap().len(), 5_000);
        // A chain of self-references that cannot be flattened hits the limit.
        let chain = format!("b = [0]\na = ${{b}}\n{}", "a = ${a} [1]\n".repeat(1_000));
        let error = parse_with_env(&chain, &env).unwrap_err();
        assert!(error.message.contains("nest too deeply"), "{error}");
        let chain = format!("b = [0]\na = ${{b}}\n{}", "a = ${a} [1]\n".repeat(250));
        assert_eq!(ok(&chain)["a"].as_array().unwrap().len(), 251);
    }

    #[test]
    fn exploding_substitutions_are_stopped() {
        let mut text = String::from("a0 = \"0123456789abcdef\"\n");
        for i in 1..64 {
            text.push_str(&format!("a{i} = ${{a{}}}${{a{}}}\n", i - 1, i - 1));
        }
        assert!(parse_with_env(&text, &env).unwrap_err().message.contains("too large"));
        let doubling = format!("a = {{}}\n{}", "a = ${a} ${a}\n".repeat(60));
        assert!(
            parse_with_env(&doubling, &env)
                .unwrap_err()
                .message
                .contains("too large")
        );
    }

    const SAMPLES: [&str; 4] = [
        "jobserver {\n  listen = \"0.0.0.0:8090\"\n  limits {\n    job-timeout = 10 minutes\n    job-memory = 256m\n  }\n}\nspark.context-settings.num-cpu-cores = 2\n",
        "{\"a\": [1, 2.5, -3e2, {\"b\": \"c\\u00e9\\n\"}], \"d\": null, \"e\": true}",
        "defaults { x = 1 }\na = ${defaults} { y = \"\"\"multi\nline\"\"\" }\na.z += ${?nope} 5\nb = ${a.x} seconds // c\n# d\nc = [1, 2] [${HOME}]\n",
        "input.string = a b c a b see\np = ${?path}\"more\"\nq = ${p}, r : [ {s: 1}, {t: ${q}} ]",
    ];

    #[test]
    fn every_prefix_of_the_samples_parses_or_fails_cleanly() {
        for sample in SAMPLES {
            assert!(parse_with_env(sample, &env).is_ok(), "{sample}");
            for (end, _) in sample.char_indices() {
                let _ = parse_with_env(&sample[..end], &env);
                let _ = parse_with_env(&sample[end..], &env);
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        // A small fixed-seed generator keeps the run reproducible without a crate.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let alphabet: Vec<char> = "{}[]:=,+$?\"\\#/ \n\t.ab1-e\u{e9}".chars().collect();
        for _ in 0..3_000 {
            let mut chars: Vec<char> = SAMPLES[next(SAMPLES.len())].chars().collect();
            for _ in 0..1 + next(6) {
                let at = next(chars.len() + 1);
                match next(3) {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 if at < chars.len() => chars[at] = alphabet[next(alphabet.len())],
                    _ => chars.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let text: String = chars.into_iter().collect();
            if let Err(error) = parse_with_env(&text, &env) {
                assert!(error.line >= 1 && error.column >= 1, "{text:?}: {error}");
                assert!(!error.message.is_empty());
            }
        }
        for _ in 0..2_000 {
            let text: String = (0..next(40)).map(|_| alphabet[next(alphabet.len())]).collect();
            let _ = parse_with_env(&text, &env);
        }
    }

    #[test]
    fn client_text_never_reads_the_environment() {
        // PATH is set in every environment these tests run in.
        assert!(std::env::var("PATH").is_ok());
        let error = parse("leak = ${PATH}").unwrap_err();
        assert!(error.message.contains("${PATH}"), "{error}");
        assert!(
            error.message.contains("do not read its environment variables"),
            "{error}"
        );
        assert_eq!(parse("leak = ${?PATH}").unwrap(), json!({}));
        assert!(parse_with_environment("path = ${PATH}").unwrap()["path"].is_string());
    }
}
