//! The record of what was asked of a server (Nova's instance actions) and
//! how each step of the work went (their events).

use oxstack_store::instance_actions::{ActionRow, EventRow};

/// One action on a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceAction {
    pub instance_uuid: String,
    pub request_id: String,
    /// `create`, `reboot`, `resize`, ...
    pub action: String,
    pub project_id: String,
    pub user_id: String,
    /// `Error` when it failed (Nova's message).
    pub message: Option<String>,
    pub start_time: i64,
    pub updated_at: i64,
}

/// One step of an action, e.g. `compute_reboot_instance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionEvent {
    pub event: String,
    pub start_time: i64,
    pub finish_time: Option<i64>,
    /// `Success` or `Error`; none while running.
    pub result: Option<String>,
    pub traceback: Option<String>,
    pub host: Option<String>,
    pub details: Option<String>,
}

impl From<ActionRow> for InstanceAction {
    fn from(row: ActionRow) -> Self {
        Self {
            instance_uuid: row.instance_uuid,
            request_id: row.request_id,
            action: row.action,
            project_id: row.project_id,
            user_id: row.user_id,
            message: row.message,
            start_time: row.start_time,
            updated_at: row.updated_at,
        }
    }
}

impl From<EventRow> for ActionEvent {
    fn from(row: EventRow) -> Self {
        Self {
            event: row.event,
            start_time: row.start_time,
            finish_time: row.finish_time,
            result: row.result,
            traceback: row.traceback,
            host: row.host,
            details: row.details,
        }
    }
}
