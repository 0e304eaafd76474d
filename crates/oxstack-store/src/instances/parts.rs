//! The parts of a page of instances (metadata, tags, fixed addresses,
//! security groups, floating addresses, volumes), read for the whole page
//! in one statement of plain rows.
//!
//! One instance is read with its parts as JSON aggregates beside its row
//! (`select_instance`), one query. For a page that costs six correlated
//! subqueries per row: each opens its cursors, sorts and builds JSON that
//! is parsed again here. Counted on a page of 1,000 servers, they were
//! most of the page's SQLite time; this statement joins each part's table
//! to the page's ids once.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::Backend;
use crate::StoreResult;
use crate::db::{Columns, Db, DecodeError, Record, SqlValue};

use super::{AttachedVolume, FixedIp, FloatingAddress, InstanceRow};

/// Every part of the instances whose ids `$1` holds as a JSON array: rows
/// of (instance, kind, five texts, three numbers), the kinds in [`Part`]'s
/// order. `{page}` reads the ids; `{join}` joins a part's table to them,
/// the page first (SQLite's `CROSS JOIN` keeps that order, so each part is
/// found through its table's index on the instance).
const TEMPLATE: &str = "WITH page(uuid) AS ({page}) \
     SELECT m.instance_uuid, CAST(0 AS BIGINT), m.key, m.value, CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
     CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) \
     FROM page {join} instance_metadata m ON m.instance_uuid = page.uuid \
     UNION ALL SELECT t.instance_uuid, 1, t.tag, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
     FROM page {join} instance_tags t ON t.instance_uuid = page.uuid \
     UNION ALL SELECT p.device_id, 2, pi.network_id, pi.ip_address, p.mac_address, n.name, p.id, \
     pi.ip_version, p.created_at, pi.position \
     FROM page {join} ports p ON p.device_id = page.uuid \
     JOIN port_ips pi ON pi.port_id = p.id JOIN networks n ON n.id = p.network_id \
     UNION ALL SELECT p.device_id, 3, g.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
     FROM page {join} ports p ON p.device_id = page.uuid \
     JOIN port_security_groups pg ON pg.port_id = p.id \
     JOIN security_groups g ON g.id = pg.security_group_id \
     UNION ALL SELECT p.device_id, 4, f.floating_ip_address, f.fixed_ip_address, \
     NULL, NULL, NULL, NULL, NULL, NULL \
     FROM page {join} ports p ON p.device_id = page.uuid JOIN floatingips f ON f.port_id = p.id \
     UNION ALL SELECT a.instance_uuid, 5, a.volume_id, NULL, NULL, NULL, NULL, \
     CASE WHEN a.delete_on_termination THEN 1 ELSE 0 END, \
     CASE WHEN a.boot_index = 0 THEN 0 ELSE 1 END, a.created_at \
     FROM page {join} volume_attachments a ON a.instance_uuid = page.uuid";

fn statement(backend: Backend) -> &'static str {
    static SQLITE: LazyLock<String> = LazyLock::new(|| {
        TEMPLATE
            .replace("{page}", "SELECT value FROM json_each($1)")
            .replace("{join}", "CROSS JOIN")
    });
    static POSTGRES: LazyLock<String> = LazyLock::new(|| {
        TEMPLATE
            .replace("{page}", "SELECT json_array_elements_text($1::text::json)")
            .replace("{join}", "JOIN")
    });
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// One part of an instance, with what orders it among its kind.
enum Part {
    Metadata(String, String),
    Tag(String),
    /// Ordered by its port's creation, the port, its place on the port.
    FixedIp((i64, String, i64), FixedIp),
    SecurityGroup(String),
    Floating(FloatingAddress),
    /// Ordered boot volume first, then by attachment.
    Volume((i64, i64), AttachedVolume),
}

/// A row of [`statement`].
struct PartRow {
    instance: String,
    part: Part,
}

fn text(row: &impl Columns, index: usize) -> Result<String, DecodeError> {
    row.column_at(index)
}

fn number(row: &impl Columns, index: usize) -> Result<i64, DecodeError> {
    row.column_at(index)
}

impl Record for PartRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        let part = match number(row, 1)? {
            0 => Part::Metadata(text(row, 2)?, text(row, 3)?),
            1 => Part::Tag(text(row, 2)?),
            2 => Part::FixedIp(
                (number(row, 8)?, text(row, 6)?, number(row, 9)?),
                FixedIp {
                    network_id: text(row, 2)?,
                    address: text(row, 3)?,
                    mac: text(row, 4)?,
                    network: text(row, 5)?,
                    version: number(row, 7)?,
                    position: number(row, 8)?,
                },
            ),
            3 => Part::SecurityGroup(text(row, 2)?),
            4 => Part::Floating(FloatingAddress {
                address: text(row, 2)?,
                fixed_address: text(row, 3)?,
            }),
            5 => Part::Volume(
                (number(row, 8)?, number(row, 9)?),
                AttachedVolume {
                    id: text(row, 2)?,
                    delete_on_termination: number(row, 7)? != 0,
                },
            ),
            other => return Err(DecodeError::new("1", format!("no part of kind {other}"))),
        };
        Ok(Self {
            instance: text(row, 0)?,
            part,
        })
    }
}

/// The parts of one instance as they arrive, before they are ordered.
#[derive(Default)]
struct Gathered {
    fixed_ips: Vec<((i64, String, i64), FixedIp)>,
    security_groups: Vec<String>,
    volumes: Vec<((i64, i64), AttachedVolume)>,
}

/// Reads the parts of `rows` (instances read without them) into them.
pub(super) async fn attach(db: &Db, backend: Backend, rows: &mut [InstanceRow]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.uuid.as_str()).collect();
    let page = SqlValue::from(serde_json::Value::from(ids).to_string());
    let parts: Vec<PartRow> = db.scan(statement(backend), &[page]).await?;
    let placed: Vec<(usize, Part)> = {
        let position: HashMap<&str, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.uuid.as_str(), i))
            .collect();
        parts
            .into_iter()
            .filter_map(|p| position.get(p.instance.as_str()).map(|&i| (i, p.part)))
            .collect()
    };
    let mut gathered: Vec<Gathered> = rows.iter().map(|_| Gathered::default()).collect();
    for (i, part) in placed {
        let (row, gathered) = (&mut rows[i], &mut gathered[i]);
        match part {
            Part::Metadata(key, value) => {
                row.metadata.insert(key, value);
            }
            Part::Tag(tag) => row.tags.push(tag),
            Part::FixedIp(order, ip) => gathered.fixed_ips.push((order, ip)),
            Part::SecurityGroup(name) => gathered.security_groups.push(name),
            Part::Floating(address) => row.floating_ips.push(address),
            Part::Volume(order, volume) => gathered.volumes.push((order, volume)),
        }
    }
    for (row, mut gathered) in rows.iter_mut().zip(gathered) {
        row.tags.sort();
        row.floating_ips.sort_by(|a, b| a.address.cmp(&b.address));
        gathered.fixed_ips.sort_by(|a, b| a.0.cmp(&b.0));
        row.fixed_ips = gathered.fixed_ips.into_iter().map(|(_, ip)| ip).collect();
        gathered.volumes.sort_by_key(|(order, _)| *order);
        row.volumes = gathered.volumes.into_iter().map(|(_, v)| v).collect();
        gathered.security_groups.sort();
        gathered.security_groups.dedup();
        row.security_groups = serde_json::Value::from(gathered.security_groups).to_string();
    }
    Ok(())
}
