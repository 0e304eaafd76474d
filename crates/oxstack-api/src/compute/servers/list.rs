//! `GET /servers` and `/servers/detail`: Nova's query processing
//! (`servers.py _get_servers`) — per-version filter whitelists, status to
//! states, time windows, tags, tenancy, sorting and paging — into one
//! domain [`ListRequest`].

use axum::extract::State;
use axum::response::Response;
use fancy_regex::Regex;
use http::StatusCode;
use oxstack_compute::model::Server;
use oxstack_compute::model::states::{TaskState, VmState, states_for_statuses};
use oxstack_compute::servers::{ListRequest, RegexField, ServerFilter, ServerSortKey};
use oxstack_identity::Rule;
use serde::Serialize;
use serde_json::Value;

use super::super::error::NovaError;
use super::super::pagination::{limit_and_marker, next_links};
use super::super::request::Req;
use super::{schema, views};
use crate::AppState;
use crate::compute::microversion::{Microversion, mv};
use crate::envelope::{json_response, json_response_sized};
use crate::oslo::{bool_from_string, parse_isotime, unrecognized_bool};

/// Filters every caller may use, by the microversion that allowed them.
const USER_FILTERS: &[(Microversion, &str)] = &[
    (mv::BASE, "reservation_id"),
    (mv::BASE, "name"),
    (mv::BASE, "status"),
    (mv::BASE, "image"),
    (mv::BASE, "flavor"),
    (mv::BASE, "ip"),
    (mv::BASE, "changes-since"),
    (mv::BASE, "all_tenants"),
    (mv::IP6_FILTER, "ip6"),
    (mv::SERVER_TAGS, "tags"),
    (mv::SERVER_TAGS, "tags-any"),
    (mv::SERVER_TAGS, "not-tags"),
    (mv::SERVER_TAGS, "not-tags-any"),
    (mv::CHANGES_BEFORE, "changes-before"),
    (mv::LOCKED_REASON, "locked"),
    (mv::OWNER_FILTERS, "availability_zone"),
    (mv::OWNER_FILTERS, "config_drive"),
    (mv::OWNER_FILTERS, "key_name"),
    (mv::OWNER_FILTERS, "created_at"),
    (mv::OWNER_FILTERS, "launched_at"),
    (mv::OWNER_FILTERS, "terminated_at"),
    (mv::OWNER_FILTERS, "power_state"),
    (mv::OWNER_FILTERS, "task_state"),
    (mv::OWNER_FILTERS, "vm_state"),
    (mv::OWNER_FILTERS, "progress"),
    (mv::OWNER_FILTERS, "user_id"),
    (mv::HOSTNAME, "hostname"),
];

const JOINED_TABLES: [&str; 7] = [
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
];

const PAGING: [&str; 4] = ["sort_key", "sort_dir", "limit", "marker"];

/// oslo's `bool_from_string(strict=True)`.
fn strict_bool(value: &str) -> Result<bool, NovaError> {
    bool_from_string(value).ok_or_else(|| NovaError::bad_request(unrecognized_bool(value)))
}

fn sort_key(key: &str) -> Option<ServerSortKey> {
    use ServerSortKey as K;
    Some(match key {
        "access_ip_v4" => K::AccessIpV4,
        "access_ip_v6" => K::AccessIpV6,
        "auto_disk_config" => K::AutoDiskConfig,
        "availability_zone" => K::AvailabilityZone,
        "config_drive" => K::ConfigDrive,
        "created_at" => K::CreatedAt,
        "display_description" => K::Description,
        "display_name" => K::Name,
        "host" => K::Host,
        "hostname" => K::Hostname,
        "image_ref" => K::Image,
        "instance_type_id" => K::Flavor,
        "key_name" => K::KeyName,
        "launch_index" => K::LaunchIndex,
        "launched_at" => K::LaunchedAt,
        "locked" => K::Locked,
        "locked_by" => K::LockedBy,
        "node" => K::Node,
        "power_state" => K::PowerState,
        "progress" => K::Progress,
        "project_id" => K::ProjectId,
        "root_device_name" => K::RootDeviceName,
        "task_state" => K::TaskState,
        "terminated_at" => K::TerminatedAt,
        "updated_at" => K::UpdatedAt,
        "user_id" => K::UserId,
        "uuid" => K::Uuid,
        "vm_state" => K::VmState,
        // kernel_id, ramdisk_id: never set here, every server sorts equal.
        _ => return None,
    })
}

fn regex_field(key: &str) -> Option<RegexField> {
    Some(match key {
        "name" | "display_name" => RegexField::DisplayName,
        "description" | "display_description" => RegexField::DisplayDescription,
        "hostname" => RegexField::Hostname,
        "reservation_id" => RegexField::ReservationId,
        "node" => RegexField::Node,
        "key_name" => RegexField::KeyName,
        "availability_zone" => RegexField::AvailabilityZone,
        "config_drive" => RegexField::ConfigDrive,
        "access_ip_v4" => RegexField::AccessIpV4,
        "access_ip_v6" => RegexField::AccessIpV6,
        "progress" => RegexField::Progress,
        "power_state" => RegexField::PowerState,
        "launch_index" => RegexField::LaunchIndex,
        "locked_by" => RegexField::LockedBy,
        "root_device_name" => RegexField::RootDeviceName,
        "auto_disk_config" => RegexField::AutoDiskConfig,
        "ip" => RegexField::Ip,
        "ip6" => RegexField::Ip6,
        _ => return None,
    })
}

/// The sort of a listing: keys and directions as Nova pairs them.
fn sort(req: &Req) -> Result<Vec<(ServerSortKey, bool)>, NovaError> {
    let mut keys: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "sort_key")
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    let mut dirs: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "sort_dir")
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    if keys.is_empty() && dirs.is_empty() {
        return Ok(vec![(ServerSortKey::CreatedAt, true)]);
    }
    let ignored = |k: &str| {
        schema::IGNORED_SORT_KEYS.contains(&k)
            && !(req.at_least(mv::LOCKED_REASON) && k == "locked")
    };
    let mut i = 0;
    while i < keys.len() {
        if ignored(&keys[i]) {
            keys.remove(i);
            if i < dirs.len() {
                dirs.remove(i);
            }
        } else {
            i += 1;
        }
    }
    if !req.ctx.is_admin()
        && let Some(k) = keys.iter().find(|k| *k == "host" || *k == "node")
    {
        return Err(NovaError::new(
            StatusCode::FORBIDDEN,
            format!("Only administrators can sort servers by {k}"),
        ));
    }
    if dirs.iter().any(|d| d != "asc" && d != "desc") {
        return Err(NovaError::bad_request(
            "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'",
        ));
    }
    if keys.is_empty() {
        keys.push("created_at".into());
    }
    if dirs.len() > keys.len() {
        return Err(NovaError::bad_request(
            "Invalid input received: Sort direction size exceeds sort key size",
        ));
    }
    let default_dir = dirs.first().cloned().unwrap_or_else(|| "desc".into());
    let mut out = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let desc = dirs.get(n).unwrap_or(&default_dir) == "desc";
        if let Some(key) = sort_key(key) {
            out.push((key, desc));
        }
    }
    if !keys.iter().any(|k| k == "created_at") {
        out.push((ServerSortKey::CreatedAt, default_dir == "desc"));
    }
    Ok(out)
}

/// The filters a caller may use (Nova's per-version whitelist for
/// non-admins), the last value of each.
struct SearchOptions(Vec<(String, String)>);

impl SearchOptions {
    fn from_request(req: &Req) -> Result<Self, NovaError> {
        let admin = req.ctx.is_admin();
        let allowed = |key: &str| {
            admin
                || USER_FILTERS
                    .iter()
                    .any(|(v, k)| *k == key && req.at_least(*v))
        };
        let mut options: Vec<(String, String)> = Vec::new();
        for (k, v) in &req.query {
            if PAGING.contains(&k.as_str()) || k == "status" || !allowed(k) {
                continue;
            }
            options.retain(|(known, _)| known != k);
            options.push((k.clone(), v.clone()));
        }
        if let Some((k, _)) = options
            .iter()
            .find(|(k, _)| JOINED_TABLES.contains(&k.as_str()) || k.starts_with('_'))
        {
            return Err(NovaError::bad_request(format!(
                "Invalid filter field: {k}."
            )));
        }
        Ok(Self(options))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `status` → vm_states (returned) and task states (added to `out`).
/// `Ok(None)`: no status matched before 2.38, which lists nothing.
fn status_filter(req: &Req, out: &mut ListRequest) -> Result<Option<Vec<VmState>>, NovaError> {
    let statuses: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "status")
        .map(|(_, v)| v.clone())
        .collect();
    if statuses.is_empty() {
        return Ok(Some(Vec::new()));
    }
    match states_for_statuses(&statuses) {
        None if req.at_least(mv::STRICT_STATUS_FILTER) => {
            Err(NovaError::bad_request("Invalid status value"))
        }
        None => Ok(None),
        Some(states) => {
            if let Some(tasks) = states.task_states {
                out.filters.push(ServerFilter::TaskStates(
                    tasks.into_iter().map(Some).collect(),
                ));
            }
            Ok(Some(states.vm_states))
        }
    }
}

/// `changes-since` / `changes-before`.
fn time_window(opts: &SearchOptions, out: &mut ListRequest) -> Result<(), NovaError> {
    let parse = |name: &str| {
        opts.get(name)
            .map(|t| {
                parse_isotime(t)
                    .ok_or_else(|| NovaError::bad_request(format!("Invalid filter field: {name}.")))
            })
            .transpose()
    };
    let (since, before) = (parse("changes-since")?, parse("changes-before")?);
    if let (Some(s), Some(b)) = (since, before)
        && b < s
    {
        return Err(NovaError::bad_request(
            "The value of changes-since must be less than or equal to changes-before.",
        ));
    }
    out.filters.extend(since.map(ServerFilter::ChangedSince));
    out.filters.extend(before.map(ServerFilter::ChangedBefore));
    Ok(())
}

/// `deleted`, and the vm/task state filters (`status=deleted` is for admins).
fn state_filters(
    req: &Req,
    opts: &SearchOptions,
    mut vm_states: Vec<VmState>,
    out: &mut ListRequest,
) -> Result<(), NovaError> {
    if let Some(deleted) = opts.get("deleted") {
        out.deleted = Some(bool_from_string(deleted) == Some(true));
    }
    if vm_states == [VmState::Deleted] {
        if !req.ctx.is_admin() {
            return Err(NovaError::new(
                StatusCode::FORBIDDEN,
                "Only administrators may list deleted instances",
            ));
        }
        out.deleted = Some(true);
    }
    // A state no server can be in selects nothing.
    let named = opts.get("vm_state").map(VmState::parse);
    if let Some(vm) = named {
        vm_states = vm.into_iter().collect();
    }
    if !vm_states.is_empty() || named.is_some() {
        out.filters.push(ServerFilter::VmStates(vm_states));
    }
    if let Some(task) = opts.get("task_state") {
        let tasks = TaskState::parse(task).map(Some).into_iter().collect();
        out.filters.push(ServerFilter::TaskStates(tasks));
    }
    if req.at_least(mv::LOCKED_REASON)
        && let Some(locked) = opts.get("locked")
    {
        out.filters.push(ServerFilter::Locked(strict_bool(locked)?));
    }
    Ok(())
}

/// The 2.26 tag filters: comma-separated, exact.
fn tag_filters(req: &Req, opts: &SearchOptions, out: &mut ListRequest) {
    if !req.at_least(mv::SERVER_TAGS) {
        return;
    }
    let split = |v: &str| v.split(',').map(str::to_owned).collect::<Vec<_>>();
    type MakeFilter = fn(Vec<String>) -> ServerFilter;
    let kinds: [(&str, MakeFilter); 4] = [
        ("tags", ServerFilter::TagsAll),
        ("tags-any", ServerFilter::TagsAny),
        ("not-tags", ServerFilter::NotTagsAll),
        ("not-tags-any", ServerFilter::NotTagsAny),
    ];
    for (name, filter) in kinds {
        out.filters.extend(opts.get(name).map(|v| filter(split(v))));
    }
}

/// `all_tenants` (admin) with an optional `project_id`/`tenant_id`.
fn tenancy(req: &Req, opts: &SearchOptions, out: &mut ListRequest) -> Result<(), NovaError> {
    if let Some(all) = opts.get("all_tenants") {
        out.all_projects = all.is_empty() || strict_bool(all)?;
    }
    if out.all_projects {
        req.authorize("os_compute_api:servers:index:get_all_tenants", Rule::Admin)?;
        out.project_id = opts
            .get("project_id")
            .or(opts.get("tenant_id"))
            .map(str::to_owned);
    }
    Ok(())
}

/// Exact column filters, then Nova's regular-expression ones.
fn column_filters(opts: &SearchOptions, out: &mut ListRequest) -> Result<(), NovaError> {
    type MakeFilter = fn(String) -> ServerFilter;
    let exact: [(&str, MakeFilter); 6] = [
        ("image", ServerFilter::Image),
        ("image_ref", ServerFilter::Image),
        ("flavor", ServerFilter::Flavor),
        ("uuid", ServerFilter::Uuid),
        ("user_id", ServerFilter::User),
        ("host", ServerFilter::Host),
    ];
    for (key, filter) in exact {
        if let Some(v) = opts.get(key) {
            // An image may be named by its URL; the id is the last segment.
            let v = if key == "image" {
                v.trim_end_matches('/').rsplit('/').next().unwrap_or(v)
            } else {
                v
            };
            out.filters.push(filter(v.to_owned()));
        }
    }
    for (key, value) in &opts.0 {
        if let Some(field) = regex_field(key) {
            let re = Regex::new(value)
                .map_err(|_| NovaError::bad_request(format!("Invalid filter field: {key}.")))?;
            out.regex.push((field, re));
        }
    }
    Ok(())
}

/// Builds the domain request; `Ok(None)` means Nova answers an empty list
/// (an unknown status before 2.38).
fn listing(req: &Req) -> Result<Option<ListRequest>, NovaError> {
    req.validate_query(&schema::index_query(req.version))?;
    let opts = SearchOptions::from_request(req)?;
    let mut out = ListRequest::default();
    let Some(vm_states) = status_filter(req, &mut out)? else {
        return Ok(None);
    };
    time_window(&opts, &mut out)?;
    state_filters(req, &opts, vm_states, &mut out)?;
    tag_filters(req, &opts, &mut out);
    tenancy(req, &opts, &mut out)?;
    column_filters(&opts, &mut out)?;
    let (limit, marker) = limit_and_marker(req)?;
    out.limit = limit;
    out.marker = marker;
    out.sort = sort(req)?;
    Ok(Some(out))
}

async fn servers(state: &AppState, req: &Req, policy: &str) -> Result<Vec<Server>, NovaError> {
    req.authorize(policy, Rule::ProjectReader)?;
    let Some(listing) = listing(req)? else {
        return Ok(Vec::new());
    };
    Ok(state
        .compute()
        .list_servers(&views::caller(req), listing)
        .await?)
}

/// A page of a listing: the items, and the next link after the last id.
#[derive(Serialize)]
struct Page<T> {
    servers: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    servers_links: Option<Value>,
}

impl<T: Serialize> Page<T> {
    fn new(req: &Req, collection: &str, servers: Vec<T>, last: Option<&str>) -> Self {
        let servers_links = next_links(req, collection, servers.len(), last);
        Self {
            servers,
            servers_links,
        }
    }
}

pub async fn list_servers(State(state): State<AppState>, req: Req) -> Result<Response, NovaError> {
    req.authorize("os_compute_api:servers:index", Rule::ProjectReader)?;
    let caller = views::caller(&req);
    let servers = match listing(&req)? {
        Some(listing) => {
            let compute = state.compute();
            compute.list_server_summaries(&caller, listing).await?
        }
        None => Vec::new(),
    };
    let items = servers
        .iter()
        .map(|s| views::summary(&req, &s.uuid, &s.name))
        .collect();
    let last = servers.last().map(|s| s.uuid.as_str());
    let page = Page::<Value>::new(&req, "servers", items, last);
    Ok(json_response(&page))
}

/// About what one server's detail view takes (2.1 KiB with one port and
/// its two addresses at the latest microversion), to size a page's buffer.
const SERVER_DETAIL_BYTES: usize = 2560;

pub async fn list_servers_detail(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, NovaError> {
    let servers = servers(&state, &req, "os_compute_api:servers:detail").await?;
    let items = servers
        .iter()
        .map(|s| views::ServerView::new(&req, s, views::Kind::Detail))
        .collect();
    let last = servers.last().map(|s| s.uuid.as_str());
    let page = Page::new(&req, "servers/detail", items, last);
    Ok(json_response_sized(
        &page,
        SERVER_DETAIL_BYTES * servers.len().max(1),
    ))
}
