//! Flavors: the sizes servers come in. Public flavors are visible to all;
//! private ones to admins and to the projects given access.

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::flavors::{FlavorQuery, FlavorRow, FlavorSortKey as SortColumn};

use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// A flavor (Nova's instance type): the size servers come in. `id` is the
/// API id (Nova's `flavorid`), `seq` the internal one.
#[derive(Clone, Debug, PartialEq)]
pub struct Flavor {
    pub id: String,
    pub seq: i64,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    /// Swap in MB.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub vcpu_weight: Option<i64>,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

impl From<FlavorRow> for Flavor {
    fn from(row: FlavorRow) -> Self {
        Self {
            id: row.id,
            seq: row.seq,
            name: row.name,
            memory_mb: row.memory_mb,
            vcpus: row.vcpus,
            root_gb: row.root_gb,
            ephemeral_gb: row.ephemeral_gb,
            swap: row.swap,
            rxtx_factor: row.rxtx_factor,
            vcpu_weight: row.vcpu_weight,
            is_public: row.is_public,
            disabled: row.disabled,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The keys a flavor listing may be sorted by (Nova's `sort_key`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlavorSortKey {
    FlavorId,
    Id,
    Name,
    MemoryMb,
    Vcpus,
    RootGb,
    EphemeralGb,
    Swap,
    RxtxFactor,
    VcpuWeight,
    IsPublic,
    Disabled,
    Description,
    CreatedAt,
    UpdatedAt,
}

impl FlavorSortKey {
    /// The key Nova's API names so.
    pub fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "flavorid" => Self::FlavorId,
            "id" => Self::Id,
            "name" => Self::Name,
            "memory_mb" => Self::MemoryMb,
            "vcpus" => Self::Vcpus,
            "root_gb" => Self::RootGb,
            "ephemeral_gb" => Self::EphemeralGb,
            "swap" => Self::Swap,
            "rxtx_factor" => Self::RxtxFactor,
            "vcpu_weight" => Self::VcpuWeight,
            "is_public" => Self::IsPublic,
            "disabled" => Self::Disabled,
            "description" => Self::Description,
            "created_at" => Self::CreatedAt,
            "updated_at" => Self::UpdatedAt,
            _ => return None,
        })
    }

    fn column(self) -> SortColumn {
        match self {
            Self::FlavorId => SortColumn::FlavorId,
            Self::Id => SortColumn::Id,
            Self::Name => SortColumn::Name,
            Self::MemoryMb => SortColumn::MemoryMb,
            Self::Vcpus => SortColumn::Vcpus,
            Self::RootGb => SortColumn::RootGb,
            Self::EphemeralGb => SortColumn::EphemeralGb,
            Self::Swap => SortColumn::Swap,
            Self::RxtxFactor => SortColumn::RxtxFactor,
            Self::VcpuWeight => SortColumn::VcpuWeight,
            Self::IsPublic => SortColumn::IsPublic,
            Self::Disabled => SortColumn::Disabled,
            Self::Description => SortColumn::Description,
            Self::CreatedAt => SortColumn::CreatedAt,
            Self::UpdatedAt => SortColumn::UpdatedAt,
        }
    }
}

/// Who is looking: admins see every flavor, projects the public ones and
/// the private ones they were given.
#[derive(Clone, Copy, Debug)]
pub enum Viewer<'a> {
    Admin { project_id: &'a str },
    Project(&'a str),
}

/// A flavor to create (values already validated for range by the API).
#[derive(Clone, Debug)]
pub struct NewFlavor {
    pub id: Option<String>,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
}

/// Which flavors to list.
#[derive(Clone, Debug)]
pub struct FlavorListing {
    /// For admins: `Some(true)` public (the default), `Some(false)` private,
    /// `None` all. Non-admins always get public plus their private ones.
    pub is_public: Option<bool>,
    pub min_memory_mb: Option<i64>,
    pub min_root_gb: Option<i64>,
    /// 2.102 `name` filter: an unanchored regular expression.
    pub name_pattern: Option<String>,
    pub sort_key: FlavorSortKey,
    pub descending: bool,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

/// DevStack's flavors (`lib/nova`, `lib/tempest`), created on a cloud's
/// first start: (id, name, MiB of RAM, vCPUs, GiB of disk). DevStack gives
/// each the extra spec [`DEFAULT_FLAVOR_SPEC`].
pub const DEFAULT_FLAVORS: &[(&str, &str, i64, i64, i64)] = &[
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("42", "m1.nano", 192, 1, 1),
    ("84", "m1.micro", 256, 1, 1),
    ("c1", "cirros256", 256, 1, 1),
    ("d1", "ds512M", 512, 1, 5),
    ("d2", "ds1G", 1024, 1, 10),
    ("d3", "ds2G", 2048, 2, 10),
    ("d4", "ds4G", 4096, 4, 20),
];

/// The extra spec DevStack sets on its flavors.
pub const DEFAULT_FLAVOR_SPEC: (&str, &str) = ("hw_rng:allowed", "True");

fn flavor_not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Flavor {id} could not be found."))
}

impl Compute {
    /// Creates DevStack's default flavors when the cloud has none.
    pub async fn seed_default_flavors(&self) -> ComputeResult<()> {
        let repo = self.store.flavors();
        if repo.count().await? > 0 {
            return Ok(());
        }
        for (id, name, ram, vcpus, disk) in DEFAULT_FLAVORS {
            let new = NewFlavor {
                id: Some((*id).to_owned()),
                name: (*name).to_owned(),
                memory_mb: *ram,
                vcpus: *vcpus,
                root_gb: *disk,
                ephemeral_gb: 0,
                swap: 0,
                rxtx_factor: 1.0,
                is_public: true,
                description: None,
            };
            match self.create_flavor(new).await {
                Ok(flavor) => {
                    let (key, value) = DEFAULT_FLAVOR_SPEC;
                    let spec = BTreeMap::from([(key.to_owned(), value.to_owned())]);
                    repo.put_extra_specs(&flavor.id, &spec).await?;
                }
                // Another node seeding at the same moment got there first.
                Err(ComputeError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub async fn list_flavors(
        &self,
        viewer: Viewer<'_>,
        listing: FlavorListing,
    ) -> ComputeResult<Vec<Flavor>> {
        let repo = self.store.flavors();
        let marker = match &listing.marker {
            Some(id) => match repo.get(id).await? {
                Some(f) if self.visible(&f.clone().into(), viewer).await? => Some(f),
                _ => return Err(ComputeError::Invalid(format!("marker [{id}] not found"))),
            },
            None => None,
        };
        let (is_public, project_id) = match viewer {
            Viewer::Admin { project_id } => (listing.is_public, project_id),
            Viewer::Project(project_id) => (Some(true), project_id),
        };
        let query = FlavorQuery {
            is_public,
            project_id: Some(project_id.to_owned()),
            min_memory_mb: listing.min_memory_mb,
            min_root_gb: listing.min_root_gb,
            sort_key: listing.sort_key.column(),
            descending: listing.descending,
            // Name patterns are matched here, so the page is cut after matching.
            limit: if listing.name_pattern.is_some() {
                None
            } else {
                listing.limit
            },
            marker,
        };
        let flavors: Vec<Flavor> = repo
            .list(&query)
            .await?
            .into_iter()
            .map(Flavor::from)
            .collect();
        let Some(pattern) = &listing.name_pattern else {
            return Ok(flavors);
        };
        let regex = fancy_regex::Regex::new(pattern)
            .map_err(|e| ComputeError::Invalid(format!("Invalid name filter [{pattern}]: {e}")))?;
        let limit = listing.limit.map_or(usize::MAX, |l| l.max(0) as usize);
        Ok(flavors
            .into_iter()
            .filter(|f| regex.is_match(&f.name).unwrap_or(false))
            .take(limit)
            .collect())
    }

    async fn visible(&self, flavor: &Flavor, viewer: Viewer<'_>) -> ComputeResult<bool> {
        Ok(match viewer {
            Viewer::Admin { .. } => true,
            Viewer::Project(project) => {
                flavor.is_public || self.store.flavors().has_access(&flavor.id, project).await?
            }
        })
    }

    /// A flavor the viewer may see; others are "not found".
    pub async fn get_flavor(&self, id: &str, viewer: Viewer<'_>) -> ComputeResult<Flavor> {
        match self.store.flavors().get(id).await?.map(Flavor::from) {
            Some(f) if self.visible(&f, viewer).await? => Ok(f),
            _ => Err(flavor_not_found(id)),
        }
    }

    pub async fn create_flavor(&self, new: NewFlavor) -> ComputeResult<Flavor> {
        let repo = self.store.flavors();
        let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let row = FlavorRow {
            id: id.clone(),
            seq: 0,
            name: new.name.clone(),
            memory_mb: new.memory_mb,
            vcpus: new.vcpus,
            root_gb: new.root_gb,
            ephemeral_gb: new.ephemeral_gb,
            swap: new.swap,
            rxtx_factor: new.rxtx_factor,
            vcpu_weight: None,
            is_public: new.is_public,
            disabled: false,
            description: new.description,
            created_at: now_micros(),
            updated_at: None,
        };
        match repo.insert(&row).await {
            Ok(row) => Ok(row.into()),
            Err(StoreError::Conflict) => {
                if repo.get(&id).await?.is_some() {
                    Err(ComputeError::Conflict(format!(
                        "Flavor with ID {id} already exists."
                    )))
                } else {
                    Err(ComputeError::Conflict(format!(
                        "Flavor with name {} already exists.",
                        new.name
                    )))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_flavor(&self, id: &str) -> ComputeResult<()> {
        match self.store.flavors().delete(id).await {
            Err(StoreError::NotFound) => Err(flavor_not_found(id)),
            other => Ok(other?),
        }
    }

    pub async fn set_flavor_description(
        &self,
        id: &str,
        description: Option<&str>,
    ) -> ComputeResult<Flavor> {
        match self
            .store
            .flavors()
            .set_description(id, description, now_micros())
            .await
        {
            Err(StoreError::NotFound) => return Err(flavor_not_found(id)),
            other => other?,
        }
        self.store
            .flavors()
            .get(id)
            .await?
            .map(Flavor::from)
            .ok_or_else(|| flavor_not_found(id))
    }

    // --- extra specs ---------------------------------------------------

    pub async fn flavor_extra_specs(&self, id: &str) -> ComputeResult<BTreeMap<String, String>> {
        Ok(self.store.flavors().extra_specs(id).await?)
    }

    /// Extra specs of many flavors at once (for listings).
    pub async fn flavors_extra_specs(
        &self,
        ids: &[String],
    ) -> ComputeResult<BTreeMap<String, BTreeMap<String, String>>> {
        Ok(self.store.flavors().extra_specs_of(ids).await?)
    }

    pub async fn flavor_extra_spec(&self, id: &str, key: &str) -> ComputeResult<String> {
        self.store
            .flavors()
            .extra_specs(id)
            .await?
            .remove(key)
            .ok_or_else(|| {
                ComputeError::NotFound(format!("Flavor {id} has no extra specs with key {key}."))
            })
    }

    pub async fn set_flavor_extra_specs(
        &self,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> ComputeResult<()> {
        Ok(self.store.flavors().put_extra_specs(id, specs).await?)
    }

    pub async fn delete_flavor_extra_spec(&self, id: &str, key: &str) -> ComputeResult<()> {
        match self.store.flavors().delete_extra_spec(id, key).await {
            Err(StoreError::NotFound) => Err(ComputeError::NotFound(format!(
                "Flavor {id} has no extra specs with key {key}."
            ))),
            other => Ok(other?),
        }
    }

    // --- access --------------------------------------------------------

    /// Projects given access to a private flavor.
    pub async fn flavor_access(&self, id: &str) -> ComputeResult<Vec<String>> {
        let flavor = self
            .store
            .flavors()
            .get(id)
            .await?
            .ok_or_else(|| flavor_not_found(id))?;
        if flavor.is_public {
            return Err(ComputeError::NotFound(
                "Access list not available for public flavors.".into(),
            ));
        }
        Ok(self.store.flavors().access(id).await?)
    }

    /// Gives a project access; public flavors refuse it when `refuse_public`
    /// (microversion 2.7 and later).
    pub async fn add_flavor_access(
        &self,
        id: &str,
        project_id: &str,
        refuse_public: bool,
    ) -> ComputeResult<Vec<String>> {
        let flavor = self
            .store
            .flavors()
            .get(id)
            .await?
            .ok_or_else(|| flavor_not_found(id))?;
        if flavor.is_public && refuse_public {
            return Err(ComputeError::Conflict(
                "Can not add access to a public flavor.".into(),
            ));
        }
        match self.store.flavors().add_access(id, project_id).await {
            Err(StoreError::Conflict) => Err(ComputeError::Conflict(format!(
                "Flavor access already exists for flavor {id} and project {project_id} combination."
            ))),
            other => other.map_err(ComputeError::from),
        }?;
        Ok(self.store.flavors().access(id).await?)
    }

    pub async fn remove_flavor_access(
        &self,
        id: &str,
        project_id: &str,
    ) -> ComputeResult<Vec<String>> {
        self.store
            .flavors()
            .get(id)
            .await?
            .ok_or_else(|| flavor_not_found(id))?;
        match self.store.flavors().remove_access(id, project_id).await {
            Err(StoreError::NotFound) => Err(ComputeError::NotFound(format!(
                "Flavor access not found for {id} / {project_id} combination."
            ))),
            other => other.map_err(ComputeError::from),
        }?;
        Ok(self.store.flavors().access(id).await?)
    }
}
