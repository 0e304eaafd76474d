//! Persistence for oxstack: one schema, migrated at start, behind typed
//! repositories that run unchanged on SQLite (the embedded default) and
//! PostgreSQL (shared by several API nodes and compute hosts).
//!
//! Each engine is reached one way ([`db`]): SQLite through rusqlite on the
//! calling thread, PostgreSQL through sqlx's native driver. Repositories
//! write portable SQL once (`$n` placeholders, `TRUE`/`FALSE`, `ON
//! CONFLICT`, `RETURNING`) and decode rows with one mapping.

pub mod aggregates;
pub mod console_tokens;
mod db;
mod error;
pub mod flavors;
pub mod floating_ips;
pub mod identity;
pub mod images;
pub mod instance_actions;
pub mod instances;
pub mod key_pairs;
pub mod migrations;
pub mod networking;
pub mod quotas;
pub mod reset;
pub mod server_groups;
pub mod server_passwords;
pub mod services;
pub mod volumes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use db::{Db, Sqlite, values};

pub use db::{DecodeError, SqlValue};
pub use error::{StoreError, StoreResult};

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

/// The file a `sqlite://path` (or `sqlite:path`) URL names; its query
/// string (sqlx's `?mode=rwc` of earlier configurations) is ignored.
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    PathBuf::from(path)
}

/// The database, and which engine is behind it.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    backend: Backend,
}

/// The PostgreSQL channel on which compute hosts are told of work accepted
/// by another node (payload: `host uuid [secret]`).
const WAKE_CHANNEL: &str = "oxstack_compute";

impl Store {
    /// How long a PostgreSQL statement waits for a pooled connection (the
    /// pool keeps trying to connect meanwhile) before the database counts
    /// as unavailable.
    pub const ACQUIRE_WAIT: Duration = Duration::from_secs(3);

    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a
    /// missing SQLite file, and applies every pending migration.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let backend = Backend::from_url(url)?;
        let db = match backend {
            Backend::Sqlite => {
                let sqlite = Sqlite::open(&sqlite_path(url))?;
                db::migrate::sqlite(&sqlite).await?;
                Db::Sqlite(Arc::new(sqlite))
            }
            Backend::Postgres => {
                // A request waits at most `ACQUIRE_WAIT` for a connection:
                // with the server down it then answers 503 rather than hang.
                let pg = db::Pg::connect(url, Self::ACQUIRE_WAIT).await?;
                db::migrate::postgres(&pg.admin).await?;
                Db::Postgres(pg)
            }
        };
        Ok(Self { db, backend })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Returns once the database answers again after an outage, asking
    /// with a growing pause (a quarter of a second, doubling up to 5 s).
    pub async fn until_reachable(&self) {
        let mut wait = Duration::from_millis(250);
        loop {
            tokio::time::sleep(wait).await;
            if self.ping().await.is_ok() {
                return;
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// On PostgreSQL, a task that analyzes oxstack's tables as they grow,
    /// so that the plans sessions keep are made for their present size
    /// (`db/statistics.rs` says why); abort it when done. SQLite plans
    /// without statistics: none there.
    pub fn keep_planner_statistics(&self) -> Option<tokio::task::JoinHandle<()>> {
        match &self.db {
            Db::Postgres(pg) => Some(tokio::spawn(db::statistics::keep_current(pg.admin.clone()))),
            Db::Sqlite(_) => None,
        }
    }

    /// Round-trips a trivial query, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        let _: Vec<(i64,)> = self.db.point("SELECT CAST(1 AS BIGINT)", &[]).await?;
        Ok(())
    }

    /// Ends cleanly: PostgreSQL sessions close; SQLite's WAL is copied
    /// back into the database file.
    pub async fn close(&self) {
        match &self.db {
            Db::Postgres(pg) => pg.close().await,
            Db::Sqlite(sqlite) => {
                if let Err(e) = sqlite.truncate_wal().await {
                    tracing::warn!(error = %e, "final WAL checkpoint failed");
                }
            }
        }
    }

    /// Users, projects, roles, assignments, revocations and settings.
    pub fn identity(&self) -> identity::IdentityRepo<'_> {
        identity::IdentityRepo::new(&self.db)
    }

    /// Images, their properties and tags.
    pub fn images(&self) -> images::ImageRepo<'_> {
        images::ImageRepo::new(&self.db)
    }

    /// Instances with their metadata, tags and addresses.
    pub fn instances(&self) -> instances::InstanceRepo<'_> {
        instances::InstanceRepo::new(&self.db, self.backend)
    }

    /// Servers' encrypted passwords.
    pub fn server_passwords(&self) -> server_passwords::ServerPasswordRepo<'_> {
        server_passwords::ServerPasswordRepo::new(&self.db)
    }

    /// Console access tokens.
    pub fn console_tokens(&self) -> console_tokens::ConsoleTokenRepo<'_> {
        console_tokens::ConsoleTokenRepo::new(&self.db)
    }

    /// Instance actions and their events.
    pub fn instance_actions(&self) -> instance_actions::ActionRepo<'_> {
        instance_actions::ActionRepo::new(&self.db)
    }

    /// Removing what users made (the control plane's reset).
    pub fn reset(&self) -> reset::ResetRepo<'_> {
        reset::ResetRepo::new(&self.db)
    }

    /// Compute services (hosts).
    pub fn services(&self) -> services::ServiceRepo<'_> {
        services::ServiceRepo::new(&self.db)
    }

    /// Tells the agent of compute `host` that server `uuid` has work
    /// accepted here, with the request's `secret` (a password it hands to
    /// the hypervisor: carried in the notification only, never stored).
    /// Only PostgreSQL deployments have agents in other processes; on
    /// SQLite every host runs in this one, so this does nothing.
    pub async fn wake(&self, host: &str, uuid: &str, secret: Option<&str>) -> StoreResult<()> {
        if let Db::Postgres(_) = &self.db {
            let payload = match secret {
                Some(secret) => format!("{host} {uuid} {secret}"),
                None => format!("{host} {uuid}"),
            };
            self.db
                .execute("SELECT pg_notify($1, $2)", &values![WAKE_CHANNEL, &payload])
                .await?;
        }
        Ok(())
    }

    /// Starts listening for [`Store::wake`]s; `None` on SQLite.
    pub async fn listen_wakes(&self) -> StoreResult<Option<Wakes>> {
        let Db::Postgres(pg) = &self.db else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(&pg.admin).await?;
        listener.listen(WAKE_CHANNEL).await?;
        Ok(Some(Wakes(listener)))
    }

    /// Migration records.
    pub fn migrations(&self) -> migrations::MigrationRepo<'_> {
        migrations::MigrationRepo::new(&self.db)
    }

    /// Floating addresses.
    pub fn floating_ips(&self) -> floating_ips::FloatingIpRepo<'_> {
        floating_ips::FloatingIpRepo::new(&self.db)
    }

    /// Host aggregates.
    pub fn aggregates(&self) -> aggregates::AggregateRepo<'_> {
        aggregates::AggregateRepo::new(&self.db)
    }

    /// Key pairs.
    pub fn networking(&self) -> networking::NetworkingRepo<'_> {
        networking::NetworkingRepo::new(&self.db)
    }

    /// Removes users' networking resources (the control plane's reset).
    pub async fn networking_reset(
        &self,
        project: Option<&str>,
        keep: &[String],
    ) -> StoreResult<()> {
        self.reset().networking(project, keep).await
    }

    /// Block storage: volume types, volumes, attachments, snapshots.
    pub fn volumes(&self) -> volumes::VolumeRepo<'_> {
        volumes::VolumeRepo::new(&self.db)
    }

    pub fn key_pairs(&self) -> key_pairs::KeyPairRepo<'_> {
        key_pairs::KeyPairRepo::new(&self.db)
    }

    /// Server groups.
    pub fn server_groups(&self) -> server_groups::ServerGroupRepo<'_> {
        server_groups::ServerGroupRepo::new(&self.db)
    }

    /// Per-project quota overrides.
    pub fn quotas(&self) -> quotas::QuotaRepo<'_> {
        quotas::QuotaRepo::new(&self.db)
    }

    /// Flavors, extra specs and flavor access.
    pub fn flavors(&self) -> flavors::FlavorRepo<'_> {
        flavors::FlavorRepo::new(&self.db)
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

/// The prefix of scratch databases' names; the rest is
/// `{pid}_{nanoseconds since the epoch}`.
const SCRATCH_PREFIX: &str = "oxstack_test_";

/// For the crate's own tests: the URL of a new scratch database on the
/// server `OXSTACK_TEST_POSTGRES_URL` names; `None` when it names none,
/// after noting that `what` (a phrase) goes untested.
#[cfg(test)]
pub(crate) async fn scratch_postgres_url(what: &str) -> Option<String> {
    let Ok(server) = std::env::var("OXSTACK_TEST_POSTGRES_URL") else {
        eprintln!("NOTE: OXSTACK_TEST_POSTGRES_URL unset: {what}");
        return None;
    };
    Some(
        create_scratch_postgres_database(&server)
            .await
            .expect("a scratch PostgreSQL database"),
    )
}

/// Creates an empty PostgreSQL database with a unique name on the server of
/// `server_url` and returns the URL of the new database. Used by the test
/// suites so that parallel runs never share state.
///
/// Tests do not drop theirs (a failing one is worth looking at), so each
/// call first drops the scratch databases made over an hour ago that no
/// session uses: without that, every run of the suites left some
/// fifteen behind on a developer's server.
pub async fn create_scratch_postgres_database(server_url: &str) -> StoreResult<String> {
    use sqlx::{Connection, Executor};

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("{SCRATCH_PREFIX}{}_{now}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    let scratch: Vec<(String,)> = sqlx::query_as(
        "SELECT datname::text FROM pg_database d WHERE datname LIKE 'oxstack\\_test\\_%' \
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
    )
    .fetch_all(&mut conn)
    .await?;
    let hour_ago = now.saturating_sub(3_600 * 1_000_000_000);
    for (stale,) in scratch {
        if scratch_made_at(&stale).is_some_and(|made| made < hour_ago) {
            // Another run may be dropping it too, or just connecting.
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS {stale}").as_str())
                .await;
        }
    }
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

/// When the scratch database `name` was made (nanoseconds since the
/// epoch), if the name is one [`create_scratch_postgres_database`] gives.
fn scratch_made_at(name: &str) -> Option<u128> {
    let (pid, made) = name.strip_prefix(SCRATCH_PREFIX)?.split_once('_')?;
    pid.parse::<u32>().ok()?;
    made.parse().ok()
}

/// Wake-ups for compute hosts, from [`Store::listen_wakes`].
pub struct Wakes(PgListener);

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
    fn sqlite_urls_name_files() {
        assert_eq!(
            sqlite_path("sqlite://data/ox.db"),
            PathBuf::from("data/ox.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///abs/ox.db?mode=rwc"),
            PathBuf::from("/abs/ox.db")
        );
        assert_eq!(sqlite_path("sqlite:ox.db"), PathBuf::from("ox.db"));
    }

    #[test]
    fn scratch_database_names_tell_when_they_were_made() {
        assert_eq!(
            scratch_made_at("oxstack_test_42_1796671172274774581"),
            Some(1_796_671_172_274_774_581)
        );
        assert_eq!(scratch_made_at("oxstack_test_qemu_123456"), None);
        assert_eq!(scratch_made_at("oxstack_bench_42"), None);
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
