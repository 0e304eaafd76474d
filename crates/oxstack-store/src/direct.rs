//! Reads on SQLite without sqlx's thread hand-off.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and hands
//! every query there and back over channels. On the hot read paths (one
//! server, one flavor, a page of servers) that hand-off — a futex wake and a
//! context switch each way — costs more than the query itself
//! (docs/performance.md has the profile). These reads run instead on the
//! calling thread, through a connection kept per thread and per store.
//!
//! SQLite in WAL mode lets such readers run beside the one writer, and a
//! read sees every transaction committed before it began, so a client
//! always reads back the writes it was told succeeded. The connections are
//! opened read-write but with `query_only` set: nothing written here.
//!
//! Repositories do not choose a path themselves: they hand [`Reads`] one
//! SQL text with its binds and a [`Record`] to decode, and get the direct
//! path on SQLite and sqlx on PostgreSQL.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool};

use crate::StoreResult;
use crate::value::SqlValue;

/// A column type both paths can decode.
pub(crate) trait ColumnType:
    for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql
{
}

impl<T> ColumnType for T where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql
{
}

/// Typed column access over a row from either path (sqlx's `Any` rows and
/// direct SQLite rows), so that one decoder reads a record from both.
pub(crate) trait Columns {
    fn column<T: ColumnType>(&self, name: &str) -> sqlx::Result<T>;

    /// The column at `index` (for records read as tuples).
    fn column_at<T: ColumnType>(&self, index: usize) -> sqlx::Result<T>;

    /// A 0/1 flag column (flags are stored as integers: sqlx's `Any` driver
    /// cannot read SQLite booleans).
    fn flag(&self, name: &str) -> sqlx::Result<bool> {
        Ok(self.column::<i64>(name)? != 0)
    }
}

/// A record read whole from one row, by either path.
pub(crate) trait Record: Sized {
    fn decode(row: &impl Columns) -> sqlx::Result<Self>;
}

/// Tuples read their columns in order (`SELECT a, b` as `(A, B)`).
macro_rules! tuple_record {
    ($($t:ident $i:tt),+) => {
        impl<$($t: ColumnType),+> Record for ($($t,)+) {
            fn decode(row: &impl Columns) -> sqlx::Result<Self> {
                Ok(($(row.column_at::<$t>($i)?,)+))
            }
        }
    };
}
tuple_record!(A 0);
tuple_record!(A 0, B 1);
tuple_record!(A 0, B 1, C 2);

/// Binds values, in order, to a sqlx query.
pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [SqlValue],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for value in binds {
        query = match value {
            SqlValue::Int(i) => query.bind(*i),
            SqlValue::Text(t) => query.bind(t.as_str()),
            SqlValue::NullInt => query.bind(None::<i64>),
            SqlValue::NullText => query.bind(None::<&str>),
        };
    }
    query
}

/// The read path of a store: direct on SQLite, sqlx otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Reads<'a> {
    pub(crate) pool: &'a AnyPool,
    pub(crate) direct: Option<&'a DirectReads>,
}

impl Reads<'_> {
    /// A few rows by key.
    pub(crate) async fn point<T: Record>(
        &self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Vec<T>> {
        match self.direct {
            Some(direct) => direct.point(sql, binds, |row| T::decode(row)),
            None => self.through_sqlx(sql, binds).await,
        }
    }

    /// Possibly many rows (a page of a listing).
    pub(crate) async fn scan<T: Record>(
        &self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Vec<T>> {
        match self.direct {
            Some(direct) => direct.scan(sql, binds, |row| T::decode(row)),
            None => self.through_sqlx(sql, binds).await,
        }
    }

    async fn through_sqlx<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        let rows = bind_all(sqlx::query(sql), binds)
            .fetch_all(self.pool)
            .await?;
        Ok(rows.iter().map(T::decode).collect::<sqlx::Result<_>>()?)
    }
}

impl Columns for AnyRow {
    fn column<T: ColumnType>(&self, name: &str) -> sqlx::Result<T> {
        sqlx::Row::try_get(self, name)
    }

    fn column_at<T: ColumnType>(&self, index: usize) -> sqlx::Result<T> {
        sqlx::Row::try_get(self, index)
    }
}

/// A statement's column names, read once per query: rusqlite's lookup by
/// name re-reads and compares every name through the C API on each call,
/// which for a fifty-column row cost more than running the query.
struct ColumnNames {
    names: Vec<String>,
}

impl ColumnNames {
    fn of(statement: &rusqlite::Statement<'_>) -> Self {
        Self {
            names: statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// A row read directly, with its statement's column names.
pub(crate) struct DirectRow<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a ColumnNames,
}

impl Columns for DirectRow<'_> {
    fn column<T: ColumnType>(&self, name: &str) -> sqlx::Result<T> {
        let index = self
            .names
            .index(name)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_owned()))?;
        self.column_at(index)
    }

    fn column_at<T: ColumnType>(&self, index: usize) -> sqlx::Result<T> {
        self.row.get(index).map_err(|e| sqlx::Error::ColumnDecode {
            index: index.to_string(),
            source: Box::new(e),
        })
    }
}

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Text(t) => ToSqlOutput::Borrowed(t.as_str().into()),
            SqlValue::NullInt | SqlValue::NullText => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Statements of the hot paths stay prepared per connection.
const STATEMENT_CACHE: usize = 64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's connection to each store it has read from.
    static CONNECTIONS: RefCell<HashMap<u64, Connection>> = RefCell::new(HashMap::new());
}

/// Direct read access to one SQLite database file.
#[derive(Debug)]
pub(crate) struct DirectReads {
    /// Distinguishes stores, so that a file reopened at the same path (as
    /// tests do) never reads through a stale connection.
    id: u64,
    path: PathBuf,
}

impl DirectReads {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_owned(),
        }
    }

    /// Runs a query that reads a few rows by key, on the calling thread.
    fn point<T>(
        &self,
        sql: &str,
        binds: &[SqlValue],
        map: impl FnMut(&DirectRow<'_>) -> sqlx::Result<T>,
    ) -> StoreResult<Vec<T>> {
        self.run(sql, binds, map)
    }

    /// Runs a query that may read many rows. On a multi-threaded runtime
    /// the worker first hands its other tasks to a fresh thread, so a long
    /// scan delays nobody.
    fn scan<T>(
        &self,
        sql: &str,
        binds: &[SqlValue],
        map: impl FnMut(&DirectRow<'_>) -> sqlx::Result<T>,
    ) -> StoreResult<Vec<T>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.run(sql, binds, map))
            }
            _ => self.run(sql, binds, map),
        }
    }

    fn run<T>(
        &self,
        sql: &str,
        binds: &[SqlValue],
        mut map: impl FnMut(&DirectRow<'_>) -> sqlx::Result<T>,
    ) -> StoreResult<Vec<T>> {
        CONNECTIONS.with(|cell| {
            let mut connections = cell.borrow_mut();
            let conn = match connections.entry(self.id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.open()?),
            };
            query_rows(conn, sql, binds, &mut map)
        })
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// Runs a statement on a direct connection and maps every row it returns.
pub(crate) fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    binds: &[SqlValue],
    mut map: impl FnMut(&DirectRow<'_>) -> sqlx::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let names = ColumnNames::of(&statement);
    bind_numbered(&mut statement, binds)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(&DirectRow { row, names: &names })?);
    }
    Ok(out)
}

/// Binds `binds[k]` to the placeholder `$k+1`. SQLite reads `$1` as a
/// *named* parameter numbered by first appearance, so positional binding
/// would misplace values in a statement such as `SET a = $2 WHERE b = $1`
/// or one that uses a placeholder twice; sqlx maps them by name, and so
/// must this path.
pub(crate) fn bind_numbered(
    statement: &mut rusqlite::Statement<'_>,
    binds: &[SqlValue],
) -> rusqlite::Result<()> {
    for (k, value) in binds.iter().enumerate() {
        if let Some(index) = statement.parameter_index(&format!("${}", k + 1))? {
            statement.raw_bind_parameter(index, value)?;
        }
    }
    Ok(())
}
