//! A server's security groups: those of its ports, from networking.

use super::Caller;
use crate::{Compute, ComputeResult};

/// A security group as the compute API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
}

impl Compute {
    /// The groups of a server's ports (none without a port, as in Nova).
    pub async fn server_security_groups(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ComputeResult<Vec<SecurityGroup>> {
        let server = self.get_server(caller, id).await?;
        Ok(self
            .networking
            .server_groups(&server.uuid)
            .await?
            .into_iter()
            .map(|g| SecurityGroup {
                id: g.id,
                name: g.name,
                description: g.description,
                project_id: g.project_id,
            })
            .collect())
    }

    /// `addSecurityGroup` (`add` true) / `removeSecurityGroup`: the group,
    /// by name or id, on every port of the server.
    pub async fn change_security_group(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
        add: bool,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        self.networking
            .change_server_group(&server.project_id, &server.uuid, name, add)
            .await?;
        Ok(())
    }
}
