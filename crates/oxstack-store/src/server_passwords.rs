//! Servers' encrypted passwords (Nova's `os-server-password`).

use crate::StoreResult;
use crate::db::{Db, values};

/// Queries over server passwords.
pub struct ServerPasswordRepo<'a> {
    db: &'a Db,
}

impl<'a> ServerPasswordRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// The server's password, if its guest posted one.
    pub async fn get(&self, instance_uuid: &str) -> StoreResult<Option<String>> {
        let found: Option<(String,)> = self
            .db
            .optional(
                "SELECT password FROM server_passwords WHERE instance_uuid = $1",
                &values![instance_uuid],
            )
            .await?;
        Ok(found.map(|(p,)| p))
    }

    /// Keeps the password a server's guest posted (the metadata service's
    /// write), replacing any earlier one.
    pub async fn set(&self, instance_uuid: &str, password: &str) -> StoreResult<()> {
        self.db
            .execute(
                "INSERT INTO server_passwords (instance_uuid, password) VALUES ($1, $2) \
                 ON CONFLICT (instance_uuid) DO UPDATE SET password = excluded.password",
                &values![instance_uuid, password],
            )
            .await?;
        Ok(())
    }

    /// Forgets the server's password.
    pub async fn clear(&self, instance_uuid: &str) -> StoreResult<()> {
        self.db
            .execute(
                "DELETE FROM server_passwords WHERE instance_uuid = $1",
                &values![instance_uuid],
            )
            .await?;
        Ok(())
    }
}
