//! A move of a server (Nova's migration record): a resize, a cold or live
//! migration, an evacuation, with the status its flow has reached.

use strum::{EnumString, IntoStaticStr};

/// What kind of move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumString, IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum MigrationType {
    Resize,
    Migration,
    LiveMigration,
    Evacuation,
}

/// Where a move is (Nova's statuses, by kind of move: a resize or cold
/// migration `pre-migrating` → `migrating` → `post-migrating` →
/// `finished` → `confirmed`/`reverting`→`reverted`; a live migration
/// `accepted` → `queued` → `preparing` → `running` → `post-migrating` →
/// `completed`, or `cancelled`; an evacuation `accepted` →
/// `pre-migrating` → `done`; any of them `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumString, IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum MigrationStatus {
    Accepted,
    Queued,
    Preparing,
    Running,
    PreMigrating,
    Migrating,
    PostMigrating,
    Finished,
    Confirmed,
    Reverting,
    Reverted,
    Completed,
    Done,
    Cancelled,
    Error,
    Failed,
}

impl MigrationType {
    /// Nova's string.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The type named by Nova's string.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl MigrationStatus {
    /// Nova's string.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The status named by Nova's string.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    /// Nova's strings of several statuses.
    pub(crate) fn names(statuses: &[Self]) -> Vec<&'static str> {
        statuses.iter().map(|s| s.as_str()).collect()
    }
}

/// One move of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The API id (Nova's integer id).
    pub id: i64,
    pub uuid: String,
    pub instance_uuid: String,
    pub migration_type: MigrationType,
    pub status: MigrationStatus,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    pub source_node: Option<String>,
    pub dest_node: Option<String>,
    pub dest_host: Option<String>,
    /// Where the destination of a live migration receives the guest
    /// (recorded by the destination when it is ready).
    pub incoming_uri: Option<String>,
    /// The internal ids of the flavors before and after (a resize).
    pub old_flavor_seq: Option<i64>,
    pub new_flavor_seq: Option<i64>,
    pub project_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Migration {
    /// Whether the server changes host with it.
    pub fn changes_host(&self) -> bool {
        self.dest_compute.is_some() && self.source_compute != self.dest_compute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_novas() {
        assert_eq!(MigrationType::LiveMigration.as_str(), "live-migration");
        assert_eq!(MigrationStatus::PostMigrating.as_str(), "post-migrating");
        assert_eq!(
            MigrationStatus::parse("pre-migrating"),
            Some(MigrationStatus::PreMigrating)
        );
        assert_eq!(
            MigrationType::parse("evacuation"),
            Some(MigrationType::Evacuation)
        );
        assert_eq!(MigrationStatus::parse("bogus"), None);
    }
}
