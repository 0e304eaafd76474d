//! The networks a new cloud starts with, DevStack's: the external network
//! `public` (floating addresses, router gateways) with `public-subnet`, the
//! tenant network `private` with `private-subnet` (IPv4) and
//! `ipv6-private-subnet` (SLAAC), and `router1` joining them. Made once,
//! by id, so every start and every node of a cloud agree on them.

use crate::{
    Caller, GatewaySpec, InterfaceRef, NetworkResult, NetworkSpec, Networking, RouterSpec,
    SubnetSpec,
};

/// DevStack's router's name.
const ROUTER: &str = "router1";

/// The starting networks; `None` leaves one out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The tenant network: name, id, IPv4 and IPv6 subnets.
    pub private: Option<PrivateNetwork>,
    /// The external network's IPv4 subnet, e.g. `172.24.4.0/24`.
    pub public_cidr: Option<String>,
}

/// The tenant network every project's servers may attach to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateNetwork {
    pub name: String,
    pub id: String,
    pub ipv4_cidr: Option<String>,
    pub ipv6_cidr: Option<String>,
    /// Shared with every project (DevStack's is the demo project's
    /// alone; here every project has had it, so it stays so).
    pub shared: bool,
}

/// An id derived from a name, the same on every node.
pub fn derived_id(kind: &str, name: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("oxstack-{kind}:{name}").as_bytes(),
    )
    .to_string()
}

impl Layout {
    /// The ids of the networks and subnets it makes.
    pub(crate) fn ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        if self.public_cidr.is_some() {
            ids.push(derived_id("network", "public"));
            ids.push(derived_id("subnet", "public-subnet"));
        }
        if let Some(p) = &self.private {
            ids.push(p.id.clone());
            for name in ["private-subnet", "ipv6-private-subnet"] {
                ids.push(p.subnet_id(name));
            }
        }
        if self.has_router() {
            ids.push(derived_id("router", ROUTER));
        }
        ids
    }

    /// `router1` joins the two networks when there are both.
    fn has_router(&self) -> bool {
        self.public_cidr.is_some() && self.private.is_some()
    }
}

impl PrivateNetwork {
    fn subnet_id(&self, subnet: &str) -> String {
        derived_id("subnet", &format!("{}:{subnet}", self.name))
    }
}

impl Networking {
    /// Makes what the layout has that the cloud does not: `public` for
    /// the admin project, `private` and `router1` for the demo project;
    /// adopts what servers held before networking existed (addresses as
    /// ports, floating addresses as floating IPs). Returns how many ports
    /// the adoption made.
    pub async fn bootstrap(&self, admin_project: &str, demo_project: &str) -> NetworkResult<usize> {
        let layout = self.layout.clone();
        let admin = Caller {
            project_id: admin_project.to_owned(),
            is_admin: true,
            can_write: true,
        };
        if let Some(cidr) = &layout.public_cidr {
            let id = derived_id("network", "public");
            if self.store.networking().network(&id).await?.is_none() {
                self.create_network(
                    &admin,
                    NetworkSpec {
                        id: Some(id.clone()),
                        name: "public".into(),
                        external: true,
                        mtu: Some(1500),
                        ..Default::default()
                    },
                )
                .await?;
                self.create_subnet(
                    &admin,
                    SubnetSpec {
                        id: Some(derived_id("subnet", "public-subnet")),
                        network_id: id,
                        name: "public-subnet".into(),
                        ip_version: 4,
                        cidr: cidr.clone(),
                        enable_dhcp: Some(false),
                        ..Default::default()
                    },
                )
                .await?;
            }
        }
        if let Some(private) = &layout.private
            && self
                .store
                .networking()
                .network(&private.id)
                .await?
                .is_none()
        {
            self.create_network(
                &admin,
                NetworkSpec {
                    id: Some(private.id.clone()),
                    project_id: Some(demo_project.to_owned()),
                    name: private.name.clone(),
                    shared: private.shared,
                    ..Default::default()
                },
            )
            .await?;
            let subnet = |name: &str, version: i64, cidr: &str| SubnetSpec {
                id: Some(private.subnet_id(name)),
                project_id: Some(demo_project.to_owned()),
                network_id: private.id.clone(),
                name: name.to_owned(),
                ip_version: version,
                cidr: cidr.to_owned(),
                ..Default::default()
            };
            if let Some(cidr) = &private.ipv4_cidr {
                self.create_subnet(&admin, subnet("private-subnet", 4, cidr))
                    .await?;
            }
            if let Some(cidr) = &private.ipv6_cidr {
                let mut v6 = subnet("ipv6-private-subnet", 6, cidr);
                v6.ipv6_address_mode = Some("slaac".into());
                v6.ipv6_ra_mode = Some("slaac".into());
                self.create_subnet(&admin, v6).await?;
            }
        }
        let adopted = self.adopt_legacy_addresses().await?;
        // The old floating addresses first, so that the router's gateway
        // takes none of them; associated once the router joins the networks.
        let floating = self.adopt_legacy_floating_ips().await?;
        if let Some(private) = layout.private.as_ref().filter(|_| layout.has_router()) {
            self.bootstrap_router(&admin, demo_project, private).await?;
        }
        self.associate_adopted(floating).await?;
        Ok(adopted)
    }

    /// DevStack's `router1` (the demo project's): its gateway on `public`,
    /// an interface on each subnet of `private`, so that floating IPs reach
    /// servers there.
    async fn bootstrap_router(
        &self,
        admin: &Caller,
        demo_project: &str,
        private: &PrivateNetwork,
    ) -> NetworkResult<()> {
        let id = derived_id("router", ROUTER);
        if self.store.networking().router(&id).await?.is_some() {
            return Ok(());
        }
        self.create_router(
            admin,
            RouterSpec {
                id: Some(id.clone()),
                project_id: Some(demo_project.to_owned()),
                name: ROUTER.into(),
                gateway: Some(GatewaySpec {
                    network_id: derived_id("network", "public"),
                    ..GatewaySpec::default()
                }),
                ..RouterSpec::default()
            },
        )
        .await?;
        for name in ["private-subnet", "ipv6-private-subnet"] {
            let subnet = private.subnet_id(name);
            if self.store.networking().subnet(&subnet).await?.is_some() {
                self.add_router_interface(admin, &id, InterfaceRef::Subnet(subnet))
                    .await?;
            }
        }
        Ok(())
    }
}
