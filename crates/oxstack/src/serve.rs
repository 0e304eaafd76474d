//! Wiring: open the store, bootstrap identity, serve HTTP until a signal,
//! then drain in-flight requests and close the database.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use oxstack_api::{ApiConfig, AppState};
use oxstack_compute::Compute;
use oxstack_identity::{IdentityConfig, IdentityService};
use oxstack_image::Images;
use oxstack_network::{Layout, Networking, PrivateNetwork};
use oxstack_store::Store;
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::drivers::driver_for;

/// How often revocations made through other API nodes are picked up.
const REVOCATION_REFRESH: Duration = Duration::from_secs(5);

pub fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log level {filter:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    Store::connect(&config.database_url).await.with_context(|| {
        format!(
            "opening database {}",
            oxstack_store::redact(&config.database_url)
        )
    })
}

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    store.close().await;
    tracing::info!(database = %oxstack_store::redact(&config.database_url), "migrations applied");
    Ok(())
}

pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    // Bound first: the port chosen for `:0` goes into the URLs this cloud
    // hands out (its console proxy's).
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    config.listen = addr;
    if config.driver == "qemu" && config.compute.novncproxy_base_url.is_none() {
        config.compute.novncproxy_base_url =
            Some(format!("{}/vnc/vnc_lite.html", config.client_url()));
    }
    let store = open_store(&config).await?;
    let statistics = store.keep_planner_statistics();
    let identity_config = IdentityConfig {
        token_ttl: config.token_ttl,
        hash_parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let identity = Arc::new(IdentityService::new(store.clone(), identity_config).await?);
    identity
        .bootstrap(&config.bootstrap)
        .await
        .context("bootstrapping identity")?;

    let refresher = {
        let identity = identity.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REVOCATION_REFRESH);
            loop {
                tick.tick().await;
                if let Err(e) = identity.refresh_revocations().await {
                    tracing::warn!(error = %e, "refreshing token revocations failed");
                }
            }
        })
    };

    let api_config = ApiConfig {
        auth: config.auth,
        public_url: config.public_url.clone(),
        region: config.region.clone(),
        max_body_bytes: config.max_body_bytes,
        driver: config.driver.clone(),
        control: config.control.clone(),
        novnc_dir: config.novnc_dir.clone(),
    };
    let images = open_images(&config, &store).await?;
    let admin_project = identity
        .project_id_by_name(&config.bootstrap.admin_project)
        .await?;
    images
        .bootstrap_cirros(&admin_project)
        .await
        .context("creating the cirros image")?;
    let networking = open_networking(&config, &store, &identity).await?;
    let volumes = open_volumes(&config, &store, &images, true).await?;
    let hosts = open_compute(&config, &store, images.clone(), volumes.clone()).await?;
    let compute = hosts[0].clone();
    let periodic = tokio::spawn(compute.clone().run_periodic_tasks());
    let host_tasks: Vec<_> = hosts.iter().flat_map(start_host).collect();
    let state = AppState::new(identity, compute, images, networking, volumes, api_config);
    if let Some(path) = &config.seed {
        apply_seed(&state, path).await?;
    }
    let app = oxstack_api::router(state).layer(DefaultBodyLimit::max(config.max_body_bytes));

    tracing::info!(%addr, database = store.backend().name(), auth = ?config.auth, "oxstack serving");
    // Tests and scripts read this line to learn the port chosen for `:0`.
    println!("oxstack listening on http://{addr}");

    // Routes made services once here, and each connection given a clone of
    // the router's handle: served as it is, axum would copy the whole route
    // table (every route's boxed service) for each connection, a cost every
    // request of a client without keep-alive paid.
    let app = app.with_state::<()>(()).into_make_service();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    refresher.abort();
    periodic.abort();
    if let Some(task) = statistics {
        task.abort();
    }
    for task in host_tasks {
        task.abort();
    }
    store.close().await;
    tracing::info!("oxstack stopped");
    Ok(())
}

/// Makes what the seed file declares that the cloud does not have yet.
async fn apply_seed(state: &AppState, path: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read(path).with_context(|| format!("reading the seed {}", path.display()))?;
    let seed = oxstack_api::control::seed::Seed::parse(&text).map_err(anyhow::Error::msg)?;
    let seeded = oxstack_api::control::seed::apply(state, &seed)
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("applying the seed {}", path.display()))?;
    tracing::info!(seed = %path.display(), servers = seeded.servers.len(), "seed applied");
    Ok(())
}

/// The image records and data under the data directory.
async fn open_images(config: &Config, store: &Store) -> anyhow::Result<Images> {
    Images::open(
        store.clone(),
        &config.data_dir.join("images"),
        &host_name(config, store).await?,
        config.image_max_bytes,
    )
    .await
    .context("opening the image store")
}

/// The block storage service over the data directory's `volumes`
/// folder; with `recover`, what the last run left half done is finished.
async fn open_volumes(
    config: &Config,
    store: &Store,
    images: &Images,
    recover: bool,
) -> anyhow::Result<oxstack_volume::BlockStorage> {
    let settings = oxstack_volume::Settings {
        availability_zone: config.compute.availability_zone.clone(),
        ..oxstack_volume::Settings::default()
    };
    let volumes = oxstack_volume::BlockStorage::open(
        store.clone(),
        images.clone(),
        &config.data_dir.join("volumes"),
        settings,
    )
    .await
    .context("opening the volume store")?;
    if recover {
        volumes
            .recover()
            .await
            .context("finishing volume work left unfinished by the last run")?;
    }
    Ok(volumes)
}

/// The networking service, with DevStack's networks made on first start
/// from the `[network]` settings.
async fn open_networking(
    config: &Config,
    store: &Store,
    identity: &oxstack_identity::IdentityService,
) -> anyhow::Result<Networking> {
    let n = &config.compute.network;
    let cidr = |text: String| Some(text);
    let layout = Layout {
        private: Some(PrivateNetwork {
            name: n.name.clone(),
            id: n.id.clone(),
            ipv4_cidr: n
                .ipv4
                .and_then(|c| cidr(format!("{}/{}", c.network, c.prefix))),
            ipv6_cidr: n
                .ipv6
                .and_then(|c| cidr(format!("{}/{}", c.network, c.prefix))),
            shared: true,
        }),
        public_cidr: n
            .floating
            .as_ref()
            .map(|(_, c)| format!("{}/{}", c.network, c.prefix)),
    };
    let networking = Networking::new(store.clone(), layout);
    let admin = identity
        .project_id_by_name(&config.bootstrap.admin_project)
        .await?;
    let demo = identity
        .project_id_by_name(&config.bootstrap.demo_project)
        .await?;
    let adopted = networking
        .bootstrap(&admin, &demo)
        .await
        .context("creating the starting networks")?;
    if adopted > 0 {
        tracing::info!(ports = adopted, "servers' addresses are ports now");
    }
    Ok(networking)
}

/// The compute services of this process's hosts (the first is the one
/// the API uses): default flavors in place, each host registered and the
/// work a previous run left unfinished on it picked up again.
async fn open_compute(
    config: &Config,
    store: &Store,
    images: Images,
    volumes: oxstack_volume::BlockStorage,
) -> anyhow::Result<Vec<Compute>> {
    let first = host_name(config, store).await?;
    let compute = Compute::new(
        store.clone(),
        config.compute.clone(),
        driver_for(config, &first, &images).await?,
        images.clone(),
        volumes,
        first.clone(),
    );
    compute
        .seed_default_flavors()
        .await
        .context("creating the default flavors")?;
    let mut hosts = vec![compute.clone()];
    for host in config.host_names(&first).into_iter().skip(1) {
        hosts.push(compute.add_local_host(host.clone(), driver_for(config, &host, &images).await?));
    }
    for host in &hosts {
        host.register_host()
            .await
            .with_context(|| format!("registering compute host {}", host.host()))?;
        let resumed = host
            .recover()
            .await
            .context("resuming unfinished server work")?;
        if resumed > 0 {
            tracing::info!(
                host = host.host(),
                servers = resumed,
                "resumed work left unfinished by the last run"
            );
        }
    }
    Ok(hosts)
}

/// This process's host name: the configured one; else, for an embedded
/// (SQLite) cloud that already has its one host, that host's name — so a
/// data directory moved to a machine with another name (a new container)
/// keeps running its servers rather than leaving them on a host that
/// never comes back; else the machine's hostname.
async fn host_name(config: &Config, store: &Store) -> anyhow::Result<String> {
    if !config.host_is_default || store.backend() != oxstack_store::Backend::Sqlite {
        return Ok(config.host.clone());
    }
    let known = store.services().list().await?;
    Ok(match known.as_slice() {
        [only] => only.host.clone(),
        _ => config.host.clone(),
    })
}

/// The host's background work: reports, work accepted by other nodes,
/// and the power sync.
fn start_host(compute: &Compute) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(compute.clone().run_host_reports()),
        tokio::spawn(compute.clone().run_wake_listener()),
        tokio::spawn(compute.clone().run_power_sync()),
    ]
}

/// `oxstack compute`: runs one compute host, without the HTTP API, for a
/// cloud whose API nodes share its PostgreSQL database.
pub async fn compute(config: Config) -> anyhow::Result<()> {
    if !config.database_url.starts_with("postgres") {
        anyhow::bail!(
            "a separate compute host shares the cloud's database: set database_url to the \
             PostgreSQL URL of the API nodes (with SQLite, `oxstack serve` runs the one host)"
        );
    }
    let store = open_store(&config).await?;
    let images = open_images(&config, &store).await?;
    // The API nodes finish volume work a crash left half done.
    let volumes = open_volumes(&config, &store, &images, false).await?;
    let hosts = open_compute(&config, &store, images, volumes).await?;
    let tasks: Vec<_> = hosts.iter().flat_map(start_host).collect();
    for compute in &hosts {
        tracing::info!(host = %compute.host(), database = store.backend().name(), "oxstack compute host running");
        println!("oxstack compute host {} running", compute.host());
    }
    shutdown_signal().await;
    for task in tasks {
        task.abort();
    }
    store.close().await;
    tracing::info!("oxstack compute host stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
}
