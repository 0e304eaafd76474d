//! `/servers/{id}/diagnostics` (`server_diagnostics.py`): what the
//! hypervisor measures of a running server, for admins. Before 2.48 a
//! flat dictionary as the libvirt driver gave it; from 2.48 Nova's
//! standard shape.

use axum::Json;
use axum::extract::{Path, State};
use oxstack_compute::model::Diagnostics;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::super::error::NovaError;
use super::super::request::Req;
use super::views;
use crate::AppState;
use crate::compute::microversion::mv;

/// 2.48's shape.
fn standard(d: &Diagnostics) -> Value {
    let cpus: Vec<Value> = d
        .cpu_details
        .iter()
        .map(|c| json!({"id": c.id, "time": c.time, "utilisation": c.utilisation}))
        .collect();
    let nics: Vec<Value> = d
        .nic_details
        .iter()
        .map(|n| {
            json!({"mac_address": n.mac_address,
                   "rx_octets": n.rx_octets, "rx_errors": n.rx_errors, "rx_drop": n.rx_drop,
                   "rx_packets": n.rx_packets, "rx_rate": n.rx_rate,
                   "tx_octets": n.tx_octets, "tx_errors": n.tx_errors, "tx_drop": n.tx_drop,
                   "tx_packets": n.tx_packets, "tx_rate": n.tx_rate})
        })
        .collect();
    let disks: Vec<Value> = d
        .disk_details
        .iter()
        .map(|k| {
            json!({"read_bytes": k.read_bytes, "read_requests": k.read_requests,
                   "write_bytes": k.write_bytes, "write_requests": k.write_requests,
                   "errors_count": k.errors_count})
        })
        .collect();
    json!({
        "state": d.state,
        "driver": d.driver,
        "hypervisor": d.hypervisor,
        "hypervisor_os": d.hypervisor_os,
        "uptime": d.uptime,
        "config_drive": d.config_drive,
        "num_cpus": cpus.len(),
        "num_nics": nics.len(),
        "num_disks": disks.len(),
        "cpu_details": cpus,
        "nic_details": nics,
        "disk_details": disks,
        "memory_details": {"maximum": d.memory_details.maximum, "used": d.memory_details.used},
    })
}

/// Before 2.48: the libvirt driver's flat names (`cpu0_time`, `memory` in
/// KiB, `vda_read`, `vnet0_rx`, ...).
fn legacy(d: &Diagnostics) -> Value {
    let mut out = Map::new();
    for c in &d.cpu_details {
        out.insert(format!("cpu{}_time", c.id), json!(c.time));
    }
    out.insert("memory".into(), json!(d.memory_details.maximum * 1024));
    for (disk, k) in ('a'..='z').zip(&d.disk_details) {
        let name = format!("vd{disk}");
        out.insert(format!("{name}_read"), json!(k.read_bytes));
        out.insert(format!("{name}_read_req"), json!(k.read_requests));
        out.insert(format!("{name}_write"), json!(k.write_bytes));
        out.insert(format!("{name}_write_req"), json!(k.write_requests));
        out.insert(format!("{name}_errors"), json!(k.errors_count));
    }
    for (i, n) in d.nic_details.iter().enumerate() {
        let name = format!("vnet{i}");
        out.insert(format!("{name}_rx"), json!(n.rx_octets));
        out.insert(format!("{name}_rx_drop"), json!(n.rx_drop));
        out.insert(format!("{name}_rx_errors"), json!(n.rx_errors));
        out.insert(format!("{name}_rx_packets"), json!(n.rx_packets));
        out.insert(format!("{name}_tx"), json!(n.tx_octets));
        out.insert(format!("{name}_tx_drop"), json!(n.tx_drop));
        out.insert(format!("{name}_tx_errors"), json!(n.tx_errors));
        out.insert(format!("{name}_tx_packets"), json!(n.tx_packets));
    }
    Value::Object(out)
}

pub async fn show_diagnostics(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let compute = state.compute();
    let server = compute.get_server(&views::caller(&req), &id).await?;
    req.ctx.authorize(
        "os_compute_api:os-server-diagnostics",
        Rule::Admin,
        &server.project_id,
    )?;
    let diagnostics = compute.server_diagnostics(&server).await?;
    Ok(Json(if req.at_least(mv::STANDARD_DIAGNOSTICS) {
        standard(&diagnostics)
    } else {
        legacy(&diagnostics)
    }))
}
