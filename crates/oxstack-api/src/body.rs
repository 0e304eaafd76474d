//! Reading JSON request bodies the OpenStack way: a missing or `text/plain`
//! Content-Type is taken as JSON (as Nova does), other types are refused,
//! oversized bodies are refused, and malformed JSON is the caller's error,
//! never a 500. Each service renders these failures in its own error shape.

use axum::extract::Request;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    UnsupportedMediaType,
    TooLarge,
    /// Not JSON at all.
    Malformed,
    /// JSON, but not the expected shape; the message names the problem.
    Invalid(String),
}

impl BodyError {
    /// The status every service answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::UnsupportedMediaType => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed | Self::Invalid(_) => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The message, in a service's own words for JSON it cannot parse and
    /// for a shape it does not expect (`invalid_prefix` + serde's detail).
    pub fn into_message(self, malformed: &str, invalid_prefix: &str) -> String {
        match self {
            Self::UnsupportedMediaType => "Unsupported Content-Type".into(),
            Self::TooLarge => "Request is too large.".into(),
            Self::Malformed => malformed.into(),
            Self::Invalid(detail) => format!("{invalid_prefix}{detail}"),
        }
    }
}

/// How much of an oversized body is read and thrown away before answering
/// 413: a client still writing its body when the connection closes sees a
/// broken pipe instead of the error, so bodies up to this size are drained.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// The bytes of a request body, at most the configured `max_body_bytes`.
pub async fn read_body(request: Request, state: &crate::AppState) -> Result<Bytes, BodyError> {
    use futures_util::StreamExt as _;

    if !acceptable_content_type(request.headers().get(CONTENT_TYPE)) {
        return Err(BodyError::UnsupportedMediaType);
    }
    let limit = state.config().max_body_bytes;
    let mut stream = request.into_body().into_data_stream();
    let mut body = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Malformed)?;
        seen += chunk.len();
        if seen > DRAIN_LIMIT.max(limit) {
            break;
        }
        if seen <= limit {
            body.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(body.freeze())
}

/// Parses JSON into `T`; syntax errors and shape errors are told apart.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| BodyError::Malformed)?;
    serde_json::from_value(value).map_err(|e| BodyError::Invalid(e.to_string()))
}

fn acceptable_content_type(value: Option<&http::HeaderValue>) -> bool {
    let Some(value) = value else { return true };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "" | "application/json" | "text/plain" | "application/vnd.openstack.compute+json"
    ) || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ok = |v: &str| acceptable_content_type(Some(&http::HeaderValue::from_str(v).unwrap()));
        assert!(acceptable_content_type(None));
        assert!(ok("application/json"));
        assert!(ok("application/json; charset=UTF-8"));
        assert!(ok("text/plain"));
        assert!(ok("application/openstack-images-v2.1-json-patch+json"));
        assert!(!ok("application/xml"));
        assert!(!ok("multipart/form-data"));
    }

    #[test]
    fn malformed_versus_invalid() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            a: u32,
        }
        assert!(matches!(
            parse_json::<T>(b"{\"a\": "),
            Err(BodyError::Malformed)
        ));
        assert!(matches!(
            parse_json::<T>(b"{\"a\": \"x\"}"),
            Err(BodyError::Invalid(_))
        ));
        assert!(parse_json::<T>(b"{\"a\": 1}").is_ok());
    }
}
