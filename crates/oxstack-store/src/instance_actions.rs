//! Instance actions and their events: the record of what was asked of a
//! server (by which request) and how each step of the work ended.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow, Row};

use crate::StoreResult;
use crate::value::values;
use crate::writes::{WriteTx, Writes};

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

impl FromRow<'_, AnyRow> for ActionRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            instance_uuid: row.try_get("instance_uuid")?,
            request_id: row.try_get("request_id")?,
            action: row.try_get("action")?,
            project_id: row.try_get("project_id")?,
            user_id: row.try_get("user_id")?,
            message: row.try_get("message")?,
            args: row.try_get("args")?,
            start_time: row.try_get("start_time")?,
            finish_time: row.try_get("finish_time")?,
            updated_at: row.try_get("updated_at")?,
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

impl FromRow<'_, AnyRow> for EventRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            event: row.try_get("event")?,
            start_time: row.try_get("start_time")?,
            finish_time: row.try_get("finish_time")?,
            result: row.try_get("result")?,
            traceback: row.try_get("traceback")?,
            host: row.try_get("host")?,
            details: row.try_get("details")?,
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

const START_EVENT: &str = "INSERT INTO instance_action_events (action_id, event, start_time, host) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (action_id, event) DO NOTHING";

/// Records a new action in a transaction; returns its id.
pub(crate) async fn insert_action(tx: &mut WriteTx, a: &NewAction<'_>) -> StoreResult<i64> {
    let (id,): (i64,) = tx
        .fetch_one(
            "INSERT INTO counters (name, value) VALUES ('instance_actions', 1) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
            &[],
        )
        .await?;
    tx.execute(
        "INSERT INTO instance_actions (id, instance_uuid, request_id, action, project_id, \
         user_id, args, start_time, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        &values![
            id,
            a.instance_uuid,
            a.request_id,
            a.action,
            a.project_id,
            a.user_id,
            a.args,
            a.now
        ],
    )
    .await?;
    Ok(id)
}

pub(crate) async fn finish_event(
    tx: &mut WriteTx,
    action_id: i64,
    event: &str,
    error: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let result = if error.is_some() { "Error" } else { "Success" };
    tx.execute(
        "UPDATE instance_action_events SET finish_time = $3, result = $4, details = $5, \
         traceback = $5 WHERE action_id = $1 AND event = $2",
        &values![action_id, event, now, result, error],
    )
    .await?;
    tx.execute(
        "UPDATE instance_actions SET finish_time = $2, updated_at = $2, message = $3 WHERE id = $1",
        &values![action_id, now, error.map(|_| "Error")],
    )
    .await?;
    Ok(())
}

/// Records an action's step in a transaction; returns the action's id.
pub(crate) async fn record_action_step(
    tx: &mut WriteTx,
    step: &ActionStep<'_>,
    now: i64,
) -> StoreResult<i64> {
    Ok(match *step {
        ActionStep::Accept {
            action,
            event,
            host,
        } => {
            let id = insert_action(tx, action).await?;
            if let Some(event) = event {
                tx.execute(START_EVENT, &values![id, event, now, host])
                    .await?;
            }
            id
        }
        ActionStep::Record {
            action,
            events,
            host,
        } => {
            let id = insert_action(tx, action).await?;
            for event in events {
                tx.execute(START_EVENT, &values![id, *event, now, host])
                    .await?;
                finish_event(tx, id, event, None, now).await?;
            }
            if events.is_empty() {
                tx.execute(
                    "UPDATE instance_actions SET finish_time = $2, updated_at = $2 WHERE id = $1",
                    &values![id, now],
                )
                .await?;
            }
            id
        }
        ActionStep::Start {
            action_id,
            event,
            host,
        } => {
            tx.execute(START_EVENT, &values![action_id, event, now, host])
                .await?;
            action_id
        }
        ActionStep::Finish {
            action_id,
            event,
            error,
        } => {
            finish_event(tx, action_id, event, error, now).await?;
            action_id
        }
    })
}

/// Queries over instance actions.
pub struct ActionRepo<'a> {
    pool: &'a AnyPool,
    writes: Writes<'a>,
}

impl<'a> ActionRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool, writes: Writes<'a>) -> Self {
        Self { pool, writes }
    }

    /// Records the start of an action; returns its id.
    pub async fn start(&self, a: &NewAction<'_>) -> StoreResult<i64> {
        let mut tx = self.writes.begin().await?;
        let id = insert_action(&mut tx, a).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Starts an event of an action (again: a no-op).
    pub async fn start_event(
        &self,
        action_id: i64,
        event: &str,
        host: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.writes
            .execute(START_EVENT, &values![action_id, event, now, host])
            .await?;
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
        let mut tx = self.writes.begin().await?;
        finish_event(&mut tx, action_id, event, error, now).await?;
        tx.commit().await
    }

    /// Marks an action without events finished.
    pub async fn close(&self, action_id: i64, now: i64) -> StoreResult<()> {
        self.writes
            .execute(
                "UPDATE instance_actions SET finish_time = $2, updated_at = $2 WHERE id = $1",
                &values![action_id, now],
            )
            .await?;
        Ok(())
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
        // Every bound parameter is used (SQLite refuses unused ones): the
        // open ends of the window and the marker are the extreme values.
        let sql = format!(
            "SELECT * FROM instance_actions WHERE instance_uuid = $1 \
             AND updated_at >= $2 AND updated_at <= $3 \
             AND (start_time < $4 OR (start_time = $4 AND id < $5)) \
             ORDER BY start_time DESC, id DESC LIMIT {}",
            limit.max(0)
        );
        Ok(sqlx::query_as(&sql)
            .bind(instance_uuid)
            .bind(changes_since.unwrap_or(i64::MIN))
            .bind(changes_before.unwrap_or(i64::MAX))
            .bind(after.map_or(i64::MAX, |a| a.start_time))
            .bind(after.map_or(i64::MAX, |a| a.id))
            .fetch_all(self.pool)
            .await?)
    }

    /// The newest action of the instance named one of `actions`, finished
    /// or not: the task state of the instance tells whether its work goes on.
    pub async fn latest_of(
        &self,
        instance_uuid: &str,
        actions: &[&str],
    ) -> StoreResult<Option<i64>> {
        let names: Vec<String> = (0..actions.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id FROM instance_actions WHERE instance_uuid = $1 AND action IN ({}) \
             ORDER BY start_time DESC, id DESC LIMIT 1",
            names.join(", ")
        );
        let mut query = sqlx::query_scalar(&sql).bind(instance_uuid);
        for name in actions {
            query = query.bind(*name);
        }
        Ok(query.fetch_optional(self.pool).await?)
    }

    /// The newest unfinished action of a kind on a server (to resume it).
    pub async fn latest_unfinished(
        &self,
        instance_uuid: &str,
        action: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM instance_actions WHERE instance_uuid = $1 AND action = $2 \
             AND finish_time IS NULL ORDER BY start_time DESC, id DESC LIMIT 1",
        )
        .bind(instance_uuid)
        .bind(action)
        .fetch_optional(self.pool)
        .await?)
    }

    /// The newest unfinished action of a server, of any kind: the one
    /// whose flow a task in flight belongs to.
    pub async fn latest_unfinished_any(
        &self,
        instance_uuid: &str,
    ) -> StoreResult<Option<ActionRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM instance_actions WHERE instance_uuid = $1 AND finish_time IS NULL \
             ORDER BY start_time DESC, id DESC LIMIT 1",
        )
        .bind(instance_uuid)
        .fetch_optional(self.pool)
        .await?)
    }

    /// One action of a server by request id.
    pub async fn get(
        &self,
        instance_uuid: &str,
        request_id: &str,
    ) -> StoreResult<Option<ActionRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM instance_actions WHERE instance_uuid = $1 AND request_id = $2",
        )
        .bind(instance_uuid)
        .bind(request_id)
        .fetch_optional(self.pool)
        .await?)
    }

    /// The events of an action, in the order they started.
    pub async fn events(&self, action_id: i64) -> StoreResult<Vec<EventRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM instance_action_events WHERE action_id = $1 ORDER BY start_time, event",
        )
        .bind(action_id)
        .fetch_all(self.pool)
        .await?)
    }
}
