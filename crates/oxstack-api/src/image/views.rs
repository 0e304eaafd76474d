//! Glance's image JSON: extra properties at the top level, then every core
//! attribute (null when unset), timestamps as `YYYY-MM-DDTHH:MM:SSZ`, and
//! relative `self`/`file`/`schema` links.

use oxstack_image::Image;
use serde_json::{Map, Value, json};

/// Glance's timestamp format (no fractional seconds), also that of Nova's
/// image proxy.
pub fn isotime(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn image(image: &Image) -> Value {
    let r = &image.row;
    let mut v = Map::new();
    for (k, value) in &image.properties {
        v.insert(k.clone(), json!(value));
    }
    let fields = [
        ("name", json!(r.name)),
        ("disk_format", json!(r.disk_format)),
        ("container_format", json!(r.container_format)),
        ("visibility", json!(r.visibility)),
        ("size", json!(r.size)),
        ("virtual_size", json!(r.virtual_size)),
        ("status", json!(r.status)),
        ("checksum", json!(r.checksum)),
        ("protected", json!(r.protected)),
        ("min_ram", json!(r.min_ram)),
        ("min_disk", json!(r.min_disk)),
        ("owner", json!(r.owner)),
        ("os_hidden", json!(r.os_hidden)),
        ("os_hash_algo", json!(r.os_hash_algo)),
        ("os_hash_value", json!(r.os_hash_value)),
        ("id", json!(r.id)),
        ("created_at", json!(isotime(r.created_at))),
        ("updated_at", json!(isotime(r.updated_at))),
        ("tags", json!(image.tags)),
        ("self", json!(format!("/v2/images/{}", r.id))),
        ("file", json!(format!("/v2/images/{}/file", r.id))),
        ("schema", json!("/v2/schemas/image")),
    ];
    for (k, value) in fields {
        v.insert(k.to_owned(), value);
    }
    Value::Object(v)
}
