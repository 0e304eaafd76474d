//! Block storage for oxstack (the Cinder v3 subset's domain): volumes
//! with real data files, their status machine, attachments to servers,
//! snapshots, volume types and per-project quotas. Every status change is
//! one compare-and-swap in the store, so of two racing requests (two
//! servers attaching one volume, a delete against an attach) exactly one
//! wins; work that takes time (copying an image's data into a volume)
//! runs in the background and is finished by [`BlockStorage::recover`]
//! after a restart.

mod attachments;
mod data;
mod error;
mod quotas;
mod snapshots;
mod types;
mod volumes;

use std::path::Path;
use std::sync::Arc;

use oxstack_image::Images;
use oxstack_store::Store;
use oxstack_store::volumes::VolumeScope;

pub use attachments::{AttachmentRequest, ConnectionInfo, ServerAttachment};
pub use error::{VolumeError, VolumeResult};
pub use oxstack_store::volumes::{AttachmentRow, SnapshotRow, VolumeRow, VolumeTypeRow};
pub use quotas::{QUOTA_RESOURCES, Quota};
pub use snapshots::{Snapshot, SnapshotSpec};
pub use types::{DEFAULT_TYPE, VolumeType, VolumeTypeSpec};
pub use volumes::{ImageUpload, Source, Volume, VolumeChange, VolumeSpec};

/// Who is asking.
#[derive(Clone, Debug)]
pub struct Caller {
    pub project_id: String,
    pub user_id: String,
    pub is_admin: bool,
    /// Holds a role that may change the project's resources (member);
    /// readers only read.
    pub can_write: bool,
}

impl Caller {
    /// Whether the caller may act on a resource of `project_id`.
    fn owns(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id == project_id
    }

    /// Refuses a change by a reader, naming Cinder's policy rule.
    fn may_write(&self, rule: &str) -> VolumeResult<()> {
        if self.is_admin || self.can_write {
            Ok(())
        } else {
            Err(VolumeError::policy(rule))
        }
    }

    /// The scope of a listing: an admin's `all_tenants` sees every
    /// project's.
    fn scope(&self, all_tenants: bool) -> VolumeScope {
        if self.is_admin && all_tenants {
            VolumeScope::All
        } else {
            VolumeScope::Project(self.project_id.clone())
        }
    }
}

/// What the block storage service is set up with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The zone volumes are in (Cinder's `storage_availability_zone`).
    pub availability_zone: String,
    /// Default per-project limits: volumes, gigabytes, snapshots.
    pub volumes: i64,
    pub gigabytes: i64,
    pub snapshots: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            availability_zone: "nova".into(),
            volumes: 10,
            gigabytes: 1000,
            snapshots: 10,
        }
    }
}

/// The block storage service.
#[derive(Clone, Debug)]
pub struct BlockStorage(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    images: Images,
    data: data::DataDir,
    settings: Settings,
}

impl BlockStorage {
    /// Opens the service over `dir` (the volumes' data folder, made if
    /// missing) and makes sure the default type exists.
    pub async fn open(
        store: Store,
        images: Images,
        dir: &Path,
        settings: Settings,
    ) -> VolumeResult<Self> {
        let data = data::DataDir::open(dir).await?;
        let storage = Self(Arc::new(Inner {
            store,
            images,
            data,
            settings,
        }));
        storage.ensure_default_type().await?;
        Ok(storage)
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn data(&self) -> &data::DataDir {
        &self.0.data
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// Removes what users made in `project` (every project if `None`),
    /// data files included; the default type stays.
    pub async fn reset(&self, project: Option<&str>) -> VolumeResult<()> {
        let removed = self
            .store()
            .volumes()
            .reset(project, &[types::DEFAULT_TYPE_ID])
            .await?;
        for id in removed {
            self.data().remove(&id).await?;
        }
        Ok(())
    }
}

/// Now, in the store's microseconds.
fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A new resource id.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A JSON object of strings, from its stored text (empty when unreadable).
fn string_map(text: &str) -> std::collections::BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The stored text of a map of strings.
fn map_text(map: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}
