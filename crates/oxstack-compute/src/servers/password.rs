//! A server's password as its guest posted it, encrypted with the
//! server's key pair (Nova's `os-server-password`).

use crate::model::Server;
use crate::{Compute, ComputeResult};

impl Compute {
    /// The server's encrypted password; empty when none was posted.
    pub async fn server_password(&self, server: &Server) -> ComputeResult<String> {
        let stored = self.store.server_passwords().get(&server.uuid).await?;
        Ok(stored.unwrap_or_default())
    }

    /// Forgets the server's password (the guest's own is unchanged).
    pub async fn clear_server_password(&self, server: &Server) -> ComputeResult<()> {
        Ok(self.store.server_passwords().clear(&server.uuid).await?)
    }
}
