//! PostgreSQL through sqlx's native driver: a pool of connections, typed
//! parameters, statements prepared once per connection.

use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Transaction};

use super::record::Record;
use super::value::SqlValue;
use crate::{StoreError, StoreResult};

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

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
