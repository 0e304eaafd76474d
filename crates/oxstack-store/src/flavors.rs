//! Rows and queries of the flavor tables.

use std::collections::BTreeMap;

use crate::db::{Columns, Db, DecodeError, Record, Sql, SqlValue, values};
use crate::{StoreResult, missing_if_none};

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

impl Record for FlavorRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
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
            is_public: row.column("is_public")?,
            disabled: row.column("disabled")?,
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

    /// The marker's value of the sort column.
    fn value_of(self, f: &FlavorRow) -> SqlValue {
        match self {
            Self::FlavorId => f.id.clone().into(),
            Self::Id => f.seq.into(),
            Self::Name => f.name.clone().into(),
            Self::MemoryMb => f.memory_mb.into(),
            Self::Vcpus => f.vcpus.into(),
            Self::RootGb => f.root_gb.into(),
            Self::EphemeralGb => f.ephemeral_gb.into(),
            Self::Swap => f.swap.into(),
            Self::RxtxFactor => f.rxtx_factor.into(),
            Self::VcpuWeight => f.vcpu_weight.unwrap_or(0).into(),
            Self::IsPublic => f.is_public.into(),
            Self::Disabled => f.disabled.into(),
            Self::Description => f.description.clone().unwrap_or_default().into(),
            Self::CreatedAt => f.created_at.into(),
            Self::UpdatedAt => f.updated_at.unwrap_or(0).into(),
        }
    }
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
    db: &'a Db,
}

/// One extra spec, as `extra_specs` reads it.
struct Spec(String, String);

impl Record for Spec {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self(row.column("key")?, row.column("value")?))
    }
}

impl<'a> FlavorRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Inserts a flavor, assigning the next `seq`; `Conflict` when the id
    /// or name is taken.
    pub async fn insert(&self, f: &FlavorRow) -> StoreResult<FlavorRow> {
        let mut tx = self.db.begin().await?;
        let (seq,): (i64,) = tx
            .fetch_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM flavors", &[])
            .await?;
        tx.execute(
            "INSERT INTO flavors (id, seq, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, \
             rxtx_factor, vcpu_weight, is_public, disabled, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &values![
                &f.id,
                seq,
                &f.name,
                f.memory_mb,
                f.vcpus,
                f.root_gb,
                f.ephemeral_gb,
                f.swap,
                f.rxtx_factor,
                f.vcpu_weight,
                f.is_public,
                f.disabled,
                f.description.as_deref(),
                f.created_at,
                f.updated_at
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(FlavorRow { seq, ..f.clone() })
    }

    pub async fn get(&self, id: &str) -> StoreResult<Option<FlavorRow>> {
        self.db
            .optional("SELECT * FROM flavors WHERE id = $1", &values![id])
            .await
    }

    pub async fn get_by_name(&self, name: &str) -> StoreResult<Option<FlavorRow>> {
        self.db
            .optional("SELECT * FROM flavors WHERE name = $1", &values![name])
            .await
    }

    pub async fn count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = self
            .db
            .optional("SELECT COUNT(*) FROM flavors", &[])
            .await?
            .unwrap_or((0,));
        Ok(n)
    }

    pub async fn set_description(
        &self,
        id: &str,
        description: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "UPDATE flavors SET description = $2, updated_at = $3 WHERE id = $1",
                &values![id, description, now],
            )
            .await?;
        missing_if_none(done)
    }

    /// Deletes a flavor with its extra specs and access list.
    pub async fn delete(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for table in ["flavor_extra_specs", "flavor_projects"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE flavor_id = $1"),
                &values![id],
            )
            .await?;
        }
        let done = tx
            .execute("DELETE FROM flavors WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)?;
        tx.commit().await
    }

    /// One page of flavors in one query, whatever the page size.
    pub async fn list(&self, q: &FlavorQuery) -> StoreResult<Vec<FlavorRow>> {
        let mut b = Sql::new("SELECT * FROM flavors WHERE 1 = 1");
        match (q.is_public, &q.project_id) {
            (Some(true), Some(project)) => {
                let p = b.bind(project.as_str());
                b.push(&format!(
                    " AND (is_public = TRUE OR id IN \
                     (SELECT flavor_id FROM flavor_projects WHERE project_id = {p}))"
                ));
            }
            (Some(public), _) => {
                let p = b.bind(public);
                b.push(&format!(" AND is_public = {p}"));
            }
            (None, _) => {}
        }
        if let Some(min) = q.min_memory_mb {
            let p = b.bind(min);
            b.push(&format!(" AND memory_mb >= {p}"));
        }
        if let Some(min) = q.min_root_gb {
            let p = b.bind(min);
            b.push(&format!(" AND root_gb >= {p}"));
        }
        let column = q.sort_key.column();
        let (cmp, dir) = if q.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(marker) = &q.marker {
            let m = b.bind(q.sort_key.value_of(marker));
            let same = b.bind(q.sort_key.value_of(marker));
            let seq = b.bind(marker.seq);
            b.push(&format!(
                " AND ({column} {cmp} {m} OR ({column} = {same} AND seq {cmp} {seq}))"
            ));
        }
        b.push(&format!(" ORDER BY {column} {dir}, seq {dir}"));
        if let Some(limit) = q.limit {
            b.push(&format!(" LIMIT {}", limit.max(0)));
        }
        self.db.scan(&b.sql, &b.binds).await
    }

    // --- extra specs ---------------------------------------------------

    pub async fn extra_specs(&self, flavor_id: &str) -> StoreResult<BTreeMap<String, String>> {
        let specs: Vec<Spec> = self
            .db
            .point(
                "SELECT key, value FROM flavor_extra_specs WHERE flavor_id = $1 ORDER BY key",
                &values![flavor_id],
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
        let mut b =
            Sql::new("SELECT flavor_id, key, value FROM flavor_extra_specs WHERE flavor_id IN (");
        let ids = b.bind_list(flavor_ids.iter().map(SqlValue::from));
        b.push(&ids);
        b.push(")");
        let rows: Vec<(String, String, String)> = self.db.scan(&b.sql, &b.binds).await?;
        for (flavor, key, value) in rows {
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
        let mut tx = self.db.begin().await?;
        for (key, value) in specs {
            tx.execute(
                "INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value",
                &values![flavor_id, key, value],
            )
            .await?;
        }
        tx.commit().await
    }

    pub async fn delete_extra_spec(&self, flavor_id: &str, key: &str) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "DELETE FROM flavor_extra_specs WHERE flavor_id = $1 AND key = $2",
                &values![flavor_id, key],
            )
            .await?;
        missing_if_none(done)
    }

    // --- access --------------------------------------------------------

    pub async fn access(&self, flavor_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .db
            .point(
                "SELECT project_id FROM flavor_projects WHERE flavor_id = $1 ORDER BY project_id",
                &values![flavor_id],
            )
            .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Grants a project access; `Conflict` when it already has it.
    pub async fn add_access(&self, flavor_id: &str, project_id: &str) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2)",
                &values![flavor_id, project_id],
            )
            .await?;
        Ok(())
    }

    pub async fn remove_access(&self, flavor_id: &str, project_id: &str) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "DELETE FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2",
                &values![flavor_id, project_id],
            )
            .await?;
        missing_if_none(done)
    }

    /// Whether `project_id` may use the private flavor `flavor_id`.
    pub async fn has_access(&self, flavor_id: &str, project_id: &str) -> StoreResult<bool> {
        let found: Option<(i64,)> = self
            .db
            .optional(
                "SELECT COUNT(*) FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2",
                &values![flavor_id, project_id],
            )
            .await?;
        Ok(found.is_some_and(|(n,)| n > 0))
    }
}
