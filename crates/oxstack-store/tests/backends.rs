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
        let class = std::collections::BTreeMap::from([("ram".to_owned(), 512)]);
        repo.set_class("default", &class).await.unwrap();
        let own = std::collections::BTreeMap::from([("instances".to_owned(), 2)]);
        repo.set_user("p", "u", &own).await.unwrap();
        let layers = repo.layers("default", "p", "u").await.unwrap();
        assert_eq!(
            (&layers.class, &layers.project, &layers.user),
            (&class, &limits, &own),
            "each layer read apart"
        );
        let other = repo.layers("default", "p", "v").await.unwrap();
        assert!(other.user.is_empty(), "another user's own limits are not");
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
            sort: vec![(ImageSortKey::CreatedAt, true)],
            ..ImageQuery::within(ImageScope::Project("p1".into()))
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
        let mut rich = changed.clone();
        rich.properties = [("b", "2"), ("a", "1"), ("c", "3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        rich.tags = vec!["m".into(), "n".into(), "o".into()];
        repo.update(&rich, "active").await.unwrap();
        assert_eq!(
            repo.get("a").await.unwrap().unwrap(),
            rich,
            "each property and tag once, tags in order"
        );
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
        server_group: None,
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
        // Read from the instance's ports, which networking makes.
        fixed_ips: Vec::new(),
        floating_ips: Vec::new(),
        volumes: Vec::new(),
    }
}

#[tokio::test]
async fn counters_in_postgres_never_wait_for_an_open_transaction() {
    use oxstack_store::Backend;
    each_backend(async |store: Store| {
        let repo = store.instances();
        let mut first = repo.begin_create("p1").await.unwrap();
        let taken = first.next_values("instances", 1).await.unwrap();
        match store.backend() {
            Backend::Postgres => {
                // Another project's create takes the next value while the
                // first transaction is still open (the counter's row is
                // not held until it commits).
                let mut second = repo.begin_create("p2").await.unwrap();
                let next = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    second.next_values("instances", 2),
                )
                .await
                .expect("the counter does not wait for the open transaction")
                .unwrap();
                assert_eq!(next, taken + 1);
                drop((first, second));
                let mut third = repo.begin_create("p1").await.unwrap();
                assert_eq!(
                    third.next_values("instances", 1).await.unwrap(),
                    taken + 3,
                    "values of rolled-back transactions are skipped, as with a sequence"
                );
            }
            Backend::Sqlite => {
                // One writer: the counter is part of its transaction.
                drop(first);
                let mut again = repo.begin_create("p1").await.unwrap();
                assert_eq!(again.next_values("instances", 1).await.unwrap(), taken);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_create_claiming_last_sees_every_create_committed_before_its_claim() {
    use oxstack_store::Backend;
    each_backend(async |store: Store| {
        let repo = store.instances();
        match store.backend() {
            Backend::Postgres => {
                // Two creates of one project run side by side until they
                // claim the project's usage; the later claim counts the
                // instance the earlier one committed.
                let mut first = repo.begin_create_claiming_last("p1").await.unwrap();
                let mut second = repo.begin_create_claiming_last("p1").await.unwrap();
                assert_eq!(second.usage().instances, 0);
                first
                    .insert(&instance("c1", 1, "p1", "c1", 100))
                    .await
                    .unwrap();
                assert_eq!(first.claim().await.unwrap().instances, 0);
                first.commit().await.unwrap();
                second
                    .insert(&instance("c2", 2, "p1", "c2", 101))
                    .await
                    .unwrap();
                assert_eq!(second.usage().instances, 1, "its own, as read at the start");
                assert_eq!(second.claim().await.unwrap().instances, 1);
                second.commit().await.unwrap();
            }
            Backend::Sqlite => {
                // One writer: the transaction holds the usage from its start.
                one_instance(&store, "c1", 1).await;
                let mut tx = repo.begin_create_claiming_last("p1").await.unwrap();
                assert_eq!(tx.usage().instances, 1);
                assert_eq!(tx.claim().await.unwrap().instances, 1);
                tx.insert(&instance("c2", 2, "p1", "c2", 101))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
        assert_eq!(repo.usage("p1").await.unwrap().instances, 2);
    })
    .await;
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
        assert!(repo.finish_delete("u2", None, 400).await.unwrap());
        assert!(!repo.finish_delete("u2", None, 401).await.unwrap());
        let mut tx = repo.begin_create("p1").await.unwrap();
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

/// Creates instance `uuid` of project `p1` (two cores, 512 MB).
async fn one_instance(store: &Store, uuid: &str, seq: i64) {
    let mut tx = store.instances().begin_create("p1").await.unwrap();
    tx.insert(&instance(uuid, seq, "p1", uuid, 100 + seq))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn migration_row(uuid: &str, status: &str) -> oxstack_store::migrations::MigrationRow {
    oxstack_store::migrations::MigrationRow {
        id: 0,
        uuid: format!("m-{uuid}-{status}"),
        instance_uuid: uuid.into(),
        migration_type: "resize".into(),
        status: status.into(),
        source_compute: Some("h1".into()),
        dest_compute: Some("h1".into()),
        source_node: Some("n1".into()),
        dest_node: Some("n1".into()),
        dest_host: None,
        incoming_uri: None,
        old_instance_type_id: Some(1),
        new_instance_type_id: Some(2),
        project_id: "p1".into(),
        user_id: "u".into(),
        created_at: 10,
        updated_at: 10,
    }
}

#[tokio::test]
async fn a_step_writes_its_transition_action_migration_and_usage_together_or_not_at_all() {
    use oxstack_store::instance_actions::NewAction;
    use oxstack_store::instances::{
        ActionStep, FlavorColumns, MigrationStep, SizeLimits, StateChange, StateGuard, Step,
    };
    use oxstack_store::migrations::MigrationQuery;
    each_backend(async |store: Store| {
        one_instance(&store, "s1", 1).await;
        let repo = store.instances();
        let actions = store.instance_actions();
        let action = NewAction {
            instance_uuid: "s1",
            request_id: "req-1",
            action: "resize",
            project_id: "p1",
            user_id: "u",
            args: Some(r#"{"image_id":"x"}"#),
            now: 20,
        };
        let row = migration_row("s1", "pre-migrating");
        let bigger = FlavorColumns {
            flavor_id: "2".into(),
            vcpus: 4,
            memory_mb: 2048,
            ..FlavorColumns::of(&repo.get("s1").await.unwrap().unwrap())
        };
        let accept = |limits| Step {
            guard: StateGuard::in_task("scheduling"),
            change: StateChange {
                task_state: Some(Some("resize_prep".into())),
                flavor: Some(bigger.clone()),
                ..StateChange::default()
            },
            limits: Some(limits),
            action: Some(ActionStep::Accept {
                action: &action,
                event: Some("compute_prep_resize"),
                host: "h1",
            }),
            migration: Some(MigrationStep::Insert(&row)),
            ..Step::default()
        };

        // Over the limits: nothing at all is written.
        let tight = SizeLimits { cores: 3, ram: -1 };
        assert!(matches!(
            repo.apply("s1", &accept(tight), 21).await,
            Err(StoreError::LimitExceeded)
        ));
        assert_eq!(actions.latest_unfinished_any("s1").await.unwrap(), None);
        let all = MigrationQuery::default();
        assert!(store.migrations().list(&all).await.unwrap().is_empty());
        assert_eq!(repo.usage("p1").await.unwrap().cores, 2);

        // Within them: the task, the flavor, the usage, the action with its
        // first event and arguments, and the migration, in one commit.
        let applied = repo
            .apply("s1", &accept(SizeLimits::UNLIMITED), 22)
            .await
            .unwrap();
        let Some(Some(action_id)) = applied else {
            panic!("accepted: {applied:?}");
        };
        let now = repo.get("s1").await.unwrap().unwrap();
        assert_eq!(now.task_state.as_deref(), Some("resize_prep"));
        assert_eq!((now.vcpus, now.flavor_id.as_str()), (4, "2"));
        assert_eq!(repo.usage("p1").await.unwrap().cores, 4);
        let open = actions.latest_unfinished_any("s1").await.unwrap().unwrap();
        assert_eq!((open.id, open.action.as_str()), (action_id, "resize"));
        let named = actions.latest_named("s1", &["migrate", "resize"]).await;
        assert_eq!(named.unwrap().map(|a| a.id), Some(action_id));
        let other = actions.latest_named("s1", &["stop"]).await.unwrap();
        assert_eq!(other, None);
        assert_eq!(open.args.as_deref(), Some(r#"{"image_id":"x"}"#));
        let events = actions.events(action_id).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "compute_prep_resize");
        let moves = store.migrations().list(&all).await.unwrap();
        assert_eq!(moves.len(), 1);
        assert_eq!(
            (moves[0].id, moves[0].status.as_str()),
            (1, "pre-migrating")
        );

        // The same acceptance again loses the compare-and-swap: nothing.
        assert_eq!(
            repo.apply("s1", &accept(SizeLimits::UNLIMITED), 23)
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.migrations().list(&all).await.unwrap().len(), 1);

        // The end: task cleared, event and action finished, migration on.
        let from = ["pre-migrating"];
        let end = Step {
            guard: StateGuard::in_task("resize_prep"),
            change: StateChange {
                vm_state: Some("resized".into()),
                task_state: Some(None),
                ..StateChange::default()
            },
            action: Some(ActionStep::Finish {
                action_id,
                event: "compute_prep_resize",
                error: None,
            }),
            migration: Some(MigrationStep::Advance {
                from: &from,
                to: "finished",
            }),
            ..Step::default()
        };
        assert!(repo.apply("s1", &end, 24).await.unwrap().is_some());
        assert_eq!(actions.latest_unfinished_any("s1").await.unwrap(), None);
        let events = actions.events(action_id).await.unwrap();
        assert_eq!(events[0].result.as_deref(), Some("Success"));
        let moves = store.migrations().list(&all).await.unwrap();
        assert_eq!(moves[0].status, "finished");
        let listed = actions.list("s1", None, None, 10, None).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            actions.get("s1", "req-1").await.unwrap(),
            Some(listed[0].clone())
        );
    })
    .await;
}

#[tokio::test]
async fn migrations_filter_page_and_advance() {
    use oxstack_store::migrations::MigrationQuery;
    each_backend(async |store: Store| {
        let repo = store.migrations();
        for (n, status) in ["finished", "running", "error"].iter().enumerate() {
            let row = oxstack_store::migrations::MigrationRow {
                created_at: 10 + n as i64,
                migration_type: if *status == "running" {
                    "live-migration".into()
                } else {
                    "resize".into()
                },
                dest_compute: Some(format!("h{n}")),
                ..migration_row("s1", status)
            };
            assert_eq!(repo.insert(&row).await.unwrap().id, n as i64 + 1);
        }
        let newest_first = repo.list(&MigrationQuery::default()).await.unwrap();
        let ids: Vec<i64> = newest_first.iter().map(|m| m.id).collect();
        assert_eq!(ids, [3, 2, 1]);
        let live = MigrationQuery {
            migration_type: Some("live-migration".into()),
            ..MigrationQuery::default()
        };
        assert_eq!(repo.list(&live).await.unwrap()[0].id, 2);
        let to_h2 = MigrationQuery {
            host: Some("h2".into()),
            ..MigrationQuery::default()
        };
        assert_eq!(repo.list(&to_h2).await.unwrap()[0].id, 3);
        let after_newest = MigrationQuery {
            marker: Some(newest_first[0].uuid.clone()),
            limit: Some(1),
            ..MigrationQuery::default()
        };
        assert_eq!(repo.list(&after_newest).await.unwrap()[0].id, 2);
        let unknown = MigrationQuery {
            marker: Some("nope".into()),
            ..MigrationQuery::default()
        };
        assert!(matches!(
            repo.list(&unknown).await,
            Err(StoreError::NotFound)
        ));
        // A migration moves on by its own id, only from the given statuses.
        let running = repo.list(&live).await.unwrap()[0].uuid.clone();
        assert!(
            !repo
                .advance(&running, &["queued"], "completed", 50)
                .await
                .unwrap()
        );
        assert!(
            repo.advance(&running, &["running"], "completed", 50)
                .await
                .unwrap()
        );
        assert!(
            !repo
                .advance(&running, &["running"], "completed", 51)
                .await
                .unwrap()
        );
        // A live migration's destination records where it receives the
        // guest as it moves the migration on, only from the given status.
        let preparing = repo
            .insert(&oxstack_store::migrations::MigrationRow {
                uuid: "m-live".into(),
                ..migration_row("s2", "preparing")
            })
            .await
            .unwrap();
        assert!(
            !repo
                .set_incoming(&preparing.uuid, "running", "running", "tcp:x", 52)
                .await
                .unwrap()
        );
        assert!(
            repo.set_incoming(&preparing.uuid, "preparing", "running", "tcp:h:1", 52)
                .await
                .unwrap()
        );
        let ready = MigrationQuery {
            instance_uuid: Some("s2".into()),
            ..MigrationQuery::default()
        };
        let ready = &repo.list(&ready).await.unwrap()[0];
        assert_eq!(
            (ready.status.as_str(), ready.incoming_uri.as_deref()),
            ("running", Some("tcp:h:1"))
        );
        let done = MigrationQuery {
            statuses: vec!["completed".into(), "error".into()],
            changes_since: Some(50),
            ..MigrationQuery::default()
        };
        assert_eq!(repo.list(&done).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn services_register_report_change_and_leave() {
    use oxstack_store::services::{NewService, ServiceChange};
    each_backend(async |store: Store| {
        let repo = store.services();
        let new = NewService {
            uuid: "svc-1",
            node_uuid: "node-1",
            host: "h1",
            node: "n1",
            zone: "nova",
            vcpus: 8,
            memory_mb: 4096,
            local_gb: 100,
            hypervisor_type: "fake",
            hypervisor_version: 1000,
            host_ip: "127.0.0.1",
        };
        let first = repo.register(&new, 10).await.unwrap();
        assert_eq!(
            (first.id, first.disabled, first.forced_down),
            (1, false, false)
        );
        // Registering again keeps the identity and the operator's switches.
        let change = ServiceChange {
            disabled: Some((true, Some("maintenance".into()))),
            forced_down: Some(true),
        };
        let changed = repo.change("svc-1", &change, 20).await.unwrap().unwrap();
        assert!(changed.disabled && changed.forced_down);
        assert_eq!(changed.disabled_reason.as_deref(), Some("maintenance"));
        let again = NewService {
            uuid: "svc-other",
            vcpus: 16,
            ..new
        };
        let second = repo.register(&again, 30).await.unwrap();
        assert_eq!((second.id, second.uuid.as_str()), (1, "svc-1"));
        assert!(second.disabled && second.forced_down && second.vcpus == 16);
        let reported = repo.report("h1", 40).await.unwrap().unwrap();
        assert_eq!(reported.last_seen_up, 40);
        assert_eq!(repo.report("h9", 40).await.unwrap(), None);
        assert_eq!(repo.change("nope", &change, 50).await.unwrap(), None);
        // A host with live servers stays; an empty one goes.
        let mut tx = store.instances().begin_create("p1").await.unwrap();
        let placed = oxstack_store::instances::InstanceRow {
            host: Some("h1".into()),
            ..instance("s1", 1, "p1", "s1", 100)
        };
        tx.insert(&placed).await.unwrap();
        tx.commit().await.unwrap();
        assert!(!repo.delete_if_empty("svc-1").await.unwrap());
        assert!(
            store
                .instances()
                .finish_delete("s1", None, 60)
                .await
                .unwrap()
        );
        assert!(repo.delete_if_empty("svc-1").await.unwrap());
        assert!(matches!(
            repo.delete_if_empty("svc-1").await,
            Err(StoreError::NotFound)
        ));
        assert!(repo.list().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn floating_ips_are_unique_associated_once_and_freed() {
    use oxstack_store::floating_ips::FloatingIpRow;
    each_backend(async |store: Store| {
        let repo = store.floating_ips();
        let row = |id: &str, project: &str| FloatingIpRow {
            id: id.into(),
            address: "172.24.4.10".into(),
            pool: "public".into(),
            project_id: project.into(),
            instance_uuid: None,
            fixed_address: None,
            created_at: 1,
        };
        repo.insert(&row("f1", "p1")).await.unwrap();
        assert!(matches!(
            repo.insert(&row("f2", "p2")).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(repo.allocated("public").await.unwrap(), ["172.24.4.10"]);
        assert_eq!(repo.list(Some("p2")).await.unwrap().len(), 0);
        assert_eq!(repo.list(None).await.unwrap().len(), 1);
        assert!(
            repo.associate("172.24.4.10", "s1", "10.0.0.5")
                .await
                .unwrap()
        );
        assert!(
            !repo
                .associate("172.24.4.10", "s2", "10.0.0.6")
                .await
                .unwrap()
        );
        let found = repo.get_by_address("172.24.4.10").await.unwrap().unwrap();
        assert_eq!(found.instance_uuid.as_deref(), Some("s1"));
        assert!(!repo.disassociate("172.24.4.10", Some("s2")).await.unwrap());
        assert!(repo.disassociate("172.24.4.10", None).await.unwrap());
        repo.delete("f1").await.unwrap();
        assert_eq!(repo.get("f1").await.unwrap(), None);
        assert!(matches!(repo.delete("f1").await, Err(StoreError::NotFound)));
    })
    .await;
}

#[tokio::test]
async fn key_pairs_are_unique_per_user_counted_and_limited() {
    use oxstack_store::key_pairs::NewKeyPair;
    each_backend(async |store: Store| {
        let repo = store.key_pairs();
        let key = |user: &'static str, name: &'static str| NewKeyPair {
            user_id: user,
            name,
            key_type: "ssh",
            fingerprint: "aa:bb",
            public_key: "ssh-ed25519 AAAA",
            created_at: 7,
        };
        let first = repo.insert(&key("u1", "b"), 2).await.unwrap();
        assert_eq!((first.name.as_str(), first.key_type.as_str()), ("b", "ssh"));
        // The same name for another user is another key pair.
        repo.insert(&key("u2", "b"), 2).await.unwrap();
        // A taken name changes nothing, the count included.
        assert!(matches!(
            repo.insert(&key("u1", "b"), 2).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(repo.count("u1").await.unwrap(), 1);
        let second = repo.insert(&key("u1", "a"), 2).await.unwrap();
        assert!(second.id > first.id);
        assert!(matches!(
            repo.insert(&key("u1", "c"), 2).await,
            Err(StoreError::LimitExceeded)
        ));
        assert_eq!(repo.count("u1").await.unwrap(), 2);
        repo.insert(&key("u1", "c"), -1).await.unwrap();

        let names = |rows: Vec<oxstack_store::key_pairs::KeyPairRow>| {
            rows.into_iter().map(|r| r.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(repo.list("u1", None, None).await.unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(
            names(repo.list("u1", Some("a"), Some(1)).await.unwrap()),
            ["b"]
        );
        assert_eq!(repo.get("u2", "b").await.unwrap().unwrap().user_id, "u2");
        let every: Vec<(String, String)> = repo
            .list_all()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.user_id, r.name))
            .collect();
        let pair = |u: &str, n: &str| (u.to_owned(), n.to_owned());
        assert_eq!(
            every,
            [
                pair("u1", "a"),
                pair("u1", "b"),
                pair("u1", "c"),
                pair("u2", "b")
            ]
        );
        assert_eq!(repo.get("u2", "a").await.unwrap(), None);

        repo.delete("u1", "b").await.unwrap();
        assert!(matches!(
            repo.delete("u1", "b").await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(repo.count("u1").await.unwrap(), 2);
        assert_eq!(repo.count("nobody").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn server_groups_count_against_the_project_and_list_their_live_members() {
    use oxstack_store::server_groups::ServerGroupRow;
    each_backend(async |store: Store| {
        let repo = store.server_groups();
        let group = |uuid: &str| ServerGroupRow {
            uuid: uuid.into(),
            id: 0,
            name: "g".into(),
            project_id: "p1".into(),
            user_id: "u".into(),
            policy: "anti-affinity".into(),
            max_server_per_host: Some(2),
            created_at: 1,
        };
        let first = repo.insert(&group("g1"), 2).await.unwrap();
        let second = repo.insert(&group("g2"), 2).await.unwrap();
        assert!(second.id > first.id);
        assert_eq!(first.max_server_per_host, Some(2));
        assert!(matches!(
            repo.insert(&group("g3"), 2).await,
            Err(StoreError::LimitExceeded)
        ));
        assert_eq!(repo.count("p1").await.unwrap(), 2);
        let listed = repo.list(None, 1, 10).await.unwrap();
        assert_eq!(
            listed.iter().map(|g| g.uuid.as_str()).collect::<Vec<_>>(),
            ["g2"]
        );
        assert_eq!(repo.list(Some("p2"), 0, 10).await.unwrap(), []);

        // Members: the group's live instances, placed or not.
        let mut tx = store.instances().begin_create("p1").await.unwrap();
        for (uuid, seq, host, deleted) in [
            ("s1", 1, Some("h1"), false),
            ("s2", 2, Some("h1"), false),
            ("s3", 3, None, false),
            ("s4", 4, Some("h2"), true),
        ] {
            let mut row = instance(uuid, seq, "p1", uuid, seq);
            row.server_group = Some("g1".into());
            row.host = host.map(str::to_owned);
            row.deleted = deleted;
            tx.insert(&row).await.unwrap();
        }
        assert_eq!(tx.group_hosts("g1").await.unwrap(), [("h1".to_owned(), 2)]);
        assert_eq!(tx.group_members_of("g1", "u").await.unwrap(), 3);
        assert_eq!(tx.group_members_of("g1", "other").await.unwrap(), 0);
        tx.commit().await.unwrap();
        let members = repo.members(&["g1", "g2"]).await.unwrap();
        assert_eq!(members["g1"], ["s1", "s2", "s3"]);
        assert!(members["g2"].is_empty());
        assert_eq!(
            repo.hosts("g1", "s1").await.unwrap(),
            [("h1".to_owned(), 1)]
        );

        // Deleting the group lets its servers go.
        repo.delete("g1").await.unwrap();
        assert!(matches!(repo.delete("g1").await, Err(StoreError::NotFound)));
        let s1 = store.instances().get("s1").await.unwrap().unwrap();
        assert_eq!(s1.server_group, None);
        assert_eq!(repo.count("p1").await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn aggregates_keep_their_hosts_zones() {
    use oxstack_store::services::NewService;
    each_backend(async |store: Store| {
        let service = |host: &'static str, uuid: &'static str| NewService {
            uuid,
            node_uuid: uuid,
            host,
            node: host,
            zone: "nova",
            vcpus: 8,
            memory_mb: 4096,
            local_gb: 100,
            hypervisor_type: "fake",
            hypervisor_version: 1000,
            host_ip: "127.0.0.1",
        };
        store
            .services()
            .register(&service("h1", "s1"), 1)
            .await
            .unwrap();
        store
            .services()
            .register(&service("h2", "s2"), 1)
            .await
            .unwrap();
        let zone_of = async |host: &str| {
            let all = store.services().list().await.unwrap();
            all.into_iter().find(|s| s.host == host).unwrap().zone
        };
        let repo = store.aggregates();
        let london = repo
            .create("u1", "london", Some("london"), 5)
            .await
            .unwrap();
        assert!(matches!(
            repo.create("u2", "london", None, 5).await,
            Err(StoreError::Conflict)
        ));
        let plain = repo.create("u3", "plain", None, 6).await.unwrap();
        repo.add_host(london.id, "h1", "nova").await.unwrap();
        repo.add_host(plain.id, "h2", "nova").await.unwrap();
        assert!(matches!(
            repo.add_host(london.id, "h1", "nova").await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            (zone_of("h1").await, zone_of("h2").await),
            ("london".to_owned(), "nova".to_owned())
        );
        // A host that registers again keeps the zone its aggregates give it.
        store
            .services()
            .register(&service("h1", "s1"), 2)
            .await
            .unwrap();
        assert_eq!(zone_of("h1").await, "london");

        let changes = std::collections::BTreeMap::from([
            ("availability_zone".to_owned(), Some("paris".to_owned())),
            ("k".to_owned(), Some("v".to_owned())),
        ]);
        repo.set_metadata(london.id, &changes, "nova", 7)
            .await
            .unwrap();
        assert_eq!(zone_of("h1").await, "paris");
        let found = repo.get(london.id).await.unwrap().unwrap();
        assert_eq!(
            (found.hosts.clone(), found.metadata.len(), found.updated_at),
            (vec!["h1".to_owned()], 2, Some(7))
        );
        assert_eq!(repo.list().await.unwrap().len(), 2);

        repo.remove_host(london.id, "h1", "nova").await.unwrap();
        assert!(matches!(
            repo.remove_host(london.id, "h1", "nova").await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(zone_of("h1").await, "nova");
        repo.rename(plain.id, "renamed", 8).await.unwrap();
        repo.remove_host(plain.id, "h2", "nova").await.unwrap();
        repo.delete(plain.id).await.unwrap();
        repo.delete(london.id).await.unwrap();
        assert!(repo.list().await.unwrap().is_empty());
        assert!(matches!(
            repo.delete(london.id).await,
            Err(StoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn console_tokens_are_found_until_they_expire() {
    use oxstack_store::console_tokens::ConsoleToken;
    each_backend(async |store: Store| {
        let repo = store.console_tokens();
        let token = ConsoleToken {
            instance_uuid: "s1".into(),
            console_type: "novnc".into(),
            host: "h1".into(),
            port: 5900,
            internal_access_path: None,
            expires: 100,
        };
        repo.insert("hash-1", &token, 10).await.unwrap();
        assert_eq!(repo.get("hash-1", 100).await.unwrap(), Some(token.clone()));
        assert_eq!(repo.get("hash-1", 101).await.unwrap(), None);
        assert_eq!(repo.get("hash-2", 10).await.unwrap(), None);
        // Expired tokens are dropped when new ones come.
        let later = ConsoleToken {
            expires: 300,
            ..token
        };
        repo.insert("hash-2", &later, 200).await.unwrap();
        assert_eq!(repo.get("hash-1", 0).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn usage_windows_and_host_shares_count_what_ran_where() {
    each_backend(async |store: Store| {
        let repo = store.instances();
        // (uuid, project, host, launched, terminated)
        let rows = [
            ("i1", "p1", "h1", Some(100), None),
            ("i2", "p1", "h1", Some(150), Some(180)),
            ("i3", "p2", "h1", Some(120), None),
            ("i4", "p2", "h2", Some(300), None),
            ("i5", "p1", "h1", None, None),
            ("i6", "p2", "h1", Some(10), Some(50)),
        ];
        for (seq, (uuid, project, host, launched, terminated)) in rows.iter().enumerate() {
            let row = oxstack_store::instances::InstanceRow {
                host: Some((*host).into()),
                launched_at: *launched,
                terminated_at: *terminated,
                deleted: terminated.is_some(),
                ..instance(uuid, seq as i64 + 1, project, uuid, 1)
            };
            let mut tx = repo.begin_create(project).await.unwrap();
            tx.insert(&row).await.unwrap();
            tx.commit().await.unwrap();
        }
        let uuids = |rows: Vec<oxstack_store::instances::InstanceRow>| {
            rows.into_iter().map(|r| r.uuid).collect::<Vec<_>>()
        };
        // Launched before the end, not terminated before the start; by
        // project then uuid; never-launched ones never ran.
        let window = repo
            .active_in_window(100, 200, None, None, 10)
            .await
            .unwrap();
        assert_eq!(uuids(window), ["i1", "i2", "i3"]);
        let p1 = repo
            .active_in_window(100, 400, Some("p1"), None, 10)
            .await
            .unwrap();
        assert_eq!(uuids(p1), ["i1", "i2"]);
        let page = repo
            .active_in_window(0, 400, None, Some(("p1", "i2")), 2)
            .await
            .unwrap();
        assert_eq!(uuids(page), ["i3", "i4"]);
        // Live instances' hosts, by id; deleted and unknown ones absent.
        let mut placed = repo
            .hosts_by_instance(&["i1".into(), "i2".into(), "i5".into(), "nope".into()])
            .await
            .unwrap();
        placed.sort();
        assert_eq!(
            placed,
            [
                ("i1".to_owned(), Some("h1".to_owned())),
                ("i5".to_owned(), Some("h1".to_owned()))
            ]
        );
        // Live instances on a host, by project.
        assert_eq!(
            repo.usage_on_host_by_project("h1").await.unwrap(),
            [("p1".to_owned(), 4, 1024, 2), ("p2".to_owned(), 2, 512, 1)]
        );
        assert!(
            repo.usage_on_host_by_project("h9")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn server_passwords_are_kept_replaced_and_forgotten() {
    each_backend(async |store: Store| {
        let passwords = store.server_passwords();
        assert_eq!(passwords.get("s1").await.unwrap(), None);
        passwords.set("s1", "first").await.unwrap();
        passwords.set("s1", "second").await.unwrap();
        assert_eq!(
            passwords.get("s1").await.unwrap().as_deref(),
            Some("second")
        );
        passwords.clear("s1").await.unwrap();
        assert_eq!(passwords.get("s1").await.unwrap(), None);
        // A deleted server's password goes with it.
        one_instance(&store, "s2", 1).await;
        passwords.set("s2", "secret").await.unwrap();
        assert!(
            store
                .instances()
                .finish_delete("s2", None, 500)
                .await
                .unwrap()
        );
        assert_eq!(passwords.get("s2").await.unwrap(), None);
    })
    .await;
}

/// A new action of project `p1`'s user `u`, at time 10.
fn new_action<'a>(
    instance_uuid: &'a str,
    request_id: &'a str,
    action: &'a str,
) -> oxstack_store::instance_actions::NewAction<'a> {
    oxstack_store::instance_actions::NewAction {
        instance_uuid,
        request_id,
        action,
        project_id: "p1",
        user_id: "u",
        args: None,
        now: 10,
    }
}

/// The acceptance of `action` on a server being scheduled: its task
/// becomes `task` and its first event starts on `host`.
fn accept_from_scheduling<'a>(
    action: &'a oxstack_store::instance_actions::NewAction<'a>,
    task: &str,
    event: &'a str,
    host: &'a str,
) -> oxstack_store::instances::Step<'a> {
    use oxstack_store::instances::{ActionStep, StateChange, StateGuard, Step};
    Step {
        guard: StateGuard::in_task("scheduling"),
        change: StateChange {
            task_state: Some(Some(task.into())),
            ..StateChange::default()
        },
        action: Some(ActionStep::Accept {
            action,
            event: Some(event),
            host,
        }),
        ..Step::default()
    }
}

/// A step whose writes need no read (on PostgreSQL one statement): the
/// action's rows only when the compare-and-swap passes, its end either way.
#[tokio::test]
async fn a_step_behind_its_gate_writes_its_action_only_when_it_passes_and_its_end_always() {
    use oxstack_store::instances::{ActionStep, StateChange, StateGuard, Step};
    each_backend(async |store: Store| {
        one_instance(&store, "g1", 1).await;
        let repo = store.instances();
        let actions = store.instance_actions();
        let action = new_action("g1", "req-g", "reboot");
        let mut accept =
            accept_from_scheduling(&action, "rebooting", "compute_reboot_instance", "h2");
        accept.change.host = Some(Some("h2".into()));
        let Some(Some(id)) = repo.apply("g1", &accept, 11).await.unwrap() else {
            panic!("the accept passed its gate");
        };
        let row = repo.get("g1").await.unwrap().unwrap();
        assert_eq!(row.task_state.as_deref(), Some("rebooting"));
        assert_eq!(row.host.as_deref(), Some("h2"));
        let open = actions.latest_unfinished_any("g1").await.unwrap().unwrap();
        assert_eq!(
            (open.id, open.action.as_str(), open.start_time),
            (id, "reboot", 10)
        );
        let events = actions.events(id).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].host.as_deref(), Some("h2"));

        // Accepted again, the gate holds: no second action, no event.
        assert_eq!(repo.apply("g1", &accept, 12).await.unwrap(), None);
        assert_eq!(
            actions
                .list("g1", None, None, 10, None)
                .await
                .unwrap()
                .len(),
            1
        );

        // A start behind a gate that holds writes nothing.
        let start = |task: &str| Step {
            guard: StateGuard::in_task(task),
            change: StateChange {
                task_state: Some(Some("reboot_started".into())),
                ..StateChange::default()
            },
            action: Some(ActionStep::Start {
                action_id: id,
                event: "compute_power_on",
                host: "h2",
            }),
            ..Step::default()
        };
        assert_eq!(
            repo.apply("g1", &start("deleting"), 13).await.unwrap(),
            None
        );
        assert_eq!(actions.events(id).await.unwrap().len(), 1);
        assert_eq!(
            repo.apply("g1", &start("rebooting"), 14).await.unwrap(),
            Some(Some(id))
        );
        assert_eq!(actions.events(id).await.unwrap().len(), 2);

        // An end whose gate holds still ends its event and its action.
        let end = Step {
            guard: StateGuard::in_task("rebooting"),
            change: StateChange {
                task_state: Some(None),
                ..StateChange::default()
            },
            action: Some(ActionStep::Finish {
                action_id: id,
                event: "compute_reboot_instance",
                error: Some("it failed"),
            }),
            ..Step::default()
        };
        assert_eq!(repo.apply("g1", &end, 15).await.unwrap(), None);
        let row = repo.get("g1").await.unwrap().unwrap();
        assert_eq!(row.task_state.as_deref(), Some("reboot_started"));
        assert_eq!(actions.latest_unfinished_any("g1").await.unwrap(), None);
        let events = actions.events(id).await.unwrap();
        let ended = events.iter().find(|e| e.event == "compute_reboot_instance");
        let ended = ended.unwrap();
        assert_eq!(
            (ended.finish_time, ended.result.as_deref()),
            (Some(15), Some("Error"))
        );
        assert_eq!(ended.details.as_deref(), Some("it failed"));
        let listed = actions.list("g1", None, None, 10, None).await.unwrap();
        assert_eq!(listed[0].message.as_deref(), Some("Error"));
    })
    .await;
}

#[tokio::test]
async fn a_delete_ends_its_action_in_the_same_transaction() {
    each_backend(async |store: Store| {
        one_instance(&store, "d1", 1).await;
        let repo = store.instances();
        let action = new_action("d1", "req-d", "delete");
        let accept =
            accept_from_scheduling(&action, "deleting", "compute_terminate_instance", "h1");
        let id = repo
            .apply("d1", &accept, 11)
            .await
            .unwrap()
            .flatten()
            .unwrap();
        let actions = store.instance_actions();
        assert!(actions.latest_unfinished_any("d1").await.unwrap().is_some());
        let event = Some((id, "compute_terminate_instance"));
        assert!(repo.finish_delete("d1", event, 12).await.unwrap());
        assert_eq!(actions.latest_unfinished_any("d1").await.unwrap(), None);
        let events = actions.events(id).await.unwrap();
        assert_eq!(events[0].finish_time, Some(12));
    })
    .await;
}

#[tokio::test]
async fn resets_remove_what_users_made() {
    use oxstack_store::key_pairs::NewKeyPair;
    each_backend(async |store: Store| {
        store
            .key_pairs()
            .insert(
                &NewKeyPair {
                    user_id: "u1",
                    name: "k",
                    key_type: "ssh",
                    fingerprint: "aa:bb",
                    public_key: "ssh-ed25519 AAAA",
                    created_at: 7,
                },
                -1,
            )
            .await
            .unwrap();
        let reset = store.reset();
        // One project's reset leaves the user's key pairs.
        assert!(reset.compute(Some("p1"), "nova").await.unwrap().is_empty());
        assert_eq!(store.key_pairs().count("u1").await.unwrap(), 1);
        assert!(reset.compute(None, "nova").await.unwrap().is_empty());
        assert_eq!(store.key_pairs().count("u1").await.unwrap(), 0);
        assert!(
            reset
                .images(Some("p1"), Some("keep"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(reset.images(None, None).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn text_with_a_nul_character_is_refused_alike_and_changes_nothing() {
    use oxstack_store::key_pairs::NewKeyPair;
    each_backend(async |store: Store| {
        let key = NewKeyPair {
            user_id: "u1",
            name: "k\0",
            key_type: "ssh",
            fingerprint: "aa:bb",
            public_key: "ssh-ed25519 AAAA",
            created_at: 7,
        };
        assert!(matches!(
            store.key_pairs().insert(&key, -1).await,
            Err(StoreError::Unstorable)
        ));
        assert_eq!(store.key_pairs().count("u1").await.unwrap(), 0);
        assert!(matches!(
            store.key_pairs().get("u1", "\0").await,
            Err(StoreError::Unstorable)
        ));
    })
    .await;
}

#[tokio::test]
async fn volumes_change_status_once_count_usage_and_hold_their_attachments() {
    use oxstack_store::volumes::{
        AttachmentRow, SnapshotRow, VolumeLimits, VolumeRow, VolumeTypeRow,
    };
    each_backend(async |store: Store| {
        let repo = store.volumes();
        let kind = VolumeTypeRow {
            id: "t1".into(),
            name: "__DEFAULT__".into(),
            description: None,
            is_public: true,
            extra_specs: "{}".into(),
            created_at: 1,
            updated_at: 1,
        };
        repo.ensure_type(&kind).await.unwrap();
        repo.ensure_type(&kind).await.unwrap();
        let volume = |id: &str, size: i64| VolumeRow {
            id: id.into(),
            project_id: "p1".into(),
            user_id: "u1".into(),
            name: Some(id.into()),
            description: None,
            size,
            status: "available".into(),
            availability_zone: "nova".into(),
            volume_type_id: "t1".into(),
            bootable: false,
            multiattach: false,
            readonly: false,
            source_volid: None,
            snapshot_id: None,
            image_metadata: "{}".into(),
            metadata: "{}".into(),
            disk_format: "raw".into(),
            created_at: 1,
            updated_at: 1,
        };
        let limits = VolumeLimits {
            volumes: 2,
            gigabytes: 5,
            snapshots: 1,
        };
        repo.insert_volume(&volume("v1", 2), limits).await.unwrap();
        repo.insert_volume(&volume("v2", 2), limits).await.unwrap();
        // Past the count, past the size: refused, nothing counted.
        assert!(matches!(
            repo.insert_volume(&volume("v3", 1), limits).await,
            Err(StoreError::LimitExceeded)
        ));
        let usage = repo.usage("p1").await.unwrap();
        assert_eq!((usage["volumes"], usage["gigabytes"]), (2, 4));
        // Two servers reserve one volume: one gets it.
        let attachment = |id: &str, server: &str| AttachmentRow {
            id: id.into(),
            volume_id: "v1".into(),
            project_id: "p1".into(),
            instance_uuid: Some(server.into()),
            attach_status: "attaching".into(),
            attach_mode: "rw".into(),
            attached_host: None,
            mountpoint: Some("/dev/vdb".into()),
            connector: None,
            bdm_uuid: Some(format!("bdm-{id}")),
            boot_index: None,
            tag: None,
            delete_on_termination: false,
            attach_time: None,
            created_at: 2,
            updated_at: 2,
        };
        assert!(
            repo.attach(&attachment("a1", "s1"), &["available"], "attaching")
                .await
                .unwrap()
        );
        assert!(
            !repo
                .attach(&attachment("a2", "s2"), &["available"], "attaching")
                .await
                .unwrap()
        );
        assert_eq!(repo.attachments_of_volume("v1").await.unwrap().len(), 1);
        assert_eq!(repo.attachments_in(&["attaching"]).await.unwrap().len(), 1);
        // An attached volume cannot be deleted; detached, it can.
        assert!(matches!(
            repo.begin_delete("v1", &["available"], false, 3).await,
            Err(StoreError::Conflict)
        ));
        assert!(repo.detach("a1", 3).await.unwrap());
        assert_eq!(
            repo.volume("v1").await.unwrap().unwrap().status,
            "available"
        );
        // A snapshot counts against its limits and holds its volume.
        let snapshot = |id: &str| SnapshotRow {
            id: id.into(),
            project_id: "p1".into(),
            user_id: "u1".into(),
            volume_id: "v2".into(),
            name: None,
            description: None,
            size: 1,
            status: "creating".into(),
            metadata: "{}".into(),
            created_at: 4,
            updated_at: 4,
        };
        assert!(
            repo.insert_snapshot(&snapshot("s1"), &["available"], limits)
                .await
                .unwrap()
        );
        assert!(matches!(
            repo.insert_snapshot(&snapshot("s2"), &["available"], limits)
                .await,
            Err(StoreError::LimitExceeded)
        ));
        assert!(matches!(
            repo.begin_delete("v2", &["available"], false, 5).await,
            Err(StoreError::Conflict)
        ));
        assert!(
            repo.snapshot_transition("s1", &["creating"], "deleting", 5)
                .await
                .unwrap()
        );
        assert!(repo.delete_snapshot("s1").await.unwrap());
        assert!(
            repo.begin_delete("v2", &["available"], false, 6)
                .await
                .unwrap()
        );
        assert!(repo.delete_volume("v2").await.unwrap());
        assert!(repo.volume("v2").await.unwrap().is_none());
        let usage = repo.usage("p1").await.unwrap();
        assert_eq!(
            (usage["volumes"], usage["gigabytes"], usage["snapshots"]),
            (1, 2, 0)
        );
        // A reset takes the project's volumes, and the types but the kept.
        let removed = repo.reset(None, &["t1"]).await.unwrap();
        assert_eq!(removed, ["v1"]);
        assert_eq!(repo.volume_types().await.unwrap().len(), 1);
    })
    .await;
}
