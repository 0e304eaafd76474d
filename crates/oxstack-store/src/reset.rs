//! Removing what a test cloud's users made (the control plane's reset),
//! for every project or one, each in one transaction.

use crate::StoreResult;
use crate::db::{Db, SqlValue};

/// Tables whose rows belong to an instance, by the column naming it,
/// children before parents.
const INSTANCE_TABLES: [&str; 7] = [
    "instance_metadata",
    "instance_tags",
    "migrations",
    "console_tokens",
    "fixed_ips",
    "server_passwords",
    "instance_actions",
];

/// Tables whose rows belong to a project.
const PROJECT_TABLES: [&str; 5] = [
    "server_groups",
    "floating_ips",
    "quotas",
    "user_quotas",
    "project_usage",
];

/// Tables of things no project owns, emptied by a reset of every project
/// (children before parents). Flavors go too: the cloud seeds its
/// defaults again.
const SHARED_TABLES: [&str; 9] = [
    "key_pairs",
    "key_pair_counts",
    "quota_classes",
    "aggregate_metadata",
    "aggregate_hosts",
    "aggregates",
    "flavor_extra_specs",
    "flavor_projects",
    "flavors",
];

/// Resets of the compute state.
pub struct ResetRepo<'a> {
    db: &'a Db,
}

impl<'a> ResetRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Removes every server (live or deleted) of `project` (every
    /// project's if `None`) with everything recorded of them, and the
    /// project's server groups, floating IPs, quota limits and usage; for
    /// every project, also key pairs, quota classes, aggregates and
    /// flavors, and every compute service is enabled, up and in
    /// `default_zone` again (its aggregates gone). Returns the ids of the
    /// servers removed.
    pub async fn compute(
        &self,
        project: Option<&str>,
        default_zone: &str,
    ) -> StoreResult<Vec<String>> {
        let (scope, binds): (&str, Vec<SqlValue>) = match project {
            Some(p) => ("project_id = $1", vec![p.into()]),
            None => ("1 = 1", Vec::new()),
        };
        let instances = format!("SELECT uuid FROM instances WHERE {scope}");
        let mut tx = self.db.begin().await?;
        let removed: Vec<(String,)> = tx.fetch_all(&instances, &binds).await?;
        tx.execute(
            &format!(
                "DELETE FROM instance_action_events WHERE action_id IN \
                 (SELECT id FROM instance_actions WHERE instance_uuid IN ({instances}))"
            ),
            &binds,
        )
        .await?;
        for table in INSTANCE_TABLES {
            tx.execute(
                &format!("DELETE FROM {table} WHERE instance_uuid IN ({instances})"),
                &binds,
            )
            .await?;
        }
        tx.execute(&format!("DELETE FROM instances WHERE {scope}"), &binds)
            .await?;
        for table in PROJECT_TABLES {
            tx.execute(&format!("DELETE FROM {table} WHERE {scope}"), &binds)
                .await?;
        }
        if project.is_none() {
            for table in SHARED_TABLES {
                tx.execute(&format!("DELETE FROM {table}"), &[]).await?;
            }
            tx.execute(
                "UPDATE compute_services SET disabled = FALSE, disabled_reason = NULL, \
                 forced_down = FALSE, zone = $1",
                &[default_zone.into()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(removed.into_iter().map(|(uuid,)| uuid).collect())
    }
}

impl ResetRepo<'_> {
    /// Removes the images of `project` (every project's if `None`) with
    /// their properties and tags, all but `keep`; returns the ids removed
    /// (whose data files the caller removes).
    pub async fn images(
        &self,
        project: Option<&str>,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let keep = keep.unwrap_or_default();
        let (scope, binds): (&str, Vec<SqlValue>) = match project {
            Some(p) => ("id <> $1 AND owner = $2", vec![keep.into(), p.into()]),
            None => ("id <> $1", vec![keep.into()]),
        };
        let images = format!("SELECT id FROM images WHERE {scope}");
        let mut tx = self.db.begin().await?;
        let removed: Vec<(String,)> = tx.fetch_all(&images, &binds).await?;
        for table in ["image_properties", "image_tags"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE image_id IN ({images})"),
                &binds,
            )
            .await?;
        }
        tx.execute(&format!("DELETE FROM images WHERE {scope}"), &binds)
            .await?;
        tx.commit().await?;
        Ok(removed.into_iter().map(|(id,)| id).collect())
    }
}

impl ResetRepo<'_> {
    /// Removes the networking resources of `project` (every project's if
    /// `None`) — ports, subnets, networks, security groups with their
    /// rules, tags and limits — all but the networks and subnets of
    /// `keep` (the cloud's own), and counts again what each project has.
    pub async fn networking(&self, project: Option<&str>, keep: &[String]) -> StoreResult<()> {
        // The project is `$1` when given; the kept ids follow it. A
        // statement is given exactly the values it refers to.
        let (owned, scoped): (String, Vec<SqlValue>) = match project {
            Some(p) => ("project_id = $1".into(), vec![p.into()]),
            None => ("1 = 1".into(), Vec::new()),
        };
        let mut binds = scoped.clone();
        binds.extend(keep.iter().map(SqlValue::from));
        let kept = (scoped.len() + 1..=binds.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let kept = if kept.is_empty() {
            "''".to_owned()
        } else {
            kept
        };
        let networks = format!("SELECT id FROM networks WHERE {owned} AND id NOT IN ({kept})");
        let subnets = format!(
            "SELECT id FROM subnets WHERE id NOT IN ({kept}) AND ({owned} OR network_id IN ({networks}))"
        );
        let routers = format!("SELECT id FROM routers WHERE {owned} AND id NOT IN ({kept})");
        let floating = format!(
            "SELECT id FROM floatingips WHERE {owned} OR floating_network_id IN ({networks})"
        );
        // A kept router keeps its ports; a router that goes takes its
        // gateway, a floating IP its address's port (both of no project;
        // the floating IPs go first, leaving their ports without one).
        let ports = format!(
            "SELECT id FROM ports WHERE device_id NOT IN ({kept}) AND ({owned} \
             OR network_id IN ({networks}) OR device_id IN ({routers}) \
             OR device_id IN ({floating}) OR (device_owner = 'network:floatingip' \
             AND device_id NOT IN (SELECT id FROM floatingips)))"
        );
        let groups = format!("SELECT id FROM security_groups WHERE {owned}");
        let statements = [
            (
                format!(
                    "UPDATE floatingips SET port_id = NULL, fixed_ip_address = NULL, \
                     router_id = NULL WHERE port_id IN ({ports}) OR router_id IN ({routers})"
                ),
                &binds,
            ),
            (
                format!("DELETE FROM floatingips WHERE id IN ({floating})"),
                &binds,
            ),
            (
                format!(
                    "UPDATE routers SET gateway_port_id = NULL WHERE id IN ({routers}) \
                     OR gateway_port_id IN ({ports})"
                ),
                &binds,
            ),
            (
                format!(
                    "DELETE FROM port_ips WHERE port_id IN ({ports}) OR subnet_id IN ({subnets})"
                ),
                &binds,
            ),
            (
                format!(
                    "DELETE FROM port_security_groups WHERE port_id IN ({ports}) \
                     OR security_group_id IN ({groups})"
                ),
                &binds,
            ),
            (format!("DELETE FROM ports WHERE id IN ({ports})"), &binds),
            (
                format!("DELETE FROM routers WHERE id IN ({routers})"),
                &binds,
            ),
            (
                format!("DELETE FROM subnets WHERE id IN ({subnets})"),
                &binds,
            ),
            (
                format!("DELETE FROM networks WHERE id IN ({networks})"),
                &binds,
            ),
            (
                format!(
                    "DELETE FROM security_group_rules WHERE {owned} \
                     OR security_group_id IN ({groups})"
                ),
                &scoped,
            ),
            (
                format!("DELETE FROM default_security_groups WHERE {owned}"),
                &scoped,
            ),
            (
                format!("DELETE FROM security_groups WHERE {owned}"),
                &scoped,
            ),
            (format!("DELETE FROM network_quotas WHERE {owned}"), &scoped),
            (format!("DELETE FROM network_usage WHERE {owned}"), &scoped),
        ];
        let mut tx = self.db.begin().await?;
        for (sql, values) in &statements {
            tx.execute(sql, values).await?;
        }
        // Tags of what is gone, and (for every project) of what is kept.
        let tagged = if project.is_some() {
            "DELETE FROM network_tags WHERE resource_id NOT IN (SELECT id FROM networks \
             UNION SELECT id FROM subnets UNION SELECT id FROM ports \
             UNION SELECT id FROM security_groups UNION SELECT id FROM security_group_rules \
             UNION SELECT id FROM routers UNION SELECT id FROM floatingips)"
        } else {
            "DELETE FROM network_tags"
        };
        tx.execute(tagged, &[]).await?;
        // What the kept resources count for their projects.
        for (resource, table) in [
            ("network", "networks"),
            ("subnet", "subnets"),
            ("router", "routers"),
            ("port", "ports"),
        ] {
            tx.execute(
                &format!(
                    "INSERT INTO network_usage (project_id, resource, in_use) \
                     SELECT project_id, '{resource}', COUNT(*) FROM {table} \
                     WHERE {owned} AND project_id <> '' GROUP BY project_id"
                ),
                &scoped,
            )
            .await?;
        }
        tx.commit().await
    }
}
