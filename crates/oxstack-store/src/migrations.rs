//! Migration records (resizes, cold and live migrations, evacuations).

use sqlx::AnyPool;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::direct::bind_all;
use crate::value::SqlValue;
use crate::value::values;
use crate::writes::{WriteTx, Writes};
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
    pub old_instance_type_id: Option<i64>,
    pub new_instance_type_id: Option<i64>,
    pub project_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow<'_, AnyRow> for MigrationRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            uuid: row.try_get("uuid")?,
            instance_uuid: row.try_get("instance_uuid")?,
            migration_type: row.try_get("migration_type")?,
            status: row.try_get("status")?,
            source_compute: row.try_get("source_compute")?,
            dest_compute: row.try_get("dest_compute")?,
            source_node: row.try_get("source_node")?,
            dest_node: row.try_get("dest_node")?,
            dest_host: row.try_get("dest_host")?,
            old_instance_type_id: row.try_get("old_instance_type_id")?,
            new_instance_type_id: row.try_get("new_instance_type_id")?,
            project_id: row.try_get("project_id")?,
            user_id: row.try_get("user_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
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
    pool: &'a AnyPool,
    writes: Writes<'a>,
}

impl<'a> MigrationRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool, writes: Writes<'a>) -> Self {
        Self { pool, writes }
    }

    /// Records a migration; returns it with its assigned id.
    pub async fn insert(&self, m: &MigrationRow) -> StoreResult<MigrationRow> {
        let mut tx = self.writes.begin().await?;
        let id = insert_migration(&mut tx, m).await?;
        tx.commit().await?;
        Ok(MigrationRow { id, ..m.clone() })
    }

    /// Sets the status of the newest migration of a server in `from`;
    /// `false` when it has none in those statuses.
    pub async fn advance(
        &self,
        instance_uuid: &str,
        from: &[&str],
        to: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.writes.begin().await?;
        let done = advance_migration(&mut tx, instance_uuid, from, to, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Migrations, newest first; `Err(NotFound)` for an unknown marker.
    pub async fn list(&self, q: &MigrationQuery) -> StoreResult<Vec<MigrationRow>> {
        let mut sql = String::from("SELECT * FROM migrations WHERE 1 = 1");
        let mut binds: Vec<SqlValue> = Vec::new();
        let mut add = |sql: &mut String, condition: &str, value: SqlValue| {
            binds.push(value);
            sql.push_str(&format!(
                " AND {}",
                condition.replace('?', &format!("${}", binds.len()))
            ));
        };
        let texts = [
            ("instance_uuid = ?", &q.instance_uuid),
            ("project_id = ?", &q.project_id),
            ("user_id = ?", &q.user_id),
            ("status = ?", &q.status),
            ("migration_type = ?", &q.migration_type),
            ("source_compute = ?", &q.source_compute),
        ];
        for (condition, value) in texts {
            if let Some(v) = value {
                add(&mut sql, condition, v.as_str().into());
            }
        }
        if let Some(host) = &q.host {
            add(
                &mut sql,
                "(source_compute = ? OR dest_compute = ?)",
                host.as_str().into(),
            );
        }
        if let Some(id) = q.id {
            add(&mut sql, "id = ?", id.into());
        }
        if let Some(t) = q.changes_since {
            add(&mut sql, "updated_at >= ?", t.into());
        }
        if let Some(t) = q.changes_before {
            add(&mut sql, "updated_at <= ?", t.into());
        }
        if let Some(marker) = &q.marker {
            let at: Option<(i64, i64)> =
                sqlx::query_as("SELECT created_at, id FROM migrations WHERE uuid = $1")
                    .bind(marker)
                    .fetch_optional(self.pool)
                    .await?;
            let (created_at, id) = at.ok_or(StoreError::NotFound)?;
            add(&mut sql, "(created_at < ?", created_at.into());
            let n = binds.len();
            binds.push(id.into());
            sql.push_str(&format!(" OR (created_at = ${n} AND id < ${}))", n + 1));
        }
        if !q.statuses.is_empty() {
            let start = binds.len();
            binds.extend(q.statuses.iter().map(|s| SqlValue::from(s.as_str())));
            let list: Vec<String> = (start + 1..=binds.len()).map(|i| format!("${i}")).collect();
            sql.push_str(&format!(" AND status IN ({})", list.join(", ")));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC");
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {}", limit.max(0)));
        }
        let rows = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(MigrationRow::from_row)
            .collect::<sqlx::Result<_>>()?)
    }
}

/// Records a migration in a transaction; returns its id.
pub(crate) async fn insert_migration(tx: &mut WriteTx, m: &MigrationRow) -> StoreResult<i64> {
    let (id,): (i64,) = tx
        .fetch_one(
            "INSERT INTO counters (name, value) VALUES ('migrations', 1) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
            &[],
        )
        .await?;
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
    tx: &mut WriteTx,
    instance_uuid: &str,
    from: &[&str],
    to: &str,
    now: i64,
) -> StoreResult<bool> {
    let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "UPDATE migrations SET status = $2, updated_at = $3 WHERE id = (SELECT MAX(id) FROM migrations \
         WHERE instance_uuid = $1 AND status IN ({}))",
        placeholders.join(", ")
    );
    let mut binds = values![instance_uuid, to, now].to_vec();
    binds.extend(from.iter().map(|s| SqlValue::from(*s)));
    Ok(tx.execute(&sql, &binds).await? > 0)
}
