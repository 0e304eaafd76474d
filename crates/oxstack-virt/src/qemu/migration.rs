//! Live migration between two hosts' QEMUs, as libvirt does it for
//! guests on local disks: the destination starts a QEMU that waits for
//! the guest (`-incoming defer`) with empty disks of the same sizes over
//! the same bases, and exports them over NBD; the source mirrors each
//! local disk's own clusters into those exports (`blockdev-mirror`,
//! `sync: top`), then sends the guest's memory and devices over TCP
//! (`migrate`). With `pause-before-switchover` both QEMUs wait, the
//! guest paused, at the switch-over, so the compute host hands the
//! server over in the database before the guest runs there — or, when the
//! move was aborted, takes it back with nothing changed. Volumes are
//! shared files: both ends open them and nothing is copied.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::disks::{VmFiles, failed};
use super::launch::StartFrom;
use super::{POLL, QemuDriver};
use crate::{DriverError, GuestSpec, PowerState};

/// How long a copy may take before it is given up.
const COPY_TIMEOUT: Duration = Duration::from_secs(600);

/// The local disks a migration copies (their block node names); the
/// config drive is read-only and made afresh by the destination.
const LOCAL_DISKS: [&str; 3] = ["root", "ephemeral0", "swap"];

/// Where the destination receives a guest, as recorded for the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// QEMU's migration URI (`tcp:HOST:PORT`).
    pub migration: String,
    /// The NBD server exporting the destination's disks.
    pub nbd_host: String,
    pub nbd_port: u16,
    /// The block nodes exported, each under its own name.
    pub disks: Vec<String>,
}

fn migration_failed(message: impl Into<String>) -> DriverError {
    DriverError {
        message: message.into(),
    }
}

/// A free TCP port on this machine to listen on.
fn free_port() -> Result<u16, DriverError> {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed("choosing a port for a live migration", e))
}

/// The mirror job and the NBD node of disk `node` on the source.
fn mirror_of(node: &str) -> String {
    format!("migrate-{node}")
}

impl VmFiles {
    /// The local disks this VM has, by block node name.
    fn local_disks(&self) -> Vec<&'static str> {
        LOCAL_DISKS
            .into_iter()
            .zip([self.disk(), self.ephemeral(), self.swap()])
            .filter(|(_, path)| path.exists())
            .map(|(node, _)| node)
            .collect()
    }
}

impl QemuDriver {
    /// The destination's first step: a QEMU waiting for the guest, its
    /// disks exported. Asked again while it waits, it answers the same.
    pub(super) async fn prepare_incoming_vm(
        &self,
        guest: &GuestSpec,
    ) -> Result<Incoming, DriverError> {
        let uuid = &guest.uuid;
        let files = self.files(uuid);
        if self.status(uuid).await.as_deref() == Some("inmigrate")
            && let Ok(text) = tokio::fs::read_to_string(files.incoming()).await
            && let Ok(incoming) = serde_json::from_str(&text)
        {
            return Ok(incoming);
        }
        // Whatever an earlier, failed move left here goes first.
        self.stop_process(uuid).await?;
        let _ = tokio::fs::remove_dir_all(&files.dir).await;
        self.start(guest, None, StartFrom::Migration).await?;
        let host = self.settings.live_migration_inbound_addr.clone();
        let incoming = Incoming {
            migration: format!("tcp:{host}:{}", free_port()?),
            nbd_host: host.clone(),
            nbd_port: free_port()?,
            disks: files.local_disks().into_iter().map(str::to_owned).collect(),
        };
        let addr =
            json!({"type": "inet", "data": {"host": host, "port": incoming.nbd_port.to_string()}});
        self.execute(uuid, "nbd-server-start", Some(json!({ "addr": addr })))
            .await?;
        for node in &incoming.disks {
            self.execute(
                uuid,
                "block-export-add",
                Some(json!({"type": "nbd", "id": node, "node-name": node, "writable": true})),
            )
            .await?;
        }
        self.execute(
            uuid,
            "migrate-incoming",
            Some(json!({ "uri": incoming.migration })),
        )
        .await?;
        let text = serde_json::to_string(&incoming)
            .map_err(|e| failed("recording a live migration", e))?;
        tokio::fs::write(files.incoming(), text)
            .await
            .map_err(|e| failed("recording a live migration", e))?;
        tokio::spawn(remove_when_abandoned(self.clone(), uuid.clone()));
        Ok(incoming)
    }

    /// The source's copy up to the switch-over; on an error the guest runs
    /// on here and the destination's QEMU is made to give up.
    pub(super) async fn live_send_vm(
        &self,
        uuid: &str,
        destination: &str,
    ) -> Result<(), DriverError> {
        let incoming: Incoming = serde_json::from_str(destination).map_err(|_| {
            migration_failed(format!(
                "the destination gave no address a QEMU can migrate to ({destination:?})"
            ))
        })?;
        let result = self.copy_to(uuid, &incoming).await;
        if let Err(e) = &result {
            tracing::warn!(uuid, error = %e, "a live migration's copy failed; the guest stays");
            self.take_back(uuid, &incoming.disks).await;
            abandon(&incoming.migration).await;
        }
        result
    }

    async fn copy_to(&self, uuid: &str, incoming: &Incoming) -> Result<(), DriverError> {
        let files = self.files(uuid);
        let disks = files.local_disks();
        if disks.iter().any(|d| !incoming.disks.iter().any(|e| e == d)) {
            return Err(migration_failed(
                "the destination did not make every disk the guest has",
            ));
        }
        self.execute(
            uuid,
            "migrate-set-capabilities",
            Some(
                json!({"capabilities": [{"capability": "pause-before-switchover", "state": true}]}),
            ),
        )
        .await?;
        for node in &disks {
            let target = mirror_of(node);
            self.execute(
                uuid,
                "blockdev-add",
                Some(json!({
                    "driver": "nbd",
                    "node-name": target,
                    "server": {"type": "inet", "host": incoming.nbd_host, "port": incoming.nbd_port.to_string()},
                    "export": node,
                })),
            )
            .await?;
            self.execute(
                uuid,
                "blockdev-mirror",
                Some(json!({"job-id": target, "device": node, "target": target, "sync": "top"})),
            )
            .await?;
        }
        let until = Instant::now() + COPY_TIMEOUT;
        while !self.mirrors_ready(uuid, &disks).await? {
            if Instant::now() >= until {
                return Err(migration_failed("copying the guest's disks did not finish"));
            }
            tokio::time::sleep(POLL).await;
        }
        self.execute(uuid, "migrate", Some(json!({ "uri": incoming.migration })))
            .await?;
        loop {
            let state = self.execute(uuid, "query-migrate", None).await?;
            match state["status"].as_str() {
                Some("pre-switchover") => return Ok(()),
                Some("failed" | "cancelled" | "completed") => {
                    return Err(migration_failed(format!(
                        "sending the guest failed: {}",
                        state["error-desc"]
                            .as_str()
                            .unwrap_or("the migration ended early")
                    )));
                }
                _ if Instant::now() >= until => {
                    return Err(migration_failed(
                        "sending the guest's memory did not finish",
                    ));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Whether every disk's mirror is in step with its copy; an error
    /// when a mirror ended.
    async fn mirrors_ready(&self, uuid: &str, disks: &[&str]) -> Result<bool, DriverError> {
        let jobs = self.execute(uuid, "query-block-jobs", None).await?;
        let jobs = jobs.as_array().cloned().unwrap_or_default();
        let mut ready = true;
        for node in disks {
            let id = mirror_of(node);
            let job = jobs.iter().find(|j| j["device"] == id.as_str());
            match job {
                None => return Err(migration_failed(format!("copying disk {node} stopped"))),
                Some(job) if job["status"] == "concluded" || job["status"] == "aborting" => {
                    return Err(migration_failed(format!(
                        "copying disk {node} failed: {}",
                        job["error"].as_str().unwrap_or("no reason given")
                    )));
                }
                Some(job) => ready &= job["ready"] == Value::Bool(true),
            }
        }
        Ok(ready)
    }

    /// Undoes a copy on the source: the migration cancelled, the mirrors
    /// dropped, the guest running as before.
    async fn take_back(&self, uuid: &str, disks: &[String]) {
        let _ = self.execute(uuid, "migrate_cancel", None).await;
        let until = Instant::now() + Duration::from_secs(30);
        while let Ok(state) = self.execute(uuid, "query-migrate", None).await
            && matches!(
                state["status"].as_str(),
                Some("cancelling" | "pre-switchover" | "active" | "device")
            )
            && Instant::now() < until
        {
            tokio::time::sleep(POLL).await;
        }
        // QEMU itself runs the guest again if it ran before.
        self.drop_mirrors(uuid, disks, true).await;
    }

    /// Ends the mirror jobs (a ready mirror ends with its copy whole) and
    /// removes their NBD nodes.
    async fn drop_mirrors(&self, uuid: &str, disks: &[String], force: bool) {
        for node in disks {
            let id = mirror_of(node);
            let _ = self
                .execute(
                    uuid,
                    "block-job-cancel",
                    Some(json!({"device": id, "force": force})),
                )
                .await;
        }
        let until = Instant::now() + Duration::from_secs(60);
        while let Ok(jobs) = self.execute(uuid, "query-block-jobs", None).await
            && jobs.as_array().is_some_and(|j| !j.is_empty())
            && Instant::now() < until
        {
            tokio::time::sleep(POLL).await;
        }
        for node in disks {
            let _ = self
                .execute(
                    uuid,
                    "blockdev-del",
                    Some(json!({"node-name": mirror_of(node)})),
                )
                .await;
        }
    }

    /// Ends a live send: committed, the last of the disks and the guest's
    /// state go over and the source's QEMU and files are removed;
    /// otherwise the guest runs on here.
    pub(super) async fn finish_live_send_vm(
        &self,
        uuid: &str,
        commit: bool,
    ) -> Result<(), DriverError> {
        let disks: Vec<String> = self
            .files(uuid)
            .local_disks()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if !commit {
            self.take_back(uuid, &disks).await;
            return Ok(());
        }
        let state = self.execute(uuid, "query-migrate", None).await;
        if let Ok(state) = &state
            && state["status"] == "pre-switchover"
        {
            // The guest is paused: its disks' last writes reach the copy
            // before the mirrors end.
            self.drop_mirrors(uuid, &disks, false).await;
            self.execute(
                uuid,
                "migrate-continue",
                Some(json!({"state": "pre-switchover"})),
            )
            .await?;
            let until = Instant::now() + COPY_TIMEOUT;
            loop {
                let state = self.execute(uuid, "query-migrate", None).await?;
                match state["status"].as_str() {
                    Some("completed") => break,
                    Some("failed" | "cancelled") => {
                        return Err(migration_failed(format!(
                            "the switch-over failed: {}",
                            state["error-desc"].as_str().unwrap_or("no reason given")
                        )));
                    }
                    _ if Instant::now() >= until => {
                        return Err(migration_failed("the switch-over did not finish"));
                    }
                    _ => tokio::time::sleep(POLL).await,
                }
            }
        }
        // Gone already (resumed after a restart past this point), or sent.
        crate::Driver::destroy(self, uuid).await
    }

    /// The destination's last step: the guest arrived and runs (or stays
    /// paused, as it was) here.
    pub(super) async fn receive_vm(
        &self,
        guest: &GuestSpec,
        power: PowerState,
    ) -> Result<(), DriverError> {
        let uuid = &guest.uuid;
        let files = self.files(uuid);
        let arrived = self
            .wait_status(uuid, COPY_TIMEOUT, |s| s != Some("inmigrate"))
            .await;
        let status = self.status(uuid).await;
        if !arrived || !matches!(status.as_deref(), Some("running" | "paused")) {
            return Err(migration_failed(format!(
                "the guest did not arrive (its QEMU here is {})",
                status.as_deref().unwrap_or("gone")
            )));
        }
        if let Ok(text) = tokio::fs::read_to_string(files.incoming()).await
            && let Ok(incoming) = serde_json::from_str::<Incoming>(&text)
        {
            for node in &incoming.disks {
                let _ = self
                    .execute(uuid, "block-export-del", Some(json!({ "id": node })))
                    .await;
            }
            let _ = self.execute(uuid, "nbd-server-stop", None).await;
        }
        let _ = tokio::fs::remove_file(files.incoming()).await;
        if power == PowerState::Paused && status.as_deref() == Some("running") {
            self.execute(uuid, "stop", None).await?;
        }
        let _ = self.changes.send(uuid.clone());
        Ok(())
    }

    /// Removes the folders of guests that were to arrive here by a live
    /// migration that was given up while this host was not running.
    pub(super) async fn remove_abandoned_incoming(&self) {
        let Ok(mut dirs) = tokio::fs::read_dir(self.settings.dir.join("instances")).await else {
            return;
        };
        while let Ok(Some(entry)) = dirs.next_entry().await {
            let uuid = entry.file_name().to_string_lossy().into_owned();
            if self.files(&uuid).incoming().exists() && self.status(&uuid).await.is_none() {
                tracing::info!(
                    uuid,
                    "removing a guest whose live migration to here was given up"
                );
                let _ = crate::Driver::destroy(self, &uuid).await;
            }
        }
    }
}

/// Watches a QEMU waiting for a guest: when it ends before the guest
/// arrived (the source gave up), its folder goes.
async fn remove_when_abandoned(driver: QemuDriver, uuid: String) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match driver.status(&uuid).await.as_deref() {
            Some("inmigrate") => {}
            None if driver.files(&uuid).incoming().exists() => {
                tracing::info!(
                    uuid,
                    "a live migration to here was given up; removing its guest"
                );
                let _ = crate::Driver::destroy(&driver, &uuid).await;
                return;
            }
            _ => return,
        }
    }
}

/// Makes a destination's QEMU that waits for a guest give up: a stream
/// that ends before it begins fails its incoming migration, and QEMU
/// exits.
async fn abandon(migration: &str) {
    let Some(address) = migration.strip_prefix("tcp:") else {
        return;
    };
    if let Ok(Ok(stream)) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    {
        drop(stream);
    }
}
