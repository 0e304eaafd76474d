//! Messages checked against the ones Nova documents (nova-api.md §5.1) and
//! python-jsonschema prints.

use serde_json::{Value, json};

use super::{Source, validate};

fn body_error(schema: &Value, instance: Value) -> String {
    validate(schema, &instance, Source::Body).expect_err("should fail")
}

fn server_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "server": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"},
                    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                    "imageRef": {"type": "string", "format": "uuid"},
                    "min_count": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1},
                    "networks": {"oneOf": [{"type": "array"}, {"type": "string", "enum": ["none", "auto"]}]},
                    "metadata": {
                        "type": "object",
                        "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
                        "additionalProperties": false,
                    },
                },
                "required": ["name", "flavorRef"],
                "additionalProperties": false,
            },
        },
        "required": ["server"],
        "additionalProperties": false,
    })
}

#[test]
fn root_errors_are_bare_messages() {
    let s = server_schema();
    assert_eq!(body_error(&s, json!({})), "'server' is a required property");
    assert_eq!(body_error(&s, json!(null)), "None is not of type 'object'");
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "a", "flavorRef": "1"}, "foo": 1})
        ),
        "Additional properties are not allowed ('foo' was unexpected)"
    );
}

#[test]
fn nested_errors_name_the_field_and_value() {
    let s = server_schema();
    assert_eq!(
        body_error(&s, json!({"server": {"name": "x"}})),
        "Invalid input for field/attribute server. Value: {'name': 'x'}. 'flavorRef' is a required property"
    );
    assert_eq!(
        body_error(&s, json!({"server": {"name": 1, "flavorRef": "1"}})),
        "Invalid input for field/attribute name. Value: 1. 1 is not of type 'string'"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "imageRef": "abc"}})
        ),
        "Invalid input for field/attribute imageRef. Value: abc. 'abc' is not a 'uuid'"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "min_count": 0}})
        ),
        "Invalid input for field/attribute min_count. Value: 0. 0 is less than the minimum of 1"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "min_count": "0"}})
        ),
        "Invalid input for field/attribute min_count. Value: 0. 0 is less than the minimum of 1",
        "numeric strings are compared as numbers"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "min_count": "a"}})
        ),
        "Invalid input for field/attribute min_count. Value: a. 'a' does not match '^[0-9]*$'"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "networks": "all"}})
        ),
        "Invalid input for field/attribute networks. Value: all. 'all' is not valid under any of the given schemas"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "metadata": {"a/b": "c"}}})
        ),
        "Invalid input for field/attribute metadata. Value: {'a/b': 'c'}. 'a/b' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'"
    );
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "x", "flavorRef": "1", "metadata": {"k": "v".repeat(256)}}})
        ),
        format!(
            "Invalid input for field/attribute k. Value: {0}. '{0}' is too long",
            "v".repeat(256)
        )
    );
}

#[test]
fn shallowest_error_wins_and_name_format_replaces_the_message() {
    let s = server_schema();
    // additionalProperties at `server` beats the nested name error.
    assert_eq!(
        body_error(
            &s,
            json!({"server": {"name": "", "flavorRef": "1", "bogus": true}})
        ),
        "Invalid input for field/attribute server. Value: {'name': '', 'flavorRef': '1', 'bogus': True}. Additional properties are not allowed ('bogus' was unexpected)"
    );
    assert_eq!(
        body_error(&s, json!({"server": {"name": " padded", "flavorRef": "1"}})),
        "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace."
    );
    assert_eq!(
        body_error(&s, json!({"server": {"name": "x", "flavorRef": ""}})),
        "Invalid input for field/attribute flavorRef. Value: . '' should be non-empty"
    );
}

#[test]
fn query_errors_say_query_parameters_and_valid_input_passes() {
    let schema = json!({"type": "object", "properties": {"limit": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"}}}});
    assert_eq!(
        validate(&schema, &json!({"limit": ["x"]}), Source::Query).unwrap_err(),
        "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]+$'"
    );
    assert!(validate(&schema, &json!({"limit": ["10"]}), Source::Query).is_ok());
    let s = server_schema();
    let ok = json!({"server": {"name": "vm", "flavorRef": 1, "networks": "auto", "min_count": "2", "metadata": {"k": "v"}}});
    assert!(validate(&s, &ok, Source::Body).is_ok());
}

#[test]
fn undeclared_keys_are_told_apart_as_ignored_or_refused() {
    let schema = json!({
        "type": "object",
        "properties": {
            "server": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "networks": {"type": "array", "items": {
                        "type": "object", "properties": {"uuid": {}},
                        "additionalProperties": false}},
                    "metadata": {"type": "object", "patternProperties": {"^[a-z]+$": {}}},
                },
                "additionalProperties": false,
            },
        },
    });
    let body = json!({
        "server": {"name": "x", "bogus": 1, "networks": [{"uuid": "u", "port": "p"}],
                   "metadata": {"ok": "v"}},
        "os:hints": {},
    });
    assert_eq!(
        super::undeclared_keys(&schema, &body),
        super::UndeclaredKeys {
            ignored: vec!["os:hints".into()],
            rejected: vec!["server.bogus".into(), "server.networks[].port".into()],
        }
    );
    // A schema that declares nothing names nothing.
    assert_eq!(
        super::undeclared_keys(&json!({"anyOf": []}), &body),
        super::UndeclaredKeys::default()
    );
}
