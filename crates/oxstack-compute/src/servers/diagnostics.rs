//! What the hypervisor measures of a server (Nova's server diagnostics).

use crate::model::Diagnostics;

use crate::model::Server;
use crate::model::states::PowerState;
use crate::{Compute, ComputeError, ComputeResult};

/// Nova's names of power states in its messages (`STATE_MAP`).
fn state_name(power: PowerState) -> &'static str {
    match power {
        PowerState::Running => "running",
        PowerState::Paused => "paused",
        PowerState::Shutdown => "shutdown",
        PowerState::Crashed => "crashed",
        PowerState::Suspended => "suspended",
        PowerState::NoState => "pending",
    }
}

impl Compute {
    /// The diagnostics of a running server, from its host's hypervisor:
    /// Nova's 409 for a server with no host yet or one that is not
    /// running, 501 when the hypervisor cannot tell.
    pub async fn server_diagnostics(&self, server: &Server) -> ComputeResult<Diagnostics> {
        let Some(host) = server.host.as_deref() else {
            return Err(ComputeError::Conflict(format!(
                "Instance {} is not ready",
                server.uuid
            )));
        };
        if server.power_state != PowerState::Running {
            return Err(ComputeError::Conflict(format!(
                "Cannot 'get_diagnostics' instance {} while it is in power state {}",
                server.uuid,
                state_name(server.power_state)
            )));
        }
        let unsupported =
            || ComputeError::NotImplemented("The requested functionality is not supported.".into());
        // Only the hypervisors of this process's hosts can be asked.
        let there = self.local_host(host).ok_or_else(unsupported)?;
        if !there.driver.capabilities().diagnostics {
            return Err(unsupported());
        }
        there
            .driver
            .diagnostics(&server.uuid)
            .await
            .map_err(|e| ComputeError::Conflict(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Cloud, settled};

    #[tokio::test]
    async fn diagnostics_of_running_servers_on_hosts_asked() {
        let cloud = Cloud::new().await;
        let compute = cloud.host().await;
        let uuid = cloud.boot(&compute).await;
        let server = settled(&compute, &uuid).await;

        let measured = compute
            .server_diagnostics(&server)
            .await
            .expect("diagnostics");
        assert_eq!(measured.state, "running");
        assert_eq!(measured.cpu_details.len(), 1, "one per vCPU of m1.tiny");
        assert_eq!(measured.memory_details.maximum, 512);

        let unplaced = Server {
            host: None,
            ..server.clone()
        };
        let refused = compute.server_diagnostics(&unplaced).await.unwrap_err();
        assert_eq!(refused.to_string(), format!("Instance {uuid} is not ready"));
        assert!(matches!(refused, ComputeError::Conflict(_)));

        let stopped = Server {
            power_state: PowerState::Shutdown,
            ..server.clone()
        };
        let refused = compute.server_diagnostics(&stopped).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!("Cannot 'get_diagnostics' instance {uuid} while it is in power state shutdown")
        );

        let elsewhere = Server {
            host: Some("another-process".into()),
            ..server
        };
        let refused = compute.server_diagnostics(&elsewhere).await.unwrap_err();
        assert!(
            matches!(refused, ComputeError::NotImplemented(_)),
            "{refused}"
        );
    }
}
