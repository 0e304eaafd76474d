//! Block storage records (the Cinder v3 subset): volume types, volumes,
//! their attachments (which carry Nova's block device mapping of them),
//! snapshots and per-project usage. The rules (which status may change
//! to which, who sees what) are the volume domain's; this module keeps
//! the rows and makes each change one transaction, with every status
//! change a compare-and-swap, so racing requests cannot both win.

mod rows;

use std::collections::BTreeMap;

use crate::db::{Db, Sql, Tx, values};
use crate::{StoreError, StoreResult, missing_if_none};

pub use rows::{AttachmentRow, SnapshotRow, VolumeRow, VolumeTypeRow};

/// Which rows a listing reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeScope {
    /// Every project's (an admin's listing with `all_tenants`).
    All,
    Project(String),
}

impl VolumeScope {
    fn restrict(&self, q: &mut Sql, column: &str) {
        if let Self::Project(p) = self {
            let p = q.bind(p);
            q.push(&format!(" WHERE {column} = {p}"));
        }
    }
}

/// A project's limits of Cinder's quota resources (-1: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeLimits {
    pub volumes: i64,
    pub gigabytes: i64,
    pub snapshots: i64,
}

/// The quota resources, by Cinder's names.
pub const VOLUMES: &str = "volumes";
pub const GIGABYTES: &str = "gigabytes";
pub const SNAPSHOTS: &str = "snapshots";

/// Queries and changes over block storage records.
pub struct VolumeRepo<'a> {
    db: &'a Db,
}

impl<'a> VolumeRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    // --- types ---

    /// Stores a type; `Conflict` when its name is taken.
    pub async fn insert_type(&self, t: &VolumeTypeRow) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO volume_types (id, name, description, is_public, extra_specs, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &values![
                    &t.id,
                    &t.name,
                    t.description.clone(),
                    t.is_public,
                    &t.extra_specs,
                    t.created_at,
                    t.updated_at
                ],
            )
            .await
            .map(drop)
    }

    /// Stores the type unless one of its id exists (the cloud's default
    /// type, made at every start).
    pub async fn ensure_type(&self, t: &VolumeTypeRow) -> StoreResult<()> {
        if self.volume_type(&t.id).await?.is_none() {
            match self.insert_type(t).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub async fn volume_type(&self, id: &str) -> StoreResult<Option<VolumeTypeRow>> {
        self.db
            .optional("SELECT * FROM volume_types WHERE id = $1", &values![id])
            .await
    }

    pub async fn volume_type_named(&self, name: &str) -> StoreResult<Option<VolumeTypeRow>> {
        self.db
            .optional("SELECT * FROM volume_types WHERE name = $1", &values![name])
            .await
    }

    /// Every type, by name.
    pub async fn volume_types(&self) -> StoreResult<Vec<VolumeTypeRow>> {
        self.db
            .scan("SELECT * FROM volume_types ORDER BY name", &[])
            .await
    }

    /// Replaces a type's fields; `Conflict` when the new name is taken.
    pub async fn update_type(&self, t: &VolumeTypeRow) -> StoreResult<()> {
        let changed = self
            .db
            .execute(
                "UPDATE volume_types SET name = $2, description = $3, is_public = $4, \
                 extra_specs = $5, updated_at = $6 WHERE id = $1",
                &values![
                    &t.id,
                    &t.name,
                    t.description.clone(),
                    t.is_public,
                    &t.extra_specs,
                    t.updated_at
                ],
            )
            .await?;
        missing_if_none(changed)
    }

    /// Deletes a type no volume has: `Conflict` otherwise.
    pub async fn delete_type(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let (used,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM volumes WHERE volume_type_id = $1",
                &values![id],
            )
            .await?;
        if used > 0 {
            return Err(StoreError::Conflict);
        }
        let deleted = tx
            .execute("DELETE FROM volume_types WHERE id = $1", &values![id])
            .await?;
        missing_if_none(deleted)?;
        tx.commit().await
    }

    // --- volumes ---

    /// Stores a new volume, counted against its project's limits
    /// (`LimitExceeded` past one).
    pub async fn insert_volume(&self, v: &VolumeRow, limits: VolumeLimits) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        count_in(&mut tx, &v.project_id, VOLUMES, 1, limits.volumes).await?;
        count_in(&mut tx, &v.project_id, GIGABYTES, v.size, limits.gigabytes).await?;
        tx.execute(
            "INSERT INTO volumes (id, project_id, user_id, name, description, size, status, \
             availability_zone, volume_type_id, bootable, multiattach, readonly, source_volid, \
             snapshot_id, image_metadata, metadata, disk_format, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19)",
            &values![
                &v.id,
                &v.project_id,
                &v.user_id,
                v.name.clone(),
                v.description.clone(),
                v.size,
                &v.status,
                &v.availability_zone,
                &v.volume_type_id,
                v.bootable,
                v.multiattach,
                v.readonly,
                v.source_volid.clone(),
                v.snapshot_id.clone(),
                &v.image_metadata,
                &v.metadata,
                &v.disk_format,
                v.created_at,
                v.updated_at
            ],
        )
        .await?;
        tx.commit().await
    }

    pub async fn volume(&self, id: &str) -> StoreResult<Option<VolumeRow>> {
        self.db
            .optional("SELECT * FROM volumes WHERE id = $1", &values![id])
            .await
    }

    /// The volumes a scope sees, oldest first.
    pub async fn volumes(&self, scope: &VolumeScope) -> StoreResult<Vec<VolumeRow>> {
        let mut q = Sql::new("SELECT * FROM volumes");
        scope.restrict(&mut q, "project_id");
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Volumes in one of `statuses` (every project's): what a restart
    /// finds half done.
    pub async fn volumes_in(&self, statuses: &[&str]) -> StoreResult<Vec<VolumeRow>> {
        let mut q = Sql::new("SELECT * FROM volumes WHERE 1 = 1");
        push_in(&mut q, "status", statuses);
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Writes a volume's changeable fields (name, description, metadata,
    /// bootable, readonly, image metadata, and its data's format).
    pub async fn update_volume(&self, v: &VolumeRow) -> StoreResult<()> {
        let changed = self
            .db
            .execute(
                "UPDATE volumes SET name = $2, description = $3, metadata = $4, bootable = $5, \
                 readonly = $6, image_metadata = $7, disk_format = $8, updated_at = $9 \
                 WHERE id = $1",
                &values![
                    &v.id,
                    v.name.clone(),
                    v.description.clone(),
                    &v.metadata,
                    v.bootable,
                    v.readonly,
                    &v.image_metadata,
                    &v.disk_format,
                    v.updated_at
                ],
            )
            .await?;
        missing_if_none(changed)
    }

    /// Moves a volume from one of `from` to `to`; false when it was in
    /// none of them (another request won, or it is gone).
    pub async fn transition(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let moved = transition(&mut tx, id, from, to, now).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Grows a volume in `extending` to `size` GiB (counted against the
    /// gigabytes limit) and makes it `to`; false when it is not
    /// extending.
    pub async fn finish_extend(
        &self,
        id: &str,
        size: i64,
        to: &str,
        gigabytes: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let Some((project, old)): Option<(String, i64)> = tx
            .fetch_optional(
                "SELECT project_id, size FROM volumes WHERE id = $1 AND status = 'extending'",
                &values![id],
            )
            .await?
        else {
            return Ok(false);
        };
        count_in(&mut tx, &project, GIGABYTES, size - old, gigabytes).await?;
        tx.execute(
            "UPDATE volumes SET size = $2, status = $3, updated_at = $4 WHERE id = $1",
            &values![id, size, to, now],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a volume in `deleting` and gives its usage back; false
    /// when it is not deleting (or gone).
    pub async fn delete_volume(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let Some((project, size)): Option<(String, i64)> = tx
            .fetch_optional(
                "SELECT project_id, size FROM volumes WHERE id = $1 AND status = 'deleting'",
                &values![id],
            )
            .await?
        else {
            return Ok(false);
        };
        tx.execute(
            "DELETE FROM volume_attachments WHERE volume_id = $1",
            &values![id],
        )
        .await?;
        tx.execute("DELETE FROM volumes WHERE id = $1", &values![id])
            .await?;
        count_in(&mut tx, &project, VOLUMES, -1, -1).await?;
        count_in(&mut tx, &project, GIGABYTES, -size, -1).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts a delete: a volume in one of `from`, with no snapshot and
    /// (unless `force`) no attachment, becomes `deleting`. `Conflict`
    /// when it has snapshots or attachments; false when its status is
    /// not one of `from`.
    pub async fn begin_delete(
        &self,
        id: &str,
        from: &[&str],
        force: bool,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        // Taking the row first serializes the delete with snapshot
        // creation and attaches (PostgreSQL), so the checks below hold.
        let locked = tx
            .execute(
                "UPDATE volumes SET updated_at = updated_at WHERE id = $1",
                &values![id],
            )
            .await?;
        missing_if_none(locked)?;
        let (snapshots,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM volume_snapshots WHERE volume_id = $1",
                &values![id],
            )
            .await?;
        let (attachments,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM volume_attachments WHERE volume_id = $1",
                &values![id],
            )
            .await?;
        if snapshots > 0 || (attachments > 0 && !force) {
            return Err(StoreError::Conflict);
        }
        let moved = transition(&mut tx, id, from, "deleting", now).await?;
        tx.commit().await?;
        Ok(moved)
    }

    // --- attachments ---

    /// Stores an attachment and moves its volume from one of `from` to
    /// `to` in one transaction; false (nothing stored) when the volume
    /// was in none of them, `Conflict` when the server holds it already.
    pub async fn attach(&self, a: &AttachmentRow, from: &[&str], to: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        if !transition(&mut tx, &a.volume_id, from, to, a.created_at).await? {
            return Ok(false);
        }
        insert_attachment(&mut tx, a).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRow>> {
        self.db
            .optional(
                "SELECT * FROM volume_attachments WHERE id = $1",
                &values![id],
            )
            .await
    }

    /// A volume's attachments, oldest first.
    pub async fn attachments_of_volume(&self, volume_id: &str) -> StoreResult<Vec<AttachmentRow>> {
        self.db
            .scan(
                "SELECT * FROM volume_attachments WHERE volume_id = $1 ORDER BY created_at, id",
                &values![volume_id],
            )
            .await
    }

    /// The attachments of several volumes at once (a listing's page).
    pub async fn attachments_of_volumes(
        &self,
        volume_ids: &[&str],
    ) -> StoreResult<BTreeMap<String, Vec<AttachmentRow>>> {
        let mut out: BTreeMap<String, Vec<AttachmentRow>> = BTreeMap::new();
        for chunk in volume_ids.chunks(500) {
            let mut q = Sql::new("SELECT * FROM volume_attachments WHERE 1 = 1");
            push_in(&mut q, "volume_id", chunk);
            q.push(" ORDER BY created_at, id");
            let rows: Vec<AttachmentRow> = self.db.scan(&q.sql, &q.binds).await?;
            for row in rows {
                out.entry(row.volume_id.clone()).or_default().push(row);
            }
        }
        Ok(out)
    }

    /// A server's attachments, boot volume first, then by age.
    pub async fn attachments_of_instance(&self, uuid: &str) -> StoreResult<Vec<AttachmentRow>> {
        self.db
            .scan(
                "SELECT * FROM volume_attachments WHERE instance_uuid = $1 \
                 ORDER BY CASE WHEN boot_index = 0 THEN 0 ELSE 1 END, created_at, id",
                &values![uuid],
            )
            .await
    }

    /// Every attachment a scope sees (the attachments API's listing).
    pub async fn attachments(&self, scope: &VolumeScope) -> StoreResult<Vec<AttachmentRow>> {
        let mut q = Sql::new("SELECT * FROM volume_attachments");
        scope.restrict(&mut q, "project_id");
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Attachments still held by deleted servers (a crash came between a
    /// server's delete and the release of its volumes).
    pub async fn attachments_of_deleted_servers(&self) -> StoreResult<Vec<AttachmentRow>> {
        self.db
            .scan(
                "SELECT a.* FROM volume_attachments a JOIN instances i \
                 ON i.uuid = a.instance_uuid WHERE i.deleted = TRUE",
                &[],
            )
            .await
    }

    /// Attachments in one of `statuses` (every server's): what a restart
    /// finds in transit.
    pub async fn attachments_in(&self, statuses: &[&str]) -> StoreResult<Vec<AttachmentRow>> {
        let mut q = Sql::new("SELECT * FROM volume_attachments WHERE 1 = 1");
        push_in(&mut q, "attach_status", statuses);
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Moves an attachment from one of `from` to the fields of `a`
    /// (status, connector, host, mountpoint, mode, attach time, the
    /// mapping's tag and delete_on_termination) and, if `volume_to` is
    /// given, its volume to that status, in one transaction; false when
    /// the attachment was in none of `from`.
    pub async fn update_attachment(
        &self,
        a: &AttachmentRow,
        from: &[&str],
        volume_to: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let mut q = Sql::new(
            "UPDATE volume_attachments SET attach_status = $1, connector = $2, \
             attached_host = $3, mountpoint = $4, attach_mode = $5, attach_time = $6, \
             tag = $7, delete_on_termination = $8, instance_uuid = $9, updated_at = $10 \
             WHERE id = $11",
        );
        q.binds.extend(values![
            &a.attach_status,
            a.connector.clone(),
            a.attached_host.clone(),
            a.mountpoint.clone(),
            &a.attach_mode,
            a.attach_time,
            a.tag.clone(),
            a.delete_on_termination,
            a.instance_uuid.clone(),
            a.updated_at,
            &a.id
        ]);
        push_in(&mut q, "attach_status", from);
        if tx.execute(&q.sql, &q.binds).await? == 0 {
            return Ok(false);
        }
        if let Some(status) = volume_to {
            tx.execute(
                "UPDATE volumes SET status = $2, updated_at = $3 WHERE id = $1",
                &values![&a.volume_id, status, a.updated_at],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes an attachment; its volume becomes `in-use` if other
    /// attachments remain, else `available`. False when it was gone.
    pub async fn detach(&self, id: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let Some((volume_id,)): Option<(String,)> = tx
            .fetch_optional(
                "DELETE FROM volume_attachments WHERE id = $1 RETURNING volume_id",
                &values![id],
            )
            .await?
        else {
            return Ok(false);
        };
        settle_volume(&mut tx, &volume_id, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    // --- snapshots ---

    /// Stores a snapshot of a volume in one of `volume_statuses`
    /// (counted against the limits); false when the volume is in none.
    pub async fn insert_snapshot(
        &self,
        s: &SnapshotRow,
        volume_statuses: &[&str],
        limits: VolumeLimits,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        // The volume's row is taken, so a racing delete waits (and then
        // finds the snapshot).
        if !transition_same(&mut tx, &s.volume_id, volume_statuses).await? {
            return Ok(false);
        }
        count_in(&mut tx, &s.project_id, SNAPSHOTS, 1, limits.snapshots).await?;
        count_in(&mut tx, &s.project_id, GIGABYTES, s.size, limits.gigabytes).await?;
        tx.execute(
            "INSERT INTO volume_snapshots (id, project_id, user_id, volume_id, name, \
             description, size, status, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &values![
                &s.id,
                &s.project_id,
                &s.user_id,
                &s.volume_id,
                s.name.clone(),
                s.description.clone(),
                s.size,
                &s.status,
                &s.metadata,
                s.created_at,
                s.updated_at
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn snapshot(&self, id: &str) -> StoreResult<Option<SnapshotRow>> {
        self.db
            .optional("SELECT * FROM volume_snapshots WHERE id = $1", &values![id])
            .await
    }

    /// The snapshots a scope sees, oldest first.
    pub async fn snapshots(&self, scope: &VolumeScope) -> StoreResult<Vec<SnapshotRow>> {
        let mut q = Sql::new("SELECT * FROM volume_snapshots");
        scope.restrict(&mut q, "project_id");
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Snapshots in one of `statuses`: what a restart finds half done.
    pub async fn snapshots_in(&self, statuses: &[&str]) -> StoreResult<Vec<SnapshotRow>> {
        let mut q = Sql::new("SELECT * FROM volume_snapshots WHERE 1 = 1");
        push_in(&mut q, "status", statuses);
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Writes a snapshot's name, description and metadata.
    pub async fn update_snapshot(&self, s: &SnapshotRow) -> StoreResult<()> {
        let changed = self
            .db
            .execute(
                "UPDATE volume_snapshots SET name = $2, description = $3, metadata = $4, \
                 updated_at = $5 WHERE id = $1",
                &values![
                    &s.id,
                    s.name.clone(),
                    s.description.clone(),
                    &s.metadata,
                    s.updated_at
                ],
            )
            .await?;
        missing_if_none(changed)
    }

    /// Moves a snapshot from one of `from` to `to`; false when it was in
    /// none of them.
    pub async fn snapshot_transition(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut q = Sql::new("UPDATE volume_snapshots SET status = ");
        let to = q.bind(to);
        let now = q.bind(now);
        let id = q.bind(id);
        q.push(&format!("{to}, updated_at = {now} WHERE id = {id}"));
        push_in(&mut q, "status", from);
        Ok(self.db.execute(&q.sql, &q.binds).await? > 0)
    }

    /// Removes a snapshot in `deleting` and gives its usage back; false
    /// when it is not deleting.
    pub async fn delete_snapshot(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let Some((project, size)): Option<(String, i64)> = tx
            .fetch_optional(
                "DELETE FROM volume_snapshots WHERE id = $1 AND status = 'deleting' \
                 RETURNING project_id, size",
                &values![id],
            )
            .await?
        else {
            return Ok(false);
        };
        count_in(&mut tx, &project, SNAPSHOTS, -1, -1).await?;
        count_in(&mut tx, &project, GIGABYTES, -size, -1).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes what users made in `project` (every project if `None`):
    /// snapshots, attachments, volumes and usage; for every project also
    /// the types but those in `keep_types`. Returns the removed volumes'
    /// ids (their data files go too).
    pub async fn reset(
        &self,
        project: Option<&str>,
        keep_types: &[&str],
    ) -> StoreResult<Vec<String>> {
        let (scope, binds): (&str, Vec<crate::db::SqlValue>) = match project {
            Some(p) => ("project_id = $1", vec![p.into()]),
            None => ("1 = 1", Vec::new()),
        };
        let mut tx = self.db.begin().await?;
        let removed: Vec<(String,)> = tx
            .fetch_all(&format!("SELECT id FROM volumes WHERE {scope}"), &binds)
            .await?;
        for table in [
            "volume_snapshots",
            "volume_attachments",
            "volumes",
            "volume_usage",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE {scope}"), &binds)
                .await?;
        }
        if project.is_none() {
            let mut q = Sql::new("DELETE FROM volume_types WHERE 1 = 1");
            for id in keep_types {
                let p = q.bind(*id);
                q.push(&format!(" AND id <> {p}"));
            }
            tx.execute(&q.sql, &q.binds).await?;
        }
        tx.commit().await?;
        Ok(removed.into_iter().map(|(id,)| id).collect())
    }

    // --- usage ---

    /// What a project holds of each resource.
    pub async fn usage(&self, project_id: &str) -> StoreResult<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = self
            .db
            .scan(
                "SELECT resource, in_use FROM volume_usage WHERE project_id = $1",
                &values![project_id],
            )
            .await?;
        Ok(rows.into_iter().collect())
    }
}

/// ` AND {column} IN (...)` over `values` (nothing when empty).
fn push_in(q: &mut Sql, column: &str, values: &[&str]) {
    if values.is_empty() {
        return;
    }
    q.push(&format!(" AND {column} IN ("));
    for (i, s) in values.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        let p = q.bind(*s);
        q.push(&p);
    }
    q.push(")");
}

/// A volume's status from one of `from` to `to`, inside a transaction.
async fn transition(tx: &mut Tx, id: &str, from: &[&str], to: &str, now: i64) -> StoreResult<bool> {
    let mut q = Sql::new("UPDATE volumes SET status = ");
    let to = q.bind(to);
    let now = q.bind(now);
    let id = q.bind(id);
    q.push(&format!("{to}, updated_at = {now} WHERE id = {id}"));
    push_in(&mut q, "status", from);
    Ok(tx.execute(&q.sql, &q.binds).await? > 0)
}

/// Takes a volume's row if its status is one of `statuses`, changing
/// nothing; false when it is in none.
async fn transition_same(tx: &mut Tx, id: &str, statuses: &[&str]) -> StoreResult<bool> {
    let mut q = Sql::new("UPDATE volumes SET status = status WHERE id = ");
    let id = q.bind(id);
    q.push(&id);
    push_in(&mut q, "status", statuses);
    Ok(tx.execute(&q.sql, &q.binds).await? > 0)
}

async fn insert_attachment(tx: &mut Tx, a: &AttachmentRow) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO volume_attachments (id, volume_id, project_id, instance_uuid, \
         attach_status, attach_mode, attached_host, mountpoint, connector, bdm_uuid, \
         boot_index, tag, delete_on_termination, attach_time, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        &values![
            &a.id,
            &a.volume_id,
            &a.project_id,
            a.instance_uuid.clone(),
            &a.attach_status,
            &a.attach_mode,
            a.attached_host.clone(),
            a.mountpoint.clone(),
            a.connector.clone(),
            a.bdm_uuid.clone(),
            a.boot_index,
            a.tag.clone(),
            a.delete_on_termination,
            a.attach_time,
            a.created_at,
            a.updated_at
        ],
    )
    .await
    .map(drop)
}

/// A volume whose attachments changed: `in-use` while any remain, else
/// `available`.
async fn settle_volume(tx: &mut Tx, volume_id: &str, now: i64) -> StoreResult<()> {
    let (left,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(*) FROM volume_attachments WHERE volume_id = $1",
            &values![volume_id],
        )
        .await?;
    let status = if left > 0 { "in-use" } else { "available" };
    tx.execute(
        "UPDATE volumes SET status = $2, updated_at = $3 WHERE id = $1",
        &values![volume_id, status, now],
    )
    .await
    .map(drop)
}

/// Adds `delta` to a project's use of `resource`; `LimitExceeded` when
/// growth passes `limit` (-1: none).
async fn count_in(
    tx: &mut Tx,
    project_id: &str,
    resource: &str,
    delta: i64,
    limit: i64,
) -> StoreResult<()> {
    let (count,): (i64,) = tx
        .upsert_reading(
            "INSERT INTO volume_usage (project_id, resource, in_use) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, resource) \
             DO UPDATE SET in_use = volume_usage.in_use + excluded.in_use",
            "in_use",
            "SELECT in_use FROM volume_usage WHERE project_id = $1 AND resource = $2",
            &values![project_id, resource, delta],
        )
        .await?;
    if delta > 0 && limit >= 0 && count > limit {
        return Err(StoreError::LimitExceeded);
    }
    Ok(())
}
