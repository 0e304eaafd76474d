//! Per-project quota overrides.

use std::collections::BTreeMap;

use sqlx::AnyPool;

use crate::StoreResult;

/// Queries over the quota table.
pub struct QuotaRepo<'a> {
    pool: &'a AnyPool,
}

impl<'a> QuotaRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// The overrides of one project, by resource name.
    pub async fn overrides(&self, project_id: &str) -> StoreResult<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
                .bind(project_id)
                .fetch_all(self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Sets several overrides atomically.
    pub async fn set(&self, project_id: &str, limits: &BTreeMap<String, i64>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (resource, limit) in limits {
            sqlx::query(
                "INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
                 ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
            )
            .bind(project_id)
            .bind(resource)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The limits stored for a quota class, by resource name.
    pub async fn class_overrides(&self, class_name: &str) -> StoreResult<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT resource, hard_limit FROM quota_classes WHERE class_name = $1")
                .bind(class_name)
                .fetch_all(self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Sets several limits of a quota class atomically.
    pub async fn set_class(
        &self,
        class_name: &str,
        limits: &BTreeMap<String, i64>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (resource, limit) in limits {
            sqlx::query(
                "INSERT INTO quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3) \
                 ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
            )
            .bind(class_name)
            .bind(resource)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops every override of a project (back to the defaults).
    pub async fn clear(&self, project_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .execute(self.pool)
            .await?;
        Ok(())
    }
}
