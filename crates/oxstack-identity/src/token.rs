//! Self-contained signed tokens. A token carries who, which project, which
//! roles and until when; an HMAC-SHA256 over it proves that this cloud issued
//! it. Validation is therefore a MAC check and a scan of the (small, in
//! memory) revocation list: no database round trip per request.
//!
//! Wire form: `ox1.<base64url(json payload)>.<base64url(mac)>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{IdentityError, IdentityResult};

const PREFIX: &str = "ox1.";

/// What a token asserts. Field names are short because the token travels in
/// a header of every request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPayload {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Effective role names on the project (implied roles expanded).
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(rename = "m")]
    pub methods: Vec<String>,
    /// Microseconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at: i64,
    /// Microseconds since the epoch.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// This token's audit id, then the audit id of the token it was made from.
    #[serde(rename = "a")]
    pub audit_ids: Vec<String>,
}

/// Signs and checks tokens with one shared secret key.
pub struct TokenSigner {
    /// The MAC with the key already absorbed: each token's MAC starts from
    /// a copy instead of hashing the key's pads again (every request
    /// checks one).
    keyed: Hmac<Sha256>,
}

impl TokenSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self {
            keyed: Hmac::new_from_slice(&key).expect("any key length is valid"),
        }
    }

    /// The token string for `payload`.
    pub fn sign(&self, payload: &TokenPayload) -> String {
        let body = serde_json::to_vec(payload).expect("token payload always serializes");
        let mut token = String::with_capacity(PREFIX.len() + body.len() * 4 / 3 + 48);
        token.push_str(PREFIX);
        B64.encode_string(&body, &mut token);
        let mac = self.mac(token.as_bytes());
        token.push('.');
        B64.encode_string(mac, &mut token);
        token
    }

    /// The payload of a token this signer issued; expiry is not checked here.
    pub fn verify(&self, token: &str) -> IdentityResult<TokenPayload> {
        let invalid = || {
            IdentityError::Unauthorized("The request you have made requires authentication.".into())
        };
        if !token.starts_with(PREFIX) {
            return Err(invalid());
        }
        let (signed, mac) = token.rsplit_once('.').ok_or_else(invalid)?;
        let mac = B64.decode(mac).map_err(|_| invalid())?;
        let mut check = self.keyed.clone();
        check.update(signed.as_bytes());
        check.verify_slice(&mac).map_err(|_| invalid())?;
        let body = B64.decode(&signed[PREFIX.len()..]).map_err(|_| invalid())?;
        serde_json::from_slice(&body).map_err(|_| invalid())
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> TokenPayload {
        TokenPayload {
            user_id: "u".into(),
            project_id: Some("p".into()),
            roles: vec!["member".into(), "reader".into()],
            methods: vec!["password".into()],
            issued_at: 1,
            expires_at: 2,
            audit_ids: vec!["a".into()],
        }
    }

    #[test]
    fn round_trip() {
        let signer = TokenSigner::new(b"k".to_vec());
        let token = signer.sign(&payload());
        assert!(token.starts_with("ox1."));
        assert_eq!(signer.verify(&token).unwrap(), payload());
    }

    #[test]
    fn rejects_forgeries() {
        let signer = TokenSigner::new(b"k".to_vec());
        let token = signer.sign(&payload());
        assert!(TokenSigner::new(b"other".to_vec()).verify(&token).is_err());
        let mut forged = payload();
        forged.roles = vec!["admin".into()];
        let forged_body = B64.encode(serde_json::to_vec(&forged).unwrap());
        let mac = token.rsplit_once('.').unwrap().1;
        assert!(signer.verify(&format!("ox1.{forged_body}.{mac}")).is_err());
        for junk in ["", "ox1.", "ox1..", "abc", "ox1.!!!.???", "admin:admin"] {
            assert!(signer.verify(junk).is_err(), "{junk:?} accepted");
        }
    }
}
