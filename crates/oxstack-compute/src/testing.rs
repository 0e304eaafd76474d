//! A one-host cloud in a temporary directory for the domain's tests: a
//! SQLite store, the bootstrap image, and hosts with the fake driver.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use oxstack_image::Images;
use oxstack_store::Store;
use oxstack_virt::fake::{FakeDriver, FakeSettings};

use crate::model::Server;
use crate::model::states::VmState;
use crate::servers::{BootImage, Caller, CreateRequest, Networks};
use crate::{Compute, ComputeSettings};

pub const HOST: &str = "host1";

/// A one-host cloud in a temporary directory.
pub struct Cloud {
    _dir: tempfile::TempDir,
    pub store: Store,
    pub images: Images,
    pub volumes: oxstack_volume::BlockStorage,
    pub image: BootImage,
}

pub fn caller() -> Caller {
    Caller {
        project_id: "p1".into(),
        user_id: "u1".into(),
        is_admin: false,
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
    }
}

impl Cloud {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("ox.db").display());
        let store = Store::connect(&url).await.expect("store");
        let images = Images::open(store.clone(), &dir.path().join("images"), "h1", 1 << 30)
            .await
            .expect("images");
        images.bootstrap_cirros("p1").await.expect("cirros");
        let volumes = oxstack_volume::BlockStorage::open(
            store.clone(),
            images.clone(),
            &dir.path().join("volumes"),
            oxstack_volume::Settings::default(),
        )
        .await
        .expect("volumes");
        let listed = images
            .list(&oxstack_image::Query::within(oxstack_image::Scope::All))
            .await
            .expect("images");
        let cirros = &listed[0];
        let image = BootImage {
            id: cirros.row.id.clone(),
            status: "active".into(),
            min_ram_mb: 0,
            min_disk_gb: 0,
            size_bytes: None,
            properties: BTreeMap::new(),
        };
        Self {
            _dir: dir,
            store,
            images,
            volumes,
            image,
        }
    }

    /// A host process on the cloud, with a fresh hypervisor.
    pub async fn host(&self) -> Compute {
        self.host_with_driver().await.0
    }

    /// A host and its hypervisor, for tests that look at the guests.
    pub async fn host_with_driver(&self) -> (Compute, Arc<FakeDriver>) {
        let settings = ComputeSettings::default();
        let driver = Arc::new(FakeDriver::new(HOST, FakeSettings::default()));
        let compute = Compute::new(
            self.store.clone(),
            settings,
            driver.clone(),
            self.images.clone(),
            self.volumes.clone(),
            HOST.into(),
        );
        compute.seed_default_flavors().await.expect("flavors");
        compute.register_host().await.expect("register");
        (compute, driver)
    }

    /// A host whose accepted work never runs: the process that crashes.
    pub async fn doomed_host(&self) -> Compute {
        let compute = self.host().await;
        compute.hold_flows();
        compute
    }

    /// A request for one server of the cloud's image, flavor `1`.
    pub fn request(&self) -> CreateRequest {
        CreateRequest {
            name: "vm".into(),
            description: None,
            image: Some(self.image.clone()),
            flavor_id: "1".into(),
            networks: Networks::Auto,
            metadata: BTreeMap::new(),
            personality: Vec::new(),
            user_data: None,
            key_name: None,
            security_groups: Vec::new(),
            availability_zone: None,
            config_drive: false,
            admin_pass: None,
            access_ip_v4: None,
            access_ip_v6: None,
            auto_disk_config: false,
            tags: Vec::new(),
            trusted_certs: None,
            hostname: None,
            requested_host: None,
            requested_node: None,
            scheduler_hints: serde_json::Map::new(),
            min_count: 1,
            max_count: 1,
            block_devices: Vec::new(),
        }
    }

    pub async fn boot(&self, compute: &Compute) -> String {
        let request = self.request();
        let created = compute
            .create_servers(&caller(), request)
            .await
            .expect("create");
        created.servers[0].uuid.clone()
    }
}

/// Waits until the server has no task (or is gone) and returns it.
pub async fn settled(compute: &Compute, uuid: &str) -> Server {
    for _ in 0..500 {
        let server = compute.load(uuid).await.expect("load").expect("exists");
        if server.deleted || (server.task_state.is_none() && server.vm_state != VmState::Building) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server {uuid} never settled");
}
