//! The compute API's operations for the OpenAPI document
//! (`GET /_oxstack/openapi.json`): every route this router serves, with
//! the request body schema the handler validates against at the newest
//! microversion where the handler has one of its own.

use serde_json::Value;

use super::flavors::schema as flavor_schema;
use super::microversion::MAX;
use super::servers::schema as server_schema;
use super::{image_metadata, servers};

/// What an operation takes as its body.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    None,
    /// A JSON object the handler validates with rules of its own.
    Object,
    /// The handler's own schema.
    Schema(fn() -> Value),
}

/// One operation: method, path under `/compute/v2.1`, body.
pub(crate) type Operation = (&'static str, &'static str, Body);

fn server_create() -> Value {
    server_schema::create(MAX)
}

fn server_update() -> Value {
    server_schema::update(MAX)
}

fn server_metadata() -> Value {
    servers::metadata::body_schema("metadata", false)
}

fn server_meta_item() -> Value {
    servers::metadata::body_schema("meta", true)
}

fn image_metadata() -> Value {
    image_metadata::metadata_schema("metadata", false)
}

fn image_meta_item() -> Value {
    image_metadata::metadata_schema("meta", true)
}

fn flavor_create() -> Value {
    flavor_schema::create(true, true)
}

/// Every compute operation, in the router's order.
pub(crate) fn operations() -> Vec<Operation> {
    use Body::{None as N, Object as O, Schema as S};
    vec![
        ("get", "/", N),
        ("get", "/versions/{version_id}", N),
        ("get", "/extensions", N),
        ("get", "/extensions/{alias}", N),
        ("get", "/limits", N),
        ("get", "/images", N),
        ("get", "/images/detail", N),
        ("get", "/images/{image_id}", N),
        ("delete", "/images/{image_id}", N),
        ("get", "/images/{image_id}/metadata", N),
        ("post", "/images/{image_id}/metadata", S(image_metadata)),
        ("put", "/images/{image_id}/metadata", S(image_metadata)),
        ("get", "/images/{image_id}/metadata/{key}", N),
        (
            "put",
            "/images/{image_id}/metadata/{key}",
            S(image_meta_item),
        ),
        ("delete", "/images/{image_id}/metadata/{key}", N),
        ("get", "/os-quota-sets/{tenant_id}", N),
        ("put", "/os-quota-sets/{tenant_id}", O),
        ("delete", "/os-quota-sets/{tenant_id}", N),
        ("get", "/os-quota-sets/{tenant_id}/detail", N),
        ("get", "/os-quota-sets/{tenant_id}/defaults", N),
        ("get", "/os-quota-class-sets/{class}", N),
        ("put", "/os-quota-class-sets/{class}", O),
        ("get", "/os-networks", N),
        ("get", "/os-networks/{network_id}", N),
        ("get", "/os-floating-ip-pools", N),
        ("get", "/os-floating-ips", N),
        ("post", "/os-floating-ips", O),
        ("get", "/os-floating-ips/{floating_ip_id}", N),
        ("delete", "/os-floating-ips/{floating_ip_id}", N),
        ("get", "/servers", N),
        ("post", "/servers", S(server_create)),
        ("get", "/servers/detail", N),
        ("get", "/servers/{server_id}", N),
        ("put", "/servers/{server_id}", S(server_update)),
        ("delete", "/servers/{server_id}", N),
        ("get", "/servers/{server_id}/metadata", N),
        ("post", "/servers/{server_id}/metadata", S(server_metadata)),
        ("put", "/servers/{server_id}/metadata", S(server_metadata)),
        ("get", "/servers/{server_id}/metadata/{key}", N),
        (
            "put",
            "/servers/{server_id}/metadata/{key}",
            S(server_meta_item),
        ),
        ("delete", "/servers/{server_id}/metadata/{key}", N),
        ("post", "/servers/{server_id}/action", O),
        ("get", "/servers/{server_id}/os-instance-actions", N),
        (
            "get",
            "/servers/{server_id}/os-instance-actions/{request_id}",
            N,
        ),
        ("post", "/servers/{server_id}/remote-consoles", O),
        ("get", "/os-console-auth-tokens/{token}", N),
        ("get", "/servers/{server_id}/os-security-groups", N),
        ("get", "/os-keypairs", N),
        ("post", "/os-keypairs", O),
        ("get", "/os-keypairs/{keypair_name}", N),
        ("delete", "/os-keypairs/{keypair_name}", N),
        ("get", "/os-aggregates", N),
        ("post", "/os-aggregates", O),
        ("get", "/os-aggregates/{aggregate_id}", N),
        ("put", "/os-aggregates/{aggregate_id}", O),
        ("delete", "/os-aggregates/{aggregate_id}", N),
        ("post", "/os-aggregates/{aggregate_id}/action", O),
        ("post", "/os-aggregates/{aggregate_id}/images", O),
        ("get", "/os-server-groups", N),
        ("post", "/os-server-groups", O),
        ("get", "/os-server-groups/{server_group_id}", N),
        ("delete", "/os-server-groups/{server_group_id}", N),
        ("get", "/servers/{server_id}/diagnostics", N),
        ("get", "/servers/{server_id}/os-server-password", N),
        ("delete", "/servers/{server_id}/os-server-password", N),
        ("get", "/servers/{server_id}/topology", N),
        ("get", "/os-hosts", N),
        ("get", "/os-hosts/{host_name}", N),
        ("put", "/os-hosts/{host_name}", O),
        ("get", "/os-hosts/{host_name}/reboot", N),
        ("get", "/os-hosts/{host_name}/shutdown", N),
        ("get", "/os-hosts/{host_name}/startup", N),
        ("get", "/os-simple-tenant-usage", N),
        ("get", "/os-simple-tenant-usage/{tenant_id}", N),
        ("get", "/os-instance_usage_audit_log", N),
        ("get", "/os-instance_usage_audit_log/{before_timestamp}", N),
        ("post", "/os-server-external-events", O),
        ("get", "/os-migrations", N),
        ("get", "/os-services", N),
        ("put", "/os-services/{service_id}", O),
        ("delete", "/os-services/{service_id}", N),
        ("get", "/os-hypervisors", N),
        ("get", "/os-hypervisors/detail", N),
        ("get", "/os-hypervisors/statistics", N),
        ("get", "/os-hypervisors/{hypervisor_id}", N),
        ("get", "/os-hypervisors/{hypervisor_id}/uptime", N),
        ("get", "/os-hypervisors/{hypervisor_id}/search", N),
        ("get", "/os-hypervisors/{hypervisor_id}/servers", N),
        ("get", "/os-availability-zone", N),
        ("get", "/os-availability-zone/detail", N),
        ("get", "/servers/{server_id}/migrations", N),
        ("get", "/servers/{server_id}/migrations/{migration_id}", N),
        (
            "delete",
            "/servers/{server_id}/migrations/{migration_id}",
            N,
        ),
        (
            "post",
            "/servers/{server_id}/migrations/{migration_id}/action",
            O,
        ),
        ("get", "/servers/{server_id}/ips", N),
        ("get", "/servers/{server_id}/ips/{network_label}", N),
        ("get", "/servers/{server_id}/tags", N),
        (
            "put",
            "/servers/{server_id}/tags",
            S(servers::tags::replace_all_schema),
        ),
        ("delete", "/servers/{server_id}/tags", N),
        ("get", "/servers/{server_id}/tags/{tag}", N),
        ("put", "/servers/{server_id}/tags/{tag}", N),
        ("delete", "/servers/{server_id}/tags/{tag}", N),
        ("get", "/flavors", N),
        ("post", "/flavors", S(flavor_create)),
        ("get", "/flavors/detail", N),
        ("get", "/flavors/{flavor_id}", N),
        ("put", "/flavors/{flavor_id}", S(flavor_schema::update)),
        ("delete", "/flavors/{flavor_id}", N),
        ("post", "/flavors/{flavor_id}/action", O),
        ("get", "/flavors/{flavor_id}/os-flavor-access", N),
        ("get", "/flavors/{flavor_id}/os-extra_specs", N),
        (
            "post",
            "/flavors/{flavor_id}/os-extra_specs",
            S(flavor_schema::extra_specs_create),
        ),
        ("get", "/flavors/{flavor_id}/os-extra_specs/{key}", N),
        (
            "put",
            "/flavors/{flavor_id}/os-extra_specs/{key}",
            S(flavor_schema::extra_spec_update),
        ),
        ("delete", "/flavors/{flavor_id}/os-extra_specs/{key}", N),
    ]
}
