//! Tokens to the syntax tree, one object field at a time.

use super::*;

/// One `key = value` (or `key += value`, or `key { ... }`) as written.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) path: Vec<String>,
    pub(super) append: bool,
    pub(super) value: Ast,
    pub(super) pos: Pos,
}

/// A value as written, before fields merge and substitutions resolve.
#[derive(Debug)]
pub(super) enum Ast {
    Literal(Value),
    Object(Vec<Field>),
    Array(Vec<Ast>),
    Subst(Subst),
    Concat(Vec<Piece<Ast>>),
}

#[derive(Debug, Clone)]
pub(super) struct Subst {
    pub(super) path: Vec<String>,
    pub(super) optional: bool,
    pub(super) pos: Pos,
}

impl Subst {
    pub(super) fn display(&self, optional: bool) -> String {
        let mark = if optional { "?" } else { "" };
        format!("${{{mark}{}}}", render_path(&self.path))
    }
}

/// Part of a value concatenation.
#[derive(Debug, Clone)]
pub(super) enum Piece<T> {
    /// Whitespace between two values, kept only when they join into a string.
    Space(String),
    Value(T, Pos),
}

impl<T> Piece<T> {
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> Piece<U> {
        match self {
            Piece::Space(space) => Piece::Space(space),
            Piece::Value(value, pos) => Piece::Value(f(value), pos),
        }
    }
}

/// A piece of a value before the pieces are known to be one value or many.
pub(super) enum Part {
    Space(String),
    Text { text: String, quoted: bool, pos: Pos },
    Value(Ast, Pos),
}

pub(super) struct Parser {
    /// Always ends with `Tok::End`.
    pub(super) tokens: Vec<Token>,
    pub(super) at: usize,
    /// Where `include` reads files; `None` for text from clients.
    pub(super) includes: Option<Includes>,
}

impl Parser {
    pub(super) fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    /// Takes the next token; at the end it keeps returning `End`.
    pub(super) fn bump(&mut self) -> Token {
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

    pub(super) fn skip_newlines(&mut self) {
        while self.peek().tok == Tok::Newline {
            self.bump();
        }
    }

    /// Consumes what separates two fields or elements: newlines, and one
    /// comma that may come after them (comma-first JSON puts it there).
    pub(super) fn separator(&mut self) -> bool {
        let newline = self.peek().tok == Tok::Newline;
        self.skip_newlines();
        let comma = self.peek().tok == Tok::Comma;
        if comma {
            self.bump();
        }
        newline || comma
    }

    pub(super) fn unexpected(&self, expected: &str) -> ParseError {
        let token = self.peek();
        token
            .pos
            .error(format!("expected {expected}, found {}", describe(&token.tok)))
    }

    pub(super) fn document(mut self) -> Result<Vec<Field>, ParseError> {
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
    pub(super) fn object_body(&mut self, open: Option<Pos>, depth: usize) -> Result<Vec<Field>, ParseError> {
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
            if matches!(&self.peek().tok, Tok::Unquoted(word) if word == "include") {
                fields.extend(self.include()?);
            } else {
                fields.push(self.field(depth)?);
            }
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

    pub(super) fn field(&mut self, depth: usize) -> Result<Field, ParseError> {
        let start = self.peek().pos;
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
    pub(super) fn path(&mut self) -> Result<Option<(Vec<String>, String)>, ParseError> {
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
    pub(super) fn value(&mut self, depth: usize) -> Result<Option<Ast>, ParseError> {
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

    pub(super) fn substitution(&mut self, open: Pos, optional: bool) -> Result<Ast, ParseError> {
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

    pub(super) fn array(&mut self, open: Pos, depth: usize) -> Result<Vec<Ast>, ParseError> {
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
pub(super) fn combine(mut parts: Vec<Part>) -> Option<Ast> {
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
pub(super) fn unquoted_scalar(text: String) -> Value {
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

pub(super) fn render_path(path: &[String]) -> String {
    let element = |e: &String| {
        if !e.is_empty() && e.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            e.clone()
        } else {
            format!("\"{e}\"")
        }
    };
    path.iter().map(element).collect::<Vec<_>>().join(".")
}
