//! The `same_host` and `different_host` scheduler hints (Nova's
//! `SameHostFilter` and `DifferentHostFilter`): a server goes to a host
//! that runs one of the given servers, or to one that runs none of them.
//! Like Nova, the servers are looked for among every project's.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{Compute, ComputeResult};

/// Where the hints of one server let it go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HostHints {
    /// Hosts it must be on (one of them), when `same_host` was given.
    same: Option<BTreeSet<String>>,
    /// Hosts it must not be on.
    different: BTreeSet<String>,
}

impl HostHints {
    pub(crate) fn allows(&self, host: &str) -> bool {
        self.same.as_ref().is_none_or(|s| s.contains(host)) && !self.different.contains(host)
    }
}

/// A hint's server ids: one, or a list.
fn uuids(hint: Option<&Value>) -> Vec<String> {
    match hint {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl Compute {
    /// What a server's scheduler hints say of hosts.
    pub(crate) async fn host_hints(&self, hints: &Map<String, Value>) -> ComputeResult<HostHints> {
        let repo = self.store.instances();
        let hosts = async |key: &str| -> ComputeResult<Option<BTreeSet<String>>> {
            let wanted = uuids(hints.get(key));
            if wanted.is_empty() {
                return Ok(None);
            }
            let placed = repo.hosts_by_instance(&wanted).await?;
            Ok(Some(
                placed.into_iter().filter_map(|(_, host)| host).collect(),
            ))
        };
        Ok(HostHints {
            same: hosts("same_host").await?,
            different: hosts("different_host").await?.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_narrow_the_hosts() {
        let none = HostHints::default();
        assert!(none.allows("h1"));
        let set = |hosts: &[&str]| hosts.iter().map(|h| (*h).to_owned()).collect();
        let same = HostHints {
            same: Some(set(&["h1"])),
            different: BTreeSet::new(),
        };
        assert!(same.allows("h1") && !same.allows("h2"));
        // Servers that run nowhere leave no host to share.
        let nowhere = HostHints {
            same: Some(BTreeSet::new()),
            different: BTreeSet::new(),
        };
        assert!(!nowhere.allows("h1"));
        let apart = HostHints {
            same: None,
            different: set(&["h1"]),
        };
        assert!(!apart.allows("h1") && apart.allows("h2"));
    }
}
