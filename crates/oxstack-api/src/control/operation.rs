//! The names fault rules match requests by: `<resource>.<verb>` for the
//! compute API (`server.create`, `server.action.reboot`, `flavor.list`,
//! `server.metadata.update`, `keypair.delete`, ...), `image.<verb>` and
//! `image.upload` for Glance, `identity.token` and `identity.<resource>.
//! <verb>` for Keystone.

use http::Method;

/// `os-server-groups` → `server-group`, `servers` → `server`.
fn resource(segment: &str) -> String {
    let plain = segment.strip_prefix("os-").unwrap_or(segment);
    let singular = plain
        .strip_suffix("ies")
        .map(|stem| format!("{stem}y"))
        .or_else(|| plain.strip_suffix('s').map(str::to_owned))
        .unwrap_or_else(|| plain.to_owned());
    singular.replace('_', "-")
}

/// The verb of a request on a collection (`item` false) or one of its
/// members.
fn verb(method: &Method, item: bool) -> &'static str {
    match (method.as_str(), item) {
        ("GET" | "HEAD", false) => "list",
        ("GET" | "HEAD", true) => "show",
        ("POST", _) => "create",
        ("PUT" | "PATCH", _) => "update",
        ("DELETE", _) => "delete",
        _ => "other",
    }
}

/// Resources and verbs over path segments that alternate collection and
/// id: `servers/{id}/metadata/{key}` → `server.metadata.update`.
fn rest_name(method: &Method, segments: &[&str], action: Option<&str>) -> String {
    let mut names = Vec::new();
    let mut item = false;
    for (i, segment) in segments.iter().enumerate() {
        if i % 2 == 0 {
            if *segment == "action" {
                // The action's name is the body's; without it (the trace
                // keeps no body), the action alone.
                return match action {
                    Some(name) => format!("{}.action.{name}", names.join(".")),
                    None => format!("{}.action", names.join(".")),
                };
            }
            names.push(resource(segment));
            item = false;
        } else {
            // `servers/detail` lists; anything else there is an id.
            item = *segment != "detail";
        }
    }
    if names.is_empty() {
        return "version.show".into();
    }
    format!("{}.{}", names.join("."), verb(method, item))
}

/// The operation a request performs; `action` is the first key of the
/// body of a `POST .../action`.
pub fn classify(method: &Method, path: &str, action: Option<&str>) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["identity", "v3", "auth", "tokens"] if method == Method::POST => "identity.token".into(),
        ["identity", "v3", rest @ ..] => format!("identity.{}", rest_name(method, rest, None)),
        ["image", "v2", "images", _, "file"] if method == Method::PUT => "image.upload".into(),
        ["image", "v2", "images", _, "file"] => "image.download".into(),
        ["image", "v2", rest @ ..] => rest_name(method, rest, None),
        _ => {
            // The compute API, under any of its prefixes and with or
            // without a project id in the path.
            let mut rest: &[&str] = &segments;
            if rest.first() == Some(&"compute") {
                rest = &rest[1..];
            }
            if matches!(rest.first(), Some(&"v2.1" | &"v2")) {
                rest = &rest[1..];
                if rest.first().is_some_and(|s| looks_like_project(s)) {
                    rest = &rest[1..];
                }
            }
            rest_name(method, rest, action)
        }
    }
}

/// The id of the server a compute path is about (`.../servers/{id}/...`).
pub fn server_id(path: &str) -> Option<&str> {
    if path.starts_with("/image") || path.starts_with("/identity") {
        return None;
    }
    let mut segments = path.split('/').skip_while(|s| *s != "servers").skip(1);
    segments
        .next()
        .filter(|id| !id.is_empty() && *id != "detail")
}

/// A project id as Nova's router takes it (hex and dashes, 32+ long).
fn looks_like_project(segment: &str) -> bool {
    segment.len() >= 32 && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Whether `pattern` names `operation`: equal, or a prefix ending in `*`
/// (`server.action.*`, `*`).
pub fn matches(pattern: &str, operation: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => operation.starts_with(prefix),
        None => pattern == operation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_name_their_server() {
        assert_eq!(server_id("/compute/v2.1/servers/abc/action"), Some("abc"));
        assert_eq!(server_id("/v2.1/p/servers/abc"), Some("abc"));
        assert_eq!(server_id("/compute/v2.1/servers/detail"), None);
        assert_eq!(server_id("/compute/v2.1/servers"), None);
        assert_eq!(server_id("/image/v2/images/abc"), None);
    }

    #[test]
    fn requests_are_named_by_resource_and_verb() {
        let id = "0b0d1c2e-1111-2222-3333-444455556666";
        let cases = [
            (
                Method::POST,
                "/compute/v2.1/servers".to_owned(),
                None,
                "server.create",
            ),
            (
                Method::GET,
                "/compute/v2.1/servers/detail".into(),
                None,
                "server.list",
            ),
            (
                Method::GET,
                format!("/v2.1/servers/{id}"),
                None,
                "server.show",
            ),
            (
                Method::DELETE,
                format!("/compute/v2.1/servers/{id}"),
                None,
                "server.delete",
            ),
            (
                Method::POST,
                format!("/compute/v2.1/servers/{id}/action"),
                Some("reboot"),
                "server.action.reboot",
            ),
            (
                Method::POST,
                format!("/compute/v2.1/servers/{id}/action"),
                None,
                "server.action",
            ),
            (
                Method::PUT,
                format!("/compute/v2.1/servers/{id}/metadata/k"),
                None,
                "server.metadata.update",
            ),
            (
                Method::GET,
                "/compute/v2.1/flavors/detail".into(),
                None,
                "flavor.list",
            ),
            (
                Method::POST,
                "/compute/v2.1/os-keypairs".into(),
                None,
                "keypair.create",
            ),
            (
                Method::GET,
                "/compute/v2.1/os-server-groups".into(),
                None,
                "server-group.list",
            ),
            (
                Method::GET,
                "/compute/v2.1/0123456789abcdef0123456789abcdef/os-availability-zone".into(),
                None,
                "availability-zone.list",
            ),
            (
                Method::GET,
                "/compute/v2.1/os-simple-tenant-usage".into(),
                None,
                "simple-tenant-usage.list",
            ),
            (
                Method::POST,
                "/identity/v3/auth/tokens".into(),
                None,
                "identity.token",
            ),
            (
                Method::GET,
                "/identity/v3/projects".into(),
                None,
                "identity.project.list",
            ),
            (
                Method::POST,
                "/image/v2/images".into(),
                None,
                "image.create",
            ),
            (
                Method::PUT,
                format!("/image/v2/images/{id}/file"),
                None,
                "image.upload",
            ),
            (
                Method::PATCH,
                format!("/image/v2/images/{id}"),
                None,
                "image.update",
            ),
            (Method::GET, "/compute/v2.1".into(), None, "version.show"),
        ];
        for (method, path, action, expected) in cases {
            assert_eq!(
                classify(&method, &path, action),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn patterns_match_whole_names_or_prefixes() {
        assert!(matches("server.create", "server.create"));
        assert!(!matches("server.create", "server.created"));
        assert!(matches("server.action.*", "server.action.reboot"));
        assert!(matches("*", "image.upload"));
        assert!(!matches("server.action.*", "server.create"));
    }
}
