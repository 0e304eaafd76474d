//! Fault injection (`/_oxstack/faults`, off unless `[control] faults`):
//! rules that make matching requests fail in their service's own dialect
//! (a Nova fault, a Keystone or Glance error) or answer late — what
//! clients' retry and error handling must survive. A rule names an
//! operation (`server.create`, `server.action.*`, `image.upload`,
//! `identity.token`, ...; see [`super::operation`]), optionally the
//! caller's project or a name pattern, and fires every time, `count`
//! times, or with a `probability`. It answers an error (instead of
//! serving the request, or after serving it: "error but created anyway"),
//! answers late, or has the hypervisor fail the servers the request sets
//! to work. Each firing is logged and counted.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::operation;
use crate::AppState;
use crate::compute::error::NovaError;
use crate::identity::error::KeystoneError;
use crate::image::error::GlanceError;

/// What a firing rule does.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InjectedError {
    /// An HTTP error status (400–599).
    pub status: u16,
    #[serde(default = "default_message")]
    pub message: String,
}

fn default_message() -> String {
    "Injected fault".into()
}

/// One rule, as `PUT /_oxstack/faults` takes it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// An operation name, or a prefix ending in `*`.
    pub operation: String,
    /// Only requests of this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Only requests on a resource whose name matches this pattern (`*`
    /// for any run of characters): the name a create's body gives, or the
    /// name of the server the path names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fire this many times, then no more (none: every time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Fire with this probability (0 to 1; none: always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Answer late by this much, before the error (or the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Answer this error instead of serving the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InjectedError>,
    /// With `error`: serve the request all the same, then answer the
    /// error (the server is created although the client is told not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub serve: bool,
    /// Serve the request, but the hypervisor fails the first operation of
    /// every server it sets to work, with this message: a new server goes
    /// to ERROR with this fault, an action fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
}

impl FaultRule {
    /// Why the rule cannot be taken, if it cannot.
    pub fn invalid(&self) -> Option<String> {
        if self.operation.is_empty() {
            return Some("a rule needs an operation".into());
        }
        if self.delay_ms.is_none() && self.error.is_none() && self.server_error.is_none() {
            return Some(format!(
                "rule for {}: give delay_ms, error or server_error",
                self.operation
            ));
        }
        if self.serve && self.error.is_none() {
            return Some(format!(
                "rule for {}: serve goes with an error to answer after serving",
                self.operation
            ));
        }
        if self.server_error.is_some() && self.error.is_some() && !self.serve {
            return Some(format!(
                "rule for {}: a request answered with an error is not served, \
                 so its servers cannot fail (add \"serve\": true)",
                self.operation
            ));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Some(format!(
                "rule for {}: probability must be within 0 and 1",
                self.operation
            ));
        }
        if let Some(e) = &self.error
            && !(400..=599).contains(&e.status)
        {
            return Some(format!(
                "rule for {}: status must be an HTTP error (400-599)",
                self.operation
            ));
        }
        None
    }
}

/// A rule in force, and how often it fired.
#[derive(Clone, Debug, Serialize)]
pub struct ActiveRule {
    #[serde(flatten)]
    pub rule: FaultRule,
    pub fired: u64,
}

/// The rules in force.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<ActiveRule>>,
    /// Whether there are rules: read by every request, so without a lock.
    armed: AtomicBool,
}

/// What to do to one request.
#[derive(Debug, Default)]
struct Reaction {
    delay: Duration,
    error: Option<InjectedError>,
    /// Serve the request before answering `error`.
    serve: bool,
    /// The message the hypervisor fails the request's servers with.
    server_error: Option<String>,
}

/// What a request is, as rules match it.
#[derive(Debug, Default)]
struct Target<'a> {
    operation: &'a str,
    project: Option<&'a str>,
    name: Option<&'a str>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ActiveRule>> {
        // Every critical section is a short scan or a replacement.
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn replace(&self, rules: Vec<FaultRule>) {
        let mut held = self.lock();
        *held = rules
            .into_iter()
            .map(|rule| ActiveRule { rule, fired: 0 })
            .collect();
        self.armed.store(!held.is_empty(), Ordering::Release);
    }

    pub fn list(&self) -> Vec<ActiveRule> {
        self.lock().clone()
    }

    fn is_empty(&self) -> bool {
        !self.armed.load(Ordering::Acquire)
    }

    /// Whether a rule wants the caller's project to be known.
    fn wants_project(&self) -> bool {
        self.lock().iter().any(|r| r.rule.project_id.is_some())
    }

    /// Whether a rule wants the name of the resource to be known.
    fn wants_name(&self) -> bool {
        self.lock().iter().any(|r| r.rule.name.is_some())
    }

    /// Whether a rule could match a server action (whose name is in the
    /// body, read only then).
    fn wants_actions(&self) -> bool {
        self.lock()
            .iter()
            .any(|r| r.rule.operation.contains("action") || r.rule.operation.ends_with('*'))
    }

    /// The rules that fire for this request (counted as they fire).
    fn fire(&self, target: &Target<'_>) -> Reaction {
        let mut reaction = Reaction::default();
        let mut rng = rand::thread_rng();
        let op = target.operation;
        for active in self.lock().iter_mut() {
            let rule = &active.rule;
            let applies = operation::matches(&rule.operation, op)
                && rule
                    .project_id
                    .as_deref()
                    .is_none_or(|p| target.project == Some(p))
                && rule
                    .name
                    .as_deref()
                    .is_none_or(|pattern| target.name.is_some_and(|n| glob(pattern, n)))
                && rule.count.is_none_or(|n| active.fired < n)
                && rule.probability.is_none_or(|p| rng.r#gen::<f64>() < p);
            if !applies {
                continue;
            }
            active.fired += 1;
            tracing::warn!(operation = op, rule = %rule.operation, fired = active.fired,
                           "injected fault");
            reaction.delay += Duration::from_millis(rule.delay_ms.unwrap_or(0));
            if reaction.error.is_none() && rule.error.is_some() {
                reaction.error.clone_from(&rule.error);
                reaction.serve = rule.serve;
            }
            if reaction.server_error.is_none() {
                reaction.server_error.clone_from(&rule.server_error);
            }
        }
        reaction
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of
/// characters (and nothing else is special).
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, between)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in between {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The error in the dialect of the service the path belongs to.
fn error_response(path: &str, accept: Option<&str>, error: &InjectedError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if path.starts_with("/identity") {
        KeystoneError::new(status, error.message.clone()).into_response()
    } else if path.starts_with("/image") {
        crate::image::error::render(&GlanceError::new(status, error.message.clone()), accept)
    } else {
        NovaError::new(status, error.message.clone()).into_response()
    }
}

/// The first key of a JSON object body (a server action's name).
fn first_key(body: &serde_json::Value) -> Option<String> {
    body.as_object()?.keys().next().cloned()
}

/// The name a create's body gives: `{"name": ...}` or, wrapped as Nova
/// does, `{"server": {"name": ...}}`.
fn body_name(body: &serde_json::Value) -> Option<String> {
    let object = body.as_object()?;
    let named = match object.get("name") {
        Some(name) => name,
        None if object.len() == 1 => object.values().next()?.get("name")?,
        None => return None,
    };
    named.as_str().map(str::to_owned)
}

/// The name of the resource a request is about: the body's, or that of
/// the server its path names.
async fn resource_name(
    state: &AppState,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Option<String> {
    if let Some(name) = body.and_then(body_name) {
        return Some(name);
    }
    let id = operation::server_id(path)?;
    state.compute().server_name(id).await.ok().flatten()
}

/// The middleware: applies the rules in force to every OpenStack request.
pub async fn inject(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let faults = &state.control().faults;
    let path = request.uri().path().to_owned();
    let internal = request
        .extensions()
        .get::<super::internal::InternalRequest>()
        .is_some();
    if faults.is_empty() || path.starts_with("/_oxstack") || internal {
        return next.run(request).await;
    }
    let project = if faults.wants_project() {
        crate::auth::resolve(&state, request.headers())
            .ok()
            .map(|c| c.project_id)
    } else {
        None
    };
    let method = request.method().clone();
    let accept = request
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_action = method == http::Method::POST && path.ends_with("/action");
    let wants_name = faults.wants_name();
    let reads_body = (is_action && faults.wants_actions())
        || (wants_name && matches!(method, http::Method::POST | http::Method::PUT));
    let (request, body) = if reads_body {
        let (parts, body) = request.into_parts();
        let limit = state.config().max_body_bytes;
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return NovaError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request is too large.")
                .into_response();
        };
        let body = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        (Request::from_parts(parts, Body::from(bytes)), body)
    } else {
        (request, None)
    };
    let action = body.as_ref().filter(|_| is_action).and_then(first_key);
    let op = operation::classify(&method, &path, action.as_deref());
    let name = if wants_name {
        let create_body = body.as_ref().filter(|_| !is_action);
        resource_name(&state, &path, create_body).await
    } else {
        None
    };
    let reaction = faults.fire(&Target {
        operation: &op,
        project: project.as_deref(),
        name: name.as_deref(),
    });
    if !reaction.delay.is_zero() {
        tokio::time::sleep(reaction.delay).await;
    }
    let serve = |request| async {
        match reaction.server_error.clone() {
            Some(message) => {
                oxstack_compute::simulation::with_hypervisor_fault(message, next.run(request)).await
            }
            None => next.run(request).await,
        }
    };
    match &reaction.error {
        Some(error) if reaction.serve => {
            let served = serve(request).await;
            tracing::warn!(operation = %op, status = %served.status(),
                           "served, then answered an injected error");
            error_response(&path, accept.as_deref(), error)
        }
        Some(error) => error_response(&path, accept.as_deref(), error),
        None => serve(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(operation: &str) -> FaultRule {
        FaultRule {
            operation: operation.into(),
            project_id: None,
            name: None,
            count: None,
            probability: None,
            delay_ms: None,
            error: Some(InjectedError {
                status: 503,
                message: "down".into(),
            }),
            serve: false,
            server_error: None,
        }
    }

    fn target<'a>(operation: &'a str, project: Option<&'a str>) -> Target<'a> {
        Target {
            operation,
            project,
            name: None,
        }
    }

    #[test]
    fn names_match_patterns_with_stars() {
        for (pattern, name, expected) in [
            ("web-*", "web-1", true),
            ("web-*", "db-1", false),
            ("*", "", true),
            ("web", "web", true),
            ("web", "web-1", false),
            ("*-1", "web-1", true),
            ("w*b*1", "web-1", true),
            ("a*a", "a", false),
            ("*x*", "abc", false),
        ] {
            assert_eq!(glob(pattern, name), expected, "{pattern} ~ {name}");
        }
        let faults = Faults::default();
        faults.replace(vec![FaultRule {
            name: Some("web-*".into()),
            ..rule("server.create")
        }]);
        let named = |name| Target {
            name: Some(name),
            ..target("server.create", None)
        };
        assert!(faults.fire(&named("web-1")).error.is_some());
        assert!(faults.fire(&named("db-1")).error.is_none());
        assert!(faults.fire(&target("server.create", None)).error.is_none());
    }

    #[test]
    fn counted_rules_fire_their_count_then_stop() {
        let faults = Faults::default();
        faults.replace(vec![FaultRule {
            count: Some(2),
            ..rule("server.create")
        }]);
        let fired = (0..4)
            .filter(|_| faults.fire(&target("server.create", None)).error.is_some())
            .count();
        assert_eq!(fired, 2);
        assert!(faults.fire(&target("server.list", None)).error.is_none());
        assert_eq!(faults.list()[0].fired, 2);
    }

    #[test]
    fn project_and_probability_narrow_a_rule() {
        let faults = Faults::default();
        faults.replace(vec![
            FaultRule {
                project_id: Some("p1".into()),
                ..rule("server.*")
            },
            FaultRule {
                probability: Some(0.0),
                ..rule("image.*")
            },
        ]);
        assert!(
            faults
                .fire(&target("server.create", Some("p1")))
                .error
                .is_some()
        );
        assert!(
            faults
                .fire(&target("server.create", Some("p2")))
                .error
                .is_none()
        );
        assert!(faults.fire(&target("server.create", None)).error.is_none());
        assert!(
            faults
                .fire(&target("image.upload", Some("p1")))
                .error
                .is_none()
        );
    }

    #[test]
    fn rules_are_checked() {
        assert_eq!(rule("x").invalid(), None);
        let idle = FaultRule {
            error: None,
            ..rule("x")
        };
        assert!(idle.invalid().is_some());
        let odd = FaultRule {
            probability: Some(1.5),
            ..rule("x")
        };
        assert!(odd.invalid().is_some());
        let fine = FaultRule {
            error: Some(InjectedError {
                status: 200,
                message: String::new(),
            }),
            ..rule("x")
        };
        assert!(fine.invalid().is_some());
        let serve_without_error = FaultRule {
            error: None,
            serve: true,
            server_error: Some("boom".into()),
            ..rule("x")
        };
        assert!(serve_without_error.invalid().is_some());
        let never_served = FaultRule {
            server_error: Some("boom".into()),
            ..rule("x")
        };
        assert!(never_served.invalid().is_some());
        let hypervisor_only = FaultRule {
            error: None,
            server_error: Some("boom".into()),
            ..rule("x")
        };
        assert_eq!(hypervisor_only.invalid(), None);
    }
}
