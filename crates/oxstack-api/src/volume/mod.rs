//! The Cinder v3 subset under `/volume`: version discovery with Cinder's
//! microversions (3.0–3.71), volumes and their actions and metadata,
//! snapshots, volume types and extra specs, the attachments API, limits,
//! quota sets and availability zones. Resources are routed with and
//! without the project in the URL (`/v3/{project_id}/volumes` and
//! `/v3/volumes`), as Cinder does. This file is the one table of its
//! routes.

mod actions;
mod attachments;
mod limits;
mod snapshots;
mod types;
mod views;
mod volumes;

pub(crate) use volumes::string_map;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use oxstack_identity::policy::roles;
use oxstack_volume::{Caller, VolumeError};
use serde_json::{Value, json};
use tower::Layer as _;

use crate::compute::error::NovaError;
use crate::{AppState, auth, urls};

/// Cinder's error bodies are Nova's: `{"<faultName>": {code, message}}`.
pub(crate) type CinderError = NovaError;

/// A volume API microversion's minor number (3.x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VolumeVersion(pub u32);

/// The range served: 3.0 to 3.71.
const MIN: VolumeVersion = VolumeVersion(0);
const MAX: VolumeVersion = VolumeVersion(71);

/// The microversions at which something this API follows changed.
pub(crate) mod vv {
    use super::VolumeVersion;
    /// 3.13: volumes show `group_id`.
    pub const GROUP_ID: VolumeVersion = VolumeVersion(13);
    /// 3.14: snapshots show `group_snapshot_id`.
    pub const GROUP_SNAPSHOT_ID: VolumeVersion = VolumeVersion(14);
    /// 3.21: volumes show `provider_id` (admins).
    pub const PROVIDER_ID: VolumeVersion = VolumeVersion(21);
    /// 3.23: `force` on a volume delete.
    pub const DELETE_FORCE: VolumeVersion = VolumeVersion(23);
    /// 3.27: the attachments API.
    pub const ATTACHMENTS: VolumeVersion = VolumeVersion(27);
    /// 3.41: snapshots show `user_id`.
    pub const SNAPSHOT_USER_ID: VolumeVersion = VolumeVersion(41);
    /// 3.42: extending an in-use volume.
    pub const EXTEND_IN_USE: VolumeVersion = VolumeVersion(42);
    /// 3.44: `os-complete` of an attachment.
    pub const ATTACHMENT_COMPLETE: VolumeVersion = VolumeVersion(44);
    /// 3.45: `with_count`.
    pub const WITH_COUNT: VolumeVersion = VolumeVersion(45);
    /// 3.48: `shared_targets` and `service_uuid`.
    pub const SHARED_TARGETS: VolumeVersion = VolumeVersion(48);
    /// 3.53: unknown keys of a volume create are refused.
    pub const STRICT_CREATE: VolumeVersion = VolumeVersion(53);
    /// 3.54: an attachment's `mode`.
    pub const ATTACHMENT_MODE: VolumeVersion = VolumeVersion(54);
    /// 3.61: `cluster_name` (admins).
    pub const CLUSTER_NAME: VolumeVersion = VolumeVersion(61);
    /// 3.63: `volume_type_id`.
    pub const VOLUME_TYPE_ID: VolumeVersion = VolumeVersion(63);
    /// 3.65: `consumes_quota`.
    pub const CONSUMES_QUOTA: VolumeVersion = VolumeVersion(65);
    /// 3.66: snapshots of in-use volumes without `force`.
    pub const SNAPSHOT_IN_USE: VolumeVersion = VolumeVersion(66);
}

/// The `/volume` service: its router, behind the rewrite that drops an
/// optional project id after `/v3`.
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
    let router = router(state.clone()).with_state(state);
    tower::util::MapRequestLayer::new(strip_project).layer(router.into_service())
}

fn router(state: AppState) -> Router<AppState> {
    let v3 = Router::new()
        .route("/", get(show_version))
        .route(
            "/volumes",
            get(volumes::list_volumes).post(volumes::create_volume),
        )
        .route("/volumes/detail", get(volumes::list_volumes_detail))
        .route("/volumes/summary", get(volumes::volume_summary))
        .route(
            "/volumes/{id}",
            get(volumes::show_volume)
                .put(volumes::update_volume)
                .delete(volumes::delete_volume),
        )
        .route("/volumes/{id}/action", post(actions::volume_action))
        .route(
            "/volumes/{id}/metadata",
            get(volumes::show_metadata)
                .post(volumes::merge_metadata)
                .put(volumes::replace_metadata),
        )
        .route(
            "/volumes/{id}/metadata/{key}",
            get(volumes::show_metadata_item)
                .put(volumes::set_metadata_item)
                .delete(volumes::delete_metadata_item),
        )
        .route(
            "/snapshots",
            get(snapshots::list_snapshots).post(snapshots::create_snapshot),
        )
        .route("/snapshots/detail", get(snapshots::list_snapshots_detail))
        .route(
            "/snapshots/{id}",
            get(snapshots::show_snapshot)
                .put(snapshots::update_snapshot)
                .delete(snapshots::delete_snapshot),
        )
        .route("/snapshots/{id}/action", post(snapshots::snapshot_action))
        .route("/types", get(types::list_types).post(types::create_type))
        .route("/types/default", get(types::show_default_type))
        .route(
            "/types/{id}",
            get(types::show_type)
                .put(types::update_type)
                .delete(types::delete_type),
        )
        .route(
            "/types/{id}/extra_specs",
            get(types::list_extra_specs).post(types::set_extra_specs),
        )
        .route(
            "/types/{id}/extra_specs/{key}",
            get(types::show_extra_spec)
                .put(types::set_extra_spec)
                .delete(types::delete_extra_spec),
        )
        .route(
            "/attachments",
            get(attachments::list_attachments).post(attachments::create_attachment),
        )
        .route(
            "/attachments/detail",
            get(attachments::list_attachments_detail),
        )
        .route(
            "/attachments/{id}",
            get(attachments::show_attachment)
                .put(attachments::update_attachment)
                .delete(attachments::delete_attachment),
        )
        .route(
            "/attachments/{id}/action",
            post(attachments::attachment_action),
        )
        .route("/limits", get(limits::show_limits))
        .route("/os-availability-zone", get(limits::list_zones))
        .route(
            "/os-quota-sets/{project_id}",
            get(limits::show_quota_set)
                .put(limits::update_quota_set)
                .delete(limits::reset_quota_set),
        )
        .route(
            "/os-quota-sets/{project_id}/defaults",
            get(limits::show_default_quota_set),
        )
        .fallback(|| async { CinderError::not_at_this_version() })
        .layer(axum::middleware::from_fn_with_state(state, negotiate));
    Router::new()
        .route("/", get(list_versions))
        .route("/v3/", get(show_version))
        .nest("/v3", v3)
        .fallback(|| async { CinderError::not_at_this_version() })
}

/// `/v3/{project_id}/...` is `/v3/...` (Cinder routes both; the project
/// is the token's).
fn strip_project(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    let Some(rest) = path.strip_prefix("/v3/") else {
        return request;
    };
    let (segment, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let is_project =
        segment.len() >= 32 && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if !is_project {
        return request;
    }
    let rebuilt = match uri.query() {
        Some(q) => format!("/v3/{tail}?{q}"),
        None => format!("/v3/{tail}"),
    };
    if let Ok(new) = rebuilt.parse::<Uri>() {
        *request.uri_mut() = new;
    }
    request
}

/// The one version document (its self link, its microversion range).
fn version_doc(headers: &HeaderMap, state: &AppState) -> Value {
    let href = format!("{}/volume/v3/", urls::base_url(headers, state.config()));
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": format!("3.{}", MAX.0),
        "min_version": format!("3.{}", MIN.0),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": href},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    })
}

/// `GET /volume/`: 300 Multiple Choices with the one version
/// (unauthenticated).
pub async fn list_versions(State(state): State<AppState>, headers: HeaderMap) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": [version_doc(&headers, &state)]})),
    )
        .into_response()
}

/// `GET /volume/v3/`: the same document, 200.
async fn show_version(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [version_doc(&headers, &state)]}))
}

/// Reads `OpenStack-API-Version: volume 3.x` (3.0 when absent), refuses
/// what is malformed (400) or out of range (406), and echoes the version
/// served on the response.
async fn negotiate(State(_state): State<AppState>, mut request: Request, next: Next) -> Response {
    let version = match requested(request.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    request.extensions_mut().insert(version);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("volume 3.{}", version.0)) {
        headers.insert("openstack-api-version", v);
    }
    headers.insert(
        http::header::VARY,
        HeaderValue::from_static("OpenStack-API-Version"),
    );
    response
}

fn requested(headers: &HeaderMap) -> Result<VolumeVersion, CinderError> {
    let asked = headers
        .get_all("openstack-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|entry| entry.contains("volume"))
        .map(|entry| entry.trim().trim_start_matches("volume").trim().to_owned());
    let Some(text) = asked else {
        return Ok(MIN);
    };
    if text == "latest" {
        return Ok(MAX);
    }
    let parsed = text.split_once('.').and_then(|(major, minor)| {
        let major: u32 = major.parse().ok()?;
        let minor: u32 = minor.parse().ok()?;
        Some((major, minor))
    });
    match parsed {
        None => Err(CinderError::bad_request(format!(
            "API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
        ))),
        Some((3, minor)) if (MIN.0..=MAX.0).contains(&minor) => Ok(VolumeVersion(minor)),
        Some(_) => Err(CinderError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {text} is not supported by the API. Minimum is 3.{} and maximum is 3.{}.",
                MIN.0, MAX.0
            ),
        )),
    }
}

/// What every volume handler needs about its request.
pub struct VolumeReq {
    pub caller: Caller,
    pub version: VolumeVersion,
    /// `<public URL>/volume/v3/<project>`, for links.
    pub base: String,
    /// Query parameters in order.
    pub query: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for VolumeReq {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let context = auth::resolve(state, &parts.headers)
            .map_err(|()| auth::unauthorized(state, &parts.headers))?;
        crate::control::trace::note_project(&parts.extensions, &context.project_id);
        let query = match parts.uri.query() {
            Some(q) => serde_urlencoded::from_str(q)
                .map_err(|_| CinderError::bad_request("Malformed request URL").into_response())?,
            None => Vec::new(),
        };
        let base = format!(
            "{}/volume/v3/{}",
            urls::base_url(&parts.headers, state.config()),
            context.project_id
        );
        Ok(Self {
            caller: Caller {
                is_admin: context.is_admin(),
                can_write: context.has_role(roles::MEMBER),
                project_id: context.project_id,
                user_id: context.user_id,
            },
            version: parts
                .extensions
                .get::<VolumeVersion>()
                .copied()
                .unwrap_or(MIN),
            base,
            query,
        })
    }
}

impl VolumeReq {
    pub fn at_least(&self, version: VolumeVersion) -> bool {
        self.version >= version
    }

    /// The last value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query flag as Cinder reads it (`all_tenants=1`, `cascade=True`).
    pub fn flag(&self, name: &str) -> bool {
        self.param(name).is_some_and(|v| truthy(v) == Some(true))
    }

    /// A route that exists from `version` on: Cinder's 404 before.
    pub fn since(&self, version: VolumeVersion) -> Result<(), CinderError> {
        if self.at_least(version) {
            Ok(())
        } else {
            Err(CinderError::not_at_this_version())
        }
    }

    /// `self` and `bookmark` links of `collection/id`.
    pub fn links(&self, collection: &str, id: &str) -> Value {
        let bookmark = self.base.replacen("/volume/v3/", "/volume/", 1);
        json!([
            {"rel": "self", "href": format!("{}/{collection}/{id}", self.base)},
            {"rel": "bookmark", "href": format!("{bookmark}/{collection}/{id}")},
        ])
    }
}

/// Cinder's bool-ish strings (`True`, `yes`, `1`, `off`, ...).
pub(crate) fn truthy(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" | "y" | "t" => Some(true),
        "false" | "0" | "off" | "no" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// A JSON boolean or bool-ish string.
pub(crate) fn boolish(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => truthy(s),
        _ => None,
    }
}

impl From<VolumeError> for CinderError {
    fn from(err: VolumeError) -> Self {
        match err {
            VolumeError::NotFound(m) => Self::not_found(m),
            VolumeError::Invalid(m) => Self::bad_request(m),
            VolumeError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            VolumeError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            VolumeError::OverLimit(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            // A store failure is answered as the compute API answers one.
            VolumeError::Store(e) => oxstack_compute::ComputeError::Store(e).into(),
            VolumeError::Io(e) => {
                tracing::error!(error = %e, "volume data failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

/// A listing's answer: `views` sorted (`sort=key:dir,...` or
/// `sort_key`/`sort_dir`; newest first by default), paged (`marker`,
/// `limit`, at most 1000) with `<collection>_links` when the page is full,
/// and `count` (3.45, `with_count`).
pub(crate) fn listing(
    req: &VolumeReq,
    collection: &str,
    mut views: Vec<Value>,
) -> Result<Value, CinderError> {
    let keys = sort_keys(req)?;
    views.sort_by(|a, b| {
        keys.iter()
            .map(|(key, asc)| {
                let ordering = compare(&a[key.as_str()], &b[key.as_str()]);
                if *asc { ordering } else { ordering.reverse() }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let total = views.len();
    let start = match req.param("marker") {
        Some(marker) => {
            views
                .iter()
                .position(|v| v["id"] == marker)
                .ok_or_else(|| {
                    CinderError::bad_request(format!("Marker {marker} could not be found."))
                })?
                + 1
        }
        None => 0,
    };
    let limit = match req.param("limit") {
        Some(l) => {
            let n: i64 = l
                .parse()
                .map_err(|_| CinderError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(CinderError::bad_request("limit param must be positive"));
            }
            usize::try_from(n).unwrap_or(usize::MAX).min(1000)
        }
        None => 1000,
    };
    let page: Vec<Value> = views.into_iter().skip(start).take(limit).collect();
    let mut out = Map::new();
    if page.len() == limit && limit > 0 {
        let last = page
            .last()
            .and_then(|v| v["id"].as_str())
            .unwrap_or_default();
        let mut params: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "marker")
            .cloned()
            .collect();
        params.push(("marker".into(), last.to_owned()));
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        out.insert(
            format!("{collection}_links"),
            json!([{"rel": "next", "href": format!("{}/{collection}?{query}", req.base)}]),
        );
    }
    out.insert(collection.to_owned(), Value::Array(page));
    if req.at_least(vv::WITH_COUNT) && req.flag("with_count") {
        out.insert("count".into(), json!(total));
    }
    Ok(Value::Object(out))
}

use serde_json::Map;

/// The sort a listing asks for: `(view key, ascending)` pairs.
fn sort_keys(req: &VolumeReq) -> Result<Vec<(String, bool)>, CinderError> {
    let view_key = |k: &str| match k {
        "display_name" => "name".to_owned(),
        other => other.to_owned(),
    };
    let ascending = |dir: &str| match dir.to_ascii_lowercase().as_str() {
        "asc" => Ok(true),
        "desc" => Ok(false),
        _ => Err(CinderError::bad_request(
            "Unknown sort direction, must be 'desc' or 'asc'",
        )),
    };
    if let Some(sort) = req.param("sort") {
        if req.param("sort_key").is_some() || req.param("sort_dir").is_some() {
            return Err(CinderError::bad_request(
                "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.",
            ));
        }
        return sort
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|item| {
                let (key, dir) = item.split_once(':').unwrap_or((item, "desc"));
                Ok((view_key(key.trim()), ascending(dir.trim())?))
            })
            .collect();
    }
    let key = req.param("sort_key").unwrap_or("created_at");
    let dir = req.param("sort_dir").unwrap_or("desc");
    let asc = ascending(dir)?;
    let mut keys = vec![(view_key(key), asc)];
    // Ties fall back to the id, as Cinder's paginate_query does.
    keys.push(("id".into(), asc));
    Ok(keys)
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// A `metadata` filter, as clients send it: a Python dict literal
/// (`{'k': 'v'}`) or JSON.
pub(crate) fn metadata_filter(text: &str) -> Result<Map<String, Value>, CinderError> {
    serde_json::from_str::<Map<String, Value>>(text)
        .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")))
        .map_err(|_| CinderError::bad_request(format!("Invalid filter metadata: {text}")))
}

/// `{key: view}` with a status.
pub(crate) fn respond(status: StatusCode, key: &str, view: Value) -> Response {
    (status, Json(crate::envelope::envelope(key, view))).into_response()
}
