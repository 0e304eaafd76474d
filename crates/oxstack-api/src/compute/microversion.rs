//! Microversion negotiation, as `nova.api.openstack.wsgi` and
//! `microversion_parse` do it: `OpenStack-API-Version: compute X.Y` (the last
//! `compute` entry wins) or the legacy `X-OpenStack-Nova-API-Version: X.Y`;
//! `latest` means the maximum; no header means 2.1. The chosen version is
//! echoed, with `Vary`, on every response of the versioned API.

use std::fmt;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

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

/// The microversions at which Nova changed something this API follows
/// (`nova/api/openstack/rest_api_version_history.rst`), by what changed.
/// Handlers, schemas and views compare with these, never with numbers.
pub mod mv {
    use super::Microversion;

    /// 2.2: key pairs' `type` (ssh or x509); creating one answers 201 and
    /// deleting one 204.
    pub const KEYPAIR_TYPE: Microversion = Microversion::v2(2);
    /// 2.3: admins see the rest of `OS-EXT-SRV-ATTR:*` (hostname, kernel, ...).
    pub const EXTENDED_SERVER_ATTRIBUTES: Microversion = Microversion::v2(3);
    /// 2.1: the base version; everything before any change.
    pub const BASE: Microversion = super::MIN;
    /// 2.5: the `ip6` filter for everyone.
    pub const IP6_FILTER: Microversion = Microversion::v2(5);
    /// 2.6: `POST /servers/{id}/remote-consoles` replaces the console actions.
    pub const REMOTE_CONSOLES: Microversion = Microversion::v2(6);
    /// 2.7: adding access to a public flavor is 409.
    pub const PUBLIC_FLAVOR_ACCESS_CONFLICT: Microversion = Microversion::v2(7);
    /// 2.8: WebMKS consoles.
    pub const MKS_CONSOLE: Microversion = Microversion::v2(8);
    /// 2.9: `locked` in server views.
    pub const LOCKED: Microversion = Microversion::v2(9);
    /// 2.10: admins manage other users' key pairs (`user_id`).
    pub const KEYPAIR_USERS: Microversion = Microversion::v2(10);
    /// 2.11: services' `forced_down` and their `force-down` action.
    pub const FORCED_DOWN: Microversion = Microversion::v2(11);
    /// 2.13: server groups show their `project_id` and `user_id`.
    pub const SERVER_GROUP_OWNERS: Microversion = Microversion::v2(13);
    /// 2.14: `evacuate` drops `onSharedStorage` and answers no `adminPass`.
    pub const EVACUATE_WITHOUT_SHARED_STORAGE: Microversion = Microversion::v2(14);
    /// 2.15: the soft-affinity and soft-anti-affinity group policies.
    pub const SOFT_GROUP_POLICIES: Microversion = Microversion::v2(15);
    /// 2.16: `host_status` for admins.
    pub const HOST_STATUS: Microversion = Microversion::v2(16);
    /// 2.17: the `trigger_crash_dump` action.
    pub const TRIGGER_CRASH_DUMP: Microversion = Microversion::v2(17);
    /// 2.19: server `description`.
    pub const SERVER_DESCRIPTION: Microversion = Microversion::v2(19);
    /// 2.21: the instance actions of deleted servers.
    pub const DELETED_SERVER_ACTIONS: Microversion = Microversion::v2(21);
    /// 2.22: `force_complete` of a live migration.
    pub const FORCE_COMPLETE: Microversion = Microversion::v2(22);
    /// 2.23: `migration_type` and `/servers/{id}/migrations`.
    pub const SERVER_MIGRATIONS: Microversion = Microversion::v2(23);
    /// 2.24: aborting a live migration.
    pub const ABORT_LIVE_MIGRATION: Microversion = Microversion::v2(24);
    /// 2.25: `block_migration: auto`; no `disk_over_commit`.
    pub const AUTO_BLOCK_MIGRATION: Microversion = Microversion::v2(25);
    /// 2.26: server tags.
    pub const SERVER_TAGS: Microversion = Microversion::v2(26);
    /// 2.28: hypervisors' `cpu_info` as an object.
    pub const CPU_INFO_OBJECT: Microversion = Microversion::v2(28);
    /// 2.29: `force` on `evacuate` (until 2.68).
    pub const EVACUATE_FORCE: Microversion = Microversion::v2(29);
    /// 2.30: `force` on `os-migrateLive` (until 2.68).
    pub const LIVE_MIGRATE_FORCE: Microversion = Microversion::v2(30);
    /// 2.31: console auth tokens of every console type.
    pub const ANY_CONSOLE_TOKEN: Microversion = Microversion::v2(31);
    /// 2.32: device `tag`s of networks and block devices on create.
    pub const DEVICE_TAGS: Microversion = Microversion::v2(32);
    /// 2.33: hypervisor listings page.
    pub const HYPERVISOR_PAGING: Microversion = Microversion::v2(33);
    /// 2.35: key pair listings page.
    pub const KEYPAIR_PAGING: Microversion = Microversion::v2(35);
    /// 2.36: the network, image and floating IP proxies end (last at 2.35).
    pub const NO_PROXIES: Microversion = Microversion::v2(36);
    /// 2.37: `networks` required, `auto` or `none` allowed; network tags end (until 2.42).
    pub const AUTO_NETWORKS: Microversion = Microversion::v2(37);
    /// 2.38: an unknown `status` filter is 400.
    pub const STRICT_STATUS_FILTER: Microversion = Microversion::v2(38);
    /// 2.39: the image metadata proxy and `maxImageMeta` end (last at 2.38).
    pub const NO_IMAGE_METADATA: Microversion = Microversion::v2(39);
    /// 2.40: simple tenant usage pages with `limit` and `marker`.
    pub const USAGE_PAGING: Microversion = Microversion::v2(40);
    /// 2.41: aggregates show their `uuid`.
    pub const AGGREGATE_UUIDS: Microversion = Microversion::v2(41);
    /// 2.42: device tags on create come back.
    pub const DEVICE_TAGS_AGAIN: Microversion = Microversion::v2(42);
    /// 2.43: `os-hosts` ends (last at 2.42).
    pub const NO_HOSTS: Microversion = Microversion::v2(43);
    /// 2.44: the fixed and floating IP actions end (last at 2.43).
    pub const NO_NETWORK_ACTIONS: Microversion = Microversion::v2(44);
    /// 2.45: `createImage` and `createBackup` answer the image id in the body.
    pub const IMAGE_ID_IN_BODY: Microversion = Microversion::v2(45);
    /// 2.47: the flavor embedded in server views.
    pub const EMBEDDED_FLAVOR: Microversion = Microversion::v2(47);
    /// 2.48: server diagnostics in the standard shape.
    pub const STANDARD_DIAGNOSTICS: Microversion = Microversion::v2(48);
    /// 2.49: `tag` when attaching an interface or a volume.
    pub const ATTACH_TAGS: Microversion = Microversion::v2(49);
    /// 2.50: quota classes show server group quotas, not network ones.
    pub const QUOTA_CLASS_SERVER_GROUPS: Microversion = Microversion::v2(50);
    /// 2.51: project members see the events of their servers' actions.
    pub const EVENTS_FOR_OWNERS: Microversion = Microversion::v2(51);
    /// 2.51: the `volume-extended` external event.
    pub const VOLUME_EXTENDED_EVENT: Microversion = Microversion::v2(51);
    /// 2.52: `tags` on create.
    pub const TAGS_ON_CREATE: Microversion = Microversion::v2(52);
    /// 2.53: services and hypervisors by UUID.
    pub const SERVICE_UUIDS: Microversion = Microversion::v2(53);
    /// 2.54: `key_name` on rebuild.
    pub const REBUILD_KEY_NAME: Microversion = Microversion::v2(54);
    /// 2.55: flavor `description`.
    pub const FLAVOR_DESCRIPTION: Microversion = Microversion::v2(55);
    /// 2.56: a cold migration's `host`.
    pub const MIGRATE_TO_HOST: Microversion = Microversion::v2(56);
    /// 2.57: `user_data` on rebuild; personality files end.
    pub const REBUILD_USER_DATA: Microversion = Microversion::v2(57);
    /// 2.58: instance actions page, with `updated_at`.
    pub const ACTION_PAGING: Microversion = Microversion::v2(58);
    /// 2.59: migrations page, with `uuid`.
    pub const MIGRATION_PAGING: Microversion = Microversion::v2(59);
    /// 2.61: extra specs in flavor views.
    pub const FLAVOR_EXTRA_SPECS: Microversion = Microversion::v2(61);
    /// 2.62: events' `host` and `hostId`.
    pub const EVENT_HOSTS: Microversion = Microversion::v2(62);
    /// 2.63: trusted image certificates.
    pub const TRUSTED_CERTS: Microversion = Microversion::v2(63);
    /// 2.64: server groups take one `policy` and `rules`, not `policies`.
    pub const GROUP_POLICY_RULES: Microversion = Microversion::v2(64);
    /// 2.65: aborting live migrations still queued or preparing.
    pub const ABORT_QUEUED_MIGRATION: Microversion = Microversion::v2(65);
    /// 2.66: `changes-before` filters.
    pub const CHANGES_BEFORE: Microversion = Microversion::v2(66);
    /// 2.67: `volume_type` of block devices.
    pub const BDM_VOLUME_TYPE: Microversion = Microversion::v2(67);
    /// 2.68: `force` on `evacuate` and `os-migrateLive` ends.
    pub const NO_FORCE: Microversion = Microversion::v2(68);
    /// 2.20: volumes attach to and detach from shelved servers.
    pub const SHELVED_VOLUMES: Microversion = Microversion::v2(20);
    /// 2.79: `delete_on_termination` of volume attachments.
    pub const ATTACH_DELETE_ON_TERMINATION: Microversion = Microversion::v2(79);
    /// 2.85: updating a volume attachment's `delete_on_termination`.
    pub const ATTACHMENT_UPDATE: Microversion = Microversion::v2(85);
    /// 2.89: volume attachments show `attachment_id` and `bdm_uuid`, not `id`.
    pub const ATTACHMENT_IDS: Microversion = Microversion::v2(89);
    /// 2.101: attaching a volume answers 202 without a body.
    pub const ASYNC_VOLUME_ATTACH: Microversion = Microversion::v2(101);
    /// 2.71: `server_groups` in server views.
    pub const SERVER_GROUPS_IN_VIEW: Microversion = Microversion::v2(71);
    /// 2.70: `tag` in interface attachments.
    pub const INTERFACE_TAGS: Microversion = Microversion::v2(70);
    /// 2.73: `locked_reason`; the `locked` filter and sort key.
    pub const LOCKED_REASON: Microversion = Microversion::v2(73);
    /// 2.74: `host` and `hypervisor_hostname` on create.
    pub const CREATE_ON_HOST: Microversion = Microversion::v2(74);
    /// 2.75: unknown query parameters are 400 on some APIs; update and rebuild answer the full view.
    pub const STRICT_QUERIES: Microversion = Microversion::v2(75);
    /// 2.76: the `power-update` external event.
    pub const POWER_UPDATE_EVENT: Microversion = Microversion::v2(76);
    /// 2.77: `availability_zone` on unshelve.
    pub const UNSHELVE_ZONE: Microversion = Microversion::v2(77);
    /// 2.78: a server's NUMA topology.
    pub const SERVER_TOPOLOGY: Microversion = Microversion::v2(78);
    /// 2.80: migrations' `user_id` and `project_id`.
    pub const MIGRATION_OWNERS: Microversion = Microversion::v2(80);
    /// 2.81: caching images on an aggregate's hosts.
    pub const AGGREGATE_IMAGES: Microversion = Microversion::v2(81);
    /// 2.82: the `accelerator-request-bound` external event.
    pub const ACCELERATOR_EVENT: Microversion = Microversion::v2(82);
    /// 2.83: project members filter by more fields (state, zone, user, ...).
    pub const OWNER_FILTERS: Microversion = Microversion::v2(83);
    /// 2.84: events' `details`.
    pub const EVENT_DETAILS: Microversion = Microversion::v2(84);
    /// 2.88: hypervisors without resource figures; statistics and uptime end.
    pub const NO_HYPERVISOR_RESOURCES: Microversion = Microversion::v2(88);
    /// 2.90: `hostname` on create, update and rebuild, shown to owners.
    pub const HOSTNAME: Microversion = Microversion::v2(90);
    /// 2.91: `host` on unshelve.
    pub const UNSHELVE_HOST: Microversion = Microversion::v2(91);
    /// 2.92: key pairs are imported only, never made here; their names
    /// may hold `@` and `.`.
    pub const IMPORTED_KEYPAIRS: Microversion = Microversion::v2(92);
    /// 2.93: the `volume-reimaged` external event.
    pub const VOLUME_REIMAGED_EVENT: Microversion = Microversion::v2(93);
    /// 2.94: hostnames may be FQDNs.
    pub const FQDN_HOSTNAME: Microversion = Microversion::v2(94);
    /// 2.95: evacuated servers end stopped.
    pub const EVACUATE_STOPPED: Microversion = Microversion::v2(95);
    /// 2.96: `pinned_availability_zone`.
    pub const PINNED_ZONE: Microversion = Microversion::v2(96);
    /// 2.98: image properties in the embedded image.
    pub const IMAGE_PROPERTIES: Microversion = Microversion::v2(98);
    /// 2.99: `spice-direct` consoles.
    pub const SPICE_DIRECT: Microversion = Microversion::v2(99);
    /// 2.100: `scheduler_hints` in server views.
    pub const SCHEDULER_HINTS: Microversion = Microversion::v2(100);
    /// 2.102: unknown query parameters are 400 everywhere; the flavor `name` filter.
    pub const STRICT_QUERIES_EVERYWHERE: Microversion = Microversion::v2(102);
    /// 2.104: `pinned_availability_zone` on update.
    pub const UNPIN_ZONE: Microversion = Microversion::v2(104);
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The microversions a route or an action exists at: from `since`, and
/// before `until` when Nova removed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    pub since: Microversion,
    pub until: Option<Microversion>,
}

impl Versions {
    /// Added at `version`.
    pub const fn since(version: Microversion) -> Self {
        Self {
            since: version,
            until: None,
        }
    }

    /// Removed at `version`.
    pub const fn until(version: Microversion) -> Self {
        Self {
            since: MIN,
            until: Some(version),
        }
    }

    pub fn contains(self, version: Microversion) -> bool {
        version >= self.since && self.until.is_none_or(|until| version < until)
    }

    /// Nova's 404 when the request's version is outside.
    pub fn check(self, version: Microversion) -> Result<(), NovaError> {
        if self.contains(version) {
            Ok(())
        } else {
            Err(NovaError::not_at_this_version())
        }
    }
}

/// Middleware of a route that exists at `versions` only (runs after the
/// negotiation, before the handler's extractors).
pub async fn only_at(State(versions): State<Versions>, request: Request, next: Next) -> Response {
    let version = request
        .extensions()
        .get::<Microversion>()
        .copied()
        .unwrap_or(MIN);
    match versions.check(version) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
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
        // Names made from constants, not parsed on every response.
        headers.insert(HeaderName::from_static(STANDARD_HEADER), standard);
        headers.insert(HeaderName::from_static(LEGACY_HEADER), legacy);
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
