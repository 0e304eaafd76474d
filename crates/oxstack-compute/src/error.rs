//! Compute errors, each carrying Nova's message; the API maps the variant
//! to the status code.

use oxstack_image::ImageError;
use oxstack_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 403 (quota, policy decided in the domain).
    #[error("{0}")]
    Forbidden(String),
    /// 501: the hypervisor cannot do this.
    #[error("{0}")]
    NotImplemented(String),
    /// 500: something below the domain is inconsistent.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreError),
}

pub type ComputeResult<T> = Result<T, ComputeError>;

impl ComputeError {
    /// Whether the database was out of reach (the work is worth retrying).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_unavailable())
    }
}

impl From<oxstack_network::NetworkError> for ComputeError {
    /// Networking's refusals of a server's ports, by their class.
    fn from(err: oxstack_network::NetworkError) -> Self {
        use oxstack_network::{Class, NetworkError};
        match err {
            NetworkError::Refused { class, message, .. } => match class {
                Class::Invalid => Self::Invalid(message),
                Class::Forbidden => Self::Forbidden(message),
                Class::NotFound => Self::NotFound(message),
                Class::Conflict => Self::Conflict(message),
            },
            NetworkError::Store(e) => Self::Store(e),
        }
    }
}

impl From<StoreError> for ComputeError {
    /// A value the store cannot keep is the caller's input (400); the
    /// rest are failures below the domain.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unstorable => Self::Invalid(err.to_string()),
            other => Self::Store(other),
        }
    }
}

impl From<ImageError> for ComputeError {
    /// The image service's refusals of what a server action asked of it
    /// are the caller's request (400, as Nova relays Glance's); its
    /// database's and disk's failures are this service's own (503 when the
    /// database is unreachable, else 500).
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::Store(e) => e.into(),
            e @ ImageError::Io(_) => Self::Internal(e.to_string()),
            other => Self::Invalid(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_service_losing_its_database_is_this_services_503_not_a_400() {
        let lost = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        assert!(ComputeError::from(ImageError::Store(lost)).is_unavailable());
        let refused = ComputeError::from(ImageError::Conflict("taken".into()));
        assert!(matches!(refused, ComputeError::Invalid(m) if m == "taken"));
    }
}
