//! Attachments of volumes to servers: Cinder's attachments API (3.27+:
//! reserve, connect, complete, delete) and the same steps as the compute
//! service takes them for a server's volumes. Reserving is one
//! compare-and-swap of the volume's status, so of two servers racing for
//! one volume exactly one gets it.

use std::path::PathBuf;

use oxstack_store::StoreError;
use oxstack_store::volumes::AttachmentRow;
use serde_json::{Value, json};

use crate::{BlockStorage, Caller, VolumeError, VolumeResult, new_id, now_micros};

/// A Cinder attachments API create request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttachmentRequest {
    pub volume_id: String,
    pub instance_uuid: Option<String>,
    /// The attaching host's connector; given, the attachment is
    /// connected at once.
    pub connector: Option<Value>,
    /// `rw` or `ro` (3.54).
    pub mode: Option<String>,
}

/// What a host needs to reach a volume's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub path: PathBuf,
    /// `raw` or `qcow2`.
    pub format: String,
    pub read_only: bool,
}

/// A volume a server is to hold: the block device mapping the compute
/// service asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerAttachment {
    pub volume_id: String,
    pub server_uuid: String,
    /// The server's project (its volumes must be the project's).
    pub project_id: String,
    pub device: Option<String>,
    pub tag: Option<String>,
    pub delete_on_termination: bool,
    pub boot_index: Option<i64>,
}

impl BlockStorage {
    /// An attachment the caller may see.
    async fn attachment_row(&self, caller: &Caller, id: &str) -> VolumeResult<AttachmentRow> {
        self.store()
            .volumes()
            .attachment(id)
            .await?
            .filter(|a| caller.owns(&a.project_id))
            .ok_or_else(|| VolumeError::attachment_not_found(id))
    }

    pub async fn attachment(&self, caller: &Caller, id: &str) -> VolumeResult<AttachmentRow> {
        self.attachment_row(caller, id).await
    }

    pub async fn attachments(
        &self,
        caller: &Caller,
        all_tenants: bool,
    ) -> VolumeResult<Vec<AttachmentRow>> {
        Ok(self
            .store()
            .volumes()
            .attachments(&caller.scope(all_tenants))
            .await?)
    }

    /// How a host reaches a volume's data.
    pub async fn connection(&self, volume_id: &str) -> VolumeResult<ConnectionInfo> {
        let row = self
            .store()
            .volumes()
            .volume(volume_id)
            .await?
            .ok_or_else(|| VolumeError::volume_not_found(volume_id))?;
        Ok(ConnectionInfo {
            path: self.data().volume(volume_id),
            format: row.disk_format,
            read_only: row.readonly,
        })
    }

    /// The image a volume was made from (its `volume_image_metadata`).
    pub async fn volume_image_id(&self, volume_id: &str) -> VolumeResult<Option<String>> {
        Ok(self
            .store()
            .volumes()
            .volume(volume_id)
            .await?
            .and_then(|v| crate::string_map(&v.image_metadata).remove("image_id")))
    }

    /// The connection info Cinder returns for a connected attachment.
    pub async fn connection_json(&self, a: &AttachmentRow) -> VolumeResult<Value> {
        if a.connector.is_none() {
            return Ok(json!({}));
        }
        let c = self.connection(&a.volume_id).await?;
        Ok(json!({
            "driver_volume_type": "file",
            "data": {
                "device_path": c.path.to_string_lossy(),
                "format": c.format,
                "access_mode": if c.read_only { "ro" } else { "rw" },
                "attachment_id": a.id,
            },
            "attachment_id": a.id,
            "enforce_multipath": false,
        }))
    }

    /// `POST /attachments`: reserves the volume for a server (or none);
    /// with a connector, connects it too.
    pub async fn create_attachment(
        &self,
        caller: &Caller,
        req: AttachmentRequest,
    ) -> VolumeResult<AttachmentRow> {
        caller.may_write("volume:attachment_create")?;
        let volume = self.volume_row(caller, &req.volume_id).await?;
        if volume.status.contains("error") {
            return Err(VolumeError::invalid_volume(format!(
                "Volume attachments can not be created if the volume is in an error state. The Volume {} currently has a status of: {} ",
                volume.id, volume.status
            )));
        }
        let connected = req.connector.is_some();
        let now = now_micros();
        let row = AttachmentRow {
            id: new_id(),
            volume_id: volume.id.clone(),
            project_id: volume.project_id.clone(),
            instance_uuid: req.instance_uuid.clone(),
            attach_status: if connected { "attaching" } else { "reserved" }.into(),
            attach_mode: if volume.readonly {
                "ro".into()
            } else {
                req.mode.clone().unwrap_or_else(|| "null".into())
            },
            attached_host: host_of(req.connector.as_ref()),
            mountpoint: req.connector.as_ref().map(mountpoint_of),
            connector: req.connector.as_ref().map(Value::to_string),
            bdm_uuid: None,
            boot_index: None,
            tag: None,
            delete_on_termination: false,
            attach_time: connected.then_some(now),
            created_at: now,
            updated_at: now,
        };
        let from: &[&str] = if volume.multiattach {
            &["available", "in-use", "downloading"]
        } else {
            &["available", "downloading"]
        };
        let to = if connected { "attaching" } else { "reserved" };
        self.reserve(&row, from, to, |status| {
            VolumeError::invalid_volume(format!(
                "Volume {} status must be {} to reserve, but the current status is {status}.",
                volume.id,
                if volume.multiattach {
                    "available or in-use or downloading"
                } else {
                    "available or downloading"
                }
            ))
        })
        .await?;
        Ok(row)
    }

    /// Stores a reservation; a volume in another status is refused with
    /// `refused(its status)`.
    async fn reserve(
        &self,
        row: &AttachmentRow,
        from: &[&str],
        to: &str,
        refused: impl FnOnce(&str) -> VolumeError,
    ) -> VolumeResult<()> {
        let repo = self.store().volumes();
        match repo.attach(row, from, to).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                let status = repo
                    .volume(&row.volume_id)
                    .await?
                    .map(|v| v.status)
                    .ok_or_else(|| VolumeError::volume_not_found(&row.volume_id))?;
                Err(refused(&status))
            }
            Err(StoreError::Conflict) => Err(VolumeError::invalid_volume(format!(
                "volume {} already attached",
                row.volume_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// `PUT /attachments/{id}`: connects a reserved attachment (the
    /// volume becomes `attaching`).
    pub async fn update_attachment(
        &self,
        caller: &Caller,
        id: &str,
        connector: Value,
    ) -> VolumeResult<AttachmentRow> {
        caller.may_write("volume:attachment_update")?;
        let mut row = self.attachment_row(caller, id).await?;
        let volume = self.volume_row(caller, &row.volume_id).await?;
        if volume.status.contains("error") {
            return Err(VolumeError::Conflict(format!(
                "Resource conflict: Volume attachments can not be updated if the volume is in an error state. The Volume {} currently has a status of: {} ",
                volume.id, volume.status
            )));
        }
        row.attached_host = host_of(Some(&connector));
        row.mountpoint = Some(mountpoint_of(&connector));
        if row.attach_mode == "null" {
            row.attach_mode = connector
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("rw")
                .to_owned();
        }
        row.connector = Some(connector.to_string());
        row.attach_status = "attaching".into();
        row.attach_time = Some(now_micros());
        row.updated_at = now_micros();
        // A volume already in use by another attachment stays in use.
        let volume_to = (volume.status != "in-use").then_some("attaching");
        if !self
            .store()
            .volumes()
            .update_attachment(&row, &[], volume_to)
            .await?
        {
            return Err(VolumeError::attachment_not_found(id));
        }
        Ok(row)
    }

    /// `os-complete`: the attachment is attached, its volume in use.
    pub async fn complete_attachment(&self, caller: &Caller, id: &str) -> VolumeResult<()> {
        caller.may_write("volume:attachment_complete")?;
        let mut row = self.attachment_row(caller, id).await?;
        row.attach_status = "attached".into();
        row.attach_time = row.attach_time.or(Some(now_micros()));
        row.updated_at = now_micros();
        if !self
            .store()
            .volumes()
            .update_attachment(&row, &[], Some("in-use"))
            .await?
        {
            return Err(VolumeError::attachment_not_found(id));
        }
        Ok(())
    }

    /// `DELETE /attachments/{id}`: the volume's remaining attachments.
    /// An attachment the compute service made for a server is detached
    /// through the compute API, as Cinder insists.
    pub async fn delete_attachment(
        &self,
        caller: &Caller,
        id: &str,
    ) -> VolumeResult<Vec<AttachmentRow>> {
        caller.may_write("volume:attachment_delete")?;
        let row = self.attachment_row(caller, id).await?;
        if row.bdm_uuid.is_some() && row.attach_status == "attached" {
            return Err(VolumeError::Conflict(format!(
                "ConflictNovaUsingAttachment: Detach volume from instance {} using the Compute API",
                row.instance_uuid.as_deref().unwrap_or_default()
            )));
        }
        let repo = self.store().volumes();
        repo.detach(id, now_micros()).await?;
        Ok(repo.attachments_of_volume(&row.volume_id).await?)
    }

    // --- the compute service's side ---

    /// Reserves a volume for a server (Nova's attach, or a volume of a
    /// server being created): the attachment is `attaching`, the volume
    /// too, until [`BlockStorage::attached`].
    pub async fn reserve_for_server(&self, req: &ServerAttachment) -> VolumeResult<AttachmentRow> {
        let repo = self.store().volumes();
        let volume = repo
            .volume(&req.volume_id)
            .await?
            .filter(|v| v.project_id == req.project_id)
            .ok_or_else(|| VolumeError::volume_not_found(&req.volume_id))?;
        let now = now_micros();
        let row = AttachmentRow {
            id: new_id(),
            volume_id: volume.id.clone(),
            project_id: volume.project_id.clone(),
            instance_uuid: Some(req.server_uuid.clone()),
            attach_status: "attaching".into(),
            attach_mode: if volume.readonly { "ro" } else { "rw" }.into(),
            attached_host: None,
            mountpoint: req.device.clone(),
            connector: None,
            bdm_uuid: Some(new_id()),
            boot_index: req.boot_index,
            tag: req.tag.clone(),
            delete_on_termination: req.delete_on_termination,
            attach_time: None,
            created_at: now,
            updated_at: now,
        };
        let from: &[&str] = if volume.multiattach {
            &["available", "in-use"]
        } else {
            &["available"]
        };
        let holders = repo.attachments_of_volume(&volume.id).await?;
        self.reserve(&row, from, "attaching", |status| {
            let servers: Vec<&str> = holders
                .iter()
                .filter_map(|a| a.instance_uuid.as_deref())
                .collect();
            if servers.is_empty() {
                VolumeError::invalid_volume(format!(
                    "Volume {} status must be available to reserve, but the status is {status}.",
                    volume.id
                ))
            } else {
                VolumeError::invalid_volume(format!(
                    "volume {} is already attached to instances: {}",
                    volume.id,
                    servers.join(" ")
                ))
            }
        })
        .await?;
        Ok(row)
    }

    /// The host has the volume: attached, the volume in use.
    pub async fn attached(&self, attachment: &AttachmentRow, host: &str) -> VolumeResult<bool> {
        let mut row = attachment.clone();
        row.attach_status = "attached".into();
        row.attached_host = Some(host.to_owned());
        row.connector = Some(json!({"host": host}).to_string());
        row.attach_time = Some(now_micros());
        row.updated_at = now_micros();
        Ok(self
            .store()
            .volumes()
            .update_attachment(&row, &["attaching", "attached"], Some("in-use"))
            .await?)
    }

    /// Starts a detach: the attachment and its volume are `detaching`;
    /// false when it is not attached.
    pub async fn begin_detaching(&self, attachment: &AttachmentRow) -> VolumeResult<bool> {
        let mut row = attachment.clone();
        row.attach_status = "detaching".into();
        row.updated_at = now_micros();
        Ok(self
            .store()
            .volumes()
            .update_attachment(&row, &["attached"], Some("detaching"))
            .await?)
    }

    /// Ends an attachment (a detach done, or an attach given up): the
    /// volume is free again unless other attachments hold it.
    pub async fn detached(&self, attachment_id: &str) -> VolumeResult<()> {
        self.store()
            .volumes()
            .detach(attachment_id, now_micros())
            .await?;
        Ok(())
    }

    /// Changes what a server's attachment says of itself (2.85: its
    /// delete_on_termination).
    pub async fn set_delete_on_termination(
        &self,
        attachment: &AttachmentRow,
        value: bool,
    ) -> VolumeResult<()> {
        let mut row = attachment.clone();
        row.delete_on_termination = value;
        row.updated_at = now_micros();
        self.store()
            .volumes()
            .update_attachment(&row, &[], None)
            .await?;
        Ok(())
    }

    /// A server's attachments, boot volume first.
    pub async fn server_attachments(&self, server_uuid: &str) -> VolumeResult<Vec<AttachmentRow>> {
        Ok(self
            .store()
            .volumes()
            .attachments_of_instance(server_uuid)
            .await?)
    }

    /// Attachments deleted servers still hold.
    pub async fn orphaned_attachments(&self) -> VolumeResult<Vec<AttachmentRow>> {
        Ok(self
            .store()
            .volumes()
            .attachments_of_deleted_servers()
            .await?)
    }

    /// The servers that have attachments the compute service made in
    /// transit (`attaching`, `detaching`).
    pub async fn servers_in_transit(&self) -> VolumeResult<Vec<String>> {
        let rows = self
            .store()
            .volumes()
            .attachments_in(&["attaching", "detaching"])
            .await?;
        let mut uuids: Vec<String> = rows
            .into_iter()
            .filter(|a| a.bdm_uuid.is_some())
            .filter_map(|a| a.instance_uuid)
            .collect();
        uuids.sort_unstable();
        uuids.dedup();
        Ok(uuids)
    }

    /// Deletes a volume a server held with `delete_on_termination`, once
    /// its attachment is gone (as the compute service does).
    pub async fn delete_for_server(&self, volume_id: &str) -> VolumeResult<()> {
        match self
            .store()
            .volumes()
            .begin_delete(volume_id, &["available", "error"], false, now_micros())
            .await
        {
            Ok(true) => {
                self.data().remove(volume_id).await?;
                self.store().volumes().delete_volume(volume_id).await?;
                Ok(())
            }
            Ok(false) | Err(StoreError::Conflict | StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn host_of(connector: Option<&Value>) -> Option<String> {
    connector
        .and_then(|c| c.get("host"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn mountpoint_of(connector: &Value) -> String {
    connector
        .get("mountpoint")
        .and_then(Value::as_str)
        .unwrap_or("na")
        .to_owned()
}
