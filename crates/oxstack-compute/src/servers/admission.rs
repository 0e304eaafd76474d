//! Whether a create request may go ahead, checked in Nova's order before
//! anything is written: counts, zone, flavor, user data, groups, networks,
//! quotas of what is injected, the image against the flavor; and how many
//! of the requested servers fit the project's quota.

use base64::Engine as _;
use oxstack_store::instances::InstanceUsage;

use super::Caller;
use super::create::{BootImage, CreateRequest, Networks};
use crate::flavors::Flavor;
use crate::keypairs::KeyPair;
use crate::quotas::{Limits, Resource};
use crate::server_groups::ServerGroup;
use crate::{Compute, ComputeError, ComputeResult};

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
pub(super) fn instances_that_fit(
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

/// What a create request was admitted with.
pub(super) struct Admitted {
    pub flavor: Flavor,
    /// The project's limits.
    pub limits: Limits,
    /// The caller's own limits, when they have some for servers.
    pub user_limits: Option<Limits>,
    /// The caller's key pair the servers boot with.
    pub key_pair: Option<KeyPair>,
    /// The server group they join.
    pub server_group: Option<ServerGroup>,
    /// The ports each server gets.
    pub ports: oxstack_network::ServerPorts,
}

impl Compute {
    /// Nova's checks before anything is written, in Nova's order.
    pub(super) async fn check_create(
        &self,
        caller: &Caller,
        req: &CreateRequest,
    ) -> ComputeResult<Admitted> {
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
        self.check_availability_zone(caller, req.availability_zone.as_deref())
            .await?;
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
        let ports = self.plan_ports(caller, req).await?;
        let key_pair = match &req.key_name {
            Some(name) => Some(self.key_pair_for_server(caller, name).await?),
            None => None,
        };
        let server_group = self.requested_group(caller, &req.scheduler_hints).await?;
        let (limits, user_limits) = self
            .server_quota_limits(&caller.project_id, &caller.user_id)
            .await?;
        self.check_injection_quotas(&limits, req)?;
        match &req.image {
            // A volume-backed server's disk is its volume, whatever the
            // flavor's disk.
            Some(image) if req.volume_backed() && flavor.memory_mb < image.min_ram_mb => {
                return Err(ComputeError::Invalid(
                    "Flavor's memory is too small for requested image.".into(),
                ));
            }
            Some(image) if !req.volume_backed() => {
                check_image_fits(image, flavor.memory_mb, flavor.root_gb, caller.is_admin)?;
            }
            _ => {}
        }
        Ok(Admitted {
            flavor,
            limits,
            user_limits,
            key_pair,
            server_group,
            ports,
        })
    }
    async fn check_availability_zone(
        &self,
        caller: &Caller,
        az: Option<&str>,
    ) -> ComputeResult<()> {
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
        // A forced host goes where it is told; a zone must be one that
        // enabled hosts are in.
        let forced = parts.iter().skip(1).any(|p| !p.is_empty());
        if !parts[0].is_empty()
            && !forced
            && !self.available_zones().await?.iter().any(|z| z == parts[0])
        {
            return Err(ComputeError::Invalid(
                "The requested availability zone is not available".into(),
            ));
        }
        Ok(())
    }

    /// The host a request pins its servers to (`zone:host[:node]`, or
    /// 2.74's `host`/`hypervisor_hostname`), which must be a known
    /// compute host.
    pub(super) async fn requested_host(
        &self,
        req: &CreateRequest,
    ) -> ComputeResult<Option<String>> {
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

    /// The ports of the new servers, checked: networks, addresses,
    /// ports given and security groups, with Nova's messages (a missing
    /// group, network or port is the request's fault: 400).
    async fn plan_ports(
        &self,
        caller: &Caller,
        req: &CreateRequest,
    ) -> ComputeResult<oxstack_network::ServerPorts> {
        let nics: Option<Vec<oxstack_network::ServerNic>> = match &req.networks {
            Networks::None => return Ok(oxstack_network::ServerPorts::none()),
            Networks::Auto => None,
            Networks::List(nics) => Some(
                nics.iter()
                    .map(|n| oxstack_network::ServerNic {
                        network_id: n.network_id.clone(),
                        fixed_ip: n.fixed_ip.map(|ip| ip.to_string()),
                        port_id: n.port.clone(),
                        tag: n.tag.clone(),
                    })
                    .collect(),
            ),
        };
        let zone = req
            .availability_zone
            .as_deref()
            .and_then(|az| az.split(':').next())
            .filter(|az| !az.is_empty())
            .unwrap_or(&self.settings.availability_zone);
        self.networking
            .plan_server_ports(
                &caller.project_id,
                nics.as_deref(),
                &req.security_groups,
                zone,
            )
            .await
            .map_err(|e| match ComputeError::from(e) {
                ComputeError::NotFound(m) => ComputeError::Invalid(m),
                other => other,
            })
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

#[cfg(test)]
mod tests {
    use super::*;

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
