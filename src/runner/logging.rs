//! Log output: `tracing` as text or JSON lines on stderr, at a level a
//! reload can change.
//!
//! The level comes from `log.level` in the file when set, else from
//! `--log-level`; `RUST_LOG`, when set, wins over both (per-module filters,
//! for debugging) and is never replaced by a reload. Nothing logged
//! anywhere may contain a secret: the password is a `config::Secret` and
//! request headers are never logged. No value may break a line either: in
//! the text format every control character of a field (an operator's
//! message with a newline or an ESC, a reason) is written escaped (`\n`,
//! `\u{1b}`), so one event is one line and no terminal escape gets through;
//! the JSON format escapes them as JSON does.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, Writer};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::EnvFilter;

/// The two line formats of docs/operations.md ("Logs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Swaps the filter of the installed subscriber (its type depends on the
/// line format, so it is kept behind a closure).
type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// What [`set_level`] needs: the flag's level and the filter swap; `None`
/// when `RUST_LOG` decides.
struct Levels {
    flag: String,
    reload: Option<Reload>,
}

static LEVELS: OnceLock<Levels> = OnceLock::new();

/// The filter of one level: ours at `level`, everyone else's at `warn`.
fn filter(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(format!("warn,switchboard={level}")).map_err(|e| e.to_string())
}

/// Installs the global subscriber; `level` is `error|warn|info|debug|trace`.
pub(crate) fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let from_env = matches!(std::env::var("RUST_LOG"), Ok(spec) if !spec.is_empty());
    let initial = if from_env {
        EnvFilter::try_from_default_env().map_err(|e| format!("RUST_LOG: {e}"))?
    } else {
        filter(level).map_err(|e| format!("--log-level {level}: {e}"))?
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(initial)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let reload: Reload = match format {
        LogFormat::Text => {
            let builder = builder.fmt_fields(escaped_fields()).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map_err(|e| e.to_string())?;
            Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()))
        }
        LogFormat::Json => {
            let builder = builder.json().flatten_event(true).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map_err(|e| e.to_string())?;
            Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()))
        }
    };
    let _ = LEVELS.set(Levels {
        flag: level.to_string(),
        reload: (!from_env).then_some(reload),
    });
    Ok(())
}

/// The text format's fields: the default layout (the message bare, then
/// `name=value`, space separated) with every control character escaped.
fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(write_field).delimited(" ")
}

/// Writes one field, escaped (see [`Escaped`]).
fn write_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    match field.name() {
        "message" => {}
        name => write!(writer, "{}=", name.strip_prefix("r#").unwrap_or(name))?,
    }
    write!(Escaped(writer), "{value:?}")
}

/// Whether `c` must not appear raw in a log line: a control character
/// (C0, DEL, C1: newlines, ESC, NUL...), a Unicode line or paragraph
/// separator, or a bidirectional override that could make a line read
/// differently from what it holds.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A `fmt::Write` that passes text through with every [`must_escape`]
/// character written as `\n`, `\r`, `\t` or `\u{..}`.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| must_escape(*c)) {
            self.0.write_str(&rest[..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Applies the file's `log.level` (`None`: back to `--log-level`); a no-op
/// while `RUST_LOG` decides or before [`init`]. Returns the level now in
/// force, for the log line.
pub(crate) fn set_level(level: Option<&str>) -> Option<String> {
    let levels = LEVELS.get()?;
    let reload = levels.reload.as_ref()?;
    let level = level.unwrap_or(&levels.flag);
    let applied = filter(level).and_then(reload);
    match applied {
        Ok(()) => Some(level.to_string()),
        Err(e) => {
            tracing::warn!(level, error = %e, "could not change the log level");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        write!(Escaped(&mut out), "{s}").unwrap();
        out
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped("plain ünïcødé ✓"), "plain ünïcødé ✓");
        assert_eq!(escaped("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escaped("\u{1b}[31mred\0"), "\\u{1b}[31mred\\u{0}");
        assert_eq!(
            escaped("x\u{85}\u{2028}\u{202e}y\u{7f}"),
            "x\\u{85}\\u{2028}\\u{202e}y\\u{7f}"
        );
    }

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_event_is_one_line_whatever_its_fields_hold() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(escaped_fields())
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let message = "line one\nFAKE line\u{1b}[2J";
            tracing::info!(actor = %"a\r\nb", quoted = "q\n", "set by operator: {message}");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.ends_with('\n'));
        assert!(
            !text.chars().any(|c| c != '\n' && must_escape(c)),
            "{text:?}"
        );
        assert!(
            text.contains(
                "set by operator: line one\\nFAKE line\\u{1b}[2J actor=a\\r\\nb quoted=\"q\\n\""
            ),
            "{text:?}"
        );
    }
}
