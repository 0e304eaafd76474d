//! `rebuild`: 202 with the server (short form before 2.75, full from
//! 2.75), its new `adminPass` and, from 2.57, `user_data`.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use oxstack_compute::servers::{RebuildRequest, generate_password};
use oxstack_identity::Rule;
use oxstack_image::ImageError;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::images::{image_error, viewer};
use super::super::microversion::mv;
use super::super::request::{NovaBody, Req};
use super::super::servers::create::boot_image;
use super::super::servers::{schema, views};
use crate::AppState;
use crate::envelope::envelope;

/// `Some(value)` when the key is present (null included).
fn present<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
    body.as_object().and_then(|o| o.get(key))
}

fn nullable_text(body: &Value, key: &str) -> Option<Option<String>> {
    present(body, key).map(|v| v.as_str().map(str::to_owned))
}

pub(super) async fn rebuild(
    state: &AppState,
    req: &Req,
    id: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let body = body.validate(&schema::rebuild(req.version))?;
    req.authorize("os_compute_api:servers:rebuild", Rule::ProjectMember)?;
    let r = &body["rebuild"];
    let image_id = r["imageRef"].as_str().unwrap_or_default();
    // An image the caller cannot find is refused once the server is found
    // (Nova looks the server up first: someone else's server is a 404).
    let image = match state.images().get(viewer(req), image_id).await {
        Ok(image) => Some(boot_image(&image)),
        Err(ImageError::NotFound(_) | ImageError::Forbidden(_)) => None,
        Err(e) => return Err(image_error(e)),
    };
    let metadata = present(r, "metadata").and_then(Value::as_object).map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect::<BTreeMap<_, _>>()
    });
    let password = r["adminPass"]
        .as_str()
        .map_or_else(|| generate_password(12), str::to_owned);
    let request = RebuildRequest {
        admin_password: Some(password.clone()),
        image,
        name: r["name"].as_str().map(str::to_owned),
        metadata,
        description: nullable_text(r, "description"),
        access_ip_v4: nullable_text(r, "accessIPv4"),
        access_ip_v6: nullable_text(r, "accessIPv6"),
        auto_disk_config: r["OS-DCF:diskConfig"].as_str().map(|d| d == "AUTO"),
        user_data: nullable_text(r, "user_data"),
        key_name: nullable_text(r, "key_name"),
        trusted_certs: present(r, "trusted_image_certificates").map(|v| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        }),
        hostname: r["hostname"].as_str().map(str::to_owned),
        reimage_volume: req.at_least(mv::VOLUME_REIMAGED_EVENT),
    };
    let server = state
        .compute()
        .rebuild_server(&views::caller(req), id, request)
        .await?;
    let mut view = views::server(req, &server, views::Kind::Rebuild);
    if state.compute().settings().enable_instance_password {
        view["adminPass"] = json!(password);
    }
    let location = req.links("servers", &server.uuid)[0]["href"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(envelope("server", view)),
    )
        .into_response())
}
