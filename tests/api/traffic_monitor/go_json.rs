//! A mirror of Go's `encoding/json` decoding rules (which `jsoniter`, used
//! by Traffic Monitor's own tools, follows) for the Traffic Control types
//! the tests hold our bodies against, plus a stricter "as Traffic Monitor
//! writes it" check: every field present, exactly its name, in its order.
//!
//! Go's rules mirrored: a `bool` takes only `true`/`false`; a `string` only
//! a string; an integer only a number without fraction or exponent that
//! fits its type (an unsigned one no sign); a float any number; a `,string`
//! field only a JSON string holding such a number (a bare number is
//! "invalid use of ,string struct tag"); `time.Time` an RFC 3339 string;
//! Traffic Monitor's `health.Time` a bare integer (`strconv.ParseInt` of
//! the raw bytes, so not even `null`); an `error` interface only `null`;
//! `null` is a no-op for every other type; unknown object keys are ignored.

use serde_json::Value;

/// A Go type, as far as decoding cares.
#[derive(Debug, Clone, Copy)]
pub(super) enum Go {
    Bool,
    Str,
    /// A signed integer of this many bits.
    Int(u32),
    /// An unsigned integer of this many bits.
    Uint(u32),
    Float,
    /// An integer field tagged `,string`.
    QuotedInt(u32),
    QuotedUint(u32),
    /// `time.Time` (RFC 3339 text).
    Time,
    /// `health.Time`: Unix seconds as a bare integer.
    UnixTime,
    /// An `error` interface: only `null` decodes.
    ErrorIface,
    /// `interface{}`: anything.
    Any,
    /// A struct: (JSON name, type, omitempty).
    Struct(&'static [(&'static str, Go, bool)]),
    Map(&'static Go),
    Slice(&'static Go),
    /// A pointer: `null` leaves it nil.
    Ptr(&'static Go),
}

/// Go's decoding of `v` into `ty`: `Err` is where and why Go would fail.
pub(super) fn decode(v: &Value, ty: Go, path: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{path}: cannot unmarshal {} into {what}", kind(v)));
    if v.is_null() && !matches!(ty, Go::UnixTime) {
        return Ok(());
    }
    match ty {
        Go::Bool => v.as_bool().map(drop).map_or_else(|| fail("bool"), Ok),
        Go::Str => v.as_str().map(drop).map_or_else(|| fail("string"), Ok),
        Go::Int(bits) => match v {
            Value::Number(n) => integer(&n.to_string(), true, bits, path),
            _ => fail("int"),
        },
        Go::Uint(bits) => match v {
            Value::Number(n) => integer(&n.to_string(), false, bits, path),
            _ => fail("uint"),
        },
        Go::Float => v.as_f64().map(drop).map_or_else(|| fail("float64"), Ok),
        Go::QuotedInt(bits) | Go::QuotedUint(bits) => match v {
            Value::String(s) => integer(s, matches!(ty, Go::QuotedInt(_)), bits, path),
            _ => Err(format!(
                "{path}: invalid use of ,string struct tag, trying to unmarshal unquoted value {v}"
            )),
        },
        Go::Time => match v.as_str() {
            Some(s) if rfc3339(s) => Ok(()),
            Some(s) => Err(format!("{path}: parsing time {s:?} as RFC 3339")),
            None => fail("time.Time"),
        },
        Go::UnixTime => match v {
            Value::Number(n) => integer(&n.to_string(), true, 64, path),
            _ => Err(format!(
                "{path}: health.Time ({v}) must be a unix epoch integer"
            )),
        },
        Go::ErrorIface => fail("error (an interface: only null decodes)"),
        Go::Any => Ok(()),
        Go::Struct(fields) => {
            let Some(obj) = v.as_object() else {
                return fail("struct");
            };
            for (key, value) in obj {
                // Go matches a key to a field case-insensitively.
                if let Some((name, ty, _)) =
                    fields.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(key))
                {
                    decode(value, *ty, &format!("{path}.{name}"))?;
                }
            }
            Ok(())
        }
        Go::Map(inner) => match v.as_object() {
            Some(obj) => obj
                .iter()
                .try_for_each(|(k, e)| decode(e, *inner, &format!("{path}[{k:?}]"))),
            None => fail("map"),
        },
        Go::Slice(inner) => match v.as_array() {
            Some(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, e)| decode(e, *inner, &format!("{path}[{i}]"))),
            None => fail("slice"),
        },
        Go::Ptr(inner) => decode(v, *inner, path),
    }
}

/// The body as Traffic Monitor writes it: Go-decodable, and every struct
/// has exactly its fields (an omitempty one may be absent), spelled
/// exactly, in declaration order.
pub(super) fn written_as(v: &Value, ty: Go, path: &str) -> Result<(), String> {
    decode(v, ty, path)?;
    match ty {
        Go::Struct(fields) => {
            let obj = v
                .as_object()
                .ok_or_else(|| format!("{path}: not an object"))?;
            let got: Vec<&str> = obj.keys().map(String::as_str).collect();
            let want: Vec<&str> = fields
                .iter()
                .filter(|(n, _, omit)| !*omit || obj.contains_key(*n))
                .map(|(n, _, _)| *n)
                .collect();
            if got != want {
                return Err(format!(
                    "{path}: keys {got:?}, Traffic Monitor writes {want:?}"
                ));
            }
            fields
                .iter()
                .try_for_each(|(name, ty, _)| match obj.get(*name) {
                    Some(value) => written_as(value, *ty, &format!("{path}.{name}")),
                    None => Ok(()),
                })
        }
        Go::Map(inner) => v
            .as_object()
            .into_iter()
            .flatten()
            .try_for_each(|(k, e)| written_as(e, *inner, &format!("{path}[{k:?}]"))),
        Go::Slice(inner) => v
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .try_for_each(|(i, e)| written_as(e, *inner, &format!("{path}[{i}]"))),
        Go::Ptr(inner) if !v.is_null() => written_as(v, *inner, path),
        _ => Ok(()),
    }
}

/// Go's name for the kind of JSON value `v` is.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `text` is an integer literal Go's `strconv` takes for a field of
/// `bits` bits (`signed` or not).
fn integer(text: &str, signed: bool, bits: u32, path: &str) -> Result<(), String> {
    let digits = text.strip_prefix('-').filter(|_| signed).unwrap_or(text);
    let json_int = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let fits = |n: i128| {
        if signed {
            n >= -(1i128 << (bits - 1)) && n < (1i128 << (bits - 1))
        } else {
            n >= 0 && n < (1i128 << bits)
        }
    };
    match text.parse::<i128>() {
        Ok(n) if json_int && fits(n) => Ok(()),
        _ => Err(format!(
            "{path}: cannot unmarshal {text} into a {}int{bits}",
            if signed { "" } else { "u" }
        )),
    }
}

/// Go's `time.Parse(time.RFC3339, s)`, as `time.Time.UnmarshalJSON` uses it.
fn rfc3339(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        && s.as_bytes().get(10) == Some(&b'T')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STATS: Go = Go::Struct(&[
        ("uptime", Go::QuotedUint(64), false),
        ("Query Interval Delta", Go::QuotedInt(64), false),
        ("Goroutines", Go::Int(64), false),
        ("name", Go::Str, false),
    ]);

    /// The decoder refuses what Go refuses, so the tests built on it can fail.
    #[test]
    fn refuses_what_go_refuses() {
        let ok = json!({"uptime": "5", "Query Interval Delta": "-3", "Goroutines": 4, "name": "x"});
        assert_eq!(decode(&ok, STATS, "s"), Ok(()));
        assert_eq!(written_as(&ok, STATS, "s"), Ok(()));
        for bad in [
            json!({"uptime": 5}),
            json!({"Uptime": 5}),
            json!({"uptime": "-5"}),
            json!({"uptime": "1.5"}),
            json!({"uptime": "05"}),
            json!({"Query Interval Delta": 3}),
            json!({"Goroutines": "4"}),
            json!({"Goroutines": 4.5}),
            json!({"name": 1}),
        ] {
            assert!(decode(&bad, STATS, "s").is_err(), "Go refuses {bad}");
        }
        let reordered =
            json!({"name": "x", "uptime": "5", "Query Interval Delta": "0", "Goroutines": 1});
        assert!(decode(&reordered, STATS, "s").is_ok());
        assert!(
            written_as(&reordered, STATS, "s").is_err(),
            "order is checked"
        );
        assert!(
            written_as(&json!({"uptime": "5"}), STATS, "s").is_err(),
            "every field"
        );

        assert!(decode(&json!(1700000000), Go::UnixTime, "t").is_ok());
        for bad in [json!(null), json!("1700000000"), json!(1.5)] {
            assert!(decode(&bad, Go::UnixTime, "t").is_err(), "{bad}");
        }
        assert!(decode(&json!("2026-01-02T03:04:05.123456789Z"), Go::Time, "t").is_ok());
        assert!(decode(&json!("2026-01-02 03:04:05Z"), Go::Time, "t").is_err());
        assert!(decode(&json!(null), Go::ErrorIface, "e").is_ok());
        assert!(decode(&json!({}), Go::ErrorIface, "e").is_err());
        assert!(decode(&json!("boom"), Go::ErrorIface, "e").is_err());
        assert!(decode(&json!(300), Go::Uint(8), "u").is_err());
    }
}
