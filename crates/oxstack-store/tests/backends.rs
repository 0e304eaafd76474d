//! One storage test suite, run against every backend: SQLite always, and
//! PostgreSQL when `OXSTACK_TEST_POSTGRES_URL` names a server (CI sets it).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use oxstack_store::identity::{
    AssignmentFilter, AssignmentRow, DomainRow, ListFilter, ProjectRow, RevocationRow, RoleRow,
    UserRow,
};
use oxstack_store::{Store, StoreError};

async fn each_backend(run: impl AsyncFn(Store)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/test.db", dir.path().display());
    run(Store::connect(&url).await.expect("sqlite store")).await;

    match std::env::var("OXSTACK_TEST_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            let url = oxstack_store::create_scratch_postgres_database(&server)
                .await
                .expect("scratch postgres database");
            run(Store::connect(&url).await.expect("postgres store")).await;
        }
        _ => eprintln!("NOTE: OXSTACK_TEST_POSTGRES_URL unset: PostgreSQL backend not exercised"),
    }
}

fn project(id: &str, name: &str) -> ProjectRow {
    ProjectRow {
        id: id.into(),
        name: name.into(),
        domain_id: "default".into(),
        description: String::new(),
        enabled: true,
        created_at: 1,
    }
}

fn user(id: &str, name: &str) -> UserRow {
    UserRow {
        id: id.into(),
        name: name.into(),
        domain_id: "default".into(),
        default_project_id: None,
        enabled: true,
        email: None,
        description: None,
        password_hash: Some("$argon2id$x".into()),
        created_at: 2,
    }
}

#[tokio::test]
async fn identity_rows_round_trip_and_enforce_uniqueness() {
    each_backend(async |store: Store| {
        store.ping().await.expect("ping");
        let repo = store.identity();
        repo.insert_domain(&DomainRow {
            id: "default".into(),
            name: "Default".into(),
            description: String::new(),
            enabled: true,
        })
        .await
        .expect("domain");
        assert_eq!(
            repo.get_domain_by_name("Default")
                .await
                .unwrap()
                .unwrap()
                .id,
            "default"
        );

        repo.insert_project(&project("p1", "alpha"))
            .await
            .expect("p1");
        let mut disabled = project("p2", "beta");
        disabled.enabled = false;
        repo.insert_project(&disabled).await.expect("p2");
        assert!(matches!(
            repo.insert_project(&project("p3", "alpha")).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            repo.get_project("p2").await.unwrap(),
            Some(disabled.clone())
        );
        let enabled = repo
            .list_projects(&ListFilter {
                enabled: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            enabled.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["p1"]
        );
        let named = repo
            .list_projects(&ListFilter {
                name: Some("beta".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(named, vec![disabled]);

        repo.insert_user(&user("u1", "bob")).await.expect("u1");
        assert!(matches!(
            repo.insert_user(&user("u2", "bob")).await,
            Err(StoreError::Conflict)
        ));
        let mut bob = repo
            .get_user_by_name("default", "bob")
            .await
            .unwrap()
            .unwrap();
        bob.default_project_id = Some("p1".into());
        bob.email = Some("bob@example.org".into());
        repo.update_user(&bob).await.unwrap();
        assert_eq!(repo.get_user("u1").await.unwrap(), Some(bob));

        repo.insert_role(&RoleRow {
            id: "r1".into(),
            name: "member".into(),
            description: None,
        })
        .await
        .unwrap();
        let grant = AssignmentRow {
            project_id: "p1".into(),
            user_id: "u1".into(),
            role_id: "r1".into(),
        };
        repo.grant(&grant).await.unwrap();
        repo.grant(&grant)
            .await
            .expect("granting twice is idempotent");
        assert_eq!(repo.roles_of("u1", "p1").await.unwrap().len(), 1);
        assert_eq!(repo.list_projects_of_user("u1").await.unwrap().len(), 1);
        let by_user = AssignmentFilter {
            user_id: Some("u1".into()),
            ..Default::default()
        };
        assert_eq!(
            repo.list_assignments(&by_user).await.unwrap(),
            vec![grant.clone()]
        );
        repo.revoke_grant(&grant).await.unwrap();
        assert!(matches!(
            repo.revoke_grant(&grant).await,
            Err(StoreError::NotFound)
        ));

        repo.grant(&grant).await.unwrap();
        repo.delete_project("p1")
            .await
            .expect("delete cascades to grants");
        assert!(repo.list_assignments(&by_user).await.unwrap().is_empty());
        assert!(matches!(
            repo.delete_project("p1").await,
            Err(StoreError::NotFound)
        ));

        let old = RevocationRow {
            id: "e1".into(),
            audit_id: None,
            user_id: Some("u1".into()),
            project_id: None,
            issued_before: 5,
            expires_at: 10,
        };
        let live = RevocationRow {
            id: "e2".into(),
            audit_id: Some("a".into()),
            user_id: None,
            project_id: None,
            issued_before: 50,
            expires_at: 100,
        };
        repo.insert_revocation(&old).await.unwrap();
        repo.insert_revocation(&live).await.unwrap();
        assert_eq!(repo.live_revocations(20).await.unwrap(), vec![live]);

        assert_eq!(repo.setting_or_insert("k", "first").await.unwrap(), "first");
        assert_eq!(
            repo.setting_or_insert("k", "second").await.unwrap(),
            "first"
        );
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/again.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    store
        .identity()
        .setting_or_insert("kept", "yes")
        .await
        .unwrap();
    store.close().await;
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store
            .identity()
            .get_setting("kept")
            .await
            .unwrap()
            .as_deref(),
        Some("yes")
    );
}

fn flavor(
    id: &str,
    name: &str,
    ram: i64,
    disk: i64,
    public: bool,
) -> oxstack_store::flavors::FlavorRow {
    oxstack_store::flavors::FlavorRow {
        id: id.into(),
        seq: 0,
        name: name.into(),
        memory_mb: ram,
        vcpus: 1,
        root_gb: disk,
        ephemeral_gb: 0,
        swap: 0,
        rxtx_factor: 1.0,
        vcpu_weight: None,
        is_public: public,
        disabled: false,
        description: None,
        created_at: 1,
        updated_at: None,
    }
}

#[tokio::test]
async fn flavors_filter_sort_page_and_carry_specs_and_access() {
    use oxstack_store::flavors::{FlavorQuery, FlavorSortKey};
    each_backend(async |store: Store| {
        let repo = store.flavors();
        let first = repo
            .insert(&flavor("1", "m1.tiny", 512, 1, true))
            .await
            .unwrap();
        assert_eq!(first.seq, 1);
        repo.insert(&flavor("2", "m1.small", 2048, 20, true))
            .await
            .unwrap();
        repo.insert(&flavor("3", "m1.medium", 4096, 40, true))
            .await
            .unwrap();
        repo.insert(&flavor("p", "private", 1024, 10, false))
            .await
            .unwrap();
        assert!(matches!(
            repo.insert(&flavor("9", "m1.tiny", 1, 1, true)).await,
            Err(StoreError::Conflict)
        ));
        assert!(matches!(
            repo.insert(&flavor("1", "other", 1, 1, true)).await,
            Err(StoreError::Conflict)
        ));

        let base = FlavorQuery {
            is_public: Some(true),
            project_id: Some("proj".into()),
            min_memory_mb: None,
            min_root_gb: None,
            sort_key: FlavorSortKey::FlavorId,
            descending: false,
            limit: None,
            marker: None,
        };
        let ids = |rows: Vec<oxstack_store::flavors::FlavorRow>| {
            rows.into_iter().map(|f| f.id).collect::<Vec<_>>()
        };
        assert_eq!(ids(repo.list(&base).await.unwrap()), ["1", "2", "3"]);
        repo.add_access("p", "proj").await.unwrap();
        assert!(matches!(
            repo.add_access("p", "proj").await,
            Err(StoreError::Conflict)
        ));
        assert!(repo.has_access("p", "proj").await.unwrap());
        assert_eq!(
            ids(repo.list(&base).await.unwrap()),
            ["1", "2", "3", "p"],
            "private flavor visible with access"
        );
        let all = FlavorQuery {
            is_public: None,
            ..base.clone()
        };
        assert_eq!(repo.list(&all).await.unwrap().len(), 4);
        let private = FlavorQuery {
            is_public: Some(false),
            ..base.clone()
        };
        assert_eq!(ids(repo.list(&private).await.unwrap()), ["p"]);

        let filtered = FlavorQuery {
            min_memory_mb: Some(1024),
            min_root_gb: Some(20),
            ..base.clone()
        };
        assert_eq!(ids(repo.list(&filtered).await.unwrap()), ["2", "3"]);

        // Paging by memory, descending, two at a time, never repeating or skipping.
        let mut page = FlavorQuery {
            is_public: None,
            sort_key: FlavorSortKey::MemoryMb,
            descending: true,
            limit: Some(2),
            ..base.clone()
        };
        let first_page = repo.list(&page).await.unwrap();
        assert_eq!(ids(first_page.clone()), ["3", "2"]);
        page.marker = first_page.last().cloned();
        assert_eq!(ids(repo.list(&page).await.unwrap()), ["p", "1"]);

        let mut specs = std::collections::BTreeMap::new();
        specs.insert("hw:cpu_policy".to_owned(), "dedicated".to_owned());
        repo.put_extra_specs("2", &specs).await.unwrap();
        specs.insert("hw:cpu_policy".to_owned(), "shared".to_owned());
        repo.put_extra_specs("2", &specs).await.unwrap();
        assert_eq!(
            repo.extra_specs("2").await.unwrap()["hw:cpu_policy"],
            "shared"
        );
        let many = repo
            .extra_specs_of(&["1".into(), "2".into()])
            .await
            .unwrap();
        assert_eq!(many.len(), 1);
        repo.delete_extra_spec("2", "hw:cpu_policy").await.unwrap();
        assert!(matches!(
            repo.delete_extra_spec("2", "hw:cpu_policy").await,
            Err(StoreError::NotFound)
        ));

        repo.set_description("2", Some("small"), 5).await.unwrap();
        assert_eq!(
            repo.get("2").await.unwrap().unwrap().description.as_deref(),
            Some("small")
        );
        repo.delete("p").await.unwrap();
        assert!(repo.get("p").await.unwrap().is_none());
        assert!(repo.access("p").await.unwrap().is_empty());
        assert_eq!(repo.count().await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn quota_overrides_set_replace_and_clear() {
    each_backend(async |store: Store| {
        let repo = store.quotas();
        assert!(repo.overrides("p").await.unwrap().is_empty());
        let mut limits = std::collections::BTreeMap::new();
        limits.insert("instances".to_owned(), 20);
        limits.insert("cores".to_owned(), -1);
        repo.set("p", &limits).await.unwrap();
        limits.insert("instances".to_owned(), 30);
        repo.set("p", &limits).await.unwrap();
        assert_eq!(repo.overrides("p").await.unwrap(), limits);
        assert!(repo.overrides("q").await.unwrap().is_empty());
        repo.clear("p").await.unwrap();
        assert!(repo.overrides("p").await.unwrap().is_empty());
    })
    .await;
}

fn image(
    id: &str,
    owner: &str,
    visibility: &str,
    created_at: i64,
) -> oxstack_store::images::ImageRecord {
    oxstack_store::images::ImageRecord {
        row: oxstack_store::images::ImageRow {
            id: id.into(),
            name: Some(format!("img-{id}")),
            status: "queued".into(),
            visibility: visibility.into(),
            protected: false,
            os_hidden: false,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            disk_format: Some("qcow2".into()),
            container_format: Some("bare".into()),
            owner: Some(owner.into()),
            created_at,
            updated_at: created_at,
        },
        properties: std::collections::BTreeMap::from([("os_distro".to_owned(), id.to_owned())]),
        tags: vec!["t-".to_owned() + owner],
    }
}

#[tokio::test]
async fn images_scope_filter_sort_page_and_transition() {
    use oxstack_store::images::{ImageQuery, ImageScope, ImageSortKey, UploadedData};
    each_backend(async |store: Store| {
        let repo = store.images();
        repo.insert(&image("a", "p1", "public", 1)).await.unwrap();
        repo.insert(&image("b", "p1", "private", 2)).await.unwrap();
        repo.insert(&image("c", "p2", "private", 3)).await.unwrap();
        repo.insert(&image("d", "p2", "community", 4))
            .await
            .unwrap();
        repo.insert(&image("e", "p2", "shared", 5)).await.unwrap();
        let base = ImageQuery {
            scope: ImageScope::Project("p1".into()),
            visibility: None,
            name: None,
            status: None,
            owner: None,
            disk_format: None,
            container_format: None,
            tags: vec![],
            protected: None,
            os_hidden: None,
            size_min: None,
            size_max: None,
            properties: Default::default(),
            id: None,
            times: vec![],
            sort: vec![(ImageSortKey::CreatedAt, true)],
            limit: None,
            marker: None,
        };
        let ids = |v: Vec<oxstack_store::images::ImageRecord>| {
            v.into_iter().map(|i| i.row.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(repo.list(&base).await.unwrap()),
            ["b", "a"],
            "public and own, newest first"
        );
        let all = ImageQuery {
            visibility: Some("all".into()),
            ..base.clone()
        };
        assert_eq!(ids(repo.list(&all).await.unwrap()), ["d", "b", "a"]);
        let community = ImageQuery {
            visibility: Some("community".into()),
            ..base.clone()
        };
        assert_eq!(ids(repo.list(&community).await.unwrap()), ["d"]);
        let admin = ImageQuery {
            scope: ImageScope::All,
            ..base.clone()
        };
        assert_eq!(
            ids(repo.list(&admin).await.unwrap()),
            ["e", "d", "c", "b", "a"]
        );
        let tagged = ImageQuery {
            scope: ImageScope::All,
            tags: vec!["t-p2".into()],
            ..base.clone()
        };
        assert_eq!(ids(repo.list(&tagged).await.unwrap()), ["e", "d", "c"]);
        let by_prop = ImageQuery {
            scope: ImageScope::All,
            properties: [("os_distro".to_owned(), "c".to_owned())].into(),
            ..base.clone()
        };
        assert_eq!(ids(repo.list(&by_prop).await.unwrap()), ["c"]);

        // Two keys, mixed directions, two at a time.
        let mut page = ImageQuery {
            scope: ImageScope::All,
            sort: vec![
                (ImageSortKey::Owner, false),
                (ImageSortKey::CreatedAt, true),
            ],
            limit: Some(2),
            ..base.clone()
        };
        let mut seen = Vec::new();
        loop {
            let rows = repo.list(&page).await.unwrap();
            if rows.is_empty() {
                break;
            }
            page.marker = rows.last().map(|r| r.row.clone());
            seen.extend(ids(rows));
        }
        assert_eq!(seen, ["b", "a", "e", "d", "c"]);

        assert!(repo.transition("a", "queued", "saving", 9).await.unwrap());
        assert!(
            !repo.transition("a", "queued", "saving", 9).await.unwrap(),
            "compare-and-swap"
        );
        let data = UploadedData {
            size: 3,
            checksum: "md5".into(),
            os_hash_algo: "sha512".into(),
            os_hash_value: "h".into(),
            virtual_size: Some(10),
        };
        assert!(repo.finish_upload("a", &data, 10).await.unwrap());
        let a = repo.get("a").await.unwrap().unwrap();
        assert_eq!(
            (a.row.status.as_str(), a.row.size, a.row.virtual_size),
            ("active", Some(3), Some(10))
        );
        assert_eq!(a.properties["os_distro"], "a");

        let mut changed = a.clone();
        changed.row.name = Some("renamed".into());
        changed.tags = vec!["x".into(), "y".into()];
        changed.properties.clear();
        assert!(
            matches!(
                repo.update(&changed, "queued").await,
                Err(StoreError::NotFound)
            ),
            "status guard"
        );
        repo.update(&changed, "active").await.unwrap();
        assert_eq!(repo.get("a").await.unwrap().unwrap(), changed);
        repo.delete("a").await.unwrap();
        assert!(repo.get("a").await.unwrap().is_none());
        assert!(matches!(repo.delete("a").await, Err(StoreError::NotFound)));
    })
    .await;
}

fn instance(
    uuid: &str,
    seq: i64,
    project: &str,
    name: &str,
    created_at: i64,
) -> oxstack_store::instances::InstanceRow {
    oxstack_store::instances::InstanceRow {
        uuid: uuid.into(),
        seq,
        project_id: project.into(),
        user_id: "u".into(),
        display_name: name.into(),
        display_description: None,
        hostname: name.into(),
        reservation_id: "r-00000000".into(),
        launch_index: 0,
        image_ref: "img".into(),
        image_properties: "{}".into(),
        flavor_id: "1".into(),
        flavor: "{}".into(),
        vcpus: 2,
        memory_mb: 512,
        root_gb: 1,
        ephemeral_gb: 0,
        key_name: None,
        key_data: None,
        user_data: None,
        availability_zone: None,
        pinned_availability_zone: None,
        host: None,
        node: None,
        vm_state: "building".into(),
        task_state: Some("scheduling".into()),
        power_state: 0,
        progress: 0,
        access_ip_v4: None,
        access_ip_v6: None,
        auto_disk_config: false,
        config_drive: String::new(),
        root_device_name: None,
        locked_by: None,
        locked_reason: None,
        security_groups: "[]".into(),
        scheduler_hints: "{}".into(),
        trusted_certs: None,
        fault: None,
        old_flavor: None,
        shelved_image_id: None,
        created_at,
        updated_at: Some(created_at),
        launched_at: None,
        terminated_at: None,
        deleted_at: None,
        deleted: false,
        metadata: std::collections::BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        tags: vec!["b".into(), "a".into()],
        fixed_ips: vec![oxstack_store::instances::FixedIp {
            network_id: "net".into(),
            address: format!("10.0.0.{seq}"),
            version: 4,
            mac: "fa:16:3e:00:00:01".into(),
            position: 0,
        }],
        floating_ips: Vec::new(),
    }
}

#[tokio::test]
async fn instances_round_trip_page_and_change_state_atomically() {
    use oxstack_store::instances::{Column, Condition, InstanceQuery, StateChange, StateGuard};
    each_backend(async |store: Store| {
        let repo = store.instances();
        let mut tx = repo.begin_create("p1").await.unwrap();
        assert_eq!(tx.usage().instances, 0);
        let first = tx.next_values("instances", 3).await.unwrap();
        assert_eq!(first, 1);
        for (n, name) in ["a", "b", "c"].iter().enumerate() {
            let n = n as i64;
            tx.insert(&instance(&format!("u{n}"), first + n, "p1", name, 100 + n))
                .await
                .unwrap();
        }
        let holder = tx.holder_of("net", "10.0.0.3").await.unwrap();
        assert_eq!(holder.as_deref(), Some("u2"));
        tx.commit().await.unwrap();

        let got = repo.get("u1").await.unwrap().unwrap();
        assert_eq!(got, instance("u1", 2, "p1", "b", 101).with_sorted_tags());
        let usage = repo.usage("p1").await.unwrap();
        assert_eq!((usage.instances, usage.cores, usage.ram), (3, 6, 1536));

        // Keyset paging on a sort key, newest first by default.
        let page = |marker: Option<&str>| InstanceQuery {
            project_id: Some("p1".into()),
            deleted: Some(false),
            sort: vec![(Column::CreatedAt, true)],
            marker: marker.map(str::to_owned),
            limit: Some(2),
            ..InstanceQuery::default()
        };
        let names = |rows: Vec<oxstack_store::instances::InstanceRow>| {
            rows.into_iter().map(|r| r.display_name).collect::<Vec<_>>()
        };
        assert_eq!(names(repo.list(&page(None)).await.unwrap()), ["c", "b"]);
        assert_eq!(names(repo.list(&page(Some("u1"))).await.unwrap()), ["a"]);
        let tagged = InstanceQuery {
            conditions: vec![Condition::TagsAll(vec!["a".into(), "b".into()])],
            ..page(None)
        };
        assert_eq!(repo.list(&tagged).await.unwrap().len(), 2);
        let other_project = InstanceQuery {
            project_id: Some("p2".into()),
            ..page(None)
        };
        assert!(repo.list(&other_project).await.unwrap().is_empty());

        // Compare-and-swap: only the first of two identical transitions wins.
        let guard = StateGuard {
            vm_states: Some(vec!["building".into()]),
            task_states: Some(vec![Some("scheduling".into())]),
        };
        let change = StateChange {
            task_state: Some(Some("networking".into())),
            ..StateChange::default()
        };
        assert!(repo.transition("u0", &guard, &change, 200).await.unwrap());
        assert!(!repo.transition("u0", &guard, &change, 201).await.unwrap());

        // Metadata beyond the limit changes nothing.
        let items = std::collections::BTreeMap::from([("x".to_owned(), "1".to_owned())]);
        assert!(matches!(
            repo.write_metadata("u0", &items, false, 1, 300).await,
            Err(StoreError::LimitExceeded)
        ));
        assert_eq!(repo.get("u0").await.unwrap().unwrap().metadata.len(), 1);
        repo.write_metadata("u0", &items, true, 1, 301)
            .await
            .unwrap();
        assert_eq!(repo.get("u0").await.unwrap().unwrap().metadata, items);

        // Deletion frees addresses and hides the row from live listings.
        assert!(repo.finish_delete("u2", 400).await.unwrap());
        assert!(!repo.finish_delete("u2", 401).await.unwrap());
        let mut tx = repo.begin_create("p1").await.unwrap();
        assert_eq!(tx.holder_of("net", "10.0.0.3").await.unwrap(), None);
        let holder = tx.holder_of("net", "10.0.0.2").await.unwrap();
        assert_eq!(holder.as_deref(), Some("u1"));
        assert_eq!(tx.usage().instances, 2);
        tx.insert(&instance("u9", 9, "p1", "rolled back", 900))
            .await
            .unwrap();
        assert_eq!(tx.usage().instances, 3);
        drop(tx);
        // The usage row follows deletes and size changes; a create that
        // was rolled back counts for nothing.
        let usage = repo.usage("p1").await.unwrap();
        assert_eq!((usage.instances, usage.cores, usage.ram), (2, 4, 1024));
        let bigger = oxstack_store::instances::FlavorColumns {
            vcpus: 8,
            memory_mb: 4096,
            ..oxstack_store::instances::FlavorColumns::of(&repo.get("u1").await.unwrap().unwrap())
        };
        let resize = StateChange {
            flavor: Some(bigger),
            ..StateChange::default()
        };
        assert!(
            repo.transition("u1", &StateGuard::default(), &resize, 402)
                .await
                .unwrap()
        );
        let usage = repo.usage("p1").await.unwrap();
        assert_eq!((usage.instances, usage.cores, usage.ram), (2, 10, 4608));
        assert_eq!(repo.usage("p2").await.unwrap(), Default::default());
        assert_eq!(names(repo.list(&page(None)).await.unwrap()), ["b", "a"]);
        let deleted = repo.get("u2").await.unwrap().unwrap();
        assert!(deleted.deleted && deleted.fixed_ips.is_empty());
        assert_eq!(deleted.terminated_at, Some(400));
    })
    .await;
}

trait SortedTags {
    fn with_sorted_tags(self) -> Self;
}

impl SortedTags for oxstack_store::instances::InstanceRow {
    fn with_sorted_tags(mut self) -> Self {
        self.tags.sort();
        self
    }
}

#[tokio::test]
async fn sqlite_wal_is_copied_back_and_emptied_once_writes_stop() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/quiet.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let repo = store.instances();
    let mut tx = repo.begin_create("p1").await.unwrap();
    for n in 0..50 {
        let row = instance(&format!("u{n}"), n + 1, "p1", "w", 100 + n);
        tx.insert(&row).await.unwrap();
    }
    tx.commit().await.unwrap();
    let wal = dir.path().join("quiet.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    // The checkpointer copies the WAL back, sees no new writes a round
    // later and truncates it, all without a write waiting for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&wal).unwrap().len() > 0 {
        assert!(std::time::Instant::now() < deadline, "WAL never emptied");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(repo.usage("p1").await.unwrap().instances, 50);
}
