//! Values bound into SQL statements, the same for both engines, so that
//! one statement text with one list of values runs on either. A NULL keeps
//! its type (PostgreSQL types every parameter).

/// A value bound into a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        Self::Float(Some(v))
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        Self::Bool(Some(v))
    }
}

impl From<Option<bool>> for SqlValue {
    fn from(v: Option<bool>) -> Self {
        Self::Bool(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

/// `[SqlValue; N]` from values of mixed types, in placeholder order.
macro_rules! values {
    ($($value:expr),* $(,)?) => {
        [$($crate::db::SqlValue::from($value)),*]
    };
}
pub(crate) use values;

/// Refuses text that one engine could not store (PostgreSQL rejects NUL
/// characters), on both engines alike, before the statement runs.
pub(crate) fn check_storable(binds: &[SqlValue]) -> Result<(), crate::StoreError> {
    let unstorable = binds
        .iter()
        .any(|b| matches!(b, SqlValue::Text(Some(t)) if t.contains('\0')));
    if unstorable {
        return Err(crate::StoreError::Unstorable);
    }
    Ok(())
}
