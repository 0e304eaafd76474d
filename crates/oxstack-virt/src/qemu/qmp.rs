//! A client of the QEMU Machine Protocol over a VM's Unix socket: the
//! greeting, `qmp_capabilities`, then commands correlated with their
//! answers by id while events arrive in between.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How long a command may take before the VM is deemed unresponsive.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long QEMU may take to greet: it does so at once when it runs, and
/// the driver waits for it while holding its sessions.
const GREETING_TIMEOUT: Duration = Duration::from_secs(5);

/// Something the VM told without being asked.
#[derive(Clone, Debug, PartialEq)]
pub enum QmpEvent {
    /// An asynchronous event (`SHUTDOWN`, `STOP`, `RESUME`, ...).
    Event { name: String, data: Value },
    /// The connection ended: the QEMU process is gone.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("QMP protocol error: {0}")]
    Protocol(String),
    /// QEMU refused the command (its `error.desc`).
    #[error("{0}")]
    Command(String),
    #[error("the VM did not answer {0} in time")]
    Timeout(String),
    #[error("the VM's QEMU process is gone")]
    Closed,
}

type Pending =
    Arc<std::sync::Mutex<Option<HashMap<u64, oneshot::Sender<Result<Value, QmpError>>>>>>;

/// One open QMP session.
#[derive(Debug)]
pub struct Qmp {
    writer: Mutex<OwnedWriteHalf>,
    /// Commands awaiting their answers; `None` once the connection ended.
    pending: Pending,
    next_id: AtomicU64,
}

impl Qmp {
    /// Connects, reads the greeting and leaves negotiation mode; events
    /// from then on go to `events`.
    pub async fn connect(
        socket: &Path,
        events: mpsc::UnboundedSender<QmpEvent>,
    ) -> Result<Self, QmpError> {
        let stream = UnixStream::connect(socket).await?;
        let (read, write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = tokio::time::timeout(GREETING_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| QmpError::Timeout("the greeting".into()))??
            .ok_or(QmpError::Closed)?;
        let greeting: Value =
            serde_json::from_str(&greeting).map_err(|e| QmpError::Protocol(e.to_string()))?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!(
                "unexpected greeting {greeting}"
            )));
        }
        let pending: Pending = Arc::new(std::sync::Mutex::new(Some(HashMap::new())));
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    tracing::warn!(line, "unreadable QMP message");
                    continue;
                };
                if let Some(name) = message.get("event").and_then(Value::as_str) {
                    let data = message.get("data").cloned().unwrap_or(Value::Null);
                    let _ = events.send(QmpEvent::Event {
                        name: name.to_owned(),
                        data,
                    });
                } else if let Some(id) = message.get("id").and_then(Value::as_u64) {
                    let waiter = reader_pending
                        .lock()
                        .expect("pending")
                        .as_mut()
                        .and_then(|p| p.remove(&id));
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(answer_of(message));
                    }
                }
            }
            // Every command still waiting fails with the connection.
            reader_pending.lock().expect("pending").take();
            let _ = events.send(QmpEvent::Closed);
        });
        let qmp = Self {
            writer: Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
        };
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs `command` with `arguments`; its `return` value.
    pub async fn execute(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending")
            .as_mut()
            .ok_or(QmpError::Closed)?
            .insert(id, tx);
        let mut message = json!({"execute": command, "id": id});
        if let Some(arguments) = arguments {
            message["arguments"] = arguments;
        }
        let mut line = message.to_string();
        line.push('\n');
        self.writer.lock().await.write_all(line.as_bytes()).await?;
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(QmpError::Closed),
            Err(_) => {
                if let Some(p) = self.pending.lock().expect("pending").as_mut() {
                    p.remove(&id);
                }
                Err(QmpError::Timeout(command.to_owned()))
            }
        }
    }
}

fn answer_of(message: Value) -> Result<Value, QmpError> {
    if let Some(error) = message.get("error") {
        let desc = error
            .get("desc")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(QmpError::Command(desc.to_owned()));
    }
    Ok(message.get("return").cloned().unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A QMP peer that greets, answers every command with its id (and
    /// an error for `fail`), and sends an event before each answer.
    async fn fake_qemu(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            let asked: Value = serde_json::from_str(&line).unwrap();
            let id = asked["id"].clone();
            write
                .write_all(b"{\"event\": \"STOP\", \"data\": {}}\n")
                .await
                .unwrap();
            let answer = if asked["execute"] == "fail" {
                json!({"error": {"class": "GenericError", "desc": "no such thing"}, "id": id})
            } else {
                json!({"return": {"asked": asked["execute"]}, "id": id})
            };
            write
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .unwrap();
            if asked["execute"] == "quit" {
                // QEMU ends: the connection closes.
                return;
            }
        }
    }

    #[tokio::test]
    async fn commands_get_their_own_answers_and_events_pass_by() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        tokio::spawn(fake_qemu(listener));
        let (tx, mut events) = mpsc::unbounded_channel();
        let qmp = Qmp::connect(&socket, tx).await.unwrap();
        let answer = qmp.execute("query-status", None).await.unwrap();
        assert_eq!(answer["asked"], "query-status");
        match qmp.execute("fail", None).await {
            Err(QmpError::Command(desc)) => assert_eq!(desc, "no such thing"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let first = events.recv().await.unwrap();
        assert_eq!(
            first,
            QmpEvent::Event {
                name: "STOP".into(),
                data: json!({})
            }
        );
        qmp.execute("quit", None).await.unwrap();
        // The peer hangs up: the session ends and later commands fail.
        loop {
            if events.recv().await.unwrap() == QmpEvent::Closed {
                break;
            }
        }
        assert!(matches!(
            qmp.execute("query-status", None).await,
            Err(QmpError::Closed | QmpError::Io(_))
        ));
    }
}
