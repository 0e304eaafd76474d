//! The base URL a client reached, for catalogs and links: OpenStack clients
//! follow the URLs we hand out, so they must point where the client came
//! from (or where the operator says the cloud is published).

use http::HeaderMap;
use http::header::HOST;

use crate::ApiConfig;

/// `scheme://host[:port]` without a trailing slash.
pub fn base_url(headers: &HeaderMap, config: &ApiConfig) -> String {
    if let Some(public) = &config.public_url {
        return public.trim_end_matches('/').to_owned();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
    let host = header("x-forwarded-host")
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthMode;

    fn config(public_url: Option<&str>) -> ApiConfig {
        ApiConfig {
            auth: AuthMode::NoAuth,
            public_url: public_url.map(str::to_owned),
            region: "RegionOne".into(),
            max_body_bytes: 1024,
            driver: "fake".into(),
            control: crate::control::ControlConfig::default(),
            novnc_dir: None,
        }
    }

    #[test]
    fn uses_host_forwarded_headers_or_public_url() {
        let mut h = HeaderMap::new();
        assert_eq!(base_url(&h, &config(None)), "http://localhost");
        h.insert(HOST, "10.1.2.3:8774".parse().unwrap());
        assert_eq!(base_url(&h, &config(None)), "http://10.1.2.3:8774");
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert(
            "x-forwarded-host",
            "cloud.example.org, proxy".parse().unwrap(),
        );
        assert_eq!(base_url(&h, &config(None)), "https://cloud.example.org");
        assert_eq!(
            base_url(&h, &config(Some("https://pub.example/"))),
            "https://pub.example"
        );
    }
}
