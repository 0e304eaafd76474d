//! Quota limits stored per project (overrides), per user of a project, and
//! per quota class.

use std::collections::BTreeMap;

use crate::StoreResult;
use crate::db::{Db, values};

/// Where a set of limits is stored: (table, owner column).
#[derive(Clone, Copy)]
enum Owner {
    Project,
    Class,
}

impl Owner {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::Project => ("quotas", "project_id"),
            Self::Class => ("quota_classes", "class_name"),
        }
    }
}

/// The stored limits that apply to one user of a project, by resource
/// name, from the widest to the narrowest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaLayers {
    pub class: BTreeMap<String, i64>,
    pub project: BTreeMap<String, i64>,
    pub user: BTreeMap<String, i64>,
}

/// Queries over the quota tables.
pub struct QuotaRepo<'a> {
    db: &'a Db,
}

impl<'a> QuotaRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// The overrides of one project, by resource name.
    pub async fn overrides(&self, project_id: &str) -> StoreResult<BTreeMap<String, i64>> {
        self.read(Owner::Project, project_id).await
    }

    /// Sets several overrides of a project atomically.
    pub async fn set(&self, project_id: &str, limits: &BTreeMap<String, i64>) -> StoreResult<()> {
        self.write(Owner::Project, project_id, limits).await
    }

    /// The limits stored for a quota class, by resource name.
    pub async fn class_overrides(&self, class_name: &str) -> StoreResult<BTreeMap<String, i64>> {
        self.read(Owner::Class, class_name).await
    }

    /// Sets several limits of a quota class atomically.
    pub async fn set_class(
        &self,
        class_name: &str,
        limits: &BTreeMap<String, i64>,
    ) -> StoreResult<()> {
        self.write(Owner::Class, class_name, limits).await
    }

    /// Drops every override of a project and of its users (back to the
    /// defaults).
    pub async fn clear(&self, project_id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for table in ["quotas", "user_quotas"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE project_id = $1"),
                &values![project_id],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Drops a project's overrides of some resources only (another
    /// service's quota set, kept in the same table).
    pub async fn clear_resources(&self, project_id: &str, resources: &[&str]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for resource in resources {
            tx.execute(
                "DELETE FROM quotas WHERE project_id = $1 AND resource = $2",
                &values![project_id, *resource],
            )
            .await?;
        }
        tx.commit().await
    }

    /// The limits of quota class `class_name`, the overrides of project
    /// `project_id` and those of its user `user_id`, in one statement
    /// (what a create checks, read in one round trip).
    pub async fn layers(
        &self,
        class_name: &str,
        project_id: &str,
        user_id: &str,
    ) -> StoreResult<QuotaLayers> {
        let rows: Vec<(String, String, i64)> = self
            .db
            .point(
                "SELECT 'class', resource, hard_limit FROM quota_classes WHERE class_name = $1 \
                 UNION ALL SELECT 'project', resource, hard_limit FROM quotas \
                 WHERE project_id = $2 \
                 UNION ALL SELECT 'user', resource, hard_limit FROM user_quotas \
                 WHERE project_id = $2 AND user_id = $3",
                &values![class_name, project_id, user_id],
            )
            .await?;
        let mut layers = QuotaLayers::default();
        for (layer, resource, limit) in rows {
            let named = match layer.as_str() {
                "class" => &mut layers.class,
                "project" => &mut layers.project,
                _ => &mut layers.user,
            };
            named.insert(resource, limit);
        }
        Ok(layers)
    }

    /// The overrides of one user in a project, by resource name.
    pub async fn user_overrides(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> StoreResult<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = self
            .db
            .point(
                "SELECT resource, hard_limit FROM user_quotas WHERE project_id = $1 AND user_id = $2",
                &values![project_id, user_id],
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Every user override in a project, as `(user, resource, limit)`.
    pub async fn all_user_overrides(
        &self,
        project_id: &str,
    ) -> StoreResult<Vec<(String, String, i64)>> {
        self.db
            .scan(
                "SELECT user_id, resource, hard_limit FROM user_quotas WHERE project_id = $1",
                &values![project_id],
            )
            .await
    }

    /// Sets several overrides of a user in a project atomically.
    pub async fn set_user(
        &self,
        project_id: &str,
        user_id: &str,
        limits: &BTreeMap<String, i64>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for (resource, limit) in limits {
            tx.execute(
                "INSERT INTO user_quotas (project_id, user_id, resource, hard_limit) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, user_id, resource) \
                 DO UPDATE SET hard_limit = excluded.hard_limit",
                &values![project_id, user_id, resource, *limit],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Drops a user's overrides in a project (back to the project's).
    pub async fn clear_user(&self, project_id: &str, user_id: &str) -> StoreResult<()> {
        self.db
            .execute(
                "DELETE FROM user_quotas WHERE project_id = $1 AND user_id = $2",
                &values![project_id, user_id],
            )
            .await?;
        Ok(())
    }

    async fn read(&self, owner: Owner, key: &str) -> StoreResult<BTreeMap<String, i64>> {
        let (table, column) = owner.table();
        let sql = format!("SELECT resource, hard_limit FROM {table} WHERE {column} = $1");
        let rows: Vec<(String, i64)> = self.db.point(&sql, &values![key]).await?;
        Ok(rows.into_iter().collect())
    }

    async fn write(
        &self,
        owner: Owner,
        key: &str,
        limits: &BTreeMap<String, i64>,
    ) -> StoreResult<()> {
        let (table, column) = owner.table();
        let sql = format!(
            "INSERT INTO {table} ({column}, resource, hard_limit) VALUES ($1, $2, $3) \
             ON CONFLICT ({column}, resource) DO UPDATE SET hard_limit = excluded.hard_limit"
        );
        let mut tx = self.db.begin().await?;
        for (resource, limit) in limits {
            tx.execute(&sql, &values![key, resource, *limit]).await?;
        }
        tx.commit().await
    }
}
