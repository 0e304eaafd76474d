//! PostgreSQL's planner statistics, kept current as tables grow.
//!
//! sqlx prepares each statement once per session, and after five runs
//! PostgreSQL keeps one generic plan for it for the session's life, made
//! with the statistics of that moment. A cloud's sessions open while its
//! tables are nearly empty, so a plan made then may join `port_ips` by a
//! sequential scan and a hash (right for 600 rows, ruinous for 50,000),
//! and keeps doing so until an `ANALYZE` of the table invalidates it.
//! Autovacuum analyzes a table after a tenth of it changed, but only
//! every minute at best, and not at all where it is turned off: the same
//! bench ran at 1,300 or at 400 actions/s depending on when each session
//! happened to make its plan.

use std::time::Duration;

use sqlx::PgPool;

use crate::StoreResult;

/// How often the tables' sizes are compared with what their statistics say.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Oxstack's tables whose number of rows differs from the one their
/// statistics hold by more than autovacuum's own threshold (50 rows and
/// a tenth), or that were never analyzed and hold more than 50 rows.
/// Only growth and shrinkage count, not updates: a table's size is what
/// turns a plan from one join to another, and updates of a busy table
/// (every task transition is one) would have it analyzed every time.
const STALE_TABLES: &str = "SELECT s.relname::text FROM pg_stat_user_tables s \
     JOIN pg_class c ON c.oid = s.relid \
     WHERE s.schemaname = current_schema() \
     AND abs(s.n_live_tup - GREATEST(c.reltuples, 0)) > 50 + 0.1 * GREATEST(c.reltuples, 0) \
     ORDER BY s.relname";

/// Analyzes the tables whose statistics are stale; returns their names.
pub(crate) async fn analyze_stale(pool: &PgPool) -> StoreResult<Vec<String>> {
    let stale: Vec<(String,)> = sqlx::query_as(STALE_TABLES).fetch_all(pool).await?;
    let names: Vec<String> = stale.into_iter().map(|(name,)| name).collect();
    if !names.is_empty() {
        let tables: Vec<String> = names.iter().map(|n| quote_identifier(n)).collect();
        sqlx::query(&format!("ANALYZE {}", tables.join(", ")))
            .execute(pool)
            .await?;
    }
    Ok(names)
}

/// Analyzes stale tables every [`CHECK_EVERY`] until aborted; a failure
/// (the database away, a role that does not own the tables) is logged and
/// the next round tries again.
pub(crate) async fn keep_current(pool: PgPool) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match analyze_stale(&pool).await {
            Ok(tables) if !tables.is_empty() => {
                tracing::debug!(?tables, "planner statistics refreshed");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
        }
    }
}

/// `name` as a quoted SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use std::time::{Duration, Instant};

    use super::{analyze_stale, quote_identifier};
    use crate::Store;
    use crate::db::Db;

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_identifier("port_ips"), "\"port_ips\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[tokio::test]
    async fn a_table_that_grew_is_analyzed_once() {
        let Some(url) = crate::scratch_postgres_url("statistics not kept").await else {
            return;
        };
        let store = Store::connect(&url).await.unwrap();
        let Db::Postgres(pg) = &store.db else {
            panic!("not PostgreSQL")
        };
        analyze_stale(&pg.admin).await.unwrap();
        sqlx::query(
            "INSERT INTO counters (name, value) SELECT 'grown' || g, 1 \
             FROM generate_series(1, 500) g",
        )
        .execute(&pg.admin)
        .await
        .unwrap();
        // A session reports its counts to the statistics a moment after
        // its transaction ends.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let analyzed = analyze_stale(&pg.admin).await.unwrap();
            if analyzed.iter().any(|t| t == "counters") {
                break;
            }
            assert!(Instant::now() < deadline, "counters never found stale");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (rows,): (f32,) =
            sqlx::query_as("SELECT reltuples FROM pg_class WHERE oid = 'counters'::regclass")
                .fetch_one(&pg.admin)
                .await
                .unwrap();
        assert!(rows >= 500.0, "statistics count {rows} rows");
        let again = analyze_stale(&pg.admin).await.unwrap();
        assert!(!again.iter().any(|t| t == "counters"), "{again:?}");
    }
}
