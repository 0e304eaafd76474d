//! `rebuild`: a server gets a new image (and optionally a new name,
//! metadata, password, user data, ...) and is spawned again, keeping its
//! id, addresses and flavor. The new fields are written with the
//! acceptance, in its transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use oxstack_store::StoreError;
use oxstack_store::instances::InstanceUpdate;

use super::Caller;
use super::admission::check_image_fits;
use super::create::BootImage;
use super::flow::{Acceptance, Flow, Work, finish};
use super::rules;
use crate::model::canonical_ips;
use crate::model::change::{Change, Guard};
use crate::model::records::{certs_text, properties_text};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::model::{Fault, Server};
use crate::quotas::Resource;
use crate::{Compute, ComputeError, ComputeResult};

/// The task states a rebuild runs through.
const REBUILD_STEPS: [TaskState; 3] = [
    TaskState::Rebuilding,
    TaskState::RebuildBlockDeviceMapping,
    TaskState::RebuildSpawning,
];

/// What a rebuild changes; `None` keeps a field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RebuildRequest {
    pub image: Option<BootImage>,
    pub name: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub description: Option<Option<String>>,
    pub access_ip_v4: Option<Option<String>>,
    pub access_ip_v6: Option<Option<String>>,
    pub auto_disk_config: Option<bool>,
    pub user_data: Option<Option<String>>,
    pub key_name: Option<Option<String>>,
    pub trusted_certs: Option<Option<Vec<String>>>,
    pub hostname: Option<String>,
    /// The new admin password (given or generated); handed to the driver.
    pub admin_password: Option<String>,
    /// 2.93: a volume-backed server may rebuild with another image (its
    /// boot volume is re-imaged); before, only with its own.
    pub reimage_volume: bool,
}

impl Compute {
    /// Accepts a rebuild; returns the server as it is now (`REBUILD`).
    pub async fn rebuild_server(
        &self,
        caller: &Caller,
        id: &str,
        req: RebuildRequest,
    ) -> ComputeResult<Server> {
        let rule = &rules::REBUILD;
        let server = self.actionable(caller, id, rule).await?;
        let Some(image) = &req.image else {
            return Err(ComputeError::Invalid(
                "Cannot find image for rebuild".into(),
            ));
        };
        // A key pair named is the caller's (as Nova looks it up); null
        // takes the server's key away.
        let key = match &req.key_name {
            Some(Some(name)) => {
                let key_pair = self.key_pair_for_server(caller, name).await?;
                Some(Some((key_pair.name, key_pair.public_key)))
            }
            Some(None) => Some(None),
            None => None,
        };
        let volume_backed = self.volume_backed(&server).await?;
        if volume_backed {
            self.check_volume_rebuild(&server, image, req.reimage_volume)
                .await?;
        } else {
            check_image_fits(
                image,
                server.flavor.memory_mb,
                server.flavor.root_gb,
                caller.is_admin,
            )?;
        }
        let limit = self
            .quota_limits(&server.project_id)
            .await?
            .get(&Resource::MetadataItems)
            .copied()
            .unwrap_or(-1);
        let update = InstanceUpdate {
            display_name: req.name,
            display_description: req.description,
            hostname: req.hostname,
            access_ip_v4: req.access_ip_v4.map(canonical_ips),
            access_ip_v6: req.access_ip_v6.map(canonical_ips),
            auto_disk_config: req.auto_disk_config,
            // A volume-backed server keeps no image of its own.
            image_ref: (!volume_backed).then(|| image.id.clone()),
            image_properties: Some(properties_text(&image.properties)),
            user_data: req.user_data,
            key_name: key
                .as_ref()
                .map(|k| k.as_ref().map(|(name, _)| name.clone())),
            key_data: key.map(|k| k.map(|(_, data)| data)),
            trusted_certs: req
                .trusted_certs
                .map(|certs| certs.as_deref().map(certs_text)),
            ..InstanceUpdate::default()
        };
        let acceptance = Acceptance {
            update: Some(update),
            metadata: req.metadata.as_ref().map(|m| (m, limit)),
            ..Acceptance::default()
        };
        let action_id = match self.accept(caller, &server, rule, acceptance).await {
            Err(ComputeError::Store(StoreError::LimitExceeded)) => {
                return Err(ComputeError::Forbidden(format!(
                    "Maximum number of metadata items exceeds {limit}"
                )));
            }
            other => other?,
        };
        if volume_backed {
            // 2.93 (Cinder's `os-reimage`): the boot volume takes the new
            // image's data and metadata; the same image leaves it as it is.
            self.reimage_boot_volume(&server.uuid, image).await?;
        }
        // The response shows the server as accepted (REBUILD), read before
        // the flow can move it on.
        let accepted = self.get_server(caller, id).await?;
        let work = Work {
            secret: req.admin_password,
            ..Work::new(Flow::Rebuild, Some(action_id))
        };
        self.dispatch(server.host.as_deref(), &server.uuid, work);
        Ok(accepted)
    }

    /// Walks the rebuild task states, spawns the guest again and settles
    /// it as it was powered (a stopped server stays stopped).
    pub(crate) async fn run_rebuild(&self, uuid: &str, work: &Work) -> ComputeResult<()> {
        const EVENT: &str = "compute_rebuild_instance";
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        let Some(step) = server
            .task_state
            .and_then(|t| REBUILD_STEPS.iter().position(|s| *s == t))
        else {
            return Ok(());
        };
        self.start_event(work.action_id, EVENT).await?;
        if !self.walk_tasks(uuid, &REBUILD_STEPS[step..]).await? {
            return Ok(());
        }
        let stopped = server.vm_state == VmState::Stopped;
        let mut guest = self.guest_of(&server).await?;
        guest.admin_password = work.secret.clone();
        // The guest goes and comes back from the (new) image: its disks
        // are made again, its volumes kept.
        let mut result = self.driver.destroy(uuid).await;
        if result.is_ok() {
            result = self.driver.spawn(&guest).await;
        }
        if result.is_ok() && stopped {
            result = self.driver.power_off(uuid, Duration::ZERO).await;
        }
        let power = self.driver.power_state(uuid).await;
        let error = result.err().map(|e| e.message);
        let change = match &error {
            None => Change::settle(
                if stopped {
                    VmState::Stopped
                } else {
                    VmState::Active
                },
                power,
            ),
            Some(message) => Change {
                power_state: Some(PowerState::NoState),
                ..Change::error(Fault::new(500, message, message))
            },
        };
        self.step(
            uuid,
            &Guard::in_task(REBUILD_STEPS[2]),
            &change,
            finish(work.action_id, EVENT, error.as_deref()),
            None,
        )
        .await?;
        Ok(())
    }
}
