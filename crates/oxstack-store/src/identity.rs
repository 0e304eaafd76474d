//! Rows and queries of the identity tables.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow, Row};

use crate::direct::Columns;
use crate::{StoreError, StoreResult, missing_if_none};

/// A Keystone domain (only `default` is created today; more can be added).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// A project (tenant): the unit that owns servers, images and quotas.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    pub created_at: i64,
}

/// A user; `password_hash` is a PHC string (argon2), never the password.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub default_project_id: Option<String>,
    pub enabled: bool,
    pub email: Option<String>,
    pub description: Option<String>,
    pub password_hash: Option<String>,
    pub created_at: i64,
}

/// A global role such as `admin`, `member`, `reader` or `manager`.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RoleRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// One grant of a role to a user on a project.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AssignmentRow {
    pub project_id: String,
    pub user_id: String,
    pub role_id: String,
}

/// A token revocation event: tokens issued at or before `issued_before`
/// that match every field that is set are no longer valid.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RevocationRow {
    pub id: String,
    pub audit_id: Option<String>,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub issued_before: i64,
    pub expires_at: i64,
}

/// Optional filters of a project or user listing; `None` matches anything.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
}

/// Optional filters of a role-assignment listing.
#[derive(Clone, Debug, Default)]
pub struct AssignmentFilter {
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub role_id: Option<String>,
}

/// Queries over the identity tables.
pub struct IdentityRepo<'a> {
    pool: &'a AnyPool,
}

impl<'a> IdentityRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    // --- domains -------------------------------------------------------

    pub async fn insert_domain(&self, d: &DomainRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO domains (id, name, description, enabled) VALUES ($1, $2, $3, $4)")
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.description)
            .bind(i64::from(d.enabled))
            .execute(self.pool)
            .await?;
        Ok(())
    }

    pub async fn get_domain(&self, id: &str) -> StoreResult<Option<DomainRow>> {
        Ok(sqlx::query_as("SELECT * FROM domains WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn get_domain_by_name(&self, name: &str) -> StoreResult<Option<DomainRow>> {
        Ok(sqlx::query_as("SELECT * FROM domains WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn list_domains(&self, name: Option<&str>) -> StoreResult<Vec<DomainRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM domains WHERE ($1 IS NULL OR name = $1) ORDER BY id")
                .bind(name)
                .fetch_all(self.pool)
                .await?,
        )
    }

    // --- projects ------------------------------------------------------

    pub async fn insert_project(&self, p: &ProjectRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, name, domain_id, description, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.domain_id)
        .bind(&p.description)
        .bind(i64::from(p.enabled))
        .bind(p.created_at)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    pub async fn update_project(&self, p: &ProjectRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE projects SET name = $2, description = $3, enabled = $4 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(i64::from(p.enabled))
        .execute(self.pool)
        .await?;
        missing_if_none(done.rows_affected())
    }

    pub async fn get_project(&self, id: &str) -> StoreResult<Option<ProjectRow>> {
        Ok(sqlx::query_as("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn get_project_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProjectRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM projects WHERE domain_id = $1 AND name = $2")
                .bind(domain_id)
                .bind(name)
                .fetch_optional(self.pool)
                .await?,
        )
    }

    pub async fn list_projects(&self, f: &ListFilter) -> StoreResult<Vec<ProjectRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM projects WHERE ($1 IS NULL OR name = $1) \
             AND ($2 IS NULL OR domain_id = $2) AND ($3 IS NULL OR enabled = $3) ORDER BY name",
        )
        .bind(f.name.as_deref())
        .bind(f.domain_id.as_deref())
        .bind(f.enabled.map(i64::from))
        .fetch_all(self.pool)
        .await?)
    }

    /// Projects on which the user holds at least one role.
    pub async fn list_projects_of_user(&self, user_id: &str) -> StoreResult<Vec<ProjectRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM projects WHERE id IN \
             (SELECT project_id FROM role_assignments WHERE user_id = $1) ORDER BY name",
        )
        .bind(user_id)
        .fetch_all(self.pool)
        .await?)
    }

    /// Deletes the project and every role granted on it.
    pub async fn delete_project(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM role_assignments WHERE project_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        missing_if_none(done.rows_affected())?;
        tx.commit().await?;
        Ok(())
    }

    // --- users ---------------------------------------------------------

    pub async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, name, domain_id, default_project_id, enabled, email, \
             description, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(&u.domain_id)
        .bind(u.default_project_id.as_deref())
        .bind(i64::from(u.enabled))
        .bind(u.email.as_deref())
        .bind(u.description.as_deref())
        .bind(u.password_hash.as_deref())
        .bind(u.created_at)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    pub async fn update_user(&self, u: &UserRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE users SET name = $2, default_project_id = $3, enabled = $4, email = $5, \
             description = $6, password_hash = $7 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(u.default_project_id.as_deref())
        .bind(i64::from(u.enabled))
        .bind(u.email.as_deref())
        .bind(u.description.as_deref())
        .bind(u.password_hash.as_deref())
        .execute(self.pool)
        .await?;
        missing_if_none(done.rows_affected())
    }

    pub async fn get_user(&self, id: &str) -> StoreResult<Option<UserRow>> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn get_user_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> StoreResult<Option<UserRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM users WHERE domain_id = $1 AND name = $2")
                .bind(domain_id)
                .bind(name)
                .fetch_optional(self.pool)
                .await?,
        )
    }

    pub async fn list_users(&self, f: &ListFilter) -> StoreResult<Vec<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM users WHERE ($1 IS NULL OR name = $1) \
             AND ($2 IS NULL OR domain_id = $2) AND ($3 IS NULL OR enabled = $3) ORDER BY name",
        )
        .bind(f.name.as_deref())
        .bind(f.domain_id.as_deref())
        .bind(f.enabled.map(i64::from))
        .fetch_all(self.pool)
        .await?)
    }

    /// Deletes the user and every role granted to it.
    pub async fn delete_user(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM role_assignments WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        missing_if_none(done.rows_affected())?;
        tx.commit().await?;
        Ok(())
    }

    // --- roles and assignments -----------------------------------------

    pub async fn insert_role(&self, r: &RoleRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO roles (id, name, description) VALUES ($1, $2, $3)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(r.description.as_deref())
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a role with every grant of it; returns the users who held it.
    pub async fn delete_role(&self, id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        let holders: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT user_id FROM role_assignments WHERE role_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM role_assignments WHERE role_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        missing_if_none(done.rows_affected())?;
        tx.commit().await?;
        Ok(holders)
    }

    pub async fn get_role(&self, id: &str) -> StoreResult<Option<RoleRow>> {
        Ok(sqlx::query_as("SELECT * FROM roles WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool)
            .await?)
    }

    pub async fn list_roles(&self, name: Option<&str>) -> StoreResult<Vec<RoleRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM roles WHERE ($1 IS NULL OR name = $1) ORDER BY name")
                .bind(name)
                .fetch_all(self.pool)
                .await?,
        )
    }

    /// Grants a role; granting one that is already held is not an error.
    pub async fn grant(&self, a: &AssignmentRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO role_assignments (project_id, user_id, role_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&a.project_id)
        .bind(&a.user_id)
        .bind(&a.role_id)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Removes a grant; [`StoreError::NotFound`] if it did not exist.
    pub async fn revoke_grant(&self, a: &AssignmentRow) -> StoreResult<()> {
        let done = sqlx::query(
            "DELETE FROM role_assignments WHERE project_id = $1 AND user_id = $2 AND role_id = $3",
        )
        .bind(&a.project_id)
        .bind(&a.user_id)
        .bind(&a.role_id)
        .execute(self.pool)
        .await?;
        missing_if_none(done.rows_affected())
    }

    pub async fn list_assignments(&self, f: &AssignmentFilter) -> StoreResult<Vec<AssignmentRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM role_assignments WHERE ($1 IS NULL OR project_id = $1) \
             AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR role_id = $3) \
             ORDER BY project_id, user_id, role_id",
        )
        .bind(f.project_id.as_deref())
        .bind(f.user_id.as_deref())
        .bind(f.role_id.as_deref())
        .fetch_all(self.pool)
        .await?)
    }

    /// The roles a user holds on a project.
    pub async fn roles_of(&self, user_id: &str, project_id: &str) -> StoreResult<Vec<RoleRow>> {
        Ok(sqlx::query_as(
            "SELECT r.* FROM roles r JOIN role_assignments a ON a.role_id = r.id \
             WHERE a.user_id = $1 AND a.project_id = $2 ORDER BY r.name",
        )
        .bind(user_id)
        .bind(project_id)
        .fetch_all(self.pool)
        .await?)
    }

    // --- token revocations ---------------------------------------------

    pub async fn insert_revocation(&self, r: &RevocationRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO token_revocations (id, audit_id, user_id, project_id, issued_before, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&r.id)
        .bind(r.audit_id.as_deref())
        .bind(r.user_id.as_deref())
        .bind(r.project_id.as_deref())
        .bind(r.issued_before)
        .bind(r.expires_at)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Revocation events that can still match an unexpired token; older ones
    /// are pruned on the way.
    pub async fn live_revocations(&self, now: i64) -> StoreResult<Vec<RevocationRow>> {
        sqlx::query("DELETE FROM token_revocations WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool)
            .await?;
        Ok(
            sqlx::query_as("SELECT * FROM token_revocations ORDER BY issued_before")
                .fetch_all(self.pool)
                .await?,
        )
    }

    // --- settings ------------------------------------------------------

    pub async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(self.pool)
                .await?,
        )
    }

    /// Stores `value` unless the key is set, and returns what is stored: the
    /// first of several racing nodes wins and all agree on its value.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(self.pool)
            .await?;
        self.get_setting(key).await?.ok_or(StoreError::NotFound)
    }
}

impl FromRow<'_, AnyRow> for DomainRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            enabled: row.flag("enabled")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ProjectRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            domain_id: row.try_get("domain_id")?,
            description: row.try_get("description")?,
            enabled: row.flag("enabled")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

impl FromRow<'_, AnyRow> for UserRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            domain_id: row.try_get("domain_id")?,
            default_project_id: row.try_get("default_project_id")?,
            enabled: row.flag("enabled")?,
            email: row.try_get("email")?,
            description: row.try_get("description")?,
            password_hash: row.try_get("password_hash")?,
            created_at: row.try_get("created_at")?,
        })
    }
}
