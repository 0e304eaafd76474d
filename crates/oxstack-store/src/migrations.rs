//! Migration records (resizes, cold and live migrations, evacuations).

use crate::db::{Columns, Db, DecodeError, Record, Sql, SqlValue, Tx, values};
use crate::{StoreError, StoreResult};

/// One migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationRow {
    pub id: i64,
    pub uuid: String,
    pub instance_uuid: String,
    pub migration_type: String,
    pub status: String,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    pub source_node: Option<String>,
    pub dest_node: Option<String>,
    pub dest_host: Option<String>,
    /// Where the destination of a live migration receives the guest.
    pub incoming_uri: Option<String>,
    pub old_instance_type_id: Option<i64>,
    pub new_instance_type_id: Option<i64>,
    pub project_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for MigrationRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            uuid: row.column("uuid")?,
            instance_uuid: row.column("instance_uuid")?,
            migration_type: row.column("migration_type")?,
            status: row.column("status")?,
            source_compute: row.column("source_compute")?,
            dest_compute: row.column("dest_compute")?,
            source_node: row.column("source_node")?,
            dest_node: row.column("dest_node")?,
            dest_host: row.column("dest_host")?,
            incoming_uri: row.column("incoming_uri")?,
            old_instance_type_id: row.column("old_instance_type_id")?,
            new_instance_type_id: row.column("new_instance_type_id")?,
            project_id: row.column("project_id")?,
            user_id: row.column("user_id")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// Which migrations to list (all filters optional), newest first.
#[derive(Clone, Debug, Default)]
pub struct MigrationQuery {
    /// One migration by id.
    pub id: Option<i64>,
    pub instance_uuid: Option<String>,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub migration_type: Option<String>,
    /// Migrations from or to this host.
    pub host: Option<String>,
    pub source_compute: Option<String>,
    /// Only these statuses (for "in progress").
    pub statuses: Vec<String>,
    /// Updated at or after / before, in microseconds.
    pub changes_since: Option<i64>,
    pub changes_before: Option<i64>,
    /// Only migrations listed after the one with this UUID.
    pub marker: Option<String>,
    pub limit: Option<i64>,
}

/// Queries over migrations.
pub struct MigrationRepo<'a> {
    db: &'a Db,
}

impl<'a> MigrationRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Records a migration; returns it with its assigned id.
    pub async fn insert(&self, m: &MigrationRow) -> StoreResult<MigrationRow> {
        let mut tx = self.db.begin().await?;
        let id = insert_migration(&mut tx, m).await?;
        tx.commit().await?;
        Ok(MigrationRow { id, ..m.clone() })
    }

    /// Sets the status of one migration if it is in one of `from`;
    /// `false` when it is not (cancelled meanwhile, or moved on).
    pub async fn advance(
        &self,
        migration_uuid: &str,
        from: &[&str],
        to: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut b = Sql::new("UPDATE migrations SET status = ");
        let status = b.bind(to);
        let at = b.bind(now);
        let uuid = b.bind(migration_uuid);
        let statuses = b.bind_list(from.iter().map(|s| SqlValue::from(*s)));
        b.push(&format!(
            "{status}, updated_at = {at} WHERE uuid = {uuid} AND status IN ({statuses})"
        ));
        Ok(self.db.execute(&b.sql, &b.binds).await? > 0)
    }

    /// The destination of a live migration is ready: the migration moves
    /// from `from` to `to` and records where the guest is to be sent;
    /// `false` when it was not in `from` (aborted meanwhile).
    pub async fn set_incoming(
        &self,
        migration_uuid: &str,
        from: &str,
        to: &str,
        incoming_uri: &str,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(self
            .db
            .execute(
                "UPDATE migrations SET status = $1, incoming_uri = $2, updated_at = $3 \
                 WHERE uuid = $4 AND status = $5",
                &values![to, incoming_uri, now, migration_uuid, from],
            )
            .await?
            > 0)
    }

    /// Migrations, newest first; `Err(NotFound)` for an unknown marker.
    pub async fn list(&self, q: &MigrationQuery) -> StoreResult<Vec<MigrationRow>> {
        let mut b = Sql::new("SELECT * FROM migrations WHERE 1 = 1");
        let texts = [
            ("instance_uuid", &q.instance_uuid),
            ("project_id", &q.project_id),
            ("user_id", &q.user_id),
            ("status", &q.status),
            ("migration_type", &q.migration_type),
            ("source_compute", &q.source_compute),
        ];
        for (column, value) in texts {
            if let Some(v) = value {
                let p = b.bind(v.as_str());
                b.push(&format!(" AND {column} = {p}"));
            }
        }
        if let Some(host) = &q.host {
            let p = b.bind(host.as_str());
            b.push(&format!(
                " AND (source_compute = {p} OR dest_compute = {p})"
            ));
        }
        if let Some(id) = q.id {
            let p = b.bind(id);
            b.push(&format!(" AND id = {p}"));
        }
        if let Some(t) = q.changes_since {
            let p = b.bind(t);
            b.push(&format!(" AND updated_at >= {p}"));
        }
        if let Some(t) = q.changes_before {
            let p = b.bind(t);
            b.push(&format!(" AND updated_at <= {p}"));
        }
        if let Some(marker) = &q.marker {
            let at: Option<(i64, i64)> = self
                .db
                .optional(
                    "SELECT created_at, id FROM migrations WHERE uuid = $1",
                    &values![marker],
                )
                .await?;
            let (created_at, id) = at.ok_or(StoreError::NotFound)?;
            let c = b.bind(created_at);
            let i = b.bind(id);
            b.push(&format!(
                " AND (created_at < {c} OR (created_at = {c} AND id < {i}))"
            ));
        }
        if !q.statuses.is_empty() {
            let list = b.bind_list(q.statuses.iter().map(SqlValue::from));
            b.push(&format!(" AND status IN ({list})"));
        }
        b.push(" ORDER BY created_at DESC, id DESC");
        if let Some(limit) = q.limit {
            b.push(&format!(" LIMIT {}", limit.max(0)));
        }
        self.db.scan(&b.sql, &b.binds).await
    }
}

/// Records a migration in a transaction; returns its id.
pub(crate) async fn insert_migration(tx: &mut Tx, m: &MigrationRow) -> StoreResult<i64> {
    let id = tx.next_value("migrations").await?;
    tx.execute(
        "INSERT INTO migrations (id, uuid, instance_uuid, migration_type, status, source_compute, \
         dest_compute, source_node, dest_node, dest_host, old_instance_type_id, new_instance_type_id, \
         project_id, user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        &values![
            id,
            &m.uuid,
            &m.instance_uuid,
            &m.migration_type,
            &m.status,
            m.source_compute.as_deref(),
            m.dest_compute.as_deref(),
            m.source_node.as_deref(),
            m.dest_node.as_deref(),
            m.dest_host.as_deref(),
            m.old_instance_type_id,
            m.new_instance_type_id,
            &m.project_id,
            &m.user_id,
            m.created_at,
            m.updated_at
        ],
    )
    .await?;
    Ok(id)
}

/// Moves the newest migration of a server in one of `from` to `to`, in a
/// transaction; `false` when it has none in those statuses.
pub(crate) async fn advance_migration(
    tx: &mut Tx,
    instance_uuid: &str,
    from: &[&str],
    to: &str,
    now: i64,
) -> StoreResult<bool> {
    let mut b = Sql::new("UPDATE migrations SET status = ");
    let status = b.bind(to);
    let at = b.bind(now);
    let uuid = b.bind(instance_uuid);
    let statuses = b.bind_list(from.iter().map(|s| SqlValue::from(*s)));
    b.push(&format!(
        "{status}, updated_at = {at} WHERE id = (SELECT MAX(id) FROM migrations \
         WHERE instance_uuid = {uuid} AND status IN ({statuses}))"
    ));
    Ok(tx.execute(&b.sql, &b.binds).await? > 0)
}
