//! PostgreSQL through sqlx's native driver: pooled sessions, typed
//! parameters, statements prepared once per session.
//!
//! The sessions of statements and transactions are pooled by deadpool,
//! not by sqlx's pool: sqlx's pool asks a session whether it is alive
//! (a `Sync` and its answer) when it hands it out and again, always, when
//! it gets it back, which made every statement outside a transaction
//! three round trips instead of one (a show on PostgreSQL went from
//! 4,578 to 6,810 req/s without them). Here a session is asked only
//! after it sat idle for a while ([`ASK_AFTER_IDLE`]), and one whose
//! statement failed for want of the server is dropped, not handed out
//! again. Migrations, `LISTEN` and `ANALYZE` keep a sqlx pool.

use std::str::FromStr;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, Executor, PgConnection, Postgres};

use super::record::Record;
use super::value::SqlValue;
use super::values;
use crate::{StoreError, StoreResult};

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// A pool of sessions (see the module's comment).
pub(crate) type Sessions = managed::Pool<Opener>;

/// A session handed out by [`Sessions`].
type Session = Object<Opener>;

/// A session that sat idle this long is asked whether it is still there
/// before it is handed out (the server may have restarted meanwhile).
const ASK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens sessions and decides whether one handed back can serve again.
pub(crate) struct Opener {
    options: PgConnectOptions,
    /// How long a statement waits for a session.
    patience: Duration,
}

/// A session with what the pool needs to know of it.
pub(crate) struct Conn {
    conn: PgConnection,
    /// A statement on it failed for want of the server: it is dropped,
    /// not handed out again.
    lost: bool,
}

impl managed::Manager for Opener {
    type Type = Conn;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Conn, sqlx::Error> {
        Ok(Conn {
            conn: PgConnection::connect_with(&self.options).await?,
            lost: false,
        })
    }

    async fn recycle(&self, conn: &mut Conn, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if conn.lost {
            return Err(RecycleError::message("the session was lost"));
        }
        if metrics.last_used() > ASK_AFTER_IDLE {
            conn.conn.ping().await?;
        }
        Ok(())
    }
}

/// A PostgreSQL database: the sessions statements and transactions run
/// on, a few for counters, whose sessions commit without waiting for the
/// WAL to reach the disk (see [`Pg::next_values`]), and a sqlx pool for
/// migrations, `LISTEN` and statistics.
#[derive(Clone)]
pub(crate) struct Pg {
    pub sessions: Sessions,
    counters: Sessions,
    pub admin: PgPool,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("sessions", &self.sessions.status())
            .finish_non_exhaustive()
    }
}

/// A pool of at most `size` sessions opened with `options`; a statement
/// waits at most `wait` for one.
fn sessions(options: PgConnectOptions, size: usize, wait: Duration) -> StoreResult<Sessions> {
    let opener = Opener {
        options,
        patience: wait,
    };
    managed::Pool::builder(opener)
        .max_size(size)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Database(sqlx::Error::Configuration(Box::new(e))))
}

impl Pg {
    /// Connects; a statement waits at most `acquire` for a session.
    pub async fn connect(url: &str, acquire: Duration) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        // Each compute host of the process keeps one of these for its
        // `LISTEN`; they are opened only when asked for.
        let admin = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(acquire)
            .connect_with(options.clone())
            .await?;
        let counters = options.clone().options([("synchronous_commit", "off")]);
        Ok(Self {
            sessions: sessions(options, 16, acquire)?,
            counters: sessions(counters, 4, acquire)?,
            admin,
        })
    }

    pub async fn close(&self) {
        self.sessions.close();
        self.counters.close();
        self.admin.close().await;
    }

    /// Takes the next `n` values of a counter; returns the first.
    ///
    /// In a statement of its own, not in the caller's transaction: the
    /// counter's row, locked until that transaction committed, made every
    /// action and every create wait for the one before it to commit and
    /// reach the disk. A value a transaction took and then rolled back is
    /// skipped, as with a sequence. The statement does not wait for its
    /// WAL to reach the disk, and that loses nothing: a value is kept
    /// only by a transaction that commits after it, and the flush of that
    /// commit writes the counter's WAL record too (the WAL is written in
    /// order); a crash before then forgets a value nothing kept.
    pub async fn next_values(&self, counter: &str, n: i64) -> StoreResult<i64> {
        let (last,): (i64,) = fetch_one_on(
            &self.counters,
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value \
             RETURNING value",
            &values![counter, n],
        )
        .await?;
        Ok(last - n + 1)
    }
}

/// A session from `pool`. While the server refuses new sessions (it is
/// restarting, or stopped), it asks again, with a growing pause, for as
/// long as a statement waits for a busy pool: a restart of a second
/// costs requests a wait, not a 503.
async fn session(pool: &Sessions) -> StoreResult<Session> {
    let give_up = Instant::now() + pool.manager().patience;
    let mut pause = Duration::from_millis(25);
    loop {
        let e = match pool.get().await {
            Ok(session) => return Ok(session),
            Err(managed::PoolError::Backend(e)) => StoreError::from(e),
            Err(managed::PoolError::Timeout(_)) => return Err(sqlx::Error::PoolTimedOut.into()),
            Err(_) => return Err(sqlx::Error::PoolClosed.into()),
        };
        if !e.is_unavailable() || Instant::now() + pause > give_up {
            return Err(e);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(400));
    }
}

impl Conn {
    /// Notes what a failed statement says of the session.
    fn failed(&mut self, e: sqlx::Error) -> StoreError {
        let e = StoreError::from(e);
        if e.is_unavailable() {
            self.lost = true;
        }
        e
    }

    async fn fetch_all<T: Record>(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        match bind_all(sqlx::query(sql), binds)
            .fetch_all(&mut self.conn)
            .await
        {
            Ok(rows) => decode_all(&rows),
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        match bind_all(sqlx::query(sql), binds)
            .execute(&mut self.conn)
            .await
        {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// A statement without parameters (`BEGIN`, `COMMIT`, `ROLLBACK`).
    async fn plain(&mut self, sql: &str) -> StoreResult<()> {
        match self.conn.execute(sql).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }
}

/// Binds values, in order, to a query.
fn bind_all<'q>(mut query: PgQuery<'q>, binds: &'q [SqlValue]) -> PgQuery<'q> {
    for value in binds {
        query = match value {
            SqlValue::Int(v) => query.bind(*v),
            SqlValue::Float(v) => query.bind(*v),
            SqlValue::Bool(v) => query.bind(*v),
            SqlValue::Text(v) => query.bind(v.as_deref()),
            SqlValue::Blob(v) => query.bind(v.as_deref()),
        };
    }
    query
}

fn decode_all<T: Record>(rows: &[PgRow]) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(|row| T::decode(row).map_err(StoreError::from))
        .collect()
}

pub(crate) async fn fetch_all<T: Record>(
    pool: &Sessions,
    sql: &str,
    binds: &[SqlValue],
) -> StoreResult<Vec<T>> {
    session(pool).await?.fetch_all(sql, binds).await
}

async fn fetch_one_on<T: Record>(pool: &Sessions, sql: &str, binds: &[SqlValue]) -> StoreResult<T> {
    fetch_all(pool, sql, binds)
        .await?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound)
}

pub(crate) async fn execute(pool: &Sessions, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
    session(pool).await?.execute(sql, binds).await
}

/// A transaction on a session of its own; dropped without
/// [`PgTx::commit`], it rolls back (on a task of its own, the session
/// going back to the pool after).
pub(crate) struct PgTx {
    session: Option<Session>,
}

impl PgTx {
    pub async fn begin(pool: &Sessions) -> StoreResult<Self> {
        let mut session = session(pool).await?;
        session.plain("BEGIN").await?;
        Ok(Self {
            session: Some(session),
        })
    }

    fn conn(&mut self) -> &mut Conn {
        self.session
            .as_mut()
            .expect("a transaction has its session until it ends")
    }

    pub async fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Vec<T>> {
        self.conn().fetch_all(sql, binds).await
    }

    pub async fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        self.conn().execute(sql, binds).await
    }

    pub async fn commit(mut self) -> StoreResult<()> {
        let mut session = self
            .session
            .take()
            .expect("a transaction has its session until it ends");
        let done = session.plain("COMMIT").await;
        if done.is_err() {
            // Whether it committed is unknown; the session is not reused.
            session.lost = true;
        }
        done
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if session.plain("ROLLBACK").await.is_err() {
                        session.lost = true;
                    }
                });
            }
            // No runtime to roll back on (the process is ending): the
            // session is closed rather than handed out mid-transaction.
            Err(_) => session.lost = true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::postgres::PgConnectOptions;

    use super::{PgTx, fetch_all, sessions};
    use crate::db::values;

    #[tokio::test]
    async fn a_transaction_dropped_unfinished_rolls_back_before_its_session_serves_again() {
        let Some(url) = crate::scratch_postgres_url("PostgreSQL sessions not exercised").await
        else {
            return;
        };
        crate::Store::connect(&url).await.unwrap().close().await;
        // One session: the second transaction gets the first one's.
        let options = PgConnectOptions::from_str(&url).unwrap();
        let pool = sessions(options, 1, Duration::from_secs(5)).unwrap();
        let insert = "INSERT INTO counters (name, value) VALUES ($1, 1)";
        let mut dropped = PgTx::begin(&pool).await.unwrap();
        dropped.execute(insert, &values!["dropped"]).await.unwrap();
        drop(dropped);
        let mut kept = PgTx::begin(&pool).await.unwrap();
        kept.execute(insert, &values!["kept"]).await.unwrap();
        kept.commit().await.unwrap();
        let names: Vec<(String,)> = fetch_all(
            &pool,
            "SELECT name FROM counters WHERE name IN ($1, $2) ORDER BY name",
            &values!["dropped", "kept"],
        )
        .await
        .unwrap();
        assert_eq!(names, vec![("kept".to_owned(),)]);
    }
}
