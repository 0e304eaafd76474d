//! `createImage` and `createBackup`: a snapshot of the server's disk
//! becomes an image of the project in the image service (`queued` →
//! `saving` → `active`) while the server walks Nova's snapshot task states
//! on its host; backups beyond `rotation` of the same kind are deleted,
//! oldest first.

use std::collections::BTreeMap;

use oxstack_image::{ImageError, ImageSortKey, Query, Scope, Viewer};
use oxstack_virt::{DiskSnapshot, SnapshotData};

use super::Caller;
use super::flow::{Acceptance, Flow, FlowArgs, Work, finish};
use super::rules;
use crate::model::Server;
use crate::model::change::{Change, Guard};
use crate::model::states::TaskState;
use crate::{Compute, ComputeError, ComputeResult};

use TaskState as T;

/// A `createImage` (no `backup`) or `createBackup` request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotRequest {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    /// `(backup_type, rotation)` for `createBackup`.
    pub backup: Option<(String, i64)>,
}

const SNAPSHOT_STEPS: [TaskState; 4] = [
    T::ImageSnapshotPending,
    T::ImageSnapshot,
    T::ImagePendingUpload,
    T::ImageUploading,
];
const BACKUP_STEPS: [TaskState; 3] = [T::ImageBackup, T::ImagePendingUpload, T::ImageUploading];

impl Compute {
    /// Starts a snapshot; returns the new image's id.
    pub async fn snapshot_server(
        &self,
        caller: &Caller,
        id: &str,
        req: SnapshotRequest,
    ) -> ComputeResult<String> {
        let rule = match req.backup {
            Some(_) => &rules::CREATE_BACKUP,
            None => &rules::CREATE_IMAGE,
        };
        let server = self.actionable(caller, id, rule).await?;
        if !rule.allows(&server) {
            return Err(rule.refusal(&server));
        }
        if req.backup.is_none() && self.volume_backed(&server).await? {
            return self.snapshot_volume_backed(caller, &server, &req).await;
        }
        let image_id = self.new_snapshot_image(&server, caller, &req).await?;
        let args = FlowArgs {
            image_id: Some(image_id.clone()),
            backup: req.backup,
            ..FlowArgs::default()
        };
        let acceptance = Acceptance {
            args: args.clone(),
            ..Acceptance::default()
        };
        let action_id = match self.accept(caller, &server, rule, acceptance).await {
            Ok(action_id) => action_id,
            Err(e) => {
                self.delete_project_image(&server, &image_id).await;
                return Err(e);
            }
        };
        let work = Work {
            args,
            ..Work::new(Flow::Snapshot, Some(action_id))
        };
        self.dispatch(server.host.as_deref(), &server.uuid, work);
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
        image.row.min_disk = server.flavor.root_gb;
        // What the server's image said of the guest (hw_*, os_*, its
        // kernel and ramdisk) carries over, as Nova's snapshots inherit
        // the instance's image properties: the snapshot boots alike.
        image.properties.extend(server.image.properties.clone());
        let props = [
            ("instance_uuid", server.uuid.clone()),
            ("user_id", caller.user_id.clone()),
            ("base_image_ref", server.image.id.clone()),
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
        // The request's metadata comes last and wins, as in Nova (a
        // snapshot may say `image_type: test`).
        image
            .properties
            .extend(req.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        let created = self.images.create(project_viewer(server), image).await?;
        Ok(created.row.id)
    }

    /// The server's host's part: the disk is copied into the image while
    /// the server walks the snapshot task states.
    pub(crate) async fn run_snapshot(&self, uuid: &str, work: &Work) -> ComputeResult<()> {
        let (event, steps): (&str, &[TaskState]) = match work.args.backup {
            Some(_) => ("compute_backup_instance", &BACKUP_STEPS),
            None => ("compute_snapshot_instance", &SNAPSHOT_STEPS),
        };
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        let Some(at) = server
            .task_state
            .and_then(|t| steps.iter().position(|s| *s == t))
        else {
            return Ok(());
        };
        self.start_event(work.action_id, event).await?;
        if !self.walk_tasks(uuid, &steps[at..]).await? {
            return Ok(());
        }
        let uploaded = match &work.args.image_id {
            Some(image_id) => self.upload_disk(&server, image_id).await?,
            None => Err("the snapshot's image was not recorded".to_owned()),
        };
        let error = uploaded.err();
        self.step(
            uuid,
            &Guard::in_task(T::ImageUploading),
            &Change::clear_task(),
            finish(work.action_id, event, error.as_deref()),
            None,
        )
        .await?;
        match (&error, &work.args.image_id, &work.args.backup) {
            // As Nova's compute does, a snapshot that failed takes its
            // image with it rather than leaving it `queued` for ever.
            (Some(_), Some(image_id), _) => self.delete_project_image(&server, image_id).await,
            (None, _, Some((backup_type, rotation))) => {
                self.rotate_backups(&server, backup_type, *rotation).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes a copy of the server's disk, as the driver gives it, into a
    /// `queued` image (an image already `active` is left as it is: a flow
    /// resumed after a crash may find its upload done): the inner error is
    /// the failure to record on the server; the outer one (the database
    /// out of reach) ends the flow for now, to be resumed once it answers.
    pub(crate) async fn upload_disk(
        &self,
        server: &Server,
        image_id: &str,
    ) -> ComputeResult<Result<(), String>> {
        // Resumed after a crash that came once the upload was recorded:
        // the image is done already.
        match self.images.get(project_viewer(server), image_id).await {
            Ok(image) if image.row.status == "active" => return Ok(Ok(())),
            Err(ImageError::Store(e)) if e.is_unavailable() => return Err(ComputeError::Store(e)),
            _ => {}
        }
        let DiskSnapshot { data, .. } = match self.driver.snapshot(&server.uuid).await {
            Ok(snapshot) => snapshot,
            Err(e) => return Ok(Err(e.message)),
        };
        let viewer = project_viewer(server);
        let uploaded = match data {
            SnapshotData::InMemory(bytes) => {
                let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
                self.images.upload(viewer, image_id, stream).await
            }
            SnapshotData::File(path) => {
                let file = match tokio::fs::File::open(&path).await {
                    Ok(file) => file,
                    Err(e) => return Ok(Err(e.to_string())),
                };
                let stream = tokio_util::io::ReaderStream::new(file);
                let uploaded = self.images.upload(viewer, image_id, stream).await;
                let _ = tokio::fs::remove_file(&path).await;
                uploaded
            }
        };
        match uploaded {
            Ok(_) => Ok(Ok(())),
            Err(ImageError::Store(e)) if e.is_unavailable() => Err(ComputeError::Store(e)),
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    /// Deletes an image of the server's project (a shelved disk).
    pub(crate) async fn delete_project_image(&self, server: &Server, image_id: &str) {
        if let Err(e) = self.images.delete(project_viewer(server), image_id).await {
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
            owner: Some(server.project_id.clone()),
            properties: BTreeMap::from([
                ("instance_uuid".to_owned(), server.uuid.clone()),
                ("image_type".to_owned(), "backup".to_owned()),
                ("backup_type".to_owned(), backup_type.to_owned()),
            ]),
            sort: vec![(ImageSortKey::CreatedAt, true)],
            ..Query::within(Scope::Project(server.project_id.clone()))
        };
        let backups = self.images.list(&query).await?;
        for old in backups.iter().skip(usize::try_from(rotation).unwrap_or(0)) {
            if let Err(e) = self
                .images
                .delete(project_viewer(server), &old.row.id)
                .await
            {
                tracing::warn!(image = %old.row.id, error = %e, "rotating out a backup failed");
            }
        }
        Ok(())
    }
}

/// The server's project as the image service's viewer (a member of it:
/// compute's policy let the caller snapshot the server).
pub(crate) fn project_viewer(server: &Server) -> Viewer<'_> {
    Viewer {
        project_id: &server.project_id,
        is_admin: false,
        is_member: true,
    }
}
