//! The Glance v2 subset under `/image`: version discovery, images, their
//! data, tags and schemas. This file is the one table of its routes.

mod data;
pub(crate) mod error;
mod images;
mod list;
mod patch;
mod schema;
mod views;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use oxstack_identity::Context;
use serde_json::json;

use crate::envelope::envelope;
use crate::{AppState, auth, urls};
pub use error::GlanceError;
pub use views::isotime;

pub fn router() -> Router<AppState> {
    let v2 = Router::new()
        .route("/images", get(list::list_images).post(images::create_image))
        .route(
            "/images/{image_id}",
            get(images::show_image)
                .patch(images::update_image)
                .delete(images::delete_image),
        )
        .route(
            "/images/{image_id}/file",
            get(data::download_image).put(data::upload_image),
        )
        .route("/images/{image_id}/tasks", get(images::list_image_tasks))
        .route(
            "/images/{image_id}/tags/{tag}",
            put(images::add_tag).delete(images::remove_tag),
        )
        .route("/schemas/image", get(|| async { Json(schema::image()) }))
        .route("/schemas/images", get(|| async { Json(schema::images()) }))
        .fallback(|| async { GlanceError::not_found("The resource could not be found.") });
    Router::new()
        .route("/", get(list_versions))
        .route("/versions", get(show_versions))
        .nest("/v2", v2)
        .layer(from_fn(error::render_errors))
}

fn versions_body(headers: &HeaderMap, state: &AppState) -> serde_json::Value {
    let href = format!("{}/image/v2/", urls::base_url(headers, state.config()));
    // The API level implemented: v2.5 (visibility `community` and `shared`).
    let versions: Vec<serde_json::Value> = (0..=5)
        .rev()
        .map(|minor| {
            let status = if minor == 5 { "CURRENT" } else { "SUPPORTED" };
            json!({"id": format!("v2.{minor}"), "status": status, "links": [{"rel": "self", "href": href}]})
        })
        .collect();
    envelope("versions", versions)
}

/// `GET /image/`: 300 with the versions (unauthenticated, as in Glance).
pub async fn list_versions(State(state): State<AppState>, headers: HeaderMap) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(versions_body(&headers, &state)),
    )
        .into_response()
}

/// `GET /image/versions`.
async fn show_versions(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    Json(versions_body(&headers, &state))
}

/// The authenticated caller of an image request.
pub struct ImageCaller(pub Context);

impl FromRequestParts<AppState> for ImageCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let context = auth::resolve(state, &parts.headers)
            .map_err(|()| auth::unauthorized(state, &parts.headers))?;
        crate::control::trace::note_project(&parts.extensions, &context.project_id);
        Ok(ImageCaller(context))
    }
}

impl ImageCaller {
    pub fn viewer(&self) -> oxstack_image::Viewer<'_> {
        oxstack_image::Viewer {
            project_id: &self.0.project_id,
            is_admin: self.0.is_admin(),
            is_member: self.0.has_role(oxstack_identity::policy::roles::MEMBER),
        }
    }
}
