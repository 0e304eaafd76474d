//! Networks: owned by a project, visible to it, and to every project when
//! `shared` or external. Only admins share networks or make them
//! external.

use oxstack_store::StoreError;
use oxstack_store::networking::NetworkRow;

use crate::{Caller, NetworkError, NetworkResult, Networking, gone, now_micros};

/// The MTU of a network nobody gave one (a VXLAN tenant network's).
pub const DEFAULT_MTU: i64 = 1450;

/// A network with what Neutron shows beside its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub row: NetworkRow,
    /// Its subnets' ids, oldest first.
    pub subnets: Vec<String>,
    pub tags: Vec<String>,
}

/// A network to make.
#[derive(Clone, Debug, Default)]
pub struct NetworkSpec {
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub name: String,
    pub description: String,
    pub admin_state_up: Option<bool>,
    pub shared: bool,
    pub external: bool,
    pub is_default: bool,
    pub mtu: Option<i64>,
    pub port_security_enabled: Option<bool>,
    pub dns_domain: String,
}

/// Changes to a network; `None` leaves an attribute as it is.
#[derive(Clone, Debug, Default)]
pub struct NetworkChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub external: Option<bool>,
    pub is_default: Option<bool>,
    pub mtu: Option<i64>,
    pub port_security_enabled: Option<bool>,
    pub dns_domain: Option<String>,
}

impl Networking {
    pub async fn create_network(
        &self,
        caller: &Caller,
        spec: NetworkSpec,
    ) -> NetworkResult<Network> {
        caller.may_write("create_network")?;
        for (set, rule) in [
            (spec.shared, "create_network:shared"),
            (spec.external, "create_network:router:external"),
            (spec.is_default, "create_network:is_default"),
        ] {
            if set && !caller.is_admin {
                return Err(NetworkError::policy(rule));
            }
        }
        let project_id = caller.project_for(spec.project_id.as_deref(), "create_network")?;
        let mtu = spec.mtu.unwrap_or(DEFAULT_MTU);
        check_mtu(mtu)?;
        let now = now_micros();
        let row = NetworkRow {
            id: spec.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            project_id,
            name: spec.name,
            description: spec.description,
            admin_state_up: spec.admin_state_up.unwrap_or(true),
            shared: spec.shared,
            external: spec.external,
            is_default: spec.is_default,
            mtu,
            port_security_enabled: spec.port_security_enabled.unwrap_or(true),
            dns_domain: spec.dns_domain,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let limit = self.limit(&row.project_id, "network").await?;
        match self.store.networking().insert_network(&row, limit).await {
            Err(StoreError::LimitExceeded) => return Err(NetworkError::over_quota("network")),
            Err(StoreError::Conflict) => {
                return Err(NetworkError::conflict(
                    "NetworkExists",
                    format!("Network {} already exists.", row.id),
                ));
            }
            other => other?,
        }
        Ok(Network {
            row,
            subnets: Vec::new(),
            tags: Vec::new(),
        })
    }

    /// A network the caller sees, else `NetworkNotFound`.
    pub async fn network(&self, caller: &Caller, id: &str) -> NetworkResult<Network> {
        let row = self
            .visible_network(caller, id)
            .await?
            .ok_or_else(|| NetworkError::network_not_found(id))?;
        Ok(self.assemble_networks(vec![row]).await?.remove(0))
    }

    /// The row of a network the caller sees, if any.
    pub(crate) async fn visible_network(
        &self,
        caller: &Caller,
        id: &str,
    ) -> NetworkResult<Option<NetworkRow>> {
        let row = self.store.networking().network(id).await?;
        Ok(row.filter(|n| caller.owns(&n.project_id) || n.shared || n.external))
    }

    /// Every network the caller sees, oldest first.
    pub async fn networks(&self, caller: &Caller) -> NetworkResult<Vec<Network>> {
        let rows = self.store.networking().networks(&caller.scope()).await?;
        self.assemble_networks(rows).await
    }

    async fn assemble_networks(&self, rows: Vec<NetworkRow>) -> NetworkResult<Vec<Network>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut tags = self.tags_of(&ids).await?;
        let mut subnets: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (network, subnet) in self.store.networking().subnet_ids_of(&ids).await? {
            subnets.entry(network).or_default().push(subnet);
        }
        Ok(rows
            .into_iter()
            .map(|row| Network {
                subnets: subnets.remove(&row.id).unwrap_or_default(),
                tags: tags.remove(&row.id).unwrap_or_default(),
                row,
            })
            .collect())
    }

    pub async fn update_network(
        &self,
        caller: &Caller,
        id: &str,
        change: NetworkChange,
    ) -> NetworkResult<Network> {
        let current = self.network(caller, id).await?;
        caller.may_write("update_network")?;
        if !caller.owns(&current.row.project_id) {
            return Err(NetworkError::policy("update_network"));
        }
        let mut changes = Vec::new();
        for (value, column, rule) in [
            (change.shared, "shared", "update_network:shared"),
            (
                change.external,
                "external",
                "update_network:router:external",
            ),
            (change.is_default, "is_default", "update_network:is_default"),
        ] {
            if let Some(v) = value {
                if !caller.is_admin {
                    return Err(NetworkError::policy(rule));
                }
                changes.push((column, v.into()));
            }
        }
        if let Some(mtu) = change.mtu {
            check_mtu(mtu)?;
            changes.push(("mtu", mtu.into()));
        }
        for (value, column) in [
            (change.admin_state_up, "admin_state_up"),
            (change.port_security_enabled, "port_security_enabled"),
        ] {
            if let Some(v) = value {
                changes.push((column, v.into()));
            }
        }
        for (value, column) in [
            (change.name, "name"),
            (change.description, "description"),
            (change.dns_domain, "dns_domain"),
        ] {
            if let Some(v) = value {
                changes.push((column, v.into()));
            }
        }
        self.store
            .networking()
            .update(
                oxstack_store::networking::Table::Networks,
                id,
                &changes,
                now_micros(),
            )
            .await
            .map_err(|e| gone(e, || NetworkError::network_not_found(id)))?;
        self.network(caller, id).await
    }

    pub async fn delete_network(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let current = self.network(caller, id).await?;
        caller.may_write("delete_network")?;
        if !caller.owns(&current.row.project_id) {
            return Err(NetworkError::policy("delete_network"));
        }
        match self
            .store
            .networking()
            .delete_network(id, &current.row.project_id)
            .await
        {
            Err(StoreError::Conflict) => Err(NetworkError::conflict(
                "NetworkInUse",
                format!(
                    "Unable to complete operation on network {id}. There are one or more ports \
                     still in use on the network."
                ),
            )),
            Err(e) => Err(gone(e, || NetworkError::network_not_found(id))),
            Ok(()) => Ok(()),
        }
    }
}

/// Neutron takes MTUs from 68 (IPv4's minimum) up.
fn check_mtu(mtu: i64) -> NetworkResult<()> {
    if (68..=65535).contains(&mtu) {
        Ok(())
    } else {
        Err(NetworkError::invalid_input(
            "mtu",
            format!("'{mtu}' is too small - must be at least '68'"),
        ))
    }
}
