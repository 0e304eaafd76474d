//! Request ids, the access log and the trace: every response carries
//! `x-openstack-request-id` and its Nova alias `x-compute-request-id`
//! (`req-<uuid4>`), and every request is logged once with that id and
//! kept in the control plane's trace.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

use crate::AppState;
use crate::control::trace::{RequestNote, TraceEntry};

/// The id of the request being served, for handlers that record it (Nova
/// keys instance actions by it).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn request_id_and_log(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let arrived = chrono::Utc::now().timestamp_micros();
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let note = state.control().trace.is_on().then(RequestNote::default);
    request.extensions_mut().insert(RequestId(id.clone()));
    if let Some(note) = &note {
        request.extensions_mut().insert(note.clone());
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        let headers = response.headers_mut();
        headers.insert("x-openstack-request-id", value.clone());
        headers.insert("x-compute-request-id", value);
    }
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::error!(request_id = %id, %method, %path, status, micros, "request");
    } else {
        tracing::info!(request_id = %id, %method, %path, status, micros, "request");
    }
    if let Some(note) = note
        && !path.starts_with("/_oxstack")
    {
        let microversion = response
            .headers()
            .get("openstack-api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        state.control().trace.record(TraceEntry {
            at_micros: arrived,
            request_id: id,
            method,
            path,
            query,
            microversion,
            status,
            latency_micros: micros,
            project_id: note.project(),
            body: note.body(),
        });
    }
    response
}
