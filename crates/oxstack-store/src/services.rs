//! Compute services: the hosts that run servers, their reports and the
//! operator's switches (disabled, forced down).

use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow, Row};

use crate::StoreResult;

/// One compute host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRow {
    pub id: i64,
    pub uuid: String,
    pub host: String,
    /// The hypervisor's node name on that host.
    pub node: String,
    pub zone: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    pub created_at: i64,
    /// The last report or operator change.
    pub updated_at: i64,
    /// The last report: whether the host is up.
    pub last_seen_up: i64,
    /// The hypervisor's id (2.53).
    pub node_uuid: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub host_ip: String,
}

/// A compute host as it registers: who it is and what it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewService<'a> {
    /// Used when the host is new: the service's and its hypervisor's ids.
    pub uuid: &'a str,
    pub node_uuid: &'a str,
    pub host: &'a str,
    pub node: &'a str,
    pub zone: &'a str,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub hypervisor_type: &'a str,
    pub hypervisor_version: i64,
    pub host_ip: &'a str,
}

impl FromRow<'_, AnyRow> for ServiceRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            uuid: row.try_get("uuid")?,
            host: row.try_get("host")?,
            node: row.try_get("node")?,
            zone: row.try_get("zone")?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            disabled_reason: row.try_get("disabled_reason")?,
            forced_down: row.try_get::<i64, _>("forced_down")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            last_seen_up: row.try_get("last_seen_up")?,
            node_uuid: row.try_get("node_uuid")?,
            vcpus: row.try_get("vcpus")?,
            memory_mb: row.try_get("memory_mb")?,
            local_gb: row.try_get("local_gb")?,
            hypervisor_type: row.try_get("hypervisor_type")?,
            hypervisor_version: row.try_get("hypervisor_version")?,
            host_ip: row.try_get("host_ip")?,
        })
    }
}

/// What an operator changes on a service; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct ServiceChange {
    /// Disabled, with the reason given (if any).
    pub disabled: Option<(bool, Option<String>)>,
    pub forced_down: Option<bool>,
}

/// Queries over compute services.
pub struct ServiceRepo<'a> {
    pool: &'a AnyPool,
}

impl<'a> ServiceRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Registers a host (or, when it is known, records what it offers
    /// now and that it is up), returning its record. Operator switches
    /// survive a restart of the host.
    pub async fn register(&self, new: &NewService<'_>, now: i64) -> StoreResult<ServiceRow> {
        let mut tx = self.pool.begin().await?;
        let known: Option<i64> =
            sqlx::query_scalar("SELECT id FROM compute_services WHERE host = $1")
                .bind(new.host)
                .fetch_optional(&mut *tx)
                .await?;
        let id = match known {
            Some(id) => id,
            None => {
                sqlx::query(
                    "INSERT INTO counters (name, value) VALUES ('compute_services', 0) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query_scalar(
                    "UPDATE counters SET value = value + 1 WHERE name = 'compute_services' \
                     RETURNING value",
                )
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let row = sqlx::query_as(
            "INSERT INTO compute_services (id, uuid, host, node, zone, created_at, updated_at, \
             last_seen_up, vcpus, memory_mb, local_gb, hypervisor_type, hypervisor_version, host_ip, \
             node_uuid) VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (host) DO UPDATE SET node = excluded.node, zone = excluded.zone, \
             updated_at = excluded.updated_at, last_seen_up = excluded.last_seen_up, \
             vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, local_gb = excluded.local_gb, \
             hypervisor_type = excluded.hypervisor_type, \
             hypervisor_version = excluded.hypervisor_version, host_ip = excluded.host_ip \
             RETURNING *",
        )
        .bind(id)
        .bind(new.uuid)
        .bind(new.host)
        .bind(new.node)
        .bind(new.zone)
        .bind(now)
        .bind(new.vcpus)
        .bind(new.memory_mb)
        .bind(new.local_gb)
        .bind(new.hypervisor_type)
        .bind(new.hypervisor_version)
        .bind(new.host_ip)
        .bind(new.node_uuid)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Records a report of `host`; `None` when it is not registered (an
    /// operator deleted it).
    pub async fn report(&self, host: &str, now: i64) -> StoreResult<Option<ServiceRow>> {
        Ok(sqlx::query_as(
            "UPDATE compute_services SET updated_at = $2, last_seen_up = $2 WHERE host = $1 \
             RETURNING *",
        )
        .bind(host)
        .bind(now)
        .fetch_optional(self.pool)
        .await?)
    }

    /// Every compute service, oldest first.
    pub async fn list(&self) -> StoreResult<Vec<ServiceRow>> {
        Ok(sqlx::query_as("SELECT * FROM compute_services ORDER BY id")
            .fetch_all(self.pool)
            .await?)
    }

    /// Applies an operator's change to the service with `uuid`.
    pub async fn change(
        &self,
        uuid: &str,
        change: &ServiceChange,
        now: i64,
    ) -> StoreResult<Option<ServiceRow>> {
        let (disabled, reason) = match &change.disabled {
            Some((disabled, reason)) => (Some(i64::from(*disabled)), reason.clone()),
            None => (None, None),
        };
        Ok(sqlx::query_as(
            "UPDATE compute_services SET \
             disabled = COALESCE($2, disabled), \
             disabled_reason = CASE WHEN $2 IS NULL THEN disabled_reason ELSE $3 END, \
             forced_down = COALESCE($4, forced_down), updated_at = $5 \
             WHERE uuid = $1 RETURNING *",
        )
        .bind(uuid)
        .bind(disabled)
        .bind(reason)
        .bind(change.forced_down.map(i64::from))
        .bind(now)
        .fetch_optional(self.pool)
        .await?)
    }

    /// Removes the service with `uuid` unless live servers are on its
    /// host; `Ok(false)` when servers are, `Err(NotFound)` when no such
    /// service exists.
    pub async fn delete_if_empty(&self, uuid: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let host: Option<String> =
            sqlx::query_scalar("SELECT host FROM compute_services WHERE uuid = $1")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(host) = host else {
            return Err(crate::StoreError::NotFound);
        };
        let hosting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE host = $1 AND deleted = 0")
                .bind(&host)
                .fetch_one(&mut *tx)
                .await?;
        if hosting > 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM compute_services WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
