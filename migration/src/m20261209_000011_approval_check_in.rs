//! Bookings that need a person (docs/design.md §26).
//!
//! - `booking.status` may also be `pending` (awaiting an admin's approval
//!   until `hold_expires_at`, like a hold) and `declined`. The column's
//!   CHECK is widened: on PostgreSQL replaced (`NOT VALID`: every stored
//!   row passed the narrower one); on SQLite, which cannot alter a
//!   constraint, by the procedure SQLite documents for changing one that
//!   every stored row already satisfies (the table's text in
//!   `sqlite_schema` rewritten, the schema version bumped, in this
//!   migration's transaction).
//! - `booking.check_in_deadline_at`: when a confirmed booking not checked
//!   in stops taking the rest of its interval.
//! - The covering index of the capacity reads gains the deadline (they
//!   clip a released booking there without touching rows); a partial
//!   index finds the deadlines that passed for the sweeper. On PostgreSQL
//!   the whole migration holds `booking`'s exclusive lock (the constraint's
//!   `ALTER TABLE`) while it builds the two indexes: bookings wait for
//!   seconds per million rows.

use sea_orm::{DbBackend, Statement};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Booking {
    Table,
    CheckInDeadlineAt,
}

const OLD_STATUSES: &str = "('held', 'confirmed', 'cancelled', 'expired', 'checked_in', 'completed', 'no_show')";
const NEW_STATUSES: &str =
    "('held', 'pending', 'confirmed', 'cancelled', 'expired', 'declined', 'checked_in', 'completed', 'no_show')";

/// The capacity reads' covering index, with the deadline, replacing
/// `booking_resource_occupied` (same columns, in the same order, without it).
const OCCUPANCY_INDEX: &str = "CREATE INDEX booking_resource_occupancy ON booking \
(resource_id, occupied_start_at, occupied_end_at, status, hold_expires_at, check_in_deadline_at, quantity)";
const OLD_OCCUPANCY_INDEX: &str = "CREATE INDEX booking_resource_occupied ON booking \
(resource_id, occupied_start_at, occupied_end_at, status, hold_expires_at, quantity)";

/// The sweeper's: confirmed bookings with a deadline, by deadline.
const DUE_INDEX: &str = "CREATE INDEX booking_check_in_due ON booking (check_in_deadline_at) \
WHERE status = 'confirmed' AND check_in_deadline_at IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        status_check(manager, OLD_STATUSES, NEW_STATUSES).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::CheckInDeadlineAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(OCCUPANCY_INDEX).await?;
        db.execute_unprepared("DROP INDEX booking_resource_occupied").await?;
        db.execute_unprepared(DUE_INDEX).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // What the release before cannot read: the statuses in bookings and
        // their histories, the event types in the feed and in webhooks.
        let newer = db
            .query_one_raw(Statement::from_string(
                manager.get_database_backend(),
                "SELECT (SELECT COUNT(*) FROM booking WHERE status IN ('pending', 'declined')) \
+ (SELECT COUNT(*) FROM booking_event WHERE to_status IN ('pending', 'declined') \
OR from_status IN ('pending', 'declined')) \
+ (SELECT COUNT(*) FROM outbox_event WHERE type IN ('booking.pending', 'booking.approved', 'booking.declined')) \
+ (SELECT COUNT(*) FROM webhook_endpoint WHERE types LIKE '%booking.pending%' \
OR types LIKE '%booking.approved%' OR types LIKE '%booking.declined%') AS n",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if newer > 0 {
            return Err(DbErr::Migration(format!(
                "{newer} bookings, history rows, events or webhook subscriptions name a status or event type of \
approval, which the schema before this migration cannot hold"
            )));
        }
        db.execute_unprepared("DROP INDEX booking_check_in_due").await?;
        db.execute_unprepared(OLD_OCCUPANCY_INDEX).await?;
        db.execute_unprepared("DROP INDEX booking_resource_occupancy").await?;
        db.execute_unprepared("ALTER TABLE booking DROP COLUMN check_in_deadline_at").await?;
        status_check(manager, NEW_STATUSES, OLD_STATUSES).await
    }
}

/// Replaces the statuses `booking.status` may hold, `from` → `to`.
async fn status_check(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared("ALTER TABLE booking DROP CONSTRAINT booking_status_check").await?;
            // Not validated: widening, every stored row already passes the
            // old check; new rows are checked.
            db.execute_unprepared(&format!(
                "ALTER TABLE booking ADD CONSTRAINT booking_status_check CHECK (status IN {to}) NOT VALID"
            ))
            .await?;
        }
        backend => {
            // https://www.sqlite.org/lang_altertable.html#otheralter: a
            // constraint every row satisfies is changed in the schema's text.
            let read = |sql: &str| Statement::from_string(backend, sql.to_owned());
            let table: String = db
                .query_one_raw(read("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'booking'"))
                .await?
                .ok_or_else(|| DbErr::Migration("no booking table".into()))?
                .try_get("", "sql")?;
            let check = format!("\"status\" IN {from}");
            if !table.contains(&check) {
                return Err(DbErr::Migration(format!("booking's status check is not `{check}`: {table}")));
            }
            let version: i64 = db
                .query_one_raw(read("PRAGMA schema_version"))
                .await?
                .ok_or_else(|| DbErr::Migration("no schema version".into()))?
                .try_get_by_index(0)?;
            db.execute_unprepared("PRAGMA writable_schema = ON").await?;
            let rewritten = async {
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'booking'",
                    [table.replace(&check, &format!("\"status\" IN {to}")).into()],
                ))
                .await?;
                db.execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1)).await
            }
            .await;
            // Off on every path: a rollback does not reset a pragma, and the
            // connection goes back to the pool.
            db.execute_unprepared("PRAGMA writable_schema = OFF").await?;
            rewritten?;
        }
    }
    Ok(())
}
