//! Identity errors, kept free of HTTP: the API layer maps each to Keystone's
//! (or Nova's) status code and body.

use oxstack_store::StoreError;

/// What identity operations can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Credentials or token not acceptable. The message is safe to show.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A referenced entity does not exist, e.g. `("project", "abc")`.
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    /// The request is malformed or violates a rule.
    #[error("{0}")]
    Validation(String),
    /// A uniqueness rule was hit.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IdentityError {
    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Keystone's deliberately vague answer to any failed authentication.
    pub(crate) fn auth_failed() -> Self {
        Self::Unauthorized("The request you have made requires authentication.".into())
    }
}

/// Result alias for identity operations.
pub type IdentityResult<T> = Result<T, IdentityError>;

impl From<StoreError> for IdentityError {
    /// A value the store cannot keep is the caller's input (400); the
    /// rest are failures below the domain.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unstorable => Self::Validation(err.to_string()),
            other => Self::Store(other),
        }
    }
}
