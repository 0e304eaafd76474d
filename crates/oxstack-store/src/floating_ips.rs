//! Floating addresses: allocation from a pool (the address unique, so two
//! racing allocations never share one), association with a server.

use sqlx::AnyPool;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::{StoreResult, missing_if_none};

/// One floating address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIpRow {
    pub id: String,
    pub address: String,
    pub pool: String,
    pub project_id: String,
    pub instance_uuid: Option<String>,
    pub fixed_address: Option<String>,
    pub created_at: i64,
}

impl FromRow<'_, AnyRow> for FloatingIpRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            address: row.try_get("address")?,
            pool: row.try_get("pool")?,
            project_id: row.try_get("project_id")?,
            instance_uuid: row.try_get("instance_uuid")?,
            fixed_address: row.try_get("fixed_address")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Queries over floating addresses.
pub struct FloatingIpRepo<'a> {
    pool: &'a AnyPool,
}

impl<'a> FloatingIpRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// The addresses of a pool that are allocated.
    pub async fn allocated(&self, pool: &str) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT address FROM floating_ips WHERE pool = $1")
                .bind(pool)
                .fetch_all(self.pool)
                .await?,
        )
    }

    /// Records an allocation; `Conflict` when the address was taken meanwhile.
    pub async fn insert(&self, f: &FloatingIpRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO floating_ips (id, address, pool, project_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&f.id)
        .bind(&f.address)
        .bind(&f.pool)
        .bind(&f.project_id)
        .bind(f.created_at)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// A project's addresses (every project's with `None`).
    pub async fn list(&self, project_id: Option<&str>) -> StoreResult<Vec<FloatingIpRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM floating_ips WHERE ($1 = '' OR project_id = $1) ORDER BY created_at, id",
        )
        .bind(project_id.unwrap_or(""))
        .fetch_all(self.pool)
        .await?)
    }

    pub async fn get(&self, id: &str) -> StoreResult<Option<FloatingIpRow>> {
        Ok(sqlx::query_as("SELECT * FROM floating_ips WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn get_by_address(&self, address: &str) -> StoreResult<Option<FloatingIpRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM floating_ips WHERE address = $1")
                .bind(address)
                .fetch_optional(self.pool)
                .await?,
        )
    }

    pub async fn delete(&self, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM floating_ips WHERE id = $1")
            .bind(id)
            .execute(self.pool)
            .await?;
        missing_if_none(done.rows_affected())
    }

    /// Associates a free address; `false` when it is associated already.
    pub async fn associate(
        &self,
        address: &str,
        instance_uuid: &str,
        fixed: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE floating_ips SET instance_uuid = $2, fixed_address = $3 \
             WHERE address = $1 AND instance_uuid IS NULL",
        )
        .bind(address)
        .bind(instance_uuid)
        .bind(fixed)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Frees an address from a server; `false` when not associated with it.
    pub async fn disassociate(
        &self,
        address: &str,
        instance_uuid: Option<&str>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE floating_ips SET instance_uuid = NULL, fixed_address = NULL \
             WHERE address = $1 AND instance_uuid IS NOT NULL AND ($2 = '' OR instance_uuid = $2)",
        )
        .bind(address)
        .bind(instance_uuid.unwrap_or(""))
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
