//! The create transaction: quota claim, numbering, the new rows and
//! their ports, committed together.

use super::write::{add_usage, claim_usage, claim_usage_adding};
use super::{InstanceRepo, InstanceRow, InstanceUsage};
use crate::db::Tx;
use crate::db::values;
use crate::instance_actions::{ActionStep, record_action_step};
use crate::networking::UncountedPorts;
use crate::{Backend, StoreResult};

impl InstanceRepo<'_> {
    // --- creation --------------------------------------------------------

    /// Starts the transaction that creates instances of `project_id`. It
    /// first takes the project's lock row, so concurrent creates of one
    /// project check their quota one after the other (SQLite: the write
    /// lock; PostgreSQL: the row lock), and never both pass on one slot.
    /// A create whose checks read more than the project's usage (a user's
    /// own limits, a server group's members and hosts) begins so.
    pub async fn begin_create(&self, project_id: &str) -> StoreResult<CreateTx> {
        let mut tx = self.db.begin().await?;
        let usage = claim_usage(&mut tx, project_id).await?;
        Ok(CreateTx {
            tx,
            project_id: project_id.to_owned(),
            usage,
            claimed: true,
            added: InstanceUsage::default(),
            written: InstanceUsage::default(),
            uncounted_ports: UncountedPorts::default(),
        })
    }

    /// Starts a create transaction that reads the project's usage without
    /// taking its row, which [`CreateTx::claim`] takes just before the
    /// commit, where the caller checks its quota again. On PostgreSQL the
    /// row is then held for three statements and the commit rather than the
    /// whole create (a project's creates waited for each other through
    /// all of it). SQLite has one writer, which the transaction holds
    /// from its start: there it is [`Self::begin_create`].
    pub async fn begin_create_claiming_last(&self, project_id: &str) -> StoreResult<CreateTx> {
        if self.backend == Backend::Sqlite {
            return self.begin_create(project_id).await;
        }
        let mut tx = self.db.begin().await?;
        let usage: Option<(i64, i64, i64)> = tx
            .fetch_optional(
                "SELECT instances, cores, ram FROM project_usage WHERE project_id = $1",
                &values![project_id],
            )
            .await?;
        Ok(CreateTx {
            tx,
            project_id: project_id.to_owned(),
            usage: usage.map(InstanceUsage::from).unwrap_or_default(),
            claimed: false,
            added: InstanceUsage::default(),
            written: InstanceUsage::default(),
            uncounted_ports: UncountedPorts::default(),
        })
    }
}

/// The transaction of one create request (see [`InstanceRepo::begin_create`]).
pub struct CreateTx {
    tx: Tx,
    project_id: String,
    /// The project's usage when the transaction took its row (or read
    /// it, not claimed yet).
    usage: InstanceUsage,
    /// Whether the transaction holds the project's usage row.
    claimed: bool,
    /// The ports it made, counted at the commit, after the project's
    /// usage row (the order every transaction takes the two in).
    uncounted_ports: UncountedPorts,
    /// What the instances inserted so far add to it.
    added: InstanceUsage,
    /// The part of `added` already written to the usage row.
    written: InstanceUsage,
}

impl CreateTx {
    /// The project's usage, as of this transaction.
    pub fn usage(&self) -> InstanceUsage {
        self.usage.plus(self.added)
    }

    /// Takes the project's usage row unless the transaction holds it
    /// already; returns the project's usage without what this
    /// transaction adds, which now no other create can change before the
    /// commit. Taken last, the row gets what the instances inserted so
    /// far add in the same statement: on PostgreSQL every create of the
    /// project waits for this row until the commit, and each statement
    /// fewer in between is one round trip less that they all wait.
    pub async fn claim(&mut self) -> StoreResult<InstanceUsage> {
        if !self.claimed {
            self.usage = claim_usage_adding(&mut self.tx, &self.project_id, self.added).await?;
            self.written = self.added;
            self.claimed = true;
        }
        Ok(self.usage)
    }

    /// Reserves `n` consecutive values of a counter; returns the first.
    pub async fn next_values(&mut self, counter: &str, n: i64) -> StoreResult<i64> {
        self.tx.next_values(counter, n).await
    }

    /// What `user_id`'s instances of the project consume, as this
    /// transaction sees it (the project's lock keeps it still).
    pub async fn user_usage(&mut self, user_id: &str) -> StoreResult<InstanceUsage> {
        let row: (i64, i64, i64) = self
            .tx
            .fetch_one(super::USER_USAGE, &values![&self.project_id, user_id])
            .await?;
        Ok(InstanceUsage::from(row))
    }

    /// How many live servers of server group `group` are on each host
    /// (servers not placed yet are not counted), as this transaction sees
    /// it: the project's lock serialises the creates that add to it.
    pub async fn group_hosts(&mut self, group: &str) -> StoreResult<Vec<(String, i64)>> {
        self.tx
            .fetch_all(
                "SELECT host, COUNT(*) FROM instances WHERE server_group = $1 \
                 AND deleted = FALSE AND host IS NOT NULL GROUP BY host ORDER BY host",
                &values![group],
            )
            .await
    }

    /// How many live servers of `user_id` server group `group` has.
    pub async fn group_members_of(&mut self, group: &str, user_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = self
            .tx
            .fetch_one(
                "SELECT COUNT(*) FROM instances WHERE server_group = $1 AND user_id = $2 \
                 AND deleted = FALSE",
                &values![group, user_id],
            )
            .await?;
        Ok(n)
    }

    /// Inserts an instance with its metadata, tags and addresses.
    pub async fn insert(&mut self, i: &InstanceRow) -> StoreResult<()> {
        self.tx
            .execute(
                "INSERT INTO instances (uuid, seq, project_id, user_id, display_name, \
                 display_description, hostname, reservation_id, launch_index, image_ref, \
                 image_properties, flavor_id, flavor, vcpus, memory_mb, root_gb, ephemeral_gb, \
                 key_name, key_data, user_data, availability_zone, pinned_availability_zone, host, \
                 node, vm_state, task_state, power_state, progress, access_ip_v4, access_ip_v6, \
                 auto_disk_config, config_drive, root_device_name, locked_by, locked_reason, \
                 security_groups, scheduler_hints, trusted_certs, fault, created_at, updated_at, \
                 launched_at, terminated_at, deleted_at, deleted, server_group) VALUES ($1, $2, $3, \
                 $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
                 $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, \
                 $39, $40, $41, $42, $43, $44, $45, $46)",
                &values![
                    &i.uuid,
                    i.seq,
                    &i.project_id,
                    &i.user_id,
                    &i.display_name,
                    i.display_description.as_deref(),
                    &i.hostname,
                    &i.reservation_id,
                    i.launch_index,
                    &i.image_ref,
                    &i.image_properties,
                    &i.flavor_id,
                    &i.flavor,
                    i.vcpus,
                    i.memory_mb,
                    i.root_gb,
                    i.ephemeral_gb,
                    i.key_name.as_deref(),
                    i.key_data.as_deref(),
                    i.user_data.as_deref(),
                    i.availability_zone.as_deref(),
                    i.pinned_availability_zone.as_deref(),
                    i.host.as_deref(),
                    i.node.as_deref(),
                    &i.vm_state,
                    i.task_state.as_deref(),
                    i.power_state,
                    i.progress,
                    i.access_ip_v4.as_deref(),
                    i.access_ip_v6.as_deref(),
                    i.auto_disk_config,
                    &i.config_drive,
                    i.root_device_name.as_deref(),
                    i.locked_by.as_deref(),
                    i.locked_reason.as_deref(),
                    &i.security_groups,
                    &i.scheduler_hints,
                    i.trusted_certs.as_deref(),
                    i.fault.as_deref(),
                    i.created_at,
                    i.updated_at,
                    i.launched_at,
                    i.terminated_at,
                    i.deleted_at,
                    i.deleted,
                    i.server_group.as_deref(),
                ],
            )
            .await?;
        if !i.deleted {
            self.added = self.added.plus(InstanceUsage {
                instances: 1,
                cores: i.vcpus,
                ram: i.memory_mb,
            });
        }
        for (key, value) in &i.metadata {
            self.tx
                .execute(
                    "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
                    &values![&i.uuid, key, value],
                )
                .await?;
        }
        for tag in &i.tags {
            self.tx
                .execute(
                    "INSERT INTO instance_tags (instance_uuid, tag) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &values![&i.uuid, tag],
                )
                .await?;
        }
        Ok(())
    }

    /// Port changes in this transaction (a server's ports are made with
    /// it).
    pub fn ports(&mut self) -> crate::networking::PortTx<'_> {
        crate::networking::PortTx::counting_later(&mut self.tx, &mut self.uncounted_ports)
    }

    /// Records a step of an action on an instance inserted here (its
    /// `create` action, and for a server no host took, its failed
    /// scheduling); returns the action's id.
    pub async fn record_action(&mut self, step: &ActionStep<'_>, now: i64) -> StoreResult<i64> {
        record_action_step(&mut self.tx, step, now).await
    }

    /// Adds what it made to the project's usage and its ports to the
    /// project's count, and commits. `LimitExceeded`: the ports went past
    /// the project's limit, and nothing is written.
    pub async fn commit(mut self) -> StoreResult<()> {
        self.claim().await?;
        add_usage(
            &mut self.tx,
            &self.project_id,
            self.added.minus(self.written),
        )
        .await?;
        self.uncounted_ports.count(&mut self.tx).await?;
        self.tx.commit().await
    }
}
