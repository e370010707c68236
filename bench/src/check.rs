//! After a scenario: the rules, re-checked in the database itself.

use std::collections::BTreeMap;

use berth::domain::{capacity, time_range::TimeRange};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};

/// No resource is over capacity at any instant, the usage summary holds
/// what the bookings take, and the history matches: one `create` event per
/// booking, and each booking's status is the one its last event moved it
/// to.
pub async fn invariants(db: &DatabaseConnection) -> anyhow::Result<String> {
    let now = Utc::now();
    let resources = entity::resource::Entity::find().all(db).await?;
    let bookings = entity::booking::Entity::find().all(db).await?;
    let mut over = 0;
    for resource in &resources {
        let usages: Vec<capacity::Usage> = bookings
            .iter()
            .filter(|b| b.resource_id == resource.id)
            .filter(|b| match b.status.as_str() {
                "confirmed" | "checked_in" => true,
                "held" => b.hold_expires_at.is_some_and(|at| at > now),
                _ => false,
            })
            .filter_map(|b| {
                TimeRange::new(b.start_at, b.end_at).map(|range| capacity::Usage { range, quantity: b.quantity.into() })
            })
            .collect();
        let (Some(first), Some(last)) =
            (usages.iter().map(|u| u.range.start()).min(), usages.iter().map(|u| u.range.end()).max())
        else {
            continue;
        };
        let window = TimeRange::new(first, last).expect("non-empty");
        if capacity::peak_usage(&usages, &window) > i64::from(resource.capacity) {
            over += 1;
        }
    }
    let scalar = |sql: &str| {
        let statement = Statement::from_string(db.get_database_backend(), sql.to_owned());
        async move {
            let row = db.query_one_raw(statement).await?.ok_or_else(|| anyhow::anyhow!("no row"))?;
            Ok::<i64, anyhow::Error>(row.try_get_by_index(0)?)
        }
    };
    let creates = scalar("SELECT COUNT(*) FROM booking_event WHERE action = 'create'").await?;
    let mismatched = scalar(
        "SELECT COUNT(*) FROM booking b WHERE b.status <> \
         (SELECT e.to_status FROM booking_event e WHERE e.booking_id = b.id ORDER BY e.at DESC, e.id DESC LIMIT 1)",
    )
    .await?;
    // The usage summary: per resource and hour, the units of the held,
    // confirmed and checked-in bookings touching it.
    let mut expected: BTreeMap<(uuid::Uuid, i64), i64> = BTreeMap::new();
    for b in bookings.iter().filter(|b| matches!(b.status.as_str(), "held" | "confirmed" | "checked_in")) {
        let Some(occupied) = TimeRange::new(b.occupied_start_at, b.occupied_end_at) else { continue };
        for hour in occupied.hours() {
            *expected.entry((b.resource_id, hour)).or_default() += i64::from(b.quantity);
        }
    }
    let summary: BTreeMap<(uuid::Uuid, i64), i64> = entity::resource_usage::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|row| row.units != 0)
        .map(|row| ((row.resource_id, row.bucket), row.units))
        .collect();
    let off = expected.iter().filter(|(hour, units)| summary.get(hour) != Some(units)).count()
        + summary.keys().filter(|hour| !expected.contains_key(hour)).count();
    anyhow::ensure!(over == 0, "{over} resources are over capacity");
    anyhow::ensure!(off == 0, "the usage summary is off in {off} hours");
    anyhow::ensure!(creates == bookings.len() as i64, "{} bookings but {creates} create events", bookings.len());
    anyhow::ensure!(mismatched == 0, "{mismatched} bookings disagree with their history");
    Ok(format!("invariants hold ({} bookings, {} resources)", bookings.len(), resources.len()))
}
