//! Booleans as the Go switchboard reads them: `strconv.ParseBool`.
//!
//! Owns the exact set of accepted spellings (`1 t T TRUE true True` and
//! `0 f F FALSE false False`) and nothing else: no trimming, no `yes`/`on`,
//! so that a PATCH accepted by the Go switchboard is accepted here and one it
//! refuses is refused here.

/// The spellings accepted, for error messages.
pub(crate) const SPELLINGS: &str = "1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False";

/// Parses one value the way Go's `strconv.ParseBool` does.
pub(crate) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_go_spellings() {
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(s), Some(true), "{s}");
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(s), Some(false), "{s}");
        }
        for s in ["", " true", "yes", "on", "tRUE", "2", "FaLse", "no"] {
            assert_eq!(parse_go_bool(s), None, "{s:?}");
        }
    }
}
