//! Persistence for oxstack: one schema, migrated at start, behind typed
//! repositories that run unchanged on SQLite (the embedded default) and
//! PostgreSQL (shared by several API nodes and compute hosts).
//!
//! Both engines are reached through sqlx's `Any` driver with portable SQL
//! (`$n` placeholders, TEXT/BIGINT/BOOLEAN columns), so there is one
//! implementation of every query rather than a twin per engine.

pub mod console_tokens;
mod direct;
mod error;
pub mod flavors;
pub mod floating_ips;
pub mod identity;
pub mod images;
pub mod instance_actions;
pub mod instances;
pub mod migrations;
pub mod quotas;
pub mod services;
mod value;
mod writes;

use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor};

use direct::{DirectReads, Reads};
use writes::{DirectWriter, Writes};

pub use error::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine named by a database URL's scheme.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    /// Short lowercase name, as shown by the health endpoint.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

/// A connection pool plus the knowledge of which engine is behind it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: hot reads that skip sqlx's worker thread.
    direct: Option<Arc<DirectReads>>,
    /// SQLite only: hot writes that skip sqlx's worker thread.
    writer: Option<Arc<DirectWriter>>,
    /// PostgreSQL only: where compute hosts listen for work.
    listen_url: Option<Arc<str>>,
}

/// The PostgreSQL channel on which compute hosts are told of work accepted
/// by another node (payload: `host uuid`).
const WAKE_CHANNEL: &str = "oxstack_compute";

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a
    /// missing SQLite file, and applies every pending migration.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = match backend {
            // SQLite has one writer at a time. With several connections,
            // concurrent writers met SQLite's busy handler, which polls with
            // sleeps of up to 100 ms (creates from 32 clients stalled for
            // seconds); one connection queues them in order instead. The
            // hot reads and writes do not wait behind it: they go through
            // `direct` and `writes`, on connections of their own.
            // WAL lets those readers run beside the writer; NORMAL sync in
            // WAL mode keeps every committed transaction across a process
            // crash.
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let listen_url = (backend == Backend::Postgres).then(|| Arc::from(url.as_str()));
        let (direct, writer) = match backend {
            Backend::Sqlite => {
                let file = SqliteConnectOptions::from_str(&url)?;
                let path = file.get_filename();
                (
                    Some(Arc::new(DirectReads::new(path))),
                    Some(Arc::new(DirectWriter::open(path)?)),
                )
            }
            Backend::Postgres => (None, None),
        };
        Ok(Self {
            pool,
            backend,
            direct,
            writer,
            listen_url,
        })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Round-trips a trivial query, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Waits for checked-out connections to return and closes the pool, so
    /// that SQLite checkpoints its WAL and PostgreSQL sessions end cleanly.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn reads(&self) -> Reads<'_> {
        Reads {
            pool: &self.pool,
            direct: self.direct.as_deref(),
        }
    }

    fn writes(&self) -> Writes<'_> {
        Writes {
            pool: &self.pool,
            direct: self.writer.as_deref(),
        }
    }

    /// Users, projects, roles, assignments, revocations and settings.
    pub fn identity(&self) -> identity::IdentityRepo<'_> {
        identity::IdentityRepo::new(&self.pool)
    }

    /// Images, their properties and tags.
    pub fn images(&self) -> images::ImageRepo<'_> {
        images::ImageRepo::new(&self.pool, self.reads())
    }

    /// Instances with their metadata, tags and addresses.
    pub fn instances(&self) -> instances::InstanceRepo<'_> {
        instances::InstanceRepo::new(&self.pool, self.backend, self.reads(), self.writes())
    }

    /// Console access tokens.
    pub fn console_tokens(&self) -> console_tokens::ConsoleTokenRepo<'_> {
        console_tokens::ConsoleTokenRepo::new(&self.pool)
    }

    /// Instance actions and their events.
    pub fn instance_actions(&self) -> instance_actions::ActionRepo<'_> {
        instance_actions::ActionRepo::new(&self.pool, self.writes())
    }

    /// Compute services (hosts).
    pub fn services(&self) -> services::ServiceRepo<'_> {
        services::ServiceRepo::new(&self.pool)
    }

    /// Tells the agent of compute `host` that server `uuid` has work
    /// accepted here, with the request's `secret` (a password it hands to
    /// the hypervisor: carried in the notification only, never stored).
    /// Only PostgreSQL deployments have agents in other processes; on
    /// SQLite every host runs in this one, so this does nothing.
    pub async fn wake(&self, host: &str, uuid: &str, secret: Option<&str>) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            let payload = match secret {
                Some(secret) => format!("{host} {uuid} {secret}"),
                None => format!("{host} {uuid}"),
            };
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(WAKE_CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Starts listening for [`Store::wake`]s; `None` on SQLite.
    pub async fn listen_wakes(&self) -> StoreResult<Option<Wakes>> {
        let Some(url) = &self.listen_url else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(WAKE_CHANNEL).await?;
        Ok(Some(Wakes(listener)))
    }

    /// Migration records.
    pub fn migrations(&self) -> migrations::MigrationRepo<'_> {
        migrations::MigrationRepo::new(&self.pool, self.writes())
    }

    /// Floating addresses.
    pub fn floating_ips(&self) -> floating_ips::FloatingIpRepo<'_> {
        floating_ips::FloatingIpRepo::new(&self.pool)
    }

    /// Per-project quota overrides.
    pub fn quotas(&self) -> quotas::QuotaRepo<'_> {
        quotas::QuotaRepo::new(&self.pool, self.reads())
    }

    /// Flavors, extra specs and flavor access.
    pub fn flavors(&self) -> flavors::FlavorRepo<'_> {
        flavors::FlavorRepo::new(&self.pool, self.reads())
    }
}

/// `NotFound` when an UPDATE or DELETE touched nothing.
pub(crate) fn missing_if_none(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// A database URL with any password replaced, safe for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates an empty PostgreSQL database with a unique name on the server of
/// `server_url` and returns the URL of the new database. Used by the test
/// suites so that parallel runs never share state.
pub async fn create_scratch_postgres_database(server_url: &str) -> StoreResult<String> {
    use sqlx::Connection;
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);

    let name = format!(
        "oxstack_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let mut conn = sqlx::AnyConnection::connect(server_url).await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    conn.close().await?;
    let base = match server_url.rfind('/') {
        Some(slash) if slash > server_url.find("://").map_or(0, |i| i + 2) => &server_url[..slash],
        _ => server_url,
    };
    let query = server_url.find('?').map_or("", |q| &server_url[q..]);
    Ok(format!("{base}/{name}{query}"))
}

/// Wake-ups for compute hosts, from [`Store::listen_wakes`].
pub struct Wakes(sqlx::postgres::PgListener);

/// One wake-up: a server with work for a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    pub host: String,
    pub uuid: String,
    pub secret: Option<String>,
}

impl Wakes {
    /// The next wake-up; `Ok(None)` when the connection was lost and
    /// re-established, so that wake-ups may have been missed.
    pub async fn next(&mut self) -> StoreResult<Option<Wake>> {
        loop {
            let Some(note) = self.0.try_recv().await? else {
                return Ok(None);
            };
            let mut parts = note.payload().splitn(3, ' ');
            if let (Some(host), Some(uuid)) = (parts.next(), parts.next()) {
                return Ok(Some(Wake {
                    host: host.to_owned(),
                    uuid: uuid.to_owned(),
                    secret: parts.next().map(str::to_owned),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://bob:secret@db:5432/ox"),
            "postgres://bob:***@db:5432/ox"
        );
        assert_eq!(redact("postgres://bob@db/ox"), "postgres://bob@db/ox");
        assert_eq!(redact("sqlite://data/ox.db"), "sqlite://data/ox.db");
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }
}
