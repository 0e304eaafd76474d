//! The Neutron v2.0 subset under `/network`: version discovery,
//! extensions, networks, subnets, ports, routers, floating IPs, security
//! groups and their rules, tags and quotas. This file is the one table of its routes.

mod attributes;
pub(crate) mod error;
mod extensions;
mod floating_ips;
mod networks;
mod ports;
mod query;
mod quotas;
mod routers;
mod security_groups;
mod subnets;
mod tags;
mod views;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::request::Parts;
use http::{HeaderMap, StatusCode, Uri};
use oxstack_identity::policy::roles;
use serde_json::{Value, json};
use tower::Layer as _;

use crate::body::{BodyError, read_body};
use crate::{AppState, auth, urls};
use error::NeutronError;

/// The `/network` service: its router, behind the rewrite that drops
/// Neutron's optional `.json` suffix (`/v2.0/networks.json`).
pub fn service(
    state: AppState,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let router = router().with_state(state);
    tower::util::MapRequestLayer::new(strip_json_suffix).layer(router.into_service())
}

fn router() -> Router<AppState> {
    let v2 = Router::new()
        .route("/extensions", get(extensions::list_extensions))
        .route("/extensions/{alias}", get(extensions::show_extension))
        .route(
            "/networks",
            get(networks::list_networks).post(networks::create_network),
        )
        .route(
            "/networks/{id}",
            get(networks::show_network)
                .put(networks::update_network)
                .delete(networks::delete_network),
        )
        .route(
            "/subnets",
            get(subnets::list_subnets).post(subnets::create_subnet),
        )
        .route(
            "/subnets/{id}",
            get(subnets::show_subnet)
                .put(subnets::update_subnet)
                .delete(subnets::delete_subnet),
        )
        .route("/ports", get(ports::list_ports).post(ports::create_port))
        .route(
            "/ports/{id}",
            get(ports::show_port)
                .put(ports::update_port)
                .delete(ports::delete_port),
        )
        .route(
            "/routers",
            get(routers::list_routers).post(routers::create_router),
        )
        .route(
            "/routers/{id}",
            get(routers::show_router)
                .put(routers::update_router)
                .delete(routers::delete_router),
        )
        .route(
            "/routers/{id}/add_router_interface",
            axum::routing::put(routers::add_router_interface),
        )
        .route(
            "/routers/{id}/remove_router_interface",
            axum::routing::put(routers::remove_router_interface),
        )
        .route(
            "/floatingips",
            get(floating_ips::list_floating_ips).post(floating_ips::create_floating_ip),
        )
        .route(
            "/floatingips/{id}",
            get(floating_ips::show_floating_ip)
                .put(floating_ips::update_floating_ip)
                .delete(floating_ips::delete_floating_ip),
        )
        .route(
            "/security-groups",
            get(security_groups::list_security_groups).post(security_groups::create_security_group),
        )
        .route(
            "/security-groups/{id}",
            get(security_groups::show_security_group)
                .put(security_groups::update_security_group)
                .delete(security_groups::delete_security_group),
        )
        .route(
            "/security-group-rules",
            get(security_groups::list_rules).post(security_groups::create_rule),
        )
        .route(
            "/security-group-rules/{id}",
            get(security_groups::show_rule).delete(security_groups::delete_rule),
        )
        .route(
            "/{collection}/{id}/tags",
            get(tags::list_tags)
                .put(tags::replace_tags)
                .delete(tags::remove_all_tags),
        )
        .route(
            "/{collection}/{id}/tags/{tag}",
            get(tags::show_tag)
                .put(tags::add_tag)
                .delete(tags::remove_tag),
        )
        .route("/quotas", get(quotas::list_quotas))
        .route(
            "/quotas/{project_id}",
            get(quotas::show_quota)
                .put(quotas::update_quota)
                .delete(quotas::reset_quota),
        )
        .route(
            "/quotas/{project_id}/default",
            get(quotas::show_default_quota),
        )
        .route(
            "/quotas/{project_id}/details",
            get(quotas::show_quota_details),
        )
        .fallback(|| async { NeutronError::not_found() });
    Router::new()
        .route("/", get(list_versions))
        // `/v2.0/` lists the collections; `/v2.0` is a 404, as in Neutron.
        .route("/v2.0/", get(list_resources))
        .nest("/v2.0", v2)
        .fallback(|| async { NeutronError::not_found() })
}

/// `/v2.0/networks.json` is `/v2.0/networks`, as in Neutron.
fn strip_json_suffix(mut request: Request) -> Request {
    let uri = request.uri();
    if let Some(stripped) = uri.path().strip_suffix(".json") {
        let rebuilt = match uri.query() {
            Some(q) => format!("{stripped}?{q}"),
            None => stripped.to_owned(),
        };
        if let Ok(new) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = new;
        }
    }
    request
}

/// The base of this service's links: `<public URL>/network`.
fn base(headers: &HeaderMap, state: &AppState) -> String {
    format!("{}/network", urls::base_url(headers, state.config()))
}

/// `GET /network/`: the one version, v2.0 (unauthenticated).
pub async fn list_versions(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let href = format!("{}/v2.0/", base(&headers, &state));
    Json(json!({"versions": [
        {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}
    ]}))
}

/// `GET /network/v2.0/`: the core collections.
async fn list_resources(
    State(state): State<AppState>,
    _caller: NetworkCaller,
    headers: HeaderMap,
) -> Json<Value> {
    let base = base(&headers, &state);
    let resources: Vec<Value> = [
        ("subnet", "subnets"),
        ("network", "networks"),
        ("port", "ports"),
    ]
    .iter()
    .map(|(name, collection)| {
        json!({"name": name, "collection": collection,
               "links": [{"rel": "self", "href": format!("{base}/v2.0/{collection}")}]})
    })
    .collect();
    Json(json!({"resources": resources}))
}

/// The authenticated caller of a networking request.
pub struct NetworkCaller(pub oxstack_network::Caller);

impl FromRequestParts<AppState> for NetworkCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let context = auth::resolve(state, &parts.headers)
            .map_err(|()| auth::unauthorized(state, &parts.headers))?;
        crate::control::trace::note_project(&parts.extensions, &context.project_id);
        Ok(NetworkCaller(oxstack_network::Caller {
            is_admin: context.is_admin(),
            can_write: context.has_role(roles::MEMBER),
            project_id: context.project_id,
        }))
    }
}

impl NetworkCaller {
    fn is_admin(&self) -> bool {
        self.0.is_admin
    }
}

/// A request's JSON body (any JSON; the resource checks its shape).
async fn json_body(request: Request, state: &AppState) -> Result<Value, NeutronError> {
    let bytes = read_body(request, state).await?;
    serde_json::from_slice(&bytes).map_err(|_| BodyError::Malformed.into())
}

/// A create's or update's body: `{resource: {...}}` checked against the
/// resource's attributes.
async fn checked_body(
    request: Request,
    state: &AppState,
    resource: &str,
    attrs: &[attributes::Attr],
    method: attributes::Method,
) -> Result<serde_json::Map<String, Value>, NeutronError> {
    attributes::check(json_body(request, state).await?, resource, attrs, method)
}

/// A listing's answer: the views of what the caller sees, filtered,
/// sorted, paged and narrowed as the query asks; `(name, path, fields)`
/// name the collection (its key, its path under `/v2.0`, its attributes).
fn listing(
    (name, path, fields): (&str, &str, &[&str]),
    views: Vec<Value>,
    headers: &HeaderMap,
    state: &AppState,
    raw: Option<&str>,
) -> Result<Json<Value>, NeutronError> {
    let collection = collection(name, path, fields, headers, state);
    Ok(Json(query::list(
        &collection,
        &query::Query::parse(raw),
        views,
    )?))
}

/// A collection at `/v2.0/{path}` whose views have `fields`.
fn collection<'a>(
    name: &'a str,
    path: &str,
    fields: &'a [&'a str],
    headers: &HeaderMap,
    state: &AppState,
) -> query::Collection<'a> {
    query::Collection {
        name,
        fields,
        handled: &[],
        paged: false,
        url: format!("{}/v2.0/{path}", base(headers, state)),
    }
}

/// A show's answer: the view under `key`, narrowed to the query's
/// `fields`.
fn shown(key: &str, view: Value, raw: Option<&str>) -> Response {
    let query = query::Query::parse(raw);
    respond(StatusCode::OK, key, query::project(view, &query.fields()))
}

/// `{key: view}` with a status.
fn respond(status: StatusCode, key: &str, view: Value) -> Response {
    (status, Json(crate::envelope::envelope(key, view))).into_response()
}
