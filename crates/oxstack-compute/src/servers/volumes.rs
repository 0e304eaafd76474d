//! `os-volume_attachments`: a server's volumes (its attachments in the
//! block storage service), attaching and detaching them as instance
//! actions (`attach_volume`, `detach_volume`) carried out by the server's
//! host through its driver, and what happens to them when the server
//! goes. The API request reserves the volume (one compare-and-swap, so
//! two servers racing for one volume cannot both get it) and records the
//! action with its event started; the host then attaches or detaches and
//! ends the event. A host that restarts finishes the attachments it finds
//! in transit.

use oxstack_store::instance_actions::{ActionStep, NewAction};
use oxstack_store::instances::Step;
use oxstack_virt::GuestVolume;
use oxstack_volume::{AttachmentRow, ServerAttachment, Source, VolumeError, VolumeSpec};

use super::create::BlockDevice;
use super::rules::invalid_state;
use super::{Caller, check_lock};
use crate::model::Server;
use crate::model::change::Guard;
use crate::model::states::VmState;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

const ATTACH_EVENT: &str = "compute_attach_volume";
const DETACH_EVENT: &str = "compute_detach_volume";

/// What `POST os-volume_attachments` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeAttachRequest {
    pub volume_id: String,
    pub device: Option<String>,
    /// The device tag (2.49).
    pub tag: Option<String>,
    /// Delete the volume with the server (2.79).
    pub delete_on_termination: bool,
}

/// Where Nova attaches and detaches volumes; shelved servers only from
/// 2.20 (`shelved`: the caller's microversion allows them).
fn attachable(shelved: bool) -> Vec<VmState> {
    let mut states = vec![
        VmState::Active,
        VmState::Paused,
        VmState::Stopped,
        VmState::Resized,
        VmState::SoftDeleted,
    ];
    if shelved {
        states.extend([VmState::Shelved, VmState::ShelvedOffloaded]);
    }
    states
}

/// Nova's 404 for a volume the server does not hold.
fn not_attached(server: &str, volume: &str) -> ComputeError {
    ComputeError::NotFound(format!(
        "Instance {server} is not attached to volume {volume}"
    ))
}

impl From<VolumeError> for ComputeError {
    fn from(err: VolumeError) -> Self {
        match err {
            VolumeError::NotFound(m) => Self::NotFound(m),
            VolumeError::Invalid(m) => Self::Invalid(m),
            VolumeError::Forbidden(m) | VolumeError::OverLimit(m) => Self::Forbidden(m),
            VolumeError::Conflict(m) => Self::Conflict(m),
            VolumeError::Store(e) => Self::Store(e),
            VolumeError::Io(e) => Self::Internal(e.to_string()),
        }
    }
}

impl Compute {
    /// The server's volumes (boot volume first), as Nova lists its block
    /// device mappings.
    pub async fn server_volumes(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ComputeResult<Vec<AttachmentRow>> {
        let server = self.get_server(caller, id).await?;
        Ok(self.volumes.server_attachments(&server.uuid).await?)
    }

    /// One of the server's volumes.
    pub async fn server_volume(
        &self,
        caller: &Caller,
        id: &str,
        volume_id: &str,
    ) -> ComputeResult<AttachmentRow> {
        self.server_volumes(caller, id)
            .await?
            .into_iter()
            .find(|a| a.volume_id == volume_id)
            .ok_or_else(|| not_attached(id, volume_id))
    }

    /// Checks the server's state allows volume changes now.
    fn check_volume_change(
        server: &Server,
        caller: &Caller,
        action: &str,
        shelved: bool,
    ) -> ComputeResult<()> {
        check_lock(server, caller)?;
        if !attachable(shelved).contains(&server.vm_state) {
            return Err(invalid_state(
                action,
                server,
                "vm_state",
                server.vm_state.as_str(),
            ));
        }
        if let Some(task) = server.task_state {
            return Err(invalid_state(action, server, "task_state", task.as_str()));
        }
        Ok(())
    }

    /// Attaches a volume: reserved now, attached by the server's host.
    pub async fn attach_volume(
        &self,
        caller: &Caller,
        id: &str,
        req: VolumeAttachRequest,
        shelved: bool,
    ) -> ComputeResult<AttachmentRow> {
        let server = self.get_server(caller, id).await?;
        Self::check_volume_change(&server, caller, "attach_volume", shelved)?;
        let held = self.volumes.server_attachments(&server.uuid).await?;
        let device = match req.device {
            Some(d) => {
                if held
                    .iter()
                    .any(|a| a.mountpoint.as_deref() == Some(d.as_str()))
                {
                    return Err(ComputeError::Conflict(format!(
                        "The supplied device path ({d}) is in use."
                    )));
                }
                d
            }
            None => next_device(&held),
        };
        let offloaded = server.vm_state == VmState::ShelvedOffloaded;
        if offloaded && req.tag.is_some() {
            return Err(ComputeError::Invalid(
                "Tagged volume attachment is not supported for shelved-offloaded instances.".into(),
            ));
        }
        let attachment = self
            .volumes
            .reserve_for_server(&ServerAttachment {
                volume_id: req.volume_id.clone(),
                server_uuid: server.uuid.clone(),
                project_id: server.project_id.clone(),
                device: Some(device),
                tag: req.tag,
                delete_on_termination: req.delete_on_termination,
                boot_index: None,
            })
            .await?;
        let recorded = self
            .record_volume_action(
                caller,
                &server,
                "attach_volume",
                ATTACH_EVENT,
                &attachment,
                shelved,
            )
            .await;
        match recorded {
            Ok(Some(action_id)) if offloaded => {
                // No host holds a shelved-offloaded server: the volume is
                // its at once, and the next unshelve attaches it.
                self.volumes.attached(&attachment, "").await?;
                self.finish_event(Some(action_id), ATTACH_EVENT, None)
                    .await?;
            }
            Ok(Some(_)) => self.settle_volumes_on(&server),
            Ok(None) | Err(_) => {
                // The server changed meanwhile: give the volume back.
                self.volumes.detached(&attachment.id).await?;
                recorded?;
                let now = self.get_server(caller, id).await?;
                Self::check_volume_change(&now, caller, "attach_volume", shelved)?;
                return Err(ComputeError::Conflict(format!(
                    "Cannot 'attach_volume' instance {id} while it is changing"
                )));
            }
        }
        Ok(attachment)
    }

    /// Records the action of a volume change with its event started, if
    /// the server is still in a state that allows it; its id.
    async fn record_volume_action(
        &self,
        caller: &Caller,
        server: &Server,
        record: &str,
        event: &str,
        attachment: &AttachmentRow,
        shelved: bool,
    ) -> ComputeResult<Option<i64>> {
        let args = serde_json::json!({"attachment_id": attachment.id}).to_string();
        let action = NewAction {
            instance_uuid: &server.uuid,
            request_id: &caller.request_id,
            action: record,
            project_id: &caller.project_id,
            user_id: &caller.user_id,
            args: Some(&args),
            now: now_micros(),
        };
        let guard = Guard::settled_in(&attachable(shelved));
        let step = Step {
            guard: (&guard).into(),
            action: Some(ActionStep::Accept {
                action: &action,
                event: Some(event),
                host: server.host.as_deref().unwrap_or(&self.host),
            }),
            ..Step::default()
        };
        Ok(self
            .store
            .instances()
            .apply(&server.uuid, &step, now_micros())
            .await?
            .map(|id| id.unwrap_or_default()))
    }

    /// Detaches a volume: `detaching` now, gone once the host let go.
    pub async fn detach_volume(
        &self,
        caller: &Caller,
        id: &str,
        volume_id: &str,
        shelved: bool,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        Self::check_volume_change(&server, caller, "detach_volume", shelved)?;
        let attachment = self
            .volumes
            .server_attachments(&server.uuid)
            .await?
            .into_iter()
            .find(|a| a.volume_id == volume_id)
            .ok_or_else(|| not_attached(id, volume_id))?;
        if attachment.boot_index == Some(0) {
            return Err(ComputeError::Invalid(
                "Cannot detach a root device volume".into(),
            ));
        }
        if !self.volumes.begin_detaching(&attachment).await? {
            return Err(ComputeError::Invalid(
                "Invalid volume: Invalid input received: Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach."
                    .into(),
            ));
        }
        let recorded = self
            .record_volume_action(
                caller,
                &server,
                "detach_volume",
                DETACH_EVENT,
                &attachment,
                shelved,
            )
            .await?;
        let Some(action_id) = recorded else {
            // The server changed meanwhile: the volume stays.
            self.volumes
                .attached(
                    &attachment,
                    attachment.attached_host.as_deref().unwrap_or_default(),
                )
                .await?;
            return Err(ComputeError::Conflict(format!(
                "Cannot 'detach_volume' instance {id} while it is changing"
            )));
        };
        if server.vm_state == VmState::ShelvedOffloaded {
            self.volumes.detached(&attachment.id).await?;
            self.finish_event(Some(action_id), DETACH_EVENT, None)
                .await?;
        } else {
            self.settle_volumes_on(&server);
        }
        Ok(())
    }

    /// 2.85: changes whether a volume goes with the server.
    pub async fn update_volume_attachment(
        &self,
        caller: &Caller,
        id: &str,
        volume_id: &str,
        delete_on_termination: Option<bool>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let attachment = self.server_volume(caller, id, volume_id).await?;
        if let Some(value) = delete_on_termination {
            self.volumes
                .set_delete_on_termination(&attachment, value)
                .await?;
        }
        Ok(())
    }

    /// Has the server's host finish its volumes in transit: here, or by
    /// waking that host.
    fn settle_volumes_on(&self, server: &Server) {
        let host = server.host.as_deref().unwrap_or(&self.host);
        // An embedded (SQLite) cloud is one process: its work runs here.
        let embedded = self.store.backend() != oxstack_store::Backend::Postgres;
        let here = self
            .local_host(host)
            .or_else(|| embedded.then(|| self.clone()));
        match here {
            Some(compute) => {
                let uuid = server.uuid.clone();
                tokio::spawn(async move {
                    if let Err(e) = compute.settle_volumes(&uuid).await {
                        tracing::warn!(server = %uuid, error = %e, "attaching or detaching a volume failed");
                    }
                });
            }
            None => {
                let (store, host, uuid) =
                    (self.store.clone(), host.to_owned(), server.uuid.clone());
                tokio::spawn(async move {
                    if let Err(e) = store.wake(&host, &uuid, None).await {
                        tracing::error!(server = %uuid, %host, error = %e, "waking a compute host failed");
                    }
                });
            }
        }
    }

    /// Attaches the server's `attaching` volumes and lets go of its
    /// `detaching` ones, through this host's driver, ending their actions'
    /// events.
    pub(crate) async fn settle_volumes(&self, uuid: &str) -> ComputeResult<()> {
        // Only the attachments Nova made (with a block device mapping):
        // one a client made through Cinder's attachments API is that
        // client's to connect.
        let nova_made = self.volumes.server_attachments(uuid).await?;
        for a in nova_made.into_iter().filter(|a| a.bdm_uuid.is_some()) {
            let (record, event) = match a.attach_status.as_str() {
                "attaching" => ("attach_volume", ATTACH_EVENT),
                "detaching" => ("detach_volume", DETACH_EVENT),
                _ => continue,
            };
            let done = if record == "attach_volume" {
                let volume = self.guest_volume(&a).await?;
                self.driver.attach_volume(uuid, &volume).await
            } else {
                self.driver.detach_volume(uuid, &a.volume_id).await
            };
            let error = match done {
                Ok(()) if record == "attach_volume" => {
                    self.volumes.attached(&a, &self.host).await?;
                    None
                }
                Ok(()) => {
                    self.volumes.detached(&a.id).await?;
                    None
                }
                Err(e) => {
                    tracing::warn!(server = %uuid, volume = %a.volume_id, error = %e, "{record} failed");
                    // An attach that failed gives the volume back; a
                    // detach that failed leaves it attached.
                    if record == "attach_volume" {
                        self.volumes.detached(&a.id).await?;
                    } else {
                        let host = a.attached_host.clone().unwrap_or_default();
                        self.volumes.attached(&a, &host).await?;
                    }
                    Some(e.message)
                }
            };
            let action = self
                .store
                .instance_actions()
                .latest_named(uuid, &[record])
                .await?
                .filter(|x| x.finish_time.is_none())
                .filter(|x| x.args.as_deref().is_some_and(|args| args.contains(&a.id)));
            if let Some(action) = action {
                self.finish_event(Some(action.id), event, error.as_deref())
                    .await?;
            }
        }
        Ok(())
    }

    /// What the driver needs of an attachment's volume.
    pub(crate) async fn guest_volume(&self, a: &AttachmentRow) -> ComputeResult<GuestVolume> {
        let connection = self.volumes.connection(&a.volume_id).await?;
        Ok(GuestVolume {
            volume_id: a.volume_id.clone(),
            path: connection.path,
            format: connection.format,
            device: a.mountpoint.clone(),
            read_only: connection.read_only,
            boot_index: a.boot_index,
        })
    }

    /// The server's attached volumes, for its guest spec.
    pub(crate) async fn guest_volumes(&self, uuid: &str) -> ComputeResult<Vec<GuestVolume>> {
        let mut out = Vec::new();
        for a in self.volumes.server_attachments(uuid).await? {
            if a.attach_status == "attached" || a.attach_status == "attaching" {
                out.push(self.guest_volume(&a).await?);
            }
        }
        Ok(out)
    }

    /// A deleted server's volumes: each attachment ends (the volume is
    /// available again) and those marked `delete_on_termination` go.
    pub(crate) async fn release_volumes(&self, uuid: &str) -> ComputeResult<()> {
        let held = self.volumes.server_attachments(uuid).await?;
        self.release(held).await
    }

    async fn release(&self, attachments: Vec<AttachmentRow>) -> ComputeResult<()> {
        for a in attachments {
            self.volumes.detached(&a.id).await?;
            if a.delete_on_termination {
                self.volumes.delete_for_server(&a.volume_id).await?;
            }
        }
        Ok(())
    }

    /// Releases the volumes of servers whose delete a crash cut before
    /// their volumes went.
    pub(crate) async fn release_orphaned_volumes(&self) -> ComputeResult<()> {
        let orphaned = self.volumes.orphaned_attachments().await?;
        self.release(orphaned).await
    }

    /// The servers of this host with volumes in transit (what a restart
    /// finishes).
    pub(crate) async fn servers_with_volumes_in_transit(&self) -> ComputeResult<Vec<String>> {
        let mut uuids = Vec::new();
        for uuid in self.volumes.servers_in_transit().await? {
            if let Some(server) = self.load(&uuid).await?
                && server.host.as_deref() == Some(self.host.as_str())
            {
                uuids.push(uuid);
            }
        }
        Ok(uuids)
    }
}

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

/// The first free `/dev/vdX` (`vda` is the root disk).
fn next_device(held: &[AttachmentRow]) -> String {
    ('b'..='z')
        .map(|c| format!("/dev/vd{c}"))
        .find(|d| {
            !held
                .iter()
                .any(|a| a.mountpoint.as_deref() == Some(d.as_str()))
        })
        .unwrap_or_else(|| "/dev/vdz".into())
}

/// Nova's `createImage` of a volume-backed server: a snapshot of each of
/// its volumes, and an image holding no data whose properties map them
/// (`bdm_v2`, `block_device_mapping`), from which new servers boot.
impl Compute {
    /// Whether the server boots from a volume.
    pub(crate) async fn volume_backed(&self, uuid: &str) -> ComputeResult<bool> {
        Ok(self
            .volumes
            .server_attachments(uuid)
            .await?
            .iter()
            .any(|a| a.boot_index == Some(0)))
    }

    /// Nova's rules for rebuilding a volume-backed server: its volumes
    /// all attached, and (before 2.93) the image its boot volume holds.
    pub(crate) async fn check_volume_rebuild(
        &self,
        server: &Server,
        image: &super::create::BootImage,
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
        image: &super::create::BootImage,
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
        req: &super::snapshot::SnapshotRequest,
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
            .upload(super::snapshot::project_viewer(server), &image_id, empty)
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
