//! Administration of projects, users, roles and grants: what operators and
//! test suites use to set a cloud up without editing config.

use oxstack_store::StoreError;
use oxstack_store::identity::{AssignmentRow, ProjectRow, RoleRow, UserRow};

use crate::model::{Assignment, AssignmentFilter, Domain, ListFilter, Project, Role, User, all};
use crate::{IdentityError, IdentityResult, IdentityService, new_id, now_micros};

/// Keystone's column limits.
const MAX_PROJECT_NAME: usize = 64;
const MAX_USER_NAME: usize = 255;

/// A project to create.
#[derive(Clone, Debug)]
pub struct NewProject {
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
}

/// Changes to a project; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub name: String,
    pub domain_id: String,
    pub password: Option<String>,
    pub default_project_id: Option<String>,
    pub enabled: bool,
    pub email: Option<String>,
    pub description: Option<String>,
}

/// Changes to a user; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub password: Option<Option<String>>,
    pub default_project_id: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub email: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

fn check_name(kind: &str, name: &str, max: usize) -> IdentityResult<()> {
    if name.trim().is_empty() {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field 'name': {kind} name must not be empty."
        )));
    }
    if name.chars().count() > max {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field 'name': '{name}' is too long (at most {max} characters)."
        )));
    }
    Ok(())
}

fn duplicate(kind: &str, name: &str, domain_id: &str) -> impl FnOnce(StoreError) -> IdentityError {
    let message = format!(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name} at domain ID {domain_id}."
    );
    move |err| match err {
        StoreError::Conflict => IdentityError::Conflict(message),
        other => other.into(),
    }
}

impl IdentityService {
    // --- domains -------------------------------------------------------

    pub async fn list_domains(&self, name: Option<&str>) -> IdentityResult<Vec<Domain>> {
        Ok(all(self.store.identity().list_domains(name).await?))
    }

    pub async fn get_domain(&self, id: &str) -> IdentityResult<Domain> {
        self.store
            .identity()
            .get_domain(id)
            .await?
            .map(Domain::from)
            .ok_or_else(|| IdentityError::not_found("domain", id))
    }

    // --- projects ------------------------------------------------------

    pub async fn create_project(&self, new: NewProject) -> IdentityResult<Project> {
        check_name("project", &new.name, MAX_PROJECT_NAME)?;
        self.get_domain(&new.domain_id).await?;
        let row = ProjectRow {
            id: new_id(),
            name: new.name,
            domain_id: new.domain_id,
            description: new.description,
            enabled: new.enabled,
            created_at: now_micros(),
        };
        self.store
            .identity()
            .insert_project(&row)
            .await
            .map_err(duplicate("project", &row.name, &row.domain_id))?;
        Ok(row.into())
    }

    /// The id of a project of the default domain, by name.
    pub async fn project_id_by_name(&self, name: &str) -> IdentityResult<String> {
        let project = self
            .store
            .identity()
            .get_project_by_name(crate::DEFAULT_DOMAIN_ID, name)
            .await?;
        project
            .map(|p| p.id)
            .ok_or_else(|| IdentityError::not_found("project", name))
    }

    pub async fn get_project(&self, id: &str) -> IdentityResult<Project> {
        Ok(self.project_row(id).await?.into())
    }

    async fn project_row(&self, id: &str) -> IdentityResult<ProjectRow> {
        self.store
            .identity()
            .get_project(id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", id))
    }

    pub async fn list_projects(&self, filter: &ListFilter) -> IdentityResult<Vec<Project>> {
        Ok(all(self
            .store
            .identity()
            .list_projects(&filter.into())
            .await?))
    }

    /// Projects on which the user holds a role.
    pub async fn list_projects_of_user(&self, user_id: &str) -> IdentityResult<Vec<Project>> {
        Ok(all(self
            .store
            .identity()
            .list_projects_of_user(user_id)
            .await?))
    }

    pub async fn update_project(&self, id: &str, patch: ProjectPatch) -> IdentityResult<Project> {
        let mut row = self.project_row(id).await?;
        if let Some(name) = patch.name {
            check_name("project", &name, MAX_PROJECT_NAME)?;
            row.name = name;
        }
        if let Some(description) = patch.description {
            row.description = description;
        }
        let disabling = patch.enabled == Some(false) && row.enabled;
        if let Some(enabled) = patch.enabled {
            row.enabled = enabled;
        }
        self.store
            .identity()
            .update_project(&row)
            .await
            .map_err(duplicate("project", &row.name, &row.domain_id))?;
        if disabling {
            self.revoke_for(None, Some(id)).await?;
        }
        Ok(row.into())
    }

    pub async fn delete_project(&self, id: &str) -> IdentityResult<()> {
        match self.store.identity().delete_project(id).await {
            Err(StoreError::NotFound) => return Err(IdentityError::not_found("project", id)),
            other => other?,
        }
        self.revoke_for(None, Some(id)).await
    }

    // --- users ---------------------------------------------------------

    pub async fn create_user(&self, new: NewUser) -> IdentityResult<User> {
        check_name("user", &new.name, MAX_USER_NAME)?;
        self.get_domain(&new.domain_id).await?;
        if let Some(project) = &new.default_project_id {
            self.get_project(project).await?;
        }
        let password_hash = match &new.password {
            Some(p) => Some(self.passwords.hash(p).await?),
            None => None,
        };
        let row = UserRow {
            id: new_id(),
            name: new.name,
            domain_id: new.domain_id,
            default_project_id: new.default_project_id,
            enabled: new.enabled,
            email: new.email,
            description: new.description,
            password_hash,
            created_at: now_micros(),
        };
        self.store
            .identity()
            .insert_user(&row)
            .await
            .map_err(duplicate("user", &row.name, &row.domain_id))?;
        Ok(row.into())
    }

    pub async fn get_user(&self, id: &str) -> IdentityResult<User> {
        Ok(self.user_row(id).await?.into())
    }

    async fn user_row(&self, id: &str) -> IdentityResult<UserRow> {
        self.store
            .identity()
            .get_user(id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))
    }

    pub async fn list_users(&self, filter: &ListFilter) -> IdentityResult<Vec<User>> {
        Ok(all(self
            .store
            .identity()
            .list_users(&filter.into())
            .await?))
    }

    pub async fn update_user(&self, id: &str, patch: UserPatch) -> IdentityResult<User> {
        let mut row = self.user_row(id).await?;
        let mut revoke = false;
        if let Some(name) = patch.name {
            check_name("user", &name, MAX_USER_NAME)?;
            row.name = name;
        }
        if let Some(password) = patch.password {
            row.password_hash = match password {
                Some(p) => Some(self.passwords.hash(&p).await?),
                None => None,
            };
            revoke = true;
        }
        if let Some(project) = patch.default_project_id {
            if let Some(p) = &project {
                self.get_project(p).await?;
            }
            row.default_project_id = project;
        }
        if let Some(enabled) = patch.enabled {
            revoke |= row.enabled && !enabled;
            row.enabled = enabled;
        }
        if let Some(email) = patch.email {
            row.email = email;
        }
        if let Some(description) = patch.description {
            row.description = description;
        }
        self.store
            .identity()
            .update_user(&row)
            .await
            .map_err(duplicate("user", &row.name, &row.domain_id))?;
        if revoke {
            self.passwords.forget(id);
            self.revoke_for(Some(id), None).await?;
        }
        Ok(row.into())
    }

    pub async fn delete_user(&self, id: &str) -> IdentityResult<()> {
        match self.store.identity().delete_user(id).await {
            Err(StoreError::NotFound) => return Err(IdentityError::not_found("user", id)),
            other => other?,
        }
        self.passwords.forget(id);
        self.revoke_for(Some(id), None).await
    }

    // --- roles and grants ----------------------------------------------

    pub async fn list_roles(&self, name: Option<&str>) -> IdentityResult<Vec<Role>> {
        Ok(all(self.store.identity().list_roles(name).await?))
    }

    pub async fn create_role(
        &self,
        name: &str,
        description: Option<String>,
    ) -> IdentityResult<Role> {
        check_name("role", name, MAX_USER_NAME)?;
        let row = RoleRow {
            id: new_id(),
            name: name.to_owned(),
            description,
        };
        match self.store.identity().insert_role(&row).await {
            Err(StoreError::Conflict) => Err(IdentityError::Conflict(format!(
                "Duplicate entry found with name {name}."
            ))),
            other => Ok(other.map(|()| row.into())?),
        }
    }

    /// Deletes a role, its grants, and the tokens of everyone who held it.
    pub async fn delete_role(&self, id: &str) -> IdentityResult<()> {
        let holders = match self.store.identity().delete_role(id).await {
            Err(StoreError::NotFound) => return Err(IdentityError::not_found("role", id)),
            other => other?,
        };
        for user in holders {
            self.revoke_for(Some(&user), None).await?;
        }
        Ok(())
    }

    pub async fn get_role(&self, id: &str) -> IdentityResult<Role> {
        self.store
            .identity()
            .get_role(id)
            .await?
            .map(Role::from)
            .ok_or_else(|| IdentityError::not_found("role", id))
    }

    /// Checks that project, user and role exist, naming the first missing one.
    async fn grant_target(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> IdentityResult<AssignmentRow> {
        self.get_project(project_id).await?;
        self.get_user(user_id).await?;
        self.get_role(role_id).await?;
        Ok(AssignmentRow {
            project_id: project_id.into(),
            user_id: user_id.into(),
            role_id: role_id.into(),
        })
    }

    pub async fn grant_role(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> IdentityResult<()> {
        let grant = self.grant_target(project_id, user_id, role_id).await?;
        Ok(self.store.identity().grant(&grant).await?)
    }

    /// Whether the user holds the role directly on the project.
    pub async fn has_grant(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> IdentityResult<bool> {
        let grant = self.grant_target(project_id, user_id, role_id).await?;
        let filter = AssignmentFilter {
            project_id: Some(grant.project_id),
            user_id: Some(grant.user_id),
            role_id: Some(grant.role_id),
        };
        Ok(!self.list_assignments(&filter).await?.is_empty())
    }

    pub async fn revoke_role(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> IdentityResult<()> {
        let grant = self.grant_target(project_id, user_id, role_id).await?;
        match self.store.identity().revoke_grant(&grant).await {
            Err(StoreError::NotFound) => {
                return Err(IdentityError::NotFound {
                    kind: "role assignment",
                    id: format!("role {role_id} of user {user_id} on project {project_id}"),
                });
            }
            other => other?,
        }
        self.revoke_for(Some(user_id), Some(project_id)).await
    }

    pub async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> IdentityResult<Vec<Assignment>> {
        Ok(all(self
            .store
            .identity()
            .list_assignments(&filter.into())
            .await?))
    }
}
