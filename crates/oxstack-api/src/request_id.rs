//! Request ids and the access log: every response carries
//! `x-openstack-request-id` and its Nova alias `x-compute-request-id`
//! (`req-<uuid4>`), and every request is logged once with that id.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

/// The id of the request being served, for handlers that record it (Nova
/// keys instance actions by it).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn request_id_and_log(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = format!("req-{}", uuid::Uuid::new_v4());
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
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
    response
}
