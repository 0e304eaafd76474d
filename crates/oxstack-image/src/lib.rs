//! Images for oxstack: records (with Glance's visibility and ownership
//! rules and status transitions) and their data, streamed to files in the
//! data directory with md5 and sha512 computed on the way.
//!
//! Data is written to `.uploads/<node>/<id>.<upload>.partial` (created
//! before the image says `saving`) and renamed to `<id>` only once complete
//! and synced, so an interrupted upload never leaves partial data visible:
//! at the next start of that node its image goes back to `queued`, or,
//! when the crash came after the rename, becomes `active` with the data it
//! has. Each node (API node or compute host) of a cloud sharing the data
//! directory writes its uploads into its own folder, so one node's restart
//! never takes another node's upload in progress for a crashed one.

mod error;
mod reset;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use oxstack_store::images::{ImageQuery, ImageRecord, ImageRow, ImageScope, UploadedData};
use oxstack_store::{Store, StoreError};
use oxstack_virt::qcow2;
use sha2::{Digest, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use error::{ImageError, ImageResult};
pub use oxstack_store::images::{
    Compare, ImageQuery as Query, ImageRecord as Image, ImageScope as Scope, ImageSortKey,
    TimeColumn, TimeFilter,
};

/// Who is asking: admins see and change everything; projects see public
/// and community images and their own, and their members (not their
/// readers: Glance's secure defaults) change only their own.
#[derive(Clone, Copy, Debug)]
pub struct Viewer<'a> {
    pub project_id: &'a str,
    pub is_admin: bool,
    /// Holds the member role in the project: may add and change its
    /// images.
    pub is_member: bool,
}

impl Viewer<'_> {
    fn can_see(&self, image: &ImageRow) -> bool {
        self.is_admin
            || matches!(image.visibility.as_str(), "public" | "community")
            || image.owner.as_deref() == Some(self.project_id)
    }

    fn owns(&self, image: &ImageRow) -> bool {
        self.is_admin || (self.is_member && image.owner.as_deref() == Some(self.project_id))
    }

    /// The listing scope of this viewer.
    pub fn scope(&self) -> ImageScope {
        if self.is_admin {
            ImageScope::All
        } else {
            ImageScope::Project(self.project_id.to_owned())
        }
    }
}

/// The visibilities Glance knows.
pub const VISIBILITIES: [&str; 4] = ["public", "private", "shared", "community"];

/// The image service.
#[derive(Clone, Debug)]
pub struct Images {
    store: Store,
    dir: PathBuf,
    /// This node's uploads in progress (see the module's documentation).
    uploads: PathBuf,
    max_size: u64,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn not_found(id: &str) -> ImageError {
    ImageError::NotFound(format!("No image found with ID {id}"))
}

impl Images {
    /// Opens the data directory `dir` (created if missing) for the node
    /// named `node` and recovers the uploads a crash of it interrupted.
    pub async fn open(store: Store, dir: &Path, node: &str, max_size: u64) -> ImageResult<Self> {
        let folder: String = node
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
                _ => '_',
            })
            .collect();
        let uploads = dir.join(".uploads").join(folder.trim_start_matches('.'));
        tokio::fs::create_dir_all(&uploads).await?;
        let images = Self {
            store,
            dir: dir.to_owned(),
            uploads,
            max_size,
        };
        images.recover_uploads().await?;
        Ok(images)
    }

    /// An upload's partial file is removed and its image goes back to
    /// `queued`; an image left `saving` with its complete data in place
    /// (the crash came between the rename and the record) is finished
    /// from that data.
    async fn recover_uploads(&self) -> ImageResult<()> {
        let mut entries = tokio::fs::read_dir(&self.uploads).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "partial") {
                continue;
            }
            tracing::warn!(path = %path.display(), "removing the data of an interrupted upload");
            tokio::fs::remove_file(&path).await?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.split('.').next()) {
                self.store
                    .images()
                    .transition(id, "saving", "queued", now_micros())
                    .await?;
            }
        }
        let saving = Query {
            visibility: Some("all".into()),
            status: Some("saving".into()),
            ..Query::within(Scope::All)
        };
        for image in self.store.images().list(&saving).await? {
            let id = &image.row.id;
            let path = self.data_path(id);
            let data = match tokio::fs::File::open(&path).await {
                Ok(mut file) => digest(&mut file).await?,
                // Another node's upload in progress, or gone: not ours.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            tracing::warn!(image = %id, "finishing an upload interrupted after its data was stored");
            self.store
                .images()
                .finish_upload(id, &data, now_micros())
                .await?;
        }
        Ok(())
    }

    /// Records how an upload ended: `active` with its data, or back to
    /// `queued` without; `false` when the image was no longer `saving`.
    /// With the database out of reach the record is made once it answers
    /// again (the caller gets the 503), so the image is not left `saving`
    /// until the next start.
    async fn record_outcome(&self, id: &str, data: Option<&UploadedData>) -> ImageResult<bool> {
        let recorded = record(&self.store, id, data).await;
        if let Err(e) = &recorded
            && e.is_unavailable()
        {
            let (store, id, data) = (self.store.clone(), id.to_owned(), data.cloned());
            tokio::spawn(async move {
                loop {
                    store.until_reachable().await;
                    match record(&store, &id, data.as_ref()).await {
                        Err(e) if e.is_unavailable() => continue,
                        Err(e) => {
                            tracing::warn!(image = %id, error = %e, "recording an upload failed")
                        }
                        Ok(_) => {
                            tracing::info!(image = %id, "recorded an upload cut off by a database outage")
                        }
                    }
                    return;
                }
            });
        }
        Ok(recorded?)
    }

    fn data_path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Creates a `queued` image owned by `owner` (default: the viewer's project).
    pub async fn create(&self, viewer: Viewer<'_>, mut image: Image) -> ImageResult<Image> {
        if !viewer.is_admin && !viewer.is_member {
            return Err(ImageError::Forbidden(
                "You are not authorized to complete add_image action.".into(),
            ));
        }
        if image.row.visibility == "public" && !viewer.is_admin {
            return Err(ImageError::Forbidden(
                "You are not authorized to complete publicize_image action.".into(),
            ));
        }
        if image.row.owner.is_none() {
            image.row.owner = Some(viewer.project_id.to_owned());
        }
        let now = now_micros();
        image.row.created_at = now;
        image.row.updated_at = now;
        image.row.status = "queued".into();
        match self.store.images().insert(&image).await {
            Err(StoreError::Conflict) => Err(ImageError::Conflict(format!(
                "Image with identifier {} already exists!",
                image.row.id
            ))),
            other => other.map_err(ImageError::from),
        }?;
        Ok(image)
    }

    /// An image the viewer may see.
    pub async fn get(&self, viewer: Viewer<'_>, id: &str) -> ImageResult<Image> {
        match self.store.images().get(id).await? {
            Some(image) if viewer.can_see(&image.row) => Ok(image),
            _ => Err(not_found(id)),
        }
    }

    /// An image the viewer may change (others' visible images are 403).
    async fn owned(&self, viewer: Viewer<'_>, id: &str, action: &str) -> ImageResult<Image> {
        let image = self.get(viewer, id).await?;
        if !viewer.owns(&image.row) {
            return Err(ImageError::Forbidden(format!(
                "You are not authorized to complete {action} action."
            )));
        }
        Ok(image)
    }

    pub async fn list(&self, query: &ImageQuery) -> ImageResult<Vec<Image>> {
        Ok(self.store.images().list(query).await?)
    }

    /// Applies `change` to the image and stores it, unless its status
    /// changed meanwhile (then 409).
    pub async fn update(
        &self,
        viewer: Viewer<'_>,
        id: &str,
        change: impl FnOnce(&mut Image) -> ImageResult<()>,
    ) -> ImageResult<Image> {
        let before = self.owned(viewer, id, "modify_image").await?;
        let mut image = before.clone();
        change(&mut image)?;
        if image.row.visibility == "public" && before.row.visibility != "public" && !viewer.is_admin
        {
            return Err(ImageError::Forbidden(
                "You are not authorized to complete publicize_image action.".into(),
            ));
        }
        image.row.updated_at = now_micros();
        match self.store.images().update(&image, &before.row.status).await {
            Err(StoreError::NotFound) => Err(ImageError::Conflict(format!(
                "Image {id} changed status meanwhile; try again."
            ))),
            other => other.map_err(ImageError::from),
        }?;
        Ok(image)
    }

    /// Deletes the image and its data; protected images refuse.
    pub async fn delete(&self, viewer: Viewer<'_>, id: &str) -> ImageResult<()> {
        let image = self.owned(viewer, id, "delete_image").await?;
        if image.row.protected {
            return Err(ImageError::Forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        match self.store.images().delete(id).await {
            Err(StoreError::NotFound) => return Err(not_found(id)),
            other => other?,
        }
        match tokio::fs::remove_file(self.data_path(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Streams data into a `queued` image, which becomes `active`. Past the
    /// size limit (or if the stream fails) nothing is kept and the image is
    /// `queued` again.
    pub async fn upload<S, E>(&self, viewer: Viewer<'_>, id: &str, data: S) -> ImageResult<Image>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.upload_within(viewer, id, data, self.max_size).await
    }

    async fn upload_within<S, E>(
        &self,
        viewer: Viewer<'_>,
        id: &str,
        mut data: S,
        max_size: u64,
    ) -> ImageResult<Image>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let image = self.owned(viewer, id, "upload_image").await?;
        if image.row.status != "queued" {
            return Err(ImageError::Conflict(format!(
                "Image status transition from {} to saving is not allowed",
                image.row.status
            )));
        }
        // The partial file exists before the image says `saving`, so a
        // crash at any moment leaves it for the next start to find; it is
        // this upload's own, so a racing upload (which loses the status
        // change below) never touches it.
        let partial = self
            .uploads
            .join(format!("{id}.{}.partial", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&partial).await?;
        if !self
            .store
            .images()
            .transition(id, "queued", "saving", now_micros())
            .await?
        {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(ImageError::Conflict(
                "Image status transition from saving to saving is not allowed".into(),
            ));
        }
        let written = write_data(&mut file, &mut data, max_size).await;
        let uploaded = match written {
            Ok(uploaded) => uploaded,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                self.record_outcome(id, None).await?;
                return Err(e);
            }
        };
        tokio::fs::rename(&partial, self.data_path(id)).await?;
        if !self.record_outcome(id, Some(&uploaded)).await? {
            // Deleted while uploading: drop the data too.
            let _ = tokio::fs::remove_file(self.data_path(id)).await;
            return Err(not_found(id));
        }
        self.get(viewer, id).await
    }

    /// The image and an open handle on its data; `None` when it has none.
    pub async fn download(
        &self,
        viewer: Viewer<'_>,
        id: &str,
    ) -> ImageResult<(Image, Option<tokio::fs::File>)> {
        let image = self.get(viewer, id).await?;
        if image.row.status != "active" {
            return Ok((image, None));
        }
        let file = tokio::fs::File::open(self.data_path(id)).await?;
        Ok((image, Some(file)))
    }

    pub async fn add_tag(&self, viewer: Viewer<'_>, id: &str, tag: &str) -> ImageResult<()> {
        self.update(viewer, id, |image| {
            if !image.tags.iter().any(|t| t == tag) {
                image.tags.push(tag.to_owned());
            }
            Ok(())
        })
        .await
        .map(drop)
    }

    pub async fn remove_tag(&self, viewer: Viewer<'_>, id: &str, tag: &str) -> ImageResult<()> {
        self.update(viewer, id, |image| {
            let before = image.tags.len();
            image.tags.retain(|t| t != tag);
            if image.tags.len() == before {
                return Err(ImageError::NotFound(format!("Tag {tag} not found")));
            }
            Ok(())
        })
        .await
        .map(drop)
    }

    /// On a cloud's first start: a public `cirros` image (an empty 112 MiB
    /// qcow2 disk generated here) owned by `owner`, so that servers can be
    /// booted without uploading anything.
    pub async fn bootstrap_cirros(&self, owner: &str) -> ImageResult<()> {
        if self.store.images().count().await? > 0 {
            return Ok(());
        }
        let viewer = Viewer {
            project_id: owner,
            is_admin: true,
            is_member: true,
        };
        let mut image = blank(uuid::Uuid::new_v4().to_string());
        image.row.name = Some("cirros".into());
        image.row.visibility = "public".into();
        image.row.disk_format = Some("qcow2".into());
        image.row.container_format = Some("bare".into());
        image
            .properties
            .insert("hw_architecture".into(), "x86_64".into());
        image.properties.insert("os_distro".into(), "cirros".into());
        let image = self.create(viewer, image).await?;
        // Remembered, so that a reset keeps it.
        self.store
            .identity()
            .setting_or_insert(reset::BOOTSTRAP_IMAGE_SETTING, &image.row.id)
            .await?;
        let bytes = Bytes::from(qcow2::empty(112 * 1024 * 1024));
        let stream = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
        // The cloud's own image is not subject to the users' upload limit.
        self.upload_within(viewer, &image.row.id, stream, u64::MAX)
            .await?;
        Ok(())
    }
}

/// A new image record with Glance's defaults (to be filled in and passed
/// to [`Images::create`]).
pub fn blank(id: String) -> Image {
    ImageRecord {
        row: ImageRow {
            id,
            name: None,
            status: "queued".into(),
            visibility: "shared".into(),
            protected: false,
            os_hidden: false,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            disk_format: None,
            container_format: None,
            owner: None,
            created_at: 0,
            updated_at: 0,
        },
        properties: Default::default(),
        tags: Vec::new(),
    }
}

/// The store's half of [`Images::record_outcome`].
async fn record(store: &Store, id: &str, data: Option<&UploadedData>) -> Result<bool, StoreError> {
    let images = store.images();
    match data {
        Some(data) => images.finish_upload(id, data, now_micros()).await,
        None => {
            images
                .transition(id, "saving", "queued", now_micros())
                .await
        }
    }
}

/// Streams an upload into `file` (synced before it returns), with what it
/// computes on the way.
async fn write_data<S, E>(
    file: &mut tokio::fs::File,
    data: &mut S,
    max_size: u64,
) -> ImageResult<UploadedData>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut digests = Digests::default();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|e| ImageError::Interrupted(e.to_string()))?;
        digests.update(&chunk);
        if digests.size > max_size {
            return Err(ImageError::TooLarge(format!(
                "Image exceeds the storage quota: the upload is larger than {max_size} bytes."
            )));
        }
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(digests.finish())
}

/// What stored data amounts to, read back from its file.
async fn digest(file: &mut tokio::fs::File) -> ImageResult<UploadedData> {
    let mut digests = Digests::default();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(digests.finish());
        }
        digests.update(&buffer[..read]);
    }
}

/// The size, checksums and format header of data seen chunk by chunk.
#[derive(Default)]
struct Digests {
    md5: Md5,
    sha512: Sha512,
    size: u64,
    head: Vec<u8>,
}

impl Digests {
    fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if self.head.len() < 32 {
            let wanted = 32 - self.head.len();
            self.head
                .extend_from_slice(&chunk[..chunk.len().min(wanted)]);
        }
        self.md5.update(chunk);
        self.sha512.update(chunk);
    }

    fn finish(self) -> UploadedData {
        UploadedData {
            size: self.size as i64,
            checksum: format!("{:x}", self.md5.finalize()),
            os_hash_algo: "sha512".into(),
            os_hash_value: format!("{:x}", self.sha512.finalize()),
            virtual_size: qcow2::virtual_size(&self.head).map(|v| v as i64),
        }
    }
}
