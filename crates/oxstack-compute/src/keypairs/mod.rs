//! Key pairs (Nova's `os-keypairs`): public keys a user keeps under names
//! of their own, imported or made here, that servers boot with. They
//! belong to a user, not a project; the `key_pairs` quota counts a user's
//! key pairs against the limit of the project the caller acts in.

mod keys;

use oxstack_store::StoreError;
use oxstack_store::key_pairs::{KeyPairRow, NewKeyPair as NewRow};

use crate::quotas::Resource;
use crate::servers::Caller;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

pub use keys::Generated;

/// What a key pair holds: an ssh public key, or an x509 certificate
/// (for WinRM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::Display, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum KeyType {
    #[default]
    Ssh,
    X509,
}

/// A stored key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    pub key_type: KeyType,
    pub fingerprint: String,
    pub public_key: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

impl From<KeyPairRow> for KeyPair {
    fn from(row: KeyPairRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            // The column only ever holds what `KeyType` writes.
            key_type: row.key_type.parse().unwrap_or_default(),
            fingerprint: row.fingerprint,
            public_key: row.public_key,
            created_at: row.created_at,
        }
    }
}

/// A key pair to create: imported when it has a public key, made here
/// otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewKeyPair {
    pub name: String,
    pub key_type: KeyType,
    pub public_key: Option<String>,
    /// Whose key pair it is (an admin's choice; the caller by default).
    pub user_id: Option<String>,
}

/// A created key pair, with the private key when it was made here (the
/// only time anyone sees it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedKeyPair {
    pub key_pair: KeyPair,
    pub private_key: Option<String>,
}

/// Nova's `KeypairLimitExceeded`.
fn over_quota() -> ComputeError {
    ComputeError::Forbidden("Quota exceeded, too many key pairs.".into())
}

/// Nova's `KeypairNotFound`.
fn not_found(user_id: &str, name: &str) -> ComputeError {
    ComputeError::NotFound(format!("Keypair {name} not found for user {user_id}"))
}

impl Compute {
    /// Creates a key pair in Nova's order: the quota, then the key (an
    /// unreadable one is 400), then the name (a taken one is 409).
    pub async fn create_key_pair(
        &self,
        caller: &Caller,
        new: NewKeyPair,
    ) -> ComputeResult<CreatedKeyPair> {
        let user_id = new
            .user_id
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| caller.user_id.clone());
        // The caller's limit (a user can have one of their own), as Nova
        // looks it up: for the caller, whoever the key pair is for.
        let limit = self
            .user_quota_limits(&caller.project_id, &caller.user_id)
            .await?
            .get(&Resource::KeyPairs)
            .copied()
            .unwrap_or(-1);
        let repo = self.store.key_pairs();
        if limit >= 0 && repo.count(&user_id).await? >= limit {
            return Err(over_quota());
        }
        let (fingerprint, public_key, private_key) = match new.public_key {
            Some(public_key) => {
                let fingerprint = match new.key_type {
                    KeyType::Ssh => keys::ssh_fingerprint(&public_key),
                    KeyType::X509 => keys::x509_fingerprint(&public_key),
                }
                .map_err(|reason| {
                    ComputeError::Invalid(format!("Keypair data is invalid: {reason}"))
                })?;
                (fingerprint, public_key, None)
            }
            None => {
                let generated = generate(new.key_type, &user_id).await?;
                (
                    generated.fingerprint,
                    generated.public_key,
                    Some(generated.private_key),
                )
            }
        };
        let row = NewRow {
            user_id: &user_id,
            name: &new.name,
            key_type: &new.key_type.to_string(),
            fingerprint: &fingerprint,
            public_key: &public_key,
            created_at: now_micros(),
        };
        let stored = repo.insert(&row, limit).await.map_err(|e| match e {
            StoreError::Conflict => {
                ComputeError::Conflict(format!("Key pair '{}' already exists.", new.name))
            }
            StoreError::LimitExceeded => over_quota(),
            other => other.into(),
        })?;
        Ok(CreatedKeyPair {
            key_pair: stored.into(),
            private_key,
        })
    }

    /// A user's key pairs by name: after `marker` (which must be one of
    /// them), at most `limit`.
    pub async fn list_key_pairs(
        &self,
        user_id: &str,
        marker: Option<&str>,
        limit: Option<i64>,
    ) -> ComputeResult<Vec<KeyPair>> {
        let repo = self.store.key_pairs();
        if let Some(marker) = marker
            && repo.get(user_id, marker).await?.is_none()
        {
            return Err(ComputeError::Invalid(format!(
                "Marker {marker} could not be found."
            )));
        }
        let rows = repo.list(user_id, marker, limit).await?;
        Ok(rows.into_iter().map(KeyPair::from).collect())
    }

    /// Every user's key pairs, by user and name (the control plane's
    /// snapshot of the cloud).
    pub async fn every_key_pair(&self) -> ComputeResult<Vec<KeyPair>> {
        let rows = self.store.key_pairs().list_all().await?;
        Ok(rows.into_iter().map(KeyPair::from).collect())
    }

    pub async fn get_key_pair(&self, user_id: &str, name: &str) -> ComputeResult<KeyPair> {
        self.store
            .key_pairs()
            .get(user_id, name)
            .await?
            .map(KeyPair::from)
            .ok_or_else(|| not_found(user_id, name))
    }

    /// Deletes a key pair; servers booted with it keep their copy.
    pub async fn delete_key_pair(&self, user_id: &str, name: &str) -> ComputeResult<()> {
        match self.store.key_pairs().delete(user_id, name).await {
            Err(StoreError::NotFound) => Err(not_found(user_id, name)),
            other => Ok(other?),
        }
    }

    /// The caller's key pair a server is to boot (or rebuild) with; Nova's
    /// 400 when the caller has none of that name.
    pub(crate) async fn key_pair_for_server(
        &self,
        caller: &Caller,
        name: &str,
    ) -> ComputeResult<KeyPair> {
        self.get_key_pair(&caller.user_id, name)
            .await
            .map_err(|e| match e {
                ComputeError::NotFound(_) => {
                    ComputeError::Invalid("Invalid key_name provided.".into())
                }
                other => other,
            })
    }
}

/// Makes a key pair on a blocking thread (RSA key generation takes a
/// fraction of a second of CPU).
async fn generate(key_type: KeyType, user_id: &str) -> ComputeResult<Generated> {
    let user_id = user_id.to_owned();
    tokio::task::spawn_blocking(move || match key_type {
        KeyType::Ssh => keys::generate_ssh(),
        KeyType::X509 => keys::generate_x509(&user_id),
    })
    .await
    .map_err(|e| ComputeError::Internal(e.to_string()))?
    .map_err(|e| ComputeError::Internal(format!("Could not make a key pair: {e}")))
}

#[cfg(test)]
mod tests;
