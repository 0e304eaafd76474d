//! The request trace: the last requests served, for a test to see what
//! its client sent (`GET /_oxstack/trace`). Bounded in memory. Only the
//! request line, the negotiated microversion, the outcome and who asked
//! are kept — never headers or bodies, so no password, token, `adminPass`,
//! `user_data` or private key can be in it.

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
            operation: super::operation::classify(&self.method, &self.path, None),
            microversion: self.microversion.as_deref(),
            status: self.status,
            latency_micros: self.latency_micros,
            project_id: self.project_id.as_deref(),
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

/// Where the handlers that authenticate a request note its project for
/// the trace.
#[derive(Clone, Debug, Default)]
pub struct CallerNote(Arc<OnceLock<String>>);

impl CallerNote {
    pub fn project(&self) -> Option<String> {
        self.0.get().cloned()
    }
}

/// Notes the caller's project of the request these extensions belong to.
pub fn note_project(extensions: &Extensions, project_id: &str) {
    if let Some(note) = extensions.get::<CallerNote>() {
        let _ = note.0.set(project_id.to_owned());
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
