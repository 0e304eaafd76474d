//! `limit`/`marker` paging and `*_links`, as `nova.api.openstack.common`
//! does it: at most `max_limit` (1000) items a page, and a `next` link only
//! when a page came back full.

use serde_json::{Value, json};

use super::error::NovaError;
use super::request::Req;

/// Nova's `[api]max_limit`.
pub const MAX_LIMIT: i64 = 1000;

/// The page size asked for (capped at [`MAX_LIMIT`]) and the marker.
pub fn limit_and_marker(req: &Req) -> Result<(i64, Option<String>), NovaError> {
    let limit = match req.param("limit") {
        None => MAX_LIMIT,
        Some(text) => {
            let n: i64 = text
                .parse()
                .map_err(|_| NovaError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(NovaError::bad_request("limit param must be positive"));
            }
            n.min(MAX_LIMIT)
        }
    };
    Ok((limit, req.param("marker").map(str::to_owned)))
}

/// `[{"rel": "next", "href": ...}]` when `returned` filled the page, else
/// `None`. The href repeats the request's parameters, sorted, with the
/// marker replaced by the last id.
pub fn next_links(
    req: &Req,
    collection: &str,
    returned: usize,
    last_id: Option<&str>,
) -> Option<Value> {
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l <= MAX_LIMIT)
        .unwrap_or(MAX_LIMIT);
    let last_id = last_id?;
    if limit == 0 || returned as i64 != limit {
        return None;
    }
    let mut params: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "marker")
        .cloned()
        .collect();
    params.sort();
    params.dedup_by(|a, b| a.0 == b.0);
    params.push(("marker".into(), last_id.to_owned()));
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    Some(json!([{"rel": "next", "href": format!("{}/{collection}?{query}", req.root.version_url)}]))
}
