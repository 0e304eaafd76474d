//! `resize`, `confirmResize`, `revertResize`: a server moves to another
//! flavor and waits in `VERIFY_RESIZE` until its owner confirms the new
//! size or reverts to the old one. The new size is claimed against the
//! project's quota when the resize is accepted (under the project's lock),
//! and given back by a revert.

use oxstack_store::StoreError;
use oxstack_store::instances::{FlavorColumns, SizeLimits, StateChange, StateGuard};
use oxstack_virt::PowerState;

use super::states::vm;
use super::{Caller, Server, check_lock, refused};
use crate::quotas::Resource;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// The task states a resize runs through.
const RESIZE_STEPS: [&str; 4] = [
    "resize_prep",
    "resize_migrating",
    "resize_migrated",
    "resize_finish",
];

fn guard(vm_states: &[&str], task: Option<&str>) -> StateGuard {
    StateGuard {
        vm_states: Some(vm_states.iter().map(|s| (*s).to_owned()).collect()),
        task_states: Some(vec![task.map(str::to_owned)]),
    }
}

/// The vm_state a resized server settles in: as it was powered.
fn settled(server: &Server) -> &'static str {
    if server.power_state == PowerState::Shutdown.code() {
        vm::STOPPED
    } else {
        vm::ACTIVE
    }
}

impl Compute {
    async fn size_limits(&self, project_id: &str) -> ComputeResult<SizeLimits> {
        let limits = self.quota_limits(project_id).await?;
        let get = |r| limits.get(&r).copied().unwrap_or(-1);
        Ok(SizeLimits {
            cores: get(Resource::Cores),
            ram: get(Resource::Ram),
        })
    }

    /// Nova's over-quota message for a change of size.
    async fn resize_over_quota(
        &self,
        server: &Server,
        new: &FlavorColumns,
    ) -> ComputeResult<ComputeError> {
        let limits = self.size_limits(&server.project_id).await?;
        let used = self.store.instances().usage(&server.project_id).await?;
        let checks = [
            (
                Resource::Cores,
                limits.cores,
                used.cores,
                new.vcpus - server.vcpus,
            ),
            (
                Resource::Ram,
                limits.ram,
                used.ram,
                new.memory_mb - server.memory_mb,
            ),
        ];
        let overs: Vec<(Resource, i64, i64, i64)> = checks
            .into_iter()
            .filter(|(_, limit, used, delta)| *limit >= 0 && *delta > 0 && used + delta > *limit)
            .map(|(resource, limit, used, delta)| (resource, delta, used, limit))
            .collect();
        Ok(super::create::over_quota(&overs, 1, 1))
    }

    /// `resize` to `flavor_id`: 202, then `VERIFY_RESIZE`.
    pub async fn resize_server(
        &self,
        caller: &Caller,
        id: &str,
        flavor_id: &str,
        auto_disk_config: Option<bool>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let flavor = self
            .get_flavor(
                flavor_id,
                crate::flavors::Viewer::Project(&caller.project_id),
            )
            .await
            .map_err(|e| match e {
                ComputeError::NotFound(_) => {
                    ComputeError::Invalid("Unable to locate requested flavor.".into())
                }
                other => other,
            })?;
        if flavor.id == server.flavor_id {
            return Err(ComputeError::Invalid(
                "When resizing, instances must change flavor!".into(),
            ));
        }
        if flavor.root_gb < server.root_gb {
            return Err(ComputeError::Invalid(
                "Resize error: Unable to resize disk down.".into(),
            ));
        }
        let new = FlavorColumns {
            flavor_id: flavor.id.clone(),
            flavor: self.flavor_snapshot(&flavor).await?,
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
        };
        let old = serde_json::to_string(&FlavorColumns::of(&server))
            .map_err(|e| ComputeError::Invalid(e.to_string()))?;
        let from = [vm::ACTIVE, vm::STOPPED];
        let change = StateChange {
            task_state: Some(Some(RESIZE_STEPS[0].into())),
            flavor: Some(new.clone()),
            old_flavor: Some(Some(old)),
            ..StateChange::default()
        };
        let limits = self.size_limits(&server.project_id).await?;
        let repo = self.store.instances();
        let accepted = repo
            .transition_within_quota(
                id,
                &server.project_id,
                limits,
                &guard(&from, None),
                &change,
                now_micros(),
            )
            .await;
        match accepted {
            Err(StoreError::LimitExceeded) => {
                return Err(self.resize_over_quota(&server, &new).await?);
            }
            Ok(false) => {
                let now = self.get_server(caller, id).await?;
                return Err(refused("resize", &now, &from));
            }
            other => other?,
        };
        if let Some(auto) = auto_disk_config {
            let update = oxstack_store::instances::InstanceUpdate {
                auto_disk_config: Some(auto),
                ..Default::default()
            };
            repo.update(id, &update, now_micros()).await?;
        }
        let action_id = self.record_action(&server, caller, "resize").await?;
        let old_seq = self
            .store
            .flavors()
            .get(&server.flavor_id)
            .await?
            .map(|f| f.seq);
        self.record_migration(
            &server,
            caller,
            "resize",
            "pre-migrating",
            (old_seq, Some(flavor.seq)),
        )
        .await?;
        let uuid = server.uuid.clone();
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            move |compute| async move {
                if let Err(e) = compute.finish_resize(&uuid, action_id).await {
                    tracing::error!(server = %uuid, error = %e, "resize failed");
                }
            },
        );
        Ok(())
    }

    /// Walks the resize task states and leaves the server `resized`.
    pub(crate) async fn finish_resize(&self, uuid: &str, action_id: i64) -> ComputeResult<()> {
        let actions = self.store.instance_actions();
        // Nova's conductor and source-host steps, done here in one go.
        self.record_events(
            action_id,
            &[
                "conductor_migrate_server",
                "compute_prep_resize",
                "compute_resize_instance",
            ],
        )
        .await?;
        let event = "compute_finish_resize";
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        let repo = self.store.instances();
        // A step that lost its race (the server was deleted) ends the flow.
        if !self.walk_tasks(uuid, &RESIZE_STEPS).await? {
            return Ok(());
        }
        let done = StateChange {
            vm_state: Some(vm::RESIZED.into()),
            task_state: Some(None),
            ..StateChange::default()
        };
        let from = StateGuard {
            vm_states: None,
            task_states: Some(vec![Some(RESIZE_STEPS[3].to_owned())]),
        };
        repo.transition(uuid, &from, &done, now_micros()).await?;
        self.advance_migration(uuid, &["pre-migrating"], "finished")
            .await?;
        actions.finish(action_id, event, None, now_micros()).await?;
        Ok(())
    }

    /// Resumes a resize a restart interrupted; `false` when the server is
    /// not resizing.
    pub(crate) async fn resume_resize(&self, server: &Server) -> ComputeResult<bool> {
        let resizing = server
            .task_state
            .as_deref()
            .is_some_and(|t| RESIZE_STEPS.contains(&t));
        if !resizing {
            return Ok(false);
        }
        let actions = self.store.instance_actions();
        let Some(action_id) = actions.latest_unfinished(&server.uuid, "resize").await? else {
            return Ok(false);
        };
        let uuid = server.uuid.clone();
        self.dispatch(None, &server.uuid, move |compute| async move {
            if let Err(e) = compute.finish_resize(&uuid, action_id).await {
                tracing::error!(server = %uuid, error = %e, "resuming a resize failed");
            }
        });
        Ok(true)
    }

    /// `confirmResize`: keeps the new size (204).
    pub async fn confirm_resize(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if !self.confirm(&server).await? {
            return Err(refused("confirmResize", &server, &[vm::RESIZED]));
        }
        self.advance_migration(&server.uuid, &["finished"], "confirmed")
            .await?;
        let action_id = self.record_action(&server, caller, "confirmResize").await?;
        self.record_events(action_id, &["compute_confirm_resize"])
            .await?;
        Ok(())
    }

    /// Settles a resized server in its new size; `false` when it was not
    /// waiting for confirmation.
    async fn confirm(&self, server: &Server) -> ComputeResult<bool> {
        let change = StateChange {
            vm_state: Some(settled(server).into()),
            old_flavor: Some(None),
            ..StateChange::default()
        };
        Ok(self
            .store
            .instances()
            .transition(
                &server.uuid,
                &guard(&[vm::RESIZED], None),
                &change,
                now_micros(),
            )
            .await?)
    }

    /// Confirms the resizes left unconfirmed for `resize_confirm_window`.
    pub(crate) async fn confirm_due_resizes(&self) -> ComputeResult<()> {
        let window = self.settings.resize_confirm_window;
        for server in self.waiting(vm::RESIZED, window).await? {
            tracing::info!(server = %server.uuid, "confirming a resize after the confirm window");
            if self.confirm(&server).await? {
                self.advance_migration(&server.uuid, &["finished"], "confirmed")
                    .await?;
            }
        }
        Ok(())
    }

    /// `revertResize`: back to the old flavor (202).
    pub async fn revert_resize(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let from = [vm::RESIZED];
        let old: Option<FlavorColumns> = server
            .old_flavor
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        let (Some(old), true) = (old, server.vm_state == vm::RESIZED) else {
            return Err(refused("revertResize", &server, &from));
        };
        let change = StateChange {
            vm_state: Some(settled(&server).into()),
            task_state: Some(None),
            flavor: Some(old.clone()),
            old_flavor: Some(None),
            ..StateChange::default()
        };
        let limits = self.size_limits(&server.project_id).await?;
        let reverted = self
            .store
            .instances()
            .transition_within_quota(
                id,
                &server.project_id,
                limits,
                &guard(&from, None),
                &change,
                now_micros(),
            )
            .await;
        match reverted {
            Err(StoreError::LimitExceeded) => Err(self.resize_over_quota(&server, &old).await?),
            Ok(false) => Err(refused("revertResize", &server, &from)),
            other => {
                other?;
                self.advance_migration(&server.uuid, &["finished"], "reverted")
                    .await?;
                let action_id = self.record_action(&server, caller, "revertResize").await?;
                self.record_events(
                    action_id,
                    &["compute_revert_resize", "compute_finish_revert_resize"],
                )
                .await?;
                Ok(())
            }
        }
    }
}
