//! Schema migrations, embedded in the binary and applied at start, each in
//! a transaction, in order. A migration is one portable script, or one per
//! engine where they differ (`NNNN_name.sqlite.sql`/`.postgres.sql`).
//!
//! Applied versions are recorded in `_sqlx_migrations`, the table (and
//! checksum, SHA-384 of the script) sqlx's migrator used before, so data
//! directories and databases of earlier versions carry on where they were.
//! Several nodes starting at once against one PostgreSQL database migrate
//! one after the other (an advisory lock); on SQLite the writer's lock
//! does the same.

use std::time::Instant;

use sha2::{Digest, Sha384};
use sqlx::postgres::PgPool;
use sqlx::{Connection, Executor};

use super::sqlite::Sqlite;
use super::values;
use crate::StoreResult;

/// One migration.
struct Migration {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! both {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sqlite: include_str!(concat!("../../migrations/", $file, ".sql")),
            postgres: include_str!(concat!("../../migrations/", $file, ".sql")),
        }
    };
}

macro_rules! each {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sqlite: include_str!(concat!("../../migrations/", $file, ".sqlite.sql")),
            postgres: include_str!(concat!("../../migrations/", $file, ".postgres.sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    both!(1, "identity", "0001_identity"),
    both!(2, "flavors", "0002_flavors"),
    both!(3, "quotas", "0003_quotas"),
    both!(4, "images", "0004_images"),
    both!(5, "quota classes", "0005_quota_classes"),
    both!(6, "instances", "0006_instances"),
    both!(7, "instance actions", "0007_instance_actions"),
    both!(8, "resize", "0008_resize"),
    both!(9, "console tokens", "0009_console_tokens"),
    both!(10, "migrations", "0010_migrations"),
    both!(11, "floating ips", "0011_floating_ips"),
    both!(12, "shelved image", "0012_shelved_image"),
    both!(13, "project usage", "0013_project_usage"),
    both!(
        14,
        "instances listing order",
        "0014_instances_listing_order"
    ),
    both!(15, "compute services", "0015_compute_services"),
    both!(16, "action args", "0016_action_args"),
    each!(17, "flags as booleans", "0017_flags_as_booleans"),
    both!(18, "key pairs", "0018_key_pairs"),
    both!(19, "server groups", "0019_server_groups"),
    both!(20, "aggregates", "0020_aggregates"),
    both!(21, "user quotas", "0021_user_quotas"),
    both!(22, "server passwords", "0022_server_passwords"),
    both!(23, "networking", "0023_networking"),
    both!(24, "routers and floating IPs", "0024_routers_floating_ips"),
    both!(25, "block storage", "0025_block_storage"),
    both!(
        26,
        "live migration incoming address",
        "0026_migration_incoming"
    ),
    both!(27, "ports in listing order", "0027_ports_in_order"),
    both!(
        28,
        "no unused updated_at index",
        "0028_unused_updated_index"
    ),
    each!(
        29,
        "task transitions touch no index",
        "0029_transitions_touch_no_index"
    ),
];

/// The key of the advisory lock PostgreSQL nodes migrate under.
const LOCK_KEY: i64 = 0x006f_7873_7461_636b;

fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

fn elapsed_nanos(start: Instant) -> i64 {
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
}

/// Applies the pending migrations to an SQLite database.
pub(crate) async fn sqlite(db: &Sqlite) -> StoreResult<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
         success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await?;
    for m in MIGRATIONS {
        let mut tx = db.begin().await?;
        let applied: Vec<(i64,)> = tx.fetch_all(
            "SELECT version FROM _sqlx_migrations WHERE version = $1",
            &values![m.version],
        )?;
        if !applied.is_empty() {
            continue;
        }
        let start = Instant::now();
        tx.execute_batch(m.sqlite)?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ($1, $2, TRUE, $3, $4)",
            &[
                m.version.into(),
                m.description.into(),
                super::SqlValue::Blob(Some(checksum(m.sqlite))),
                elapsed_nanos(start).into(),
            ],
        )?;
        tx.commit().await?;
        tracing::info!(version = m.version, migration = m.description, "migrated");
    }
    Ok(())
}

/// Applies the pending migrations to a PostgreSQL database.
pub(crate) async fn postgres(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let migrated = migrate_postgres(&mut conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await;
    migrated?;
    unlocked?;
    Ok(())
}

async fn migrate_postgres(conn: &mut sqlx::PgConnection) -> StoreResult<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), \
         success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut *conn)
            .await?;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let start = Instant::now();
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(m.postgres).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ($1, $2, TRUE, $3, $4)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(checksum(m.postgres))
        .bind(elapsed_nanos(start))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, migration = m.description, "migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive() {
        for (at, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                m.version,
                i64::try_from(at).unwrap_or(0) + 1,
                "{}",
                m.description
            );
        }
    }

    /// A migration file nobody lists is never applied (a new index that
    /// silently does not exist): every file's number must be a listed
    /// version.
    #[test]
    fn every_migration_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let version: i64 = name[..4].parse().unwrap();
            assert!(
                MIGRATIONS.iter().any(|m| m.version == version),
                "{name} is not in MIGRATIONS"
            );
        }
    }
}
