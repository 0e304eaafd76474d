//! Snapshots of volumes: a copy of the volume's data at the moment it was
//! taken, from which new volumes can be made.

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::volumes::{SNAPSHOTS, SnapshotRow};

use crate::{
    BlockStorage, Caller, VolumeError, VolumeResult, map_text, new_id, now_micros, string_map,
};

/// A snapshot as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub row: SnapshotRow,
    pub metadata: BTreeMap<String, String>,
}

impl From<SnapshotRow> for Snapshot {
    fn from(row: SnapshotRow) -> Self {
        let metadata = string_map(&row.metadata);
        Self { row, metadata }
    }
}

/// A snapshot create request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotSpec {
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Snapshot an in-use volume too (below 3.66 required for one).
    pub force: bool,
    pub metadata: BTreeMap<String, String>,
}

/// Every status an admin may reset a snapshot to.
const SNAPSHOT_STATUSES: [&str; 6] = [
    "creating",
    "available",
    "deleting",
    "error",
    "error_deleting",
    "updating",
];

impl BlockStorage {
    /// A snapshot the caller may see (another project's is a 404).
    pub(crate) async fn snapshot_row(
        &self,
        caller: &Caller,
        id: &str,
    ) -> VolumeResult<SnapshotRow> {
        self.store()
            .volumes()
            .snapshot(id)
            .await?
            .filter(|s| caller.owns(&s.project_id))
            .ok_or_else(|| VolumeError::snapshot_not_found(id))
    }

    pub async fn snapshot(&self, caller: &Caller, id: &str) -> VolumeResult<Snapshot> {
        self.snapshot_row(caller, id).await.map(Snapshot::from)
    }

    pub async fn snapshots(
        &self,
        caller: &Caller,
        all_tenants: bool,
    ) -> VolumeResult<Vec<Snapshot>> {
        let rows = self
            .store()
            .volumes()
            .snapshots(&caller.scope(all_tenants))
            .await?;
        Ok(rows.into_iter().map(Snapshot::from).collect())
    }

    /// Takes a snapshot: `creating` until the volume's data is copied (in
    /// the background), then `available`.
    pub async fn create_snapshot(
        &self,
        caller: &Caller,
        spec: SnapshotSpec,
    ) -> VolumeResult<Snapshot> {
        caller.may_write("volume:create_snapshot")?;
        let volume = self.volume_row(caller, &spec.volume_id).await?;
        let allowed: &[&str] = if spec.force {
            &["available", "in-use"]
        } else {
            &["available"]
        };
        let refused = |status: &str| {
            if status == "error" {
                VolumeError::invalid_volume(
                    "The snapshot cannot be created when the volume is in error status.",
                )
            } else {
                VolumeError::invalid_volume(format!(
                    "Volume {} status must be {}, but current status is: {status}.",
                    spec.volume_id,
                    allowed.join(", ")
                ))
            }
        };
        if !allowed.contains(&volume.status.as_str()) {
            return Err(refused(&volume.status));
        }
        let now = now_micros();
        let row = SnapshotRow {
            id: new_id(),
            project_id: volume.project_id.clone(),
            user_id: caller.user_id.clone(),
            volume_id: volume.id.clone(),
            name: spec.name,
            description: spec.description,
            size: volume.size,
            status: "creating".into(),
            metadata: map_text(&spec.metadata),
            created_at: now,
            updated_at: now,
        };
        let limits = self.limits(&volume.project_id).await?;
        match self
            .store()
            .volumes()
            .insert_snapshot(&row, allowed, limits)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let now = self.volume_row(caller, &spec.volume_id).await?;
                return Err(refused(&now.status));
            }
            Err(StoreError::LimitExceeded) => {
                return Err(self
                    .over_quota(&volume.project_id, SNAPSHOTS, volume.size)
                    .await);
            }
            Err(e) => return Err(e.into()),
        }
        self.spawn_copy(row.clone());
        Ok(Snapshot::from(row))
    }

    /// Copies a `creating` snapshot's volume data in the background.
    fn spawn_copy(&self, row: SnapshotRow) {
        let storage = self.clone();
        tokio::spawn(async move {
            let data = storage.data();
            let copied = data
                .copy(&data.volume(&row.volume_id), &data.snapshot(&row.id), None)
                .await;
            let outcome = match copied {
                Ok(()) => "available",
                Err(e) => {
                    tracing::warn!(snapshot = %row.id, error = %e, "copying a snapshot's data failed");
                    "error"
                }
            };
            let _ = storage
                .store()
                .volumes()
                .snapshot_transition(&row.id, &["creating"], outcome, now_micros())
                .await;
        });
    }

    pub async fn update_snapshot(
        &self,
        caller: &Caller,
        id: &str,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> VolumeResult<Snapshot> {
        caller.may_write("volume:update_snapshot")?;
        let mut row = self.snapshot_row(caller, id).await?;
        if let Some(name) = name {
            row.name = name;
        }
        if let Some(description) = description {
            row.description = description;
        }
        if let Some(metadata) = metadata {
            row.metadata = map_text(&metadata);
        }
        row.updated_at = now_micros();
        self.store().volumes().update_snapshot(&row).await?;
        Ok(Snapshot::from(row))
    }

    /// Deletes an available (or failed) snapshot; `force` (admins) any.
    pub async fn delete_snapshot(
        &self,
        caller: &Caller,
        id: &str,
        force: bool,
    ) -> VolumeResult<()> {
        caller.may_write("volume:delete_snapshot")?;
        if force && !caller.is_admin {
            return Err(VolumeError::policy(
                "volume_extension:snapshot_admin_actions:force_delete",
            ));
        }
        self.snapshot_row(caller, id).await?;
        let from: &[&str] = if force {
            &[
                "creating",
                "available",
                "error",
                "error_deleting",
                "updating",
            ]
        } else {
            &["available", "error"]
        };
        if !self
            .store()
            .volumes()
            .snapshot_transition(id, from, "deleting", now_micros())
            .await?
        {
            return Err(VolumeError::Invalid(
                "Invalid snapshot: Snapshot status must be available or error and must not be part of a group."
                    .into(),
            ));
        }
        self.finish_snapshot_delete(id).await
    }

    pub(crate) async fn finish_snapshot_delete(&self, id: &str) -> VolumeResult<()> {
        self.data().remove_snapshot(id).await?;
        self.store().volumes().delete_snapshot(id).await?;
        Ok(())
    }

    /// `os-reset_status` of a snapshot (admins).
    pub async fn reset_snapshot_status(
        &self,
        caller: &Caller,
        id: &str,
        status: &str,
    ) -> VolumeResult<()> {
        if !caller.is_admin {
            return Err(VolumeError::policy(
                "volume_extension:snapshot_admin_actions:reset_status",
            ));
        }
        self.snapshot_row(caller, id).await?;
        if !SNAPSHOT_STATUSES.contains(&status) {
            return Err(VolumeError::Invalid(format!(
                "Snapshot status {status} not allowed for update_snapshot_status"
            )));
        }
        self.store()
            .volumes()
            .snapshot_transition(id, &[], status, now_micros())
            .await?;
        Ok(())
    }

    /// Snapshots a crash left half made are copied again, half deleted
    /// ones finish.
    pub(crate) async fn recover_snapshots(&self) -> VolumeResult<()> {
        for row in self
            .store()
            .volumes()
            .snapshots_in(&["creating", "deleting"])
            .await?
        {
            if row.status == "creating" {
                self.spawn_copy(row);
            } else {
                self.finish_snapshot_delete(&row.id).await?;
            }
        }
        Ok(())
    }
}
