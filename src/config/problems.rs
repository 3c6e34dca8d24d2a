//! Collected configuration problems.
//!
//! Owns [`Problems`], the collector every validation step pushes into, and
//! [`ConfigErrors`], the error a failed load returns: every problem at once,
//! each as `path: message`, one per line. It must never hold a secret: callers
//! write messages that name a path, never the value of a password.

use std::fmt;

/// One problem: where it is (`backends[2].port`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted path of the key, e.g. `monitor.interval` or `Proxy.Backends[1].StatusPort`.
    pub path: String,
    /// What is wrong, never containing a secret value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A collector of problems, filled by validation, turned into a result at the end.
#[derive(Debug, Clone, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// An empty collector.
    pub fn new() -> Self {
        Problems(Vec::new())
    }

    /// Records one problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok(())` when nothing was recorded, otherwise every problem as [`ConfigErrors`].
    pub fn into_result(self) -> Result<(), ConfigErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.0))
        }
    }
}

/// The error of a failed load: every problem at once, one `path: message` line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<Problem>);

impl ConfigErrors {
    /// An error made of one problem (an unreadable file, a syntax error).
    pub fn single(path: &str, msg: String) -> Self {
        ConfigErrors(vec![Problem {
            path: path.into(),
            message: msg,
        }])
    }

    /// Every problem, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }

    /// How many problems there are (at least one for an error built here).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True only for an error with no problems, which this module never builds.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The paths of every problem, in order (handy for tests and summaries).
    pub fn paths(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.path.as_str()).collect()
    }
}

/// One line per problem, no trailing newline.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_collector_is_ok() {
        let p = Problems::new();
        assert!(p.is_empty());
        assert_eq!(p.len(), 0);
        assert!(p.into_result().is_ok());
    }

    #[test]
    fn every_problem_is_one_line() {
        let mut p = Problems::new();
        p.push("proxy.listen", "required");
        p.push("backends[2].port", "must be 1..65535");
        assert_eq!(p.len(), 2);
        let Err(e) = p.into_result() else {
            panic!("expected errors")
        };
        assert_eq!(e.len(), 2);
        assert_eq!(e.paths(), vec!["proxy.listen", "backends[2].port"]);
        assert_eq!(
            e.to_string(),
            "proxy.listen: required\nbackends[2].port: must be 1..65535"
        );
        assert_eq!(e.problems()[1].message, "must be 1..65535");
    }

    #[test]
    fn single_keeps_path_and_message() {
        let e = ConfigErrors::single("config", "cannot read x".into());
        assert_eq!(e.len(), 1);
        assert!(!e.is_empty());
        assert_eq!(e.to_string(), "config: cannot read x");
    }
}
