//! After a scenario: berth's own audit (`berth audit`, docs/design.md §23)
//! over the whole database, timed, so every run shows what the audit costs
//! on the database the scenario left; and one `create` event per booking,
//! which the audit does not count.

use std::time::Instant;

use berth::service::{Db, audit};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Statement};

/// The audit finds nothing, and every booking has its `create` event.
pub async fn invariants(db: &DatabaseConnection) -> anyhow::Result<String> {
    let started = Instant::now();
    let report = audit::audit_all(&Db::new(db.clone()), None, berth::http::audit::BOOKINGS_PER_CALL).await?;
    let took = started.elapsed();
    let bookings = entity::booking::Entity::find().count(db).await?;
    let statement = Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) FROM booking_event WHERE action = 'create'".to_owned(),
    );
    let row = db.query_one_raw(statement).await?.ok_or_else(|| anyhow::anyhow!("no row"))?;
    let creates: i64 = row.try_get_by_index(0)?;
    if let Some(first) = report.violations.first() {
        anyhow::bail!("the audit found {} violations; the first: {}", report.violations.len(), first.detail);
    }
    anyhow::ensure!(creates == bookings as i64, "{bookings} bookings but {creates} create events");
    let checked = report.checked;
    Ok(format!(
        "audit ok in {} ms ({} bookings, {} resources, {} usage hours, {} events)",
        took.as_millis(),
        checked.bookings,
        checked.resources,
        checked.usage_hours,
        checked.events
    ))
}
