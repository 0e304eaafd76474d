//! The Keystone v3 subset under `/identity`: version discovery, tokens with
//! a service catalog, and the admin API over projects, users, roles and
//! role assignments. This file is the one table of its routes.

mod discovery;
mod domains;
pub(crate) mod error;
mod projects;
mod roles;
mod tokens;
mod users;
mod views;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::routing::{get, put};
use http::request::Parts;
use oxstack_identity::Context;
use serde::de::DeserializeOwned;

use crate::body::{parse_json, read_body};
use crate::{AppState, auth};
pub use error::KeystoneError;

pub use discovery::list_versions;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(discovery::list_versions))
        .route("/v3", get(discovery::show_v3))
        .route("/v3/", get(discovery::show_v3))
        .route(
            "/v3/auth/tokens",
            get(tokens::validate_token)
                .head(tokens::check_token)
                .post(tokens::issue_token)
                .delete(tokens::revoke_token),
        )
        .route("/v3/auth/catalog", get(tokens::show_catalog))
        .route("/v3/auth/projects", get(projects::list_auth_projects))
        .route("/v3/domains", get(domains::list_domains))
        .route("/v3/domains/{domain_id}", get(domains::show_domain))
        .route(
            "/v3/projects",
            get(projects::list_projects).post(projects::create_project),
        )
        .route(
            "/v3/projects/{project_id}",
            get(projects::show_project)
                .patch(projects::update_project)
                .delete(projects::delete_project),
        )
        .route(
            "/v3/projects/{project_id}/users/{user_id}/roles",
            get(roles::list_grants),
        )
        .route(
            "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            put(roles::grant_role)
                .head(roles::check_grant)
                .get(roles::check_grant)
                .delete(roles::revoke_grant),
        )
        .route("/v3/users", get(users::list_users).post(users::create_user))
        .route(
            "/v3/users/{user_id}",
            get(users::show_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route(
            "/v3/users/{user_id}/projects",
            get(projects::list_user_projects),
        )
        .route("/v3/roles", get(roles::list_roles).post(roles::create_role))
        .route(
            "/v3/roles/{role_id}",
            get(roles::show_role).delete(roles::delete_role),
        )
        .route("/v3/role_assignments", get(roles::list_assignments))
        .method_not_allowed_fallback(|method: http::Method| async move {
            KeystoneError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                format!("The method {method} is not allowed for this resource."),
            )
        })
        .fallback(|| async {
            KeystoneError::new(
                http::StatusCode::NOT_FOUND,
                "The resource could not be found.",
            )
        })
}

/// The authenticated caller of an identity admin call.
pub struct Caller(pub Context);

impl FromRequestParts<AppState> for Caller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let context = auth::resolve(state, &parts.headers)
            .map_err(|()| auth::unauthorized(state, &parts.headers))?;
        crate::control::trace::note_project(&parts.extensions, &context.project_id);
        Ok(Caller(context))
    }
}

impl Caller {
    /// Admin-only rules (`identity:list_projects`, ...).
    pub fn require_admin(&self, rule: &str) -> Result<(), KeystoneError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(KeystoneError::forbidden(rule))
        }
    }
}

/// A JSON body, with failures in Keystone's error shape.
pub struct KeystoneJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for KeystoneJson<T> {
    type Rejection = KeystoneError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, state).await?;
        Ok(Self(parse_json(&bytes)?))
    }
}
