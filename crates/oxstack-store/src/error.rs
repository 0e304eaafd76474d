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
    /// The database cannot be reached now (stopped, restarting, out of
    /// connections, no connection within the pool's wait): nothing was
    /// done, or nothing is known to have been; the callers answer 503 and
    /// background work tries again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
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

impl StoreError {
    /// Whether the database was out of reach (worth retrying later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &err {
            E::Database(db) if db.is_unique_violation() => Self::Conflict,
            E::Database(db) if db.code().is_some_and(|c| unreachable_state(&c)) => {
                Self::Unavailable(err)
            }
            // A connection cut while a server shuts down can also surface
            // as a protocol error (a message cut short): out of reach too.
            E::Io(_)
            | E::Tls(_)
            | E::Protocol(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed => Self::Unavailable(err),
            _ => Self::Database(err),
        }
    }
}

/// PostgreSQL's SQLSTATEs for a server that is going away or not there
/// yet: connection exceptions (class 08), shutdowns and restarts (57P01 to
/// 57P03), too many connections (53300).
fn unreachable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_unavailable_and_other_failures_are_not() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(refused),
            sqlx::Error::Protocol("unexpected end of message".into()),
        ] {
            assert!(StoreError::from(err).is_unavailable());
        }
        for code in ["08006", "57P01", "57P03", "53300"] {
            assert!(unreachable_state(code), "{code}");
        }
        for code in ["23505", "42P01", "40001"] {
            assert!(!unreachable_state(code), "{code}");
        }
        let missing = StoreError::from(sqlx::Error::RowNotFound);
        assert!(!missing.is_unavailable());
    }
}
