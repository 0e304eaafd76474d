//! `POST /servers`: checks in Nova's order, then one transaction that
//! takes the project's lock, counts usage against quota, numbers the
//! instances and allocates their addresses, so concurrent creates never
//! over-commit a quota or share an address. The build then runs in the
//! background (see [`super::manager`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;
use oxstack_store::instances::{
    ActionStep, CreateTx, FixedIp as FixedIpRow, InstanceRow, InstanceUsage,
};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value};

use super::Caller;
use super::flow::{Flow, Work, new_action};
use super::network::{Cidr, format_mac, mac_for};
use crate::flavors::Flavor;
use crate::model::states::{PowerState, TaskState, VmState};
use crate::model::{Fault, FixedIp, FlavorSnapshot, Server, ServerImage};
use crate::quotas::{Limits, Resource};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// The event a server no host could take fails in.
const SCHEDULE_EVENT: &str = "conductor_schedule_and_build_instances";

/// The image a server boots from, as the image service describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct BootImage {
    pub id: String,
    pub status: String,
    pub min_ram_mb: i64,
    pub min_disk_gb: i64,
    pub size_bytes: Option<i64>,
    pub properties: BTreeMap<String, String>,
}

/// Which networks to attach.
#[derive(Clone, Debug, PartialEq)]
pub enum Networks {
    /// Nova's `"auto"` (and the pre-2.37 default): the shared network.
    Auto,
    /// `"none"`: no network at all.
    None,
    List(Vec<RequestedNic>),
}

/// One entry of an explicit `networks` list.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestedNic {
    pub network_id: Option<String>,
    pub port: Option<String>,
    pub fixed_ip: Option<IpAddr>,
}

/// A validated create request, in domain terms.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateRequest {
    pub name: String,
    pub description: Option<String>,
    pub image: Option<BootImage>,
    pub flavor_id: String,
    pub networks: Networks,
    pub metadata: BTreeMap<String, String>,
    /// (path, base64 contents) of personality files.
    pub personality: Vec<(String, String)>,
    pub user_data: Option<String>,
    pub key_name: Option<String>,
    pub security_groups: Vec<String>,
    pub availability_zone: Option<String>,
    pub config_drive: bool,
    pub admin_pass: Option<String>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub auto_disk_config: bool,
    pub tags: Vec<String>,
    pub trusted_certs: Option<Vec<String>>,
    pub hostname: Option<String>,
    /// 2.74 `host` / `hypervisor_hostname` (admin only, checked by the API).
    pub requested_host: Option<String>,
    pub requested_node: Option<String>,
    /// What the request asks of the scheduler, as given.
    pub scheduler_hints: Map<String, Value>,
    pub min_count: i64,
    pub max_count: i64,
}

/// What a create produced.
#[derive(Clone, Debug)]
pub struct Created {
    pub servers: Vec<Server>,
    pub reservation_id: String,
    /// The admin password (given or generated), when passwords are enabled.
    pub admin_pass: Option<String>,
}

/// Nova's `generate_password`: one character of each group, the rest
/// from all, shuffled; no look-alike characters.
pub fn generate_password(length: usize) -> String {
    const GROUPS: [&str; 3] = [
        "23456789",
        "ABCDEFGHJKLMNPQRSTUVWXYZ",
        "abcdefghijkmnopqrstuvwxyz",
    ];
    let mut rng = rand::thread_rng();
    let all: Vec<char> = GROUPS.iter().flat_map(|g| g.chars()).collect();
    let mut chars: Vec<char> = GROUPS
        .iter()
        .filter_map(|g| g.chars().nth(rng.gen_range(0..g.len())))
        .collect();
    while chars.len() < length {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.truncate(length);
    chars.shuffle(&mut rng);
    chars.into_iter().collect()
}

/// `r-` and eight lowercase alphanumerics (Nova's `generate_uid('r')`).
fn reservation_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let tail: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("r-{tail}")
}

/// Nova's `sanitize_hostname`.
pub(crate) fn sanitize_hostname(name: &str) -> String {
    let latin1: String = name
        .chars()
        .filter(|c| (*c as u32) <= 0xff)
        .take(63)
        .collect();
    let dashed: String = latin1
        .chars()
        .map(|c| if matches!(c, ' ' | '_' | '.') { '-' } else { c })
        .collect();
    let kept: String = dashed
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '.' || *c == '-')
        .collect();
    kept.to_lowercase()
        .trim_matches(|c| c == '.' || c == '-')
        .to_owned()
}

/// Nova's `TooManyInstances` message for the resources over their limit:
/// (resource, requested, used, allowed).
pub(crate) fn over_quota(
    resources: &[(Resource, i64, i64, i64)],
    min_count: i64,
    max_count: i64,
) -> ComputeError {
    let names: Vec<&str> = resources.iter().map(|(r, ..)| r.name()).collect();
    let requested: Vec<String> = resources
        .iter()
        .map(|(r, req, ..)| {
            if *r == Resource::Instances && min_count != max_count {
                format!("{min_count}-{max_count}")
            } else {
                req.to_string()
            }
        })
        .collect();
    let used: Vec<String> = resources.iter().map(|(_, _, u, _)| u.to_string()).collect();
    let allowed: Vec<String> = resources.iter().map(|(_, _, _, a)| a.to_string()).collect();
    let overs = names.join(", ");
    ComputeError::Forbidden(format!(
        "Quota exceeded for {overs}: Requested {}, but already used {} of {} {overs}",
        requested.join(", "),
        used.join(", "),
        allowed.join(", ")
    ))
}

/// How many instances fit (Nova's `check_num_instances_quota`): all
/// `max_count` if they do, else as many as fit if that is at least
/// `min_count`, else the over-quota error.
fn instances_that_fit(
    limits: &Limits,
    usage: InstanceUsage,
    vcpus: i64,
    ram: i64,
    min_count: i64,
    max_count: i64,
) -> ComputeResult<i64> {
    let per_instance = [
        (Resource::Instances, 1, usage.instances),
        (Resource::Cores, vcpus, usage.cores),
        (Resource::Ram, ram, usage.ram),
    ];
    let mut fits = max_count;
    let mut overs = Vec::new();
    for (resource, each, used) in per_instance {
        let limit = limits.get(&resource).copied().unwrap_or(-1);
        if limit < 0 {
            continue;
        }
        if used + each * max_count > limit {
            overs.push((resource, each * max_count, used, limit));
        }
        if each > 0 {
            fits = fits.min((limit - used).max(0) / each);
        }
    }
    if overs.is_empty() {
        return Ok(max_count);
    }
    if fits >= min_count && fits > 0 {
        return Ok(fits);
    }
    Err(over_quota(&overs, min_count, max_count))
}

impl Compute {
    /// Creates `min_count..=max_count` servers and starts building them.
    pub async fn create_servers(
        &self,
        caller: &Caller,
        req: CreateRequest,
    ) -> ComputeResult<Created> {
        let (flavor, limits) = self.check_create(caller, &req).await?;
        let placement = self.placement(self.requested_host(&req).await?).await?;
        let template = self.template(caller, &req, &flavor).await?;
        let reservation_id = template.reservation_id.clone();
        let admin_pass = self.settings.enable_instance_password.then(|| {
            req.admin_pass
                .clone()
                .unwrap_or_else(|| generate_password(12))
        });

        let repo = self.store.instances();
        let mut tx = repo.begin_create(&caller.project_id).await?;
        let usage = tx.usage();
        let count = instances_that_fit(
            &limits,
            usage,
            flavor.vcpus,
            flavor.memory_mb,
            req.min_count,
            req.max_count,
        )?;
        let first_seq = tx.next_values("instances", count).await?;
        let mut servers = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut builds = Vec::with_capacity(servers.capacity());
        for index in 0..count {
            let uuid = uuid::Uuid::new_v4().to_string();
            let (name, hostname) = names(&req, &uuid, index, count);
            let fixed_ips = self.allocate_ports(&mut tx, &req.networks).await?;
            let mut server = Server {
                uuid,
                host: placement.next_host(),
                seq: first_seq + index,
                name,
                hostname,
                launch_index: index,
                fixed_ips: fixed_ips.into_iter().map(FixedIp::from).collect(),
                ..template.clone()
            };
            let unplaced = server.host.is_none();
            if unplaced {
                // No host can take it: it fails at once, as Nova's
                // scheduler fails it, in this transaction.
                let message = "No valid host was found. There are not enough hosts available.";
                server.vm_state = VmState::Error;
                server.task_state = None;
                server.fault = Some(Fault::new(500, message, message));
            }
            tx.insert(&InstanceRow::from(&server)).await?;
            let now = now_micros();
            let action = new_action(&server, caller, "create", None);
            let accept = ActionStep::Accept {
                action: &action,
                event: unplaced.then_some(SCHEDULE_EVENT),
                host: &self.host,
            };
            let action_id = tx.record_action(&accept, now).await?;
            if unplaced {
                let failed = ActionStep::Finish {
                    action_id,
                    event: SCHEDULE_EVENT,
                    error: server.fault.as_ref().map(|f| f.message.as_str()),
                };
                tx.record_action(&failed, now).await?;
            } else {
                builds.push((server.uuid.clone(), server.host.clone(), action_id));
            }
            servers.push(server);
        }
        tx.commit().await?;
        for (uuid, host, action_id) in builds {
            let work = Work {
                secret: admin_pass.clone(),
                ..Work::new(Flow::Build, Some(action_id))
            };
            self.dispatch(host.as_deref(), &uuid, work);
        }
        Ok(Created {
            servers,
            reservation_id,
            admin_pass,
        })
    }

    /// Nova's checks before anything is written, in Nova's order; returns
    /// the flavor and the project's limits.
    async fn check_create(
        &self,
        caller: &Caller,
        req: &CreateRequest,
    ) -> ComputeResult<(Flavor, Limits)> {
        if req.min_count > req.max_count {
            return Err(ComputeError::Invalid(
                "min_count must be <= max_count".into(),
            ));
        }
        if req.max_count > 1 {
            if let Networks::List(nics) = &req.networks
                && nics.iter().any(|n| n.fixed_ip.is_some())
            {
                return Err(ComputeError::Invalid(
                    "Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified."
                        .into(),
                ));
            }
            if req.hostname.is_some() {
                return Err(ComputeError::Invalid(
                    "Unable to allocate a single hostname to multiple instances".into(),
                ));
            }
        }
        self.check_availability_zone(caller, req.availability_zone.as_deref())?;
        let flavor = self
            .get_flavor(
                &req.flavor_id,
                crate::flavors::Viewer::Project(&caller.project_id),
            )
            .await
            .map_err(|e| match e {
                ComputeError::NotFound(m) => ComputeError::Invalid(m),
                other => other,
            })?;
        if flavor.disabled {
            return Err(ComputeError::Invalid(format!(
                "Flavor {} could not be found.",
                flavor.id
            )));
        }
        if let Some(user_data) = &req.user_data
            && base64::engine::general_purpose::STANDARD
                .decode(user_data)
                .is_err()
        {
            return Err(ComputeError::Invalid(
                "User data needs to be valid base 64.".into(),
            ));
        }
        if let Some(group) = req.security_groups.iter().find(|g| *g != "default") {
            return Err(ComputeError::Invalid(format!(
                "Security group {group} not found."
            )));
        }
        self.check_networks(&req.networks)?;
        if req.key_name.is_some() {
            // Key pairs do not exist in this build, so no name resolves.
            return Err(ComputeError::Invalid("Invalid key_name provided.".into()));
        }
        let limits = self.quota_limits(&caller.project_id).await?;
        self.check_injection_quotas(&limits, req)?;
        if let Some(image) = &req.image {
            check_image_fits(image, flavor.memory_mb, flavor.root_gb, caller.is_admin)?;
        }
        Ok((flavor, limits))
    }

    /// What every server of one request shares, as a new `building` one.
    async fn template(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        flavor: &Flavor,
    ) -> ComputeResult<Server> {
        let now = now_micros();
        let zone = req
            .availability_zone
            .as_deref()
            .and_then(|az| az.split(':').next())
            .filter(|az| !az.is_empty())
            .map(str::to_owned);
        Ok(Server {
            uuid: String::new(),
            seq: 0,
            project_id: caller.project_id.clone(),
            user_id: caller.user_id.clone(),
            name: String::new(),
            description: req.description.clone(),
            hostname: String::new(),
            reservation_id: reservation_id(),
            launch_index: 0,
            image: req
                .image
                .as_ref()
                .map(|i| ServerImage {
                    id: i.id.clone(),
                    properties: i.properties.clone(),
                })
                .unwrap_or_default(),
            flavor: self.flavor_snapshot(flavor).await?,
            old_flavor: None,
            key_name: None,
            key_data: None,
            user_data: req.user_data.clone(),
            availability_zone: zone.clone(),
            pinned_availability_zone: zone,
            host: None,
            node: None,
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            power_state: PowerState::NoState,
            progress: 0,
            access_ip_v4: req.access_ip_v4.clone(),
            access_ip_v6: req.access_ip_v6.clone(),
            auto_disk_config: req.auto_disk_config,
            config_drive: req.config_drive,
            root_device_name: None,
            locked_by: None,
            locked_reason: None,
            security_groups: security_groups(req),
            scheduler_hints: req.scheduler_hints.clone(),
            trusted_certs: req.trusted_certs.clone(),
            fault: None,
            shelved_image_id: None,
            created_at: now,
            updated_at: Some(now),
            launched_at: None,
            terminated_at: None,
            deleted_at: None,
            deleted: false,
            metadata: req.metadata.clone(),
            tags: req.tags.clone(),
            fixed_ips: Vec::new(),
            floating_ips: Vec::new(),
        })
    }

    fn check_availability_zone(&self, caller: &Caller, az: Option<&str>) -> ComputeResult<()> {
        let Some(az) = az else { return Ok(()) };
        let parts: Vec<&str> = az.split(':').collect();
        if parts.len() > 3 {
            return Err(ComputeError::Invalid(
                "Invalid input received: Unable to parse availability_zone".into(),
            ));
        }
        if parts.len() > 1 && !caller.is_admin {
            return Err(ComputeError::Forbidden(
                "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed."
                    .into(),
            ));
        }
        if !parts[0].is_empty() && parts[0] != self.settings.availability_zone {
            return Err(ComputeError::Invalid(
                "The requested availability zone is not available".into(),
            ));
        }
        Ok(())
    }

    /// The host a request pins its servers to (`zone:host[:node]`, or
    /// 2.74's `host`/`hypervisor_hostname`), which must be a known
    /// compute host.
    async fn requested_host(&self, req: &CreateRequest) -> ComputeResult<Option<String>> {
        let from_zone = req.availability_zone.as_deref().and_then(|az| {
            let mut parts = az.split(':').skip(1).filter(|p| !p.is_empty());
            parts.next().map(str::to_owned)
        });
        let mut pinned = None;
        for wanted in [&from_zone, &req.requested_host, &req.requested_node]
            .into_iter()
            .flatten()
        {
            let Some(service) = self.find_host(wanted).await? else {
                return Err(ComputeError::Invalid(format!(
                    "Compute host {wanted} could not be found."
                )));
            };
            pinned.get_or_insert(service.host);
        }
        Ok(pinned)
    }

    fn check_networks(&self, networks: &Networks) -> ComputeResult<()> {
        let Networks::List(nics) = networks else {
            return Ok(());
        };
        let mut missing = Vec::new();
        for nic in nics {
            if let Some(port) = &nic.port {
                return Err(ComputeError::Invalid(format!(
                    "Port id {port} could not be found."
                )));
            }
            match &nic.network_id {
                Some(id) if *id == self.network.id => {}
                Some(id) => missing.push(id.clone()),
                None => {}
            }
            if let Some(addr) = nic.fixed_ip
                && !self.network.contains(addr)
            {
                return Err(ComputeError::Invalid(format!(
                    "Fixed IP address {addr} is invalid."
                )));
            }
        }
        if !missing.is_empty() {
            return Err(ComputeError::Invalid(format!(
                "Network {} could not be found.",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    fn check_injection_quotas(&self, limits: &Limits, req: &CreateRequest) -> ComputeResult<()> {
        let limit = |r: Resource| limits.get(&r).copied().unwrap_or(-1);
        let metadata = limit(Resource::MetadataItems);
        if metadata >= 0 && req.metadata.len() as i64 > metadata {
            return Err(ComputeError::Forbidden(format!(
                "Maximum number of metadata items exceeds {metadata}"
            )));
        }
        let files = limit(Resource::InjectedFiles);
        if files >= 0 && req.personality.len() as i64 > files {
            return Err(ComputeError::Forbidden(
                "Personality file limit exceeded".into(),
            ));
        }
        let path_bytes = limit(Resource::InjectedFilePathBytes);
        let content_bytes = limit(Resource::InjectedFileContentBytes);
        for (path, contents) in &req.personality {
            if path_bytes >= 0 && path.len() as i64 > path_bytes {
                return Err(ComputeError::Forbidden(format!(
                    "Personality file path exceeds maximum {path_bytes}"
                )));
            }
            if content_bytes >= 0 && contents.len() as i64 > content_bytes {
                return Err(ComputeError::Forbidden(format!(
                    "Personality file content exceeds maximum {content_bytes}"
                )));
            }
        }
        Ok(())
    }

    /// The flavor as a server keeps it (and shows it from 2.47), frozen
    /// at boot or resize.
    pub(crate) async fn flavor_snapshot(&self, flavor: &Flavor) -> ComputeResult<FlavorSnapshot> {
        Ok(FlavorSnapshot {
            id: flavor.id.clone(),
            name: flavor.name.clone(),
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
            swap_mb: flavor.swap,
            extra_specs: self.flavor_extra_specs(&flavor.id).await?,
        })
    }

    /// Allocates the ports of one instance inside the create transaction.
    pub(crate) async fn allocate_ports(
        &self,
        tx: &mut CreateTx,
        networks: &Networks,
    ) -> ComputeResult<Vec<FixedIpRow>> {
        let requested: Vec<Option<IpAddr>> = match networks {
            Networks::None => return Ok(Vec::new()),
            Networks::Auto => vec![None],
            Networks::List(nics) => nics.iter().map(|n| n.fixed_ip).collect(),
        };
        let mut ips = Vec::new();
        for (position, fixed) in requested.into_iter().enumerate() {
            let mut addresses = Vec::new();
            if let Some(addr) = fixed {
                if let Some(holder) = tx.holder_of(&self.network.id, &addr.to_string()).await? {
                    return Err(ComputeError::Invalid(format!(
                        "Fixed IP address {addr} is already in use on instance {holder}."
                    )));
                }
                addresses.push(addr);
            }
            let mac = mac_for(tx.next_values("macs", 1).await?);
            if !matches!(fixed, Some(IpAddr::V4(_)))
                && let Some(v4) = self.network.ipv4
            {
                addresses.push(IpAddr::V4(self.free_v4(tx, v4).await?));
            }
            if !matches!(fixed, Some(IpAddr::V6(_)))
                && let Some(v6) = self.network.slaac(mac)
            {
                addresses.push(IpAddr::V6(v6));
            }
            addresses.sort_by_key(IpAddr::is_ipv6);
            for addr in addresses {
                ips.push(FixedIpRow {
                    network_id: self.network.id.clone(),
                    address: addr.to_string(),
                    version: if addr.is_ipv4() { 4 } else { 6 },
                    mac: format_mac(mac),
                    position: position as i64,
                });
            }
        }
        Ok(ips)
    }

    /// The next free IPv4 address: a counter per network walks round the
    /// subnet, so an allocation costs a lookup or two however many servers
    /// hold addresses (reading every address in use made boots slower as
    /// the cloud grew), and a released address is not handed out again at
    /// once.
    async fn free_v4(&self, tx: &mut CreateTx, cidr: Cidr<Ipv4Addr>) -> ComputeResult<Ipv4Addr> {
        let counter = format!("ipv4:{}", self.network.id);
        for _ in 0..cidr.host_count() {
            let n = tx.next_values(&counter, 1).await?;
            let Some(candidate) = cidr.host(u64::try_from(n - 1).unwrap_or(0)) else {
                break;
            };
            if tx
                .holder_of(&self.network.id, &candidate.to_string())
                .await?
                .is_none()
            {
                return Ok(candidate);
            }
        }
        Err(ComputeError::Conflict(format!(
            "No more IP addresses available on network {}.",
            self.network.id
        )))
    }
}

/// Nova's `_validate_flavor_image` checks.
pub(crate) fn check_image_fits(
    image: &BootImage,
    memory_mb: i64,
    root_gb: i64,
    is_admin: bool,
) -> ComputeResult<()> {
    if image.status != "active" {
        return Err(ComputeError::Invalid(format!(
            "Image {} is not active.",
            image.id
        )));
    }
    if memory_mb < image.min_ram_mb {
        return Err(ComputeError::Invalid(
            "Flavor's memory is too small for requested image.".into(),
        ));
    }
    const GIB: i64 = 1 << 30;
    if root_gb == 0 {
        if !is_admin {
            return Err(ComputeError::Forbidden(
                "Only volume-backed servers are allowed for flavors with zero disk.".into(),
            ));
        }
        return Ok(());
    }
    let flavor_bytes = root_gb * GIB;
    if let Some(size) = image.size_bytes.filter(|s| *s > flavor_bytes) {
        return Err(ComputeError::Invalid(format!(
            "Flavor's disk is too small for requested image. Flavor disk is {flavor_bytes} bytes, image is {size} bytes."
        )));
    }
    if image.min_disk_gb * GIB > flavor_bytes {
        return Err(ComputeError::Invalid(format!(
            "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {flavor_bytes} bytes, minimum size is {} bytes.",
            image.min_disk_gb * GIB
        )));
    }
    Ok(())
}

/// Display name and hostname of the `index`-th of `count` instances.
fn names(req: &CreateRequest, uuid: &str, index: i64, count: i64) -> (String, String) {
    let display_name = if count > 1 {
        format!("{}-{}", req.name, index + 1)
    } else {
        req.name.clone()
    };
    let hostname = match &req.hostname {
        Some(h) => h.clone(),
        None => {
            let base = sanitize_hostname(&req.name);
            if base.is_empty() {
                format!("Server-{uuid}")
            } else if count > 1 {
                format!("{base}-{}", index + 1)
            } else {
                base
            }
        }
    };
    (display_name, hostname)
}

/// The security groups a server gets: the requested ones (deduplicated),
/// or `default`.
fn security_groups(req: &CreateRequest) -> Vec<String> {
    if req.security_groups.is_empty() {
        return vec!["default".into()];
    }
    let mut groups = req.security_groups.clone();
    groups.sort();
    groups.dedup();
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_sanitized_like_nova() {
        assert_eq!(
            sanitize_hostname("My Server_1.example"),
            "my-server-1-example"
        );
        assert_eq!(sanitize_hostname("--x--"), "x");
        assert_eq!(sanitize_hostname("日本"), "");
    }

    #[test]
    fn passwords_mix_groups() {
        let p = generate_password(12);
        assert_eq!(p.len(), 12);
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(!p.contains('l') && !p.contains('O') && !p.contains('I'));
    }

    #[test]
    fn reservation_ids_look_like_novas() {
        let r = reservation_id();
        assert_eq!(r.len(), 10);
        assert!(r.starts_with("r-"));
    }

    fn limits(instances: i64, cores: i64, ram: i64) -> Limits {
        Limits::from([
            (Resource::Instances, instances),
            (Resource::Cores, cores),
            (Resource::Ram, ram),
        ])
    }

    fn usage(instances: i64, cores: i64, ram: i64) -> InstanceUsage {
        InstanceUsage {
            instances,
            cores,
            ram,
        }
    }

    #[test]
    fn quota_reduces_to_what_fits_above_min_count() {
        let l = limits(10, 20, 51200);
        assert_eq!(
            instances_that_fit(&l, usage(0, 0, 0), 1, 512, 1, 3).ok(),
            Some(3)
        );
        assert_eq!(
            instances_that_fit(&l, usage(8, 8, 0), 1, 512, 1, 5).ok(),
            Some(2)
        );
        let err = instances_that_fit(&l, usage(10, 10, 5120), 1, 512, 1, 1).expect_err("over");
        assert_eq!(
            err.to_string(),
            "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
        );
        let err = instances_that_fit(&l, usage(0, 19, 0), 2, 512, 1, 1).expect_err("over");
        assert_eq!(
            err.to_string(),
            "Quota exceeded for cores: Requested 2, but already used 19 of 20 cores"
        );
        assert_eq!(
            instances_that_fit(&limits(-1, -1, -1), usage(99, 99, 99), 4, 4096, 7, 7).ok(),
            Some(7)
        );
    }
}
