//! The networking domain on each database engine (SQLite always,
//! PostgreSQL when `OXSTACK_TEST_POSTGRES_URL` names a server): racing
//! port creations never share an address or exceed a quota, racing first
//! uses make one default group, and deletes give back what they counted.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;

use oxstack_network::{Caller, NetworkError, NetworkSpec, Networking, PortSpec, SubnetSpec};
use oxstack_store::Store;

/// A fresh store on every engine this run can reach, with the directory
/// that holds the SQLite one.
async fn stores() -> (tempfile::TempDir, Vec<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec![
        Store::connect(&format!("sqlite://{}/n.db", dir.path().display()))
            .await
            .unwrap(),
    ];
    if let Some(server) = std::env::var("OXSTACK_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
    {
        let url = oxstack_store::create_scratch_postgres_database(&server)
            .await
            .unwrap();
        all.push(Store::connect(&url).await.unwrap());
    }
    (dir, all)
}

fn member(project: &str) -> Caller {
    Caller {
        project_id: project.into(),
        is_admin: false,
        can_write: true,
    }
}

#[tokio::test]
async fn racing_ports_share_no_address_and_respect_the_quota() {
    let (_dir, stores) = stores().await;
    for store in stores {
        let networking = Networking::new(store, oxstack_network::Layout::default());
        let alice = member("a");
        let net = networking
            .create_network(
                &alice,
                NetworkSpec {
                    name: "n".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        networking
            .create_subnet(
                &alice,
                SubnetSpec {
                    network_id: net.row.id.clone(),
                    ip_version: 4,
                    cidr: "10.1.0.0/28".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let port = || PortSpec {
            network_id: net.row.id.clone(),
            ..Default::default()
        };
        // A /28 holds 13 addresses once the gateway is out.
        let racing = (0..20).map(|_| networking.create_port(&alice, port()));
        let results = futures_util::future::join_all(racing).await;
        let mut seen = HashSet::new();
        let mut refused = 0;
        for result in results {
            match result {
                Ok(p) => assert!(seen.insert(p.fixed_ips[0].ip_address.clone())),
                Err(NetworkError::Refused { kind, .. }) => {
                    assert_eq!(kind, "IpAddressGenerationFailure");
                    refused += 1;
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!((seen.len(), refused), (13, 7));

        // Racing first uses of a project make one default group.
        let bob = member("b");
        let firsts = (0..8).map(|_| networking.default_group_id("b"));
        let ids: HashSet<String> = futures_util::future::join_all(firsts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(networking.security_groups(&bob).await.unwrap().len(), 1);

        // A quota of 2 ports holds under a race; deletes give them back.
        let admin = Caller {
            project_id: "admin".into(),
            is_admin: true,
            can_write: true,
        };
        networking
            .set_quotas(&admin, "a", &[("port".into(), 15)])
            .await
            .unwrap();
        let over = (0..4).map(|_| {
            networking.create_port(
                &alice,
                PortSpec {
                    network_id: net.row.id.clone(),
                    fixed_ips: Some(Vec::new()),
                    ..Default::default()
                },
            )
        });
        let made = futures_util::future::join_all(over)
            .await
            .into_iter()
            .filter(Result::is_ok)
            .count();
        assert_eq!(made, 2);
        let ports = networking.ports(&alice, None, None).await.unwrap();
        assert_eq!(ports.len(), 15);
        for p in &ports {
            networking.delete_port(&alice, &p.row.id).await.unwrap();
        }
        let used = networking.quotas(&alice, "a").await.unwrap();
        assert_eq!(used.iter().find(|q| q.resource == "port").unwrap().used, 0);
        networking
            .delete_network(&alice, &net.row.id)
            .await
            .unwrap();
        // What is left is the project's default group and its 4 rules.
        let used: Vec<(String, i64)> = networking
            .quotas(&alice, "a")
            .await
            .unwrap()
            .into_iter()
            .filter(|q| q.used != 0)
            .map(|q| (q.resource, q.used))
            .collect();
        assert_eq!(
            used,
            [
                ("security_group".into(), 1),
                ("security_group_rule".into(), 4)
            ]
        );
    }
}
