//! Text that guest code wrote, made storable. PostgreSQL's TEXT and JSONB
//! cannot hold U+0000, and a job's message is the one thing that must be
//! recorded whatever it contains: a write that fails on it would leave the
//! job RUNNING. So the store, which alone knows this limit, replaces NUL with
//! U+FFFD (the replacement character) in text that jobs produce. JSON columns
//! need nothing: they keep `\u0000` escapes as written.

use std::borrow::Cow;

const REPLACEMENT: &str = "\u{FFFD}";

/// `text` without NUL characters, borrowed when it had none.
pub(super) fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', REPLACEMENT))
    } else {
        Cow::Borrowed(text)
    }
}

/// Whether `text` can be stored as it is; for names, which are refused rather
/// than changed, since a changed name would be a different object.
pub fn is_storable(text: &str) -> bool {
    !text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_replaced_and_other_text_is_borrowed() {
        assert_eq!(storable("bad\0thing\0"), "bad\u{FFFD}thing\u{FFFD}");
        assert!(matches!(storable("fine, ünïcode"), Cow::Borrowed("fine, ünïcode")));
        assert!(is_storable("fine") && !is_storable("a\0b"));
    }
}
