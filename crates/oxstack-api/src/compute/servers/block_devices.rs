//! `block_device_mapping_v2` of a server create, checked as Nova checks
//! it: the volumes a server holds from its start (an existing volume, or
//! one made from an image, a snapshot or nothing), and what a
//! volume-backed server boots (its boot volume's image metadata).

use oxstack_compute::servers::{BlockDevice, BootImage};
use oxstack_image::Image;
use oxstack_volume::{Caller, VolumeError};
use serde_json::{Map, Value};

use super::super::error::NovaError;
use super::super::request::Req;
use super::create::boot_image;
use crate::AppState;

fn invalid(detail: impl std::fmt::Display) -> NovaError {
    NovaError::bad_request(format!("Block Device Mapping is Invalid: {detail}"))
}

fn text(bdm: &Map<String, Value>, key: &str) -> Option<String> {
    bdm.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn integer(value: Option<&Value>) -> Option<Option<i64>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => n.as_i64().map(Some),
        Some(Value::String(s)) => s.trim().parse().ok().map(Some),
        Some(_) => None,
    }
}

/// The volume BDMs of a create, in order (boot volume first), and the
/// image a volume-backed server boots (its id empty: Nova shows `""`).
pub(super) async fn block_devices(
    state: &AppState,
    req: &Req,
    server: &Map<String, Value>,
    min_count: i64,
) -> Result<(Vec<BlockDevice>, Option<BootImage>), NovaError> {
    let legacy = server.get("block_device_mapping").and_then(Value::as_array);
    let v2 = server
        .get("block_device_mapping_v2")
        .and_then(Value::as_array);
    if legacy.is_some_and(|l| !l.is_empty()) && v2.is_some_and(|l| !l.is_empty()) {
        return Err(NovaError::bad_request(
            "Using different block_device_mapping syntaxes is not allowed in the same request.",
        ));
    }
    if legacy.is_some_and(|l| !l.is_empty()) {
        return Err(invalid(
            "the legacy block_device_mapping is not supported; use block_device_mapping_v2.",
        ));
    }
    let mut devices = Vec::new();
    let mut boot_indexes = Vec::new();
    for bdm in v2.into_iter().flatten().filter_map(Value::as_object) {
        let source = text(bdm, "source_type").unwrap_or_else(|| "volume".into());
        let destination = text(bdm, "destination_type").unwrap_or_else(|| {
            if source == "volume" {
                "volume".into()
            } else {
                "local".into()
            }
        });
        let uuid = text(bdm, "uuid");
        if source == "blank" && uuid.is_some() {
            return Err(invalid("Invalid device UUID."));
        }
        if source != "blank" && uuid.is_none() {
            return Err(invalid("Missing device UUID."));
        }
        let boot_index =
            integer(bdm.get("boot_index")).ok_or_else(|| invalid("Boot index is invalid."))?;
        if let Some(i) = boot_index.filter(|i| *i >= 0) {
            boot_indexes.push(i);
        }
        if destination == "local" {
            if bdm.contains_key("volume_type") {
                return Err(invalid(
                    "Specifying a volume_type with destination_type=local is not supported.",
                ));
            }
            // A local disk: the image's root (booted as any image
            // server), an ephemeral or a swap disk of the flavor.
            continue;
        }
        if source == "volume" && bdm.contains_key("volume_type") {
            return Err(invalid(
                "Specifying volume type to existing volume is not supported.",
            ));
        }
        let volume_size = integer(bdm.get("volume_size")).flatten().filter(|s| *s > 0);
        if volume_size.is_none() && source == "image" {
            return Err(invalid(
                "Images with destination_type 'volume' need to have a non-zero size specified",
            ));
        }
        if volume_size.is_none() && source == "blank" {
            return Err(invalid(
                "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size",
            ));
        }
        if source == "volume" && min_count > 1 {
            return Err(NovaError::bad_request(
                "Cannot attach one or more volumes to multiple instances",
            ));
        }
        let delete_on_termination = bdm
            .get("delete_on_termination")
            .and_then(crate::volume::boolish)
            .unwrap_or(false);
        devices.push(BlockDevice {
            source_type: source,
            uuid,
            boot_index,
            volume_size,
            delete_on_termination,
            device_name: text(bdm, "device_name").unwrap_or_default(),
            tag: text(bdm, "tag"),
            volume_type: text(bdm, "volume_type"),
        });
    }
    boot_indexes.sort_unstable();
    let in_sequence = boot_indexes
        .iter()
        .enumerate()
        .all(|(i, b)| i64::try_from(i) == Ok(*b));
    if !in_sequence {
        return Err(invalid(
            "Boot sequence for the instance and image/block device mapping combination is not valid.",
        ));
    }
    // The boot volume first, then the others as given; device names
    // for those without one (`vda` is the boot disk's).
    devices.sort_by_key(|d| d.boot_index != Some(0));
    let mut next = 'a';
    let mut root = None;
    for d in &mut devices {
        if d.boot_index == Some(0) {
            d.device_name = "/dev/vda".into();
            root = Some(boot_of(state, req, d).await?);
            continue;
        }
        check_exists(state, req, d).await?;
        if d.device_name.is_empty() {
            next = (next as u8 + 1) as char;
            d.device_name = format!("/dev/vd{next}");
        }
    }
    Ok((devices, root))
}

/// The block devices an image defines (the snapshot of a volume-backed
/// server: `bdm_v2` with a `block_device_mapping` of volume snapshots).
pub(super) fn image_defined(image: &Image) -> Vec<BlockDevice> {
    let props = &image.properties;
    if props.get("bdm_v2").map(String::as_str) != Some("True") {
        return Vec::new();
    }
    let Some(mapping) = props
        .get("block_device_mapping")
        .and_then(|m| serde_json::from_str::<Vec<Map<String, Value>>>(m).ok())
    else {
        return Vec::new();
    };
    mapping
        .iter()
        .filter(|m| text(m, "source_type").as_deref() == Some("snapshot"))
        .zip('a'..='z')
        .map(|(m, letter)| BlockDevice {
            source_type: "snapshot".into(),
            uuid: text(m, "snapshot_id"),
            boot_index: integer(m.get("boot_index")).flatten(),
            volume_size: integer(m.get("volume_size")).flatten(),
            delete_on_termination: m
                .get("delete_on_termination")
                .and_then(crate::volume::boolish)
                .unwrap_or(false),
            device_name: text(m, "device_name").unwrap_or_else(|| format!("/dev/vd{letter}")),
            tag: text(m, "tag"),
            volume_type: None,
        })
        .collect()
}

fn volume_caller(req: &Req) -> Caller {
    Caller {
        project_id: req.ctx.project_id.clone(),
        user_id: req.ctx.user_id.clone(),
        is_admin: req.ctx.is_admin(),
        can_write: true,
    }
}

/// Checks that a non-boot device's source exists (and an existing volume
/// is free).
async fn check_exists(state: &AppState, req: &Req, d: &BlockDevice) -> Result<(), NovaError> {
    let id = d.uuid.clone().unwrap_or_default();
    match d.source_type.as_str() {
        "volume" => {
            available_volume(state, req, &id).await?;
        }
        "snapshot" => {
            state
                .volumes()
                .snapshot(&volume_caller(req), &id)
                .await
                .map_err(|_| invalid(format!("failed to get snapshot {id}.")))?;
        }
        "image" => {
            image(state, req, &id).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn image(state: &AppState, req: &Req, id: &str) -> Result<Image, NovaError> {
    state
        .images()
        .get(super::super::images::viewer(req), id)
        .await
        .map_err(|_| invalid(format!("failed to get image {id}.")))
}

/// An existing volume the server is to take: found, and free.
async fn available_volume(
    state: &AppState,
    req: &Req,
    id: &str,
) -> Result<oxstack_volume::Volume, NovaError> {
    let volume = match state.volumes().volume(&volume_caller(req), id).await {
        Ok(v) => v,
        Err(VolumeError::NotFound(_)) => {
            return Err(invalid(format!("failed to get volume {id}.")));
        }
        Err(e) => return Err(e.into()),
    };
    if volume.row.status != "available" && !volume.row.multiattach {
        return Err(NovaError::bad_request(format!(
            "Invalid volume: Volume {id} status must be available to reserve, but the status is {}.",
            volume.row.status
        )));
    }
    Ok(volume)
}

/// What a volume-backed server boots: the image its boot volume holds.
async fn boot_of(state: &AppState, req: &Req, d: &BlockDevice) -> Result<BootImage, NovaError> {
    let id = d.uuid.clone().unwrap_or_default();
    let from_metadata = |meta: &std::collections::BTreeMap<String, String>| BootImage {
        id: String::new(),
        status: "active".into(),
        min_ram_mb: meta
            .get("min_ram")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        min_disk_gb: 0,
        size_bytes: None,
        properties: meta
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "image_id"
                        | "image_name"
                        | "checksum"
                        | "size"
                        | "min_ram"
                        | "min_disk"
                        | "disk_format"
                        | "container_format"
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    match d.source_type.as_str() {
        "volume" => {
            let volume = available_volume(state, req, &id).await?;
            if !volume.row.bootable {
                return Err(NovaError::bad_request(format!(
                    "Block Device {id} is not bootable."
                )));
            }
            Ok(from_metadata(&volume.image_metadata))
        }
        "snapshot" => {
            let caller = volume_caller(req);
            let snapshot = state
                .volumes()
                .snapshot(&caller, &id)
                .await
                .map_err(|_| invalid(format!("failed to get snapshot {id}.")))?;
            let volume = state
                .volumes()
                .volume(&caller, &snapshot.row.volume_id)
                .await
                .ok();
            Ok(volume
                .map(|v| from_metadata(&v.image_metadata))
                .unwrap_or_else(|| from_metadata(&Default::default())))
        }
        "image" => {
            let found = image(state, req, &id).await?;
            Ok(BootImage {
                id: String::new(),
                ..boot_image(&found)
            })
        }
        _ => Ok(from_metadata(&Default::default())),
    }
}
