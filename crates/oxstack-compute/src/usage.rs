//! What projects used (Nova's `os-simple-tenant-usage`): the hours each
//! server ran within a period, and what its flavor was worth over them;
//! and the instance usage audit (`os-instance_usage_audit_log`), which
//! Nova's compute hosts run when `instance_usage_audit` is set. This cloud
//! runs no such audit, so every period reports its hosts as not run.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::model::Server;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// Microseconds in an hour.
const HOUR: f64 = 3_600_000_000.0;

/// One server's use of a period.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerUsage {
    pub instance_id: String,
    pub name: String,
    pub tenant_id: String,
    /// Its flavor's name.
    pub flavor: String,
    /// The hours it ran within the period.
    pub hours: f64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub vcpus: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// `terminated`, or its vm state.
    pub state: String,
    /// Seconds from its launch to its end (or now), not clipped to the period.
    pub uptime: i64,
}

/// A project's use of a period.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantUsage {
    pub tenant_id: String,
    pub start: i64,
    pub stop: i64,
    pub total_hours: f64,
    pub total_local_gb_usage: f64,
    pub total_memory_mb_usage: f64,
    pub total_vcpus_usage: f64,
    pub server_usages: Vec<ServerUsage>,
}

/// A page of usage: the projects' totals over the servers on the page,
/// how many servers it held and the last one (for the next page).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsagePage {
    pub tenants: Vec<TenantUsage>,
    pub servers: usize,
    pub last: Option<String>,
}

impl ServerUsage {
    fn of(s: &Server, start: i64, stop: i64, now: i64) -> Option<Self> {
        let launched = s.launched_at?;
        let ended = s.terminated_at;
        let from = launched.max(start);
        let to = ended.unwrap_or(stop).min(stop);
        let hours = if to > from {
            (to - from) as f64 / HOUR
        } else {
            0.0
        };
        Some(Self {
            instance_id: s.uuid.clone(),
            name: s.name.clone(),
            tenant_id: s.project_id.clone(),
            flavor: s.flavor.name.clone(),
            hours,
            memory_mb: s.flavor.memory_mb,
            local_gb: s.flavor.root_gb + s.flavor.ephemeral_gb,
            vcpus: s.flavor.vcpus,
            started_at: launched,
            ended_at: ended,
            state: match ended {
                Some(_) => "terminated".into(),
                None => s.vm_state.as_str().to_owned(),
            },
            uptime: (ended.unwrap_or(now) - launched) / 1_000_000,
        })
    }
}

impl Compute {
    /// The use of `[start, end)` (the end no later than now) by one project
    /// or all: servers by project and id, `limit` of them after `marker`.
    /// A bound left out is now, the end read after the start as Nova reads
    /// its clock twice.
    pub async fn tenant_usage(
        &self,
        project_id: Option<&str>,
        (start, end): (Option<i64>, Option<i64>),
        marker: Option<&str>,
        limit: i64,
    ) -> ComputeResult<UsagePage> {
        let now = now_micros();
        let start = start.unwrap_or(now);
        let end = end.unwrap_or(now + 1);
        if start >= end {
            return Err(ComputeError::Invalid(
                "Invalid start time. The start time cannot occur after the end time.".into(),
            ));
        }
        let stop = end.min(now);
        let repo = self.store.instances();
        let after = match marker {
            Some(uuid) => match repo.get(uuid).await? {
                Some(row) => Some((row.project_id, row.uuid)),
                None => {
                    return Err(ComputeError::Invalid(format!(
                        "Marker {uuid} could not be found."
                    )));
                }
            },
            None => None,
        };
        let rows = repo
            .active_in_window(
                start,
                stop,
                project_id,
                after.as_ref().map(|(p, u)| (p.as_str(), u.as_str())),
                limit,
            )
            .await?;
        let mut page = UsagePage {
            servers: rows.len(),
            last: rows.last().map(|r| r.uuid.clone()),
            ..UsagePage::default()
        };
        for row in rows {
            let server = Server::try_from(row)?;
            let Some(used) = ServerUsage::of(&server, start, stop, now) else {
                continue;
            };
            if page
                .tenants
                .last()
                .is_none_or(|t| t.tenant_id != used.tenant_id)
            {
                page.tenants.push(TenantUsage {
                    tenant_id: used.tenant_id.clone(),
                    start,
                    stop,
                    total_hours: 0.0,
                    total_local_gb_usage: 0.0,
                    total_memory_mb_usage: 0.0,
                    total_vcpus_usage: 0.0,
                    server_usages: Vec::new(),
                });
            }
            if let Some(tenant) = page.tenants.last_mut() {
                tenant.total_hours += used.hours;
                tenant.total_local_gb_usage += used.local_gb as f64 * used.hours;
                tenant.total_memory_mb_usage += used.memory_mb as f64 * used.hours;
                tenant.total_vcpus_usage += used.vcpus as f64 * used.hours;
                tenant.server_usages.push(used);
            }
        }
        Ok(page)
    }

    /// The instance usage audit of the last month completed before
    /// `before` (or now): no host of this cloud runs the audit.
    pub async fn usage_audit(&self, before: Option<i64>) -> ComputeResult<UsageAudit> {
        let (begin, end) = last_completed_month(before.unwrap_or_else(now_micros));
        let mut hosts: Vec<String> = self
            .list_services()
            .await?
            .into_iter()
            .map(|s| s.host)
            .collect();
        hosts.sort();
        hosts.dedup();
        Ok(UsageAudit {
            period_beginning: begin,
            period_ending: end,
            hosts_not_run: hosts,
        })
    }
}

/// An instance usage audit period and the hosts that did not run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageAudit {
    pub period_beginning: i64,
    pub period_ending: i64,
    pub hosts_not_run: Vec<String>,
}

/// Nova's `last_completed_audit_period` for its default unit, the month:
/// the month that ended on the last 1st strictly before `before`.
fn last_completed_month(before: i64) -> (i64, i64) {
    let at = DateTime::<Utc>::from_timestamp_micros(before).unwrap_or_default();
    let first = |(year, month): (i32, u32)| {
        Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .single()
            .map_or(0, |t| t.timestamp_micros())
    };
    let previous = |(year, month): (i32, u32)| {
        if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        }
    };
    let mut end = (at.year(), at.month());
    if first(end) >= before {
        end = previous(end);
    }
    (first(previous(end)), first(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .timestamp_micros()
    }

    #[test]
    fn the_last_completed_month_ends_on_the_first() {
        assert_eq!(
            last_completed_month(micros("2026-12-05T01:00:00Z")),
            (
                micros("2026-11-01T00:00:00Z"),
                micros("2026-12-01T00:00:00Z")
            )
        );
        // A 1st at midnight has not completed the month it ends yet.
        assert_eq!(
            last_completed_month(micros("2027-01-01T00:00:00Z")),
            (
                micros("2026-11-01T00:00:00Z"),
                micros("2026-12-01T00:00:00Z")
            )
        );
        assert_eq!(
            last_completed_month(micros("2027-01-01T00:00:00.000001Z")),
            (
                micros("2026-12-01T00:00:00Z"),
                micros("2027-01-01T00:00:00Z")
            )
        );
    }
}
