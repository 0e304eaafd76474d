//! The ceiling `bench/run.sh ceiling` measures oxstack against: an axum
//! handler on the same runtime, allocator and HTTP stack as `oxstack serve`
//! that answers every GET with one JSON document, serialized afresh each
//! time from a `serde_json::Value`, and does nothing else (no token, no
//! database, no middleware).
//!
//!     cargo run --release --example bare_handler -- [BODY.json]
//!
//! BODY.json is the document to answer (the bench gives it the very server
//! document `show` answers, so both send the same bytes); without it a
//! small one. Prints `listening on http://ADDR` once it accepts.

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let body: serde_json::Value = match std::env::args().nth(1) {
        Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
        None => serde_json::json!({"hello": "world"}),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new()
                .fallback(get(answer))
                .with_state(Arc::new(body));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("listening on http://{}", listener.local_addr()?);
            axum::serve(listener, app).await?;
            Ok(())
        })
}

async fn answer(State(body): State<Arc<serde_json::Value>>) -> impl IntoResponse {
    let bytes = serde_json::to_vec(body.as_ref()).expect("a Value always serializes");
    ([(header::CONTENT_TYPE, "application/json")], bytes)
}
