//! Identity for oxstack: users, projects, roles, tokens and the default
//! policy rules. The HTTP shapes of the Keystone v3 subset live in
//! `oxstack-api`; this crate decides who may do what.

mod admin;
mod auth;
mod bootstrap;
mod error;
mod model;
mod password;
pub mod policy;
mod reset;
mod token;

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use oxstack_store::Store;
use oxstack_store::identity::RevocationRow;
use rand::RngCore;

pub use admin::{NewProject, NewUser, ProjectPatch, UserPatch};
pub use auth::{
    AuthMethod, AuthRequest, DomainRef, IssuedToken, ProjectRef, ScopeRequest, UserRef,
};
pub use bootstrap::BootstrapConfig;
pub use error::{IdentityError, IdentityResult};
pub use model::{Assignment, AssignmentFilter, Domain, ListFilter, Project, Role, User};
pub use password::Passwords;
pub use policy::{Context, PolicyDenied, Rule};
pub use reset::IdentityReset;
pub use token::{TokenPayload, TokenSigner};

/// The id of the domain that always exists.
pub const DEFAULT_DOMAIN_ID: &str = "default";

const SIGNING_KEY_SETTING: &str = "token_signing_key";

/// Tunables of the identity service.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// How long an issued token stays valid.
    pub token_ttl: Duration,
    /// How many password hashes may be computed at once.
    pub hash_parallelism: usize,
}

/// The identity service: authentication, token validation, and the admin
/// operations on projects, users, roles and grants.
pub struct IdentityService {
    store: Store,
    signer: TokenSigner,
    passwords: Passwords,
    revocations: RwLock<Vec<RevocationRow>>,
    config: IdentityConfig,
    /// The accounts the cloud was bootstrapped with (what a reset keeps).
    bootstrapped: std::sync::OnceLock<bootstrap::BootstrapConfig>,
}

impl IdentityService {
    /// Loads (or, on the first start of a cloud, creates) the token signing
    /// key and the live revocation events.
    pub async fn new(store: Store, config: IdentityConfig) -> IdentityResult<Self> {
        let mut fresh = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        let stored = store
            .identity()
            .setting_or_insert(SIGNING_KEY_SETTING, &B64.encode(fresh))
            .await?;
        let key = B64
            .decode(stored)
            .map_err(|e| IdentityError::Internal(format!("stored signing key unreadable: {e}")))?;
        let service = Self {
            store,
            signer: TokenSigner::new(key),
            passwords: Passwords::new(config.hash_parallelism),
            revocations: RwLock::new(Vec::new()),
            config,
            bootstrapped: std::sync::OnceLock::new(),
        };
        service.refresh_revocations().await?;
        Ok(service)
    }

    /// Re-reads revocation events, so that tokens revoked through another
    /// API node stop working here too. Called periodically by the server.
    pub async fn refresh_revocations(&self) -> IdentityResult<()> {
        let live = self.store.identity().live_revocations(now_micros()).await?;
        *self.revocations.write().unwrap_or_else(|p| p.into_inner()) = live;
        Ok(())
    }

    /// Checks a token: signature, expiry and revocation. Costs no I/O.
    pub fn validate(&self, token: &str) -> IdentityResult<TokenPayload> {
        let payload = self.signer.verify(token)?;
        if payload.expires_at <= now_micros() {
            return Err(IdentityError::Unauthorized(
                "The request you have made requires authentication.".into(),
            ));
        }
        let revoked = self
            .revocations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|event| revokes(event, &payload));
        if revoked {
            return Err(IdentityError::Unauthorized(
                "The request you have made requires authentication.".into(),
            ));
        }
        Ok(payload)
    }

    /// The policy context of a project-scoped token; `None` when unscoped.
    pub fn context_of(payload: &TokenPayload) -> Option<Context> {
        payload.project_id.as_ref().map(|project_id| Context {
            user_id: payload.user_id.clone(),
            project_id: project_id.clone(),
            roles: payload.roles.clone(),
        })
    }

    /// Records a revocation event and applies it at once on this node.
    async fn revoke(&self, event: RevocationRow) -> IdentityResult<()> {
        self.store.identity().insert_revocation(&event).await?;
        self.revocations
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
        Ok(())
    }

    /// Revokes every token of `user_id` (optionally only on `project_id`)
    /// issued until now.
    async fn revoke_for(
        &self,
        user_id: Option<&str>,
        project_id: Option<&str>,
    ) -> IdentityResult<()> {
        let now = now_micros();
        self.revoke(RevocationRow {
            id: new_id(),
            audit_id: None,
            user_id: user_id.map(str::to_owned),
            project_id: project_id.map(str::to_owned),
            issued_before: now,
            expires_at: now + self.config.token_ttl.as_micros() as i64,
        })
        .await
    }
}

fn revokes(event: &RevocationRow, token: &TokenPayload) -> bool {
    token.issued_at <= event.issued_before
        && event
            .audit_id
            .as_ref()
            .is_none_or(|a| token.audit_ids.contains(a))
        && event.user_id.as_ref().is_none_or(|u| *u == token.user_id)
        && event
            .project_id
            .as_ref()
            .is_none_or(|p| token.project_id.as_ref() == Some(p))
}

/// A new Keystone-style id: 32 lowercase hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Now, in microseconds since the epoch (the store's time unit).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
