//! SQLite through rusqlite, on the calling thread.
//!
//! Reads run on a connection kept per thread and per store (WAL lets them
//! run beside the writer, and a read sees every transaction committed
//! before it began, so a client always reads back what it was told
//! succeeded). A read that runs long hands the runtime worker's other
//! tasks to a fresh thread (`block_in_place`) for the rest of its rows.
//!
//! Writes run on the store's one writing connection, taken in turn with a
//! fair async lock, for a statement or a whole transaction that begins
//! `IMMEDIATE` (it holds the write lock from its first statement and never
//! fails to upgrade a read snapshot). With one writer in the process there
//! is nobody to wait for but the checkpointer, whose truncation is brief.
//!
//! Commits are grouped. A transaction is a savepoint inside an outer
//! transaction; when it ends while other writers wait for the connection,
//! it releases its savepoint and leaves the commit to the group: the next
//! writers continue the same outer transaction, and one `COMMIT` ends them
//! all (a commit writes every page it changed to the WAL, and transactions
//! that follow each other change many of the same pages: counters, quota
//! usage, the newest leaves of indexes). Each transaction is answered only
//! once its group has committed, and with the group's outcome, so nothing
//! is acknowledged before it is in the WAL; a transaction that fails rolls
//! back to its savepoint, taking nothing of the others with it. With no
//! writer waiting, a transaction commits at once, as it would alone.
//!
//! Going through sqlx instead would hand every statement to a worker
//! thread and back; on two busy cores each hop waited for a scheduler slot
//! while the transaction held SQLite's write lock (boots and actions ran at
//! a few hundred per second; docs/performance.md).

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use super::record::{ColumnNames, Record, SqliteRow};
use super::value::SqlValue;
use crate::{StoreError, StoreResult};

/// How long a scan decodes rows on the runtime's worker before it hands
/// the worker's other tasks to a fresh thread. Handing off at once cost
/// every scan two thread switches: with two small scans per boot, a
/// sixth to a fifth of the boots per second (docs/performance.md).
const SCAN_ON_WORKER: Duration = Duration::from_micros(500);

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

/// The most transactions one commit ends: a bound on how long the first
/// of them waits for its answer.
const GROUP_MAX: usize = 64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Statements whose column names a connection keeps; past this many it
/// forgets them all (listings with many filters make many statements).
const NAMES_KEPT: usize = 256;

/// Counts the scripts run on writers and committed (migrations: the only
/// changes of schema). A connection that sees it move forgets its
/// prepared statements and the column names it kept, which a changed
/// schema may have made stale: SQLite prepares a statement anew for a
/// changed schema only when it next steps it, and until then reports the
/// old columns.
static SCRIPTS_RUN: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's reading connection to each store it has read from.
    static READERS: RefCell<HashMap<u64, Reader>> = RefCell::new(HashMap::new());
}

/// A thread's reading connection, and the column names of the
/// statements it has run.
struct Reader {
    conn: Connection,
    names: KnownNames,
}

/// Column names by statement, kept for one connection: reading fifty
/// names through SQLite's API for every query cost a twentieth of
/// showing a server.
#[derive(Debug)]
struct KnownNames {
    /// [`SCRIPTS_RUN`] when these were read.
    scripts: u64,
    names: HashMap<String, Arc<ColumnNames>>,
}

impl KnownNames {
    fn new() -> Self {
        Self {
            scripts: SCRIPTS_RUN.load(Ordering::Acquire),
            names: HashMap::new(),
        }
    }

    /// Runs `sql` on `conn`, the connection these names are of, and
    /// decodes every row it returns; past `hand_off_at`, if given, off the
    /// runtime's worker.
    fn query<T: Record>(
        &mut self,
        conn: &Connection,
        sql: &str,
        binds: &[SqlValue],
        hand_off_at: Option<Instant>,
    ) -> StoreResult<Vec<T>> {
        let scripts = SCRIPTS_RUN.load(Ordering::Acquire);
        if scripts != self.scripts {
            conn.flush_prepared_statement_cache();
            self.names.clear();
            self.scripts = scripts;
        }
        let mut statement = conn.prepare_cached(sql)?;
        bind_numbered(&mut statement, binds)?;
        let mut known = self.names.get(sql).cloned();
        let fresh = known.is_none();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        if !decode_rows(&mut rows, &mut known, &mut out, hand_off_at)? {
            off_the_worker(|| decode_rows(&mut rows, &mut known, &mut out, None))?;
        }
        if fresh && let Some(names) = known {
            if self.names.len() >= NAMES_KEPT {
                self.names.clear();
            }
            self.names.insert(sql.to_owned(), names);
        }
        Ok(out)
    }
}

/// Decodes rows into `out` until there are none left (true) or, checked
/// every few rows, `until` has passed (false).
fn decode_rows<T: Record>(
    rows: &mut rusqlite::Rows<'_>,
    known: &mut Option<Arc<ColumnNames>>,
    out: &mut Vec<T>,
    until: Option<Instant>,
) -> StoreResult<bool> {
    while let Some(row) = rows.next()? {
        // Read once the statement has stepped: until then, one whose
        // schema changed reports its old columns, even freshly prepared.
        let names = known.get_or_insert_with(|| Arc::new(ColumnNames::of(row.as_ref())));
        out.push(T::decode(&SqliteRow::new(row, names))?);
        if until.is_some_and(|t| out.len().is_multiple_of(16) && Instant::now() >= t) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs `work` after handing the runtime worker's other tasks to a fresh
/// thread, on a multi-threaded runtime (elsewhere there is no other
/// thread to hand them to).
fn off_the_worker<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Notes that a script (a migration) ran and was committed.
fn script_ran() {
    SCRIPTS_RUN.fetch_add(1, Ordering::AcqRel);
}

/// One SQLite database file.
#[derive(Debug)]
pub(crate) struct Sqlite {
    /// Distinguishes stores, so that a file reopened at the same path (as
    /// tests do) never reads through a stale connection.
    id: u64,
    path: PathBuf,
    writer: Writer,
    /// Dropped with the store, which ends its checkpointer thread.
    _checkpointer: mpsc::Sender<()>,
}

/// The writing connection, taken in turn, and how many wait for it.
#[derive(Clone, Debug)]
struct Writer {
    lock: Arc<Mutex<Writing>>,
    waiting: Arc<AtomicUsize>,
}

/// The writing connection and the group of ended transactions it has not
/// committed yet.
#[derive(Debug)]
struct Writing {
    conn: Connection,
    names: KnownNames,
    group: Option<Group>,
    /// Numbers groups, so that a committer finds whether its group is
    /// still the open one.
    groups: u64,
}

/// Transactions that ended (released their savepoints) inside one open
/// outer transaction; they learn its outcome together.
#[derive(Debug)]
struct Group {
    number: u64,
    members: usize,
    outcome: watch::Sender<Option<Outcome>>,
}

/// How a group's commit went (an error as SQLite reported it, to be
/// given to every member).
type Outcome = Result<(), (rusqlite::ffi::Error, Option<String>)>;

/// Counts a task waiting for the writer while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// The connection, once the writers before have had it.
    async fn lock(&self) -> OwnedMutexGuard<Writing> {
        let _waiting = Waiting::new(&self.waiting);
        self.lock.clone().lock_owned().await
    }

    /// The connection with no group left open (for work outside
    /// transactions: migrations, the WAL's truncation).
    async fn settled(&self) -> StoreResult<OwnedMutexGuard<Writing>> {
        let mut writing = self.lock().await;
        writing.commit_group()?;
        Ok(writing)
    }
}

impl Writing {
    /// Commits the open group, if any, and tells its members.
    fn commit_group(&mut self) -> StoreResult<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let committed = if self.conn.is_autocommit() {
            // SQLite rolled the outer transaction back itself (an I/O
            // error, a full disk): the group's work is gone.
            Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the transaction was rolled back by SQLite".into()),
            ))
        } else {
            self.conn.execute_batch("COMMIT").inspect_err(|_| {
                let _ = self.conn.execute_batch("ROLLBACK");
            })
        };
        let outcome = committed.as_ref().map(|_| ()).map_err(failure);
        group.outcome.send_replace(Some(outcome));
        Ok(committed?)
    }
}

/// An error as a group's members are each given it.
fn failure(err: &rusqlite::Error) -> (rusqlite::ffi::Error, Option<String>) {
    match err {
        rusqlite::Error::SqliteFailure(code, message) => (*code, message.clone()),
        other => (
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
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
        // A group's savepoints keep the pages they change in a
        // sub-journal; past 64 KiB SQLite spills it to a temporary file,
        // one `pwrite` per page (a tenth of a boot's CPU). In memory it
        // lives only until the group commits.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_PAGES_BEFORE_INLINE_CHECKPOINT,
        )?;
        let writing = Writing {
            conn: writer,
            names: KnownNames::new(),
            group: None,
            groups: 0,
        };
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_owned(),
            writer: Writer {
                lock: Arc::new(Mutex::new(writing)),
                waiting: Arc::default(),
            },
            _checkpointer: start_checkpointer(path)?,
        })
    }

    /// A read of a few rows by key, on the calling thread.
    pub fn point<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        self.read(sql, binds, None)
    }

    /// A read that may return many rows: on the calling thread too, but
    /// once it has decoded rows for [`SCAN_ON_WORKER`] the worker hands
    /// its other tasks to a fresh thread, so a long scan delays nobody.
    /// (A statement that sorts before its first row still sorts on the
    /// worker.)
    pub fn scan<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        self.read(sql, binds, Some(Instant::now() + SCAN_ON_WORKER))
    }

    fn read<T: Record>(
        &self,
        sql: &str,
        binds: &[SqlValue],
        hand_off_at: Option<Instant>,
    ) -> StoreResult<Vec<T>> {
        READERS.with(|cell| {
            let mut readers = cell.borrow_mut();
            let reader = match readers.entry(self.id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let conn = open(&self.path)?;
                    conn.pragma_update(None, "query_only", true)?;
                    e.insert(Reader {
                        conn,
                        names: KnownNames::new(),
                    })
                }
            };
            reader.names.query(&reader.conn, sql, binds, hand_off_at)
        })
    }

    /// One statement on its own (a transaction of one statement, in a
    /// group like any); returns the rows it changed.
    pub async fn execute(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let changed = tx.execute(sql, binds)?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Runs a script of statements (migrations) on the writer.
    pub async fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        let ran = self.writer.settled().await?.conn.execute_batch(sql);
        script_ran();
        Ok(ran?)
    }

    /// Copies the WAL back into the database file and empties it (at a
    /// clean shutdown).
    pub async fn truncate_wal(&self) -> StoreResult<()> {
        let writing = self.writer.settled().await?;
        let conn = &writing.conn;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Begins a transaction that holds the write lock until it ends: a
    /// savepoint in the open group's outer transaction, or in a new one.
    pub async fn begin(&self) -> StoreResult<SqliteTx> {
        let mut writing = self.writer.lock().await;
        if writing.group.is_some() && writing.conn.is_autocommit() {
            // The open group's transaction is gone: its members hear so.
            let _ = writing.commit_group();
        }
        if writing.group.is_none() {
            writing.conn.execute_batch("BEGIN IMMEDIATE")?;
            writing.groups += 1;
            writing.group = Some(Group {
                number: writing.groups,
                members: 0,
                outcome: watch::Sender::new(None),
            });
        }
        if let Err(e) = writing.conn.execute_batch("SAVEPOINT tx") {
            let _ = writing.commit_group();
            return Err(e.into());
        }
        Ok(SqliteTx {
            writing,
            writer: self.writer.clone(),
            open: true,
            ran_script: false,
        })
    }
}

/// A transaction on the writer; holds its lock until it ends, and rolls
/// back when dropped without [`SqliteTx::commit`].
pub(crate) struct SqliteTx {
    writing: OwnedMutexGuard<Writing>,
    writer: Writer,
    open: bool,
    /// It ran a script (a migration), which may have changed the schema.
    ran_script: bool,
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the caller has gone (an error, or a
            // cancelled request). Only this transaction's changes are
            // undone; the group's earlier members keep theirs.
            let _ = self
                .writing
                .conn
                .execute_batch("ROLLBACK TO tx; RELEASE tx");
            // And they are committed now: what this transaction saw of
            // theirs (often the very row its own conflicted with) must be
            // there for whatever its caller reads next, on a reader.
            if let Err(e) = self.writing.commit_group() {
                tracing::error!(error = %e, "a group commit failed");
            }
            if self.ran_script {
                script_ran();
            }
        }
    }
}

impl SqliteTx {
    pub fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        execute(&self.writing.conn, sql, binds)
    }

    pub fn execute_batch(&mut self, sql: &str) -> StoreResult<()> {
        self.ran_script = true;
        let ran = self.writing.conn.execute_batch(sql);
        // This connection sees the new schema now; the others once it is
        // committed (noted again then).
        script_ran();
        Ok(ran?)
    }

    pub fn fetch_all<T: Record>(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        let Writing { conn, names, .. } = &mut *self.writing;
        names.query(conn, sql, binds, None)
    }

    /// Ends the transaction; returns once it is committed, with its
    /// group if others were waiting to write.
    pub async fn commit(mut self) -> StoreResult<()> {
        self.writing.conn.execute_batch("RELEASE tx")?;
        self.open = false;
        let waiting = self.writer.waiting.load(Ordering::SeqCst);
        let Some(group) = self.writing.group.as_mut() else {
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
                Some("a transaction ended outside its group".into()),
            )));
        };
        group.members += 1;
        if self.ran_script {
            // Committed at once, so that it is known when every
            // connection can see the new schema.
            let committed = self.writing.commit_group();
            script_ran();
            return committed;
        }
        if waiting == 0 || group.members >= GROUP_MAX {
            return self.writing.commit_group();
        }
        let mut outcome = group.outcome.subscribe();
        if group.members == 1 {
            // The group's committer queues behind the writers waiting now,
            // which join the group; whoever ends it first with nobody
            // waiting commits it instead.
            let (writer, number) = (self.writer.clone(), group.number);
            tokio::spawn(async move {
                let mut writing = writer.lock.lock_owned().await;
                if writing.group.as_ref().is_some_and(|g| g.number == number)
                    && let Err(e) = writing.commit_group()
                {
                    tracing::error!(error = %e, "a group commit failed");
                }
            });
        }
        drop(self);
        let outcome = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| closed())?
            .clone();
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err((code, message))) => Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                code, message,
            ))),
            None => Err(closed()),
        }
    }
}

/// The error of a member whose group was dropped uncommitted (the store
/// closed).
fn closed() -> StoreError {
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the store closed before the transaction committed".into()),
    ))
}

fn execute(conn: &Connection, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, binds)?;
    let changed = statement.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Binds `binds[k]` to the placeholder `$k+1`. SQLite reads `$1` as a
/// *named* parameter numbered by first appearance, so positional binding
/// would misplace values in a statement such as `SET a = $2 WHERE b = $1`
/// or one that uses a placeholder twice. Each of the statement's
/// parameters is read once by its name (looking each `$k` up instead made
/// a name and searched every parameter for it: for the fifty columns of
/// an instance, 1,300 comparisons).
fn bind_numbered(
    statement: &mut rusqlite::Statement<'_>,
    binds: &[SqlValue],
) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok());
        if let Some(value) = number.and_then(|n| binds.get(n.checked_sub(1)?)) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use crate::db::DecodeError;
    use crate::db::record::Columns;

    fn store() -> (tempfile::TempDir, Arc<Sqlite>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(&dir.path().join("group.db")).unwrap();
        (dir, Arc::new(db))
    }

    fn count(db: &Sqlite) -> i64 {
        let rows: Vec<(i64,)> = db.point("SELECT COUNT(*) FROM t", &[]).unwrap();
        rows[0].0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_transactions_commit_in_groups_and_each_is_readable_once_answered() {
        let (_dir, db) = store();
        db.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let tasks: Vec<_> = (0..200_i64)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut tx = db.begin().await.unwrap();
                    tx.execute("INSERT INTO t (n) VALUES ($1)", &[n.into()])
                        .unwrap();
                    // Every fifth one gives up: only its own row goes.
                    if n % 5 == 0 {
                        return false;
                    }
                    tokio::task::yield_now().await;
                    tx.commit().await.unwrap();
                    // Answered: a reader of its own sees the row at once.
                    let seen: Vec<(i64,)> = db
                        .point("SELECT n FROM t WHERE n = $1", &[n.into()])
                        .unwrap();
                    assert_eq!(seen.len(), 1, "row {n} committed but not read back");
                    true
                })
            })
            .collect();
        let mut committed = 0;
        for task in tasks {
            committed += i64::from(task.await.unwrap());
        }
        assert_eq!(committed, 160);
        assert_eq!(count(&db), 160);
        let groups = db.writer.lock().await.groups;
        // The table's creation was no group; 200 transactions were fewer.
        assert!(groups < 200, "{groups} groups for 200 transactions");
        assert!(db.writer.lock().await.group.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conflict_with_a_waiting_member_is_readable_once_rolled_back() {
        let (_dir, db) = store();
        db.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let mut first = db.begin().await.unwrap();
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.unwrap();
                // The first one's row, released into the group but not
                // yet committed, is what this insert runs into.
                let conflict = tx.execute("INSERT INTO t (n) VALUES (1)", &[]);
                assert!(matches!(conflict, Err(StoreError::Conflict)));
                drop(tx);
                // Its caller then looks for the row it conflicted with.
                count(&db)
            }
        });
        while db.writer.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        first.execute("INSERT INTO t (n) VALUES (1)", &[]).unwrap();
        // With the second one waiting, this commit joins a group.
        first.commit().await.unwrap();
        assert_eq!(second.await.unwrap(), 1);
    }

    /// Reads 1..=1000 from a scan whose time on the worker is already
    /// up: it decodes its first rows, then the rest off the worker.
    fn scan_handed_off_at_once(db: &Sqlite) -> Vec<i64> {
        let rows: Vec<(i64,)> = db
            .read(
                "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 1000) \
                 SELECT n FROM k",
                &[],
                Some(Instant::now()),
            )
            .unwrap();
        rows.into_iter().map(|(n,)| n).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scan_handed_off_the_worker_midway_returns_every_row_in_order() {
        let (_dir, db) = store();
        // On a worker (the test's own body is not on one).
        let rows = tokio::spawn(async move { scan_handed_off_at_once(&db) })
            .await
            .unwrap();
        assert_eq!(rows, (1..=1000).collect::<Vec<_>>());
        // The worker was given back: tasks still run.
        assert_eq!(tokio::spawn(async { 7 }).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_scan_on_a_single_threaded_runtime_reads_on_and_returns_every_row() {
        let (_dir, db) = store();
        assert_eq!(scan_handed_off_at_once(&db), (1..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn decoding_stops_once_its_time_is_up_and_goes_on_from_the_next_row() {
        let (_dir, db) = store();
        let conn = open(&db.path).unwrap();
        let mut statement = conn
            .prepare("WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 40) SELECT n FROM k")
            .unwrap();
        let mut rows = statement.raw_query();
        let (mut known, mut out) = (None, Vec::<(i64,)>::new());
        let done = decode_rows(&mut rows, &mut known, &mut out, Some(Instant::now())).unwrap();
        assert!(!done);
        assert_eq!(out.len(), 16, "the time is checked every 16 rows");
        assert!(decode_rows(&mut rows, &mut known, &mut out, None).unwrap());
        assert_eq!(out, (1..=40).map(|n| (n,)).collect::<Vec<_>>());
    }

    /// A row read by column name.
    #[derive(Debug, PartialEq)]
    struct Named {
        n: i64,
        m: Option<String>,
    }

    impl Record for Named {
        fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
            Ok(Self {
                n: row.column("n")?,
                m: row.column("m")?,
            })
        }
    }

    /// A store whose table `t` holds one row, and that row as read.
    async fn one_named_row() -> (tempfile::TempDir, Arc<Sqlite>, Vec<Named>) {
        let (dir, db) = store();
        db.execute_batch("CREATE TABLE t (m TEXT, n INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.execute("INSERT INTO t (m, n) VALUES ('a', 1)", &[])
            .await
            .unwrap();
        let row = Named {
            n: 1,
            m: Some("a".into()),
        };
        (dir, db, vec![row])
    }

    #[tokio::test]
    async fn each_statement_is_decoded_by_its_own_column_names() {
        let (_dir, db, expected) = one_named_row().await;
        // The same columns in two orders, each read twice (the second
        // time with the names kept from the first).
        for sql in ["SELECT m, n FROM t", "SELECT n, m FROM t"]
            .iter()
            .cycle()
            .take(4)
        {
            assert_eq!(db.point::<Named>(sql, &[]).unwrap(), expected, "{sql}");
        }
    }

    #[tokio::test]
    async fn a_statement_read_after_a_script_changed_its_columns_finds_them_by_name() {
        let (_dir, db, expected) = one_named_row().await;
        let read = || db.point::<Named>("SELECT * FROM t", &[]).unwrap();
        let write = || async {
            let mut tx = db.begin().await.unwrap();
            let read: Vec<Named> = tx.fetch_all("SELECT * FROM t", &[]).unwrap();
            tx.commit().await.unwrap();
            read
        };
        assert_eq!(read(), expected);
        assert_eq!(write().await, expected);
        // The same statement now has three columns, in another order: on
        // its own, and in a transaction (as migrations run).
        db.execute_batch(
            "CREATE TABLE t2 (n INTEGER PRIMARY KEY, extra TEXT, m TEXT); \
             INSERT INTO t2 (n, extra, m) SELECT n, 'x', m FROM t; \
             DROP TABLE t; ALTER TABLE t2 RENAME TO t;",
        )
        .await
        .unwrap();
        assert_eq!(read(), expected);
        assert_eq!(write().await, expected);
        let mut tx = db.begin().await.unwrap();
        tx.execute_batch(
            "CREATE TABLE t3 (extra TEXT, more TEXT, n INTEGER PRIMARY KEY, m TEXT); \
             INSERT INTO t3 (extra, more, n, m) SELECT 'x', 'y', n, m FROM t; \
             DROP TABLE t; ALTER TABLE t3 RENAME TO t;",
        )
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(read(), expected);
        assert_eq!(write().await, expected);
    }

    #[tokio::test]
    async fn placeholders_take_the_value_of_their_number_in_any_order_and_repeated() {
        let (_dir, db) = store();
        let row: Vec<(i64, String, i64, Option<i64>)> = db
            .point(
                "SELECT $2, $3, $2, $4",
                &[1_i64.into(), 2_i64.into(), "three".into()],
            )
            .unwrap();
        // `$1` is not in the statement; `$4` has no value (NULL).
        assert_eq!(row, vec![(2, "three".into(), 2, None)]);
    }

    #[tokio::test]
    async fn a_failed_statement_rolls_back_only_its_own_transaction() {
        let (_dir, db) = store();
        db.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.execute("INSERT INTO t (n) VALUES (1)", &[])
            .await
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t (n) VALUES (2)", &[]).unwrap();
        let duplicate = tx.execute("INSERT INTO t (n) VALUES (1)", &[]);
        assert!(matches!(duplicate, Err(StoreError::Conflict)));
        drop(tx);
        assert_eq!(count(&db), 1);
        // The writer is free and whole: the next transaction commits.
        db.execute("INSERT INTO t (n) VALUES (3)", &[])
            .await
            .unwrap();
        assert_eq!(count(&db), 2);
        assert!(db.writer.lock().await.group.is_none());
    }
}
