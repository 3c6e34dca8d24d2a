//! What every configuration target checks, whichever format it feeds:
//! `Config::parse` answers a `Config` or a list of problems, never panics,
//! hangs or blows the stack; a valid config has backends with unique,
//! non-empty names; a refusal says why. Not UTF-8 is refused before
//! parsing (`Config::load` reads the file as a string), so it is skipped.

use switchboard_config::{Config, Format};

/// Parses `data` as `format` and checks the answer.
pub fn check(data: &[u8], format: Format) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, format) {
        Ok(config) => {
            assert!(!config.backends.is_empty(), "a valid config has backends");
            for (i, b) in config.backends.iter().enumerate() {
                assert!(!b.name.is_empty(), "a backend has a name");
                assert_eq!(
                    config.backend_position(&b.name),
                    Some(i),
                    "names are unique"
                );
            }
            let _ = format!("{config:?}");
        }
        Err(errors) => assert!(!errors.to_string().is_empty(), "a refusal says why"),
    }
}
