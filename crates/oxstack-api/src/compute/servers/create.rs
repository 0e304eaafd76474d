//! `POST /servers`: the body validated with Nova's schema for the
//! microversion, translated into a domain [`CreateRequest`] the way
//! `servers.py create()` reads it, and Nova's 202 response.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use oxstack_compute::servers::{BootImage, CreateRequest, Networks, RequestedNic};
use oxstack_identity::Rule;
use oxstack_image::{Image, ImageError};
use serde_json::{Map, Value, json};

use super::super::error::NovaError;
use super::super::flavors::is_true;
use super::super::images::viewer;
use super::super::request::{NovaBody, Req};
use super::{schema, views};
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;
use crate::validation::is_uuid_like;

/// Image properties that describe the guest (Nova's `ImageMetaProps`
/// families), shown as `image.properties` from 2.98.
fn is_guest_property(name: &str) -> bool {
    const PREFIXES: [&str; 4] = ["hw_", "img_", "os_", "trait:"];
    const NAMES: [&str; 4] = [
        "architecture",
        "hypervisor_type",
        "vm_mode",
        "auto_disk_config",
    ];
    (PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name))
        && !matches!(name, "os_hidden" | "os_hash_algo" | "os_hash_value")
        && !name.starts_with("os_glance")
}

/// The images a guest boots directly (`-kernel`/`-initrd`): kept with
/// the server for its hypervisor, not shown (Nova keeps them as the
/// instance's `kernel_id`/`ramdisk_id`, outside `image.properties`).
pub(in crate::compute) const BOOT_REFERENCES: [&str; 2] = ["kernel_id", "ramdisk_id"];

pub(in crate::compute) fn boot_image(image: &Image) -> BootImage {
    BootImage {
        id: image.row.id.clone(),
        status: image.row.status.clone(),
        min_ram_mb: image.row.min_ram,
        min_disk_gb: image.row.min_disk,
        size_bytes: image.row.size,
        properties: image
            .properties
            .iter()
            .filter(|(k, _)| is_guest_property(k) || BOOT_REFERENCES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn string_of(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

fn count_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Nova's `get_id_from_href`: the last path segment of a flavor reference.
pub(in crate::compute) fn id_from_href(value: &Value) -> String {
    match value {
        Value::String(s) => s
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(s)
            .to_owned(),
        other => other.to_string(),
    }
}

fn requested_networks(req: &Req, server: &Map<String, Value>) -> Result<Networks, NovaError> {
    let Some(networks) = server.get("networks") else {
        return Ok(Networks::Auto);
    };
    let items = match networks {
        Value::String(s) if s == "none" => return Ok(Networks::None),
        Value::String(_) => return Ok(Networks::Auto),
        Value::Array(items) => items,
        _ => return Err(NovaError::bad_request("Bad networks format")),
    };
    let mut nics = Vec::new();
    let mut ports = Vec::new();
    for item in items {
        let port = string_of(item.get("port"));
        let fixed_ip = string_of(item.get("fixed_ip"));
        if let Some(port) = &port {
            if ports.contains(port) {
                return Err(NovaError::bad_request(format!(
                    "Port ID '{port}' was specified twice: you cannot attach a port multiple times."
                )));
            }
            if let Some(addr) = &fixed_ip {
                return Err(NovaError::bad_request(format!(
                    "Specified Fixed IP '{addr}' cannot be used with port '{port}': the two cannot be specified together."
                )));
            }
            ports.push(port.clone());
        }
        let network_id = string_of(item.get("uuid"));
        match (&port, &network_id) {
            (None, None) => {
                return Err(NovaError::bad_request("Bad network format: missing 'uuid'"));
            }
            (None, Some(id)) if !req.at_least(mv::AUTO_NETWORKS) && !is_uuid_like(id) => {
                return Err(NovaError::bad_request(format!(
                    "Bad networks format: network uuid is not in proper format ({id})"
                )));
            }
            _ => {}
        }
        nics.push(RequestedNic {
            network_id,
            port,
            fixed_ip: fixed_ip.and_then(|a| a.parse().ok()),
            tag: string_of(item.get("tag")),
        });
    }
    Ok(Networks::List(nics))
}

/// Scheduler hints, `os:` spelling first, Nova's private `_nova` keys dropped.
fn scheduler_hints(body: &Value) -> Map<String, Value> {
    let hints = body
        .get("os:scheduler_hints")
        .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    hints
        .into_iter()
        .filter(|(k, _)| !k.starts_with("_nova"))
        .collect()
}

pub async fn create_server(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let body = body.validate(&schema::create_cached(req.version))?;
    req.authorize("os_compute_api:servers:create", Rule::ProjectMember)?;
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| server.get(k);

    let name = string_of(get("name")).unwrap_or_default().trim().to_owned();
    let description = if req.at_least(mv::SERVER_DESCRIPTION) {
        string_of(get("description"))
    } else {
        Some(name.clone())
    };
    let min_count = count_of(get("min_count")).unwrap_or(1);
    let max_count = count_of(get("max_count")).unwrap_or(min_count);
    if (get("host").is_some() || get("hypervisor_hostname").is_some())
        && req.at_least(mv::CREATE_ON_HOST)
    {
        req.authorize("compute:servers:create:requested_destination", Rule::Admin)?;
    }
    let (mut block_devices, boot_volume) =
        super::block_devices::block_devices(&state, &req, &server, min_count).await?;
    let image_ref = string_of(get("imageRef")).unwrap_or_default();
    if image_ref.is_empty() && boot_volume.is_none() {
        return Err(NovaError::bad_request("Missing imageRef attribute"));
    }
    let networks = requested_networks(&req, &server)?;
    let image = match boot_volume {
        // Volume-backed: the server keeps no image of its own.
        Some(boot) => boot,
        None => match state.images().get(viewer(&req), &image_ref).await {
            Ok(image) => {
                // The snapshot of a volume-backed server maps volume
                // snapshots: the server boots from volumes made of them.
                if !block_devices.iter().any(|b| b.boot_index == Some(0)) {
                    block_devices.splice(0..0, super::block_devices::image_defined(&image));
                }
                boot_image(&image)
            }
            Err(ImageError::NotFound(_) | ImageError::Forbidden(_)) => {
                return Err(NovaError::bad_request("Can not find requested image"));
            }
            Err(e) => return Err(super::super::images::image_error(e)),
        },
    };
    let strings = |k: &str| -> Vec<String> {
        get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let request = CreateRequest {
        name,
        description,
        image: Some(image),
        flavor_id: get("flavorRef").map(id_from_href).unwrap_or_default(),
        networks,
        metadata: get("metadata")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
        personality: get("personality")
            .and_then(Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .map(|f| {
                        (
                            string_of(f.get("path")).unwrap_or_default(),
                            string_of(f.get("contents")).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        user_data: string_of(get("user_data")),
        key_name: string_of(get("key_name")),
        security_groups: get("security_groups")
            .and_then(Value::as_array)
            .map(|groups| {
                groups
                    .iter()
                    .filter_map(|g| string_of(g.get("name")))
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        availability_zone: string_of(get("availability_zone")),
        config_drive: get("config_drive").is_some_and(is_true),
        admin_pass: string_of(get("adminPass")),
        access_ip_v4: string_of(get("accessIPv4")),
        access_ip_v6: string_of(get("accessIPv6")),
        auto_disk_config: get("OS-DCF:diskConfig").and_then(Value::as_str) == Some("AUTO"),
        tags: strings("tags"),
        trusted_certs: get("trusted_image_certificates")
            .filter(|v| !v.is_null())
            .map(|_| strings("trusted_image_certificates")),
        hostname: string_of(get("hostname")),
        requested_host: string_of(get("host")),
        requested_node: string_of(get("hypervisor_hostname")),
        scheduler_hints: scheduler_hints(body),
        min_count,
        max_count,
        block_devices,
    };
    let created = state
        .compute()
        .create_servers(&views::caller(&req), request)
        .await?;

    if get("return_reservation_id").is_some_and(python_truthy) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(envelope("reservation_id", created.reservation_id)),
        )
            .into_response());
    }
    let Some(first) = created.servers.first() else {
        return Err(NovaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no server was created",
        ));
    };
    let links = req.links("servers", &first.uuid);
    let location = links[0]["href"].as_str().unwrap_or_default().to_owned();
    let mut out = json!({
        "id": first.uuid,
        "links": links,
        "OS-DCF:diskConfig": if first.auto_disk_config { "AUTO" } else { "MANUAL" },
        "security_groups": get("security_groups").cloned().unwrap_or_else(|| json!([{"name": "default"}])),
    });
    if let Some(pass) = created.admin_pass {
        out["adminPass"] = json!(pass);
    }
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(envelope("server", out)),
    )
        .into_response())
}

/// Python's truth value of a JSON value (Nova reads `return_reservation_id`
/// without parsing it as a boolean, so `"False"` is true).
fn python_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        _ => true,
    }
}
