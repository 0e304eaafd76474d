//! The one-key wrapper every OpenStack body has (`{"server": {...}}`).
//!
//! `json!({"server": view})` serializes an already built `Value` into a
//! second one — a deep copy of the whole view, which for a page of a
//! thousand servers was a tenth of the request's time. This moves it.

use serde_json::{Map, Value};

/// `{key: value}`, taking the value as it is.
pub(crate) fn envelope(key: &str, value: impl Into<Value>) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), value.into());
    Value::Object(map)
}
