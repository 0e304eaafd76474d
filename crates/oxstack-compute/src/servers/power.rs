//! The actions that change what a guest is doing, not what it is: stop,
//! start, soft and hard reboot, pause, suspend, rescue, a new admin
//! password, a crash dump. Each walks its task states (Nova's
//! `reboot_pending`, ...), asks the driver, and settles in its end state.

use std::sync::Arc;
use std::time::Duration;

use oxstack_virt::{DriverError, GuestImage, RebootKind, RescueSpec};

use super::Caller;
use super::flow::{Acceptance, Flow, FlowArgs, Work, finish};
use super::rules::{self, Rule};
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::model::{Fault, Server};
use crate::{Compute, ComputeError, ComputeResult};

use TaskState as T;

/// Nova's `shutdown_timeout`: how long a guest gets to shut down cleanly.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// The actions of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    Stop,
    Start,
    SoftReboot,
    HardReboot,
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rescue,
    Unrescue,
    ChangePassword,
    TriggerCrashDump,
}

impl PowerAction {
    pub(crate) const ALL: [PowerAction; 12] = [
        Self::Stop,
        Self::Start,
        Self::SoftReboot,
        Self::HardReboot,
        Self::Pause,
        Self::Unpause,
        Self::Suspend,
        Self::Resume,
        Self::Rescue,
        Self::Unrescue,
        Self::ChangePassword,
        Self::TriggerCrashDump,
    ];

    /// Its rule of acceptance.
    pub(crate) fn rule(self) -> &'static Rule {
        match self {
            Self::Stop => &rules::STOP,
            Self::Start => &rules::START,
            Self::SoftReboot => &rules::REBOOT,
            Self::HardReboot => &rules::HARD_REBOOT,
            Self::Pause => &rules::PAUSE,
            Self::Unpause => &rules::UNPAUSE,
            Self::Suspend => &rules::SUSPEND,
            Self::Resume => &rules::RESUME,
            Self::Rescue => &rules::RESCUE,
            Self::Unrescue => &rules::UNRESCUE,
            Self::ChangePassword => &rules::CHANGE_PASSWORD,
            Self::TriggerCrashDump => &rules::TRIGGER_CRASH_DUMP,
        }
    }

    /// The task states it walks; the first is set on acceptance.
    pub(crate) fn steps(self) -> &'static [TaskState] {
        match self {
            Self::Stop => &[T::PoweringOff],
            Self::Start => &[T::PoweringOn],
            Self::SoftReboot => &[T::Rebooting, T::RebootPending, T::RebootStarted],
            Self::HardReboot => &[T::RebootingHard, T::RebootPendingHard, T::RebootStartedHard],
            Self::Pause => &[T::Pausing],
            Self::Unpause => &[T::Unpausing],
            Self::Suspend => &[T::Suspending],
            Self::Resume => &[T::Resuming],
            Self::Rescue => &[T::Rescuing],
            Self::Unrescue => &[T::Unrescuing],
            Self::ChangePassword => &[T::UpdatingPassword],
            Self::TriggerCrashDump => &[],
        }
    }

    /// The vm_state it ends in (`None`: unchanged).
    fn ends_in(self) -> Option<VmState> {
        match self {
            Self::Stop => Some(VmState::Stopped),
            Self::Start | Self::SoftReboot | Self::HardReboot => Some(VmState::Active),
            Self::Unpause | Self::Resume | Self::Unrescue => Some(VmState::Active),
            Self::Pause => Some(VmState::Paused),
            Self::Suspend => Some(VmState::Suspended),
            Self::Rescue => Some(VmState::Rescued),
            Self::ChangePassword | Self::TriggerCrashDump => None,
        }
    }

    /// Whether the hypervisor can do it.
    fn supported_by(self, caps: oxstack_virt::Capabilities) -> bool {
        match self {
            Self::Suspend | Self::Resume => caps.suspend,
            Self::Rescue | Self::Unrescue => caps.rescue,
            Self::ChangePassword => caps.set_admin_password,
            Self::TriggerCrashDump => caps.trigger_crash_dump,
            _ => true,
        }
    }
}

/// What a power action asks besides the server: a password
/// (`changePassword`, `rescue`) and a rescue image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PowerRequest {
    pub password: Option<String>,
    pub rescue_image: Option<String>,
}

impl Compute {
    /// Accepts a power action and has the server's host perform it.
    pub async fn server_action(
        &self,
        caller: &Caller,
        id: &str,
        action: PowerAction,
        request: PowerRequest,
    ) -> ComputeResult<()> {
        let rule = action.rule();
        let server = self.actionable(caller, id, rule).await?;
        if !action.supported_by(self.driver.capabilities()) {
            return Err(ComputeError::NotImplemented(format!(
                "Action {} is not supported by this hypervisor.",
                rule.api_name
            )));
        }
        let args = FlowArgs {
            rescue_image: request.rescue_image,
            ..FlowArgs::default()
        };
        let acceptance = Acceptance {
            args: args.clone(),
            ..Acceptance::default()
        };
        let action_id = self.accept(caller, &server, rule, acceptance).await?;
        // Acceptance changed only the task state: the flow starts from this
        // copy instead of reading the server back.
        let accepted = Arc::new(Server {
            task_state: rule.first_task.or(server.task_state),
            ..server
        });
        let work = Work {
            args,
            secret: request.password,
            accepted: Some(accepted.clone()),
            ..Work::new(Flow::Power(action), Some(action_id))
        };
        self.dispatch(accepted.host.as_deref(), &accepted.uuid, work);
        Ok(())
    }

    /// Performs an accepted power action, from the task state it reached.
    pub(crate) async fn run_power(
        &self,
        uuid: &str,
        action: PowerAction,
        work: &Work,
    ) -> ComputeResult<()> {
        let Some(server) = work.server(self, uuid).await? else {
            return Ok(());
        };
        let steps = action.steps();
        let from = match server.task_state {
            Some(task) => match steps.iter().position(|s| *s == task) {
                Some(at) => at,
                None => return Ok(()),
            },
            None if steps.is_empty() => 0,
            None => return Ok(()),
        };
        if !self.walk_tasks(uuid, &steps[from..]).await? {
            return Ok(());
        }
        let guest = self.guest_of(&server).await?;
        let result = self.perform(&server, guest, action, work).await;
        let power = self.driver.power_state(uuid).await;
        let (change, error) = match result {
            Ok(()) => (
                Change {
                    vm_state: action.ends_in(),
                    task_state: Some(None),
                    power_state: Some(power),
                    ..Change::default()
                },
                None,
            ),
            Err(e) => {
                tracing::warn!(server = %uuid, ?action, error = %e, "driver operation failed");
                // Nova: a failed reboot of a guest that no longer runs puts
                // the server in ERROR; other failures clear the task and
                // keep the vm_state.
                let rebooting = matches!(action, PowerAction::SoftReboot | PowerAction::HardReboot);
                let change = Change {
                    vm_state: (rebooting && power != PowerState::Running).then_some(VmState::Error),
                    task_state: Some(None),
                    power_state: Some(power),
                    fault: Some(Some(Fault::new(500, &e.message, &e.message))),
                    ..Change::default()
                };
                (change, Some(e.message))
            }
        };
        let guard = Guard {
            vm_states: None,
            task_states: Some(vec![steps.last().copied()]),
        };
        let event = action.rule().event.unwrap_or_default();
        self.step(
            uuid,
            &guard,
            &change,
            finish(work.action_id, event, error.as_deref()),
            None,
        )
        .await?;
        Ok(())
    }

    /// The driver's part of a power action.
    async fn perform(
        &self,
        server: &crate::model::Server,
        guest: oxstack_virt::GuestSpec,
        action: PowerAction,
        work: &Work,
    ) -> Result<(), DriverError> {
        let uuid = server.uuid.as_str();
        let driver = &self.driver;
        match action {
            PowerAction::Stop => driver.power_off(uuid, SHUTDOWN_TIMEOUT).await,
            PowerAction::Start => driver.power_on(&guest).await,
            PowerAction::SoftReboot => driver.reboot(&guest, RebootKind::Soft).await,
            PowerAction::HardReboot => driver.reboot(&guest, RebootKind::Hard).await,
            PowerAction::Pause => driver.pause(uuid).await,
            PowerAction::Unpause => driver.unpause(uuid).await,
            PowerAction::Suspend => driver.suspend(uuid).await,
            PowerAction::Resume => driver.resume(&guest).await,
            PowerAction::Rescue => {
                let image = match &work.args.rescue_image {
                    Some(id) if *id != server.image.id => GuestImage {
                        id: id.clone(),
                        ..GuestImage::default()
                    },
                    _ => guest.image.clone(),
                };
                let rescue = RescueSpec {
                    image,
                    password: work.secret.clone(),
                };
                driver.rescue(&guest, &rescue).await
            }
            PowerAction::Unrescue => driver.unrescue(&guest).await,
            PowerAction::ChangePassword => match &work.secret {
                Some(password) => driver.set_admin_password(uuid, password).await,
                // The password was in the request only; after a restart
                // it is gone, and the change cannot be made.
                None => Err(DriverError {
                    message: format!(
                        "Failed to set admin password on {uuid} because the change was interrupted"
                    ),
                }),
            },
            PowerAction::TriggerCrashDump => driver.trigger_crash_dump(uuid).await,
        }
    }
}
