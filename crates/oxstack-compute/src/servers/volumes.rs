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
use oxstack_volume::{AttachmentRow, ServerAttachment, VolumeError};

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
        super::check_resting(server, caller, action, &attachable(shelved))
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
