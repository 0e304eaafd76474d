//! First-start set-up: the `Default` domain, the standard roles, and an
//! admin and a demo account. Idempotent: existing records are left alone,
//! so an operator's later changes (e.g. a new admin password) survive.

use oxstack_store::identity::{AssignmentRow, DomainRow, ListFilter, ProjectRow, RoleRow, UserRow};

use crate::policy::roles;
use crate::{DEFAULT_DOMAIN_ID, IdentityResult, IdentityService, new_id, now_micros};

/// The accounts created on first start.
#[derive(Clone, Debug)]
pub struct BootstrapConfig {
    pub admin_user: String,
    pub admin_password: String,
    pub admin_project: String,
    pub demo_user: String,
    pub demo_password: String,
    pub demo_project: String,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            admin_user: "admin".into(),
            admin_password: "admin".into(),
            admin_project: "admin".into(),
            demo_user: "demo".into(),
            demo_password: "demo".into(),
            demo_project: "demo".into(),
        }
    }
}

/// The standard roles.
pub(crate) const BOOTSTRAP_ROLES: [&str; 5] = [
    roles::ADMIN,
    roles::MANAGER,
    roles::MEMBER,
    roles::READER,
    roles::SERVICE,
];

/// The accounts bootstrap makes: project, user, password and roles there.
pub(crate) fn bootstrap_accounts(
    cfg: &BootstrapConfig,
) -> [(&String, &String, &String, Vec<&'static str>); 2] {
    [
        (
            &cfg.admin_project,
            &cfg.admin_user,
            &cfg.admin_password,
            vec![roles::ADMIN],
        ),
        (
            &cfg.demo_project,
            &cfg.demo_user,
            &cfg.demo_password,
            vec![roles::MEMBER, roles::READER],
        ),
    ]
}

impl IdentityService {
    /// Creates whatever of the default identity records is missing.
    pub async fn bootstrap(&self, cfg: &BootstrapConfig) -> IdentityResult<()> {
        let _ = self.bootstrapped.set(cfg.clone());
        let repo = self.store.identity();
        if repo.get_domain(DEFAULT_DOMAIN_ID).await?.is_none() {
            repo.insert_domain(&DomainRow {
                id: DEFAULT_DOMAIN_ID.into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
            })
            .await?;
        }
        let mut role_ids = Vec::new();
        for name in BOOTSTRAP_ROLES {
            let role = match repo.list_roles(Some(name)).await?.pop() {
                Some(r) => r,
                None => {
                    let r = RoleRow {
                        id: new_id(),
                        name: name.into(),
                        description: None,
                    };
                    repo.insert_role(&r).await?;
                    r
                }
            };
            role_ids.push((name, role.id));
        }
        let role_id = |name: &str| {
            role_ids
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, id)| id.clone())
                .unwrap_or_default()
        };

        for (project_name, user_name, password, grants) in bootstrap_accounts(cfg) {
            let project = self.ensure_project(project_name).await?;
            let user = match repo.get_user_by_name(DEFAULT_DOMAIN_ID, user_name).await? {
                Some(u) => u,
                None => {
                    let u = UserRow {
                        id: new_id(),
                        name: user_name.clone(),
                        domain_id: DEFAULT_DOMAIN_ID.into(),
                        default_project_id: Some(project.id.clone()),
                        enabled: true,
                        email: None,
                        description: None,
                        password_hash: Some(self.passwords.hash(password).await?),
                        created_at: now_micros(),
                    };
                    repo.insert_user(&u).await?;
                    u
                }
            };
            for role in grants {
                repo.grant(&AssignmentRow {
                    project_id: project.id.clone(),
                    user_id: user.id.clone(),
                    role_id: role_id(role),
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn ensure_project(&self, name: &str) -> IdentityResult<ProjectRow> {
        let repo = self.store.identity();
        let filter = ListFilter {
            name: Some(name.into()),
            domain_id: Some(DEFAULT_DOMAIN_ID.into()),
            enabled: None,
        };
        if let Some(p) = repo.list_projects(&filter).await?.pop() {
            return Ok(p);
        }
        let p = ProjectRow {
            id: new_id(),
            name: name.into(),
            domain_id: DEFAULT_DOMAIN_ID.into(),
            description: format!("Bootstrap project {name}"),
            enabled: true,
            created_at: now_micros(),
        };
        repo.insert_project(&p).await?;
        Ok(p)
    }
}
