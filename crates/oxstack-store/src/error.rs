//! The store's error type: callers care whether a row was missing, whether a
//! uniqueness rule was hit, or whether the database itself failed.

/// What can go wrong below the domain layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0}: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    #[error("no such record")]
    NotFound,
    #[error("a record with the same unique key already exists")]
    Conflict,
    #[error("the change would exceed a limit")]
    LimitExceeded,
    /// A value neither engine can keep alike (PostgreSQL refuses NUL
    /// characters in text): the caller's input, a 400.
    #[error("Invalid input: a value contains a NUL character, which cannot be stored.")]
    Unstorable,
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("could not start a database thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("unreadable row: {0}")]
    Decode(#[from] crate::db::DecodeError),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            _ => Self::Database(err),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if matches!(
                    e.extended_code,
                    SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                Self::Conflict
            }
            _ => Self::Sqlite(err),
        }
    }
}
