//! What a backend says, made fit for a verdict's reason: a reason goes into
//! log lines, bus events, the API and the dashboard, so text that came from
//! the backend (a Galera state comment, a MySQL variable's value, a parse
//! error quoting the body) is kept to one printable line of bounded length.
//!
//! Owns that one rule; it must never decide a verdict.

/// Most bytes of backend-supplied text that go into a reason.
pub(crate) const REASON_TEXT_BYTES: usize = 200;

/// `text` without control characters (newlines, escapes, NUL ...), trimmed,
/// cut to at most [`REASON_TEXT_BYTES`] bytes on a character boundary.
pub(crate) fn printable(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    let mut end = clean.len().min(REASON_TEXT_BYTES);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_go_and_the_length_is_capped_on_a_boundary() {
        assert_eq!(
            printable(" Synced\n\u{1b}[31mforged log line\r\n"),
            "Synced[31mforged log line"
        );
        assert_eq!(printable("n\u{2}=OFF"), "n=OFF");
        assert_eq!(printable("\u{0}\u{7f}"), "");
        let long = format!("{}é{}", "x".repeat(199), "y".repeat(500));
        assert_eq!(printable(&long), "x".repeat(199));
        assert_eq!(printable(&"z".repeat(300)).len(), REASON_TEXT_BYTES);
    }
}
