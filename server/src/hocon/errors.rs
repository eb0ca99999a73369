//! Where a problem is, and how messages quote the input.

use super::*;

/// A place in the text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Pos {
    pub(super) fn error(self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// Keeps a message readable when it quotes a huge piece of input.
pub(super) fn shorten(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// A key as written, for a message: in quotes, unless it has its own.
pub(super) fn quote_key(raw: &str) -> String {
    if raw.contains('"') {
        shorten(raw)
    } else {
        format!("\"{}\"", shorten(raw))
    }
}

pub(super) fn describe(tok: &Tok) -> String {
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
