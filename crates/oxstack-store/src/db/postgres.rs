//! PostgreSQL through sqlx's native driver: a pool of connections, typed
//! parameters, statements prepared once per connection.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Transaction};

use super::record::Record;
use super::value::SqlValue;
use crate::{StoreError, StoreResult};

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// A PostgreSQL database: the pool statements and transactions run on,
/// and a small one for counters, whose sessions commit without waiting
/// for the WAL to reach the disk (see [`Pg::next_values`]).
#[derive(Clone, Debug)]
pub(crate) struct Pg {
    pub pool: PgPool,
    counters: PgPool,
}

impl Pg {
    /// Connects; a statement waits at most `acquire` for a connection.
    pub async fn connect(url: &str, acquire: Duration) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(acquire)
            .connect_with(options.clone())
            .await?;
        let counters = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(acquire)
            .connect_lazy_with(options.options([("synchronous_commit", "off")]));
        Ok(Self { pool, counters })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.counters.close().await;
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
        let (last,): (i64,) = sqlx::query_as(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value \
             RETURNING value",
        )
        .bind(counter)
        .bind(n)
        .fetch_one(&self.counters)
        .await?;
        Ok(last - n + 1)
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
    pool: &PgPool,
    sql: &str,
    binds: &[SqlValue],
) -> StoreResult<Vec<T>> {
    let rows = bind_all(sqlx::query(sql), binds).fetch_all(pool).await?;
    decode_all(&rows)
}

pub(crate) async fn execute(pool: &PgPool, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
    Ok(bind_all(sqlx::query(sql), binds)
        .execute(pool)
        .await?
        .rows_affected())
}

pub(crate) async fn tx_fetch_all<T: Record>(
    tx: &mut Transaction<'static, Postgres>,
    sql: &str,
    binds: &[SqlValue],
) -> StoreResult<Vec<T>> {
    let rows = bind_all(sqlx::query(sql), binds)
        .fetch_all(&mut **tx)
        .await?;
    decode_all(&rows)
}

pub(crate) async fn tx_execute(
    tx: &mut Transaction<'static, Postgres>,
    sql: &str,
    binds: &[SqlValue],
) -> StoreResult<u64> {
    Ok(bind_all(sqlx::query(sql), binds)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}
