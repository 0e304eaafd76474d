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
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

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

/// The most transactions one commit ends: a bound on how long the first
/// of them waits for its answer.
const GROUP_MAX: usize = 64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Statements whose column names a reader keeps; past this many it
/// forgets them all (listings with many filters make many statements).
const NAMES_KEPT: usize = 256;

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

/// Column names by statement. Reading fifty names through SQLite's API
/// cost a twentieth of showing a server. A statement's columns change
/// only with the schema, which migrations change before anything is
/// served. (Nor could a change be seen here: SQLite prepares a statement
/// anew for a changed schema only when it next steps it, and its names
/// and count are the old ones until then; the names read fresh before
/// each query, as they were, had the same limit.)
#[derive(Default)]
struct KnownNames(HashMap<String, Rc<ColumnNames>>);

impl KnownNames {
    /// The column names of `statement`, the prepared `sql`.
    fn of(&mut self, sql: &str, statement: &rusqlite::Statement<'_>) -> Rc<ColumnNames> {
        if let Some(names) = self.0.get(sql) {
            return names.clone();
        }
        if self.0.len() >= NAMES_KEPT {
            self.0.clear();
        }
        let names = Rc::new(ColumnNames::of(statement));
        self.0.insert(sql.to_owned(), names.clone());
        names
    }
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
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_PAGES_BEFORE_INLINE_CHECKPOINT,
        )?;
        let writing = Writing {
            conn: writer,
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
            let reader = match readers.entry(self.id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let conn = open(&self.path)?;
                    conn.pragma_update(None, "query_only", true)?;
                    e.insert(Reader {
                        conn,
                        names: KnownNames::default(),
                    })
                }
            };
            let mut statement = reader.conn.prepare_cached(sql)?;
            let names = reader.names.of(sql, &statement);
            decode_rows(&mut statement, &names, binds)
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
        Ok(self.writer.settled().await?.conn.execute_batch(sql)?)
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
        })
    }
}

/// A transaction on the writer; holds its lock until it ends, and rolls
/// back when dropped without [`SqliteTx::commit`].
pub(crate) struct SqliteTx {
    writing: OwnedMutexGuard<Writing>,
    writer: Writer,
    open: bool,
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
        }
    }
}

impl SqliteTx {
    pub fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        execute(&self.writing.conn, sql, binds)
    }

    pub fn execute_batch(&mut self, sql: &str) -> StoreResult<()> {
        Ok(self.writing.conn.execute_batch(sql)?)
    }

    pub fn fetch_all<T: Record>(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        query_rows(&self.writing.conn, sql, binds)
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

/// Runs a statement and decodes every row it returns.
fn query_rows<T: Record>(conn: &Connection, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let names = ColumnNames::of(&statement);
    decode_rows(&mut statement, &names, binds)
}

/// Runs a prepared statement with `binds` and decodes every row.
fn decode_rows<T: Record>(
    statement: &mut rusqlite::Statement<'_>,
    names: &ColumnNames,
    binds: &[SqlValue],
) -> StoreResult<Vec<T>> {
    bind_numbered(statement, binds)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::decode(&SqliteRow::new(row, names))?);
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

    #[tokio::test]
    async fn each_statement_is_decoded_by_its_own_column_names() {
        let (_dir, db) = store();
        db.execute_batch("CREATE TABLE t (m TEXT, n INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.execute("INSERT INTO t (m, n) VALUES ('a', 1)", &[])
            .await
            .unwrap();
        let expected = vec![Named {
            n: 1,
            m: Some("a".into()),
        }];
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
