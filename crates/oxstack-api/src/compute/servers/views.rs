//! The server representation, per microversion and caller
//! (`nova/api/openstack/compute/views/servers.py`): the base keys in Nova's
//! order, then the extension keys, each appearing at the version Nova
//! added it; admin-only attributes only for admins.

use std::fmt::Write;

use oxstack_compute::model::states::VmState;
use oxstack_compute::model::{Fault, Server};
use oxstack_compute::servers::Caller;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};

use super::super::request::Req;
use crate::compute::microversion::mv;
use crate::envelope::envelope;

/// Which response a server is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /servers/{id}`, and update/rebuild from 2.75.
    Show,
    /// An item of `GET /servers/detail`.
    Detail,
    /// `PUT /servers/{id}` before 2.75: the short form.
    UpdateBefore275,
    /// The `rebuild` answer: the update form (full from 2.75) without the
    /// extended `user_data`, with `key_name` from 2.54 and the top-level
    /// `user_data` from 2.57.
    Rebuild,
}

/// Statuses that show `progress`.
const WITH_PROGRESS: [&str; 6] = [
    "ACTIVE",
    "BUILD",
    "REBUILD",
    "RESIZE",
    "VERIFY_RESIZE",
    "MIGRATING",
];

/// The caller of a compute request, as the domain sees it.
pub fn caller(req: &Req) -> Caller {
    Caller {
        project_id: req.ctx.project_id.clone(),
        user_id: req.ctx.user_id.clone(),
        is_admin: req.ctx.is_admin(),
        request_id: req.request_id.clone(),
    }
}

/// Nova's `utils.isotime`: seconds, `Z`.
pub fn isotime(micros: i64) -> String {
    crate::image::isotime(micros)
}

/// A naive datetime as Nova's jsonutils prints it (microseconds, no zone).
pub fn naive_time(micros: Option<i64>) -> Value {
    match micros.and_then(chrono::DateTime::from_timestamp_micros) {
        Some(t) => json!(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        None => Value::Null,
    }
}

/// Nova's `generate_hostid`: per project, so projects cannot correlate hosts.
pub fn host_id(s: &Server) -> String {
    match s.host.as_deref() {
        Some(host) if !host.is_empty() => {
            let digest = Sha224::new()
                .chain_update(s.project_id.as_bytes())
                .chain_update(host.as_bytes())
                .finalize();
            let mut hex = String::with_capacity(2 * digest.len());
            for b in digest {
                // Writing into a String cannot fail.
                let _ = write!(hex, "{b:02x}");
            }
            hex
        }
        _ => String::new(),
    }
}

/// `addresses`: `{network name: [{version, addr, (type, mac)}]}`, each
/// network's fixed addresses then the floating ones associated with them,
/// networks in the order of the server's ports.
pub fn addresses(s: &Server, extended: bool) -> Value {
    let entry = |version: i64, addr: &str, kind: &str, mac: &str| {
        if extended {
            json!({"version": version, "addr": addr, "OS-EXT-IPS:type": kind, "OS-EXT-IPS-MAC:mac_addr": mac})
        } else {
            json!({"version": version, "addr": addr})
        }
    };
    let mut networks = serde_json::Map::new();
    let mut push = |label: &str, item: Value| match networks.get_mut(label) {
        Some(Value::Array(items)) => items.push(item),
        _ => {
            networks.insert(label.to_owned(), Value::Array(vec![item]));
        }
    };
    for ip in &s.fixed_ips {
        push(
            &ip.network,
            entry(ip.version, &ip.address, "fixed", &ip.mac),
        );
    }
    for floating in &s.floating_ips {
        if let Some(ip) = s
            .fixed_ips
            .iter()
            .find(|ip| ip.address == floating.fixed_address)
        {
            push(
                &ip.network,
                entry(4, &floating.address, "floating", &ip.mac),
            );
        }
    }
    Value::Object(networks)
}

fn flavor(req: &Req, s: &Server) -> Value {
    let f = &s.flavor;
    if !req.at_least(mv::EMBEDDED_FLAVOR) {
        return json!({
            "id": f.id,
            "links": [{"rel": "bookmark", "href": format!("{}/flavors/{}", req.root.bookmark_url, f.id)}],
        });
    }
    let mut out = json!({
        "vcpus": f.vcpus,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        "ephemeral": f.ephemeral_gb,
        "swap": f.swap_mb,
        "original_name": f.name,
    });
    if req.ctx.allows(Rule::ProjectReader, &s.project_id) {
        out["extra_specs"] = json!(f.extra_specs);
    }
    out
}

fn image(req: &Req, s: &Server) -> Value {
    if s.image.id.is_empty() {
        return json!("");
    }
    let mut image = json!({
        "id": s.image.id,
        "links": [{"rel": "bookmark", "href": format!("{}/images/{}", req.root.bookmark_url, s.image.id)}],
    });
    if req.at_least(mv::IMAGE_PROPERTIES) {
        let shown: serde_json::Map<String, Value> = s
            .image
            .properties
            .iter()
            .filter(|(k, _)| !super::create::BOOT_REFERENCES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        image["properties"] = Value::Object(shown);
    }
    image
}

fn fault(req: &Req, f: &Fault) -> Value {
    let mut out = json!({
        "code": f.code,
        "created": isotime(f.created),
        "message": f.message,
    });
    if !f.details.is_empty() && (req.ctx.is_admin() || f.code != 500) {
        out["details"] = json!(f.details);
    }
    out
}

fn security_groups(s: &Server) -> Option<Value> {
    (!s.security_groups.is_empty() && !s.fixed_ips.is_empty()).then(|| {
        Value::Array(
            s.security_groups
                .iter()
                .map(|n| envelope("name", n.clone()))
                .collect(),
        )
    })
}

/// The full representation of a server.
pub fn server(req: &Req, s: &Server, kind: Kind) -> Value {
    let admin = req.ctx.is_admin();
    let status = s.status();
    let mut v = Map::with_capacity(48);
    let mut put = |k: &str, value: Value| {
        v.insert(k.to_owned(), value);
    };
    put(
        "accessIPv4",
        json!(s.access_ip_v4.clone().unwrap_or_default()),
    );
    put(
        "accessIPv6",
        json!(s.access_ip_v6.clone().unwrap_or_default()),
    );
    let full = match kind {
        Kind::Show | Kind::Detail => true,
        Kind::UpdateBefore275 => false,
        Kind::Rebuild => req.at_least(mv::STRICT_QUERIES),
    };
    let addresses = if s.vm_state == VmState::Building {
        json!({})
    } else {
        addresses(s, full)
    };
    put("addresses", addresses);
    put("created", json!(isotime(s.created_at)));
    put("flavor", flavor(req, s));
    put("hostId", json!(host_id(s)));
    put("id", json!(s.uuid));
    put("image", image(req, s));
    put("links", req.links("servers", &s.uuid));
    put("metadata", json!(s.metadata));
    put("name", json!(s.name));
    put("status", json!(status));
    put("tenant_id", json!(s.project_id));
    put("user_id", json!(s.user_id));
    put(
        "updated",
        json!(isotime(s.updated_at.unwrap_or(s.created_at))),
    );
    put(
        "OS-DCF:diskConfig",
        json!(if s.auto_disk_config { "AUTO" } else { "MANUAL" }),
    );
    if matches!(status, "ERROR" | "DELETED")
        && let Some(f) = &s.fault
    {
        put("fault", fault(req, f));
    }
    if WITH_PROGRESS.contains(&status) {
        put("progress", json!(s.progress));
    }
    if kind == Kind::Rebuild && !full && req.at_least(mv::REBUILD_KEY_NAME) {
        put("key_name", json!(s.key_name));
    }
    if full {
        put(
            "OS-EXT-AZ:availability_zone",
            json!(s.availability_zone.clone().unwrap_or_default()),
        );
        put(
            "config_drive",
            json!(if s.config_drive { "True" } else { "" }),
        );
        put("key_name", json!(s.key_name));
        put("OS-SRV-USG:launched_at", naive_time(s.launched_at));
        put("OS-SRV-USG:terminated_at", naive_time(s.terminated_at));
        // Detail listings put these last (below).
        if kind != Kind::Detail
            && let Some(groups) = security_groups(s)
        {
            put("security_groups", groups);
        }
        if admin {
            put("OS-EXT-SRV-ATTR:host", json!(s.host));
            put("OS-EXT-SRV-ATTR:instance_name", json!(s.instance_name()));
            put("OS-EXT-SRV-ATTR:hypervisor_hostname", json!(s.node));
            if req.at_least(mv::EXTENDED_SERVER_ATTRIBUTES) {
                put("OS-EXT-SRV-ATTR:hostname", json!(s.hostname));
                put("OS-EXT-SRV-ATTR:kernel_id", json!(""));
                put("OS-EXT-SRV-ATTR:launch_index", json!(s.launch_index));
                put("OS-EXT-SRV-ATTR:ramdisk_id", json!(""));
                put("OS-EXT-SRV-ATTR:reservation_id", json!(s.reservation_id));
                put(
                    "OS-EXT-SRV-ATTR:root_device_name",
                    json!(s.root_device_name),
                );
                if kind != Kind::Rebuild {
                    put("OS-EXT-SRV-ATTR:user_data", json!(s.user_data));
                }
            }
        }
        put(
            "OS-EXT-STS:task_state",
            json!(s.task_state.map(|t| t.as_str())),
        );
        put("OS-EXT-STS:vm_state", json!(s.vm_state.as_str()));
        put("OS-EXT-STS:power_state", json!(s.power_state.code()));
        // 2.3 adds each volume's delete_on_termination.
        let volumes: Vec<Value> = s
            .volumes
            .iter()
            .map(|v| {
                if req.at_least(mv::EXTENDED_SERVER_ATTRIBUTES) {
                    json!({"id": v.id, "delete_on_termination": v.delete_on_termination})
                } else {
                    json!({"id": v.id})
                }
            })
            .collect();
        put(
            "os-extended-volumes:volumes_attached",
            Value::Array(volumes),
        );
    }
    if req.at_least(mv::LOCKED) {
        put("locked", json!(s.locked_by.is_some()));
    }
    let host_status =
        (full && admin && req.at_least(mv::HOST_STATUS)).then(|| json!(host_status(s)));
    if kind != Kind::Detail
        && let Some(hs) = &host_status
    {
        put("host_status", hs.clone());
    }
    if req.at_least(mv::SERVER_DESCRIPTION) {
        put("description", json!(s.description));
    }
    if req.at_least(mv::SERVER_TAGS) {
        put("tags", json!(s.tags));
    }
    if req.at_least(mv::TRUSTED_CERTS) {
        put("trusted_image_certificates", json!(s.trusted_certs));
    }
    if req.at_least(mv::SERVER_GROUPS_IN_VIEW) && kind != Kind::Detail {
        put(
            "server_groups",
            json!(s.server_group.iter().collect::<Vec<_>>()),
        );
    }
    if req.at_least(mv::LOCKED_REASON) {
        put("locked_reason", json!(s.locked_reason));
    }
    if req.at_least(mv::HOSTNAME) && !admin {
        put("OS-EXT-SRV-ATTR:hostname", json!(s.hostname));
    }
    if req.at_least(mv::PINNED_ZONE) && full {
        put(
            "pinned_availability_zone",
            json!(s.pinned_availability_zone),
        );
    }
    if req.at_least(mv::SCHEDULER_HINTS) {
        put("scheduler_hints", Value::Object(s.scheduler_hints.clone()));
    }
    if kind == Kind::Rebuild && req.at_least(mv::REBUILD_USER_DATA) {
        put("user_data", json!(s.user_data));
    }
    if kind == Kind::Detail {
        if let Some(hs) = host_status {
            put("host_status", hs);
        }
        if let Some(groups) = security_groups(s) {
            put("security_groups", groups);
        }
    }
    Value::Object(v)
}

/// `UP` for a server on this (the only, always running) compute host; ""
/// before it has a host.
fn host_status(s: &Server) -> &'static str {
    if s.host.is_some() { "UP" } else { "" }
}

/// An item of `GET /servers`.
pub fn summary(req: &Req, id: &str, name: &str) -> Value {
    json!({"id": id, "links": req.links("servers", id), "name": name})
}
