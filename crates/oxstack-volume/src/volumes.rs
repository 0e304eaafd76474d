//! Volumes: creation (blank, or with the data of an image, a snapshot or
//! another volume), their status machine, updates, extension, uploads to
//! the image service and deletion, with Cinder's rules and messages.

use std::collections::BTreeMap;

use oxstack_image::Viewer;
use oxstack_store::StoreError;
use oxstack_store::volumes::{AttachmentRow, GIGABYTES, VOLUMES, VolumeRow};

use crate::data::GIB;
use crate::{
    BlockStorage, Caller, VolumeError, VolumeResult, map_text, new_id, now_micros, string_map,
};

/// Where a new volume's data comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Source {
    #[default]
    Blank,
    Image(String),
    Snapshot(String),
    Volume(String),
}

/// A volume create request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    /// The id the volume takes (`None`: a new one). Nova's build names
    /// the volumes it makes, so a build resumed after a crash finds the
    /// one it made before instead of making a second.
    pub id: Option<String>,
    /// GiB; `None` takes the source's size.
    pub size: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A type's id or name; `None`: the default type.
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub source: Source,
    pub metadata: BTreeMap<String, String>,
}

/// What a volume update changes (`None`: kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeChange {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `os-volume_upload_image`: the image to make of a volume's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageUpload {
    pub image_name: String,
    pub force: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub visibility: Option<String>,
    pub protected: bool,
}

/// A volume as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub row: VolumeRow,
    pub type_name: String,
    pub metadata: BTreeMap<String, String>,
    pub image_metadata: BTreeMap<String, String>,
    /// Every attachment, whatever its status.
    pub attachments: Vec<AttachmentRow>,
}

impl Volume {
    /// The attachments that are complete (the only ones Cinder shows).
    pub fn attached(&self) -> impl Iterator<Item = &AttachmentRow> {
        self.attachments
            .iter()
            .filter(|a| a.attach_status == "attached")
    }
}

/// Statuses a volume may be deleted in (without `force`).
const DELETABLE: [&str; 5] = [
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

/// Every status an admin may reset a volume to.
pub(crate) const STATUSES: [&str; 22] = [
    "creating",
    "available",
    "reserved",
    "attaching",
    "in-use",
    "detaching",
    "deleting",
    "error",
    "error_deleting",
    "error_restoring",
    "error_extending",
    "error_managing",
    "managing",
    "maintenance",
    "restoring-backup",
    "awaiting-transfer",
    "backing-up",
    "error_backing-up",
    "downloading",
    "uploading",
    "retyping",
    "extending",
];

/// The statuses a restart finds work half done in.
const IN_TRANSIT: [&str; 4] = ["creating", "deleting", "extending", "uploading"];

impl BlockStorage {
    /// The image service's view of the caller.
    fn viewer<'a>(&self, caller: &'a Caller) -> Viewer<'a> {
        Viewer {
            project_id: &caller.project_id,
            is_admin: caller.is_admin,
            is_member: caller.can_write,
        }
    }

    /// A volume the caller may see (another project's is a 404).
    pub(crate) async fn volume_row(&self, caller: &Caller, id: &str) -> VolumeResult<VolumeRow> {
        self.store()
            .volumes()
            .volume(id)
            .await?
            .filter(|v| caller.owns(&v.project_id))
            .ok_or_else(|| VolumeError::volume_not_found(id))
    }

    pub async fn volume(&self, caller: &Caller, id: &str) -> VolumeResult<Volume> {
        let row = self.volume_row(caller, id).await?;
        let attachments = self.store().volumes().attachments_of_volume(id).await?;
        let names = self.type_names().await?;
        Ok(volume_of(row, attachments, &names))
    }

    /// The volumes the caller sees (every project's for an admin asking
    /// for `all_tenants`), oldest first.
    pub async fn volumes(&self, caller: &Caller, all_tenants: bool) -> VolumeResult<Vec<Volume>> {
        let repo = self.store().volumes();
        let rows = repo.volumes(&caller.scope(all_tenants)).await?;
        let ids: Vec<&str> = rows.iter().map(|v| v.id.as_str()).collect();
        let mut attachments = repo.attachments_of_volumes(&ids).await?;
        let names = self.type_names().await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let of = attachments.remove(&row.id).unwrap_or_default();
                volume_of(row, of, &names)
            })
            .collect())
    }

    async fn type_names(&self) -> VolumeResult<BTreeMap<String, String>> {
        Ok(self
            .store()
            .volumes()
            .volume_types()
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect())
    }

    /// Creates a volume: it is `creating` until its data is written (in
    /// the background), then `available` (`error` if that failed).
    pub async fn create_volume(&self, caller: &Caller, spec: VolumeSpec) -> VolumeResult<Volume> {
        let (row, type_name) = self.admit_volume(caller, spec).await?;
        self.spawn_fill(row.clone());
        Ok(volume_of(
            row.clone(),
            Vec::new(),
            &BTreeMap::from([(row.volume_type_id, type_name)]),
        ))
    }

    /// Creates a volume and writes its data before answering (a server's
    /// build making its volumes): `available` when it returns. Given the
    /// id of a volume made before, answers that one, after finishing its
    /// data if a crash cut its creation.
    pub async fn create_volume_now(
        &self,
        caller: &Caller,
        spec: VolumeSpec,
    ) -> VolumeResult<Volume> {
        let repo = self.store().volumes();
        let earlier = match &spec.id {
            Some(id) => repo.volume(id).await?,
            None => None,
        };
        let row = match earlier {
            // Made by an earlier try: finish it if it was cut short.
            Some(row) if row.status != "creating" => return self.volume(caller, &row.id).await,
            Some(row) => row,
            None => self.admit_volume(caller, spec).await?.0,
        };
        if let Err(e) = self.fill(&row).await {
            repo.transition(&row.id, &["creating"], "error", now_micros())
                .await?;
            return Err(e);
        }
        repo.transition(&row.id, &["creating"], "available", now_micros())
            .await?;
        self.volume(caller, &row.id).await
    }

    /// Checks a create and stores the new volume, `creating`; the row
    /// and its type's name.
    async fn admit_volume(
        &self,
        caller: &Caller,
        spec: VolumeSpec,
    ) -> VolumeResult<(VolumeRow, String)> {
        caller.may_write("volume:create")?;
        let volume_type = match &spec.volume_type {
            Some(t) => self.volume_type(caller, t).await.map_err(|_| {
                VolumeError::NotFound(format!("Volume type with name {t} could not be found."))
            })?,
            None => self.default_volume_type().await?,
        };
        let zone = self.settings().availability_zone.clone();
        if let Some(asked) = &spec.availability_zone
            && *asked != zone
        {
            return Err(VolumeError::Invalid(format!(
                "Availability zone '{asked}' is invalid."
            )));
        }
        let mut row = VolumeRow {
            id: spec.id.unwrap_or_else(new_id),
            project_id: caller.project_id.clone(),
            user_id: caller.user_id.clone(),
            name: spec.name,
            description: spec.description,
            size: 0,
            status: "creating".into(),
            availability_zone: zone,
            volume_type_id: volume_type.row.id.clone(),
            bootable: false,
            multiattach: volume_type
                .extra_specs
                .get("multiattach")
                .is_some_and(|v| v.eq_ignore_ascii_case("<is> True")),
            readonly: false,
            source_volid: None,
            snapshot_id: None,
            image_metadata: "{}".into(),
            metadata: map_text(&spec.metadata),
            disk_format: "raw".into(),
            created_at: now_micros(),
            updated_at: now_micros(),
        };
        let size = self
            .source_into(caller, &spec.source, spec.size, &mut row)
            .await?;
        if size < 1 {
            return Err(VolumeError::invalid_input(format!(
                "Volume size '{size}' must be an integer and greater than 0"
            )));
        }
        row.size = size;
        let limits = self.limits(&caller.project_id).await?;
        match self.store().volumes().insert_volume(&row, limits).await {
            Ok(()) => {}
            Err(StoreError::LimitExceeded) => {
                return Err(self.over_quota(&caller.project_id, VOLUMES, size).await);
            }
            Err(e) => return Err(e.into()),
        }
        Ok((row, volume_type.row.name))
    }

    /// Checks the source of a new volume and takes what the volume
    /// inherits from it; returns the volume's size.
    async fn source_into(
        &self,
        caller: &Caller,
        source: &Source,
        size: Option<i64>,
        row: &mut VolumeRow,
    ) -> VolumeResult<i64> {
        match source {
            Source::Blank => size.ok_or_else(|| {
                VolumeError::invalid_input(
                    "Volume size 'None' must be an integer and greater than 0",
                )
            }),
            Source::Image(id) => {
                let image = self
                    .0
                    .images
                    .get(self.viewer(caller), id)
                    .await
                    .map_err(|_| {
                        VolumeError::Invalid(
                            "Invalid image identifier or unable to access requested image.".into(),
                        )
                    })?;
                let size = size.ok_or_else(|| {
                    VolumeError::invalid_input(
                        "Volume size 'None' must be an integer and greater than 0",
                    )
                })?;
                if image.row.status != "active" {
                    return Err(VolumeError::invalid_input(format!(
                        "Image {id} is not active."
                    )));
                }
                let image_gb = image
                    .row
                    .size
                    .map(|b| (u64::try_from(b).unwrap_or(0)).div_ceil(GIB))
                    .unwrap_or(0);
                if i64::try_from(image_gb).unwrap_or(i64::MAX) > size {
                    return Err(VolumeError::invalid_input(format!(
                        "Size of specified image {image_gb}GB is larger than volume size {size}GB."
                    )));
                }
                if image.row.min_disk > size {
                    return Err(VolumeError::invalid_input(format!(
                        "Volume size {size}GB cannot be smaller than the image minDisk size {}GB.",
                        image.row.min_disk
                    )));
                }
                let mut meta: BTreeMap<String, String> = image.properties.clone();
                let r = &image.row;
                for (k, v) in [
                    ("image_id", Some(r.id.clone())),
                    ("image_name", r.name.clone()),
                    ("checksum", r.checksum.clone()),
                    ("container_format", r.container_format.clone()),
                    ("disk_format", r.disk_format.clone()),
                    ("min_disk", Some(r.min_disk.to_string())),
                    ("min_ram", Some(r.min_ram.to_string())),
                    ("size", r.size.map(|s| s.to_string())),
                ] {
                    if let Some(v) = v {
                        meta.insert(k.into(), v);
                    }
                }
                row.image_metadata = map_text(&meta);
                row.bootable = true;
                row.disk_format = if r.disk_format.as_deref() == Some("qcow2") {
                    "qcow2".into()
                } else {
                    "raw".into()
                };
                Ok(size)
            }
            Source::Snapshot(id) => {
                let snap = self.snapshot_row(caller, id).await?;
                if snap.status != "available" {
                    return Err(VolumeError::Invalid(
                        "Invalid snapshot: Originating snapshot status must be one of 'available' values"
                            .into(),
                    ));
                }
                let origin = self.store().volumes().volume(&snap.volume_id).await?;
                if let Some(origin) = origin {
                    inherit(row, &origin);
                }
                row.snapshot_id = Some(snap.id.clone());
                let size = size.unwrap_or(snap.size);
                if size < snap.size {
                    return Err(VolumeError::invalid_input(format!(
                        "Volume size '{size}'GB cannot be smaller than the snapshot size {}GB. They must be >= original snapshot size.",
                        snap.size
                    )));
                }
                Ok(size)
            }
            Source::Volume(id) => {
                let origin = self.volume_row(caller, id).await?;
                if !["available", "in-use"].contains(&origin.status.as_str()) {
                    return Err(VolumeError::invalid_volume(format!(
                        "Volume {id} status must be available or in-use, but current status is: {}.",
                        origin.status
                    )));
                }
                inherit(row, &origin);
                row.source_volid = Some(origin.id.clone());
                let size = size.unwrap_or(origin.size);
                if size < origin.size {
                    return Err(VolumeError::invalid_input(format!(
                        "Volume size '{size}'GB cannot be smaller than original volume size  {}GB. They must be >= original volume size.",
                        origin.size
                    )));
                }
                Ok(size)
            }
        }
    }

    /// Writes a `creating` volume's data in the background.
    fn spawn_fill(&self, row: VolumeRow) {
        let storage = self.clone();
        tokio::spawn(async move {
            let id = row.id.clone();
            let outcome = match storage.fill(&row).await {
                Ok(()) => "available",
                Err(e) => {
                    tracing::warn!(volume = %id, error = %e, "writing a volume's data failed");
                    "error"
                }
            };
            let moved = storage
                .store()
                .volumes()
                .transition(&id, &["creating"], outcome, now_micros())
                .await;
            if let Err(e) = moved {
                tracing::error!(volume = %id, error = %e, "recording a created volume failed");
            }
        });
    }

    /// The data of a new volume, from its source (what its row says).
    async fn fill(&self, row: &VolumeRow) -> VolumeResult<()> {
        let data = self.data();
        let target = data.volume(&row.id);
        let raw_size = (row.disk_format == "raw").then_some(row.size);
        if let Some(snapshot) = &row.snapshot_id {
            data.copy(&data.snapshot(snapshot), &target, raw_size)
                .await?;
        } else if let Some(origin) = &row.source_volid {
            data.copy(&data.volume(origin), &target, raw_size).await?;
        } else if let Some(image) = string_map(&row.image_metadata).get("image_id") {
            let viewer = Viewer {
                project_id: &row.project_id,
                is_admin: true,
                is_member: true,
            };
            let (_, file) = self.0.images.download(viewer, image).await?;
            let file =
                file.ok_or_else(|| VolumeError::Invalid(format!("Image {image} has no data.")))?;
            data.fill(&target, file, raw_size).await?;
        } else {
            data.create_blank(&row.id, row.size).await?;
        }
        Ok(())
    }

    pub async fn update_volume(
        &self,
        caller: &Caller,
        id: &str,
        change: VolumeChange,
    ) -> VolumeResult<Volume> {
        caller.may_write("volume:update")?;
        let mut row = self.volume_row(caller, id).await?;
        if row.status == "maintenance" {
            return Err(VolumeError::invalid_volume(
                "The volume cannot be updated during maintenance.",
            ));
        }
        if let Some(name) = change.name {
            row.name = name;
        }
        if let Some(description) = change.description {
            row.description = description;
        }
        if let Some(metadata) = change.metadata {
            row.metadata = map_text(&metadata);
        }
        row.updated_at = now_micros();
        self.store().volumes().update_volume(&row).await?;
        self.volume(caller, id).await
    }

    /// Changes one flag or map of a volume's row.
    async fn edit_volume(
        &self,
        caller: &Caller,
        id: &str,
        rule: &str,
        edit: impl FnOnce(&mut VolumeRow) -> VolumeResult<()>,
    ) -> VolumeResult<Volume> {
        caller.may_write(rule)?;
        let mut row = self.volume_row(caller, id).await?;
        edit(&mut row)?;
        row.updated_at = now_micros();
        self.store().volumes().update_volume(&row).await?;
        self.volume(caller, id).await
    }

    /// `os-set_bootable`.
    pub async fn set_bootable(
        &self,
        caller: &Caller,
        id: &str,
        bootable: bool,
    ) -> VolumeResult<()> {
        self.edit_volume(caller, id, "volume:update", |row| {
            row.bootable = bootable;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// `os-update_readonly_flag`: only on an available volume.
    pub async fn set_readonly(
        &self,
        caller: &Caller,
        id: &str,
        readonly: bool,
    ) -> VolumeResult<()> {
        self.edit_volume(caller, id, "volume:update_readonly_flag", |row| {
            if row.status != "available" {
                return Err(VolumeError::invalid_volume(format!(
                    "Volume {id} status must be available to update readonly flag, but current status is: {}.",
                    row.status
                )));
            }
            row.readonly = readonly;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// `os-set_image_metadata` / `os-unset_image_metadata`.
    pub async fn change_image_metadata(
        &self,
        caller: &Caller,
        id: &str,
        set: BTreeMap<String, String>,
        unset: Option<&str>,
    ) -> VolumeResult<BTreeMap<String, String>> {
        let volume = self
            .edit_volume(caller, id, "volume:update_volume_metadata", |row| {
                let mut meta = string_map(&row.image_metadata);
                if let Some(key) = unset
                    && meta.remove(key).is_none()
                {
                    return Err(VolumeError::NotFound(format!(
                        "Glance metadata for volume/snapshot {id} cannot be found."
                    )));
                }
                meta.extend(set);
                row.image_metadata = map_text(&meta);
                Ok(())
            })
            .await?;
        Ok(volume.image_metadata)
    }

    /// Cinder's `os-reimage` as Nova's 2.93 rebuild uses it: the volume
    /// (in use by its server) takes the image's data and its
    /// `volume_image_metadata`.
    pub async fn reimage(&self, id: &str, image_id: &str) -> VolumeResult<()> {
        let mut row = self
            .store()
            .volumes()
            .volume(id)
            .await?
            .ok_or_else(|| VolumeError::volume_not_found(id))?;
        let owner = Caller {
            project_id: row.project_id.clone(),
            user_id: row.user_id.clone(),
            is_admin: false,
            can_write: true,
        };
        let mut scratch = row.clone();
        self.source_into(
            &owner,
            &Source::Image(image_id.to_owned()),
            Some(row.size),
            &mut scratch,
        )
        .await?;
        self.fill(&scratch).await?;
        row.image_metadata = scratch.image_metadata;
        row.disk_format = scratch.disk_format;
        row.bootable = true;
        row.updated_at = now_micros();
        self.store().volumes().update_volume(&row).await?;
        Ok(())
    }

    /// `os-extend`: an available volume (an in-use one when
    /// `in_use_allowed`, 3.42) grows to `new_size` GiB.
    pub async fn extend_volume(
        &self,
        caller: &Caller,
        id: &str,
        new_size: i64,
        in_use_allowed: bool,
    ) -> VolumeResult<()> {
        caller.may_write("volume:extend")?;
        let row = self.volume_row(caller, id).await?;
        let allowed: &[&str] = if in_use_allowed {
            &["available", "in-use"]
        } else {
            &["available"]
        };
        if !allowed.contains(&row.status.as_str()) {
            let wanted = if row.status == "in-use" {
                "in-use"
            } else {
                "available"
            };
            return Err(VolumeError::invalid_volume(format!(
                "Volume {id} status must be '{{'status': '{wanted}'}}' to extend, currently {}.",
                row.status
            )));
        }
        if new_size <= row.size {
            return Err(VolumeError::invalid_input(format!(
                "New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                row.size
            )));
        }
        self.check_gigabytes(&row.project_id, new_size - row.size)
            .await?;
        let repo = self.store().volumes();
        if !repo
            .transition(id, &[row.status.as_str()], "extending", now_micros())
            .await?
        {
            return Err(VolumeError::invalid_volume(format!(
                "Volume {id} status must be '{{'status': 'available'}}' to extend, currently {}.",
                self.volume_row(caller, id).await?.status
            )));
        }
        let grown = async {
            if row.disk_format == "raw" {
                self.data().grow(id, new_size).await?;
            }
            let limits = self.limits(&row.project_id).await?;
            repo.finish_extend(id, new_size, &row.status, limits.gigabytes, now_micros())
                .await
                .map_err(VolumeError::from)
        }
        .await;
        match grown {
            Ok(_) => Ok(()),
            Err(VolumeError::Store(StoreError::LimitExceeded)) => {
                repo.transition(id, &["extending"], &row.status, now_micros())
                    .await?;
                Err(self
                    .over_quota(&row.project_id, GIGABYTES, new_size - row.size)
                    .await)
            }
            Err(e) => {
                repo.transition(id, &["extending"], "error_extending", now_micros())
                    .await?;
                Err(e)
            }
        }
    }

    /// `os-reset_status` (admins): sets a volume's status (and with
    /// `attach_status` `detached`, drops its attachments).
    pub async fn reset_volume_status(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<&str>,
        attach_status: Option<&str>,
    ) -> VolumeResult<()> {
        if !caller.is_admin {
            return Err(VolumeError::policy(
                "volume_extension:volume_admin_actions:reset_status",
            ));
        }
        self.volume_row(caller, id).await?;
        if status.is_none() && attach_status.is_none() {
            return Err(VolumeError::Invalid(
                "Must specify 'status', 'attach_status' or 'migration_status' for update.".into(),
            ));
        }
        let repo = self.store().volumes();
        if let Some(attach) = attach_status {
            if !["attached", "detached"].contains(&attach) {
                return Err(VolumeError::Invalid(format!(
                    "Volume attach status: {attach} is invalid, valid statuses are: ('attached', 'detached')."
                )));
            }
            if attach == "detached" {
                for a in repo.attachments_of_volume(id).await? {
                    repo.detach(&a.id, now_micros()).await?;
                }
            }
        }
        if let Some(status) = status {
            if !STATUSES.contains(&status) {
                return Err(VolumeError::Invalid(format!(
                    "Volume status: {status} is invalid, valid statuses are: ({}).",
                    STATUSES.map(|s| format!("'{s}'")).join(", ")
                )));
            }
            if status == "deleting" {
                return Err(VolumeError::Invalid(
                    "Cannot reset-state to deleting".into(),
                ));
            }
            if status == "in-use" && repo.attachments_of_volume(id).await?.is_empty() {
                return Err(VolumeError::Invalid(
                    "Cannot reset-state to in-use because volume does not have any attachments."
                        .into(),
                ));
            }
            repo.transition(id, &[], status, now_micros()).await?;
        }
        Ok(())
    }

    /// Deletes a volume: `cascade` deletes its snapshots first; `force`
    /// (admins) ignores its status and attachments.
    pub async fn delete_volume(
        &self,
        caller: &Caller,
        id: &str,
        cascade: bool,
        force: bool,
    ) -> VolumeResult<()> {
        caller.may_write("volume:delete")?;
        if force && !caller.is_admin {
            return Err(VolumeError::policy(
                "volume_extension:volume_admin_actions:force_delete",
            ));
        }
        let row = self.volume_row(caller, id).await?;
        let refused = || {
            if force {
                VolumeError::invalid_volume(
                    "Volume  must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
                )
            } else {
                VolumeError::invalid_volume(
                    "Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
                )
            }
        };
        if cascade {
            let repo = self.store().volumes();
            let snapshots: Vec<_> = repo
                .snapshots(&caller.scope(true))
                .await?
                .into_iter()
                .filter(|s| s.volume_id == row.id)
                .collect();
            if snapshots
                .iter()
                .any(|s| !["available", "error", "deleting"].contains(&s.status.as_str()))
            {
                return Err(refused());
            }
            for s in snapshots {
                if repo
                    .snapshot_transition(&s.id, &["available", "error"], "deleting", now_micros())
                    .await?
                {
                    self.finish_snapshot_delete(&s.id).await?;
                }
            }
        }
        let from: Vec<&str> = if force {
            STATUSES
                .iter()
                .copied()
                .filter(|s| *s != "deleting")
                .collect()
        } else {
            DELETABLE.to_vec()
        };
        match self
            .store()
            .volumes()
            .begin_delete(id, &from, force, now_micros())
            .await
        {
            Ok(true) => self.finish_volume_delete(id).await,
            Ok(false) | Err(StoreError::Conflict) => Err(refused()),
            Err(StoreError::NotFound) => Err(VolumeError::volume_not_found(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a `deleting` volume's data, then its record.
    async fn finish_volume_delete(&self, id: &str) -> VolumeResult<()> {
        self.data().remove(id).await?;
        self.store().volumes().delete_volume(id).await?;
        Ok(())
    }

    /// `os-volume_upload_image`: makes an image (queued at once, active
    /// once the volume's data is in it); returns the image's id.
    pub async fn upload_to_image(
        &self,
        caller: &Caller,
        id: &str,
        upload: ImageUpload,
    ) -> VolumeResult<(Volume, String)> {
        caller.may_write("volume:upload_to_image")?;
        let row = self.volume_row(caller, id).await?;
        let allowed: &[&str] = if upload.force {
            &["available", "in-use"]
        } else {
            &["available"]
        };
        if !allowed.contains(&row.status.as_str()) {
            return Err(VolumeError::invalid_volume(format!(
                "Volume {id} status must be {}",
                allowed.join(" or ")
            )));
        }
        let mut image = oxstack_image::blank(new_id());
        image.row.name = Some(upload.image_name.clone());
        image.row.disk_format = Some(upload.disk_format.unwrap_or_else(|| "raw".into()));
        image.row.container_format = Some(upload.container_format.unwrap_or_else(|| "bare".into()));
        image.row.visibility = upload.visibility.unwrap_or_else(|| "private".into());
        image.row.protected = upload.protected;
        image.row.owner = Some(caller.project_id.clone());
        image.row.min_disk = row.size;
        let image = self.0.images.create(self.viewer(caller), image).await?;
        let repo = self.store().volumes();
        if !repo
            .transition(id, &[row.status.as_str()], "uploading", now_micros())
            .await?
        {
            let _ = self
                .0
                .images
                .delete(self.viewer(caller), &image.row.id)
                .await;
            return Err(VolumeError::invalid_volume(format!(
                "Volume {id} status must be {}",
                allowed.join(" or ")
            )));
        }
        let storage = self.clone();
        let (back, image_id, owner) = (row.status.clone(), image.row.id.clone(), caller.clone());
        let volume_id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = storage.upload(&owner, &volume_id, &image_id).await {
                tracing::warn!(volume = %volume_id, image = %image_id, error = %e, "uploading a volume to an image failed");
            }
            let _ = storage
                .store()
                .volumes()
                .transition(&volume_id, &["uploading"], &back, now_micros())
                .await;
        });
        let volume = self.volume(caller, id).await?;
        Ok((volume, image.row.id))
    }

    async fn upload(&self, caller: &Caller, volume_id: &str, image_id: &str) -> VolumeResult<()> {
        let file = tokio::fs::File::open(self.data().volume(volume_id)).await?;
        let stream = tokio_util::io::ReaderStream::new(file);
        self.0
            .images
            .upload(self.viewer(caller), image_id, stream)
            .await?;
        Ok(())
    }

    /// Finishes what a crash left half done: volumes being created get
    /// their data again, deletes and extensions finish, uploads end.
    pub async fn recover(&self) -> VolumeResult<()> {
        let repo = self.store().volumes();
        for row in repo.volumes_in(&IN_TRANSIT).await? {
            match row.status.as_str() {
                "creating" => self.spawn_fill(row),
                "deleting" => self.finish_volume_delete(&row.id).await?,
                // The size was recorded with the status: the file grows
                // again (idempotent) and the volume is usable.
                "extending" => {
                    repo.transition(&row.id, &["extending"], "available", now_micros())
                        .await?;
                }
                _ => {
                    let back = if repo.attachments_of_volume(&row.id).await?.is_empty() {
                        "available"
                    } else {
                        "in-use"
                    };
                    repo.transition(&row.id, &["uploading"], back, now_micros())
                        .await?;
                }
            }
        }
        self.recover_snapshots().await
    }
}

/// What a volume made from another volume or a snapshot inherits.
fn inherit(row: &mut VolumeRow, origin: &VolumeRow) {
    row.bootable = origin.bootable;
    row.image_metadata = origin.image_metadata.clone();
    row.disk_format = origin.disk_format.clone();
}

fn volume_of(
    row: VolumeRow,
    attachments: Vec<AttachmentRow>,
    type_names: &BTreeMap<String, String>,
) -> Volume {
    let mut metadata = string_map(&row.metadata);
    if row.readonly {
        metadata.insert("readonly".into(), "True".into());
    }
    if let Some(mode) = attachments
        .iter()
        .find(|a| a.attach_status == "attached")
        .map(|a| a.attach_mode.clone())
    {
        metadata.insert("attached_mode".into(), mode);
    }
    Volume {
        type_name: type_names
            .get(&row.volume_type_id)
            .cloned()
            .unwrap_or_else(|| row.volume_type_id.clone()),
        metadata,
        image_metadata: string_map(&row.image_metadata),
        attachments,
        row,
    }
}
