//! The compute (Nova) API.
//!
//! Requests reach it under `/compute` or at the root, then under a version
//! segment (`v2.1`, or the legacy `v2`) and an optional project id segment.
//! [`dispatch`] peels those prefixes off into an [`ApiRoot`] that views use
//! for links, and hands the rest to [`versioned_routes`]: the one table of
//! every compute route.

mod aggregates;
mod availability_zones;
mod consoles;
pub(crate) mod error;
mod extensions;
mod flavors;
mod floating_ips;
mod hosts;
mod hypervisors;
mod image_metadata;
mod images;
mod instance_actions;
mod interfaces;
mod keypairs;
mod limits;
pub(crate) mod microversion;
mod migrations;
mod networks;
pub(crate) mod openapi;
mod pagination;
mod quota_sets;
mod request;
mod security_groups;
mod server_actions;
mod server_external_events;
mod server_groups;
mod servers;
mod services;
mod simple_tenant_usage;
mod usage_audit_log;
mod versions;
mod volume_attachments;
mod volumes_proxy;

/// Shared with the volume API, whose bodies and times Cinder reads and
/// writes the way Nova does.
pub(crate) use request::NovaBody;
pub(crate) use servers::views::naive_time;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use http::{Method, StatusCode, Uri};
use tower::ServiceExt;

use crate::{AppState, auth, urls};
pub use error::NovaError;
use microversion::{Microversion, Versions, mv};

/// Where the client reached the compute API, for building links.
#[derive(Clone, Debug)]
pub struct ApiRoot {
    /// The legacy `/v2` API: no microversions.
    pub legacy_v2: bool,
    /// `http://host[/compute]`: the service root.
    pub service_url: String,
    /// `http://host[/compute]/v2.1[/project]`: base of `self` links.
    pub version_url: String,
    /// `http://host[/compute][/project]`: base of `bookmark` links.
    pub bookmark_url: String,
    /// The project id segment of the URL, if the client used one.
    pub project_in_path: Option<String>,
}

/// The compute API as a service, mounted both at `/compute` and at `/`.
pub fn router(state: AppState) -> Router {
    let versioned = versioned_routes(state.clone());
    Router::new()
        .fallback(move |State(state): State<AppState>, request: Request| {
            dispatch(state, versioned.clone(), request)
        })
        .with_state(state)
}

/// A route (or some of its methods) that exists at `versions` only.
fn at(versions: Versions, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.route_layer(from_fn_with_state(versions, microversion::only_at))
}

/// Added at `version`.
const fn since(version: Microversion) -> Versions {
    Versions::since(version)
}

/// Removed at `version`.
const fn until(version: Microversion) -> Versions {
    Versions::until(version)
}

/// Every route of the versioned API, relative to `/v2.1[/{project_id}]`;
/// routes that exist at some microversions only say so here.
fn versioned_routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(versions::show_current))
        .route("/versions/{version_id}", get(versions::show_by_id))
        .route("/extensions", get(extensions::list_extensions))
        .route("/extensions/{alias}", get(extensions::show_extension))
        .route("/limits", get(limits::show_limits))
        .route(
            "/images",
            at(until(mv::NO_PROXIES), get(images::list_images)),
        )
        .route(
            "/images/detail",
            at(until(mv::NO_PROXIES), get(images::list_images_detail)),
        )
        .route(
            "/images/{image_id}",
            at(
                until(mv::NO_PROXIES),
                get(images::show_image).delete(images::delete_image),
            ),
        )
        .route(
            "/images/{image_id}/metadata",
            at(
                until(mv::NO_IMAGE_METADATA),
                get(image_metadata::list_image_metadata)
                    .post(image_metadata::update_image_metadata)
                    .put(image_metadata::replace_image_metadata),
            ),
        )
        .route(
            "/images/{image_id}/metadata/{key}",
            at(
                until(mv::NO_IMAGE_METADATA),
                get(image_metadata::show_image_metadata_item)
                    .put(image_metadata::set_image_metadata_item)
                    .delete(image_metadata::delete_image_metadata_item),
            ),
        )
        .route(
            "/os-quota-sets/{tenant_id}",
            get(quota_sets::show_quota_set)
                .put(quota_sets::update_quota_set)
                .delete(quota_sets::delete_quota_set),
        )
        .route(
            "/os-quota-class-sets/{class}",
            get(quota_sets::show_quota_class_set).put(quota_sets::update_quota_class_set),
        )
        .route(
            "/os-quota-sets/{tenant_id}/detail",
            get(quota_sets::show_quota_set_detail),
        )
        .route(
            "/os-quota-sets/{tenant_id}/defaults",
            get(quota_sets::show_quota_defaults),
        )
        .route(
            "/os-networks",
            at(until(mv::NO_PROXIES), get(networks::list_networks)),
        )
        .route(
            "/os-floating-ip-pools",
            at(until(mv::NO_PROXIES), get(floating_ips::list_pools)),
        )
        .route(
            "/os-floating-ips",
            at(
                until(mv::NO_PROXIES),
                get(floating_ips::list_floating_ips).post(floating_ips::allocate_floating_ip),
            ),
        )
        .route(
            "/os-floating-ips/{floating_ip_id}",
            at(
                until(mv::NO_PROXIES),
                get(floating_ips::show_floating_ip).delete(floating_ips::release_floating_ip),
            ),
        )
        .route(
            "/os-volumes",
            at(
                until(mv::NO_PROXIES),
                get(volumes_proxy::list_volumes).post(volumes_proxy::create_volume),
            ),
        )
        .route(
            "/os-volumes/detail",
            at(until(mv::NO_PROXIES), get(volumes_proxy::list_volumes)),
        )
        .route(
            "/os-volumes/{volume_id}",
            at(
                until(mv::NO_PROXIES),
                get(volumes_proxy::show_volume).delete(volumes_proxy::delete_volume),
            ),
        )
        .route(
            "/os-snapshots",
            at(
                until(mv::NO_PROXIES),
                get(volumes_proxy::list_snapshots).post(volumes_proxy::create_snapshot),
            ),
        )
        .route(
            "/os-snapshots/detail",
            at(until(mv::NO_PROXIES), get(volumes_proxy::list_snapshots)),
        )
        .route(
            "/os-snapshots/{snapshot_id}",
            at(
                until(mv::NO_PROXIES),
                get(volumes_proxy::show_snapshot).delete(volumes_proxy::delete_snapshot),
            ),
        )
        .route(
            "/os-tenant-networks",
            at(
                until(mv::NO_PROXIES),
                get(networks::list_tenant_networks).post(networks::removed_tenant_network),
            ),
        )
        .route(
            "/os-tenant-networks/{network_id}",
            at(
                until(mv::NO_PROXIES),
                get(networks::show_tenant_network).delete(networks::removed_tenant_network),
            ),
        )
        .route(
            "/os-security-groups",
            at(
                until(mv::NO_PROXIES),
                get(security_groups::list_security_groups)
                    .post(security_groups::create_security_group),
            ),
        )
        .route(
            "/os-security-groups/{security_group_id}",
            at(
                until(mv::NO_PROXIES),
                get(security_groups::show_security_group)
                    .put(security_groups::update_security_group)
                    .delete(security_groups::delete_security_group),
            ),
        )
        .route(
            "/os-security-group-rules",
            at(until(mv::NO_PROXIES), post(security_groups::create_rule)),
        )
        .route(
            "/os-security-group-rules/{security_group_rule_id}",
            at(until(mv::NO_PROXIES), delete(security_groups::delete_rule)),
        )
        .route(
            "/os-networks/{network_id}",
            at(until(mv::NO_PROXIES), get(networks::show_network)),
        )
        .route(
            "/servers",
            get(servers::list_servers).post(servers::create_server),
        )
        .route("/servers/detail", get(servers::list_servers_detail))
        .route(
            "/servers/{server_id}",
            get(servers::show_server)
                .put(servers::update_server)
                .delete(servers::delete_server),
        )
        .route(
            "/servers/{server_id}/metadata",
            get(servers::list_metadata)
                .post(servers::create_metadata)
                .put(servers::replace_metadata),
        )
        .route(
            "/servers/{server_id}/metadata/{key}",
            get(servers::show_metadata_item)
                .put(servers::set_metadata_item)
                .delete(servers::delete_metadata_item),
        )
        .route(
            "/servers/{server_id}/action",
            post(server_actions::server_action),
        )
        .route(
            "/servers/{server_id}/os-instance-actions",
            get(instance_actions::list_instance_actions),
        )
        .route(
            "/servers/{server_id}/os-instance-actions/{request_id}",
            get(instance_actions::show_instance_action),
        )
        .route(
            "/servers/{server_id}/remote-consoles",
            at(
                since(mv::REMOTE_CONSOLES),
                post(consoles::create_remote_console),
            ),
        )
        .route(
            "/os-console-auth-tokens/{token}",
            get(consoles::show_console_token),
        )
        .route(
            "/servers/{server_id}/os-interface",
            get(interfaces::list_interfaces).post(interfaces::attach_interface),
        )
        .route(
            "/servers/{server_id}/os-interface/{port_id}",
            get(interfaces::show_interface).delete(interfaces::detach_interface),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments",
            get(volume_attachments::list_volume_attachments)
                .post(volume_attachments::attach_volume),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments/{volume_id}",
            get(volume_attachments::show_volume_attachment)
                .put(volume_attachments::update_volume_attachment)
                .delete(volume_attachments::detach_volume),
        )
        .route(
            "/servers/{server_id}/os-security-groups",
            get(server_actions::list_server_security_groups),
        )
        .route(
            "/os-keypairs",
            get(keypairs::list_keypairs).post(keypairs::create_keypair),
        )
        .route(
            "/os-keypairs/{keypair_name}",
            get(keypairs::show_keypair).delete(keypairs::delete_keypair),
        )
        .route(
            "/os-aggregates",
            get(aggregates::list_aggregates).post(aggregates::create_aggregate),
        )
        .route(
            "/os-aggregates/{aggregate_id}",
            get(aggregates::show_aggregate)
                .put(aggregates::update_aggregate)
                .delete(aggregates::delete_aggregate),
        )
        .route(
            "/os-aggregates/{aggregate_id}/action",
            post(aggregates::aggregate_action),
        )
        .route(
            "/os-aggregates/{aggregate_id}/images",
            at(since(mv::AGGREGATE_IMAGES), post(aggregates::cache_images)),
        )
        .route(
            "/os-server-groups",
            get(server_groups::list_server_groups).post(server_groups::create_server_group),
        )
        .route(
            "/os-server-groups/{server_group_id}",
            get(server_groups::show_server_group).delete(server_groups::delete_server_group),
        )
        .route(
            "/servers/{server_id}/diagnostics",
            get(servers::show_diagnostics),
        )
        .route(
            "/servers/{server_id}/os-server-password",
            get(servers::show_password).delete(servers::clear_password),
        )
        .route(
            "/servers/{server_id}/topology",
            at(since(mv::SERVER_TOPOLOGY), get(servers::show_topology)),
        )
        .route("/os-hosts", at(until(mv::NO_HOSTS), get(hosts::list_hosts)))
        .route(
            "/os-hosts/{host_name}",
            at(
                until(mv::NO_HOSTS),
                get(hosts::show_host).put(hosts::update_host),
            ),
        )
        .route(
            "/os-hosts/{host_name}/reboot",
            at(until(mv::NO_HOSTS), get(hosts::reboot_host)),
        )
        .route(
            "/os-hosts/{host_name}/shutdown",
            at(until(mv::NO_HOSTS), get(hosts::shutdown_host)),
        )
        .route(
            "/os-hosts/{host_name}/startup",
            at(until(mv::NO_HOSTS), get(hosts::startup_host)),
        )
        .route(
            "/os-simple-tenant-usage",
            get(simple_tenant_usage::list_tenant_usages),
        )
        .route(
            "/os-simple-tenant-usage/{tenant_id}",
            get(simple_tenant_usage::show_tenant_usage),
        )
        .route(
            "/os-instance_usage_audit_log",
            get(usage_audit_log::list_audit_logs),
        )
        .route(
            "/os-instance_usage_audit_log/{before_timestamp}",
            get(usage_audit_log::show_audit_log),
        )
        .route(
            "/os-server-external-events",
            post(server_external_events::create_events),
        )
        .route("/os-migrations", get(migrations::list_migrations))
        .route("/os-services", get(services::list_services))
        .route("/os-hypervisors", get(hypervisors::list_hypervisors))
        .route(
            "/os-hypervisors/detail",
            get(hypervisors::list_hypervisors_detail),
        )
        .route(
            "/os-hypervisors/statistics",
            at(
                until(mv::NO_HYPERVISOR_RESOURCES),
                get(hypervisors::hypervisor_statistics),
            ),
        )
        .route(
            "/os-hypervisors/{hypervisor_id}",
            get(hypervisors::show_hypervisor),
        )
        .route(
            "/os-hypervisors/{hypervisor_id}/uptime",
            at(
                until(mv::NO_HYPERVISOR_RESOURCES),
                get(hypervisors::show_hypervisor_uptime),
            ),
        )
        .route(
            "/os-hypervisors/{hypervisor_id}/search",
            at(
                until(mv::SERVICE_UUIDS),
                get(hypervisors::search_hypervisors),
            ),
        )
        .route(
            "/os-hypervisors/{hypervisor_id}/servers",
            at(
                until(mv::SERVICE_UUIDS),
                get(hypervisors::hypervisor_servers),
            ),
        )
        .route(
            "/os-availability-zone",
            get(availability_zones::list_availability_zones),
        )
        .route(
            "/os-availability-zone/detail",
            get(availability_zones::list_availability_zones_detail),
        )
        .route(
            "/os-services/{service_id}",
            put(services::update_service).delete(services::delete_service),
        )
        .route(
            "/servers/{server_id}/migrations",
            at(
                since(mv::SERVER_MIGRATIONS),
                get(migrations::list_server_migrations),
            ),
        )
        .route(
            "/servers/{server_id}/migrations/{migration_id}",
            at(
                since(mv::SERVER_MIGRATIONS),
                get(migrations::show_server_migration),
            )
            .merge(at(
                since(mv::ABORT_LIVE_MIGRATION),
                delete(migrations::abort_server_migration),
            )),
        )
        .route(
            "/servers/{server_id}/migrations/{migration_id}/action",
            at(
                since(mv::FORCE_COMPLETE),
                post(migrations::server_migration_action),
            ),
        )
        .route("/servers/{server_id}/ips", get(servers::list_ips))
        .route(
            "/servers/{server_id}/ips/{network_label}",
            get(servers::show_ips),
        )
        .route(
            "/servers/{server_id}/tags",
            at(
                since(mv::SERVER_TAGS),
                get(servers::list_tags)
                    .put(servers::replace_tags)
                    .delete(servers::delete_tags),
            ),
        )
        .route(
            "/servers/{server_id}/tags/{tag}",
            at(
                since(mv::SERVER_TAGS),
                get(servers::check_tag)
                    .put(servers::add_tag)
                    .delete(servers::delete_tag),
            ),
        )
        .route(
            "/flavors",
            get(flavors::list_flavors).post(flavors::create_flavor),
        )
        .route("/flavors/detail", get(flavors::list_flavors_detail))
        .route(
            "/flavors/{flavor_id}",
            get(flavors::show_flavor)
                .delete(flavors::delete_flavor)
                .merge(at(
                    since(mv::FLAVOR_DESCRIPTION),
                    put(flavors::update_flavor),
                )),
        )
        .route("/flavors/{flavor_id}/action", post(flavors::flavor_action))
        .route(
            "/flavors/{flavor_id}/os-flavor-access",
            get(flavors::list_flavor_access),
        )
        .route(
            "/flavors/{flavor_id}/os-extra_specs",
            get(flavors::list_extra_specs).post(flavors::create_extra_specs),
        )
        .route(
            "/flavors/{flavor_id}/os-extra_specs/{key}",
            get(flavors::show_extra_spec)
                .put(flavors::update_extra_spec)
                .delete(flavors::delete_extra_spec),
        )
        .method_not_allowed_fallback(
            |method: Method| async move { error::method_not_allowed(&method) },
        )
        .fallback(|| async { error::route_not_found() })
        .layer(from_fn(microversion::negotiate_layer))
        .layer(from_fn_with_state(state.clone(), require_project_token))
        .with_state(state)
}

/// Version documents are public; everything else needs a token.
fn is_public(path: &str) -> bool {
    path == "/" || path.starts_with("/versions/")
}

/// Authenticates (before routing and negotiation, as keystonemiddleware runs
/// in front of Nova), then checks that a project id in the URL is the token's.
async fn require_project_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let context = match auth::resolve(&state, request.headers()) {
        Ok(context) => context,
        Err(()) => return auth::unauthorized(&state, request.headers()),
    };
    let in_path = request
        .extensions()
        .get::<ApiRoot>()
        .and_then(|r| r.project_in_path.clone());
    if let Some(project) = in_path
        && project != context.project_id
    {
        return NovaError::bad_request(format!(
            "Malformed request URL: URL's project_id '{project}' doesn't match Context's project_id '{}'",
            context.project_id
        ))
        .into_response();
    }
    crate::control::trace::note_project(request.extensions(), &context.project_id);
    request.extensions_mut().insert(context);
    next.run(request).await
}

/// A project id segment, as Nova's router accepts it.
fn looks_like_project_id(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase() || b == b'-')
}

async fn dispatch(state: AppState, versioned: Router, mut request: Request) -> Response {
    let original = request
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_owned());
    let original = original.as_deref().unwrap_or_else(|| request.uri().path());
    let mount = if original == "/compute" || original.starts_with("/compute/") {
        "/compute"
    } else {
        ""
    };
    let service_url = format!(
        "{}{mount}",
        urls::base_url(request.headers(), state.config())
    );

    let path = request.uri().path().trim_start_matches('/').to_owned();
    let (first, rest) = path
        .split_once('/')
        .map_or((path.as_str(), ""), |(a, b)| (a, b));
    let legacy_v2 = match first {
        "v2.1" => false,
        "v2" => true,
        "" if request.method() == Method::GET => {
            return axum::Json(versions::list(&service_url)).into_response();
        }
        _ if request.method() == Method::GET => {
            let body = axum::Json(versions::choices(&service_url, &format!("/{path}")));
            return (StatusCode::MULTIPLE_CHOICES, body).into_response();
        }
        _ => return error::route_not_found(),
    };
    let (project, rest) = match rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b)) {
        (segment, tail) if looks_like_project_id(segment) => (Some(segment.to_owned()), tail),
        _ => (None, rest),
    };
    let version_segment = if legacy_v2 { "v2" } else { "v2.1" };
    let project_suffix = project
        .as_ref()
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let root = ApiRoot {
        legacy_v2,
        version_url: format!("{service_url}/{version_segment}{project_suffix}"),
        bookmark_url: format!("{service_url}{project_suffix}"),
        service_url,
        project_in_path: project,
    };
    let inner = match request.uri().query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    match inner.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return error::route_not_found(),
    }
    request.extensions_mut().insert(root);
    match versioned.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_segments() {
        assert!(looks_like_project_id("4f1c0e8a9b2d4e6f8a0b1c2d3e4f5a6b"));
        assert!(looks_like_project_id("abc-123"));
        assert!(!looks_like_project_id("servers"));
        assert!(!looks_like_project_id("flavors"));
        assert!(!looks_like_project_id("ABC"));
        assert!(!looks_like_project_id(""));
    }
}
