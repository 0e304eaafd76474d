//! The one-key wrapper every OpenStack body has (`{"server": {...}}`).
//!
//! `json!({"server": view})` serializes an already built `Value` into a
//! second one — a deep copy of the whole view, which for a page of a
//! thousand servers was a tenth of the request's time. This moves it.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

/// `{key: value}`, taking the value as it is.
pub(crate) fn envelope(key: &str, value: impl Into<Value>) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), value.into());
    Value::Object(map)
}

/// `{key: value}` around a value that serializes itself where it is (a
/// view written straight into the response).
pub(crate) struct Enveloped<'a, T>(pub &'a str, pub T);

impl<T: Serialize> Serialize for Enveloped<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}
