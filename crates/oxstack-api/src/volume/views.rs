//! Cinder's views of volumes, snapshots, types and attachments, per
//! microversion and caller. Tempest checks them against closed schemas,
//! so a field appears exactly at the version Cinder adds it.

use oxstack_volume::{AttachmentRow, Snapshot, Volume, VolumeType};
use serde_json::{Map, Value, json};

use super::{VolumeReq, vv};
use crate::compute::naive_time;

/// Which form of a volume: a create's or update's answer, or a show's
/// (and a detailed listing's), which adds the `os-vol-*` extension keys
/// and the image metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Answer,
    Show,
}

/// The volume's host as Cinder names a backend (`host@backend#pool`).
const HOST: &str = "oxstack@file#file";

pub fn volume(req: &VolumeReq, v: &Volume, form: Form) -> Value {
    let r = &v.row;
    let admin = req.caller.is_admin;
    let attachments: Vec<Value> = v
        .attached()
        .map(|a| {
            json!({
                "id": r.id,
                "attachment_id": a.id,
                "volume_id": r.id,
                "server_id": a.instance_uuid,
                "host_name": if admin { a.attached_host.clone() } else { None },
                "device": a.mountpoint,
                "attached_at": naive_time(a.attach_time),
            })
        })
        .collect();
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    put("id", json!(r.id));
    put("status", json!(r.status));
    put("size", json!(r.size));
    put("availability_zone", json!(r.availability_zone));
    put("created_at", naive_time(Some(r.created_at)));
    put("updated_at", naive_time(Some(r.updated_at)));
    put("name", json!(r.name));
    put("description", json!(r.description));
    put("volume_type", json!(v.type_name));
    put("snapshot_id", json!(r.snapshot_id));
    put("source_volid", json!(r.source_volid));
    put("metadata", json!(v.metadata));
    put("links", req.links("volumes", &r.id));
    put("user_id", json!(r.user_id));
    put("bootable", json!(if r.bootable { "true" } else { "false" }));
    put("encrypted", json!(false));
    put("replication_status", json!("disabled"));
    put("consistencygroup_id", Value::Null);
    put("multiattach", json!(r.multiattach));
    put("attachments", Value::Array(attachments));
    if admin {
        put("migration_status", Value::Null);
    }
    if req.at_least(vv::GROUP_ID) {
        put("group_id", Value::Null);
    }
    if req.at_least(vv::PROVIDER_ID) && admin {
        put("provider_id", Value::Null);
    }
    if req.at_least(vv::SHARED_TARGETS) {
        put("shared_targets", json!(false));
        put("service_uuid", Value::Null);
    }
    if req.at_least(vv::CLUSTER_NAME) && admin {
        put("cluster_name", Value::Null);
    }
    if req.at_least(vv::VOLUME_TYPE_ID) {
        put("volume_type_id", json!(r.volume_type_id));
    }
    if req.at_least(vv::CONSUMES_QUOTA) {
        put("consumes_quota", json!(true));
    }
    if form == Form::Show {
        put("os-vol-tenant-attr:tenant_id", json!(r.project_id));
        if admin {
            put("os-vol-host-attr:host", json!(HOST));
            put("os-vol-mig-status-attr:migstat", Value::Null);
            put("os-vol-mig-status-attr:name_id", Value::Null);
        }
        if !v.image_metadata.is_empty() {
            put("volume_image_metadata", json!(v.image_metadata));
        }
    }
    Value::Object(out)
}

pub fn snapshot(req: &VolumeReq, s: &Snapshot, form: Form) -> Value {
    let r = &s.row;
    let mut out = json!({
        "id": r.id,
        "created_at": naive_time(Some(r.created_at)),
        "updated_at": naive_time(Some(r.updated_at)),
        "name": r.name,
        "description": r.description,
        "volume_id": r.volume_id,
        "status": r.status,
        "size": r.size,
        "metadata": s.metadata,
    });
    if req.at_least(vv::GROUP_SNAPSHOT_ID) {
        out["group_snapshot_id"] = Value::Null;
    }
    if req.at_least(vv::SNAPSHOT_USER_ID) {
        out["user_id"] = json!(r.user_id);
    }
    if req.at_least(vv::CONSUMES_QUOTA) {
        out["consumes_quota"] = json!(true);
    }
    if form == Form::Show {
        let progress = if r.status == "creating" { "0%" } else { "100%" };
        out["os-extended-snapshot-attributes:progress"] = json!(progress);
        out["os-extended-snapshot-attributes:project_id"] = json!(r.project_id);
    }
    out
}

pub fn volume_type(req: &VolumeReq, t: &VolumeType) -> Value {
    let mut out = json!({
        "id": t.row.id,
        "name": t.row.name,
        "is_public": t.row.is_public,
        "description": t.row.description,
        "extra_specs": t.extra_specs,
        "os-volume-type-access:is_public": t.row.is_public,
    });
    if req.caller.is_admin {
        out["qos_specs_id"] = Value::Null;
    }
    out
}

/// An attachment's summary (listings) or detail.
pub fn attachment(a: &AttachmentRow, connection_info: Option<Value>) -> Value {
    let mut out = json!({
        "id": a.id,
        "status": a.attach_status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
    });
    if let Some(info) = connection_info {
        // Cinder shows an unset time as an empty string here.
        out["attached_at"] = match naive_time(a.attach_time) {
            Value::Null => json!(""),
            v => v,
        };
        out["detached_at"] = json!("");
        out["attach_mode"] = json!(a.attach_mode);
        out["connection_info"] = info;
    }
    out
}
