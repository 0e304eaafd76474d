//! Neutron's error body: `{"NeutronError": {"type", "message", "detail"}}`,
//! the type naming Neutron's exception class.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_network::{Class, NetworkError};
use serde_json::json;

use crate::body::BodyError;
use crate::compute::error::UNAVAILABLE;

/// A failed networking request.
#[derive(Clone, Debug)]
pub struct NeutronError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl NeutronError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// A 400 of attribute or query validation.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "HTTPBadRequest", message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        )
    }
}

impl IntoResponse for NeutronError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"NeutronError": {
                "type": self.kind,
                "message": self.message,
                "detail": "",
            }})),
        )
            .into_response()
    }
}

impl From<NetworkError> for NeutronError {
    fn from(err: NetworkError) -> Self {
        match err {
            NetworkError::Refused {
                class,
                kind,
                message,
            } => {
                let status = match class {
                    Class::Invalid => StatusCode::BAD_REQUEST,
                    Class::Forbidden => StatusCode::FORBIDDEN,
                    Class::NotFound => StatusCode::NOT_FOUND,
                    Class::Conflict => StatusCode::CONFLICT,
                };
                Self::new(status, kind, message)
            }
            NetworkError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "networking request: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    UNAVAILABLE,
                )
            }
            NetworkError::Store(e) => {
                tracing::error!(error = %e, "networking request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "HTTPInternalServerError",
                    "Request Failed: internal server error while processing your request.",
                )
            }
        }
    }
}

impl From<BodyError> for NeutronError {
    fn from(err: BodyError) -> Self {
        let status = err.status();
        let kind = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "HTTPRequestEntityTooLarge",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "HTTPUnsupportedMediaType",
            _ => "HTTPBadRequest",
        };
        Self::new(
            status,
            kind,
            err.into_message("Malformed request body", "Body contains invalid data: "),
        )
    }
}
