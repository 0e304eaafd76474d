//! Console access tokens, stored by hash with an expiry.

use crate::StoreResult;
use crate::db::{Columns, Db, DecodeError, Record, values};

/// What a valid token grants access to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleToken {
    pub instance_uuid: String,
    pub console_type: String,
    pub host: String,
    pub port: i64,
    pub internal_access_path: Option<String>,
    pub expires: i64,
}

impl Record for ConsoleToken {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            instance_uuid: row.column("instance_uuid")?,
            console_type: row.column("console_type")?,
            host: row.column("host")?,
            port: row.column("port")?,
            internal_access_path: row.column("internal_access_path")?,
            expires: row.column("expires")?,
        })
    }
}

/// Queries over console tokens.
pub struct ConsoleTokenRepo<'a> {
    db: &'a Db,
}

impl<'a> ConsoleTokenRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Stores a token (by its hash), dropping expired ones on the way.
    pub async fn insert(&self, token_hash: &str, t: &ConsoleToken, now: i64) -> StoreResult<()> {
        self.db
            .execute(
                "DELETE FROM console_tokens WHERE expires < $1",
                &values![now],
            )
            .await?;
        self.db
            .execute(
                "INSERT INTO console_tokens (token_hash, instance_uuid, console_type, host, port, \
                 internal_access_path, expires) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &values![
                    token_hash,
                    &t.instance_uuid,
                    &t.console_type,
                    &t.host,
                    t.port,
                    t.internal_access_path.as_deref(),
                    t.expires
                ],
            )
            .await?;
        Ok(())
    }

    /// The unexpired token with this hash.
    pub async fn get(&self, token_hash: &str, now: i64) -> StoreResult<Option<ConsoleToken>> {
        self.db
            .optional(
                "SELECT * FROM console_tokens WHERE token_hash = $1 AND expires >= $2",
                &values![token_hash, now],
            )
            .await
    }
}
