//! One way to the database per engine: SQLite through rusqlite (readers
//! on the calling thread, one writer), PostgreSQL through sqlx's native
//! pool. Repositories hand [`Db`] (or a [`Tx`] of it) one SQL text — `$n`
//! placeholders, portable SQL — with its [`SqlValue`]s and a [`Record`] to
//! decode, and never choose an engine themselves.

mod gated;
pub(crate) mod migrate;
mod postgres;
mod record;
mod sql;
mod sqlite;
pub(crate) mod statistics;
mod value;

use std::sync::Arc;

pub(crate) use gated::{GatedWrites, ungated};
pub(crate) use postgres::Pg;
use postgres::PgTx;
pub use record::DecodeError;
pub(crate) use record::{Columns, Record};
pub(crate) use sql::Sql;
pub(crate) use sqlite::Sqlite;
pub use value::SqlValue;
use value::check_storable;
pub(crate) use value::values;

use crate::{StoreError, StoreResult};
use sqlite::SqliteTx;

/// A database, on either engine.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(Arc<Sqlite>),
    Postgres(Pg),
}

impl Db {
    /// A read of a few rows by key.
    pub async fn point<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        check_storable(binds)?;
        match self {
            Self::Sqlite(db) => db.point(sql, binds),
            Self::Postgres(pg) => postgres::fetch_all(&pg.sessions, sql, binds).await,
        }
    }

    /// A read that may return many rows (a page of a listing).
    pub async fn scan<T: Record>(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<T>> {
        check_storable(binds)?;
        match self {
            Self::Sqlite(db) => db.scan(sql, binds),
            Self::Postgres(pg) => postgres::fetch_all(&pg.sessions, sql, binds).await,
        }
    }

    /// The first row of a read by key, if any.
    pub async fn optional<T: Record>(
        &self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Option<T>> {
        Ok(self.point(sql, binds).await?.into_iter().next())
    }

    /// One statement on its own; returns the rows it changed.
    pub async fn execute(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        check_storable(binds)?;
        match self {
            Self::Sqlite(db) => db.execute(sql, binds).await,
            Self::Postgres(pg) => postgres::execute(&pg.sessions, sql, binds).await,
        }
    }

    /// Begins a transaction (on SQLite it holds the write lock until it
    /// ends; on PostgreSQL, the row locks its statements take).
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Self::Sqlite(db) => Tx::Sqlite(db.begin().await?),
            Self::Postgres(pg) => Tx::Postgres(PgTx::begin(&pg.sessions).await?, pg.clone()),
        })
    }
}

/// A transaction on either engine; dropped without [`Tx::commit`], it
/// rolls back.
pub(crate) enum Tx {
    Sqlite(SqliteTx),
    /// With its database, for counters (taken outside the transaction).
    Postgres(PgTx, Pg),
}

impl Tx {
    /// Takes the next `n` values of a counter (ids of rows that have no
    /// UUID); returns the first. On SQLite in this transaction (there is
    /// one writer); on PostgreSQL in a statement of its own
    /// ([`Pg::next_values`] says why).
    pub async fn next_values(&mut self, counter: &str, n: i64) -> StoreResult<i64> {
        if let Self::Postgres(_, pg) = self {
            return pg.next_values(counter, n).await;
        }
        let (last,): (i64,) = self
            .upsert_reading(
                "INSERT INTO counters (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
                "value",
                "SELECT value FROM counters WHERE name = $1",
                &values![counter, n],
            )
            .await?;
        Ok(last - n + 1)
    }

    /// Runs `upsert`, a statement that writes one row, and reads that row
    /// back: on PostgreSQL in one statement (`upsert RETURNING
    /// returning`), on SQLite with `read` after it (both take `binds`). A
    /// SQLite statement with `RETURNING` opens a statement journal, which
    /// copies every page the statement changes once more (a boot made five
    /// such statements; the write and the read cost half as much).
    pub async fn upsert_reading<T: Record>(
        &mut self,
        upsert: &str,
        returning: &str,
        read: &str,
        binds: &[SqlValue],
    ) -> StoreResult<T> {
        if let Self::Postgres(..) = self {
            return self
                .fetch_one(&format!("{upsert} RETURNING {returning}"), binds)
                .await;
        }
        self.execute(upsert, binds).await?;
        self.fetch_one(read, binds).await
    }

    /// Takes the next value of a counter.
    pub async fn next_value(&mut self, counter: &str) -> StoreResult<i64> {
        self.next_values(counter, 1).await
    }

    /// Runs a statement; returns the rows it changed.
    pub async fn execute(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<u64> {
        check_storable(binds)?;
        match self {
            Self::Sqlite(tx) => tx.execute(sql, binds),
            Self::Postgres(tx, _) => tx.execute(sql, binds).await,
        }
    }

    /// Runs a query (or a statement with `RETURNING`) and reads every row.
    pub async fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Vec<T>> {
        check_storable(binds)?;
        match self {
            Self::Sqlite(tx) => tx.fetch_all(sql, binds),
            Self::Postgres(tx, _) => tx.fetch_all(sql, binds).await,
        }
    }

    /// The first row, if any.
    pub async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        binds: &[SqlValue],
    ) -> StoreResult<Option<T>> {
        Ok(self.fetch_all(sql, binds).await?.into_iter().next())
    }

    /// The first row, which must exist.
    pub async fn fetch_one<T: Record>(&mut self, sql: &str, binds: &[SqlValue]) -> StoreResult<T> {
        self.fetch_optional(sql, binds)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx, _) => tx.commit().await,
        }
    }
}
