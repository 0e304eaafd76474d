//! Operations a simulated hypervisor holds until a test lets them go (the
//! control plane's manual mode): the server stays in its transient state
//! (BUILD, REBOOT, ...) for as long as its operation waits here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, oneshot};

use crate::Operation;

/// How a held operation ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// It completes as if it had never waited.
    Proceed,
    /// It fails with this message (the server goes to ERROR, or the
    /// action is reverted, as for any hypervisor failure).
    Fail(String),
}

/// An operation waiting to be let go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldOperation {
    pub server: String,
    pub operation: Operation,
    pub since: SystemTime,
}

struct Gate {
    operation: Operation,
    since: SystemTime,
    release: oneshot::Sender<Release>,
}

/// The operations held, by guest, oldest first.
#[derive(Default)]
pub struct Gates {
    waiting: Mutex<HashMap<String, VecDeque<Gate>>>,
    /// Woken whenever an operation starts waiting.
    arrivals: Notify,
}

impl std::fmt::Debug for Gates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gates")
            .field("held", &self.held().len())
            .finish()
    }
}

impl Gates {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Gate>>> {
        // Every critical section is one map operation: a poisoned map is whole.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until the operation `op` of guest `uuid` is let go, and says
    /// how it ends.
    pub async fn wait(&self, uuid: &str, op: Operation) -> Release {
        let (release, released) = oneshot::channel();
        self.waiting()
            .entry(uuid.to_owned())
            .or_default()
            .push_back(Gate {
                operation: op,
                since: SystemTime::now(),
                release,
            });
        self.arrivals.notify_waiters();
        // Dropped without a word (the gates went away): carry on.
        released.await.unwrap_or(Release::Proceed)
    }

    /// Lets the oldest held operation of guest `uuid` go, waiting up to
    /// `patience` for one to arrive; the operation let go, if any.
    pub async fn advance(
        &self,
        uuid: &str,
        how: &Release,
        patience: Duration,
    ) -> Option<Operation> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut arrival = std::pin::pin!(self.arrivals.notified());
            arrival.as_mut().enable();
            if let Some(op) = self.release_oldest(uuid, how) {
                return Some(op);
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                return None;
            }
        }
    }

    fn release_oldest(&self, uuid: &str, how: &Release) -> Option<Operation> {
        let mut waiting = self.waiting();
        let queue = waiting.get_mut(uuid)?;
        let mut released = None;
        while let Some(gate) = queue.pop_front() {
            // A waiter that went away (its flow ended) is skipped.
            if gate.release.send(how.clone()).is_ok() {
                released = Some(gate.operation);
                break;
            }
        }
        if queue.is_empty() {
            waiting.remove(uuid);
        }
        released
    }

    /// Lets every held operation of guest `uuid` go, ending as `how`.
    pub fn release_guest(&self, uuid: &str, how: &Release) {
        for gate in self.waiting().remove(uuid).unwrap_or_default() {
            let _ = gate.release.send(how.clone());
        }
    }

    /// Lets every held operation go that is not one of `still_held`, as
    /// if it had never waited.
    pub fn release_all_but(&self, still_held: &HashSet<Operation>) {
        let mut waiting = self.waiting();
        for queue in waiting.values_mut() {
            let (keep, go): (VecDeque<Gate>, VecDeque<Gate>) = queue
                .drain(..)
                .partition(|gate| still_held.contains(&gate.operation));
            *queue = keep;
            for gate in go {
                let _ = gate.release.send(Release::Proceed);
            }
        }
        waiting.retain(|_, queue| !queue.is_empty());
    }

    /// The operations held now, oldest first.
    pub fn held(&self) -> Vec<HeldOperation> {
        let mut held: Vec<HeldOperation> = self
            .waiting()
            .iter()
            .flat_map(|(uuid, queue)| {
                queue
                    .iter()
                    .filter(|gate| !gate.release.is_closed())
                    .map(|gate| HeldOperation {
                        server: uuid.clone(),
                        operation: gate.operation,
                        since: gate.since,
                    })
            })
            .collect();
        held.sort_by_key(|h| h.since);
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_held_operation_waits_until_advanced() {
        let gates = Arc::new(Gates::default());
        let waiter = {
            let gates = gates.clone();
            tokio::spawn(async move { gates.wait("u1", Operation::Spawn).await })
        };
        // Advancing before the operation arrives waits for it.
        let released = gates
            .advance("u1", &Release::Fail("boom".into()), Duration::from_secs(5))
            .await;
        assert_eq!(released, Some(Operation::Spawn));
        assert_eq!(waiter.await.expect("joined"), Release::Fail("boom".into()));
        assert!(gates.held().is_empty());
    }

    #[tokio::test]
    async fn advancing_a_guest_with_nothing_held_gives_up() {
        let gates = Gates::default();
        let released = gates
            .advance("u1", &Release::Proceed, Duration::from_millis(20))
            .await;
        assert_eq!(released, None);
    }

    #[tokio::test]
    async fn operations_are_listed_and_released_oldest_first() {
        let gates = Arc::new(Gates::default());
        let first = {
            let gates = gates.clone();
            tokio::spawn(async move { gates.wait("u1", Operation::Spawn).await })
        };
        while gates.held().is_empty() {
            tokio::task::yield_now().await;
        }
        let second = {
            let gates = gates.clone();
            tokio::spawn(async move { gates.wait("u1", Operation::Destroy).await })
        };
        while gates.held().len() < 2 {
            tokio::task::yield_now().await;
        }
        let ops: Vec<Operation> = gates.held().iter().map(|h| h.operation).collect();
        assert_eq!(ops, [Operation::Spawn, Operation::Destroy]);
        let released = gates.advance("u1", &Release::Proceed, Duration::ZERO).await;
        assert_eq!(released, Some(Operation::Spawn));
        assert_eq!(first.await.expect("joined"), Release::Proceed);
        gates.release_all_but(&HashSet::from([Operation::Destroy]));
        assert_eq!(gates.held().len(), 1, "destroy is still held");
        gates.release_all_but(&HashSet::new());
        assert_eq!(second.await.expect("joined"), Release::Proceed);
        assert!(gates.held().is_empty());
    }
}
