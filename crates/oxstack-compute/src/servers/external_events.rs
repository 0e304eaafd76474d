//! Events other services send about servers (Nova's
//! `os-server-external-events`): Neutron's port events, Cinder's volume
//! events, Ironic's power updates. An event is taken for a live server
//! that has a host. Nothing here waits for them: this cloud's network
//! information never goes stale, and the hypervisor stays the source of a
//! server's power state (its periodic sync), so taking one is all there
//! is to do until volumes and ports come from services of their own.

use crate::{Compute, ComputeResult};

/// One event for one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalEvent {
    pub server_uuid: String,
    pub name: String,
    pub tag: Option<String>,
}

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Taken,
    /// No live server has the id (Nova's 404).
    UnknownServer,
    /// The event names a device it must carry and does not (400).
    MissingTag,
    /// The server has no host to send it to (422).
    NoHost,
}

/// Events about a device that say which one.
fn needs_tag(name: &str) -> bool {
    matches!(name, "volume-extended" | "volume-reimaged")
}

impl Compute {
    /// Takes the events of one request; what became of each, in order.
    pub async fn take_external_events(
        &self,
        events: &[ExternalEvent],
    ) -> ComputeResult<Vec<EventOutcome>> {
        let repo = self.store.instances();
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let server = repo
                .get(&event.server_uuid)
                .await?
                .filter(|row| !row.deleted);
            let outcome = match server {
                None => EventOutcome::UnknownServer,
                Some(_) if needs_tag(&event.name) && event.tag.is_none() => {
                    EventOutcome::MissingTag
                }
                Some(row) if row.host.is_some() => {
                    tracing::info!(server = %event.server_uuid, event = %event.name,
                                   tag = ?event.tag, "external event");
                    EventOutcome::Taken
                }
                Some(_) => EventOutcome::NoHost,
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}
