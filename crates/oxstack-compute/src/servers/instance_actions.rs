//! Reading the record of what was done to a server (`os-instance-actions`).

use super::{Caller, not_found};
use crate::model::{ActionEvent, InstanceAction, Server};
use crate::{Compute, ComputeError, ComputeResult};

/// Which page of a server's actions to read.
#[derive(Clone, Debug, Default)]
pub struct ActionListing {
    pub limit: i64,
    /// The request id of the last action of the previous page.
    pub marker: Option<String>,
    pub changes_since: Option<i64>,
    pub changes_before: Option<i64>,
}

impl Compute {
    /// A server the caller may see, deleted ones included (instance
    /// actions outlive their server, from 2.21).
    async fn server_with_history(
        &self,
        caller: &Caller,
        id: &str,
        deleted_too: bool,
    ) -> ComputeResult<Server> {
        match self.load(id).await? {
            Some(s)
                if (deleted_too || !s.deleted)
                    && (caller.is_admin || s.project_id == caller.project_id) =>
            {
                Ok(s)
            }
            _ => Err(not_found(id)),
        }
    }

    /// A page of a server's actions, newest first.
    pub async fn instance_actions(
        &self,
        caller: &Caller,
        id: &str,
        deleted_too: bool,
        listing: &ActionListing,
    ) -> ComputeResult<Vec<InstanceAction>> {
        let server = self.server_with_history(caller, id, deleted_too).await?;
        let repo = self.store.instance_actions();
        let after = match &listing.marker {
            None => None,
            Some(marker) => Some(repo.get(&server.uuid, marker).await?.ok_or_else(|| {
                ComputeError::Invalid(format!("Marker {marker} could not be found."))
            })?),
        };
        let rows = repo
            .list(
                &server.uuid,
                listing.changes_since,
                listing.changes_before,
                listing.limit,
                after.as_ref(),
            )
            .await?;
        Ok(rows.into_iter().map(InstanceAction::from).collect())
    }

    /// One action of a server with its events.
    pub async fn instance_action(
        &self,
        caller: &Caller,
        id: &str,
        request_id: &str,
        deleted_too: bool,
    ) -> ComputeResult<(InstanceAction, Vec<ActionEvent>)> {
        let server = self.server_with_history(caller, id, deleted_too).await?;
        let repo = self.store.instance_actions();
        let action = repo.get(&server.uuid, request_id).await?.ok_or_else(|| {
            ComputeError::NotFound(format!(
                "Action for request_id {request_id} on instance {} not found",
                server.uuid
            ))
        })?;
        let events = repo.events(action.id).await?;
        Ok((
            action.into(),
            events.into_iter().map(ActionEvent::from).collect(),
        ))
    }
}
