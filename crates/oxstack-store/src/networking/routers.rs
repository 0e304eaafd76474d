//! Routers and floating IPs. A router's ports (its gateway on an
//! external network, its interfaces on subnets) are ports whose device is
//! the router; a floating IP's address is held by a port of its own on the
//! external network. Each is made or changed through a [`RouterTx`] inside
//! a [`super::NetworkTx`], with the ports it needs, in one commit.

use super::ports::remove_port;
use super::rows::{FloatingIpRow, PortRow, RouterRow};
use super::{NetworkingRepo, Scope, Table, count_in, untag, update_in};
use crate::db::{Sql, SqlValue, Tx, values};
use crate::{StoreError, StoreResult, missing_if_none};

/// Neutron's device owner of a router's gateway port.
pub const ROUTER_GATEWAY: &str = "network:router_gateway";
/// Neutron's device owner of a router's interface on a subnet.
pub const ROUTER_INTERFACE: &str = "network:router_interface";
/// Neutron's device owner of a floating IP's own port.
pub const FLOATING_IP: &str = "network:floatingip";

impl NetworkingRepo<'_> {
    pub async fn router(&self, id: &str) -> StoreResult<Option<RouterRow>> {
        self.db
            .optional("SELECT * FROM routers WHERE id = $1", &values![id])
            .await
    }

    /// The routers a scope sees (a project's own), oldest first.
    pub async fn routers(&self, scope: &Scope) -> StoreResult<Vec<RouterRow>> {
        let mut q = Sql::new("SELECT * FROM routers");
        if let Scope::Project(p) = scope {
            let p = q.bind(p);
            q.push(&format!(" WHERE project_id = {p}"));
        }
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// The ports of routers (gateways and interfaces), oldest first.
    pub async fn router_ports(&self, routers: &[&str]) -> StoreResult<Vec<PortRow>> {
        self.by_ids(
            "SELECT * FROM ports WHERE device_owner IN ('network:router_gateway', \
             'network:router_interface') AND device_id IN (",
            ") ORDER BY created_at, id",
            routers,
        )
        .await
    }

    /// The router that joins `subnet_id` to `external_network_id` (an
    /// interface on the one, its gateway on the other), the oldest if
    /// several do.
    pub async fn router_between(
        &self,
        subnet_id: &str,
        external_network_id: &str,
    ) -> StoreResult<Option<String>> {
        let found: Option<(String,)> = self
            .db
            .optional(
                "SELECT r.id FROM routers r JOIN ports gw ON gw.id = r.gateway_port_id \
                 JOIN ports i ON i.device_id = r.id AND i.device_owner = 'network:router_interface' \
                 JOIN port_ips ip ON ip.port_id = i.id \
                 WHERE gw.network_id = $2 AND ip.subnet_id = $1 \
                 ORDER BY r.created_at, r.id LIMIT 1",
                &values![subnet_id, external_network_id],
            )
            .await?;
        Ok(found.map(|(id,)| id))
    }

    /// How many floating IPs reach their fixed address through the router:
    /// all of them, or those whose fixed address is on `subnet_id`.
    pub async fn floating_ips_via(
        &self,
        router_id: &str,
        subnet_id: Option<&str>,
    ) -> StoreResult<i64> {
        let counted: Option<(i64,)> = self
            .db
            .optional(
                "SELECT COUNT(*) FROM floatingips f WHERE f.router_id = $1 AND ($2 IS NULL OR \
                 EXISTS (SELECT 1 FROM port_ips ip WHERE ip.port_id = f.port_id \
                 AND ip.ip_address = f.fixed_ip_address AND ip.subnet_id = $2))",
                &values![router_id, subnet_id],
            )
            .await?;
        Ok(counted.map_or(0, |(n,)| n))
    }

    pub async fn floating_ip(&self, id: &str) -> StoreResult<Option<FloatingIpRow>> {
        self.db
            .optional("SELECT * FROM floatingips WHERE id = $1", &values![id])
            .await
    }

    /// The floating IPs a scope sees (a project's own), oldest first.
    pub async fn floating_ips(&self, scope: &Scope) -> StoreResult<Vec<FloatingIpRow>> {
        let mut q = Sql::new("SELECT * FROM floatingips");
        if let Scope::Project(p) = scope {
            let p = q.bind(p);
            q.push(&format!(" WHERE project_id = {p}"));
        }
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// The floating IPs associated with any of `ports`.
    pub async fn floating_ips_of(&self, ports: &[&str]) -> StoreResult<Vec<FloatingIpRow>> {
        self.by_ids(
            "SELECT * FROM floatingips WHERE port_id IN (",
            ") ORDER BY created_at, id",
            ports,
        )
        .await
    }
}

/// Router and floating IP changes inside someone's transaction.
pub struct RouterTx<'t> {
    tx: &'t mut Tx,
}

impl<'t> RouterTx<'t> {
    pub(crate) fn new(tx: &'t mut Tx) -> Self {
        Self { tx }
    }

    /// Stores a router, counted against its project's `limit` (-1: none).
    pub async fn insert_router(&mut self, r: &RouterRow, limit: i64) -> StoreResult<()> {
        count_in(self.tx, &r.project_id, "router", 1, limit).await?;
        self.tx
            .execute(
                "INSERT INTO routers (id, project_id, name, description, admin_state_up, status, \
                 gateway_port_id, enable_snat, revision_number, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &values![
                    &r.id,
                    &r.project_id,
                    &r.name,
                    &r.description,
                    r.admin_state_up,
                    &r.status,
                    r.gateway_port_id.clone(),
                    r.enable_snat,
                    r.revision_number,
                    r.created_at,
                    r.updated_at
                ],
            )
            .await?;
        Ok(())
    }

    /// Sets columns of a router (or a floating IP) and bumps its revision.
    pub async fn update(
        &mut self,
        table: Table,
        id: &str,
        changes: &[(&str, SqlValue)],
        now: i64,
    ) -> StoreResult<()> {
        update_in(self.tx, table, id, changes, now).await
    }

    /// Deletes a router and its gateway port; `Conflict` while it still
    /// has interfaces.
    pub async fn delete_router(&mut self, r: &RouterRow) -> StoreResult<()> {
        let (interfaces,): (i64,) = self
            .tx
            .fetch_one(
                "SELECT COUNT(*) FROM ports WHERE device_id = $1 AND device_owner = $2",
                &values![&r.id, ROUTER_INTERFACE],
            )
            .await?;
        if interfaces > 0 {
            return Err(StoreError::Conflict);
        }
        let deleted = self
            .tx
            .execute("DELETE FROM routers WHERE id = $1", &values![&r.id])
            .await?;
        missing_if_none(deleted)?;
        if let Some(gateway) = &r.gateway_port_id {
            remove_port(self.tx, gateway, "").await?;
        }
        untag(self.tx, &r.id).await?;
        count_in(self.tx, &r.project_id, "router", -1, -1).await
    }

    /// Deletes a port of the cloud's own (a router's gateway or interface)
    /// counted against `project_id` ("" for none).
    pub async fn delete_port(&mut self, id: &str, project_id: &str) -> StoreResult<()> {
        remove_port(self.tx, id, project_id).await
    }

    /// Stores a floating IP, counted against its project's `limit`;
    /// `Conflict` when its fixed address has one on that network already.
    pub async fn insert_floating_ip(&mut self, f: &FloatingIpRow, limit: i64) -> StoreResult<()> {
        count_in(self.tx, &f.project_id, "floatingip", 1, limit).await?;
        self.tx
            .execute(
                "INSERT INTO floatingips (id, project_id, floating_network_id, floating_port_id, \
                 floating_ip_address, port_id, fixed_ip_address, router_id, description, \
                 revision_number, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &values![
                    &f.id,
                    &f.project_id,
                    &f.floating_network_id,
                    &f.floating_port_id,
                    &f.floating_ip_address,
                    f.port_id.clone(),
                    f.fixed_ip_address.clone(),
                    f.router_id.clone(),
                    &f.description,
                    f.revision_number,
                    f.created_at,
                    f.updated_at
                ],
            )
            .await?;
        Ok(())
    }

    /// Deletes a floating IP and the port that holds its address.
    pub async fn delete_floating_ip(&mut self, f: &FloatingIpRow) -> StoreResult<()> {
        let deleted = self
            .tx
            .execute("DELETE FROM floatingips WHERE id = $1", &values![&f.id])
            .await?;
        missing_if_none(deleted)?;
        remove_port(self.tx, &f.floating_port_id, "").await?;
        untag(self.tx, &f.id).await?;
        count_in(self.tx, &f.project_id, "floatingip", -1, -1).await
    }
}
