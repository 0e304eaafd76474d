//! Floating addresses: allocation from a pool (the address unique, so two
//! racing allocations never share one), association with a server.

use crate::db::{Columns, Db, DecodeError, Record, values};
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

impl Record for FloatingIpRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            address: row.column("address")?,
            pool: row.column("pool")?,
            project_id: row.column("project_id")?,
            instance_uuid: row.column("instance_uuid")?,
            fixed_address: row.column("fixed_address")?,
            created_at: row.column("created_at")?,
        })
    }
}

/// Queries over floating addresses.
pub struct FloatingIpRepo<'a> {
    db: &'a Db,
}

impl<'a> FloatingIpRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// The addresses of a pool that are allocated.
    pub async fn allocated(&self, pool: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .db
            .scan(
                "SELECT address FROM floating_ips WHERE pool = $1",
                &values![pool],
            )
            .await?;
        Ok(rows.into_iter().map(|(a,)| a).collect())
    }

    /// Records an allocation; `Conflict` when the address was taken meanwhile.
    pub async fn insert(&self, f: &FloatingIpRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO floating_ips (id, address, pool, project_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &values![&f.id, &f.address, &f.pool, &f.project_id, f.created_at],
            )
            .await?;
        Ok(())
    }

    /// A project's addresses (every project's with `None`).
    pub async fn list(&self, project_id: Option<&str>) -> StoreResult<Vec<FloatingIpRow>> {
        self.db
            .scan(
                "SELECT * FROM floating_ips WHERE ($1 IS NULL OR project_id = $1) \
                 ORDER BY created_at, id",
                &values![project_id],
            )
            .await
    }

    pub async fn get(&self, id: &str) -> StoreResult<Option<FloatingIpRow>> {
        self.db
            .optional("SELECT * FROM floating_ips WHERE id = $1", &values![id])
            .await
    }

    pub async fn get_by_address(&self, address: &str) -> StoreResult<Option<FloatingIpRow>> {
        self.db
            .optional(
                "SELECT * FROM floating_ips WHERE address = $1",
                &values![address],
            )
            .await
    }

    pub async fn delete(&self, id: &str) -> StoreResult<()> {
        let done = self
            .db
            .execute("DELETE FROM floating_ips WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)
    }

    /// Associates a free address; `false` when it is associated already.
    pub async fn associate(
        &self,
        address: &str,
        instance_uuid: &str,
        fixed: &str,
    ) -> StoreResult<bool> {
        let done = self
            .db
            .execute(
                "UPDATE floating_ips SET instance_uuid = $2, fixed_address = $3 \
                 WHERE address = $1 AND instance_uuid IS NULL",
                &values![address, instance_uuid, fixed],
            )
            .await?;
        Ok(done == 1)
    }

    /// Frees an address from a server (any server with `None`); `false`
    /// when not associated with it.
    pub async fn disassociate(
        &self,
        address: &str,
        instance_uuid: Option<&str>,
    ) -> StoreResult<bool> {
        let done = self
            .db
            .execute(
                "UPDATE floating_ips SET instance_uuid = NULL, fixed_address = NULL \
                 WHERE address = $1 AND instance_uuid IS NOT NULL \
                 AND ($2 IS NULL OR instance_uuid = $2)",
                &values![address, instance_uuid],
            )
            .await?;
        Ok(done == 1)
    }
}
