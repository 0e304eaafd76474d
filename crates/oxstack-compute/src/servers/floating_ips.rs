//! Floating addresses (Nova's deprecated proxy of them, up to 2.35, and
//! the `addFloatingIp`/`removeFloatingIp` actions, up to 2.43): allocated
//! from the built-in `public` pool to a project, associated with one of
//! its servers' fixed IPv4 addresses.

use std::collections::HashSet;

use oxstack_store::StoreError;
use oxstack_store::floating_ips::FloatingIpRow;

use super::Caller;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// A floating address of a project, maybe associated with a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    pub pool: String,
    pub project_id: String,
    pub instance_uuid: Option<String>,
    pub fixed_address: Option<String>,
}

impl From<FloatingIpRow> for FloatingIp {
    fn from(row: FloatingIpRow) -> Self {
        Self {
            id: row.id,
            address: row.address,
            pool: row.pool,
            project_id: row.project_id,
            instance_uuid: row.instance_uuid,
            fixed_address: row.fixed_address,
        }
    }
}

fn not_found_id(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Floating IP not found for ID {id}"))
}

impl Compute {
    /// The names of the floating pools.
    pub fn floating_ip_pools(&self) -> Vec<String> {
        self.network
            .floating
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Allocates a free address of `pool` (the default pool when none).
    pub async fn allocate_floating_ip(
        &self,
        caller: &Caller,
        pool: Option<&str>,
    ) -> ComputeResult<FloatingIp> {
        let Some((name, _)) = self
            .network
            .floating
            .as_ref()
            .filter(|(name, _)| pool.is_none_or(|p| p == name))
        else {
            return Err(ComputeError::NotFound("Floating IP pool not found.".into()));
        };
        let repo = self.store.floating_ips();
        // A racing allocation of the same address loses on the unique key
        // and tries the next one.
        for _ in 0..8 {
            let taken: HashSet<String> = repo.allocated(name).await?.into_iter().collect();
            let Some(address) = self.network.free_floating(&taken) else {
                return Err(ComputeError::NotFound(format!(
                    "No more floating IPs in pool {name}."
                )));
            };
            let row = FloatingIpRow {
                id: uuid::Uuid::new_v4().to_string(),
                address: address.to_string(),
                pool: name.clone(),
                project_id: caller.project_id.clone(),
                instance_uuid: None,
                fixed_address: None,
                created_at: now_micros(),
            };
            match repo.insert(&row).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            }
            return Ok(row.into());
        }
        Err(ComputeError::Conflict(
            "Floating IP allocation kept racing; try again.".into(),
        ))
    }

    /// The caller's project's addresses.
    pub async fn list_floating_ips(&self, caller: &Caller) -> ComputeResult<Vec<FloatingIp>> {
        let rows = self
            .store
            .floating_ips()
            .list(Some(&caller.project_id))
            .await?;
        Ok(rows.into_iter().map(FloatingIp::from).collect())
    }

    /// One of the caller's project's addresses.
    pub async fn get_floating_ip(&self, caller: &Caller, id: &str) -> ComputeResult<FloatingIp> {
        match self.store.floating_ips().get(id).await? {
            Some(f) if caller.is_admin || f.project_id == caller.project_id => Ok(f.into()),
            _ => Err(not_found_id(id)),
        }
    }

    /// Gives an address back to the pool.
    pub async fn release_floating_ip(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let f = self.get_floating_ip(caller, id).await?;
        match self.store.floating_ips().delete(&f.id).await {
            Err(StoreError::NotFound) => Err(not_found_id(id)),
            other => Ok(other?),
        }
    }

    /// `addFloatingIp`: associates one of the project's addresses with the
    /// server's first fixed IPv4 address (or `fixed_address`).
    pub async fn add_floating_ip(
        &self,
        caller: &Caller,
        id: &str,
        address: &str,
        fixed_address: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let repo = self.store.floating_ips();
        let not_found = || ComputeError::NotFound("floating IP not found".into());
        let floating = repo.get_by_address(address).await?.ok_or_else(not_found)?;
        if floating.project_id != server.project_id {
            return Err(not_found());
        }
        let fixed = server
            .fixed_ips
            .iter()
            .filter(|ip| ip.version == 4)
            .find(|ip| fixed_address.is_none_or(|f| f == ip.address));
        let Some(fixed) = fixed else {
            return Err(ComputeError::Invalid(match fixed_address {
                Some(f) => format!("Specified fixed address not assigned to instance: {f}"),
                None => "No fixed IPs associated to instance".into(),
            }));
        };
        if !repo
            .associate(address, &server.uuid, &fixed.address)
            .await?
        {
            return Err(ComputeError::Invalid(
                "floating IP is already associated".into(),
            ));
        }
        Ok(())
    }

    /// `removeFloatingIp`.
    pub async fn remove_floating_ip(
        &self,
        caller: &Caller,
        id: &str,
        address: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let repo = self.store.floating_ips();
        let floating = repo
            .get_by_address(address)
            .await?
            .filter(|f| f.project_id == server.project_id)
            .ok_or_else(|| ComputeError::NotFound("floating IP not found".into()))?;
        if floating.instance_uuid.as_deref() != Some(server.uuid.as_str())
            || !repo.disassociate(address, Some(&server.uuid)).await?
        {
            return Err(ComputeError::Conflict(format!(
                "Floating IP {address} is not associated with instance {id}."
            )));
        }
        Ok(())
    }
}
