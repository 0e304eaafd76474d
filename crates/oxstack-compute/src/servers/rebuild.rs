//! `rebuild`: a server gets a new image (and optionally a new name,
//! metadata, password, user data, ...) and is spawned again, keeping its
//! id, addresses and flavor.

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::instances::{InstanceUpdate, StateChange, StateGuard};
use oxstack_virt::{Operation, PowerState};

use super::create::{BootImage, check_image_fits};
use super::manager::guest_spec;
use super::states::vm;
use super::{Caller, Server, check_lock, refused};
use crate::quotas::Resource;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// The task states a rebuild runs through.
const REBUILD_STEPS: [&str; 3] = [
    "rebuilding",
    "rebuild_block_device_mapping",
    "rebuild_spawning",
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
}

impl Compute {
    /// Accepts a rebuild; returns the server as it is now (`REBUILD`).
    pub async fn rebuild_server(
        &self,
        caller: &Caller,
        id: &str,
        req: RebuildRequest,
    ) -> ComputeResult<Server> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let Some(image) = &req.image else {
            return Err(ComputeError::Invalid(
                "Cannot find image for rebuild".into(),
            ));
        };
        if let Some(Some(_)) = &req.key_name {
            // Key pairs do not exist in this build, so no name resolves.
            return Err(ComputeError::Invalid("Invalid key_name provided.".into()));
        }
        let flavor = self.flavor_of(&server);
        check_image_fits(image, &flavor, caller.is_admin)?;
        let from = [vm::ACTIVE, vm::STOPPED, vm::ERROR];
        let guard = StateGuard::settled_in(&from);
        let change = StateChange {
            task_state: Some(Some(REBUILD_STEPS[0].into())),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo.transition(id, &guard, &change, now_micros()).await? {
            let now = self.get_server(caller, id).await?;
            return Err(refused("rebuild", &now, &from));
        }
        if let Some(metadata) = &req.metadata {
            let limit = self
                .quota_limits(&server.project_id)
                .await?
                .get(&Resource::MetadataItems)
                .copied()
                .unwrap_or(-1);
            match repo
                .write_metadata(id, metadata, true, limit, now_micros())
                .await
            {
                Err(StoreError::LimitExceeded) => {
                    self.cancel_rebuild(id).await?;
                    return Err(ComputeError::Forbidden(format!(
                        "Maximum number of metadata items exceeds {limit}"
                    )));
                }
                other => other?,
            }
        }
        let update = InstanceUpdate {
            display_name: req.name,
            display_description: req.description,
            hostname: req.hostname,
            access_ip_v4: req.access_ip_v4,
            access_ip_v6: req.access_ip_v6,
            auto_disk_config: req.auto_disk_config,
            image_ref: Some(image.id.clone()),
            image_properties: Some(
                serde_json::to_string(&image.properties).unwrap_or_else(|_| "{}".into()),
            ),
            user_data: req.user_data,
            key_name: req.key_name,
            trusted_certs: req
                .trusted_certs
                .map(|certs| certs.and_then(|c| serde_json::to_string(&c).ok())),
            ..InstanceUpdate::default()
        };
        repo.update(id, &update, now_micros()).await?;
        let action_id = self.record_action(&server, caller, "rebuild").await?;
        let stopped = server.vm_state == vm::STOPPED;
        // The response shows the server as accepted (REBUILD), read before
        // the background flow can move it on.
        let accepted = self.get_server(caller, id).await?;
        let uuid = server.uuid.clone();
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            move |compute| async move {
                if let Err(e) = compute.finish_rebuild(&uuid, action_id, 0, stopped).await {
                    tracing::error!(server = %uuid, error = %e, "rebuild failed");
                }
            },
        );
        Ok(accepted)
    }

    async fn cancel_rebuild(&self, id: &str) -> ComputeResult<()> {
        let guard = StateGuard {
            vm_states: None,
            task_states: Some(vec![Some(REBUILD_STEPS[0].into())]),
        };
        let clear = StateChange {
            task_state: Some(None),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(id, &guard, &clear, now_micros())
            .await?;
        Ok(())
    }

    /// Walks the rebuild task states, spawns the guest again and settles
    /// it as it was powered (a stopped server stays stopped).
    pub(crate) async fn finish_rebuild(
        &self,
        uuid: &str,
        action_id: i64,
        step: usize,
        stopped: bool,
    ) -> ComputeResult<()> {
        let actions = self.store.instance_actions();
        let event = "compute_rebuild_instance";
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        let repo = self.store.instances();
        let task = |t: &str| StateGuard::in_task(t);
        if !self
            .walk_tasks(uuid, REBUILD_STEPS.get(step..).unwrap_or_default())
            .await?
        {
            return Ok(());
        }
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        let mut result = self.driver.spawn(&guest_spec(&server)).await;
        if result.is_ok() && stopped {
            result = self.driver.operate(uuid, Operation::PowerOff).await;
        }
        let power = self.driver.power_state(uuid).await;
        let change = match &result {
            Ok(()) => StateChange {
                vm_state: Some(if stopped { vm::STOPPED } else { vm::ACTIVE }.into()),
                task_state: Some(None),
                power_state: Some(power.code()),
                ..StateChange::default()
            },
            Err(e) => StateChange {
                vm_state: Some(vm::ERROR.into()),
                task_state: Some(None),
                power_state: Some(PowerState::NoState.code()),
                fault: Some(Some(super::manager::fault(500, &e.message, &e.message))),
                ..StateChange::default()
            },
        };
        repo.transition(uuid, &task(REBUILD_STEPS[2]), &change, now_micros())
            .await?;
        let error = result.err().map(|e| e.message);
        actions
            .finish(action_id, event, error.as_deref(), now_micros())
            .await?;
        Ok(())
    }

    /// Resumes a rebuild a restart interrupted; `false` when the server is
    /// not rebuilding.
    pub(crate) async fn resume_rebuild(&self, server: &Server) -> ComputeResult<bool> {
        let Some(step) = server
            .task_state
            .as_deref()
            .and_then(|t| REBUILD_STEPS.iter().position(|s| *s == t))
        else {
            return Ok(false);
        };
        let actions = self.store.instance_actions();
        let Some(action_id) = actions.latest_unfinished(&server.uuid, "rebuild").await? else {
            return Ok(false);
        };
        let stopped = server.power_state == PowerState::Shutdown.code();
        let uuid = server.uuid.clone();
        self.dispatch(None, &server.uuid, move |compute| async move {
            if let Err(e) = compute
                .finish_rebuild(&uuid, action_id, step, stopped)
                .await
            {
                tracing::error!(server = %uuid, error = %e, "resuming a rebuild failed");
            }
        });
        Ok(true)
    }

    /// The flavor a server runs with, as the image checks need it.
    fn flavor_of(&self, server: &Server) -> crate::flavors::Flavor {
        crate::flavors::Flavor {
            id: server.flavor_id.clone(),
            seq: 0,
            name: String::new(),
            memory_mb: server.memory_mb,
            vcpus: server.vcpus,
            root_gb: server.root_gb,
            ephemeral_gb: server.ephemeral_gb,
            swap: 0,
            rxtx_factor: 1.0,
            vcpu_weight: None,
            is_public: true,
            disabled: false,
            description: None,
            created_at: server.created_at,
            updated_at: None,
        }
    }
}
