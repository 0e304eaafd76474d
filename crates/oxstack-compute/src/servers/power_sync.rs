//! Nova's power-state sync (`_sync_instance_power_state`), for drivers
//! whose guests change on their own: a guest that powered itself off,
//! crashed or lost its process makes its server SHUTOFF; a guest running
//! while its server is stopped is powered off. Servers with a task in
//! flight are left to their flow.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, VmState};
use crate::{Compute, ComputeResult};

/// How often every server of the host is checked, beside the driver's
/// announcements (Nova's `sync_power_state_interval` is 600 s; its
/// lifecycle events are what makes changes show at once, as here).
const SYNC_INTERVAL: Duration = Duration::from_secs(60);

impl Compute {
    /// Follows the driver's power changes until the process ends (returns
    /// at once for a driver that announces none).
    pub async fn run_power_sync(self) {
        let Some(mut changes) = self.driver.power_changes() else {
            return;
        };
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        loop {
            tokio::select! {
                changed = changes.recv() => match changed {
                    Ok(uuid) => self.sync_logged(&uuid).await,
                    Err(RecvError::Lagged(_)) => self.sync_host().await,
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => self.sync_host().await,
            }
        }
    }

    async fn sync_host(&self) {
        match self.store.instances().on_host(&self.host).await {
            Ok(servers) => {
                for (uuid, _) in servers {
                    self.sync_logged(&uuid).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing servers for the power sync failed"),
        }
    }

    async fn sync_logged(&self, uuid: &str) {
        if let Err(e) = self.sync_power_state(uuid).await {
            tracing::warn!(server = uuid, error = %e, "power sync failed");
        }
    }

    /// Brings one server's record in line with its guest.
    pub(crate) async fn sync_power_state(&self, uuid: &str) -> ComputeResult<()> {
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        if server.host.as_deref() != Some(self.host.as_str()) || server.task_state.is_some() {
            return Ok(());
        }
        let power = self.driver.power_state(uuid).await;
        // An action that came and went while the guest was asked acted on
        // it: what it left is right, and the next change is looked at anew.
        let still = self.load(uuid).await?;
        if still.is_none_or(|s| s.updated_at != server.updated_at || s.task_state.is_some()) {
            return Ok(());
        }
        let off = matches!(
            power,
            PowerState::Shutdown | PowerState::Crashed | PowerState::NoState
        );
        let settled = Guard::settled_in(&[server.vm_state]);
        match server.vm_state {
            VmState::Active | VmState::Paused if off => {
                tracing::info!(
                    server = uuid,
                    ?power,
                    "the guest stopped by itself: SHUTOFF"
                );
                let stopped = Change::settle(VmState::Stopped, power);
                self.step(uuid, &settled, &stopped, None, None).await?;
            }
            VmState::Stopped if power == PowerState::Running => {
                tracing::info!(
                    server = uuid,
                    "the guest runs while its server is stopped: powering it off"
                );
                if let Err(e) = self.driver.power_off(uuid, Duration::ZERO).await {
                    tracing::warn!(server = uuid, error = %e, "powering off failed");
                }
                let power = self.driver.power_state(uuid).await;
                let change = Change {
                    power_state: Some(power),
                    ..Change::default()
                };
                self.step(uuid, &settled, &change, None, None).await?;
            }
            _ if power != server.power_state => {
                let change = Change {
                    power_state: Some(power),
                    ..Change::default()
                };
                self.step(uuid, &settled, &change, None, None).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
