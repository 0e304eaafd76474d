//! Identity back to the cloud's first start (the control plane's reset):
//! the bootstrap accounts, their grants and the standard roles stay as
//! they are (same ids and passwords, so their tokens stay valid);
//! everything else goes, with its tokens revoked.

use std::collections::HashSet;

use oxstack_store::identity::{AssignmentFilter, ListFilter};

use crate::bootstrap::{BOOTSTRAP_ROLES, bootstrap_accounts};
use crate::{DEFAULT_DOMAIN_ID, IdentityResult, IdentityService};

/// What a reset removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentityReset {
    pub users: usize,
    pub projects: usize,
    pub roles: usize,
    pub grants: usize,
}

impl IdentityService {
    /// Removes every user, project, role and grant the bootstrap did not
    /// make, and makes again what of it is missing.
    pub async fn reset(&self) -> IdentityResult<IdentityReset> {
        let cfg = self.bootstrap_config();
        self.bootstrap(&cfg).await?;
        let repo = self.store.identity();
        let role_ids: Vec<(String, String)> = repo
            .list_roles(None)
            .await?
            .into_iter()
            .map(|r| (r.name, r.id))
            .collect();
        let role_id = |name: &str| role_ids.iter().find(|(n, _)| n == name).map(|(_, id)| id);
        let mut users = HashSet::new();
        let mut projects = HashSet::new();
        let mut grants = HashSet::new();
        for (project_name, user_name, _, roles) in bootstrap_accounts(&cfg) {
            let project = self.project_id_by_name(project_name).await?;
            let user = repo
                .get_user_by_name(DEFAULT_DOMAIN_ID, user_name)
                .await?
                .map(|u| u.id)
                .unwrap_or_default();
            for role in roles {
                let role = role_id(role).cloned().unwrap_or_default();
                grants.insert((project.clone(), user.clone(), role));
            }
            users.insert(user);
            projects.insert(project);
        }
        let mut removed = IdentityReset::default();
        // Grants of the users and projects that go, go with them.
        for grant in repo.list_assignments(&AssignmentFilter::default()).await? {
            let key = (grant.project_id, grant.user_id, grant.role_id);
            if users.contains(&key.1) && projects.contains(&key.0) && !grants.contains(&key) {
                self.revoke_role(&key.0, &key.1, &key.2).await?;
                removed.grants += 1;
            }
        }
        for user in repo.list_users(&ListFilter::default()).await? {
            if !users.contains(&user.id) {
                self.delete_user(&user.id).await?;
                removed.users += 1;
            }
        }
        for project in repo.list_projects(&ListFilter::default()).await? {
            if !projects.contains(&project.id) {
                self.delete_project(&project.id).await?;
                removed.projects += 1;
            }
        }
        for (name, id) in &role_ids {
            if !BOOTSTRAP_ROLES.contains(&name.as_str()) {
                self.delete_role(id).await?;
                removed.roles += 1;
            }
        }
        tracing::warn!(?removed, "identity reset");
        Ok(removed)
    }
}

impl IdentityService {
    /// The accounts the cloud was bootstrapped with.
    pub fn bootstrap_config(&self) -> crate::BootstrapConfig {
        self.bootstrapped.get().cloned().unwrap_or_default()
    }

    /// The id of the bootstrap admin project (the owner of the cloud's
    /// own image).
    pub async fn admin_project_id(&self) -> IdentityResult<String> {
        self.project_id_by_name(&self.bootstrap_config().admin_project)
            .await
    }
}
