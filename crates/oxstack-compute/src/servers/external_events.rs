//! Events other services send about servers (Nova's
//! `os-server-external-events`): Neutron's port events, Cinder's volume
//! events, Ironic's power updates. An event is taken for a live server
//! that has a host. Nothing here waits for them: this cloud's network
//! information never goes stale, and the hypervisor stays the source of a
//! server's power state (its periodic sync), so taking one is all there
//! is to do until volumes and ports come from services of their own.

use std::collections::HashMap;

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
        let uuids: Vec<String> = events.iter().map(|e| e.server_uuid.clone()).collect();
        // One read for all: each live server's host (`None`: not placed).
        let hosts: HashMap<String, Option<String>> = self
            .store
            .instances()
            .hosts_by_instance(&uuids)
            .await?
            .into_iter()
            .collect();
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let outcome = match hosts.get(&event.server_uuid) {
                None => EventOutcome::UnknownServer,
                Some(_) if needs_tag(&event.name) && event.tag.is_none() => {
                    EventOutcome::MissingTag
                }
                Some(Some(_)) => {
                    tracing::info!(server = %event.server_uuid, event = %event.name,
                                   tag = ?event.tag, "external event");
                    EventOutcome::Taken
                }
                Some(None) => EventOutcome::NoHost,
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}
