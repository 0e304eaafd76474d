//! Networking for oxstack (the Neutron v2.0 subset's domain): networks,
//! subnets, ports with the addresses they hold, routers and floating IPs,
//! security groups and their rules, with Neutron's ownership and sharing rules and per-project
//! limits. Every change is one store transaction; an address or MAC is
//! never handed out twice, however requests race.

mod error;
mod floating_ips;
mod ipam;
mod layout;
mod networks;
mod ports;
mod quotas;
mod routers;
mod security_groups;
mod servers;
mod subnets;

use oxstack_store::Store;
use oxstack_store::networking::{Scope, Table};

pub use error::{Class, NetworkError, NetworkResult};
pub use floating_ips::{FloatingIp, FloatingIpChange, FloatingIpSpec};
pub use layout::{Layout, PrivateNetwork, derived_id};
pub use networks::{Network, NetworkChange, NetworkSpec};
pub use oxstack_store::networking::{
    FloatingIpRow, NetworkRow, PortRow, RouterRow, SecurityGroupRow, SecurityGroupRuleRow,
    SubnetRow,
};
pub use ports::{FixedIp, FixedIpRequest, PairRequest, Port, PortChange, PortSpec};
pub use quotas::{QUOTA_RESOURCES, Quota};
pub use routers::{
    Gateway, GatewaySpec, InterfaceRef, Router, RouterChange, RouterInterface, RouterSpec,
};
pub use security_groups::{DEFAULT_GROUP, Rule, RuleSpec, SecurityGroup};
pub use servers::{ServerNic, ServerPorts, server_ports_over_quota};
pub use subnets::{AllocationPool, HostRoute, Subnet, SubnetChange, SubnetSpec};

/// Who is asking.
#[derive(Clone, Debug)]
pub struct Caller {
    pub project_id: String,
    pub is_admin: bool,
    /// Holds a role that may change the project's resources (member);
    /// readers only read.
    pub can_write: bool,
}

impl Caller {
    fn scope(&self) -> Scope {
        if self.is_admin {
            Scope::All
        } else {
            Scope::Project(self.project_id.clone())
        }
    }

    fn owns(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id == project_id
    }

    /// Refuses a change by a reader (Neutron's policy names the rule).
    fn may_write(&self, rule: &str) -> NetworkResult<()> {
        if self.is_admin || self.can_write {
            Ok(())
        } else {
            Err(NetworkError::policy(rule))
        }
    }

    /// The project a new resource belongs to: the caller's, or the one
    /// an admin names.
    fn project_for(&self, requested: Option<&str>, rule: &str) -> NetworkResult<String> {
        match requested {
            Some(p) if p != self.project_id && !self.is_admin => Err(NetworkError::policy(rule)),
            Some(p) => Ok(p.to_owned()),
            None => Ok(self.project_id.clone()),
        }
    }
}

/// The networking service.
#[derive(Clone, Debug)]
pub struct Networking {
    store: Store,
    quotas: quotas::Defaults,
    /// The networks the cloud starts with (and keeps through resets).
    layout: std::sync::Arc<Layout>,
}

impl Networking {
    pub fn new(store: Store, layout: Layout) -> Self {
        Self {
            store,
            quotas: quotas::Defaults::default(),
            layout: std::sync::Arc::new(layout),
        }
    }

    /// Whether the cloud made this network, subnet or router itself at its
    /// first start (its layout).
    pub fn is_own(&self, id: &str) -> bool {
        self.layout.ids().iter().any(|own| own == id)
    }

    /// Removes what users made in `project` (every project if `None`):
    /// the cloud's own networks stay.
    pub async fn reset(&self, project: Option<&str>) -> NetworkResult<()> {
        let keep = self.layout.ids();
        self.store.networking_reset(project, &keep).await?;
        Ok(())
    }

    /// Adds or removes tags on a resource the caller owns, or replaces
    /// them (`set`).
    pub async fn set_tags(
        &self,
        caller: &Caller,
        resource: Resource,
        id: &str,
        tags: &[String],
    ) -> NetworkResult<()> {
        self.owned(caller, resource, id).await?;
        self.store
            .networking()
            .set_tags(resource.table(), id, tags, now_micros())
            .await?;
        Ok(())
    }

    /// Adds (`add`) or removes one tag.
    pub async fn change_tag(
        &self,
        caller: &Caller,
        resource: Resource,
        id: &str,
        tag: &str,
        add: bool,
    ) -> NetworkResult<()> {
        self.owned(caller, resource, id).await?;
        match self
            .store
            .networking()
            .change_tag(resource.table(), id, tag, add, now_micros())
            .await
        {
            Err(oxstack_store::StoreError::NotFound) => Err(NetworkError::not_found(
                "TagNotFound",
                format!("Tag {tag} could not be found for {} {id}.", resource.name()),
            )),
            other => Ok(other?),
        }
    }

    /// The tags of a resource the caller sees.
    pub async fn tags(
        &self,
        caller: &Caller,
        resource: Resource,
        id: &str,
    ) -> NetworkResult<Vec<String>> {
        match resource {
            Resource::Network => Ok(self.network(caller, id).await?.tags),
            Resource::Subnet => Ok(self.subnet(caller, id).await?.tags),
            Resource::Port => Ok(self.port(caller, id).await?.tags),
            Resource::SecurityGroup => Ok(self.security_group(caller, id).await?.tags),
            Resource::Router => Ok(self.router(caller, id).await?.tags),
            Resource::FloatingIp => Ok(self.floating_ip(caller, id).await?.tags),
        }
    }

    /// Checks the caller may change a resource.
    async fn owned(&self, caller: &Caller, resource: Resource, id: &str) -> NetworkResult<()> {
        let owner = match resource {
            Resource::Network => self.network(caller, id).await?.row.project_id,
            Resource::Subnet => self.subnet(caller, id).await?.row.project_id,
            Resource::Port => self.port(caller, id).await?.row.project_id,
            Resource::SecurityGroup => self.security_group(caller, id).await?.row.project_id,
            Resource::Router => self.router(caller, id).await?.row.project_id,
            Resource::FloatingIp => self.floating_ip(caller, id).await?.row.project_id,
        };
        let rule = format!("update_{}", resource.name());
        caller.may_write(&rule)?;
        if caller.owns(&owner) {
            Ok(())
        } else {
            Err(NetworkError::policy(&rule))
        }
    }

    async fn tags_of(
        &self,
        ids: &[&str],
    ) -> NetworkResult<std::collections::HashMap<String, Vec<String>>> {
        Ok(self.store.networking().tags_of(ids).await?)
    }
}

/// The resources that carry tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    Router,
    FloatingIp,
}

impl Resource {
    fn table(self) -> Table {
        match self {
            Self::Network => Table::Networks,
            Self::Subnet => Table::Subnets,
            Self::Port => Table::Ports,
            Self::SecurityGroup => Table::SecurityGroups,
            Self::Router => Table::Routers,
            Self::FloatingIp => Table::FloatingIps,
        }
    }

    /// Neutron's singular name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Subnet => "subnet",
            Self::Port => "port",
            Self::SecurityGroup => "security_group",
            Self::Router => "router",
            Self::FloatingIp => "floatingip",
        }
    }
}

/// Now, in microseconds since the epoch (the store's time unit).
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A store failure that means "gone" as the resource's own 404.
fn gone(err: oxstack_store::StoreError, missing: impl FnOnce() -> NetworkError) -> NetworkError {
    match err {
        oxstack_store::StoreError::NotFound => missing(),
        other => other.into(),
    }
}
