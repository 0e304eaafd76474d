//! Rows and queries of the identity tables.

use crate::db::{Columns, Db, DecodeError, Record, values};
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
#[derive(Clone, Debug, PartialEq)]
pub struct RoleRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// One grant of a role to a user on a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentRow {
    pub project_id: String,
    pub user_id: String,
    pub role_id: String,
}

/// A token revocation event: tokens issued at or before `issued_before`
/// that match every field that is set are no longer valid.
#[derive(Clone, Debug, PartialEq)]
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
    db: &'a Db,
}

impl<'a> IdentityRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    // --- domains -------------------------------------------------------

    pub async fn insert_domain(&self, d: &DomainRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO domains (id, name, description, enabled) VALUES ($1, $2, $3, $4)",
                &values![&d.id, &d.name, &d.description, d.enabled],
            )
            .await?;
        Ok(())
    }

    pub async fn get_domain(&self, id: &str) -> StoreResult<Option<DomainRow>> {
        self.db
            .optional("SELECT * FROM domains WHERE id = $1", &values![id])
            .await
    }

    pub async fn get_domain_by_name(&self, name: &str) -> StoreResult<Option<DomainRow>> {
        self.db
            .optional("SELECT * FROM domains WHERE name = $1", &values![name])
            .await
    }

    pub async fn list_domains(&self, name: Option<&str>) -> StoreResult<Vec<DomainRow>> {
        self.db
            .scan(
                "SELECT * FROM domains WHERE ($1 IS NULL OR name = $1) ORDER BY id",
                &values![name],
            )
            .await
    }

    // --- projects ------------------------------------------------------

    pub async fn insert_project(&self, p: &ProjectRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO projects (id, name, domain_id, description, enabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &values![
                    &p.id,
                    &p.name,
                    &p.domain_id,
                    &p.description,
                    p.enabled,
                    p.created_at
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn update_project(&self, p: &ProjectRow) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "UPDATE projects SET name = $2, description = $3, enabled = $4 WHERE id = $1",
                &values![&p.id, &p.name, &p.description, p.enabled],
            )
            .await?;
        missing_if_none(done)
    }

    pub async fn get_project(&self, id: &str) -> StoreResult<Option<ProjectRow>> {
        self.db
            .optional("SELECT * FROM projects WHERE id = $1", &values![id])
            .await
    }

    pub async fn get_project_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProjectRow>> {
        self.db
            .optional(
                "SELECT * FROM projects WHERE domain_id = $1 AND name = $2",
                &values![domain_id, name],
            )
            .await
    }

    pub async fn list_projects(&self, f: &ListFilter) -> StoreResult<Vec<ProjectRow>> {
        self.db
            .scan(
                "SELECT * FROM projects WHERE ($1 IS NULL OR name = $1) \
                 AND ($2 IS NULL OR domain_id = $2) AND ($3 IS NULL OR enabled = $3) ORDER BY name",
                &values![f.name.as_deref(), f.domain_id.as_deref(), f.enabled],
            )
            .await
    }

    /// Projects on which the user holds at least one role.
    pub async fn list_projects_of_user(&self, user_id: &str) -> StoreResult<Vec<ProjectRow>> {
        self.db
            .scan(
                "SELECT * FROM projects WHERE id IN \
                 (SELECT project_id FROM role_assignments WHERE user_id = $1) ORDER BY name",
                &values![user_id],
            )
            .await
    }

    /// Deletes the project and every role granted on it.
    pub async fn delete_project(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "DELETE FROM role_assignments WHERE project_id = $1",
            &values![id],
        )
        .await?;
        let done = tx
            .execute("DELETE FROM projects WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)?;
        tx.commit().await
    }

    // --- users ---------------------------------------------------------

    pub async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO users (id, name, domain_id, default_project_id, enabled, email, \
                 description, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &values![
                    &u.id,
                    &u.name,
                    &u.domain_id,
                    u.default_project_id.as_deref(),
                    u.enabled,
                    u.email.as_deref(),
                    u.description.as_deref(),
                    u.password_hash.as_deref(),
                    u.created_at
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn update_user(&self, u: &UserRow) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "UPDATE users SET name = $2, default_project_id = $3, enabled = $4, email = $5, \
                 description = $6, password_hash = $7 WHERE id = $1",
                &values![
                    &u.id,
                    &u.name,
                    u.default_project_id.as_deref(),
                    u.enabled,
                    u.email.as_deref(),
                    u.description.as_deref(),
                    u.password_hash.as_deref()
                ],
            )
            .await?;
        missing_if_none(done)
    }

    pub async fn get_user(&self, id: &str) -> StoreResult<Option<UserRow>> {
        self.db
            .optional("SELECT * FROM users WHERE id = $1", &values![id])
            .await
    }

    pub async fn get_user_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> StoreResult<Option<UserRow>> {
        self.db
            .optional(
                "SELECT * FROM users WHERE domain_id = $1 AND name = $2",
                &values![domain_id, name],
            )
            .await
    }

    pub async fn list_users(&self, f: &ListFilter) -> StoreResult<Vec<UserRow>> {
        self.db
            .scan(
                "SELECT * FROM users WHERE ($1 IS NULL OR name = $1) \
                 AND ($2 IS NULL OR domain_id = $2) AND ($3 IS NULL OR enabled = $3) ORDER BY name",
                &values![f.name.as_deref(), f.domain_id.as_deref(), f.enabled],
            )
            .await
    }

    /// Deletes the user and every role granted to it.
    pub async fn delete_user(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "DELETE FROM role_assignments WHERE user_id = $1",
            &values![id],
        )
        .await?;
        let done = tx
            .execute("DELETE FROM users WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)?;
        tx.commit().await
    }

    // --- roles and assignments -----------------------------------------

    pub async fn insert_role(&self, r: &RoleRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO roles (id, name, description) VALUES ($1, $2, $3)",
                &values![&r.id, &r.name, r.description.as_deref()],
            )
            .await?;
        Ok(())
    }

    /// Deletes a role with every grant of it; returns the users who held it.
    pub async fn delete_role(&self, id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.db.begin().await?;
        let holders: Vec<(String,)> = tx
            .fetch_all(
                "SELECT DISTINCT user_id FROM role_assignments WHERE role_id = $1",
                &values![id],
            )
            .await?;
        tx.execute(
            "DELETE FROM role_assignments WHERE role_id = $1",
            &values![id],
        )
        .await?;
        let done = tx
            .execute("DELETE FROM roles WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)?;
        tx.commit().await?;
        Ok(holders.into_iter().map(|(user,)| user).collect())
    }

    pub async fn get_role(&self, id: &str) -> StoreResult<Option<RoleRow>> {
        self.db
            .optional("SELECT * FROM roles WHERE id = $1", &values![id])
            .await
    }

    pub async fn list_roles(&self, name: Option<&str>) -> StoreResult<Vec<RoleRow>> {
        self.db
            .scan(
                "SELECT * FROM roles WHERE ($1 IS NULL OR name = $1) ORDER BY name",
                &values![name],
            )
            .await
    }

    /// Grants a role; granting one that is already held is not an error.
    pub async fn grant(&self, a: &AssignmentRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO role_assignments (project_id, user_id, role_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &values![&a.project_id, &a.user_id, &a.role_id],
            )
            .await?;
        Ok(())
    }

    /// Removes a grant; [`StoreError::NotFound`] if it did not exist.
    pub async fn revoke_grant(&self, a: &AssignmentRow) -> StoreResult<()> {
        let done = self
            .db
            .execute(
                "DELETE FROM role_assignments WHERE project_id = $1 AND user_id = $2 AND role_id = $3",
                &values![&a.project_id, &a.user_id, &a.role_id],
            )
            .await?;
        missing_if_none(done)
    }

    pub async fn list_assignments(&self, f: &AssignmentFilter) -> StoreResult<Vec<AssignmentRow>> {
        self.db
            .scan(
                "SELECT * FROM role_assignments WHERE ($1 IS NULL OR project_id = $1) \
                 AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR role_id = $3) \
                 ORDER BY project_id, user_id, role_id",
                &values![
                    f.project_id.as_deref(),
                    f.user_id.as_deref(),
                    f.role_id.as_deref()
                ],
            )
            .await
    }

    /// The roles a user holds on a project.
    pub async fn roles_of(&self, user_id: &str, project_id: &str) -> StoreResult<Vec<RoleRow>> {
        self.db
            .point(
                "SELECT r.* FROM roles r JOIN role_assignments a ON a.role_id = r.id \
                 WHERE a.user_id = $1 AND a.project_id = $2 ORDER BY r.name",
                &values![user_id, project_id],
            )
            .await
    }

    // --- token revocations ---------------------------------------------

    pub async fn insert_revocation(&self, r: &RevocationRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO token_revocations (id, audit_id, user_id, project_id, issued_before, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &values![
                    &r.id,
                    r.audit_id.as_deref(),
                    r.user_id.as_deref(),
                    r.project_id.as_deref(),
                    r.issued_before,
                    r.expires_at
                ],
            )
            .await?;
        Ok(())
    }

    /// Revocation events that can still match an unexpired token; older ones
    /// are pruned on the way.
    pub async fn live_revocations(&self, now: i64) -> StoreResult<Vec<RevocationRow>> {
        self.db
            .execute(
                "DELETE FROM token_revocations WHERE expires_at < $1",
                &values![now],
            )
            .await?;
        self.db
            .scan(
                "SELECT * FROM token_revocations ORDER BY issued_before",
                &[],
            )
            .await
    }

    // --- settings ------------------------------------------------------

    pub async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        let value: Option<(String,)> = self
            .db
            .optional("SELECT value FROM settings WHERE key = $1", &values![key])
            .await?;
        Ok(value.map(|(v,)| v))
    }

    /// Stores `value` unless the key is set, and returns what is stored: the
    /// first of several racing nodes wins and all agree on its value.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        self.db
            .execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &values![key, value],
            )
            .await?;
        self.get_setting(key).await?.ok_or(StoreError::NotFound)
    }
}

impl Record for DomainRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            name: row.column("name")?,
            description: row.column("description")?,
            enabled: row.column("enabled")?,
        })
    }
}

impl Record for ProjectRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            name: row.column("name")?,
            domain_id: row.column("domain_id")?,
            description: row.column("description")?,
            enabled: row.column("enabled")?,
            created_at: row.column("created_at")?,
        })
    }
}

impl Record for UserRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            name: row.column("name")?,
            domain_id: row.column("domain_id")?,
            default_project_id: row.column("default_project_id")?,
            enabled: row.column("enabled")?,
            email: row.column("email")?,
            description: row.column("description")?,
            password_hash: row.column("password_hash")?,
            created_at: row.column("created_at")?,
        })
    }
}

impl Record for RoleRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            name: row.column("name")?,
            description: row.column("description")?,
        })
    }
}

impl Record for AssignmentRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            project_id: row.column("project_id")?,
            user_id: row.column("user_id")?,
            role_id: row.column("role_id")?,
        })
    }
}

impl Record for RevocationRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            audit_id: row.column("audit_id")?,
            user_id: row.column("user_id")?,
            project_id: row.column("project_id")?,
            issued_before: row.column("issued_before")?,
            expires_at: row.column("expires_at")?,
        })
    }
}
