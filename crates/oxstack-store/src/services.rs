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

    /// Registers `host` under `uuid` (or reports in, when it is known),
    /// returning its record. Operator switches survive a restart of the
    /// host.
    pub async fn register(
        &self,
        uuid: &str,
        host: &str,
        node: &str,
        zone: &str,
        now: i64,
    ) -> StoreResult<ServiceRow> {
        if let Some(known) = self.report(host, now).await? {
            return Ok(known);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ('compute_services', 0) \
             ON CONFLICT (name) DO NOTHING",
        )
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'compute_services' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO compute_services (id, uuid, host, node, zone, created_at, updated_at, \
             last_seen_up) VALUES ($1, $2, $3, $4, $5, $6, $6, $6) ON CONFLICT (host) DO NOTHING",
        )
        .bind(id)
        .bind(uuid)
        .bind(host)
        .bind(node)
        .bind(zone)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.report(host, now)
            .await?
            .ok_or(crate::StoreError::NotFound)
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
