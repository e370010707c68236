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
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        out.push(c);
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '$') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                match digits.parse::<usize>() {
                    Ok(n) => out.push_str(&(n + by).to_string()),
                    Err(_) => out.push_str(&digits),
                }
            }
            (None, _) => {}
        }
    }
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
        let (sql, values) = as_one_statement(&[insert("x", [1, 2]), insert("y", [3, 4]), insert("z", [5, 6])]);
        assert_eq!(
            sql,
            r#"WITH i0 AS (INSERT INTO "x" ("a$1", "b") VALUES ($1, $2)), i1 AS (INSERT INTO "y" ("a$1", "b") VALUES ($3, $4)) INSERT INTO "z" ("a$1", "b") VALUES ($5, $6)"#
        );
        let numbers: Vec<Value> = (1..=6).map(|n: i32| n.into()).collect();
        assert_eq!(values, numbers);
    }
}
