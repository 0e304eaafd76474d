//! The request trace: the last requests served, for a test to see what
//! its client sent (`GET /_oxstack/trace`). Bounded in memory. Only the
//! request line, the negotiated microversion, the outcome, who asked, a
//! server action's name and the names of body keys the API ignored or
//! rejected are kept — never headers or body values, so no password,
//! token, `adminPass`, `user_data` or private key can be in it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use http::Extensions;
use serde::Serialize;

/// One request served, as kept: what costs nothing to keep while serving
/// (the time and the operation's name are worked out when read).
#[derive(Clone, Debug)]
pub struct TraceEntry {
    /// When it arrived, in microseconds since the epoch.
    pub at_micros: i64,
    pub request_id: String,
    pub method: http::Method,
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The microversion the response was served at (`compute 2.1`, ...).
    pub microversion: Option<String>,
    pub status: u16,
    pub latency_micros: u64,
    /// The caller's project, when the request was authenticated.
    pub project_id: Option<String>,
    /// What the handler noted of the body (action, keys).
    pub body: BodyNotes,
}

/// What a handler notes of a request body: never values, only names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyNotes {
    /// The server action the body named.
    pub action: Option<String>,
    /// Keys (dotted paths) its schema does not declare but allows.
    pub ignored_keys: Vec<String>,
    /// Keys (dotted paths) its schema refuses.
    pub rejected_keys: Vec<String>,
}

/// How `GET /_oxstack/trace` shows an entry.
#[derive(Debug, Serialize)]
pub struct TraceView<'a> {
    /// When it arrived (RFC 3339, UTC).
    pub time: String,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The operation, as fault rules name it.
    pub operation: String,
    pub microversion: Option<&'a str>,
    pub status: u16,
    pub latency_micros: u64,
    pub project_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub ignored_keys: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub rejected_keys: &'a [String],
}

impl TraceEntry {
    pub fn view(&self) -> TraceView<'_> {
        TraceView {
            time: chrono::DateTime::from_timestamp_micros(self.at_micros)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            request_id: &self.request_id,
            method: self.method.as_str(),
            path: &self.path,
            query: self.query.as_deref(),
            operation: super::operation::classify(
                &self.method,
                &self.path,
                self.body.action.as_deref(),
            ),
            microversion: self.microversion.as_deref(),
            status: self.status,
            latency_micros: self.latency_micros,
            project_id: self.project_id.as_deref(),
            ignored_keys: &self.body.ignored_keys,
            rejected_keys: &self.body.rejected_keys,
        }
    }
}

/// The last `capacity` requests.
#[derive(Debug)]
pub struct Trace {
    capacity: usize,
    entries: Mutex<VecDeque<TraceEntry>>,
}

impl Trace {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<TraceEntry>> {
        // Every critical section is one push or one copy.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether requests are kept at all.
    pub fn is_on(&self) -> bool {
        self.capacity > 0
    }

    pub fn record(&self, entry: TraceEntry) {
        if !self.is_on() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The newest `limit` entries (of `project`, if given), oldest first.
    pub fn newest(&self, limit: usize, project: Option<&str>) -> Vec<TraceEntry> {
        let entries = self.lock();
        let mut chosen: Vec<TraceEntry> = entries
            .iter()
            .rev()
            .filter(|e| project.is_none_or(|p| e.project_id.as_deref() == Some(p)))
            .take(limit)
            .cloned()
            .collect();
        chosen.reverse();
        chosen
    }
}

/// Where handlers note, for the trace, what only they learn of a request:
/// the caller's project (once authenticated) and what its body named.
/// Requests carry one only while the trace is on.
#[derive(Clone, Debug, Default)]
pub struct RequestNote(Arc<Noted>);

#[derive(Debug, Default)]
struct Noted {
    project: OnceLock<String>,
    body: Mutex<BodyNotes>,
}

/// At most this many key names are kept per request.
const MAX_KEYS: usize = 16;

impl RequestNote {
    pub fn project(&self) -> Option<String> {
        self.0.project.get().cloned()
    }

    pub fn body(&self) -> BodyNotes {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BodyNotes> {
        // Every critical section is one assignment: a poisoned note is whole.
        self.0
            .body
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The server action the body names.
    pub fn note_action(&self, action: &str) {
        self.lock().action = Some(action.to_owned());
    }

    /// Keys of the body its schema ignores or refuses.
    pub fn note_keys(&self, ignored: Vec<String>, rejected: Vec<String>) {
        let mut body = self.lock();
        body.ignored_keys = ignored.into_iter().take(MAX_KEYS).collect();
        body.rejected_keys = rejected.into_iter().take(MAX_KEYS).collect();
    }
}

/// Notes the caller's project of the request these extensions belong to.
pub fn note_project(extensions: &Extensions, project_id: &str) {
    if let Some(note) = extensions.get::<RequestNote>() {
        let _ = note.0.project.set(project_id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u16, project: &str) -> TraceEntry {
        TraceEntry {
            at_micros: 0,
            request_id: format!("req-{n}"),
            method: http::Method::GET,
            path: "/".into(),
            query: None,
            microversion: None,
            status: n,
            latency_micros: 1,
            project_id: Some(project.into()),
            body: BodyNotes::default(),
        }
    }

    #[test]
    fn the_trace_keeps_the_newest_requests() {
        let trace = Trace::new(3);
        for n in 1..=5 {
            trace.record(entry(n, if n % 2 == 0 { "a" } else { "b" }));
        }
        let statuses = |v: Vec<TraceEntry>| v.iter().map(|e| e.status).collect::<Vec<_>>();
        assert_eq!(statuses(trace.newest(10, None)), [3, 4, 5]);
        assert_eq!(statuses(trace.newest(2, None)), [4, 5]);
        assert_eq!(statuses(trace.newest(10, Some("a"))), [4]);
        let off = Trace::new(0);
        off.record(entry(1, "a"));
        assert!(off.newest(10, None).is_empty());
    }
}
