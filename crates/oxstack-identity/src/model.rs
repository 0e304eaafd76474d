//! Identity's own types: what the service hands out of domains,
//! projects, users and roles (never a password hash), and the filters of
//! its listings. The store's rows are translated here.

use oxstack_store::identity::{
    AssignmentFilter as AssignmentQuery, AssignmentRow, DomainRow, ListFilter as ListQuery,
    ProjectRow, RoleRow, UserRow,
};

/// A domain: a namespace of users and projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// A project (tenant): the unit that owns servers, images and quotas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub default_project_id: Option<String>,
    pub enabled: bool,
    pub email: Option<String>,
    pub description: Option<String>,
}

/// A global role such as `admin`, `member`, `reader` or `manager`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// One grant of a role to a user on a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub project_id: String,
    pub user_id: String,
    pub role_id: String,
}

/// Optional filters of a project or user listing; `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
}

/// Optional filters of a role-assignment listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub role_id: Option<String>,
}

impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            enabled: r.enabled,
        }
    }
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            domain_id: r.domain_id,
            description: r.description,
            enabled: r.enabled,
        }
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            domain_id: r.domain_id,
            default_project_id: r.default_project_id,
            enabled: r.enabled,
            email: r.email,
            description: r.description,
        }
    }
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
        }
    }
}

impl From<AssignmentRow> for Assignment {
    fn from(r: AssignmentRow) -> Self {
        Self {
            project_id: r.project_id,
            user_id: r.user_id,
            role_id: r.role_id,
        }
    }
}

impl From<&ListFilter> for ListQuery {
    fn from(f: &ListFilter) -> Self {
        Self {
            name: f.name.clone(),
            domain_id: f.domain_id.clone(),
            enabled: f.enabled,
        }
    }
}

impl From<&AssignmentFilter> for AssignmentQuery {
    fn from(f: &AssignmentFilter) -> Self {
        Self {
            project_id: f.project_id.clone(),
            user_id: f.user_id.clone(),
            role_id: f.role_id.clone(),
        }
    }
}

/// Converts every row of a listing.
pub(crate) fn all<R, T: From<R>>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(T::from).collect()
}
