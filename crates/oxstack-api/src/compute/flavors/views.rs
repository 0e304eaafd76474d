//! The flavor representation per microversion (`views/flavors.py`).

use std::collections::BTreeMap;

use oxstack_compute::flavors::Flavor;
use serde_json::{Value, json};

use crate::compute::microversion::mv;
use crate::compute::request::Req;

/// `GET /flavors` items: id, name, links (+ description from 2.55).
pub fn summary(req: &Req, f: &Flavor) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": req.links("flavors", &f.id)});
    if req.at_least(mv::FLAVOR_DESCRIPTION) {
        v["description"] = json!(f.description);
    }
    v
}

/// The full flavor; `extra_specs` (2.61) only when the caller may read them.
pub fn detail(req: &Req, f: &Flavor, extra_specs: Option<&BTreeMap<String, String>>) -> Value {
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        // Before 2.75 a zero swap is the empty string.
        "swap": if req.at_least(mv::STRICT_QUERIES) || f.swap != 0 { json!(f.swap) } else { json!("") },
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
    });
    if !req.at_least(mv::STRICT_QUERIES_EVERYWHERE) {
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
    }
    v["vcpus"] = json!(f.vcpus);
    v["os-flavor-access:is_public"] = json!(f.is_public);
    if !req.at_least(mv::STRICT_QUERIES_EVERYWHERE) {
        v["rxtx_factor"] = json!(f.rxtx_factor);
    }
    v["links"] = req.links("flavors", &f.id);
    if req.at_least(mv::FLAVOR_DESCRIPTION) {
        v["description"] = json!(f.description);
    }
    if req.at_least(mv::FLAVOR_EXTRA_SPECS)
        && let Some(specs) = extra_specs
    {
        v["extra_specs"] = json!(specs);
    }
    v
}
