//! The usage summary (docs/design.md §21): per resource and UTC hour, the
//! units of every booking that takes or may take that hour (held,
//! confirmed, checked in; hours of its occupied time, buffers included).
//! `bucket` is the hour's number since the Unix epoch. The capacity rule
//! reads the busiest hour of a window as an upper bound of its peak.
//!
//! The existing bookings are summed in here, by the same arithmetic as
//! berth's (`TimeRange::hours`), one resource at a time.

use std::collections::BTreeMap;

use sea_orm::prelude::{ChronoDateTimeUtc, Uuid};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

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

#[derive(DeriveIden)]
enum Booking {
    Table,
    ResourceId,
    OccupiedStartAt,
    OccupiedEndAt,
    Quantity,
    Status,
}

const HOUR_SECONDS: i64 = 3_600;
const ROWS_PER_INSERT: usize = 1_000;

/// The hours `[start, end)` touches (as `TimeRange::hours`).
fn hours(start: ChronoDateTimeUtc, end: ChronoDateTimeUtc) -> std::ops::RangeInclusive<i64> {
    let first = start.timestamp().div_euclid(HOUR_SECONDS);
    let on_the_hour = end.timestamp().rem_euclid(HOUR_SECONDS) == 0 && end.timestamp_subsec_nanos() == 0;
    first..=end.timestamp().div_euclid(HOUR_SECONDS) - i64::from(on_the_hour)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ResourceUsage::Table)
                    .col(ColumnDef::new(ResourceUsage::ResourceId).uuid().not_null())
                    .col(ColumnDef::new(ResourceUsage::Bucket).big_integer().not_null())
                    .col(ColumnDef::new(ResourceUsage::Units).big_integer().not_null())
                    .primary_key(Index::create().col(ResourceUsage::ResourceId).col(ResourceUsage::Bucket))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ResourceUsage::Table, ResourceUsage::ResourceId)
                            .to(Resource::Table, Resource::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ResourceUsage::Table).to_owned()).await
    }
}
