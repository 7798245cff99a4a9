//! `HARDENING_*` environment variables, applied to the config tree before it is read.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ENV_PREFIX;
use crate::{ConfigError, ConfigErrors};

/// Sections whose keys are names the user chose (services, pools): a variable's segment
/// matches such a key loosely, since a variable name cannot hold `-` or lower case.
const NAMED_ENTRIES: [&str; 2] = ["services", "pools"];

/// Sets each `HARDENING_*` variable's value (as text) at the path its name spells, and
/// returns which path each variable set, so an error about it can name the variable.
pub(super) fn apply(
    tree: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, ConfigErrors> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    // The environment's order is arbitrary; a sorted one makes errors come out the same way
    // every run.
    vars.sort();
    let mut origins = BTreeMap::new();
    let mut errors = Vec::new();
    if !vars.is_empty() && tree.is_null() {
        *tree = Value::Object(Map::new());
    }
    for (name, value) in vars {
        let rest = &name[ENV_PREFIX.len()..];
        let segments: Vec<&str> = rest.split("__").collect();
        if segments.iter().any(|s| s.is_empty()) {
            errors.push(ConfigError::new(
                name.clone(),
                "a variable name with an empty segment",
                "HARDENING_ and a key path in upper snake case, sections joined by __, e.g. HARDENING_BREAKER__FAILURE_RATE_THRESHOLD",
            ));
            continue;
        }
        match set(tree, &segments, value) {
            Ok(path) => {
                origins.insert(path, name);
            }
            Err(path) => errors.push(ConfigError::new(
                path,
                format!("a value that is not a map (while applying {name})"),
                "a map of settings where an environment variable sets a key inside it",
            )),
        }
    }
    if errors.is_empty() {
        Ok(origins)
    } else {
        Err(ConfigErrors::new(errors))
    }
}

/// Sets `value` at the path `segments` spell; returns the path, or the path of the value in
/// the way when something other than a map is there.
fn set(tree: &mut Value, segments: &[&str], value: String) -> Result<String, String> {
    let mut node = tree;
    let mut path = String::new();
    let mut parent_names_entries = false;
    for (i, segment) in segments.iter().enumerate() {
        let Value::Object(map) = node else {
            return Err(if path.is_empty() {
                "(document)".to_string()
            } else {
                path
            });
        };
        let key = if parent_names_entries {
            entry_key(map, segment)
        } else {
            camel_case(segment)
        };
        parent_names_entries = NAMED_ENTRIES.contains(&key.as_str());
        path = super::read::join(&path, &key);
        if i + 1 == segments.len() {
            map.insert(key, Value::String(value));
            return Ok(path);
        }
        node = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(path)
}

/// `HEALTH_CHECK_INTERVAL_MS` → `healthCheckIntervalMs`.
fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for (i, word) in segment.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

/// The existing key a segment names (the same ignoring case, `-` and `_`), or a new
/// lower-case, dash-separated one.
fn entry_key(map: &Map<String, Value>, segment: &str) -> String {
    let loose = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = loose(segment);
    map.keys()
        .find(|key| loose(key) == wanted)
        .cloned()
        .unwrap_or_else(|| segment.to_ascii_lowercase().replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_camel_case_paths_and_entries_match_loosely() {
        assert_eq!(
            camel_case("HEALTH_CHECK_INTERVAL_MS"),
            "healthCheckIntervalMs"
        );
        assert_eq!(camel_case("BREAKER"), "breaker");
        let mut tree: Value =
            serde_json::from_str(r#"{"services": {"audio-processing": {"recoverable": false}}}"#)
                .unwrap_or_default();
        let origins = apply(
            &mut tree,
            [
                (
                    "HARDENING_SERVICES__AUDIO_PROCESSING__RECOVERABLE".to_string(),
                    "true".to_string(),
                ),
                (
                    "HARDENING_SERVICES__MODEL_INFERENCE__TIMEOUT_MS".to_string(),
                    "500".to_string(),
                ),
                ("OTHER_VAR".to_string(), "ignored".to_string()),
            ],
        )
        .unwrap_or_default();
        assert_eq!(
            tree["services"]["audio-processing"]["recoverable"],
            Value::String("true".into())
        );
        assert_eq!(
            tree["services"]["model-inference"]["timeoutMs"],
            Value::String("500".into())
        );
        assert_eq!(
            origins
                .get("services.audio-processing.recoverable")
                .map(String::as_str),
            Some("HARDENING_SERVICES__AUDIO_PROCESSING__RECOVERABLE")
        );
        assert_eq!(origins.len(), 2);
    }

    #[test]
    fn a_variable_through_a_non_map_is_an_error_naming_the_path() {
        let mut tree: Value = serde_json::from_str(r#"{"breaker": 5}"#).unwrap_or_default();
        let errors = apply(
            &mut tree,
            [(
                "HARDENING_BREAKER__FAILURE_RATE_THRESHOLD".to_string(),
                "10".to_string(),
            )],
        )
        .err()
        .map(|e| e.into_vec());
        let field = errors
            .as_deref()
            .and_then(|e| e.first())
            .map(|e| e.field().to_string());
        assert_eq!(field.as_deref(), Some("breaker"));
    }
}
