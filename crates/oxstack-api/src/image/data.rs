//! `PUT`/`GET /v2/images/{id}/file`: image data, streamed both ways and
//! never held whole in memory.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokio_util::io::ReaderStream;

use super::ImageCaller;
use super::error::GlanceError;
use crate::AppState;

/// `PUT`: 204 once the data is stored and the image `active`.
pub async fn upload_image(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<StatusCode, GlanceError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or("").trim())
        != Some("application/octet-stream")
    {
        return Err(GlanceError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Invalid content type {}",
                content_type.as_deref().unwrap_or("None")
            ),
        ));
    }
    let image = state.images().get(caller.viewer(), &id).await?;
    let missing: Vec<&str> = [
        ("disk_format", &image.row.disk_format),
        ("container_format", &image.row.container_format),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(k, _)| k)
    .collect();
    if !missing.is_empty() {
        let message = if missing.len() == 1 {
            format!("Property {} must be set prior to saving data.", missing[0])
        } else {
            format!(
                "Properties {} must be set prior to saving data.",
                missing.join(", ")
            )
        };
        return Err(GlanceError::bad_request(message));
    }
    let stream = request.into_body().into_data_stream();
    state.images().upload(caller.viewer(), &id, stream).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`: 200 with the data (and `Content-MD5`), or 204 when there is none.
pub async fn download_image(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path(id): Path<String>,
) -> Result<Response, GlanceError> {
    let (image, file) = state.images().download(caller.viewer(), &id).await?;
    let Some(file) = file else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut response =
        Body::from_stream(ReaderStream::with_capacity(file, 256 * 1024)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(size) = image.row.size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size as u64));
    }
    if let Some(md5) = image
        .row
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        headers.insert("content-md5", md5);
    }
    Ok(response)
}
