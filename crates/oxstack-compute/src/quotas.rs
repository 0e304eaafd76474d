//! Quotas: per-project limits (configured defaults, overridable per project
//! by admins) and what each project uses.

use std::collections::BTreeMap;

use crate::{Compute, ComputeError, ComputeResult};

/// A resource with a quota, named as Nova's quota API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Instances,
    Cores,
    Ram,
    MetadataItems,
    KeyPairs,
    ServerGroups,
    ServerGroupMembers,
    InjectedFiles,
    InjectedFileContentBytes,
    InjectedFilePathBytes,
    /// nova-network's quotas, which the API still shows and stores before
    /// 2.36 (quota sets) and 2.50 (quota classes); nothing counts them.
    FixedIps,
    FloatingIps,
    SecurityGroups,
    SecurityGroupRules,
}

impl Resource {
    pub const ALL: [Resource; 14] = [
        Self::Instances,
        Self::Cores,
        Self::Ram,
        Self::MetadataItems,
        Self::KeyPairs,
        Self::ServerGroups,
        Self::ServerGroupMembers,
        Self::InjectedFiles,
        Self::InjectedFileContentBytes,
        Self::InjectedFilePathBytes,
        Self::FixedIps,
        Self::FloatingIps,
        Self::SecurityGroups,
        Self::SecurityGroupRules,
    ];

    /// nova-network's quotas, in Nova's order.
    pub const NETWORK: [Resource; 4] = [
        Self::FixedIps,
        Self::FloatingIps,
        Self::SecurityGroupRules,
        Self::SecurityGroups,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Instances => "instances",
            Self::Cores => "cores",
            Self::Ram => "ram",
            Self::MetadataItems => "metadata_items",
            Self::KeyPairs => "key_pairs",
            Self::ServerGroups => "server_groups",
            Self::ServerGroupMembers => "server_group_members",
            Self::InjectedFiles => "injected_files",
            Self::InjectedFileContentBytes => "injected_file_content_bytes",
            Self::InjectedFilePathBytes => "injected_file_path_bytes",
            Self::FixedIps => "fixed_ips",
            Self::FloatingIps => "floating_ips",
            Self::SecurityGroups => "security_groups",
            Self::SecurityGroupRules => "security_group_rules",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// The configured default limit of every resource (-1: unlimited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaDefaults(pub BTreeMap<Resource, i64>);

impl Default for QuotaDefaults {
    /// Nova's defaults (`nova/conf/quota.py`).
    fn default() -> Self {
        Self(BTreeMap::from([
            (Resource::Instances, 10),
            (Resource::Cores, 20),
            (Resource::Ram, 51200),
            (Resource::MetadataItems, 128),
            (Resource::KeyPairs, 100),
            (Resource::ServerGroups, 10),
            (Resource::ServerGroupMembers, 10),
            (Resource::InjectedFiles, 5),
            (Resource::InjectedFileContentBytes, 10240),
            (Resource::InjectedFilePathBytes, 255),
            (Resource::FixedIps, -1),
            (Resource::FloatingIps, -1),
            (Resource::SecurityGroups, -1),
            (Resource::SecurityGroupRules, -1),
        ]))
    }
}

/// A project's limits, every resource present.
pub type Limits = BTreeMap<Resource, i64>;

/// What a project consumes of each counted resource: servers count
/// (instances, cores, RAM) from the live instances, and its server groups.
/// Key pairs belong to users and group members to groups, so a project
/// uses none of them (Nova reports them in use 0 as well).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
    pub key_pairs: i64,
    pub server_groups: i64,
}

impl Usage {
    /// The usage of a resource (0 for limits that are not counted, such as
    /// metadata items, which are checked per request).
    pub fn of(&self, resource: Resource) -> i64 {
        match resource {
            Resource::Instances => self.instances,
            Resource::Cores => self.cores,
            Resource::Ram => self.ram,
            Resource::KeyPairs => self.key_pairs,
            Resource::ServerGroups => self.server_groups,
            _ => 0,
        }
    }
}

/// The quota class whose limits are every project's defaults.
pub const DEFAULT_CLASS: &str = "default";

fn overlay(limits: &mut Limits, named: BTreeMap<String, i64>) {
    for (name, limit) in named {
        if let Some(resource) = Resource::parse(&name) {
            limits.insert(resource, limit);
        }
    }
}

impl Compute {
    /// The defaults every project starts with: the configured defaults
    /// overlaid with the `default` quota class.
    pub async fn default_limits(&self) -> ComputeResult<Limits> {
        self.quota_class_limits(DEFAULT_CLASS).await
    }

    /// A quota class's limits: configured defaults overlaid with the class.
    pub async fn quota_class_limits(&self, class_name: &str) -> ComputeResult<Limits> {
        let mut limits = self.quota_defaults.0.clone();
        overlay(
            &mut limits,
            self.store.quotas().class_overrides(class_name).await?,
        );
        Ok(limits)
    }

    /// Sets limits of a quota class (`default` changes every project's defaults).
    pub async fn set_quota_class_limits(
        &self,
        class_name: &str,
        changes: &Limits,
    ) -> ComputeResult<Limits> {
        let named: BTreeMap<String, i64> = changes
            .iter()
            .map(|(r, l)| (r.name().to_owned(), *l))
            .collect();
        self.store.quotas().set_class(class_name, &named).await?;
        self.quota_class_limits(class_name).await
    }

    /// A project's limits: defaults overlaid with its overrides.
    pub async fn quota_limits(&self, project_id: &str) -> ComputeResult<Limits> {
        let mut limits = self.default_limits().await?;
        overlay(
            &mut limits,
            self.store.quotas().overrides(project_id).await?,
        );
        Ok(limits)
    }

    /// What a project uses now.
    pub async fn quota_usage(&self, project_id: &str) -> ComputeResult<Usage> {
        let counted = self.store.instances().usage(project_id).await?;
        Ok(Usage {
            instances: counted.instances,
            cores: counted.cores,
            ram: counted.ram,
            server_groups: self.store.server_groups().count(project_id).await?,
            ..Usage::default()
        })
    }

    /// Sets limits; unless `force`, a limit below current usage, or below
    /// what the project's users were given, is refused with Nova's message.
    pub async fn set_quota_limits(
        &self,
        project_id: &str,
        changes: &Limits,
        force: bool,
    ) -> ComputeResult<Limits> {
        if !force {
            let usage = self.quota_usage(project_id).await?;
            let given = self.user_limit_sums(project_id).await?;
            for (resource, limit) in changes {
                let given = given.get(resource).copied().unwrap_or(0);
                check_at_least(*resource, *limit, usage.of(*resource).max(given))?;
            }
        }
        let named: BTreeMap<String, i64> = changes
            .iter()
            .map(|(r, l)| (r.name().to_owned(), *l))
            .collect();
        self.store.quotas().set(project_id, &named).await?;
        self.quota_limits(project_id).await
    }

    /// Back to the defaults (the project's users' limits too).
    pub async fn reset_quota_limits(&self, project_id: &str) -> ComputeResult<()> {
        Ok(self.store.quotas().clear(project_id).await?)
    }

    /// A user's limits in a project: the project's, overlaid with the
    /// user's own.
    pub async fn user_quota_limits(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> ComputeResult<Limits> {
        let mut limits = self.quota_limits(project_id).await?;
        overlay(
            &mut limits,
            self.store
                .quotas()
                .user_overrides(project_id, user_id)
                .await?,
        );
        Ok(limits)
    }

    /// What a user uses in a project: their servers and server groups.
    pub async fn user_quota_usage(&self, project_id: &str, user_id: &str) -> ComputeResult<Usage> {
        let counted = self
            .store
            .instances()
            .user_usage(project_id, user_id)
            .await?;
        Ok(Usage {
            instances: counted.instances,
            cores: counted.cores,
            ram: counted.ram,
            server_groups: self
                .store
                .server_groups()
                .count_of_user(project_id, user_id)
                .await?,
            ..Usage::default()
        })
    }

    /// A new server's limits: its project's, and its user's when the
    /// user has one of their own for servers (instances, cores or RAM),
    /// which creates then check too (Nova counts a user's servers only
    /// then). One read of the quota tables.
    pub(crate) async fn server_quota_limits(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> ComputeResult<(Limits, Option<Limits>)> {
        let layers = self
            .store
            .quotas()
            .layers(DEFAULT_CLASS, project_id, user_id)
            .await?;
        let mut limits = self.quota_defaults.0.clone();
        overlay(&mut limits, layers.class);
        overlay(&mut limits, layers.project);
        let servers = [Resource::Instances, Resource::Cores, Resource::Ram];
        if !servers.iter().any(|r| layers.user.contains_key(r.name())) {
            return Ok((limits, None));
        }
        let mut user_limits = limits.clone();
        overlay(&mut user_limits, layers.user);
        Ok((limits, Some(user_limits)))
    }

    /// Sets a user's limits in a project. Unless `force`, each must be at
    /// least what the user uses and at most what the project has left
    /// once its other users' limits are taken out (Nova's rules and
    /// messages). nova-network's fixed and floating IP limits are the
    /// project's only, as in Nova.
    pub async fn set_user_quota_limits(
        &self,
        project_id: &str,
        user_id: &str,
        changes: &Limits,
        force: bool,
    ) -> ComputeResult<Limits> {
        let (per_project, per_user): (Limits, Limits) = changes
            .iter()
            .partition(|(r, _)| matches!(r, Resource::FixedIps | Resource::FloatingIps));
        if !force {
            let project = self.quota_limits(project_id).await?;
            let usage = self.user_quota_usage(project_id, user_id).await?;
            let given = self.user_limit_sums(project_id).await?;
            let own = self
                .store
                .quotas()
                .user_overrides(project_id, user_id)
                .await?;
            for (resource, limit) in &per_user {
                check_at_least(*resource, *limit, usage.of(*resource))?;
                let project_limit = project.get(resource).copied().unwrap_or(-1);
                let remains = project_limit - given.get(resource).copied().unwrap_or(0);
                let mine = own.get(resource.name()).copied().unwrap_or(0);
                if project_limit < 0 || remains < 0 || mine < 0 {
                    continue;
                }
                let maximum = remains + mine;
                if *limit < 0 || *limit > maximum {
                    return Err(ComputeError::Invalid(format!(
                        "Quota limit {limit} for {} must be less than or equal to {maximum}.",
                        resource.name()
                    )));
                }
            }
        }
        let named = |limits: &Limits| -> BTreeMap<String, i64> {
            limits
                .iter()
                .map(|(r, l)| (r.name().to_owned(), *l))
                .collect()
        };
        if !per_project.is_empty() {
            self.store
                .quotas()
                .set(project_id, &named(&per_project))
                .await?;
        }
        self.store
            .quotas()
            .set_user(project_id, user_id, &named(&per_user))
            .await?;
        self.user_quota_limits(project_id, user_id).await
    }

    /// Back to the project's limits for a user.
    pub async fn reset_user_quota_limits(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> ComputeResult<()> {
        Ok(self.store.quotas().clear_user(project_id, user_id).await?)
    }

    /// What the project's users were given of each resource, in total
    /// (limits, not usage; unlimited users count nothing).
    async fn user_limit_sums(&self, project_id: &str) -> ComputeResult<Limits> {
        let mut sums = Limits::new();
        for (_, resource, limit) in self.store.quotas().all_user_overrides(project_id).await? {
            if let Some(resource) = Resource::parse(&resource)
                && limit > 0
            {
                *sums.entry(resource).or_default() += limit;
            }
        }
        Ok(sums)
    }
}

/// Nova's refusal of a limit below what is used (or given to users).
fn check_at_least(resource: Resource, limit: i64, minimum: i64) -> ComputeResult<()> {
    if limit != -1 && limit < minimum {
        return Err(ComputeError::Invalid(format!(
            "Quota limit {limit} for {} must be greater than or equal to already used and reserved {minimum}.",
            resource.name()
        )));
    }
    Ok(())
}
