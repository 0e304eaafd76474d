//! `POST /servers`: the admission checks in Nova's order (`admission.rs`),
//! then one transaction that takes the project's lock, counts usage
//! against quota, numbers the servers and allocates their addresses
//! (`addresses.rs`), so concurrent creates never over-commit a quota or
//! share an address. The build then runs on each server's host (see
//! `build.rs`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use oxstack_store::StoreError;
use oxstack_store::instances::{ActionStep, InstanceRow};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Caller;
use super::admission::{Admitted, instances_that_fit};
use super::flow::{Flow, FlowArgs, Work, new_action};
use crate::flavors::Flavor;
use crate::hosts::Placement;
use crate::model::canonical_ips;
use crate::model::states::{PowerState, TaskState, VmState};
use crate::model::{Fault, FlavorSnapshot, Server, ServerImage};
use crate::quotas::Resource;
use crate::server_groups::GroupRule;
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
    /// The device tag (2.32, again from 2.42).
    pub tag: Option<String>,
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
    /// Block devices with a volume destination, checked by the API (the
    /// boot volume, `boot_index` 0, makes the server volume-backed).
    pub block_devices: Vec<BlockDevice>,
}

/// A volume a new server is to hold: an existing one, or one made from
/// an image, a snapshot or nothing (Nova's block device mapping with a
/// volume destination).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// `volume`, `image`, `snapshot` or `blank`.
    pub source_type: String,
    pub uuid: Option<String>,
    pub boot_index: Option<i64>,
    /// GiB of a volume made for the server.
    pub volume_size: Option<i64>,
    pub delete_on_termination: bool,
    /// The guest's device (`/dev/vda` for the boot volume).
    pub device_name: String,
    pub tag: Option<String>,
    pub volume_type: Option<String>,
}

impl CreateRequest {
    /// Whether the server boots from a volume.
    pub fn volume_backed(&self) -> bool {
        self.block_devices.iter().any(|b| b.boot_index == Some(0))
    }
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

impl Compute {
    /// Creates `min_count..=max_count` servers and starts building them.
    pub async fn create_servers(
        &self,
        caller: &Caller,
        req: CreateRequest,
    ) -> ComputeResult<Created> {
        let admitted = self.check_create(caller, &req).await?;
        let (flavor, limits) = (&admitted.flavor, &admitted.limits);
        let zone = req
            .availability_zone
            .as_deref()
            .and_then(|az| az.split(':').next())
            .filter(|az| !az.is_empty());
        let hints = self.host_hints(&req.scheduler_hints).await?;
        let placement = self
            .placement(self.requested_host(&req).await?, zone, &hints)
            .await?;
        let template = self.template(caller, &req, &admitted).await?;
        let reservation_id = template.reservation_id.clone();
        let admin_pass = self.settings.enable_instance_password.then(|| {
            req.admin_pass
                .clone()
                .unwrap_or_else(|| generate_password(12))
        });

        let flow_args = FlowArgs {
            block_devices: req.block_devices.clone(),
            ..FlowArgs::default()
        };
        let args = flow_args.to_json();
        let repo = self.store.instances();
        // Checks that read more than the project's usage hold its row
        // from the start; a plain create of a fixed number takes it only
        // to check again before its commit.
        let mut tx = if admitted.user_limits.is_some()
            || admitted.server_group.is_some()
            || req.min_count != req.max_count
        {
            repo.begin_create(&caller.project_id).await?
        } else {
            repo.begin_create_claiming_last(&caller.project_id).await?
        };
        let usage = tx.usage();
        let mut count = instances_that_fit(
            limits,
            usage,
            flavor.vcpus,
            flavor.memory_mb,
            req.min_count,
            req.max_count,
        )?;
        if let Some(own) = &admitted.user_limits {
            // The caller's own limits, against what the caller's servers use.
            let used = tx.user_usage(&caller.user_id).await?;
            count = instances_that_fit(
                own,
                used,
                flavor.vcpus,
                flavor.memory_mb,
                req.min_count,
                count,
            )?;
        }
        let hosts = match &admitted.server_group {
            Some(group) => {
                let limit = limits
                    .get(&Resource::ServerGroupMembers)
                    .copied()
                    .unwrap_or(-1);
                let members = tx.group_members_of(&group.uuid, &caller.user_id).await?;
                if limit >= 0 && members + count > limit {
                    return Err(ComputeError::Forbidden(
                        "Quota exceeded, too many servers in group".into(),
                    ));
                }
                let on_hosts = tx.group_hosts(&group.uuid).await?.into_iter().collect();
                group_hosts(&placement, group.rule(), on_hosts, count)
            }
            None => (0..count).map(|_| placement.next_host()).collect(),
        };
        let first_seq = tx.next_values("instances", count).await?;
        let mut servers = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut builds = Vec::with_capacity(servers.capacity());
        for (index, host) in (0..count).zip(hosts) {
            let uuid = uuid::Uuid::new_v4().to_string();
            let (name, hostname) = names(&req, &uuid, index, count);
            let mut server = Server {
                uuid,
                host,
                seq: first_seq + index,
                name,
                hostname,
                launch_index: index,
                ..template.clone()
            };
            if !unplaced_host(&server) {
                self.networking
                    .make_server_ports(
                        &mut tx.ports(),
                        &admitted.ports,
                        &server.uuid,
                        server.host.as_deref(),
                    )
                    .await?;
            }
            let unplaced = unplaced_host(&server);
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
            let action = new_action(&server, caller, "create", args.as_deref());
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
        let claimed = tx.claim().await?;
        instances_that_fit(
            limits,
            claimed,
            flavor.vcpus,
            flavor.memory_mb,
            count,
            count,
        )?;
        tx.commit().await.map_err(|e| match e {
            StoreError::LimitExceeded => oxstack_network::server_ports_over_quota().into(),
            other => ComputeError::from(other),
        })?;
        for (uuid, host, action_id) in builds {
            let work = Work {
                secret: admin_pass.clone(),
                args: flow_args.clone(),
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
    /// What every server of one request shares, as a new `building` one.
    async fn template(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        admitted: &Admitted,
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
            flavor: self.flavor_snapshot(&admitted.flavor).await?,
            old_flavor: None,
            key_name: admitted.key_pair.as_ref().map(|k| k.name.clone()),
            key_data: admitted.key_pair.as_ref().map(|k| k.public_key.clone()),
            user_data: req.user_data.clone(),
            availability_zone: zone.clone(),
            pinned_availability_zone: zone,
            host: None,
            node: None,
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            power_state: PowerState::NoState,
            progress: 0,
            access_ip_v4: canonical_ips(req.access_ip_v4.clone()),
            access_ip_v6: canonical_ips(req.access_ip_v6.clone()),
            auto_disk_config: req.auto_disk_config,
            config_drive: req.config_drive,
            root_device_name: None,
            locked_by: None,
            locked_reason: None,
            security_groups: security_groups(req),
            scheduler_hints: req.scheduler_hints.clone(),
            server_group: admitted.server_group.as_ref().map(|g| g.uuid.clone()),
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
            volumes: Vec::new(),
        })
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
}

/// The hosts of `count` new servers of a server group whose servers run
/// `members` of each host. Under a hard policy one server that cannot be
/// placed fails them all (Nova's scheduler fails the whole request).
fn group_hosts(
    placement: &Placement,
    rule: GroupRule,
    mut members: BTreeMap<String, i64>,
    count: i64,
) -> Vec<Option<String>> {
    let hosts: Vec<Option<String>> = (0..count)
        .map(|_| placement.next_host_in_group(rule, &mut members))
        .collect();
    if rule.is_hard() && hosts.iter().any(Option::is_none) {
        return hosts.iter().map(|_| None).collect();
    }
    hosts
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

/// Whether no host took the server (it fails at once, without ports).
fn unplaced_host(server: &Server) -> bool {
    server.host.is_none()
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
}
