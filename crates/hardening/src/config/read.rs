//! Reading a config tree with every mistake reported, each under its path.
//!
//! Files (YAML, TOML, JSON) and environment overrides all become one `serde_json::Value` tree
//! first; [`Section`] then reads it setting by setting. A wrong setting is recorded and the
//! reading goes on with the default, so one pass finds every mistake; a key nobody asked for
//! is a mistake too (a typo must not be silently ignored).

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ConfigError;
use hardening_core::{ByteSize, SIZE_FORMS};

/// What every section of one reading shares: the mistakes found so far, and which paths were
/// set by an environment variable (an error about them names the variable).
#[derive(Debug, Default)]
pub(crate) struct Context {
    errors: RefCell<Vec<ConfigError>>,
    origins: BTreeMap<String, String>,
    /// Every path a section asked for, present or not: the schema, as read.
    #[cfg(test)]
    pub(crate) asked: RefCell<std::collections::BTreeSet<String>>,
}

impl Context {
    pub(crate) fn new(origins: BTreeMap<String, String>) -> Self {
        Context {
            errors: RefCell::default(),
            origins,
            #[cfg(test)]
            asked: RefCell::default(),
        }
    }

    pub(crate) fn push(&self, error: ConfigError) {
        self.errors.borrow_mut().push(error);
    }

    pub(crate) fn into_errors(self) -> Vec<ConfigError> {
        self.errors.into_inner()
    }

    fn variable_for(&self, path: &str) -> Option<&str> {
        self.origins.get(path).map(String::as_str)
    }
}

/// Joins a section path and a key: `breaker` and `slidingWindowSize` make
/// `breaker.slidingWindowSize`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// One object of the tree, read key by key.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    cx: &'a Context,
    path: String,
    map: Option<&'a Map<String, Value>>,
    known: Vec<&'static str>,
}

impl<'a> Section<'a> {
    /// The tree's root, which must be an object (an empty document is an empty object).
    pub(crate) fn root(cx: &'a Context, value: &'a Value) -> Self {
        let map = match value {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                cx.push(ConfigError::new(
                    "(document)",
                    describe(other),
                    "a map of settings at the top level",
                ));
                None
            }
        };
        Section {
            cx,
            path: String::new(),
            map,
            known: Vec::new(),
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Whether `key` is present (and records it as known).
    pub(crate) fn has(&mut self, key: &'static str) -> bool {
        self.raw(key).is_some()
    }

    fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        #[cfg(test)]
        self.cx.asked.borrow_mut().insert(join(&self.path, key));
        self.map?.get(key).filter(|v| !v.is_null())
    }

    fn fail(&self, key: &str, value: &Value, expected: impl Into<std::borrow::Cow<'static, str>>) {
        let path = join(&self.path, key);
        let shown = match self.cx.variable_for(&path) {
            Some(var) => format!("{} (from {var})", describe(value)),
            None => describe(value),
        };
        self.cx.push(ConfigError::new(path, shown, expected));
    }

    pub(crate) fn bool(&mut self, key: &'static str, default: bool) -> bool {
        let Some(value) = self.raw(key) else {
            return default;
        };
        match value {
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => {
                self.fail(key, other, "true or false");
                default
            }
        }
    }

    fn whole(value: &Value) -> Option<u64> {
        match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A whole number that fits `i32`, negative or not.
    pub(crate) fn integer(&mut self, key: &'static str, default: i32) -> i32 {
        let Some(value) = self.raw(key) else {
            return default;
        };
        let n = match value {
            Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.unwrap_or_else(|| {
            self.fail(
                key,
                value,
                format!("a whole number between {} and {}", i32::MIN, i32::MAX),
            );
            default
        })
    }

    /// A count that fits `u32`, from `min` up.
    pub(crate) fn count(&mut self, key: &'static str, default: u32, min: u32) -> u32 {
        let Some(value) = self.raw(key) else {
            return default;
        };
        match Self::whole(value).and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= min => n,
            _ => {
                self.fail(
                    key,
                    value,
                    format!("a whole number between {min} and {}", u32::MAX),
                );
                default
            }
        }
    }

    /// Milliseconds, above zero.
    pub(crate) fn millis(&mut self, key: &'static str, default: u64) -> u64 {
        self.optional_millis(key).unwrap_or(default)
    }

    /// Milliseconds above zero, or nothing when the key is absent.
    pub(crate) fn optional_millis(&mut self, key: &'static str) -> Option<u64> {
        let value = self.raw(key)?;
        match Self::whole(value) {
            // Up to a year: a longer interval is a typo, and keeps instant arithmetic safe.
            Some(n) if n > 0 && n <= MAX_MILLIS => Some(n),
            _ => {
                self.fail(
                    key,
                    value,
                    "a number of milliseconds above 0 and at most a year (31536000000), e.g. 30000",
                );
                None
            }
        }
    }

    /// A number within `min..=max`.
    pub(crate) fn number(&mut self, key: &'static str, default: f64, min: f64, max: f64) -> f64 {
        self.optional_number(key, min, max).unwrap_or(default)
    }

    /// A number within `min..=max`, or nothing when the key is absent.
    pub(crate) fn optional_number(&mut self, key: &'static str, min: f64, max: f64) -> Option<f64> {
        let value = self.raw(key)?;
        let n = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && (min..=max).contains(&n) => Some(n),
            _ => {
                self.fail(key, value, format!("a number from {min} to {max}"));
                None
            }
        }
    }

    pub(crate) fn size(&mut self, key: &'static str) -> Option<ByteSize> {
        let value = self.raw(key)?;
        let parsed = match value {
            Value::Number(n) => n.as_u64().map(ByteSize::new),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        match parsed {
            Some(size) if size.bytes() > 0 => Some(size),
            _ => {
                self.fail(key, value, format!("{SIZE_FORMS}, above zero"));
                None
            }
        }
    }

    /// A string.
    pub(crate) fn text(&mut self, key: &'static str) -> Option<String> {
        let value = self.raw(key)?;
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.fail(key, other, "a string");
                None
            }
        }
    }

    /// A list of names: a sequence of strings, or (from the environment) one comma-separated
    /// string.
    pub(crate) fn names(&mut self, key: &'static str) -> Vec<String> {
        let Some(value) = self.raw(key) else {
            return Vec::new();
        };
        let names: Option<Vec<String>> = match value {
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect(),
            Value::String(s) => Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        };
        match names {
            Some(names) if names.iter().all(|n| !n.trim().is_empty()) => names,
            _ => {
                self.fail(
                    key,
                    value,
                    "a list of non-empty names, e.g. [\"audio-processing\"]",
                );
                Vec::new()
            }
        }
    }

    /// One of `choices`, by name.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        default: T,
        choices: &[(&'static str, T)],
    ) -> T {
        let Some(value) = self.raw(key) else {
            return default;
        };
        let found = value.as_str().and_then(|text| {
            choices
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
                .map(|(_, choice)| *choice)
        });
        match found {
            Some(choice) => choice,
            None => {
                let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
                self.fail(key, value, format!("one of {}", names.join(", ")));
                default
            }
        }
    }

    /// A nested section (absent reads as empty).
    pub(crate) fn section(&mut self, key: &'static str) -> Section<'a> {
        let map = match self.raw(key) {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                self.fail(key, other, "a map of settings");
                None
            }
        };
        Section {
            cx: self.cx,
            path: join(&self.path, key),
            map,
            known: Vec::new(),
        }
    }

    /// A map from names the user chooses to sections, in the file's order.
    pub(crate) fn entries(&mut self, key: &'static str) -> Vec<(String, Section<'a>)> {
        let map = match self.raw(key) {
            None => return Vec::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                self.fail(key, other, "a map from names to settings");
                return Vec::new();
            }
        };
        let path = join(&self.path, key);
        map.iter()
            .filter_map(|(name, value)| {
                let entry_path = join(&path, name);
                match value {
                    Value::Object(inner) => Some((
                        name.clone(),
                        Section {
                            cx: self.cx,
                            path: entry_path,
                            map: Some(inner),
                            known: Vec::new(),
                        },
                    )),
                    Value::Null => Some((
                        name.clone(),
                        Section {
                            cx: self.cx,
                            path: entry_path,
                            map: None,
                            known: Vec::new(),
                        },
                    )),
                    other => {
                        self.cx.push(ConfigError::new(
                            entry_path,
                            describe(other),
                            "a map of settings",
                        ));
                        None
                    }
                }
            })
            .collect()
    }

    /// Records a mistake found in this section.
    pub(crate) fn push_error(&self, error: ConfigError) {
        self.cx.push(error);
    }
}

impl Drop for Section<'_> {
    /// Reports every key that no read asked for, naming the ones this section accepts: a
    /// section is done with when it goes out of scope, so none can forget the check.
    fn drop(&mut self) {
        let Some(map) = self.map else {
            return;
        };
        for key in map.keys() {
            if self.known.iter().any(|known| known == key) {
                continue;
            }
            let path = join(&self.path, key);
            let what = match self.cx.variable_for(&path) {
                Some(var) => format!("an unknown setting (from {var})"),
                None => "an unknown setting".to_string(),
            };
            let mut accepted = self.known.clone();
            accepted.sort_unstable();
            accepted.dedup();
            let scope = if self.path.is_empty() {
                "the top level".to_string()
            } else {
                self.path.clone()
            };
            self.cx.push(ConfigError::new(
                path,
                what,
                format!("one of the settings of {scope}: {}", accepted.join(", ")),
            ));
        }
    }
}

/// A year in milliseconds: the longest interval or timeout a config file may set.
pub(crate) const MAX_MILLIS: u64 = 365 * 24 * 3600 * 1000;

/// A value as an error message shows it: strings quoted, maps and lists abridged.
fn describe(value: &Value) -> String {
    match value {
        Value::Object(_) => "a map".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Null => "nothing".to_string(),
        other => {
            let text = other.to_string();
            if text.chars().count() > 60 {
                let short: String = text.chars().take(57).collect();
                format!("{short}...")
            } else {
                text
            }
        }
    }
}
