//! A usage summary that cannot lie in the dangerous direction
//! (docs/design.md §22).
//!
//! - `booking.counted_version`: the version of the booking whose occupied
//!   hours the summary holds. berth writes it equal to `version` in the
//!   statement that writes the summary; a row written by anything else (an
//!   older release, a person with SQL) has it NULL or behind its version,
//!   and the capacity rule then does not trust the summary near it.
//! - `booking_uncounted`: a partial index of exactly those rows, empty in
//!   normal operation, so asking "is anything near uncounted?" is one probe.
//! - The summary never goes below zero: a trigger on the final row (a
//!   `CHECK` would refuse every decrement, because an `INSERT … ON CONFLICT
//!   DO UPDATE` checks the proposed row before it knows of the conflict).
//! - The summary is rebuilt from the bookings here, and every booking
//!   marked counted: earlier releases could drive it off (a cancel of a row
//!   they had not counted took units away).

use std::collections::BTreeMap;

use sea_orm::{
    DatabaseBackend, Statement,
    prelude::{ChronoDateTimeUtc, Uuid},
};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Booking {
    Table,
    ResourceId,
    OccupiedStartAt,
    OccupiedEndAt,
    Quantity,
    Status,
    Version,
    CountedVersion,
}

#[derive(DeriveIden)]
enum ResourceUsage {
    Table,
    ResourceId,
    Bucket,
    Units,
}

#[derive(DeriveIden)]
enum Resource {
    Table,
    Id,
}

const HOUR_SECONDS: i64 = 3_600;
const ROWS_PER_INSERT: usize = 1_000;

/// The hours `[start, end)` touches (as `TimeRange::hours`).
fn hours(start: ChronoDateTimeUtc, end: ChronoDateTimeUtc) -> std::ops::RangeInclusive<i64> {
    let first = start.timestamp().div_euclid(HOUR_SECONDS);
    let on_the_hour = end.timestamp().rem_euclid(HOUR_SECONDS) == 0 && end.timestamp_subsec_nanos() == 0;
    first..=end.timestamp().div_euclid(HOUR_SECONDS) - i64::from(on_the_hour)
}

const POSTGRES_GUARD: &[&str] = &[
    "CREATE FUNCTION berth_usage_below_zero() RETURNS trigger LANGUAGE plpgsql AS $$ \
BEGIN RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'resource_usage_units_not_negative', \
MESSAGE = 'resource_usage.units would go below zero'; END $$",
    "CREATE TRIGGER resource_usage_not_negative_update BEFORE UPDATE ON resource_usage FOR EACH ROW \
WHEN (NEW.units < 0) EXECUTE FUNCTION berth_usage_below_zero()",
    "CREATE TRIGGER resource_usage_not_negative_insert AFTER INSERT ON resource_usage FOR EACH ROW \
WHEN (NEW.units < 0) EXECUTE FUNCTION berth_usage_below_zero()",
];

const SQLITE_GUARD: &[&str] = &[
    "CREATE TRIGGER resource_usage_not_negative_update BEFORE UPDATE ON resource_usage \
WHEN NEW.units < 0 BEGIN SELECT RAISE(ABORT, 'resource_usage.units would go below zero'); END",
    "CREATE TRIGGER resource_usage_not_negative_insert AFTER INSERT ON resource_usage \
WHEN NEW.units < 0 BEGIN SELECT RAISE(ABORT, 'resource_usage.units would go below zero'); END",
];

const UNCOUNTED_INDEX: &str = "CREATE INDEX booking_uncounted ON booking (resource_id, occupied_start_at) \
WHERE counted_version IS DISTINCT FROM version";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let raw = |sql: &str| Statement::from_string(backend, sql.to_owned());
        if backend == DatabaseBackend::Postgres {
            // Writers of an older release wait until the rebuild is done.
            db.execute_raw(raw("LOCK TABLE booking, resource_usage IN EXCLUSIVE MODE")).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::CountedVersion).big_integer().null())
                    .to_owned(),
            )
            .await?;
        db.execute(&Query::delete().from_table(ResourceUsage::Table).to_owned()).await?;
        let resources = db.query_all(&Query::select().column(Resource::Id).from(Resource::Table).to_owned()).await?;
        for row in resources {
            let resource: Uuid = row.try_get("", "id")?;
            let bookings = Query::select()
                .columns([Booking::OccupiedStartAt, Booking::OccupiedEndAt, Booking::Quantity])
                .from(Booking::Table)
                .and_where(Expr::col(Booking::ResourceId).eq(resource))
                .and_where(Expr::col(Booking::Status).is_in(["held", "confirmed", "checked_in"]))
                .to_owned();
            let mut units: BTreeMap<i64, i64> = BTreeMap::new();
            for booking in db.query_all(&bookings).await? {
                let start: ChronoDateTimeUtc = booking.try_get("", "occupied_start_at")?;
                let end: ChronoDateTimeUtc = booking.try_get("", "occupied_end_at")?;
                let quantity: i32 = booking.try_get("", "quantity")?;
                for hour in hours(start, end) {
                    *units.entry(hour).or_default() += i64::from(quantity);
                }
            }
            let rows: Vec<(i64, i64)> = units.into_iter().collect();
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut insert = Query::insert()
                    .into_table(ResourceUsage::Table)
                    .columns([ResourceUsage::ResourceId, ResourceUsage::Bucket, ResourceUsage::Units])
                    .to_owned();
                for (bucket, units) in chunk {
                    insert.values_panic([resource.into(), (*bucket).into(), (*units).into()]);
                }
                db.execute(&insert).await?;
            }
        }
        db.execute(
            &Query::update()
                .table(Booking::Table)
                .value(Booking::CountedVersion, Expr::col(Booking::Version))
                .to_owned(),
        )
        .await?;
        db.execute_raw(raw(UNCOUNTED_INDEX)).await?;
        let guard = if backend == DatabaseBackend::Postgres { POSTGRES_GUARD } else { SQLITE_GUARD };
        for sql in guard {
            db.execute_raw(raw(sql)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let drops: &[&str] = if backend == DatabaseBackend::Postgres {
            &[
                "DROP TRIGGER IF EXISTS resource_usage_not_negative_update ON resource_usage",
                "DROP TRIGGER IF EXISTS resource_usage_not_negative_insert ON resource_usage",
                "DROP FUNCTION IF EXISTS berth_usage_below_zero()",
            ]
        } else {
            &[
                "DROP TRIGGER IF EXISTS resource_usage_not_negative_update",
                "DROP TRIGGER IF EXISTS resource_usage_not_negative_insert",
            ]
        };
        let last = ["DROP INDEX IF EXISTS booking_uncounted", "ALTER TABLE booking DROP COLUMN counted_version"];
        for sql in drops.iter().chain(&last) {
            db.execute_raw(Statement::from_string(backend, (*sql).to_owned())).await?;
        }
        Ok(())
    }
}
