//! Duration strings with units: `500ms`, `2s`, `1m`, also `250us`, `1h`,
//! `1.5s` and compounds like `1m30s`.
//!
//! Owns the one duration syntax of the native format. It must never accept a
//! bare number: `"5"` could mean seconds or milliseconds, so it is an error
//! that says which units to use.

use std::time::Duration;

const HINT: &str = "use a number with a unit: ms, s or m (e.g. \"500ms\", \"2s\", \"1m30s\")";

/// Parses a duration string with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`).
///
/// Parts may be chained (`1m30s`) and may have a fraction (`1.5s`). A bare
/// number is an error ("needs a unit: ms, s or m").
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {HINT}"));
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(num_len);
        if number.is_empty() {
            return Err(format!("{text:?} is not a duration; {HINT}"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let nanos_per_unit: u128 = match unit.trim() {
            "" => {
                return Err(format!(
                    "{text:?} needs a unit: ms, s or m (e.g. \"{text}s\")"
                ))
            }
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => return Err(format!("{text:?} has an unknown unit {other:?}; {HINT}")),
        };
        let part = scale(number, nanos_per_unit)
            .ok_or_else(|| format!("{text:?} is not a duration; {HINT}"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("{text:?} is too long"))?;
        rest = next;
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{text:?} is too long"))
}

/// `number` (digits with at most one '.') times `per` nanoseconds; None if malformed or too big.
fn scale(number: &str, per: u128) -> Option<u128> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(per)?;
    // Only the first 18 fraction digits matter; nothing is finer than a nanosecond.
    let frac = &frac[..frac.len().min(18)];
    if !frac.is_empty() {
        let digits: u128 = frac.parse().ok()?;
        nanos = nanos.checked_add(digits.checked_mul(per)? / 10u128.pow(frac.len() as u32))?;
    }
    Some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn units() {
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("3m"), Duration::from_secs(180));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250µs"), Duration::from_micros(250));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok(" 1s "), Duration::from_secs(1));
    }

    #[test]
    fn compound_and_fraction() {
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1s500ms"), Duration::from_millis(1500));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok(".25s"), Duration::from_millis(250));
    }

    #[test]
    fn bare_number_needs_a_unit() {
        let e = parse_duration("5").unwrap_err();
        assert!(e.contains("needs a unit: ms, s or m"), "{e}");
        let e = parse_duration("1m30").unwrap_err();
        assert!(e.contains("needs a unit"), "{e}");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "s",
            "-1s",
            "1x",
            "1.2.3s",
            "1 day",
            "abc",
            "99999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
