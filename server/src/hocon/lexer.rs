//! Text to tokens: quoted and unquoted strings, punctuation, newlines (which
//! separate fields), comments dropped, with the position of each token.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
    /// The whitespace just before the token on the same line, which value
    /// concatenation keeps between pieces.
    pub(super) space_before: String,
}

/// Characters that may not appear in unquoted text.
pub(super) fn is_reserved(c: char) -> bool {
    "$\"{}[]:=,+#`^?!@*&\\".contains(c)
}

/// HOCON's whitespace, as the spec lists it: Unicode whitespace, the ASCII
/// information separators, and the byte order mark.
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(super) struct Lexer<'t> {
    /// What is left to read.
    pub(super) rest: &'t str,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl<'t> Lexer<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Lexer {
            rest: text,
            line: 1,
            column: 1,
        }
    }

    pub(super) fn peek(&self, ahead: usize) -> Option<char> {
        self.rest.chars().nth(ahead)
    }

    pub(super) fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    pub(super) fn bump(&mut self) -> Option<char> {
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

    pub(super) fn tokens(mut self) -> Result<Vec<Token>, ParseError> {
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
    pub(super) fn skip_comment(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    pub(super) fn unquoted(&mut self) -> Tok {
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

    pub(super) fn quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
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
    pub(super) fn escape(&mut self, at: Pos) -> Result<char, ParseError> {
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

    pub(super) fn hex4(&mut self, at: Pos) -> Result<u32, ParseError> {
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

    pub(super) fn triple_quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
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
pub(super) fn exponent_sign_allowed(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let Some(mantissa) = unsigned.strip_suffix(['e', 'E']) else {
        return false;
    };
    mantissa.starts_with(|c: char| c.is_ascii_digit()) && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
}
