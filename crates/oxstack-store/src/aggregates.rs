//! Host aggregates with their hosts and metadata. A host's availability
//! zone (`compute_services.zone`) follows the `availability_zone` metadata
//! of the aggregates it is in, and is rewritten by every change that could
//! move it, in the same transaction.

use std::collections::BTreeMap;

use crate::db::{Columns, Db, DecodeError, Record, Sql, SqlValue, Tx, values};
use crate::{StoreResult, missing_if_none};

/// The metadata key that makes an aggregate an availability zone.
pub const ZONE_KEY: &str = "availability_zone";

/// The zone the aggregates give host `$1`, if any (the oldest aggregate
/// wins; the domain keeps a host in one zone).
const HOST_ZONE: &str = "(SELECT m.value FROM aggregate_hosts h JOIN aggregate_metadata m \
     ON m.aggregate_id = h.aggregate_id AND m.key = 'availability_zone' \
     WHERE h.host = compute_services.host ORDER BY h.aggregate_id LIMIT 1)";

/// One aggregate with its hosts and metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AggregateRow {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

impl Record for AggregateRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            uuid: row.column("uuid")?,
            name: row.column("name")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
            ..Self::default()
        })
    }
}

/// Queries over aggregates.
pub struct AggregateRepo<'a> {
    db: &'a Db,
}

impl<'a> AggregateRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Every aggregate, oldest first.
    pub async fn list(&self) -> StoreResult<Vec<AggregateRow>> {
        let rows = self
            .db
            .scan("SELECT * FROM aggregates ORDER BY id", &[])
            .await?;
        self.filled(rows).await
    }

    pub async fn get(&self, id: i64) -> StoreResult<Option<AggregateRow>> {
        let rows = self
            .db
            .point("SELECT * FROM aggregates WHERE id = $1", &values![id])
            .await?;
        Ok(self.filled(rows).await?.into_iter().next())
    }

    /// The aggregates with their hosts and metadata read in.
    async fn filled(&self, mut rows: Vec<AggregateRow>) -> StoreResult<Vec<AggregateRow>> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let ids: Vec<SqlValue> = rows.iter().map(|r| SqlValue::from(r.id)).collect();
        let mut hosts =
            Sql::new("SELECT aggregate_id, host FROM aggregate_hosts WHERE aggregate_id IN (");
        let list = hosts.bind_list(ids.clone());
        hosts.push(&list);
        hosts.push(") ORDER BY host");
        let hosts: Vec<(i64, String)> = self.db.scan(&hosts.sql, &hosts.binds).await?;
        let mut metadata = Sql::new(
            "SELECT aggregate_id, key, value FROM aggregate_metadata WHERE aggregate_id IN (",
        );
        let list = metadata.bind_list(ids);
        metadata.push(&list);
        metadata.push(")");
        let metadata: Vec<(i64, String, String)> =
            self.db.scan(&metadata.sql, &metadata.binds).await?;
        for row in &mut rows {
            row.hosts = hosts
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, h)| h.clone())
                .collect();
            row.metadata = metadata
                .iter()
                .filter(|(id, ..)| *id == row.id)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .collect();
        }
        Ok(rows)
    }

    /// Creates an aggregate (its id is assigned), with a zone when given;
    /// `Conflict` when the name is taken.
    pub async fn create(
        &self,
        uuid: &str,
        name: &str,
        zone: Option<&str>,
        now: i64,
    ) -> StoreResult<AggregateRow> {
        let mut tx = self.db.begin().await?;
        let id = tx.next_value("aggregates").await?;
        tx.execute(
            "INSERT INTO aggregates (id, uuid, name, created_at) VALUES ($1, $2, $3, $4)",
            &values![id, uuid, name, now],
        )
        .await?;
        if let Some(zone) = zone {
            tx.execute(
                "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)",
                &values![id, ZONE_KEY, zone],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(AggregateRow {
            id,
            uuid: uuid.to_owned(),
            name: name.to_owned(),
            created_at: now,
            updated_at: None,
            hosts: Vec::new(),
            metadata: zone
                .map(|z| BTreeMap::from([(ZONE_KEY.to_owned(), z.to_owned())]))
                .unwrap_or_default(),
        })
    }

    /// Renames an aggregate; `Conflict` when the name is taken.
    pub async fn rename(&self, id: i64, name: &str, now: i64) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "UPDATE aggregates SET name = $2, updated_at = $3 WHERE id = $1",
                &values![id, name, now],
            )
            .await?;
        missing_if_none(done)
    }

    /// Sets (`Some`) and removes (`None`) metadata keys; the hosts of the
    /// aggregate take their new zone (`default_zone` when none is left).
    pub async fn set_metadata(
        &self,
        id: i64,
        changes: &BTreeMap<String, Option<String>>,
        default_zone: &str,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for (key, value) in changes {
            match value {
                Some(value) => {
                    tx.execute(
                        "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value",
                        &values![id, key, value],
                    )
                    .await?
                }
                None => {
                    tx.execute(
                        "DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2",
                        &values![id, key],
                    )
                    .await?
                }
            };
        }
        tx.execute(
            "UPDATE aggregates SET updated_at = $2 WHERE id = $1",
            &values![id, now],
        )
        .await?;
        sync_zones(
            &mut tx,
            "host IN (SELECT host FROM aggregate_hosts WHERE aggregate_id = $1)",
            id,
            default_zone,
        )
        .await?;
        tx.commit().await
    }

    /// Adds a host; `Conflict` when it is in the aggregate already.
    pub async fn add_host(&self, id: i64, host: &str, default_zone: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)",
            &values![id, host],
        )
        .await?;
        sync_host_zone(&mut tx, host, default_zone).await?;
        tx.commit().await
    }

    /// Removes a host; `NotFound` when it is not in the aggregate.
    pub async fn remove_host(&self, id: i64, host: &str, default_zone: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let done = tx
            .execute(
                "DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2",
                &values![id, host],
            )
            .await?;
        missing_if_none(done)?;
        sync_host_zone(&mut tx, host, default_zone).await?;
        tx.commit().await
    }

    /// Deletes an aggregate (the domain deletes empty ones only).
    pub async fn delete(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "DELETE FROM aggregate_metadata WHERE aggregate_id = $1",
            &values![id],
        )
        .await?;
        let done = tx
            .execute("DELETE FROM aggregates WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)?;
        tx.commit().await
    }
}

/// Sets a host's zone from its aggregates (`default_zone` when none has one).
pub(crate) async fn sync_host_zone(tx: &mut Tx, host: &str, default_zone: &str) -> StoreResult<()> {
    sync_zones(tx, "host = $1", host, default_zone).await
}

/// Rewrites the zone of the services `filter` (with `$1` bound to `arg`)
/// selects from their aggregates.
async fn sync_zones(
    tx: &mut Tx,
    filter: &str,
    arg: impl Into<SqlValue>,
    default_zone: &str,
) -> StoreResult<()> {
    tx.execute(
        &format!("UPDATE compute_services SET zone = COALESCE({HOST_ZONE}, $2) WHERE {filter}"),
        &[arg.into(), SqlValue::from(default_zone)],
    )
    .await?;
    Ok(())
}
