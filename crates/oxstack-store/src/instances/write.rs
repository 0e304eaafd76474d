//! Changes to live instances: user edits, state transitions (a
//! compare-and-swap of the state columns, with what belongs to the same
//! step in the same transaction), deletion, metadata and tags.

use std::collections::BTreeMap;

use super::InstanceRepo;
use super::query::{Column, Condition, push_condition};
use super::{InstanceRow, InstanceUsage, SqlValue};
use crate::db::Tx;
use crate::db::{GatedWrites, Sql, ungated, values};
use crate::instance_actions::{ActionStep, finish_event, record_action_step};
use crate::migrations::{MigrationRow, advance_migration, insert_migration};
use crate::networking::release_device_ports;
use crate::{StoreError, StoreResult, missing_if_none};

/// One step of an instance's life, written by [`InstanceRepo::apply`] in
/// one transaction.
#[derive(Clone, Debug, Default)]
pub struct Step<'a> {
    pub guard: StateGuard,
    pub change: StateChange,
    /// With a flavor change: what the project's usage must stay within
    /// (`None`: unlimited, e.g. a revert).
    pub limits: Option<SizeLimits>,
    pub update: Option<InstanceUpdate>,
    /// Replaces the metadata; `(items, limit)` with -1 for no limit.
    pub metadata: Option<(&'a BTreeMap<String, String>, i64)>,
    pub action: Option<ActionStep<'a>>,
    pub migration: Option<MigrationStep<'a>>,
}

impl Step<'_> {
    /// Whether the step is its compare-and-swap alone, one statement.
    fn is_bare_transition(&self) -> bool {
        self.change.host.is_none() && self.action.is_none() && self.writes_only_behind_gate()
    }

    /// Whether the step's writes can all follow its compare-and-swap as
    /// [`GatedWrites`]: none of them reads first (a flavor change checks
    /// quota, metadata its limit, a migration finds its newest record),
    /// and none changes the instance's row again (an edit of its fields).
    fn writes_only_behind_gate(&self) -> bool {
        self.change.flavor.is_none()
            && self.update.is_none()
            && self.metadata.is_none()
            && self.migration.is_none()
            && self.action.is_none_or(|a| a.fits_one_statement())
    }
}

/// What a step does to the instance's newest migration.
#[derive(Clone, Copy, Debug)]
pub enum MigrationStep<'a> {
    /// A move starts: its record is written.
    Insert(&'a MigrationRow),
    /// The newest migration in one of `from` moves on to `to`.
    Advance { from: &'a [&'a str], to: &'a str },
}

/// Fields a server update may change; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceUpdate {
    pub display_name: Option<String>,
    pub display_description: Option<Option<String>>,
    pub hostname: Option<String>,
    pub access_ip_v4: Option<Option<String>>,
    pub access_ip_v6: Option<Option<String>>,
    pub auto_disk_config: Option<bool>,
    pub pinned_availability_zone: Option<Option<String>>,
    pub locked_by: Option<Option<String>>,
    pub locked_reason: Option<Option<String>>,
    /// A rebuild: the new image and what it says about the guest.
    pub image_ref: Option<String>,
    pub image_properties: Option<String>,
    pub user_data: Option<Option<String>>,
    pub trusted_certs: Option<Option<String>>,
    /// The key pair's name and its public key (set and cleared together).
    pub key_name: Option<Option<String>>,
    pub key_data: Option<Option<String>>,
    /// JSON array of security group names.
    pub security_groups: Option<String>,
    pub shelved_image_id: Option<Option<String>>,
}

/// Which states a transition starts from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateGuard {
    /// `None`: any vm_state.
    pub vm_states: Option<Vec<String>>,
    /// `None`: any task_state; otherwise one of these (None = no task).
    pub task_states: Option<Vec<Option<String>>>,
}

impl StateGuard {
    /// Any vm_state, in this task state.
    pub fn in_task(task: &str) -> Self {
        Self {
            vm_states: None,
            task_states: Some(vec![Some(task.to_owned())]),
        }
    }

    /// One of these vm_states, with no task in flight.
    pub fn settled_in(vm_states: &[&str]) -> Self {
        Self {
            vm_states: Some(vm_states.iter().map(|s| (*s).to_owned()).collect()),
            task_states: Some(vec![None]),
        }
    }
}

/// What a transition sets; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateChange {
    pub vm_state: Option<String>,
    pub task_state: Option<Option<String>>,
    pub power_state: Option<i64>,
    pub progress: Option<i64>,
    pub host: Option<Option<String>>,
    pub node: Option<Option<String>>,
    pub availability_zone: Option<Option<String>>,
    pub launched_at: Option<i64>,
    /// Set when soft-deleted (the reclaim clock), cleared on restore.
    pub deleted_at: Option<Option<i64>>,
    pub fault: Option<Option<String>>,
    /// A resize: the flavor columns to switch to.
    pub flavor: Option<FlavorColumns>,
    pub old_flavor: Option<Option<String>>,
}

/// The flavor an instance runs with: its id, the snapshot servers show,
/// and the sizes quotas count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlavorColumns {
    pub flavor_id: String,
    pub flavor: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
}

impl FlavorColumns {
    /// The flavor columns of a row.
    pub fn of(row: &InstanceRow) -> Self {
        Self {
            flavor_id: row.flavor_id.clone(),
            flavor: row.flavor.clone(),
            vcpus: row.vcpus,
            memory_mb: row.memory_mb,
            root_gb: row.root_gb,
            ephemeral_gb: row.ephemeral_gb,
        }
    }
}

/// Limits a resize must stay within (-1: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub cores: i64,
    pub ram: i64,
}

impl SizeLimits {
    /// No limit on either (Nova's -1).
    pub const UNLIMITED: Self = Self { cores: -1, ram: -1 };
}

impl InstanceRepo<'_> {
    /// Changes the user-editable fields of a live instance.
    pub async fn update(&self, uuid: &str, u: &InstanceUpdate, now: i64) -> StoreResult<()> {
        let b = update_statement(uuid, u, now);
        missing_if_none(self.db.execute(&b.sql, &b.binds).await?)
    }

    /// Compare-and-swap of the state columns: applies `change` only if the
    /// live instance is in a state `guard` allows. `Ok(false)`: it was not.
    pub async fn transition(
        &self,
        uuid: &str,
        guard: &StateGuard,
        change: &StateChange,
        now: i64,
    ) -> StoreResult<bool> {
        let step = Step {
            guard: guard.clone(),
            change: change.clone(),
            ..Step::default()
        };
        Ok(self.apply(uuid, &step, now).await?.is_some())
    }

    /// Writes one step of an instance's life in one transaction: the
    /// compare-and-swap of its state columns and everything that belongs
    /// with it — the project's usage when the flavor changes (checked
    /// against `limits` under the project's lock, so concurrent creates and
    /// resizes never over-commit), edits of its fields and metadata, the
    /// step of its instance action and of its migration. A crash therefore
    /// never leaves a task without its action, or a new flavor without its
    /// migration record.
    ///
    /// `Ok(Some(action id))` when the guard allowed it (the id of the
    /// action the step recorded or continued, if any); `Ok(None)` when the
    /// instance was not in such a state — then nothing is written, except
    /// that an [`ActionStep::Finish`] is recorded all the same (the work
    /// did end). `Err(LimitExceeded)`: the new size or the metadata does
    /// not fit, and nothing is written.
    pub async fn apply(
        &self,
        uuid: &str,
        step: &Step<'_>,
        now: i64,
    ) -> StoreResult<Option<Option<i64>>> {
        if step.is_bare_transition() {
            // One statement commits on its own: on PostgreSQL that is one
            // round trip instead of three (`BEGIN`, it, `COMMIT`).
            let statement = transition_statement(uuid, &step.guard, &step.change, now);
            let applied = self.db.execute(&statement.sql, &statement.binds).await? == 1;
            return Ok(applied.then_some(None));
        }
        if step.writes_only_behind_gate() {
            return self.apply_behind_gate(uuid, step, now).await;
        }
        let mut tx = self.db.begin().await?;
        let usage = match &step.change.flavor {
            Some(new) => Some(flavor_delta(&mut tx, uuid, new, step.limits).await?),
            None => None,
        };
        let statement = transition_statement(uuid, &step.guard, &step.change, now);
        let applied = tx.execute(&statement.sql, &statement.binds).await? == 1;
        if !applied {
            if let Some(ActionStep::Finish {
                action_id,
                event,
                error,
            }) = &step.action
            {
                finish_event(&mut tx, *action_id, event, *error, now).await?;
                tx.commit().await?;
            }
            return Ok(None);
        }
        if let Some((project_id, delta)) = usage {
            add_usage(&mut tx, &project_id, delta).await?;
        }
        if let Some(host) = &step.change.host {
            let write = bind_ports_to(uuid, host.as_deref(), now);
            tx.execute(&ungated(&write.sql), &write.binds).await?;
        }
        if let Some(u) = &step.update {
            let b = update_statement(uuid, u, now);
            tx.execute(&b.sql, &b.binds).await?;
        }
        if let Some((items, max_items)) = step.metadata {
            replace_metadata(&mut tx, uuid, items, max_items).await?;
        }
        let action_id = match &step.action {
            Some(action) => Some(record_action_step(&mut tx, action, now).await?),
            None => None,
        };
        match &step.migration {
            Some(MigrationStep::Insert(m)) => {
                insert_migration(&mut tx, m).await?;
            }
            Some(MigrationStep::Advance { from, to }) => {
                advance_migration(&mut tx, uuid, from, to, now).await?;
            }
            None => {}
        }
        tx.commit().await?;
        Ok(Some(action_id))
    }

    /// [`InstanceRepo::apply`] for a step whose writes follow its
    /// compare-and-swap without reading (one statement on PostgreSQL).
    async fn apply_behind_gate(
        &self,
        uuid: &str,
        step: &Step<'_>,
        now: i64,
    ) -> StoreResult<Option<Option<i64>>> {
        let mut action_id = None;
        let counter = step.action.as_ref().and_then(ActionStep::counter);
        let passed = self
            .db
            .write_gated(counter, |new_id| {
                let gate = transition_statement(uuid, &step.guard, &step.change, now);
                let mut writes = GatedWrites::new(gate);
                if let Some(host) = &step.change.host {
                    writes
                        .if_passed
                        .push(bind_ports_to(uuid, host.as_deref(), now));
                }
                if let Some(action) = &step.action {
                    action_id = Some(action.writes(new_id, now, &mut writes));
                }
                writes
            })
            .await?;
        Ok(passed.then_some(action_id))
    }

    /// Marks an instance deleted and frees its addresses (and forgets its
    /// password), in one transaction with the end of `event` (action id,
    /// event) of its delete action. `Ok(false)`: it was already gone.
    pub async fn finish_delete(
        &self,
        uuid: &str,
        event: Option<(i64, &str)>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let freed: Option<(String, i64, i64)> = tx
            .fetch_optional(
                "UPDATE instances SET deleted = TRUE, deleted_at = $2, terminated_at = $2, \
                 updated_at = $2, vm_state = 'deleted', task_state = NULL, power_state = 0 \
                 WHERE uuid = $1 AND deleted = FALSE RETURNING project_id, vcpus, memory_mb",
                &values![uuid, now],
            )
            .await?;
        tx.execute(
            "DELETE FROM server_passwords WHERE instance_uuid = $1",
            &values![uuid],
        )
        .await?;
        if let Some((project_id, cores, ram)) = &freed {
            let delta = InstanceUsage {
                instances: -1,
                cores: -cores,
                ram: -ram,
            };
            add_usage(&mut tx, project_id, delta).await?;
        }
        // The ports' counts after the project's usage row: a create takes
        // them in that order, and two transactions taking them in the
        // other orders deadlock on PostgreSQL.
        release_device_ports(&mut tx, uuid, None, now).await?;
        if let Some((action_id, event)) = event {
            finish_event(&mut tx, action_id, event, None, now).await?;
        }
        tx.commit().await?;
        Ok(freed.is_some())
    }

    /// Removes the port that holds `address` (all its addresses) from
    /// the instance; `false` when the instance has no such address.
    pub async fn remove_port_of(&self, uuid: &str, address: &str, now: i64) -> StoreResult<bool> {
        self.let_go_of_port(
            uuid,
            "SELECT p.id FROM ports p JOIN port_ips pi ON pi.port_id = p.id \
             WHERE p.device_id = $1 AND pi.ip_address = $2",
            address,
            now,
        )
        .await
    }

    /// Lets go of one port of the instance; `false` when the instance has
    /// no such port.
    pub async fn detach_port(&self, uuid: &str, port_id: &str, now: i64) -> StoreResult<bool> {
        self.let_go_of_port(
            uuid,
            "SELECT id FROM ports WHERE device_id = $1 AND id = $2",
            port_id,
            now,
        )
        .await
    }

    /// The port `find` names (`$1` the instance, `$2` the key) goes from
    /// the instance — deleted if made for it (its floating IPs let go),
    /// else unbound.
    async fn let_go_of_port(
        &self,
        uuid: &str,
        find: &str,
        key: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let port: Option<(String,)> = tx.fetch_optional(find, &values![uuid, key]).await?;
        let Some((port,)) = port else {
            return Ok(false);
        };
        release_device_ports(&mut tx, uuid, Some(&port), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    // --- metadata ------------------------------------------------------

    /// Writes metadata of a live instance: replaces the whole set, or
    /// merges `items` into it; then the count must stay within
    /// `max_items` (-1: unlimited), else nothing changes and
    /// `Err(LimitExceeded)` is returned.
    pub async fn write_metadata(
        &self,
        uuid: &str,
        items: &BTreeMap<String, String>,
        replace: bool,
        max_items: i64,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        if replace {
            tx.execute(
                "DELETE FROM instance_metadata WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        }
        for (key, value) in items {
            tx.execute(
                "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (instance_uuid, key) DO UPDATE SET value = excluded.value",
                &values![uuid, key, value],
            )
            .await?;
        }
        let (count,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM instance_metadata WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        if max_items >= 0 && count > max_items {
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one metadata item; `NotFound` when absent.
    pub async fn delete_metadata(&self, uuid: &str, key: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        let done = tx
            .execute(
                "DELETE FROM instance_metadata WHERE instance_uuid = $1 AND key = $2",
                &values![uuid, key],
            )
            .await?;
        missing_if_none(done)?;
        tx.commit().await?;
        Ok(())
    }

    // --- tags ------------------------------------------------------------

    /// Replaces (`replace`) or extends the tags of a live instance; the
    /// result may hold at most `max_tags`. Returns whether anything was added.
    pub async fn write_tags(
        &self,
        uuid: &str,
        tags: &[String],
        replace: bool,
        max_tags: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        if replace {
            tx.execute(
                "DELETE FROM instance_tags WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        }
        let mut added = false;
        for tag in tags {
            let done = tx
                .execute(
                    "INSERT INTO instance_tags (instance_uuid, tag) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &values![uuid, tag],
                )
                .await?;
            added |= done > 0;
        }
        let (count,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM instance_tags WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        if count > max_tags {
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Deletes one tag (`Some`) or all tags (`None`); `NotFound` when a
    /// named tag is absent.
    pub async fn delete_tags(&self, uuid: &str, tag: Option<&str>, now: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        match tag {
            Some(tag) => {
                let done = tx
                    .execute(
                        "DELETE FROM instance_tags WHERE instance_uuid = $1 AND tag = $2",
                        &values![uuid, tag],
                    )
                    .await?;
                missing_if_none(done)?;
            }
            None => {
                tx.execute(
                    "DELETE FROM instance_tags WHERE instance_uuid = $1",
                    &values![uuid],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The server's ports are bound where it runs (Neutron's
/// `binding:host_id`, which Nova updates when a server moves; a build's
/// placement finds them bound there already).
fn bind_ports_to(uuid: &str, host: Option<&str>, now: i64) -> Sql {
    Sql::with(
        "UPDATE ports SET binding_host_id = $2, updated_at = $3, \
         revision_number = revision_number + 1 \
         WHERE device_id = $1 AND binding_host_id <> $2 AND {gate}",
        Vec::from(values![uuid, host.unwrap_or_default(), now]),
    )
}

/// The UPDATE of a state transition (see [`InstanceRepo::transition`]).
pub(crate) fn transition_statement(
    uuid: &str,
    guard: &StateGuard,
    change: &StateChange,
    now: i64,
) -> Sql {
    let mut b = Sql::new("UPDATE instances AS i SET updated_at = ");
    let p = b.bind(SqlValue::from(now));
    b.push(&p);
    if let Some(vm) = &change.vm_state {
        let p = b.bind(SqlValue::from(vm.clone()));
        b.push(&format!(", vm_state = {p}"));
    }
    set_nullable(&mut b, "task_state", &change.task_state);
    set_nullable(&mut b, "host", &change.host);
    set_nullable(&mut b, "node", &change.node);
    set_nullable(&mut b, "availability_zone", &change.availability_zone);
    set_nullable(&mut b, "fault", &change.fault);
    set_nullable(&mut b, "old_flavor", &change.old_flavor);
    if let Some(f) = &change.flavor {
        let text = [("flavor_id", &f.flavor_id), ("flavor", &f.flavor)];
        for (column, value) in text {
            let p = b.bind(SqlValue::from(value.clone()));
            b.push(&format!(", {column} = {p}"));
        }
        let ints = [
            ("vcpus", f.vcpus),
            ("memory_mb", f.memory_mb),
            ("root_gb", f.root_gb),
            ("ephemeral_gb", f.ephemeral_gb),
        ];
        for (column, value) in ints {
            let p = b.bind(SqlValue::from(value));
            b.push(&format!(", {column} = {p}"));
        }
    }
    for (column, value) in [
        ("power_state", change.power_state),
        ("progress", change.progress),
        ("launched_at", change.launched_at),
    ] {
        if let Some(v) = value {
            let p = b.bind(SqlValue::from(v));
            b.push(&format!(", {column} = {p}"));
        }
    }
    match change.deleted_at {
        Some(Some(t)) => {
            let p = b.bind(SqlValue::from(t));
            b.push(&format!(", deleted_at = {p}"));
        }
        Some(None) => b.push(", deleted_at = NULL"),
        None => {}
    }
    let p = b.bind(SqlValue::from(uuid.to_owned()));
    b.push(&format!(" WHERE uuid = {p} AND deleted = FALSE"));
    guard_clause(&mut b, guard);
    b
}

/// `, column = value` (or NULL) when the change names the column.
fn set_nullable(b: &mut Sql, column: &str, value: &Option<Option<String>>) {
    match value {
        Some(Some(v)) => {
            let p = b.bind(SqlValue::from(v.clone()));
            b.push(&format!(", {column} = {p}"));
        }
        Some(None) => b.push(&format!(", {column} = NULL")),
        None => {}
    }
}

fn guard_clause(b: &mut Sql, guard: &StateGuard) {
    if let Some(vm) = &guard.vm_states {
        push_condition(
            b,
            &Condition::In(
                Column::VmState,
                vm.iter().cloned().map(SqlValue::from).collect(),
            ),
        );
    }
    if let Some(tasks) = &guard.task_states {
        push_condition(b, &Condition::TaskStateIn(tasks.clone()));
    }
}

/// Takes a project's usage row for the rest of the transaction and reads
/// it: quota checks of one project then run one after the other on both
/// engines (SQLite: the write lock; PostgreSQL: the row lock taken by the
/// upsert, even when it changes nothing).
pub(crate) async fn claim_usage(tx: &mut Tx, project_id: &str) -> StoreResult<InstanceUsage> {
    claim_usage_adding(tx, project_id, InstanceUsage::default()).await
}

/// Takes a project's usage row (made if missing) and adds `delta` to it,
/// in one statement; returns the usage before the addition.
pub(super) async fn claim_usage_adding(
    tx: &mut Tx,
    project_id: &str,
    delta: InstanceUsage,
) -> StoreResult<InstanceUsage> {
    let after: (i64, i64, i64) = tx
        .upsert_reading(
            "INSERT INTO project_usage (project_id, instances, cores, ram) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project_id) DO UPDATE SET \
             instances = project_usage.instances + excluded.instances, \
             cores = project_usage.cores + excluded.cores, ram = project_usage.ram + excluded.ram",
            "instances, cores, ram",
            "SELECT instances, cores, ram FROM project_usage WHERE project_id = $1",
            &values![project_id, delta.instances, delta.cores, delta.ram],
        )
        .await?;
    Ok(InstanceUsage::from(after).minus(delta))
}

/// Adds `delta` to a project's usage row (taken by [`claim_usage`] or
/// written since the instances it counts exist).
pub(super) async fn add_usage(
    tx: &mut Tx,
    project_id: &str,
    delta: InstanceUsage,
) -> StoreResult<()> {
    if delta == InstanceUsage::default() {
        return Ok(());
    }
    tx.execute(
        "UPDATE project_usage SET instances = instances + $2, cores = cores + $3, ram = ram + $4 \
         WHERE project_id = $1",
        &values![project_id, delta.instances, delta.cores, delta.ram],
    )
    .await?;
    Ok(())
}

/// Bumps `updated_at` of a live instance inside a transaction; `NotFound`
/// when it is gone.
async fn touch_live(tx: &mut Tx, uuid: &str, now: i64) -> StoreResult<()> {
    let done = tx
        .execute(
            "UPDATE instances SET updated_at = $2 WHERE uuid = $1 AND deleted = FALSE",
            &values![uuid, now],
        )
        .await?;
    missing_if_none(done)
}

/// The UPDATE of a user edit (see [`InstanceRepo::update`]).
fn update_statement(uuid: &str, u: &InstanceUpdate, now: i64) -> Sql {
    let mut b = Sql::new("UPDATE instances AS i SET updated_at = ");
    let p = b.bind(SqlValue::from(now));
    b.push(&p);
    let required = |v: &Option<String>| v.clone().map(Some);
    set_nullable(&mut b, "display_name", &required(&u.display_name));
    set_nullable(&mut b, "display_description", &u.display_description);
    set_nullable(&mut b, "hostname", &required(&u.hostname));
    set_nullable(&mut b, "access_ip_v4", &u.access_ip_v4);
    set_nullable(&mut b, "access_ip_v6", &u.access_ip_v6);
    set_nullable(
        &mut b,
        "pinned_availability_zone",
        &u.pinned_availability_zone,
    );
    set_nullable(&mut b, "locked_by", &u.locked_by);
    set_nullable(&mut b, "locked_reason", &u.locked_reason);
    set_nullable(&mut b, "image_ref", &required(&u.image_ref));
    set_nullable(&mut b, "image_properties", &required(&u.image_properties));
    set_nullable(&mut b, "user_data", &u.user_data);
    set_nullable(&mut b, "trusted_certs", &u.trusted_certs);
    set_nullable(&mut b, "key_name", &u.key_name);
    set_nullable(&mut b, "key_data", &u.key_data);
    set_nullable(&mut b, "security_groups", &required(&u.security_groups));
    set_nullable(&mut b, "shelved_image_id", &u.shelved_image_id);
    if let Some(auto) = u.auto_disk_config {
        let p = b.bind(SqlValue::from(auto));
        b.push(&format!(", auto_disk_config = {p}"));
    }
    let p = b.bind(SqlValue::from(uuid.to_owned()));
    b.push(&format!(" WHERE uuid = {p} AND deleted = FALSE"));
    b
}

/// Claims the project's usage row of an instance whose flavor changes to
/// `new` and checks the change against `limits`; returns the project and
/// what its usage changes by.
async fn flavor_delta(
    tx: &mut Tx,
    uuid: &str,
    new: &FlavorColumns,
    limits: Option<SizeLimits>,
) -> StoreResult<(String, InstanceUsage)> {
    let current: Option<(String, i64, i64)> = tx
        .fetch_optional(
            "SELECT project_id, vcpus, memory_mb FROM instances WHERE uuid = $1",
            &values![uuid],
        )
        .await?;
    let (project_id, cores, ram) = current.ok_or(StoreError::NotFound)?;
    let used = claim_usage(tx, &project_id).await?;
    let limits = limits.unwrap_or(SizeLimits::UNLIMITED);
    let over = |limit: i64, used: i64, old: i64, new: i64| {
        limit >= 0 && new > old && used - old + new > limit
    };
    if over(limits.cores, used.cores, cores, new.vcpus)
        || over(limits.ram, used.ram, ram, new.memory_mb)
    {
        return Err(StoreError::LimitExceeded);
    }
    let delta = InstanceUsage {
        instances: 0,
        cores: new.vcpus - cores,
        ram: new.memory_mb - ram,
    };
    Ok((project_id, delta))
}

/// Replaces the metadata of an instance; the count must stay within
/// `max_items` (-1: unlimited).
async fn replace_metadata(
    tx: &mut Tx,
    uuid: &str,
    items: &BTreeMap<String, String>,
    max_items: i64,
) -> StoreResult<()> {
    if max_items >= 0 && i64::try_from(items.len()).unwrap_or(i64::MAX) > max_items {
        return Err(StoreError::LimitExceeded);
    }
    tx.execute(
        "DELETE FROM instance_metadata WHERE instance_uuid = $1",
        &values![uuid],
    )
    .await?;
    for (key, value) in items {
        tx.execute(
            "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
            &values![uuid, key, value],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use crate::Store;

    /// What a task transition writes (`transition_statement`): with none
    /// of these in an index, PostgreSQL updates the row where it is and
    /// no index ("HOT"), and SQLite moves no index entry.
    const TRANSITION_COLUMNS: [&str; 7] = [
        "updated_at",
        "vm_state",
        "task_state",
        "power_state",
        "progress",
        "launched_at",
        "fault",
    ];

    async fn indexed_columns(store: &Store, sql: &str) -> Vec<String> {
        let rows: Vec<(String,)> = store.db.scan(sql, &[]).await.unwrap();
        rows.into_iter().map(|(column,)| column).collect()
    }

    fn assert_untouched(indexed: &[String]) {
        assert!(indexed.iter().any(|c| c == "uuid"), "read: {indexed:?}");
        for column in TRANSITION_COLUMNS {
            assert!(!indexed.iter().any(|c| c == column), "{column} is indexed");
        }
    }

    #[tokio::test]
    async fn no_index_of_instances_holds_what_a_task_transition_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        let sql = "SELECT ii.name FROM pragma_index_list('instances') il, \
                   pragma_index_info(il.name) ii";
        assert_untouched(&indexed_columns(&store, sql).await);

        let Some(url) = crate::scratch_postgres_url("PostgreSQL's indexes not read").await else {
            return;
        };
        let store = Store::connect(&url).await.unwrap();
        let sql = "SELECT a.attname::text FROM pg_index x JOIN pg_attribute a \
                   ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) \
                   WHERE x.indrelid = 'instances'::regclass";
        assert_untouched(&indexed_columns(&store, sql).await);
    }
}
