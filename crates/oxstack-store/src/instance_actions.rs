//! Instance actions and their events: the record of what was asked of a
//! server (by which request) and how each step of the work ended.

use crate::StoreResult;
use crate::db::{
    Columns, Db, DecodeError, GatedWrites, Record, Sql, SqlValue, Tx, ungated, values,
};

/// One recorded action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRow {
    pub id: i64,
    pub instance_uuid: String,
    pub request_id: String,
    pub action: String,
    pub project_id: String,
    pub user_id: String,
    /// "Error" when the action failed (Nova's message).
    pub message: Option<String>,
    /// What its flow needs to resume (JSON).
    pub args: Option<String>,
    pub start_time: i64,
    pub finish_time: Option<i64>,
    pub updated_at: i64,
}

impl Record for ActionRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            instance_uuid: row.column("instance_uuid")?,
            request_id: row.column("request_id")?,
            action: row.column("action")?,
            project_id: row.column("project_id")?,
            user_id: row.column("user_id")?,
            message: row.column("message")?,
            args: row.column("args")?,
            start_time: row.column("start_time")?,
            finish_time: row.column("finish_time")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One step of an action, e.g. `compute_reboot_instance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub event: String,
    pub start_time: i64,
    pub finish_time: Option<i64>,
    /// `Success` or `Error`; none while running.
    pub result: Option<String>,
    pub traceback: Option<String>,
    pub host: Option<String>,
    pub details: Option<String>,
}

impl Record for EventRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            event: row.column("event")?,
            start_time: row.column("start_time")?,
            finish_time: row.column("finish_time")?,
            result: row.column("result")?,
            traceback: row.column("traceback")?,
            host: row.column("host")?,
            details: row.column("details")?,
        })
    }
}

/// What a new action records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAction<'a> {
    pub instance_uuid: &'a str,
    pub request_id: &'a str,
    pub action: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    /// JSON: what the action's flow needs to resume after a restart.
    pub args: Option<&'a str>,
    pub now: i64,
}

/// The step of an action recorded with a state transition (see
/// [`crate::instances::InstanceRepo::apply`]).
#[derive(Clone, Copy, Debug)]
pub enum ActionStep<'a> {
    /// A new action is accepted; its first event, if any, starts.
    Accept {
        action: &'a NewAction<'a>,
        event: Option<&'a str>,
        host: &'a str,
    },
    /// A new action done at once: recorded with its events, all finished.
    Record {
        action: &'a NewAction<'a>,
        events: &'a [&'a str],
        host: &'a str,
    },
    /// An event of a recorded action starts.
    Start {
        action_id: i64,
        event: &'a str,
        host: &'a str,
    },
    /// An event ends, and its action with it; `error` when it failed.
    Finish {
        action_id: i64,
        event: &'a str,
        error: Option<&'a str>,
    },
}

/// The writes of an action's step go behind the gate of the transition
/// they belong to ([`GatedWrites`]): an `INSERT` is written `SELECT …
/// WHERE {gate}`.
const INSERT_ACTION: &str = "INSERT INTO instance_actions (id, instance_uuid, request_id, action, \
     project_id, user_id, args, start_time, updated_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8 WHERE {gate}";

const START_EVENT: &str = "INSERT INTO instance_action_events (action_id, event, start_time, host) \
     SELECT $1, $2, $3, $4 WHERE {gate} ON CONFLICT (action_id, event) DO NOTHING";

fn insert_action(id: i64, a: &NewAction<'_>) -> Sql {
    Sql::with(
        INSERT_ACTION,
        Vec::from(values![
            id,
            a.instance_uuid,
            a.request_id,
            a.action,
            a.project_id,
            a.user_id,
            a.args,
            a.now
        ]),
    )
}

fn start_event(action_id: i64, event: &str, now: i64, host: &str) -> Sql {
    Sql::with(START_EVENT, Vec::from(values![action_id, event, now, host]))
}

/// The end of an event and of its action (`error`: it failed).
fn finish_writes(action_id: i64, event: &str, error: Option<&str>, now: i64) -> [Sql; 2] {
    let result = if error.is_some() { "Error" } else { "Success" };
    [
        Sql::with(
            "UPDATE instance_action_events SET finish_time = $3, result = $4, details = $5, \
             traceback = $5 WHERE action_id = $1 AND event = $2",
            Vec::from(values![action_id, event, now, result, error]),
        ),
        Sql::with(
            "UPDATE instance_actions SET finish_time = $2, updated_at = $2, message = $3 \
             WHERE id = $1",
            Vec::from(values![action_id, now, error.map(|_| "Error")]),
        ),
    ]
}

pub(crate) async fn finish_event(
    tx: &mut Tx,
    action_id: i64,
    event: &str,
    error: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    for write in finish_writes(action_id, event, error, now) {
        tx.execute(&write.sql, &write.binds).await?;
    }
    Ok(())
}

impl ActionStep<'_> {
    /// The counter a new action's id comes from, for steps that record one.
    pub(crate) fn counter(&self) -> Option<&'static str> {
        match self {
            Self::Accept { .. } | Self::Record { .. } => Some("instance_actions"),
            Self::Start { .. } | Self::Finish { .. } => None,
        }
    }

    /// Whether its writes can follow a gate in one statement: a recorded
    /// action finishes events it starts (a write reading another's).
    pub(crate) fn fits_one_statement(&self) -> bool {
        !matches!(self, Self::Record { .. })
    }

    /// Adds the step's writes to `writes`; `new_id` is the id of the
    /// action it records (from [`ActionStep::counter`]). Returns the
    /// action's id. A finish is written even when the gate does not pass
    /// (the work did end).
    pub(crate) fn writes(&self, new_id: Option<i64>, now: i64, writes: &mut GatedWrites) -> i64 {
        let new_id = || new_id.expect("a new action's id comes from its counter");
        match *self {
            Self::Accept {
                action,
                event,
                host,
            } => {
                let id = new_id();
                writes.if_passed.push(insert_action(id, action));
                if let Some(event) = event {
                    writes.if_passed.push(start_event(id, event, now, host));
                }
                id
            }
            Self::Record {
                action,
                events,
                host,
            } => {
                let id = new_id();
                writes.if_passed.push(insert_action(id, action));
                for event in events {
                    writes.if_passed.push(start_event(id, event, now, host));
                    writes.if_passed.extend(finish_writes(id, event, None, now));
                }
                if events.is_empty() {
                    writes.if_passed.push(Sql::with(
                        "UPDATE instance_actions SET finish_time = $2, updated_at = $2 WHERE id = $1",
                        Vec::from(values![id, now]),
                    ));
                }
                id
            }
            Self::Start {
                action_id,
                event,
                host,
            } => {
                writes
                    .if_passed
                    .push(start_event(action_id, event, now, host));
                action_id
            }
            Self::Finish {
                action_id,
                event,
                error,
            } => {
                writes
                    .always
                    .extend(finish_writes(action_id, event, error, now));
                action_id
            }
        }
    }
}

/// Records an action's step in a transaction (after its gate passed);
/// returns the action's id.
pub(crate) async fn record_action_step(
    tx: &mut Tx,
    step: &ActionStep<'_>,
    now: i64,
) -> StoreResult<i64> {
    let new_id = match step.counter() {
        Some(counter) => Some(tx.next_value(counter).await?),
        None => None,
    };
    let mut writes = GatedWrites::default();
    let id = step.writes(new_id, now, &mut writes);
    writes.write_after_gate(tx, true).await?;
    Ok(id)
}

/// Queries over instance actions.
pub struct ActionRepo<'a> {
    db: &'a Db,
}

impl<'a> ActionRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Starts an event of an action (again: a no-op).
    pub async fn start_event(
        &self,
        action_id: i64,
        event: &str,
        host: &str,
        now: i64,
    ) -> StoreResult<()> {
        let write = start_event(action_id, event, now, host);
        self.db.execute(&ungated(&write.sql), &write.binds).await?;
        Ok(())
    }

    /// Ends an event and its action: `error` is the failure's message
    /// (shown as `details` from 2.84 and, for admins, as the traceback).
    pub async fn finish(
        &self,
        action_id: i64,
        event: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        finish_event(&mut tx, action_id, event, error, now).await?;
        tx.commit().await
    }

    /// The actions of a server, newest first, after the `marker` request id.
    pub async fn list(
        &self,
        instance_uuid: &str,
        changes_since: Option<i64>,
        changes_before: Option<i64>,
        limit: i64,
        after: Option<&ActionRow>,
    ) -> StoreResult<Vec<ActionRow>> {
        // The open ends of the window and the marker are the extreme values.
        let sql = format!(
            "SELECT * FROM instance_actions WHERE instance_uuid = $1 \
             AND updated_at >= $2 AND updated_at <= $3 \
             AND (start_time < $4 OR (start_time = $4 AND id < $5)) \
             ORDER BY start_time DESC, id DESC LIMIT {}",
            limit.max(0)
        );
        self.db
            .scan(
                &sql,
                &values![
                    instance_uuid,
                    changes_since.unwrap_or(i64::MIN),
                    changes_before.unwrap_or(i64::MAX),
                    after.map_or(i64::MAX, |a| a.start_time),
                    after.map_or(i64::MAX, |a| a.id)
                ],
            )
            .await
    }

    /// The newest unfinished action of a server, of any kind: the one
    /// whose flow a task in flight belongs to.
    pub async fn latest_unfinished_any(
        &self,
        instance_uuid: &str,
    ) -> StoreResult<Option<ActionRow>> {
        self.db
            .optional(
                "SELECT * FROM instance_actions WHERE instance_uuid = $1 AND finish_time IS NULL \
                 ORDER BY start_time DESC, id DESC LIMIT 1",
                &values![instance_uuid],
            )
            .await
    }

    /// The newest action of a server recorded under one of `names`,
    /// finished or not: a flow's events can all be closed between two of
    /// its steps, so only the server's task tells whether it is still
    /// running.
    pub async fn latest_named(
        &self,
        instance_uuid: &str,
        names: &[&str],
    ) -> StoreResult<Option<ActionRow>> {
        let mut q = Sql::new("SELECT * FROM instance_actions WHERE instance_uuid = ");
        let uuid = q.bind(instance_uuid);
        q.push(&uuid);
        let names = q.bind_list(names.iter().map(|n| SqlValue::from(*n)));
        q.push(&format!(
            " AND action IN ({names}) ORDER BY start_time DESC, id DESC LIMIT 1"
        ));
        self.db.optional(&q.sql, &q.binds).await
    }

    /// One action of a server by request id.
    pub async fn get(
        &self,
        instance_uuid: &str,
        request_id: &str,
    ) -> StoreResult<Option<ActionRow>> {
        self.db
            .optional(
                "SELECT * FROM instance_actions WHERE instance_uuid = $1 AND request_id = $2",
                &values![instance_uuid, request_id],
            )
            .await
    }

    /// The events of an action, in the order they started.
    pub async fn events(&self, action_id: i64) -> StoreResult<Vec<EventRow>> {
        self.db
            .point(
                "SELECT * FROM instance_action_events WHERE action_id = $1 \
                 ORDER BY start_time, event",
                &values![action_id],
            )
            .await
    }
}
