//! Ports and their fixed addresses. A port is made or changed through a
//! [`PortTx`], a view of a transaction — the networking API's own
//! ([`NetworkTx`]) or a server create's, so a server and its ports are
//! one commit. The domain picks addresses and claims each; a claim is an
//! insert keyed by (network, address), so an address is never held twice,
//! however requests race.

use super::rows::{PortIpRow, PortRow};
use super::{NetworkingRepo, Scope, Table, count_in, untag, update_in};
use crate::db::{Sql, SqlValue, Tx, values};
use crate::{StoreResult, missing_if_none};

impl NetworkingRepo<'_> {
    /// Begins making or changing ports.
    pub async fn begin_ports(&self) -> StoreResult<NetworkTx> {
        Ok(NetworkTx {
            tx: self.db.begin().await?,
        })
    }

    pub async fn port(&self, id: &str) -> StoreResult<Option<PortRow>> {
        self.db
            .optional("SELECT * FROM ports WHERE id = $1", &values![id])
            .await
    }

    /// The ports a scope sees (its own, and those on its networks),
    /// narrowed by network and device when given, oldest first.
    pub async fn ports(
        &self,
        scope: &Scope,
        network_id: Option<&str>,
        device_id: Option<&str>,
    ) -> StoreResult<Vec<PortRow>> {
        let mut q = ports_seen(ALL_PORTS, scope, network_id, device_id);
        q.push(" ORDER BY p.created_at, p.id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// One page of [`Self::ports`]: at most `limit` ports after the one
    /// with id `after` (from the first without it); none when `after` is
    /// not among them. The ports' order is an index's, so a page costs
    /// about its own size when the caller sees most of the ports.
    pub async fn ports_page(
        &self,
        scope: &Scope,
        network_id: Option<&str>,
        device_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<PortRow>> {
        // SQLite, without statistics, plans a project's scope as an OR of
        // two indexes and a sort of all its ports (16 ms at 52,000);
        // walking the listing order's own index stops after the page
        // (0.2 ms), and costs no more than that sort when the project has
        // few of the ports. A device's ports keep their own index.
        let from = if device_id.is_none() && matches!(self.db, crate::db::Db::Sqlite(_)) {
            "SELECT p.* FROM ports p INDEXED BY ports_created"
        } else {
            ALL_PORTS
        };
        let mut q = ports_seen(from, scope, network_id, device_id);
        if let Some(marker) = after {
            let mut m = ports_seen(ALL_PORTS, scope, network_id, device_id);
            let id = m.bind(marker);
            m.push(&format!(" AND p.id = {id}"));
            let Some(marker) = self.db.optional::<PortRow>(&m.sql, &m.binds).await? else {
                return Ok(Vec::new());
            };
            let (at, id) = (q.bind(marker.created_at), q.bind(marker.id));
            q.push(&format!(" AND (p.created_at, p.id) > ({at}, {id})"));
        }
        let limit = q.bind(limit);
        q.push(&format!(" ORDER BY p.created_at, p.id LIMIT {limit}"));
        self.db.scan(&q.sql, &q.binds).await
    }

    /// The fixed addresses of each of `ports`, in the order they were
    /// given.
    pub async fn port_ips(&self, ports: &[&str]) -> StoreResult<Vec<PortIpRow>> {
        self.by_ids(
            "SELECT port_id, subnet_id, ip_address FROM port_ips WHERE port_id IN (",
            ") ORDER BY port_id, position",
            ports,
        )
        .await
    }

    /// The security groups of each of `ports`: (port, group) pairs.
    pub async fn port_groups(&self, ports: &[&str]) -> StoreResult<Vec<(String, String)>> {
        self.by_ids(
            "SELECT port_id, security_group_id FROM port_security_groups WHERE port_id IN (",
            ") ORDER BY port_id, security_group_id",
            ports,
        )
        .await
    }

    /// Rows of `head` + the ids as a list + `tail`, the ids taken in
    /// chunks the engines' parameter limits allow.
    pub(super) async fn by_ids<T: crate::db::Record>(
        &self,
        head: &str,
        tail: &str,
        ids: &[&str],
    ) -> StoreResult<Vec<T>> {
        let mut rows = Vec::new();
        for chunk in ids.chunks(500) {
            let mut q = Sql::new(head);
            let list = q.bind_list(chunk.iter().map(|id| SqlValue::from(*id)));
            q.push(&list);
            q.push(tail);
            rows.extend(self.db.scan(&q.sql, &q.binds).await?);
        }
        Ok(rows)
    }

    /// Deletes a port with its addresses and group memberships.
    pub async fn delete_port(&self, id: &str, project_id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        remove_port(&mut tx, id, project_id).await?;
        tx.commit().await
    }
}

/// Deletes a port in `tx`: its addresses, group memberships and tags go,
/// the floating IPs associated with it are let go (as Neutron does), and
/// its count is given back; `NotFound` when there is no such port.
pub(crate) async fn remove_port(tx: &mut Tx, id: &str, project_id: &str) -> StoreResult<()> {
    tx.execute(
        "UPDATE floatingips SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL, \
         revision_number = revision_number + 1 WHERE port_id = $1",
        &values![id],
    )
    .await?;
    tx.execute("DELETE FROM port_ips WHERE port_id = $1", &values![id])
        .await?;
    tx.execute(
        "DELETE FROM port_security_groups WHERE port_id = $1",
        &values![id],
    )
    .await?;
    let deleted = tx
        .execute("DELETE FROM ports WHERE id = $1", &values![id])
        .await?;
    missing_if_none(deleted)?;
    untag(tx, id).await?;
    count_in(tx, project_id, "port", -1, -1).await
}

/// Lets go of a device's ports in `tx`: the ones made for it are
/// deleted (their counts given back), the ones a user gave it
/// (`preserve_on_delete`) unbound; `only` narrows this to one port.
pub(crate) async fn release_device_ports(
    tx: &mut Tx,
    device_id: &str,
    only: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let ports: Vec<(String, String, bool)> = tx
        .fetch_all(
            "SELECT id, project_id, preserve_on_delete FROM ports WHERE device_id = $1",
            &values![device_id],
        )
        .await?;
    for (id, project_id, preserve) in ports {
        if only.is_some_and(|o| o != id) {
            continue;
        }
        if preserve {
            update_in(
                tx,
                Table::Ports,
                &id,
                &[
                    ("device_id", "".into()),
                    ("device_owner", "".into()),
                    ("binding_host_id", "".into()),
                    ("status", "DOWN".into()),
                    ("preserve_on_delete", false.into()),
                    ("device_tag", None::<String>.into()),
                ],
                now,
            )
            .await?;
            continue;
        }
        remove_port(tx, &id, &project_id).await?;
    }
    Ok(())
}

/// A fixed address kept the way servers had them before networking
/// existed (the `fixed_ips` table), with what its port needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyFixedIp {
    pub network_id: String,
    pub address: String,
    pub mac: String,
    pub instance_uuid: String,
    pub project_id: String,
    pub host: Option<String>,
    pub zone: Option<String>,
}

impl crate::db::Record for LegacyFixedIp {
    fn decode(row: &impl crate::db::Columns) -> Result<Self, crate::db::DecodeError> {
        Ok(Self {
            network_id: row.column("network_id")?,
            address: row.column("address")?,
            mac: row.column("mac")?,
            instance_uuid: row.column("instance_uuid")?,
            project_id: row.column("project_id")?,
            host: row.column("host")?,
            zone: row.column("availability_zone")?,
        })
    }
}

impl NetworkingRepo<'_> {
    /// The fixed addresses of live servers still kept the old way, by
    /// server and NIC.
    pub async fn legacy_fixed_ips(&self) -> StoreResult<Vec<LegacyFixedIp>> {
        self.db
            .scan(
                "SELECT f.network_id, f.address, f.mac, f.instance_uuid, i.project_id, i.host, \
                 i.availability_zone FROM fixed_ips f JOIN instances i ON i.uuid = f.instance_uuid \
                 WHERE i.deleted = FALSE ORDER BY f.instance_uuid, f.position, f.version, f.address",
                &[],
            )
            .await
    }
}

impl NetworkTx {
    /// Forgets the addresses kept the old way (once they are ports).
    pub async fn forget_legacy_fixed_ips(&mut self) -> StoreResult<()> {
        self.tx
            .execute("DELETE FROM fixed_ips", &[])
            .await
            .map(drop)
    }
}

/// A transaction of the networking API; dropped without
/// [`NetworkTx::commit`], nothing of it happened.
pub struct NetworkTx {
    tx: Tx,
}

impl NetworkTx {
    /// Port changes inside this transaction.
    pub fn ports(&mut self) -> PortTx<'_> {
        PortTx::new(&mut self.tx)
    }

    /// Router and floating IP changes inside this transaction.
    pub fn routers(&mut self) -> super::RouterTx<'_> {
        super::RouterTx::new(&mut self.tx)
    }

    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await
    }
}

/// Port changes inside someone's transaction.
pub struct PortTx<'t> {
    tx: &'t mut Tx,
    /// Where new ports are counted when their counts are left to the end
    /// of the transaction (a server's create); `None`: counted at once.
    uncounted: Option<&'t mut UncountedPorts>,
}

/// Ports a transaction made and has not counted yet, per project, with
/// the limit each project's count must stay within.
#[derive(Debug, Default)]
pub(crate) struct UncountedPorts(Vec<(String, i64, i64)>);

impl UncountedPorts {
    fn add(&mut self, project_id: &str, limit: i64) {
        match self.0.iter_mut().find(|(p, _, _)| p == project_id) {
            Some((_, n, _)) => *n += 1,
            None => self.0.push((project_id.to_owned(), 1, limit)),
        }
    }

    /// Counts them; `LimitExceeded` when a project goes past its limit.
    pub(crate) async fn count(self, tx: &mut Tx) -> StoreResult<()> {
        for (project_id, n, limit) in self.0 {
            count_in(tx, &project_id, "port", n, limit).await?;
        }
        Ok(())
    }
}

impl<'t> PortTx<'t> {
    pub(crate) fn new(tx: &'t mut Tx) -> Self {
        Self {
            tx,
            uncounted: None,
        }
    }

    /// Ports made through it are counted by `uncounted` later.
    pub(crate) fn counting_later(tx: &'t mut Tx, uncounted: &'t mut UncountedPorts) -> Self {
        Self {
            tx,
            uncounted: Some(uncounted),
        }
    }

    /// Takes the next value of a counter (the address walk of a subnet).
    pub async fn next_value(&mut self, counter: &str) -> StoreResult<i64> {
        self.tx.next_value(counter).await
    }

    /// Whether a MAC is in use on a network.
    pub async fn mac_in_use(&mut self, network_id: &str, mac: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = self
            .tx
            .fetch_optional(
                "SELECT id FROM ports WHERE network_id = $1 AND mac_address = $2",
                &values![network_id, mac],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Stores a new port, counted against its project's `limit` (-1:
    /// none); false (nothing stored) when its id, or its MAC on its
    /// network, is taken.
    pub async fn insert_port(&mut self, p: &PortRow, limit: i64) -> StoreResult<bool> {
        let stored = self
            .tx
            .execute(
                "INSERT INTO ports (id, project_id, network_id, name, description, mac_address, \
                 admin_state_up, status, device_id, device_owner, port_security_enabled, \
                 allowed_address_pairs, binding_host_id, binding_vnic_type, binding_profile, \
                 dns_name, preserve_on_delete, device_tag, revision_number, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, $21) ON CONFLICT DO NOTHING",
                &values![
                    &p.id,
                    &p.project_id,
                    &p.network_id,
                    &p.name,
                    &p.description,
                    &p.mac_address,
                    p.admin_state_up,
                    &p.status,
                    &p.device_id,
                    &p.device_owner,
                    p.port_security_enabled,
                    &p.allowed_address_pairs,
                    &p.binding_host_id,
                    &p.binding_vnic_type,
                    &p.binding_profile,
                    &p.dns_name,
                    p.preserve_on_delete,
                    p.device_tag.clone(),
                    p.revision_number,
                    p.created_at,
                    p.updated_at
                ],
            )
            .await?;
        if stored == 0 {
            return Ok(false);
        }
        match &mut self.uncounted {
            Some(uncounted) => uncounted.add(&p.project_id, limit),
            None => count_in(self.tx, &p.project_id, "port", 1, limit).await?,
        }
        Ok(true)
    }

    /// Claims an address for a port; false when another port holds it.
    pub async fn claim_ip(
        &mut self,
        network_id: &str,
        ip: &PortIpRow,
        position: i64,
    ) -> StoreResult<bool> {
        let claimed = self
            .tx
            .execute(
                "INSERT INTO port_ips (network_id, ip_address, port_id, subnet_id, ip_version, \
                 position) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &values![
                    network_id,
                    &ip.ip_address,
                    &ip.port_id,
                    &ip.subnet_id,
                    if ip.ip_address.contains(':') {
                        6_i64
                    } else {
                        4
                    },
                    position
                ],
            )
            .await?;
        Ok(claimed == 1)
    }

    /// Lets go of every address of a port (before claiming its new set).
    pub async fn release_ips(&mut self, port_id: &str) -> StoreResult<()> {
        self.tx
            .execute("DELETE FROM port_ips WHERE port_id = $1", &values![port_id])
            .await
            .map(drop)
    }

    /// Replaces the security groups of a port.
    pub async fn set_groups(&mut self, port_id: &str, groups: &[String]) -> StoreResult<()> {
        self.tx
            .execute(
                "DELETE FROM port_security_groups WHERE port_id = $1",
                &values![port_id],
            )
            .await?;
        for group in groups {
            self.tx
                .execute(
                    "INSERT INTO port_security_groups (port_id, security_group_id) \
                     VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &values![port_id, group],
                )
                .await?;
        }
        Ok(())
    }

    /// Puts a new port in groups.
    pub async fn add_groups(&mut self, port_id: &str, groups: &[String]) -> StoreResult<()> {
        for group in groups {
            self.tx
                .execute(
                    "INSERT INTO port_security_groups (port_id, security_group_id) \
                     VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &values![port_id, group],
                )
                .await?;
        }
        Ok(())
    }

    /// Plugs a port a user made into a device (with the device's `tag`
    /// for it), unless something is plugged in already (false): it stays
    /// when the device goes.
    pub async fn bind_port(
        &mut self,
        id: &str,
        device: (&str, &str, Option<&str>),
        host: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let (device_id, device_owner, tag) = device;
        let bound = self
            .tx
            .execute(
                "UPDATE ports SET device_id = $2, device_owner = $3, binding_host_id = $4, \
                 status = 'ACTIVE', preserve_on_delete = TRUE, updated_at = $5, device_tag = $6, \
                 revision_number = revision_number + 1 WHERE id = $1 AND device_id = ''",
                &values![id, device_id, device_owner, host, now, tag],
            )
            .await?;
        Ok(bound == 1)
    }

    /// Sets columns of a port, bumping its revision.
    pub async fn update_port(
        &mut self,
        id: &str,
        changes: &[(&str, SqlValue)],
        now: i64,
    ) -> StoreResult<()> {
        update_in(self.tx, Table::Ports, id, changes, now).await
    }
}

const ALL_PORTS: &str = "SELECT p.* FROM ports p";

/// The SELECT (`from`, which names the table `p`) of the ports a scope
/// sees, narrowed by network and device.
fn ports_seen(from: &str, scope: &Scope, network_id: Option<&str>, device_id: Option<&str>) -> Sql {
    let mut q = Sql::new(&format!("{from} WHERE TRUE"));
    if let Scope::Project(project) = scope {
        let p = q.bind(project);
        q.push(&format!(
            " AND (p.project_id = {p} OR p.network_id IN \
             (SELECT id FROM networks WHERE project_id = {p}))"
        ));
    }
    if let Some(network) = network_id {
        let n = q.bind(network);
        q.push(&format!(" AND p.network_id = {n}"));
    }
    if let Some(device) = device_id {
        let d = q.bind(device);
        q.push(&format!(" AND p.device_id = {d}"));
    }
    q
}
