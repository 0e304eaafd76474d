//! Seeds: a declaration of projects, users, flavors, images, key pairs,
//! networks, routers, security groups and servers (each in a given state)
//! that the control plane makes through the cloud's own APIs — `oxstack
//! serve --seed FILE` at start, or `POST /_oxstack/seed` — so that a test
//! suite starts from a known cloud. `GET /_oxstack/snapshot` writes the same format. Applying a
//! seed twice changes nothing the second time: what exists (by name, or
//! id where one is given) is left as it is.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Method, StatusCode};
use oxstack_compute::model::states::{PowerState, VmState};
use oxstack_compute::servers::ForcedState;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::internal::Api;
use crate::AppState;

/// A seed, as a file or a request body holds it (YAML or JSON).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<SeedProject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<SeedUser>,
    /// Bodies of `POST /flavors` (`name`, `ram`, `vcpus`, `disk`, `id`,
    /// ...) with their `extra_specs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flavors: Vec<Map<String, Value>>,
    /// Bodies of Glance's `POST /v2/images` with `project` (the owner's
    /// name; default the admin project) and `size` (bytes of data,
    /// default 1 MiB; a qcow2 image gets an empty qcow2 disk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keypairs: Vec<SeedKeypair>,
    /// Bodies of Neutron's `POST /v2.0/networks` with `project` (the
    /// owner's name; default the admin project) and `subnets` (bodies of
    /// `POST /v2.0/subnets`, each with a `name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Map<String, Value>>,
    /// Bodies of `POST /v2.0/routers` with `project`, `external_network`
    /// (the gateway's network, by name) and `interfaces` (subnet names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<Map<String, Value>>,
    /// Bodies of `POST /v2.0/security-groups` with `project` and `rules`
    /// (bodies of `POST /v2.0/security-group-rules` without the group;
    /// `remote_group` names a group of the same project). A group named
    /// `default` is the project's own, which Neutron makes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<Map<String, Value>>,
    /// Bodies of `POST /servers`' `server` with `project` and `user`
    /// (names), `flavor` and `image` (names or ids, for `flavorRef` and
    /// `imageRef`), `networks` (Nova's, or network names), `security_groups`
    /// (names) and `status` (ACTIVE, SHUTOFF, PAUSED, SUSPENDED,
    /// SHELVED_OFFLOADED or ERROR; default ACTIVE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Map<String, Value>>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedProject {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The default project's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Role names by project name; default `member` and `reader` on
    /// `project`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedKeypair {
    pub name: String,
    /// The owner's name.
    pub user: String,
    pub public_key: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
}

impl Seed {
    /// A seed from YAML or JSON text (JSON is YAML).
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let document: Value =
            serde_yaml_ng::from_slice(text).map_err(|e| format!("Invalid seed: {e}"))?;
        serde_json::from_value(document).map_err(|e| format!("Invalid seed: {e}"))
    }
}

/// How many of each kind a seed made, and how many were there already.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub created: usize,
    pub existing: usize,
}

impl Tally {
    pub(super) fn count(&mut self, created: bool) {
        if created {
            self.created += 1;
        } else {
            self.existing += 1;
        }
    }
}

/// What applying a seed did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Seeded {
    pub projects: Tally,
    pub users: Tally,
    pub flavors: Tally,
    pub images: Tally,
    pub keypairs: Tally,
    pub networks: Tally,
    pub subnets: Tally,
    pub routers: Tally,
    pub security_groups: Tally,
    pub security_group_rules: Tally,
    pub servers: Vec<SeededServer>,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeededServer {
    pub name: String,
    pub id: String,
    pub status: String,
    pub created: bool,
}

/// How long a seeded server may take to reach its state.
const SETTLE: Duration = Duration::from_secs(60);

/// The microversion seeded servers and key pairs are made at.
const COMPUTE_VERSION: &str = "2.74";

/// Makes what `seed` declares that does not exist yet.
pub async fn apply(state: &AppState, seed: &Seed) -> Result<Seeded, String> {
    let started = Instant::now();
    for server in &seed.servers {
        action_to(&status_of(server))?;
    }
    let api = Api::new(state);
    let admin = api.admin_token().await?;
    let mut seeded = Seeded::default();
    if api.keystone() {
        for project in &seed.projects {
            seeded
                .projects
                .count(make_project(&api, &admin, project).await?);
        }
        for user in &seed.users {
            seeded.users.count(make_user(&api, &admin, user).await?);
        }
    } else if !seed.projects.is_empty() || !seed.users.is_empty() {
        return Err(
            "Projects and users are Keystone's: this cloud runs without it (noauth), \
                    where any project or user name is valid as it is."
                .into(),
        );
    }
    for flavor in &seed.flavors {
        seeded
            .flavors
            .count(make_flavor(&api, &admin, flavor).await?);
    }
    for image in &seed.images {
        seeded.images.count(make_image(&api, &admin, image).await?);
    }
    for keypair in &seed.keypairs {
        seeded
            .keypairs
            .count(make_keypair(&api, &admin, keypair).await?);
    }
    super::seed_networks::apply(&api, &admin, seed, &mut seeded).await?;
    let mut pending = Vec::new();
    for server in &seed.servers {
        pending.push(make_server(&api, &admin, server).await?);
    }
    for (made, status, token) in pending {
        seeded
            .servers
            .push(settle(&api, made, &status, &token).await?);
    }
    seeded.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        servers = seeded.servers.len(),
        seconds = seeded.seconds,
        "seed applied"
    );
    Ok(seeded)
}

/// A string field of an entry.
fn text<'a>(entry: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    entry.get(key).and_then(Value::as_str)
}

fn required<'a>(entry: &'a Map<String, Value>, key: &str, kind: &str) -> Result<&'a str, String> {
    text(entry, key).ok_or_else(|| format!("A seeded {kind} needs a {key}: {}", json!(entry)))
}

/// Whether an answer made something (`false`: it existed already).
fn made(what: &str, (status, body): (StatusCode, Value)) -> Result<bool, String> {
    match status {
        s if s.is_success() => Ok(true),
        StatusCode::CONFLICT => Ok(false),
        s => Err(format!("Seeding {what} failed ({s}): {body}")),
    }
}

async fn make_project(api: &Api, admin: &str, project: &SeedProject) -> Result<bool, String> {
    let body = json!({"project": {"name": project.name,
                                  "description": project.description.clone().unwrap_or_default()}});
    let answer = api
        .send(Method::POST, "/identity/v3/projects", admin, None, &body)
        .await?;
    made(&format!("project {}", project.name), answer)
}

async fn make_user(api: &Api, admin: &str, user: &SeedUser) -> Result<bool, String> {
    let mut body = json!({"name": user.name});
    if let Some(password) = &user.password {
        body["password"] = json!(password);
    }
    if let Some(project) = &user.project {
        body["default_project_id"] = json!(api.project_id(project).await?);
    }
    let answer = api
        .send(
            Method::POST,
            "/identity/v3/users",
            admin,
            None,
            &json!({ "user": body }),
        )
        .await?;
    let created = made(&format!("user {}", user.name), answer)?;
    let user_id = api.user_id(&user.name).await?;
    let mut roles = user.roles.clone();
    if roles.is_empty()
        && let Some(project) = &user.project
    {
        roles.insert(project.clone(), vec!["member".into(), "reader".into()]);
    }
    for (project, names) in &roles {
        let project_id = api.project_id(project).await?;
        for name in names {
            let listed = api
                .get(
                    &format!("/identity/v3/roles?{}", query("name", name)),
                    admin,
                    None,
                )
                .await?;
            let role = listed["roles"][0]["id"]
                .as_str()
                .ok_or_else(|| format!("No role {name}."))?;
            let path = format!("/identity/v3/projects/{project_id}/users/{user_id}/roles/{role}");
            let (status, body) = api.call(Method::PUT, &path, admin, None, None).await?;
            if !status.is_success() {
                return Err(format!(
                    "Granting {name} on {project} to {} failed ({status}): {body}",
                    user.name
                ));
            }
        }
    }
    Ok(created)
}

async fn make_flavor(api: &Api, admin: &str, flavor: &Map<String, Value>) -> Result<bool, String> {
    let name = required(flavor, "name", "flavor")?;
    let mut body = flavor.clone();
    let specs = body.remove("extra_specs");
    let answer = api
        .send(
            Method::POST,
            "/compute/v2.1/flavors",
            admin,
            Some("2.55"),
            &json!({ "flavor": body }),
        )
        .await?;
    let id = answer.1["flavor"]["id"].as_str().map(str::to_owned);
    let created = made(&format!("flavor {name}"), answer)?;
    if let (Some(id), Some(specs)) = (id, specs.filter(|_| created)) {
        let answer = api
            .send(
                Method::POST,
                &format!("/compute/v2.1/flavors/{id}/os-extra_specs"),
                admin,
                None,
                &json!({ "extra_specs": specs }),
            )
            .await?;
        made(&format!("extra specs of flavor {name}"), answer)?;
    }
    Ok(created)
}

/// The data of a seeded image: an empty disk of its format.
fn image_data(format: Option<&str>, size: u64) -> Vec<u8> {
    match format {
        Some("qcow2") => oxstack_virt::qcow2::empty(size.max(1 << 30)),
        _ => vec![0; usize::try_from(size).unwrap_or(1 << 20)],
    }
}

/// The id of the project a seed entry names (default: the admin's).
pub(super) async fn owner(api: &Api, project: Option<String>) -> Result<String, String> {
    match project {
        Some(project) => api.project_id(&project).await,
        None => api
            .state()
            .identity()
            .admin_project_id()
            .await
            .map_err(|e| e.to_string()),
    }
}

async fn make_image(api: &Api, admin: &str, image: &Map<String, Value>) -> Result<bool, String> {
    let name = required(image, "name", "image")?;
    let mut body = image.clone();
    let project = body
        .remove("project")
        .and_then(|p| p.as_str().map(str::to_owned));
    let size = body
        .remove("size")
        .and_then(|s| s.as_u64())
        .unwrap_or(1 << 20);
    let exists = match text(image, "id") {
        Some(id) => {
            let path = format!("/image/v2/images/{id}");
            api.call(Method::GET, &path, admin, None, None).await?.0 == StatusCode::OK
        }
        None => {
            let listed = api
                .get(
                    &format!("/image/v2/images?{}", query("name", name)),
                    admin,
                    None,
                )
                .await?;
            listed["images"].as_array().is_some_and(|a| !a.is_empty())
        }
    };
    if exists {
        return Ok(false);
    }
    let owner = owner(api, project).await?;
    body.insert("owner".into(), json!(owner));
    let (status, created) = api
        .send(
            Method::POST,
            "/image/v2/images",
            admin,
            None,
            &Value::Object(body),
        )
        .await?;
    made(&format!("image {name}"), (status, created.clone()))?;
    let id = created["id"].as_str().unwrap_or_default();
    let data = image_data(text(image, "disk_format"), size);
    let path = format!("/image/v2/images/{id}/file");
    let upload = Some((Body::from(data), "application/octet-stream"));
    let (status, body) = api.call(Method::PUT, &path, admin, None, upload).await?;
    if !status.is_success() {
        return Err(format!("Uploading image {name} failed ({status}): {body}"));
    }
    Ok(true)
}

async fn make_keypair(api: &Api, admin: &str, keypair: &SeedKeypair) -> Result<bool, String> {
    let mut body = json!({"name": keypair.name, "public_key": keypair.public_key,
                          "user_id": api.user_id(&keypair.user).await?});
    if let Some(kind) = &keypair.key_type {
        body["type"] = json!(kind);
    }
    let answer = api
        .send(
            Method::POST,
            "/compute/v2.1/os-keypairs",
            admin,
            Some("2.10"),
            &json!({ "keypair": body }),
        )
        .await?;
    made(&format!("key pair {}", keypair.name), answer)
}

/// The id of a flavor or image named by id or name, from a listing.
fn resolve(listing: &Value, key: &str, wanted: &str) -> Option<String> {
    let items = listing[key].as_array()?;
    items
        .iter()
        .find(|i| i["id"] == wanted)
        .or_else(|| items.iter().find(|i| i["name"] == wanted))
        .and_then(|i| i["id"].as_str().map(str::to_owned))
}

/// A server, made or found: (its id and name, whether made), the status
/// it must reach, and the token of its owner.
type Pending = ((String, String, bool), String, String);

async fn make_server(
    api: &Api,
    admin: &str,
    server: &Map<String, Value>,
) -> Result<Pending, String> {
    let name = required(server, "name", "server")?.to_owned();
    let mut body = server.clone();
    let mut take = |key: &str| body.remove(key).and_then(|v| v.as_str().map(str::to_owned));
    let project =
        take("project").unwrap_or(api.state().identity().bootstrap_config().admin_project);
    let user = match take("user") {
        Some(user) => user,
        None => default_user(api, &project).await?,
    };
    let status = status_of(server);
    let flavor = take("flavor");
    let image = take("image");
    take("status");
    let token = api.token(&user, &project).await?;
    // Nova's name filter is a regular expression: the name, escaped and
    // anchored (and the exact name picked out of what matches).
    let pattern = format!("^{}$", fancy_regex::escape(&name));
    let listed = api
        .get(
            &format!("/compute/v2.1/servers?{}", query("name", &pattern)),
            &token,
            Some(COMPUTE_VERSION),
        )
        .await?;
    let existing = listed["servers"]
        .as_array()
        .and_then(|servers| servers.iter().find(|s| s["name"] == name.as_str()))
        .and_then(|s| s["id"].as_str());
    if let Some(id) = existing {
        return Ok(((id.to_owned(), name, false), status, token));
    }
    if let Some(flavor) = flavor {
        let flavors = api.get("/compute/v2.1/flavors", &token, None).await?;
        let id = resolve(&flavors, "flavors", &flavor).ok_or(format!("No flavor {flavor}."))?;
        body.insert("flavorRef".into(), json!(id));
    }
    if let Some(image) = image {
        let images = api.get("/image/v2/images?limit=1000", &token, None).await?;
        let id = resolve(&images, "images", &image).ok_or(format!("No image {image}."))?;
        body.insert("imageRef".into(), json!(id));
    }
    body.entry("networks").or_insert(json!("auto"));
    super::seed_networks::server_fields(api, admin, &mut body, &project).await?;
    let (code, created) = api
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(COMPUTE_VERSION),
            &json!({ "server": body }),
        )
        .await?;
    if code != StatusCode::ACCEPTED {
        return Err(format!("Seeding server {name} failed ({code}): {created}"));
    }
    let id = created["server"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(((id, name, true), status, token))
}

/// The user a project's seeded servers belong to when the seed names
/// none: the admin for the admin project, else the first user with a
/// role there.
async fn default_user(api: &Api, project: &str) -> Result<String, String> {
    let cfg = api.state().identity().bootstrap_config();
    if !api.keystone() || project == cfg.admin_project {
        return Ok(cfg.admin_user);
    }
    let identity = api.state().identity();
    let filter = oxstack_identity::AssignmentFilter {
        project_id: Some(api.project_id(project).await?),
        ..Default::default()
    };
    let grants = identity
        .list_assignments(&filter)
        .await
        .map_err(|e| e.to_string())?;
    let Some(grant) = grants.first() else {
        return Err(format!(
            "Project {project} has no user to own its servers: give `user`."
        ));
    };
    let user = identity
        .get_user(&grant.user_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(user.name)
}

/// `?key=value` with the value encoded.
fn query(key: &str, value: &str) -> String {
    serde_urlencoded::to_string([(key, value)]).unwrap_or_default()
}

/// The status a seeded server is to have.
fn status_of(server: &Map<String, Value>) -> String {
    text(server, "status").unwrap_or("ACTIVE").to_uppercase()
}

/// The action that takes an ACTIVE server to `status`.
fn action_to(status: &str) -> Result<Option<Value>, String> {
    Ok(match status {
        "ACTIVE" | "ERROR" => None,
        "SHUTOFF" => Some(json!({"os-stop": null})),
        "PAUSED" => Some(json!({"pause": null})),
        "SUSPENDED" => Some(json!({"suspend": null})),
        "SHELVED_OFFLOADED" => Some(json!({"shelve": null})),
        other => {
            return Err(format!(
                "A seeded server's status is ACTIVE, SHUTOFF, PAUSED, SUSPENDED, \
                 SHELVED_OFFLOADED or ERROR, not {other}."
            ));
        }
    })
}

/// Waits until the server has status `wanted` with no task.
async fn wait_for(api: &Api, id: &str, wanted: &str, token: &str) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let shown = api
            .get(&format!("/compute/v2.1/servers/{id}"), token, None)
            .await?;
        let status = shown["server"]["status"].as_str().unwrap_or_default();
        if status == wanted && shown["server"]["OS-EXT-STS:task_state"].is_null() {
            return Ok(());
        }
        if status == "ERROR" {
            return Err(format!(
                "Seeded server {id} went to ERROR: {}",
                shown["server"]["fault"]
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "Seeded server {id} did not become {wanted} in time."
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Takes a new server to its status.
async fn settle(
    api: &Api,
    (id, name, created): (String, String, bool),
    status: &str,
    token: &str,
) -> Result<SeededServer, String> {
    let action = action_to(status)?;
    if created {
        wait_for(api, &id, "ACTIVE", token).await?;
        if let Some(action) = action {
            let path = format!("/compute/v2.1/servers/{id}/action");
            let (code, body) = api.send(Method::POST, &path, token, None, &action).await?;
            if !code.is_success() {
                return Err(format!(
                    "Seeding server {name} as {status} failed ({code}): {body}"
                ));
            }
            wait_for(api, &id, status, token).await?;
        } else if status == "ERROR" {
            let forced = ForcedState {
                vm_state: Some(VmState::Error),
                task_state: Some(None),
                power_state: Some(PowerState::Shutdown),
            };
            api.state()
                .compute()
                .force_server_state(&id, &forced)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(SeededServer {
        name,
        id,
        status: status.to_owned(),
        created,
    })
}

/// `POST /_oxstack/seed` with a seed (YAML or JSON): makes what it
/// declares that does not exist yet; answers what it did.
pub(super) async fn post_seed(
    axum::extract::State(state): axum::extract::State<AppState>,
    _admin: super::ControlAdmin,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let seed = match Seed::parse(&body) {
        Ok(seed) => seed,
        Err(why) => return super::error(StatusCode::BAD_REQUEST, why),
    };
    match apply(&state, &seed).await {
        Ok(seeded) => axum::Json(json!({ "seeded": seeded })).into_response(),
        Err(why) => super::error(StatusCode::BAD_REQUEST, why),
    }
}
