//! The control plane calling the cloud's own APIs (to seed it, or read it
//! for a snapshot): requests through the same router, validation and
//! policy as any client's, acting as a given user of a given project.
//! They show in the trace; fault rules leave them alone.

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use oxstack_identity::ListFilter;
use serde_json::Value;
use tower::ServiceExt;

use crate::{AppState, AuthMode};

/// Marks a request the control plane makes itself.
#[derive(Clone, Copy, Debug)]
pub struct InternalRequest;

/// The cloud's APIs, called from inside.
pub(super) struct Api {
    state: AppState,
    router: Router,
}

/// An answer: its status and JSON body (`Null` when it has none).
pub(super) type Answer = (StatusCode, Value);

impl Api {
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            router: crate::router(state.clone()),
        }
    }

    /// Whether users and projects are Keystone's (else names are ids, as
    /// noauth takes them).
    pub fn keystone(&self) -> bool {
        self.state.config().auth == AuthMode::Keystone
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The id of project `name` (noauth: the name itself).
    pub async fn project_id(&self, name: &str) -> Result<String, String> {
        if !self.keystone() {
            return Ok(name.to_owned());
        }
        self.state
            .identity()
            .project_id_by_name(name)
            .await
            .map_err(|_| format!("No project {name}."))
    }

    /// The id of user `name` of the default domain (noauth: the name).
    pub async fn user_id(&self, name: &str) -> Result<String, String> {
        if !self.keystone() {
            return Ok(name.to_owned());
        }
        let filter = ListFilter {
            name: Some(name.to_owned()),
            domain_id: Some(oxstack_identity::DEFAULT_DOMAIN_ID.to_owned()),
            enabled: None,
        };
        let users = self
            .state
            .identity()
            .list_users(&filter)
            .await
            .map_err(|e| e.to_string())?;
        users
            .into_iter()
            .next()
            .map(|u| u.id)
            .ok_or_else(|| format!("No user {name}."))
    }

    /// A token of user `user` on project `project` (both by name).
    pub async fn token(&self, user: &str, project: &str) -> Result<String, String> {
        if !self.keystone() {
            return Ok(format!("{user}:{project}"));
        }
        let (user_id, project_id) = (self.user_id(user).await?, self.project_id(project).await?);
        self.state
            .identity()
            .issue_for(&user_id, &project_id)
            .await
            .map_err(|e| e.to_string())
    }

    /// The cloud admin's token.
    pub async fn admin_token(&self) -> Result<String, String> {
        if !self.keystone() {
            return Ok("admin:admin".into());
        }
        let cfg = self.state.identity().bootstrap_config();
        self.token(&cfg.admin_user, &cfg.admin_project).await
    }

    /// One request: `path` from the root (`/compute/v2.1/servers`), at
    /// compute `microversion` if given, with a body and its content type.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        microversion: Option<&str>,
        body: Option<(Body, &str)>,
    ) -> Result<Answer, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("X-Auth-Token", token)
            .extension(InternalRequest);
        if let Some(version) = microversion {
            request = request.header("OpenStack-API-Version", format!("compute {version}"));
        }
        let request = match body {
            Some((body, content_type)) => request.header("Content-Type", content_type).body(body),
            None => request.body(Body::empty()),
        }
        .map_err(|e| e.to_string())?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A request with a JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        microversion: Option<&str>,
        body: &Value,
    ) -> Result<Answer, String> {
        let body = Body::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
        self.call(
            method,
            path,
            token,
            microversion,
            Some((body, "application/json")),
        )
        .await
    }

    /// A GET that must succeed; its body.
    pub async fn get(
        &self,
        path: &str,
        token: &str,
        microversion: Option<&str>,
    ) -> Result<Value, String> {
        match self
            .call(Method::GET, path, token, microversion, None)
            .await?
        {
            (status, body) if status.is_success() => Ok(body),
            (status, body) => Err(format!("GET {path} answered {status}: {body}")),
        }
    }
}
