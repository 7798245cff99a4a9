//! Label matchers, as Alertmanager writes them: `name="value"`, `!=`, `=~` and `!~`.

use std::fmt;

use regex_lite::Regex;
use serde::{Serialize, Serializer};

use super::{Alert, is_label_name};
use crate::ConfigError;

/// How a [`Matcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the value equals.
    Equal,
    /// `!=`: the value differs.
    NotEqual,
    /// `=~`: the whole value matches the regular expression.
    Regex,
    /// `!~`: the whole value does not match the regular expression.
    NotRegex,
}

impl MatchOp {
    /// The operator as written: `=`, `!=`, `=~` or `!~`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// A test on one label, used by routes, inhibition rules and silences.
///
/// As in Alertmanager, a label the alert does not have reads as the empty string (so
/// `team=""` matches alerts without a `team`), the pseudo-labels `alertname` and `severity`
/// can be matched, and a regular expression must match the whole value (it is anchored).
/// Regular expressions use the `regex-lite` syntax (Perl-like, without Unicode classes).
///
/// ```
/// use hardening_health::alert::{Alert, Matcher, Severity};
///
/// let alert = Alert::new("ServiceDown", Severity::Critical).with_label("service", "db");
/// assert!(Matcher::equal("service", "db")?.matches(&alert));
/// assert!(Matcher::regex("severity", "critical|emergency")?.matches(&alert));
/// assert!(!Matcher::regex("service", "d")?.matches(&alert)); // anchored
/// assert!(Matcher::equal("team", "")?.matches(&alert));      // absent reads as ""
///
/// let parsed: Matcher = r#"alertname!~"Test.*""#.parse()?;
/// assert!(parsed.matches(&alert));
/// assert_eq!(parsed.to_string(), r#"alertname!~"Test.*""#);
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// A matcher from its parts; `name` must be a label name and a regex must compile.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, ConfigError> {
        let name = name.into();
        let value = value.into();
        if !is_label_name(&name) {
            return Err(ConfigError::new(
                "matcher.name",
                format!("{name:?}"),
                "a label name of letters, digits and '_', not starting with a digit",
            ));
        }
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    ConfigError::new(
                        "matcher.value",
                        format!("{value:?}"),
                        format!("a regular expression that compiles ({e})"),
                    )
                })?)
            }
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// `name="value"`.
    pub fn equal(
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, ConfigError> {
        Matcher::new(name, MatchOp::Equal, value)
    }

    /// `name!="value"`.
    pub fn not_equal(
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, ConfigError> {
        Matcher::new(name, MatchOp::NotEqual, value)
    }

    /// `name=~"pattern"`: the whole value matches.
    pub fn regex(
        name: impl Into<String>,
        pattern: impl Into<String>,
    ) -> Result<Matcher, ConfigError> {
        Matcher::new(name, MatchOp::Regex, pattern)
    }

    /// `name!~"pattern"`: the whole value does not match.
    pub fn not_regex(
        name: impl Into<String>,
        pattern: impl Into<String>,
    ) -> Result<Matcher, ConfigError> {
        Matcher::new(name, MatchOp::NotRegex, pattern)
    }

    /// The label's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The comparison.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or pattern.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the alert's label passes.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.matches_value(alert.label(&self.name).unwrap_or(""))
    }

    fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            // `new` compiles a regex for both regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

/// Whether every matcher passes (an empty list passes everything).
pub(crate) fn all_match(matchers: &[Matcher], alert: &Alert) -> bool {
    matchers.iter().all(|m| m.matches(alert))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op.as_str())?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::str::FromStr for Matcher {
    type Err = ConfigError;

    /// Parses `name OP "value"` with OP one of `=`, `!=`, `=~`, `!~`; the value may also be
    /// unquoted (`service=db`). Quoted values take `\"`, `\\` and `\n` escapes.
    fn from_str(text: &str) -> Result<Matcher, ConfigError> {
        let bad = |why: &'static str| ConfigError::new("matcher", format!("{text:?}"), why);
        let text_trimmed = text.trim();
        let at = text_trimmed
            .find(['=', '!'])
            .ok_or_else(|| bad("name OP \"value\" with OP one of =, !=, =~, !~"))?;
        let name = text_trimmed[..at].trim();
        let rest = &text_trimmed[at..];
        let (op, rest) = if let Some(rest) = rest.strip_prefix("=~") {
            (MatchOp::Regex, rest)
        } else if let Some(rest) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, rest)
        } else if let Some(rest) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, rest)
        } else if let Some(rest) = rest.strip_prefix('=') {
            (MatchOp::Equal, rest)
        } else {
            return Err(bad("name OP \"value\" with OP one of =, !=, =~, !~"));
        };
        let rest = rest.trim();
        let value = match rest.strip_prefix('"') {
            Some(quoted) => {
                let body = quoted
                    .strip_suffix('"')
                    .ok_or_else(|| bad("a value closed by a double quote"))?;
                let mut value = String::with_capacity(body.len());
                let mut chars = body.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c @ ('"' | '\\')) => value.push(c),
                            _ => return Err(bad("only \\\", \\\\ and \\n escapes in a value")),
                        }
                    } else if c == '"' {
                        return Err(bad("a double quote inside a value escaped as \\\""));
                    } else {
                        value.push(c);
                    }
                }
                value
            }
            None => rest.to_string(),
        };
        Matcher::new(name, op, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    fn alert() -> Alert {
        Alert::new("ServiceSlow", Severity::Warning)
            .with_label("service", "api")
            .with_label("zone", "eu-1")
    }

    #[test]
    fn the_four_operators_and_absent_labels() {
        let a = alert();
        let check = |text: &str| text.parse::<Matcher>().unwrap().matches(&a);
        assert!(check(r#"service="api""#));
        assert!(!check(r#"service!="api""#));
        assert!(check(r#"zone=~"eu-.*""#));
        assert!(!check(r#"zone=~"eu""#), "anchored");
        assert!(check(r#"zone!~"us-.*""#));
        assert!(check(r#"team="""#));
        assert!(!check(r#"team!="""#));
        assert!(check(r#"team=~"|x""#));
        assert!(check("alertname=ServiceSlow"));
        assert!(check(r#"severity=~"warning|critical""#));
    }

    #[test]
    fn display_round_trips_through_parse() {
        for text in [
            r#"a="b""#,
            r#"a!="b \"quoted\"""#,
            r#"a=~"x|y\\d""#,
            r#"a!~"""#,
        ] {
            let m: Matcher = text.parse().unwrap();
            assert_eq!(m.to_string(), text);
            assert_eq!(m.to_string().parse::<Matcher>().unwrap(), m);
        }
        assert_eq!(
            serde_json::to_value(Matcher::equal("a", "b").unwrap()).unwrap(),
            serde_json::json!("a=\"b\"")
        );
    }

    #[test]
    fn bad_matchers_name_their_field() {
        assert_eq!(
            Matcher::equal("1a", "b").unwrap_err().field(),
            "matcher.name"
        );
        assert_eq!(
            Matcher::regex("a", "(").unwrap_err().field(),
            "matcher.value"
        );
        for bad in ["a", "a<b", r#"a="b"#, r#"a="b\x""#] {
            assert_eq!(
                bad.parse::<Matcher>().unwrap_err().field(),
                "matcher",
                "{bad}"
            );
        }
        assert!(all_match(&[], &alert()));
    }
}
