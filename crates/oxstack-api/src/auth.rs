//! Turning `X-Auth-Token` into the caller's [`Context`], as keystonemiddleware
//! does in front of Nova: a missing, expired, revoked or forged token is a
//! 401 with Keystone's body and a `WWW-Authenticate` header.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use oxstack_identity::policy::{roles, with_implied_roles};
use oxstack_identity::{Context, IdentityService};
use serde_json::json;

use crate::{AppState, AuthMode, urls};

/// The header carrying the caller's token.
pub const AUTH_TOKEN: &str = "x-auth-token";

/// The caller's context, or why there is none.
pub fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Context, ()> {
    let token = headers
        .get(AUTH_TOKEN)
        .and_then(|v| v.to_str().ok())
        .ok_or(())?;
    match state.config().auth {
        AuthMode::NoAuth => noauth_context(token),
        AuthMode::Keystone => {
            let payload = state.identity().validate(token).map_err(|_| ())?;
            IdentityService::context_of(&payload).ok_or(())
        }
    }
}

/// Nova's noauth2 convention: `user:project` (project defaults to user);
/// the user `admin` is an administrator, everyone else a project member.
fn noauth_context(token: &str) -> Result<Context, ()> {
    let (user, project) = token.split_once(':').unwrap_or((token, token));
    let project = if project.is_empty() { user } else { project };
    if user.is_empty() {
        return Err(());
    }
    let granted = if user == "admin" {
        vec![roles::ADMIN.to_owned()]
    } else {
        vec![roles::MEMBER.to_owned()]
    };
    Ok(Context {
        user_id: user.to_owned(),
        project_id: project.to_owned(),
        roles: with_implied_roles(granted),
    })
}

/// Keystone's 401, which every OpenStack client understands.
pub fn unauthorized(state: &AppState, headers: &HeaderMap) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }})),
    )
        .into_response();
    let challenge = format!(
        "Keystone uri=\"{}/identity\"",
        urls::base_url(headers, state.config())
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noauth_tokens() {
        let admin = noauth_context("admin:admin").unwrap();
        assert!(admin.is_admin());
        let demo = noauth_context("bob:proj").unwrap();
        assert_eq!(
            (demo.user_id.as_str(), demo.project_id.as_str()),
            ("bob", "proj")
        );
        assert!(!demo.is_admin() && demo.has_role("member") && demo.has_role("reader"));
        assert_eq!(noauth_context("solo").unwrap().project_id, "solo");
        assert!(noauth_context(":p").is_err());
    }
}
