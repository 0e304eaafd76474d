//! What every compute handler needs about its request: the caller, the
//! negotiated microversion, where the client reached the API (for links),
//! the query parameters, and a JSON body read the Nova way.

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use oxstack_identity::{Context, Rule};
use serde_json::{Map, Value};

use super::ApiRoot;
use super::error::NovaError;
use super::microversion::Microversion;
use crate::AppState;
use crate::body::{BodyError, read_body};
use crate::control::trace::RequestNote;
use crate::validation::{self, Source};

/// The caller, the microversion and the API root of a compute request.
#[derive(Clone, Debug)]
pub struct Req {
    pub ctx: Context,
    pub version: Microversion,
    pub root: ApiRoot,
    /// Query parameters in order, repeated keys kept.
    pub query: Vec<(String, String)>,
    /// `req-<uuid>`, as in the response headers.
    pub request_id: String,
}

impl FromRequestParts<AppState> for Req {
    type Rejection = NovaError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let missing = || {
            NovaError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "request context missing",
            )
        };
        let query = match parts.uri.query() {
            Some(q) => serde_urlencoded::from_str(q)
                .map_err(|_| NovaError::bad_request("Malformed request URL"))?,
            None => Vec::new(),
        };
        Ok(Self {
            ctx: parts
                .extensions
                .get::<Context>()
                .cloned()
                .ok_or_else(missing)?,
            version: parts
                .extensions
                .get::<Microversion>()
                .copied()
                .ok_or_else(missing)?,
            root: parts
                .extensions
                .get::<ApiRoot>()
                .cloned()
                .ok_or_else(missing)?,
            query,
            request_id: parts
                .extensions
                .get::<crate::request_id::RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
        })
    }
}

impl Req {
    /// Nova's policy check against the caller's own project.
    pub fn authorize(&self, policy: &str, rule: Rule) -> Result<(), NovaError> {
        Ok(self.ctx.authorize(policy, rule, &self.ctx.project_id)?)
    }

    /// Checks a policy over what belongs to `target_user` (key pairs).
    pub fn authorize_user(&self, policy: &str, target_user: &str) -> Result<(), NovaError> {
        Ok(self.ctx.authorize_user(policy, target_user)?)
    }

    /// Whether the request asked for microversion `version` or later.
    pub fn at_least(&self, version: Microversion) -> bool {
        self.version >= version
    }

    /// Whether the request's microversion is in `[since, until)`.
    pub fn between(&self, since: Microversion, until: Microversion) -> bool {
        self.version >= since && self.version < until
    }

    /// The last value of a query parameter (Nova reads the last one).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query as Nova's query schemas see it: `{name: [values...]}`.
    pub fn query_value(&self) -> Value {
        let mut map = Map::new();
        for (k, v) in &self.query {
            let entry = map
                .entry(k.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(v.clone()));
            }
        }
        Value::Object(map)
    }

    /// Validates the query string against a Nova query schema.
    pub fn validate_query(&self, schema: &Value) -> Result<(), NovaError> {
        validation::validate(schema, &self.query_value(), Source::Query)
            .map_err(NovaError::bad_request)
    }

    /// From microversion `strict_from`, query parameters other than
    /// `allowed` are refused with 400, as Nova's query schemas do (2.75 for
    /// some APIs, 2.102 for all); before, they are ignored.
    pub fn refuse_unknown_query(
        &self,
        allowed: &[&str],
        strict_from: Microversion,
    ) -> Result<(), NovaError> {
        if !self.at_least(strict_from) || self.query.iter().all(|(k, _)| allowed.contains(&&**k)) {
            // The schema below is built only to word a refusal: most
            // requests (every show) carry no unknown parameter.
            return Ok(());
        }
        let properties: Map<String, Value> = allowed
            .iter()
            .map(|k| ((*k).to_owned(), Value::Bool(true)))
            .collect();
        self.validate_query(&serde_json::json!({"type": "object", "properties": properties, "additionalProperties": false}))
    }

    /// `self` and `bookmark` links of `collection/id`.
    pub fn links(&self, collection: &str, id: &str) -> Value {
        serde_json::json!(self.link_pair(collection, id))
    }

    /// [`Req::links`], to serialize where it is.
    pub fn link_pair(&self, collection: &str, id: &str) -> [Link; 2] {
        [
            Link::new("self", &self.root.version_url, collection, id),
            Link::new("bookmark", &self.root.bookmark_url, collection, id),
        ]
    }
}

/// `{"rel": ..., "href": ...}`.
#[derive(serde::Serialize)]
pub struct Link {
    rel: &'static str,
    href: String,
}

impl Link {
    /// The link of `collection/id` under `root`.
    pub fn new(rel: &'static str, root: &str, collection: &str, id: &str) -> Self {
        Self {
            rel,
            href: format!("{root}/{collection}/{id}"),
        }
    }
}

/// A request body parsed as JSON (any shape; handlers validate it against
/// the operation's schema), with where to note what it named for the trace
/// (while the trace is on).
pub struct NovaBody(pub Value, Option<RequestNote>);

impl FromRequest<AppState> for NovaBody {
    type Rejection = NovaError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let note = request.extensions().get::<RequestNote>().cloned();
        let bytes = read_body(request, state).await?;
        if bytes.is_empty() {
            return Ok(Self(Value::Null, note));
        }
        serde_json::from_slice(&bytes)
            .map(|body| Self(body, note))
            .map_err(|_| BodyError::Malformed.into())
    }
}

impl NovaBody {
    /// The action an action body names: its one key (Nova's 400
    /// otherwise).
    pub fn action(&self) -> Result<&str, NovaError> {
        match self.0.as_object() {
            Some(o) if o.len() == 1 => Ok(self.first_key().unwrap_or_default()),
            _ => Err(NovaError::bad_request("Malformed request body")),
        }
    }

    /// The first key of an object body: the server action it names
    /// (noted for the trace).
    pub fn first_key(&self) -> Option<&str> {
        let action = self.0.as_object()?.keys().next()?;
        if let Some(note) = &self.1 {
            note.note_action(action);
        }
        Some(action)
    }

    /// Validates against a body schema, Nova's way.
    pub fn validate(&self, schema: &Value) -> Result<&Value, NovaError> {
        if let Some(note) = &self.1 {
            let keys = validation::undeclared_keys(schema, &self.0);
            note.note_keys(keys.ignored, keys.rejected);
        }
        validation::validate(schema, &self.0, Source::Body).map_err(NovaError::bad_request)?;
        Ok(&self.0)
    }
}
