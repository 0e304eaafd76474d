//! Volume-backed servers: the build step that makes or takes a new
//! server's volumes (its block device mapping), and what Nova does
//! differently for a server that boots from a volume — `createImage`
//! snapshots its volumes into an image that maps them, a rebuild keeps
//! (before 2.93) or re-images its boot volume.

use oxstack_store::instances::Step;
use oxstack_volume::{ServerAttachment, Source, VolumeError, VolumeSpec};

use super::Caller;
use super::create::{BlockDevice, BootImage};
use super::snapshot::{SnapshotRequest, project_viewer};
use crate::model::Server;
use crate::model::change::Guard;
use crate::{Compute, ComputeError, ComputeResult};

impl Compute {
    /// A build's volumes: each one made (from an image, a snapshot or
    /// nothing) or taken (an existing one) and attached; those the server
    /// holds already (a build resumed after a crash) are skipped. The
    /// error is the build's fault.
    pub(crate) async fn map_block_devices(
        &self,
        uuid: &str,
        devices: &[BlockDevice],
    ) -> ComputeResult<Result<(), String>> {
        if devices.is_empty() {
            return Ok(Ok(()));
        }
        let Some(server) = self.load(uuid).await? else {
            return Ok(Ok(()));
        };
        let held = self.volumes.server_attachments(uuid).await?;
        for device in devices {
            let name = device.device_name.as_str();
            if held.iter().any(|a| a.mountpoint.as_deref() == Some(name)) {
                continue;
            }
            let volume_id = match self.volume_for(&server, device).await? {
                Ok(id) => id,
                Err(message) => return Ok(Err(message)),
            };
            let reserved = self
                .volumes
                .reserve_for_server(&ServerAttachment {
                    volume_id,
                    server_uuid: uuid.to_owned(),
                    project_id: server.project_id.clone(),
                    device: Some(device.device_name.clone()),
                    tag: device.tag.clone(),
                    delete_on_termination: device.delete_on_termination,
                    boot_index: device.boot_index,
                })
                .await;
            match reserved {
                Ok(attachment) => {
                    self.volumes.attached(&attachment, &self.host).await?;
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        Ok(Ok(()))
    }

    /// The volume a block device names, or the one made for it now.
    async fn volume_for(
        &self,
        server: &Server,
        device: &BlockDevice,
    ) -> ComputeResult<Result<String, String>> {
        let source = match (device.source_type.as_str(), device.uuid.clone()) {
            ("volume", Some(id)) => return Ok(Ok(id)),
            ("image", Some(id)) => Source::Image(id),
            ("snapshot", Some(id)) => Source::Snapshot(id),
            _ => Source::Blank,
        };
        let name = match source {
            Source::Blank => format!("{}-blank-vol", server.uuid),
            _ => String::new(),
        };
        let owner = oxstack_volume::Caller {
            project_id: server.project_id.clone(),
            user_id: server.user_id.clone(),
            is_admin: false,
            can_write: true,
        };
        let spec = VolumeSpec {
            id: Some(made_volume_id(&server.uuid, &device.device_name)),
            size: device.volume_size,
            name: Some(name),
            volume_type: device.volume_type.clone(),
            source,
            ..VolumeSpec::default()
        };
        Ok(match self.volumes.create_volume_now(&owner, spec).await {
            Ok(volume) => Ok(volume.row.id),
            Err(VolumeError::Store(e)) => return Err(ComputeError::Store(e)),
            Err(e) => Err(e.to_string()),
        })
    }
}

/// The id of the volume a server's build makes for one of its block
/// devices: the same on every try, so a build resumed after a crash takes
/// the volume an earlier try made rather than making another.
fn made_volume_id(server_uuid: &str, device_name: &str) -> String {
    let namespace = uuid::Uuid::parse_str(server_uuid).unwrap_or(uuid::Uuid::nil());
    uuid::Uuid::new_v5(&namespace, device_name.as_bytes()).to_string()
}

/// Nova's `createImage` of a volume-backed server: a snapshot of each of
/// its volumes, and an image holding no data whose properties map them
/// (`bdm_v2`, `block_device_mapping`), from which new servers boot.
impl Compute {
    /// Whether the server boots from a volume (asked of the block
    /// storage service only when the server has volumes at all).
    pub(crate) async fn volume_backed(&self, server: &Server) -> ComputeResult<bool> {
        if server.volumes.is_empty() {
            return Ok(false);
        }
        Ok(self
            .volumes
            .server_attachments(&server.uuid)
            .await?
            .iter()
            .any(|a| a.boot_index == Some(0)))
    }

    /// Nova's rules for rebuilding a volume-backed server: its volumes
    /// all attached, and (before 2.93) the image its boot volume holds.
    pub(crate) async fn check_volume_rebuild(
        &self,
        server: &Server,
        image: &BootImage,
        reimage: bool,
    ) -> ComputeResult<()> {
        let held = self.volumes.server_attachments(&server.uuid).await?;
        if let Some(a) = held.iter().find(|a| a.attach_status != "attached") {
            return Err(ComputeError::Invalid(format!(
                "Invalid volume: volume '{}' status must be 'in-use'. Currently in '{}' status",
                a.volume_id, a.attach_status
            )));
        }
        if reimage {
            return Ok(());
        }
        let boot = held.iter().find(|a| a.boot_index == Some(0));
        let own = match boot {
            Some(a) => self.volumes.volume_image_id(&a.volume_id).await?,
            None => None,
        };
        if own.as_deref() != Some(image.id.as_str()) {
            return Err(ComputeError::Invalid(format!(
                "Image {} is unacceptable: Unable to rebuild with a different image for a volume-backed server.",
                image.id
            )));
        }
        Ok(())
    }

    /// Writes another image into the server's boot volume (a 2.93
    /// rebuild); nothing when it holds that image already.
    pub(crate) async fn reimage_boot_volume(
        &self,
        uuid: &str,
        image: &BootImage,
    ) -> ComputeResult<()> {
        let held = self.volumes.server_attachments(uuid).await?;
        let Some(boot) = held.iter().find(|a| a.boot_index == Some(0)) else {
            return Ok(());
        };
        if self
            .volumes
            .volume_image_id(&boot.volume_id)
            .await?
            .as_deref()
            == Some(image.id.as_str())
        {
            return Ok(());
        }
        self.volumes.reimage(&boot.volume_id, &image.id).await?;
        Ok(())
    }

    /// Snapshots the server's volumes and records the image that maps
    /// them (active, no data) with the `createImage` action; its id.
    pub(crate) async fn snapshot_volume_backed(
        &self,
        caller: &Caller,
        server: &Server,
        req: &SnapshotRequest,
    ) -> ComputeResult<String> {
        let owner = oxstack_volume::Caller {
            project_id: server.project_id.clone(),
            user_id: caller.user_id.clone(),
            is_admin: false,
            can_write: true,
        };
        let mut mappings = Vec::new();
        for a in self.volumes.server_attachments(&server.uuid).await? {
            let volume = self.volumes.volume(&owner, &a.volume_id).await?;
            let snapshot = self
                .volumes
                .create_snapshot(
                    &owner,
                    oxstack_volume::SnapshotSpec {
                        volume_id: a.volume_id.clone(),
                        name: Some(format!("snapshot for {}", req.name)),
                        description: volume.row.description.clone(),
                        force: true,
                        metadata: Default::default(),
                    },
                )
                .await?;
            mappings.push(serde_json::json!({
                "source_type": "snapshot",
                "destination_type": "volume",
                "snapshot_id": snapshot.row.id,
                "boot_index": a.boot_index,
                "delete_on_termination": a.delete_on_termination,
                "volume_size": volume.row.size,
                "device_name": a.mountpoint,
                "tag": a.tag,
            }));
        }
        let mut request = req.clone();
        for (k, v) in [
            ("root_device_name", "/dev/vda".to_owned()),
            ("bdm_v2", "True".to_owned()),
            (
                "block_device_mapping",
                serde_json::Value::Array(mappings).to_string(),
            ),
        ] {
            request.metadata.entry(k.to_owned()).or_insert(v);
        }
        let image_id = self.new_snapshot_image(server, caller, &request).await?;
        // The image holds no data (its volumes' snapshots do): active, empty.
        let empty = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::new())]);
        self.images
            .upload(project_viewer(server), &image_id, empty)
            .await?;
        self.record_done(
            caller,
            server,
            "createImage",
            &["compute_snapshot_volume_backed"],
            &Guard::any(),
            Step::default(),
        )
        .await?;
        Ok(image_id)
    }
}
