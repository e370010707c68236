//! Schema migrations for berth. Migrations never import the `entity` crate:
//! an old migration must keep its meaning when entities evolve.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial_schema;
mod m20261122_000002_unbounded_keys;
mod m20261201_000003_schedules_and_policies;
mod m20261202_000004_pools_and_bundles;
mod m20261203_000005_outbox;
mod m20261204_000006_webhooks;
mod m20261205_000007_usage_summary;
mod m20261206_000008_usage_counted;
mod m20261207_000009_waitlist;
mod m20261208_000010_series;
mod m20261209_000011_approval_check_in;
mod m20261210_000012_resource_attributes;
mod m20261211_000013_fields_and_feeds;
mod m20261212_000014_status_check_validated;
mod m20261213_000015_one_trip_guard;
mod m20261214_000016_usage_stamp;
mod m20261215_000017_own_bookings_index;
mod m20261216_000018_room_after_locks;
mod m20261217_000019_own_bookings_probe;
mod m20261218_000020_fewer_index_entries;
mod m20261219_000021_outbox_room_to_number;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial_schema::Migration),
            Box::new(m20261122_000002_unbounded_keys::Migration),
            Box::new(m20261201_000003_schedules_and_policies::Migration),
            Box::new(m20261202_000004_pools_and_bundles::Migration),
            Box::new(m20261203_000005_outbox::Migration),
            Box::new(m20261204_000006_webhooks::Migration),
            Box::new(m20261205_000007_usage_summary::Migration),
            Box::new(m20261206_000008_usage_counted::Migration),
            Box::new(m20261207_000009_waitlist::Migration),
            Box::new(m20261208_000010_series::Migration),
            Box::new(m20261209_000011_approval_check_in::Migration),
            Box::new(m20261210_000012_resource_attributes::Migration),
            Box::new(m20261211_000013_fields_and_feeds::Migration),
            Box::new(m20261212_000014_status_check_validated::Migration),
            Box::new(m20261213_000015_one_trip_guard::Migration),
            Box::new(m20261214_000016_usage_stamp::Migration),
            Box::new(m20261215_000017_own_bookings_index::Migration),
            Box::new(m20261216_000018_room_after_locks::Migration),
            Box::new(m20261217_000019_own_bookings_probe::Migration),
            Box::new(m20261218_000020_fewer_index_entries::Migration),
            Box::new(m20261219_000021_outbox_room_to_number::Migration),
        ]
    }
}
