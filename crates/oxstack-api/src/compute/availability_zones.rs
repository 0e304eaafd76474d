//! `GET /os-availability-zone` (anyone) and `/os-availability-zone/detail`
//! (admins): the zones of the compute hosts. A zone is available while one
//! of its hosts is enabled; the detail lists each enabled host's service
//! with whether it is up.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::request::Req;
use super::servers::views::naive_time;
use crate::AppState;
use crate::compute::microversion::mv;

/// Every zone, available ones first, each with what `hosts` shows for it
/// (`None`: `null`).
type Zones = Vec<(String, bool, Option<Map<String, Value>>)>;

async fn zones(state: &AppState, detailed: bool) -> Result<Zones, NovaError> {
    let compute = state.compute();
    let services = compute.list_services().await?;
    let mut hosts: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for s in services.iter().filter(|s| !s.disabled) {
        let service = json!({"nova-compute": {
            "available": s.up,
            "active": true,
            "updated_at": naive_time(Some(s.updated_at)),
        }});
        hosts
            .entry(s.zone.clone())
            .or_default()
            .insert(s.host.clone(), service);
    }
    let mut out: Zones = hosts
        .into_iter()
        .map(|(zone, hosts)| (zone, true, detailed.then_some(hosts)))
        .collect();
    let mut unavailable: Vec<String> = services
        .iter()
        .filter(|s| s.disabled && !out.iter().any(|(zone, ..)| *zone == s.zone))
        .map(|s| s.zone.clone())
        .collect();
    unavailable.sort();
    unavailable.dedup();
    out.extend(unavailable.into_iter().map(|zone| (zone, false, None)));
    Ok(out)
}

fn render(zones: Zones) -> Json<Value> {
    let info: Vec<Value> = zones
        .into_iter()
        .map(|(zone, available, hosts)| {
            json!({"zoneName": zone, "zoneState": {"available": available}, "hosts": hosts})
        })
        .collect();
    Json(json!({ "availabilityZoneInfo": info }))
}

pub async fn list_availability_zones(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    req.authorize("os_compute_api:os-availability-zone:list", Rule::Any)?;
    Ok(render(zones(&state, false).await?))
}

pub async fn list_availability_zones_detail(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    req.authorize("os_compute_api:os-availability-zone:detail", Rule::Admin)?;
    Ok(render(zones(&state, true).await?))
}
