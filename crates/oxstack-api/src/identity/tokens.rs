//! `/v3/auth/tokens` and the service catalog.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use oxstack_identity::{
    AuthMethod, AuthRequest, DomainRef, IssuedToken, ProjectRef, ScopeRequest, UserRef,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::views::{domain_ref, timestamp};
use super::{Caller, KeystoneError, KeystoneJson};
use crate::envelope::envelope;
use crate::{AppState, urls};

const SUBJECT_TOKEN: &str = "x-subject-token";

#[derive(Deserialize)]
pub struct AuthBody {
    auth: AuthSection,
}

#[derive(Deserialize)]
struct AuthSection {
    identity: IdentitySection,
    #[serde(default)]
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct IdentitySection {
    methods: Vec<String>,
    password: Option<PasswordSection>,
    token: Option<TokenSection>,
}

#[derive(Deserialize)]
struct PasswordSection {
    user: UserSection,
}

#[derive(Deserialize)]
struct UserSection {
    id: Option<String>,
    name: Option<String>,
    domain: Option<DomainSection>,
    password: String,
}

#[derive(Deserialize)]
struct DomainSection {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct TokenSection {
    id: String,
}

fn domain_ref_of(domain: Option<DomainSection>, what: &str) -> Result<DomainRef, KeystoneError> {
    match domain {
        Some(DomainSection { id: Some(id), .. }) => Ok(DomainRef::Id(id)),
        Some(DomainSection {
            name: Some(name), ..
        }) => Ok(DomainRef::Name(name)),
        _ => Err(KeystoneError::bad_request(format!(
            "Expecting to find domain in {what}. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."
        ))),
    }
}

fn parse_scope(scope: Option<Value>) -> Result<ScopeRequest, KeystoneError> {
    let Some(scope) = scope else {
        return Ok(ScopeRequest::Default);
    };
    if scope == json!("unscoped") {
        return Ok(ScopeRequest::Unscoped);
    }
    if let Some(project) = scope.get("project") {
        #[derive(Deserialize)]
        struct ProjectSection {
            id: Option<String>,
            name: Option<String>,
            domain: Option<DomainSection>,
        }
        let p: ProjectSection = serde_json::from_value(project.clone()).map_err(|e| {
            KeystoneError::bad_request(format!("Invalid input for field 'scope': {e}"))
        })?;
        return match (p.id, p.name) {
            (Some(id), _) => Ok(ScopeRequest::Project(ProjectRef::Id(id))),
            (None, Some(name)) => Ok(ScopeRequest::Project(ProjectRef::Name {
                name,
                domain: domain_ref_of(p.domain, "project")?,
            })),
            _ => Err(KeystoneError::bad_request(
                "Invalid input for field 'scope': a project needs an id or a name.",
            )),
        };
    }
    if scope.get("domain").is_some()
        || scope.get("system").is_some()
        || scope.get("OS-TRUST:trust").is_some()
    {
        return Err(KeystoneError::bad_request(
            "Invalid input for field 'scope': oxstack issues project-scoped and unscoped tokens only.",
        ));
    }
    Err(KeystoneError::bad_request(
        "Invalid input for field 'scope': unknown scope.",
    ))
}

fn parse_auth(body: AuthBody) -> Result<AuthRequest, KeystoneError> {
    let identity = body.auth.identity;
    let method = if identity.methods.iter().any(|m| m == "password") {
        let user = identity
            .password
            .ok_or_else(|| {
                KeystoneError::bad_request(
                    "Invalid input for field 'identity': 'password' is a required property",
                )
            })?
            .user;
        let reference = match (user.id, user.name) {
            (Some(id), _) => UserRef::Id(id),
            (None, Some(name)) => UserRef::Name {
                name,
                domain: domain_ref_of(user.domain, "user")?,
            },
            _ => {
                return Err(KeystoneError::bad_request(
                    "Invalid input for field 'user': a user needs an id or a name.",
                ));
            }
        };
        AuthMethod::Password {
            user: reference,
            password: user.password,
        }
    } else if identity.methods.iter().any(|m| m == "token") {
        let token = identity.token.ok_or_else(|| {
            KeystoneError::bad_request(
                "Invalid input for field 'identity': 'token' is a required property",
            )
        })?;
        AuthMethod::Token { token: token.id }
    } else {
        return Err(KeystoneError::new(
            StatusCode::UNAUTHORIZED,
            "Attempted to authenticate with an unsupported method.",
        ));
    };
    Ok(AuthRequest {
        method,
        scope: parse_scope(body.auth.scope)?,
    })
}

/// One catalog entry per service, with public, internal and admin endpoints.
pub fn catalog(base: &str, region: &str) -> Value {
    let services = [
        ("identity", "keystone", format!("{base}/identity")),
        ("compute", "nova", format!("{base}/compute/v2.1")),
        ("image", "glance", format!("{base}/image")),
        ("network", "neutron", format!("{base}/network")),
        // DevStack's two entries for Cinder: clients look up
        // `block-storage`, Nova `volumev3`.
        ("block-storage", "cinder", format!("{base}/volume/v3")),
        ("volumev3", "cinderv3", format!("{base}/volume/v3")),
    ];
    let entries: Vec<Value> = services
        .iter()
        .map(|(kind, name, url)| {
            let endpoints: Vec<Value> = ["public", "internal", "admin"]
                .iter()
                .map(|interface| {
                    json!({"id": format!("{kind}-{interface}"), "interface": interface, "region": region, "region_id": region, "url": url})
                })
                .collect();
            json!({"endpoints": endpoints, "id": kind, "type": kind, "name": name})
        })
        .collect();
    Value::Array(entries)
}

fn token_body(issued: &IssuedToken, catalog: Option<Value>) -> Value {
    let p = &issued.payload;
    let mut token = json!({
        "methods": p.methods,
        "user": {
            "domain": domain_ref(&issued.user_domain),
            "id": issued.user.id,
            "name": issued.user.name,
            "password_expires_at": null,
        },
        "audit_ids": p.audit_ids,
        "expires_at": timestamp(p.expires_at),
        "issued_at": timestamp(p.issued_at),
    });
    if let Some((project, domain)) = &issued.project {
        token["project"] =
            json!({"domain": domain_ref(domain), "id": project.id, "name": project.name});
        token["is_domain"] = json!(false);
        token["roles"] = issued
            .roles
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect();
        if let Some(catalog) = catalog {
            token["catalog"] = catalog;
        }
    }
    envelope("token", token)
}

fn with_subject(status: StatusCode, token: &str, body: Option<Value>) -> Response {
    let mut response = match body {
        Some(body) => (status, Json(body)).into_response(),
        None => status.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(token) {
        response.headers_mut().insert(SUBJECT_TOKEN, value);
    }
    response
}

/// `POST /v3/auth/tokens`.
pub async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CatalogQuery>,
    KeystoneJson(body): KeystoneJson<AuthBody>,
) -> Result<Response, KeystoneError> {
    let request = parse_auth(body)?;
    let issued = match state.identity().authenticate(request).await {
        Ok(issued) => issued,
        Err(e) => {
            let err = KeystoneError::from(e);
            if err.status != StatusCode::UNAUTHORIZED {
                return Err(err);
            }
            // Clients need the challenge header to know where to authenticate.
            let mut response = err.into_response();
            let challenge = format!(
                "Keystone uri=\"{}/identity\"",
                urls::base_url(&headers, state.config())
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(http::header::WWW_AUTHENTICATE, value);
            }
            return Ok(response);
        }
    };
    let catalog = (!query.nocatalog()).then(|| {
        catalog(
            &urls::base_url(&headers, state.config()),
            &state.config().region,
        )
    });
    Ok(with_subject(
        StatusCode::CREATED,
        &issued.token,
        Some(token_body(&issued, catalog)),
    ))
}

#[derive(Deserialize, Default)]
pub struct CatalogQuery {
    nocatalog: Option<String>,
}

impl CatalogQuery {
    fn nocatalog(&self) -> bool {
        self.nocatalog.is_some()
    }
}

/// Resolves `X-Subject-Token` for a caller allowed to see it: admins, or
/// the token's own user.
async fn subject(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<IssuedToken, KeystoneError> {
    let token = headers
        .get(SUBJECT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| KeystoneError::bad_request("Missing X-Subject-Token header."))?;
    let issued = state.identity().describe(token).await.map_err(|_| {
        KeystoneError::new(
            StatusCode::NOT_FOUND,
            format!("Could not find token: {token}."),
        )
    })?;
    if !caller.0.is_admin() && caller.0.user_id != issued.user.id {
        return Err(KeystoneError::forbidden("identity:validate_token"));
    }
    Ok(issued)
}

/// `GET /v3/auth/tokens`.
pub async fn validate_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<CatalogQuery>,
) -> Result<Response, KeystoneError> {
    let issued = subject(&state, &caller, &headers).await?;
    let catalog = (!query.nocatalog()).then(|| {
        catalog(
            &urls::base_url(&headers, state.config()),
            &state.config().region,
        )
    });
    Ok(with_subject(
        StatusCode::OK,
        &issued.token,
        Some(token_body(&issued, catalog)),
    ))
}

/// `HEAD /v3/auth/tokens`.
pub async fn check_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, KeystoneError> {
    let issued = subject(&state, &caller, &headers).await?;
    Ok(with_subject(StatusCode::OK, &issued.token, None))
}

/// `DELETE /v3/auth/tokens`.
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let issued = subject(&state, &caller, &headers).await?;
    state.identity().revoke_token(&issued.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/auth/catalog`.
pub async fn show_catalog(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Json<Value> {
    let base = urls::base_url(&headers, state.config());
    Json(
        json!({"catalog": catalog(&base, &state.config().region), "links": {"self": format!("{base}/identity/v3/auth/catalog"), "previous": null, "next": null}}),
    )
}
