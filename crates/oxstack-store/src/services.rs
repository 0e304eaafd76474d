//! Compute services: the hosts that run servers, their reports and the
//! operator's switches (disabled, forced down).

use crate::aggregates::sync_host_zone;
use crate::db::{Columns, Db, DecodeError, Record, values};
use crate::{StoreError, StoreResult};

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

impl Record for ServiceRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            uuid: row.column("uuid")?,
            host: row.column("host")?,
            node: row.column("node")?,
            zone: row.column("zone")?,
            disabled: row.column("disabled")?,
            disabled_reason: row.column("disabled_reason")?,
            forced_down: row.column("forced_down")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
            last_seen_up: row.column("last_seen_up")?,
            node_uuid: row.column("node_uuid")?,
            vcpus: row.column("vcpus")?,
            memory_mb: row.column("memory_mb")?,
            local_gb: row.column("local_gb")?,
            hypervisor_type: row.column("hypervisor_type")?,
            hypervisor_version: row.column("hypervisor_version")?,
            host_ip: row.column("host_ip")?,
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
    db: &'a Db,
}

impl<'a> ServiceRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Registers a host (or, when it is known, records what it offers
    /// now and that it is up), returning its record. Operator switches
    /// survive a restart of the host.
    pub async fn register(&self, new: &NewService<'_>, now: i64) -> StoreResult<ServiceRow> {
        let mut tx = self.db.begin().await?;
        let known: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM compute_services WHERE host = $1",
                &values![new.host],
            )
            .await?;
        let id = match known {
            Some((id,)) => id,
            None => tx.next_value("compute_services").await?,
        };
        tx.execute(
            "INSERT INTO compute_services (id, uuid, host, node, zone, created_at, updated_at, \
                 last_seen_up, vcpus, memory_mb, local_gb, hypervisor_type, hypervisor_version, \
                 host_ip, node_uuid) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (host) DO UPDATE SET node = excluded.node, zone = excluded.zone, \
                 updated_at = excluded.updated_at, last_seen_up = excluded.last_seen_up, \
                 vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, \
                 local_gb = excluded.local_gb, hypervisor_type = excluded.hypervisor_type, \
                 hypervisor_version = excluded.hypervisor_version, host_ip = excluded.host_ip",
            &values![
                id,
                new.uuid,
                new.host,
                new.node,
                new.zone,
                now,
                new.vcpus,
                new.memory_mb,
                new.local_gb,
                new.hypervisor_type,
                new.hypervisor_version,
                new.host_ip,
                new.node_uuid
            ],
        )
        .await?;
        // A host in an aggregate with a zone is in that zone.
        sync_host_zone(&mut tx, new.host, new.zone).await?;
        let row = tx
            .fetch_one(
                "SELECT * FROM compute_services WHERE host = $1",
                &values![new.host],
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Records a report of `host`; `None` when it is not registered (an
    /// operator deleted it).
    pub async fn report(&self, host: &str, now: i64) -> StoreResult<Option<ServiceRow>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .fetch_optional(
                "UPDATE compute_services SET updated_at = $2, last_seen_up = $2 WHERE host = $1 \
                 RETURNING *",
                &values![host, now],
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Every compute service, oldest first.
    pub async fn list(&self) -> StoreResult<Vec<ServiceRow>> {
        self.db
            .scan("SELECT * FROM compute_services ORDER BY id", &[])
            .await
    }

    /// Applies an operator's change to the service with `uuid`.
    pub async fn change(
        &self,
        uuid: &str,
        change: &ServiceChange,
        now: i64,
    ) -> StoreResult<Option<ServiceRow>> {
        let (disabled, reason) = match &change.disabled {
            Some((disabled, reason)) => (Some(*disabled), reason.clone()),
            None => (None, None),
        };
        let mut tx = self.db.begin().await?;
        let row = tx
            .fetch_optional(
                "UPDATE compute_services SET \
                 disabled = COALESCE($2, disabled), \
                 disabled_reason = CASE WHEN $2 IS NULL THEN disabled_reason ELSE $3 END, \
                 forced_down = COALESCE($4, forced_down), updated_at = $5 \
                 WHERE uuid = $1 RETURNING *",
                &values![uuid, disabled, reason, change.forced_down, now],
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Removes the service with `uuid` unless live servers are on its
    /// host; `Ok(false)` when servers are, `Err(NotFound)` when no such
    /// service exists.
    pub async fn delete_if_empty(&self, uuid: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let host: Option<(String,)> = tx
            .fetch_optional(
                "SELECT host FROM compute_services WHERE uuid = $1",
                &values![uuid],
            )
            .await?;
        let Some((host,)) = host else {
            return Err(StoreError::NotFound);
        };
        let (hosting,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM instances WHERE host = $1 AND deleted = FALSE",
                &values![&host],
            )
            .await?;
        if hosting > 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM compute_services WHERE uuid = $1",
            &values![uuid],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
