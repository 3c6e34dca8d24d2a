//! The key tables of docs/configuration.md, as the docs tests read them.
//!
//! Owns the document's table conventions: a table whose first header cell
//! is `key` lists native keys, `Go key` the Go format keys the parser reads,
//! `ignored Go key` the Go format keys it accepts and ignores; the first
//! cell of a row is one key in backticks and the `example` cell, if any,
//! one value in backticks. It only reads the document.

use std::collections::BTreeSet;

/// The document, relative to this crate.
pub(super) const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");

/// Which key table a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    /// First header cell `key`: a native key.
    Native,
    /// `Go key`: a Go format key the parser reads.
    GoRead,
    /// `ignored Go key`: a Go format key accepted and ignored.
    GoIgnored,
}

/// One row of a key table.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// The table it is in.
    pub(super) table: Table,
    /// The key, without its backticks.
    pub(super) key: String,
    /// The example value, without its backticks, if the row has one.
    pub(super) example: Option<String>,
}

/// The cells of a table line; `\|` does not split.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push(String::new()),
            c => {
                let c = if c == '\\' && chars.peek() == Some(&'|') {
                    chars.next().unwrap_or(c)
                } else {
                    c
                };
                if let Some(cell) = out.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// The text of a cell that is exactly one code span.
fn code(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.is_empty() && !inner.contains('`')).then_some(inner)
}

/// Every row of every key table; panics naming the lines that are malformed.
pub(super) fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(DOC).unwrap_or_else(|e| panic!("cannot read {DOC}: {e}"));
    let lines: Vec<&str> = text.lines().collect();
    let separator = |l: &str| l.trim().starts_with("|-") || l.trim().starts_with("|:-");
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        let starts =
            lines[i].trim().starts_with('|') && lines.get(i + 1).is_some_and(|l| separator(l));
        if !starts {
            i += 1;
            continue;
        }
        let header = cells(lines[i]);
        let table = match header[0].to_ascii_lowercase().as_str() {
            "key" => Some(Table::Native),
            "go key" => Some(Table::GoRead),
            "ignored go key" => Some(Table::GoIgnored),
            _ => None,
        };
        let example = header
            .iter()
            .position(|h| h.eq_ignore_ascii_case("example"));
        i += 2;
        while i < lines.len() && lines[i].trim().starts_with('|') {
            if let Some(table) = table {
                let row = cells(lines[i]);
                match code(&row[0]) {
                    Some(key) => out.push(Row {
                        table,
                        key: key.to_string(),
                        example: example
                            .and_then(|j| row.get(j))
                            .and_then(|c| code(c))
                            .map(str::to_string),
                    }),
                    None => bad.push(format!("line {}: first cell is not one `key`", i + 1)),
                }
            }
            i += 1;
        }
    }
    assert!(
        bad.is_empty(),
        "{DOC}: malformed key rows:\n{}",
        bad.join("\n")
    );
    out
}

/// The keys of the rows of `table`; panics on a key documented twice.
pub(super) fn documented(rows: &[Row], table: Table) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for r in rows.iter().filter(|r| r.table == table) {
        assert!(
            keys.insert(r.key.clone()),
            "{DOC}: `{}` has two rows",
            r.key
        );
    }
    keys
}
