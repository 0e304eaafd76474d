//! The one-key wrapper every OpenStack body has (`{"server": {...}}`).
//!
//! `json!({"server": view})` serializes an already built `Value` into a
//! second one — a deep copy of the whole view, which for a page of a
//! thousand servers was a tenth of the request's time. This moves it.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

/// What a response buffer starts with: a server's view at the latest
/// microversion is about 3 KiB.
const RESPONSE_CAPACITY: usize = 4096;

/// A JSON response of `value`, serialized into a plain buffer. (axum's
/// `Json` starts from 128 bytes and writes through `BytesMut`'s generic
/// writer; for a server's view that was more than a quarter of the
/// serializing, by `bench/instructions.sh`.) sonic-rs writes what
/// serde_json would, but finds the characters to escape 16 or 32 bytes at
/// a time: serde_json's byte-by-byte escaping was a fifth of a page of
/// servers in detail.
pub(crate) fn json_response<T: Serialize>(value: &T) -> Response {
    json_response_sized(value, RESPONSE_CAPACITY)
}

/// [`json_response`] into a buffer of `capacity` bytes to start with: a
/// page of a thousand servers grown from 4 KiB a doubling at a time was
/// copied and written afresh about twice over.
pub(crate) fn json_response_sized<T: Serialize>(value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match sonic_rs::to_writer(&mut body, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // Only a map with a key that is not a string fails, and no view
        // has one.
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The body is what serde_json writes, for every kind of value the
    /// views hold: escapes, non-ASCII, integer extremes, floats, nesting.
    #[tokio::test]
    async fn the_body_is_the_json_serde_json_writes() {
        let value = json!({
            "name": "quote \" backslash \\ slash / tab \t nl \n cr \r nul \u{0} bell \u{7} del \u{7f}",
            "unicode": "zoë 日本 🚀 \u{2028}",
            "numbers": [0, -1, i64::MIN, u64::MAX, 1.5, -0.25, 1e300, 3.0],
            "nested": {"empty": {}, "list": [], "null": null, "yes": true, "no": false},
            "long": "x".repeat(5000),
            "escapes_across_blocks": "abc\"defgh\\ijklmnopq\nrstuvwxyz\u{1}".repeat(300),
        });
        let response = json_response(&Enveloped("server", &value));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let expected = serde_json::to_vec(&json!({"server": value})).unwrap();
        assert_eq!(
            String::from_utf8(body.to_vec()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
