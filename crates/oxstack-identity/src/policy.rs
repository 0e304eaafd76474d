//! The caller's identity as every service sees it, and Nova's default
//! policy rules as reusable checks.

/// Role names with a meaning to the default policies.
pub mod roles {
    pub const ADMIN: &str = "admin";
    pub const MANAGER: &str = "manager";
    pub const MEMBER: &str = "member";
    pub const READER: &str = "reader";
    pub const SERVICE: &str = "service";

    /// Keystone's default implied roles: admin ⇒ manager ⇒ member ⇒ reader.
    pub const IMPLIED: &[(&str, &str)] = &[(ADMIN, MANAGER), (MANAGER, MEMBER), (MEMBER, READER)];
}

/// Who is calling, on behalf of which project, with which (effective) roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
}

/// A default policy rule, as Nova names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `@`: any authenticated caller.
    Any,
    /// `rule:context_is_admin`.
    Admin,
    /// `project_reader_or_admin`.
    ProjectReader,
    /// `project_member_or_admin`.
    ProjectMember,
    /// `project_manager_or_admin`.
    ProjectManager,
    /// `service_api`: other services (the `service` role; admins are not).
    Service,
}

/// A denied policy check; `policy` is the rule's name, e.g.
/// `os_compute_api:servers:create`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Policy doesn't allow {policy} to be performed.")]
pub struct PolicyDenied {
    pub policy: String,
}

impl Context {
    /// Whether the caller holds `role` (directly or implied).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `context_is_admin`.
    pub fn is_admin(&self) -> bool {
        self.has_role(roles::ADMIN)
    }

    /// Whether `rule` lets the caller act on `target_project`.
    pub fn allows(&self, rule: Rule, target_project: &str) -> bool {
        let on_own = || self.project_id == target_project;
        match rule {
            Rule::Any => true,
            Rule::Admin => self.is_admin(),
            Rule::ProjectReader => self.is_admin() || (self.has_role(roles::READER) && on_own()),
            Rule::ProjectMember => self.is_admin() || (self.has_role(roles::MEMBER) && on_own()),
            Rule::ProjectManager => self.is_admin() || (self.has_role(roles::MANAGER) && on_own()),
            Rule::Service => self.has_role(roles::SERVICE),
        }
    }

    /// Nova's `(rule:context_is_admin) or user_id:%(user_id)s`: a rule
    /// over what belongs to a user (key pairs) rather than a project.
    pub fn authorize_user(&self, policy: &str, target_user: &str) -> Result<(), PolicyDenied> {
        if self.is_admin() || self.user_id == target_user {
            Ok(())
        } else {
            Err(PolicyDenied {
                policy: policy.to_owned(),
            })
        }
    }

    /// [`Context::allows`] as a `Result` naming the policy on denial.
    pub fn authorize(
        &self,
        policy: &str,
        rule: Rule,
        target_project: &str,
    ) -> Result<(), PolicyDenied> {
        if self.allows(rule, target_project) {
            Ok(())
        } else {
            Err(PolicyDenied {
                policy: policy.to_owned(),
            })
        }
    }
}

/// Expands role names with the roles they imply, keeping the input order
/// first, then implied roles; no duplicates.
pub fn with_implied_roles<I: IntoIterator<Item = String>>(direct: I) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for role in direct {
        if !out.contains(&role) {
            out.push(role);
        }
    }
    let mut i = 0;
    while i < out.len() {
        for (prior, implied) in roles::IMPLIED {
            if out[i] == *prior && !out.iter().any(|r| r == implied) {
                out.push((*implied).to_owned());
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(project: &str, roles: &[&str]) -> Context {
        Context {
            user_id: "u".into(),
            project_id: project.into(),
            roles: with_implied_roles(roles.iter().map(|r| r.to_string())),
        }
    }

    #[test]
    fn implied_roles_expand_transitively() {
        assert_eq!(
            ctx("p", &["admin"]).roles,
            ["admin", "manager", "member", "reader"]
        );
        assert_eq!(ctx("p", &["reader", "member"]).roles, ["reader", "member"]);
    }

    #[test]
    fn default_rules() {
        let member = ctx("p", &["member"]);
        let reader = ctx("p", &["reader"]);
        let admin = ctx("other", &["admin"]);
        assert!(member.allows(Rule::ProjectMember, "p"));
        assert!(member.allows(Rule::ProjectReader, "p"));
        assert!(!member.allows(Rule::ProjectReader, "q"));
        assert!(!member.allows(Rule::ProjectManager, "p"));
        assert!(!member.allows(Rule::Admin, "p"));
        assert!(reader.allows(Rule::ProjectReader, "p"));
        assert!(!reader.allows(Rule::ProjectMember, "p"));
        assert!(admin.allows(Rule::ProjectMember, "p"));
        assert!(ctx("p", &[]).allows(Rule::Any, "q"));
        assert_eq!(
            reader
                .authorize("os_compute_api:servers:create", Rule::ProjectMember, "p")
                .unwrap_err()
                .to_string(),
            "Policy doesn't allow os_compute_api:servers:create to be performed."
        );
    }
}
