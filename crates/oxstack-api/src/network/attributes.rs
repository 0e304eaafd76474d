//! Request bodies checked the way Neutron's attribute maps check them:
//! the resource's key must be there, every attribute must be known, allowed
//! for the method, and of its type, each failure a 400 in Neutron's words.

use serde_json::{Map, Value};

use super::error::NeutronError;

/// The type of an attribute's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string of at most this many characters.
    Str(usize),
    /// A string or null.
    NullableStr(usize),
    Bool,
    Int,
    Uuid,
    /// A UUID or null.
    NullableUuid,
    List,
    Dict,
    /// A dictionary or null.
    NullableDict,
}

/// One attribute of a resource: its name, type, and whether a create
/// (`post`) or an update (`put`) may set it.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub post: bool,
    pub put: bool,
}

pub const fn attr(name: &'static str, kind: Kind, post: bool, put: bool) -> Attr {
    Attr {
        name,
        kind,
        post,
        put,
    }
}

/// Whether a body creates or updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
}

/// The attributes of `{resource: {...}}`, checked against `attrs`.
pub fn check(
    body: Value,
    resource: &str,
    attrs: &[Attr],
    method: Method,
) -> Result<Map<String, Value>, NeutronError> {
    let Value::Object(mut outer) = body else {
        return Err(NeutronError::bad_request("Body contains invalid data"));
    };
    let Some(inner) = outer.remove(resource) else {
        return Err(NeutronError::bad_request(format!(
            "Unable to find '{resource}' in request body"
        )));
    };
    let Value::Object(map) = inner else {
        return Err(NeutronError::bad_request("Body contains invalid data"));
    };
    let unknown: Vec<&str> = map
        .keys()
        .filter(|k| !attrs.iter().any(|a| a.name == k.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            unknown.join(", ")
        )));
    }
    for (key, value) in &map {
        let Some(a) = attrs.iter().find(|a| a.name == key.as_str()) else {
            continue;
        };
        match method {
            Method::Post if !a.post => {
                return Err(NeutronError::bad_request(format!(
                    "Attribute '{key}' not allowed in POST"
                )));
            }
            Method::Put if !a.put => {
                return Err(NeutronError::bad_request(format!(
                    "Cannot update read-only attribute {key}"
                )));
            }
            _ => {}
        }
        check_kind(key, a.kind, value)?;
    }
    if let (Some(Value::String(t)), Some(Value::String(p))) =
        (map.get("tenant_id"), map.get("project_id"))
        && t != p
    {
        return Err(NeutronError::bad_request(
            "Invalid input for operation: 'project_id' and 'tenant_id' do not match.",
        ));
    }
    Ok(map)
}

fn invalid(key: &str, reason: impl std::fmt::Display) -> NeutronError {
    NeutronError::bad_request(format!("Invalid input for {key}. Reason: {reason}."))
}

fn check_kind(key: &str, kind: Kind, value: &Value) -> Result<(), NeutronError> {
    let text = |max: usize| match value {
        Value::String(s) if s.chars().count() > max => Err(invalid(
            key,
            format!("'{s}' exceeds maximum length of {max}"),
        )),
        Value::String(_) => Ok(()),
        other => Err(invalid(key, format!("'{other}' is not a valid string"))),
    };
    let uuid = || match value {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Ok(()),
        other => Err(invalid(
            key,
            format!("'{}' is not a valid UUID", shown(other)),
        )),
    };
    match (kind, value) {
        (Kind::NullableStr(_) | Kind::NullableUuid, Value::Null) => Ok(()),
        (Kind::Str(max) | Kind::NullableStr(max), _) => text(max),
        (Kind::Uuid | Kind::NullableUuid, _) => uuid(),
        (Kind::Bool, _) if as_bool(value).is_some() => Ok(()),
        (Kind::Bool, other) => Err(NeutronError::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!(
                "Invalid input for operation: '{}' cannot be converted to boolean.",
                shown(other)
            ),
        )),
        (Kind::Int, _) if as_int(value).is_some() => Ok(()),
        (Kind::Int, other) => Err(NeutronError::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!(
                "Invalid input for operation: '{}' is not an integer.",
                shown(other)
            ),
        )),
        (Kind::List, Value::Array(_))
        | (Kind::Dict | Kind::NullableDict, Value::Object(_))
        | (Kind::NullableDict, Value::Null) => Ok(()),
        (Kind::List, other) => Err(invalid(key, format!("'{}' is not a list", shown(other)))),
        (Kind::Dict | Kind::NullableDict, other) => Err(invalid(
            key,
            format!("'{}' is not a dictionary", shown(other)),
        )),
    }
}

/// A value as Neutron's messages show it (strings without quotes).
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Neutron's boolean conversion: booleans, 0/1, and their strings.
pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Neutron's integer conversion: integers and their strings.
pub fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Readers of checked attribute maps.
pub trait Attrs {
    fn text(&self, key: &str) -> Option<String>;
    fn flag(&self, key: &str) -> Option<bool>;
    fn int(&self, key: &str) -> Option<i64>;
    /// `None` when absent, `Some(None)` when null.
    fn nullable(&self, key: &str) -> Option<Option<String>>;
    /// The project named by `project_id` or `tenant_id`.
    fn project(&self) -> Option<String>;
}

impl Attrs for Map<String, Value> {
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(as_bool)
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(as_int)
    }

    fn nullable(&self, key: &str) -> Option<Option<String>> {
        self.get(key).map(|v| v.as_str().map(str::to_owned))
    }

    fn project(&self) -> Option<String> {
        self.text("project_id").or_else(|| self.text("tenant_id"))
    }
}

pub fn required(body: &Map<String, Value>, key: &str) -> Result<(), NeutronError> {
    if body.contains_key(key) {
        Ok(())
    } else {
        Err(NeutronError::bad_request(format!(
            "Failed to parse request. Required attribute '{key}' not specified"
        )))
    }
}

/// A list attribute's items decoded as `T`, or Neutron's 400 naming it.
pub fn items<T: serde::de::DeserializeOwned>(
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<T>>, NeutronError> {
    body.get(key)
        .map(|v| {
            serde_json::from_value(v.clone()).map_err(|_| {
                NeutronError::bad_request(format!(
                    "Invalid input for {key}. Reason: Invalid data format for {key}: '{v}'."
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ATTRS: [Attr; 4] = [
        attr("name", Kind::Str(5), true, true),
        attr("shared", Kind::Bool, true, true),
        attr("network_id", Kind::Uuid, true, false),
        attr("id", Kind::Uuid, false, false),
    ];

    fn message(body: Value, method: Method) -> String {
        check(body, "network", &ATTRS, method).unwrap_err().message
    }

    #[test]
    fn bodies_are_checked_as_neutron_does() {
        assert_eq!(
            message(json!({"net": {}}), Method::Post),
            "Unable to find 'network' in request body"
        );
        assert_eq!(
            message(json!({"network": {"nme": "x"}}), Method::Post),
            "Unrecognized attribute(s) 'nme'"
        );
        assert_eq!(
            message(json!({"network": {"id": "x"}}), Method::Post),
            "Attribute 'id' not allowed in POST"
        );
        assert_eq!(
            message(json!({"network": {"network_id": "x"}}), Method::Put),
            "Cannot update read-only attribute network_id"
        );
        assert_eq!(
            message(json!({"network": {"name": "toolong"}}), Method::Post),
            "Invalid input for name. Reason: 'toolong' exceeds maximum length of 5."
        );
        assert_eq!(
            message(json!({"network": {"shared": "maybe"}}), Method::Post),
            "Invalid input for operation: 'maybe' cannot be converted to boolean."
        );
        let ok = check(
            json!({"network": {"shared": "True"}}),
            "network",
            &ATTRS,
            Method::Put,
        )
        .unwrap();
        assert_eq!(ok.flag("shared"), Some(true));
    }
}
