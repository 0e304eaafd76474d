//! Values bound into SQL statements, the same for both paths (sqlx and
//! direct SQLite), so that one statement text with one list of values runs
//! on either.

/// A value bound into a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
    /// A NULL integer (PostgreSQL types its parameters, so a NULL carries
    /// the type of the column it goes to).
    NullInt,
    /// A NULL text.
    NullText,
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for SqlValue {
    /// Flags are stored as 0/1 integers (sqlx's `Any` driver cannot read
    /// SQLite booleans).
    fn from(v: bool) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Self::NullText, Self::from)
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Self::NullInt, Self::Int)
    }
}

/// `[SqlValue; N]` from values of mixed types, in placeholder order.
macro_rules! values {
    ($($value:expr),* $(,)?) => {
        [$($crate::value::SqlValue::from($value)),*]
    };
}
pub(crate) use values;
