//! Test harness: starts the real `oxstack` binary on an ephemeral port with
//! a scratch data directory and talks HTTP to it, as a user would.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// A running `oxstack serve`.
pub struct Server {
    pub base: String,
    child: Child,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// Extra settings for a server.
#[derive(Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    /// TOML written to a config file passed with `--config`.
    pub config_toml: Option<String>,
    pub database_url: Option<String>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(data_dir, options).await
    }

    /// Starts a server on an existing data directory (for restart tests).
    pub async fn start_in(data_dir: tempfile::TempDir, options: Options) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_oxstack"));
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--log-level")
            .arg("warn")
            .args(&options.args)
            .env_remove("OXSTACK_CONFIG")
            .env_remove("OXSTACK_DATABASE_URL")
            .env_remove("OXSTACK_AUTH")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &options.database_url {
            command.arg("--database-url").arg(url);
        }
        if let Some(toml) = &options.config_toml {
            let path = data_dir.path().join("test-config.toml");
            std::fs::write(&path, toml).expect("write config");
            command.arg("--config").arg(path);
        }
        let mut child = command.spawn().expect("spawn oxstack");
        let line = first_line(&mut child).await;
        let base = line
            .trim()
            .strip_prefix("oxstack listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            base,
            child,
            data_dir,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for a clean exit; returns the data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "oxstack exited with {status}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "oxstack did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.data_dir, dir)
    }

    /// Issues a project-scoped token by user and project name.
    pub async fn token(&self, user: &str, password: &str, project: &str) -> String {
        let response = self
            .post_token(password_auth(user, password, Some(project)))
            .await;
        assert_eq!(
            response.status(),
            201,
            "token for {user}: {}",
            response.text().await.unwrap_or_default()
        );
        subject_token(&response)
    }

    pub async fn admin_token(&self) -> String {
        self.token("admin", "admin", "admin").await
    }

    pub async fn post_token(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/identity/v3/auth/tokens"))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("X-Auth-Token", token)
            .send()
            .await
            .expect("request")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line the process prints once it is ready (within 30 s).
async fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        line
    });
    tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("oxstack did not start within 30 s")
        .expect("reader")
}

/// A running `oxstack compute --host NAME`: one more compute host of a
/// cloud on PostgreSQL.
pub struct Agent {
    child: Child,
    _data_dir: tempfile::TempDir,
}

impl Agent {
    pub async fn start(host: &str, database_url: &str, config_toml: &str) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let config = data_dir.path().join("agent.toml");
        std::fs::write(&config, config_toml).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxstack"))
            .args(["compute", "--host", host, "--log-level", "warn"])
            .arg("--database-url")
            .arg(database_url)
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--config")
            .arg(&config)
            .env_remove("OXSTACK_CONFIG")
            .env_remove("OXSTACK_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn oxstack compute");
        let line = first_line(&mut child).await;
        assert_eq!(line.trim(), format!("oxstack compute host {host} running"));
        Self {
            child,
            _data_dir: data_dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A password-method auth body for a Default-domain user, optionally
/// scoped to a Default-domain project by name.
pub fn password_auth(user: &str, password: &str, project: Option<&str>) -> Value {
    let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}});
    if let Some(project) = project {
        body["auth"]["scope"] =
            json!({"project": {"name": project, "domain": {"name": "Default"}}});
    }
    body
}

pub fn subject_token(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-subject-token")
        .expect("X-Subject-Token header")
        .to_str()
        .expect("ascii")
        .to_owned()
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// All values of a repeated header.
pub fn header_all(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

pub async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A new empty database for `test` on the PostgreSQL server CI (or the
/// developer) names in `OXSTACK_TEST_POSTGRES_URL`; `None`, with a note,
/// when none is named.
pub async fn scratch_postgres_database(test: &str) -> Option<String> {
    let Some(server) = std::env::var("OXSTACK_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("NOTE: OXSTACK_TEST_POSTGRES_URL unset: {test} not run on PostgreSQL");
        return None;
    };
    let url = oxstack_store::create_scratch_postgres_database(&server)
        .await
        .expect("scratch database");
    Some(url)
}

/// A compute API client speaking as one noauth caller at one microversion.
pub struct Compute<'a> {
    pub server: &'a Server,
    pub token: String,
    pub version: String,
}

impl Server {
    /// Requests as `user:project` (noauth mode) at `version`.
    pub fn compute(&self, token: &str, version: &str) -> Compute<'_> {
        Compute {
            server: self,
            token: token.to_owned(),
            version: version.to_owned(),
        }
    }

    /// A noauth embedded cloud of `hosts` simulated hosts: `alpha`,
    /// `alpha-2`, ...
    pub async fn start_noauth_hosts(hosts: u32) -> Self {
        Self::start_with(Options {
            args: vec![
                "--auth".into(),
                "noauth".into(),
                "--host".into(),
                "alpha".into(),
                "--fake-hosts".into(),
                hosts.to_string(),
            ],
            ..Default::default()
        })
        .await
    }

    /// A server in noauth mode (compute API tests do not need keystone).
    pub async fn start_noauth() -> Self {
        Self::start_with(Options::noauth(None)).await
    }
}

impl Options {
    /// noauth mode, on `database_url` (`None`: SQLite in the data
    /// directory).
    pub fn noauth(database_url: Option<String>) -> Self {
        Self {
            args: vec!["--auth".into(), "noauth".into()],
            database_url,
            ..Default::default()
        }
    }
}

impl Compute<'_> {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.server
            .http
            .request(method, self.server.url(&format!("/compute/v2.1{path}")))
            .header("X-Auth-Token", &self.token)
            .header("OpenStack-API-Version", format!("compute {}", self.version))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::DELETE, path)
            .send()
            .await
            .expect("request")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, body).await
    }

    /// GET expecting 200 and returning the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let response = self.get(path).await;
        let status = response.status();
        let body = json_of(response).await;
        assert_eq!(status, 200, "GET {path} at {}: {body}", self.version);
        body
    }
}

/// Asserts a Nova fault: status, fault key and message.
pub async fn assert_fault(response: reqwest::Response, status: u16, message: &str) {
    let got = response.status().as_u16();
    let body = json_of(response).await;
    assert_eq!(got, status, "{body}");
    let fault = body
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(fault["code"], status, "{body}");
    assert_eq!(fault["message"], message, "{body}");
}

/// The id of the bootstrap `cirros` image (noauth admin).
pub async fn cirros(server: &Server) -> String {
    let images = server
        .http
        .get(server.url("/image/v2/images"))
        .header("X-Auth-Token", "admin:admin")
        .send()
        .await
        .expect("request");
    json_of(images).await["images"][0]["id"]
        .as_str()
        .expect("an image")
        .to_owned()
}

/// Creates `count` servers of the `cirros` image into server group
/// `group` (the `group` scheduler hint) in one request; their ids, in
/// launch order.
pub async fn boot_into_group(
    c: &Compute<'_>,
    image: &str,
    name: &str,
    group: &str,
    count: u32,
) -> Vec<String> {
    let body = serde_json::json!({
        "server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "none",
                   "min_count": count, "return_reservation_id": true},
        "os:scheduler_hints": {"group": group},
    });
    let response = c.post("/servers", &body).await;
    let status = response.status();
    let created = json_of(response).await;
    assert_eq!(status, 202, "{created}");
    let rid = created["reservation_id"]
        .as_str()
        .expect("a reservation id");
    let listed = c
        .get_ok(&format!(
            "/servers/detail?reservation_id={rid}&sort_key=launch_index&sort_dir=asc"
        ))
        .await;
    listed["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Polls until the server is gone (404).
pub async fn wait_gone(c: &Compute<'_>, id: &str) {
    for _ in 0..500 {
        if c.get(&format!("/servers/{id}")).await.status() == 404 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server {id} was never deleted");
}

/// Polls the server (as `c` sees it) until its status is `status` with no
/// task in progress; returns it.
pub async fn settled(c: &Compute<'_>, id: &str, status: &str) -> Value {
    for _ in 0..750 {
        let server = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
        if server["status"] == status && server["OS-EXT-STS:task_state"].is_null() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server {id} never became {status}");
}

/// An object's keys, sorted.
pub fn keys_of(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// A networking (Neutron v2.0) client speaking as one noauth caller.
pub struct Neutron<'a> {
    pub server: &'a Server,
    pub token: String,
}

impl Server {
    /// Networking requests as `user:project` (noauth mode).
    pub fn neutron(&self, token: &str) -> Neutron<'_> {
        Neutron {
            server: self,
            token: token.to_owned(),
        }
    }
}

impl Neutron<'_> {
    /// Sends a request to `/network/v2.0{path}`; returns status and body
    /// (`null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self
            .server
            .http
            .request(method, self.server.url(&format!("/network/v2.0{path}")))
            .header("X-Auth-Token", &self.token);
        send_json(request, body).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// GET expecting 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST expecting 201; returns the created resource (under `key`).
    pub async fn create(&self, path: &str, key: &str, resource: Value) -> Value {
        let (status, body) = self.post(path, json!({ key: resource })).await;
        assert_eq!(status, 201, "POST {path}: {body}");
        body[key].clone()
    }
}

/// Sends a request with an optional JSON body; its status and body
/// (`null` when empty, a string when not JSON).
pub async fn send_json(mut request: reqwest::RequestBuilder, body: Option<Value>) -> (u16, Value) {
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// A block storage (Cinder v3) client speaking as one noauth caller at
/// one volume microversion.
pub struct Cinder<'a> {
    pub server: &'a Server,
    pub token: String,
    pub version: String,
}

impl Server {
    /// Volume requests as `user:project` (noauth mode) at `volume version`.
    pub fn cinder(&self, token: &str, version: &str) -> Cinder<'_> {
        Cinder {
            server: self,
            token: token.to_owned(),
            version: version.to_owned(),
        }
    }
}

impl Cinder<'_> {
    /// Sends a request to `/volume/v3{path}`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self
            .server
            .http
            .request(method, self.server.url(&format!("/volume/v3{path}")))
            .header("X-Auth-Token", &self.token)
            .header("OpenStack-API-Version", format!("volume {}", self.version));
        send_json(request, body).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// GET expecting 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Creates a volume (202) and waits until it is available.
    pub async fn volume(&self, body: Value) -> Value {
        let (status, made) = self.post("/volumes", json!({ "volume": body })).await;
        assert_eq!(status, 202, "{made}");
        let id = made["volume"]["id"].as_str().expect("id").to_owned();
        self.wait_volume(&id, "available").await
    }

    /// Polls a volume until its status is `status`; returns it.
    pub async fn wait_volume(&self, id: &str, status: &str) -> Value {
        for _ in 0..500 {
            let volume = self.get_ok(&format!("/volumes/{id}")).await["volume"].clone();
            if volume["status"] == status {
                return volume;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("volume {id} never became {status}");
    }
}

/// Asserts a Nova-style (Cinder's too) fault from a status and body.
pub fn assert_cinder(got: &(u16, Value), status: u16, message: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    let fault = got
        .1
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(fault["code"], status, "{}", got.1);
    assert_eq!(fault["message"], message, "{}", got.1);
}

/// Asserts a Neutron error: status, type and message.
pub fn assert_neutron(got: &(u16, Value), status: u16, kind: &str, message: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["NeutronError"]["type"], kind, "{}", got.1);
    assert_eq!(got.1["NeutronError"]["message"], message, "{}", got.1);
}
