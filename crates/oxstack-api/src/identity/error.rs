//! Keystone's error body: `{"error": {"code", "message", "title"}}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::IdentityError;
use serde_json::json;

use crate::body::BodyError;
use crate::compute::error::UNAVAILABLE;

/// A failed identity request.
#[derive(Debug)]
pub struct KeystoneError {
    pub status: StatusCode,
    pub message: String,
}

impl KeystoneError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Keystone's 403 for a denied policy rule.
    pub fn forbidden(rule: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("You are not authorized to perform the requested action: {rule}."),
        )
    }
}

impl IntoResponse for KeystoneError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = json!({"error": {"code": self.status.as_u16(), "message": self.message, "title": title}});
        (self.status, Json(body)).into_response()
    }
}

impl From<IdentityError> for KeystoneError {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::Unauthorized(m) => Self::new(StatusCode::UNAUTHORIZED, m),
            IdentityError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            e @ IdentityError::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            IdentityError::Validation(m) => Self::bad_request(m),
            IdentityError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            IdentityError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "answering 503: the database is unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
            }
            IdentityError::Store(e) => {
                tracing::error!(error = %e, "identity store failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error prevented the server from fulfilling your request.",
                )
            }
            IdentityError::Internal(e) => {
                tracing::error!(error = %e, "identity internal failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error prevented the server from fulfilling your request.",
                )
            }
        }
    }
}

impl From<BodyError> for KeystoneError {
    fn from(err: BodyError) -> Self {
        let status = err.status();
        Self::new(
            status,
            err.into_message(
                "Malformed request body: the body is not valid JSON.",
                "Invalid input for field: ",
            ),
        )
    }
}
