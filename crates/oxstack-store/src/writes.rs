//! Writes of the hot paths (instances, their addresses, usage and actions)
//! on SQLite without sqlx's thread hand-off.
//!
//! Through sqlx every statement of a transaction is a round trip to the
//! connection's worker thread, and the transaction holds SQLite's single
//! write lock across all of them: on two busy cores each hop waited for a
//! scheduler slot while every other writer queued behind it (boots and
//! actions ran at a few hundred per second although SQLite commits a small
//! transaction in about 30 µs here). On SQLite these writes instead run on
//! the calling thread through one connection owned by the store, taken in
//! turn (a fair async lock) for a statement or a whole transaction. Every
//! transaction begins `IMMEDIATE`, so it holds the write lock from its
//! first statement and never fails to upgrade a read snapshot.
//!
//! The rarer writes (identity, images, flavors, quotas, ...) still go
//! through sqlx's connection. Should the two meet, the later waits in
//! SQLite's busy handler: here a short sleep loop, on sqlx's side SQLite's
//! default one. Nothing may write through sqlx while it holds a
//! transaction from here (that would wait for itself).
//!
//! Like [`crate::direct::Reads`], repositories hand [`Writes`] one SQL text
//! with its values and get this path on SQLite and sqlx on PostgreSQL.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::direct::{Record, bind_all, bind_numbered, query_rows};
use crate::value::SqlValue;
use crate::{StoreError, StoreResult};

/// Prepared statements of the write paths kept per connection.
const STATEMENT_CACHE: usize = 128;

/// WAL pages after which a committing writer checkpoints itself: only a
/// safety net, should the checkpointer fall behind (64 MiB of 4 KiB pages).
const WAL_PAGES_BEFORE_INLINE_CHECKPOINT: i64 = 16_384;

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The store's one direct writing connection to an SQLite file.
#[derive(Debug)]
pub(crate) struct DirectWriter {
    conn: Arc<Mutex<Connection>>,
    /// Dropped with the writer, which ends its checkpointer thread.
    _checkpointer: mpsc::Sender<()>,
}

impl DirectWriter {
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The same settings as sqlx's connection (lib.rs): WAL with NORMAL
        // sync keeps every committed transaction across a process crash.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_PAGES_BEFORE_INLINE_CHECKPOINT,
        )?;
        conn.busy_handler(Some(wait_for_lock))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            _checkpointer: start_checkpointer(path)?,
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
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
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

/// SQLite's busy handler for the direct writer, when sqlx's connection
/// holds the write lock: retries every 100 µs for up to 10 s (SQLite's own
/// handler backs off to 100 ms sleeps, far longer than such a write lasts).
/// It blocks the runtime thread it runs on; the writes through sqlx are
/// short and rare enough for that.
fn wait_for_lock(attempt: i32) -> bool {
    std::thread::sleep(Duration::from_micros(100));
    attempt < 100_000
}

/// The write path of a store: direct on SQLite, sqlx otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Writes<'a> {
    pub(crate) pool: &'a AnyPool,
    pub(crate) direct: Option<&'a DirectWriter>,
}

impl Writes<'_> {
    /// Runs one statement on its own; returns the rows it changed.
    pub(crate) async fn execute(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        match self.direct {
            Some(direct) => execute_direct(&*direct.conn.lock().await, sql, binds),
            None => Ok(bind_all(sqlx::query(sql), binds)
                .execute(self.pool)
                .await?
                .rows_affected()),
        }
    }

    /// Begins a transaction that holds the write lock until it ends.
    pub(crate) async fn begin(&self) -> StoreResult<WriteTx> {
        Ok(match self.direct {
            Some(direct) => {
                let conn = direct.conn.clone().lock_owned().await;
                conn.execute_batch("BEGIN IMMEDIATE")?;
                WriteTx::Direct(DirectTx { conn, open: true })
            }
            None => WriteTx::Sqlx(self.pool.begin().await?),
        })
    }
}

fn execute_direct(conn: &Connection, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, binds)?;
    let changed = statement.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// A transaction on either path; dropped without [`WriteTx::commit`], it
/// rolls back.
pub(crate) enum WriteTx {
    Sqlx(Transaction<'static, Any>),
    Direct(DirectTx),
}

/// A transaction on the direct writer; holds its lock until it ends.
pub(crate) struct DirectTx {
    conn: OwnedMutexGuard<Connection>,
    open: bool,
}

impl Drop for DirectTx {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the caller has gone (an error, or a
            // cancelled request), and a failed rollback leaves SQLite to
            // roll back when the connection is next used.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl WriteTx {
    /// Runs a statement; returns the rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        match self {
            Self::Direct(tx) => execute_direct(&tx.conn, sql, binds),
            Self::Sqlx(tx) => Ok(bind_all(sqlx::query(sql), binds)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
        }
    }

    /// Runs a query (or a statement with `RETURNING`) and reads every row.
    pub(crate) async fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Vec<T>> {
        match self {
            Self::Direct(tx) => query_rows(&tx.conn, sql, binds, |row| T::decode(row)),
            Self::Sqlx(tx) => {
                let rows = bind_all(sqlx::query(sql), binds)
                    .fetch_all(&mut **tx)
                    .await?;
                Ok(rows.iter().map(T::decode).collect::<sqlx::Result<_>>()?)
            }
        }
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Option<T>> {
        Ok(self.fetch_all(sql, binds).await?.into_iter().next())
    }

    /// The first row, which must exist.
    pub(crate) async fn fetch_one<T: Record>(
        &mut self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<T> {
        self.fetch_optional(sql, binds)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Self::Direct(mut tx) => {
                tx.conn.execute_batch("COMMIT")?;
                tx.open = false;
            }
            Self::Sqlx(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
