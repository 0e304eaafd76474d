//! Request schemas of the servers API (`nova/api/openstack/compute/schemas/
//! servers.py`), per microversion.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use serde_json::{Value, json};

use super::super::flavors::boolean_schema as boolean;
use crate::compute::microversion::{Microversion, mv};

fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255, "format": "name"})
}

fn description() -> Value {
    json!({"type": ["string", "null"], "minLength": 0, "maxLength": 255,
           "pattern": "^[^\\x00-\\x1F\\x7F]*$"})
}

fn positive_integer() -> Value {
    json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1})
}

/// Nova's `parameter_types.metadata`.
pub fn metadata() -> Value {
    json!({"type": "object",
           "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
           "additionalProperties": false})
}

/// Nova's `parameter_types.tag`.
pub fn tag() -> Value {
    json!({"type": "string", "pattern": "^[^,/]*$", "minLength": 1, "maxLength": 60})
}

fn hostname(fqdn: bool) -> Value {
    if fqdn {
        json!({"type": "string", "pattern": "^[a-zA-Z0-9-._]*$", "minLength": 1, "maxLength": 255})
    } else {
        json!({"type": "string", "pattern": "^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$",
               "minLength": 2, "maxLength": 63})
    }
}

fn bdm_v2(v: Microversion) -> Value {
    let mut props = json!({
        "virtual_name": {"type": "string", "maxLength": 255},
        "volume_id": {"type": "string", "format": "uuid"},
        "snapshot_id": {"type": "string", "format": "uuid"},
        "volume_size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": 2147483647},
        "device_name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._/-]*$"},
        "delete_on_termination": boolean(),
        "no_device": {},
        "connection_info": {"type": "string", "maxLength": 16777215},
        "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
        "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
        "image_id": {"type": "string", "format": "uuid"},
        "destination_type": {"type": "string", "enum": ["local", "volume"]},
        "guest_format": {"type": "string", "maxLength": 255},
        "device_type": {"type": "string", "maxLength": 255},
        "disk_bus": {"type": "string", "maxLength": 255},
        "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
    });
    if v == mv::DEVICE_TAGS || v >= mv::DEVICE_TAGS_AGAIN {
        props["tag"] = tag();
    }
    if v >= mv::BDM_VOLUME_TYPE {
        props["volume_type"] =
            json!({"type": ["string", "null"], "minLength": 0, "maxLength": 255});
    }
    json!({"type": "object", "properties": props, "additionalProperties": false})
}

fn networks(v: Microversion) -> Value {
    let mut item = json!({
        "fixed_ip": {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        "port": {"type": ["string", "null"], "format": "uuid"},
        "uuid": {"type": "string"},
    });
    if (mv::DEVICE_TAGS..mv::AUTO_NETWORKS).contains(&v) || v >= mv::DEVICE_TAGS_AGAIN {
        item["tag"] = tag();
    }
    if v >= mv::AUTO_NETWORKS {
        item["uuid"] = json!({"type": "string", "format": "uuid"});
    }
    let list = json!({"type": "array", "items": {"type": "object", "properties": item, "additionalProperties": false}});
    if v >= mv::AUTO_NETWORKS {
        json!({"oneOf": [list, {"type": "string", "enum": ["none", "auto"]}]})
    } else {
        list
    }
}

fn scheduler_hints() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    json!({
        "type": "object",
        "properties": {
            "group": {"oneOf": [{"type": "array", "items": uuid}, uuid]},
            "different_host": {"oneOf": [uuid, {"type": "array", "items": uuid}]},
            "same_host": {"type": ["string", "array"], "items": uuid},
            "query": {"type": ["string", "object"]},
            "target_cell": name(),
            "different_cell": {"type": ["string", "array"], "items": {"type": "string"}},
            "build_near_host_ip": {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
            "cidr": {"type": "string", "pattern": "^/[0-9a-f.:]+$"},
        },
        "additionalProperties": true,
    })
}

/// `POST /servers`' schema at microversion `v`, built once per version:
/// building it (a few hundred `json!` values) cost a boot more than
/// validating its body against it.
pub fn create_cached(v: Microversion) -> Arc<Value> {
    static BUILT: LazyLock<RwLock<HashMap<Microversion, Arc<Value>>>> =
        LazyLock::new(RwLock::default);
    let built = BUILT.read().ok().and_then(|b| b.get(&v).cloned());
    built.unwrap_or_else(|| {
        let schema = Arc::new(create(v));
        if let Ok(mut b) = BUILT.write() {
            b.insert(v, schema.clone());
        }
        schema
    })
}

/// `POST /servers` at microversion `v`.
pub fn create(v: Microversion) -> Value {
    let mut server = json!({
        "name": name(),
        "imageRef": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "adminPass": {"type": "string"},
        "metadata": metadata(),
        "networks": networks(v),
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "personality": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "contents": {"type": "string", "format": "base64"}},
            "additionalProperties": false}},
        "availability_zone": name(),
        "block_device_mapping": {"type": "array", "items": {"type": "object"}},
        "block_device_mapping_v2": {"type": "array", "items": bdm_v2(v)},
        "config_drive": boolean(),
        "key_name": name(),
        "min_count": positive_integer(),
        "max_count": positive_integer(),
        "return_reservation_id": boolean(),
        "security_groups": {"type": "array", "items": {"type": "object",
            "properties": {"name": name()}, "additionalProperties": false}},
        "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
    });
    let mut required = vec!["name", "flavorRef"];
    if v >= mv::SERVER_DESCRIPTION {
        server["description"] = description();
    }
    if v >= mv::AUTO_NETWORKS {
        required.push("networks");
    }
    if v >= mv::TAGS_ON_CREATE {
        server["tags"] = json!({"type": "array", "items": tag(), "maxItems": 50});
    }
    if v >= mv::REBUILD_USER_DATA
        && let Some(map) = server.as_object_mut()
    {
        map.shift_remove("personality");
    }
    if v >= mv::TRUSTED_CERTS {
        server["trusted_image_certificates"] = json!({"type": ["array", "null"], "minItems": 1,
            "maxItems": 50, "uniqueItems": true, "items": {"type": "string", "minLength": 1}});
    }
    if v >= mv::CREATE_ON_HOST {
        server["host"] = hostname(true);
        server["hypervisor_hostname"] = hostname(true);
    }
    if v >= mv::HOSTNAME {
        server["hostname"] = hostname(v >= mv::FQDN_HOSTNAME);
    }
    json!({
        "type": "object",
        "properties": {
            "server": {"type": "object", "properties": server, "required": required,
                       "additionalProperties": false},
            "os:scheduler_hints": scheduler_hints(),
            "OS-SCH-HNT:scheduler_hints": scheduler_hints(),
        },
        "required": ["server"],
        "additionalProperties": false,
    })
}

/// The `rebuild` action at microversion `v`.
pub fn rebuild(v: Microversion) -> Value {
    let mut rebuild = json!({
        "imageRef": {"type": "string", "format": "uuid"},
        "name": name(),
        "adminPass": {"type": "string"},
        "metadata": metadata(),
        "preserve_ephemeral": boolean(),
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "personality": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "contents": {"type": "string", "format": "base64"}},
            "additionalProperties": false}},
    });
    if v >= mv::SERVER_DESCRIPTION {
        rebuild["description"] = description();
    }
    if v >= mv::REBUILD_KEY_NAME {
        rebuild["key_name"] = json!({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "null"}]});
    }
    if v >= mv::REBUILD_USER_DATA {
        if let Some(map) = rebuild.as_object_mut() {
            map.shift_remove("personality");
        }
        rebuild["user_data"] = json!({"oneOf": [
            {"type": "string", "format": "base64", "maxLength": 65535}, {"type": "null"}]});
    }
    if v >= mv::TRUSTED_CERTS {
        rebuild["trusted_image_certificates"] = json!({"type": ["array", "null"], "minItems": 1,
            "maxItems": 50, "uniqueItems": true, "items": {"type": "string", "minLength": 1}});
    }
    if v >= mv::HOSTNAME {
        rebuild["hostname"] = hostname(v >= mv::FQDN_HOSTNAME);
    }
    json!({
        "type": "object",
        "properties": {"rebuild": {"type": "object", "properties": rebuild,
                                   "required": ["imageRef"], "additionalProperties": false}},
        "required": ["rebuild"],
        "additionalProperties": false,
    })
}

/// `PUT /servers/{id}` at microversion `v`.
pub fn update(v: Microversion) -> Value {
    let mut server = json!({
        "name": name(),
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
    });
    if v >= mv::SERVER_DESCRIPTION {
        server["description"] = description();
    }
    if v >= mv::HOSTNAME {
        server["hostname"] = hostname(v >= mv::FQDN_HOSTNAME);
    }
    if v >= mv::UNPIN_ZONE {
        server["pinned_availability_zone"] = json!({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "null"}]});
    }
    json!({
        "type": "object",
        "properties": {"server": {"type": "object", "properties": server, "additionalProperties": false}},
        "required": ["server"],
        "additionalProperties": false,
    })
}

/// Sort keys accepted but ignored (before 2.75; from 2.73 without `locked`).
pub const IGNORED_SORT_KEYS: &[&str] = &[
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
];

/// Sort keys that sort.
pub const SORT_KEYS: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];

/// Plain (multi-valued string) list filters.
const PLAIN: &[&str] = &[
    "user_id",
    "project_id",
    "tenant_id",
    "launch_index",
    "image_ref",
    "image",
    "vm_state",
    "task_state",
    "host",
    "uuid",
    "sort_dir",
    "all_tenants",
    "soft_deleted",
    "deleted",
    "status",
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
    "marker",
];

/// Filters whose values must be valid regular expressions.
const REGEX: &[&str] = &[
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "ip",
    "ip6",
    "created_at",
];

fn multi(item: Value) -> Value {
    json!({"type": "array", "items": item})
}

/// The sort keys the query schema accepts at microversion `v`.
pub fn valid_sort_keys(v: Microversion) -> Vec<&'static str> {
    let mut keys: Vec<&str> = SORT_KEYS.to_vec();
    if v >= mv::LOCKED_REASON {
        keys.push("locked");
    }
    if v < mv::STRICT_QUERIES {
        keys.extend(
            IGNORED_SORT_KEYS
                .iter()
                .filter(|k| v < mv::LOCKED_REASON || **k != "locked"),
        );
    }
    keys
}

/// The query schema of `GET /servers[/detail]` at microversion `v`.
pub fn index_query(v: Microversion) -> Value {
    let mut props = serde_json::Map::new();
    for key in PLAIN {
        props.insert((*key).into(), multi(json!({"type": "string"})));
    }
    for key in REGEX {
        props.insert(
            (*key).into(),
            multi(json!({"type": "string", "format": "regex"})),
        );
    }
    props.insert(
        "limit".into(),
        multi(json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0})),
    );
    props.insert(
        "sort_key".into(),
        multi(json!({"type": "string", "enum": valid_sort_keys(v)})),
    );
    props.insert(
        "changes-since".into(),
        multi(json!({"type": "string", "format": "date-time"})),
    );
    if v >= mv::SERVER_TAGS {
        for key in ["tags", "tags-any", "not-tags", "not-tags-any"] {
            props.insert(
                key.into(),
                multi(json!({"type": "string", "format": "regex"})),
            );
        }
    }
    if v >= mv::CHANGES_BEFORE {
        props.insert(
            "changes-before".into(),
            multi(json!({"type": "string", "format": "date-time"})),
        );
    }
    if v >= mv::LOCKED_REASON {
        props.insert("locked".into(), multi(json!({"type": "string"})));
    }
    json!({
        "type": "object",
        "properties": props,
        "patternProperties": {"^_": multi(json!({"type": "string"}))},
        "additionalProperties": v < mv::STRICT_QUERIES,
    })
}
