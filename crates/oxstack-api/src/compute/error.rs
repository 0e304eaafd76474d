//! Nova's error bodies: `{"<faultName>": {"code": N, "message": "..."}}`
//! with the fault name fixed by the status code, as `nova.api.openstack.wsgi.Fault`
//! renders them. Every failure of the compute API goes through here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use oxstack_compute::ComputeError;
use oxstack_identity::PolicyDenied;
use serde_json::json;

use crate::body::BodyError;

/// What every service answers (with 503) while its database is out of
/// reach.
pub const UNAVAILABLE: &str =
    "The service is temporarily unavailable: its database cannot be reached. Please retry later.";

/// A failed compute request.
#[derive(Debug)]
pub struct NovaError {
    pub status: StatusCode,
    pub message: String,
}

impl NovaError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 503: the database is out of reach for now (nothing was done).
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "answering 503: the database is unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
    }

    /// A route that exists, but not at the requested microversion.
    pub fn not_at_this_version() -> Self {
        Self::not_found("The resource could not be found.")
    }
}

/// The fault name Nova uses for a status code.
pub fn fault_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

impl IntoResponse for NovaError {
    fn into_response(self) -> Response {
        let body = json!({ fault_name(self.status): {"code": self.status.as_u16(), "message": self.message} });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        response
    }
}

impl From<BodyError> for NovaError {
    fn from(err: BodyError) -> Self {
        let status = err.status();
        Self::new(
            status,
            err.into_message(
                "Malformed request body",
                "Invalid input for field/attribute: ",
            ),
        )
    }
}

impl From<ComputeError> for NovaError {
    fn from(err: ComputeError) -> Self {
        match err {
            ComputeError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, m),
            ComputeError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            ComputeError::Invalid(m) => Self::bad_request(m),
            ComputeError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            ComputeError::NotImplemented(m) => Self::new(StatusCode::NOT_IMPLEMENTED, m),
            ComputeError::Internal(m) => {
                tracing::error!(error = %m, "compute inconsistency");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Unexpected API Error. Please contact the administrator",
                )
            }
            ComputeError::Store(e) if e.is_unavailable() => Self::unavailable(&e),
            ComputeError::Store(e) => {
                tracing::error!(error = %e, "compute store failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Unexpected API Error. Please contact the administrator",
                )
            }
        }
    }
}

impl From<PolicyDenied> for NovaError {
    fn from(err: PolicyDenied) -> Self {
        Self::new(StatusCode::FORBIDDEN, err.to_string())
    }
}

/// The body Nova's router gives a path no route matches: webob's plain
/// `HTTPNotFound` rendered as JSON, not a fault (see the captured sample).
pub fn route_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "message": "The resource could not be found.<br /><br />\n\n\n",
            "code": "404 Not Found",
            "title": "Not Found",
        })),
    )
        .into_response()
}

/// A route that exists but not for this method.
pub fn method_not_allowed(method: &http::Method) -> Response {
    NovaError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("The method {method} is not allowed for this resource."),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_follow_nova() {
        assert_eq!(fault_name(StatusCode::BAD_REQUEST), "badRequest");
        assert_eq!(fault_name(StatusCode::PAYLOAD_TOO_LARGE), "overLimit");
        assert_eq!(fault_name(StatusCode::NOT_ACCEPTABLE), "computeFault");
        assert_eq!(fault_name(StatusCode::GONE), "computeFault");
        assert_eq!(
            fault_name(StatusCode::INTERNAL_SERVER_ERROR),
            "computeFault"
        );
    }
}
