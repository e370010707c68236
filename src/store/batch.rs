//! Inserts that go to the database together. On PostgreSQL they are one
//! statement (all but the last as data-modifying `WITH` parts), so one
//! round trip; a foreign key between them holds, because PostgreSQL checks
//! it when the whole statement is done. SQLite runs in the process, where a
//! round trip costs nothing: there they run one after another
//! (docs/design.md §19).

use sea_orm::{
    ConnectionTrait, DatabaseBackend, Statement, Value,
    sea_query::{InsertStatement, PostgresQueryBuilder},
};

use super::StoreResult;

/// Inserts to run together, in order.
#[derive(Default)]
pub struct Inserts(Vec<InsertStatement>);

impl Inserts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn and(mut self, insert: InsertStatement) -> Self {
        self.0.push(insert);
        self
    }

    pub fn and_all(mut self, inserts: impl IntoIterator<Item = InsertStatement>) -> Self {
        self.0.extend(inserts);
        self
    }

    /// Runs them; returns how many rows the last one wrote (an `ON
    /// CONFLICT DO NOTHING` last may write none).
    pub async fn run(self, conn: &impl ConnectionTrait) -> StoreResult<u64> {
        let backend = conn.get_database_backend();
        if backend != DatabaseBackend::Postgres || self.0.len() < 2 {
            let mut last = 0;
            for insert in self.0 {
                last = conn.execute(&insert).await?.rows_affected();
            }
            return Ok(last);
        }
        let (sql, values) = as_one_statement(&self.0);
        // PostgreSQL counts the rows of the statement's own (last) insert.
        Ok(conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?.rows_affected())
    }
}

/// `WITH i0 AS (first), i1 AS (second), … last`, with each part's `$n`
/// placeholders moved past the ones before it.
fn as_one_statement(inserts: &[InsertStatement]) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    let last = inserts.len() - 1;
    for (index, insert) in inserts.iter().enumerate() {
        let (part, part_values) = insert.build(PostgresQueryBuilder);
        let part = shift_placeholders(&part, values.len());
        values.extend(part_values.0);
        match index {
            0 if last > 0 => sql.push_str(&format!("WITH i0 AS ({part})")),
            _ if index < last => sql.push_str(&format!(", i{index} AS ({part})")),
            _ => sql.push_str(&format!(" {part}")),
        }
    }
    (sql, values)
}

/// `sql` with every `$n` placeholder outside quotes made `$(n + by)`.
pub(super) fn shift_placeholders(sql: &str, by: usize) -> String {
    use std::fmt::Write;
    // Every byte it looks for is ASCII, so every cut is at a character's
    // boundary. Runs between placeholders are copied whole (this runs on
    // every part of every one-trip statement).
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + sql.len() / 8);
    let (mut copied, mut at, mut quote) = (0, 0, None);
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        match (quote, byte) {
            (Some(open), byte) if byte == open => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'$') => {
                let digits = bytes[at..].iter().take_while(|digit| digit.is_ascii_digit()).count();
                if let Ok(n) = sql[at..at + digits].parse::<usize>() {
                    out.push_str(&sql[copied..at]);
                    // Writing to a `String` cannot fail.
                    let _ = write!(out, "{}", n + by);
                    copied = at + digits;
                }
                at += digits;
            }
            (None, _) => {}
        }
    }
    out.push_str(&sql[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Query};

    use super::*;

    fn insert(table: &str, values: [i32; 2]) -> InsertStatement {
        Query::insert()
            .into_table(Alias::new(table))
            .columns([Alias::new("a$1"), Alias::new("b")])
            .values_panic(values.map(Into::into))
            .to_owned()
    }

    #[test]
    fn placeholders_move_past_the_earlier_parts_and_quoted_text_stays() {
        assert_eq!(
            shift_placeholders(r#"INSERT INTO "t$1" VALUES ($1, $2, '$3')"#, 2),
            r#"INSERT INTO "t$1" VALUES ($3, $4, '$3')"#
        );
        // Text around them (multi-byte too), a `$` without digits, the last.
        assert_eq!(shift_placeholders("SELECT 'é$1', $10, $ , $$x$$ é $9", 5), "SELECT 'é$1', $15, $ , $$x$$ é $14");
        let (sql, values) = as_one_statement(&[insert("x", [1, 2]), insert("y", [3, 4]), insert("z", [5, 6])]);
        assert_eq!(
            sql,
            r#"WITH i0 AS (INSERT INTO "x" ("a$1", "b") VALUES ($1, $2)), i1 AS (INSERT INTO "y" ("a$1", "b") VALUES ($3, $4)) INSERT INTO "z" ("a$1", "b") VALUES ($5, $6)"#
        );
        let numbers: Vec<Value> = (1..=6).map(|n: i32| n.into()).collect();
        assert_eq!(values, numbers);
    }
}
