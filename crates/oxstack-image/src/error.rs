//! Image errors with Glance's messages; the API maps variants to codes.

use oxstack_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
    /// The client's data stream broke off.
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("image data: {0}")]
    Io(#[from] std::io::Error),
}

pub type ImageResult<T> = Result<T, ImageError>;

impl From<StoreError> for ImageError {
    /// A value the store cannot keep is the caller's input (400); the
    /// rest are failures below the domain.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unstorable => Self::Invalid(err.to_string()),
            other => Self::Store(other),
        }
    }
}
