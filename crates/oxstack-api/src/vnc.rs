//! The noVNC console proxy (Nova's `nova-novncproxy`), under `/vnc/`:
//! `websockify?token=…` checks the token a console URL carries and joins
//! the websocket to the guest's VNC display; the other paths serve
//! noVNC's pages from `novnc_dir` (Debian's `novnc` package puts them in
//! `/usr/share/novnc`), so the URL `openstack console url show` prints
//! opens in a browser.

use std::path::{Component, Path, PathBuf};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use http::{StatusCode, header};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::AppState;
use crate::compute::NovaError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/websockify", get(websockify))
        .route("/{*file}", get(page))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

async fn websockify(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    match state.compute().console_socket(&query.token).await {
        // noVNC asks for the `binary` subprotocol (older versions need it).
        Ok(socket) => upgrade
            .protocols(["binary"])
            .on_upgrade(move |ws| proxy(ws, socket)),
        Err(e) => NovaError::from(e).into_response(),
    }
}

/// Carries bytes both ways until either side closes.
async fn proxy(ws: WebSocket, socket: PathBuf) {
    let vnc = match tokio::net::UnixStream::connect(&socket).await {
        Ok(vnc) => vnc,
        Err(e) => {
            tracing::warn!(socket = %socket.display(), error = %e, "the guest's VNC display does not answer");
            return;
        }
    };
    let (mut vnc_read, mut vnc_write) = vnc.into_split();
    let (mut to_browser, mut from_browser) = ws.split();
    let upstream = async {
        while let Some(Ok(message)) = from_browser.next().await {
            match message {
                Message::Binary(data) if vnc_write.write_all(&data).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match vnc_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let data = bytes::Bytes::copy_from_slice(&buf[..n]);
                    if to_browser.send(Message::Binary(data)).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

/// A file of noVNC's; 404 when there is no noVNC or no such file.
async fn page(State(state): State<AppState>, UrlPath(file): UrlPath<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    let Some(dir) = &state.config().novnc_dir else {
        return not_found();
    };
    let Some(path) = within(dir, &file) else {
        return not_found();
    };
    match tokio::fs::read(&path).await {
        Ok(body) => ([(header::CONTENT_TYPE, content_type(&path))], body).into_response(),
        Err(_) => not_found(),
    }
}

/// `file` under `dir`, if it names no parent or root.
fn within(dir: &Path, file: &str) -> Option<PathBuf> {
    let relative = Path::new(file);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stay_inside_novncs_folder() {
        let dir = Path::new("/usr/share/novnc");
        assert_eq!(
            within(dir, "app/ui.js"),
            Some(PathBuf::from("/usr/share/novnc/app/ui.js"))
        );
        assert_eq!(within(dir, "../../etc/passwd"), None);
        assert_eq!(within(dir, "app/../../x"), None);
        assert_eq!(within(dir, "/etc/passwd"), None);
        assert_eq!(
            content_type(Path::new("vnc_lite.html")),
            "text/html; charset=utf-8"
        );
    }
}
