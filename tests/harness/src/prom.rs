//! A strict parser of the Prometheus/OpenMetrics text exposition, for
//! checking `/metrics`: every line must be a well-formed `# HELP`, `# TYPE`,
//! `# UNIT`, sample or the final `# EOF`; samples must belong to the family
//! declared just before them with a suffix their type allows; no family or
//! series may repeat; histogram buckets must be cumulative and end in
//! `+Inf` equal to `_count`. Any violation is an `Err` naming the line.

use std::collections::{BTreeMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One metric family.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

/// A parsed exposition.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the sample `name` whose labels include all of `labels`;
    /// panics unless exactly one matches.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .families
            .iter()
            .flat_map(|f| f.samples.iter())
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one sample {name}{labels:?}, found {found:?}"
        );
        found[0].value
    }
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    let ok_rest = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
    matches!(chars.next(), Some(c) if ok_first(c)) && chars.all(ok_rest)
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s
            .parse::<f64>()
            .map_err(|e| format!("bad value {s:?}: {e}")),
    }
}

/// Parses `{a="x",b="y"}` starting at `rest` (just after the name).
fn parse_labels(rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let Some(mut s) = rest.strip_prefix('{') else {
        return Ok((labels, rest));
    };
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s.find('=').ok_or("label without =")?;
        let name = &s[..eq];
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        s = &s[end + 1..];
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("expected , or } after a label".into());
        }
    }
}

/// The suffixes a sample of `kind` may add to its family name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_sum", "_count", "_created"],
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        _ => &[""],
    }
}

/// Parses and checks a whole exposition.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut families: Vec<Family> = Vec::new();
    let mut seen_families = HashSet::new();
    let mut seen_series = HashSet::new();
    let mut eof = false;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if eof {
            return Err(at("content after # EOF".into()));
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, arg) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next(),
            );
            if !is_name(name, true) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            match keyword {
                "HELP" => {
                    if !seen_families.insert(name.to_string()) {
                        return Err(at("family declared twice".into()));
                    }
                    families.push(Family {
                        name: name.into(),
                        kind: String::new(),
                        help: arg.unwrap_or("").into(),
                        unit: None,
                        samples: Vec::new(),
                    });
                }
                "TYPE" => {
                    let kind = arg.ok_or_else(|| at("TYPE without type".into()))?;
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "info",
                        "stateset",
                        "unknown",
                        "gaugehistogram",
                    ]
                    .contains(&kind)
                    {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    let f = families
                        .last_mut()
                        .filter(|f| f.name == name && f.kind.is_empty());
                    match f {
                        Some(f) => f.kind = kind.into(),
                        None => return Err(at("TYPE not right after its HELP".into())),
                    }
                }
                "UNIT" => {
                    let f = families.last_mut().filter(|f| f.name == name);
                    match f {
                        Some(f) if f.samples.is_empty() => f.unit = arg.map(str::to_string),
                        _ => return Err(at("UNIT outside its family header".into())),
                    }
                }
                other => return Err(at(format!("unknown comment {other}"))),
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            return Err(at("empty or malformed line".into()));
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| at("sample without value".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(at(format!("bad sample name {name:?}")));
        }
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(at)?;
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before value".into()))?
            .split(' ');
        let value = parse_value(fields.next().unwrap_or("")).map_err(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<f64>().map_err(|_| at("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        let family = families
            .last_mut()
            .ok_or_else(|| at("sample before any family".into()))?;
        let ok = suffixes(&family.kind)
            .iter()
            .any(|s| format!("{}{s}", family.name) == name);
        if !ok {
            return Err(at(format!(
                "sample does not belong to family {} ({})",
                family.name, family.kind
            )));
        }
        if !seen_series.insert(format!("{name}{labels:?}")) {
            return Err(at("series repeated".into()));
        }
        family.samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    if !eof {
        return Err("no # EOF at the end".into());
    }
    for f in &families {
        if f.kind.is_empty() {
            return Err(format!("family {} has no TYPE", f.name));
        }
        if f.kind == "histogram" {
            check_histogram(f)?;
        }
    }
    Ok(Exposition { families })
}

/// Buckets cumulative, `+Inf` present and equal to `_count`, per series.
fn check_histogram(f: &Family) -> Result<(), String> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for s in &f.samples {
        let mut key_labels = s.labels.clone();
        let le = key_labels.remove("le");
        let key = format!("{key_labels:?}");
        if s.name.ends_with("_bucket") {
            let le = parse_value(&le.ok_or(format!("{}: bucket without le", f.name))?)?;
            series.entry(key).or_default().push((le, s.value));
        } else if s.name.ends_with("_count") {
            counts.insert(key, s.value);
        }
    }
    for (key, buckets) in &series {
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in buckets {
            if b.0 <= last.0 || b.1 < last.1 {
                return Err(format!(
                    "{}{key}: buckets not cumulative/increasing",
                    f.name
                ));
            }
            last = *b;
        }
        if last.0 != f64::INFINITY || Some(&last.1) != counts.get(key) {
            return Err(format!("{}{key}: +Inf bucket missing or != _count", f.name));
        }
    }
    Ok(())
}
