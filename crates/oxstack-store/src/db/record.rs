//! Reading rows the same way on both engines: a [`Record`] decodes itself
//! from [`Columns`], which both a direct SQLite row and a PostgreSQL row
//! provide, so every query has one mapping.

use sqlx::Postgres;
use sqlx::postgres::PgRow;

/// A column type both engines can decode.
pub(crate) trait ColumnType:
    for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + rusqlite::types::FromSql
{
}

impl<T> ColumnType for T where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + rusqlite::types::FromSql
{
}

/// Why a row could not be read.
#[derive(Debug, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct DecodeError {
    pub column: String,
    pub message: String,
}

impl DecodeError {
    pub fn new(column: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            column: column.into(),
            message: message.to_string(),
        }
    }
}

/// Typed column access over a row of either engine.
pub(crate) trait Columns {
    fn column<T: ColumnType>(&self, name: &str) -> Result<T, DecodeError>;

    /// The column at `index` (for records read as tuples).
    fn column_at<T: ColumnType>(&self, index: usize) -> Result<T, DecodeError>;
}

/// A record read whole from one row.
pub(crate) trait Record: Sized {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError>;
}

/// Tuples read their columns in order (`SELECT a, b` as `(A, B)`).
macro_rules! tuple_record {
    ($($t:ident $i:tt),+) => {
        impl<$($t: ColumnType),+> Record for ($($t,)+) {
            fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
                Ok(($(row.column_at::<$t>($i)?,)+))
            }
        }
    };
}
tuple_record!(A 0);
tuple_record!(A 0, B 1);
tuple_record!(A 0, B 1, C 2);
tuple_record!(A 0, B 1, C 2, D 3);
tuple_record!(A 0, B 1, C 2, D 3, E 4);
tuple_record!(A 0, B 1, C 2, D 3, E 4, F 5);

impl Columns for PgRow {
    fn column<T: ColumnType>(&self, name: &str) -> Result<T, DecodeError> {
        sqlx::Row::try_get(self, name).map_err(|e| DecodeError::new(name, e))
    }

    fn column_at<T: ColumnType>(&self, index: usize) -> Result<T, DecodeError> {
        sqlx::Row::try_get(self, index).map_err(|e| DecodeError::new(index.to_string(), e))
    }
}

/// A statement's column names, read once (and kept per connection, see
/// `KnownNames` in `sqlite.rs`): rusqlite's lookup by name re-reads and
/// compares every name through the C API on each call, which for a
/// fifty-column row cost more than running the query.
#[derive(Debug)]
pub(crate) struct ColumnNames {
    names: Vec<String>,
}

impl ColumnNames {
    pub fn of(statement: &rusqlite::Statement<'_>) -> Self {
        Self {
            names: statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Where column `name` is, looked for at `hint` first: records read
    /// their columns mostly in the statement's order, and a fifty-column
    /// row searched from the start for each column compares names more
    /// than a thousand times.
    fn index(&self, name: &str, hint: usize) -> Option<usize> {
        match self.names.get(hint) {
            Some(n) if n == name => Some(hint),
            _ => self.names.iter().position(|n| n == name),
        }
    }
}

/// A row of a direct SQLite statement, with the statement's column names.
pub(crate) struct SqliteRow<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a ColumnNames,
    /// The column after the one read last by name.
    next: std::cell::Cell<usize>,
}

impl<'a> SqliteRow<'a> {
    pub fn new(row: &'a rusqlite::Row<'a>, names: &'a ColumnNames) -> Self {
        Self {
            row,
            names,
            next: std::cell::Cell::new(0),
        }
    }
}

impl Columns for SqliteRow<'_> {
    fn column<T: ColumnType>(&self, name: &str) -> Result<T, DecodeError> {
        let index = self
            .names
            .index(name, self.next.get())
            .ok_or_else(|| DecodeError::new(name, "no such column"))?;
        self.next.set(index + 1);
        self.column_at(index)
    }

    fn column_at<T: ColumnType>(&self, index: usize) -> Result<T, DecodeError> {
        self.row
            .get(index)
            .map_err(|e| DecodeError::new(index.to_string(), e))
    }
}
