//! The HTTP layer of oxstack: one listener serving the Keystone v3 subset
//! under `/identity`, the Nova API under `/compute` (and `/`, `/v2.1`,
//! `/v2` for compatibility), and the control plane under `/_oxstack`.
//!
//! Handlers translate between the wire and the domain crates; they decide
//! nothing themselves.

mod auth;
mod body;
mod compute;
pub mod control;
mod envelope;
mod identity;
mod image;
mod network;
mod oslo;
mod request_id;
mod urls;
pub mod validation;
mod vnc;
pub(crate) mod volume;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use oxstack_compute::Compute;
use oxstack_identity::IdentityService;
use oxstack_image::Images;
use oxstack_network::Networking;

/// How callers prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Signed tokens issued by the built-in Keystone subset.
    Keystone,
    /// Nova's noauth2: `X-Auth-Token: user:project`, admin when the user is
    /// `admin`. For tests and benchmarks only.
    NoAuth,
}

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub auth: AuthMode,
    /// Base URL advertised in the catalog and in links (e.g.
    /// `https://cloud.example.org`); when unset, the address the client
    /// reached (its `Host` header) is used.
    pub public_url: Option<String>,
    pub region: String,
    /// Largest accepted request body (Nova's `osapi_max_request_body_size`).
    pub max_body_bytes: usize,
    /// Name of the virt driver, reported by the health endpoint.
    pub driver: String,
    /// The `/_oxstack/` control plane.
    pub control: control::ControlConfig,
    /// Where noVNC's pages are, served under `/vnc/` (`None`: not served).
    pub novnc_dir: Option<std::path::PathBuf>,
}

/// Everything a handler may reach, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    identity: Arc<IdentityService>,
    compute: Compute,
    images: Images,
    networking: Networking,
    volumes: oxstack_volume::BlockStorage,
    config: ApiConfig,
    control: control::ControlPlane,
    started: Instant,
}

impl AppState {
    pub fn new(
        identity: Arc<IdentityService>,
        compute: Compute,
        images: Images,
        networking: Networking,
        volumes: oxstack_volume::BlockStorage,
        config: ApiConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            identity,
            compute,
            images,
            networking,
            volumes,
            control: control::ControlPlane::new(config.control.clone()),
            config,
            started: Instant::now(),
        }))
    }

    fn identity(&self) -> &IdentityService {
        &self.0.identity
    }

    fn compute(&self) -> &Compute {
        &self.0.compute
    }

    fn images(&self) -> &Images {
        &self.0.images
    }

    fn networking(&self) -> &Networking {
        &self.0.networking
    }

    fn volumes(&self) -> &oxstack_volume::BlockStorage {
        &self.0.volumes
    }

    fn config(&self) -> &ApiConfig {
        &self.0.config
    }

    fn control(&self) -> &control::ControlPlane {
        &self.0.control
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let compute = compute::router(state.clone());
    Router::new()
        .nest("/identity", identity::router())
        // Nesting matches `/identity` but not `/identity/`; discovery needs both.
        .route("/identity/", axum::routing::get(identity::list_versions))
        .nest("/image", image::router())
        .route("/image/", axum::routing::get(image::list_versions))
        .nest_service("/network", network::service(state.clone()))
        .nest_service("/volume", volume::service(state.clone()))
        .nest("/_oxstack", control::router())
        .nest("/vnc", vnc::router())
        .nest_service("/compute", compute.clone())
        .fallback_service(compute)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::faults::inject,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_id::request_id_and_log,
        ))
        .with_state(state)
}
