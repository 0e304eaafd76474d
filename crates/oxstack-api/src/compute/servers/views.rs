//! The server representation, per microversion and caller
//! (`nova/api/openstack/compute/views/servers.py`): the base keys in Nova's
//! order, then the extension keys, each appearing at the version Nova
//! added it; admin-only attributes only for admins.

use std::collections::BTreeMap;

use oxstack_compute::model::states::VmState;
use oxstack_compute::model::{Fault, FixedIp, Server};
use oxstack_compute::servers::Caller;
use oxstack_identity::Rule;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};

use super::super::request::{Link, Req};
use crate::compute::microversion::mv;

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
    json!(naive_time_text(micros))
}

fn naive_time_text(micros: Option<i64>) -> Option<String> {
    micros
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| {
            // `2026-12-07T06:07:37.123456`: RFC 3339 with microseconds,
            // without its zone (chrono's writer, not a format string
            // parsed for every timestamp).
            let mut text = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            text.pop();
            text
        })
}

/// Nova's `generate_hostid`: per project, so projects cannot correlate hosts.
pub fn host_id(s: &Server) -> String {
    match s.host.as_deref() {
        Some(host) if !host.is_empty() => {
            let digest = Sha224::new()
                .chain_update(s.project_id.as_bytes())
                .chain_update(host.as_bytes())
                .finalize();
            format!("{digest:x}")
        }
        _ => String::new(),
    }
}

/// `addresses`: `{network name: [{version, addr, (type, mac)}]}`, each
/// network's fixed addresses then the floating ones associated with them,
/// networks in the order of the server's ports.
pub fn addresses(s: &Server, extended: bool) -> Value {
    to_value(Addresses { s, extended })
}

/// A view as a `Value`, for the answers that add to it.
fn to_value(view: impl Serialize) -> Value {
    // Views hold strings, numbers, booleans, stored JSON (scheduler
    // hints) and maps with string keys, all of which convert; only a
    // non-string map key could fail.
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// [`addresses`], written as it is serialized.
struct Addresses<'a> {
    s: &'a Server,
    extended: bool,
}

impl Serialize for Addresses<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fixed = &self.s.fixed_ips;
        let mut networks = serializer.serialize_map(None)?;
        for (n, ip) in fixed.iter().enumerate() {
            let network = ip.network.as_str();
            if fixed[..n].iter().any(|earlier| earlier.network == network) {
                continue;
            }
            networks.serialize_entry(network, &NetworkAddresses { of: self, network })?;
        }
        networks.end()
    }
}

/// One network's list in [`Addresses`].
struct NetworkAddresses<'a> {
    of: &'a Addresses<'a>,
    network: &'a str,
}

impl Serialize for NetworkAddresses<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.of.s;
        let extended = self.of.extended;
        let on_network = |ip: &&FixedIp| ip.network == self.network;
        let mut list = serializer.serialize_seq(None)?;
        for ip in s.fixed_ips.iter().filter(on_network) {
            list.serialize_element(&Address::new(
                ip.version,
                &ip.address,
                "fixed",
                ip,
                extended,
            ))?;
        }
        for floating in &s.floating_ips {
            let fixed = s
                .fixed_ips
                .iter()
                .find(|ip| ip.address == floating.fixed_address);
            if let Some(ip) = fixed.filter(on_network) {
                list.serialize_element(&Address::new(
                    4,
                    &floating.address,
                    "floating",
                    ip,
                    extended,
                ))?;
            }
        }
        list.end()
    }
}

/// One address of [`Addresses`]; with its type and its port's MAC when
/// extended.
#[derive(Serialize)]
struct Address<'a> {
    version: i64,
    addr: &'a str,
    #[serde(rename = "OS-EXT-IPS:type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(
        rename = "OS-EXT-IPS-MAC:mac_addr",
        skip_serializing_if = "Option::is_none"
    )]
    mac: Option<&'a str>,
}

impl<'a> Address<'a> {
    fn new(version: i64, addr: &'a str, kind: &'a str, port: &'a FixedIp, extended: bool) -> Self {
        Self {
            version,
            addr,
            kind: extended.then_some(kind),
            mac: extended.then_some(port.mac.as_str()),
        }
    }
}

/// `[{"rel": "bookmark", "href": ...}]` for an item of `collection`.
fn bookmark(req: &Req, collection: &str, id: &str) -> [Link; 1] {
    [Link::new(
        "bookmark",
        &req.root.bookmark_url,
        collection,
        id,
    )]
}

/// `flavor`: a link to it before 2.47, the embedded copy from then on.
struct FlavorView<'a> {
    req: &'a Req,
    s: &'a Server,
}

impl Serialize for FlavorView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let f = &self.s.flavor;
        let mut out = serializer.serialize_map(None)?;
        if !self.req.at_least(mv::EMBEDDED_FLAVOR) {
            out.serialize_entry("id", &f.id)?;
            out.serialize_entry("links", &bookmark(self.req, "flavors", &f.id))?;
            return out.end();
        }
        out.serialize_entry("vcpus", &f.vcpus)?;
        out.serialize_entry("ram", &f.memory_mb)?;
        out.serialize_entry("disk", &f.root_gb)?;
        out.serialize_entry("ephemeral", &f.ephemeral_gb)?;
        out.serialize_entry("swap", &f.swap_mb)?;
        out.serialize_entry("original_name", &f.name)?;
        if self.req.ctx.allows(Rule::ProjectReader, &self.s.project_id) {
            out.serialize_entry("extra_specs", &f.extra_specs)?;
        }
        out.end()
    }
}

/// `image`: "" for a server booted from a volume, else a link (with the
/// image's properties from 2.98, less the boot references).
struct ImageView<'a> {
    req: &'a Req,
    s: &'a Server,
}

impl Serialize for ImageView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let image = &self.s.image;
        if image.id.is_empty() {
            return serializer.serialize_str("");
        }
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("id", &image.id)?;
        out.serialize_entry("links", &bookmark(self.req, "images", &image.id))?;
        if self.req.at_least(mv::IMAGE_PROPERTIES) {
            out.serialize_entry("properties", &ImageProperties(&image.properties))?;
        }
        out.end()
    }
}

struct ImageProperties<'a>(&'a BTreeMap<String, String>);

impl Serialize for ImageProperties<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .iter()
                .filter(|(k, _)| !super::create::BOOT_REFERENCES.contains(&k.as_str())),
        )
    }
}

/// `fault`; its details only where Nova shows them (not a 500's to a
/// non-admin).
#[derive(Serialize)]
struct FaultView<'a> {
    code: i64,
    created: String,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a str>,
}

impl<'a> FaultView<'a> {
    fn new(req: &Req, f: &'a Fault) -> Self {
        let shown = !f.details.is_empty() && (req.ctx.is_admin() || f.code != 500);
        Self {
            code: f.code,
            created: isotime(f.created),
            message: &f.message,
            details: shown.then_some(f.details.as_str()),
        }
    }
}

/// `{"name": ...}`, an item of `security_groups`.
#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
}

fn security_groups(s: &Server) -> Option<Vec<Named<'_>>> {
    (!s.security_groups.is_empty() && !s.fixed_ips.is_empty()).then(|| {
        s.security_groups
            .iter()
            .map(|name| Named { name })
            .collect()
    })
}

/// An item of `os-extended-volumes:volumes_attached`.
#[derive(Serialize)]
struct VolumeRef<'a> {
    id: &'a str,
    /// From 2.3.
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_on_termination: Option<bool>,
}

/// The full representation of a server, as a `Value` (for the answers
/// that add to it).
pub fn server(req: &Req, s: &Server, kind: Kind) -> Value {
    to_value(ServerView::new(req, s, kind))
}

/// The representation of a server for `kind`, written straight into the
/// response as it is serialized: no `Value` maps are built first (for a
/// page of a thousand servers, building and dropping them was half the
/// request's time).
pub struct ServerView<'a> {
    req: &'a Req,
    s: &'a Server,
    kind: Kind,
}

impl<'a> ServerView<'a> {
    pub fn new(req: &'a Req, s: &'a Server, kind: Kind) -> Self {
        Self { req, s, kind }
    }

    /// Whether the view has the extended attributes.
    fn full(&self) -> bool {
        match self.kind {
            Kind::Show | Kind::Detail => true,
            Kind::UpdateBefore275 => false,
            Kind::Rebuild => self.req.at_least(mv::STRICT_QUERIES),
        }
    }
}

impl Serialize for ServerView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (req, s, kind) = (self.req, self.s, self.kind);
        let admin = req.ctx.is_admin();
        let status = s.status();
        let full = self.full();
        let mut v = serializer.serialize_map(None)?;
        v.serialize_entry("accessIPv4", s.access_ip_v4.as_deref().unwrap_or(""))?;
        v.serialize_entry("accessIPv6", s.access_ip_v6.as_deref().unwrap_or(""))?;
        if s.vm_state == VmState::Building {
            v.serialize_entry("addresses", &Map::new())?;
        } else {
            v.serialize_entry("addresses", &Addresses { s, extended: full })?;
        }
        v.serialize_entry("created", &isotime(s.created_at))?;
        v.serialize_entry("flavor", &FlavorView { req, s })?;
        v.serialize_entry("hostId", &host_id(s))?;
        v.serialize_entry("id", &s.uuid)?;
        v.serialize_entry("image", &ImageView { req, s })?;
        v.serialize_entry("links", &req.link_pair("servers", &s.uuid))?;
        v.serialize_entry("metadata", &s.metadata)?;
        v.serialize_entry("name", &s.name)?;
        v.serialize_entry("status", status)?;
        v.serialize_entry("tenant_id", &s.project_id)?;
        v.serialize_entry("user_id", &s.user_id)?;
        v.serialize_entry("updated", &isotime(s.updated_at.unwrap_or(s.created_at)))?;
        let disk_config = if s.auto_disk_config { "AUTO" } else { "MANUAL" };
        v.serialize_entry("OS-DCF:diskConfig", disk_config)?;
        if matches!(status, "ERROR" | "DELETED")
            && let Some(f) = &s.fault
        {
            v.serialize_entry("fault", &FaultView::new(req, f))?;
        }
        if WITH_PROGRESS.contains(&status) {
            v.serialize_entry("progress", &s.progress)?;
        }
        if kind == Kind::Rebuild && !full && req.at_least(mv::REBUILD_KEY_NAME) {
            v.serialize_entry("key_name", &s.key_name)?;
        }
        if full {
            let zone = s.availability_zone.as_deref().unwrap_or("");
            v.serialize_entry("OS-EXT-AZ:availability_zone", zone)?;
            v.serialize_entry("config_drive", if s.config_drive { "True" } else { "" })?;
            v.serialize_entry("key_name", &s.key_name)?;
            v.serialize_entry("OS-SRV-USG:launched_at", &naive_time_text(s.launched_at))?;
            v.serialize_entry(
                "OS-SRV-USG:terminated_at",
                &naive_time_text(s.terminated_at),
            )?;
            // Detail listings put these last (below).
            if kind != Kind::Detail
                && let Some(groups) = security_groups(s)
            {
                v.serialize_entry("security_groups", &groups)?;
            }
            if admin {
                v.serialize_entry("OS-EXT-SRV-ATTR:host", &s.host)?;
                v.serialize_entry("OS-EXT-SRV-ATTR:instance_name", &s.instance_name())?;
                v.serialize_entry("OS-EXT-SRV-ATTR:hypervisor_hostname", &s.node)?;
                if req.at_least(mv::EXTENDED_SERVER_ATTRIBUTES) {
                    v.serialize_entry("OS-EXT-SRV-ATTR:hostname", &s.hostname)?;
                    v.serialize_entry("OS-EXT-SRV-ATTR:kernel_id", "")?;
                    v.serialize_entry("OS-EXT-SRV-ATTR:launch_index", &s.launch_index)?;
                    v.serialize_entry("OS-EXT-SRV-ATTR:ramdisk_id", "")?;
                    v.serialize_entry("OS-EXT-SRV-ATTR:reservation_id", &s.reservation_id)?;
                    v.serialize_entry("OS-EXT-SRV-ATTR:root_device_name", &s.root_device_name)?;
                    if kind != Kind::Rebuild {
                        v.serialize_entry("OS-EXT-SRV-ATTR:user_data", &s.user_data)?;
                    }
                }
            }
            v.serialize_entry("OS-EXT-STS:task_state", &s.task_state.map(|t| t.as_str()))?;
            v.serialize_entry("OS-EXT-STS:vm_state", s.vm_state.as_str())?;
            v.serialize_entry("OS-EXT-STS:power_state", &s.power_state.code())?;
            // 2.3 adds each volume's delete_on_termination.
            let with_deletion = req.at_least(mv::EXTENDED_SERVER_ATTRIBUTES);
            let volumes: Vec<VolumeRef> = s
                .volumes
                .iter()
                .map(|v| VolumeRef {
                    id: &v.id,
                    delete_on_termination: with_deletion.then_some(v.delete_on_termination),
                })
                .collect();
            v.serialize_entry("os-extended-volumes:volumes_attached", &volumes)?;
        }
        if req.at_least(mv::LOCKED) {
            v.serialize_entry("locked", &s.locked_by.is_some())?;
        }
        let host_status = (full && admin && req.at_least(mv::HOST_STATUS)).then(|| host_status(s));
        if kind != Kind::Detail
            && let Some(hs) = host_status
        {
            v.serialize_entry("host_status", hs)?;
        }
        if req.at_least(mv::SERVER_DESCRIPTION) {
            v.serialize_entry("description", &s.description)?;
        }
        if req.at_least(mv::SERVER_TAGS) {
            v.serialize_entry("tags", &s.tags)?;
        }
        if req.at_least(mv::TRUSTED_CERTS) {
            v.serialize_entry("trusted_image_certificates", &s.trusted_certs)?;
        }
        if req.at_least(mv::SERVER_GROUPS_IN_VIEW) && kind != Kind::Detail {
            v.serialize_entry("server_groups", s.server_group.as_slice())?;
        }
        if req.at_least(mv::LOCKED_REASON) {
            v.serialize_entry("locked_reason", &s.locked_reason)?;
        }
        if req.at_least(mv::HOSTNAME) && !admin {
            v.serialize_entry("OS-EXT-SRV-ATTR:hostname", &s.hostname)?;
        }
        if req.at_least(mv::PINNED_ZONE) && full {
            v.serialize_entry("pinned_availability_zone", &s.pinned_availability_zone)?;
        }
        if req.at_least(mv::SCHEDULER_HINTS) {
            v.serialize_entry("scheduler_hints", &s.scheduler_hints)?;
        }
        if kind == Kind::Rebuild && req.at_least(mv::REBUILD_USER_DATA) {
            v.serialize_entry("user_data", &s.user_data)?;
        }
        if kind == Kind::Detail {
            if let Some(hs) = host_status {
                v.serialize_entry("host_status", hs)?;
            }
            if let Some(groups) = security_groups(s) {
                v.serialize_entry("security_groups", &groups)?;
            }
        }
        v.end()
    }
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
