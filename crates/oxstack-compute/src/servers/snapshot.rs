//! `createImage` and `createBackup`: a snapshot of the server's disk
//! becomes an image of the project in the image service (`queued` →
//! `saving` → `active`) while the server walks Nova's snapshot task states;
//! backups beyond `rotation` of the same kind are deleted, oldest first.

use std::collections::BTreeMap;

use bytes::Bytes;
use oxstack_image::{ImageSortKey, Query, Scope, Viewer};
use oxstack_store::instances::{StateChange, StateGuard};

use super::states::vm;
use super::{Caller, Server, refused};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// A `createImage` (no `backup`) or `createBackup` request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotRequest {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    /// `(backup_type, rotation)` for `createBackup`.
    pub backup: Option<(String, i64)>,
}

const SNAPSHOT_FROM: [&str; 4] = [vm::ACTIVE, vm::STOPPED, vm::PAUSED, vm::SUSPENDED];

impl Compute {
    /// Starts a snapshot; returns the new image's id.
    pub async fn snapshot_server(
        &self,
        caller: &Caller,
        id: &str,
        req: SnapshotRequest,
    ) -> ComputeResult<String> {
        let server = self.get_server(caller, id).await?;
        let (action, first_task) = match req.backup {
            Some(_) => ("createBackup", "image_backup"),
            None => ("createImage", "image_snapshot_pending"),
        };
        let guard = StateGuard::settled_in(&SNAPSHOT_FROM);
        let change = StateChange {
            task_state: Some(Some(first_task.into())),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo.transition(id, &guard, &change, now_micros()).await? {
            let now = self.get_server(caller, id).await?;
            return Err(refused(action, &now, &SNAPSHOT_FROM));
        }
        let image_id = match self.new_snapshot_image(&server, caller, &req).await {
            Ok(image_id) => image_id,
            Err(e) => {
                let back = StateChange {
                    task_state: Some(None),
                    ..StateChange::default()
                };
                let from = StateGuard::in_task(first_task);
                repo.transition(id, &from, &back, now_micros()).await?;
                return Err(e);
            }
        };
        let action_id = self.record_action(&server, caller, action).await?;
        let compute = self.clone();
        let uuid = server.uuid.clone();
        let image = image_id.clone();
        tokio::spawn(async move {
            if let Err(e) = compute
                .upload_snapshot(&uuid, &image, first_task, action_id, req.backup)
                .await
            {
                tracing::error!(server = %uuid, error = %e, "snapshot failed");
            }
        });
        Ok(image_id)
    }

    /// The image record a snapshot fills: private to the server's project,
    /// with Nova's snapshot properties and the requested metadata.
    pub(crate) async fn new_snapshot_image(
        &self,
        server: &Server,
        caller: &Caller,
        req: &SnapshotRequest,
    ) -> ComputeResult<String> {
        let mut image = oxstack_image::blank(uuid::Uuid::new_v4().to_string());
        image.row.name = Some(req.name.clone());
        image.row.visibility = "private".into();
        image.row.disk_format = Some("qcow2".into());
        image.row.container_format = Some("bare".into());
        image.row.min_disk = server.root_gb;
        image.properties = req.metadata.clone();
        let props = [
            ("instance_uuid", server.uuid.clone()),
            ("user_id", caller.user_id.clone()),
            ("base_image_ref", server.image_ref.clone()),
            (
                "image_type",
                if req.backup.is_some() {
                    "backup"
                } else {
                    "snapshot"
                }
                .to_owned(),
            ),
        ];
        for (k, v) in props {
            image.properties.insert(k.to_owned(), v);
        }
        if let Some((backup_type, _)) = &req.backup {
            image
                .properties
                .insert("backup_type".into(), backup_type.clone());
        }
        let viewer = Viewer {
            project_id: &server.project_id,
            is_admin: false,
        };
        let created = self
            .images
            .create(viewer, image)
            .await
            .map_err(|e| ComputeError::Invalid(e.to_string()))?;
        Ok(created.row.id)
    }

    async fn upload_snapshot(
        &self,
        uuid: &str,
        image_id: &str,
        first_task: &str,
        action_id: i64,
        backup: Option<(String, i64)>,
    ) -> ComputeResult<()> {
        let actions = self.store.instance_actions();
        let event = if backup.is_some() {
            "compute_backup_instance"
        } else {
            "compute_snapshot_instance"
        };
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        let repo = self.store.instances();
        let mut steps = vec![first_task];
        if backup.is_none() {
            steps.push("image_snapshot");
        }
        steps.extend(["image_pending_upload", "image_uploading"]);
        if !self.walk_tasks(uuid, &steps).await? {
            return Ok(());
        }
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        let uploaded = self.upload_disk(&server, image_id).await;
        let done = StateChange {
            task_state: Some(None),
            ..StateChange::default()
        };
        let from = StateGuard::in_task("image_uploading");
        repo.transition(uuid, &from, &done, now_micros()).await?;
        let error = uploaded.err();
        if let (Some((backup_type, rotation)), None) = (&backup, &error) {
            self.rotate_backups(&server, backup_type, *rotation).await?;
        }
        actions
            .finish(action_id, event, error.as_deref(), now_micros())
            .await?;
        Ok(())
    }

    /// Writes a copy of the server's disk (the fake hypervisor's: an empty
    /// qcow2 of the flavor's root size) into a `queued` image.
    pub(crate) async fn upload_disk(&self, server: &Server, image_id: &str) -> Result<(), String> {
        let disk = oxstack_image::qcow2::empty(u64::try_from(server.root_gb).unwrap_or(0) << 30);
        let viewer = Viewer {
            project_id: &server.project_id,
            is_admin: false,
        };
        let stream =
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(disk))]);
        self.images
            .upload(viewer, image_id, stream)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Deletes an image of the server's project (a shelved disk).
    pub(crate) async fn delete_project_image(&self, server: &Server, image_id: &str) {
        let viewer = Viewer {
            project_id: &server.project_id,
            is_admin: false,
        };
        if let Err(e) = self.images.delete(viewer, image_id).await {
            tracing::warn!(image = %image_id, error = %e, "deleting an image failed");
        }
    }

    /// Keeps the newest `rotation` backups of this kind of the server.
    async fn rotate_backups(
        &self,
        server: &Server,
        backup_type: &str,
        rotation: i64,
    ) -> ComputeResult<()> {
        let query = Query {
            scope: Scope::Project(server.project_id.clone()),
            visibility: None,
            name: None,
            status: None,
            owner: Some(server.project_id.clone()),
            disk_format: None,
            container_format: None,
            tags: Vec::new(),
            protected: None,
            os_hidden: None,
            size_min: None,
            size_max: None,
            properties: BTreeMap::from([
                ("instance_uuid".to_owned(), server.uuid.clone()),
                ("image_type".to_owned(), "backup".to_owned()),
                ("backup_type".to_owned(), backup_type.to_owned()),
            ]),
            id: None,
            times: Vec::new(),
            sort: vec![(ImageSortKey::CreatedAt, true)],
            limit: None,
            marker: None,
        };
        let backups = self
            .images
            .list(&query)
            .await
            .map_err(|e| ComputeError::Invalid(e.to_string()))?;
        let viewer = Viewer {
            project_id: &server.project_id,
            is_admin: false,
        };
        for old in backups.iter().skip(usize::try_from(rotation).unwrap_or(0)) {
            if let Err(e) = self.images.delete(viewer, &old.row.id).await {
                tracing::warn!(image = %old.row.id, error = %e, "rotating out a backup failed");
            }
        }
        Ok(())
    }
}
