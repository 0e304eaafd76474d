//! The one statement builder: SQL text grown piece by piece with its
//! values, numbering `$n` placeholders as it goes, for queries whose
//! shape depends on their filters.

use super::value::SqlValue;

/// A statement and the values of its placeholders, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sql {
    pub sql: String,
    pub binds: Vec<SqlValue>,
}

impl Sql {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            binds: Vec::new(),
        }
    }

    /// A statement and its values.
    pub fn with(sql: &str, binds: Vec<SqlValue>) -> Self {
        Self {
            sql: sql.to_owned(),
            binds,
        }
    }

    /// Binds a value; returns its placeholder.
    pub fn bind(&mut self, value: impl Into<SqlValue>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    /// Binds several values; returns their placeholders, comma-separated.
    pub fn bind_list(&mut self, values: impl IntoIterator<Item = SqlValue>) -> String {
        values
            .into_iter()
            .map(|v| self.bind(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn push(&mut self, fragment: &str) {
        self.sql.push_str(fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_in_order() {
        let mut q = Sql::new("SELECT * FROM t WHERE a = ");
        let a = q.bind(1_i64);
        q.push(&a);
        let list = q.bind_list(["x", "y"].map(SqlValue::from));
        q.push(&format!(" AND b IN ({list})"));
        assert_eq!(q.sql, "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(q.binds.len(), 3);
    }
}
