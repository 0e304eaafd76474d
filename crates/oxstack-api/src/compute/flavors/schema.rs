//! Request schemas of the flavor APIs (`nova/api/openstack/compute/schemas/
//! flavors.py`, `flavor_manage.py`, `flavors_extraspecs.py`,
//! `flavor_access.py`), per microversion.

use serde_json::{Value, json};

/// The sort keys Nova accepts for flavor listings.
pub const SORT_KEYS: &[&str] = &[
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

fn multi(schema: Value) -> Value {
    json!({"type": "array", "items": schema})
}

/// Query parameters of `GET /flavors[/detail]`; unknown ones are ignored
/// before 2.75 and refused from 2.75; `name` arrives at 2.102.
pub fn index_query(at_2_75: bool, at_2_102: bool) -> Value {
    let mut props = json!({
        "limit": multi(json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0})),
        "marker": multi(json!({"type": "string"})),
        "is_public": multi(json!({"type": "string"})),
        "minRam": multi(json!({"type": "string"})),
        "minDisk": multi(json!({"type": "string"})),
        "sort_key": multi(json!({"type": "string", "enum": SORT_KEYS})),
        "sort_dir": multi(json!({"type": "string", "enum": ["asc", "desc"]})),
    });
    if at_2_102 {
        props["name"] = multi(json!({"type": "string", "format": "regex"}));
    }
    json!({"type": "object", "properties": props, "additionalProperties": !at_2_75})
}

fn positive() -> Value {
    json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "maximum": 2147483647})
}

fn non_negative() -> Value {
    json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "maximum": 2147483647})
}

/// `POST /flavors`.
pub fn create(version_2_55: bool, version_2_102: bool) -> Value {
    let mut props = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"},
        "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
               "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
        "ram": positive(),
        "vcpus": positive(),
        "disk": non_negative(),
        "OS-FLV-EXT-DATA:ephemeral": non_negative(),
        "swap": non_negative(),
        "rxtx_factor": {"type": ["number", "string"], "pattern": "^[0-9]+(\\.[0-9]+)?$",
                        "exclusiveMinimum": 0, "maximum": 3.40282e38},
        "os-flavor-access:is_public": boolean(),
    });
    if version_2_55 {
        props["description"] = description();
    }
    if version_2_102 {
        props
            .as_object_mut()
            .expect("object")
            .shift_remove("rxtx_factor");
    }
    json!({
        "type": "object",
        "properties": {"flavor": {
            "type": "object", "properties": props,
            "required": ["name", "ram", "vcpus", "disk"], "additionalProperties": false,
        }},
        "required": ["flavor"],
        "additionalProperties": false,
    })
}

/// `PUT /flavors/{id}` (2.55).
pub fn update() -> Value {
    json!({
        "type": "object",
        "properties": {"flavor": {
            "type": "object", "properties": {"description": description()},
            "required": ["description"], "additionalProperties": false,
        }},
        "required": ["flavor"],
        "additionalProperties": false,
    })
}

fn description() -> Value {
    json!({"type": ["string", "null"], "minLength": 0, "maxLength": 65535})
}

/// Nova's `parameter_types.boolean`.
pub fn boolean() -> Value {
    json!({"type": ["boolean", "string"], "enum": [
        true, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
        false, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"]})
}

/// The meaning of a value valid under [`boolean`].
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "on" | "yes"),
        _ => false,
    }
}

const SPEC_KEY: &str = "^[a-zA-Z0-9-_:. ]{1,255}$";

fn spec_value() -> Value {
    json!({"type": ["string", "number", "boolean"], "minLength": 0, "maxLength": 255})
}

/// `POST /flavors/{id}/os-extra_specs`.
pub fn extra_specs_create() -> Value {
    json!({
        "type": "object",
        "properties": {"extra_specs": {
            "type": "object", "patternProperties": {SPEC_KEY: spec_value()}, "additionalProperties": false,
        }},
        "required": ["extra_specs"],
        "additionalProperties": false,
    })
}

/// `PUT /flavors/{id}/os-extra_specs/{key}`: exactly one key.
pub fn extra_spec_update() -> Value {
    json!({
        "type": "object",
        "patternProperties": {SPEC_KEY: spec_value()},
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": false,
    })
}

/// `addTenantAccess` / `removeTenantAccess`.
pub fn tenant_access(action: &str) -> Value {
    json!({
        "type": "object",
        "properties": {action: {
            "type": "object",
            "properties": {"tenant": {"type": "string", "minLength": 1, "maxLength": 255}},
            "required": ["tenant"], "additionalProperties": false,
        }},
        "required": [action],
        "additionalProperties": false,
    })
}
