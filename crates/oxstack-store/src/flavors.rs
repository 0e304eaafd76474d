//! Rows and queries of the flavor tables.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow};

use crate::StoreResult;
use crate::direct::{Columns, Reads, Record};
use crate::instances::SqlValue;

/// One flavor. `id` is the API id (Nova's `flavorid`).
#[derive(Clone, Debug, PartialEq)]
pub struct FlavorRow {
    pub id: String,
    pub seq: i64,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub vcpu_weight: Option<i64>,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

impl FromRow<'_, AnyRow> for FlavorRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Self::decode(row)
    }
}

impl Record for FlavorRow {
    fn decode(row: &impl Columns) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.column("id")?,
            seq: row.column("seq")?,
            name: row.column("name")?,
            memory_mb: row.column("memory_mb")?,
            vcpus: row.column("vcpus")?,
            root_gb: row.column("root_gb")?,
            ephemeral_gb: row.column("ephemeral_gb")?,
            swap: row.column("swap")?,
            rxtx_factor: row.column("rxtx_factor")?,
            vcpu_weight: row.column("vcpu_weight")?,
            is_public: row.flag("is_public")?,
            disabled: row.flag("disabled")?,
            description: row.column("description")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// The columns a flavor listing may be sorted by (Nova's sort keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlavorSortKey {
    FlavorId,
    Id,
    Name,
    MemoryMb,
    Vcpus,
    RootGb,
    EphemeralGb,
    Swap,
    RxtxFactor,
    VcpuWeight,
    IsPublic,
    Disabled,
    Description,
    CreatedAt,
    UpdatedAt,
}

impl FlavorSortKey {
    /// The SQL expression to order by; nullable columns sort as empty/zero.
    fn column(self) -> &'static str {
        match self {
            Self::FlavorId => "id",
            Self::Id => "seq",
            Self::Name => "name",
            Self::MemoryMb => "memory_mb",
            Self::Vcpus => "vcpus",
            Self::RootGb => "root_gb",
            Self::EphemeralGb => "ephemeral_gb",
            Self::Swap => "swap",
            Self::RxtxFactor => "rxtx_factor",
            Self::VcpuWeight => "COALESCE(vcpu_weight, 0)",
            Self::IsPublic => "is_public",
            Self::Disabled => "disabled",
            Self::Description => "COALESCE(description, '')",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "COALESCE(updated_at, 0)",
        }
    }

    fn value_of(self, f: &FlavorRow) -> SortValue {
        match self {
            Self::FlavorId => SortValue::Text(f.id.clone()),
            Self::Id => SortValue::Int(f.seq),
            Self::Name => SortValue::Text(f.name.clone()),
            Self::MemoryMb => SortValue::Int(f.memory_mb),
            Self::Vcpus => SortValue::Int(f.vcpus),
            Self::RootGb => SortValue::Int(f.root_gb),
            Self::EphemeralGb => SortValue::Int(f.ephemeral_gb),
            Self::Swap => SortValue::Int(f.swap),
            Self::RxtxFactor => SortValue::Float(f.rxtx_factor),
            Self::VcpuWeight => SortValue::Int(f.vcpu_weight.unwrap_or(0)),
            Self::IsPublic => SortValue::Int(i64::from(f.is_public)),
            Self::Disabled => SortValue::Int(i64::from(f.disabled)),
            Self::Description => SortValue::Text(f.description.clone().unwrap_or_default()),
            Self::CreatedAt => SortValue::Int(f.created_at),
            Self::UpdatedAt => SortValue::Int(f.updated_at.unwrap_or(0)),
        }
    }
}

enum SortValue {
    Int(i64),
    Float(f64),
    Text(String),
}

/// Which flavors a listing returns, in which order, from where.
#[derive(Clone, Debug)]
pub struct FlavorQuery {
    /// `Some(true)`: public flavors, plus private ones `project_id` may use;
    /// `Some(false)`: private flavors only; `None`: all.
    pub is_public: Option<bool>,
    pub project_id: Option<String>,
    pub min_memory_mb: Option<i64>,
    pub min_root_gb: Option<i64>,
    pub sort_key: FlavorSortKey,
    pub descending: bool,
    pub limit: Option<i64>,
    /// Start after this flavor (already looked up).
    pub marker: Option<FlavorRow>,
}

/// Queries over flavors.
pub struct FlavorRepo<'a> {
    pool: &'a AnyPool,
    reads: Reads<'a>,
}

/// One extra spec, as `extra_specs` reads it.
struct Spec(String, String);

impl Record for Spec {
    fn decode(row: &impl Columns) -> sqlx::Result<Self> {
        Ok(Self(row.column("key")?, row.column("value")?))
    }
}

impl<'a> FlavorRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool, reads: Reads<'a>) -> Self {
        Self { pool, reads }
    }

    /// Inserts a flavor, assigning the next `seq`; `Conflict` when the id
    /// or name is taken.
    pub async fn insert(&self, f: &FlavorRow) -> StoreResult<FlavorRow> {
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM flavors")
            .fetch_one(self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO flavors (id, seq, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, \
             vcpu_weight, is_public, disabled, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&f.id)
        .bind(seq)
        .bind(&f.name)
        .bind(f.memory_mb)
        .bind(f.vcpus)
        .bind(f.root_gb)
        .bind(f.ephemeral_gb)
        .bind(f.swap)
        .bind(f.rxtx_factor)
        .bind(f.vcpu_weight)
        .bind(i64::from(f.is_public))
        .bind(i64::from(f.disabled))
        .bind(f.description.as_deref())
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(self.pool)
        .await?;
        Ok(FlavorRow { seq, ..f.clone() })
    }

    pub async fn get(&self, id: &str) -> StoreResult<Option<FlavorRow>> {
        let binds = [SqlValue::Text(id.to_owned())];
        let mut rows = self
            .reads
            .point("SELECT * FROM flavors WHERE id = $1", &binds)
            .await?;
        Ok(rows.pop())
    }

    pub async fn get_by_name(&self, name: &str) -> StoreResult<Option<FlavorRow>> {
        Ok(sqlx::query_as("SELECT * FROM flavors WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn count(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM flavors")
            .fetch_one(self.pool)
            .await?)
    }

    pub async fn set_description(
        &self,
        id: &str,
        description: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE flavors SET description = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(description)
                .bind(now)
                .execute(self.pool)
                .await?;
        crate::missing_if_none(done.rows_affected())
    }

    /// Deletes a flavor with its extra specs and access list.
    pub async fn delete(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for table in ["flavor_extra_specs", "flavor_projects"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE flavor_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM flavors WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        crate::missing_if_none(done.rows_affected())?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of flavors, in two queries whatever the page size.
    pub async fn list(&self, q: &FlavorQuery) -> StoreResult<Vec<FlavorRow>> {
        let mut sql = String::from("SELECT * FROM flavors WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut binds: Vec<SortValue> = Vec::new();
        match (q.is_public, &q.project_id) {
            (Some(true), Some(project)) => {
                let p = next();
                sql.push_str(&format!(
                    " AND (is_public = 1 OR id IN (SELECT flavor_id FROM flavor_projects WHERE project_id = {p}))"
                ));
                binds.push(SortValue::Text(project.clone()));
            }
            (Some(public), _) => sql.push_str(&format!(" AND is_public = {}", i64::from(public))),
            (None, _) => {}
        }
        if let Some(min) = q.min_memory_mb {
            sql.push_str(&format!(" AND memory_mb >= {}", next()));
            binds.push(SortValue::Int(min));
        }
        if let Some(min) = q.min_root_gb {
            sql.push_str(&format!(" AND root_gb >= {}", next()));
            binds.push(SortValue::Int(min));
        }
        let column = q.sort_key.column();
        let (cmp, dir) = if q.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(marker) = &q.marker {
            let (a, b, c) = (next(), next(), next());
            sql.push_str(&format!(
                " AND ({column} {cmp} {a} OR ({column} = {b} AND seq {cmp} {c}))"
            ));
            binds.push(q.sort_key.value_of(marker));
            binds.push(q.sort_key.value_of(marker));
            binds.push(SortValue::Int(marker.seq));
        }
        sql.push_str(&format!(" ORDER BY {column} {dir}, seq {dir}"));
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {}", limit.max(0)));
        }
        let mut query = sqlx::query_as::<_, FlavorRow>(&sql);
        for value in binds {
            query = match value {
                SortValue::Int(i) => query.bind(i),
                SortValue::Float(f) => query.bind(f),
                SortValue::Text(t) => query.bind(t),
            };
        }
        Ok(query.fetch_all(self.pool).await?)
    }

    // --- extra specs ---------------------------------------------------

    pub async fn extra_specs(&self, flavor_id: &str) -> StoreResult<BTreeMap<String, String>> {
        let binds = [SqlValue::Text(flavor_id.to_owned())];
        let specs: Vec<Spec> = self
            .reads
            .point(
                "SELECT key, value FROM flavor_extra_specs WHERE flavor_id = $1 ORDER BY key",
                &binds,
            )
            .await?;
        Ok(specs.into_iter().map(|Spec(k, v)| (k, v)).collect())
    }

    /// Extra specs of several flavors in one query.
    pub async fn extra_specs_of(
        &self,
        flavor_ids: &[String],
    ) -> StoreResult<BTreeMap<String, BTreeMap<String, String>>> {
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        if flavor_ids.is_empty() {
            return Ok(out);
        }
        let placeholders = (1..=flavor_ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT flavor_id, key, value FROM flavor_extra_specs WHERE flavor_id IN ({placeholders})"
        );
        let mut query = sqlx::query_as::<_, (String, String, String)>(&sql);
        for id in flavor_ids {
            query = query.bind(id);
        }
        for (flavor, key, value) in query.fetch_all(self.pool).await? {
            out.entry(flavor).or_default().insert(key, value);
        }
        Ok(out)
    }

    /// Sets (inserts or replaces) extra specs.
    pub async fn put_extra_specs(
        &self,
        flavor_id: &str,
        specs: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (key, value) in specs {
            sqlx::query(
                "INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(flavor_id)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_extra_spec(&self, flavor_id: &str, key: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM flavor_extra_specs WHERE flavor_id = $1 AND key = $2")
            .bind(flavor_id)
            .bind(key)
            .execute(self.pool)
            .await?;
        crate::missing_if_none(done.rows_affected())
    }

    // --- access --------------------------------------------------------

    pub async fn access(&self, flavor_id: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT project_id FROM flavor_projects WHERE flavor_id = $1 ORDER BY project_id",
        )
        .bind(flavor_id)
        .fetch_all(self.pool)
        .await?)
    }

    /// Grants a project access; `Conflict` when it already has it.
    pub async fn add_access(&self, flavor_id: &str, project_id: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2)")
            .bind(flavor_id)
            .bind(project_id)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    pub async fn remove_access(&self, flavor_id: &str, project_id: &str) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2")
                .bind(flavor_id)
                .bind(project_id)
                .execute(self.pool)
                .await?;
        crate::missing_if_none(done.rows_affected())
    }

    /// Whether `project_id` may use the private flavor `flavor_id`.
    pub async fn has_access(&self, flavor_id: &str, project_id: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2",
        )
        .bind(flavor_id)
        .bind(project_id)
        .fetch_one(self.pool)
        .await?;
        Ok(n > 0)
    }
}
