//! Host aggregates (Nova's `os-aggregates`): named groups of compute hosts
//! with metadata. An aggregate with the `availability_zone` key is an
//! availability zone, which becomes its hosts' zone: where servers asking
//! for that zone are scheduled, and what `os-availability-zone` lists. A
//! host is in one zone at most, and a host with servers does not change
//! zones (Nova's rules and messages).

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::aggregates::{AggregateRow, ZONE_KEY};

use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// An aggregate with its hosts and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub hosts: Vec<String>,
    /// Its metadata, the zone included.
    pub metadata: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

impl Aggregate {
    /// The availability zone it makes, if any.
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get(ZONE_KEY).map(String::as_str)
    }
}

impl From<AggregateRow> for Aggregate {
    fn from(row: AggregateRow) -> Self {
        Self {
            id: row.id,
            uuid: row.uuid,
            name: row.name,
            hosts: row.hosts,
            metadata: row.metadata,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Nova's `AggregateNotFound`.
fn not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Aggregate {id} could not be found."))
}

/// Nova's `AggregateNameExists`.
fn name_taken(name: &str) -> ComputeError {
    ComputeError::Conflict(format!("Aggregate {name} already exists."))
}

/// Zones as Nova's messages list them (a Python list).
fn zone_list(zones: &[String]) -> String {
    let quoted: Vec<String> = zones.iter().map(|z| format!("'{z}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Nova's reason when the zone of a host with servers would change.
fn zone_change_reason(action: &str, from: &str, to: &str, servers: usize) -> String {
    format!(
        "The host cannot be {action} the aggregate as the availability zone of the host would \
         change from '{from}' to '{to}' but the host already has {servers} instance(s). Changing \
         the AZ of an existing instance is not supported by this action. Move the instances away \
         from this host then try again. If you need to move the instances between AZs then you \
         can use shelve_offload and unshelve to achieve this."
    )
}

impl Compute {
    fn default_zone(&self) -> &str {
        &self.settings.availability_zone
    }

    /// Every aggregate, oldest first.
    pub async fn list_aggregates(&self) -> ComputeResult<Vec<Aggregate>> {
        let rows = self.store.aggregates().list().await?;
        Ok(rows.into_iter().map(Aggregate::from).collect())
    }

    /// An aggregate by its id as the URL gave it (Nova's 400 for one that
    /// is no integer).
    pub async fn get_aggregate(&self, id: &str) -> ComputeResult<Aggregate> {
        let number: i64 = id.parse().map_err(|_| {
            ComputeError::Invalid("Invalid input received: id must be an integer".into())
        })?;
        self.store
            .aggregates()
            .get(number)
            .await?
            .map(Aggregate::from)
            .ok_or_else(|| not_found(id))
    }

    pub async fn create_aggregate(
        &self,
        name: &str,
        zone: Option<&str>,
    ) -> ComputeResult<Aggregate> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let row = self
            .store
            .aggregates()
            .create(&uuid, name, zone, now_micros())
            .await
            .map_err(|e| match e {
                StoreError::Conflict => name_taken(name),
                other => other.into(),
            })?;
        Ok(row.into())
    }

    /// Renames an aggregate and/or moves it to another zone (`Some(None)`:
    /// no zone, which Nova refuses). The name is changed first, as Nova
    /// does, even when the zone is then refused.
    pub async fn update_aggregate(
        &self,
        id: &str,
        name: Option<&str>,
        zone: Option<Option<&str>>,
    ) -> ComputeResult<Aggregate> {
        let aggregate = self.get_aggregate(id).await?;
        if let Some(name) = name {
            self.store
                .aggregates()
                .rename(aggregate.id, name, now_micros())
                .await
                .map_err(|e| match e {
                    StoreError::Conflict => name_taken(name),
                    other => other.into(),
                })?;
        }
        if let Some(zone) = zone {
            let refused = |reason: String| {
                ComputeError::Invalid(format!("Cannot update aggregate {id}. Reason: {reason}"))
            };
            let renamed = self.get_aggregate(id).await?;
            self.change_zone(&renamed, zone, refused).await?;
        }
        self.get_aggregate(id).await
    }

    /// Sets and removes (`None`) metadata keys; a zone among them follows
    /// the rules of [`Compute::update_aggregate`].
    pub async fn set_aggregate_metadata(
        &self,
        id: &str,
        changes: BTreeMap<String, Option<String>>,
    ) -> ComputeResult<Aggregate> {
        let aggregate = self.get_aggregate(id).await?;
        let mut others = changes;
        if let Some(zone) = others.remove(ZONE_KEY) {
            let refused = |reason: String| {
                ComputeError::Invalid(format!(
                    "Cannot update metadata of aggregate {id}. Reason: {reason}"
                ))
            };
            self.change_zone(
                &aggregate,
                zone.as_deref().filter(|z| !z.is_empty()),
                refused,
            )
            .await?;
        }
        if !others.is_empty() {
            self.store
                .aggregates()
                .set_metadata(aggregate.id, &others, self.default_zone(), now_micros())
                .await?;
        }
        self.get_aggregate(id).await
    }

    /// Moves an aggregate (and so its hosts) to `zone`, refusing what Nova
    /// refuses: no zone, a zone some host is kept out of by another
    /// aggregate, a new zone for hosts with servers.
    async fn change_zone(
        &self,
        aggregate: &Aggregate,
        zone: Option<&str>,
        refused: impl Fn(String) -> ComputeError,
    ) -> ComputeResult<()> {
        let Some(zone) = zone else {
            return Err(refused(format!(
                "Aggregate {} does not support empty named availability zone.",
                aggregate.name
            )));
        };
        let all = self.list_aggregates().await?;
        let conflicting = other_zones(&all, aggregate, &aggregate.hosts, zone);
        if !conflicting.is_empty() {
            return Err(refused(format!(
                "One or more hosts already in availability zone(s) {}.",
                zone_list(&conflicting)
            )));
        }
        if aggregate.availability_zone() != Some(zone) {
            for host in &aggregate.hosts {
                if !self.store.instances().on_host(host).await?.is_empty() {
                    return Err(refused(
                        "One or more hosts contain instances in this zone.".into(),
                    ));
                }
            }
        }
        let change = BTreeMap::from([(ZONE_KEY.to_owned(), Some(zone.to_owned()))]);
        self.store
            .aggregates()
            .set_metadata(aggregate.id, &change, self.default_zone(), now_micros())
            .await?;
        self.forget_services();
        Ok(())
    }

    pub async fn add_aggregate_host(&self, id: &str, host: &str) -> ComputeResult<Aggregate> {
        let known = self.list_services().await?;
        if !known.iter().any(|s| s.host == host) {
            return Err(ComputeError::NotFound(format!(
                "Compute host {host} could not be found."
            )));
        }
        let aggregate = self.get_aggregate(id).await?;
        let refused = |reason: String| {
            ComputeError::Conflict(format!(
                "Cannot add host to aggregate {id}. Reason: {reason}"
            ))
        };
        if let Some(zone) = aggregate.availability_zone() {
            let all = self.list_aggregates().await?;
            let conflicting = other_zones(&all, &aggregate, &[host.to_owned()], zone);
            if !conflicting.is_empty() {
                return Err(refused(format!(
                    "One or more hosts already in availability zone(s) {}.",
                    zone_list(&conflicting)
                )));
            }
            self.keep_servers_in_their_zone(host, zone, "added to", &refused)
                .await?;
        }
        self.store
            .aggregates()
            .add_host(aggregate.id, host, self.default_zone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    ComputeError::Conflict(format!("Aggregate {id} already has host {host}."))
                }
                other => other.into(),
            })?;
        self.forget_services();
        self.get_aggregate(id).await
    }

    pub async fn remove_aggregate_host(&self, id: &str, host: &str) -> ComputeResult<Aggregate> {
        let missing =
            || ComputeError::NotFound(format!("Cannot remove host {host} in aggregate {id}"));
        let aggregate = match self.get_aggregate(id).await {
            Err(ComputeError::NotFound(_)) => return Err(missing()),
            other => other?,
        };
        if !aggregate.hosts.iter().any(|h| h == host) {
            return Err(missing());
        }
        if aggregate.availability_zone().is_some() {
            // Its zone once it leaves: another aggregate's, or the default.
            let all = self.list_aggregates().await?;
            let next = all
                .iter()
                .filter(|a| a.id != aggregate.id && a.hosts.iter().any(|h| h == host))
                .find_map(|a| a.availability_zone())
                .unwrap_or(self.default_zone())
                .to_owned();
            let refused = |reason: String| {
                ComputeError::Conflict(format!(
                    "Cannot remove host from aggregate {id}. Reason: {reason}"
                ))
            };
            self.keep_servers_in_their_zone(host, &next, "removed from", &refused)
                .await?;
        }
        match self
            .store
            .aggregates()
            .remove_host(aggregate.id, host, self.default_zone())
            .await
        {
            Err(StoreError::NotFound) => return Err(missing()),
            other => other?,
        }
        self.forget_services();
        self.get_aggregate(id).await
    }

    /// Refuses to move a host with servers to another zone.
    async fn keep_servers_in_their_zone(
        &self,
        host: &str,
        to: &str,
        action: &str,
        refused: &impl Fn(String) -> ComputeError,
    ) -> ComputeResult<()> {
        let from = self
            .list_services()
            .await?
            .into_iter()
            .find(|s| s.host == host)
            .map(|s| s.zone)
            .unwrap_or_else(|| self.default_zone().to_owned());
        let servers = self.store.instances().on_host(host).await?.len();
        if from != to && servers > 0 {
            return Err(refused(zone_change_reason(action, &from, to, servers)));
        }
        Ok(())
    }

    /// Deletes an empty aggregate.
    pub async fn delete_aggregate(&self, id: &str) -> ComputeResult<()> {
        let aggregate = self.get_aggregate(id).await?;
        if !aggregate.hosts.is_empty() {
            return Err(ComputeError::Invalid(format!(
                "Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty."
            )));
        }
        match self.store.aggregates().delete(aggregate.id).await {
            Err(StoreError::NotFound) => Err(not_found(id)),
            other => Ok(other?),
        }
    }

    /// The zones that can be asked for: those of the enabled hosts.
    pub(crate) async fn available_zones(&self) -> ComputeResult<Vec<String>> {
        let services = self.known_services().await?;
        let mut zones: Vec<String> = services
            .iter()
            .filter(|s| !s.disabled)
            .map(|s| s.zone.clone())
            .collect();
        zones.sort();
        zones.dedup();
        Ok(zones)
    }

    /// This host's zone, as the scheduler last read it.
    pub(crate) async fn own_zone(&self) -> ComputeResult<String> {
        let services = self.known_services().await?;
        Ok(services
            .iter()
            .find(|s| s.host == self.host)
            .map_or_else(|| self.default_zone().to_owned(), |s| s.zone.clone()))
    }
}

/// The zones, other than `zone`, that other aggregates put any of `hosts`
/// in.
fn other_zones(
    all: &[Aggregate],
    aggregate: &Aggregate,
    hosts: &[String],
    zone: &str,
) -> Vec<String> {
    let mut zones: Vec<String> = all
        .iter()
        .filter(|a| a.id != aggregate.id && a.hosts.iter().any(|h| hosts.contains(h)))
        .filter_map(|a| a.availability_zone())
        .filter(|z| *z != zone)
        .map(str::to_owned)
        .collect();
    zones.sort();
    zones.dedup();
    zones
}
