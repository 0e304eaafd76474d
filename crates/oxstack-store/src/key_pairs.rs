//! Key pairs, by user and name. A user's count is kept beside them and
//! changed in the same transactions, so the quota check of a new key pair
//! and its insert are one atomic step.

use crate::db::{Columns, Db, DecodeError, Record, values};
use crate::{StoreError, StoreResult, missing_if_none};

/// One stored key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPairRow {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    pub fingerprint: String,
    pub public_key: String,
    pub created_at: i64,
}

impl Record for KeyPairRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            user_id: row.column("user_id")?,
            name: row.column("name")?,
            key_type: row.column("type")?,
            fingerprint: row.column("fingerprint")?,
            public_key: row.column("public_key")?,
            created_at: row.column("created_at")?,
        })
    }
}

/// A key pair to store (its id is assigned).
#[derive(Clone, Copy, Debug)]
pub struct NewKeyPair<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub key_type: &'a str,
    pub fingerprint: &'a str,
    pub public_key: &'a str,
    pub created_at: i64,
}

/// Queries over key pairs.
pub struct KeyPairRepo<'a> {
    db: &'a Db,
}

impl<'a> KeyPairRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Stores a key pair unless its user then holds more than `limit`
    /// (-1: no limit): `LimitExceeded`, or `Conflict` when the user has
    /// one of that name.
    pub async fn insert(&self, k: &NewKeyPair<'_>, limit: i64) -> StoreResult<KeyPairRow> {
        let mut tx = self.db.begin().await?;
        let (count,): (i64,) = tx
            .fetch_one(
                "INSERT INTO key_pair_counts (user_id, key_pairs) VALUES ($1, 1) \
                 ON CONFLICT (user_id) DO UPDATE SET key_pairs = key_pair_counts.key_pairs + 1 \
                 RETURNING key_pairs",
                &values![k.user_id],
            )
            .await?;
        if limit >= 0 && count > limit {
            return Err(StoreError::LimitExceeded);
        }
        let id = tx.next_value("key_pairs").await?;
        let row: KeyPairRow = tx
            .fetch_one(
                "INSERT INTO key_pairs (id, user_id, name, type, fingerprint, public_key, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                &values![
                    id,
                    k.user_id,
                    k.name,
                    k.key_type,
                    k.fingerprint,
                    k.public_key,
                    k.created_at
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// How many key pairs a user has.
    pub async fn count(&self, user_id: &str) -> StoreResult<i64> {
        let found: Option<(i64,)> = self
            .db
            .optional(
                "SELECT key_pairs FROM key_pair_counts WHERE user_id = $1",
                &values![user_id],
            )
            .await?;
        Ok(found.map_or(0, |(n,)| n))
    }

    pub async fn get(&self, user_id: &str, name: &str) -> StoreResult<Option<KeyPairRow>> {
        self.db
            .optional(
                "SELECT * FROM key_pairs WHERE user_id = $1 AND name = $2",
                &values![user_id, name],
            )
            .await
    }

    /// A user's key pairs by name, after `after` (a name), at most `limit`.
    pub async fn list(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<KeyPairRow>> {
        self.db
            .scan(
                "SELECT * FROM key_pairs WHERE user_id = $1 AND ($2 IS NULL OR name > $2) \
                 ORDER BY name LIMIT $3",
                &values![user_id, after, limit.unwrap_or(i64::MAX)],
            )
            .await
    }

    /// Every user's key pairs, by user and name (a snapshot of the cloud).
    pub async fn list_all(&self) -> StoreResult<Vec<KeyPairRow>> {
        self.db
            .scan("SELECT * FROM key_pairs ORDER BY user_id, name", &[])
            .await
    }

    /// Deletes a user's key pair; `NotFound` when there is none.
    pub async fn delete(&self, user_id: &str, name: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let done = tx
            .execute(
                "DELETE FROM key_pairs WHERE user_id = $1 AND name = $2",
                &values![user_id, name],
            )
            .await?;
        missing_if_none(done)?;
        tx.execute(
            "UPDATE key_pair_counts SET key_pairs = key_pairs - 1 WHERE user_id = $1",
            &values![user_id],
        )
        .await?;
        tx.commit().await
    }
}
