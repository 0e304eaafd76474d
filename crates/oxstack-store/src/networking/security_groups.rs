//! Security groups and their rules. Each project has one `default` group,
//! made the first time the project needs it; a row keyed by project makes
//! two racing first uses agree on one group.

use super::rows::{SecurityGroupRow, SecurityGroupRuleRow};
use super::{NetworkingRepo, Scope, count_in, untag};
use crate::db::{Sql, Tx, values};
use crate::{StoreError, StoreResult, missing_if_none};

/// How storing a rule went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleInsert {
    Stored,
    /// The group has a rule alike in all but id and description.
    Duplicate(String),
}

impl NetworkingRepo<'_> {
    /// Stores a group with its first rules, counted against the limits
    /// (groups, rules; -1: none). `Conflict` when `default_of` names a
    /// project that has a default group already.
    pub async fn insert_group(
        &self,
        g: &SecurityGroupRow,
        rules: &[SecurityGroupRuleRow],
        limits: (i64, i64),
        default_of: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        count_in(&mut tx, &g.project_id, "security_group", 1, limits.0).await?;
        tx.execute(
            "INSERT INTO security_groups (id, project_id, name, description, stateful, \
             revision_number, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &values![
                &g.id,
                &g.project_id,
                &g.name,
                &g.description,
                g.stateful,
                g.revision_number,
                g.created_at,
                g.updated_at
            ],
        )
        .await?;
        if let Some(project) = default_of {
            let claimed = tx
                .execute(
                    "INSERT INTO default_security_groups (project_id, security_group_id) \
                     VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &values![project, &g.id],
                )
                .await?;
            if claimed == 0 {
                return Err(StoreError::Conflict);
            }
        }
        for rule in rules {
            insert_rule_in(&mut tx, rule, limits.1).await?;
        }
        tx.commit().await
    }

    /// The id of a project's default group, if made.
    pub async fn default_group(&self, project_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = self
            .db
            .optional(
                "SELECT security_group_id FROM default_security_groups WHERE project_id = $1",
                &values![project_id],
            )
            .await?;
        Ok(row.map(|(id,)| id))
    }

    pub async fn group(&self, id: &str) -> StoreResult<Option<SecurityGroupRow>> {
        self.db
            .optional("SELECT * FROM security_groups WHERE id = $1", &values![id])
            .await
    }

    /// The groups a scope sees (its own), oldest first.
    pub async fn groups(&self, scope: &Scope) -> StoreResult<Vec<SecurityGroupRow>> {
        let mut q = Sql::new("SELECT * FROM security_groups");
        if let Scope::Project(project) = scope {
            let p = q.bind(project);
            q.push(&format!(" WHERE project_id = {p}"));
        }
        q.push(" ORDER BY created_at, id");
        self.db.scan(&q.sql, &q.binds).await
    }

    /// Deletes a group and its rules unless a port is in it: `Conflict`.
    pub async fn delete_group(&self, id: &str, project_id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let member: Option<(String,)> = tx
            .fetch_optional(
                "SELECT port_id FROM port_security_groups WHERE security_group_id = $1 LIMIT 1",
                &values![id],
            )
            .await?;
        if member.is_some() {
            return Err(StoreError::Conflict);
        }
        let rules: Vec<(String, String)> = tx
            .fetch_all(
                "DELETE FROM security_group_rules WHERE security_group_id = $1 \
                 RETURNING id, project_id",
                &values![id],
            )
            .await?;
        for (rule, owner) in &rules {
            untag(&mut tx, rule).await?;
            count_in(&mut tx, owner, "security_group_rule", -1, -1).await?;
        }
        tx.execute(
            "DELETE FROM default_security_groups WHERE security_group_id = $1",
            &values![id],
        )
        .await?;
        let deleted = tx
            .execute("DELETE FROM security_groups WHERE id = $1", &values![id])
            .await?;
        missing_if_none(deleted)?;
        untag(&mut tx, id).await?;
        count_in(&mut tx, project_id, "security_group", -1, -1).await?;
        tx.commit().await
    }

    /// Stores a rule unless its group has one alike.
    pub async fn insert_rule(
        &self,
        r: &SecurityGroupRuleRow,
        limit: i64,
    ) -> StoreResult<RuleInsert> {
        let mut tx = self.db.begin().await?;
        let stored = insert_rule_in(&mut tx, r, limit).await?;
        // A duplicate is refused: the group's revision stays as it was.
        if stored == RuleInsert::Stored {
            tx.commit().await?;
        }
        Ok(stored)
    }

    pub async fn rule(&self, id: &str) -> StoreResult<Option<SecurityGroupRuleRow>> {
        self.db
            .optional(
                "SELECT * FROM security_group_rules WHERE id = $1",
                &values![id],
            )
            .await
    }

    /// The rules of each of `groups`, oldest first.
    pub async fn rules_of(&self, groups: &[&str]) -> StoreResult<Vec<SecurityGroupRuleRow>> {
        self.by_ids(
            "SELECT * FROM security_group_rules WHERE security_group_id IN (",
            ") ORDER BY created_at, id",
            groups,
        )
        .await
    }

    /// Which of `groups` are their project's default group.
    pub async fn defaults_among(&self, groups: &[&str]) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .by_ids(
                "SELECT security_group_id FROM default_security_groups \
                 WHERE security_group_id IN (",
                ")",
                groups,
            )
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    pub async fn delete_rule(&self, id: &str, project_id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let deleted = tx
            .execute(
                "DELETE FROM security_group_rules WHERE id = $1",
                &values![id],
            )
            .await?;
        missing_if_none(deleted)?;
        untag(&mut tx, id).await?;
        count_in(&mut tx, project_id, "security_group_rule", -1, -1).await?;
        tx.commit().await
    }
}

/// Stores a rule in `tx` unless its group has one alike (a group's rules
/// are few; its row is taken first so racing twins serialize).
async fn insert_rule_in(
    tx: &mut Tx,
    r: &SecurityGroupRuleRow,
    limit: i64,
) -> StoreResult<RuleInsert> {
    let locked = tx
        .execute(
            "UPDATE security_groups SET revision_number = revision_number + 1 WHERE id = $1",
            &values![&r.security_group_id],
        )
        .await?;
    missing_if_none(locked)?;
    let existing: Vec<SecurityGroupRuleRow> = tx
        .fetch_all(
            "SELECT * FROM security_group_rules WHERE security_group_id = $1",
            &values![&r.security_group_id],
        )
        .await?;
    if let Some(twin) = existing.iter().find(|e| alike(e, r)) {
        return Ok(RuleInsert::Duplicate(twin.id.clone()));
    }
    count_in(tx, &r.project_id, "security_group_rule", 1, limit).await?;
    tx.execute(
        "INSERT INTO security_group_rules (id, security_group_id, project_id, direction, \
         ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, \
         remote_group_id, description, revision_number, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &values![
            &r.id,
            &r.security_group_id,
            &r.project_id,
            &r.direction,
            &r.ethertype,
            r.protocol.clone(),
            r.port_range_min,
            r.port_range_max,
            r.remote_ip_prefix.clone(),
            r.remote_group_id.clone(),
            &r.description,
            r.revision_number,
            r.created_at,
            r.updated_at
        ],
    )
    .await?;
    Ok(RuleInsert::Stored)
}

/// Whether two rules of a group match the same traffic.
/// Neutron's comparison: a protocol by name or number is one protocol,
/// and an address prefix of everything (`0.0.0.0/0`, `::/0`) is no prefix.
fn alike(a: &SecurityGroupRuleRow, b: &SecurityGroupRuleRow) -> bool {
    let prefix = |r: &SecurityGroupRuleRow| {
        r.remote_ip_prefix
            .clone()
            .filter(|p| p != "0.0.0.0/0" && p != "::/0")
    };
    let protocol = |r: &SecurityGroupRuleRow| {
        r.protocol.as_deref().map(|p| {
            protocol_number(p, &r.ethertype).map_or_else(|| p.to_owned(), |n| n.to_string())
        })
    };
    a.direction == b.direction
        && a.ethertype == b.ethertype
        && protocol(a) == protocol(b)
        && a.port_range_min == b.port_range_min
        && a.port_range_max == b.port_range_max
        && prefix(a) == prefix(b)
        && a.remote_group_id == b.remote_group_id
}

/// The IP protocol number of a protocol named as Neutron takes it (for
/// IPv6 rules, ICMP by any of its names is ICMPv6).
fn protocol_number(protocol: &str, ethertype: &str) -> Option<u8> {
    const NAMED: [(&str, u8); 24] = [
        ("hopopt", 0),
        ("icmp", 1),
        ("igmp", 2),
        ("ipip", 4),
        ("tcp", 6),
        ("egp", 8),
        ("udp", 17),
        ("dccp", 33),
        ("ipv6-encap", 41),
        ("ipv6-route", 43),
        ("ipv6-frag", 44),
        ("rsvp", 46),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("ipv6-icmp", 58),
        ("icmpv6", 58),
        ("ipv6-nonxt", 59),
        ("ipv6-opts", 60),
        ("ospf", 89),
        ("vrrp", 112),
        ("pgm", 113),
        ("sctp", 132),
        ("udplite", 136),
    ];
    let number = protocol
        .parse()
        .ok()
        .or_else(|| NAMED.iter().find(|(n, _)| *n == protocol).map(|(_, v)| *v))?;
    Some(if ethertype == "IPv6" && number == 1 {
        58
    } else {
        number
    })
}
