//! Microversion negotiation, as `nova.api.openstack.wsgi` and
//! `microversion_parse` do it: `OpenStack-API-Version: compute X.Y` (the last
//! `compute` entry wins) or the legacy `X-OpenStack-Nova-API-Version: X.Y`;
//! `latest` means the maximum; no header means 2.1. The chosen version is
//! echoed, with `Vary`, on every response of the versioned API.

use std::fmt;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::ApiRoot;
use super::error::NovaError;

pub const STANDARD_HEADER: &str = "openstack-api-version";
pub const LEGACY_HEADER: &str = "x-openstack-nova-api-version";

/// A compute API microversion, e.g. 2.47.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    pub major: u32,
    pub minor: u32,
}

/// The oldest microversion served.
pub const MIN: Microversion = Microversion::v2(1);

/// The newest microversion whose behaviour oxstack implements in full. Raise
/// it only together with the behaviour of every version up to it.
pub const MAX: Microversion = Microversion::v2(104);

impl Microversion {
    pub const fn v2(minor: u32) -> Self {
        Self { major: 2, minor }
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why negotiation failed.
#[derive(Debug, PartialEq, Eq)]
pub enum NegotiationError {
    /// 400: not `MAJOR.MINOR`.
    InvalidFormat(String),
    /// 406: well formed, outside [MIN, MAX].
    Unsupported(String),
}

/// The version string the client asked for, if any.
fn requested(headers: &HeaderMap) -> Option<String> {
    let standard = headers
        .get_all(STANDARD_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| {
            let mut parts = entry.split_whitespace();
            let service = parts.next()?;
            let version = parts.next()?;
            service
                .eq_ignore_ascii_case("compute")
                .then(|| version.to_owned())
        })
        .next_back();
    standard.or_else(|| {
        headers
            .get_all(LEGACY_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .rfind(|v| !v.is_empty())
    })
}

fn parse(text: &str) -> Option<Microversion> {
    let (major, minor) = text.split_once('.')?;
    let number = |s: &str, allow_zero: bool| -> Option<u32> {
        let well_formed = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (!s.starts_with('0') || (allow_zero && s == "0"));
        if well_formed { s.parse().ok() } else { None }
    };
    Some(Microversion {
        major: number(major, false)?,
        minor: number(minor, true)?,
    })
}

/// The microversion a request asks for.
pub fn negotiate(headers: &HeaderMap) -> Result<Microversion, NegotiationError> {
    let Some(text) = requested(headers) else {
        return Ok(MIN);
    };
    if text == "latest" {
        return Ok(MAX);
    }
    let version = parse(&text).ok_or_else(|| NegotiationError::InvalidFormat(text.clone()))?;
    if version < MIN || version > MAX {
        return Err(NegotiationError::Unsupported(text));
    }
    Ok(version)
}

fn add_version_headers(headers: &mut HeaderMap, version: &str) {
    if let (Ok(standard), Ok(legacy)) = (
        HeaderValue::from_str(&format!("compute {version}")),
        HeaderValue::from_str(version),
    ) {
        headers.insert("OpenStack-API-Version", standard);
        headers.insert("X-OpenStack-Nova-API-Version", legacy);
        headers.append(
            http::header::VARY,
            HeaderValue::from_static("OpenStack-API-Version"),
        );
        headers.append(
            http::header::VARY,
            HeaderValue::from_static("X-OpenStack-Nova-API-Version"),
        );
    }
}

/// Middleware: negotiates, stores the [`Microversion`] for handlers, and
/// echoes it on the response. The legacy `/v2` API ignores the headers.
pub async fn negotiate_layer(mut request: Request, next: Next) -> Response {
    let legacy = request
        .extensions()
        .get::<ApiRoot>()
        .is_some_and(|root| root.legacy_v2);
    if legacy {
        request.extensions_mut().insert(MIN);
        return next.run(request).await;
    }
    match negotiate(request.headers()) {
        Ok(version) => {
            request.extensions_mut().insert(version);
            let mut response = next.run(request).await;
            add_version_headers(response.headers_mut(), &version.to_string());
            response
        }
        Err(NegotiationError::InvalidFormat(text)) => NovaError::bad_request(format!(
            "API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
        ))
        .into_response(),
        Err(NegotiationError::Unsupported(text)) => {
            let mut response = NovaError::new(
                StatusCode::NOT_ACCEPTABLE,
                format!("Version {text} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."),
            )
            .into_response();
            add_version_headers(response.headers_mut(), &text);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_nova_version_strings() {
        assert_eq!(parse("2.1"), Some(Microversion::v2(1)));
        assert_eq!(parse("2.104"), Some(Microversion::v2(104)));
        assert_eq!(parse("3.0"), Some(Microversion { major: 3, minor: 0 }));
        for bad in [
            "2.01", "02.1", "2", "2.", ".1", "abc", "2.1.1", "2.-1", " 2.1", "0.1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_precedence_and_defaults() {
        assert_eq!(negotiate(&headers(&[])), Ok(MIN));
        assert_eq!(
            negotiate(&headers(&[(STANDARD_HEADER, "compute latest")])),
            Ok(MAX)
        );
        assert_eq!(negotiate(&headers(&[(LEGACY_HEADER, "latest")])), Ok(MAX));
        assert_eq!(
            negotiate(&headers(&[(STANDARD_HEADER, "COMPUTE 2.1")])),
            Ok(Microversion::v2(1))
        );
        // The standard header wins over the legacy one when it names compute.
        assert_eq!(
            negotiate(&headers(&[
                (STANDARD_HEADER, "compute 2.1"),
                (LEGACY_HEADER, "abc")
            ])),
            Ok(Microversion::v2(1))
        );
        // ...and is ignored when it names only other services.
        assert_eq!(
            negotiate(&headers(&[
                (STANDARD_HEADER, "volume 3.5"),
                (LEGACY_HEADER, "9.9")
            ])),
            Err(NegotiationError::Unsupported("9.9".into()))
        );
        // The last compute entry wins.
        assert_eq!(
            negotiate(&headers(&[(
                STANDARD_HEADER,
                "compute 9.9, volume 3.0, compute 2.1"
            )])),
            Ok(Microversion::v2(1))
        );
        assert_eq!(
            negotiate(&headers(&[(STANDARD_HEADER, "compute abc")])),
            Err(NegotiationError::InvalidFormat("abc".into()))
        );
        assert_eq!(
            negotiate(&headers(&[(STANDARD_HEADER, "compute 2.0")])),
            Err(NegotiationError::Unsupported("2.0".into()))
        );
        assert_eq!(
            negotiate(&headers(&[(STANDARD_HEADER, "compute Latest")])),
            Err(NegotiationError::InvalidFormat("Latest".into()))
        );
    }
}
