//! Path-aware, typed reads from a parsed document (a `serde_json::Value`,
//! whichever format it came from).
//!
//! Owns the walk that lets validation report every problem in one pass: a
//! wrong type, an unknown key or a missing key each becomes one problem with
//! its path, and reading goes on. It must never put a value into a message
//! (a mistyped password would otherwise be printed): messages name types only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Problems;

/// One table of the document.
pub(crate) type Table = Map<String, Value>;

/// How the document's format spells things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Native TOML: strings must be strings; paths like `backends[0].port`.
    Native,
    /// Go switchboard YAML/JSON: like Go's YAML decoder, a number or boolean
    /// where a string is expected is read as its text.
    Switchboard,
}

/// The outcome of reading one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field<T> {
    /// Absent (or null).
    Missing,
    /// Present but unusable; the problem is already recorded.
    Bad,
    /// Present and of the right type.
    Got(T),
}

impl<T> Field<T> {
    /// The value, or `default` when missing or bad.
    pub(crate) fn or(self, default: T) -> T {
        match self {
            Field::Got(v) => v,
            Field::Missing | Field::Bad => default,
        }
    }

    /// The value if present and good.
    pub(crate) fn opt(self) -> Option<T> {
        match self {
            Field::Got(v) => Some(v),
            Field::Missing | Field::Bad => None,
        }
    }

    /// The value; records `path: required (hint)` when missing.
    pub(crate) fn required(self, path: &str, hint: &str, p: &mut Problems) -> Option<T> {
        match self {
            Field::Got(v) => Some(v),
            Field::Bad => None,
            Field::Missing => {
                p.push(path, required_message(hint));
                None
            }
        }
    }

    /// Checks or converts a present value; `Err` is recorded at `path`.
    pub(crate) fn check<U>(
        self,
        path: &str,
        p: &mut Problems,
        f: impl FnOnce(T) -> Result<U, String>,
    ) -> Field<U> {
        match self {
            Field::Missing => Field::Missing,
            Field::Bad => Field::Bad,
            Field::Got(v) => match f(v) {
                Ok(u) => Field::Got(u),
                Err(message) => {
                    p.push(path, message);
                    Field::Bad
                }
            },
        }
    }
}

/// `required` or `required (hint)`.
pub(crate) fn required_message(hint: &str) -> String {
    if hint.is_empty() {
        "required".into()
    } else {
        format!("required ({hint})")
    }
}

/// A table being read, with the path that prefixes its keys.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    table: Option<&'a Table>,
    prefix: String,
    style: Style,
    /// The config file's directory: relative file paths are resolved
    /// against it (docs/configuration.md). None: left as written.
    base: Option<Arc<Path>>,
}

impl<'a> Reader<'a> {
    /// Reads `table` (None reads as empty) whose keys are prefixed by `prefix`.
    pub(crate) fn new(table: Option<&'a Table>, prefix: impl Into<String>, style: Style) -> Self {
        Reader {
            table,
            prefix: prefix.into(),
            style,
            base: None,
        }
    }

    /// The same reader, resolving relative file paths against `dir`; the
    /// tables read from it inherit `dir`.
    pub(crate) fn with_base(mut self, dir: Option<&Path>) -> Self {
        self.base = dir.map(Arc::from);
        self
    }

    /// A child reader of this one: same style and base directory.
    fn child(&self, table: Option<&'a Table>, prefix: String) -> Reader<'a> {
        Reader {
            table,
            prefix,
            style: self.style,
            base: self.base.clone(),
        }
    }

    /// A file path (a non-empty string); a relative one is resolved against
    /// the config file's directory.
    pub(crate) fn file_path(&self, key: &str, p: &mut Problems) -> Field<PathBuf> {
        self.str(key, p).check(&self.path(key), p, |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".into());
            }
            let path = PathBuf::from(s);
            Ok(match &self.base {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path,
            })
        })
    }

    /// The full path of `key` in this table.
    pub(crate) fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// True when the table itself was present.
    pub(crate) fn exists(&self) -> bool {
        self.table.is_some()
    }

    /// True when `key` is present and not null.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        #[cfg(test)]
        looked_up::record(self.path(key));
        self.table?.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value, p: &mut Problems) {
        p.push(
            self.path(key),
            format!("expected {expected}, found {}", self.kind(found)),
        );
    }

    fn kind(&self, v: &Value) -> &'static str {
        match v {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) if self.style == Style::Native => "a table",
            Value::Object(_) => "a map",
        }
    }

    /// A string value.
    pub(crate) fn str(&self, key: &str, p: &mut Problems) -> Field<String> {
        match self.get(key) {
            None => Field::Missing,
            Some(Value::String(s)) => Field::Got(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) if self.style == Style::Switchboard => {
                Field::Got(v.to_string())
            }
            Some(v) => {
                self.wrong(key, "a string", v, p);
                Field::Bad
            }
        }
    }

    /// A boolean value.
    pub(crate) fn bool(&self, key: &str, p: &mut Problems) -> Field<bool> {
        match self.get(key) {
            None => Field::Missing,
            Some(Value::Bool(b)) => Field::Got(*b),
            Some(v) => {
                self.wrong(key, "true or false", v, p);
                Field::Bad
            }
        }
    }

    /// A non-negative whole number.
    pub(crate) fn uint(&self, key: &str, p: &mut Problems) -> Field<u64> {
        match self.get(key) {
            None => Field::Missing,
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Field::Got(u),
                (None, Some(_)) => {
                    p.push(self.path(key), "must not be negative");
                    Field::Bad
                }
                (None, None) => {
                    p.push(self.path(key), "expected a whole number");
                    Field::Bad
                }
            },
            Some(v) => {
                self.wrong(key, "a whole number", v, p);
                Field::Bad
            }
        }
    }

    /// A port: a whole number 1..65535 (0 reads as missing when `zero_is_missing`).
    pub(crate) fn port(&self, key: &str, zero_is_missing: bool, p: &mut Problems) -> Field<u16> {
        match self.uint(key, p) {
            Field::Got(0) if zero_is_missing => Field::Missing,
            Field::Got(n) => match u16::try_from(n) {
                Ok(port) if port > 0 => Field::Got(port),
                _ => {
                    p.push(self.path(key), "must be 1..65535");
                    Field::Bad
                }
            },
            Field::Missing => Field::Missing,
            Field::Bad => Field::Bad,
        }
    }

    /// A nested table; missing or mistyped reads as an empty table.
    pub(crate) fn table(&self, key: &str, p: &mut Problems) -> Reader<'a> {
        let table = match self.get(key) {
            None => None,
            Some(Value::Object(t)) => Some(t),
            Some(v) => {
                let expected = if self.style == Style::Native {
                    "a table"
                } else {
                    "a map"
                };
                self.wrong(key, expected, v, p);
                None
            }
        };
        self.child(table, self.path(key))
    }

    /// An array of tables, each as a reader with path `key[i]`.
    pub(crate) fn tables(&self, key: &str, p: &mut Problems) -> Field<Vec<Reader<'a>>> {
        let items = match self.get(key) {
            None => return Field::Missing,
            Some(Value::Array(items)) => items,
            Some(v) => {
                self.wrong(key, "an array", v, p);
                return Field::Bad;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.path(key));
            match item {
                Value::Object(t) => out.push(self.child(Some(t), path)),
                v => {
                    let expected = if self.style == Style::Native {
                        "a table"
                    } else {
                        "a map"
                    };
                    p.push(path, format!("expected {expected}, found {}", self.kind(v)));
                    out.push(self.child(None, format!("{}[{i}]", self.path(key))));
                }
            }
        }
        Field::Got(out)
    }

    /// An array of strings.
    pub(crate) fn strings(&self, key: &str, p: &mut Problems) -> Field<Vec<String>> {
        let items = match self.get(key) {
            None => return Field::Missing,
            Some(Value::Array(items)) => items,
            Some(v) => {
                self.wrong(key, "an array of strings", v, p);
                return Field::Bad;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bad = false;
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                v => {
                    let path = format!("{}[{i}]", self.path(key));
                    p.push(path, format!("expected a string, found {}", self.kind(v)));
                    bad = true;
                }
            }
        }
        if bad {
            Field::Bad
        } else {
            Field::Got(out)
        }
    }

    /// Records every key not in `allowed` as `path: unknown key`.
    pub(crate) fn deny_unknown(&self, allowed: &[&str], p: &mut Problems) {
        let Some(table) = self.table else { return };
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                let message = match closest(key, allowed) {
                    Some(near) => format!("unknown key (did you mean `{near}`?)"),
                    None => format!("unknown key (expected one of: {})", allowed.join(", ")),
                };
                p.push(self.path(key), message);
            }
        }
    }
}

/// Test builds only: every path a [`Reader`] looked up on this thread, so
/// that `docs_tests` can tell which keys the Go format (which ignores
/// unknown keys, so has no list of them) actually reads.
#[cfg(test)]
pub(crate) mod looked_up {
    use std::cell::RefCell;

    thread_local! {
        static PATHS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// Records one looked-up path.
    pub(crate) fn record(path: String) {
        PATHS.with(|p| p.borrow_mut().push(path));
    }

    /// The paths looked up on this thread since the last call, in order.
    pub(crate) fn take() -> Vec<String> {
        PATHS.with(|p| std::mem::take(&mut *p.borrow_mut()))
    }
}

/// The allowed key nearest to `key`, if it is a likely typo.
fn closest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, a)| *d <= 2 && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Value {
        serde_json::from_str(json).unwrap_or(Value::Null)
    }

    #[test]
    fn reads_and_reports_types_without_values() {
        let v = doc(r#"{"a":"x","b":5,"c":true,"d":-1,"e":70000,"secret":12345}"#);
        let r = Reader::new(v.as_object(), "t", Style::Native);
        let mut p = Problems::new();
        assert_eq!(r.str("a", &mut p), Field::Got("x".into()));
        assert_eq!(r.uint("b", &mut p), Field::Got(5));
        assert_eq!(r.bool("c", &mut p), Field::Got(true));
        assert_eq!(r.uint("d", &mut p), Field::Bad);
        assert_eq!(r.port("e", false, &mut p), Field::Bad);
        assert_eq!(r.str("secret", &mut p), Field::Bad);
        assert_eq!(r.str("zzz", &mut p), Field::Missing);
        let Err(e) = p.into_result() else { panic!() };
        assert_eq!(e.paths(), vec!["t.d", "t.e", "t.secret"]);
        assert!(!e.to_string().contains("12345"));
    }

    #[test]
    fn switchboard_style_reads_scalars_as_strings() {
        let v = doc(r#"{"Password":12345}"#);
        let r = Reader::new(v.as_object(), "API", Style::Switchboard);
        let mut p = Problems::new();
        assert_eq!(r.str("Password", &mut p), Field::Got("12345".into()));
        assert!(p.is_empty());
    }

    #[test]
    fn unknown_keys_suggest_the_nearest() {
        let v = doc(r#"{"lisen":1,"zzzzzz":2}"#);
        let r = Reader::new(v.as_object(), "proxy", Style::Native);
        let mut p = Problems::new();
        r.deny_unknown(&["listen", "standby_listen"], &mut p);
        let Err(e) = p.into_result() else { panic!() };
        let text = e.to_string();
        assert!(
            text.contains("proxy.lisen: unknown key (did you mean `listen`?)"),
            "{text}"
        );
        assert!(
            text.contains("proxy.zzzzzz: unknown key (expected one of"),
            "{text}"
        );
    }
}
