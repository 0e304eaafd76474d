//! Key pairs in the domain: servers boot and rebuild with the caller's key
//! (the hypervisor gets it), and racing creates cannot pass the quota.

use std::collections::BTreeMap;

use super::{KeyType, NewKeyPair};
use crate::quotas::Resource;
use crate::servers::{CreateRequest, RebuildRequest};
use crate::testing::{Cloud, caller, settled};
use crate::{Compute, ComputeError};

async fn import(compute: &Compute, name: &str) -> String {
    let generated = super::keys::generate_ssh().expect("a key");
    let new = NewKeyPair {
        name: name.into(),
        public_key: Some(generated.public_key.clone()),
        ..NewKeyPair::default()
    };
    compute
        .create_key_pair(&caller(), new)
        .await
        .expect("imported");
    generated.public_key
}

#[tokio::test]
async fn servers_boot_and_rebuild_with_the_callers_key() {
    let cloud = Cloud::new().await;
    let (compute, driver) = cloud.host_with_driver().await;
    let first = import(&compute, "first").await;
    let second = import(&compute, "second").await;

    let request = CreateRequest {
        key_name: Some("first".into()),
        ..cloud.request()
    };
    let created = compute
        .create_servers(&caller(), request)
        .await
        .expect("created");
    let uuid = created.servers[0].uuid.clone();
    let server = settled(&compute, &uuid).await;
    assert_eq!(
        (server.key_name.as_deref(), server.key_data.as_deref()),
        (Some("first"), Some(first.as_str()))
    );
    let guest_key = |uuid: &str| driver.guest(uuid).expect("a guest").spec.key;
    let key = guest_key(&uuid).expect("a key");
    assert_eq!((key.name.as_str(), key.public_key), ("first", first));

    let rebuild = |key_name| RebuildRequest {
        image: Some(cloud.image.clone()),
        key_name: Some(key_name),
        ..RebuildRequest::default()
    };
    compute
        .rebuild_server(&caller(), &uuid, rebuild(Some("second".into())))
        .await
        .expect("rebuilt");
    settled(&compute, &uuid).await;
    let key = guest_key(&uuid).expect("a key");
    assert_eq!((key.name.as_str(), key.public_key), ("second", second));

    compute
        .rebuild_server(&caller(), &uuid, rebuild(None))
        .await
        .expect("rebuilt");
    let server = settled(&compute, &uuid).await;
    assert_eq!((server.key_name, server.key_data), (None, None));
    assert_eq!(guest_key(&uuid), None);

    // Another user's key pair of that name is not the caller's.
    let stranger = crate::servers::Caller {
        user_id: "someone-else".into(),
        ..caller()
    };
    let refused = compute
        .rebuild_server(&stranger, &uuid, rebuild(Some("first".into())))
        .await;
    assert!(
        matches!(&refused, Err(ComputeError::Invalid(m)) if m == "Invalid key_name provided."),
        "{refused:?}"
    );
}

#[tokio::test]
async fn racing_creates_stop_at_the_quota() {
    let cloud = Cloud::new().await;
    let compute = cloud.host().await;
    let limits = BTreeMap::from([(Resource::KeyPairs, 3)]);
    compute
        .set_quota_limits(&caller().project_id, &limits, true)
        .await
        .expect("quota");
    let key = super::keys::generate_ssh().expect("a key").public_key;
    let creates = (0..12).map(|i| {
        let compute = compute.clone();
        let new = NewKeyPair {
            name: format!("k{i}"),
            key_type: KeyType::Ssh,
            public_key: Some(key.clone()),
            user_id: None,
        };
        tokio::spawn(async move { compute.create_key_pair(&caller(), new).await })
    });
    let mut made = 0;
    for create in creates.collect::<Vec<_>>() {
        match create.await.expect("joined") {
            Ok(_) => made += 1,
            Err(ComputeError::Forbidden(m)) => {
                assert_eq!(m, "Quota exceeded, too many key pairs.");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(made, 3);
    let listed = compute
        .list_key_pairs(&caller().user_id, None, None)
        .await
        .expect("listed");
    assert_eq!(listed.len(), 3);

    // Deleting one makes room for one.
    compute
        .delete_key_pair(&caller().user_id, &listed[0].name)
        .await
        .expect("deleted");
    let again = NewKeyPair {
        name: "again".into(),
        public_key: Some(key),
        ..NewKeyPair::default()
    };
    compute
        .create_key_pair(&caller(), again)
        .await
        .expect("room again");
}
