//! Neutron's listing semantics, the same for every collection: filters on
//! any attribute (a repeated key matches any of its values), tag filters,
//! `fields=` projection, `sort_key`/`sort_dir`, and `limit`/`marker`/
//! `page_reverse` paging with `<collection>_links`. Resources hand over
//! their full views; this module narrows, orders and pages them.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::attributes::as_bool;
use super::error::NeutronError;

/// Query keys that are not attribute filters.
const CONTROL: [&str; 10] = [
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

/// A request's query string, as its pairs.
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.and_then(|q| serde_urlencoded::from_str(q).ok())
                .unwrap_or_default(),
        )
    }

    /// Every value of a key, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn first(&self, key: &str) -> Option<&str> {
        self.all(key).into_iter().next()
    }

    /// The attribute filters (every key but the listing controls and
    /// those a resource handles itself).
    fn filters<'a>(&'a self, handled: &[&str]) -> Vec<(&'a str, Vec<&'a str>)> {
        let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
        for (k, v) in &self.0 {
            if CONTROL.contains(&k.as_str()) || handled.contains(&k.as_str()) {
                continue;
            }
            match filters.iter_mut().find(|(name, _)| name == k) {
                Some((_, values)) => values.push(v),
                None => filters.push((k, vec![v])),
            }
        }
        filters
    }

    /// The requested fields (`fields=a&fields=b` or `fields=a,b`).
    pub fn fields(&self) -> Vec<&str> {
        self.all("fields")
            .into_iter()
            .flat_map(|f| f.split(','))
            .filter(|f| !f.is_empty())
            .collect()
    }
}

/// Keeps only the requested fields of a view (all when none asked).
pub fn project(view: Value, fields: &[&str]) -> Value {
    match view {
        Value::Object(map) if !fields.is_empty() => Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// What a resource tells the listing about itself.
pub struct Collection<'a> {
    /// The plural name (`networks`), also the body's key.
    pub name: &'a str,
    /// Every attribute a view may have (the valid filter and sort keys).
    pub fields: &'a [&'a str],
    /// Filters the resource applied itself (e.g. `fixed_ips`).
    pub handled: &'a [&'a str],
    /// The views are already the page after the marker (the store paged
    /// them, see [`store_page`]), with one more than the limit if more
    /// follow.
    pub paged: bool,
    /// The collection's URL, for paging links.
    pub url: String,
}

/// The page a store can read by itself, `(limit, marker)`: a listing
/// with a limit, in the default order (no sort keys, not reversed), whose
/// only filters are the single-valued `store_filters`. The store then
/// reads `limit + 1` rows after the marker rather than every row.
pub fn store_page<'q>(
    query: &'q Query,
    store_filters: &[&str],
) -> Option<(usize, Option<&'q str>)> {
    let limit = query
        .first("limit")?
        .parse::<usize>()
        .ok()
        .filter(|l| *l > 0)?;
    let mut seen: Vec<&str> = Vec::new();
    for (key, _) in &query.0 {
        let key = key.as_str();
        let allowed = matches!(key, "limit" | "marker" | "fields")
            || (store_filters.contains(&key) && !seen.contains(&key));
        if !allowed {
            return None;
        }
        seen.push(key);
    }
    if query.all("limit").len() > 1 || query.all("marker").len() > 1 {
        return None;
    }
    Some((limit, query.first("marker")))
}

/// The listing body: filtered, sorted, paged and projected views.
pub fn list(
    collection: &Collection<'_>,
    query: &Query,
    views: Vec<Value>,
) -> Result<Value, NeutronError> {
    let filters = query.filters(collection.handled);
    let invalid: Vec<&str> = filters
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !collection.fields.contains(k))
        .collect();
    if !invalid.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "{} is invalid attribute for filtering",
            python_list(&invalid)
        )));
    }
    let mut items: Vec<Map<String, Value>> = Vec::with_capacity(views.len());
    for view in views {
        let Value::Object(map) = view else { continue };
        if matches_filters(&map, &filters)? && matches_tags(&map, query) {
            items.push(map);
        }
    }
    sort(&mut items, collection, query)?;
    let (items, links) = page(items, collection, query)?;
    let fields = query.fields();
    let mut body = Map::new();
    body.insert(
        collection.name.to_owned(),
        Value::Array(
            items
                .into_iter()
                .map(|m| project(Value::Object(m), &fields))
                .collect(),
        ),
    );
    if !links.is_empty() {
        body.insert(format!("{}_links", collection.name), Value::Array(links));
    }
    Ok(Value::Object(body))
}

/// `['a', 'b']`, the way Neutron's messages print a list.
fn python_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

fn matches_filters(
    item: &Map<String, Value>,
    filters: &[(&str, Vec<&str>)],
) -> Result<bool, NeutronError> {
    for (key, wanted) in filters {
        let value = item.get(*key).unwrap_or(&Value::Null);
        let mut any = false;
        for w in wanted {
            if matches_value(value, w)? {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

fn matches_value(value: &Value, wanted: &str) -> Result<bool, NeutronError> {
    Ok(match value {
        Value::Bool(b) => {
            let w = as_bool(&Value::String(wanted.to_owned())).ok_or_else(|| {
                NeutronError::new(
                    http::StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    format!(
                        "Invalid input for operation: '{wanted}' cannot be converted to boolean."
                    ),
                )
            })?;
            *b == w
        }
        Value::String(s) => s == wanted,
        Value::Number(n) => n.to_string() == wanted,
        Value::Null => wanted.is_empty() || wanted == "None",
        Value::Array(values) => values.iter().any(|v| v.as_str() == Some(wanted)),
        Value::Object(_) => false,
    })
}

fn matches_tags(item: &Map<String, Value>, query: &Query) -> bool {
    let tags: Vec<&str> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let lists = |key: &str| -> Vec<Vec<&str>> {
        query
            .all(key)
            .into_iter()
            .map(|v| v.split(',').filter(|t| !t.is_empty()).collect())
            .collect()
    };
    let has = |t: &&str| tags.contains(t);
    lists("tags").iter().all(|l| l.iter().all(has))
        && lists("tags-any").iter().all(|l| l.iter().any(has))
        && !lists("not-tags")
            .iter()
            .any(|l| !l.is_empty() && l.iter().all(has))
        && !lists("not-tags-any").iter().any(|l| l.iter().any(has))
}

fn sort(
    items: &mut [Map<String, Value>],
    collection: &Collection<'_>,
    query: &Query,
) -> Result<(), NeutronError> {
    let keys = query.all("sort_key");
    let dirs = query.all("sort_dir");
    if keys.is_empty() {
        return Ok(());
    }
    if !dirs.is_empty() && dirs.len() != keys.len() {
        return Err(NeutronError::bad_request(
            "The number of sort_keys and sort_dirs must be same",
        ));
    }
    let invalid: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !collection.fields.contains(k))
        .collect();
    if !invalid.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "{} is invalid attribute for sort_keys",
            python_list(&invalid)
        )));
    }
    let bad_dirs: Vec<&str> = dirs
        .iter()
        .copied()
        .filter(|d| !matches!(*d, "asc" | "desc"))
        .collect();
    if !bad_dirs.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "{} is invalid value for sort_dirs, valid value is 'asc' and 'desc'",
            python_list(&bad_dirs)
        )));
    }
    let order: Vec<(&str, bool)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, dirs.get(i).is_some_and(|d| *d == "desc")))
        .chain(std::iter::once(("id", false)))
        .collect();
    items.sort_by(|a, b| {
        for (key, desc) in &order {
            let o = compare(a.get(*key), b.get(*key));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

type Page = (Vec<Map<String, Value>>, Vec<Value>);

fn page(
    mut items: Vec<Map<String, Value>>,
    collection: &Collection<'_>,
    query: &Query,
) -> Result<Page, NeutronError> {
    let limit = match query.first("limit") {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| {
            NeutronError::bad_request(format!(
                "Limit must be an integer 0 or greater and not '{text}'"
            ))
        })?,
    };
    let reverse = query
        .first("page_reverse")
        .and_then(|v| as_bool(&Value::String(v.to_owned())))
        .unwrap_or(false);
    let marker = query.first("marker");
    if reverse {
        items.reverse();
    }
    if let Some(m) = marker.filter(|_| !collection.paged) {
        match items
            .iter()
            .position(|i| i.get("id").and_then(Value::as_str) == Some(m))
        {
            Some(at) => {
                items.drain(..=at);
            }
            None => items.clear(),
        }
    }
    if limit == 0 {
        if reverse {
            items.reverse();
        }
        return Ok((items, Vec::new()));
    }
    let full = items.len() > limit;
    items.truncate(limit);
    if reverse {
        items.reverse();
    }
    let id = |i: Option<&Map<String, Value>>| {
        i.and_then(|m| m.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut links = Vec::new();
    let (first, last) = (id(items.first()), id(items.last()));
    let more_after = if reverse { marker.is_some() } else { full };
    let more_before = if reverse { full } else { marker.is_some() };
    if let (true, Some(last)) = (more_after, last) {
        links.push(json!({"rel": "next", "href": link(collection, query, &last, false)}));
    }
    if let (true, Some(first)) = (more_before, first) {
        links.push(json!({"rel": "previous", "href": link(collection, query, &first, true)}));
    }
    Ok((items, links))
}

fn link(collection: &Collection<'_>, query: &Query, marker: &str, reverse: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .0
        .iter()
        .filter(|(k, _)| k != "marker" && k != "page_reverse")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("marker", marker));
    if reverse {
        pairs.push(("page_reverse", "True"));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}?{encoded}", collection.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_pages_are_left_to_the_store() {
        let page = |raw: &str| {
            let q = Query::parse(Some(raw));
            store_page(&q, &["network_id"]).map(|(l, m)| (l, m.map(str::to_owned)))
        };
        assert_eq!(page("limit=2"), Some((2, None)));
        assert_eq!(
            page("limit=2&marker=m&fields=id&network_id=n"),
            Some((2, Some("m".into())))
        );
        for listing in [
            "",
            "limit=0",
            "limit=x",
            "limit=2&sort_key=name",
            "limit=2&page_reverse=True",
            "limit=2&network_id=a&network_id=b",
            "limit=2&name=a",
            "limit=2&tags=red",
            "limit=2&limit=3",
        ] {
            assert_eq!(page(listing), None, "{listing}");
        }
    }

    fn views() -> Vec<Value> {
        (0..5)
            .map(|i| {
                json!({"id": format!("id{i}"), "name": format!("n{}", i % 2), "shared": i == 3,
                       "mtu": 1400 + i, "tags": if i < 2 { vec!["a", "b"] } else { vec!["a"] }})
            })
            .collect()
    }

    fn run(query: &str) -> Result<Value, NeutronError> {
        let c = Collection {
            paged: false,
            name: "networks",
            fields: &["id", "name", "shared", "mtu", "tags"],
            handled: &[],
            url: "http://h/network/v2.0/networks".into(),
        };
        list(&c, &Query::parse(Some(query)), views())
    }

    fn ids(body: &Value) -> Vec<&str> {
        body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn filters_match_any_repeated_value_and_convert_booleans() {
        assert_eq!(ids(&run("name=n1").unwrap()), ["id1", "id3"]);
        assert_eq!(ids(&run("mtu=1400&mtu=1402").unwrap()), ["id0", "id2"]);
        assert_eq!(ids(&run("shared=True").unwrap()), ["id3"]);
        assert_eq!(ids(&run("tags=a,b").unwrap()), ["id0", "id1"]);
        assert_eq!(ids(&run("not-tags=b").unwrap()), ["id2", "id3", "id4"]);
        let err = run("colour=red").unwrap_err();
        assert_eq!(err.message, "['colour'] is invalid attribute for filtering");
    }

    #[test]
    fn sorting_paging_and_fields() {
        let body = run("sort_key=mtu&sort_dir=desc&limit=2&fields=id").unwrap();
        assert_eq!(ids(&body), ["id4", "id3"]);
        assert_eq!(body["networks"][0].as_object().unwrap().len(), 1);
        let next = body["networks_links"][0]["href"].as_str().unwrap();
        assert!(next.ends_with("marker=id3"), "{next}");
        let second = run("sort_key=mtu&sort_dir=desc&limit=2&marker=id3").unwrap();
        assert_eq!(ids(&second), ["id2", "id1"]);
        let rels: Vec<&str> = second["networks_links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        assert_eq!(rels, ["next", "previous"]);
        let back = run("sort_key=mtu&sort_dir=desc&limit=2&marker=id2&page_reverse=True").unwrap();
        assert_eq!(ids(&back), ["id4", "id3"]);
        assert_eq!(
            run("sort_key=colour").unwrap_err().message,
            "['colour'] is invalid attribute for sort_keys"
        );
        assert_eq!(
            run("limit=-1").unwrap_err().message,
            "Limit must be an integer 0 or greater and not '-1'"
        );
    }
}
