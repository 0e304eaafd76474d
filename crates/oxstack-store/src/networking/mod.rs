//! Networking records (the Neutron v2.0 subset): networks, subnets, ports
//! and their fixed addresses, security groups and rules, tags, limits and
//! counts. The rules (who sees what, which address a port gets) are the
//! networking domain's; this module keeps the rows and makes each change
//! one transaction.

mod ports;
mod routers;
mod rows;
mod security_groups;

use crate::db::{Db, Sql, SqlValue, Tx, values};
use crate::{StoreError, StoreResult, missing_if_none};

pub use ports::{LegacyFixedIp, NetworkTx, PortTx};
pub(crate) use ports::{UncountedPorts, release_device_ports};
pub use routers::{FLOATING_IP, ROUTER_GATEWAY, ROUTER_INTERFACE, RouterTx};
pub use rows::{
    FloatingIpRow, NetworkRow, PortIpRow, PortRow, RouterRow, SecurityGroupRow,
    SecurityGroupRuleRow, SubnetRow,
};
pub use security_groups::RuleInsert;

/// Which rows a listing reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every project's (an admin's listing).
    All,
    /// What this project may see: its own rows, and for networks (and
    /// their subnets) the shared ones, and external networks.
    Project(String),
}

/// The resources whose counts are kept per project (Neutron's quota
/// resource names).
pub const COUNTED: [&str; 7] = [
    "network",
    "subnet",
    "port",
    "router",
    "floatingip",
    "security_group",
    "security_group_rule",
];

/// Queries and changes over networking records.
pub struct NetworkingRepo<'a> {
    db: &'a Db,
}

impl<'a> NetworkingRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Stores a network, counted against its project's `limit` (-1: none).
    pub async fn insert_network(&self, n: &NetworkRow, limit: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        count_in(&mut tx, &n.project_id, "network", 1, limit).await?;
        tx.execute(
            "INSERT INTO networks (id, project_id, name, description, admin_state_up, shared, \
             external, is_default, mtu, port_security_enabled, dns_domain, revision_number, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &values![
                &n.id,
                &n.project_id,
                &n.name,
                &n.description,
                n.admin_state_up,
                n.shared,
                n.external,
                n.is_default,
                n.mtu,
                n.port_security_enabled,
                &n.dns_domain,
                n.revision_number,
                n.created_at,
                n.updated_at
            ],
        )
        .await?;
        tx.commit().await
    }

    pub async fn network(&self, id: &str) -> StoreResult<Option<NetworkRow>> {
        self.db
            .optional("SELECT * FROM networks WHERE id = $1", &values![id])
            .await
    }

    /// The networks a scope sees, oldest first.
    pub async fn networks(&self, scope: &Scope) -> StoreResult<Vec<NetworkRow>> {
        let mut q = Sql::new("SELECT * FROM networks");
        if let Scope::Project(p) = scope {
            let p = q.bind(p);
            q.push(&format!(
                " WHERE project_id = {p} OR shared = TRUE OR external = TRUE"
            ));
        }
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Deletes a network and its subnets unless a port is on it:
    /// `Conflict`.
    pub async fn delete_network(&self, id: &str, project_id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let (ports,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM ports WHERE network_id = $1",
                &values![id],
            )
            .await?;
        if ports > 0 {
            return Err(StoreError::Conflict);
        }
        let subnets: Vec<(String, String)> = tx
            .fetch_all(
                "SELECT id, project_id FROM subnets WHERE network_id = $1",
                &values![id],
            )
            .await?;
        for (subnet, owner) in &subnets {
            tx.execute("DELETE FROM subnets WHERE id = $1", &values![subnet])
                .await?;
            untag(&mut tx, subnet).await?;
            count_in(&mut tx, owner, "subnet", -1, -1).await?;
        }
        let deleted = tx
            .execute("DELETE FROM networks WHERE id = $1", &values![id])
            .await?;
        missing_if_none(deleted)?;
        untag(&mut tx, id).await?;
        count_in(&mut tx, project_id, "network", -1, -1).await?;
        tx.commit().await
    }

    /// Stores a subnet, counted against its project's `limit`; `Conflict`
    /// when its CIDR overlaps another subnet's on the same network.
    pub async fn insert_subnet(&self, s: &SubnetRow, limit: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        // Taking the network's row first serializes subnet creation on
        // one network (PostgreSQL), so the overlap check below holds.
        let locked = tx
            .execute(
                "UPDATE networks SET revision_number = revision_number + 1 WHERE id = $1",
                &values![&s.network_id],
            )
            .await?;
        missing_if_none(locked)?;
        let cidrs: Vec<(String,)> = tx
            .fetch_all(
                "SELECT cidr FROM subnets WHERE network_id = $1",
                &values![&s.network_id],
            )
            .await?;
        if cidrs.iter().any(|(c,)| overlaps(c, &s.cidr)) {
            return Err(StoreError::Conflict);
        }
        count_in(&mut tx, &s.project_id, "subnet", 1, limit).await?;
        tx.execute(
            "INSERT INTO subnets (id, project_id, network_id, name, description, ip_version, \
             cidr, gateway_ip, enable_dhcp, allocation_pools, dns_nameservers, host_routes, \
             ipv6_address_mode, ipv6_ra_mode, revision_number, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            &values![
                &s.id,
                &s.project_id,
                &s.network_id,
                &s.name,
                &s.description,
                s.ip_version,
                &s.cidr,
                s.gateway_ip.clone(),
                s.enable_dhcp,
                &s.allocation_pools,
                &s.dns_nameservers,
                &s.host_routes,
                s.ipv6_address_mode.clone(),
                s.ipv6_ra_mode.clone(),
                s.revision_number,
                s.created_at,
                s.updated_at
            ],
        )
        .await?;
        tx.commit().await
    }

    pub async fn subnet(&self, id: &str) -> StoreResult<Option<SubnetRow>> {
        self.db
            .optional("SELECT * FROM subnets WHERE id = $1", &values![id])
            .await
    }

    /// The subnets of one network, oldest first.
    pub async fn subnets_of(&self, network_id: &str) -> StoreResult<Vec<SubnetRow>> {
        // A few rows by key: a network has a few subnets.
        self.db
            .point(
                "SELECT * FROM subnets WHERE network_id = $1 ORDER BY created_at, id",
                &values![network_id],
            )
            .await
    }

    /// The subnets a scope sees: its own, and those of shared networks.
    pub async fn subnets(&self, scope: &Scope) -> StoreResult<Vec<SubnetRow>> {
        let mut q = Sql::new("SELECT s.* FROM subnets s");
        if let Scope::Project(p) = scope {
            let p = q.bind(p);
            q.push(&format!(
                " JOIN networks n ON n.id = s.network_id \
                 WHERE s.project_id = {p} OR n.shared = TRUE"
            ));
        }
        q.push(" ORDER BY s.created_at, s.id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// The (network, subnet) ids of the subnets of `networks`, oldest
    /// first.
    pub async fn subnet_ids_of(&self, networks: &[&str]) -> StoreResult<Vec<(String, String)>> {
        self.by_ids(
            "SELECT network_id, id FROM subnets WHERE network_id IN (",
            ") ORDER BY created_at, id",
            networks,
        )
        .await
    }

    /// Deletes a subnet unless an address of it is held: `Conflict`.
    pub async fn delete_subnet(&self, id: &str, project_id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let held: Option<(String,)> = tx
            .fetch_optional(
                "SELECT port_id FROM port_ips WHERE subnet_id = $1 LIMIT 1",
                &values![id],
            )
            .await?;
        if held.is_some() {
            return Err(StoreError::Conflict);
        }
        let deleted = tx
            .execute("DELETE FROM subnets WHERE id = $1", &values![id])
            .await?;
        missing_if_none(deleted)?;
        untag(&mut tx, id).await?;
        count_in(&mut tx, project_id, "subnet", -1, -1).await?;
        tx.commit().await
    }

    /// Sets columns of one row of `table` (a networking table with
    /// revisions), bumping its revision: `NotFound` when it is gone.
    pub async fn update(
        &self,
        table: Table,
        id: &str,
        changes: &[(&str, SqlValue)],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        update_in(&mut tx, table, id, changes, now).await?;
        tx.commit().await
    }

    /// The tags of each of `ids`, sorted, in one query.
    pub async fn tags_of(
        &self,
        ids: &[&str],
    ) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        let mut tags: std::collections::HashMap<String, Vec<String>> = Default::default();
        for chunk in ids.chunks(500) {
            let mut q =
                Sql::new("SELECT resource_id, tag FROM network_tags WHERE resource_id IN (");
            let list = q.bind_list(chunk.iter().map(|id| SqlValue::from(*id)));
            q.push(&list);
            q.push(") ORDER BY tag");
            let rows: Vec<(String, String)> = self.db.scan(&q.sql, &q.binds).await?;
            for (id, tag) in rows {
                tags.entry(id).or_default().push(tag);
            }
        }
        Ok(tags)
    }

    /// Replaces the tags of a resource of `table`, bumping its revision.
    pub async fn set_tags(
        &self,
        table: Table,
        id: &str,
        tags: &[String],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        update_in(&mut tx, table, id, &[], now).await?;
        untag(&mut tx, id).await?;
        for tag in tags {
            tx.execute(
                "INSERT INTO network_tags (resource_id, tag) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                &values![id, tag],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Adds one tag (`add`) or removes it; `NotFound` when removing a tag
    /// the resource does not have.
    pub async fn change_tag(
        &self,
        table: Table,
        id: &str,
        tag: &str,
        add: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        update_in(&mut tx, table, id, &[], now).await?;
        if add {
            tx.execute(
                "INSERT INTO network_tags (resource_id, tag) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                &values![id, tag],
            )
            .await?;
        } else {
            let removed = tx
                .execute(
                    "DELETE FROM network_tags WHERE resource_id = $1 AND tag = $2",
                    &values![id, tag],
                )
                .await?;
            missing_if_none(removed)?;
        }
        tx.commit().await
    }

    /// The limits an admin set for a project, by resource.
    pub async fn quotas(&self, project_id: &str) -> StoreResult<Vec<(String, i64)>> {
        self.db
            .point(
                "SELECT resource, hard_limit FROM network_quotas WHERE project_id = $1",
                &values![project_id],
            )
            .await
    }

    /// Every project with limits set, and those limits.
    pub async fn all_quotas(&self) -> StoreResult<Vec<(String, String, i64)>> {
        self.db
            .scan(
                "SELECT project_id, resource, hard_limit FROM network_quotas \
                 ORDER BY project_id, resource",
                &[],
            )
            .await
    }

    /// Sets a project's limits.
    pub async fn set_quotas(&self, project_id: &str, limits: &[(&str, i64)]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for (resource, limit) in limits {
            tx.execute(
                "INSERT INTO network_quotas (project_id, resource, hard_limit) \
                 VALUES ($1, $2, $3) ON CONFLICT (project_id, resource) \
                 DO UPDATE SET hard_limit = excluded.hard_limit",
                &values![project_id, *resource, *limit],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Forgets a project's limits (back to the defaults).
    pub async fn delete_quotas(&self, project_id: &str) -> StoreResult<()> {
        self.db
            .execute(
                "DELETE FROM network_quotas WHERE project_id = $1",
                &values![project_id],
            )
            .await
            .map(drop)
    }

    /// What a project has, by resource.
    pub async fn usage(&self, project_id: &str) -> StoreResult<Vec<(String, i64)>> {
        self.db
            .point(
                "SELECT resource, in_use FROM network_usage WHERE project_id = $1",
                &values![project_id],
            )
            .await
    }
}

/// The networking tables whose rows carry revisions and tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Networks,
    Subnets,
    Ports,
    SecurityGroups,
    SecurityGroupRules,
    Routers,
    FloatingIps,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Networks => "networks",
            Self::Subnets => "subnets",
            Self::Ports => "ports",
            Self::SecurityGroups => "security_groups",
            Self::SecurityGroupRules => "security_group_rules",
            Self::Routers => "routers",
            Self::FloatingIps => "floatingips",
        }
    }
}

/// Sets columns of a row and bumps its revision and update time.
pub(crate) async fn update_in(
    tx: &mut Tx,
    table: Table,
    id: &str,
    changes: &[(&str, SqlValue)],
    now: i64,
) -> StoreResult<()> {
    let mut q = Sql::new(&format!(
        "UPDATE {} SET revision_number = revision_number + 1, updated_at = ",
        table.name()
    ));
    let at = q.bind(now);
    q.push(&at);
    for (column, value) in changes {
        // Column names come from the domain's fixed lists, never the wire.
        debug_assert!(column.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        let v = q.bind(value.clone());
        q.push(&format!(", {column} = {v}"));
    }
    let key = q.bind(id);
    q.push(&format!(" WHERE id = {key}"));
    missing_if_none(tx.execute(&q.sql, &q.binds).await?)
}

/// Changes a project's count of `resource` by `delta`; `LimitExceeded`
/// when an increase takes it past `limit` (-1: none).
pub(crate) async fn count_in(
    tx: &mut Tx,
    project_id: &str,
    resource: &str,
    delta: i64,
    limit: i64,
) -> StoreResult<()> {
    // The cloud's own ports (router gateways, floating IPs' addresses)
    // belong to no project and count against none.
    if project_id.is_empty() {
        return Ok(());
    }
    let (count,): (i64,) = tx
        .upsert_reading(
            "INSERT INTO network_usage (project_id, resource, in_use) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, resource) \
             DO UPDATE SET in_use = network_usage.in_use + excluded.in_use",
            "in_use",
            "SELECT in_use FROM network_usage WHERE project_id = $1 AND resource = $2",
            &values![project_id, resource, delta],
        )
        .await?;
    if delta > 0 && limit >= 0 && count > limit {
        return Err(StoreError::LimitExceeded);
    }
    Ok(())
}

async fn untag(tx: &mut Tx, id: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM network_tags WHERE resource_id = $1",
        &values![id],
    )
    .await
    .map(drop)
}

/// Whether two CIDRs (`addr/len`, both one IP version) share an address.
fn overlaps(a: &str, b: &str) -> bool {
    match (a.parse::<ipnet::IpNet>(), b.parse::<ipnet::IpNet>()) {
        (Ok(a), Ok(b)) => a.contains(&b.network()) || b.contains(&a.network()),
        _ => false,
    }
}
