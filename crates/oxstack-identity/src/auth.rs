//! `POST /v3/auth/tokens` semantics: who is authenticating (password or an
//! existing token) and which scope they ask for.

use oxstack_store::identity::{DomainRow, ProjectRow, RoleRow, UserRow};

use crate::model::{Domain, Project, Role, User, all};

use crate::policy::with_implied_roles;
use crate::{IdentityError, IdentityResult, IdentityService, TokenPayload, new_id, now_micros};

/// A domain named by id or by name.
#[derive(Clone, Debug)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

/// A user named by id, or by name within a domain.
#[derive(Clone, Debug)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// A project named by id, or by name within a domain.
#[derive(Clone, Debug)]
pub enum ProjectRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// How the caller proves who they are.
#[derive(Clone, Debug)]
pub enum AuthMethod {
    Password { user: UserRef, password: String },
    Token { token: String },
}

/// The scope asked for.
#[derive(Clone, Debug)]
pub enum ScopeRequest {
    /// No scope given: the user's default project if they have a role there,
    /// else unscoped (Keystone's rule).
    Default,
    /// `"scope": "unscoped"`.
    Unscoped,
    Project(ProjectRef),
}

/// A request for a new token.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    pub method: AuthMethod,
    pub scope: ScopeRequest,
}

/// A token with everything needed to render Keystone's token body.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub payload: TokenPayload,
    pub user: User,
    pub user_domain: Domain,
    pub project: Option<(Project, Domain)>,
    /// Effective roles on the project, implied roles included.
    pub roles: Vec<Role>,
}

impl IdentityService {
    /// Authenticates and issues a token.
    pub async fn authenticate(&self, request: AuthRequest) -> IdentityResult<IssuedToken> {
        let (user, methods, parent_audit, expires_at) = match &request.method {
            AuthMethod::Password { user, password } => {
                let user = self
                    .find_user(user)
                    .await?
                    .ok_or_else(IdentityError::auth_failed)?;
                let ok = match &user.password_hash {
                    Some(hash) => self.passwords.verify(&user.id, password, hash).await?,
                    None => false,
                };
                if !ok {
                    return Err(IdentityError::auth_failed());
                }
                (user, vec!["password".to_owned()], None, None)
            }
            AuthMethod::Token { token } => {
                let old = self.validate(token)?;
                let user = self
                    .store
                    .identity()
                    .get_user(&old.user_id)
                    .await?
                    .ok_or_else(IdentityError::auth_failed)?;
                let mut methods = old.methods.clone();
                if !methods.iter().any(|m| m == "token") {
                    methods.push("token".to_owned());
                }
                // A token made from a token never outlives its parent.
                (
                    user,
                    methods,
                    old.audit_ids.first().cloned(),
                    Some(old.expires_at),
                )
            }
        };
        if !user.enabled {
            return Err(IdentityError::auth_failed());
        }
        let user_domain = self.enabled_domain(&user.domain_id).await?;

        let project = match &request.scope {
            ScopeRequest::Unscoped => None,
            ScopeRequest::Project(reference) => {
                let project = self
                    .find_project(reference)
                    .await?
                    .ok_or_else(IdentityError::auth_failed)?;
                Some(project)
            }
            ScopeRequest::Default => match &user.default_project_id {
                Some(id) => match self.store.identity().get_project(id).await? {
                    Some(p)
                        if p.enabled
                            && !self
                                .store
                                .identity()
                                .roles_of(&user.id, &p.id)
                                .await?
                                .is_empty() =>
                    {
                        Some(p)
                    }
                    _ => None,
                },
                None => None,
            },
        };

        let (project, roles) = match project {
            None => (None, Vec::new()),
            Some(project) => {
                if !project.enabled {
                    return Err(IdentityError::auth_failed());
                }
                let roles = self.effective_role_rows(&user.id, &project.id).await?;
                if roles.is_empty() {
                    return Err(IdentityError::Unauthorized(format!(
                        "User {} has no access to project {}",
                        user.id, project.id
                    )));
                }
                let domain = self.enabled_domain(&project.domain_id).await?;
                (Some((project, domain)), roles)
            }
        };

        let now = now_micros();
        let ttl = self.config.token_ttl.as_micros() as i64;
        let expires_at = expires_at.map_or(now + ttl, |parent| parent.min(now + ttl));
        let mut audit_ids = vec![audit_id()];
        audit_ids.extend(parent_audit);
        let payload = TokenPayload {
            user_id: user.id.clone(),
            project_id: project.as_ref().map(|(p, _)| p.id.clone()),
            roles: roles.iter().map(|r| r.name.clone()).collect(),
            methods,
            issued_at: now,
            expires_at,
            audit_ids,
        };
        Ok(IssuedToken {
            token: self.signer.sign(&payload),
            payload,
            user: user.into(),
            user_domain: user_domain.into(),
            project: project.map(|(p, d)| (p.into(), d.into())),
            roles: all(roles),
        })
    }

    /// A token of user `user_id` on project `project_id` with their roles
    /// there, issued without their password: the control plane acting for
    /// the users of a seed. Checks nothing beyond the roles.
    pub async fn issue_for(&self, user_id: &str, project_id: &str) -> IdentityResult<String> {
        let roles = self.effective_role_rows(user_id, project_id).await?;
        let now = now_micros();
        let payload = TokenPayload {
            user_id: user_id.to_owned(),
            project_id: Some(project_id.to_owned()),
            roles: roles.into_iter().map(|r| r.name).collect(),
            methods: vec!["password".to_owned()],
            issued_at: now,
            expires_at: now + self.config.token_ttl.as_micros() as i64,
            audit_ids: vec![audit_id()],
        };
        Ok(self.signer.sign(&payload))
    }

    /// Everything about a valid token, for `GET /v3/auth/tokens`.
    pub async fn describe(&self, token: &str) -> IdentityResult<IssuedToken> {
        let payload = self.validate(token)?;
        let repo = self.store.identity();
        let user = repo
            .get_user(&payload.user_id)
            .await?
            .ok_or_else(IdentityError::auth_failed)?;
        let user_domain = self.enabled_domain(&user.domain_id).await?;
        let project = match &payload.project_id {
            Some(id) => {
                let project = repo
                    .get_project(id)
                    .await?
                    .ok_or_else(IdentityError::auth_failed)?;
                let domain = self.enabled_domain(&project.domain_id).await?;
                Some((project, domain))
            }
            None => None,
        };
        let all_roles = repo.list_roles(None).await?;
        let roles = payload
            .roles
            .iter()
            .filter_map(|name| all_roles.iter().find(|r| &r.name == name).cloned())
            .collect();
        Ok(IssuedToken {
            token: token.to_owned(),
            payload,
            user: user.into(),
            user_domain: user_domain.into(),
            project: project.map(|(p, d)| (p.into(), d.into())),
            roles: all(roles),
        })
    }

    /// Revokes one token (and the tokens made from it).
    pub async fn revoke_token(&self, token: &str) -> IdentityResult<()> {
        let payload = self.validate(token)?;
        self.revoke(oxstack_store::identity::RevocationRow {
            id: new_id(),
            audit_id: payload.audit_ids.first().cloned(),
            user_id: None,
            project_id: None,
            issued_before: now_micros(),
            expires_at: payload.expires_at,
        })
        .await
    }

    /// The roles a user holds on a project, implied roles included, in a
    /// stable order.
    pub async fn effective_roles(
        &self,
        user_id: &str,
        project_id: &str,
    ) -> IdentityResult<Vec<Role>> {
        Ok(all(self.effective_role_rows(user_id, project_id).await?))
    }

    async fn effective_role_rows(
        &self,
        user_id: &str,
        project_id: &str,
    ) -> IdentityResult<Vec<RoleRow>> {
        let repo = self.store.identity();
        let direct = repo.roles_of(user_id, project_id).await?;
        if direct.is_empty() {
            return Ok(direct);
        }
        let names = with_implied_roles(direct.iter().map(|r| r.name.clone()));
        let all = repo.list_roles(None).await?;
        Ok(names
            .iter()
            .filter_map(|n| all.iter().find(|r| &r.name == n).cloned())
            .collect())
    }

    pub(crate) async fn find_domain(
        &self,
        domain: &DomainRef,
    ) -> IdentityResult<Option<DomainRow>> {
        let repo = self.store.identity();
        Ok(match domain {
            DomainRef::Id(id) => repo.get_domain(id).await?,
            DomainRef::Name(name) => repo.get_domain_by_name(name).await?,
        })
    }

    async fn enabled_domain(&self, id: &str) -> IdentityResult<DomainRow> {
        match self.store.identity().get_domain(id).await? {
            Some(d) if d.enabled => Ok(d),
            _ => Err(IdentityError::auth_failed()),
        }
    }

    async fn find_user(&self, user: &UserRef) -> IdentityResult<Option<UserRow>> {
        match user {
            UserRef::Id(id) => Ok(self.store.identity().get_user(id).await?),
            UserRef::Name { name, domain } => match self.find_domain(domain).await? {
                Some(d) => Ok(self.store.identity().get_user_by_name(&d.id, name).await?),
                None => Ok(None),
            },
        }
    }

    async fn find_project(&self, project: &ProjectRef) -> IdentityResult<Option<ProjectRow>> {
        match project {
            ProjectRef::Id(id) => Ok(self.store.identity().get_project(id).await?),
            ProjectRef::Name { name, domain } => match self.find_domain(domain).await? {
                Some(d) => Ok(self
                    .store
                    .identity()
                    .get_project_by_name(&d.id, name)
                    .await?),
                None => Ok(None),
            },
        }
    }
}

/// Keystone audit ids: 16 random bytes, urlsafe base64 without padding.
fn audit_id() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
