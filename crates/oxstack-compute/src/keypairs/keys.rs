//! Key material as Nova handles it (`nova/crypto.py`): the fingerprint of
//! an imported public key or certificate, and new key pairs for users who
//! ask for one (an RSA key for ssh; a self-signed client certificate with
//! its key in a PKCS#12 file for WinRM).

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{Any, Utf8StringRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::oid::db::rfc5280::ID_KP_CLIENT_AUTH;
use x509_cert::der::{Decode, DecodePem, Encode, EncodePem};
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

/// The size of the RSA keys Nova generates.
const RSA_BITS: usize = 2048;
/// How long a generated certificate is valid (openssl's `-days 3650`).
const CERTIFICATE_LIFETIME: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// Microsoft's User Principal Name, which WinRM maps a certificate to.
const UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

/// Nova's `InvalidKeypair` reason for a public key it cannot read.
pub const UNREADABLE_KEY: &str = "failed to generate fingerprint";

/// A key pair made here: what the user keeps and what the cloud keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The OpenSSH public key, or the PEM certificate.
    pub public_key: String,
    /// The PEM RSA private key, or the base64 PKCS#12 file.
    pub private_key: String,
    pub fingerprint: String,
}

/// Bytes as `aa:bb:...`, the way Nova prints fingerprints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The MD5 fingerprint of an OpenSSH public key line (`type base64
/// [comment]`), once the key is known to be whole and of the type it
/// names; `Err` with Nova's reason otherwise.
pub fn ssh_fingerprint(public_key: &str) -> Result<String, String> {
    let unreadable = || UNREADABLE_KEY.to_owned();
    let (kind, rest) = public_key.split_once([' ', '\t']).ok_or_else(unreadable)?;
    let encoded = rest
        .trim_start_matches([' ', '\t'])
        .split([' ', '\t', '\r', '\n'])
        .next()
        .unwrap_or_default();
    let blob = BASE64.decode(encoded).map_err(|_| unreadable())?;
    let named = if kind.ends_with("-cert-v01@openssh.com") {
        ssh_key::Certificate::from_bytes(&blob)
            .is_ok_and(|c| c.algorithm().to_certificate_type() == kind)
    } else {
        ssh_key::PublicKey::from_bytes(&blob).is_ok_and(|k| k.algorithm().as_str() == kind)
    };
    if !named {
        return Err(unreadable());
    }
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// The SHA-1 fingerprint of a PEM certificate; `Err` with Nova's reason.
pub fn x509_fingerprint(pem: &str) -> Result<String, String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        format!("failed to generate X509 fingerprint. Error message: {e}")
    };
    let certificate = Certificate::from_pem(pem.as_bytes()).map_err(|e| unreadable(&e))?;
    let der = certificate.to_der().map_err(|e| unreadable(&e))?;
    Ok(colon_hex(&Sha1::digest(der)))
}

fn new_rsa_key() -> Result<RsaPrivateKey, String> {
    RsaPrivateKey::new(&mut rand::thread_rng(), RSA_BITS).map_err(|e| e.to_string())
}

/// A new ssh key pair as Nova's `generate_key_pair` makes it: RSA 2048, the
/// private key in PKCS#1 PEM, the public key commented `Generated-by-Nova`.
/// Takes a moment of CPU: call it off the async runtime.
pub fn generate_ssh() -> Result<Generated, String> {
    let key = new_rsa_key()?;
    let mpint = |n: &rsa::BigUint| {
        ssh_key::Mpint::from_positive_bytes(&n.to_bytes_be()).map_err(|e| e.to_string())
    };
    let public = ssh_key::public::RsaPublicKey {
        e: mpint(key.e())?,
        n: mpint(key.n())?,
    };
    let public = ssh_key::PublicKey::new(public.into(), "Generated-by-Nova");
    let blob = public.to_bytes().map_err(|e| e.to_string())?;
    Ok(Generated {
        public_key: public.to_openssh().map_err(|e| e.to_string())?,
        private_key: key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?
            .to_string(),
        fingerprint: colon_hex(&Md5::digest(blob)),
    })
}

/// A new client certificate for `user_id` as Nova's
/// `generate_winrm_x509_cert` makes it: self-signed, RSA 2048, valid ten
/// years, `CN=<user_id>`, client authentication, the user's principal name
/// `<user_id>@localhost`; the private key is the certificate and key in a
/// PKCS#12 file (empty password), base64. Off the async runtime, too.
pub fn generate_x509(user_id: &str) -> Result<Generated, String> {
    let key = new_rsa_key()?;
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let spki_der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| error(&e))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).map_err(|e| error(&e))?;
    let subject = Name::from_str(&format!("CN={user_id}")).map_err(|e| error(&e))?;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let profile = Profile::Leaf {
        issuer: subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: true,
    };
    let serial = SerialNumber::from(rand::random::<u32>());
    let validity = Validity::from_now(CERTIFICATE_LIFETIME).map_err(|e| error(&e))?;
    let mut builder = CertificateBuilder::new(profile, serial, validity, subject, spki, &signer)
        .map_err(|e| error(&e))?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![ID_KP_CLIENT_AUTH]))
        .map_err(|e| error(&e))?;
    let principal = format!("{user_id}@localhost");
    let principal = Utf8StringRef::new(&principal).map_err(|e| error(&e))?;
    let principal = SubjectAltName(vec![GeneralName::OtherName(OtherName {
        type_id: UPN,
        value: Any::encode_from(&principal).map_err(|e| error(&e))?,
    })]);
    builder.add_extension(&principal).map_err(|e| error(&e))?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| error(&e))?;
    let der = certificate.to_der().map_err(|e| error(&e))?;
    let key_der = key.to_pkcs8_der().map_err(|e| error(&e))?;
    let fingerprint = Sha1::digest(&der);
    // The key's local id ties it to its certificate in the file.
    let chain = p12_keystore::PrivateKeyChain::new(
        key_der.as_bytes(),
        fingerprint,
        vec![p12_keystore::Certificate::from_der(&der).map_err(|e| error(&e))?],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(user_id, p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let pkcs12 = store.writer("").write().map_err(|e| error(&e))?;
    Ok(Generated {
        public_key: certificate.to_pem(LineEnding::LF).map_err(|e| error(&e))?,
        private_key: BASE64.encode(pkcs12),
        fingerprint: colon_hex(&fingerprint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nova's own vectors (`nova/tests/unit/test_crypto.py`).
    const RSA: &str = concat!(
        "ssh-rsa ",
        "AAAAB3NzaC1yc2EAAAADAQABAAABAQDkbjgPqUSAyPpxHAI/J2wyXVVE3YH0NXJX",
        "mWbCywZ4kKXLBkxZwqVJkFpY9vBu3bT+vvh4wZk+Wq0SL1Gj4QePj+fn7cDYyHXW",
        "HQ8ZK3nc9I99bChmESD2FDXDVnF8EwLHt4bZh0YVChwyBHTNBqwkaOO3yGu4KdZE",
        "Hek0f0OETAqGARMfT8IXPFKHR5laz87gZJ/i6nCZEb/Vi73S+dVmrcBqfC+9blQG",
        "TqDi5ZvoVMRLzruQDLhvkRwfpZHeUsTT2ia4b82q0f6qSAh1ByicOSaS4rfF/mCj",
        "oZLASh3R6szUbW974LjD8wP3wpnhmWif2HLugTatyodd/nyBm05N",
        " Generated-by-Nova"
    );
    const DSS: &str = concat!(
        "ssh-dss ",
        "AAAAB3NzaC1kc3MAAACBAKWFW2++pDxJWObkADbSXw8KfZ4VupkRKEXFSPN2kV0v",
        "+FgdnBEcrEJPExaOTMhmxIuc82ktTv76wHSEpbbsLuI7IDbB6KJJwHs2y356yB28",
        "Q9rin7X0VMYKkPxvAcbIUSrEbQtyPMihlOaaQ2dGSsEQGQSpjm3f3RU6OWux0w/N",
        "AAAAFQCgzWF2zxQmi/Obd11z9Im6gY02gwAAAIAHCDLjipVwMLXIqNKOMktiPex+",
        "ewRQxBi80dzZ3mJzARqzLPYI9hJFUU0LiMtLuypV/djpUWN0cQpmgTQfTfuZx9ip",
        "C6Mtiz66NQqjkQuoihzdk+9KlOTo03UsX5uBGwuZ09Dnf1VTF8ZsW5HgHyOk6qD7",
        "1QBajkcFJAKOT3rFfgAAAIAy8trIzqEps9/n37Nli1TvNPLbFQAXl1LNwUFmFDwB",
        "CGTLl8puVZv7VSu1FG8ko+mzqNebqcN4RMC26NxJqe+RRubn5KtmLoIa7tRe74hv",
        "Q1HTLLuGxugwa4CewNbwzzEDEs8U79WDhGKzDkJR4nLPVimj5WLAWV70RNnRX7zj",
        "5w==",
        " Generated-by-Nova"
    );
    /// With a comment that has spaces.
    const ECDSA: &str = concat!(
        "ecdsa-sha2-nistp256 ",
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG1r4wzPTIjS",
        "o78POCq+u/czb8gYK0KvqlmCvcRPrnDWxgLw7y6BX51tuYREz7iLRCP7BwUt8R+Z",
        "WzFZDeOLIWU=",
        " Generated by Nova"
    );

    #[test]
    fn fingerprints_match_novas() {
        assert_eq!(
            ssh_fingerprint(RSA).as_deref(),
            Ok("e7:66:a1:2c:4f:90:6e:11:19:da:ac:c2:69:e1:ad:89")
        );
        assert_eq!(
            ssh_fingerprint(DSS).as_deref(),
            Ok("b9:dc:ac:57:df:2a:2b:cf:65:a8:c3:4e:9d:4a:82:3c")
        );
        assert_eq!(
            ssh_fingerprint(ECDSA).as_deref(),
            Ok("16:6a:c9:ec:80:4d:17:3e:d5:3b:6f:c0:d7:15:04:40")
        );
    }

    #[test]
    fn keys_that_are_not_whole_or_not_what_they_say_are_refused() {
        let junk = "A".repeat(2048);
        for bad in [
            "ssh-rsa JUNK nova@ubuntu",
            " ",
            "",
            &format!("ssh-rsa {junk} openstack@ubuntu"),
            // An ECDSA key presented as RSA.
            &ECDSA.replacen("ecdsa-sha2-nistp256", "ssh-rsa", 1),
            // Cut short.
            &RSA[..200],
        ] {
            assert_eq!(ssh_fingerprint(bad), Err(UNREADABLE_KEY.into()), "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_read_back() {
        let ssh = generate_ssh().expect("an ssh key");
        assert!(ssh.public_key.starts_with("ssh-rsa AAAA"));
        assert!(ssh.public_key.ends_with(" Generated-by-Nova"));
        assert!(
            ssh.private_key
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        assert_eq!(ssh_fingerprint(&ssh.public_key), Ok(ssh.fingerprint));

        let x509 = generate_x509("a-user").expect("a certificate");
        assert!(x509.public_key.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(x509_fingerprint(&x509.public_key), Ok(x509.fingerprint));
        let pkcs12 = BASE64.decode(&x509.private_key).expect("base64");
        let store = p12_keystore::KeyStore::from_pkcs12(&pkcs12, "").expect("a PKCS#12 file");
        let (_, chain) = store
            .private_key_chain()
            .expect("the key and its certificate");
        assert_eq!(chain.chain().len(), 1);
        assert!(
            x509_fingerprint("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
                .is_err_and(
                    |e| e.starts_with("failed to generate X509 fingerprint. Error message: ")
                )
        );
    }
}
