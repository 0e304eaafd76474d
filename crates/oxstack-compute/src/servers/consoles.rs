//! Remote consoles: a console URL carries a fresh token (kept only as a
//! hash, valid for Nova's default ten minutes) that the console proxy —
//! and admins, through `os-console-auth-tokens` — can check.

use sha2::{Digest, Sha256};

use oxstack_store::console_tokens::ConsoleToken;

use super::Caller;
use super::rules::invalid_state;
use crate::model::states::TaskState;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// Nova's `[consoleauth]token_ttl`.
const TOKEN_TTL_MICROS: i64 = 600 * 1_000_000;

/// The console types, by protocol; Nova's default proxy URL of each
/// (`novncproxy_base_url` and friends) and the guest port behind it.
fn console_kind(protocol: &str, console_type: &str) -> Option<(&'static str, i64)> {
    Some(match (protocol, console_type) {
        ("vnc", "novnc") => ("http://127.0.0.1:6080/vnc_lite.html?path=%3Ftoken%3D", 5900),
        ("vnc", "xvpvnc") => ("http://127.0.0.1:6081/console?token=", 5900),
        ("spice", "spice-html5") => ("http://127.0.0.1:6082/spice_auto.html?token=", 5901),
        ("spice", "spice-direct") => ("http://127.0.0.1:13002/nova?token=", 5901),
        ("serial", "serial") => ("ws://127.0.0.1:6083/?token=", 10000),
        ("mks", "webmks") => ("http://127.0.0.1:6090/?token=", 902),
        _ => return None,
    })
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Compute {
    /// A console URL for a server on a host; 400 for a type this cloud
    /// does not offer (RDP) or that does not match the protocol.
    pub async fn create_console(
        &self,
        caller: &Caller,
        id: &str,
        protocol: &str,
        console_type: &str,
    ) -> ComputeResult<String> {
        let server = self.get_server(caller, id).await?;
        if console_type == "rdp-html5" || protocol == "rdp" {
            return Err(ComputeError::Invalid(format!(
                "Unavailable console type {console_type}."
            )));
        }
        let Some((default_base, port)) = console_kind(protocol, console_type) else {
            return Err(ComputeError::Invalid(format!(
                "Invalid console type {console_type}"
            )));
        };
        if let Some(task @ (TaskState::Deleting | TaskState::Migrating)) = server.task_state {
            return Err(invalid_state(
                "get_console",
                &server,
                "task_state",
                task.as_str(),
            ));
        }
        let Some(host) = server.host.clone() else {
            return Err(ComputeError::Conflict(format!(
                "Instance {} is not ready",
                server.uuid
            )));
        };
        let token = uuid::Uuid::new_v4().to_string();
        let now = now_micros();
        let record = ConsoleToken {
            instance_uuid: server.uuid.clone(),
            console_type: console_type.to_owned(),
            host,
            port,
            internal_access_path: None,
            expires: now + TOKEN_TTL_MICROS,
        };
        self.store
            .console_tokens()
            .insert(&hash(&token), &record, now)
            .await?;
        let base = match (console_type, &self.settings.novncproxy_base_url) {
            // This cloud's own proxy: the websocket is `vnc/websockify`
            // beside the page.
            ("novnc", Some(page)) => format!("{page}?path=vnc%2Fwebsockify%3Ftoken%3D"),
            _ => default_base.to_owned(),
        };
        Ok(format!("{base}{token}"))
    }

    /// The Unix socket serving the console a token grants (the VNC
    /// display of a guest this process's hypervisor runs); 404 when the
    /// token is unknown or expired or no such console is here.
    pub async fn console_socket(&self, token: &str) -> ComputeResult<std::path::PathBuf> {
        let granted = self.check_console_token(token).await?;
        let host = self.local_host(&granted.host);
        host.as_ref()
            .unwrap_or(self)
            .driver
            .console_socket(&granted.instance_uuid, &granted.console_type)
            .ok_or_else(|| {
                ComputeError::NotFound(format!(
                    "The console of instance {} is not served by this node.",
                    granted.instance_uuid
                ))
            })
    }

    /// What an unexpired console token grants.
    pub async fn check_console_token(&self, token: &str) -> ComputeResult<ConsoleToken> {
        self.store
            .console_tokens()
            .get(&hash(token), now_micros())
            .await?
            .ok_or_else(|| ComputeError::NotFound("Token not found".into()))
    }

    /// The console log of a server that runs on a host.
    pub async fn console_output(
        &self,
        caller: &Caller,
        id: &str,
        lines: Option<usize>,
    ) -> ComputeResult<String> {
        let server = self.get_server(caller, id).await?;
        if server.host.is_none() {
            return Err(ComputeError::Conflict(format!(
                "Instance {} is not ready",
                server.uuid
            )));
        }
        // The hypervisor of the server's host, when this process runs it.
        let host = server.host.as_deref().and_then(|h| self.local_host(h));
        host.as_ref()
            .unwrap_or(self)
            .driver
            .console_output(&server.uuid, lines)
            .await
            .map_err(|e| ComputeError::Conflict(e.message))
    }
}
