//! SQLite through rusqlite, on the calling thread.
//!
//! Reads run on a connection kept per thread and per store (WAL lets them
//! run beside the writer, and a read sees every transaction committed
//! before it began, so a client always reads back what it was told
//! succeeded). Long reads first hand the runtime worker's other tasks to a
//! fresh thread (`block_in_place`).
//!
//! Writes run on the store's one writing connection, taken in turn with a
//! fair async lock, for a statement or a whole transaction that begins
//! `IMMEDIATE` (it holds the write lock from its first statement and never
//! fails to upgrade a read snapshot). With one writer in the process there
//! is nobody to wait for but the checkpointer, whose truncation is brief.
//!
//! Going through sqlx instead would hand every statement to a worker
//! thread and back; on two busy cores each hop waited for a scheduler slot
//! while the transaction held SQLite's write lock (boots and actions ran at
//! a few hundred per second; docs/performance.md).

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::record::{ColumnNames, Record, SqliteRow};
use super::value::SqlValue;
use crate::{StoreError, StoreResult};

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// WAL pages after which a committing writer checkpoints itself: only a
/// safety net, should the checkpointer fall behind (64 MiB of 4 KiB pages).
const WAL_PAGES_BEFORE_INLINE_CHECKPOINT: i64 = 16_384;

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// How long a connection waits for a lock another one holds (the
/// checkpointer's truncation, or another process opening the file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's reading connection to each store it has read from.
    static READERS: RefCell<HashMap<u64, Connection>> = RefCell::new(HashMap::new());
}

/// One SQLite database file.
#[derive(Debug)]
pub(crate) struct Sqlite {
    /// Distinguishes stores, so that a file reopened at the same path (as
    /// tests do) never reads through a stale connection.
    id: u64,
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    /// Dropped with the store, which ends its checkpointer thread.
    _checkpointer: mpsc::Sender<()>,
}

/// A connection that waits for locks (the writer and the readers).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_impatient(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A connection that is refused at once when a lock is taken (the
/// checkpointer, which must never hold writers back while it waits).
fn open_impatient(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

impl Sqlite {
    /// Opens (creating) the file at `path` in WAL mode.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let writer = open(path)?;
        // WAL with NORMAL sync keeps every committed transaction across a
        // process crash (only a power cut may lose the last ones).
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_PAGES_BEFORE_INLINE_CHECKPOINT,
        )?;
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_owned(),
            writer: Arc::new(Mutex::new(writer)),
            _checkpointer: start_checkpointer(path)?,
        })
    }

    /// A read of a few rows by key, on the calling thread.
    pub fn point<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        self.read(sql, binds)
    }

    /// A read that may return many rows; on a multi-threaded runtime the
    /// worker first hands its other tasks to a fresh thread, so a long
    /// scan delays nobody.
    pub fn scan<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.read(sql, binds))
            }
            _ => self.read(sql, binds),
        }
    }

    fn read<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        READERS.with(|cell| {
            let mut readers = cell.borrow_mut();
            let conn = match readers.entry(self.id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let conn = open(&self.path)?;
                    conn.pragma_update(None, "query_only", true)?;
                    e.insert(conn)
                }
            };
            query_rows(conn, sql, binds)
        })
    }

    /// One statement on its own; returns the rows it changed.
    pub async fn execute(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        execute(&*self.writer.lock().await, sql, binds)
    }

    /// Runs a script of statements (migrations) on the writer.
    pub async fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        Ok(self.writer.lock().await.execute_batch(sql)?)
    }

    /// Copies the WAL back into the database file and empties it (at a
    /// clean shutdown).
    pub async fn truncate_wal(&self) -> StoreResult<()> {
        let conn = self.writer.lock().await;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Begins a transaction that holds the write lock until it ends.
    pub async fn begin(&self) -> StoreResult<SqliteTx> {
        let conn = self.writer.clone().lock_owned().await;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(SqliteTx { conn, open: true })
    }
}

/// A transaction on the writer; holds its lock until it ends, and rolls
/// back when dropped without [`SqliteTx::commit`].
pub(crate) struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
    open: bool,
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the caller has gone (an error, or a
            // cancelled request), and a failed rollback leaves SQLite to
            // roll back when the connection is next used.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl SqliteTx {
    pub fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        execute(&self.conn, sql, binds)
    }

    pub fn execute_batch(&mut self, sql: &str) -> StoreResult<()> {
        Ok(self.conn.execute_batch(sql)?)
    }

    pub fn fetch_all<T: Record>(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        query_rows(&self.conn, sql, binds)
    }

    pub fn commit(mut self) -> StoreResult<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

fn execute(conn: &Connection, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, binds)?;
    let changed = statement.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Runs a statement and decodes every row it returns.
fn query_rows<T: Record>(conn: &Connection, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let names = ColumnNames::of(&statement);
    bind_numbered(&mut statement, binds)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::decode(&SqliteRow::new(row, &names))?);
    }
    Ok(out)
}

/// Binds `binds[k]` to the placeholder `$k+1`. SQLite reads `$1` as a
/// *named* parameter numbered by first appearance, so positional binding
/// would misplace values in a statement such as `SET a = $2 WHERE b = $1`
/// or one that uses a placeholder twice.
fn bind_numbered(
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

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Int(Some(i)) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Float(Some(f)) => ToSqlOutput::Owned(Value::Real(*f)),
            SqlValue::Bool(Some(b)) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            SqlValue::Text(Some(t)) => ToSqlOutput::Borrowed(t.as_str().into()),
            SqlValue::Blob(Some(b)) => ToSqlOutput::Borrowed(b.as_slice().into()),
            SqlValue::Int(None)
            | SqlValue::Float(None)
            | SqlValue::Bool(None)
            | SqlValue::Text(None)
            | SqlValue::Blob(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Checkpoints the WAL from a thread of its own. SQLite would otherwise
/// checkpoint inside whichever commit crosses 1,000 WAL pages, with two
/// fsyncs, while every other writer waits (a tenth of the writer's time
/// under load). A passive checkpoint runs beside readers and the writer;
/// copying a quarter-second of commits at once also writes a page changed
/// many times (the counters, a busy index page) only once.
fn start_checkpointer(path: &Path) -> StoreResult<mpsc::Sender<()>> {
    let conn = open_impatient(path)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut frames = 0;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                match checkpoint(&conn, frames) {
                    Ok(now) => frames = now,
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
                }
            }
        })
        .map_err(StoreError::Thread)?;
    Ok(stop)
}

/// One round of the checkpointer: a passive checkpoint; then, if the WAL
/// holds anything and nothing was written since the last round
/// (`last_frames`), one attempt to truncate it. That attempt holds writers
/// back while it waits for readers, so it is made only once the writers
/// have gone quiet; while a reader still needs the WAL it is refused at
/// once and made again next round. Returns the WAL's length in frames.
fn checkpoint(conn: &Connection, last_frames: i64) -> rusqlite::Result<i64> {
    let (frames, copied): (i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get(1)?, row.get(2)?))
        })?;
    if frames > 0 && copied == frames && frames == last_frames {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(frames)
}
