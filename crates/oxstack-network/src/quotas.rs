//! Per-project limits (Neutron's quotas): the defaults, an admin's
//! per-project overrides, and what each project uses.

use crate::{Caller, NetworkError, NetworkResult, Networking};

/// The resources with limits, in the order Neutron shows them, with
/// Neutron's defaults. Routers and floating IPs are listed (clients
/// read them) though this cloud does not make them yet.
pub const QUOTA_RESOURCES: [(&str, i64); 7] = [
    ("floatingip", 50),
    ("network", 100),
    ("port", 500),
    ("router", 10),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("subnet", 100),
];

/// The configured defaults.
#[derive(Clone, Debug)]
pub(crate) struct Defaults(Vec<(String, i64)>);

impl Default for Defaults {
    fn default() -> Self {
        Self(
            QUOTA_RESOURCES
                .iter()
                .map(|(r, l)| ((*r).to_owned(), *l))
                .collect(),
        )
    }
}

/// One resource's limit and use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    pub resource: String,
    pub limit: i64,
    pub used: i64,
}

impl Networking {
    /// A project's limit of one resource (-1: none).
    pub(crate) async fn limit(&self, project_id: &str, resource: &str) -> NetworkResult<i64> {
        let set = self.store.networking().quotas(project_id).await?;
        Ok(set
            .into_iter()
            .find(|(r, _)| r == resource)
            .map(|(_, l)| l)
            .or_else(|| {
                self.quotas
                    .0
                    .iter()
                    .find(|(r, _)| r == resource)
                    .map(|(_, l)| *l)
            })
            .unwrap_or(-1))
    }

    /// A project's limits and use; another project's only for admins.
    pub async fn quotas(&self, caller: &Caller, project_id: &str) -> NetworkResult<Vec<Quota>> {
        if !caller.owns(project_id) {
            return Err(NetworkError::policy("get_quota"));
        }
        let set = self.store.networking().quotas(project_id).await?;
        let used = self.store.networking().usage(project_id).await?;
        Ok(self
            .quotas
            .0
            .iter()
            .map(|(resource, default)| Quota {
                limit: set
                    .iter()
                    .find(|(r, _)| r == resource)
                    .map_or(*default, |(_, l)| *l),
                used: used
                    .iter()
                    .find(|(r, _)| r == resource)
                    .map_or(0, |(_, u)| *u),
                resource: resource.clone(),
            })
            .collect())
    }

    /// The default limits.
    pub fn default_quotas(&self) -> Vec<(String, i64)> {
        self.quotas.0.clone()
    }

    /// The projects with limits of their own (admins only).
    pub async fn all_quotas(&self, caller: &Caller) -> NetworkResult<Vec<(String, Vec<Quota>)>> {
        if !caller.is_admin {
            return Err(NetworkError::policy("get_quota"));
        }
        let mut projects: Vec<String> = self
            .store
            .networking()
            .all_quotas()
            .await?
            .into_iter()
            .map(|(p, _, _)| p)
            .collect();
        projects.dedup();
        let mut all = Vec::new();
        for p in projects {
            let q = self.quotas(caller, &p).await?;
            all.push((p, q));
        }
        Ok(all)
    }

    /// Sets limits of a project (admins only); unknown resources are the
    /// caller's error.
    pub async fn set_quotas(
        &self,
        caller: &Caller,
        project_id: &str,
        limits: &[(String, i64)],
    ) -> NetworkResult<Vec<Quota>> {
        if !caller.is_admin {
            return Err(NetworkError::policy("update_quota"));
        }
        for (resource, limit) in limits {
            if !self.quotas.0.iter().any(|(r, _)| r == resource) {
                return Err(NetworkError::invalid(
                    "HTTPBadRequest",
                    format!("Unrecognized attribute(s) '{resource}'"),
                ));
            }
            if *limit < -1 {
                return Err(NetworkError::invalid_input(
                    resource,
                    format!("'{limit}' is too small - must be at least '-1'"),
                ));
            }
        }
        let pairs: Vec<(&str, i64)> = limits.iter().map(|(r, l)| (r.as_str(), *l)).collect();
        self.store
            .networking()
            .set_quotas(project_id, &pairs)
            .await?;
        self.quotas(caller, project_id).await
    }

    /// Back to the defaults (admins only).
    pub async fn reset_quotas(&self, caller: &Caller, project_id: &str) -> NetworkResult<()> {
        if !caller.is_admin {
            return Err(NetworkError::policy("delete_quota"));
        }
        self.store.networking().delete_quotas(project_id).await?;
        Ok(())
    }
}
