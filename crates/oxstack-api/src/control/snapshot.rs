//! `GET /_oxstack/snapshot`: what users made in this cloud, as a seed
//! that makes it again (projects, users, flavors, images, key pairs,
//! networks, routers, security groups and servers with their states).
//! What the cloud made itself at its first start is left out, and so are
//! passwords, which it cannot read back.

use std::collections::{BTreeMap, HashMap};

use oxstack_compute::flavors::DEFAULT_FLAVORS;
use oxstack_identity::{AssignmentFilter, ListFilter};
use serde_json::{Map, Value, json};

use super::internal::Api;
use super::seed::{Seed, SeedKeypair, SeedProject, SeedUser};
use super::seed_networks;
use crate::AppState;

/// Names by id (noauth: ids are names).
struct Names {
    projects: HashMap<String, String>,
    users: HashMap<String, String>,
}

impl Names {
    fn project(&self, id: &str) -> String {
        self.projects
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    fn user(&self, id: &str) -> String {
        self.users.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }
}

/// The cloud as a seed.
pub async fn take(state: &AppState) -> Result<Seed, String> {
    let api = Api::new(state);
    let admin = api.admin_token().await?;
    let (names, projects, users) = identity(&api).await?;
    let networking = seed_networks::take(&api, &admin, |id| names.project(id)).await?;
    Ok(Seed {
        projects,
        users,
        flavors: flavors(&api, &admin).await?,
        images: images(&api, &admin, &names).await?,
        keypairs: keypairs(&api, &names).await?,
        servers: servers(&api, &admin, &names, &networking.server_networks).await?,
        networks: networking.networks,
        routers: networking.routers,
        security_groups: networking.security_groups,
    })
}

async fn identity(api: &Api) -> Result<(Names, Vec<SeedProject>, Vec<SeedUser>), String> {
    let mut names = Names {
        projects: HashMap::new(),
        users: HashMap::new(),
    };
    if !api.keystone() {
        return Ok((names, Vec::new(), Vec::new()));
    }
    let identity = api.state().identity();
    let cfg = identity.bootstrap_config();
    let all = ListFilter::default();
    let e = |e: oxstack_identity::IdentityError| e.to_string();
    let role_names: HashMap<String, String> = identity
        .list_roles(None)
        .await
        .map_err(e)?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let mut projects = Vec::new();
    for p in identity.list_projects(&all).await.map_err(e)? {
        if p.name != cfg.admin_project && p.name != cfg.demo_project {
            projects.push(SeedProject {
                name: p.name.clone(),
                description: Some(p.description.clone()).filter(|d| !d.is_empty()),
            });
        }
        names.projects.insert(p.id, p.name);
    }
    let mut users = Vec::new();
    for u in identity.list_users(&all).await.map_err(e)? {
        names.users.insert(u.id.clone(), u.name.clone());
        if u.name == cfg.admin_user || u.name == cfg.demo_user {
            continue;
        }
        let grants = identity
            .list_assignments(&AssignmentFilter {
                user_id: Some(u.id.clone()),
                ..AssignmentFilter::default()
            })
            .await
            .map_err(e)?;
        let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in grants {
            let role = role_names.get(&g.role_id).cloned().unwrap_or(g.role_id);
            roles
                .entry(names.project(&g.project_id))
                .or_default()
                .push(role);
        }
        for granted in roles.values_mut() {
            granted.sort();
        }
        users.push(SeedUser {
            name: u.name,
            password: None,
            project: u.default_project_id.map(|p| names.project(&p)),
            roles,
        });
    }
    Ok((names, projects, users))
}

/// Keeps the listed fields of `item` that are set.
fn pick(item: &Value, keys: &[(&str, &str)]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|(from, to)| {
            let v = item.get(*from)?;
            (!v.is_null()).then(|| ((*to).to_owned(), v.clone()))
        })
        .collect()
}

async fn flavors(api: &Api, admin: &str) -> Result<Vec<Map<String, Value>>, String> {
    let listed = api
        .get(
            "/compute/v2.1/flavors/detail?is_public=None",
            admin,
            Some("2.61"),
        )
        .await?;
    let defaults: Vec<&str> = DEFAULT_FLAVORS.iter().map(|f| f.0).collect();
    Ok(listed["flavors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| !defaults.contains(&f["id"].as_str().unwrap_or_default()))
        .map(|f| {
            let mut entry = pick(
                f,
                &[
                    ("id", "id"),
                    ("name", "name"),
                    ("ram", "ram"),
                    ("vcpus", "vcpus"),
                    ("disk", "disk"),
                    ("OS-FLV-EXT-DATA:ephemeral", "OS-FLV-EXT-DATA:ephemeral"),
                    ("rxtx_factor", "rxtx_factor"),
                    ("os-flavor-access:is_public", "os-flavor-access:is_public"),
                    ("description", "description"),
                ],
            );
            if let Some(swap) = f["swap"].as_i64() {
                entry.insert("swap".into(), json!(swap));
            }
            if f["extra_specs"].as_object().is_some_and(|s| !s.is_empty()) {
                entry.insert("extra_specs".into(), f["extra_specs"].clone());
            }
            entry
        })
        .collect())
}

/// Glance's own image fields, which are not properties.
const IMAGE_FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "size",
    "virtual_size",
    "disk_format",
    "container_format",
    "owner",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
];

async fn images(api: &Api, admin: &str, names: &Names) -> Result<Vec<Map<String, Value>>, String> {
    let own = api
        .state()
        .images()
        .bootstrap_image_id()
        .await
        .map_err(|e| e.to_string())?;
    let listed = api.get("/image/v2/images?limit=1000", admin, None).await?;
    Ok(listed["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["id"].as_str() != own.as_deref())
        .map(|i| {
            let mut entry = pick(
                i,
                &[
                    ("id", "id"),
                    ("name", "name"),
                    ("visibility", "visibility"),
                    ("protected", "protected"),
                    ("min_disk", "min_disk"),
                    ("min_ram", "min_ram"),
                    ("disk_format", "disk_format"),
                    ("container_format", "container_format"),
                    ("size", "size"),
                ],
            );
            if i["tags"].as_array().is_some_and(|t| !t.is_empty()) {
                entry.insert("tags".into(), i["tags"].clone());
            }
            for (key, value) in i.as_object().into_iter().flatten() {
                if !IMAGE_FIELDS.contains(&key.as_str()) {
                    entry.insert(key.clone(), value.clone());
                }
            }
            if let Some(owner) = i["owner"].as_str() {
                entry.insert("project".into(), json!(names.project(owner)));
            }
            entry
        })
        .collect())
}

async fn keypairs(api: &Api, names: &Names) -> Result<Vec<SeedKeypair>, String> {
    let all = api
        .state()
        .compute()
        .every_key_pair()
        .await
        .map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .map(|k| SeedKeypair {
            name: k.name,
            user: names.user(&k.user_id),
            public_key: k.public_key,
            key_type: Some(k.key_type.to_string()),
        })
        .collect())
}

/// The statuses a seed can give a server.
const SEEDABLE: &[&str] = &[
    "ACTIVE",
    "SHUTOFF",
    "PAUSED",
    "SUSPENDED",
    "SHELVED_OFFLOADED",
    "ERROR",
];

/// Servers with their states, networks (by name, from their ports) and
/// security groups other than `default`.
async fn servers(
    api: &Api,
    admin: &str,
    names: &Names,
    networks: &HashMap<String, Vec<String>>,
) -> Result<Vec<Map<String, Value>>, String> {
    let mut entries = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut path = "/compute/v2.1/servers/detail?all_tenants=1&limit=1000".to_owned();
        if let Some(m) = &marker {
            path.push_str(&format!("&marker={m}"));
        }
        let listed = api.get(&path, admin, Some("2.47")).await?;
        let page = listed["servers"].as_array().cloned().unwrap_or_default();
        for s in &page {
            let mut entry = pick(s, &[("name", "name"), ("key_name", "key_name")]);
            entry.insert(
                "project".into(),
                json!(names.project(s["tenant_id"].as_str().unwrap_or_default())),
            );
            entry.insert(
                "user".into(),
                json!(names.user(s["user_id"].as_str().unwrap_or_default())),
            );
            entry.insert("flavor".into(), s["flavor"]["original_name"].clone());
            if let Some(image) = s["image"]["id"].as_str() {
                entry.insert("image".into(), json!(image));
            }
            if s["metadata"].as_object().is_some_and(|m| !m.is_empty()) {
                entry.insert("metadata".into(), s["metadata"].clone());
            }
            let id = s["id"].as_str().unwrap_or_default();
            entry.insert(
                "networks".into(),
                networks.get(id).map_or(json!("none"), |n| json!(n)),
            );
            let mut groups: Vec<&Value> = Vec::new();
            for group in s["security_groups"].as_array().into_iter().flatten() {
                if !groups.contains(&&group["name"]) {
                    groups.push(&group["name"]);
                }
            }
            if groups.iter().any(|g| *g != "default") {
                entry.insert("security_groups".into(), json!(groups));
            }
            let status = s["status"].as_str().unwrap_or("ACTIVE");
            let status = if SEEDABLE.contains(&status) {
                status
            } else {
                "ACTIVE"
            };
            entry.insert("status".into(), json!(status));
            entries.push(entry);
        }
        marker = match page.last() {
            Some(last) if page.len() == 1000 => last["id"].as_str().map(str::to_owned),
            _ => break,
        };
    }
    Ok(entries)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    /// `yaml` for YAML; JSON otherwise.
    format: Option<String>,
}

/// `GET /_oxstack/snapshot[?format=yaml]`: the cloud as a seed.
pub(super) async fn get_snapshot(
    axum::extract::State(state): axum::extract::State<AppState>,
    _admin: super::ControlAdmin,
    axum::extract::Query(query): axum::extract::Query<SnapshotQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let seed = match take(&state).await {
        Ok(seed) => seed,
        Err(why) => return super::error(http::StatusCode::INTERNAL_SERVER_ERROR, why),
    };
    match query.format.as_deref() {
        Some("yaml") => match serde_yaml_ng::to_string(&seed) {
            Ok(text) => ([(http::header::CONTENT_TYPE, "application/yaml")], text).into_response(),
            Err(e) => super::error(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Some("json") | None => axum::Json(seed).into_response(),
        Some(other) => super::error(
            http::StatusCode::BAD_REQUEST,
            format!("Unknown format {other}: json or yaml."),
        ),
    }
}
