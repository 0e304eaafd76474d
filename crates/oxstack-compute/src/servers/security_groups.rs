//! A server's security groups. This cloud has one group per project,
//! `default` (Neutron's), which every server with a port belongs to unless
//! removed from it.

use super::Caller;
use crate::model::records::names_text;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// The one security group that exists.
pub const DEFAULT_GROUP: &str = "default";

/// A security group as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
}

/// The project's `default` group (its id derived from the project, so
/// every node agrees on it).
pub fn default_group(project_id: &str) -> SecurityGroup {
    SecurityGroup {
        id: uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("oxstack-security-group:{project_id}:{DEFAULT_GROUP}").as_bytes(),
        )
        .to_string(),
        name: DEFAULT_GROUP.into(),
        description: "Default security group".into(),
        project_id: project_id.to_owned(),
    }
}

impl Compute {
    /// The groups a server is in (none without a port, as in Nova).
    pub async fn server_security_groups(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ComputeResult<Vec<SecurityGroup>> {
        let server = self.get_server(caller, id).await?;
        if server.fixed_ips.is_empty() {
            return Ok(Vec::new());
        }
        Ok(server
            .security_groups
            .iter()
            .filter(|n| *n == DEFAULT_GROUP)
            .map(|_| default_group(&server.project_id))
            .collect())
    }

    /// `addSecurityGroup` (`add` true) / `removeSecurityGroup`.
    pub async fn change_security_group(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
        add: bool,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        if name != DEFAULT_GROUP {
            return Err(ComputeError::NotFound(format!(
                "Security group {name} not found."
            )));
        }
        let mut groups = server.security_groups.clone();
        let member = groups.iter().any(|g| g == name);
        match (add, member) {
            (true, true) => {
                return Err(ComputeError::Invalid(format!(
                    "Security group {name} is already associated with the instance {}",
                    server.uuid
                )));
            }
            (false, false) => {
                return Err(ComputeError::Invalid(format!(
                    "Security group {name} is not associated with the instance {}",
                    server.uuid
                )));
            }
            (true, false) => groups.push(name.to_owned()),
            (false, true) => groups.retain(|g| g != name),
        }
        let update = oxstack_store::instances::InstanceUpdate {
            security_groups: Some(names_text(&groups)),
            ..Default::default()
        };
        self.store
            .instances()
            .update(id, &update, now_micros())
            .await?;
        Ok(())
    }
}
