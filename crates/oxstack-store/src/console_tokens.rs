//! Console access tokens, stored by hash with an expiry.

use sqlx::AnyPool;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::StoreResult;

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

impl FromRow<'_, AnyRow> for ConsoleToken {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            instance_uuid: row.try_get("instance_uuid")?,
            console_type: row.try_get("console_type")?,
            host: row.try_get("host")?,
            port: row.try_get("port")?,
            internal_access_path: row.try_get("internal_access_path")?,
            expires: row.try_get("expires")?,
        })
    }
}

/// Queries over console tokens.
pub struct ConsoleTokenRepo<'a> {
    pool: &'a AnyPool,
}

impl<'a> ConsoleTokenRepo<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Stores a token (by its hash), dropping expired ones on the way.
    pub async fn insert(&self, token_hash: &str, t: &ConsoleToken, now: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_tokens WHERE expires < $1")
            .bind(now)
            .execute(self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_tokens (token_hash, instance_uuid, console_type, host, port, \
             internal_access_path, expires) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(&t.instance_uuid)
        .bind(&t.console_type)
        .bind(&t.host)
        .bind(t.port)
        .bind(t.internal_access_path.as_deref())
        .bind(t.expires)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired token with this hash.
    pub async fn get(&self, token_hash: &str, now: i64) -> StoreResult<Option<ConsoleToken>> {
        Ok(
            sqlx::query_as("SELECT * FROM console_tokens WHERE token_hash = $1 AND expires >= $2")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(self.pool)
                .await?,
        )
    }
}
