//! Request validation the way Nova does it: a JSON Schema (the subset of
//! Draft 2020-12 that Nova's schemas use) per operation and microversion,
//! and on failure one message built like `nova.api.validation` builds it
//! from python-jsonschema's best error:
//!
//! * an error inside the body: `Invalid input for field/attribute <last path
//!   element>. Value: <str(value)>. <jsonschema message>`;
//! * inside a query string: `Invalid input for query parameters <name>. ...`;
//! * at the root: the bare jsonschema message.
//!
//! Schemas are `serde_json::Value`s written with `json!`, so they read like
//! Nova's own.

mod formats;
pub mod pyrepr;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use serde_json::{Map, Value};

use formats::FormatError;
pub use formats::is_uuid_like;
use pyrepr::{repr, repr_str};

/// Whether the instance is a request body or query parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Body,
    Query,
}

#[derive(Clone, Debug)]
enum PathElement {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
struct Failure {
    path: Vec<PathElement>,
    instance: Value,
    message: String,
    /// Replaces the whole detail (Nova's InvalidName).
    replaced: bool,
    /// anyOf/oneOf: loses ties, as in jsonschema's `best_match`.
    weak: bool,
}

fn best_failure(schema: &Value, instance: &Value) -> Option<Failure> {
    let mut failures = Vec::new();
    let mut path = Vec::new();
    check(schema, instance, &mut path, &mut failures);
    best_match(failures)
}

/// The bare python-jsonschema message of the best error, as services other
/// than Nova (Glance) report it.
pub fn jsonschema_message(schema: &Value, instance: &Value) -> Option<String> {
    best_failure(schema, instance).map(|f| f.message)
}

/// Validates `instance` against `schema`; the error is Nova's message.
pub fn validate(schema: &Value, instance: &Value, source: Source) -> Result<(), String> {
    let Some(best) = best_failure(schema, instance) else {
        return Ok(());
    };
    if best.replaced {
        return Err(best.message);
    }
    // Nova names the last path element of a body error, but the first of a
    // query error: the parameter, not the index into its list of values.
    let named = match source {
        Source::Body => best.path.last(),
        Source::Query => best.path.first(),
    };
    Err(match named {
        None => best.message,
        Some(last) => {
            let field = match last {
                PathElement::Key(k) => k.clone(),
                PathElement::Index(i) => i.to_string(),
            };
            let value = pyrepr::str(&best.instance);
            match source {
                Source::Body => format!(
                    "Invalid input for field/attribute {field}. Value: {value}. {}",
                    best.message
                ),
                Source::Query => format!(
                    "Invalid input for query parameters {field}. Value: {value}. {}",
                    best.message
                ),
            }
        }
    })
}

/// The keys of a body that its schema does not declare (dotted paths,
/// `[]` for the items of a list): those it ignores, and those it refuses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UndeclaredKeys {
    pub ignored: Vec<String>,
    pub rejected: Vec<String>,
}

/// Which keys of `instance` `schema` does not declare, following its
/// `properties` and `items` (a schema that declares no properties, such as
/// an `anyOf`, names none).
pub fn undeclared_keys(schema: &Value, instance: &Value) -> UndeclaredKeys {
    let mut keys = UndeclaredKeys::default();
    walk_keys(schema, instance, "", &mut keys);
    keys
}

fn walk_keys(schema: &Value, instance: &Value, prefix: &str, keys: &mut UndeclaredKeys) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let (Some(items), Some(list)) = (schema.get("items"), instance.as_array()) {
        for item in list {
            walk_keys(items, item, &format!("{prefix}[]"), keys);
        }
        return;
    }
    let (Some(declared), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        instance.as_object(),
    ) else {
        return;
    };
    let patterns: Vec<&String> = schema
        .get("patternProperties")
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    for (key, value) in object {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let Some(property) = declared.get(key) {
            walk_keys(property, value, &path, keys);
            continue;
        }
        if patterns.iter().any(|p| searches(p, key)) {
            continue;
        }
        match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => keys.rejected.push(path),
            Some(Value::Object(_)) => {}
            _ => keys.ignored.push(path),
        }
    }
}

/// jsonschema's relevance: the shallowest error wins; among equals the
/// first found, and weak (anyOf/oneOf) errors lose ties.
fn best_match(failures: Vec<Failure>) -> Option<Failure> {
    let mut best: Option<Failure> = None;
    for f in failures {
        let better = match &best {
            None => true,
            Some(b) => (f.path.len(), f.weak) < (b.path.len(), b.weak),
        };
        if better {
            best = Some(f);
        }
    }
    best
}

fn fail(failures: &mut Vec<Failure>, path: &[PathElement], instance: &Value, message: String) {
    failures.push(Failure {
        path: path.to_vec(),
        instance: instance.clone(),
        message,
        replaced: false,
        weak: false,
    });
}

fn is_type(instance: &Value, ty: &str) -> bool {
    match ty {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "string" => instance.is_string(),
        "array" => instance.is_array(),
        "object" => instance.is_object(),
        "number" => instance.is_number(),
        "integer" => match instance {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Nova accepts numeric strings where a minimum or maximum applies.
fn as_number(instance: &Value) -> Option<f64> {
    match instance {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(|i| i as f64)
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok()),
        _ => None,
    }
}

fn number_repr(instance: &Value, n: f64) -> String {
    match instance {
        Value::Number(_) => repr(instance),
        _ if n.fract() == 0.0 && n.abs() < 1e16 => format!("{}", n as i64),
        _ => n.to_string(),
    }
}

fn regex(pattern: &str) -> Option<Arc<fancy_regex::Regex>> {
    static CACHE: LazyLock<RwLock<HashMap<String, Arc<fancy_regex::Regex>>>> =
        LazyLock::new(Default::default);
    if let Some(re) = CACHE.read().unwrap_or_else(|p| p.into_inner()).get(pattern) {
        return Some(re.clone());
    }
    let re = Arc::new(fancy_regex::Regex::new(pattern).ok()?);
    CACHE
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pattern.to_owned(), re.clone());
    Some(re)
}

/// Python's `re.search`: a match anywhere.
fn searches(pattern: &str, text: &str) -> bool {
    regex(pattern).is_some_and(|re| re.is_match(text).unwrap_or(false))
}

fn check(
    schema: &Value,
    instance: &Value,
    path: &mut Vec<PathElement>,
    failures: &mut Vec<Failure>,
) {
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            return fail(
                failures,
                path,
                instance,
                format!("False schema does not allow {}", repr(instance)),
            );
        }
        Value::Object(map) => map,
        _ => return,
    };
    for (keyword, value) in schema {
        match keyword.as_str() {
            "type" => check_type(value, instance, path, failures),
            "enum" => {
                if let Some(options) = value.as_array()
                    && !options.iter().any(|o| json_equal(o, instance))
                {
                    fail(
                        failures,
                        path,
                        instance,
                        format!("{} is not one of {}", repr(instance), repr(value)),
                    );
                }
            }
            "const" if !json_equal(value, instance) => {
                fail(
                    failures,
                    path,
                    instance,
                    format!("{} was expected", repr(value)),
                );
            }
            "properties" => {
                if let (Some(props), Some(obj)) = (value.as_object(), instance.as_object()) {
                    for (name, sub) in props {
                        if let Some(child) = obj.get(name) {
                            path.push(PathElement::Key(name.clone()));
                            check(sub, child, path, failures);
                            path.pop();
                        }
                    }
                }
            }
            "patternProperties" => {
                if let (Some(patterns), Some(obj)) = (value.as_object(), instance.as_object()) {
                    for (pattern, sub) in patterns {
                        for (name, child) in obj {
                            if searches(pattern, name) {
                                path.push(PathElement::Key(name.clone()));
                                check(sub, child, path, failures);
                                path.pop();
                            }
                        }
                    }
                }
            }
            "additionalProperties" => check_additional(schema, value, instance, path, failures),
            "required" => {
                if let (Some(required), Some(obj)) = (value.as_array(), instance.as_object()) {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !obj.contains_key(name) {
                            fail(
                                failures,
                                path,
                                instance,
                                format!("{} is a required property", repr_str(name)),
                            );
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = instance.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        path.push(PathElement::Index(i));
                        check(value, item, path, failures);
                        path.pop();
                    }
                }
            }
            "minProperties" | "maxProperties" | "minItems" | "maxItems" | "minLength"
            | "maxLength" => {
                if let (Some(limit), Some(size)) = (value.as_u64(), size_of(keyword, instance))
                    && let Some(message) = size_message(keyword, limit, size)
                {
                    fail(
                        failures,
                        path,
                        instance,
                        format!("{} {message}", repr(instance)),
                    );
                }
            }
            "uniqueItems" => {
                if value == &Value::Bool(true)
                    && let Some(items) = instance.as_array()
                    && items
                        .iter()
                        .enumerate()
                        .any(|(i, a)| items[..i].iter().any(|b| json_equal(a, b)))
                {
                    fail(
                        failures,
                        path,
                        instance,
                        format!("{} has non-unique elements", repr(instance)),
                    );
                }
            }
            "pattern" => {
                if let (Some(pattern), Some(s)) = (value.as_str(), instance.as_str())
                    && !searches(pattern, s)
                {
                    fail(
                        failures,
                        path,
                        instance,
                        format!("{} does not match {}", repr(instance), repr_str(pattern)),
                    );
                }
            }
            "format" => {
                if let (Some(format), Some(s)) = (value.as_str(), instance.as_str()) {
                    match formats::check(format, s) {
                        Ok(()) => {}
                        Err(FormatError::Invalid) => fail(
                            failures,
                            path,
                            instance,
                            format!("{} is not a {}", repr(instance), repr_str(format)),
                        ),
                        Err(FormatError::Replaced(message)) => failures.push(Failure {
                            path: path.clone(),
                            instance: instance.clone(),
                            message: message.to_owned(),
                            replaced: true,
                            weak: false,
                        }),
                    }
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                if let (Some(limit), Some(n)) = (value.as_f64(), as_number(instance)) {
                    let shown = number_repr(instance, n);
                    let limit_shown = repr(value);
                    let message = match keyword.as_str() {
                        "minimum" if n < limit => {
                            Some(format!("{shown} is less than the minimum of {limit_shown}"))
                        }
                        "maximum" if n > limit => Some(format!(
                            "{shown} is greater than the maximum of {limit_shown}"
                        )),
                        "exclusiveMinimum" if n <= limit => Some(format!(
                            "{shown} is less than or equal to the minimum of {limit_shown}"
                        )),
                        "exclusiveMaximum" if n >= limit => Some(format!(
                            "{shown} is greater than or equal to the maximum of {limit_shown}"
                        )),
                        _ => None,
                    };
                    if let Some(message) = message {
                        fail(failures, path, instance, message);
                    }
                }
            }
            "allOf" => {
                for sub in value.as_array().into_iter().flatten() {
                    check(sub, instance, path, failures);
                }
            }
            "anyOf" | "oneOf" => {
                let subs = value.as_array().map(Vec::as_slice).unwrap_or_default();
                let valid = subs.iter().filter(|sub| is_valid(sub, instance)).count();
                let message = if valid == 0 {
                    Some(format!(
                        "{} is not valid under any of the given schemas",
                        repr(instance)
                    ))
                } else if keyword == "oneOf" && valid > 1 {
                    Some(format!(
                        "{} is valid under each of {}",
                        repr(instance),
                        repr(value)
                    ))
                } else {
                    None
                };
                if let Some(message) = message {
                    failures.push(Failure {
                        path: path.clone(),
                        instance: instance.clone(),
                        message,
                        replaced: false,
                        weak: true,
                    });
                }
            }
            "not" if is_valid(value, instance) => {
                fail(
                    failures,
                    path,
                    instance,
                    format!(
                        "{} should not be valid under {}",
                        repr(instance),
                        repr(value)
                    ),
                );
            }
            _ => {}
        }
    }
}

/// The size a `min*`/`max*` keyword measures, if it applies to the instance
/// (string lengths count characters, as Python does).
fn size_of(keyword: &str, instance: &Value) -> Option<u64> {
    let size = match (keyword, instance) {
        ("minProperties" | "maxProperties", Value::Object(o)) => o.len(),
        ("minItems" | "maxItems", Value::Array(a)) => a.len(),
        ("minLength" | "maxLength", Value::String(s)) => s.chars().count(),
        _ => return None,
    };
    Some(size as u64)
}

/// python-jsonschema's wording (4.23 and later) for a size outside its bound.
fn size_message(keyword: &str, limit: u64, size: u64) -> Option<&'static str> {
    let is_min = keyword.starts_with("min");
    if (is_min && size >= limit) || (!is_min && size <= limit) {
        return None;
    }
    Some(match (is_min, limit, keyword) {
        (true, 1, _) => "should be non-empty",
        (false, 0, _) => "is expected to be empty",
        (true, _, "minProperties") => "does not have enough properties",
        (false, _, "maxProperties") => "has too many properties",
        (true, _, _) => "is too short",
        (false, _, _) => "is too long",
    })
}

fn is_valid(schema: &Value, instance: &Value) -> bool {
    let mut failures = Vec::new();
    check(schema, instance, &mut Vec::new(), &mut failures);
    failures.is_empty()
}

fn check_type(value: &Value, instance: &Value, path: &[PathElement], failures: &mut Vec<Failure>) {
    let types: Vec<&str> = match value {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return,
    };
    if !types.iter().any(|t| is_type(instance, t)) {
        let names = types
            .iter()
            .map(|t| repr_str(t))
            .collect::<Vec<_>>()
            .join(", ");
        fail(
            failures,
            path,
            instance,
            format!("{} is not of type {names}", repr(instance)),
        );
    }
}

fn check_additional(
    schema: &Map<String, Value>,
    additional: &Value,
    instance: &Value,
    path: &mut Vec<PathElement>,
    failures: &mut Vec<Failure>,
) {
    let Some(obj) = instance.as_object() else {
        return;
    };
    let declared = schema.get("properties").and_then(Value::as_object);
    let patterns: Vec<&String> = schema
        .get("patternProperties")
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    let mut extras: Vec<&String> = obj
        .keys()
        .filter(|k| {
            !declared.is_some_and(|d| d.contains_key(*k))
                && !patterns.iter().any(|p| searches(p, k))
        })
        .collect();
    if extras.is_empty() {
        return;
    }
    match additional {
        Value::Bool(false) => {
            extras.sort();
            let joined = extras
                .iter()
                .map(|e| repr_str(e))
                .collect::<Vec<_>>()
                .join(", ");
            let message = if patterns.is_empty() {
                let verb = if extras.len() == 1 { "was" } else { "were" };
                format!("Additional properties are not allowed ({joined} {verb} unexpected)")
            } else {
                let mut sorted = patterns.clone();
                sorted.sort();
                let verb = if extras.len() == 1 { "does" } else { "do" };
                let regexes = sorted
                    .iter()
                    .map(|p| repr_str(p))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{joined} {verb} not match any of the regexes: {regexes}")
            };
            fail(failures, path, instance, message);
        }
        Value::Object(_) => {
            for name in extras {
                path.push(PathElement::Key(name.clone()));
                check(additional, &obj[name], path, failures);
                path.pop();
            }
        }
        _ => {}
    }
}

/// JSON equality where 1 and 1.0 are equal (as in Python).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
