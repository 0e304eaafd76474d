//! Glance's errors. Glance raises webob exceptions, and webob renders them
//! by the request's `Accept` header: JSON for `application/json`, HTML for
//! `text/html` or `*/*` (what python-requests sends), plain text otherwise.
//! Handlers return [`GlanceError`]; [`render_errors`] picks the form.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use oxstack_image::ImageError;

use crate::body::BodyError;
use crate::compute::error::UNAVAILABLE;

/// A failed image request.
#[derive(Clone, Debug)]
pub struct GlanceError {
    pub status: StatusCode,
    pub message: String,
}

impl GlanceError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn read_only(attribute: &str) -> Self {
        Self::forbidden(format!("Attribute '{attribute}' is read-only."))
    }

    pub fn reserved(attribute: &str) -> Self {
        Self::forbidden(format!("Attribute '{attribute}' is reserved."))
    }

    /// For rules checked inside the image service's update step.
    pub fn into_image_error(self) -> ImageError {
        match self.status {
            StatusCode::FORBIDDEN => ImageError::Forbidden(self.message),
            StatusCode::CONFLICT => ImageError::Conflict(self.message),
            StatusCode::PAYLOAD_TOO_LARGE => ImageError::TooLarge(self.message),
            StatusCode::NOT_FOUND => ImageError::NotFound(self.message),
            _ => ImageError::Invalid(self.message),
        }
    }
}

impl IntoResponse for GlanceError {
    fn into_response(self) -> Response {
        // Rendered by `render_errors`, which knows the request's Accept.
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<ImageError> for GlanceError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::NotFound(m) => Self::not_found(m),
            ImageError::Forbidden(m) => Self::forbidden(m),
            ImageError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            ImageError::Invalid(m) => Self::bad_request(m),
            ImageError::TooLarge(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            ImageError::Interrupted(m) => {
                Self::bad_request(format!("Error in the uploaded data: {m}"))
            }
            ImageError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "answering 503: the database is unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
            }
            e @ (ImageError::Store(_) | ImageError::Io(_)) => {
                tracing::error!(error = %e, "image service failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server encountered an unexpected condition.",
                )
            }
        }
    }
}

impl From<BodyError> for GlanceError {
    fn from(err: BodyError) -> Self {
        let status = err.status();
        Self::new(
            status,
            err.into_message("Malformed JSON in request body.", ""),
        )
    }
}

#[derive(Clone, Copy)]
enum Form {
    Json,
    Html,
    Text,
}

fn form_for(accept: Option<&str>) -> Form {
    let Some(accept) = accept else {
        return Form::Text;
    };
    for item in accept.split(',') {
        let media = item.split(';').next().unwrap_or("").trim();
        match media {
            "text/html" | "*/*" | "text/*" => return Form::Html,
            "application/json" | "application/*" => return Form::Json,
            _ => {}
        }
    }
    Form::Text
}

/// Middleware: renders [`GlanceError`]s the way webob would for this request.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<GlanceError>() else {
        return response;
    };
    let mut rendered = render(&error, accept.as_deref());
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// Glance's error page for a client that accepts `accept`.
pub fn render(error: &GlanceError, accept: Option<&str>) -> Response {
    let status = error.status;
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let title = status.canonical_reason().unwrap_or("");
    let (content_type, body) = match form_for(accept) {
        Form::Json => (
            "application/json",
            serde_json::json!({"message": format!("{}<br /><br />\n\n\n", error.message), "code": line, "title": title})
                .to_string(),
        ),
        Form::Html => (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>{line}</title>\n </head>\n <body>\n  <h1>{line}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
                error.message
            ),
        ),
        Form::Text => ("text/plain; charset=UTF-8", format!("{line}\n\n{}\n\n   ", error.message)),
    };
    let mut rendered = (status, body).into_response();
    rendered
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    rendered
}
