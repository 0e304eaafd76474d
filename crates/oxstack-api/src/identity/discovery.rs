//! Identity version discovery, as keystoneauth expects it.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::envelope::envelope;
use crate::{AppState, urls};

fn v3(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/identity/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity/`: 300 with the one version served.
pub async fn list_versions(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = urls::base_url(&headers, state.config());
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [v3(&base)]}})),
    )
        .into_response()
}

/// `GET /identity/v3`.
pub async fn show_v3(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(envelope(
        "version",
        v3(&urls::base_url(&headers, state.config())),
    ))
}
