//! Block storage errors, with Cinder's messages; the API maps each class
//! to Cinder's error body.

use oxstack_image::ImageError;
use oxstack_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// 404 (`itemNotFound`).
    #[error("{0}")]
    NotFound(String),
    /// 400 (`badRequest`): bad input, or a resource in the wrong status.
    #[error("{0}")]
    Invalid(String),
    /// 403 (`forbidden`): a policy refusal.
    #[error("{0}")]
    Forbidden(String),
    /// 409 (`conflictingRequest`).
    #[error("{0}")]
    Conflict(String),
    /// 413 (`overLimit`): past a project's quota.
    #[error("{0}")]
    OverLimit(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("volume data: {0}")]
    Io(#[from] std::io::Error),
}

pub type VolumeResult<T> = Result<T, VolumeError>;

impl From<StoreError> for VolumeError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unstorable => Self::Invalid(err.to_string()),
            other => Self::Store(other),
        }
    }
}

impl From<ImageError> for VolumeError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::NotFound(m) | ImageError::Forbidden(m) => Self::NotFound(m),
            ImageError::Store(e) => Self::from(e),
            other => Self::Invalid(other.to_string()),
        }
    }
}

impl VolumeError {
    pub fn volume_not_found(id: &str) -> Self {
        Self::NotFound(format!("Volume {id} could not be found."))
    }

    pub fn snapshot_not_found(id: &str) -> Self {
        Self::NotFound(format!("Snapshot {id} could not be found."))
    }

    pub fn attachment_not_found(id: &str) -> Self {
        Self::NotFound(format!(
            "Volume attachment could not be found with filter: attachment_id = {id}."
        ))
    }

    pub fn type_not_found(id: &str) -> Self {
        Self::NotFound(format!("Volume type {id} could not be found."))
    }

    /// Cinder's `PolicyNotAuthorized`.
    pub fn policy(rule: &str) -> Self {
        Self::Forbidden(format!("Policy doesn't allow {rule} to be performed."))
    }

    /// Cinder's `InvalidVolume`.
    pub fn invalid_volume(reason: impl std::fmt::Display) -> Self {
        Self::Invalid(format!("Invalid volume: {reason}"))
    }

    /// Cinder's `InvalidInput`.
    pub fn invalid_input(reason: impl std::fmt::Display) -> Self {
        Self::Invalid(format!("Invalid input received: {reason}"))
    }
}
