//! Rows and queries of the image tables.

use std::collections::BTreeMap;

use crate::db::{Columns, Db, DecodeError, Record, Sql, SqlValue, Tx, values};
use crate::{StoreResult, missing_if_none};

/// The core columns of an image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRow {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub owner: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for ImageRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            name: row.column("name")?,
            status: row.column("status")?,
            visibility: row.column("visibility")?,
            protected: row.column("protected")?,
            os_hidden: row.column("os_hidden")?,
            checksum: row.column("checksum")?,
            os_hash_algo: row.column("os_hash_algo")?,
            os_hash_value: row.column("os_hash_value")?,
            min_disk: row.column("min_disk")?,
            min_ram: row.column("min_ram")?,
            size: row.column("size")?,
            virtual_size: row.column("virtual_size")?,
            disk_format: row.column("disk_format")?,
            container_format: row.column("container_format")?,
            owner: row.column("owner")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// An image with its extra properties and tags.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    pub row: ImageRow,
    pub properties: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

/// A row of [`ImageRepo::get`]: the image and one of its parts, if it
/// has any.
struct ImageWithPart {
    row: ImageRow,
    part: Option<ImagePart>,
}

enum ImagePart {
    Property(String, String),
    Tag(String),
}

impl Record for ImageWithPart {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        let image = ImageRow::decode(row)?;
        let kind: Option<String> = row.column("part_kind")?;
        let part = match kind.as_deref() {
            None => None,
            Some("tag") => Some(ImagePart::Tag(row.column("part_name")?)),
            Some(_) => Some(ImagePart::Property(
                row.column("part_name")?,
                row.column("part_value")?,
            )),
        };
        Ok(Self { row: image, part })
    }
}

/// Columns an image listing may sort by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSortKey {
    Name,
    Status,
    ContainerFormat,
    DiskFormat,
    Size,
    Id,
    CreatedAt,
    UpdatedAt,
    MinDisk,
    MinRam,
    Visibility,
    Owner,
}

impl ImageSortKey {
    pub fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "name" => Self::Name,
            "status" => Self::Status,
            "container_format" => Self::ContainerFormat,
            "disk_format" => Self::DiskFormat,
            "size" => Self::Size,
            "id" => Self::Id,
            "created_at" => Self::CreatedAt,
            "updated_at" => Self::UpdatedAt,
            "min_disk" => Self::MinDisk,
            "min_ram" => Self::MinRam,
            "visibility" => Self::Visibility,
            "owner" => Self::Owner,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            Self::Name => "COALESCE(name, '')",
            Self::Status => "status",
            Self::ContainerFormat => "COALESCE(container_format, '')",
            Self::DiskFormat => "COALESCE(disk_format, '')",
            Self::Size => "COALESCE(size, -1)",
            Self::Id => "id",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::MinDisk => "min_disk",
            Self::MinRam => "min_ram",
            Self::Visibility => "visibility",
            Self::Owner => "COALESCE(owner, '')",
        }
    }

    /// The marker's value of the sort column.
    fn value_of(self, r: &ImageRow) -> SqlValue {
        let text = |v: &Option<String>| SqlValue::from(v.clone().unwrap_or_default());
        match self {
            Self::Name => text(&r.name),
            Self::Status => r.status.clone().into(),
            Self::ContainerFormat => text(&r.container_format),
            Self::DiskFormat => text(&r.disk_format),
            Self::Size => r.size.unwrap_or(-1).into(),
            Self::Id => r.id.clone().into(),
            Self::CreatedAt => r.created_at.into(),
            Self::UpdatedAt => r.updated_at.into(),
            Self::MinDisk => r.min_disk.into(),
            Self::MinRam => r.min_ram.into(),
            Self::Visibility => r.visibility.clone().into(),
            Self::Owner => text(&r.owner),
        }
    }
}

/// Which images a caller may list.
#[derive(Clone, Debug)]
pub enum ImageScope {
    /// Admins: every image (narrowed by `visibility` if given).
    All,
    /// A project: public and community images, and its own.
    Project(String),
}

/// Filters, order and page of an image listing.
#[derive(Clone, Debug)]
pub struct ImageQuery {
    pub scope: ImageScope,
    /// `public`, `private`, `shared`, `community` or `all`; `None` is
    /// Glance's default (everything the caller may see except others'
    /// community images).
    pub visibility: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    /// All of these tags.
    pub tags: Vec<String>,
    pub protected: Option<bool>,
    pub os_hidden: Option<bool>,
    pub size_min: Option<i64>,
    pub size_max: Option<i64>,
    /// Extra-property equality filters.
    pub properties: BTreeMap<String, String>,
    /// Exactly this image.
    pub id: Option<String>,
    /// Comparisons on `created_at` / `updated_at` (µs since the epoch).
    pub times: Vec<TimeFilter>,
    /// Sort keys with `true` for descending; the id breaks ties.
    pub sort: Vec<(ImageSortKey, bool)>,
    pub limit: Option<i64>,
    pub marker: Option<ImageRow>,
}

impl ImageQuery {
    /// Every image of `scope`, no filters, in the default order.
    pub fn within(scope: ImageScope) -> Self {
        Self {
            scope,
            visibility: None,
            name: None,
            status: None,
            owner: None,
            disk_format: None,
            container_format: None,
            tags: Vec::new(),
            protected: None,
            os_hidden: None,
            size_min: None,
            size_max: None,
            properties: BTreeMap::new(),
            id: None,
            times: Vec::new(),
            sort: Vec::new(),
            limit: None,
            marker: None,
        }
    }
}

/// A column of time an image listing can compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeColumn {
    CreatedAt,
    UpdatedAt,
}

/// How a time filter compares (Glance's `eq`, `neq`, `lt`, `lte`, `gt`,
/// `gte`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// `column <op> time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeFilter {
    pub column: TimeColumn,
    pub op: Compare,
    pub micros: i64,
}

/// Queries over images.
pub struct ImageRepo<'a> {
    db: &'a Db,
}

impl<'a> ImageRepo<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Inserts the image with its properties and tags.
    pub async fn insert(&self, image: &ImageRecord) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let r = &image.row;
        tx.execute(
            "INSERT INTO images (id, name, status, visibility, protected, os_hidden, checksum, \
             os_hash_algo, os_hash_value, min_disk, min_ram, size, virtual_size, disk_format, \
             container_format, owner, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            &values![
                &r.id,
                r.name.as_deref(),
                &r.status,
                &r.visibility,
                r.protected,
                r.os_hidden,
                r.checksum.as_deref(),
                r.os_hash_algo.as_deref(),
                r.os_hash_value.as_deref(),
                r.min_disk,
                r.min_ram,
                r.size,
                r.virtual_size,
                r.disk_format.as_deref(),
                r.container_format.as_deref(),
                r.owner.as_deref(),
                r.created_at,
                r.updated_at
            ],
        )
        .await?;
        write_children(&mut tx, image).await?;
        tx.commit().await
    }

    /// Replaces the image's mutable columns, properties and tags, provided
    /// its status is still `expected_status` (so an update never undoes a
    /// concurrent upload). `NotFound` otherwise.
    pub async fn update(&self, image: &ImageRecord, expected_status: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let r = &image.row;
        let done = tx
            .execute(
                "UPDATE images SET name = $2, visibility = $3, protected = $4, os_hidden = $5, \
                 min_disk = $6, min_ram = $7, disk_format = $8, container_format = $9, owner = $10, \
                 updated_at = $11, status = $12 WHERE id = $1 AND status = $13",
                &values![
                    &r.id,
                    r.name.as_deref(),
                    &r.visibility,
                    r.protected,
                    r.os_hidden,
                    r.min_disk,
                    r.min_ram,
                    r.disk_format.as_deref(),
                    r.container_format.as_deref(),
                    r.owner.as_deref(),
                    r.updated_at,
                    &r.status,
                    expected_status
                ],
            )
            .await?;
        missing_if_none(done)?;
        delete_children(&mut tx, &r.id).await?;
        write_children(&mut tx, image).await?;
        tx.commit().await
    }

    /// Moves the image from one status to another; `false` if it was not in
    /// `from` (someone else got there first).
    pub async fn transition(&self, id: &str, from: &str, to: &str, now: i64) -> StoreResult<bool> {
        let done = self
            .db
            .execute(
                "UPDATE images SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
                &values![id, from, to, now],
            )
            .await?;
        Ok(done == 1)
    }

    /// Records uploaded data and makes a `saving` image `active`.
    pub async fn finish_upload(
        &self,
        id: &str,
        data: &UploadedData,
        now: i64,
    ) -> StoreResult<bool> {
        let done = self
            .db
            .execute(
                "UPDATE images SET status = 'active', size = $2, checksum = $3, os_hash_algo = $4, \
                 os_hash_value = $5, virtual_size = $6, updated_at = $7 \
                 WHERE id = $1 AND status = 'saving'",
                &values![
                    id,
                    data.size,
                    &data.checksum,
                    &data.os_hash_algo,
                    &data.os_hash_value,
                    data.virtual_size,
                    now
                ],
            )
            .await?;
        Ok(done == 1)
    }

    /// One image with its properties and tags, read in one statement (a
    /// boot reads its image: on PostgreSQL one round trip, not three).
    pub async fn get(&self, id: &str) -> StoreResult<Option<ImageRecord>> {
        let rows: Vec<ImageWithPart> = self
            .db
            .point(
                "SELECT i.*, c.part_kind, c.part_name, c.part_value FROM images i \
                 LEFT JOIN (SELECT image_id, 'property' AS part_kind, name AS part_name, \
                 value AS part_value FROM image_properties WHERE image_id = $1 \
                 UNION ALL SELECT image_id, 'tag', tag, NULL FROM image_tags \
                 WHERE image_id = $1) c ON c.image_id = i.id \
                 WHERE i.id = $1 ORDER BY c.part_kind, c.part_name",
                &values![id],
            )
            .await?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let mut record = ImageRecord {
            row: first.row,
            properties: BTreeMap::new(),
            tags: Vec::new(),
        };
        for part in std::iter::once(first.part).chain(rows.map(|r| r.part)) {
            match part {
                Some(ImagePart::Property(name, value)) => {
                    record.properties.insert(name, value);
                }
                Some(ImagePart::Tag(tag)) => record.tags.push(tag),
                None => {}
            }
        }
        Ok(Some(record))
    }

    pub async fn delete(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        delete_children(&mut tx, id).await?;
        let done = tx
            .execute("DELETE FROM images WHERE id = $1", &values![id])
            .await?;
        missing_if_none(done)?;
        tx.commit().await
    }

    pub async fn count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = self
            .db
            .optional("SELECT COUNT(*) FROM images", &[])
            .await?
            .unwrap_or((0,));
        Ok(n)
    }

    /// Images with the given extra property value (e.g. snapshots of a server).
    pub async fn ids_with_property(&self, name: &str, value: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .db
            .scan(
                "SELECT image_id FROM image_properties WHERE name = $1 AND value = $2",
                &values![name, value],
            )
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// One page of images, in three queries whatever the page size.
    pub async fn list(&self, q: &ImageQuery) -> StoreResult<Vec<ImageRecord>> {
        let mut b = Sql::new("SELECT * FROM images WHERE 1 = 1");
        let visibility = q.visibility.as_deref();
        match &q.scope {
            ImageScope::All => {
                if let Some(v) = visibility.filter(|v| *v != "all") {
                    let v = b.bind(v);
                    b.push(&format!(" AND visibility = {v}"));
                }
            }
            ImageScope::Project(project) => {
                let own = b.bind(project.as_str());
                match visibility {
                    None => b.push(&format!(" AND (visibility = 'public' OR owner = {own})")),
                    Some("all") => b.push(&format!(
                        " AND (visibility IN ('public', 'community') OR owner = {own})"
                    )),
                    Some(v @ ("public" | "community")) => {
                        b.push(&format!(" AND visibility = '{v}'"));
                    }
                    Some(v) => {
                        let v = b.bind(v);
                        b.push(&format!(" AND visibility = {v} AND owner = {own}"));
                    }
                }
            }
        }
        for (column, value) in [
            ("name", &q.name),
            ("status", &q.status),
            ("owner", &q.owner),
            ("disk_format", &q.disk_format),
            ("container_format", &q.container_format),
        ] {
            if let Some(value) = value {
                let v = b.bind(value.as_str());
                b.push(&format!(" AND {column} = {v}"));
            }
        }
        for (column, value) in [("protected", q.protected), ("os_hidden", q.os_hidden)] {
            if let Some(value) = value {
                let v = b.bind(value);
                b.push(&format!(" AND {column} = {v}"));
            }
        }
        if let Some(id) = &q.id {
            let v = b.bind(id.as_str());
            b.push(&format!(" AND id = {v}"));
        }
        for t in &q.times {
            let column = match t.column {
                TimeColumn::CreatedAt => "created_at",
                TimeColumn::UpdatedAt => "updated_at",
            };
            let v = b.bind(t.micros);
            b.push(&format!(" AND {column} {} {v}", t.op.sql()));
        }
        if let Some(min) = q.size_min {
            let v = b.bind(min);
            b.push(&format!(" AND size >= {v}"));
        }
        if let Some(max) = q.size_max {
            let v = b.bind(max);
            b.push(&format!(" AND size <= {v}"));
        }
        for tag in &q.tags {
            let t = b.bind(tag.as_str());
            b.push(&format!(
                " AND id IN (SELECT image_id FROM image_tags WHERE tag = {t})"
            ));
        }
        for (name, value) in &q.properties {
            let n = b.bind(name.as_str());
            let v = b.bind(value.as_str());
            b.push(&format!(
                " AND id IN (SELECT image_id FROM image_properties WHERE name = {n} AND value = {v})"
            ));
        }
        let mut keys = q.sort.clone();
        let tie_desc = keys.first().is_some_and(|(_, d)| *d);
        if !keys.iter().any(|(k, _)| *k == ImageSortKey::Id) {
            keys.push((ImageSortKey::Id, tie_desc));
        }
        if let Some(marker) = &q.marker {
            // (k1 > m1) OR (k1 = m1 AND k2 > m2) OR ..., each in its direction.
            let mut alternatives = Vec::new();
            for i in 0..keys.len() {
                let mut terms = Vec::new();
                for (key, _) in &keys[..i] {
                    let m = b.bind(key.value_of(marker));
                    terms.push(format!("{} = {m}", key.column()));
                }
                let (key, desc) = keys[i];
                let m = b.bind(key.value_of(marker));
                terms.push(format!(
                    "{} {} {m}",
                    key.column(),
                    if desc { "<" } else { ">" }
                ));
                alternatives.push(format!("({})", terms.join(" AND ")));
            }
            b.push(&format!(" AND ({})", alternatives.join(" OR ")));
        }
        let order: Vec<String> = keys
            .iter()
            .map(|(k, d)| format!("{} {}", k.column(), if *d { "DESC" } else { "ASC" }))
            .collect();
        b.push(&format!(" ORDER BY {}", order.join(", ")));
        if let Some(limit) = q.limit {
            b.push(&format!(" LIMIT {}", limit.max(0)));
        }
        let rows: Vec<ImageRow> = self.db.scan(&b.sql, &b.binds).await?;
        self.with_children(rows).await
    }

    /// Attaches properties and tags to rows, with one query each.
    async fn with_children(&self, rows: Vec<ImageRow>) -> StoreResult<Vec<ImageRecord>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Sql::default();
        let placeholders = ids.bind_list(rows.iter().map(|r| SqlValue::from(&r.id)));
        let ids = ids.binds;
        let mut props: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let sql = format!(
            "SELECT image_id, name, value FROM image_properties WHERE image_id IN ({placeholders})"
        );
        let found: Vec<(String, String, String)> = self.db.point(&sql, &ids).await?;
        for (id, name, value) in found {
            props.entry(id).or_default().insert(name, value);
        }
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let sql = format!(
            "SELECT image_id, tag FROM image_tags WHERE image_id IN ({placeholders}) ORDER BY tag"
        );
        let found: Vec<(String, String)> = self.db.point(&sql, &ids).await?;
        for (id, tag) in found {
            tags.entry(id).or_default().push(tag);
        }
        Ok(rows
            .into_iter()
            .map(|row| ImageRecord {
                properties: props.remove(&row.id).unwrap_or_default(),
                tags: tags.remove(&row.id).unwrap_or_default(),
                row,
            })
            .collect())
    }
}

/// What an upload produced.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadedData {
    pub size: i64,
    pub checksum: String,
    pub os_hash_algo: String,
    pub os_hash_value: String,
    pub virtual_size: Option<i64>,
}

async fn write_children(tx: &mut Tx, image: &ImageRecord) -> StoreResult<()> {
    for (name, value) in &image.properties {
        tx.execute(
            "INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)",
            &values![&image.row.id, name, value],
        )
        .await?;
    }
    for tag in &image.tags {
        tx.execute(
            "INSERT INTO image_tags (image_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &values![&image.row.id, tag],
        )
        .await?;
    }
    Ok(())
}

async fn delete_children(tx: &mut Tx, image_id: &str) -> StoreResult<()> {
    for table in ["image_properties", "image_tags"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE image_id = $1"),
            &values![image_id],
        )
        .await?;
    }
    Ok(())
}
