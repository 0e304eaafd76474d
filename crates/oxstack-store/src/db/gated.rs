//! A compare-and-swap and the writes that belong with it, committed
//! together: on SQLite in one transaction of the writer, on PostgreSQL as
//! one statement (the writes as data-modifying `WITH` members of the
//! compare-and-swap), so an action's step costs one round trip there
//! instead of `BEGIN`, each statement and `COMMIT`.

use super::{Db, Sql, SqlValue, Tx, postgres};
use crate::StoreResult;

/// Where a write that depends on the gate puts its condition: `WHERE
/// {gate}` (an `INSERT` is written `INSERT … SELECT … WHERE {gate}`).
const GATE: &str = "{gate}";

/// `sql`, a write meant to follow a gate, for a transaction in which the
/// gate passed (or that has none).
pub(crate) fn ungated(sql: &str) -> String {
    sql.replace(GATE, "TRUE")
}

/// A compare-and-swap (`gate`, an `UPDATE`) and writes that go with it.
/// In a transaction ([`GatedWrites::write_after_gate`]) they run in
/// order. Given to [`Db::write_gated`], no write may read what another
/// one writes nor change a row another one changes: on PostgreSQL they
/// all see the database as it was before the statement.
#[derive(Clone, Debug, Default)]
pub(crate) struct GatedWrites {
    /// It passes when it changes a row.
    pub gate: Sql,
    /// Written only when the gate passes; each holds [`GATE`].
    pub if_passed: Vec<Sql>,
    /// Written whether or not it passes.
    pub always: Vec<Sql>,
}

impl GatedWrites {
    pub fn new(gate: Sql) -> Self {
        Self {
            gate,
            ..Self::default()
        }
    }

    /// Writes what follows a gate that `passed` (or not) in `tx`.
    pub async fn write_after_gate(&self, tx: &mut Tx, passed: bool) -> StoreResult<()> {
        if passed {
            for write in &self.if_passed {
                tx.execute(&ungated(&write.sql), &write.binds).await?;
            }
        }
        for write in &self.always {
            tx.execute(&write.sql, &write.binds).await?;
        }
        Ok(())
    }

    /// The whole as one PostgreSQL statement that returns how many rows
    /// the gate changed.
    fn one_statement(&self) -> Sql {
        let mut out = Sql::new("WITH gate AS (");
        append(&mut out, &self.gate.sql, &self.gate.binds);
        out.push(" RETURNING 1)");
        let passed = "EXISTS (SELECT 1 FROM gate)";
        let members = self.if_passed.iter().map(|w| (w, true));
        let members = members.chain(self.always.iter().map(|w| (w, false)));
        for (k, (write, gated)) in members.enumerate() {
            out.push(&format!(", w{k} AS ("));
            if gated {
                append(&mut out, &write.sql.replace(GATE, passed), &write.binds);
            } else {
                append(&mut out, &write.sql, &write.binds);
            }
            out.push(")");
        }
        out.push(" SELECT COUNT(*) FROM gate");
        out
    }
}

/// Appends `sql` with `binds` to `out`, its placeholders numbered after
/// `out`'s.
fn append(out: &mut Sql, sql: &str, binds: &[SqlValue]) {
    out.push(&renumbered(sql, out.binds.len()));
    out.binds.extend_from_slice(binds);
}

/// `sql` with each placeholder `$n` made `$(n + offset)` (not inside
/// quoted text).
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '\'' => quoted = !quoted,
            '$' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                if let Ok(n) = digits.parse::<usize>() {
                    out.push_str(&(n + offset).to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            _ => {}
        }
    }
    out
}

impl Db {
    /// Commits `writes` together; `true` when the gate passed. With a
    /// `counter`, its next value is taken first (see
    /// [`Tx::next_values`]) and handed to `build`.
    pub async fn write_gated(
        &self,
        counter: Option<&str>,
        build: impl FnOnce(Option<i64>) -> GatedWrites,
    ) -> StoreResult<bool> {
        match self {
            Self::Postgres(pg) => {
                let value = match counter {
                    Some(counter) => Some(pg.next_values(counter, 1).await?),
                    None => None,
                };
                let statement = build(value).one_statement();
                super::value::check_storable(&statement.binds)?;
                let changed: Vec<(i64,)> =
                    postgres::fetch_all(&pg.sessions, &statement.sql, &statement.binds).await?;
                Ok(changed.first().is_some_and(|(n,)| *n > 0))
            }
            Self::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let value = match counter {
                    Some(counter) => Some(tx.next_value(counter).await?),
                    None => None,
                };
                let writes = build(value);
                let passed = tx.execute(&writes.gate.sql, &writes.gate.binds).await? > 0;
                writes.write_after_gate(&mut tx, passed).await?;
                if passed || !writes.always.is_empty() {
                    tx.commit().await?;
                }
                Ok(passed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quoted_text() {
        assert_eq!(
            renumbered("UPDATE t SET a = $1, b = '$2' WHERE c = $12", 3),
            "UPDATE t SET a = $4, b = '$2' WHERE c = $15"
        );
    }

    #[test]
    fn postgres_gets_one_statement_with_the_writes_behind_the_gate() {
        let mut writes = GatedWrites::new(Sql::with(
            "UPDATE i SET s = $1 WHERE id = $2",
            vec![SqlValue::from("b"), SqlValue::from(7_i64)],
        ));
        writes.if_passed.push(Sql::with(
            "INSERT INTO a (id) SELECT $1 WHERE {gate}",
            vec![SqlValue::from(9_i64)],
        ));
        writes.always.push(Sql::with(
            "UPDATE e SET f = $1",
            vec![SqlValue::from(1_i64)],
        ));
        let one = writes.one_statement();
        assert_eq!(
            one.sql,
            "WITH gate AS (UPDATE i SET s = $1 WHERE id = $2 RETURNING 1), \
             w0 AS (INSERT INTO a (id) SELECT $3 WHERE EXISTS (SELECT 1 FROM gate)), \
             w1 AS (UPDATE e SET f = $4) SELECT COUNT(*) FROM gate"
        );
        assert_eq!(one.binds.len(), 4);
    }
}
