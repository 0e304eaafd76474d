//! Security groups and rules, with Neutron's `default` group: made for a
//! project the first time it needs one, allowing all egress and ingress
//! from its own members.

use oxstack_store::StoreError;
use oxstack_store::networking::{RuleInsert, SecurityGroupRow, SecurityGroupRuleRow, Table};

use crate::{Caller, NetworkError, NetworkResult, Networking, gone, now_micros};

/// The name of each project's default group.
pub const DEFAULT_GROUP: &str = "default";

/// A group with its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub row: SecurityGroupRow,
    pub rules: Vec<Rule>,
    pub tags: Vec<String>,
    pub is_default: bool,
}

/// A rule, and whether its group is its project's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub row: SecurityGroupRuleRow,
    pub belongs_to_default_sg: bool,
}

/// A rule to add.
#[derive(Clone, Debug, Default)]
pub struct RuleSpec {
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: Option<String>,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
}

/// Protocols by name, as Neutron takes them (numbers 0-255 also pass).
const PROTOCOLS: [&str; 20] = [
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "hopopt",
    "icmp",
    "igmp",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "icmpv6",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
];
const MORE_PROTOCOLS: [&str; 4] = ["tcp", "udp", "udplite", "vrrp"];
const PORT_PROTOCOLS: [&str; 10] = [
    "tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136",
];

impl Networking {
    pub async fn create_security_group(
        &self,
        caller: &Caller,
        project_id: Option<&str>,
        name: String,
        description: String,
        stateful: bool,
    ) -> NetworkResult<SecurityGroup> {
        caller.may_write("create_security_group")?;
        let project_id = caller.project_for(project_id, "create_security_group")?;
        if name.eq_ignore_ascii_case(DEFAULT_GROUP) {
            return Err(default_exists());
        }
        // The project's default group comes first, as in Neutron.
        self.default_group_id(&project_id).await?;
        let row = group_row(&project_id, name, description, stateful);
        let rules = vec![
            rule_row(&row, "egress", "IPv4", None),
            rule_row(&row, "egress", "IPv6", None),
        ];
        let limits = (
            self.limit(&project_id, "security_group").await?,
            self.limit(&project_id, "security_group_rule").await?,
        );
        self.insert_group(&row, &rules, limits, None).await?;
        Ok(SecurityGroup {
            rules: rules
                .into_iter()
                .map(|row| Rule {
                    row,
                    belongs_to_default_sg: false,
                })
                .collect(),
            row,
            tags: Vec::new(),
            is_default: false,
        })
    }

    async fn insert_group(
        &self,
        row: &SecurityGroupRow,
        rules: &[SecurityGroupRuleRow],
        limits: (i64, i64),
        default_of: Option<&str>,
    ) -> NetworkResult<()> {
        match self
            .store
            .networking()
            .insert_group(row, rules, limits, default_of)
            .await
        {
            Err(StoreError::LimitExceeded) => Err(NetworkError::over_quota(
                if default_of.is_some() || rules.len() < 3 {
                    "security_group"
                } else {
                    "security_group_rule"
                },
            )),
            other => Ok(other?),
        }
    }

    /// The id of a project's default group, made now if it has none.
    pub async fn default_group_id(&self, project_id: &str) -> NetworkResult<String> {
        let repo = self.store.networking();
        if let Some(id) = repo.default_group(project_id).await? {
            return Ok(id);
        }
        let row = group_row(
            project_id,
            DEFAULT_GROUP.to_owned(),
            "Default security group".to_owned(),
            true,
        );
        let rules = vec![
            rule_row(&row, "egress", "IPv4", None),
            rule_row(&row, "egress", "IPv6", None),
            rule_row(&row, "ingress", "IPv4", Some(row.id.clone())),
            rule_row(&row, "ingress", "IPv6", Some(row.id.clone())),
        ];
        // The default group is made whatever the limits: a project always
        // has one.
        match self
            .insert_group(&row, &rules, (-1, -1), Some(project_id))
            .await
        {
            // Another request made it first.
            Err(NetworkError::Store(StoreError::Conflict)) => {}
            other => other?,
        }
        repo.default_group(project_id)
            .await?
            .ok_or_else(|| NetworkError::group_not_found(DEFAULT_GROUP))
    }

    /// A group the caller sees (its project's), else not found.
    pub async fn security_group(&self, caller: &Caller, id: &str) -> NetworkResult<SecurityGroup> {
        let row = self
            .store
            .networking()
            .group(id)
            .await?
            .filter(|g| caller.owns(&g.project_id))
            .ok_or_else(|| NetworkError::group_not_found(id))?;
        Ok(self.assemble_groups(vec![row]).await?.remove(0))
    }

    /// The groups the caller sees; its project's default group is made
    /// first if missing (Neutron does so on a listing too).
    pub async fn security_groups(&self, caller: &Caller) -> NetworkResult<Vec<SecurityGroup>> {
        if caller.can_write || caller.is_admin {
            self.default_group_id(&caller.project_id).await?;
        }
        let rows = self.store.networking().groups(&caller.scope()).await?;
        self.assemble_groups(rows).await
    }

    /// Groups with their rules and tags: three queries however many.
    async fn assemble_groups(
        &self,
        rows: Vec<SecurityGroupRow>,
    ) -> NetworkResult<Vec<SecurityGroup>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut tags = self.tags_of(&ids).await?;
        let repo = self.store.networking();
        let defaults = repo.defaults_among(&ids).await?;
        let mut rules: std::collections::HashMap<String, Vec<Rule>> = Default::default();
        for rule in repo.rules_of(&ids).await? {
            let belongs_to_default_sg = defaults.contains(&rule.security_group_id);
            rules
                .entry(rule.security_group_id.clone())
                .or_default()
                .push(Rule {
                    row: rule,
                    belongs_to_default_sg,
                });
        }
        Ok(rows
            .into_iter()
            .map(|row| SecurityGroup {
                tags: tags.remove(&row.id).unwrap_or_default(),
                rules: rules.remove(&row.id).unwrap_or_default(),
                is_default: defaults.contains(&row.id),
                row,
            })
            .collect())
    }

    pub async fn update_security_group(
        &self,
        caller: &Caller,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> NetworkResult<SecurityGroup> {
        let current = self.security_group(caller, id).await?;
        caller.may_write("update_security_group")?;
        if let Some(n) = &name {
            if current.is_default {
                return Err(NetworkError::conflict(
                    "SecurityGroupCannotUpdateDefault",
                    "Updating default security group not allowed.",
                ));
            }
            if n.eq_ignore_ascii_case(DEFAULT_GROUP) {
                return Err(default_exists());
            }
        }
        let mut changes: Vec<(&str, oxstack_store::SqlValue)> = Vec::new();
        for (value, column) in [(name, "name"), (description, "description")] {
            if let Some(v) = value {
                changes.push((column, v.into()));
            }
        }
        self.store
            .networking()
            .update(Table::SecurityGroups, id, &changes, now_micros())
            .await
            .map_err(|e| gone(e, || NetworkError::group_not_found(id)))?;
        self.security_group(caller, id).await
    }

    pub async fn delete_security_group(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let current = self.security_group(caller, id).await?;
        caller.may_write("delete_security_group")?;
        if current.is_default && !caller.is_admin {
            return Err(NetworkError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        match self
            .store
            .networking()
            .delete_group(id, &current.row.project_id)
            .await
        {
            Err(StoreError::Conflict) => Err(NetworkError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            )),
            Err(e) => Err(gone(e, || NetworkError::group_not_found(id))),
            Ok(()) => Ok(()),
        }
    }

    pub async fn create_security_group_rule(
        &self,
        caller: &Caller,
        spec: RuleSpec,
    ) -> NetworkResult<Rule> {
        caller.may_write("create_security_group_rule")?;
        let group = self.security_group(caller, &spec.security_group_id).await?;
        let project_id =
            caller.project_for(spec.project_id.as_deref(), "create_security_group_rule")?;
        if let Some(remote) = &spec.remote_group_id {
            self.security_group(caller, remote).await?;
        }
        let mut row = check_rule(spec, &group.row)?;
        row.project_id = project_id;
        let limit = self.limit(&row.project_id, "security_group_rule").await?;
        match self.store.networking().insert_rule(&row, limit).await {
            Err(StoreError::LimitExceeded) => Err(NetworkError::over_quota("security_group_rule")),
            Err(e) => Err(gone(e, || {
                NetworkError::group_not_found(&row.security_group_id)
            })),
            Ok(RuleInsert::Duplicate(existing)) => Err(NetworkError::conflict(
                "SecurityGroupRuleExists",
                format!("Security group rule already exists. Rule id is {existing}."),
            )),
            Ok(RuleInsert::Stored) => Ok(Rule {
                row,
                belongs_to_default_sg: group.is_default,
            }),
        }
    }

    /// A rule of a group the caller sees.
    pub async fn security_group_rule(&self, caller: &Caller, id: &str) -> NetworkResult<Rule> {
        let row = self
            .store
            .networking()
            .rule(id)
            .await?
            .ok_or_else(|| NetworkError::rule_not_found(id))?;
        let group = self
            .security_group(caller, &row.security_group_id)
            .await
            .map_err(|_| NetworkError::rule_not_found(id))?;
        Ok(Rule {
            row,
            belongs_to_default_sg: group.is_default,
        })
    }

    /// The rules of every group the caller sees.
    pub async fn security_group_rules(&self, caller: &Caller) -> NetworkResult<Vec<Rule>> {
        let groups = self.security_groups(caller).await?;
        Ok(groups.into_iter().flat_map(|g| g.rules).collect())
    }

    pub async fn delete_security_group_rule(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let rule = self.security_group_rule(caller, id).await?;
        caller.may_write("delete_security_group_rule")?;
        self.store
            .networking()
            .delete_rule(id, &rule.row.project_id)
            .await
            .map_err(|e| gone(e, || NetworkError::rule_not_found(id)))
    }
}

fn default_exists() -> NetworkError {
    NetworkError::conflict(
        "SecurityGroupDefaultAlreadyExists",
        "Default security group already exists.",
    )
}

fn group_row(
    project_id: &str,
    name: String,
    description: String,
    stateful: bool,
) -> SecurityGroupRow {
    let now = now_micros();
    SecurityGroupRow {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.to_owned(),
        name,
        description,
        stateful,
        revision_number: 1,
        created_at: now,
        updated_at: now,
    }
}

fn rule_row(
    group: &SecurityGroupRow,
    direction: &str,
    ethertype: &str,
    remote_group_id: Option<String>,
) -> SecurityGroupRuleRow {
    SecurityGroupRuleRow {
        id: uuid::Uuid::new_v4().to_string(),
        security_group_id: group.id.clone(),
        project_id: group.project_id.clone(),
        direction: direction.to_owned(),
        ethertype: ethertype.to_owned(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id,
        description: String::new(),
        revision_number: 1,
        created_at: group.created_at,
        updated_at: group.created_at,
    }
}

/// Validates a rule as Neutron does and gives its stored form.
fn check_rule(spec: RuleSpec, group: &SecurityGroupRow) -> NetworkResult<SecurityGroupRuleRow> {
    if !matches!(spec.direction.as_str(), "ingress" | "egress") {
        return Err(NetworkError::invalid_input(
            "direction",
            format!("{} is not in ['ingress', 'egress']", spec.direction),
        ));
    }
    let ethertype = spec.ethertype.unwrap_or_else(|| "IPv4".to_owned());
    if !matches!(ethertype.as_str(), "IPv4" | "IPv6") {
        return Err(NetworkError::invalid(
            "SecurityGroupRuleInvalidEtherType",
            format!(
                "Security group rule for ethertype '{ethertype}' not supported. Allowed values \
                 are ['IPv4', 'IPv6']."
            ),
        ));
    }
    let protocol = spec
        .protocol
        .map(|p| p.to_ascii_lowercase())
        .filter(|p| p != "any");
    if let Some(p) = &protocol {
        let numeric = p.parse::<u8>().is_ok();
        if !numeric && !PROTOCOLS.contains(&p.as_str()) && !MORE_PROTOCOLS.contains(&p.as_str()) {
            return Err(NetworkError::invalid(
                "SecurityGroupRuleInvalidProtocol",
                format!(
                    "Security group rule protocol {p} not supported. Only protocol values \
                     {:?} and integer representations [0 to 255] are supported.",
                    [PROTOCOLS.as_slice(), MORE_PROTOCOLS.as_slice()].concat()
                ),
            ));
        }
    }
    let (mut min, mut max) = (spec.port_range_min, spec.port_range_max);
    match protocol.as_deref() {
        None if min.is_some() || max.is_some() => {
            return Err(NetworkError::invalid(
                "SecurityGroupProtocolRequiredWithPorts",
                "Must also specify protocol if port range is given.",
            ));
        }
        Some(p) if PORT_PROTOCOLS.contains(&p) => {
            for port in [min, max].into_iter().flatten() {
                if !(1..=65535).contains(&port) {
                    return Err(NetworkError::invalid(
                        "SecurityGroupInvalidPortValue",
                        format!("Invalid value for port {port}"),
                    ));
                }
            }
            match (min, max) {
                (Some(a), Some(b)) if a > b => {
                    return Err(port_range());
                }
                (Some(_), None) | (None, Some(_)) => return Err(port_range()),
                (Some(1), Some(65535)) => (min, max) = (None, None),
                _ => {}
            }
        }
        Some("icmp" | "ipv6-icmp" | "icmpv6" | "1" | "58") => {
            for (value, field, attr) in [
                (min, "type", "port_range_min"),
                (max, "code", "port_range_max"),
            ] {
                if let Some(v) = value.filter(|v| !(0..=255).contains(v)) {
                    return Err(NetworkError::invalid(
                        "SecurityGroupInvalidIcmpValue",
                        format!(
                            "Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."
                        ),
                    ));
                }
            }
            if let (None, Some(code)) = (min, max) {
                return Err(NetworkError::invalid(
                    "SecurityGroupMissingIcmpType",
                    format!(
                        "ICMP code (port-range-max) {code} is provided but ICMP type \
                         (port-range-min) is missing."
                    ),
                ));
            }
        }
        Some(p) if min.is_some() || max.is_some() => {
            return Err(NetworkError::invalid(
                "SecurityGroupInvalidProtocolForPort",
                format!(
                    "Ports cannot be specified for protocol {p}. Ports are only supported for \
                     DCCP, SCTP, TCP, UDP, UDPLITE."
                ),
            ));
        }
        _ => {}
    }
    if spec.remote_ip_prefix.is_some() && spec.remote_group_id.is_some() {
        return Err(NetworkError::invalid(
            "SecurityGroupMultipleRemoteEntites",
            "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be \
             provided.",
        ));
    }
    let remote_ip_prefix = match spec.remote_ip_prefix {
        None => None,
        Some(text) => {
            let net: ipnet::IpNet = text
                .parse()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    NetworkError::invalid(
                        "InvalidCIDR",
                        format!("Invalid CIDR {text} given as IP prefix."),
                    )
                })?;
            let v4 = net.network().is_ipv4();
            if v4 != (ethertype == "IPv4") {
                return Err(NetworkError::invalid(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {text}"),
                ));
            }
            // Kept as given (`normalized_cidr` shows the network), an
            // address alone as its host prefix.
            Some(net.to_string())
        }
    };
    let mut row = rule_row(group, &spec.direction, &ethertype, spec.remote_group_id);
    if let Some(id) = spec.id {
        row.id = id;
    }
    row.created_at = now_micros();
    row.updated_at = row.created_at;
    row.protocol = protocol;
    row.port_range_min = min;
    row.port_range_max = max;
    row.remote_ip_prefix = remote_ip_prefix;
    row.description = spec.description;
    Ok(row)
}

fn port_range() -> NetworkError {
    NetworkError::invalid(
        "SecurityGroupInvalidPortRange",
        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
    )
}
