//! Per-project limits (Cinder's quotas): the configured defaults, an
//! admin's per-project overrides (kept with the compute quotas, under
//! Cinder's resource names), and what each project uses.

use std::collections::BTreeMap;

use oxstack_store::volumes::{GIGABYTES, SNAPSHOTS, VOLUMES, VolumeLimits};

use crate::{BlockStorage, Caller, VolumeError, VolumeResult};

/// The resources Cinder shows in a quota set, with the defaults of those
/// this cloud does not count (backups, groups: always unused).
pub const QUOTA_RESOURCES: [&str; 7] = [
    VOLUMES,
    GIGABYTES,
    SNAPSHOTS,
    "backups",
    "backup_gigabytes",
    "groups",
    "per_volume_gigabytes",
];

/// One resource's limit and use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    pub resource: &'static str,
    pub limit: i64,
    pub in_use: i64,
}

impl BlockStorage {
    fn default_limit(&self, resource: &str) -> i64 {
        let s = self.settings();
        match resource {
            VOLUMES => s.volumes,
            GIGABYTES => s.gigabytes,
            SNAPSHOTS => s.snapshots,
            "backups" | "groups" => 10,
            "backup_gigabytes" => 1000,
            _ => -1,
        }
    }

    /// A project's limits (-1: none).
    pub(crate) async fn limits(&self, project_id: &str) -> VolumeResult<VolumeLimits> {
        let set = self.quota_limits(project_id).await?;
        let get = |r: &str| set.get(r).copied().unwrap_or(-1);
        Ok(VolumeLimits {
            volumes: get(VOLUMES),
            gigabytes: get(GIGABYTES),
            snapshots: get(SNAPSHOTS),
        })
    }

    async fn quota_limits(&self, project_id: &str) -> VolumeResult<BTreeMap<&'static str, i64>> {
        let overrides = self.store().quotas().overrides(project_id).await?;
        Ok(QUOTA_RESOURCES
            .iter()
            .map(|r| {
                (
                    *r,
                    overrides.get(*r).copied().unwrap_or(self.default_limit(r)),
                )
            })
            .collect())
    }

    /// A project's quota set; another project's only for admins.
    pub async fn quotas(&self, caller: &Caller, project_id: &str) -> VolumeResult<Vec<Quota>> {
        if !caller.owns(project_id) {
            return Err(VolumeError::policy("volume_extension:quotas:show"));
        }
        let limits = self.quota_limits(project_id).await?;
        let usage = self.store().volumes().usage(project_id).await?;
        Ok(QUOTA_RESOURCES
            .iter()
            .map(|r| Quota {
                resource: r,
                limit: limits[r],
                in_use: usage.get(*r).copied().unwrap_or(0),
            })
            .collect())
    }

    /// The defaults every project starts with.
    pub fn default_quotas(&self) -> Vec<Quota> {
        QUOTA_RESOURCES
            .iter()
            .map(|r| Quota {
                resource: r,
                limit: self.default_limit(r),
                in_use: 0,
            })
            .collect()
    }

    /// Sets limits of a project (admins only).
    pub async fn set_quotas(
        &self,
        caller: &Caller,
        project_id: &str,
        limits: BTreeMap<String, i64>,
    ) -> VolumeResult<Vec<Quota>> {
        if !caller.is_admin {
            return Err(VolumeError::policy("volume_extension:quotas:update"));
        }
        if let Some(bad) = limits
            .keys()
            .find(|k| !QUOTA_RESOURCES.contains(&k.as_str()))
        {
            return Err(VolumeError::Invalid(format!(
                "Bad key(s) in quota set: {bad}"
            )));
        }
        if let Some((r, l)) = limits.iter().find(|(_, l)| **l < -1) {
            return Err(VolumeError::Invalid(format!(
                "Quota limit {l} for {r} must be -1 or greater."
            )));
        }
        self.store().quotas().set(project_id, &limits).await?;
        self.quotas(caller, project_id).await
    }

    /// Refuses growing a project's gigabytes by `delta` past its limit
    /// (the check that answers before anything changes; the store's count
    /// stays the guard against races).
    pub(crate) async fn check_gigabytes(&self, project_id: &str, delta: i64) -> VolumeResult<()> {
        let limit = self.limits(project_id).await?.gigabytes;
        let used = self
            .store()
            .volumes()
            .usage(project_id)
            .await?
            .get(GIGABYTES)
            .copied()
            .unwrap_or(0);
        if limit >= 0 && used + delta > limit {
            return Err(self.over_quota(project_id, GIGABYTES, delta).await);
        }
        Ok(())
    }

    /// Puts a project's limits back to the defaults (admins only).
    pub async fn clear_quotas(&self, caller: &Caller, project_id: &str) -> VolumeResult<()> {
        if !caller.is_admin {
            return Err(VolumeError::policy("volume_extension:quotas:delete"));
        }
        self.store()
            .quotas()
            .clear_resources(project_id, &QUOTA_RESOURCES)
            .await?;
        Ok(())
    }

    /// Why a change past a limit was refused, in Cinder's words: the
    /// count of volumes (or snapshots) first, then gigabytes.
    pub(crate) async fn over_quota(
        &self,
        project_id: &str,
        counted: &'static str,
        requested_gb: i64,
    ) -> VolumeError {
        let limits = match self.limits(project_id).await {
            Ok(l) => l,
            Err(e) => return e,
        };
        let usage = match self.store().volumes().usage(project_id).await {
            Ok(u) => u,
            Err(e) => return e.into(),
        };
        let used = |r: &str| usage.get(r).copied().unwrap_or(0);
        let count_limit = if counted == SNAPSHOTS {
            limits.snapshots
        } else {
            limits.volumes
        };
        // An extension only grows gigabytes; a new volume or snapshot is
        // also one more of its kind.
        if counted != GIGABYTES && count_limit >= 0 && used(counted) + 1 > count_limit {
            let kind = if counted == SNAPSHOTS {
                "SnapshotLimitExceeded"
            } else {
                "VolumeLimitExceeded"
            };
            let what = if counted == SNAPSHOTS {
                "snapshots"
            } else {
                "volumes"
            };
            return VolumeError::OverLimit(format!(
                "{kind}: Maximum number of {what} allowed ({count_limit}) exceeded for quota '{counted}'."
            ));
        }
        VolumeError::OverLimit(format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {requested_gb}G, quota is {}G and {}G has been consumed.",
            limits.gigabytes,
            used(GIGABYTES)
        ))
    }
}
