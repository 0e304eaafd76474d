//! Password hashing with argon2id, bounded so that a burst of logins cannot
//! starve the server: hashing runs on the blocking pool behind a semaphore,
//! and a successful verification is remembered (as a keyed digest, never the
//! password) so that repeated logins by the same user cost microseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::{IdentityError, IdentityResult};

/// Entries kept in the verification cache before it is cleared wholesale.
const CACHE_CAPACITY: usize = 10_000;

/// Hashes and verifies passwords.
pub struct Passwords {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    cache_key: [u8; 32],
    /// user id -> (stored hash it was verified against, keyed digest of the password)
    verified: Mutex<HashMap<String, (String, [u8; 32])>>,
}

impl Passwords {
    /// argon2id with OWASP's minimum (19 MiB, 2 passes); at most `parallel`
    /// hashes are computed at once.
    pub fn new(parallel: usize) -> Self {
        let params =
            Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
        let mut cache_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut cache_key);
        Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            cache_key,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// A PHC-format hash of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> IdentityResult<String> {
        let argon = self.argon.clone();
        let password = password.to_owned();
        self.blocking(move || {
            let salt = SaltString::generate(&mut rand::thread_rng());
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| IdentityError::Internal(format!("password hashing failed: {e}")))
        })
        .await
    }

    /// Whether `password` matches `stored` (a PHC hash) for user `user_id`.
    pub async fn verify(
        &self,
        user_id: &str,
        password: &str,
        stored: &str,
    ) -> IdentityResult<bool> {
        let digest = self.digest(password);
        if let Some((hash, known)) = self.lock().get(user_id)
            && hash == stored
        {
            return Ok(constant_time_eq(known, &digest));
        }
        let argon = self.argon.clone();
        let (password, stored_owned) = (password.to_owned(), stored.to_owned());
        let ok = self
            .blocking(move || {
                let parsed = PasswordHash::new(&stored_owned).map_err(|e| {
                    IdentityError::Internal(format!("stored password hash unreadable: {e}"))
                })?;
                Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        if ok {
            let mut cache = self.lock();
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(user_id.to_owned(), (stored.to_owned(), digest));
        }
        Ok(ok)
    }

    /// Forgets a user's cached verification (password changed or user deleted).
    pub fn forget(&self, user_id: &str) {
        self.lock().remove(user_id);
    }

    fn digest(&self, password: &str) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.cache_key).expect("any key length is valid");
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, [u8; 32])>> {
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> IdentityResult<T> + Send + 'static,
    ) -> IdentityResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| IdentityError::Internal("password hasher closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| IdentityError::Internal(format!("password task failed: {e}")))?
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify_with_and_without_cache() {
        let pw = Passwords::new(1);
        let hash = pw.hash("s3cret").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!pw.verify("u", "wrong", &hash).await.unwrap());
        assert!(pw.verify("u", "s3cret", &hash).await.unwrap());
        // Cached path: right and wrong passwords still told apart.
        assert!(pw.verify("u", "s3cret", &hash).await.unwrap());
        assert!(!pw.verify("u", "wrong", &hash).await.unwrap());
        // A changed stored hash bypasses the cache.
        let other = pw.hash("new").await.unwrap();
        assert!(!pw.verify("u", "s3cret", &other).await.unwrap());
        assert!(pw.verify("u", "new", &other).await.unwrap());
    }
}
