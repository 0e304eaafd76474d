//! Keystone's JSON shapes for the entities, shared by the handlers.

use oxstack_identity::{Domain, Project, Role, User};
use serde_json::{Value, json};

/// `http://host/identity/v3`.
pub fn v3_url(base: &str) -> String {
    format!("{base}/identity/v3")
}

/// The `links` of a collection (oxstack returns whole collections).
pub fn collection_links(base: &str, path: &str) -> Value {
    json!({"self": format!("{}/{path}", v3_url(base)), "previous": null, "next": null})
}

pub fn domain(base: &str, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": [], "options": {},
        "links": {"self": format!("{}/domains/{}", v3_url(base), d.id)},
    })
}

pub fn project(base: &str, p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "is_domain": false, "parent_id": p.domain_id, "tags": [], "options": {},
        "links": {"self": format!("{}/projects/{}", v3_url(base), p.id)},
    })
}

pub fn user(base: &str, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": null, "options": {},
        "links": {"self": format!("{}/users/{}", v3_url(base), u.id)},
    });
    for (key, value) in [
        ("default_project_id", &u.default_project_id),
        ("email", &u.email),
        ("description", &u.description),
    ] {
        if let Some(value) = value {
            v[key] = json!(value);
        }
    }
    v
}

pub fn role(base: &str, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": null, "description": r.description, "options": {},
        "links": {"self": format!("{}/roles/{}", v3_url(base), r.id)},
    })
}

/// `{"id", "name"}` of a domain, as nested in tokens and assignments.
pub fn domain_ref(d: &Domain) -> Value {
    json!({"id": d.id, "name": d.name})
}

/// Keystone's timestamp format: `2015-11-05T22:00:11.000000Z`.
pub fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}
