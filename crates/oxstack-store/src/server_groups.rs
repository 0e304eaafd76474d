//! Server groups. A group's members are the live instances whose
//! `server_group` names it; deleting a group lets its servers go.

use std::collections::BTreeMap;

use crate::db::{Columns, Db, DecodeError, Record, Sql, SqlValue, values};
use crate::instances::claim_usage;
use crate::{StoreError, StoreResult, missing_if_none};

/// One stored server group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerGroupRow {
    pub uuid: String,
    pub id: i64,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    pub max_server_per_host: Option<i64>,
    pub created_at: i64,
}

impl Record for ServerGroupRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            uuid: row.column("uuid")?,
            id: row.column("id")?,
            name: row.column("name")?,
            project_id: row.column("project_id")?,
            user_id: row.column("user_id")?,
            policy: row.column("policy")?,
            max_server_per_host: row.column("max_server_per_host")?,
            created_at: row.column("created_at")?,
        })
    }
}

/// Queries over server groups.
pub struct ServerGroupRepo<'a> {
    db: &'a Db,
}

impl<'a> ServerGroupRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Stores a group (its `id` is assigned) unless its project then has
    /// more than `limit` (-1: no limit): `LimitExceeded`. The check takes
    /// the project's lock, so racing creates cannot both take the last one.
    pub async fn insert(&self, g: &ServerGroupRow, limit: i64) -> StoreResult<ServerGroupRow> {
        let mut tx = self.db.begin().await?;
        claim_usage(&mut tx, &g.project_id).await?;
        let (count,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM server_groups WHERE project_id = $1",
                &values![&g.project_id],
            )
            .await?;
        if limit >= 0 && count + 1 > limit {
            return Err(StoreError::LimitExceeded);
        }
        let id = tx.next_value("server_groups").await?;
        let row: ServerGroupRow = tx
            .fetch_one(
                "INSERT INTO server_groups (uuid, id, name, project_id, user_id, policy, \
                 max_server_per_host, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 RETURNING *",
                &values![
                    &g.uuid,
                    id,
                    &g.name,
                    &g.project_id,
                    &g.user_id,
                    &g.policy,
                    g.max_server_per_host,
                    g.created_at
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn get(&self, uuid: &str) -> StoreResult<Option<ServerGroupRow>> {
        self.db
            .optional(
                "SELECT * FROM server_groups WHERE uuid = $1",
                &values![uuid],
            )
            .await
    }

    /// A project's groups (every project's with `None`) in the order they
    /// were made: `limit` of them after skipping `offset`.
    pub async fn list(
        &self,
        project_id: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<ServerGroupRow>> {
        self.db
            .scan(
                "SELECT * FROM server_groups WHERE ($1 IS NULL OR project_id = $1) \
                 ORDER BY id LIMIT $2 OFFSET $3",
                &values![project_id, limit, offset],
            )
            .await
    }

    /// How many groups a project has.
    pub async fn count(&self, project_id: &str) -> StoreResult<i64> {
        let found: Option<(i64,)> = self
            .db
            .optional(
                "SELECT COUNT(*) FROM server_groups WHERE project_id = $1",
                &values![project_id],
            )
            .await?;
        let n = found.map_or(0, |(n,)| n);
        Ok(n)
    }

    /// How many groups a user made in a project.
    pub async fn count_of_user(&self, project_id: &str, user_id: &str) -> StoreResult<i64> {
        let found: Option<(i64,)> = self
            .db
            .optional(
                "SELECT COUNT(*) FROM server_groups WHERE project_id = $1 AND user_id = $2",
                &values![project_id, user_id],
            )
            .await?;
        Ok(found.map_or(0, |(n,)| n))
    }

    /// The live members of each of `groups`, oldest first.
    pub async fn members(&self, groups: &[&str]) -> StoreResult<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = groups
            .iter()
            .map(|g| ((*g).to_owned(), Vec::new()))
            .collect();
        if groups.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new(
            "SELECT server_group, uuid FROM instances WHERE deleted = FALSE AND server_group IN (",
        );
        let list = sql.bind_list(groups.iter().map(|g| SqlValue::from(*g)));
        sql.push(&list);
        sql.push(") ORDER BY seq");
        let rows: Vec<(String, String)> = self.db.scan(&sql.sql, &sql.binds).await?;
        for (group, uuid) in rows {
            out.entry(group).or_default().push(uuid);
        }
        Ok(out)
    }

    /// How many live servers of server group `group` are on each host,
    /// leaving out server `except` (the one being moved).
    pub async fn hosts(&self, group: &str, except: &str) -> StoreResult<Vec<(String, i64)>> {
        self.db
            .scan(
                "SELECT host, COUNT(*) FROM instances WHERE server_group = $1 AND uuid <> $2 \
                 AND deleted = FALSE AND host IS NOT NULL GROUP BY host ORDER BY host",
                &values![group, except],
            )
            .await
    }

    /// Deletes a group; its servers leave it. `NotFound` when there is none.
    pub async fn delete(&self, uuid: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "UPDATE instances SET server_group = NULL WHERE server_group = $1",
            &values![uuid],
        )
        .await?;
        let done = tx
            .execute("DELETE FROM server_groups WHERE uuid = $1", &values![uuid])
            .await?;
        missing_if_none(done)?;
        tx.commit().await
    }
}
