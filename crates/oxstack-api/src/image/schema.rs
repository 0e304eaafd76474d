//! Glance's image schema (`GET /v2/schemas/image`), also used to validate
//! create bodies and patch values, as Glance does.

use serde_json::{Value, json};

pub const DISK_FORMATS: [&str; 11] = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
pub const CONTAINER_FORMATS: [&str; 8] = [
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// Attributes clients may never set.
pub const READ_ONLY: [&str; 13] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
];

/// Whether a property name is reserved for Glance itself.
pub fn is_reserved(name: &str) -> bool {
    matches!(name, "location" | "locations" | "deleted" | "deleted_at")
        || name.starts_with("os_glance")
}

fn nullable_enum(values: &[&str]) -> Value {
    let mut options = vec![Value::Null];
    options.extend(values.iter().map(|v| json!(v)));
    json!({"type": ["null", "string"], "enum": options})
}

/// The image schema document.
pub fn image() -> Value {
    let read_only_string = json!({"type": "string", "readOnly": true});
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "description": "An identifier for the image",
                   "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": {"type": ["null", "string"], "maxLength": 255, "description": "Descriptive name for the image"},
            "status": {"type": "string", "readOnly": true, "description": "Status of the image",
                       "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
                                "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"],
                           "description": "Scope of image accessibility"},
            "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
            "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
            "checksum": {"type": ["null", "string"], "readOnly": true, "maxLength": 32},
            "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "maxLength": 64},
            "os_hash_value": {"type": ["null", "string"], "readOnly": true, "maxLength": 128},
            "owner": {"type": ["null", "string"], "maxLength": 255, "description": "Owner of the image"},
            "size": {"type": ["null", "integer"], "readOnly": true},
            "virtual_size": {"type": ["null", "integer"], "readOnly": true},
            "container_format": nullable_enum(&CONTAINER_FORMATS),
            "disk_format": nullable_enum(&DISK_FORMATS),
            "created_at": read_only_string,
            "updated_at": read_only_string,
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "direct_url": read_only_string,
            "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
            "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
            "self": read_only_string,
            "file": read_only_string,
            "schema": read_only_string,
            "locations": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// `GET /v2/schemas/images`.
pub fn images() -> Value {
    json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// Validates an object against the image schema, with Glance's message.
pub fn validate(value: &Value) -> Result<(), String> {
    let schema = image();
    let check = json!({
        "type": "object",
        "properties": schema["properties"].clone(),
        "additionalProperties": schema["additionalProperties"].clone(),
    });
    match crate::validation::jsonschema_message(&check, value) {
        None => Ok(()),
        Some(message) => Err(format!(
            "Provided object does not match schema 'image': {message}"
        )),
    }
}
