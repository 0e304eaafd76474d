//! `GET /limits`: the caller's (or, for admins, `?tenant_id=`'s) absolute
//! limits and usage, with the keys each microversion has
//! (`views/limits.py`). Rate limits are always empty, as in Nova.

use axum::Json;
use axum::extract::State;
use oxstack_compute::quotas::Resource;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::request::Req;
use crate::AppState;
use crate::compute::microversion::mv;

fn query_schema(req: &Req) -> Value {
    json!({
        "type": "object",
        "properties": {"tenant_id": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": !req.at_least(mv::STRICT_QUERIES),
    })
}

pub async fn show_limits(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&query_schema(&req))?;
    // Naming a project, even one's own, is the admin's `other_project` rule.
    let project = match req.param("tenant_id") {
        Some(named) => {
            req.authorize("os_compute_api:limits:other_project", Rule::Admin)?;
            named.to_owned()
        }
        None => req.ctx.project_id.clone(),
    };
    let limits = state.compute().quota_limits(&project).await?;
    let usage = state.compute().quota_usage(&project).await?;
    let limit = |r: Resource| json!(limits.get(&r).copied().unwrap_or(-1));

    let mut absolute = Map::new();
    let mut put = |key: &str, value: Value| {
        absolute.insert(key.to_owned(), value);
    };
    put("maxTotalCores", limit(Resource::Cores));
    if !req.at_least(mv::REBUILD_USER_DATA) {
        put("maxPersonality", limit(Resource::InjectedFiles));
        put(
            "maxPersonalitySize",
            limit(Resource::InjectedFileContentBytes),
        );
    }
    put("maxTotalInstances", limit(Resource::Instances));
    put("maxTotalKeypairs", limit(Resource::KeyPairs));
    put("maxServerMeta", limit(Resource::MetadataItems));
    if !req.at_least(mv::NO_IMAGE_METADATA) {
        put("maxImageMeta", limit(Resource::MetadataItems));
    }
    put("maxTotalRAMSize", limit(Resource::Ram));
    put("maxServerGroups", limit(Resource::ServerGroups));
    put("maxServerGroupMembers", limit(Resource::ServerGroupMembers));
    let network_era = !req.at_least(mv::NO_PROXIES);
    if network_era {
        put("maxTotalFloatingIps", limit(Resource::FloatingIps));
        put("maxSecurityGroups", limit(Resource::SecurityGroups));
        put("maxSecurityGroupRules", limit(Resource::SecurityGroupRules));
    }
    put("totalRAMUsed", json!(usage.ram));
    put("totalCoresUsed", json!(usage.cores));
    put("totalInstancesUsed", json!(usage.instances));
    if network_era {
        put("totalFloatingIpsUsed", json!(0));
        put("totalSecurityGroupsUsed", json!(0));
    }
    put("totalServerGroupsUsed", json!(usage.server_groups));
    Ok(Json(json!({"limits": {"rate": [], "absolute": absolute}})))
}
